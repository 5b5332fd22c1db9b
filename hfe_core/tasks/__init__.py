"""The tasks a server or a local model does, each a small pure planner and parser.

``embed`` lives in :mod:`hfe_core.backends` (it came first); :mod:`~hfe_core.tasks.rerank` and
:mod:`~hfe_core.tasks.sparse` plan requests and read answers for :class:`hfe_core.Reranker` and
:class:`hfe_core.SparseEmbedder`. Nothing here sends a request: the transport
(:mod:`hfe_core.transport.server`) does, for every task alike.
"""

from __future__ import annotations

import math
from typing import Any, Literal

__all__ = ["Task", "describe_model_type", "plan_texts", "served_tasks"]

#: What a model can do: dense vectors, re-ranking, sparse (SPLADE) vectors, classification.
Task = Literal["embed", "rerank", "sparse", "classify"]


def served_tasks(model_type: Any) -> frozenset[Task] | None:
    """The tasks of a TEI server, from its ``/info`` ``model_type`` (``None``: it does not say).

    TEI's ``model_type`` is externally tagged: ``{"embedding": {"pooling": "mean"}}`` (dense
    vectors; ``"splade"`` pooling gives sparse ones instead), ``{"reranker": {...}}`` or
    ``{"classifier": {...}}``.

    Example:
        >>> sorted(served_tasks({"embedding": {"pooling": "splade"}}))
        ['sparse']
        >>> sorted(served_tasks({"reranker": {"id2label": {"0": "LABEL_0"}}}))
        ['rerank']
    """
    if not isinstance(model_type, dict) or len(model_type) != 1:
        return None
    (kind, details), *_ = model_type.items()
    if kind == "embedding":
        pooling = details.get("pooling") if isinstance(details, dict) else None
        return frozenset({"sparse"}) if pooling == "splade" else frozenset({"embed"})
    if kind == "reranker":
        return frozenset({"rerank"})
    if kind == "classifier":
        return frozenset({"classify"})
    return None


def describe_model_type(model_type: Any) -> str:
    """``model_type`` as a message names it (``embedding model (mean pooling)``, ``re-ranker``...).

    Example:
        >>> describe_model_type({"embedding": {"pooling": "mean"}})
        'an embedding model (mean pooling)'
    """
    tasks = served_tasks(model_type)
    if tasks is None:
        return "a model of unknown type"
    if "sparse" in tasks:
        return "a sparse (SPLADE) embedding model"
    if "embed" in tasks:
        pooling = next(iter(model_type.values())).get("pooling")
        return f"an embedding model ({pooling} pooling)" if pooling else "an embedding model"
    if "rerank" in tasks:
        return "a re-ranker model"
    return "a classifier model"


def plan_texts(count: int, max_texts: int) -> list[range]:
    """The texts of each request: as few requests as ``max_texts`` allows, of even sizes.

    Even sizes (24, 23, 23 rather than 32, 32, 6) let requests in flight finish together.

    Example:
        >>> plan_texts(70, 32)
        [range(0, 24), range(24, 47), range(47, 70)]
    """
    if count <= 0:
        return []
    requests = math.ceil(count / max(1, max_texts))
    size, extra = divmod(count, requests)
    bounds = [0]
    for number in range(requests):
        bounds.append(bounds[-1] + size + (1 if number < extra else 0))
    return [range(start, stop) for start, stop in zip(bounds, bounds[1:], strict=False)]
