"""Thread-safe server-side observations, for tests and benchmarks."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

DROPPED = 0
"""Status recorded for a request whose connection was closed without an answer."""


class ServerStats:
    """Counters kept by the server, readable from any thread.

    * ``requests[(route, status)]``: answers per route (the request path) and status; ``0`` = dropped.
    * ``inputs_embedded`` / ``tokens_embedded``: inputs and tokens of successful embed requests
      (each input counted once per successful request; a ``/rerank`` text is one input, its
      tokens those of the ``(query, text)`` pair).
    * ``batch_sizes``: number of inputs of each successful embed request, in completion order.
    * ``inference_batch_sizes``: number of inputs of each server-side model batch.
    * ``in_flight_requests`` / ``in_flight_inputs`` (and their ``max_*``): embed requests
      (``/embed``, ``/v1/embeddings``, ``/embeddings``, ``/embed_sparse``, ``/rerank``, ``POST /``,
      ``/invocations``) being handled now, measured from the moment the server reads the request to
      the moment it answers.
    * ``permits_in_use`` / ``max_permits_in_use``: TEI concurrency permits held.
    * ``faults[kind]``: injected faults (``"429"``, ``"503"``, ``"drop"``, ``"slow"``).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[tuple[str, int]] = Counter()
        self.faults: Counter[str] = Counter()
        self.inputs_embedded = 0
        self.tokens_embedded = 0
        self.batch_sizes: list[int] = []
        self.inference_batch_sizes: list[int] = []
        self.in_flight_requests = 0
        self.max_in_flight_requests = 0
        self.in_flight_inputs = 0
        self.max_in_flight_inputs = 0
        self.permits_in_use = 0
        self.max_permits_in_use = 0

    # -- written by the server ------------------------------------------------------------------
    def record(self, route: str, status: int) -> None:
        """Count one answer."""
        with self._lock:
            self.requests[(route, status)] += 1

    def fault(self, kind: str) -> None:
        """Count one injected fault."""
        with self._lock:
            self.faults[kind] += 1

    def request_started(self) -> None:
        """An embed request entered the server."""
        with self._lock:
            self.in_flight_requests += 1
            self.max_in_flight_requests = max(self.max_in_flight_requests, self.in_flight_requests)

    def request_finished(self) -> None:
        """An embed request left the server."""
        with self._lock:
            self.in_flight_requests -= 1

    def inputs_started(self, n: int) -> None:
        """An embed request's ``n`` inputs are being handled."""
        with self._lock:
            self.in_flight_inputs += n
            self.max_in_flight_inputs = max(self.max_in_flight_inputs, self.in_flight_inputs)

    def inputs_finished(self, n: int) -> None:
        """An embed request's ``n`` inputs are done (answered or failed)."""
        with self._lock:
            self.in_flight_inputs -= n

    def embedded(self, n_inputs: int, n_tokens: int) -> None:
        """A successful embed request."""
        with self._lock:
            self.inputs_embedded += n_inputs
            self.tokens_embedded += n_tokens
            self.batch_sizes.append(n_inputs)

    def inference_batch(self, n: int) -> None:
        """A server-side model batch of ``n`` inputs ran."""
        with self._lock:
            self.inference_batch_sizes.append(n)

    def permits_changed(self, in_use: int) -> None:
        """The number of held permits changed."""
        with self._lock:
            self.permits_in_use = in_use
            self.max_permits_in_use = max(self.max_permits_in_use, in_use)

    # -- read by tests ------------------------------------------------------------------------------
    def count(self, route: str | None = None, status: int | None = None) -> int:
        """Answers for ``route`` (any if ``None``) with ``status`` (any if ``None``)."""
        with self._lock:
            return sum(
                n
                for (r, s), n in self.requests.items()
                if (route is None or r == route) and (status is None or s == status)
            )

    def reset(self) -> None:
        """Zero the counters and lists; the ``max_*`` restart from the current values."""
        with self._lock:
            self.requests.clear()
            self.faults.clear()
            self.inputs_embedded = 0
            self.tokens_embedded = 0
            self.batch_sizes = []
            self.inference_batch_sizes = []
            self.max_in_flight_requests = self.in_flight_requests
            self.max_in_flight_inputs = self.in_flight_inputs
            self.max_permits_in_use = self.permits_in_use

    def snapshot(self) -> dict[str, Any]:
        """A JSON-able copy of everything."""
        with self._lock:
            by_route: dict[str, dict[str, int]] = {}
            for (route, status), n in sorted(self.requests.items()):
                by_route.setdefault(route, {})[str(status)] = n
            return {
                "requests": by_route,
                "faults": dict(self.faults),
                "inputs_embedded": self.inputs_embedded,
                "tokens_embedded": self.tokens_embedded,
                "batch_sizes": list(self.batch_sizes),
                "inference_batch_sizes": list(self.inference_batch_sizes),
                "in_flight_requests": self.in_flight_requests,
                "max_in_flight_requests": self.max_in_flight_requests,
                "in_flight_inputs": self.in_flight_inputs,
                "max_in_flight_inputs": self.max_in_flight_inputs,
                "permits_in_use": self.permits_in_use,
                "max_permits_in_use": self.max_permits_in_use,
            }
