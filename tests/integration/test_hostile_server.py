"""hfe against a server that misbehaves on purpose (tests/hostile.py), sync and async.

One test (or parametrized family) per defect of issue 11; each fails without its fix:
trickled and stalled answers, echoed credentials, bad 200 answers, mixed dimensions, wrong
``/info`` types, redirects, empty strings, lone surrogates, generators, cancelled calls and
clients left behind by ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from hfe_core import Embedder
from hfe_core.errors import (
    AuthenticationError,
    EmbeddingError,
    EmbeddingTimeoutError,
    HfeError,
    NotFoundError,
    ResponseFormatError,
    ServerError,
)
from tests.hostile import HostileServer, Reply, Request, echo_headers, hashed_vector

SECRET = "hf_EchoedSecretToken0123456789"

Embed = Callable[[Embedder, list[str]], Any]


def _sync(embedder: Embedder, texts: list[str]) -> Any:
    return embedder.embed(texts)


def _async(embedder: Embedder, texts: list[str]) -> Any:
    return asyncio.run(embedder.aembed(texts))


@pytest.fixture(params=["sync", "async"])
def embed(request: pytest.FixtureRequest) -> Embed:
    return _sync if request.param == "sync" else _async


def _tei(server: HostileServer, **settings: Any) -> Embedder:
    settings.setdefault("max_retries", 0)
    return Embedder(mode="tei", url=server.url, **settings)


def _everything_said(error: BaseException) -> str:
    """Every text an exception carries: message, repr, attributes, chain, formatted traceback, pickle."""
    parts = [str(error), repr(error), repr(error.args), repr(vars(error))]
    parts += traceback.format_exception(error)
    parts.append(repr(pickle.loads(pickle.dumps(error)).__dict__) if isinstance(error, HfeError) else "")
    return "\n".join(parts)


# -- time limits that hold ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "reply",
    [
        pytest.param({"trickle": 0.25}, id="trickled-body"),
        pytest.param({"stall": 30.0}, id="stalled-before-headers"),
        pytest.param({"stall_body": 30.0}, id="stalled-after-headers"),
    ],
)
def test_timeout_covers_the_whole_request(
    hostile: HostileServer, embed: Embed, reply: dict[str, float]
) -> None:
    # The trickled answer (~150 bytes, one every 0.25 s) would take ~40 s, each read well under the
    # timeout: only a deadline on the whole request stops it.
    hostile.on("POST", "/embed", lambda request: Reply(200, hostile.vectors(request.json["inputs"]), **reply))
    with pytest.raises(EmbeddingTimeoutError) as caught:
        embed(_tei(hostile, timeout=1.0), ["slow"])
    assert isinstance(caught.value, TimeoutError)
    assert caught.value.failed_indices == [0]
    assert "timeout=1 s" in str(caught.value)


def test_a_timed_out_batch_keeps_the_other_batches(hostile: HostileServer, embed: Embed) -> None:
    def answer(request: Request) -> Reply:
        texts = request.json["inputs"]
        return Reply(200, hostile.vectors(texts), trickle=0.25 if "slow" in texts else 0.0)

    hostile.on("POST", "/embed", answer)
    with pytest.raises(EmbeddingTimeoutError) as caught:
        embed(_tei(hostile, timeout=1.0, batch_size=1), ["fast one", "slow", "fast two"])
    partial = caught.value.partial_embeddings
    assert caught.value.failed_indices == [1]
    assert partial[1] is None
    assert np.allclose(partial[0], hashed_vector("fast one", hostile.dim), atol=1e-6)
    assert np.allclose(partial[2], hashed_vector("fast two", hostile.dim), atol=1e-6)


# -- echoed secrets ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [400, 401, 403, 500])
@pytest.mark.parametrize("as_json", [True, False], ids=["json", "text"])
def test_an_echoed_key_is_in_no_error(
    hostile: HostileServer, embed: Embed, status: int, as_json: bool
) -> None:
    hostile.on("POST", "/embed", echo_headers(status, as_json=as_json))
    with pytest.raises(EmbeddingError) as caught:
        embed(_tei(hostile, api_key=SECRET), ["hello"])
    said = _everything_said(caught.value)
    assert "[REDACTED]" in said  # the echo arrived, scrubbed
    assert SECRET not in said
    if isinstance(caught.value, AuthenticationError):
        assert SECRET not in (caught.value.server_message or "")


def test_an_echoed_key_is_in_no_log_line(hostile: HostileServer, caplog: pytest.LogCaptureFixture) -> None:
    answers = iter([echo_headers(503), lambda request: Reply(200, hostile.vectors(request.json["inputs"]))])
    hostile.on("POST", "/embed", lambda request: next(answers)(request))
    with caplog.at_level(logging.DEBUG, logger="hfe"):
        _tei(hostile, api_key=SECRET, max_retries=1).embed(["hello"])
    assert any("retrying" in record.getMessage() for record in caplog.records)
    assert "[REDACTED]" in caplog.text
    assert SECRET not in caplog.text


def test_an_echoed_url_password_is_scrubbed(hostile: HostileServer, embed: Embed) -> None:
    hostile.on("POST", "/embed", echo_headers(500))
    url = hostile.url.replace("http://", "http://user:pa55-w0rd-secret@")
    with pytest.raises(ServerError) as caught:
        embed(Embedder(mode="tei", url=url, max_retries=0), ["hello"])
    assert "pa55-w0rd-secret" not in _everything_said(caught.value)


def test_an_echoing_info_route_leaks_nothing(hostile: HostileServer) -> None:
    hostile.on("GET", "/info", echo_headers(500))
    with pytest.raises(ServerError) as caught:
        _tei(hostile, api_key=SECRET).embed(["hello"])
    assert SECRET not in _everything_said(caught.value)


# -- redirects ---------------------------------------------------------------------------------------------
def test_a_redirect_is_not_followed_and_says_where_it_went(hostile: HostileServer, embed: Embed) -> None:
    with HostileServer() as elsewhere:
        hostile.on("POST", "/embed", Reply(307, b"", {"location": elsewhere.url + "/embed"}))
        with pytest.raises(NotFoundError) as caught:
            embed(_tei(hostile, api_key=SECRET), ["hello"])
        assert elsewhere.requests == []  # the key never went to the other server
    assert elsewhere.url in str(caught.value) and "redirect" in str(caught.value)


# -- bad input, defined ------------------------------------------------------------------------------------
def test_an_empty_string_costs_no_neighbour_its_vector(hostile: HostileServer, embed: Embed) -> None:
    # The server refuses "" like TEI ("Empty"); hfe sends a single space instead.
    result = embed(_tei(hostile), ["first", "", "third"])
    assert result.embeddings.shape == (3, hostile.dim)
    sent = [text for request in hostile.sent("/embed") for text in request.json["inputs"]]
    assert "" not in sent and " " in sent
    assert np.allclose(result.embeddings[0], hashed_vector("first", hostile.dim), atol=1e-6)


def test_lone_surrogates_are_replaced_and_named(
    hostile: HostileServer, embed: Embed, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="hfe"):
        result = embed(_tei(hostile), ["fine", "broken \ud800 text", "fine too"])
    assert result.embeddings.shape == (3, hostile.dim)
    sent = [text for request in hostile.sent("/embed") for text in request.json["inputs"]]
    assert "broken \ufffd text" in sent
    assert "texts[1]" in caplog.text and "U+FFFD" in caplog.text


def test_a_generator_shows_the_real_error(embed: Embed) -> None:
    unreachable = Embedder(mode="tei", url="http://127.0.0.1:9", max_retries=0)
    with pytest.raises(ServerError) as caught:
        embed(unreachable, (text for text in ["a", "b"]))  # type: ignore[arg-type]
    assert caught.value.failed_indices == [0, 1]


# -- resources ---------------------------------------------------------------------------------------------
def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_repeated_asyncio_run_leaks_no_client(hostile: HostileServer) -> None:
    embedder = _tei(hostile)
    asyncio.run(embedder.aembed(["warm up"]))
    before = _open_descriptors()
    for number in range(40):
        asyncio.run(embedder.aembed([f"call {number}"]))
    # Before the fix every run left its client (and a socket) behind: 40 more descriptors.
    assert _open_descriptors() - before < 5
    assert len(embedder.backend._async_clients) <= 1  # type: ignore[attr-defined]


# -- cancelled calls ---------------------------------------------------------------------------------------
def test_a_cancelled_call_keeps_its_slots_until_the_server_is_done(hostile: HostileServer) -> None:
    def answer(request: Request) -> Reply:
        texts = request.json["inputs"]
        slow = any(text.startswith("slow") for text in texts)
        return Reply(200, hostile.vectors(texts), stall=1.0 if slow else 0.0)

    hostile.on("POST", "/embed", answer)
    embedder = _tei(hostile, max_concurrency=2, batch_size=1)

    async def scenario() -> Any:
        call = asyncio.ensure_future(embedder.aembed([f"slow {i}" for i in range(6)]))
        await asyncio.sleep(0.3)  # two slow requests are now on the server
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        return await embedder.aembed([f"fast {i}" for i in range(4)])

    result = asyncio.run(scenario())
    assert result.embeddings.shape == (4, hostile.dim)
    # Without the fix the cancelled call's slots were freed at once: 2 abandoned + 2 new = 4.
    assert hostile.max_in_flight <= 2


# -- answers that are wrong never become vectors -----------------------------------------------------------
BAD_ANSWERS = {
    "beyond-float32": lambda texts, dim: [[1e39] * dim for _ in texts],
    "nan-like-null": lambda texts, dim: [[None] * dim for _ in texts],
    "booleans": lambda texts, dim: [[True] * dim for _ in texts],
    "a-boolean-among-floats": lambda texts, dim: [[0.5] * (dim - 1) + [False] for _ in texts],
    "zero-length": lambda texts, dim: [[] for _ in texts],
    "one-vector-short": lambda texts, dim: [[0.5] * dim for _ in texts[1:]],
    "strings": lambda texts, dim: [["0.5"] * dim for _ in texts],
    "not-json": lambda texts, dim: "<html>gateway</html>",
}


@pytest.mark.parametrize("name", list(BAD_ANSWERS))
def test_a_bad_200_answer_is_a_response_format_error(hostile: HostileServer, embed: Embed, name: str) -> None:
    make = BAD_ANSWERS[name]

    def answer(request: Request) -> Reply:
        texts = request.json["inputs"]
        body = make(texts, hostile.dim) if "bad" in texts[0] else hostile.vectors(texts)
        return Reply(200, body.encode() if isinstance(body, str) else body)

    hostile.on("POST", "/embed", answer)
    with pytest.raises(ResponseFormatError) as caught:
        embed(_tei(hostile, batch_size=2), ["good one", "good two", "bad one", "bad two"])
    assert "/embed (2 inputs)" in str(caught.value)  # names the request
    assert sorted(caught.value.failed_indices) == [2, 3]
    partial = caught.value.partial_embeddings
    assert partial[2] is None and partial[3] is None
    assert np.allclose(partial[0], hashed_vector("good one", hostile.dim), atol=1e-6)


@pytest.mark.parametrize("name", ["beyond-float32", "booleans", "zero-length"])
def test_bad_answers_on_the_openai_route(hostile: HostileServer, embed: Embed, name: str) -> None:
    make = BAD_ANSWERS[name]

    def answer(request: Request) -> Reply:
        rows = make(request.json["input"], hostile.dim)
        return Reply(200, {"data": [{"index": i, "embedding": row} for i, row in enumerate(rows)]})

    hostile.on("POST", "/v1/embeddings", answer)
    with pytest.raises(ResponseFormatError):
        embed(_tei(hostile, route="openai"), ["a", "b"])


def test_a_batch_of_another_dimension_keeps_the_others(hostile: HostileServer, embed: Embed) -> None:
    hostile.on_embed(lambda texts, call: [hashed_vector(t, 8 if call == 0 else 4) for t in texts])
    with pytest.raises(ResponseFormatError) as caught:
        embed(_tei(hostile, batch_size=2, max_concurrency=1), ["aaaa", "bbbb", "cc", "dd"])
    assert isinstance(caught.value, ValueError)
    assert sorted(caught.value.failed_indices) == [2, 3]
    kept = caught.value.partial_embeddings
    assert len(kept[0]) == 8 and len(kept[1]) == 8 and kept[2] is None
    assert "dimension 4" in str(caught.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_input_length", "256"), ("max_client_batch_size", True), ("max_batch_tokens", -1), ("model_id", 7)],
)
def test_info_with_wrong_types_names_the_field(
    hostile: HostileServer, embed: Embed, field: str, value: Any
) -> None:
    hostile.info[field] = value
    with pytest.raises(ResponseFormatError) as caught:
        embed(_tei(hostile), ["hello"])
    assert field in str(caught.value)
    assert caught.value.failed_indices == [0]
