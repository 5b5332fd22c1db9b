"""plan_requests, estimate_tokens and AdaptiveLimit: pure logic."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from itertools import pairwise

import pytest

from hfe_core.batching import _BODY_OVERHEAD, AdaptiveLimit, RequestLimits, estimate_tokens, plan_requests

try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - hypothesis is optional
    HAVE_HYPOTHESIS = False
else:
    HAVE_HYPOTHESIS = True


# --- helpers -------------------------------------------------------------------------------------------


def _text_bytes(text: str) -> int:
    """Bytes of one input in a UTF-8 JSON body, quotes and escapes included."""
    return len(json.dumps(text, ensure_ascii=False).encode("utf-8"))


def _body_bytes(texts: Sequence[str], request: Sequence[int]) -> int:
    """Body size of a request: the fixed overhead, each input, and one separator per input."""
    return _BODY_OVERHEAD + sum(_text_bytes(texts[row]) + 1 for row in request)


def _tokens(texts: Sequence[str], request: Sequence[int], limits: RequestLimits) -> int:
    return sum(estimate_tokens(texts[row], limits.max_input_tokens) for row in request)


def _fits(texts: Sequence[str], request: Sequence[int], limits: RequestLimits) -> bool:
    """True when ``request`` respects every limit (a single row always fits on its own)."""
    if len(request) <= 1:
        return True
    if len(request) > limits.max_inputs:
        return False
    if limits.max_tokens is not None and _tokens(texts, request, limits) > limits.max_tokens:
        return False
    return _body_bytes(texts, request) <= limits.max_bytes


def _check_plan(
    texts: Sequence[str], rows: Sequence[int], limits: RequestLimits, plan: list[list[int]]
) -> None:
    """Every invariant of a plan."""
    # every row exactly once, in the order given, no empty request
    assert [row for request in plan for row in request] == list(rows)
    assert all(plan)
    for request in plan:
        assert len(request) <= max(1, limits.max_inputs)
        if len(request) > 1:
            if limits.max_tokens is not None:
                assert _tokens(texts, request, limits) <= limits.max_tokens
            assert _body_bytes(texts, request) <= limits.max_bytes
    # greedy: a request ends only when the next row would not have fitted
    for request, following in pairwise(plan):
        assert not _fits(texts, [*request, following[0]], limits)


# --- estimate_tokens -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "cap", "expected"),
    [
        ("", None, 2),
        ("ab", None, 2),
        ("abc", None, 3),
        ("a" * 30, None, 12),
        ("a" * 3000, None, 1002),
        ("a" * 3000, 512, 512),
        ("a" * 30, 512, 12),  # under the cap: the estimate
        ("a" * 30, 12, 12),
        ("a" * 30, 5, 5),
    ],
)
def test_estimate_tokens_table(text: str, cap: int | None, expected: int) -> None:
    assert estimate_tokens(text, cap) == expected


def test_estimate_tokens_grows_with_length_and_is_capped() -> None:
    previous = 0
    for length in range(0, 2000, 7):
        estimate = estimate_tokens("x" * length, None)
        assert estimate >= previous
        assert estimate >= length / 4  # cautious: never far under a real tokenizer's count
        previous = estimate
        assert estimate_tokens("x" * length, 256) == min(estimate, 256)
    assert estimate_tokens("x" * 3000, None) > estimate_tokens("x" * 300, None) > estimate_tokens("x", None)


# --- plan_requests: tables -----------------------------------------------------------------------------


def test_plan_nothing() -> None:
    assert plan_requests(["a", "b"], [], RequestLimits()) == []


@pytest.mark.parametrize(
    ("count", "max_inputs", "sizes"),
    [
        (1, 32, [1]),
        (32, 32, [32]),
        (33, 32, [32, 1]),
        (100, 32, [32, 32, 32, 4]),
        (5, 1, [1, 1, 1, 1, 1]),
        (7, 3, [3, 3, 1]),
    ],
)
def test_plan_max_inputs(count: int, max_inputs: int, sizes: list[int]) -> None:
    texts = [f"text {i}" for i in range(count)]
    limits = RequestLimits(max_inputs=max_inputs)
    plan = plan_requests(texts, range(count), limits)
    assert [len(request) for request in plan] == sizes
    _check_plan(texts, range(count), limits, plan)


def test_plan_ten_thousand_short_texts() -> None:
    texts = [f"short text number {i}" for i in range(10_000)]
    limits = RequestLimits(max_inputs=32)
    plan = plan_requests(texts, range(len(texts)), limits)
    assert len(plan) == math.ceil(10_000 / 32) == 313
    assert all(len(request) == 32 for request in plan[:-1])
    assert len(plan[-1]) == 10_000 - 312 * 32
    _check_plan(texts, range(len(texts)), limits, plan)


@pytest.mark.parametrize(
    ("max_tokens", "sizes"),
    [
        (24, [2, 2, 2]),  # 12 tokens each: two fit exactly
        (23, [1, 1, 1, 1, 1, 1]),
        (36, [3, 3]),
        (35, [2, 2, 2]),
        (1000, [6]),
        (None, [6]),
        (5, [1, 1, 1, 1, 1, 1]),  # every row alone exceeds the budget: each gets its own request
    ],
)
def test_plan_token_budget(max_tokens: int | None, sizes: list[int]) -> None:
    texts = ["a" * 30] * 6
    limits = RequestLimits(max_inputs=100, max_tokens=max_tokens)
    plan = plan_requests(texts, range(6), limits)
    assert [len(request) for request in plan] == sizes
    _check_plan(texts, range(6), limits, plan)


def test_plan_token_budget_uses_the_per_input_cap() -> None:
    texts = ["word " * 600] * 100  # 3000 characters: 1002 tokens, truncated by the server to 512
    uncapped = RequestLimits(max_inputs=100, max_tokens=16384)
    capped = RequestLimits(max_inputs=100, max_tokens=16384, max_input_tokens=512)
    assert {len(r) for r in plan_requests(texts, range(100), uncapped)} == {16, 4}
    assert [len(r) for r in plan_requests(texts, range(100), capped)] == [32, 32, 32, 4]


def test_plan_max_tokens_none_is_no_budget() -> None:
    texts = ["a" * 10_000] * 50
    limits = RequestLimits(max_inputs=64, max_tokens=None, max_bytes=10**9)
    assert plan_requests(texts, range(50), limits) == [list(range(50))]


@pytest.mark.parametrize(
    ("slack", "sizes"),
    [(0, [2, 2, 1]), (-1, [1, 1, 1, 1, 1]), (12, [2, 2, 1]), (13, [3, 2])],
)
def test_plan_byte_limit_boundary(slack: int, sizes: list[int]) -> None:
    texts = ["a" * 10] * 5  # 12 bytes each in JSON, 13 with the separator
    two = _BODY_OVERHEAD + 2 * 13
    limits = RequestLimits(max_inputs=100, max_tokens=None, max_bytes=two + slack)
    plan = plan_requests(texts, range(5), limits)
    assert [len(request) for request in plan] == sizes
    _check_plan(texts, range(5), limits, plan)


@pytest.mark.parametrize(
    ("char", "bytes_per_char"),
    [("a", 1), ("é", 2), ("中", 3), ("😀", 4), ('"', 2), ("\n", 2), ("\\", 2), ("\x01", 6)],
)
def test_plan_counts_bytes_not_characters(char: str, bytes_per_char: int) -> None:
    text = char * 100
    assert _text_bytes(text) == 100 * bytes_per_char + 2
    texts = [text] * 10
    # room for exactly three inputs of this text
    limits = RequestLimits(
        max_inputs=100, max_tokens=None, max_bytes=_BODY_OVERHEAD + 3 * (_text_bytes(text) + 1)
    )
    plan = plan_requests(texts, range(10), limits)
    assert [len(request) for request in plan] == [3, 3, 3, 1]
    _check_plan(texts, range(10), limits, plan)


def test_plan_non_ascii_would_overflow_if_counted_in_characters() -> None:
    texts = ["中" * 1000] * 4  # 1002 characters but 3002 bytes in JSON
    limits = RequestLimits(max_inputs=100, max_tokens=None, max_bytes=_BODY_OVERHEAD + 4 * 1003 + 4)
    plan = plan_requests(texts, range(4), limits)
    assert len(plan) == 4  # one input per request: two would be ~6 kB
    _check_plan(texts, range(4), limits, plan)


@pytest.mark.parametrize("position", [0, 1, 2])
def test_plan_huge_text_alone(position: int) -> None:
    texts = ["short one", "short two"]
    texts.insert(position, "x" * 100_000)
    limits = RequestLimits()  # 16384 tokens: the huge text alone estimates 33335
    plan = plan_requests(texts, range(3), limits)
    assert [position] in plan
    _check_plan(texts, range(3), limits, plan)
    assert len(plan) == (2 if position in (0, 2) else 3)


def test_plan_huge_text_over_the_byte_limit_is_alone_not_dropped() -> None:
    texts = ["a", "é" * 100_000, "b"]
    limits = RequestLimits(max_tokens=None, max_bytes=50_000)
    plan = plan_requests(texts, range(3), limits)
    assert plan == [[0], [1], [2]]


def test_plan_respects_custom_order() -> None:
    rng = random.Random(3)  # noqa: S311
    texts = ["y" * rng.randrange(0, 400) for _ in range(300)]
    rows = sorted(range(len(texts)), key=lambda row: len(texts[row]))
    limits = RequestLimits(max_inputs=16, max_tokens=600, max_bytes=4000)
    plan = plan_requests(texts, rows, limits)
    _check_plan(texts, rows, limits, plan)
    lengths = [len(texts[row]) for request in plan for row in request]
    assert lengths == sorted(lengths)


def test_plan_subset_of_rows() -> None:
    texts = [str(i) for i in range(20)]
    rows = [19, 3, 7, 0, 12]
    plan = plan_requests(texts, rows, RequestLimits(max_inputs=2))
    assert plan == [[19, 3], [7, 0], [12]]


def test_plan_empty_texts() -> None:
    texts = [""] * 10
    limits = RequestLimits(max_inputs=4)
    plan = plan_requests(texts, range(10), limits)
    assert [len(r) for r in plan] == [4, 4, 2]
    _check_plan(texts, range(10), limits, plan)


@pytest.mark.parametrize("seed", range(5))
def test_plan_invariants_random_tables(seed: int) -> None:
    """The invariants on seeded random inputs (always run, with or without hypothesis)."""
    rng = random.Random(seed)  # noqa: S311
    alphabet = 'ab c"\\\n\x00é中😀'
    for _ in range(40):
        texts = ["".join(rng.choices(alphabet, k=rng.randrange(0, 300))) for _ in range(rng.randrange(0, 40))]
        rows = list(range(len(texts)))
        rng.shuffle(rows)
        limits = RequestLimits(
            max_inputs=rng.randrange(1, 10),
            max_tokens=rng.choice([None, rng.randrange(1, 400)]),
            max_bytes=rng.randrange(100, 3000),
            max_input_tokens=rng.choice([None, rng.randrange(1, 100)]),
        )
        _check_plan(texts, rows, limits, plan_requests(texts, rows, limits))


if HAVE_HYPOTHESIS:
    _TEXTS = st.lists(
        st.text(alphabet=st.sampled_from('ab c"\\\n\t\x00é中😀'), max_size=200) | st.text(max_size=50),
        max_size=30,
    )

    @settings(max_examples=150, deadline=None, database=None)
    @given(
        data=st.data(),
        texts=_TEXTS,
        max_inputs=st.integers(1, 10),
        max_tokens=st.none() | st.integers(1, 300),
        max_bytes=st.integers(0, 2000),
        max_input_tokens=st.none() | st.integers(1, 80),
    )
    def test_plan_invariants_property(
        data: st.DataObject,
        texts: list[str],
        max_inputs: int,
        max_tokens: int | None,
        max_bytes: int,
        max_input_tokens: int | None,
    ) -> None:
        rows = data.draw(st.permutations(range(len(texts))))
        limits = RequestLimits(max_inputs, max_tokens, max_bytes, max_input_tokens)
        _check_plan(texts, rows, limits, plan_requests(texts, rows, limits))

else:  # pragma: no cover

    def test_plan_invariants_property() -> None:
        pytest.skip("hypothesis is not installed")


# --- AdaptiveLimit -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("max_requests", "limit"), [(1, 1), (4, 4), (64, 64), (0, 1), (-3, 1)])
def test_limit_starts_at_max_requests(max_requests: int, limit: int) -> None:
    adaptive = AdaptiveLimit(max_requests)
    assert adaptive.limit == adaptive.max_requests == limit
    assert adaptive.in_flight == adaptive.inputs_in_flight == 0


@pytest.mark.parametrize("max_inputs", [None, 1, 8, 512])
@pytest.mark.parametrize("inputs", [0, 1, 8, 513, 10**6])
def test_limit_one_request_may_always_start_when_none_runs(max_inputs: int | None, inputs: int) -> None:
    adaptive = AdaptiveLimit(1, max_inputs)
    adaptive.limit = 1
    assert adaptive.can_start(inputs)
    adaptive.start(inputs)
    assert not adaptive.can_start(1)
    adaptive.finish(inputs)
    assert adaptive.can_start(inputs)


def test_limit_request_count() -> None:
    adaptive = AdaptiveLimit(3)
    for _ in range(3):
        assert adaptive.can_start(1)
        adaptive.start(1)
    assert adaptive.in_flight == 3
    assert not adaptive.can_start(0)
    adaptive.finish(1)
    assert adaptive.can_start(1)


@pytest.mark.parametrize(
    ("max_inputs", "running", "inputs", "allowed"),
    [
        (64, [32], 32, True),
        (64, [32], 33, False),
        (64, [32, 32], 1, False),
        (64, [32, 31], 1, True),
        (64, [100], 1, False),  # one oversized request already holds every permit
        (None, [10**6], 10**6, True),  # no input limit
    ],
)
def test_limit_inputs_in_flight(
    max_inputs: int | None, running: list[int], inputs: int, allowed: bool
) -> None:
    adaptive = AdaptiveLimit(16, max_inputs)
    for count in running:
        adaptive.start(count)
    assert adaptive.inputs_in_flight == sum(running)
    assert adaptive.can_start(inputs) is allowed


@pytest.mark.parametrize(
    ("max_requests", "overloads", "limits"),
    [
        (8, 4, [4, 2, 1, 1]),
        (5, 3, [2, 1, 1]),
        (1, 2, [1, 1]),
        (100, 3, [50, 25, 12]),
        (7, 2, [3, 1]),
    ],
)
def test_limit_halves_on_overload(max_requests: int, overloads: int, limits: list[int]) -> None:
    adaptive = AdaptiveLimit(max_requests)
    seen = []
    for _ in range(overloads):
        adaptive.start(1)
        adaptive.finish(1, overloaded=True)
        seen.append(adaptive.limit)
    assert seen == limits
    assert adaptive.in_flight == adaptive.inputs_in_flight == 0


def _run(adaptive: AdaptiveLimit, *, overloaded: bool = False) -> None:
    adaptive.start(1)
    adaptive.finish(1, overloaded=overloaded)


def test_limit_additive_increase() -> None:
    adaptive = AdaptiveLimit(4)
    for _ in range(3):
        _run(adaptive, overloaded=True)
    assert adaptive.limit == 1
    history = []
    for _ in range(12):
        _run(adaptive)
        history.append(adaptive.limit)
    # 1 success at limit 1, 2 at limit 2, 3 at limit 3, then capped at 4
    assert history == [2, 2, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4]
    for _ in range(100):
        _run(adaptive)
    assert adaptive.limit == 4


def test_limit_overload_resets_the_success_count() -> None:
    adaptive = AdaptiveLimit(8)
    _run(adaptive, overloaded=True)
    assert adaptive.limit == 4
    for _ in range(3):  # one short of growing
        _run(adaptive)
    assert adaptive.limit == 4
    _run(adaptive, overloaded=True)
    assert adaptive.limit == 2
    _run(adaptive)  # the three successes before the overload no longer count
    assert adaptive.limit == 2
    _run(adaptive)
    assert adaptive.limit == 3


def test_limit_no_start_after_a_decrease_until_enough_finish() -> None:
    adaptive = AdaptiveLimit(8)
    for _ in range(8):
        adaptive.start(1)
    adaptive.finish(1, overloaded=True)
    assert (adaptive.limit, adaptive.in_flight) == (4, 7)
    assert not adaptive.can_start(1)
    for _ in range(3):
        adaptive.finish(1, overloaded=True)
    assert (adaptive.limit, adaptive.in_flight) == (1, 4)
    for _ in range(3):
        assert not adaptive.can_start(1)
        adaptive.finish(1, overloaded=True)
    assert adaptive.in_flight == 1
    assert not adaptive.can_start(1)  # limit 1, one running
    adaptive.finish(1)
    assert adaptive.can_start(1)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(("max_requests", "max_inputs"), [(1, None), (4, 64), (8, 32), (16, None), (32, 100)])
def test_limit_simulation(seed: int, max_requests: int, max_inputs: int | None) -> None:
    """Start requests while allowed, finish them in random order, some overloaded; check every step."""
    rng = random.Random(seed * 1000 + max_requests)  # noqa: S311
    adaptive = AdaptiveLimit(max_requests, max_inputs)
    running: list[int] = []
    pending = [rng.choice([1, 4, 16, 32, 48, 150]) for _ in range(400)]
    started = overloads = 0
    lowest = max_requests
    while pending or running:
        # start as many as allowed
        while pending and adaptive.can_start(pending[0]):
            inputs = pending.pop(0)
            alone = adaptive.in_flight == 0
            if not alone:
                assert adaptive.in_flight < adaptive.limit
                if max_inputs is not None:
                    assert adaptive.inputs_in_flight + inputs <= max_inputs
            adaptive.start(inputs)
            running.append(inputs)
            started += 1
            assert adaptive.in_flight <= adaptive.limit
            if max_inputs is not None and adaptive.in_flight > 1:
                assert adaptive.inputs_in_flight <= max_inputs
        # blocked only while something runs: the loop always makes progress
        assert running or not pending
        if pending:
            assert not adaptive.can_start(pending[0])
        # finish one at random
        inputs = running.pop(rng.randrange(len(running)))
        overloaded = rng.random() < 0.15
        before = adaptive.limit
        adaptive.finish(inputs, overloaded=overloaded)
        if overloaded:
            overloads += 1
            assert adaptive.limit == max(1, before // 2)
        else:
            assert adaptive.limit in (before, min(before + 1, max_requests))
        lowest = min(lowest, adaptive.limit)
        assert 1 <= adaptive.limit <= max_requests
        assert adaptive.in_flight == len(running)
        assert adaptive.inputs_in_flight == sum(running)
    assert started == 400
    assert overloads > 0
    assert adaptive.in_flight == adaptive.inputs_in_flight == 0
    if max_requests > 1:
        assert lowest < max_requests  # the overloads did bring the limit down


def test_a_burst_of_429s_from_one_round_lowers_the_limit_once() -> None:
    limit = AdaptiveLimit(8)
    epochs = [limit.start(1) for _ in range(8)]
    for epoch in epochs:
        limit.finish(1, overloaded=True, epoch=epoch)
    assert limit.limit == 4
    # A request started after the decrease can lower it again.
    later = limit.start(1)
    limit.finish(1, overloaded=True, epoch=later)
    assert limit.limit == 2
