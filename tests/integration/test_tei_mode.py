"""tei mode against the project's TEI-protocol server on loopback (tests/tei_server).

The server runs the real packaged model, or hashed vectors with the real tokenizer for
volume tests. Every test talks HTTP to it in a background thread; nothing is mocked.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from hfe_core import (
    AuthenticationError,
    Embedder,
    InputTooLongError,
    NotFoundError,
    RateLimitedError,
    RequestRejectedError,
    ServerError,
)
from hfe_core.backends.tei import classify
from langchain_hfe import HFEmbeddings
from llamaindex_hfe import HFEmbedding
from tests.tei_server.harness import TEIServer

from .conftest import MODEL_ID, cosine, load_snapshot

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def tei() -> Iterator[TEIServer]:
    """A TEI 1.9 server with the real packaged model."""
    with TEIServer(slots=2) as server:
        yield server


@pytest.fixture(scope="module")
def fast_tei() -> Iterator[TEIServer]:
    """A TEI 1.9 server with hashed vectors (the real tokenizer, no model time): for volume tests."""
    with TEIServer(vectors="hash", slots=4) as server:
        yield server


def _embedder(server: TEIServer, **settings: Any) -> Embedder:
    return Embedder(mode="tei", url=server.url, **settings)


# --- the same vectors as TEI itself, and as local mode ------------------------------------------------


@pytest.mark.parametrize("route", ["native", "openai"])
def test_tei_mode_matches_tei_snapshots_and_local_mode(tei: TEIServer, route: str) -> None:
    embedder = _embedder(tei, route=route)
    snapshot = load_snapshot("test_http_embed__embeddings_single.snap")[0]
    got = embedder.embed_documents(["test"])[0]
    assert cosine(got, snapshot) >= 0.9999
    texts = ["The cat sat on the mat.", "line one\nline two", "word " * 400]
    local = np.asarray(Embedder(model=MODEL_ID).embed_documents(texts))
    remote = np.asarray(embedder.embed_documents(texts))
    for a, b in zip(local, remote, strict=True):
        assert cosine(a, b) >= 0.9999


@pytest.mark.parametrize("route", ["native", "openai"])
def test_an_empty_string_gets_local_modes_vector_in_tei_mode(tei: TEIServer, route: str) -> None:
    # TEI refuses "" (400 Empty); hfe sends " ", which the real tokenizer reads as no text at all:
    # the same special tokens, so the same vector as local mode's "" (issue 11, one rule in every mode).
    texts = ["", "a neighbour", ""]
    remote = np.asarray(_embedder(tei, route=route).embed_documents(texts))
    local = np.asarray(Embedder(model=MODEL_ID).embed_documents(texts))
    for a, b in zip(local, remote, strict=True):
        assert cosine(a, b) >= 0.9999


async def test_async_matches_sync(tei: TEIServer) -> None:
    embedder = _embedder(tei)
    texts = [f"sentence {i} about embeddings" for i in range(70)]
    np.testing.assert_allclose(
        await embedder.aembed_documents(texts), embedder.embed_documents(texts), atol=1e-6
    )


def test_matryoshka_dimensions_match_the_tei_snapshot(tei: TEIServer) -> None:
    snapshot = load_snapshot("test_http_embed__mrl_embeddings_single.snap")[0]
    got = _embedder(tei, dimensions=128).embed_documents(["test"])[0]
    assert len(got) == 128 and cosine(got, snapshot) >= 0.9999


def test_dimension_and_limits_come_from_the_server(tei: TEIServer) -> None:
    embedder = _embedder(tei)
    assert embedder.dimension == 384
    assert embedder.max_input_tokens == 256
    info = embedder.backend.info  # type: ignore[attr-defined]
    assert info.version == "1.9.3" and info.max_client_batch_size == 32


# --- far above every limit ------------------------------------------------------------------------


def test_ten_thousand_inputs_stay_under_every_limit_and_keep_their_order(fast_tei: TEIServer) -> None:
    fast_tei.stats.reset()
    texts = [f"document number {i} " + "x" * (i % 50) for i in range(10_000)]
    embedder = _embedder(fast_tei)
    vectors = np.asarray(embedder.embed_documents(texts))
    assert vectors.shape == (10_000, 384)
    assert fast_tei.stats.inputs_embedded == 10_000
    assert max(fast_tei.stats.batch_sizes) <= 32
    assert fast_tei.stats.count("/embed", 429) == 0
    for i in (0, 1, 4321, 9999):  # each row is the vector of its own text
        np.testing.assert_allclose(vectors[i], embedder.embed_documents([texts[i]])[0], atol=1e-6)


def test_huge_inputs_and_a_body_over_two_megabytes(fast_tei: TEIServer) -> None:
    fast_tei.stats.reset()
    texts = [f"{i} " + "lorem ipsum dolor " * 6000 for i in range(30)]  # ~108 000 characters each, 3.2 MB
    result = _embedder(fast_tei).embed(texts)
    assert result.embeddings.shape == (30, 384)
    assert result.stats.truncated == 30
    assert fast_tei.stats.count("/embed", 413) == 0  # planned under the payload limit, never refused


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_a_request_refused_for_its_size_is_split_and_sent_again(asynchronous: bool) -> None:
    # The server's payload limit (30 kB) is below the 2 MB hfe plans for: it answers a plain-text 413.
    with TEIServer(vectors="hash", payload_limit=30_000) as server:
        texts = [f"{i} " + "lorem ipsum dolor " * 300 for i in range(32)]  # ~5.4 kB each, 173 kB together
        embedder = _embedder(server)
        if asynchronous:
            vectors = np.asarray(asyncio.run(embedder.aembed_documents(texts)))
        else:
            vectors = np.asarray(embedder.embed_documents(texts))
        assert server.stats.count("/embed", 413) >= 1
        assert server.stats.inputs_embedded == 32
        assert embedder.backend.stats.split_for_payload >= 1  # type: ignore[attr-defined]
        np.testing.assert_allclose(vectors[5], embedder.embed_documents([texts[5]])[0], atol=1e-6)
        with pytest.raises(RequestRejectedError, match="payload limit"):
            embedder.embed_documents(["x " * 30_000])  # 60 000 characters, under the 64 000 hfe trims to


def test_huge_inputs_under_the_error_policy_name_the_inputs(fast_tei: TEIServer) -> None:
    texts = ["short", "lorem ipsum " * 9000, "also short"]
    with pytest.raises(InputTooLongError) as caught:
        _embedder(fast_tei, truncation="error").embed_documents(texts)
    assert caught.value.indices == [1]
    assert caught.value.max_tokens == 256
    assert caught.value.token_counts[0] > 256


def test_truncate_left_and_chunk_use_the_servers_tokenizer(tei: TEIServer) -> None:
    head, tail = "north " * 300, "south east west " * 80
    left = _embedder(tei, truncation="truncate_left").embed([head + tail])
    assert left.stats.truncated == 1
    assert (
        cosine(
            left.embeddings[0],
            Embedder(model=MODEL_ID, truncation="truncate_left").embed([head + tail]).embeddings[0],
        )
        > 0.9999
    )
    chunked = _embedder(tei, truncation="chunk").embed([head + tail])
    local = Embedder(model=MODEL_ID, truncation="chunk").embed([head + tail])
    assert chunked.stats.chunked == 1 and chunked.stats.texts_embedded == local.stats.texts_embedded
    assert cosine(chunked.embeddings[0], local.embeddings[0]) > 0.9999


# --- faults: every input once, in order, the same vectors ---------------------------------------------


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_faults_are_retried_and_every_input_is_embedded_once(asynchronous: bool) -> None:
    texts = [f"faulty world {i}" for i in range(2_000)]
    with TEIServer(vectors="hash", slots=4) as clean:
        expected = np.asarray(_embedder(clean).embed_documents(texts))
    with TEIServer(
        vectors="hash", slots=4, seed=7, fail_429=0.1, fail_503=0.1, drop_connection=0.02
    ) as server:
        embedder = _embedder(server, retry_timeout=60)
        embedder.backend.policy.initial_backoff = 0.01  # type: ignore[attr-defined]
        if asynchronous:
            got = np.asarray(asyncio.run(embedder.aembed_documents(texts)))
        else:
            got = np.asarray(embedder.embed_documents(texts))
        assert server.stats.inputs_embedded == len(texts)  # each input exactly once
        assert server.stats.count("/embed", 429) > 0 and server.stats.count("/embed", 503) > 0
        stats = embedder.backend.stats  # type: ignore[attr-defined]
        assert stats.retries > 0 and stats.overloaded > 0
        call = embedder.last_stats
        assert call is not None and call.retries > 0 and call.requests >= call.batches + call.retries
        assert call.tokens > 0
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_a_server_that_stays_down_keeps_what_was_computed() -> None:
    with TEIServer(vectors="hash", seed=3, fail_503=0.5) as server:
        embedder = _embedder(server, max_retries=0, max_concurrency=1)
        texts = [f"t{i}" for i in range(32 * 20)]
        with pytest.raises(ServerError) as caught:
            embedder.embed_documents(texts)
    error = caught.value
    assert error.status_code == 503 and error.failed_indices
    kept = [i for i, vector in enumerate(error.partial_embeddings) if vector is not None]
    assert kept and set(kept).isdisjoint(error.failed_indices)
    assert len(kept) + len(error.failed_indices) == len(texts)


def test_a_starting_server_is_waited_for() -> None:
    server = TEIServer(vectors="hash", startup_delay_s=1.5)
    server.start(wait=False)
    try:
        vector = _embedder(server).embed_query("are you up yet?")
        assert len(vector) == 384
    finally:
        server.stop()


# --- concurrency stays bounded, sync and async --------------------------------------------------------


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_requests_in_flight_never_exceed_max_concurrency(fast_tei: TEIServer, asynchronous: bool) -> None:
    fast_tei.stats.reset()
    fast_tei.config.latency_ms = 20
    try:
        embedder = _embedder(fast_tei, max_concurrency=3)
        texts = [f"concurrent {i}" for i in range(32 * 24)]
        if asynchronous:
            asyncio.run(embedder.aembed_documents(texts))
        else:
            embedder.embed_documents(texts)
    finally:
        fast_tei.config.latency_ms = 0
    assert fast_tei.stats.max_in_flight_requests == 3


def test_tei_19_permits_are_respected() -> None:
    with TEIServer(vectors="hash", slots=4, max_concurrent_requests=64, latency_ms=20) as server:
        embedder = _embedder(server, max_concurrency=8)
        embedder.embed_documents([f"permit {i}" for i in range(32 * 20)])
        assert server.stats.count("/embed", 429) == 0
        assert server.stats.max_in_flight_inputs <= 64


# --- authentication -----------------------------------------------------------------------------------


def test_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    with TEIServer(vectors="hash", api_key="sk-tei-secret") as server:
        with pytest.raises(AuthenticationError) as caught:
            _embedder(server).embed_documents(["no key"])
        assert "sk-tei-secret" not in str(caught.value)
        assert len(_embedder(server, api_key="sk-tei-secret").embed_documents(["explicit key"])[0]) == 384
        monkeypatch.setenv("TEI_API_KEY", "sk-tei-secret")
        assert len(_embedder(server).embed_documents(["key from TEI_API_KEY"])[0]) == 384
        # An HF token from the environment is never sent to a non-Hugging-Face host.
        monkeypatch.delenv("TEI_API_KEY")
        monkeypatch.setenv("HF_TOKEN", "sk-tei-secret")
        with pytest.raises(AuthenticationError):
            _embedder(server).embed_documents(["hf token stays home"])


def test_per_call_statistics_are_logged_at_debug_without_the_key(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    with TEIServer(vectors="hash", api_key="sk-never-logged") as server:
        embedder = _embedder(server, api_key="sk-never-logged")
        with caplog.at_level(logging.DEBUG, logger="hfe"):
            embedder.embed_documents([f"logged {i}" for i in range(40)])
            first = embedder.last_stats
            embedder.embed_documents([f"logged {i}" for i in range(40)])
    # The first call also asks /info and /tokenize (special tokens) once; later calls only embed.
    assert first is not None and first.requests == 4
    stats = embedder.last_stats
    assert stats is not None and stats.requests == 2 and stats.batches == 2 and stats.tokens == 40 * 4
    assert any("requests=2" in record.getMessage() for record in caplog.records)
    assert all("sk-never-logged" not in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("route", ["native", "openai"])
def test_a_wrong_url_is_a_not_found_error(tei: TEIServer, route: str) -> None:
    with pytest.raises(NotFoundError):
        Embedder(mode="tei", url=tei.url + "/not-tei", route=route).embed_documents(["x"])


# --- the error boundary, on real answers of the server (TEI 1.8 and 1.9) ----------------------------------


def _answer(server: TEIServer, path: str, body: Any, **kwargs: Any) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
    return httpx.post(server.url + path, content=content, headers=headers, timeout=30, **kwargs)


@pytest.mark.parametrize("version, status", [("1.8.3", 413), ("1.9.3", 422)])
def test_validation_errors_of_both_versions_are_rejections(version: str, status: int) -> None:
    with TEIServer(vectors="hash", version=version) as server:
        batch = _answer(server, "/embed", {"inputs": ["x"] * 40})
        assert batch.status_code == status
        outcome = classify(batch, url=server.url)
        assert outcome.kind == "fail" and isinstance(outcome.error, RequestRejectedError)
        assert "batch size 40 > maximum allowed batch size 32" in str(outcome.error)
        too_long = _answer(server, "/embed", {"inputs": "word " * 600, "truncate": False})
        assert isinstance(classify(too_long, url=server.url).error, RequestRejectedError)
        empty = _answer(server, "/embed", {"inputs": ""})
        assert empty.status_code == 400
        assert isinstance(classify(empty, url=server.url).error, RequestRejectedError)


def test_transient_and_framework_answers(fast_tei: TEIServer) -> None:
    payload = _answer(fast_tei, "/embed", {"inputs": ["a" * 1_000_000, "b" * 1_000_000]})
    assert payload.status_code == 413 and payload.headers["content-type"].startswith("text/plain")
    assert classify(payload, url=fast_tei.url).kind == "split"
    malformed = _answer(fast_tei, "/embed", b"{not json")
    assert isinstance(classify(malformed, url=fast_tei.url).error, RequestRejectedError)
    fast_tei.config.fail_429 = 1.0
    try:
        overloaded = _answer(fast_tei, "/embed", {"inputs": ["x"]})
    finally:
        fast_tei.config.fail_429 = 0.0
    outcome = classify(overloaded, url=fast_tei.url)
    assert overloaded.status_code == 429 and outcome.kind == "retry" and outcome.overloaded
    assert isinstance(outcome.error, RateLimitedError)


def test_tei_18_server_gets_capitalised_directions_and_explicit_truncate() -> None:
    with TEIServer(vectors="hash", version="1.8.3") as server:
        result = _embedder(server, truncation="truncate_left").embed(["word " * 600, "fine"])
        assert result.embeddings.shape == (2, 384) and result.stats.truncated == 1
        assert server.stats.count("/embed", 422) == 0 and server.stats.count("/embed", 413) == 0


# --- the adapters in tei mode -------------------------------------------------------------------------


def test_both_adapters_in_tei_mode_agree(tei: TEIServer) -> None:
    lc = HFEmbeddings(mode="tei", url=tei.url)
    li = HFEmbedding(mode="tei", url=tei.url)
    texts = ["adapter one", "adapter two"]
    np.testing.assert_allclose(lc.embed_documents(texts), li.get_text_embedding_batch(texts), atol=1e-6)
    np.testing.assert_allclose(lc.embed_query("q"), li.get_query_embedding("q"), atol=1e-6)


def test_hfe_info_command(tei: TEIServer) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "hfe_core.cli", "info", tei.url, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    info = json.loads(done.stdout)
    assert info["version"] == "1.9.3"
    assert info["max client batch size"] == 32
    assert info["embedding dimension"] == 384


@pytest.mark.parametrize(
    ("served", "setting", "query_prompt"),
    [
        ("intfloat/e5-small-v2", None, "query: "),  # the family table, matched on /info's model_id
        ("/repository", None, ""),  # how Inference Endpoints mount a model: no id to match
        ("/repository", "intfloat/e5-small-v2", "query: "),  # model= says which model it is
    ],
)
def test_family_prompts_follow_the_served_model(served: str, setting: str | None, query_prompt: str) -> None:
    with TEIServer(vectors="hash", model_id=served) as server:
        embedder = Embedder(mode="tei", url=server.url, model=setting)
        assert embedder.prompt("query") == query_prompt
        assert embedder.prompt("document") == ("passage: " if query_prompt else "")
