"""Retry policy: which failures are retried, and how long to wait. Pure: no sleeping, no I/O.

The sync and async request loops ask :meth:`RetryPolicy.wait` after each failed
attempt and sleep for what it answers, or give up when it answers ``None``.

Retried (transient): 429 (overloaded or rate limited), 502, 503, 504 (a replica
starting, scaling from zero, or unhealthy), and connection failures (refused,
reset, dropped; TEI accepts no connection while it loads). Never retried:
validation errors (400, 413/422 with a JSON body), authentication (401, 403),
404, 424 and other client errors: the same request would fail the same way.

Waits grow exponentially from ``initial_backoff`` up to ``max_backoff`` with jitter
(half fixed, half random), and honour a ``Retry-After`` the server sends (capped by the budget).
The budget is both a number of attempts and a total number of seconds.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from time import time

__all__ = ["RETRYABLE_STATUS", "RetryPolicy", "parse_retry_after"]

#: HTTP statuses worth another attempt.
RETRYABLE_STATUS = frozenset({429, 502, 503, 504})


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date), or ``None``."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max(0.0, when - (time() if now is None else now))


@dataclass
class RetryPolicy:
    """How often and how long to retry transient failures.

    Args:
        max_attempts: attempts in all, the first one included (1 disables retries).
        max_seconds: total time budget for one request, waits included.
        initial_backoff: the first wait, in seconds.
        max_backoff: the longest single wait, in seconds.
        rng: random source for the jitter (seeded in tests).
        clip_to_budget: shorten a wait that would overrun the time budget to what is left of it (one
            last attempt at the deadline) instead of giving up; for waits on a server that is starting.
    """

    max_attempts: int = 6
    max_seconds: float = 120.0
    initial_backoff: float = 0.5
    max_backoff: float = 8.0
    rng: random.Random = field(default_factory=random.Random, repr=False)
    clip_to_budget: bool = False

    @staticmethod
    def retryable_status(status: int) -> bool:
        """True for statuses that are transient (429, 502, 503, 504)."""
        return status in RETRYABLE_STATUS

    def wait(self, attempt: int, elapsed: float, retry_after: float | None = None) -> float | None:
        """Seconds to wait before the next attempt, or ``None`` to give up.

        Args:
            attempt: attempts made so far (1 after the first failure).
            elapsed: seconds since the first attempt started.
            retry_after: what the server asked for, if anything.

        Returns:
            The wait, or ``None`` when the attempts or the time budget are spent.
        """
        if attempt >= self.max_attempts:
            return None
        remaining = self.max_seconds - elapsed
        if remaining <= 0:
            return None
        if retry_after is not None:
            delay = retry_after
        else:
            ceiling = min(self.max_backoff, self.initial_backoff * 2.0 ** min(attempt - 1, 64))
            delay = ceiling / 2 + self.rng.uniform(0, ceiling / 2)
        if delay > remaining:
            return remaining if self.clip_to_budget else None
        return delay
