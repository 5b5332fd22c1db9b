"""route='openai' against any OpenAI-compatible embedding server: what hfe sends, and what it reads back.

The server is tests/hostile.py's loopback server, configured per test to answer as TEI (its ``/info``)
or as another OpenAI-compatible server (no ``/info``), with the error bodies and refusals those
servers send (vLLM's, Infinity's, FastAPI's, OpenAI's). A real third-party server, Infinity, runs in
tests/integration/test_infinity.py; this file covers what Infinity does not do (refuse base64,
refuse ``dimensions``, refuse a batch's size, list one model). Each test fails without its fix
(issue 15).
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hfe_core import ConfigurationError, Embedder, InputTooLongError
from hfe_core.backends.tei import model_input_limit
from hfe_core.errors import AuthenticationError, NotFoundError, RequestRejectedError, ServerError
from tests.hostile import HostileServer, Reply, Request, hashed_vector

NOT_TEI = Reply(404, {"detail": "Not Found"})  # FastAPI's 404: Infinity, vLLM


@pytest.fixture(params=["sync", "async"])
def embed(request: pytest.FixtureRequest) -> Any:
    """``embedder.embed(texts)`` or its async twin: both shells take the same decisions."""
    if request.param == "sync":
        return lambda embedder, texts: embedder.embed(texts)
    return lambda embedder, texts: asyncio.run(embedder.aembed(texts))


def _openai(url: str, **settings: Any) -> Embedder:
    settings.setdefault("max_retries", 0)
    return Embedder(mode="tei", route="openai", url=url, **settings)


def _not_tei(server: HostileServer, *paths: str) -> None:
    """Make ``server`` an OpenAI-compatible server that is not TEI, serving embeddings at ``paths``."""
    server.on("GET", "/info", NOT_TEI)
    server.routes.pop(("POST", "/v1/embeddings"))
    for path in paths:
        server.on("POST", path, server.openai_embed)


def _embedding_requests(server: HostileServer) -> list[Request]:
    return [request for request in server.requests if request.path.endswith("/embeddings")]


# -- where requests go: url= as the openai SDK's base_url, and TEI's root URL ---------------------------
@pytest.mark.parametrize(
    ("suffix", "posted"),
    [
        ("", "/v1/embeddings"),  # TEI's root URL keeps working: /info says TEI, so /v1
        ("/v1", "/v1/embeddings"),
        ("/v1/", "/v1/embeddings"),
        ("/v1/embeddings", "/v1/embeddings"),
        ("/embeddings", "/v1/embeddings"),
        ("/embed", "/v1/embeddings"),
    ],
)
def test_a_tei_server_is_reached_at_v1_whatever_the_spelling(
    hostile: HostileServer, suffix: str, posted: str
) -> None:
    _openai(hostile.url + suffix).embed(["a", "b"])
    assert [request.path for request in _embedding_requests(hostile)] == [posted]
    assert [request.path for request in hostile.requests if request.method == "GET"] == ["/info"]


@pytest.mark.parametrize(
    ("suffix", "posted"),
    [
        ("", "/embeddings"),  # Infinity's default: the URL as given, as the openai SDK takes base_url
        ("/embeddings", "/embeddings"),
        ("/v1", "/v1/embeddings"),  # vLLM, Ollama, llama.cpp, Infinity --url-prefix /v1
        ("/v1/embeddings", "/v1/embeddings"),
        ("/openai", "/openai/embeddings"),
    ],
)
def test_another_server_is_reached_at_the_url_as_given(
    hostile: HostileServer, suffix: str, posted: str
) -> None:
    _not_tei(hostile, posted)
    vectors = _openai(hostile.url + suffix, model="m").embed(["a", "b"]).embeddings
    assert [request.path for request in _embedding_requests(hostile)] == [posted]
    np.testing.assert_allclose(vectors, [hashed_vector("a", 8), hashed_vector("b", 8)], atol=1e-6)


def test_a_404_says_which_path_was_called_and_how_to_point_url_elsewhere(hostile: HostileServer) -> None:
    _not_tei(hostile, "/v1/embeddings")  # served under /v1 only, asked at the root
    with pytest.raises(NotFoundError) as caught:
        _openai(hostile.url, model="m").embed(["a"])
    message = str(caught.value)
    assert f"hfe posted to {hostile.url}/embeddings" in message
    assert "Check url=" in message and "http://host:8000/v1" in message and "route='native'" in message
    assert "Text Embeddings Inference server" not in message  # not "check that it is TEI"


# -- model= ---------------------------------------------------------------------------------------------
def test_model_is_the_users_when_given(hostile: HostileServer) -> None:
    hostile.info["served_model_name"] = "served-name"
    _openai(hostile.url, model="my-model").embed(["a"])
    _not_tei(hostile, "/embeddings")
    _openai(hostile.url, model="other-model").embed(["a"])
    assert [request.json["model"] for request in _embedding_requests(hostile)] == ["my-model", "other-model"]


def test_model_defaults_to_what_the_server_serves(hostile: HostileServer) -> None:
    hostile.info["served_model_name"] = "served-name"
    _openai(hostile.url).embed(["a"])  # TEI: its /info, as before
    _not_tei(hostile, "/embeddings")
    listed = {"object": "list", "data": [{"id": "only-model", "object": "model"}]}
    hostile.on("GET", "/models", Reply(200, listed))
    # The limit is looked for by the listed model's id, which reads /models: once, without deadlock.
    assert _within(10, lambda: _openai(hostile.url).max_input_tokens) is None  # "only-model": no files
    _openai(hostile.url).embed(["a"])  # another server: the one model /models lists
    assert [request.json.get("model") for request in _embedding_requests(hostile)] == [
        "served-name",
        "only-model",
    ]
    listed["data"].append({"id": "second-model", "object": "model"})
    with pytest.raises(
        ConfigurationError, match=r"serves 2 models \(only-model, second-model\): pass model="
    ):
        _openai(hostile.url).embed(["a"])
    hostile.on("GET", "/models", NOT_TEI)
    _openai(hostile.url).embed(["a"])  # no /models either: no model field, the server's default
    assert "model" not in _embedding_requests(hostile)[-1].json


def _within(seconds: float, call: Any) -> Any:
    """``call()``, failing the test (instead of hanging it) when it does not return within ``seconds``."""
    result: list[Any] = []
    worker = threading.Thread(target=lambda: result.append(call()), daemon=True)
    worker.start()
    worker.join(seconds)
    if not result:
        pytest.fail(f"no answer within {seconds} s (a deadlock?)")
    return result[0]


# -- error bodies, typed ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "body", "error", "said"),
    [
        # Infinity: an unknown model
        (
            400,
            {
                "error": {
                    "message": "Invalid model: `x` not found. Available: ['m']",
                    "type": None,
                    "code": 400,
                }
            },
            RequestRejectedError,
            "Invalid model: `x` not found. Available: ['m']",
        ),
        # vLLM: an unknown model
        (
            404,
            {
                "object": "error",
                "message": "The model `x` does not exist.",
                "type": "NotFoundError",
                "code": 404,
            },
            NotFoundError,
            "The model `x` does not exist.",
        ),
        # FastAPI's validation list (the echoed input is never kept: it may be a whole text)
        (
            422,
            {
                "detail": [
                    {
                        "type": "string_too_long",
                        "loc": ["body", "input", 0],
                        "msg": "String should have at most 10 characters",
                        "input": "the whole private text",
                    }
                ]
            },
            RequestRejectedError,
            "input.0: String should have at most 10 characters",
        ),
        (401, {"detail": "Not authenticated"}, AuthenticationError, "Not authenticated"),
        (
            500,
            {"error": {"message": "CUDA out of memory", "type": "server_error"}},
            ServerError,
            "CUDA out of memory",
        ),
        (500, {"message": "upstream failed"}, ServerError, "upstream failed"),
    ],
)
def test_openai_style_error_bodies_become_typed_errors(
    hostile: HostileServer, status: int, body: Any, error: type[Exception], said: str
) -> None:
    _not_tei(hostile)
    hostile.on("POST", "/embeddings", Reply(status, body))
    with pytest.raises(error) as caught:
        _openai(hostile.url, model="x").embed(["the whole private text"])
    raised = caught.value
    assert type(raised) is error
    assert raised.server_message == said  # type: ignore[attr-defined]
    assert said in str(raised)
    assert "{'" not in str(raised) and "the whole private text" not in str(raised)  # no dict repr, no input
    if "model" in said:
        assert "Pass model=" in str(raised)


# -- what a server refuses: base64, dimensions, a batch's size -------------------------------------------
def test_a_server_that_refuses_base64_gets_floats(hostile: HostileServer, embed: Any) -> None:
    _not_tei(hostile)

    def floats_only(request: Request) -> Reply:
        if request.json.get("encoding_format") != "float":
            detail = [
                {"loc": ["body", "encoding_format"], "msg": "Input should be 'float'", "input": "base64"}
            ]
            return Reply(422, {"detail": detail})
        return hostile.openai_embed(request)

    hostile.on("POST", "/embeddings", floats_only)
    embedder = _openai(hostile.url, model="m")
    first = embed(embedder, ["a", "b"]).embeddings
    embed(embedder, ["c"])
    formats = [request.json["encoding_format"] for request in _embedding_requests(hostile)]
    assert formats == ["base64", "float", "float"]  # asked once, then floats for good
    np.testing.assert_allclose(first, [hashed_vector("a", 8), hashed_vector("b", 8)], atol=1e-6)


def test_dimensions_are_sent_and_cut_client_side_when_refused(hostile: HostileServer) -> None:
    _not_tei(hostile)

    def no_matryoshka(request: Request) -> Reply:
        if "dimensions" in request.json:  # vLLM's answer for a model that is not Matryoshka
            message = (
                "Model does not support matryoshka representation, changing output dimensions will lead "
                "to poor results."
            )
            return Reply(400, {"object": "error", "message": message, "type": "BadRequestError", "code": 400})
        return hostile.openai_embed(request)

    hostile.on("POST", "/embeddings", no_matryoshka)
    vectors = _openai(hostile.url, model="m", dimensions=4).embed(["a", "b"]).embeddings
    # The dimension probe asks with dimensions once; after the refusal, never again.
    assert [request.json.get("dimensions") for request in _embedding_requests(hostile)] == [4, None, None]
    cut = np.asarray([hashed_vector("a", 8)[:4], hashed_vector("b", 8)[:4]])
    np.testing.assert_allclose(vectors, cut / np.linalg.norm(cut, axis=1, keepdims=True), atol=1e-6)


def test_a_refused_batch_size_is_halved_and_remembered(hostile: HostileServer, embed: Any) -> None:
    _not_tei(hostile)

    def at_most_8(request: Request) -> Reply:
        if len(request.json["input"]) > 8:
            return Reply(
                422, {"detail": f"batch of {len(request.json['input'])} inputs is over the limit of 8"}
            )
        return hostile.openai_embed(request)

    hostile.on("POST", "/embeddings", at_most_8)
    embedder = _openai(hostile.url, model="m")
    texts = [f"text {i}" for i in range(40)]
    vectors = embed(embedder, texts).embeddings  # batches of 32 (the default) and 8, halved to 8
    np.testing.assert_allclose(vectors, [hashed_vector(text, 8) for text in texts], atol=1e-6)
    assert embedder.backend.stats.split_for_payload == 3  # 32 -> 16 + 16 -> 8 + 8 + 8 + 8
    hostile.requests.clear()
    embed(embedder, texts)
    assert max(len(request.json["input"]) for request in _embedding_requests(hostile)) <= 8  # remembered
    with pytest.raises(RequestRejectedError, match="over the limit of 8"):  # one input refused: the error
        hostile.on("POST", "/embeddings", Reply(422, {"detail": "over the limit of 8"}))
        embed(embedder, ["x"])


def test_vectors_of_another_server_are_normalized(hostile: HostileServer) -> None:
    _not_tei(hostile)

    def unnormalized(request: Request) -> Reply:
        data = [
            {"object": "embedding", "index": i, "embedding": [3 * value for value in hashed_vector(text, 8)]}
            for i, text in enumerate(request.json["input"])
        ]
        return Reply(200, {"object": "list", "data": data})

    hostile.on("POST", "/embeddings", unnormalized)
    vectors = _openai(hostile.url, model="m").embed(["a", "b"]).embeddings
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)


# -- the input limit when the server does not report it ---------------------------------------------------
@pytest.fixture
def model_folder(tmp_path: Path, model_path: str) -> Path:
    """A model folder that says max_seq_length 16 (the packaged model's tokenizer)."""
    folder = tmp_path / "model-16"
    folder.mkdir()
    shutil.copy(Path(model_path) / "tokenizer.json", folder / "tokenizer.json")
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 16}))
    (folder / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 512}))
    return folder


def test_the_limit_is_read_from_the_models_files(hostile: HostileServer, model_folder: Path) -> None:
    _not_tei(hostile, "/embeddings")
    long = "word " * 40
    embedder = _openai(hostile.url, model=str(model_folder), truncation="error")
    assert embedder.max_input_tokens == 16
    with pytest.raises(InputTooLongError) as caught:
        embedder.embed(["short", long])
    assert caught.value.indices == [1] and caught.value.max_tokens == 16
    result = _openai(hostile.url, model=str(model_folder)).embed(["short", long])
    assert result.stats.truncated == 1  # counted, not silent
    (model_folder / "sentence_bert_config.json").unlink()
    assert model_input_limit(str(model_folder)) == (512, "model_max_length in tokenizer_config.json")
    (model_folder / "tokenizer_config.json").write_text(json.dumps({"model_max_length": int(1e30)}))
    assert model_input_limit(str(model_folder)) is None  # transformers' "no limit" is not a limit


def test_an_unknown_limit_is_said_once_and_refused_where_a_policy_needs_it(
    hostile: HostileServer, caplog: pytest.LogCaptureFixture
) -> None:
    _not_tei(hostile, "/embeddings")
    embedder = _openai(hostile.url, model="served-name-not-on-the-hub")
    with caplog.at_level(logging.WARNING, logger="hfe"):
        embedder.embed(["word " * 400])
        embedder.embed(["word " * 400])
    warnings = [
        record.getMessage() for record in caplog.records if "cannot be enforced" in record.getMessage()
    ]
    assert len(warnings) == 1 and "max_input_length=" in warnings[0]
    for policy in ("error", "chunk", "truncate_left"):
        with pytest.raises(ConfigurationError, match=rf"truncation='{policy}' needs the model's input limit"):
            _openai(hostile.url, model="served-name-not-on-the-hub", truncation=policy).embed(["a"])
        # The same policy given per call, to an embedder whose own policy is "truncate"
        with pytest.raises(ConfigurationError, match=rf"truncation='{policy}' needs the model's input limit"):
            embedder.embed(["a"], truncation=policy)


def test_the_max_input_length_setting_names_the_limit(hostile: HostileServer, model_folder: Path) -> None:
    _not_tei(hostile, "/embeddings")
    with pytest.raises(InputTooLongError) as caught:  # a name with no files: the setting is the limit
        _openai(hostile.url, model="x", truncation="error", max_input_length=4).embed(["word " * 40])
    assert caught.value.max_tokens == 4
    # Over the model's files too (a server started with a lower limit, as vLLM's --max-model-len)
    assert _openai(hostile.url, model=str(model_folder), max_input_length=8).max_input_tokens == 8
    assert _openai(hostile.url, model=str(model_folder)).max_input_tokens == 16
