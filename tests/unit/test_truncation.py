"""plan_truncation and combine_windows with a real (whitespace) tokenizer written here."""

from __future__ import annotations

import re

import numpy as np
import pytest

from hfe_core.errors import InputTooLongError, InvalidInputError
from hfe_core.truncation import Span, TruncationPlan, combine_windows, plan_truncation

_WORD = re.compile(r"\S+")


def word_spans(texts: list[str]) -> list[list[Span]]:
    """A whitespace tokenizer: one token per run of non-space characters."""
    return [[match.span() for match in _WORD.finditer(text)] for text in texts]


def words(text: str) -> list[str]:
    return _WORD.findall(text)


class CountingSpans:
    """word_spans that records which texts it was asked to tokenize."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.calls = 0

    def __call__(self, texts: list[str]) -> list[list[Span]]:
        self.calls += 1
        self.seen.extend(texts)
        return word_spans(texts)


def sentence(n: int, prefix: str = "w") -> str:
    """n distinct words separated by varied whitespace."""
    seps = [" ", "  ", "\n", "\t", " \n "]
    parts: list[str] = []
    for i in range(n):
        parts.append(f"{prefix}{i}")
        parts.append(seps[i % len(seps)])
    return "".join(parts[:-1])


SHORT = "tiny text"  # 2 tokens, 9 bytes
LONG_23 = sentence(23, "a")  # 23 tokens
LONG_12 = sentence(12, "b")  # 12 tokens
FITS_8 = sentence(8, "c")  # exactly 8 tokens, long enough in bytes to be tokenized


def test_sentence_helper() -> None:
    assert len(words(LONG_23)) == 23
    assert words(FITS_8) == [f"c{i}" for i in range(8)]


# --- no limit, nothing long --------------------------------------------------------------------------


def test_no_max_tokens_is_identity_and_never_tokenizes() -> None:
    spans = CountingSpans()
    texts = [LONG_23, SHORT, ""]
    plan = plan_truncation(texts, policy="error", max_tokens=None, overhead=5, spans=spans)
    assert plan.texts == texts
    assert plan.owners == [0, 1, 2]
    assert plan.truncated == []
    assert plan.chunked == []
    assert plan.identity
    assert spans.calls == 0


@pytest.mark.parametrize("policy", ["truncate", "truncate_left", "error", "chunk"])
def test_short_texts_are_never_tokenized(policy: str) -> None:
    # bytes + 1 <= budget: no tokenizer can produce more tokens than that, so no need to ask.
    spans = CountingSpans()
    texts = ["one two three", "", "four\nfive", "ü" * 10]  # at most 20 bytes each
    plan = plan_truncation(texts, policy=policy, max_tokens=64, overhead=2, spans=spans)  # type: ignore[arg-type]
    assert spans.calls == 0
    assert plan.texts == texts
    assert plan.identity


def test_only_possibly_long_texts_are_tokenized() -> None:
    spans = CountingSpans()
    # budget 8: "one two" (7 bytes + 1) cannot exceed it; "tiny text" (9 bytes + 1) might.
    texts = ["one two", LONG_23, "x y", FITS_8, SHORT]
    plan_truncation(texts, policy="truncate", max_tokens=10, overhead=2, spans=spans)
    assert spans.calls == 1  # one batched call
    assert spans.seen == [LONG_23, FITS_8, SHORT]


def test_candidates_that_fit_are_left_alone() -> None:
    texts = [FITS_8, "a" * 200]  # 8 tokens and 1 token; both tokenized, neither too long
    plan = plan_truncation(texts, policy="error", max_tokens=10, overhead=2, spans=word_spans)
    assert plan.texts == texts
    assert plan.truncated == []


def test_prefilter_bound_is_safe_for_a_byte_level_tokenizer() -> None:
    # Worst case the prefilter assumes: one token per UTF-8 byte plus a leading piece.
    def byte_spans(texts: list[str]) -> list[list[Span]]:
        out = []
        for text in texts:
            spans = [(0, 0)]
            for i, char in enumerate(text):
                spans.extend([(i, i + 1)] * len(char.encode("utf-8")))
            out.append(spans)
        return out

    budget = 10
    texts = ["a" * n for n in range(15)] + ["é" * n for n in range(8)]
    expected = [i for i, text in enumerate(texts) if len(text.encode("utf-8")) + 1 > budget]
    with pytest.raises(InputTooLongError) as info:
        plan_truncation(texts, policy="error", max_tokens=budget, overhead=0, spans=byte_spans)
    assert info.value.indices == expected


# --- truncate ---------------------------------------------------------------------------------------


def test_truncate_reports_indices_and_leaves_texts_unchanged() -> None:
    texts = [SHORT, LONG_23, FITS_8, LONG_12]
    plan = plan_truncation(texts, policy="truncate", max_tokens=10, overhead=2, spans=word_spans)
    assert plan.texts == texts
    assert plan.owners == [0, 1, 2, 3]
    assert plan.truncated == [1, 3]
    assert plan.chunked == []
    assert plan.identity


def test_overhead_reduces_the_budget() -> None:
    texts = [sentence(9)]
    no_overhead = plan_truncation(texts, policy="truncate", max_tokens=10, overhead=0, spans=word_spans)
    assert no_overhead.truncated == []
    with_overhead = plan_truncation(texts, policy="truncate", max_tokens=10, overhead=2, spans=word_spans)
    assert with_overhead.truncated == [0]


# --- truncate_left ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("max_tokens", "overhead"), [(10, 2), (8, 0), (5, 1)])
def test_truncate_left_keeps_exactly_the_last_budget_tokens(max_tokens: int, overhead: int) -> None:
    budget = max_tokens - overhead
    texts = [LONG_23, SHORT, LONG_12]
    plan = plan_truncation(
        texts, policy="truncate_left", max_tokens=max_tokens, overhead=overhead, spans=word_spans
    )
    assert plan.truncated == [0, 2]
    assert plan.texts[1] == SHORT
    assert plan.owners == [0, 1, 2]
    assert plan.identity
    for index in (0, 2):
        original, cut = texts[index], plan.texts[index]
        assert words(cut) == words(original)[-budget:]
        assert original.endswith(cut)  # a suffix: the end, trailing text included, is kept
        start = len(original) - len(cut)
        assert not cut[0].isspace()  # starts at a token start...
        assert original[start - 1].isspace()  # ...not in the middle of a token


def test_truncate_left_keeps_trailing_whitespace_and_punctuation() -> None:
    text = sentence(12) + " end.\n"
    plan = plan_truncation([text], policy="truncate_left", max_tokens=3, overhead=0, spans=word_spans)
    assert plan.texts == ["w10 w11 end.\n"]


def test_budget_never_drops_below_one_token() -> None:
    plan = plan_truncation([LONG_12], policy="truncate_left", max_tokens=4, overhead=10, spans=word_spans)
    assert plan.texts == ["b11"]


# --- error -------------------------------------------------------------------------------------------


def test_error_names_only_the_inputs_over_the_limit() -> None:
    texts = [SHORT, LONG_23, FITS_8, LONG_12, "z" * 300]
    with pytest.raises(InputTooLongError) as info:
        plan_truncation(texts, policy="error", max_tokens=10, overhead=2, spans=word_spans)
    exc = info.value
    assert exc.indices == [1, 3]
    assert exc.token_counts == [23 + 2, 12 + 2]  # overhead included
    assert exc.max_tokens == 10
    assert isinstance(exc, InvalidInputError)
    message = str(exc)
    assert "2 input(s)" in message
    assert "limit of 10 tokens" in message
    assert "[1] has 25 tokens" in message
    assert "[3] has 14 tokens" in message
    assert "[2]" not in message and "[0]" not in message and "[4]" not in message
    assert "more" not in message


def test_error_with_many_long_inputs_is_summarised() -> None:
    texts = [sentence(20 + i) for i in range(8)]
    with pytest.raises(InputTooLongError) as info:
        plan_truncation(texts, policy="error", max_tokens=16, overhead=0, spans=word_spans)
    assert info.value.indices == list(range(8))
    assert info.value.token_counts == [20 + i for i in range(8)]
    message = str(info.value)
    assert "[4] has 24 tokens" in message
    assert "[5]" not in message
    assert "and 3 more" in message


def test_error_policy_with_nothing_too_long_returns_the_plan() -> None:
    plan = plan_truncation([FITS_8], policy="error", max_tokens=8, overhead=0, spans=word_spans)
    assert plan.texts == [FITS_8]


# --- chunk -------------------------------------------------------------------------------------------


def test_chunk_windows_cover_every_token_in_order() -> None:
    texts = [SHORT, LONG_23, FITS_8, LONG_12]
    plan = plan_truncation(texts, policy="chunk", max_tokens=10, overhead=2, spans=word_spans)
    budget = 8
    assert plan.chunked == [1, 3]
    assert plan.truncated == []
    assert not plan.identity
    # Short inputs stay single texts, in place.
    assert plan.owners == [0, 1, 1, 1, 2, 3, 3]
    assert plan.texts[0] == SHORT
    assert plan.texts[4] == FITS_8
    for index in (1, 3):
        rows = [row for row, owner in enumerate(plan.owners) if owner == index]
        windows = [plan.texts[row] for row in rows]
        # Every window fits and the windows, in order, are exactly the input's tokens.
        assert all(len(words(window)) <= budget for window in windows)
        assert [w for window in windows for w in words(window)] == words(texts[index])
        # Weights are the tokens of each window.
        assert [plan.weights[row] for row in rows] == [len(words(window)) for window in windows]
        # Each window is a verbatim slice of the input, from a token start to a token end.
        for window in windows:
            assert window in texts[index]
            assert window == window.strip()
    rows_23 = [row for row, owner in enumerate(plan.owners) if owner == 1]
    assert [plan.weights[row] for row in rows_23] == [8, 8, 7]
    rows_12 = [row for row, owner in enumerate(plan.owners) if owner == 3]
    assert [plan.weights[row] for row in rows_12] == [8, 4]


def test_chunk_exact_multiple_has_no_empty_window() -> None:
    plan = plan_truncation([sentence(16)], policy="chunk", max_tokens=8, overhead=0, spans=word_spans)
    assert plan.owners == [0, 0]
    assert plan.weights == [8, 8]
    assert all(plan.texts)


def test_chunk_keeps_the_text_inside_a_window_verbatim() -> None:
    text = "alpha  beta\ngamma delta\t epsilon zeta"
    plan = plan_truncation([text], policy="chunk", max_tokens=4, overhead=0, spans=word_spans)
    assert plan.texts == ["alpha  beta\ngamma delta", "epsilon zeta"]
    assert plan.weights == [4, 2]


def test_chunk_with_nothing_too_long_is_identity() -> None:
    plan = plan_truncation([SHORT, FITS_8], policy="chunk", max_tokens=8, overhead=0, spans=word_spans)
    assert plan.identity
    assert plan.texts == [SHORT, FITS_8]


# --- combine_windows ---------------------------------------------------------------------------------


def _chunk_plan() -> tuple[list[str], TruncationPlan]:
    texts = [SHORT, LONG_23, FITS_8, LONG_12]
    return texts, plan_truncation(texts, policy="chunk", max_tokens=8, overhead=0, spans=word_spans)


def _expected_average(vectors: np.ndarray, plan: TruncationPlan, n: int) -> np.ndarray:
    out = np.zeros((n, vectors.shape[1]), dtype=np.float64)
    for index in range(n):
        rows = [row for row, owner in enumerate(plan.owners) if owner == index]
        weights = np.array([plan.weights[row] for row in rows], dtype=np.float64)
        out[index] = (vectors[rows].astype(np.float64) * weights[:, None]).sum(axis=0) / weights.sum()
    return out


def test_combine_windows_is_the_token_weighted_average() -> None:
    texts, plan = _chunk_plan()
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(len(plan.texts), 6)).astype(np.float32)
    combined = combine_windows(vectors, plan, len(texts), normalize=False)
    assert combined.shape == (4, 6)
    assert combined.dtype == np.float32
    np.testing.assert_allclose(combined, _expected_average(vectors, plan, len(texts)), rtol=1e-5, atol=1e-6)
    # LONG_23 has windows of 8, 8 and 7 tokens: check that one by hand, too.
    rows = [row for row, owner in enumerate(plan.owners) if owner == 1]
    by_hand = (8 * vectors[rows[0]] + 8 * vectors[rows[1]] + 7 * vectors[rows[2]]) / 23
    np.testing.assert_allclose(combined[1], by_hand, rtol=1e-5, atol=1e-6)


def test_combine_windows_renormalizes_only_chunked_rows() -> None:
    texts, plan = _chunk_plan()
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(len(plan.texts), 5)).astype(np.float32) * 3
    combined = combine_windows(vectors, plan, len(texts), normalize=True)
    expected = _expected_average(vectors, plan, len(texts))
    for index in plan.chunked:
        np.testing.assert_allclose(np.linalg.norm(combined[index]), 1.0, rtol=1e-5)
        np.testing.assert_allclose(
            combined[index], expected[index] / np.linalg.norm(expected[index]), rtol=1e-5, atol=1e-6
        )
    # Inputs that were not chunked keep their row exactly (already as the backend normalized them).
    for index in (0, 2):
        (row,) = [row for row, owner in enumerate(plan.owners) if owner == index]
        np.testing.assert_array_equal(combined[index], vectors[row])


def test_combine_windows_identity_plan_returns_the_rows() -> None:
    plan = plan_truncation([SHORT, LONG_23], policy="truncate", max_tokens=8, overhead=0, spans=word_spans)
    vectors = np.arange(8, dtype=np.float32).reshape(2, 4)
    out = combine_windows(vectors, plan, 2, normalize=True)
    np.testing.assert_array_equal(out, np.arange(8, dtype=np.float32).reshape(2, 4))


def test_combine_windows_does_not_modify_its_input() -> None:
    texts, plan = _chunk_plan()
    vectors = np.random.default_rng(2).normal(size=(len(plan.texts), 3)).astype(np.float32)
    before = vectors.copy()
    combine_windows(vectors, plan, len(texts), normalize=True)
    np.testing.assert_array_equal(vectors, before)
