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

import logging
import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from hfe_core import ConfigurationError, Embedder, InputTooLongError
from hfe_core.errors import NotFoundError, RequestRejectedError
from tests.infinity import LONG_TEXTS, ODD_TEXTS, VENV, Infinity, cls_variant

pytestmark = [pytest.mark.model]

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
UNKNOWN = "minilm"

TEXTS = [
    *ODD_TEXTS,
    *(f"sentence {i}: the quick brown fox jumps over the lazy dog" + " again" * (i % 5) for i in range(25)),
]
#: Eight inputs over 256 tokens (and over 128), between ordinary ones.
LONG = LONG_TEXTS
MIXED = [text for pair in zip(TEXTS[:8], LONG, strict=True) for text in pair]


@pytest.fixture(scope="module")
def cls_model(model_path: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(cls_variant(model_path, tmp_path_factory.mktemp("infinity") / "minilm-cls-128"))


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
