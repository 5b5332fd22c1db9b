"""route='openai' against a real third-party server: Infinity (infinity-emb 0.0.78), on loopback.

Infinity runs from its own virtual environment, ``.venv-infinity`` (built by scripts/test.sh through
scripts/infinity.sh: torch 2.13.0 CPU, sentence-transformers 3.4, transformers 4.57), and serves the
packaged all-MiniLM-L6-v2 under three names, so that ``model=`` picks one:

* ``sentence-transformers/all-MiniLM-L6-v2``: the packaged model under its Hub id (hfe reads its
  limit, 256 tokens, from the packaged files);
* a local folder of the same weights with CLS pooling and ``max_seq_length`` 128, served under its
  path (other vectors, another limit, read from that folder);
* ``minilm``: a name that is no model id (the limit is unknown).

Infinity serves ``POST /embeddings`` at its root and has no ``/info`` or ``/tokenize``. Nothing is
mocked: the vectors are compared with local mode's, and the errors are Infinity's own answers.
Without ``.venv-infinity`` the module is skipped, unless ``HFE_REQUIRE_INFINITY=1`` (scripts/test.sh
sets it), where it fails instead.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from hfe_core import ConfigurationError, Embedder, InputTooLongError
from hfe_core.errors import NotFoundError, RequestRejectedError

pytestmark = [pytest.mark.model]

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("HFE_INFINITY_VENV") or ROOT / ".venv-infinity")
MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
UNKNOWN = "minilm"
START_TIMEOUT = 300.0

TEXTS = [
    "The cat sat on the mat.",
    "Paris is the capital of France.",
    "naïve café — résumé, crème brûlée",
    "日本語のテキストも埋め込めます。",
    "emoji 🚀✨ and symbols ©®",
    "line one\nline two\n\ttabbed",
    "a",
    *(f"sentence {i}: the quick brown fox jumps over the lazy dog" + " again" * (i % 5) for i in range(25)),
]
#: Eight inputs over 256 tokens (and over 128), between ordinary ones.
LONG = [f"long {i} " + "word " * (300 + 50 * i) for i in range(8)]
MIXED = [text for pair in zip(TEXTS[:8], LONG, strict=True) for text in pair]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cls_variant(model_path: str, folder: Path) -> Path:
    """The packaged weights with CLS pooling and max_seq_length 128: another model, in a local folder."""
    folder.mkdir()
    for entry in Path(model_path).iterdir():
        if entry.is_file() and entry.name != "sentence_bert_config.json":
            (folder / entry.name).symlink_to(entry)
    (folder / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": 128, "do_lower_case": False})
    )
    pooling = json.loads((Path(model_path) / "1_Pooling" / "config.json").read_text())
    pooling.update(pooling_mode_cls_token=True, pooling_mode_mean_tokens=False)
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    return folder


class Infinity:
    """An Infinity server process on loopback, serving ``models`` (name -> path)."""

    def __init__(self, models: dict[str, str], log: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [str(VENV / "bin" / "infinity_emb"), "v2"]
        for name, path in models.items():
            command += ["--model-id", path, "--served-model-name", name]
        command += ["--host", "127.0.0.1", "--port", str(self.port), "--device", "cpu", "--engine", "torch"]
        command += ["--no-model-warmup", "--log-level", "warning"]
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "INFINITY_ANONYMOUS_USAGE_STATS": "0",
            "DO_NOT_TRACK": "1",
            "OMP_NUM_THREADS": "1",
        }
        self._log = log.open("wb")
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        self.started = time.monotonic()
        self._wait(log)

    def _wait(self, log: Path) -> None:
        while time.monotonic() - self.started < START_TIMEOUT:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"Infinity exited with {self.process.returncode}:\n{log.read_text()[-4000:]}"
                )
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"Infinity did not start within {START_TIMEOUT:g} s:\n{log.read_text()[-4000:]}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


@pytest.fixture(scope="module")
def cls_model(model_path: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(_cls_variant(model_path, tmp_path_factory.mktemp("infinity") / "minilm-cls-128"))


@pytest.fixture(scope="module")
def infinity(model_path: str, cls_model: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infinity]:
    if not (VENV / "bin" / "infinity_emb").exists():
        reason = f"{VENV} is absent: build it with `bash scripts/infinity.sh` (scripts/test.sh does)"
        if os.environ.get("HFE_REQUIRE_INFINITY") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    log = tmp_path_factory.mktemp("infinity-log") / "infinity.log"
    server = Infinity({MODEL_ID: model_path, cls_model: cls_model, UNKNOWN: model_path}, log)
    try:
        yield server
    finally:
        server.stop()


def _openai(server: Infinity, suffix: str = "", **settings: Any) -> Embedder:
    settings.setdefault("max_retries", 0)
    return Embedder(mode="tei", route="openai", url=server.url + suffix, **settings)


def _local(model: str, **settings: Any) -> Embedder:
    return Embedder(model=model, device="cpu", batch_size=8, **settings)


@pytest.mark.parametrize("suffix", ["", "/embeddings"])
def test_vectors_equal_local_mode(infinity: Infinity, model_path: str, suffix: str) -> None:
    expected = _local(model_path).embed(TEXTS).embeddings
    got = _openai(infinity, suffix, model=MODEL_ID).embed(TEXTS).embeddings
    assert got.shape == expected.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(got, expected, atol=1e-5)  # padding differs: ~1e-8 in practice
    assert float(np.min(np.sum(got * expected, axis=1))) > 0.99999


def test_dimensions_are_sent_and_honoured(infinity: Infinity, model_path: str) -> None:
    expected = _local(model_path, dimensions=64).embed(TEXTS[:6]).embeddings
    got = _openai(infinity, model=MODEL_ID, dimensions=64).embed(TEXTS[:6]).embeddings
    assert got.shape == (6, 64)
    np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize("policy", ["truncate", "truncate_left", "chunk", "error"])
def test_long_inputs_under_each_truncation_policy(infinity: Infinity, model_path: str, policy: str) -> None:
    local, remote = (
        _local(model_path, truncation=policy),
        _openai(infinity, model=MODEL_ID, truncation=policy),
    )
    if policy == "error":
        with pytest.raises(InputTooLongError) as local_error:
            local.embed(MIXED)
        with pytest.raises(InputTooLongError) as remote_error:
            remote.embed(MIXED)
        assert remote_error.value.indices == local_error.value.indices == list(range(1, 16, 2))
        assert remote_error.value.max_tokens == local_error.value.max_tokens == 256
        return
    expected, got = local.embed(MIXED), remote.embed(MIXED)
    np.testing.assert_allclose(got.embeddings, expected.embeddings, atol=1e-5)
    assert (got.stats.truncated, got.stats.chunked) == (expected.stats.truncated, expected.stats.chunked)
    assert got.stats.truncated + got.stats.chunked == 8  # never silent
    assert got.stats.truncation_counted


def test_two_served_models_are_picked_by_model(infinity: Infinity, model_path: str, cls_model: str) -> None:
    mean = _openai(infinity, model=MODEL_ID).embed(MIXED[:6]).embeddings
    cls = _openai(infinity, model=cls_model).embed(MIXED[:6]).embeddings
    np.testing.assert_allclose(cls, _local(cls_model).embed(MIXED[:6]).embeddings, atol=1e-5)
    assert float(np.max(np.abs(cls - mean))) > 0.1  # another model's vectors, not the first one's
    limited = _openai(infinity, model=cls_model, truncation="error")
    assert limited.max_input_tokens == 128  # from that model's own folder
    with pytest.raises(InputTooLongError) as caught:
        limited.embed(["word " * 200])
    assert caught.value.max_tokens == 128
    with pytest.raises(ConfigurationError, match=r"serves 3 models .*: pass model="):
        _openai(infinity).embed(["a"])


def test_infinitys_own_error_bodies(infinity: Infinity, caplog: pytest.LogCaptureFixture) -> None:
    # An unknown model: 400 {"error": {"message": ..., "type": null, "code": 400}}
    with pytest.raises(RequestRejectedError) as caught:
        _openai(infinity, model="no-such-model").embed(["a"])
    message = str(caught.value)
    assert caught.value.status_code == 400
    assert caught.value.server_message.startswith("Invalid model: Engine for model name `no-such-model`")
    assert "Available model names are" in message and "Pass model=" in message and "{'" not in message
    # A text over Infinity's 122880 characters, where hfe knows no limit to cut it at: FastAPI's 422 list.
    unknown = _openai(infinity, model=UNKNOWN)
    huge = "word " * 30_000
    with caplog.at_level(logging.WARNING, logger="hfe"), pytest.raises(RequestRejectedError) as caught:
        unknown.embed([huge])
    assert caught.value.status_code == 422
    assert "String should have at most 122880 characters" in str(caught.value)
    assert "word word" not in str(caught.value)  # the echoed input is left out
    with caplog.at_level(logging.WARNING, logger="hfe"):
        unknown.embed(["a", "b"])
    said = [record.getMessage() for record in caplog.records if "cannot be enforced" in record.getMessage()]
    assert sum(f"model {UNKNOWN!r}" in line for line in said) == 1  # once, at WARNING
    with pytest.raises(ConfigurationError, match=r"truncation='error' needs the model's input limit"):
        _openai(infinity, model=UNKNOWN, truncation="error").embed(["a"])
    # A wrong path: {"detail": "Not Found"}, and a hint that names the path called.
    with pytest.raises(NotFoundError) as caught:
        _openai(infinity, "/v2", model=MODEL_ID).embed(["a"])
    assert f"hfe posted to {infinity.url}/v2/embeddings" in str(caught.value)
