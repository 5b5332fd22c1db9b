"""The sparse task, pure: build ``/embed_sparse`` bodies and read their answers into ``{token_id: weight}``.

TEI answers one list of ``{"index", "value"}`` per input, the non-zero weights only (a SPLADE
model's vocabulary-sized vector). :func:`read_sparse` checks every entry before any vector is kept.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from hfe_core.errors import ResponseFormatError

__all__ = ["SparseVector", "from_dense_rows", "read_sparse", "sparse_body"]

#: One sparse vector: token id to weight, non-zero weights only.
SparseVector = dict[int, float]


def sparse_body(
    inputs: list[str], *, truncate: bool, left: bool, char_limit: int | None = None
) -> dict[str, Any]:
    """The body of TEI's ``POST /embed_sparse`` (``char_limit``: as in the rerank body)."""
    if truncate and char_limit:
        inputs = [
            (text[-char_limit:] if left else text[:char_limit]) if len(text) > char_limit else text
            for text in inputs
        ]
    return {
        "inputs": inputs,
        "truncate": truncate,
        "truncation_direction": "Left" if left else "Right",
    }


def _bad(label: str, what: str) -> ResponseFormatError:
    return ResponseFormatError(
        f"{label} answered {what}; an /embed_sparse answer is one list of {{index, value}} per input. "
        "No vector was built from this answer."
    )


def read_sparse(answer: Any, count: int, *, label: str) -> list[SparseVector]:
    """The checked sparse vectors of one ``/embed_sparse`` answer.

    Raises:
        ResponseFormatError: not ``count`` lists of objects with a non-negative integer ``index``
            (each once per vector) and a finite numeric ``value``.

    Example:
        >>> read_sparse([[{"index": 7, "value": 0.5}], []], 2, label="x")
        [{7: 0.5}, {}]
    """
    if not isinstance(answer, list):
        raise _bad(label, f"a {type(answer).__name__}, not a list")
    if len(answer) != count:
        raise _bad(label, f"{len(answer)} vectors for {count} input{'s' if count != 1 else ''}")
    vectors: list[SparseVector] = []
    for row, entries in enumerate(answer):
        if not isinstance(entries, list):
            raise _bad(label, f"a {type(entries).__name__} for input {row}")
        vector: SparseVector = {}
        for entry in entries:
            if not isinstance(entry, dict):
                raise _bad(label, f"a {type(entry).__name__} in the vector of input {row}")
            index, value = entry.get("index"), entry.get("value")
            if isinstance(index, bool) or not isinstance(index, int) or index < 0:
                raise _bad(label, f"index={index!r} in the vector of input {row}")
            if index in vector:
                raise _bad(label, f"index {index} twice in the vector of input {row}")
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise _bad(label, f"value={value!r} at index {index} of input {row}, not a finite number")
            if value != 0:
                vector[index] = float(value)
        vectors.append(vector)
    return vectors


def from_dense_rows(rows: npt.NDArray[np.floating[Any]]) -> list[SparseVector]:
    """``{token_id: weight}`` of each row of a dense ``(n, vocabulary)`` array (non-zeros only).

    Example:
        >>> from_dense_rows(np.array([[0.0, 1.5, 0.0]], dtype=np.float32))
        [{1: 1.5}]
    """
    vectors: list[SparseVector] = []
    for row in rows:
        (indices,) = np.nonzero(row)
        vectors.append({int(index): float(row[index]) for index in indices})
    return vectors
