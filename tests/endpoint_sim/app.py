"""The aiohttp application of the simulation: management API, whoami, and the data-plane proxy.

Management routes (prefix ``/v2``, what ``constants.INFERENCE_ENDPOINTS_ENDPOINT`` points at), exactly
the calls huggingface_hub 1.33 makes:

=======  ====================================================  ==================================
method   path                                                  huggingface_hub
=======  ====================================================  ==================================
GET      ``/api/whoami-v2``                                    ``whoami`` (default namespace)
GET      ``/api/agent-harnesses``                              user-agent helper (empty registry)
GET      ``/v2/endpoint/{ns}``                                 ``list_inference_endpoints``
POST     ``/v2/endpoint/{ns}``                                 ``create_inference_endpoint``
GET      ``/v2/endpoint/{ns}/{name}``                          ``get_inference_endpoint``
PUT      ``/v2/endpoint/{ns}/{name}``                          ``update_inference_endpoint``
DELETE   ``/v2/endpoint/{ns}/{name}``                          ``delete_inference_endpoint``
POST     ``/v2/endpoint/{ns}/{name}/pause``                    ``pause_inference_endpoint``
POST     ``/v2/endpoint/{ns}/{name}/resume``                   ``resume_inference_endpoint``
POST     ``/v2/endpoint/{ns}/{name}/scale-to-zero``            ``scale_to_zero_inference_endpoint``
GET      ``/v2/provider/{ns}``                                 ``list_inference_endpoints_hardware``
=======  ====================================================  ==================================

Data plane: ``/ep/{ns}/{name}/{path}`` is the endpoint's URL; every path and method is forwarded to
the upstream TEI server while the endpoint runs (see :meth:`SimApp.data_plane` for the other states).
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from .config import STARTING_STATES, SimConfig, find_compute
from .state import Registry, SimEndpoint

NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "content-encoding",
    }
)


@dataclass(frozen=True)
class SimRequest:
    """One request the simulation received, as tests read it from ``sim.requests``.

    Attributes:
        plane: ``"management"`` (``/v2/...`` and whoami), ``"data"`` (an endpoint's URL) or ``"hub"``
            (other Hub routes huggingface_hub asks on its own, e.g. ``/api/agent-harnesses``).
        method: the HTTP method.
        path: the request path (without the query string).
        query: the raw query string.
        authorization: the ``Authorization`` header as received, or ``None``.
        scale_up_timeout: the ``X-Scale-Up-Timeout`` header as received, or ``None``.
        status: the status answered.
        endpoint: ``"namespace/name"`` for endpoint routes, else ``None``.
        state: the endpoint's state when the request arrived (data plane), else ``None``.
        held_s: seconds a data-plane request was held waiting for a replica.
        body: the parsed JSON body of management requests (create/update payloads), else ``None``.
        time: ``time.time()`` at arrival.
    """

    plane: str
    method: str
    path: str
    query: str
    authorization: str | None
    scale_up_timeout: str | None
    status: int
    endpoint: str | None = None
    state: str | None = None
    held_s: float = 0.0
    body: Any = None
    time: float = 0.0

    @property
    def token(self) -> str | None:
        """The bearer token of ``authorization``, or ``None``."""
        if self.authorization and self.authorization.lower().startswith("bearer "):
            return self.authorization[7:].strip()
        return None


@dataclass
class RequestLog:
    """Every request, in arrival order (thread-safe)."""

    _items: list[SimRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, item: SimRequest) -> None:
        """Append one request."""
        with self._lock:
            self._items.append(item)

    def items(self) -> list[SimRequest]:
        """A copy of the log."""
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._items.clear()


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


class SimApp:
    """State and handlers of one simulation (used inside the simulation's event loop)."""

    def __init__(
        self,
        config: SimConfig,
        registry: Registry,
        log: RequestLog,
        base_url: Callable[[], str],
        upstream: Callable[[], str | None],
    ) -> None:
        self.config = config
        self.registry = registry
        self.log = log
        self._base_url = base_url
        self._upstream = upstream
        self.session: aiohttp.ClientSession | None = None
        self._notes: dict[int, dict[str, Any]] = {}
        self.web_app = web.Application(client_max_size=1 << 30, middlewares=[self._record])
        r = self.web_app.router
        r.add_get("/api/whoami-v2", self.whoami)
        r.add_get("/api/agent-harnesses", self.agent_harnesses)
        r.add_get("/v2/endpoint/{ns}", self.list_endpoints)
        r.add_post("/v2/endpoint/{ns}", self.create)
        r.add_get("/v2/endpoint/{ns}/{name}", self.get)
        r.add_put("/v2/endpoint/{ns}/{name}", self.update)
        r.add_delete("/v2/endpoint/{ns}/{name}", self.delete)
        r.add_post("/v2/endpoint/{ns}/{name}/pause", self.pause)
        r.add_post("/v2/endpoint/{ns}/{name}/resume", self.resume)
        r.add_post("/v2/endpoint/{ns}/{name}/scale-to-zero", self.scale_to_zero)
        r.add_get("/v2/provider/{ns}", self.hardware)
        r.add_route("*", "/ep/{ns}/{name}", self.data_plane)
        r.add_route("*", "/ep/{ns}/{name}/{tail:.*}", self.data_plane)

    async def start(self) -> None:
        """Open the client session used to forward to the upstream TEI server."""
        self.session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10), auto_decompress=False
        )

    async def close(self) -> None:
        """Close the forwarding session."""
        if self.session is not None:
            await self.session.close()
            self.session = None

    # -- recording -------------------------------------------------------------------------------
    @web.middleware
    async def _record(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        arrived = time.time()
        body: Any = None
        if (
            request.method in ("POST", "PUT")
            and not request.path.startswith("/ep/")
            and request.can_read_body
        ):
            raw = await request.read()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
        status = 500
        try:
            response = await handler(request)
            status = response.status
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            notes = self._notes.pop(id(request), {})
            ns, name = request.match_info.get("ns"), request.match_info.get("name")
            self.log.add(
                SimRequest(
                    plane=_plane(request.path),
                    method=request.method,
                    path=request.path,
                    query=request.query_string,
                    authorization=request.headers.get("Authorization"),
                    scale_up_timeout=request.headers.get("X-Scale-Up-Timeout"),
                    status=status,
                    endpoint=f"{ns}/{name}" if ns and name else None,
                    state=notes.get("state"),
                    held_s=float(notes.get("held_s", 0.0)),
                    body=body,
                    time=arrived,
                )
            )
        return response

    def _note(self, request: web.Request, **notes: Any) -> None:
        """Facts about a request for its log entry (request storage would need aiohttp's RequestKey)."""
        self._notes.setdefault(id(request), {}).update(notes)

    # -- credentials -----------------------------------------------------------------------------
    def _user(self, request: web.Request) -> str | None:
        header = request.headers.get("Authorization", "")
        if not header.lower().startswith("bearer "):
            return None
        return self.config.user_of(header[7:].strip())

    def _check(self, request: web.Request) -> tuple[str | None, web.Response | None]:
        """The user and namespace check of a management call: (namespace, error response)."""
        user = self._user(request)
        if user is None:
            return None, _error(401, "Unauthorized: a valid Hugging Face token is required")
        ns = request.match_info.get("ns")
        if ns is not None and not self.config.open_namespaces and ns not in (user, *self.config.orgs):
            return None, _error(401, f"Unauthorized: no access to namespace {ns}")
        return ns, None

    # -- management ------------------------------------------------------------------------------
    async def whoami(self, request: web.Request) -> web.Response:
        """``GET /api/whoami-v2``: the user of the token and its organizations."""
        user = self._user(request)
        if user is None:
            return _error(401, "Invalid credentials in Authorization header")
        return web.json_response(
            {
                "type": "user",
                "id": f"id-{user}",
                "name": user,
                "fullname": user,
                "email": f"{user}@example.invalid",
                "emailVerified": True,
                "isPro": False,
                "orgs": [
                    {"type": "org", "id": f"id-{org}", "name": org, "fullname": org}
                    for org in self.config.orgs
                ],
                "auth": {
                    "type": "access_token",
                    "accessToken": {"displayName": "simulation", "role": "write"},
                },
            }
        )

    async def agent_harnesses(self, request: web.Request) -> web.Response:
        """``GET /api/agent-harnesses``: huggingface_hub's user-agent helper asks the Hub root; none here."""
        return web.json_response({"standardEnvVars": [], "harnesses": {}})

    def _raw(self, ep: SimEndpoint) -> dict[str, Any]:
        return ep.to_raw(self._base_url())

    async def list_endpoints(self, request: web.Request) -> web.Response:
        """``GET /v2/endpoint/{ns}``: ``{"items": [...]}``."""
        ns, error = self._check(request)
        if error is not None:
            return error
        assert ns is not None
        return web.json_response({"items": [self._raw(ep) for ep in self.registry.list(ns)]})

    async def create(self, request: web.Request) -> web.Response:
        """``POST /v2/endpoint/{ns}``: validate the payload, then start the deployment."""
        ns, error = self._check(request)
        if error is not None:
            return error
        assert ns is not None
        try:
            payload = await request.json()
        except ValueError:
            return _error(400, "Bad Request: the body is not JSON")
        problem = self._invalid(payload, creating=True)
        if problem:
            return _error(400, f"Bad Request: {problem}")
        if self.registry.get(ns, payload["name"]) is not None:
            return _error(409, f"Conflict: an endpoint named {payload['name']} already exists in {ns}")
        user = self._user(request) or self.config.user
        ep = self.registry.create(ns, payload, user)
        return web.json_response(self._raw(ep))

    def _invalid(self, payload: Any, *, creating: bool) -> str | None:
        if not isinstance(payload, dict):
            return "the body must be a JSON object"
        if creating:
            missing = [
                path
                for path in (
                    "name",
                    "type",
                    "compute.accelerator",
                    "compute.instanceSize",
                    "compute.instanceType",
                    "compute.scaling.minReplica",
                    "compute.scaling.maxReplica",
                    "model.repository",
                    "model.framework",
                    "model.image",
                    "provider.region",
                    "provider.vendor",
                )
                if _dig(payload, path) is None
            ]
            if missing:
                return f"missing field(s): {', '.join(missing)}"
            if not NAME_RE.match(str(payload["name"])):
                return (
                    f"invalid endpoint name {payload['name']!r}: at most 32 characters, lowercase letters, "
                    "digits and '-', starting and ending with a letter or digit"
                )
            if payload["type"] not in ("public", "protected", "authenticated", "private"):
                return f"invalid type {payload['type']!r}"
        scaling = _dig(payload, "compute.scaling") or {}
        lo, hi = scaling.get("minReplica"), scaling.get("maxReplica")
        if lo is not None and (not isinstance(lo, int) or lo < 0):
            return "compute.scaling.minReplica must be an integer >= 0"
        if hi is not None and (not isinstance(hi, int) or hi < 1 or (isinstance(lo, int) and hi < lo)):
            return "compute.scaling.maxReplica must be an integer >= 1 and >= minReplica"
        if creating and lo == 0 and scaling.get("scaleToZeroTimeout") is None:
            return "compute.scaling.scaleToZeroTimeout is required when minReplica is 0"
        if creating and self.config.check_hardware:
            combo = (
                _dig(payload, "provider.vendor"),
                _dig(payload, "provider.region"),
                _dig(payload, "compute.accelerator"),
                _dig(payload, "compute.instanceType"),
                _dig(payload, "compute.instanceSize"),
            )
            if find_compute(self.config.hardware, *map(str, combo)) is None:
                names = ("vendor", "region", "accelerator", "instanceType", "instanceSize")
                return "no such hardware: " + ", ".join(f"{k}={v}" for k, v in zip(names, combo, strict=True))
        return None

    def _endpoint(self, request: web.Request) -> tuple[SimEndpoint | None, web.Response | None]:
        ns, error = self._check(request)
        if error is not None:
            return None, error
        assert ns is not None
        name = request.match_info["name"]
        ep = self.registry.get(ns, name)
        if ep is None:
            return None, _error(404, f"Not Found: endpoint {ns}/{name} does not exist")
        return ep, None

    async def get(self, request: web.Request) -> web.Response:
        """``GET /v2/endpoint/{ns}/{name}``."""
        ep, error = self._endpoint(request)
        if error is not None:
            return error
        assert ep is not None
        return web.json_response(self._raw(ep))

    async def update(self, request: web.Request) -> web.Response:
        """``PUT /v2/endpoint/{ns}/{name}``: merge the changes, then ``updating`` -> ``running``."""
        ep, error = self._endpoint(request)
        if error is not None:
            return error
        assert ep is not None
        try:
            changes = await request.json()
        except ValueError:
            return _error(400, "Bad Request: the body is not JSON")
        problem = self._invalid(changes, creating=False)
        if problem:
            return _error(400, f"Bad Request: {problem}")
        ep = self.registry.update(ep.namespace, ep.name, changes)
        return web.json_response(self._raw(ep))

    async def delete(self, request: web.Request) -> web.Response:
        """``DELETE /v2/endpoint/{ns}/{name}``: gone; 404 afterwards."""
        ep, error = self._endpoint(request)
        if error is not None:
            return error
        assert ep is not None
        self.registry.delete(ep.namespace, ep.name)
        return web.json_response({})

    async def pause(self, request: web.Request) -> web.Response:
        """``POST …/pause``."""
        ep, error = self._endpoint(request)
        if error is not None:
            return error
        assert ep is not None
        return web.json_response(self._raw(self.registry.pause(ep.namespace, ep.name)))

    async def resume(self, request: web.Request) -> web.Response:
        """``POST …/resume``: a 400 containing "already running" when it runs."""
        ep, error = self._endpoint(request)
        if error is not None:
            return error
        assert ep is not None
        if ep.state == "running":
            return _error(400, "Bad Request: endpoint is already running")
        if ep.state in STARTING_STATES:
            return web.json_response(self._raw(ep))
        return web.json_response(self._raw(self.registry.resume(ep.namespace, ep.name)))

    async def scale_to_zero(self, request: web.Request) -> web.Response:
        """``POST …/scale-to-zero``."""
        ep, error = self._endpoint(request)
        if error is not None:
            return error
        assert ep is not None
        if ep.state == "paused":
            return _error(400, "Bad Request: endpoint is paused")
        return web.json_response(self._raw(self.registry.scale_to_zero(ep.namespace, ep.name)))

    async def hardware(self, request: web.Request) -> web.Response:
        """``GET /v2/provider/{ns}``: the hardware catalogue."""
        _, error = self._check(request)
        if error is not None:
            return error
        return web.json_response({"vendors": self.config.hardware})

    # -- data plane ------------------------------------------------------------------------------
    async def data_plane(self, request: web.Request) -> web.StreamResponse:
        """An endpoint's URL: forward to TEI while running; otherwise what the HF proxy answers.

        * unknown or deleted endpoint: 404; missing or refused token (non-public endpoint): 401;
        * ``paused``: 400 with the plain-text body ``config.paused_body`` (no request wakes it);
        * ``scaledToZero``: the request starts a replica (``initializing`` for ``scale_up_s``);
        * not running (``scaledToZero``, ``pending``, ``initializing``, ``updating``): 503 with a
          short plain-text body, unless the request carries ``X-Scale-Up-Timeout: N``: then it is held
          up to N seconds until a replica is ready, and forwarded (or 503 when N runs out);
        * ``failed``/``updateFailed``: 503.
        """
        ns, name = request.match_info["ns"], request.match_info["name"]
        ep = self.registry.get(ns, name)
        if ep is None:
            return web.Response(status=404, text="Not Found", content_type="text/plain")
        self._note(request, state=ep.state)
        if ep.endpoint_type != "public" and self._user(request) is None:
            return web.Response(status=401, text="Unauthorized", content_type="text/plain")
        self.registry.touch(ep)
        if ep.state == "scaledToZero":
            self.registry.wake(ep)
        hold = self._hold_seconds(request, ep)
        started = time.monotonic()
        deadline = started + hold
        while True:
            ep.advance(self.registry.clock(), self.config)
            if ep.state == "paused":
                self._note(request, held_s=time.monotonic() - started)
                return web.Response(status=400, text=self.config.paused_body, content_type="text/plain")
            if ep.state == "running":
                break
            now = time.monotonic()
            ready = ep.ready_at() if ep.state in STARTING_STATES else None
            if ready is None or now >= deadline:
                self._note(request, held_s=now - started)
                return web.Response(status=503, text=self.config.starting_body, content_type="text/plain")
            await asyncio.sleep(max(0.001, min(deadline - now, ready - self.registry.clock(), 0.05)))
        self._note(request, held_s=time.monotonic() - started)
        self.registry.touch(ep)
        return await self._forward(request, ep)

    def _hold_seconds(self, request: web.Request, ep: SimEndpoint) -> float:
        honor = ep.honor_scale_up_timeout
        if honor is None:
            honor = self.config.honor_scale_up_timeout
        raw = request.headers.get("X-Scale-Up-Timeout")
        if not honor or raw is None:
            return 0.0
        try:
            seconds = float(raw)
        except ValueError:
            return 0.0
        return max(0.0, min(seconds, self.config.max_hold_s))

    async def _forward(self, request: web.Request, ep: SimEndpoint) -> web.StreamResponse:
        upstream = ep.upstream or self._upstream()
        if upstream is None or self.session is None:
            return web.Response(status=502, text="Bad Gateway: no upstream", content_type="text/plain")
        tail = request.match_info.get("tail", "")
        url = upstream.rstrip("/") + "/" + tail
        if request.query_string:
            url += "?" + request.query_string
        # The HF proxy checks the Hugging Face token itself; TEI behind it sees no Authorization header.
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() not in HOP_BY_HOP and k.lower() != "authorization"
        }
        body = await request.read()
        try:
            async with self.session.request(
                request.method, url, headers=headers, data=body if body else None
            ) as answer:
                payload = await answer.read()
                out_headers = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP}
                if answer.headers.get("Content-Encoding"):
                    out_headers["Content-Encoding"] = answer.headers["Content-Encoding"]
                return web.Response(status=answer.status, body=payload, headers=out_headers)
        except aiohttp.ClientError as exc:
            return web.Response(
                status=502, text=f"Bad Gateway: {type(exc).__name__}", content_type="text/plain"
            )


def _plane(path: str) -> str:
    if path.startswith("/ep/"):
        return "data"
    if path.startswith("/v2/") or path == "/api/whoami-v2":
        return "management"
    return "hub"


def _dig(data: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data
