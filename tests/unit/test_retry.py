"""RetryPolicy and parse_retry_after: pure logic, tested without sleeping."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from time import time

import pytest

from hfe_core.retry import RETRYABLE_STATUS, RetryPolicy, parse_retry_after


class _FixedRng(random.Random):
    """A random source whose ``uniform(a, b)`` always answers ``a + fraction * (b - a)``."""

    def __init__(self, fraction: float) -> None:
        super().__init__(0)
        self.fraction = fraction
        self.calls = 0

    def uniform(self, a: float, b: float) -> float:
        self.calls += 1
        return a + self.fraction * (b - a)


def _policy(fraction: float = 1.0, **kwargs: object) -> RetryPolicy:
    return RetryPolicy(rng=_FixedRng(fraction), **kwargs)  # type: ignore[arg-type]


# --- attempts ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("max_attempts", "attempt", "gives_up"),
    [
        (1, 1, True),  # one attempt in all: retries disabled
        (1, 2, True),
        (2, 1, False),
        (2, 2, True),
        (3, 1, False),
        (3, 2, False),
        (3, 3, True),
        (6, 5, False),
        (6, 6, True),
        (6, 7, True),
        (0, 1, True),  # a nonsensical budget never retries
    ],
)
def test_wait_attempt_budget(max_attempts: int, attempt: int, gives_up: bool) -> None:
    policy = _policy(max_attempts=max_attempts, max_seconds=1e6)
    result = policy.wait(attempt, elapsed=0.0)
    assert (result is None) is gives_up


def test_wait_makes_exactly_max_attempts() -> None:
    """A request loop driven by ``wait`` makes exactly ``max_attempts`` attempts."""
    for max_attempts in range(1, 10):
        policy = RetryPolicy(max_attempts=max_attempts, max_seconds=1e6, rng=random.Random(0))  # noqa: S311
        attempts, elapsed = 0, 0.0
        while True:
            attempts += 1  # an attempt that fails
            delay = policy.wait(attempts, elapsed)
            if delay is None:
                break
            elapsed += delay
        assert attempts == max_attempts


def test_wait_with_retry_after_still_gives_up_at_max_attempts() -> None:
    policy = _policy(max_attempts=3)
    assert policy.wait(2, 0.0, retry_after=1.0) == 1.0
    assert policy.wait(3, 0.0, retry_after=1.0) is None


# --- time budget ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("elapsed", "fraction", "expected"),
    [
        (0.0, 1.0, 0.5),
        (9.0, 1.0, 0.5),
        (9.5, 1.0, 0.5),  # the wait fits exactly in what is left
        (9.6, 1.0, None),  # the wait (0.5) is over what is left (0.4)
        (9.6, 0.0, 0.25),  # the smallest jittered wait (0.25) still fits
        (9.8, 0.0, None),  # even the smallest does not
        (10.0, 0.0, None),  # elapsed == max_seconds
        (10.0, 1.0, None),
        (11.0, 0.0, None),  # elapsed > max_seconds
        (1e9, 0.0, None),
    ],
)
def test_wait_time_budget(elapsed: float, fraction: float, expected: float | None) -> None:
    policy = _policy(fraction, max_attempts=100, max_seconds=10.0, initial_backoff=0.5, max_backoff=8.0)
    assert policy.wait(1, elapsed) == expected


@pytest.mark.parametrize(
    ("elapsed", "retry_after", "expected"),
    [
        (9.6, None, pytest.approx(0.4)),  # the wait (0.5) is cut to what is left: one last try at the end
        (2.0, 22.3, 8.0),  # a server's estimate past the budget: wait what is left
        (2.0, 3.0, 3.0),  # within the budget: unchanged
        (10.0, None, None),  # nothing left: give up
        (10.0, 0.0, None),
    ],
)
def test_clip_to_budget_makes_a_last_attempt_at_the_deadline(
    elapsed: float, retry_after: float | None, expected: object
) -> None:
    policy = _policy(1.0, max_attempts=100, max_seconds=10.0, initial_backoff=0.5, clip_to_budget=True)
    assert policy.wait(1, elapsed, retry_after) == expected


@pytest.mark.parametrize("elapsed", [10.0, 10.5, 100.0])
def test_wait_spent_time_budget_gives_up_even_for_retry_after_zero(elapsed: float) -> None:
    policy = _policy(max_attempts=100, max_seconds=10.0)
    assert policy.wait(1, elapsed, retry_after=0.0) is None


# --- exponential growth and jitter ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("initial", "maximum", "attempt", "ceiling"),
    [
        (0.5, 8.0, 1, 0.5),
        (0.5, 8.0, 2, 1.0),
        (0.5, 8.0, 3, 2.0),
        (0.5, 8.0, 4, 4.0),
        (0.5, 8.0, 5, 8.0),
        (0.5, 8.0, 6, 8.0),  # capped
        (0.5, 8.0, 20, 8.0),
        (1.0, 5.0, 1, 1.0),
        (1.0, 5.0, 3, 4.0),
        (1.0, 5.0, 4, 5.0),  # capped below the next power of two
        (2.0, 1.0, 1, 1.0),  # initial above the cap: the cap wins
        (0.1, 60.0, 4, 0.8),
    ],
)
def test_wait_grows_exponentially_up_to_max_backoff(
    initial: float, maximum: float, attempt: int, ceiling: float
) -> None:
    kwargs = {"max_attempts": 100, "max_seconds": 1e6, "initial_backoff": initial, "max_backoff": maximum}
    highest = _policy(1.0, **kwargs).wait(attempt, 0.0)
    lowest = _policy(0.0, **kwargs).wait(attempt, 0.0)
    assert highest == pytest.approx(ceiling)
    assert lowest == pytest.approx(ceiling / 2)  # half of the wait is fixed


def test_wait_does_not_overflow_after_very_many_attempts() -> None:
    """A large retry budget (max_retries has no upper bound) keeps the wait at max_backoff."""
    policy = _policy(1.0, max_attempts=100_000, max_seconds=1e12, initial_backoff=0.5, max_backoff=8.0)
    assert policy.wait(1025, 0.0) == 8.0
    assert policy.wait(5000, 0.0) == 8.0


@pytest.mark.parametrize("seed", [0, 1, 42, 2024])
def test_wait_jitter_within_half_ceiling_and_ceiling(seed: int) -> None:
    policy = RetryPolicy(
        max_attempts=1000,
        max_seconds=1e9,
        initial_backoff=0.5,
        max_backoff=8.0,
        rng=random.Random(seed),  # noqa: S311
    )
    waits = []
    for attempt in range(1, 40):
        ceiling = min(8.0, 0.5 * 2 ** (attempt - 1))
        for _ in range(5):
            delay = policy.wait(attempt, 0.0)
            assert delay is not None
            assert ceiling / 2 <= delay <= ceiling
            waits.append(delay)
    assert len(set(waits)) > len(waits) // 2  # the jitter is random, not a constant


def test_wait_is_deterministic_for_the_same_seed() -> None:
    def sequence(seed: int) -> list[float | None]:
        policy = RetryPolicy(max_attempts=10, max_seconds=1e6, rng=random.Random(seed))  # noqa: S311
        return [policy.wait(attempt, 0.0) for attempt in range(1, 11)]

    assert sequence(7) == sequence(7)
    assert sequence(7) != sequence(8)
    assert sequence(7)[-1] is None


# --- Retry-After ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("elapsed", "retry_after", "expected"),
    [
        (0.0, 0.0, 0.0),
        (0.0, 3.0, 3.0),
        (0.0, 1.5, 1.5),
        (0.0, 30.0, 30.0),  # used as is, even above max_backoff
        (0.0, 120.0, 120.0),  # exactly the remaining budget
        (0.0, 120.5, None),  # over the budget: give up rather than wait past it
        (100.0, 20.0, 20.0),
        (100.0, 20.5, None),
        (119.0, 0.5, 0.5),
    ],
)
def test_wait_honours_retry_after(elapsed: float, retry_after: float, expected: float | None) -> None:
    rng = _FixedRng(0.5)
    policy = RetryPolicy(max_attempts=6, max_seconds=120.0, max_backoff=8.0, rng=rng)
    assert policy.wait(1, elapsed, retry_after=retry_after) == expected
    assert rng.calls == 0  # no jitter on a wait the server asked for


# --- retryable statuses --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (429, True),
        (502, True),
        (503, True),
        (504, True),
        (200, False),
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (408, False),
        (413, False),
        (422, False),
        (424, False),
        (500, False),
        (501, False),
        (505, False),
    ],
)
def test_retryable_status(status: int, retryable: bool) -> None:
    assert RetryPolicy.retryable_status(status) is retryable
    assert RetryPolicy().retryable_status(status) is retryable
    assert (status in RETRYABLE_STATUS) is retryable


# --- parse_retry_after ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3", 3.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("120", 120.0),
        (" 7 ", 7.0),
        ("-5", 0.0),  # negative clamps to zero
        ("-0.5", 0.0),
    ],
)
def test_parse_retry_after_delta_seconds(value: str, expected: float) -> None:
    assert parse_retry_after(value, now=0.0) == expected


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        "soon",
        "3 seconds",
        "12abc",
        "Wed, 99 Foo 2015 07:28:00 GMT",
        "nan",
        "inf",
        "-inf",
    ],
)
def test_parse_retry_after_garbage_is_none(value: str | None) -> None:
    assert parse_retry_after(value, now=0.0) is None


_WHEN = datetime(2025, 3, 14, 15, 9, 26, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        (timedelta(seconds=30), 30.0),
        (timedelta(minutes=2), 120.0),
        (timedelta(0), 0.0),
        (timedelta(seconds=-30), 0.0),  # a date in the past: no wait
        (timedelta(days=-400), 0.0),
    ],
)
def test_parse_retry_after_http_date(offset: timedelta, expected: float) -> None:
    header = format_datetime(_WHEN + offset, usegmt=True)
    assert header.endswith("GMT")
    assert parse_retry_after(header, now=_WHEN.timestamp()) == pytest.approx(expected)


def test_parse_retry_after_http_date_literal() -> None:
    now = datetime(2015, 10, 21, 7, 27, 0, tzinfo=timezone.utc).timestamp()
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 60.0


def test_parse_retry_after_http_date_defaults_to_the_clock() -> None:
    header = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=100), usegmt=True)
    result = parse_retry_after(header)
    assert result is not None
    assert 95.0 <= result <= 100.0
    assert parse_retry_after(format_datetime(datetime.fromtimestamp(time() - 60, timezone.utc))) == 0.0
