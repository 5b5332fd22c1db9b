"""Streaming: :func:`embed_stream`, one vector per text of any iterable, with bounded memory."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt

from hfe_core.config import InputType
from hfe_core.embedder import Embedder
from hfe_core.errors import (
    ConfigurationError,
    InputTypeError,
)
from hfe_core.job.run import _in_daemon_thread, _reads_ahead


# -- streaming ------------------------------------------------------------------------------------
def embed_stream(
    texts: Iterable[str],
    embedder: Embedder | None = None,
    *,
    input_type: InputType = "document",
    chunk_size: int = 1024,
    **settings: Any,
) -> Iterator[npt.NDArray[np.float32]]:
    """Embed an iterable of texts of any length, yielding one vector per text, in order.

    Memory stays bounded: at most two chunks of ``chunk_size`` texts (the one being
    yielded and, with a server backend, the next one being embedded) are held at a time.

    Args:
        texts: any iterable of strings (a generator reading a file, a database cursor...).
        embedder: the embedder; default: one built from ``settings`` (and closed at the end).
        input_type: ``"document"`` (default) or ``"query"``.
        chunk_size: texts per call to the embedder.
        **settings: :class:`~hfe_core.config.EmbedderSettings` fields, when ``embedder`` is not given.

    Yields:
        float32 vectors of shape ``(dimension,)``.

    Raises:
        InputTypeError: an item is not a string; names its position in the stream.
        EmbeddingError: a chunk failed; every vector before it was already yielded, and the error's
            ``failed_indices`` count from the first text of that chunk.

    Example:
        >>> from hfe_core import embed_stream
        >>> lines = (line.strip() for line in open("corpus.txt"))  # doctest: +SKIP
        >>> for vector in embed_stream(lines, batch_size=64):  # doctest: +SKIP
        ...     index.add(vector)
    """
    if isinstance(texts, str | bytes):
        raise InputTypeError(
            "embed_stream takes an iterable of strings, not a single string: wrap it in a list.", indices=[]
        )
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size <= 0:
        raise ConfigurationError(f"chunk_size={chunk_size!r}: use a positive integer.")
    if embedder is not None and settings:
        raise ConfigurationError("Pass either an embedder or settings, not both.")
    owned = embedder is None
    active = embedder or Embedder(**settings)
    ahead = _reads_ahead(active)

    def chunks() -> Iterator[list[str]]:
        current: list[str] = []
        for position, text in enumerate(texts):
            if not isinstance(text, str):
                raise InputTypeError(
                    f"Item {position} of the stream is {type(text).__name__}, not a string. Pass strings "
                    "(convert or drop that item).",
                    indices=[position],
                )
            current.append(text)
            if len(current) == chunk_size:
                yield current
                current = []
        if current:
            yield current

    def embed(batch: list[str]) -> npt.NDArray[np.float32]:
        return active.embed(batch, input_type=input_type, show_progress=False).embeddings

    try:
        pending: Future[npt.NDArray[np.float32]] | None = None
        for batch in chunks():
            if not ahead:
                yield from embed(batch)
                continue
            following = _in_daemon_thread(partial(embed, batch))
            if pending is not None:
                yield from pending.result()
            pending = following
        if pending is not None:
            yield from pending.result()
    finally:
        if owned:
            active.close()
