"""What the rerank and sparse tasks share across modes: their settings and the checks on them.

The mode implementations live beside their public class (:mod:`hfe_core.rerank`,
:mod:`hfe_core.sparse`); both build on the same transport
(:class:`~hfe_core.transport.server.ServerTransport`, endpoint mode's
:class:`~hfe_core.backends.endpoint.DedicatedEndpointTransport`) and the same local model cache
(:class:`~hfe_core.backends.local.LocalBackend`, one subclass per sentence-transformers class).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from typing import Any, ClassVar, Generic, TypeVar, cast

from pydantic import Field

from hfe_core.backends.endpoint import _is_serverless_url
from hfe_core.backends.local import LocalBackend
from hfe_core.config import EmbedderSettings
from hfe_core.errors import ConfigurationError, RequestRejectedError
from hfe_core.tasks import describe_model_type, served_tasks
from hfe_core.transport.responses import HTTPResponse
from hfe_core.transport.server import ServerTransport, encode_body

__all__ = [
    "LocalTask",
    "RerankerSettings",
    "ServerTask",
    "SparseEmbedderSettings",
    "TaskClient",
    "check_served_task",
    "run_requests",
    "check_task_settings",
    "server_kind",
]

_T = TypeVar("_T")
_S = TypeVar("_S", bound=EmbedderSettings)
_M = TypeVar("_M", bound=LocalBackend | ServerTransport)


class RerankerSettings(EmbedderSettings):
    """The settings of a :class:`~hfe_core.Reranker`: an embedder's, and ``raw_scores``.

    Mode, model, url, token, limits, retries and truncation are as for an embedder.

    Example:
        >>> RerankerSettings(mode="tei", url="http://localhost:8080", raw_scores=True).raw_scores
        True
    """

    #: A cross-encoder, the one TEI's own rerank tests and LangChain's HuggingFaceCrossEncoder use.
    default_local_model: ClassVar[str] = "BAAI/bge-reranker-base"

    raw_scores: bool = Field(
        default=False,
        description="The model's raw logits instead of sigmoid scores in 0..1 (TEI's raw_scores).",
    )


class SparseEmbedderSettings(EmbedderSettings):
    """The settings of a :class:`~hfe_core.SparseEmbedder` (an embedder's; vectors are never normalized).

    Example:
        >>> SparseEmbedderSettings(mode="tei", url="http://localhost:8080").normalize
        False
    """

    #: A SPLADE model with an open licence.
    default_local_model: ClassVar[str] = "naver/splade-cocondenser-ensembledistil"

    normalize: bool = Field(
        default=False, description="Sparse vectors are the model's weights, never normalized."
    )


#: Settings of dense embedding that a task does not use, with the value that means "not set".
_DENSE_ONLY: dict[str, Any] = {
    "dimensions": None,
    "expected_dimension": None,
    "pooling": None,
    "precision": "float32",
    "precision_ranges": None,
    "runtime": "torch",
    "processes": None,
    "devices": None,
}


def check_task_settings(settings: EmbedderSettings, task: str) -> None:
    """Refuse settings that mean nothing to ``task`` (``"rerank"`` or ``"sparse"``), by name.

    Raises:
        ConfigurationError: a dense-only setting is set, ``route='openai'`` (no such route),
            ``truncation='chunk'``, sparse ``normalize=True``, or prompts on a reranker.
    """
    refused = [name for name, unset in _DENSE_ONLY.items() if getattr(settings, name) != unset]
    if task == "rerank":
        refused += [name for name in ("query_prompt", "document_prompt") if getattr(settings, name)]
    if task == "sparse" and settings.normalize:
        refused.append("normalize")
    what = "a Reranker" if task == "rerank" else "a SparseEmbedder"
    if refused:
        raise ConfigurationError(
            f"{', '.join(sorted(refused))}: not a setting of {what} (they are dense embedding's); "
            "remove them."
        )
    if settings.route == "openai":
        raise ConfigurationError(
            f"route='openai' has no {'rerank' if task == 'rerank' else 'sparse'} route: {what} uses "
            "TEI's native routes (/rerank, /embed_sparse); remove route=."
        )
    if settings.truncation == "chunk":
        raise ConfigurationError(
            f"truncation='chunk' is for dense vectors (chunks averaged); {what} takes 'truncate', "
            "'truncate_left' or 'error'."
        )


def server_kind(settings: EmbedderSettings, what: str) -> str:
    """``"tei"``, ``"endpoint"`` (a dedicated endpoint) or ``"local"``: where ``what`` runs.

    Raises:
        ConfigurationError: endpoint mode on the serverless API (no provider serves the task through
            huggingface_hub's client), or neither url nor endpoint_name.
    """
    mode = settings.mode
    if mode != "endpoint":
        return str(mode)
    if settings.endpoint_name and settings.url:
        raise ConfigurationError(
            "Pass either endpoint_name= (resolved through huggingface_hub) or url=, not both."
        )
    if settings.endpoint_name or (settings.url and not _is_serverless_url(settings.url)):
        return "endpoint"
    raise ConfigurationError(
        f"{what} in mode='endpoint' needs a dedicated Inference Endpoint running TEI with the model "
        "(url= or endpoint_name=): the serverless Inference Providers offer no such task through "
        "huggingface_hub's InferenceClient. Deploy one (`hfe deploy MODEL`), run TEI yourself "
        "(mode='tei'), or use mode='local'."
    )


def check_served_task(transport: ServerTransport, task: str, what: str) -> None:
    """Refuse, before any request, a server whose ``/info`` says its model cannot do ``task``.

    A server without TEI's ``/info`` (or without ``model_type``) is trusted: its answers are checked.

    Raises:
        ConfigurationError: the server's model is of another type (named, with the fix).
    """
    model_type = transport.info.raw.get("model_type")
    tasks = served_tasks(model_type)
    if tasks is None or task in tasks:
        return
    route = "/rerank" if task == "rerank" else "/embed_sparse"
    wanted = "a re-ranker (cross-encoder) model" if task == "rerank" else "a SPLADE model"
    served = transport.info.model_id or "its model"
    use = "an Embedder" if "embed" in tasks else "a SparseEmbedder" if "sparse" in tasks else "a Reranker"
    if tasks == {"classify"}:
        use = "classification (/predict), not hfe"
    raise ConfigurationError(
        f"{transport._scrub(transport.base_url)} serves {served}, {describe_model_type(model_type)} "
        f"(its /info model_type), which has no {route}: {what} needs a server started with {wanted}. "
        f"Point url= at that server; this one is for {use}."
    )


#: TEI refuses texts over max_input_length x 250 characters, even with truncation on (before 1.9).
_TEI_CHARS_PER_TOKEN = 250


class ServerTask(ServerTransport):
    """A task's requests over the shared transport: one route, its permits, retries and payload splits.

    Subclasses name the :attr:`route` and :attr:`task`; bodies and answers are the pure functions of
    :mod:`hfe_core.tasks`.
    """

    #: The task's route (``/rerank``, ``/embed_sparse``).
    route: ClassVar[str]
    #: The task, as :func:`~hfe_core.tasks.served_tasks` names it.
    task: ClassVar[str]
    #: The public class, as messages name it.
    what: ClassVar[str]

    def max_texts(self) -> int:
        """Texts per request: the server's ``max_client_batch_size`` and this client's share of permits.

        Raises:
            ConfigurationError: the server's model cannot do this task (its ``/info`` says so).
        """
        check_served_task(self, self.task, self.what)
        # Each text takes one of the server's permits: never more per request than this client's share.
        return max(1, min(self.info.max_client_batch_size, self._server_permits))

    @property
    def char_limit(self) -> int | None:
        """The characters past which TEI refuses a text even with truncation on (``None``: unknown)."""
        return (self.info.max_input_length or 0) * _TEI_CHARS_PER_TOKEN or None

    def task_label(self, count: int) -> str:
        """The request, as messages name it: URL and route (credentials scrubbed), text count."""
        return f"{self._scrub(self.base_url)}{self.route} ({count} text{'s' if count != 1 else ''})"

    def _post(self, body: dict[str, Any]) -> HTTPResponse:
        return self.client.post(self.route, content=encode_body(body))

    async def _apost(self, body: dict[str, Any]) -> HTTPResponse:
        client = await self._async_client()
        return await client.post(self.route, content=encode_body(body))

    def send(self, body: dict[str, Any], count: int) -> HTTPResponse | None:
        """One request with retries, holding ``count`` permits; ``None``: over the payload limit, split it."""
        with self._slot(count) as slot:
            return self._send_sync(partial(self._post, body), route=self.route, slot=slot)

    async def asend(self, body: dict[str, Any], count: int) -> HTTPResponse | None:
        """Async twin of :meth:`send`."""
        async with self._async_slot(count) as slot:
            return await self._send_async(partial(self._apost, body), route=self.route, slot=slot)

    def half(self, texts: list[str]) -> int:
        """Where to cut a request the payload limit refused.

        Raises:
            RequestRejectedError: one text alone is over the limit.
        """
        half = len(texts) // 2
        if half == 0:
            raise RequestRejectedError(
                f"{self.task_label(1)} refused one text of {len(texts[0])} characters (413): it is over "
                "the server's payload limit (TEI's --payload-limit, 2 MB by default). Shorten the text, "
                "or raise the server's limit.",
                status_code=413,
            )
        self.stats.add(split_for_payload=1)
        return half


class LocalTask(LocalBackend):
    """A task on a local sentence-transformers model of its own class (the shared cache and devices)."""

    def max_texts(self) -> int:
        """Texts per call: several forward batches, as local embeddings take."""
        return self.work_batch_size(max(1, int(self.settings.batch_size or 32)))

    @contextmanager
    def truncation_side(self, tokenizer: Any) -> Iterator[None]:
        """Cut the start of too-long inputs under ``truncate_left``, their end otherwise (then restore).

        Call it with the model's lock held: the tokenizer is the model's own.
        """
        side = tokenizer.truncation_side
        tokenizer.truncation_side = "left" if self.settings.truncation == "truncate_left" else "right"
        try:
            yield
        finally:
            tokenizer.truncation_side = side


def run_requests(calls: Sequence[Callable[[], _T]], workers: int) -> list[_T]:
    """Run ``calls`` (one request each) on up to ``workers`` threads; the results in the calls' order.

    Threads only wait on the network: the transport bounds what is in flight (``max_concurrency``,
    the server's permits). A local model (``workers=1``) runs the calls one after another.
    """
    if workers <= 1 or len(calls) <= 1:
        return [call() for call in calls]
    with ThreadPoolExecutor(max_workers=min(workers, len(calls)), thread_name_prefix="hfe") as pool:
        futures = [pool.submit(call) for call in calls]
        try:
            return [future.result() for future in futures]
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


class TaskClient(Generic[_S, _M]):
    """What :class:`~hfe_core.Reranker` and :class:`~hfe_core.SparseEmbedder` share: settings, mode, life.

    A subclass names its settings class, its task and the class of each mode; this builds the mode's
    task from the resolved settings (nothing is loaded or connected yet), pickles the settings only
    and closes the mode's connections.
    """

    #: The settings class the subclass resolves (``RerankerSettings``, ``SparseEmbedderSettings``).
    settings_class: ClassVar[type[EmbedderSettings]]
    #: The task, as :func:`check_task_settings` names it.
    task: ClassVar[str]
    #: The task's class in each mode: ``"local"``, ``"tei"`` and ``"endpoint"`` (a dedicated endpoint).
    mode_classes: ClassVar[dict[str, type[LocalBackend | ServerTransport]]]

    def __init__(self, settings: _S | None = None, /, **kwargs: Any) -> None:
        if settings is not None and kwargs:
            raise ConfigurationError("Pass either a settings object or keyword settings, not both.")
        cls = self.settings_class
        resolved = cast("_S", settings.snapshot_as(cls) if settings is not None else cls(**kwargs))
        check_task_settings(resolved, self.task)
        self._settings = resolved
        kind = server_kind(resolved, f"A {type(self).__name__}")
        self._mode = cast("_M", self.mode_classes[kind](resolved))

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle the settings only (never a connection or a model, never the token)."""
        return (type(self), (self._settings,))

    @property
    def settings(self) -> _S:
        """The resolved settings (read-only by convention)."""
        return self._settings

    def __repr__(self) -> str:
        settings = self._settings
        where = settings.url or settings.endpoint_name or settings.model
        return (
            f"{type(self).__name__}(mode={settings.mode!r}, {'url' if settings.url else 'model'}={where!r})"
        )

    def close(self) -> None:
        """Close the pooled connections (a local model stays cached for others)."""
        self._mode.close()

    async def aclose(self) -> None:
        """Close the running event loop's connections now (they also close when the loop shuts down)."""
        if isinstance(self._mode, ServerTransport):
            await self._mode.aclose()
