"""The rerank task, pure: plan requests under a server's limits, build bodies, read and merge answers.

A server takes at most ``max_client_batch_size`` texts per ``POST /rerank``: :func:`plan_rerank`
cuts the candidates into requests, :func:`read_ranks` checks each answer (every text scored once,
finite scores, indices in range) and :func:`merge_ranks` puts the scores of all requests back in
one order, best first. Shared by sync and async, local and server modes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from hfe_core.errors import ConfigurationError, ResponseFormatError

__all__ = ["Rank", "check_top_n", "merge_ranks", "read_ranks", "rerank_body"]


class Rank(NamedTuple):
    """One text's place in a reranking: its index in the texts given, and its relevance score.

    A plain tuple too: ``index, score = rank``.

    Example:
        >>> index, score = Rank(index=2, score=0.9)
        >>> index
        2
    """

    index: int  # type: ignore[assignment]  # shadows tuple.index on purpose: ranks read as (index, score)
    score: float


def check_top_n(top_n: Any) -> int | None:
    """``top_n`` checked: ``None`` (all texts) or a non-negative integer.

    Raises:
        ConfigurationError: anything else (a bool, a float, a negative number).
    """
    if top_n is None:
        return None
    if isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 0:
        raise ConfigurationError(f"top_n={top_n!r}: use None (every text) or a non-negative integer.")
    return top_n


def rerank_body(
    query: str,
    texts: Sequence[str],
    *,
    truncate: bool,
    left: bool,
    raw_scores: bool,
    char_limit: int | None = None,
) -> dict[str, Any]:
    """The body of TEI's ``POST /rerank``.

    Args:
        query: the query.
        texts: this request's texts.
        truncate: let the server cut pairs over the model's limit (``False``: it refuses them).
        left: cut the start of a too-long pair rather than its end.
        raw_scores: the model's logits rather than their sigmoid.
        char_limit: the characters past which TEI refuses a text even with ``truncate`` (its
            ``max_input_length x 250`` before 1.9): longer ones are cut here, their tail would be cut anyway.
    """

    def cut(text: str) -> str:
        if not truncate or not char_limit or len(text) <= char_limit:
            return text
        return text[-char_limit:] if left else text[:char_limit]

    return {
        "query": cut(query),
        "texts": [cut(text) for text in texts],
        "truncate": truncate,
        # Capitalised: TEI 1.8 refuses "left"/"right" (accepted from 1.9).
        "truncation_direction": "Left" if left else "Right",
        "raw_scores": raw_scores,
        "return_text": False,
    }


def _bad(label: str, what: str) -> ResponseFormatError:
    return ResponseFormatError(
        f"{label} answered {what}; a /rerank answer is one {{index, score}} per text. No score was "
        "kept from this answer."
    )


def read_ranks(answer: Any, count: int, *, offset: int = 0, label: str) -> list[Rank]:
    """The checked ranks of one ``/rerank`` answer, indices shifted by ``offset`` (the request's start).

    Args:
        answer: the parsed JSON answer.
        count: how many texts the request had.
        offset: the index of the request's first text among all texts.
        label: the request, as messages name it.

    Returns:
        The ranks in the server's order.

    Raises:
        ResponseFormatError: not a list of ``count`` objects, each with an integer ``index`` in range
            (each once) and a finite numeric ``score``.

    Example:
        >>> read_ranks([{"index": 1, "score": 0.9}, {"index": 0, "score": 0.1}], 2, offset=32, label="x")
        [Rank(index=33, score=0.9), Rank(index=32, score=0.1)]
    """
    if not isinstance(answer, list):
        raise _bad(label, f"a {type(answer).__name__}, not a list")
    if len(answer) != count:
        raise _bad(label, f"{len(answer)} ranks for {count} text{'s' if count != 1 else ''}")
    ranks: list[Rank] = []
    seen: set[int] = set()
    for position, item in enumerate(answer):
        if not isinstance(item, dict):
            raise _bad(label, f"a {type(item).__name__} at position {position}")
        index, score = item.get("index"), item.get("score")
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < count:
            raise _bad(label, f"index={index!r} at position {position} (texts are 0..{count - 1})")
        if index in seen:
            raise _bad(label, f"index {index} twice")
        if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
            raise _bad(label, f"score={score!r} for index {index}, not a finite number")
        seen.add(index)
        ranks.append(Rank(offset + index, float(score)))
    return ranks


def merge_ranks(parts: Iterable[Sequence[Rank]], top_n: int | None = None) -> list[Rank]:
    """All requests' ranks in one list, best score first, cut to ``top_n``.

    The sort is stable: equal scores keep the order the server gave them (then the requests' order).

    Example:
        >>> merge_ranks([[Rank(0, 0.2), Rank(1, 0.1)], [Rank(2, 0.9)]], top_n=2)
        [Rank(index=2, score=0.9), Rank(index=0, score=0.2)]
    """
    merged = sorted((rank for part in parts for rank in part), key=lambda rank: -rank.score)
    return merged if top_n is None else merged[:top_n]
