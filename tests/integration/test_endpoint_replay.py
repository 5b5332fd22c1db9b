"""endpoint mode (serverless) on REAL recorded answers of the Hugging Face Inference API.

Each recording (tests/cassettes/README.md: where it comes from) is replayed by vcrpy through
huggingface_hub's own InferenceClient, which hfe calls; no socket is opened. Every test compares
what hfe returns with the recorded body, read independently of the replay, or asserts the exact
typed error. Waits are recorded instead of slept (the recorded 503s ask for 20 s and more).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import hfe_core.backends.endpoint as endpoint_module
from hfe_core import (
    Embedder,
    RateLimitedError,
    RequestRejectedError,
    TokenLevelOutputError,
)
from langchain_hfe import HFEmbeddings
from llamaindex_hfe import HFEmbedding
from tests.replay import A2, A5, A8, A11, A12, B1, B4, C1, hub_online, recorded_bodies, replay

API = "https://api-inference.huggingface.co"
ROUTER_OLD = "https://router.huggingface.co/hf-inference/pipeline/feature-extraction"
TEXT = "Hi, who are you?"
HAPPY = "That is a happy person"


@pytest.fixture(autouse=True)
def online_hub() -> Iterator[None]:
    with hub_online():
        yield


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits hfe asks for, recorded instead of slept, on a clock that they advance (sync tests only)."""
    asked: list[float] = []
    now = [endpoint_module.time.monotonic()]

    def sleep(seconds: float) -> None:
        asked.append(seconds)
        now[0] += seconds

    monkeypatch.setattr(endpoint_module.time, "sleep", sleep)
    monkeypatch.setattr(endpoint_module.time, "monotonic", lambda: now[0])
    return asked


def unit(vector: Any) -> np.ndarray:
    array = np.asarray(vector, dtype=np.float64)
    return array / np.linalg.norm(array)


def mean_pooled(token_vectors: Any) -> np.ndarray:
    """What pooling='mean' must give for a (1, tokens, hidden) answer: the unit mean of its tokens."""
    return unit(np.asarray(token_vectors, dtype=np.float64)[0].mean(axis=0))


# -- sentence embeddings: a flat vector per text ---------------------------------------------------------
def test_flat_384_vector_of_all_minilm() -> None:
    recorded = recorded_bodies(A2)[0]
    assert len(recorded) == 384
    url = f"{API}/pipeline/feature-extraction/sentence-transformers/all-MiniLM-L6-v2"
    with replay(A2) as cassette:
        vectors = Embedder(mode="endpoint", url=url).embed_documents([TEXT])
    assert cassette.all_played
    np.testing.assert_allclose(vectors[0], unit(recorded), atol=1e-6)


@pytest.mark.parametrize("adapter", [HFEmbeddings, HFEmbedding], ids=["langchain", "llamaindex"])
def test_adapters_read_the_flat_vector(adapter: Any) -> None:
    url = f"{API}/pipeline/feature-extraction/sentence-transformers/all-MiniLM-L6-v2"
    with replay(A2):
        obj = adapter(url=url)
        vector = obj.embed_query(TEXT) if adapter is HFEmbeddings else obj.get_query_embedding(TEXT)
    np.testing.assert_allclose(vector, unit(recorded_bodies(A2)[0]), atol=1e-6)


def test_async_client_reads_the_same_answer() -> None:
    url = f"{API}/pipeline/feature-extraction/sentence-transformers/all-MiniLM-L6-v2"

    async def run() -> list[list[float]]:
        return await Embedder(mode="endpoint", url=url).aembed_documents([TEXT])

    with replay(A2) as cassette:
        vectors = asyncio.run(run())
    assert cassette.all_played
    np.testing.assert_allclose(vectors[0], unit(recorded_bodies(A2)[0]), atol=1e-6)


def test_flat_1024_vector_of_mxbai_on_the_models_route() -> None:
    recorded = recorded_bodies(C1)[0]
    url = f"{API}/models/mixedbread-ai/mxbai-embed-large-v1"
    with replay(C1):
        raw = Embedder(url=url, normalize=False).embed_query("test")
    assert len(raw) == 1024
    np.testing.assert_array_equal(np.asarray(raw, dtype=np.float32), np.asarray(recorded, dtype=np.float32))
    with replay(C1):
        normalized = Embedder(url=url).embed_query("test")
    np.testing.assert_allclose(normalized, unit(recorded), atol=1e-6)


def test_flat_768_vector_through_the_router() -> None:
    recorded = recorded_bodies(B4)[2]
    with replay(B4, select=[2]):
        vector = Embedder(
            url=f"{ROUTER_OLD}/sentence-transformers/distilbert-base-nli-mean-tokens"
        ).embed_query(HAPPY)
    np.testing.assert_allclose(vector, unit(recorded), atol=1e-6)


# -- token-level answers: a typed error, or pooling="mean" ------------------------------------------------
def test_ragged_token_level_batch_names_the_pooling_option() -> None:
    bodies = recorded_bodies(B4)
    assert [np.asarray(item).shape for item in bodies[0]] == [(1, 3, 768), (1, 7, 768)]  # ragged
    with replay(B4, select=[0]), pytest.raises(TokenLevelOutputError, match="pooling='mean'") as caught:
        Embedder(url=f"{ROUTER_OLD}/facebook/bart-base").embed_documents(["hello", HAPPY])
    assert "ragged" in str(caught.value)


def test_single_token_level_answer_is_pooled_on_request() -> None:
    recorded = recorded_bodies(B4)[1]
    assert np.asarray(recorded).shape == (1, 7, 768)
    url = f"{ROUTER_OLD}/facebook/bart-base"
    with replay(B4, select=[1]), pytest.raises(TokenLevelOutputError):
        Embedder(url=url).embed_query(HAPPY)
    with replay(B4, select=[1]):
        vector = Embedder(url=url, pooling="mean").embed_query(HAPPY)
    np.testing.assert_allclose(vector, mean_pooled(recorded), atol=1e-5)


def test_router_call_with_its_hidden_model_info_lookup() -> None:
    """model= and provider: huggingface_hub GETs the model's info, then POSTs to the router."""
    bodies = recorded_bodies(A8)
    assert bodies[0]["pipeline_tag"] == "feature-extraction"
    with replay(A8) as cassette:
        embedder = Embedder(model="facebook/bart-base", provider="hf-inference", pooling="mean")
        vector = embedder.embed_query(TEXT)
    assert cassette.all_played  # the GET and the POST
    assert [request.method for request in cassette.requests] == ["GET", "POST"]
    np.testing.assert_allclose(vector, mean_pooled(bodies[1]), atol=1e-5)


# -- a model still loading: 503 with estimated_time, then success ----------------------------------------
def test_loading_503_waits_its_estimated_time_then_succeeds(
    waits: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    bodies = recorded_bodies(A5)
    assert "currently loading" in bodies[0]["error"]
    with caplog.at_level(logging.INFO, logger="hfe"), replay(A5) as cassette:
        vector = Embedder(
            url=f"{API}/pipeline/feature-extraction/facebook/bart-base", pooling="mean"
        ).embed_query(TEXT)
    assert cassette.all_played
    assert waits == [pytest.approx(bodies[0]["estimated_time"])]
    np.testing.assert_allclose(vector, mean_pooled(bodies[1]), atol=1e-5)
    announced = [record for record in caplog.records if "is starting" in record.getMessage()]
    assert len(announced) == 1


def test_several_recorded_503s_across_models(waits: list[float]) -> None:
    bodies = recorded_bodies(B1)
    assert [body.get("estimated_time") for body in bodies[:2]] == [20.0, 20.0]
    with replay(B1, select=[1, 2]):
        distilbert = Embedder(
            url=f"{API}/pipeline/feature-extraction/sentence-transformers/distilbert-base-nli-mean-tokens"
        ).embed_query(HAPPY)
    with replay(B1, select=[0, 3]):
        bart = Embedder(
            url=f"{API}/pipeline/feature-extraction/facebook/bart-base", pooling="mean"
        ).embed_query(HAPPY)
    assert waits == [20.0, 20.0]
    np.testing.assert_allclose(distilbert, unit(bodies[2]), atol=1e-6)
    np.testing.assert_allclose(bart, mean_pooled(bodies[3]), atol=1e-5)


def test_loading_past_the_cold_start_budget_is_a_timeout(waits: list[float]) -> None:
    from hfe_core import EndpointNotReadyError

    url = f"{API}/pipeline/feature-extraction/facebook/bart-base"
    with replay(A5, select=[0], allow_repeats=True), pytest.raises(EndpointNotReadyError) as caught:
        Embedder(url=url, cold_start_timeout=30).embed_query(TEXT)
    assert isinstance(caught.value, TimeoutError) and caught.value.status_code == 503
    assert "cold_start_timeout" in str(caught.value)
    assert waits[0] == pytest.approx(recorded_bodies(A5)[0]["estimated_time"])  # 22.3 s
    assert sum(waits) == pytest.approx(30.0)  # then what was left of the budget, and no more


# -- errors --------------------------------------------------------------------------------------------
def test_anonymous_429_is_retried_then_says_to_log_in(waits: list[float]) -> None:
    """The recorded 429 came from the same API on another task; its envelope is what hfe reads."""
    url = f"{API}/pipeline/question-answering/deepset/roberta-base-squad2"
    with replay(A11, select=[1], allow_repeats=True) as cassette, pytest.raises(RateLimitedError) as caught:
        Embedder(url=url, max_retries=2).embed_query("What's my name?")
    assert cassette.play_count == 3 and len(waits) == 2
    assert caught.value.status_code == 429
    assert caught.value.server_message == "Rate limit reached. Please log in or use a HF access token"
    assert "hf auth login" in str(caught.value)
    assert caught.value.failed_indices == [0]


def test_400_with_a_list_of_errors_is_a_rejection_keeping_every_message() -> None:
    url = f"{API}/pipeline/question-answering/deepset/roberta-base-squad2"
    with replay(A12, select=[1]), pytest.raises(RequestRejectedError) as caught:
        Embedder(url=url).embed_documents(["a question without context"])
    assert caught.value.status_code == 400
    assert caught.value.server_message == "Error in `inputs.context`: field required"
    assert isinstance(caught.value, ValueError)
