"""The transport to a TEI-protocol server, shared by every task (embed, rerank, sparse).

One :class:`ServerTransport` owns what does not depend on the task:

* where the server is (``url=``, or an endpoint's discovered URL) and the credential that may go there;
* one pooled httpx client per embedder, sync, and one per event loop, async, with total deadlines;
* ``GET /info``, read once, lazily (TEI's defaults when a server has none);
* the permits: at most ``max_concurrency`` requests and the server's permits in flight;
* the retries: every answer is judged at one place (:func:`~hfe_core.transport.responses.classify`),
  credentials scrubbed, transient failures retried along :class:`~hfe_core.retry.RetryPolicy`.

A task (``hfe_core.backends.tei.TEIBackend`` for embeddings, the rerank and sparse tasks) adds its
routes' bodies and answers on top; endpoint mode adds cold starts and the endpoint's state.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlparse

import httpx

from hfe_core.answers import parse_json, read_info
from hfe_core.auth import redact, token_for_url
from hfe_core.batching import AdaptiveLimit, shared_concurrency
from hfe_core.config import DEFAULT_CONNECT_TIMEOUT, EmbedderSettings
from hfe_core.errors import ConfigurationError, EmbeddingTimeoutError, ResponseFormatError, ServerError
from hfe_core.retry import RetryPolicy
from hfe_core.transport.deadline import request_deadline, with_deadlines
from hfe_core.transport.loops import PerLoop
from hfe_core.transport.permits import _AsyncGate, _finish_if_abandoned, _Slot, _SyncSlot
from hfe_core.transport.responses import (
    HTTPResponse,
    _Attempts,
    _Outcome,
    _scrub_error,
    _Scrubbed,
    classify,
    next_wait,
)

__all__ = ["RequestStats", "ServerInfo", "ServerTransport", "encode_body"]

logger = logging.getLogger("hfe")


_OPTIONAL_ROUTES = frozenset({"/info", "/tokenize"})
_ROUTE_SUFFIXES = ("/embed", "/v1/embeddings", "/embeddings", "/v1", "/info")
#: What route='openai' removes from url= before resolving it (TEI's native spellings).
_NATIVE_SUFFIXES = ("/embed", "/info")
#: Statuses by which a server that is not TEI says it has no ``/info`` or ``/models`` (route='openai').
_OPENAI_ABSENT_STATUSES = frozenset({400, 404, 405, 422})


@dataclass(frozen=True)
class ServerInfo:
    """What ``GET /info`` says about a TEI server (TEI's defaults when it has no ``/info``)."""

    model_id: str | None = None
    version: str | None = None
    max_client_batch_size: int = 32
    max_batch_tokens: int = 16384
    max_concurrent_requests: int = 512
    max_input_length: int | None = None
    auto_truncate: bool | None = None
    served_model_name: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ServerInfo:
        """Parse an ``/info`` body, tolerating missing fields."""
        return cls(
            model_id=data.get("model_id"),
            version=data.get("version"),
            max_client_batch_size=int(data.get("max_client_batch_size") or 32),
            max_batch_tokens=int(data.get("max_batch_tokens") or 16384),
            max_concurrent_requests=int(data.get("max_concurrent_requests") or 512),
            max_input_length=data.get("max_input_length"),
            auto_truncate=data.get("auto_truncate"),
            served_model_name=data.get("served_model_name"),
            raw=data,
        )

    @property
    def is_tei(self) -> bool:
        """Whether a Text Embeddings Inference server answered ``/info`` (not TEI's defaults)."""
        return "model_id" in self.raw and (
            "max_input_length" in self.raw or "max_client_batch_size" in self.raw
        )

    @property
    def version_tuple(self) -> tuple[int, ...]:
        """The version as numbers (``(0,)`` when unknown)."""
        try:
            return tuple(int(part) for part in (self.version or "0").split("-")[0].split("."))
        except ValueError:
            return (0,)


@dataclass
class RequestStats:
    """Counters of a backend's requests, cumulative (see ``Embedder.last_stats`` for one call)."""

    requests: int = 0
    retries: int = 0
    overloaded: int = 0
    split_for_payload: int = 0
    server_ms: float = 0.0
    tokens: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **deltas: float) -> None:
        """Add to counters, thread-safely."""
        with self._lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)


class ServerTransport:
    """The connection to one TEI-protocol server: URL, credential, clients, ``/info``, permits, retries.

    Args:
        settings: resolved settings (``url``, ``token``, ``timeout``, ``max_concurrency``,
            ``max_retries``, ``retry_timeout``, ``proxies``, ``route``).

    Raises:
        ConfigurationError: no ``url`` (and the subclass cannot find it), or not an http(s) URL.
    """

    #: How many clients (e.g. Ray actors) share this server; see :meth:`share_server`.
    server_clients: int = 1
    #: ``max_concurrency`` before :meth:`share_server` divided it (sharing again starts from it).
    _whole_concurrency: int | None = None

    def __init__(self, settings: EmbedderSettings) -> None:
        self.settings = settings
        self._base_url: str | None = None
        #: route='openai': the path of the OpenAI base URL below base_url ("/v1", ""), ``None`` until
        #: ``/info`` says whether the server is TEI (see :meth:`_set_url`).
        self._openai_prefix: str | None = None
        self._token: str | None = None
        self._url_lock = threading.Lock()
        if settings.url:
            self._set_url(settings.url)
        elif not self._discovers_url:
            raise ConfigurationError(
                "mode='tei' needs url=, the root URL of the server (e.g. http://localhost:8080)."
            )
        self.max_concurrency = int(settings.max_concurrency or 8)
        self.policy = RetryPolicy(max_attempts=settings.max_retries + 1, max_seconds=settings.retry_timeout)
        self.stats = RequestStats()
        self._info: ServerInfo | None = None
        self._info_lock = threading.Lock()
        self._client: httpx.Client | None = None
        # One async client and limit per event loop: each belongs to its loop, and
        # is closed (or dropped) with it, so repeated asyncio.run() calls never pile them up.
        self._async_clients: PerLoop[httpx.AsyncClient] = PerLoop(self._new_async_client, _aclose)
        self._limit: AdaptiveLimit | None = None
        self._limit_cond = threading.Condition()
        self._async_limits: PerLoop[_AsyncGate] = PerLoop(lambda: _AsyncGate(self._new_limit()))

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError(
            f"{type(self).__name__} is not picklable; pickle the Embedder, which carries its settings."
        )

    # -- where the server is ------------------------------------------------------------------
    #: True when a subclass can find the URL itself (an Inference Endpoint by name).
    _discovers_url: ClassVar[bool] = False

    def _set_url(self, raw: str) -> None:
        """Resolve ``url=`` to the server's root URL (and, for route='openai', its OpenAI base).

        route='native': the root URL, less any route suffix (``/embed``, ``/v1/embeddings``,
        ``/embeddings``, ``/v1``, ``/info``); requests go to ``{root}/embed``.

        route='openai' takes ``url=`` as the openai SDK takes ``base_url``, and keeps TEI's spellings:

        1. A final ``/embeddings`` (the full endpoint), or TEI's ``/embed`` or ``/info``, is removed.
        2. A URL that then ends in ``/v1`` is the OpenAI base as given: requests go to
           ``{url}/embeddings``, and a TEI server's ``/info`` and ``/tokenize`` are looked for at
           the URL less ``/v1``.
        3. Any other URL is read ``{url}/info`` from, once: a TEI server (its ``/info`` answers)
           gets ``{url}/v1/embeddings``; any other server ``{url}/embeddings`` (Infinity's default).
        """
        url = raw.rstrip("/")
        if self.settings.route == "openai":
            prefix: str | None = None
            for suffix in ("/embeddings", *_NATIVE_SUFFIXES):
                if url.endswith(suffix):
                    url = url[: -len(suffix)]
                    break
            if url.endswith("/v1"):
                url, prefix = url[: -len("/v1")], "/v1"
            self._openai_prefix = prefix
        else:
            for suffix in _ROUTE_SUFFIXES:
                if url.endswith(suffix):
                    url = url[: -len(suffix)]
                    break
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            shown = redact(raw, [parsed.password]) if parsed.password else raw
            raise ConfigurationError(f"url={shown!r} is not an http(s) URL.")
        self._base_url = url
        self._token = token_for_url(self.settings.token, self.settings.token_source, url)

    def _discover_url(self) -> str:
        """The server's URL when none was given (endpoint mode asks the Inference Endpoints API)."""
        raise ConfigurationError("no url= was given")

    @property
    def base_url(self) -> str:
        """The server's root URL (route suffixes such as ``/embed`` removed)."""
        if self._base_url is None:
            with self._url_lock:
                if self._base_url is None:
                    self._set_url(self._discover_url())
        assert self._base_url is not None  # noqa: S101 - set just above
        return self._base_url

    # -- HTTP plumbing ----------------------------------------------------------------------
    @property
    def _headers(self) -> dict[str, str]:
        self.base_url  # noqa: B018 - resolves the URL, and with it the token that may go there
        headers = {"Content-Type": "application/json", "User-Agent": "hfe", **self._extra_headers}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        return headers

    @property
    def _extra_headers(self) -> dict[str, str]:
        """Headers a mode adds to every request (endpoint mode: ``X-Scale-Up-Timeout``)."""
        return {}

    @property
    def _timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self._read_timeout, connect=DEFAULT_CONNECT_TIMEOUT)

    @property
    def _read_timeout(self) -> float:
        return float(self.settings.timeout or 60.0)

    @property
    def _limits(self) -> httpx.Limits:
        return httpx.Limits(
            max_connections=self.max_concurrency * 2, max_keepalive_connections=self.max_concurrency
        )

    @property
    def client(self) -> httpx.Client:
        """The pooled sync client (created on first use); every request keeps to its deadline."""
        if self._client is None:
            self._client = with_deadlines(
                httpx.Client(
                    base_url=self.base_url,
                    headers=self._headers,
                    timeout=self._timeout,
                    limits=self._limits,
                    proxy=self._proxy,
                )
            )
        return self._client

    def _new_async_client(self) -> httpx.AsyncClient:
        return with_deadlines(
            httpx.AsyncClient(
                base_url=self.base_url,
                headers=self._headers,
                timeout=self._timeout,
                limits=self._limits,
                proxy=self._proxy,
            )
        )

    async def _async_client(self) -> httpx.AsyncClient:
        """The running event loop's pooled client, closed when that loop shuts down."""
        return await self._async_clients.get()

    @property
    def _proxy(self) -> str | None:
        proxies = self.settings.proxies or {}
        scheme = urlparse(self.base_url).scheme
        return proxies.get(f"{scheme}://") or proxies.get(scheme) or proxies.get("all://")

    def counters(self) -> dict[str, float]:
        """The request counters of :attr:`stats`."""
        stats = self.stats
        return {
            "requests": stats.requests,
            "retries": stats.retries,
            "server_ms": stats.server_ms,
            "tokens": stats.tokens,
        }

    def close(self) -> None:
        """Close the pooled sync connections; each event loop's client closes when its loop shuts down."""
        if self._client is not None:
            self._client.close()
            self._client = None

    async def aclose(self) -> None:
        """Close the running event loop's connections now (they also close when the loop shuts down)."""
        await self._async_clients.aclose()

    @property
    def info(self) -> ServerInfo:
        """The server's ``/info`` (read once; TEI's defaults when the server has none)."""
        if self._info is None:
            with self._info_lock:
                if self._info is None:
                    self._info = self._fetch_info()
                    logger.debug("hfe: %s /info: %s", self.base_url, self._info.raw)
        return self._info

    def _fetch_info(self) -> ServerInfo:
        response = self._send_sync(lambda: self.client.get("/info"), route="/info")
        if response is None:
            return ServerInfo()
        label = self._scrub(self.base_url)
        try:
            data = parse_json(response.content, label=f"{label}/info")
            return ServerInfo.from_json(read_info(data, label=label))
        except ResponseFormatError as exc:
            if self.settings.route != "openai":
                raise
            # Not TEI's /info (a page, another server's route): an OpenAI-compatible server without one.
            logger.debug(
                "hfe: %s/info is not TEI's (%s); reading no limits from it", label, self._scrub(str(exc))
            )
            return ServerInfo()

    @property
    def _is_tei(self) -> bool:
        """Whether the server is Text Embeddings Inference (its ``/info`` answered)."""
        return self.info.is_tei

    @property
    def _known_openai_server(self) -> bool:
        """:attr:`_openai_server` as far as known without a request (``/info`` read already)."""
        return self.settings.route == "openai" and self._info is not None and not self._info.is_tei

    @property
    def _openai_server(self) -> bool:
        """route='openai' on a server that is not TEI (Infinity, vLLM, llama.cpp, Ollama...)."""
        return self.settings.route == "openai" and not self._is_tei

    # -- concurrency ---------------------------------------------------------------------------
    @property
    def _server_permits(self) -> int:
        """The server's permits (``max_concurrent_requests``) this client may hold: its share."""
        return max(1, self.info.max_concurrent_requests // self.server_clients)

    def share_server(self, clients: int) -> None:
        """Keep to this client's share of the server's requests and permits.

        At most ``ceil(max_concurrency / clients)`` requests in flight, and at most
        ``max_concurrent_requests // clients`` inputs in flight and per request (never fewer than 1).

        Args:
            clients: how many clients share the server.
        """
        if self._whole_concurrency is None:
            self._whole_concurrency = self.max_concurrency
        self.max_concurrency = shared_concurrency(self._whole_concurrency, clients)
        self.server_clients = clients
        # Limits are built on the first request; drop any built before, they had the whole server.
        self._limit = None
        self._async_limits = PerLoop(lambda: _AsyncGate(self._new_limit()))

    def _new_limit(self) -> AdaptiveLimit:
        # Each input takes one of the server's permits: never more inputs in flight than it has
        # (than this client's share of them, when several clients share the server).
        return AdaptiveLimit(self.max_concurrency, max_inputs=self._server_permits)

    def _slot(self, inputs: int) -> _SyncSlot:
        if self._limit is None:
            self._limit = self._new_limit()
        return _SyncSlot(self._limit, self._limit_cond, inputs)

    @asynccontextmanager
    async def _async_slot(self, inputs: int) -> AsyncIterator[_Slot]:
        """Async twin of :meth:`_slot`: one limit per event loop.

        A call cancelled while its request is in flight does not free the slot at once: the server
        still works on the abandoned request, so the slot is freed when that request ends (it runs
        on, bounded by its deadline). The next call then never pushes the server past
        ``max_concurrency`` or its permits.
        """
        gate = await self._async_limits.get()
        slot = _Slot(inputs)
        slot.epoch = await gate.enter(inputs)
        try:
            yield slot
        finally:
            abandoned = slot.abandoned
            if abandoned is not None and not abandoned.done():
                abandoned.add_done_callback(lambda _: gate.leave(slot))
            else:
                gate.leave(slot)

    # -- sending with retries: one decision procedure, a sync and an async shell ----------------------
    def _after_failure(self, outcome: _Outcome, state: _Attempts, slot: _Slot | None) -> float:
        """The wait before the next attempt, or raise the outcome's error when the budget is spent."""
        if outcome.overloaded:
            self.stats.add(overloaded=1)
            if slot is not None:
                slot.overloaded = True
        wait = next_wait(outcome, state, self.policy, self._cold_start_wait)
        if wait is None:
            assert outcome.error is not None  # noqa: S101 - "retry" outcomes always carry one
            raise outcome.error
        self.stats.add(retries=1)
        logger.debug(
            "hfe: retrying %s in %.2fs (attempt %d): %s",
            self._scrub(self.base_url),
            wait,
            state.attempt,
            outcome.error,  # scrubbed at the error boundary
        )
        return wait

    def _cold_start_wait(self, outcome: _Outcome, attempt: int, elapsed: float) -> float | None:
        """The wait after a cold-start answer; a TEI server has no cold starts of its own."""
        return self.policy.wait(attempt, elapsed, outcome.retry_after)

    def _prepare_retry(self, outcome: _Outcome) -> None:
        """Work to do before retrying (endpoint mode: poll or resume the endpoint). Blocking."""

    def _connection_outcome(self, exc: httpx.HTTPError, route: str) -> _Outcome:
        outcome = self._unreachable(exc, route)
        assert outcome.error is not None  # noqa: S101 - always set below
        _scrub_error(outcome.error, self._secrets)
        return outcome

    def _unreachable(self, exc: httpx.HTTPError, route: str) -> _Outcome:
        what = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, httpx.TimeoutException):
            return _Outcome(
                "retry",
                EmbeddingTimeoutError(
                    f"{self.base_url}{route} did not answer in full within timeout={self._read_timeout:g} s "
                    f"({what}), on every attempt of the retry budget. The timeout covers the whole "
                    "request, connect to last byte: raise timeout= for slow servers or large batches "
                    "(or lower batch_size), or check that the server is healthy."
                ),
            )
        return _Outcome(
            "retry",
            ServerError(
                f"Could not get an answer from {self.base_url}{route} ({what}) within "
                "the retry budget. Is the server running and reachable? TEI accepts connections only "
                "once its model is loaded.",
            ),
        )

    @property
    def _secrets(self) -> list[str]:
        """Every credential this backend holds: scrubbed from server texts before they are kept or logged."""
        held = [self._token, self.settings.token.get_secret_value() if self.settings.token else None]
        password = urlparse(self._base_url or self.settings.url or "").password
        return [secret for secret in (*held, password) if secret]

    def _scrub(self, text: str) -> str:
        """``text`` without any credential this backend holds."""
        return redact(text, self._secrets)

    #: Statuses by which an optional route (``/info``, ``/tokenize``) says it is not there.
    _ABSENT_STATUSES: ClassVar[frozenset[int]] = frozenset({404})

    def _classify(self, response: HTTPResponse, route: str) -> _Outcome:
        """The error boundary of this backend's answers (endpoint mode adds the proxy's)."""
        # Read without fetching /info (this may be /info's own answer): known once /info was read.
        return classify(response, url=self.base_url + route, openai_server=self._known_openai_server)

    def _optional(self, route: str, status: int) -> bool:
        """Whether ``status`` says an optional route (``/info``, ``/tokenize``, ``/models``) is absent."""
        if self.settings.route == "openai" and (route == "/info" or route.endswith("/models")):
            return status in self._ABSENT_STATUSES or status in _OPENAI_ABSENT_STATUSES
        return route in _OPTIONAL_ROUTES and status in self._ABSENT_STATUSES

    def _judge(self, response: HTTPResponse, route: str) -> _Outcome:
        """The outcome of one answer ("ok", "retry", "split", "absent"); raises final errors at once.

        This is where server answers become errors and log lines: an error answer is read through
        :class:`_Scrubbed`, so no credential this backend holds reaches an exception or a log.
        """
        if self._optional(route, response.status_code):
            return _Outcome("absent")  # an older or partial server: the caller falls back
        if response.status_code != 200:
            response = _Scrubbed(response, self._secrets)
        outcome = self._classify(response, route)
        if outcome.error is not None:  # its message names the URL, which may carry a password
            _scrub_error(outcome.error, self._secrets)
        if outcome.kind == "fail":
            assert outcome.error is not None  # noqa: S101 - "fail" outcomes always carry one
            raise outcome.error
        return outcome

    def _send_sync(
        self, send: Callable[[], HTTPResponse], *, route: str, slot: _Slot | None = None
    ) -> HTTPResponse | None:
        """Send with retries. ``None`` means: split the request (payload limit), or no such route."""
        state = _Attempts()
        while True:
            state.attempt += 1
            self.stats.add(requests=1)
            try:
                with request_deadline(self._read_timeout):
                    response = send()
            except (httpx.TransportError, httpx.DecodingError) as exc:
                outcome = self._connection_outcome(exc, route)
            else:
                outcome = self._judge(response, route)
                if outcome.kind != "retry":
                    return response if outcome.kind == "ok" else None
            wait = self._after_failure(outcome, state, slot)
            self._prepare_retry(outcome)
            time.sleep(wait)

    async def _send_async(
        self, send: Callable[[], Awaitable[HTTPResponse]], *, route: str, slot: _Slot | None = None
    ) -> HTTPResponse | None:
        """Async twin of :meth:`_send_sync`."""
        state = _Attempts()
        while True:
            state.attempt += 1
            self.stats.add(requests=1)
            try:
                with request_deadline(self._read_timeout):
                    response = await _finish_if_abandoned(send(), slot)
            except (httpx.TransportError, httpx.DecodingError) as exc:
                outcome = self._connection_outcome(exc, route)
            else:
                outcome = self._judge(response, route)
                if outcome.kind != "retry":
                    return response if outcome.kind == "ok" else None
            wait = self._after_failure(outcome, state, slot)
            if outcome.cold_start or outcome.paused:
                await asyncio.to_thread(self._prepare_retry, outcome)
            await asyncio.sleep(wait)


async def _aclose(client: httpx.AsyncClient) -> None:
    await client.aclose()


def encode_body(body: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON, exactly what the request planner counted (whatever httpx's own default)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
