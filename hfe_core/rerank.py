"""``Reranker``: score texts against a query with a cross-encoder, locally, on TEI or an Inference Endpoint.

* local: sentence-transformers' ``CrossEncoder``, from the same model cache and device logic as
  local embeddings;
* tei: ``POST /rerank`` over the shared transport (pooled client, ``/info``, permits, retries,
  typed errors, credentials), the texts cut into requests of at most ``max_client_batch_size``
  and the scores merged back, best first;
* endpoint: a dedicated Inference Endpoint running TEI with a re-ranker (cold starts, resuming).

The scores are the model's sigmoid (0..1) by default, its raw logits with ``raw_scores=True``,
the same in every mode.
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
from hfe_core.config import EmbedderSettings
from hfe_core.errors import InputTooLongError, RequestRejectedError
from hfe_core.task_setup import (
    LocalTask,
    RerankerSettings,
    ServerTask,
    TaskClient,
    run_requests,
)
from hfe_core.tasks import plan_texts
from hfe_core.tasks.rerank import Rank, check_top_n, merge_ranks, read_ranks, rerank_body
from hfe_core.transport.responses import HTTPResponse
from hfe_core.transport.server import ServerTransport
from hfe_core.validation import validate_text, validate_texts

__all__ = ["Rank", "Reranker", "RerankerSettings"]


class _LocalRerank(LocalTask):
    """Local mode's rerank task: a ``CrossEncoder`` from the shared model cache."""

    model_class: ClassVar[str] = "CrossEncoder"
    model_noun: ClassVar[str] = "CrossEncoder model"

    def rerank_batch(self, query: str, texts: list[str], offset: int) -> list[Rank]:
        loaded = self._loaded
        model: Any = loaded.model  # a CrossEncoder
        settings = self.settings
        pairs = [(query, text) for text in texts]
        options: dict[str, Any] = {}
        if getattr(settings, "raw_scores", False):
            import torch

            options["activation_fn"] = torch.nn.Identity()  # the logits, as TEI's raw_scores
        with loaded.lock:
            tokenizer = model.tokenizer
            # sentence-transformers 6 calls it max_seq_length (max_length is deprecated there), 5 max_length
            limit_name = "max_seq_length" if hasattr(type(model), "max_seq_length") else "max_length"
            limit = int(getattr(model, limit_name) or tokenizer.model_max_length)
            if settings.truncation == "error":
                _refuse_long_pairs(tokenizer, query, texts, limit, offset)
            with self.truncation_side(tokenizer):
                scores = model.predict(
                    pairs,
                    batch_size=int(settings.batch_size or 32),
                    show_progress_bar=False,
                    convert_to_numpy=True,
                    **options,
                )
        values = np.asarray(scores, dtype=np.float64).reshape(len(texts), -1)[:, 0]
        return [Rank(offset + number, float(value)) for number, value in enumerate(values)]


def _refuse_long_pairs(tokenizer: Any, query: str, texts: list[str], limit: int, offset: int) -> None:
    """Under ``truncation='error'``: name the texts whose pair with the query is over the model's limit."""
    encoded = tokenizer([query] * len(texts), texts, truncation=False, verbose=False)["input_ids"]
    counts = [len(ids) for ids in encoded]
    over = [offset + number for number, count in enumerate(counts) if count > limit]
    if over:
        raise InputTooLongError(
            f"texts {over[:10]}{'...' if len(over) > 10 else ''}: with the query, over the model's "
            f"limit of {limit} tokens, and truncation='error'. Shorten them, or use "
            "truncation='truncate' (the end of each pair is cut) or 'truncate_left'.",
            indices=over,
            token_counts=[count for count in counts if count > limit],
            max_tokens=limit,
        )


class _ServerRerank(ServerTask):
    """The rerank task on a TEI server: ``POST /rerank`` under the server's limits."""

    route: ClassVar[str] = "/rerank"
    task: ClassVar[str] = "rerank"
    what: ClassVar[str] = "a Reranker"

    def _body(self, query: str, texts: list[str]) -> dict[str, Any]:
        settings = self.settings
        return rerank_body(
            query,
            texts,
            truncate=settings.truncation != "error",
            left=settings.truncation == "truncate_left",
            raw_scores=bool(getattr(settings, "raw_scores", False)),
            char_limit=self.char_limit,
        )

    def _ranks(self, response: HTTPResponse, count: int, offset: int) -> list[Rank]:
        label = self.task_label(count)
        return read_ranks(parse_json(response.content, label=label), count, offset=offset, label=label)

    def _too_long(self, refused: RequestRejectedError, offset: int, count: int) -> Exception:
        if self.settings.truncation != "error" or "must have less than" not in (refused.server_message or ""):
            return refused
        rows = list(range(offset, offset + count))
        return InputTooLongError(
            f"texts {rows[:10]}{'...' if count > 10 else ''}: the server refused a pair over the model's "
            f"limit under truncation='error' ({refused.server_message}). Shorten them, or use "
            "truncation='truncate' or 'truncate_left'.",
            indices=rows,
            token_counts=[],
            max_tokens=self.info.max_input_length or 0,
        )

    def rerank_batch(self, query: str, texts: list[str], offset: int) -> list[Rank]:
        try:
            response = self.send(self._body(query, texts), len(texts))
        except RequestRejectedError as refused:
            raise self._too_long(refused, offset, len(texts)) from None
        if response is None:  # over the payload limit: each half on its own
            half = self.half(texts)
            first = self.rerank_batch(query, texts[:half], offset)
            return first + self.rerank_batch(query, texts[half:], offset + half)
        return self._ranks(response, len(texts), offset)

    async def arerank_batch(self, query: str, texts: list[str], offset: int) -> list[Rank]:
        try:
            response = await self.asend(self._body(query, texts), len(texts))
        except RequestRejectedError as refused:
            raise self._too_long(refused, offset, len(texts)) from None
        if response is None:
            half = self.half(texts)
            first = await self.arerank_batch(query, texts[:half], offset)
            return first + await self.arerank_batch(query, texts[half:], offset + half)
        return self._ranks(response, len(texts), offset)


class _EndpointRerank(DedicatedEndpointTransport, _ServerRerank):
    """The rerank task on a dedicated Inference Endpoint running TEI."""


class Reranker(TaskClient[RerankerSettings, _LocalRerank | _ServerRerank]):
    """Scores texts against a query with a cross-encoder, best first; local, TEI or an Inference Endpoint.

    Args:
        settings: a :class:`RerankerSettings` (or an adapter, which is one).
        **kwargs: settings as keyword arguments, when ``settings`` is not given: every
            :class:`~hfe_core.EmbedderSettings` setting that applies (``mode``, ``model``, ``url``,
            ``token``, ``batch_size``, ``truncation``, ``timeout``, ``max_concurrency``, ``max_retries``...)
            and ``raw_scores``.

    Example:
        >>> reranker = Reranker(mode="tei", url="http://localhost:8080")  # doctest: +SKIP
        >>> texts = ["Deep Learning is...", "Cheese is..."]
        >>> reranker.rerank("What is Deep Learning?", texts)  # doctest: +SKIP
        [Rank(index=0, score=0.998), Rank(index=1, score=0.0001)]

    A server's ``max_client_batch_size`` applies to ``texts``: they are sent in several requests
    and their scores merged in one order. Nothing is loaded or connected until the first call.
    """

    settings_class: ClassVar[type[EmbedderSettings]] = RerankerSettings
    task: ClassVar[str] = "rerank"
    mode_classes: ClassVar[dict[str, type[LocalBackend | ServerTransport]]] = {
        "local": _LocalRerank,
        "tei": _ServerRerank,
        "endpoint": _EndpointRerank,
    }

    def _prepare(self, query: Any, texts: Any, top_n: Any) -> tuple[str, list[str], int | None]:
        return validate_text(query, argument="query"), validate_texts(texts), check_top_n(top_n)

    def rerank(self, query: str, texts: Sequence[str], top_n: int | None = None) -> list[Rank]:
        """Score each text against ``query``; the best first.

        Args:
            query: the query.
            texts: the candidates (e.g. a retriever's hits).
            top_n: keep only the best ``top_n`` (``None``: all).

        Returns:
            ``(index, score)`` pairs (:class:`Rank`), best score first; ``index`` is the text's
            position in ``texts``. An empty ``texts`` gives ``[]`` without a request.

        Raises:
            InvalidInputError: ``query`` or a text is not a string (named by index).
            ConfigurationError: the server's model is not a re-ranker (before any request).
            InputTooLongError: under ``truncation='error'``, the pairs over the model's limit.
            EmbeddingRequestError: the server refused or failed (typed, retried when transient).
        """
        query, texts, top_n = self._prepare(query, texts, top_n)
        if not texts:
            return []
        mode = self._mode
        plan = plan_texts(len(texts), mode.max_texts())
        calls = [
            partial(mode.rerank_batch, query, texts[rows.start : rows.stop], rows.start) for rows in plan
        ]
        return merge_ranks(run_requests(calls, mode.max_concurrency), top_n)

    async def arerank(self, query: str, texts: Sequence[str], top_n: int | None = None) -> list[Rank]:
        """Async twin of :meth:`rerank`: the requests run concurrently (under ``max_concurrency``)."""
        query, texts, top_n = self._prepare(query, texts, top_n)
        if not texts:
            return []
        mode = self._mode
        if isinstance(mode, _LocalRerank):
            return await asyncio.to_thread(self.rerank, query, texts, top_n)
        plan = plan_texts(len(texts), await asyncio.to_thread(mode.max_texts))
        parts = await asyncio.gather(
            *(mode.arerank_batch(query, texts[rows.start : rows.stop], rows.start) for rows in plan)
        )
        return merge_ranks(parts, top_n)
