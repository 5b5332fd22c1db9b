"""precision= on an embedder: the codes sentence-transformers' encode(precision=...) gives, in every call.

The reference is the real packaged all-MiniLM-L6-v2 run by a plain SentenceTransformer, and its own
``quantize_embeddings``; hfe quantizes with numpy alone (hfe_core.precision) after its own pipeline.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hfe_core import ConfigurationError, Embedder, EmbeddingError, embed_file
from hfe_core.cli import main
from hfe_core.precision import calibration_ranges, quantize
from langchain_hfe import HFEmbeddings
from tests.hostile import HostileServer, Reply, Request, hashed_vector

from .conftest import MODEL_ID

pytestmark = pytest.mark.model

TEXTS = [
    "Paris is the capital of France.",
    "The mitochondria is the powerhouse of the cell.",
    "Rust has a borrow checker.",
    "A recipe for bread needs flour, water, salt and yeast.",
]


@pytest.fixture(scope="module")
def floats(reference_model: Any) -> np.ndarray:
    return np.asarray(reference_model.encode(TEXTS, normalize_embeddings=True))


@pytest.mark.parametrize("precision", ["binary", "ubinary"])
def test_binary_codes_equal_sentence_transformers(reference_model: Any, precision: str) -> None:
    embedder = Embedder(model=MODEL_ID, precision=precision)
    ours = embedder.embed(TEXTS).embeddings
    theirs = reference_model.encode(TEXTS, normalize_embeddings=True, precision=precision)
    assert ours.dtype == theirs.dtype
    assert ours.shape == (len(TEXTS), 384 // 8)
    assert np.array_equal(ours, theirs)


@pytest.mark.parametrize("precision", ["int8", "uint8"])
def test_int8_codes_are_the_same_in_every_call(floats: np.ndarray, precision: str) -> None:
    from sentence_transformers.quantization import quantize_embeddings

    ranges = calibration_ranges(floats)
    embedder = Embedder(model=MODEL_ID, precision=precision, precision_ranges=ranges.tolist())
    together = embedder.embed(TEXTS).embeddings
    theirs = quantize_embeddings(floats, precision=precision, ranges=ranges)  # type: ignore[arg-type]
    assert together.dtype == theirs.dtype
    # Float noise between two runs of the model may move a value across a bucket edge: at most one step.
    assert np.abs(together.astype(np.int16) - theirs.astype(np.int16)).max() <= 1
    # One text alone gets the codes it got among the others (ranges fixed, not taken from the call).
    alone = embedder.embed_query(TEXTS[2])
    assert np.array_equal(np.asarray(alone), embedder.embed([TEXTS[2]]).embeddings[0])
    assert np.abs(np.asarray(alone, dtype=np.int16) - together[2].astype(np.int16)).max() <= 1


def test_int8_without_ranges_is_refused_before_anything_runs() -> None:
    with pytest.raises(ConfigurationError, match="needs precision_ranges=") as info:
        Embedder(model=MODEL_ID, precision="int8")
    assert isinstance(info.value, ValueError)
    assert "calibration_ranges" in str(info.value)


def test_the_framework_adapters_refuse_precision() -> None:
    """LangChain and LlamaIndex take float vectors: codes would be compared as floats by their stores."""
    from langchain_hfe import HuggingFaceEmbeddings
    from llamaindex_hfe import HFEmbedding, HuggingFaceEmbedding

    for adapter in (HFEmbeddings, HFEmbedding, HuggingFaceEmbeddings, HuggingFaceEmbedding):
        with pytest.raises(ConfigurationError, match="hfe_core.Embedder and hfe embed") as info:
            adapter(model=MODEL_ID, precision="ubinary")
        assert isinstance(info.value, ValueError)
    embeddings = HFEmbeddings(model=MODEL_ID)
    with pytest.raises(ConfigurationError, match="hfe_core.Embedder and hfe embed"):
        embeddings.precision = "binary"


def test_partial_results_are_quantized_too(hostile: HostileServer) -> None:
    """A failed batch keeps the other batches' vectors, at the embedder's precision."""

    def answer(request: Request) -> Reply:
        texts = request.json["inputs"]
        if TEXTS[2] in texts:
            return Reply(503, {"error": "overloaded", "error_type": "overloaded"})
        return Reply(200, hostile.vectors(texts))

    hostile.on("POST", "/embed", answer)
    embedder = Embedder(mode="tei", url=hostile.url, precision="ubinary", batch_size=2, max_retries=0)
    with pytest.raises(EmbeddingError) as info:
        embedder.embed(TEXTS)
    partial = info.value.partial_embeddings
    failed = info.value.failed_indices
    assert 2 in failed and len(failed) == 2  # the batch of two holding TEXTS[2]
    assert all(partial[index] is None for index in failed)
    for index in sorted(set(range(len(TEXTS))) - set(failed)):
        expected = np.packbits(np.asarray(hashed_vector(TEXTS[index], hostile.dim)) > 0).tolist()
        assert partial[index] == expected


def _records(path: Path, count: int = 12) -> Path:
    lines = [json.dumps({"id": f"r{i}", "text": f"{TEXTS[i % len(TEXTS)]} ({i})"}) for i in range(count)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("output", ["out.npy", "out.parquet"])
def test_embed_file_writes_the_codes_with_their_dtype(tmp_path: Path, output: str) -> None:
    """The job keeps float32 chunks and writes codes equal to quantizing its float32 output."""
    source = _records(tmp_path / "in.jsonl")
    floats_out = tmp_path / f"float-{output}"
    embed_file(source, floats_out, model=MODEL_ID, show_progress=False, chunk_size=5)
    float_vectors = _read(floats_out)
    ranges = calibration_ranges(float_vectors)
    for precision in ("int8", "ubinary"):
        coded = tmp_path / f"{precision}-{output}"
        extra = {"precision_ranges": ranges.tolist()} if precision == "int8" else {}
        embed_file(
            source, coded, model=MODEL_ID, show_progress=False, chunk_size=5, precision=precision, **extra
        )
        codes = _read(coded)
        expected = quantize(float_vectors, precision, ranges=ranges if extra else None)
        assert codes.dtype == expected.dtype
        assert np.array_equal(codes, expected)


def test_cli_embed_takes_precision_and_a_ranges_file(
    tmp_path: Path, floats: np.ndarray, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _records(tmp_path / "in.jsonl", 4)
    ranges_file = tmp_path / "ranges.npy"
    np.save(ranges_file, calibration_ranges(floats))
    output = tmp_path / "out.npy"
    argv = ["embed", str(source), "-o", str(output), "--model", MODEL_ID, "--no-progress"]
    assert main([*argv, "--precision", "uint8", "--precision-ranges", str(ranges_file)]) == 0
    codes = np.load(output)
    assert codes.dtype == np.uint8 and codes.shape == (4, 384)
    capsys.readouterr()
    assert main([*argv, "--precision", "int8", "--overwrite"]) == 1  # no ranges: refused, named
    assert "needs precision_ranges=" in capsys.readouterr().err
    assert main([*argv, "--precision", "int8", "--precision-ranges", str(tmp_path / "none.npy")]) == 1
    assert "--precision-ranges" in capsys.readouterr().err


def _read(path: Path) -> np.ndarray:
    if path.suffix == ".npy":
        return np.load(path)
    import pyarrow.parquet as pq

    column = pq.read_table(path).column("embedding").combine_chunks()
    width = column.type.list_size
    return np.asarray(column.values.to_numpy()).reshape(-1, width)


@pytest.mark.parametrize(
    ("precision", "shape", "dtype"), [("float32", (0, 384), "<f4"), ("ubinary", (0, 48), "|u1")]
)
def test_an_input_of_only_bad_records_writes_an_empty_array_of_the_right_width(
    tmp_path: Path, precision: str, shape: tuple[int, int], dtype: str
) -> None:
    """Every record skipped: the .npy still has the model's width and the output's dtype."""
    source = tmp_path / "in.jsonl"
    source.write_text("\n\n")
    output = tmp_path / "out.npy"
    embed_file(source, output, model=MODEL_ID, show_progress=False, on_bad_row="skip", precision=precision)
    array = np.load(output)
    assert array.shape == shape and array.dtype.str == dtype
