"""``EndpointSim``: the simulation in a background thread with its own event loop."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

from aiohttp import web

from .app import RequestLog, SimApp, SimRequest
from .config import SimConfig
from .state import Registry, SimEndpoint

DEFAULT_REPOSITORY = "sentence-transformers/all-MiniLM-L6-v2"


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _url_of(upstream: Any) -> str | None:
    if upstream is None:
        return None
    if isinstance(upstream, str):
        return upstream
    return str(upstream.url)  # a TEIServer (or anything with .url)


def tei_payload(
    name: str,
    *,
    repository: str = DEFAULT_REPOSITORY,
    endpoint_type: str = "authenticated",
    min_replica: int = 0,
    max_replica: int = 1,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A create payload for a CPU TEI embedding endpoint, as huggingface_hub would send it."""
    model: dict[str, Any] = {
        "framework": "pytorch",
        "repository": repository,
        "revision": None,
        "task": "sentence-embeddings",
        "image": {
            "tei": {
                "url": "ghcr.io/huggingface/text-embeddings-inference:cpu-1.9",
                "healthRoute": "/health",
                "port": 80,
                "maxBatchTokens": 16384,
                "maxConcurrentRequests": 512,
            }
        },
    }
    if env:
        model["env"] = dict(env)
    return {
        "compute": {
            "accelerator": "cpu",
            "instanceSize": "x2",
            "instanceType": "intel-spr",
            "scaling": {"maxReplica": max_replica, "minReplica": min_replica, "scaleToZeroTimeout": 15},
        },
        "model": model,
        "name": name,
        "provider": {"region": "us-east-1", "vendor": "aws"},
        "type": endpoint_type,
    }


class EndpointSim:
    """A loopback simulation of the Hugging Face Inference Endpoints service (not a recording).

    >>> with EndpointSim(upstream=tei_server) as sim, hub_pointed_at(sim):  # doctest: +SKIP
    ...     ep = huggingface_hub.create_inference_endpoint("my-ep", ..., token=SIM_TOKEN)

    * ``url``: the root (``/api/whoami-v2`` lives there); ``api_url`` = ``url + "/v2"`` is what
      ``huggingface_hub.constants.INFERENCE_ENDPOINTS_ENDPOINT`` must be (see :func:`hub_pointed_at`).
    * Each endpoint's URL is ``{url}/ep/{namespace}/{name}``; it forwards to ``upstream`` (a TEI server,
      or a URL) while the endpoint runs.
    * ``config`` (:class:`SimConfig`) is live; ``requests`` is the log of every request received.
    """

    def __init__(
        self,
        config: SimConfig | None = None,
        *,
        upstream: Any = None,
        port: int | None = None,
        clock: Callable[[], float] | None = None,
        **changes: Any,
    ) -> None:
        base = config if config is not None else SimConfig()
        self.config = base.copy(**changes) if changes else base
        self.upstream = upstream
        self.log = RequestLog()
        self.registry = Registry(self.config, clock) if clock is not None else Registry(self.config)
        self._port = port
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.app: SimApp | None = None

    # -- addresses -------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The TCP port (known once ``start()`` returned)."""
        if self._port is None:
            raise RuntimeError("the simulation has not been started")
        return self._port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``: the Hub root (whoami) and the data-plane host."""
        host = self.config.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    @property
    def api_url(self) -> str:
        """The management API root, the value for ``constants.INFERENCE_ENDPOINTS_ENDPOINT``."""
        return self.url + "/v2"

    def endpoint_url(self, name: str, namespace: str | None = None) -> str:
        """The data-plane URL of an endpoint (what ``status.url`` shows once it has run)."""
        return f"{self.url}/ep/{namespace or self.config.user}/{name}"

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self, timeout: float = 30.0) -> EndpointSim:
        """Start serving; returns once the port listens."""
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError("the simulation is already running")
        if self._port is None:
            self._port = _free_port(self.config.host)
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(target=self._thread_main, name="endpoint-sim", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"the endpoint simulation did not listen within {timeout} s")
        if self._error is not None:
            raise RuntimeError(f"the endpoint simulation failed to start: {self._error!r}") from self._error
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Close the port and stop the thread."""
        thread = self._thread
        if thread is None:
            return
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            try:
                loop.call_soon_threadsafe(stop.set)
            except RuntimeError:  # the loop already closed
                pass
        thread.join(timeout)
        if thread.is_alive():
            raise TimeoutError("the endpoint simulation did not stop")
        self._thread = None

    def __enter__(self) -> EndpointSim:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _thread_main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._stop = asyncio.Event()
            self.app = SimApp(
                self.config, self.registry, self.log, lambda: self.url, lambda: _url_of(self.upstream)
            )
            loop.run_until_complete(self._serve(self.app, self._stop))
        except BaseException as exc:  # reported by start()
            self._error = exc
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                self._loop = None
                loop.close()
                self._ready.set()

    async def _serve(self, app: SimApp, stop: asyncio.Event) -> None:
        await app.start()
        runner = web.AppRunner(
            app.web_app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=self.config.shutdown_timeout_s,
        )
        try:
            await runner.setup()
            site = web.TCPSite(runner, self.config.host, self.port, reuse_address=True)
            await site.start()
            self._ready.set()
            await stop.wait()
        finally:
            await runner.cleanup()
            await app.close()

    # -- endpoints, for tests --------------------------------------------------------------------
    def add_endpoint(
        self,
        name: str,
        *,
        namespace: str | None = None,
        state: str = "running",
        repository: str = DEFAULT_REPOSITORY,
        endpoint_type: str = "authenticated",
        min_replica: int = 0,
        upstream: Any = None,
        scale_up_s: float | None = None,
        honor_scale_up_timeout: bool | None = None,
        fail: tuple[str, ...] = (),
        payload: dict[str, Any] | None = None,
    ) -> str:
        """Put an endpoint straight into ``state`` (no create call, nothing recorded); return its URL.

        Args:
            name: the endpoint name.
            namespace: default ``config.user``.
            state: any state; a starting one (``pending``, ``initializing``, ``updating``) goes on to
                ``running`` with the configured durations.
            repository: ``model.repository``.
            endpoint_type: ``public`` needs no token on the data plane.
            min_replica: ``compute.scaling.minReplica``.
            upstream: this endpoint's TEI server or URL (default: the simulation's).
            scale_up_s: this endpoint's scale-up time from zero (default ``config.scale_up_s``).
            honor_scale_up_timeout: whether this endpoint holds requests with ``X-Scale-Up-Timeout``
                (default ``config.honor_scale_up_timeout``).
            fail: events that fail for this endpoint: ``"deploy"``, ``"update"``, ``"resume"``.
            payload: a whole create payload instead of the default TEI one.
        """
        ns = namespace or self.config.user
        body = payload or tei_payload(
            name, repository=repository, endpoint_type=endpoint_type, min_replica=min_replica
        )
        ep = self.registry.put(ns, name, state=state, payload=body, user=self.config.user)
        ep.upstream = _url_of(upstream)
        ep.scale_up_s = scale_up_s
        ep.honor_scale_up_timeout = honor_scale_up_timeout
        ep.fail = set(fail)
        if fail and state in ("pending", "initializing", "updating"):
            self.registry.set_state(ns, name, state)  # re-plan with the failure
        return self.endpoint_url(name, ns)

    def endpoint(self, name: str, namespace: str | None = None) -> SimEndpoint:
        """The simulated endpoint (advanced to now); ``KeyError`` if absent."""
        ep = self.registry.get(namespace or self.config.user, name)
        if ep is None:
            raise KeyError(f"{namespace or self.config.user}/{name}")
        return ep

    def state(self, name: str, namespace: str | None = None) -> str | None:
        """The endpoint's state now, or ``None`` when it does not exist (never created or deleted)."""
        ep = self.registry.get(namespace or self.config.user, name)
        return None if ep is None else ep.state

    def set_state(self, name: str, state: str, namespace: str | None = None) -> None:
        """Move an endpoint to ``state`` now (e.g. ``"failed"``, ``"paused"``, ``"scaledToZero"``)."""
        self.registry.set_state(namespace or self.config.user, name, state)

    def raw(self, name: str, namespace: str | None = None) -> dict[str, Any]:
        """The JSON the management API would answer for the endpoint now."""
        return self.endpoint(name, namespace).to_raw(self.url)

    def payload(self, name: str, namespace: str | None = None) -> dict[str, Any]:
        """The create payload as received (with later updates merged in)."""
        return self.endpoint(name, namespace).payload

    # -- request log -----------------------------------------------------------------------------
    @property
    def requests(self) -> list[SimRequest]:
        """Every request received so far, in arrival order (a copy)."""
        return self.log.items()

    def requests_for(
        self, *, plane: str | None = None, endpoint: str | None = None, method: str | None = None
    ) -> list[SimRequest]:
        """The requests of one plane (``"management"``/``"data"``), endpoint (``"ns/name"``) or method."""
        return [
            r
            for r in self.log.items()
            if (plane is None or r.plane == plane)
            and (endpoint is None or r.endpoint == endpoint)
            and (method is None or r.method == method)
        ]

    def clear_requests(self) -> None:
        """Forget the request log."""
        self.log.clear()


class ColdStartProxy:
    """A standalone cold-start proxy: one ``scaledToZero`` endpoint in front of a TEI server.

    The first request starts the replica; every request answers 503 for ``cold_s`` seconds after
    that one, then they are forwarded. ``X-Scale-Up-Timeout`` is ignored unless
    ``honor_scale_up_timeout=True``. The endpoint is ``public`` by default (no token needed).

    >>> with TEIServer(vectors="hash") as tei, ColdStartProxy(tei, cold_s=1.0) as proxy:  # doctest: +SKIP
    ...     httpx.post(proxy.url + "/embed", json={"inputs": "a"}).status_code
    503
    """

    def __init__(
        self,
        upstream: Any,
        *,
        cold_s: float = 2.0,
        honor_scale_up_timeout: bool = False,
        endpoint_type: str = "public",
        name: str = "cold-start",
        **config: Any,
    ) -> None:
        self.sim = EndpointSim(upstream=upstream, **config)
        self.name = name
        self._cold_s = cold_s
        self._honor = honor_scale_up_timeout
        self._type = endpoint_type
        self.url = ""

    def start(self) -> ColdStartProxy:
        """Start the simulation and add the endpoint."""
        self.sim.start()
        self.url = self.sim.add_endpoint(
            self.name,
            state="scaledToZero",
            endpoint_type=self._type,
            scale_up_s=self._cold_s,
            honor_scale_up_timeout=self._honor,
        )
        return self

    def stop(self) -> None:
        """Stop the simulation."""
        self.sim.stop()

    @property
    def requests(self) -> list[SimRequest]:
        """Data-plane requests received so far."""
        return self.sim.requests_for(plane="data")

    def __enter__(self) -> ColdStartProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
