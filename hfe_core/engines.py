"""What embeds the chunks of a batch job: this process's :class:`~hfe_core.embedder.Embedder`, or Ray.

A batch job (:func:`hfe_core.embed_file`, ``hfe embed``) reads its input in chunks and hands
each chunk's texts to an :class:`Engine`. The engine returns one vector per text, in order,
and the counters of what it did; the job writes, checkpoints and resumes. The default engine
is :class:`EmbedderEngine`; ``hfe_core.ray.RayEngine`` spreads chunks over Ray actors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from hfe_core.config import InputType
from hfe_core.embedder import Embedder, EmbeddingStats

__all__ = ["ChunkCounters", "EmbedderEngine", "Engine"]


@dataclass
class ChunkCounters:
    """What an engine did for one chunk (summed over a job).

    Attributes:
        texts_embedded: texts sent to the model (windows included when chunking long inputs).
        truncated: inputs cut to the model's limit.
        chunked: inputs split into windows and averaged.
        requests: HTTP requests sent, retries included (server modes).
        retries: requests that were retries of a transient failure.
        tokens: tokens the server computed (TEI's ``x-compute-tokens``); 0 when unknown.
    """

    texts_embedded: int = 0
    truncated: int = 0
    chunked: int = 0
    requests: int = 0
    retries: int = 0
    tokens: int = 0

    @classmethod
    def from_stats(cls, stats: EmbeddingStats) -> ChunkCounters:
        """The counters of one :class:`~hfe_core.embedder.EmbeddingStats`."""
        return cls(**{f.name: int(getattr(stats, f.name)) for f in fields(cls)})

    def add(self, other: ChunkCounters) -> None:
        """Add ``other`` into these counters."""
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


@runtime_checkable
class Engine(Protocol):
    """Embeds the texts of one chunk; what a batch job needs from whatever computes vectors.

    An engine may also set ``pipeline_depth``, the chunks a job keeps in flight (``embed_chunk``
    is then called from that many threads at once). Without it: 2 when the embedder's backend
    sends requests concurrently (a server), else 1.
    """

    @property
    def embedder(self) -> Embedder:
        """An embedder with the job's settings in this process (for the dimension, model id, prompts)."""
        ...

    def embed_chunk(
        self, texts: Sequence[str], *, input_type: InputType
    ) -> tuple[npt.NDArray[np.float32], ChunkCounters]:
        """Embed ``texts`` and return a ``(len(texts), dimension)`` float32 array, in order.

        Raises:
            EmbeddingError: some texts could not be embedded (the job stops; committed chunks stay).
        """
        ...

    def close(self) -> None:
        """Release workers and connections."""
        ...


class EmbedderEngine:
    """The default engine: one :class:`~hfe_core.embedder.Embedder` in this process.

    Args:
        embedder: the embedder; the engine closes it in :meth:`close` only when ``owned``.
        owned: whether :meth:`close` closes the embedder.
    """

    def __init__(self, embedder: Embedder, *, owned: bool = True) -> None:
        self._embedder = embedder
        self._owned = owned

    @property
    def embedder(self) -> Embedder:
        """The embedder chunks go through."""
        return self._embedder

    def embed_chunk(
        self, texts: Sequence[str], *, input_type: InputType
    ) -> tuple[npt.NDArray[np.float32], ChunkCounters]:
        """Embed one chunk with the embedder (no progress bar of its own: the job has one)."""
        result = self._embedder.embed(list(texts), input_type=input_type, show_progress=False)
        return result.embeddings, ChunkCounters.from_stats(result.stats)

    def close(self) -> None:
        """Close the embedder when this engine owns it."""
        if self._owned:
            self._embedder.close()
