"""The backend boundary: what a mode implements, and nothing more.

The :class:`~hfe_core.embedder.Embedder` owns validation, prompts, truncation,
batching, progress, Matryoshka truncation, statistics and error handling. A
backend only says how to embed one batch and what it knows about its model:

=======================  ===================================================
``embed_batch``          required: embed a list of texts with a prompt
``aembed_batch``         async twin; the default runs ``embed_batch`` in a thread
``dimension``            required: the model's native embedding dimension
``max_input_tokens``     the model's limit per input, or ``None`` if unknown
``model_id``             the model's Hub id, for the known-family prompts
``saved_prompt``         the prompt the model carries for queries or documents
``model_prompts``        every named prompt the loaded model carries
``server_prompt_names``  the prompts a server applies itself (``prompt_name``)
``token_spans``          character spans of each text's tokens (for truncation)
``prompt_overhead``      tokens a prompt and the special tokens add to an input
``work_batch_size``      how many texts one ``embed_batch`` call should get
``plan_batches``         which texts go together into one ``embed_batch`` call
``max_concurrency``      how many ``aembed_batch`` calls may run at once
``share_server``         keep to this client's share when several clients use one server
``sort_by_length``       batch texts of similar length together (less padding)
``counters``             cumulative request counters, for per-call statistics
``warm_up``              load the model or read the server's facts before the first batch
``close``                release connections or other resources
=======================  ===================================================
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from functools import partial
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from hfe_core.batching import shared_concurrency
from hfe_core.config import EmbedderSettings, InputType
from hfe_core.truncation import Span

__all__ = ["Backend"]


class Backend(ABC):
    """Base class of the mode backends (local, tei, endpoint).

    Args:
        settings: resolved settings; the backend must not read the environment.
    """

    #: The value of ``mode`` this backend serves.
    mode: ClassVar[str]
    #: How many ``aembed_batch`` calls the embedder runs at once.
    max_concurrency: int = 1
    #: Group texts of similar length into the same batch (results still come back in order).
    sort_by_length: bool = False
    #: How many clients (e.g. Ray actors) share this backend's server; see :meth:`share_server`.
    server_clients: int = 1
    #: ``max_concurrency`` before :meth:`share_server` divided it (sharing again starts from it).
    _whole_concurrency: int | None = None
    #: True while :meth:`token_spans` costs a round trip to a server: the embedder then counts the
    #: inputs a server truncates beside the embedding, never before it.
    tokenizes_remotely: bool = False
    #: True when :meth:`token_spans` may run in another thread while batches are embedded (a server
    #: backend: its tokenizer is its own). Local mode's tokenizer is the model's, whose settings
    #: sentence-transformers changes on every encode, so it counts before encoding.
    counts_in_background: bool = False
    #: True when the backend keeps the end of a too-long input by itself (TEI's
    #: ``truncation_direction``) because the settings say ``truncate_left``: nothing is cut client-side.
    truncates_left: bool = False
    #: False when the server refuses a too-long input instead of cutting it (TEI 1.8's
    #: ``/v1/embeddings``, whose ``auto_truncate`` is off): under ``truncate`` the embedder then cuts
    #: such inputs client-side, at the model's limit, before sending them.
    truncates_itself: bool = True

    def __init__(self, settings: EmbedderSettings) -> None:
        self.settings = settings

    @abstractmethod
    def embed_batch(
        self,
        texts: list[str],
        *,
        input_type: InputType,
        prompt: str,
        batch_size: int,
        prompt_name: str | None = None,
    ) -> npt.NDArray[np.float32]:
        """Embed ``texts`` (already validated and truncated) with ``prompt`` put before each.

        ``prompt_name`` names one of :meth:`server_prompt_names`: the server puts that prompt
        before each text itself (``prompt`` is then ``""``). The embedder passes it only to a
        backend that reported the name.

        Returns:
            A ``(len(texts), dimension)`` float32 array, normalized when the settings say so.
        """

    async def aembed_batch(
        self,
        texts: list[str],
        *,
        input_type: InputType,
        prompt: str,
        batch_size: int,
        prompt_name: str | None = None,
    ) -> npt.NDArray[np.float32]:
        """Async twin of :meth:`embed_batch`; by default it runs it in a worker thread."""
        options: dict[str, object] = {"input_type": input_type, "prompt": prompt, "batch_size": batch_size}
        if prompt_name is not None:
            options["prompt_name"] = prompt_name
        return await asyncio.to_thread(partial(self.embed_batch, texts, **options))  # type: ignore[arg-type]

    @property
    @abstractmethod
    def dimension(self) -> int:
        """The model's native embedding dimension."""

    @property
    def max_input_tokens(self) -> int | None:
        """The model's limit per input in tokens (prompt and special tokens included)."""
        return None

    @property
    def model_id(self) -> str | None:
        """The model's Hub id, for the known-family prompt table (the ``model`` setting by default)."""
        return self.settings.model

    def saved_prompt(self, input_type: InputType) -> str | None:  # noqa: ARG002 - hook
        """The prompt the model itself carries for ``input_type``, if any."""
        return None

    def model_prompts(self) -> dict[str, str]:
        """Every named prompt the loaded model carries (sentence-transformers ``prompts``), by name."""
        return {}

    def server_prompt_names(self) -> frozenset[str]:
        """Names of the prompts the server applies itself (TEI's ``prompt_name``); none by default."""
        return frozenset()

    def token_spans(self, texts: list[str]) -> list[list[Span]]:  # noqa: ARG002 - hook
        """Character spans of the tokens of each text, without special tokens."""
        raise NotImplementedError(f"the {self.mode} backend cannot tokenize")

    def token_counts(self, texts: list[str]) -> list[int]:
        """Tokens of each text, without special tokens (a backend may count without the spans)."""
        return [len(spans) for spans in self.token_spans(texts)]

    def require_input_limit(self, policy: str) -> None:  # noqa: ARG002 - hook
        """Refuse a truncation ``policy`` that needs the input limit when the backend cannot know it.

        By default nothing is refused; the tei backend refuses when neither the server nor the model says it.
        """
        return

    def prompt_overhead(self, prompt: str, prompt_name: str | None = None) -> int:  # noqa: ARG002 - hook
        """Tokens that ``prompt`` (or the server's prompt ``prompt_name``) and the special tokens add."""
        return 0

    def work_batch_size(self, batch_size: int) -> int:
        """How many texts one :meth:`embed_batch` call should receive."""
        return batch_size

    def plan_batches(self, texts: list[str], rows: list[int], batch_size: int) -> list[list[int]]:  # noqa: ARG002
        """Group ``rows`` (indices into ``texts``, in order) into :meth:`embed_batch` calls.

        The default cuts every :meth:`work_batch_size` rows; a server backend plans under
        its server's limits instead.
        """
        step = self.work_batch_size(batch_size)
        return [rows[start : start + step] for start in range(0, len(rows), step)]

    def share_server(self, clients: int) -> None:
        """Make this backend one of ``clients`` clients that use the same server together.

        Each client then keeps at most ``ceil(max_concurrency / clients)`` requests in flight,
        so that together they stay near the configured ``max_concurrency``; a server backend
        also shares out the server's own limits (TEI's permits). A local model has no server:
        its single call at a time stays as it is. Call it before the first request.

        Args:
            clients: how many clients share the server (1: this one alone).

        Raises:
            ConfigurationError: ``clients`` is not a positive integer.
        """
        if self._whole_concurrency is None:
            self._whole_concurrency = self.max_concurrency
        self.max_concurrency = shared_concurrency(self._whole_concurrency, clients)
        self.server_clients = clients

    def warm_up(self) -> bool:
        """Load the model (local) or read the server's facts (``/info``) if that is not done yet.

        The embedder calls it at the start of every call, so that the time it takes is reported
        apart from the embedding time (``EmbeddingStats.load_seconds``).

        Returns:
            True when this call did the work, False when it was done before (or there is none).
        """
        return False

    def counters(self) -> dict[str, float]:
        """Cumulative request counters (``requests``, ``retries``, ``server_ms``, ``tokens``)."""
        return {}

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release resources (connections, pools). The default has none."""
