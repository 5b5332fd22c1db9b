"""``SparseEmbedder``: SPLADE vectors (``{token_id: weight}``), locally, on TEI or an Inference Endpoint.

* local: sentence-transformers' ``SparseEncoder`` (``encode_query`` / ``encode_document``, so the
  model's own query and document prompts apply), from the same model cache and device logic as
  local embeddings;
* tei: ``POST /embed_sparse`` over the shared transport, in requests of at most
  ``max_client_batch_size`` inputs;
* endpoint: a dedicated Inference Endpoint running TEI with a SPLADE model.

``query_prompt`` and ``document_prompt`` are put before the texts in every mode, as for dense vectors.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from functools import partial
from typing import Any, ClassVar

import numpy as np

from hfe_core.answers import parse_json
from hfe_core.backends.endpoint import DedicatedEndpointTransport
from hfe_core.backends.local import LocalBackend
from hfe_core.config import EmbedderSettings, InputType
from hfe_core.errors import InputTooLongError
from hfe_core.task_setup import (
    LocalTask,
    ServerTask,
    SparseEmbedderSettings,
    TaskClient,
    run_requests,
)
from hfe_core.tasks import plan_texts
from hfe_core.tasks.sparse import SparseVector, from_dense_rows, read_sparse, sparse_body
from hfe_core.transport.server import ServerTransport
from hfe_core.validation import server_text, validate_text, validate_texts

__all__ = ["SparseEmbedder", "SparseEmbedderSettings", "SparseVector"]


class _LocalSparse(LocalTask):
    """Local mode's sparse task: a ``SparseEncoder`` from the shared model cache."""

    model_class: ClassVar[str] = "SparseEncoder"
    model_noun: ClassVar[str] = "SparseEncoder model"

    def sparse_batch(self, texts: list[str], input_type: InputType, offset: int) -> list[SparseVector]:
        loaded = self._loaded
        model: Any = loaded.model  # a SparseEncoder
        settings = self.settings
        prompt = settings.query_prompt if input_type == "query" else settings.document_prompt
        encode = model.encode_query if input_type == "query" else model.encode_document
        with loaded.lock:
            tokenizer = model.tokenizer
            if settings.truncation == "error":
                _refuse_long_texts(model, texts, prompt or "", offset)
            with self.truncation_side(tokenizer):
                dense = encode(
                    texts,
                    **({"prompt": prompt} if prompt else {}),
                    batch_size=int(settings.batch_size or 32),
                    show_progress_bar=False,
                    convert_to_tensor=True,
                    convert_to_sparse_tensor=False,
                )
        return from_dense_rows(np.asarray(dense.float().cpu().numpy(), dtype=np.float32))


def _refuse_long_texts(model: Any, texts: list[str], prompt: str, offset: int) -> None:
    """Under ``truncation='error'``: name the texts over the model's ``max_seq_length``."""
    limit = int(model.max_seq_length)
    counts = [
        len(ids) for ids in model.tokenizer([prompt + text for text in texts], truncation=False)["input_ids"]
    ]
    over = [number for number, count in enumerate(counts) if count > limit]
    if over:
        rows = [offset + number for number in over]
        raise InputTooLongError(
            f"texts {rows[:10]}{'...' if len(rows) > 10 else ''}: over the model's limit "
            f"of {limit} tokens, and truncation='error'. Shorten them, or use truncation='truncate'.",
            indices=rows,
            token_counts=[counts[number] for number in over],
            max_tokens=limit,
        )


class _ServerSparse(ServerTask):
    """The sparse task on a TEI server: ``POST /embed_sparse`` under the server's limits."""

    route: ClassVar[str] = "/embed_sparse"
    task: ClassVar[str] = "sparse"
    what: ClassVar[str] = "a SparseEmbedder"

    def _body(self, texts: list[str], input_type: InputType) -> dict[str, Any]:
        settings = self.settings
        prompt = (settings.query_prompt if input_type == "query" else settings.document_prompt) or ""
        return sparse_body(
            [server_text(prompt + text) for text in texts],
            truncate=settings.truncation != "error",
            left=settings.truncation == "truncate_left",
            char_limit=self.char_limit,
        )

    def _vectors(self, content: bytes, count: int) -> list[SparseVector]:
        label = self.task_label(count)
        return read_sparse(parse_json(content, label=label), count, label=label)

    def sparse_batch(self, texts: list[str], input_type: InputType, offset: int) -> list[SparseVector]:
        response = self.send(self._body(texts, input_type), len(texts))
        if response is None:  # over the payload limit: each half on its own
            half = self.half(texts)
            first = self.sparse_batch(texts[:half], input_type, offset)
            return first + self.sparse_batch(texts[half:], input_type, offset + half)
        return self._vectors(response.content, len(texts))

    async def asparse_batch(self, texts: list[str], input_type: InputType, offset: int) -> list[SparseVector]:
        response = await self.asend(self._body(texts, input_type), len(texts))
        if response is None:
            half = self.half(texts)
            first = await self.asparse_batch(texts[:half], input_type, offset)
            return first + await self.asparse_batch(texts[half:], input_type, offset + half)
        return self._vectors(response.content, len(texts))


class _EndpointSparse(DedicatedEndpointTransport, _ServerSparse):
    """The sparse task on a dedicated Inference Endpoint running TEI."""


class SparseEmbedder(TaskClient[SparseEmbedderSettings, _LocalSparse | _ServerSparse]):
    """SPLADE sparse vectors, ``{token_id: weight}`` per text; local, TEI or an Inference Endpoint.

    Args:
        settings: a :class:`SparseEmbedderSettings` (or an adapter, which is one).
        **kwargs: settings as keyword arguments, when ``settings`` is not given: every
            :class:`~hfe_core.EmbedderSettings` setting that applies (``mode``, ``model``, ``url``,
            ``token``, ``batch_size``, ``truncation``, ``query_prompt``, ``document_prompt``...).

    Example:
        >>> sparse = SparseEmbedder(mode="tei", url="http://localhost:8080")  # doctest: +SKIP
        >>> sparse.embed_query("What is SPLADE?")  # doctest: +SKIP
        {2054: 0.61, 2003: 0.12, ...}

    Only non-zero weights are kept. Nothing is loaded or connected until the first call.
    """

    settings_class: ClassVar[type[EmbedderSettings]] = SparseEmbedderSettings
    task: ClassVar[str] = "sparse"
    mode_classes: ClassVar[dict[str, type[LocalBackend | ServerTransport]]] = {
        "local": _LocalSparse,
        "tei": _ServerSparse,
        "endpoint": _EndpointSparse,
    }

    def embed(self, texts: Sequence[str], *, input_type: InputType = "document") -> list[SparseVector]:
        """Sparse vectors of ``texts``, in order.

        Args:
            texts: the texts; a bare ``str`` is a ``TypeError``.
            input_type: ``"document"`` or ``"query"`` (their prompts, and the model's own).

        Returns:
            One ``{token_id: weight}`` per text (non-zero weights only).

        Raises:
            InvalidInputError: a text is not a string (named by index).
            ConfigurationError: the server's model is not a SPLADE model (before any request).
            InputTooLongError: under ``truncation='error'``, the texts over the model's limit.
            EmbeddingRequestError: the server refused or failed (typed, retried when transient).
        """
        items = validate_texts(texts)
        if not items:
            return []
        mode = self._mode
        plan = plan_texts(len(items), mode.max_texts())
        calls = [
            partial(mode.sparse_batch, items[rows.start : rows.stop], input_type, rows.start) for rows in plan
        ]
        return [vector for part in run_requests(calls, mode.max_concurrency) for vector in part]

    async def aembed(self, texts: Sequence[str], *, input_type: InputType = "document") -> list[SparseVector]:
        """Async twin of :meth:`embed`: the requests run concurrently (under ``max_concurrency``)."""
        items = validate_texts(texts)
        if not items:
            return []
        mode = self._mode
        if isinstance(mode, _LocalSparse):
            return await asyncio.to_thread(self.embed, items, input_type=input_type)
        plan = plan_texts(len(items), await asyncio.to_thread(mode.max_texts))
        parts = await asyncio.gather(
            *(mode.asparse_batch(items[rows.start : rows.stop], input_type, rows.start) for rows in plan)
        )
        return [vector for part in parts for vector in part]

    def embed_documents(self, texts: Sequence[str]) -> list[SparseVector]:
        """Sparse vectors of documents (the document prompt)."""
        return self.embed(texts, input_type="document")

    def embed_query(self, text: str) -> SparseVector:
        """The sparse vector of a query (the query prompt)."""
        return self.embed([validate_text(text)], input_type="query")[0]

    async def aembed_documents(self, texts: Sequence[str]) -> list[SparseVector]:
        """Async twin of :meth:`embed_documents`."""
        return await self.aembed(texts, input_type="document")

    async def aembed_query(self, text: str) -> SparseVector:
        """Async twin of :meth:`embed_query`."""
        return (await self.aembed([validate_text(text)], input_type="query"))[0]
