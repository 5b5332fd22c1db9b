"""A dedicated endpoint (``mode="endpoint"``, ``url=``) whose server answers the serverless shapes.

Not every Inference Endpoint runs TEI: the default image wraps its vectors in ``{"embeddings": ...}``,
an old sentence-transformers server answers a flat ``(dim,)`` vector for one input, and a model that
is not a sentence-embedding model answers per-token arrays, ragged when the texts have different token
counts (the router's real answer for facebook/bart-base is ``[[1x3x768], [1x7x768]]``). The server
here is a small HTTP server on 127.0.0.1 answering those shapes; every vector is checked against the
mean of the token vectors it sent (normalized when normalize is on), sync and async.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import numpy as np
import pytest

from hfe_core import Embedder, ResponseFormatError, TokenLevelOutputError
from hfe_core.backends.endpoint import DedicatedEndpointBackend

SAME_LENGTH = ["alpha beta gamma", "delta epsilon zeta", "eta theta iota", "kappa lambda mu"]
RAGGED = ["one", "two words", "three words here", "now four words here", "and then five words here"]
HIDDEN = 4


def _tokens(text: str) -> list[list[float]]:
    """The per-token vectors the server answers for a text: one per word, HIDDEN values each."""
    return [
        [float(len(word)), float(position + 1), float(sum(map(ord, word)) % 11 - 5), 0.25]
        for position, word in enumerate(text.split())
    ]


def _mean(text: str) -> list[float]:
    return np.asarray(_tokens(text), dtype=np.float32).mean(axis=0, dtype=np.float64).tolist()  # type: ignore[no-any-return]


def _answer(style: str, texts: list[str]) -> Any:
    """What a server of each kind answers for ``texts``."""
    if style == "flat":  # one input: a flat (dim,) vector; several: (n, dim)
        return _mean(texts[0]) if len(texts) == 1 else [_mean(text) for text in texts]
    if style == "wrapped":  # the default Inference Endpoints image (sentence-transformers)
        return {"embeddings": [_mean(text) for text in texts]}
    if style in ("tokens", "ragged"):  # (n, tokens, hidden); ragged when token counts differ
        return [_tokens(text) for text in texts]
    if style == "ragged4":  # (n, 1, tokens_i, hidden), as the router answers for facebook/bart-base
        return [[_tokens(text)] for text in texts]
    if style == "wrapped_tokens":
        return {"embeddings": [_tokens(text) for text in texts]}
    if style == "overflow":  # a value beyond float32: it would become inf
        return [[*_mean(text)[:-1], 1e39] for text in texts]
    if style == "booleans":
        return [[*_mean(text)[:-1], True] for text in texts]
    raise AssertionError(style)


class _Handler(BaseHTTPRequestHandler):
    server: _ShapeServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self._send(404, {"error": "Not Found"})  # no /info: not TEI

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        inputs = body["inputs"]
        texts = [inputs] if isinstance(inputs, str) else list(inputs)
        self.server.batches.append(texts)
        self._send(200, _answer(self.server.style, texts))


class _ShapeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.style = "flat"
        self.batches: list[list[str]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture(scope="module")
def shape_server() -> Iterator[_ShapeServer]:
    server = _ShapeServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _serving(server: _ShapeServer, style: str) -> str:
    server.style = style
    server.batches.clear()
    return server.url


def _expected(texts: list[str], *, normalize: bool) -> np.ndarray:
    vectors = np.asarray([_mean(text) for text in texts], dtype=np.float32).astype(np.float64)
    if normalize:
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


async def _embed(embedder: Embedder, texts: list[str], *, asynchronous: bool) -> np.ndarray:
    if len(texts) == 1:
        vector = await embedder.aembed_query(texts[0]) if asynchronous else embedder.embed_query(texts[0])
        return np.asarray([vector])
    if asynchronous:
        return np.asarray(await embedder.aembed_documents(texts))
    return np.asarray(embedder.embed_documents(texts))


# -- sentence answers in other shapes ------------------------------------------------------------------
@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize(
    ("style", "texts"),
    [("flat", SAME_LENGTH[:1]), ("flat", SAME_LENGTH), ("wrapped", RAGGED), ("wrapped", RAGGED[:1])],
)
async def test_sentence_vectors_in_other_shapes(
    shape_server: _ShapeServer, style: str, texts: list[str], asynchronous: bool
) -> None:
    embedder = Embedder(mode="endpoint", url=_serving(shape_server, style))
    vectors = await _embed(embedder, texts, asynchronous=asynchronous)
    # normalize is on by default, and an image that is not TEI ignores the flag: hfe normalizes.
    np.testing.assert_allclose(vectors, _expected(texts, normalize=True), rtol=1e-5, atol=1e-7)
    assert shape_server.batches  # the answers did come from this server


# -- per-token answers: pooled with pooling="mean", else TokenLevelOutputError ------------------------
TOKEN_STYLES = [
    ("tokens", SAME_LENGTH),
    ("tokens", SAME_LENGTH[:1]),
    ("ragged", RAGGED),
    ("ragged4", RAGGED),
    ("ragged4", RAGGED[:1]),
    ("wrapped_tokens", RAGGED),
]


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("normalize", [True, False], ids=["normalized", "raw"])
@pytest.mark.parametrize(("style", "texts"), TOKEN_STYLES)
async def test_per_token_answers_are_pooled_with_pooling_mean(
    shape_server: _ShapeServer, style: str, texts: list[str], normalize: bool, asynchronous: bool
) -> None:
    url = _serving(shape_server, style)
    embedder = Embedder(mode="endpoint", url=url, pooling="mean", normalize=normalize)
    vectors = await _embed(embedder, texts, asynchronous=asynchronous)
    np.testing.assert_allclose(vectors, _expected(texts, normalize=normalize), rtol=1e-5, atol=1e-7)
    assert sorted(text for batch in shape_server.batches for text in batch) == sorted(texts)


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize(("style", "texts"), TOKEN_STYLES)
async def test_per_token_answers_without_pooling_raise_token_level_output_error(
    shape_server: _ShapeServer, style: str, texts: list[str], asynchronous: bool
) -> None:
    embedder = Embedder(mode="endpoint", url=_serving(shape_server, style))
    with pytest.raises(TokenLevelOutputError, match="pooling='mean'") as caught:
        await _embed(embedder, texts, asynchronous=asynchronous)
    assert caught.value.partial_embeddings in ([], [None] * len(texts))  # no vector was built


# -- bad values: no vector is built -------------------------------------------------------------------------
@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize(
    ("style", "message"),
    [("overflow", r"1e\+39 is beyond float32's range"), ("booleans", r"true is not a number")],
)
async def test_bad_values_from_an_endpoint_are_refused(
    shape_server: _ShapeServer, style: str, message: str, asynchronous: bool
) -> None:
    embedder = Embedder(mode="endpoint", url=_serving(shape_server, style), pooling="mean")
    with pytest.raises(ResponseFormatError, match=message) as caught:
        await _embed(embedder, SAME_LENGTH, asynchronous=asynchronous)
    assert caught.value.partial_embeddings in ([], [None] * len(SAME_LENGTH))


# -- the reading hook itself (what TEIBackend._parse calls once it calls _read) -------------------------
def test_the_read_hook_reads_every_shape_and_the_openai_route() -> None:
    native = Embedder(mode="endpoint", url="http://127.0.0.1:9", pooling="mean", normalize=False).backend
    assert isinstance(native, DedicatedEndpointBackend)
    for style in ("flat", "wrapped", "tokens", "ragged", "ragged4", "wrapped_tokens"):
        texts = SAME_LENGTH[:1] if style == "flat" else SAME_LENGTH
        response = httpx.Response(200, content=json.dumps(_answer(style, texts)).encode())
        np.testing.assert_allclose(
            native._read(response, len(texts)), _expected(texts, normalize=False), rtol=1e-6
        )
    strict = Embedder(mode="endpoint", url="http://127.0.0.1:9").backend
    assert isinstance(strict, DedicatedEndpointBackend)
    with pytest.raises(
        TokenLevelOutputError, match=r"http://127.0.0.1:9/embed \(2 inputs\) answered per-token"
    ):
        strict._read(httpx.Response(200, content=json.dumps(_answer("ragged", RAGGED[:2])).encode()), 2)
    with pytest.raises(ResponseFormatError, match=r"input 0, position 3: true is not a number"):
        strict._read(httpx.Response(200, content=json.dumps(_answer("booleans", RAGGED[:2])).encode()), 2)

    openai = Embedder(mode="endpoint", url="http://127.0.0.1:9", route="openai").backend
    assert isinstance(openai, DedicatedEndpointBackend)
    vectors = np.asarray([[0.6, 0.8], [1.0, 0.0]], dtype="<f4")
    data = [
        {"object": "embedding", "embedding": base64.b64encode(vectors[1].tobytes()).decode(), "index": 1},
        {"object": "embedding", "embedding": vectors[0].tolist(), "index": 0},
    ]
    answer = httpx.Response(200, content=json.dumps({"object": "list", "data": data}).encode())
    np.testing.assert_array_equal(openai._read(answer, 2), vectors)
    data[0]["embedding"] = base64.b64encode(np.asarray([np.nan, 1.0], dtype="<f4").tobytes()).decode()
    answer = httpx.Response(200, content=json.dumps({"object": "list", "data": data}).encode())
    with pytest.raises(ResponseFormatError, match=r"/v1/embeddings \(2 inputs\).*input 1, position 0: NaN"):
        openai._read(answer, 2)
