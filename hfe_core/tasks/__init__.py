"""The tasks a server or a local model does, each a small pure planner and parser.

``embed`` lives in :mod:`hfe_core.backends` (it came first); :mod:`~hfe_core.tasks.rerank` and
:mod:`~hfe_core.tasks.sparse` plan requests and read answers for :class:`hfe_core.Reranker` and
:class:`hfe_core.SparseEmbedder`. Nothing here sends a request: the transport
(:mod:`hfe_core.transport.server`) does, for every task alike.
"""

from __future__ import annotations

from typing import Any, Literal

__all__ = ["Task", "describe_model_type", "served_tasks"]

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
