"""The TEI test server's re-ranker and SPLADE model types: ``/rerank``, ``/embed_sparse``, ``/info``.

The models are the tiny ones of ``tests/tiny_models.py`` (random weights from a config): their
scores mean nothing, so the server is checked against sentence-transformers on the same folder
(equal numbers), and against TEI's recorded ``/rerank`` answer for the shape and the tie order.
The client is httpx, never hfe.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml

from tests.integration.conftest import DATA
from tests.tei_server import TEIConfig, TEIServer

pytestmark = pytest.mark.model

VERSIONS = ("1.8.3", "1.9.3")
SNAPSHOT_REQUEST = {"query": "test", "texts": ["test", "other", "test"], "return_text": True}
"""The request of TEI's router/tests/test_http_rerank.rs (commit 6b79f203d4), answered by the snapshot."""
QUERY = "what is a cat"
TEXTS = ["a cat is a small animal", "the stock market fell", "cats purr", "test", "", "Paris is in France"]
SPARSE_TEXTS = ["test", "hello world", "a somewhat longer sentence about sparse retrieval"]
BATCH_LIMIT = 4
RERANKER = {"reranker": {"id2label": {"0": "LABEL_0"}, "label2id": {"LABEL_0": 0}}}
SPLADE = {"embedding": {"pooling": "splade"}}
MEAN = {"embedding": {"pooling": "mean"}}
MSG_NOT_RERANKER = "Backend error: model is not a re-ranker model"
MSG_NOT_SPLADE = "Backend error: Model is not an embedding model with SPLADE pooling"
MSG_NOT_EMBEDDING = "Backend error: Model is not an embedding model"
MSG_NORMALIZE = "Backend error: `normalize` is not available for SPLADE models"


def _status(version: str) -> int:
    """TEI's status for Validation errors."""
    return 422 if version.startswith("1.9") else 413


def _start(**settings: Any) -> TEIServer:
    return TEIServer(TEIConfig(**settings)).start()


@pytest.fixture(scope="module")
def rerankers(cross_encoder_path: str) -> Iterator[dict[str, TEIServer]]:
    """One re-ranker server per version (exact GELU, as sentence-transformers computes)."""
    started = {
        v: _start(
            version=v,
            model_type="reranker",
            model_path=cross_encoder_path,
            gelu="exact",
            max_client_batch_size=BATCH_LIMIT,
        )
        for v in VERSIONS
    }
    yield started
    for server in started.values():
        server.stop()


@pytest.fixture(scope="module")
def splades(sparse_encoder_path: str) -> Iterator[dict[str, TEIServer]]:
    """One SPLADE server per version (exact GELU)."""
    started = {
        v: _start(version=v, model_type="splade", model_path=sparse_encoder_path, gelu="exact")
        for v in VERSIONS
    }
    yield started
    for server in started.values():
        server.stop()


@pytest.fixture(scope="module")
def embedder() -> Iterator[TEIServer]:
    """An embedding-model server (hash vectors: no model compute needed here)."""
    server = _start(vectors="hash")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def cross_encoder(cross_encoder_path: str) -> Any:
    from sentence_transformers import CrossEncoder

    return CrossEncoder(cross_encoder_path, device="cpu")


@pytest.fixture(scope="module")
def sparse_encoder(sparse_encoder_path: str) -> Any:
    from sentence_transformers import SparseEncoder

    return SparseEncoder(sparse_encoder_path, device="cpu")


def _post(server: TEIServer, path: str, payload: Any) -> httpx.Response:
    return httpx.post(server.url + path, json=payload, timeout=60.0)


def _assert_tei_error(response: httpx.Response, status: int, error_type: str, message: str) -> None:
    assert response.status_code == status, response.text
    assert response.json() == {"error": message, "error_type": error_type}
    assert "x-compute-type" not in response.headers


def _load_rerank_snapshot() -> list[dict[str, Any]]:
    text = (DATA / "tei" / "test_http_rerank__ranks.snap").read_text(encoding="utf-8")
    ranks = yaml.safe_load(text.split("---", 2)[2])
    assert isinstance(ranks, list)
    return ranks


# --------------------------------------------------------------------------------------------
# /rerank
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_rerank_has_the_shape_and_tie_order_of_teis_recording(
    version: str, rerankers: dict[str, TEIServer]
) -> None:
    recorded = _load_rerank_snapshot()
    response = _post(rerankers[version], "/rerank", SNAPSHOT_REQUEST)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    ranks = response.json()
    assert len(ranks) == len(recorded) == 3
    for rank, expected in zip(ranks, recorded, strict=True):
        assert set(rank) == set(expected) == {"index", "score", "text"}
        assert list(rank) == ["index", "text", "score"]  # the field order of TEI's Rank struct
        assert type(rank["index"]) is int and type(rank["text"]) is str and type(rank["score"]) is float
        assert rank["text"] == SNAPSHOT_REQUEST["texts"][rank["index"]]
    scores = [rank["score"] for rank in ranks]
    assert scores == sorted(scores, reverse=True)
    by_index = {rank["index"]: rank["score"] for rank in ranks}
    assert by_index[0] == by_index[2]
    # equal scores come out in reverse input order (Rust: stable ascending sort, then reverse()),
    # as recorded: index 2 before index 0
    order = [rank["index"] for rank in ranks if rank["index"] != 1]
    assert order == [r["index"] for r in recorded if r["index"] != 1] == [2, 0]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("raw_scores", [False, True])
def test_rerank_scores_equal_the_cross_encoders(
    version: str, raw_scores: bool, rerankers: dict[str, TEIServer], cross_encoder: Any
) -> None:
    import torch

    texts = TEXTS[:BATCH_LIMIT]
    pairs = [(QUERY, text) for text in texts]
    if raw_scores:
        expected = cross_encoder.predict(pairs, activation_fn=torch.nn.Identity())
    else:
        expected = cross_encoder.predict(pairs)  # sigmoid: the default for one label
    response = _post(
        rerankers[version], "/rerank", {"query": QUERY, "texts": texts, "raw_scores": raw_scores}
    )
    assert response.status_code == 200, response.text
    ranks = response.json()
    assert sorted(rank["index"] for rank in ranks) == list(range(len(texts)))
    assert all(set(rank) == {"index", "score"} for rank in ranks)  # no text unless return_text
    scores = [rank["score"] for rank in ranks]
    assert scores == sorted(scores, reverse=True)
    got = np.array([next(r["score"] for r in ranks if r["index"] == i) for i in range(len(texts))])
    np.testing.assert_allclose(got, np.asarray(expected, dtype=np.float64), rtol=0, atol=1e-5)
    if not raw_scores:
        assert ((got > 0) & (got < 1)).all()
        assert [r["index"] for r in ranks] == list(np.argsort(-np.asarray(expected), kind="stable"))


def test_rerank_headers_and_return_text(rerankers: dict[str, TEIServer]) -> None:
    from tokenizers import Tokenizer

    server = rerankers["1.9.3"]
    texts = TEXTS[:3]
    response = _post(server, "/rerank", {"query": QUERY, "texts": texts, "return_text": True})
    assert response.status_code == 200, response.text
    assert {rank["index"]: rank["text"] for rank in response.json()} == dict(enumerate(texts))
    headers = response.headers
    assert headers["x-compute-type"] == "gpu+optimized"
    # server.rs rerank: the query counts once per text
    assert int(headers["x-compute-characters"]) == len(QUERY) * len(texts) + sum(len(t) for t in texts)
    tokenizer = Tokenizer.from_file(str(Path(server.config.model_path or "") / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    tokens = sum(len(tokenizer.encode(QUERY, text).ids) for text in texts)
    assert int(headers["x-compute-tokens"]) == tokens
    for name in ("x-compute-time", "x-total-time", "x-tokenization-time", "x-queue-time", "x-inference-time"):
        assert int(headers[name]) >= 0


@pytest.mark.parametrize("version", VERSIONS)
def test_rerank_batch_size_and_empty_texts(version: str, rerankers: dict[str, TEIServer]) -> None:
    server = rerankers[version]
    texts = [f"text {i}" for i in range(BATCH_LIMIT + 1)]
    _assert_tei_error(
        _post(server, "/rerank", {"query": "q", "texts": texts}),
        _status(version),
        "Validation",
        f"batch size {BATCH_LIMIT + 1} > maximum allowed batch size {BATCH_LIMIT}",
    )
    assert _post(server, "/rerank", {"query": "q", "texts": texts[:BATCH_LIMIT]}).status_code == 200
    _assert_tei_error(
        _post(server, "/rerank", {"query": "q", "texts": []}), 400, "Empty", "`texts` cannot be empty"
    )
    # an empty query and text: the core's Empty error, with its prefix
    _assert_tei_error(
        _post(server, "/rerank", {"query": "", "texts": ["a", ""]}),
        400,
        "Empty",
        "Input validation error: `inputs` cannot be empty",
    )


def test_rerank_request_parsing(rerankers: dict[str, TEIServer]) -> None:
    server = rerankers["1.8.3"]
    body = b'{"query": "q", "texts": ["a", 1]}'
    response = httpx.post(server.url + "/rerank", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == (  # serde_path_to_error's path; the column is that of the `1`
        "Failed to deserialize the JSON body into the target type: texts[1]: invalid type: integer `1`, "
        "expected a string at line 1 column 31"
    )
    response = _post(server, "/rerank", {"texts": ["a"]})
    assert response.status_code == 422
    assert "missing field `query`" in response.text
    # 1.8 knows only "Left"/"Right"; 1.9 also the lower-case aliases
    assert (
        _post(server, "/rerank", {"query": "q", "texts": ["a"], "truncation_direction": "left"}).status_code
        == 422
    )
    lower = {"query": "q", "texts": ["a"], "truncation_direction": "left"}
    assert _post(rerankers["1.9.3"], "/rerank", lower).status_code == 200


@pytest.mark.parametrize("version", VERSIONS)
def test_rerank_token_limit_truncation_and_default_prompt(version: str, cross_encoder_path: str) -> None:
    from tokenizers import Tokenizer

    query, text = "a query of several words", "and a text that is rather longer than the query is"
    tokenizer = Tokenizer.from_file(str(Path(cross_encoder_path) / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    n_tokens = len(tokenizer.encode(query, text).ids)
    settings = {"version": version, "model_type": "reranker", "model_path": cross_encoder_path}
    server = _start(max_input_length=16, auto_truncate=False, **settings)
    try:
        _assert_tei_error(
            _post(server, "/rerank", {"query": query, "texts": ["short", text]}),
            _status(version),
            "Validation",
            f"Input validation error: `inputs` must have less than 16 tokens. Given: {n_tokens}",
        )
        for direction in ("Left", "Right"):
            payload = {"query": query, "texts": [text], "truncate": True, "truncation_direction": direction}
            response = _post(server, "/rerank", payload)
            assert response.status_code == 200, response.text
            assert response.headers["x-compute-tokens"] == "16"
    finally:
        server.stop()
    # TEI refuses pairs when a default prompt is set (tokenization.rs: no prompt with dual inputs)
    server = _start(default_prompt="query: ", **settings)
    try:
        _assert_tei_error(
            _post(server, "/rerank", {"query": query, "texts": [text]}),
            _status(version),
            "Validation",
            "Input validation error: `prompt_name` cannot be set with dual inputs",
        )
    finally:
        server.stop()


@pytest.mark.parametrize("version", VERSIONS)
def test_rerank_permits(version: str, cross_encoder_path: str) -> None:
    """More texts than permits: 1.9 answers 429 (each text's try_acquire); 1.8 texts wait their turn."""
    server = _start(
        version=version, model_type="reranker", model_path=cross_encoder_path, max_concurrent_requests=2
    )
    try:
        response = _post(server, "/rerank", {"query": "q", "texts": ["a", "b", "c"]})
        if version.startswith("1.9"):
            _assert_tei_error(response, 429, "Overloaded", "Model is overloaded")
        else:
            assert response.status_code == 200, response.text
        assert server.stats.permits_in_use == 0
        assert _post(server, "/rerank", {"query": "q", "texts": ["a", "b"]}).status_code == 200
    finally:
        server.stop()


def test_rerank_fault_injection(cross_encoder_path: str) -> None:
    server = _start(model_type="reranker", model_path=cross_encoder_path, fail_429=1.0)
    try:
        _assert_tei_error(
            _post(server, "/rerank", {"query": "q", "texts": ["a"]}), 429, "Overloaded", "Model is overloaded"
        )
        assert server.stats.faults["429"] == 1
        server.config.fail_429 = 0.0  # live
        assert _post(server, "/rerank", {"query": "q", "texts": ["a"]}).status_code == 200
    finally:
        server.stop()


# --------------------------------------------------------------------------------------------
# /embed_sparse
# --------------------------------------------------------------------------------------------


def _assert_sparse_close(row: list[dict[str, Any]], dense: np.ndarray) -> None:
    """A ``/embed_sparse`` row equals a dense vector's non-zero values within 1e-5."""
    assert all(list(item) == ["index", "value"] for item in row)
    indices = [item["index"] for item in row]
    assert indices == sorted(indices)  # TEI lists the non-zero values by ascending index
    values = np.array([item["value"] for item in row])
    assert (values != 0).all()
    # the same non-zero positions, but for values within 1e-5 of zero (padding changes the last bits):
    # every value over 1e-5 is listed, and every listed value is within 1e-5 of the expected one
    assert set(np.flatnonzero(dense > 1e-5).tolist()) <= set(indices)
    np.testing.assert_allclose(values, dense[indices], rtol=0, atol=1e-5)


@pytest.mark.parametrize("version", VERSIONS)
def test_embed_sparse_equals_the_sparse_encoder(
    version: str, splades: dict[str, TEIServer], sparse_encoder: Any
) -> None:
    expected = sparse_encoder.encode(SPARSE_TEXTS, convert_to_tensor=True).to_dense().cpu().numpy()
    response = _post(splades[version], "/embed_sparse", {"inputs": SPARSE_TEXTS})
    assert response.status_code == 200, response.text
    assert response.headers["x-compute-type"] == "gpu+optimized"
    rows = response.json()
    assert len(rows) == len(SPARSE_TEXTS)
    for row, dense in zip(rows, expected, strict=True):
        _assert_sparse_close(row, dense)
        assert 10 <= len(row) <= 1000  # sparse, thanks to the tiny model's decoder bias
    single = _post(splades[version], "/embed_sparse", {"inputs": SPARSE_TEXTS[0]})
    assert single.status_code == 200
    (row,) = single.json()
    _assert_sparse_close(
        row, sparse_encoder.encode(SPARSE_TEXTS[:1], convert_to_tensor=True).to_dense()[0].numpy()
    )


def test_embed_sparse_limits(splades: dict[str, TEIServer]) -> None:
    for version, server in splades.items():
        limit = server.config.max_client_batch_size
        _assert_tei_error(
            _post(server, "/embed_sparse", {"inputs": ["x"] * (limit + 1)}),
            _status(version),
            "Validation",
            f"batch size {limit + 1} > maximum allowed batch size {limit}",
        )
        _assert_tei_error(
            _post(server, "/embed_sparse", {"inputs": ""}),
            400,
            "Empty",
            "Input validation error: `inputs` cannot be empty",
        )


# --------------------------------------------------------------------------------------------
# The model-type switch: /info, wrong routes, POST /
# --------------------------------------------------------------------------------------------


def test_info_model_type(
    embedder: TEIServer, rerankers: dict[str, TEIServer], splades: dict[str, TEIServer]
) -> None:
    assert httpx.get(embedder.url + "/info").json()["model_type"] == MEAN
    for server in rerankers.values():
        assert httpx.get(server.url + "/info").json()["model_type"] == RERANKER
    for server in splades.values():
        assert httpx.get(server.url + "/info").json()["model_type"] == SPLADE


def test_wrong_route_for_the_model_type(
    embedder: TEIServer, rerankers: dict[str, TEIServer], splades: dict[str, TEIServer]
) -> None:
    reranker, splade = rerankers["1.9.3"], splades["1.9.3"]
    rerank = {"query": "q", "texts": ["a"]}
    _assert_tei_error(_post(embedder, "/rerank", rerank), 424, "Backend", MSG_NOT_RERANKER)
    _assert_tei_error(_post(splade, "/rerank", rerank), 424, "Backend", MSG_NOT_RERANKER)
    _assert_tei_error(_post(embedder, "/embed_sparse", {"inputs": "a"}), 424, "Backend", MSG_NOT_SPLADE)
    _assert_tei_error(_post(reranker, "/embed_sparse", {"inputs": ["a"]}), 424, "Backend", MSG_NOT_SPLADE)
    _assert_tei_error(_post(reranker, "/embed", {"inputs": "a"}), 424, "Backend", MSG_NOT_EMBEDDING)
    _assert_tei_error(_post(splade, "/embed", {"inputs": "a"}), 424, "Backend", MSG_NORMALIZE)
    for server, message in ((reranker, MSG_NOT_EMBEDDING), (splade, MSG_NORMALIZE)):
        response = _post(server, "/v1/embeddings", {"input": "a"})
        assert response.status_code == 424
        assert response.json() == {"message": message, "code": 424, "type": "Backend"}
    # TEI's order: empty `texts` before the model type; `dimensions: 0` before "not an embedding model"
    _assert_tei_error(
        _post(embedder, "/rerank", {"query": "q", "texts": []}), 400, "Empty", "`texts` cannot be empty"
    )
    _assert_tei_error(
        _post(reranker, "/embed", {"inputs": "a", "dimensions": 0}),
        422,
        "Validation",
        "Input validation error: `dimensions` should be positive",
    )
    # a SPLADE model's /embed without normalization: the dense vocabulary-sized vector
    dense = _post(splade, "/embed", {"inputs": "test", "normalize": False})
    assert dense.status_code == 200
    sparse = _post(splade, "/embed_sparse", {"inputs": "test"}).json()[0]
    vector = np.asarray(dense.json()[0])
    assert vector.shape == (30522,)
    assert [item["index"] for item in sparse] == np.flatnonzero(vector).tolist()


def test_default_post_route_follows_the_model_type(
    embedder: TEIServer, rerankers: dict[str, TEIServer], splades: dict[str, TEIServer]
) -> None:
    for path in ("/", "/invocations"):
        ranks = _post(rerankers["1.9.3"], path, {"query": "q", "texts": ["a", "b"]}).json()
        assert sorted(rank["index"] for rank in ranks) == [0, 1]
        rows = _post(splades["1.9.3"], path, {"inputs": ["a"]}).json()
        assert set(rows[0][0]) == {"index", "value"}
        assert np.asarray(_post(embedder, path, {"inputs": ["a"]}).json()).shape == (1, 384)


def test_model_type_must_match_the_folder(cross_encoder_path: str, sparse_encoder_path: str) -> None:
    with pytest.raises(ValueError, match="model_type must be one of"):
        TEIConfig(model_type="classifier")
    with pytest.raises(ValueError, match="only for model_type='embedding'"):
        TEIConfig(model_type="reranker", vectors="hash")
    for model_type, path in (("splade", cross_encoder_path), ("embedding", cross_encoder_path)):
        with pytest.raises(RuntimeError) as info:
            _start(model_type=model_type, model_path=path)
        assert isinstance(info.value.__cause__, ValueError)
    with pytest.raises(RuntimeError, match="as a embedding model"):
        _start(model_type="reranker", model_path=sparse_encoder_path)


# --------------------------------------------------------------------------------------------
# tests/tiny_models.py
# --------------------------------------------------------------------------------------------


def test_tiny_models_load_back_and_are_deterministic(
    tmp_path: Path, cross_encoder: Any, sparse_encoder: Any
) -> None:
    from sentence_transformers import CrossEncoder, SparseEncoder

    from tests.tiny_models import build_cross_encoder, build_lexical_sparse_encoder, build_sparse_encoder

    pairs = [("a", "b"), ("what is a cat", "cats purr")]
    scores = cross_encoder.predict(pairs)
    assert scores.shape == (2,) and np.isfinite(scores).all()
    assert tuple(sparse_encoder.encode(["a"], convert_to_tensor=True).shape) == (1, 30522)
    # another folder: the same weights (fixed seed), each build well under 3 s
    start = time.perf_counter()
    other_ce = CrossEncoder(str(build_cross_encoder(tmp_path)), device="cpu")
    other_se = SparseEncoder(str(build_sparse_encoder(tmp_path)), device="cpu")
    assert time.perf_counter() - start < 6.0
    np.testing.assert_array_equal(other_ce.predict(pairs), scores)
    a = other_se.encode(SPARSE_TEXTS, convert_to_tensor=True).to_dense()
    b = sparse_encoder.encode(SPARSE_TEXTS, convert_to_tensor=True).to_dense()
    assert bool((a == b).all())
    assert build_cross_encoder(tmp_path) == tmp_path / "tiny-cross-encoder"  # cached
    # the lexical model: summed IDF of the shared word pieces
    corpus = ["the cat sat on the mat", "dogs chase the ball", "quantum chromodynamics is hard", "the sun"]
    lexical = SparseEncoder(str(build_lexical_sparse_encoder(tmp_path, corpus)), device="cpu")
    query = lexical.encode_query(["quantum physics"], convert_to_tensor=True).to_dense()
    documents = lexical.encode_document(corpus, convert_to_tensor=True).to_dense()
    similarity = (query @ documents.T)[0].tolist()
    assert similarity.index(max(similarity)) == 2
    assert similarity[0] == similarity[1] == similarity[3] == 0.0
    common = lexical.encode_document(["the"], convert_to_tensor=True).to_dense()
    rare = lexical.encode_document(["quantum"], convert_to_tensor=True).to_dense()
    assert 0 < float(common.sum()) < float(rare.sum())  # "the" is in 3 of 4 texts
