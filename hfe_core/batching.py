"""Planning requests under a server's limits, and the adaptive concurrency limit. Pure logic.

:func:`plan_requests` splits texts into requests that respect every limit a TEI
server has: inputs per request (``max_client_batch_size``, and never more than
``max_concurrent_requests``, since each input takes a permit), an estimated token
budget (``max_batch_tokens``) and the request body size (``payload_limit``).

:class:`AdaptiveLimit` is the number of requests allowed in flight: it halves on
back-pressure (429) and grows by one after a window of successes (additive
increase, multiplicative decrease), never above the configured maximum, and it
also keeps the inputs in flight under the server's permits.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

from hfe_core.errors import ConfigurationError

__all__ = ["AdaptiveLimit", "RequestLimits", "estimate_tokens", "plan_requests", "shared_concurrency"]

#: Bytes of JSON around the inputs in a request body (field names, flags).
_BODY_OVERHEAD = 256


@dataclass(frozen=True)
class RequestLimits:
    """What one request may carry.

    Attributes:
        max_inputs: inputs per request.
        max_tokens: estimated tokens per request (``None``: no budget).
        max_bytes: request body size in bytes.
        max_input_tokens: the server's per-input token limit, for the estimate.
    """

    max_inputs: int = 32
    max_tokens: int | None = 16384
    max_bytes: int = 2_000_000
    max_input_tokens: int | None = None


def estimate_tokens(text: str, max_input_tokens: int | None) -> int:
    """A cautious token estimate without a tokenizer: about one token per 3 characters, plus specials.

    Args:
        text: the input.
        max_input_tokens: the server truncates to this many tokens, when known.
    """
    estimate = len(text) // 3 + 2
    return min(estimate, max_input_tokens) if max_input_tokens else estimate


def _json_size(text: str) -> int:
    return len(json.dumps(text, ensure_ascii=False).encode("utf-8")) + 1


def plan_requests(texts: Sequence[str], rows: Sequence[int], limits: RequestLimits) -> list[list[int]]:
    """Group ``rows`` (indices into ``texts``, in the order given) into requests under ``limits``.

    A single input that alone exceeds the byte limit still gets a request of its
    own: the server's answer then names the problem (it is never silently dropped).

    Returns:
        Lists of rows, one per request, covering every row once, in order.
    """
    requests: list[list[int]] = []
    current: list[int] = []
    tokens = 0
    size = _BODY_OVERHEAD
    for row in rows:
        text = texts[row]
        row_tokens = estimate_tokens(text, limits.max_input_tokens)
        row_size = _json_size(text)
        full = len(current) >= limits.max_inputs
        over_tokens = limits.max_tokens is not None and tokens + row_tokens > limits.max_tokens
        over_size = size + row_size > limits.max_bytes
        if current and (full or over_tokens or over_size):
            requests.append(current)
            current, tokens, size = [], 0, _BODY_OVERHEAD
        current.append(row)
        tokens += row_tokens
        size += row_size
    if current:
        requests.append(current)
    return requests


class AdaptiveLimit:
    """Requests allowed in flight: AIMD on back-pressure, inputs kept under the server's permits.

    Args:
        max_requests: the ceiling (``max_concurrency``).
        max_inputs: inputs the server accepts in flight (TEI ``max_concurrent_requests``).
    """

    def __init__(self, max_requests: int, max_inputs: int | None = None) -> None:
        self.max_requests = max(1, max_requests)
        self.max_inputs = max_inputs
        self.limit = self.max_requests
        self.in_flight = 0
        self.inputs_in_flight = 0
        self.epoch = 0  # bumped on every decrease
        self._successes = 0

    def can_start(self, inputs: int) -> bool:
        """True when a request of ``inputs`` inputs may start now (one always may when none runs)."""
        if self.in_flight == 0:
            return True
        if self.in_flight >= self.limit:
            return False
        return self.max_inputs is None or self.inputs_in_flight + inputs <= self.max_inputs

    def start(self, inputs: int) -> int:
        """Record a request that starts; returns the epoch to pass to :meth:`finish`."""
        self.in_flight += 1
        self.inputs_in_flight += inputs
        return self.epoch

    def finish(self, inputs: int, *, overloaded: bool = False, epoch: int | None = None) -> None:
        """Record a request that ended; ``overloaded`` when the server pushed back (429).

        A burst of 429s from requests that all started before the last decrease counts once:
        pass the ``epoch`` :meth:`start` returned, and only requests started since then can
        lower the limit again.
        """
        self.in_flight -= 1
        self.inputs_in_flight -= inputs
        if overloaded and epoch is not None and epoch != self.epoch:
            return
        if overloaded:
            self.epoch += 1
            self.limit = max(1, self.limit // 2)
            self._successes = 0
            return
        self._successes += 1
        if self._successes >= self.limit and self.limit < self.max_requests:
            self.limit += 1
            self._successes = 0


def shared_concurrency(whole: int, clients: object) -> int:
    """One client's share of ``whole`` requests in flight when ``clients`` clients share a server.

    Args:
        whole: the requests in flight the settings allow (``max_concurrency``).
        clients: how many clients share the server (1: this one alone).

    Returns:
        ``ceil(whole / clients)``, at least 1.

    Raises:
        ConfigurationError: ``clients`` is not a positive integer.
    """
    if isinstance(clients, bool) or not isinstance(clients, int) or clients < 1:
        raise ConfigurationError(f"clients={clients!r}: use a positive integer.")
    return max(1, math.ceil(whole / clients))
