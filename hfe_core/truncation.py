"""Truncation policy, shared by every mode. Pure functions, no model or network.

A backend tells the planner how many tokens a text has and where each token
sits in the text (character spans); the planner decides what is sent:

``"truncate"``       the input is sent whole and the backend keeps its first tokens
                     (sentence-transformers does this; TEI with ``truncate=true``);
``"truncate_left"``  the text is cut client-side to its last tokens that fit;
``"error"``          :class:`~hfe_core.errors.InputTooLongError` names every input over
                     the limit, with its token count; nothing is embedded;
``"chunk"``          the text is split into windows that fit, each window is embedded,
                     and the result is their token-weighted average, re-normalized.

Truncation is never silent: the number of inputs cut or chunked is reported in
:class:`~hfe_core.embedder.EmbeddingStats` and logged at INFO.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from hfe_core.config import Truncation
from hfe_core.errors import InputTooLongError

__all__ = ["Span", "TruncationPlan", "combine_windows", "count_over", "plan_truncation"]

#: Character span ``(start, end)`` of one token in its text.
Span = tuple[int, int]

_MAX_LISTED = 5
_T = TypeVar("_T")


@dataclass
class TruncationPlan:
    """What to send for a list of inputs.

    Attributes:
        texts: the texts to embed (windows of chunked inputs are consecutive).
        owners: for each text, the index of the input it came from.
        weights: for each text, its token count (weights of the chunk average).
        truncated: indices of inputs that were or will be cut.
        chunked: indices of inputs split into several windows.
    """

    texts: list[str]
    owners: list[int]
    weights: list[int]
    truncated: list[int] = field(default_factory=list)
    chunked: list[int] = field(default_factory=list)

    @property
    def identity(self) -> bool:
        """True when every input is sent as one text, in order."""
        return not self.chunked


def _could_exceed(text: str, budget: int) -> bool:
    # No tokenizer yields more tokens than UTF-8 bytes, plus one for a leading
    # word-start piece (SentencePiece); below that bound no tokenization is needed.
    if 4 * len(text) + 1 <= budget:
        return False
    return len(text.encode("utf-8")) + 1 > budget


#: Under ``"truncate"`` only the head of a long text is tokenized: this many characters per token
#: of the budget (about twice what English, code or German take per token), cut at a whitespace.
_HEAD_CHARS_PER_TOKEN = 8


def _head(text: str, budget: int) -> str:
    """The start of ``text`` that holds more than ``budget`` tokens when ``text`` is long, or ``text``.

    Cut just before a whitespace, where every tokenizer hfe meets (WordPiece, byte-level BPE,
    SentencePiece with its Metaspace) starts a new token: the head's tokens are then the text's first
    tokens, at the same character positions. Text with no whitespace near the cut is kept whole.
    """
    stop = _HEAD_CHARS_PER_TOKEN * (budget + 1)
    if len(text) <= 2 * stop:
        return text  # hardly shorter: one pass over the whole text
    cut = max(text.rfind(space, 0, stop) for space in (" ", "\n", "\t"))
    return text[:cut] if cut > stop // 2 else text


def _by_heads(
    texts: Sequence[str],
    candidates: list[int],
    budget: int,
    measure: Callable[[list[str]], list[_T]],
    size: Callable[[_T], int],
) -> dict[int, _T]:
    """``measure`` of each candidate's head (see :func:`_head`), of its whole text where needed.

    ``size`` is the token count of one measure: a head that turns out to hold no more than ``budget``
    tokens is measured again, whole.
    """
    heads = [_head(texts[index], budget) for index in candidates]
    found = dict(zip(candidates, measure(heads), strict=True))
    again = [
        index
        for index, head in zip(candidates, heads, strict=True)
        if len(head) < len(texts[index]) and size(found[index]) <= budget
    ]
    if again:
        found.update(zip(again, measure([texts[index] for index in again]), strict=True))
    return found


def _token_spans(
    texts: Sequence[str],
    candidates: list[int],
    budget: int,
    spans: Callable[[list[str]], list[list[Span]]],
    *,
    head_only: bool,
) -> dict[int, list[Span]]:
    """Spans of the candidates' tokens; with ``head_only``, of their first ``budget + 1`` tokens at least."""
    if not head_only:
        return dict(zip(candidates, spans([texts[index] for index in candidates]), strict=True))
    return _by_heads(texts, candidates, budget, spans, len)


def count_over(texts: Sequence[str], *, budget: int, counts: Callable[[list[str]], list[int]]) -> list[int]:
    """Indices of the texts with more than ``budget`` tokens, from token counts alone.

    What ``"truncate"`` needs when nothing is cut client-side: the cheap bound first, then the
    head of each long text (see :func:`_head`), then whole texts whose head was not enough.

    Example:
        >>> def words(texts):
        ...     return [len(text.split()) for text in texts]
        >>> count_over(["a b", "a b c d e f g h i j"], budget=3, counts=words)
        [1]
    """
    candidates = [index for index, text in enumerate(texts) if _could_exceed(text, budget)]
    if not candidates:
        return []
    found = _by_heads(texts, candidates, budget, counts, int)
    return [index for index in candidates if found[index] > budget]


def plan_truncation(
    texts: Sequence[str],
    *,
    policy: Truncation,
    max_tokens: int | None,
    overhead: int,
    spans: Callable[[list[str]], list[list[Span]]],
    cut: bool = False,
) -> TruncationPlan:
    """Decide what to embed for ``texts`` under ``policy``.

    Args:
        texts: validated inputs.
        policy: the truncation policy.
        max_tokens: the model's limit per input, special tokens and prompt included;
            ``None`` when unknown (everything is sent as is).
        overhead: tokens every input costs besides its own (special tokens, prompt).
        spans: the backend's tokenizer: character spans of each text's tokens,
            without special tokens. Only called for texts that may be too long.
        cut: under ``"truncate"``, cut the texts client-side to their first tokens that fit, for
            a backend that would otherwise keep their end (TEI told to truncate on the left).

    Returns:
        The plan.

    Raises:
        InputTooLongError: ``policy == "error"`` and inputs exceed the limit.
    """
    plan = TruncationPlan(list(texts), list(range(len(texts))), [0] * len(texts))
    if max_tokens is None:
        return plan
    budget = max(1, max_tokens - overhead)
    candidates = [index for index, text in enumerate(texts) if _could_exceed(text, budget)]
    if not candidates:
        return plan
    # "truncate" needs to know which texts run past the budget and where their budget-th token ends:
    # the head of a long text tells both, for a fraction of the tokenizing (issue 13's long texts).
    token_spans = _token_spans(texts, candidates, budget, spans, head_only=policy == "truncate")
    too_long = [index for index in candidates if len(token_spans[index]) > budget]
    if not too_long:
        return plan
    if policy == "error":
        counts = [len(token_spans[index]) + overhead for index in too_long]
        listed = ", ".join(
            f"[{index}] has {count} tokens"
            for index, count in zip(too_long[:_MAX_LISTED], counts, strict=False)
        )
        more = f" and {len(too_long) - _MAX_LISTED} more" if len(too_long) > _MAX_LISTED else ""
        raise InputTooLongError(
            f"{len(too_long)} input(s) exceed the model's limit of {max_tokens} tokens: {listed}{more}. "
            "Shorten them, or choose truncation='truncate', 'truncate_left' or 'chunk'.",
            indices=too_long,
            token_counts=counts,
            max_tokens=max_tokens,
        )
    if policy == "truncate":
        if cut:
            for index in too_long:
                plan.texts[index] = texts[index][: token_spans[index][budget - 1][1]]
        plan.truncated = too_long
        return plan
    if policy == "truncate_left":
        for index in too_long:
            text_spans = token_spans[index]
            plan.texts[index] = texts[index][text_spans[len(text_spans) - budget][0] :]
        plan.truncated = too_long
        return plan
    # chunk: rebuild the plan with windows for the long inputs.
    long_set = set(too_long)
    chunked = TruncationPlan([], [], [], chunked=too_long)
    for index, text in enumerate(texts):
        if index not in long_set:
            chunked.texts.append(text)
            chunked.owners.append(index)
            chunked.weights.append(1)
            continue
        text_spans = token_spans[index]
        for start in range(0, len(text_spans), budget):
            window = text_spans[start : start + budget]
            chunked.texts.append(text[window[0][0] : window[-1][1]])
            chunked.owners.append(index)
            chunked.weights.append(len(window))
    return chunked


def combine_windows(
    vectors: npt.NDArray[np.float32],
    plan: TruncationPlan,
    n_inputs: int,
    *,
    normalize: bool,
) -> npt.NDArray[np.float32]:
    """Average the windows of chunked inputs, weighted by their token counts.

    Args:
        vectors: one row per text of the plan.
        plan: the plan the vectors were computed for.
        n_inputs: the number of original inputs.
        normalize: re-normalize the averages to unit length.

    Returns:
        One row per original input.
    """
    if plan.identity:
        return vectors
    owners = np.asarray(plan.owners)
    weights = np.asarray(plan.weights, dtype=np.float32)
    out = np.zeros((n_inputs, vectors.shape[1]), dtype=np.float32)
    np.add.at(out, owners, vectors * weights[:, None])
    totals = np.zeros(n_inputs, dtype=np.float32)
    np.add.at(totals, owners, weights)
    out /= totals[:, None]
    if normalize:
        chunked = np.asarray(plan.chunked)
        norms = np.linalg.norm(out[chunked], axis=1, keepdims=True)
        out[chunked] /= np.maximum(norms, np.finfo(np.float32).tiny)
    return out
