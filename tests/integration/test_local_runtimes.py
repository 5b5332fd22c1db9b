"""Local mode's runtimes (ONNX Runtime fp32/int8, OpenVINO), worker pool and dtype, with the real model."""

from __future__ import annotations

import gc
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hfe_core import Embedder, EmbedderSettings
from hfe_core.backends.local import (
    ExportedEncoder,
    LocalBackend,
    clear_model_cache,
    export_folder,
    packaged_model_path,
)
from hfe_core.errors import ConfigurationError

from .conftest import MODEL_ID, reference

pytestmark = pytest.mark.model

DATA = Path(__file__).resolve().parents[2] / "examples" / "data"
CORPUS = [json.loads(line) for line in (DATA / "corpus.jsonl").read_text().splitlines()]
QUERIES = [json.loads(line) for line in (DATA / "queries.jsonl").read_text().splitlines()]
TEXTS = [row["text"] for row in CORPUS] + [
    "ok",
    " ".join(["a long text about rivers, mountains and the sea"] * 60),  # over the 256-token limit
]


def _backend(embedder: Embedder) -> LocalBackend:
    backend = embedder.backend
    assert isinstance(backend, LocalBackend)
    return backend


def _min_cosine(a: Any, b: Any) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.min(np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))))


def _top1(embedder: Embedder) -> list[str]:
    documents = np.asarray(embedder.embed_documents([row["text"] for row in CORPUS]))
    queries = np.asarray([embedder.embed_query(row["query"]) for row in QUERIES])
    return [CORPUS[int(i)]["id"] for i in np.argmax(queries @ documents.T, axis=1)]


@pytest.mark.parametrize("runtime", ["onnx", "openvino"])
def test_fp32_runtimes_give_torch_vectors(reference_model: Any, runtime: str) -> None:
    embedder = Embedder(model=MODEL_ID, runtime=runtime)
    vectors = embedder.embed(TEXTS).embeddings
    assert isinstance(_backend(embedder).sentence_transformer[0].model, ExportedEncoder)
    assert _min_cosine(vectors, reference(reference_model, TEXTS)) >= 0.9999
    assert _top1(embedder) == [row["expected_id"] for row in QUERIES]


def test_openvino_precision_can_be_pinned(reference_model: Any) -> None:
    # OpenVINO computes in bfloat16 by default on CPUs with bf16 support (avx512_bf16, AMX), else in
    # float32; dtype='float32' pins float32 and dtype='bfloat16' asks for bfloat16 everywhere.
    expected = reference(reference_model, TEXTS)
    exact = Embedder(model=MODEL_ID, runtime="openvino", dtype="float32")
    assert _backend(exact).sentence_transformer[0].model.precision == "float32"
    assert _min_cosine(exact.embed(TEXTS).embeddings, expected) >= 0.99999
    bf16 = Embedder(model=MODEL_ID, runtime="openvino", dtype="bfloat16")
    assert _min_cosine(bf16.embed(TEXTS).embeddings, expected) >= 0.999
    with pytest.raises(ConfigurationError, match="runtime='openvino'"):
        Embedder(model=MODEL_ID, runtime="openvino", dtype="float16")


def test_onnx_int8_is_close_and_ranks_the_same(reference_model: Any) -> None:
    embedder = Embedder(model=MODEL_ID, runtime="onnx-int8")
    vectors = embedder.embed(TEXTS).embeddings
    encoder = _backend(embedder).sentence_transformer[0].model
    assert isinstance(encoder, ExportedEncoder) and encoder.path.name == "model-ort-int8.onnx"
    expected = reference(reference_model, TEXTS)
    sentences = len(CORPUS)  # the corpus's sentences; then a 1-word and a 500-token text
    assert 0.99 <= _min_cosine(vectors[:sentences], expected[:sentences]) < 0.99999  # close, not identical
    assert _min_cosine(vectors, expected) >= 0.97  # 1-3 word inputs lose most (measured 0.974-0.98)
    assert _top1(embedder) == _top1(Embedder(model=MODEL_ID))


def test_export_is_made_once_per_model_and_kept(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = {"model": MODEL_ID, "runtime": "onnx", "cache_folder": str(tmp_path)}
    caplog.set_level(logging.INFO, logger="hfe")
    first = Embedder(**settings).embed_query("warm")
    assert sum("exporting the model to ONNX" in r.message for r in caplog.records) == 1
    folder = export_folder(EmbedderSettings(**settings), str(packaged_model_path(MODEL_ID)))
    assert folder.parent == tmp_path / "hfe-exports"
    files = sorted(folder.glob("*.onnx"))
    assert [f.name for f in files] == ["model-ort.onnx", "model.onnx"]
    stamps = [f.stat().st_mtime_ns for f in files]
    caplog.clear()
    clear_model_cache()  # a new process would start here: only the disk copy is left
    again = Embedder(**settings).embed_query("warm")
    assert not any("exporting" in r.message for r in caplog.records)
    assert [f.stat().st_mtime_ns for f in files] == stamps
    np.testing.assert_allclose(first, again, atol=1e-6)


def test_runtime_is_part_of_the_model_cache_key() -> None:
    torch_model = _backend(Embedder(model=MODEL_ID)).sentence_transformer
    onnx_model = _backend(Embedder(model=MODEL_ID, runtime="onnx")).sentence_transformer
    assert onnx_model is not torch_model
    assert _backend(Embedder(model=MODEL_ID, runtime="onnx")).sentence_transformer is onnx_model
    assert not isinstance(torch_model[0].model, ExportedEncoder)


@pytest.mark.parametrize(
    ("runtime", "package", "extra"), [("onnx", "onnxruntime", "onnx"), ("openvino", "openvino", "openvino")]
)
def test_missing_runtime_names_the_pip_command(runtime: str, package: str, extra: str) -> None:
    code = (
        f"import sys; sys.modules[{package!r}] = None\n"  # how Python blocks an import: as if not installed
        "from hfe_core import Embedder\n"
        "from hfe_core.errors import BackendUnavailableError\n"
        "try:\n"
        f"    Embedder(model={MODEL_ID!r}, runtime={runtime!r}).embed_query('x')\n"
        "except BackendUnavailableError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    assert f"needs {package}" in out.stdout
    assert f"pip install 'hfe[{extra}]'" in out.stdout


def test_pool_gives_single_process_vectors_in_order_and_is_reused_until_closed() -> None:
    single = Embedder(model=MODEL_ID, batch_size=4).embed(TEXTS).embeddings
    embedder = Embedder(model=MODEL_ID, batch_size=4, processes=2)
    backend = _backend(embedder)
    first = embedder.embed(TEXTS).embeddings
    pool = backend.pool
    assert pool is not None and len(pool["processes"]) == 2
    pids = [process.pid for process in pool["processes"]]
    second = embedder.embed(list(reversed(TEXTS))).embeddings
    np.testing.assert_allclose(first, single, atol=1e-5)
    np.testing.assert_allclose(second, single[::-1], atol=1e-5)
    assert backend.pool is pool and [process.pid for process in pool["processes"]] == pids
    embedder.close()
    assert backend.pool is None
    for pid in pids:  # stopped and reaped
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    # a closed embedder starts a new pool if it is used again
    np.testing.assert_allclose(embedder.embed(TEXTS[:3]).embeddings, single[:3], atol=1e-5)
    assert backend.pool is not None and backend.pool is not pool
    embedder.close()


def test_pool_is_stopped_when_the_embedder_is_garbage_collected() -> None:
    embedder = Embedder(model=MODEL_ID, processes=2)
    embedder.embed_query("start the workers")
    pool = _backend(embedder).pool
    assert pool is not None
    pids = [process.pid for process in pool["processes"]]
    del embedder, pool
    gc.collect()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_pool_runs_an_exported_runtime(reference_model: Any) -> None:
    embedder = Embedder(model=MODEL_ID, runtime="onnx", processes=2, batch_size=8)
    try:
        vectors = embedder.embed(TEXTS).embeddings
        assert _backend(embedder).pool is not None
    finally:
        embedder.close()
    assert _min_cosine(vectors, reference(reference_model, TEXTS)) >= 0.9999


def test_dtype_bfloat16_on_cpu_runs_and_returns_float32(reference_model: Any) -> None:
    import torch

    embedder = Embedder(model=MODEL_ID, device="cpu", dtype="bfloat16")
    vectors = embedder.embed(TEXTS).embeddings
    assert next(_backend(embedder).sentence_transformer.parameters()).dtype == torch.bfloat16
    assert vectors.dtype == np.float32
    assert _min_cosine(vectors, reference(reference_model, TEXTS)) >= 0.98


def test_float16_is_refused_on_cpu() -> None:
    with pytest.raises(ConfigurationError, match="float16' is for GPUs"):
        EmbedderSettings(device="cpu", dtype="float16")
    with pytest.raises(ConfigurationError, match="float16' is for GPUs"):
        EmbedderSettings(processes=2, dtype="float16")
    import torch

    if not torch.cuda.is_available():  # device chosen at load: CPU here
        with pytest.raises(ConfigurationError, match="float16' is for GPUs"):
            Embedder(model=MODEL_ID, dtype="float16").embed_query("x")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"mode": "tei", "url": "http://tei:80", "runtime": "onnx"}, "runtime= is a local-mode setting"),
        ({"mode": "tei", "url": "http://tei:80", "processes": 2}, "processes= is a local-mode setting"),
        ({"processes": 2, "devices": ["cuda:0"]}, "both given"),
        ({"device": "cuda:0", "devices": ["cuda:0", "cuda:1"]}, "both given"),
        ({"device": "cuda", "processes": 2}, "starts CPU workers"),
        ({"runtime": "onnx", "dtype": "bfloat16"}, "applies to runtime='torch'"),
        ({"dtype": "bfloat16", "model_kwargs": {"model_kwargs": {"torch_dtype": "auto"}}}, "set only dtype"),
        ({"runtime": "tensorrt"}, "runtime"),
    ],
)
def test_conflicting_settings_are_refused(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        EmbedderSettings(**settings)


def test_exported_runtime_refuses_an_accelerator() -> None:
    with pytest.raises(ConfigurationError, match="runs on CPU"):
        Embedder(model=MODEL_ID, runtime="onnx", device="cuda").embed_query("x")
