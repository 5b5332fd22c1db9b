"""endpoint mode, the pure parts: which backend a configuration gets, the error boundary, shapes.

The answers below are the wire formats of the Hugging Face proxy and the serverless API as
the protocol notes and the real recordings show them (the replay tests in
tests/integration/test_endpoint_replay.py check the same code on the recorded bytes).
"""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from hfe_core import (
    AuthenticationError,
    ConfigurationError,
    Embedder,
    EndpointNotReadyError,
    EndpointPausedError,
    NotFoundError,
    RateLimitedError,
    RequestRejectedError,
    ResponseFormatError,
    TokenLevelOutputError,
)
from hfe_core.backends.endpoint import (
    DedicatedEndpointBackend,
    ServerlessBackend,
    classify_endpoint,
    vectors_from_answer,
)

URL = "https://abc123.us-east-1.aws.endpoints.huggingface.cloud"


def _classify(response: httpx.Response, *, token_sent: bool = True, resume: bool = False):  # type: ignore[no-untyped-def]
    return classify_endpoint(response, url=URL, label="my-endpoint", token_sent=token_sent, resume=resume)


# -- which backend -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("settings", "backend"),
    [
        ({"url": URL}, DedicatedEndpointBackend),
        ({"mode": "endpoint", "url": "http://127.0.0.1:9/"}, DedicatedEndpointBackend),
        ({"endpoint_name": "my-endpoint"}, DedicatedEndpointBackend),
        ({"mode": "endpoint", "model": "BAAI/bge-small-en-v1.5"}, ServerlessBackend),
        ({"model": "BAAI/bge-small-en-v1.5", "provider": "nebius"}, ServerlessBackend),
        (
            {"url": "https://router.huggingface.co/hf-inference/models/BAAI/bge-small-en-v1.5"},
            ServerlessBackend,
        ),
        ({"url": "https://api-inference.huggingface.co/models/intfloat/e5-small-v2"}, ServerlessBackend),
    ],
)
def test_configuration_picks_the_backend(settings: dict[str, str], backend: type) -> None:
    embedder = Embedder(**settings)
    assert embedder.settings.mode == "endpoint"
    assert type(embedder.backend) is backend


def test_endpoint_mode_without_a_target_says_what_to_pass() -> None:
    with pytest.raises(ConfigurationError, match=r"url=.*endpoint_name=.*model="):
        Embedder(mode="endpoint")


def test_endpoint_name_and_url_conflict() -> None:
    with pytest.raises(ConfigurationError, match="either endpoint_name"):
        Embedder(mode="endpoint", endpoint_name="a", url=URL)


def test_serverless_refuses_truncation_it_cannot_do() -> None:
    with pytest.raises(ConfigurationError, match="truncation='chunk'"):
        Embedder(mode="endpoint", model="BAAI/bge-small-en-v1.5", truncation="chunk")
    with pytest.raises(ConfigurationError, match="provider='nebius'"):
        Embedder(model="BAAI/bge-small-en-v1.5", provider="nebius", truncation="error")


def test_serverless_is_conservative_unless_told() -> None:
    backend = Embedder(mode="endpoint", model="m/x").backend
    assert isinstance(backend, ServerlessBackend)
    assert backend.max_concurrency == 4
    assert [len(batch) for batch in backend.plan_batches(["a"] * 70, list(range(70)), 32)] == [32, 32, 6]
    told = Embedder(mode="endpoint", model="m/x", batch_size=50, max_concurrency=2).backend
    assert told.max_concurrency == 2
    assert [len(batch) for batch in told.plan_batches(["a"] * 70, list(range(70)), 50)] == [50, 20]
    pooled = Embedder(mode="endpoint", model="m/x", pooling="mean").backend
    assert [len(batch) for batch in pooled.plan_batches(["a"] * 3, [0, 1, 2], 32)] == [1, 1, 1]


# -- tokens and headers ---------------------------------------------------------------------------------
def test_hf_token_goes_to_hf_hosts_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_environment_token")
    on_hf = Embedder(url=URL).backend
    assert on_hf._headers["Authorization"] == "Bearer hf_environment_token"  # type: ignore[attr-defined]
    elsewhere = Embedder(mode="endpoint", url="http://127.0.0.1:9").backend
    assert "Authorization" not in elsewhere._headers  # type: ignore[attr-defined]
    explicit = Embedder(mode="endpoint", url="http://127.0.0.1:9", token="hf_given").backend
    assert explicit._headers["Authorization"] == "Bearer hf_given"  # type: ignore[attr-defined]
    assert "hf_environment_token" not in repr(Embedder(url=URL))


def test_scale_up_header_and_read_timeout() -> None:
    backend = Embedder(url=URL, timeout=60).backend
    assert backend._headers["X-Scale-Up-Timeout"] == "30"  # type: ignore[attr-defined]
    short = Embedder(url=URL, timeout=10).backend
    assert short._headers["X-Scale-Up-Timeout"] == "5"  # type: ignore[attr-defined]
    long = Embedder(url=URL, timeout=10, scale_up_timeout=120).backend
    assert long._read_timeout >= 120  # type: ignore[attr-defined]


# -- the error boundary -----------------------------------------------------------------------------------
def test_cold_start_503_and_502_are_retried_on_the_cold_start_budget() -> None:
    for status in (502, 503):
        outcome = _classify(httpx.Response(status, text="Service Unavailable"))
        assert (outcome.kind, outcome.cold_start) == ("retry", True)
        assert isinstance(outcome.error, EndpointNotReadyError) and isinstance(outcome.error, TimeoutError)


def test_loading_503_waits_about_its_estimated_time() -> None:
    body = {"error": "Model facebook/bart-base is currently loading", "estimated_time": 22.3}
    outcome = _classify(httpx.Response(503, json=body))
    assert outcome.cold_start and outcome.retry_after == pytest.approx(22.3)
    assert "still loading" in str(outcome.error)


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(400, text="Invalid state"),
        httpx.Response(400, json={"error": "The endpoint is paused, ask a maintainer to restart it"}),
    ],
)
def test_paused_endpoint(response: httpx.Response) -> None:
    outcome = _classify(response)
    assert outcome.kind == "fail" and isinstance(outcome.error, EndpointPausedError)
    assert "resume_if_paused=True" in str(outcome.error) and "hfe endpoint resume" in str(outcome.error)
    resumed = _classify(response, resume=True)
    assert (resumed.kind, resumed.paused, resumed.retry_after) == ("retry", True, 0.0)


def test_anonymous_refusals_say_how_to_log_in() -> None:
    outcome = _classify(httpx.Response(401, json={"error": "Unauthorized"}), token_sent=False)
    assert isinstance(outcome.error, AuthenticationError) and "hf auth login" in str(outcome.error)
    refused = _classify(httpx.Response(403, json={"error": "Forbidden"}), token_sent=True)
    assert "token was refused" in str(refused.error)
    limited = _classify(
        httpx.Response(429, json={"error": "Rate limit reached. Please log in or use a HF access token"}),
        token_sent=False,
    )
    assert limited.kind == "retry" and isinstance(limited.error, RateLimitedError)
    assert "hf auth login" in str(limited.error)


def test_list_error_and_404() -> None:
    listed = _classify(httpx.Response(400, json={"error": ["Error in `inputs`: field required", "more"]}))
    assert isinstance(listed.error, RequestRejectedError)
    assert "field required; more" in str(listed.error)
    missing = _classify(httpx.Response(404, json={"error": "Not Found"}))
    assert isinstance(missing.error, NotFoundError)


def test_tei_answers_pass_through() -> None:
    validation = {"error": "Input validation error: `inputs` cannot be empty", "error_type": "Empty"}
    assert isinstance(_classify(httpx.Response(422, json=validation)).error, RequestRejectedError)
    assert _classify(httpx.Response(413, text="Failed to buffer the request body")).kind == "split"


# -- shapes ----------------------------------------------------------------------------------------------
def test_shapes_of_sentence_embeddings() -> None:
    flat = np.arange(4, dtype=np.float32)
    assert vectors_from_answer(flat, 1, pooling=None, label="m").shape == (1, 4)
    assert vectors_from_answer(flat[None, :], 1, pooling=None, label="m").shape == (1, 4)
    assert vectors_from_answer(np.ones((3, 4)), 3, pooling=None, label="m").shape == (3, 4)


@pytest.mark.parametrize(
    ("answer", "count"),
    [
        (np.ones((1, 7, 8)), 1),  # (1, tokens, hidden): one text
        (np.ones((7, 8)), 1),  # (tokens, hidden): one text, unwrapped
        (np.ones((2, 1, 3, 8)), 2),  # (texts, 1, tokens, hidden)
    ],
)
def test_token_level_shapes_need_pooling(answer: np.ndarray, count: int) -> None:
    with pytest.raises(TokenLevelOutputError, match="pooling='mean'"):
        vectors_from_answer(answer, count, pooling=None, label="facebook/bart-base")
    rng = np.random.default_rng(0)
    values = rng.normal(size=answer.shape).astype(np.float32)
    pooled = vectors_from_answer(values, count, pooling="mean", label="m")
    tokens = values.reshape(count, -1, answer.shape[-1])
    np.testing.assert_allclose(pooled, tokens.mean(axis=1), rtol=1e-6)


def test_other_shapes_are_format_errors() -> None:
    with pytest.raises(ResponseFormatError, match=r"shape \(3, 4\) for 2"):
        vectors_from_answer(np.ones((3, 4)), 2, pooling=None, label="m")
    with pytest.raises(ResponseFormatError):
        vectors_from_answer(np.ones(4), 2, pooling="mean", label="m")


def test_serverless_in_offline_mode_says_so() -> None:
    import huggingface_hub.constants

    assert huggingface_hub.constants.HF_HUB_OFFLINE  # the test suite runs offline
    with pytest.raises(ConfigurationError, match="HF_HUB_OFFLINE"):
        Embedder(mode="endpoint", model="sentence-transformers/all-MiniLM-L6-v2").embed_query("x")
