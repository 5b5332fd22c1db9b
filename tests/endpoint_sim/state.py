"""Endpoints of the simulation and their timed state transitions, evaluated lazily from the clock.

An endpoint holds its current ``state`` and a schedule of future states with the (monotonic) time
at which each begins. Nothing runs in the background: every read first calls :meth:`SimEndpoint.advance`,
which applies the transitions whose time has come.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .config import STARTING_STATES, STATES, SimConfig

#: The message each state shows in ``status.message`` (wording of the simulation).
MESSAGES = {
    "pending": "Endpoint waiting to be scheduled",
    "initializing": "Endpoint is initializing",
    "updating": "Endpoint waiting for the update",
    "updateFailed": "Endpoint failed to update",
    "running": "Endpoint is ready",
    "paused": "Endpoint is paused",
    "failed": "Endpoint failed to deploy",
    "scaledToZero": "Endpoint is scaled to zero",
}

#: Model env variable that makes one endpoint fail: ``deploy``, ``update`` or ``resume``
#: (a comma-separated list is accepted). A simulation-only key.
FAIL_ENV = "HFE_SIM_FAIL"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class SimEndpoint:
    """One endpoint: the create payload as received, plus its state and schedule."""

    namespace: str
    name: str
    payload: dict[str, Any]
    created_by: str
    created_at: float
    updated_at: float
    state: str
    since: float
    schedule: list[tuple[str, float]] = field(default_factory=list)
    deployed: bool = False
    """True once the endpoint reached ``running``; from then on ``status.url`` is shown."""
    last_request: float | None = None
    upstream: str | None = None
    scale_up_s: float | None = None
    honor_scale_up_timeout: bool | None = None
    fail: set[str] = field(default_factory=set)
    history: list[tuple[str, float]] = field(default_factory=list)
    """Every state entered, with the monotonic time it began."""

    # -- time ------------------------------------------------------------------------------------
    def advance(self, now: float, config: SimConfig) -> None:
        """Apply every scheduled transition whose time has come, then idle scale-to-zero."""
        while self.schedule and self.schedule[0][1] <= now:
            state, at = self.schedule.pop(0)
            self._enter(state, at)
        idle = config.auto_scale_to_zero_s
        if idle is not None and self.state == "running" and self.min_replica == 0:
            last = max(self.since, self.last_request or self.since)
            if now - last >= idle:
                self._enter("scaledToZero", last + idle)

    def _enter(self, state: str, at: float) -> None:
        self.state = state
        self.since = at
        self.history.append((state, at))
        if state == "running":
            self.deployed = True

    def go(self, now: float, steps: list[tuple[str, float]]) -> None:
        """Enter ``steps[0]`` now; each later step begins when the previous one's duration is over.

        ``steps`` is a list of ``(state, duration)``; the last duration is ignored.
        """
        self.schedule = []
        at = now
        for i, (state, duration) in enumerate(steps):
            if i == 0:
                self._enter(state, now)
            else:
                self.schedule.append((state, at))
            at += duration

    def ready_at(self) -> float | None:
        """When ``running`` begins according to the schedule, or ``None`` when it is not scheduled."""
        for state, at in self.schedule:
            if state == "running":
                return at
            if state not in STARTING_STATES:
                return None
        return None

    # -- payload views ---------------------------------------------------------------------------
    @property
    def endpoint_type(self) -> str:
        """``public``, ``protected``, ``authenticated`` or ``private``."""
        return str(self.payload.get("type") or "authenticated")

    @property
    def min_replica(self) -> int:
        """``compute.scaling.minReplica``."""
        return int(self.payload.get("compute", {}).get("scaling", {}).get("minReplica") or 0)

    @property
    def env(self) -> dict[str, str]:
        """``model.env``."""
        return dict(self.payload.get("model", {}).get("env") or {})

    def fails(self, event: str, config: SimConfig) -> bool:
        """Whether ``event`` (``deploy``, ``update``, ``resume``) ends in a failure for this endpoint."""
        from_env = {part.strip() for part in self.env.get(FAIL_ENV, "").split(",") if part.strip()}
        return event in self.fail or event in from_env or (event == "deploy" and config.fail_deploys)

    def health_route(self) -> str:
        """The image's health route (``/health`` when it names none)."""
        image = self.payload.get("model", {}).get("image") or {}
        for variant in image.values():
            if isinstance(variant, dict):
                route = variant.get("healthRoute") or variant.get("health_route")
                if route:
                    return str(route)
        return "/health"

    def to_raw(self, base_url: str) -> dict[str, Any]:
        """The JSON the management API answers for it (what ``InferenceEndpoint.from_raw`` reads)."""
        p = self.payload
        compute = copy.deepcopy(p.get("compute", {}))
        provider = copy.deepcopy(p.get("provider", {}))
        compute["id"] = (
            f"{provider.get('vendor')}-{provider.get('region')}-{compute.get('instanceType')}-"
            f"{compute.get('instanceSize')}"
        )
        model = copy.deepcopy(p.get("model", {}))
        model.setdefault("revision", None)
        if model.get("revision") is None:
            model["revision"] = "main"
        model.setdefault("task", None)
        model.setdefault("env", {})
        # Secret values never come back from the API; the simulation shows their names only.
        model["secrets"] = dict.fromkeys(model.get("secrets") or {}, "***")
        ready = 1 if self.state == "running" else 0
        target = 0 if self.state in ("paused", "scaledToZero", "failed") else 1
        who = {"id": f"id-{self.created_by}", "name": self.created_by}
        status: dict[str, Any] = {
            "createdAt": _iso(self.created_at),
            "createdBy": who,
            "updatedAt": _iso(self.updated_at),
            "updatedBy": who,
            "private": None,
            "state": self.state,
            "message": MESSAGES.get(self.state, self.state),
            "readyReplica": ready,
            "targetReplica": target,
        }
        if self.deployed:
            status["url"] = f"{base_url}/ep/{self.namespace}/{self.name}"
        if self.state in ("failed", "updateFailed"):
            status["errorMessage"] = "simulated failure (simulation, not a real deployment)"
        raw: dict[str, Any] = {
            "accountId": None,
            "name": self.name,
            "type": self.endpoint_type,
            "provider": provider,
            "healthRoute": self.health_route(),
            "compute": compute,
            "model": model,
            "status": status,
            "tags": list(p.get("tags") or []),
        }
        if "route" in p:
            raw["route"] = copy.deepcopy(p["route"])
        if "cacheHttpResponses" in p:
            raw["cacheHttpResponses"] = p["cacheHttpResponses"]
        return raw


def deep_merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``changes``, recursing into dicts (the update semantics of PUT)."""
    merged = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and key not in ("image", "env"):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


class Registry:
    """The endpoints of one simulation, safe to use from the server thread and the test thread."""

    def __init__(self, config: SimConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self.lock = threading.RLock()
        self._endpoints: dict[tuple[str, str], SimEndpoint] = {}

    # -- lookup ----------------------------------------------------------------------------------
    def get(self, namespace: str, name: str) -> SimEndpoint | None:
        """The endpoint, advanced to now, or ``None`` (never created, or deleted)."""
        with self.lock:
            ep = self._endpoints.get((namespace, name))
            if ep is not None:
                ep.advance(self.clock(), self.config)
            return ep

    def list(self, namespace: str) -> list[SimEndpoint]:
        """The endpoints of a namespace, in creation order, advanced to now."""
        with self.lock:
            now = self.clock()
            found = [ep for (ns, _), ep in self._endpoints.items() if ns == namespace]
            for ep in found:
                ep.advance(now, self.config)
            return found

    def all(self) -> list[SimEndpoint]:
        """Every endpoint, advanced to now."""
        with self.lock:
            now = self.clock()
            for ep in self._endpoints.values():
                ep.advance(now, self.config)
            return list(self._endpoints.values())

    # -- lifecycle -------------------------------------------------------------------------------
    def create(self, namespace: str, payload: dict[str, Any], user: str) -> SimEndpoint:
        """A new endpoint: ``pending`` -> ``initializing`` -> ``running`` (or ``failed``)."""
        with self.lock:
            now, wall = self.clock(), time.time()
            ep = SimEndpoint(
                namespace=namespace,
                name=str(payload["name"]),
                payload=copy.deepcopy(payload),
                created_by=user,
                created_at=wall,
                updated_at=wall,
                state="pending",
                since=now,
            )
            self._deploy(ep, now)
            self._endpoints[(namespace, ep.name)] = ep
            return ep

    def _deploy(self, ep: SimEndpoint, now: float) -> None:
        c = self.config
        end = "failed" if ep.fails("deploy", c) else "running"
        ep.go(now, [("pending", c.pending_s), ("initializing", c.initializing_s), (end, 0.0)])

    def put(
        self,
        namespace: str,
        name: str,
        *,
        state: str,
        payload: dict[str, Any],
        user: str,
        deployed: bool | None = None,
    ) -> SimEndpoint:
        """Insert (or replace) an endpoint directly in ``state``; a starting state goes on as usual."""
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}; one of {STATES}")
        with self.lock:
            now, wall = self.clock(), time.time()
            ep = SimEndpoint(
                namespace=namespace,
                name=name,
                payload=copy.deepcopy(payload),
                created_by=user,
                created_at=wall,
                updated_at=wall,
                state=state,
                since=now,
            )
            self._set_state(ep, state, now)
            if deployed is not None:
                ep.deployed = deployed
            elif state not in ("pending", "failed"):
                ep.deployed = True
            self._endpoints[(namespace, name)] = ep
            return ep

    def _set_state(self, ep: SimEndpoint, state: str, now: float) -> None:
        c = self.config
        if state == "pending":
            self._deploy(ep, now)
        elif state == "initializing":
            end = "failed" if ep.fails("deploy", c) else "running"
            ep.go(now, [("initializing", c.initializing_s), (end, 0.0)])
        elif state == "updating":
            end = "updateFailed" if ep.fails("update", c) else "running"
            ep.go(now, [("updating", c.updating_s), (end, 0.0)])
        else:
            ep.go(now, [(state, 0.0)])

    def set_state(self, namespace: str, name: str, state: str) -> SimEndpoint:
        """Move an existing endpoint to ``state`` now (a starting state goes on as usual)."""
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}; one of {STATES}")
        with self.lock:
            ep = self._require(namespace, name)
            self._set_state(ep, state, self.clock())
            if state == "running":
                ep.deployed = True
            ep.updated_at = time.time()
            return ep

    def update(self, namespace: str, name: str, changes: dict[str, Any]) -> SimEndpoint:
        """PUT: merge the changes, then ``updating`` -> ``running`` (or ``updateFailed``)."""
        with self.lock:
            ep = self._require(namespace, name)
            ep.payload = deep_merge(ep.payload, changes)
            ep.updated_at = time.time()
            self._set_state(ep, "updating", self.clock())
            return ep

    def pause(self, namespace: str, name: str) -> SimEndpoint:
        """``paused`` at once; only a resume brings it back."""
        with self.lock:
            ep = self._require(namespace, name)
            ep.go(self.clock(), [("paused", 0.0)])
            ep.updated_at = time.time()
            return ep

    def resume(self, namespace: str, name: str) -> SimEndpoint:
        """``initializing`` for ``resume_s``, then ``running`` (or ``failed``)."""
        with self.lock:
            ep = self._require(namespace, name)
            c = self.config
            end = "failed" if ep.fails("resume", c) else "running"
            ep.go(self.clock(), [("initializing", c.resume_s), (end, 0.0)])
            ep.updated_at = time.time()
            return ep

    def scale_to_zero(self, namespace: str, name: str) -> SimEndpoint:
        """``scaledToZero`` at once; the next data-plane request starts a replica."""
        with self.lock:
            ep = self._require(namespace, name)
            ep.go(self.clock(), [("scaledToZero", 0.0)])
            ep.updated_at = time.time()
            return ep

    def wake(self, ep: SimEndpoint) -> None:
        """A data-plane request reached a ``scaledToZero`` endpoint: start a replica."""
        with self.lock:
            if ep.state != "scaledToZero":
                return
            duration = ep.scale_up_s if ep.scale_up_s is not None else self.config.scale_up_s
            ep.go(self.clock(), [("initializing", duration), ("running", 0.0)])

    def touch(self, ep: SimEndpoint) -> None:
        """Note a data-plane request (for idle scale-to-zero)."""
        with self.lock:
            ep.last_request = self.clock()

    def delete(self, namespace: str, name: str) -> None:
        """Remove the endpoint; it answers 404 afterwards."""
        with self.lock:
            self._require(namespace, name)
            del self._endpoints[(namespace, name)]

    def _require(self, namespace: str, name: str) -> SimEndpoint:
        ep = self.get(namespace, name)
        if ep is None:
            raise KeyError(f"{namespace}/{name}")
        return ep
