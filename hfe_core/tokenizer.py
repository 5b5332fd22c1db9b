"""The served model's own tokenizer, client-side: token spans without a round trip to the server.

A server mode needs token spans for its truncation policy: to count the inputs a server
truncates (``"truncate"``), or to cut or split them before sending (``"truncate_left"``,
``"error"``, ``"chunk"``). Asking the server's ``/tokenize`` costs a request per batch,
before the first ``/embed``, and the server tokenizes every text again when it embeds.
With the model's ``tokenizer.json`` the ``tokenizers`` library gives the same spans in
process, in a fraction of the time.

:func:`find_tokenizer` looks for the file, in order: a local model folder, a model packaged as a
Python package, the Hugging Face cache, then (unless ``HF_HUB_OFFLINE``) one download through
``huggingface_hub``. A backend checks it against the server on first use
(:meth:`ClientTokenizer.agrees_with`) and falls back to the server when they disagree.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hfe_core.truncation import Span

__all__ = ["ClientTokenizer", "find_tokenizer"]

logger = logging.getLogger("hfe")

_FILE = "tokenizer.json"


class ClientTokenizer:
    """A ``tokenizers.Tokenizer`` with no truncation and no padding, that says where tokens are.

    Args:
        tokenizer: the loaded ``tokenizers.Tokenizer``.
        source: where it came from (a path), for messages.
    """

    def __init__(self, tokenizer: Any, source: str) -> None:
        tokenizer.no_truncation()
        tokenizer.no_padding()
        self._tokenizer = tokenizer
        self.source = source
        self._lock = threading.Lock()  # a Tokenizer is not documented as thread-safe for config changes

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> ClientTokenizer:
        """Load ``tokenizer.json`` from ``path``.

        Raises:
            OSError: the file cannot be read or is not a tokenizer.
        """
        from tokenizers import Tokenizer

        try:
            return cls(Tokenizer.from_file(str(path)), str(path))
        except Exception as exc:  # the Rust side raises a plain Exception for a malformed file
            raise OSError(f"{path} is not a tokenizers file: {exc}") from exc

    def spans(self, texts: list[str]) -> list[list[Span]]:
        """Character spans of each text's tokens, special tokens left out (as TEI's ``/tokenize``)."""
        if not texts:
            return []
        encodings = self._tokenizer.encode_batch(texts, add_special_tokens=False)
        return [[(int(start), int(stop)) for start, stop in encoding.offsets] for encoding in encodings]

    def counts(self, texts: list[str]) -> list[int]:
        """Tokens of each text, special tokens left out: :meth:`spans` without building the spans.

        ``encode_batch_fast`` (tokenizers >= 0.20) skips the character offsets altogether.
        """
        if not texts:
            return []
        encode = getattr(self._tokenizer, "encode_batch_fast", self._tokenizer.encode_batch)
        return [len(encoding.ids) for encoding in encode(texts, add_special_tokens=False)]

    def overhead(self, prompt: str) -> int:
        """Tokens that ``prompt`` and the special tokens add to every input (as TEI counts them)."""
        encoding = self._tokenizer.encode(prompt or "a", add_special_tokens=True)
        specials = sum(encoding.special_tokens_mask)
        return int(specials + (len(encoding.ids) - specials if prompt else 0))

    def agrees_with(self, server_spans: Callable[[list[str]], list[list[Span]]], texts: list[str]) -> bool:
        """Whether the server's ``/tokenize`` gives the same spans for ``texts`` (one request).

        Args:
            server_spans: the server's tokenizer (the backend's ``/tokenize`` call).
            texts: a few texts to compare on (the call's own long texts are the best witnesses).
        """
        sample = texts[:4]
        return bool(sample) and server_spans(sample) == self.spans(sample)


def _local_file(model: str) -> Path | None:
    folder = Path(model).expanduser()
    candidate = folder / _FILE
    return candidate if candidate.is_file() else None


def _packaged_file(model: str) -> Path | None:
    from hfe_core.backends.local import packaged_model_path

    path = packaged_model_path(model)
    return _local_file(path) if path else None


def _offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def _hub_file(model: str, revision: str | None, cache_folder: str | None, token: str | None) -> Path | None:
    from huggingface_hub import hf_hub_download, try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError

    try:
        cached = try_to_load_from_cache(model, _FILE, cache_dir=cache_folder, revision=revision)
    except HFValidationError:
        return None  # not a repository id
    if isinstance(cached, str):
        return Path(cached)
    if cached is not None or _offline():  # cached as "no such file", or no Hub to ask
        return None
    try:
        return Path(
            hf_hub_download(model, _FILE, revision=revision, cache_dir=cache_folder, token=token or False)
        )
    except Exception as exc:  # noqa: BLE001 - any failure means: no client-side tokenizer, ask the server
        logger.debug("hfe: no %s for %s from the Hub: %s", _FILE, model, exc)
        return None


def find_tokenizer(
    model: str | None,
    *,
    revision: str | None = None,
    cache_folder: str | None = None,
    token: str | None = None,
) -> ClientTokenizer | None:
    """The tokenizer of ``model`` (a Hub id or a local folder), or ``None`` when it cannot be found.

    Needs the ``tokenizers`` library (installed with hfe). Never raises: a missing or unreadable
    tokenizer only means that the server tokenizes.

    Args:
        model: the served model's id (the ``model`` setting, or what the server reports).
        revision: the model revision.
        cache_folder: the Hugging Face cache to look in.
        token: a Hugging Face token for a private model's download (only sent to the Hub).

    Returns:
        The tokenizer, or ``None``.

    Example:
        >>> find_tokenizer("sentence-transformers/all-MiniLM-L6-v2").spans(["Hello world"])  # doctest: +SKIP
        [[(0, 5), (6, 11)]]
    """
    if not model:
        return None
    try:
        import tokenizers  # noqa: F401
    except ImportError:
        return None
    path = _local_file(model) or _packaged_file(model)
    if path is None and not Path(model).expanduser().exists():
        path = _hub_file(model, revision, cache_folder, token)
    if path is None:
        return None
    try:
        return ClientTokenizer.from_file(path)
    except OSError as exc:
        logger.debug("hfe: %s", exc)
        return None
