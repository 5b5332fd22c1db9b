"""Reranker and SparseEmbedder against a server that misbehaves on purpose (tests/hostile.py).

Each test replaces ``/rerank`` or ``/embed_sparse`` by a handler that answers what a broken or
hostile server might: bad shapes, inf scores, echoed credentials, 429/503 storms, another model
type in ``/info``. hfe must answer with exact results or a typed error, never a rank or a vector
built from a bad answer, and no credential anywhere.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import threading
from collections import Counter
from typing import Any

import pytest

from hfe_core import (
    ConfigurationError,
    EmbeddingTimeoutError,
    InputTooLongError,
    Rank,
    Reranker,
    ResponseFormatError,
    SparseEmbedder,
)
from tests.hostile import HostileServer, Reply, Request, echo_headers


def _score(query: str, text: str) -> float:
    """A deterministic score: shared words over all words (what the handlers below answer)."""
    words, other = set(query.split()), set(text.split())
    return len(words & other) / max(1, len(words | other)) + len(text) * 1e-6


def rerank_like_tei(request: Request) -> Reply:
    """``/rerank`` as TEI answers it: every text once, sorted by score, best first."""
    body = request.json
    ranks = [{"index": i, "score": _score(body["query"], text)} for i, text in enumerate(body["texts"])]
    return Reply(200, sorted(ranks, key=lambda rank: -rank["score"]))


def _weights(text: str) -> dict[int, float]:
    """A deterministic sparse vector: how many distinct words of each length."""
    return {
        length: float(count) for length, count in Counter(len(word) for word in set(text.split())).items()
    }


def sparse_like_tei(request: Request) -> Reply:
    """``/embed_sparse`` as TEI answers it: the non-zero weights of each input."""
    inputs = request.json["inputs"]
    return Reply(200, [[{"index": k, "value": v} for k, v in _weights(text).items()] for text in inputs])


def expected(query: str, texts: list[str]) -> list[Rank]:
    return sorted(
        (Rank(i, _score(query, text)) for i, text in enumerate(texts)), key=lambda rank: -rank.score
    )


TEXTS = [f"document {i} about {'cats' if i % 3 else 'dogs and cats'} number {i}" for i in range(70)]


@pytest.fixture
def tei(hostile: HostileServer) -> HostileServer:
    hostile.on("POST", "/rerank", rerank_like_tei)
    hostile.on("POST", "/embed_sparse", sparse_like_tei)
    return hostile


def test_texts_over_the_batch_limit_are_split_and_merged_in_one_order(tei: HostileServer) -> None:
    reranker = Reranker(mode="tei", url=tei.url)
    ranks = reranker.rerank("dogs and cats", TEXTS, top_n=10)
    assert ranks == expected("dogs and cats", TEXTS)[:10]
    sizes = sorted(len(request.json["texts"]) for request in tei.sent("/rerank"))
    assert sizes == [23, 23, 24]  # max_client_batch_size=32 of /info: three requests of even sizes


def test_sync_rerank_keeps_several_requests_in_flight(tei: HostileServer) -> None:
    def slow(request: Request) -> Reply:
        reply = rerank_like_tei(request)
        reply.stall = 0.2
        return reply

    tei.on("POST", "/rerank", slow)
    tei.on("POST", "/embed_sparse", lambda request: Reply(**{**vars(sparse_like_tei(request)), "stall": 0.2}))
    texts = TEXTS * 2  # 140 texts: 5 requests
    assert Reranker(mode="tei", url=tei.url, max_concurrency=3).rerank("cats", texts) == expected(
        "cats", texts
    )
    assert tei.max_in_flight == 3  # the sync call used max_concurrency, and no more
    tei.max_in_flight = 0
    assert len(SparseEmbedder(mode="tei", url=tei.url, max_concurrency=2).embed_documents(texts)) == 140
    assert tei.max_in_flight == 2


def test_async_gives_the_same_ranks(tei: HostileServer) -> None:
    reranker = Reranker(mode="tei", url=tei.url)
    assert asyncio.run(reranker.arerank("dogs and cats", TEXTS)) == expected("dogs and cats", TEXTS)


def test_ten_percent_429_and_503_give_exact_ordered_results(tei: HostileServer) -> None:
    chance = random.Random(16)  # noqa: S311 - fault injection, not cryptography
    lock = threading.Lock()
    faults = {"rerank": 0, "sparse": 0}

    def flaky(handler: Any, name: str) -> Any:
        def handle(request: Request) -> Reply:
            with lock:
                roll = chance.random()
            if roll < 0.1:
                faults[name] += 1
                status = 429 if roll < 0.05 else 503
                return Reply(
                    status, {"error": "overloaded", "error_type": "Overloaded"}, {"retry-after": "0"}
                )
            return handler(request)

        return handle

    tei.on("POST", "/rerank", flaky(rerank_like_tei, "rerank"))
    tei.on("POST", "/embed_sparse", flaky(sparse_like_tei, "sparse"))
    reranker = Reranker(mode="tei", url=tei.url, max_retries=20)
    sparse = SparseEmbedder(mode="tei", url=tei.url, max_retries=20)
    texts = TEXTS * 3
    for round_ in range(6):
        query = f"about cats number {round_}"
        assert reranker.rerank(query, texts) == expected(query, texts)
        assert asyncio.run(reranker.arerank(query, texts)) == expected(query, texts)
        vectors = sparse.embed_documents(texts)
        assert vectors == [_weights(text) for text in texts]
    assert faults["rerank"] > 5 and faults["sparse"] > 0  # the faults did happen


@pytest.mark.parametrize(
    "answer",
    [
        [{"index": 0, "score": math.inf}, {"index": 1, "score": 0.5}],
        [{"index": 0, "score": 0.5}],
        [{"index": 0, "score": 0.5}, {"index": 0, "score": 0.4}],
        {"ranks": [{"index": 0, "score": 0.5}, {"index": 1, "score": 0.4}]},
        [{"index": 0, "score": None}, {"index": 1, "score": 0.4}],
    ],
)
def test_a_bad_rerank_answer_is_a_typed_error_and_no_rank(tei: HostileServer, answer: Any) -> None:
    tei.on("POST", "/rerank", Reply(200, answer))
    with pytest.raises(ResponseFormatError, match=r"/rerank \(2 texts\)"):
        Reranker(mode="tei", url=tei.url).rerank("q", ["a", "b"])


def test_a_bad_sparse_answer_is_a_typed_error(tei: HostileServer) -> None:
    tei.on("POST", "/embed_sparse", Reply(200, [[{"index": 1, "value": "inf"}], []]))
    with pytest.raises(ResponseFormatError, match="value='inf'"):
        SparseEmbedder(mode="tei", url=tei.url).embed_documents(["a", "b"])


@pytest.mark.parametrize(
    ("model_type", "cls", "served"),
    [
        ({"embedding": {"pooling": "mean"}}, Reranker, "an embedding model (mean pooling)"),
        ({"embedding": {"pooling": "splade"}}, Reranker, "a sparse (SPLADE) embedding model"),
        ({"reranker": {"id2label": {"0": "LABEL_0"}}}, SparseEmbedder, "a re-ranker model"),
        ({"embedding": {"pooling": "cls"}}, SparseEmbedder, "an embedding model (cls pooling)"),
    ],
)
def test_another_model_type_is_refused_before_any_task_request(
    tei: HostileServer, model_type: dict[str, Any], cls: type[Any], served: str
) -> None:
    tei.info["model_type"] = model_type
    target = cls(mode="tei", url=tei.url)
    with pytest.raises(ConfigurationError, match="its /info model_type") as caught:
        if cls is Reranker:
            target.rerank("q", ["a"])
        else:
            target.embed_documents(["a"])
    assert served in str(caught.value)
    assert tei.sent("/rerank") == [] and tei.sent("/embed_sparse") == []


def test_an_echoed_token_is_in_no_error_and_no_log(
    tei: HostileServer, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "hfe-test-secret-key-0123456789"
    tei.on("POST", "/rerank", echo_headers(503))
    tei.on("POST", "/embed_sparse", echo_headers(400))
    caplog.set_level(logging.DEBUG, logger="hfe")
    reranker = Reranker(mode="tei", url=tei.url, token=secret, max_retries=1, retry_timeout=2)
    with pytest.raises(Exception) as rerank_error:
        reranker.rerank("q", ["a"])
    with pytest.raises(Exception) as sparse_error:
        SparseEmbedder(mode="tei", url=tei.url, token=secret).embed_documents(["a"])
    for error in (rerank_error.value, sparse_error.value):
        assert secret not in str(error) + repr(error) + repr(vars(error))
    assert secret not in caplog.text
    sent = {name.lower(): value for name, value in tei.sent("/rerank")[0].headers.items()}
    assert sent["authorization"] == f"Bearer {secret}"  # it was sent: the server could echo it


def test_the_timeout_covers_a_trickled_answer(tei: HostileServer) -> None:
    tei.on("POST", "/rerank", Reply(200, b'[{"index":0,"score":0.5}]', trickle=0.2, chunk=2))
    reranker = Reranker(mode="tei", url=tei.url, timeout=1, max_retries=0)
    with pytest.raises(EmbeddingTimeoutError) as caught:
        reranker.rerank("q", ["a"])
    assert isinstance(caught.value, TimeoutError)


def test_a_too_long_pair_under_error_names_the_texts(tei: HostileServer) -> None:
    def refuse(request: Request) -> Reply:
        if request.json["truncate"] is False and any(len(text) > 20 for text in request.json["texts"]):
            message = "Input validation error: `inputs` must have less than 512 tokens. Given: 600"
            return Reply(422, {"error": message, "error_type": "Validation"})
        return rerank_like_tei(request)

    tei.on("POST", "/rerank", refuse)
    reranker = Reranker(mode="tei", url=tei.url, truncation="error")
    with pytest.raises(InputTooLongError, match="truncation='error'") as caught:
        reranker.rerank("q", ["short"] * 40 + ["x" * 30])
    assert caught.value.indices == list(range(21, 41))  # the request that held text 40 (41 texts: 21 + 20)
    assert Reranker(mode="tei", url=tei.url).rerank("q", ["x" * 30]) == expected("q", ["x" * 30])


def test_the_payload_limit_splits_a_rerank_request(tei: HostileServer) -> None:
    def limited(request: Request) -> Reply:
        if len(request.body) > 300:
            return Reply(413, b"Failed to buffer the request body: length limit exceeded")
        return rerank_like_tei(request)

    tei.on("POST", "/rerank", limited)
    texts = [f"text number {i} " * 3 for i in range(12)]
    assert Reranker(mode="tei", url=tei.url).rerank("text number 3", texts) == expected(
        "text number 3", texts
    )
    assert len(tei.sent("/rerank")) > 1
