"""Compact embedding outputs: int8, uint8 and packed-bit vectors, with numpy alone.

:func:`quantize` gives the same arrays as sentence-transformers'
``sentence_transformers.quantization.quantize_embeddings`` for the precisions
``float32``, ``int8``, ``uint8``, ``binary`` and ``ubinary`` (same buckets, same
calibration rules, same bit packing), but it imports neither torch nor
sentence-transformers, so the server modes (tei, endpoint) can use it too.

=============  =========  =======================================================
precision      dtype      bytes per vector (``d`` dimensions)
=============  =========  =======================================================
``float32``    float32    ``4 * d``
``int8``       int8       ``d`` (255 buckets per dimension between the ranges)
``uint8``      uint8      ``d``
``binary``     int8       ``ceil(d / 8)`` (one bit per dimension, ``> 0``, minus 128)
``ubinary``    uint8      ``ceil(d / 8)``
=============  =========  =======================================================

``int8`` and ``uint8`` need per-dimension ranges (the minimum and maximum of each
dimension). Compute them once from a representative set of vectors
(:func:`calibration_ranges`) and pass them on every call: ranges computed from each
call's own vectors make the same text quantize differently in different calls.
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np
import numpy.typing as npt

from hfe_core.errors import ConfigurationError

__all__ = ["PRECISIONS", "Precision", "bytes_per_vector", "calibration_ranges", "quantize"]

Precision = Literal["float32", "int8", "uint8", "binary", "ubinary"]
#: The precisions :func:`quantize` accepts.
PRECISIONS: tuple[str, ...] = get_args(Precision)


def calibration_ranges(calibration: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """Per-dimension ranges for ``int8``/``uint8``: row 0 the minimum, row 1 the maximum.

    Args:
        calibration: float vectors, ``(n, d)`` with ``n >= 2``, representative of what will be
            quantized (for example a few thousand of the corpus's own vectors).

    Returns:
        A ``(2, d)`` float32 array, to pass as ``quantize(..., ranges=...)`` and to store with the index.

    Raises:
        ConfigurationError: fewer than two vectors, or integer vectors.

    Example:
        >>> calibration_ranges(np.array([[0.5, -1.0], [-0.5, 1.0]]))
        array([[-0.5, -1. ],
               [ 0.5,  1. ]], dtype=float32)
    """
    array = _float_array(calibration, "calibration")
    if array.ndim != 2 or array.shape[0] < 2:
        raise ConfigurationError(
            f"calibration must be a (n, d) array of at least 2 vectors (got shape {array.shape}); "
            "pass a representative sample of the vectors to be quantized."
        )
    return np.vstack((np.min(array, axis=0), np.max(array, axis=0))).astype(np.float32)


def bytes_per_vector(dimension: int, precision: str) -> int:
    """Bytes one ``dimension``-dimensional vector takes at ``precision``.

    Raises:
        ConfigurationError: an unknown precision.

    Example:
        >>> [bytes_per_vector(384, p) for p in ("float32", "int8", "uint8", "binary", "ubinary")]
        [1536, 384, 384, 48, 48]
    """
    _check_precision(precision)
    if precision == "float32":
        return 4 * dimension
    if precision.endswith("int8"):
        return dimension
    return (dimension + 7) // 8


def quantize(
    vectors: npt.ArrayLike,
    precision: str,
    *,
    ranges: npt.ArrayLike | None = None,
    calibration: npt.ArrayLike | None = None,
) -> np.ndarray:
    """``vectors`` at ``precision``, as sentence-transformers' ``quantize_embeddings`` gives them.

    Args:
        vectors: float vectors, ``(n, d)`` or one ``(d,)`` vector.
        precision: ``"float32"``, ``"int8"``, ``"uint8"``, ``"binary"`` or ``"ubinary"``.
        ranges: ``int8``/``uint8`` only: a ``(2, d)`` array of per-dimension minimum and maximum
            (see :func:`calibration_ranges`). Takes precedence over ``calibration``.
        calibration: ``int8``/``uint8`` only: vectors to compute the ranges from, when ``ranges``
            is not given. Without either, the ranges come from ``vectors`` themselves (which then
            must hold at least 2 vectors); that makes a vector's code depend on its neighbours in
            the call, so pass ``ranges`` for anything that is stored.

    Returns:
        float32 for ``float32``; int8 or uint8 codes of shape ``(n, d)`` for ``int8``/``uint8``;
        packed bits of shape ``(n, ceil(d / 8))`` for ``binary`` (int8) and ``ubinary`` (uint8).

    Raises:
        ConfigurationError: an unknown precision; integer vectors; ``int8``/``uint8`` of a single
            vector without ``ranges`` or ``calibration``; ranges whose shape does not fit.

    Example:
        >>> vectors = np.array([[0.2, -0.4, 0.1], [-0.2, 0.4, 0.3]], dtype=np.float32)
        >>> quantize(vectors, "ubinary")
        array([[160],
               [ 96]], dtype=uint8)
        >>> quantize(vectors, "int8", ranges=np.array([[-1, -1, -1], [1, 1, 1]]))
        array([[ 25, -52,  12],
               [-27,  50,  37]], dtype=int8)
    """
    _check_precision(precision)
    array = _float_array(vectors, "vectors")
    if array.ndim == 2 and array.shape[0] == 0:
        dim = array.shape[1]
        if precision.endswith("int8"):
            return np.zeros((0, dim), dtype=np.int8 if precision == "int8" else np.uint8)
        if precision.endswith("binary"):
            return np.zeros((0, (dim + 7) // 8), dtype=np.int8 if precision == "binary" else np.uint8)
    if precision == "float32":
        return array.astype(np.float32)
    if precision.endswith("int8"):
        bounds = _ranges(array, precision, ranges, calibration)
        starts = bounds[0, :]
        steps = (bounds[1, :] - starts) / 255
        steps = np.where(steps == 0, 1, steps)
        codes: np.ndarray = np.clip(np.floor((array - starts) / steps), 0, 255)
        if precision == "uint8":
            return codes.astype(np.uint8)
        return (codes - 128).astype(np.int8)
    bits = np.packbits(array > 0, axis=-1)
    if precision == "binary":
        return (bits - 128).astype(np.int8)
    return bits


def _check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ConfigurationError(
            f"precision={precision!r} is not supported; use one of {', '.join(map(repr, PRECISIONS))}."
        )


def _float_array(values: npt.ArrayLike, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype in (np.int8, np.uint8):
        raise ConfigurationError(
            f"{name} are already {array.dtype} codes; quantize the float vectors (precision='float32' "
            "output) instead."
        )
    if not np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float32)
    return array


def _ranges(
    array: np.ndarray,
    precision: str,
    ranges: npt.ArrayLike | None,
    calibration: npt.ArrayLike | None,
) -> np.ndarray:
    if ranges is None:
        if calibration is None:
            if array.ndim == 1 or array.shape[0] == 1:
                raise ConfigurationError(
                    f"Cannot compute {precision} ranges from a single vector. Pass ranges= (computed once "
                    "with hfe_core.precision.calibration_ranges from representative vectors) or "
                    "calibration=."
                )
            source = array
        else:
            source = _float_array(calibration, "calibration")
        bounds = np.vstack((np.min(source, axis=0), np.max(source, axis=0)))
    else:
        bounds = np.asarray(ranges)
    dim = array.shape[-1]
    if bounds.shape != (2, dim):
        raise ConfigurationError(
            f"ranges must have shape (2, {dim}) (per-dimension minimum and maximum) for vectors of "
            f"dimension {dim}; got shape {bounds.shape}."
        )
    return bounds.astype(np.float32, copy=False)
