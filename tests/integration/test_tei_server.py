"""The TEI-protocol test server (tests/tei_server) against TEI's own recordings and protocol notes.

The client here is httpx, never hfe: these tests pin the server, so that hfe's TEI mode can be
tested against it.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.integration.conftest import MODEL_ID, cosine, load_snapshot
from tests.tei_server import DROPPED, TEIConfig, TEIServer
from tests.tei_server.model import _apply_byte_limit

pytestmark = pytest.mark.model

REPO = Path(__file__).resolve().parents[2]
VERSIONS = ("1.8.3", "1.9.3")
TEXT_PLAIN = "text/plain; charset=utf-8"
LONG_TEXT = "hello " * 300  # 300 word tokens + [CLS] + [SEP]


def _status(version: str) -> int:
    """TEI's status for Validation errors."""
    return 422 if version.startswith("1.9") else 413


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, TEIServer]]:
    """One real-model server per version, default settings."""
    started = {v: TEIServer(TEIConfig(version=v)).start() for v in VERSIONS}
    try:
        yield started
    finally:
        for server in started.values():
            server.stop()


@pytest.fixture(params=VERSIONS)
def server(request: pytest.FixtureRequest, servers: dict[str, TEIServer]) -> TEIServer:
    """Each version's default server."""
    return servers[request.param]


@pytest.fixture(scope="module")
def s19(servers: dict[str, TEIServer]) -> TEIServer:
    """The 1.9.3 default server."""
    return servers["1.9.3"]


def _client(server: TEIServer, **kwargs: Any) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=60.0, **kwargs)


def _post(server: TEIServer, path: str, payload: Any = None, **kwargs: Any) -> httpx.Response:
    with _client(server) as client:
        if payload is not None:
            return client.post(path, json=payload, **kwargs)
        return client.post(path, **kwargs)


def _post_raw(
    server: TEIServer, path: str, body: bytes, content_type: str | None = "application/json"
) -> httpx.Response:
    headers = {"content-type": content_type} if content_type else {}
    with _client(server) as client:
        return client.post(path, content=body, headers=headers)


def _embed(server: TEIServer, inputs: Any, **params: Any) -> np.ndarray:
    response = _post(server, "/embed", {"inputs": inputs, **params})
    assert response.status_code == 200, response.text
    return np.asarray(response.json(), dtype=np.float32)


def _assert_close(actual: np.ndarray, expected: np.ndarray, atol: float = 2e-4) -> None:
    assert actual.shape == expected.shape
    for a, e in zip(actual, expected, strict=True):
        assert cosine(a, e) >= 0.9999
    assert float(np.abs(actual - expected).max()) < atol


def _assert_tei_error(response: httpx.Response, status: int, error_type: str, message: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"error": message, "error_type": error_type}
    assert "x-compute-type" not in response.headers


def _assert_plain(response: httpx.Response, status: int, body: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == TEXT_PLAIN
    assert response.text == body


@pytest.fixture(scope="module")
def tei_math_model(reference_model: Any) -> Any:
    """A copy of the reference model with the tanh GELU that TEI's candle backend uses for BERT."""
    import copy

    import torch

    model = copy.deepcopy(reference_model)
    for module in model.modules():
        for name, child in list(module.named_children()):
            if type(child).__name__ == "GELUActivation":
                setattr(module, name, torch.nn.GELU(approximate="tanh"))
    return model


def _direct(model: Any, ids: list[int]) -> np.ndarray:
    """A sentence-transformers module stack on given token ids (one sequence), normalized."""
    import torch

    tensor = torch.tensor([ids])
    features = {
        "input_ids": tensor,
        "attention_mask": torch.ones_like(tensor),
        "token_type_ids": torch.zeros_like(tensor),
    }
    with torch.inference_mode():
        vector = model[1](model[0](features))["sentence_embedding"][0].numpy()
    return vector / np.linalg.norm(vector)


def _word_ids(model_path: str, text: str) -> list[int]:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(Path(model_path) / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return list(tok.encode(text, add_special_tokens=False).ids)


# --------------------------------------------------------------------------------------------
# Vectors against TEI's recordings
# --------------------------------------------------------------------------------------------


def test_embed_matches_tei_snapshots(server: TEIServer) -> None:
    single = _embed(server, "test")
    batch = _embed(server, ["test"] * 5)
    mrl_single = _embed(server, "test", dimensions=128)
    mrl_batch = _embed(server, ["test"] * 3, dimensions=128)
    _assert_close(single, load_snapshot("test_http_embed__embeddings_single.snap"))
    _assert_close(batch, load_snapshot("test_http_embed__embeddings_batch.snap"))
    _assert_close(mrl_single, load_snapshot("test_http_embed__mrl_embeddings_single.snap"))
    _assert_close(mrl_batch, load_snapshot("test_http_embed__mrl_embeddings_batch.snap"))
    # the tanh GELU of TEI's candle backend makes the match much closer than the brief's bound
    assert float(np.abs(single - load_snapshot("test_http_embed__embeddings_single.snap")).max()) < 1e-5
    assert (
        float(np.abs(mrl_single - load_snapshot("test_http_embed__mrl_embeddings_single.snap")).max()) < 1e-5
    )


def test_embed_normalize_false_and_token_ids(s19: TEIServer, reference_model: Any) -> None:
    raw = _embed(s19, "test", normalize=False)
    unit = _embed(s19, "test")
    assert abs(float(np.linalg.norm(raw)) - 1.0) > 0.01
    _assert_close(raw / np.linalg.norm(raw), unit, atol=1e-6)
    # token ids [CLS] test [SEP] are decoded and re-encoded without new special tokens: same vector
    _assert_close(_embed(s19, [101, 3231, 102]), unit, atol=1e-6)
    mixed = _embed(s19, [[101, 3231, 102], "test"])
    _assert_close(mixed, np.vstack([unit, unit]), atol=1e-6)
    # and the reference (exact-GELU) sentence-transformers agrees within the usual tolerance
    from tests.integration.conftest import reference

    _assert_close(unit, reference(reference_model, ["test"]))


def test_metadata_headers(s19: TEIServer) -> None:
    response = _post(s19, "/embed", {"inputs": ["test", "héllo wörld"]})
    assert response.status_code == 200
    headers = response.headers
    assert headers["x-compute-type"] == "gpu+optimized"
    assert headers["x-compute-characters"] == str(4 + 11)
    assert headers["x-compute-tokens"] == str(3 + 4)
    for name in ("x-compute-time", "x-total-time", "x-tokenization-time", "x-queue-time", "x-inference-time"):
        assert headers[name].isdigit()


# --------------------------------------------------------------------------------------------
# /v1/embeddings
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/embeddings", "/embeddings"])
def test_openai_float_and_base64(s19: TEIServer, path: str) -> None:
    texts = ["test", "a second sentence"]
    expected = _embed(s19, texts)
    floats = _post(s19, path, {"input": texts, "model": "ignored"})
    b64 = _post(s19, path, {"input": texts, "encoding_format": "base64"})
    assert floats.status_code == b64.status_code == 200
    body = floats.json()
    assert body["object"] == "list"
    assert body["model"] == MODEL_ID
    assert [d["index"] for d in body["data"]] == [0, 1]
    assert all(d["object"] == "embedding" for d in body["data"])
    tokens = int(floats.headers["x-compute-tokens"])
    assert body["usage"] == {"prompt_tokens": tokens, "total_tokens": tokens} and tokens == 3 + 5
    as_float = np.asarray([d["embedding"] for d in body["data"]], dtype=np.float32)
    as_b64 = np.vstack(
        [np.frombuffer(base64.b64decode(d["embedding"]), dtype="<f4") for d in b64.json()["data"]]
    )
    np.testing.assert_array_equal(as_float, as_b64)
    np.testing.assert_array_equal(as_float, expected)
    dims = _post(s19, path, {"input": "test", "dimensions": 128}).json()["data"][0]["embedding"]
    _assert_close(
        np.asarray([dims], dtype=np.float32), load_snapshot("test_http_embed__mrl_embeddings_single.snap")
    )


@pytest.mark.parametrize("version", VERSIONS)
def test_openai_model_name_and_errors(version: str) -> None:
    config = TEIConfig(
        version=version, vectors="hash", served_model_name="my-served-name", max_client_batch_size=2
    )
    with TEIServer(config) as server:
        body = _post(server, "/v1/embeddings", {"input": "test"}).json()
        assert body["model"] == ("my-served-name" if version == "1.9.3" else MODEL_ID)
        response = _post(server, "/v1/embeddings", {"input": ["a", "b", "c"]})
        assert response.status_code == _status(version)
        assert response.json() == {
            "message": "batch size 3 > maximum allowed batch size 2",
            "code": _status(version),
            "type": "Validation",
        }
        response = _post(server, "/v1/embeddings", {"input": LONG_TEXT})
        if version == "1.9.3":  # auto_truncate: /v1 truncates
            assert response.status_code == 200
            assert response.json()["usage"]["prompt_tokens"] == 256
        else:
            assert response.status_code == 413
            assert response.json() == {
                "message": "Input validation error: `inputs` must have less than 256 tokens. Given: 302",
                "code": 413,
                "type": "Validation",
            }
        response = _post(server, "/v1/embeddings", {"input": []})
        assert response.status_code == 400
        assert response.json() == {
            "message": "Input validation error: `inputs` cannot be empty",
            "code": 400,
            "type": "Empty",
        }
        bad = _post(server, "/v1/embeddings", {"input": "x", "encoding_format": "Float"})
        assert bad.status_code == 422 and bad.headers["content-type"] == TEXT_PLAIN
        assert "encoding_format: unknown variant `Float`, expected `float` or `base64`" in bad.text


# --------------------------------------------------------------------------------------------
# /info, /health, routing, auth
# --------------------------------------------------------------------------------------------


def test_info(server: TEIServer) -> None:
    version = server.config.version
    with _client(server) as client:
        response = client.get("/info")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    expected: dict[str, Any] = {
        "model_id": MODEL_ID,
        "model_sha": None,
        "model_dtype": "float32",
        "model_type": {"embedding": {"pooling": "mean"}},
        "max_concurrent_requests": 512,
        "max_input_length": 256,
        "max_batch_tokens": 16384,
        "max_batch_requests": None,
        "max_client_batch_size": 32,
        "auto_truncate": version == "1.9.3",
        "tokenization_workers": server.app.tokenization_workers if server.app else None,
        "version": version,
        "sha": None,
        "docker_label": None,
    }
    if version == "1.9.3":
        expected["served_model_name"] = MODEL_ID
    assert response.json() == expected
    assert ("served_model_name" in response.json()) is (version == "1.9.3")


def test_health_routes_404_405(s19: TEIServer) -> None:
    with _client(s19) as client:
        for path in ("/health", "/", "/ping"):
            response = client.get(path)
            assert response.status_code == 200 and response.content == b""
        missing = client.get("/nope")
        assert missing.status_code == 404 and missing.content == b""
        assert client.post("/embed/extra", json={"inputs": "x"}).status_code == 404
        wrong = client.get("/embed")
        assert wrong.status_code == 405 and wrong.content == b""
        assert client.post("/info").status_code == 405
        assert client.put("/v1/embeddings").status_code == 405
    assert s19.stats.count("/nope", 404) >= 1


def test_unhealthy() -> None:
    with TEIServer(TEIConfig(vectors="hash", healthy=False)) as server, _client(server) as client:
        response = client.get("/health")
        assert response.status_code == 503
        assert response.json() == {"error": "unhealthy", "error_type": "Unhealthy"}
        server.config.healthy = True  # live setting
        assert client.get("/health").status_code == 200


def test_auth() -> None:
    with TEIServer(TEIConfig(vectors="hash", api_key="secret")) as server, _client(server) as client:
        good = {"Authorization": "Bearer secret"}
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "secret"}):
            response = client.post("/embed", json={"inputs": "x"}, headers=headers)
            assert response.status_code == 401 and response.content == b""
            assert client.get("/info", headers=headers).status_code == 401
            assert client.post("/tokenize", json={"inputs": "x"}, headers=headers).status_code == 401
            assert client.post("/v1/embeddings", json={"input": "x"}, headers=headers).status_code == 401
        # auth comes before the body is parsed, routing before auth
        malformed = client.post("/embed", content=b"{", headers={"content-type": "application/json"})
        assert malformed.status_code == 401
        assert client.get("/nope").status_code == 404
        assert client.get("/embed").status_code == 405
        assert client.get("/health").status_code == 200
        assert client.post("/embed", json={"inputs": "x"}, headers=good).status_code == 200
        assert client.get("/info", headers=good).status_code == 200


# --------------------------------------------------------------------------------------------
# Handler errors (A.5.2)
# --------------------------------------------------------------------------------------------


def test_validation_errors(server: TEIServer) -> None:
    version = server.config.version
    status = _status(version)
    response = _post(server, "/embed", {"inputs": ["a"] * 33})
    _assert_tei_error(response, status, "Validation", "batch size 33 > maximum allowed batch size 32")
    response = _post(server, "/embed", {"inputs": LONG_TEXT, "truncate": False})
    _assert_tei_error(
        response,
        status,
        "Validation",
        "Input validation error: `inputs` must have less than 256 tokens. Given: 302",
    )
    response = _post(server, "/embed", {"inputs": "a" * 64001, "truncate": False})
    _assert_tei_error(
        response,
        status,
        "Validation",
        "Input validation error: `inputs` must have less than 64000 characters. Given: 64001",
    )
    response = _post(server, "/embed", {"inputs": "test", "prompt_name": "query"})
    _assert_tei_error(
        response,
        status,
        "Validation",
        "Input validation error: `default-prompt-name` is set to `query` but no prompts were found in the "
        "Sentence Transformers configuration",
    )
    response = _post(server, "/embed", {"inputs": "test", "dimensions": 0})
    _assert_tei_error(
        response, status, "Validation", "Input validation error: `dimensions` should be positive"
    )
    response = _post(server, "/embed", {"inputs": "test", "dimensions": 385})
    _assert_tei_error(
        response,
        status,
        "Validation",
        "Input validation error: `dimensions` should be smaller than the maximum embedding dimension.",
    )
    # the first failing item of a batch decides the answer
    response = _post(server, "/embed", {"inputs": ["ok", LONG_TEXT, ""], "truncate": False})
    assert response.json()["error_type"] == "Validation"


def test_empty_inputs(server: TEIServer) -> None:
    message = "Input validation error: `inputs` cannot be empty"
    for inputs in ("", [], ["a", ""], [[]], [[101, 102], []]):
        _assert_tei_error(_post(server, "/embed", {"inputs": inputs}), 400, "Empty", message)


def test_auto_truncate_defaults(server: TEIServer) -> None:
    response = _post(server, "/embed", {"inputs": LONG_TEXT})  # truncate: null -> auto_truncate
    if server.config.version == "1.9.3":
        assert response.status_code == 200
        assert response.headers["x-compute-tokens"] == "256"
    else:
        assert response.status_code == 413
        assert response.json()["error_type"] == "Validation"
    explicit = _post(server, "/embed", {"inputs": LONG_TEXT, "truncate": True})
    assert explicit.status_code == 200 and explicit.headers["x-compute-tokens"] == "256"


# --------------------------------------------------------------------------------------------
# Framework errors (A.5.3): plain text
# --------------------------------------------------------------------------------------------


def test_framework_errors(server: TEIServer) -> None:
    # payload limit (2,000,000 bytes by default), checked after the content type
    big = json.dumps({"inputs": "x" * 2_000_100}).encode()
    _assert_plain(
        _post_raw(server, "/embed", big), 413, "Failed to buffer the request body: length limit exceeded"
    )
    # content type
    expected_415 = "Expected request with `Content-Type: application/json`"
    _assert_plain(_post_raw(server, "/embed", b'{"inputs":"x"}', "text/plain"), 415, expected_415)
    _assert_plain(_post_raw(server, "/embed", b'{"inputs":"x"}', None), 415, expected_415)
    _assert_plain(_post_raw(server, "/embed", big, "text/plain"), 415, expected_415)
    assert (
        _post_raw(server, "/embed", b'{"inputs":"x"}', "application/json; charset=utf-8").status_code == 200
    )
    assert _post_raw(server, "/embed", b'{"inputs":"x"}', "application/vnd.api+json").status_code == 200
    # malformed JSON: 400
    _assert_plain(
        _post_raw(server, "/embed", b'{"inputs": "test"'),
        400,
        "Failed to parse the request body as JSON: EOF while parsing an object at line 1 column 17",
    )
    _assert_plain(
        _post_raw(server, "/embed", b""),
        400,
        "Failed to parse the request body as JSON: EOF while parsing a value at line 1 column 0",
    )
    _assert_plain(
        _post_raw(server, "/embed", b"not json"),
        400,
        "Failed to parse the request body as JSON: expected ident at line 1 column 2",
    )
    # wrong shape: 422
    prefix = "Failed to deserialize the JSON body into the target type: "
    _assert_plain(
        _post_raw(server, "/embed", b"{}"), 422, prefix + "missing field `inputs` at line 1 column 2"
    )
    _assert_plain(
        _post_raw(server, "/embed", b'{"inputs":5}'),
        422,
        prefix + "inputs: data did not match any variant of untagged enum Input at line 1 column 12",
    )
    _assert_plain(
        _post_raw(server, "/embed", b'{"inputs":"x","normalize":"yes"}'),
        422,
        prefix + 'normalize: invalid type: string "yes", expected a boolean at line 1 column 31',
    )
    _assert_plain(
        _post_raw(server, "/embed", b'{"inputs":"x","dimensions":-1}'),
        422,
        prefix + "dimensions: invalid value: integer `-1`, expected usize at line 1 column 29",
    )
    # unknown fields are ignored
    assert _post(server, "/embed", {"inputs": "x", "unknown": [1, {"a": None}]}).status_code == 200


def test_truncation_direction_versions(server: TEIServer) -> None:
    prefix = "Failed to deserialize the JSON body into the target type: "
    body = b'{"inputs":"x","truncation_direction":"left"}'
    for direction in ("Left", "Right"):
        assert _post(server, "/embed", {"inputs": "x", "truncation_direction": direction}).status_code == 200
    if server.config.version == "1.9.3":
        assert _post_raw(server, "/embed", body).status_code == 200
        assert _post(server, "/embed", {"inputs": "x", "truncation_direction": "right"}).status_code == 200
    else:
        _assert_plain(
            _post_raw(server, "/embed", body),
            422,
            prefix
            + "truncation_direction: unknown variant `left`, expected `Left` or `Right` at line 1 column 43",
        )
    response = _post(server, "/embed", {"inputs": "x", "truncation_direction": "LEFT"})
    assert response.status_code == 422 and response.headers["content-type"] == TEXT_PLAIN
    assert response.text.startswith(prefix + "truncation_direction: unknown variant `LEFT`, expected ")


# --------------------------------------------------------------------------------------------
# Truncation and the character limit against a direct computation
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("direction", ["Right", "Left"])
def test_truncation_matches_direct_computation(
    s19: TEIServer, tei_math_model: Any, reference_model: Any, model_path: str, direction: str
) -> None:
    text = " ".join(f"word{i} token{i % 7}" for i in range(200))
    ids = _word_ids(model_path, text)
    assert len(ids) > 254
    kept = ids[:254] if direction == "Right" else ids[-254:]
    response = _post(s19, "/embed", {"inputs": text, "truncate": True, "truncation_direction": direction})
    assert response.status_code == 200
    assert response.headers["x-compute-tokens"] == "256"
    actual = np.asarray(response.json(), dtype=np.float32)
    _assert_close(actual, _direct(tei_math_model, [101, *kept, 102])[None, :], atol=1e-5)
    # exact-GELU sentence-transformers: same tokens, ~3e-4 apart on a long input
    _assert_close(actual, _direct(reference_model, [101, *kept, 102])[None, :], atol=1e-3)
    other = ids[-254:] if direction == "Right" else ids[:254]
    assert cosine(response.json()[0], _direct(tei_math_model, [101, *other, 102])) < 0.99


def test_char_limit_cuts_before_token_truncation(
    s19: TEIServer, tei_math_model: Any, model_path: str
) -> None:
    head = "alpha " * 10_667  # 64,002 characters: the limit (256 * 250 = 64,000) cuts inside it
    text = head + "omega zeta " * 40
    response = _post(s19, "/embed", {"inputs": text, "truncate": True, "truncation_direction": "Left"})
    assert response.status_code == 200
    cut_ids = _word_ids(model_path, text[:64_000])
    expected = _direct(tei_math_model, [101, *cut_ids[-254:], 102])
    _assert_close(np.asarray(response.json(), dtype=np.float32), expected[None, :], atol=1e-5)
    uncut = _direct(tei_math_model, [101, *_word_ids(model_path, text)[-254:], 102])
    assert cosine(response.json()[0], uncut) < 0.99
    # characters, not bytes, are counted; the cut itself is at a byte offset, as Rust's truncate
    assert _apply_byte_limit("é" * 10, 4) == "éé"
    assert _apply_byte_limit("é" * 10, 3) == "é" * 10  # not a char boundary: Rust leaves it whole
    assert _apply_byte_limit("abc", 10) == "abc"


# --------------------------------------------------------------------------------------------
# Prompts
# --------------------------------------------------------------------------------------------


def test_prompts() -> None:
    prompts = {"query": "query: ", "passage": "passage: "}
    with TEIServer(TEIConfig(prompts=prompts)) as server:
        with_prompt = _post(server, "/embed", {"inputs": "what is x", "prompt_name": "query"})
        by_hand = _post(server, "/embed", {"inputs": "query: what is x"})
        np.testing.assert_allclose(with_prompt.json(), by_hand.json(), atol=1e-6)
        assert with_prompt.headers["x-compute-tokens"] == by_hand.headers["x-compute-tokens"] == "7"
        assert with_prompt.headers["x-compute-characters"] == str(len("what is x"))
        _assert_tei_error(
            _post(server, "/embed", {"inputs": "x", "prompt_name": "nope"}),
            422,
            "Validation",
            "Input validation error: `default-prompt-name` is set to `nope` but it was not found in the "
            'Sentence Transformers prompts. Available prompts: ["query", "passage"]',
        )
        tokens = _post(server, "/tokenize", {"inputs": "hi", "prompt_name": "query"}).json()[0]
        assert [t["text"] for t in tokens] == ["[CLS]", "query", ":", "hi", "[SEP]"]
        assert (tokens[3]["start"], tokens[3]["stop"]) == (7, 9)
    hashed = TEIConfig(prompts=prompts, vectors="hash")
    with TEIServer(hashed.copy(default_prompt_name="query")) as server, TEIServer(hashed) as plain:
        default = _post(server, "/embed", {"inputs": "what is x"})
        assert default.json() == _post(plain, "/embed", {"inputs": "query: what is x"}).json()
        explicit = _post(server, "/embed", {"inputs": "what is x", "prompt_name": "passage"})
        assert explicit.json() == _post(plain, "/embed", {"inputs": "passage: what is x"}).json()
        openai = _post(server, "/v1/embeddings", {"input": "what is x"}).json()  # the default applies
        assert openai["data"][0]["embedding"] == default.json()[0]
    with pytest.raises(RuntimeError, match="was not found in the Sentence Transformers prompts"):
        TEIServer(TEIConfig(prompts=prompts, default_prompt_name="nope", vectors="hash")).start()


# --------------------------------------------------------------------------------------------
# /tokenize and /decode
# --------------------------------------------------------------------------------------------


def test_tokenize(s19: TEIServer) -> None:
    response = _post(s19, "/tokenize", {"inputs": "test"})
    assert response.status_code == 200
    assert response.json() == [
        [
            {"id": 101, "text": "[CLS]", "special": True, "start": None, "stop": None},
            {"id": 3231, "text": "test", "special": False, "start": 0, "stop": 4},
            {"id": 102, "text": "[SEP]", "special": True, "start": None, "stop": None},
        ]
    ]
    assert not [h for h in response.headers if h.startswith("x-")]
    batch = _post(s19, "/tokenize", {"inputs": ["héllo wörld", "a"], "add_special_tokens": False}).json()
    assert [[(t["text"], t["start"], t["stop"]) for t in seq] for seq in batch] == [
        [("héllo", 0, 5), ("wörld", 6, 11)],
        [("a", 0, 1)],
    ]
    _assert_tei_error(
        _post(s19, "/tokenize", {"inputs": ""}),
        400,
        "Empty",
        "Input validation error: `inputs` cannot be empty",
    )
    _assert_tei_error(
        _post(s19, "/tokenize", {"inputs": ["a"] * 33}),
        422,
        "Validation",
        "batch size 33 > maximum allowed batch size 32",
    )
    assert _post(s19, "/decode", {"ids": [101, 3231, 102]}).json() == ["test"]
    assert _post(s19, "/decode", {"ids": [[101, 3231, 102]], "skip_special_tokens": False}).json() == [
        "[CLS] test [SEP]"
    ]


# --------------------------------------------------------------------------------------------
# Concurrency permits
# --------------------------------------------------------------------------------------------


def _wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.005)


def _timed_post(server: TEIServer, payload: Any) -> tuple[httpx.Response, float]:
    start = time.monotonic()
    response = _post(server, "/embed", payload)
    return response, time.monotonic() - start


def test_permits_v19_batch_fails_at_once() -> None:
    config = TEIConfig(version="1.9.3", vectors="hash", max_concurrent_requests=4, ms_per_token=40)
    with TEIServer(config) as server, ThreadPoolExecutor(4) as pool:
        holder = pool.submit(_timed_post, server, {"inputs": ["a b", "c d", "e f"]})  # 3 permits, ~0.5 s
        _wait_for(lambda: server.stats.permits_in_use == 3)
        response, elapsed = _timed_post(server, {"inputs": ["x", "y"]})
        _assert_tei_error(response, 429, "Overloaded", "Model is overloaded")
        assert elapsed < 0.3
        single = pool.submit(_timed_post, server, {"inputs": "z"})  # the last free permit
        assert holder.result()[0].status_code == 200
        assert single.result()[0].status_code == 200
        assert server.stats.max_permits_in_use == 4


def test_permits_v18_batch_waits() -> None:
    config = TEIConfig(version="1.8.3", vectors="hash", max_concurrent_requests=4, ms_per_token=40)
    with TEIServer(config) as server, ThreadPoolExecutor(4) as pool:
        holder = pool.submit(_timed_post, server, {"inputs": ["a b", "c d", "e f"]})
        _wait_for(lambda: server.stats.permits_in_use == 3)
        response, elapsed = _timed_post(server, {"inputs": ["x", "y"]})  # waits for a permit
        assert response.status_code == 200
        assert elapsed > 0.3
        assert holder.result()[0].status_code == 200
        # a single input does not wait: 429 when no permit is free
        holder = pool.submit(_timed_post, server, {"inputs": ["a b", "c d", "e f", "g h"]})
        _wait_for(lambda: server.stats.permits_in_use == 4)
        _assert_tei_error(_post(server, "/embed", {"inputs": "z"}), 429, "Overloaded", "Model is overloaded")
        assert holder.result()[0].status_code == 200
        # a batch larger than all permits still completes on 1.8 (items take turns)
        server.config.ms_per_token = 0  # live setting
        assert _post(server, "/embed", {"inputs": [f"w{i}" for i in range(10)]}).status_code == 200


# --------------------------------------------------------------------------------------------
# Fault injection, startup delay, stats, restart, CLI
# --------------------------------------------------------------------------------------------


def _fault_run(server: TEIServer, n: int) -> list[int | str]:
    outcomes: list[int | str] = []
    with _client(server) as client:
        for i in range(n):
            try:
                response = client.post("/embed", json={"inputs": f"text {i}"})
            except httpx.RemoteProtocolError:
                outcomes.append("drop")
                continue
            outcomes.append(response.status_code)
            if response.status_code == 429:
                assert response.json() == {"error": "Model is overloaded", "error_type": "Overloaded"}
            elif response.status_code == 503:
                assert response.json() == {"error": "unhealthy", "error_type": "Unhealthy"}
    return outcomes


def test_fault_injection_is_seeded() -> None:
    config = TEIConfig(
        vectors="hash",
        seed=7,
        fail_429=0.1,
        fail_503=0.1,
        drop_connection=0.05,
        slow_fraction=0.1,
        slow_ms=20,
    )
    with TEIServer(config) as server:
        first = _fault_run(server, 200)
        counts = Counter(first)
        assert 8 <= counts[429] <= 35
        assert 8 <= counts[503] <= 35
        assert 2 <= counts["drop"] <= 20
        assert counts[200] == 200 - counts[429] - counts[503] - counts["drop"]
        faults = server.stats.snapshot()["faults"]
        assert (
            faults["429"] == counts[429] and faults["503"] == counts[503] and faults["drop"] == counts["drop"]
        )
        assert 5 <= faults["slow"] <= 35
        assert server.stats.count("/embed", DROPPED) == counts["drop"]
        server.reseed()
        assert _fault_run(server, 200) == first
        server.reseed(8)
        assert _fault_run(server, 200) != first
        # live toggling
        server.config.fail_429 = server.config.fail_503 = server.config.drop_connection = 0.0
        assert set(_fault_run(server, 20)) == {200}


def test_startup_delay_refuses_then_accepts() -> None:
    server = TEIServer(TEIConfig(vectors="hash", startup_delay_s=1.0))
    start = time.monotonic()
    server.start()
    try:
        with pytest.raises(httpx.ConnectError):
            httpx.get(server.url + "/health", timeout=2.0)
        server.wait_ready(30)
        assert time.monotonic() - start >= 1.0
        assert httpx.get(server.url + "/health", timeout=5.0).status_code == 200
    finally:
        server.stop()


def test_in_flight_stats_and_restart() -> None:
    with TEIServer(TEIConfig(vectors="hash", latency_ms=300)) as server:
        with ThreadPoolExecutor(5) as pool:
            results = list(
                pool.map(lambda i: _post(server, "/embed", {"inputs": [f"a{i}", f"b{i}"]}), range(5))
            )
        assert [r.status_code for r in results] == [200] * 5
        stats = server.stats
        assert stats.max_in_flight_requests == 5
        assert stats.max_in_flight_inputs == 10
        assert stats.in_flight_requests == stats.in_flight_inputs == 0
        assert stats.inputs_embedded == 10 and stats.batch_sizes == [2] * 5
        assert stats.count("/embed", 200) == 5
        stats.reset()
        assert stats.snapshot()["inputs_embedded"] == 0 and stats.max_in_flight_requests == 0
        port = server.port
        server.config.latency_ms = 0
        server.restart()
        assert server.port == port
        assert _post(server, "/embed", {"inputs": "x"}).status_code == 200
        server.stop()
        with pytest.raises(httpx.ConnectError):
            httpx.get(server.url + "/health", timeout=2.0)
        server.start()
        assert httpx.get(server.url + "/health", timeout=5.0).status_code == 200


def test_stop_mid_request_does_not_hang() -> None:
    server = TEIServer(TEIConfig(vectors="hash", latency_ms=5000, shutdown_timeout_s=0.2)).start()
    errors: list[BaseException] = []

    def call() -> None:
        try:
            _post(server, "/embed", {"inputs": "x"})
        except httpx.HTTPError as exc:
            errors.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    _wait_for(lambda: server.stats.in_flight_requests == 1)
    start = time.monotonic()
    server.stop()
    thread.join(10)
    assert time.monotonic() - start < 5
    assert errors  # the client saw the connection go


def test_command_line() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.tei_server",
            "--port",
            "0",
            "--vectors",
            "hash",
            "--version",
            "1.8.3",
            "--api-key",
            "k",
            "--max-client-batch-size",
            "4",
            "--auto-truncate",
            "true",
            "--stats-route",
            "/__stats",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("listening on http://127.0.0.1:"), line
        url = line.removeprefix("listening on ")
        info = httpx.get(url + "/info", headers={"Authorization": "Bearer k"}, timeout=10).json()
        assert (
            info["version"] == "1.8.3"
            and info["max_client_batch_size"] == 4
            and info["auto_truncate"] is True
        )
        assert "served_model_name" not in info
        stats = httpx.get(url + "/__stats", timeout=10).json()
        assert stats["requests"] == {"/info": {"200": 1}}
    finally:
        process.terminate()
        process.communicate(timeout=20)
    assert process.returncode == 0


def test_fallback_json_writer_matches_orjson(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.tei_server import server as server_module

    with TEIServer(TEIConfig(vectors="hash")) as server:
        requests = [
            ("/embed", {"inputs": ["a", "b"]}),
            ("/embed", {"inputs": "a", "dimensions": 5}),
            ("/v1/embeddings", {"input": ["a", "b"]}),
            ("/v1/embeddings", {"input": ["a", "b"], "encoding_format": "base64"}),
        ]
        fast = [_post(server, path, payload) for path, payload in requests]
        monkeypatch.setattr(server_module, "orjson", None)
        slow = [_post(server, path, payload) for path, payload in requests]
    for a, b in zip(fast, slow, strict=True):
        assert a.status_code == b.status_code == 200
        assert a.json() == b.json()
