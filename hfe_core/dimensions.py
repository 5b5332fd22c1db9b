"""Embedding dimension: lookup, Matryoshka truncation and checks against what the caller expects.

Order of lookup: ``dimensions`` (when set) > what the model or server reports >
a probe embedding. A configured ``expected_dimension`` (mem0 ``embedding_dims``,
embedchain ``vector_dimension``) is checked against the result, never trusted
blindly.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from hfe_core.errors import ConfigurationError, DimensionMismatchError

__all__ = ["check_expected_dimension", "output_dimension", "truncate_dimensions"]


def output_dimension(native: int, dimensions: int | None) -> int:
    """The dimension hfe returns: ``dimensions`` when set, else the model's ``native`` one.

    Raises:
        ConfigurationError: ``dimensions`` is larger than the model's dimension.
    """
    if dimensions is None:
        return native
    if dimensions > native:
        raise ConfigurationError(
            f"dimensions={dimensions} is larger than the model's embedding dimension "
            f"{native}; choose dimensions <= {native} or leave it unset."
        )
    return dimensions


def truncate_dimensions(
    vectors: npt.NDArray[np.float32], dimensions: int | None, *, normalize: bool
) -> npt.NDArray[np.float32]:
    """Keep the first ``dimensions`` values of each row (Matryoshka), re-normalized when asked.

    Args:
        vectors: one embedding per row.
        dimensions: how many values to keep; ``None`` keeps all.
        normalize: scale each kept row to unit length, as TEI does.

    Returns:
        The truncated rows.

    Raises:
        ConfigurationError: ``dimensions`` is larger than the model's dimension.
    """
    if dimensions is None or vectors.shape[0] == 0:
        return vectors
    if output_dimension(vectors.shape[1], dimensions) == vectors.shape[1]:
        return vectors
    kept = vectors[:, :dimensions].copy()  # never re-normalize the caller's array
    if normalize:
        norms = np.linalg.norm(kept, axis=1, keepdims=True)
        kept /= np.maximum(norms, np.finfo(np.float32).tiny)
    return kept


def check_expected_dimension(expected: int | None, actual: int, *, model: str | None) -> None:
    """Raise when a configured dimension disagrees with the one the model produces.

    Args:
        expected: the dimension the configuration declared, if any.
        actual: the dimension hfe will return.
        model: the model name, for the message.

    Raises:
        DimensionMismatchError: the two differ.
    """
    if expected is None or expected == actual:
        return
    raise DimensionMismatchError(
        f"The configuration expects {expected}-dimensional embeddings (embedding_dims / "
        f"vector_dimension / expected_dimension), but {model or 'the model'} produces {actual}. "
        f"Set it to {actual} (and create the vector store with {actual} dimensions), or set "
        f"dimensions={expected} if the model was trained for Matryoshka truncation.",
        expected=expected,
        actual=actual,
    )
