"""Matryoshka truncation and the expected-dimension check."""

from __future__ import annotations

import numpy as np
import pytest

from hfe_core.dimensions import check_expected_dimension, truncate_dimensions
from hfe_core.errors import ConfigurationError, DimensionMismatchError


def _unit_rows(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_keeps_the_first_values_and_renormalizes() -> None:
    vectors = _unit_rows(3, 8)
    out = truncate_dimensions(vectors, 3, normalize=True)
    assert out.shape == (3, 3)
    assert out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-6)
    for row, original in zip(out, vectors, strict=True):
        # Proportional to the kept prefix: same direction, scaled by 1/|prefix|.
        prefix = original[:3]
        np.testing.assert_allclose(row, prefix / np.linalg.norm(prefix), rtol=1e-5)
        np.testing.assert_allclose(row * np.linalg.norm(prefix), prefix, rtol=1e-5, atol=1e-7)


def test_hand_computed_example() -> None:
    vectors = np.array([[3.0, 4.0, 12.0], [0.0, 2.0, 1.0]], dtype=np.float32)
    out = truncate_dimensions(vectors, 2, normalize=True)
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 1.0]], rtol=1e-6)


def test_no_renormalization_when_normalize_is_off() -> None:
    vectors = np.array([[3.0, 4.0, 12.0], [1.0, 1.0, 1.0]], dtype=np.float32)
    out = truncate_dimensions(vectors, 2, normalize=False)
    np.testing.assert_array_equal(out, [[3.0, 4.0], [1.0, 1.0]])


def test_zero_prefix_stays_zero() -> None:
    vectors = np.array([[0.0, 0.0, 1.0]], dtype=np.float32)
    out = truncate_dimensions(vectors, 2, normalize=True)
    np.testing.assert_array_equal(out, [[0.0, 0.0]])
    assert np.isfinite(out).all()


@pytest.mark.parametrize("rows", [1, 2, 5])
def test_input_is_not_modified(rows: int) -> None:
    vectors = np.arange(1, rows * 4 + 1, dtype=np.float32).reshape(rows, 4)
    before = vectors.copy()
    truncate_dimensions(vectors, 2, normalize=True)
    np.testing.assert_array_equal(vectors, before)


def test_none_and_full_dimension_are_unchanged() -> None:
    vectors = _unit_rows(2, 6)
    assert truncate_dimensions(vectors, None, normalize=True) is vectors
    np.testing.assert_array_equal(truncate_dimensions(vectors, 6, normalize=True), vectors)


def test_larger_than_the_model_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError) as info:
        truncate_dimensions(_unit_rows(2, 6), 7, normalize=True)
    assert "dimensions=7" in str(info.value)
    assert "6" in str(info.value)


def test_empty_input_passes_through() -> None:
    empty = np.zeros((0, 6), dtype=np.float32)
    assert truncate_dimensions(empty, 3, normalize=True).shape[0] == 0


# --- check_expected_dimension ----------------------------------------------------------------------


def test_expected_dimension_agreeing_or_unset() -> None:
    check_expected_dimension(None, 384, model="m")
    check_expected_dimension(384, 384, model="m")


def test_expected_dimension_mismatch() -> None:
    with pytest.raises(DimensionMismatchError) as info:
        check_expected_dimension(1536, 384, model="sentence-transformers/all-MiniLM-L6-v2")
    exc = info.value
    assert exc.expected == 1536
    assert exc.actual == 384
    message = str(exc)
    assert "1536" in message
    assert "384" in message
    assert "sentence-transformers/all-MiniLM-L6-v2" in message
    assert isinstance(exc, ConfigurationError)
    assert isinstance(exc, ValueError)


def test_expected_dimension_mismatch_without_model_name() -> None:
    with pytest.raises(DimensionMismatchError, match="the model produces 384"):
        check_expected_dimension(768, 384, model=None)
