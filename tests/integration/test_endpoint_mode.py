"""endpoint mode against dedicated endpoints: cold starts, paused endpoints, names, tokens.

The endpoints are tests/endpoint_sim, a loopback SIMULATION of the Inference Endpoints service
(management API and proxy) in front of tests/tei_server, the TEI-protocol test server; for the
cold-start job the TEI server runs the real packaged model, and every vector is checked against
local mode. huggingface_hub is pointed at the simulation for the test (never at the Hub).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from hfe_core import (
    AuthenticationError,
    Embedder,
    EndpointFailedError,
    EndpointPausedError,
)
from hfe_core.backends.endpoint import DedicatedEndpointBackend
from tests.endpoint_sim import SIM_TOKEN, ColdStartProxy, EndpointSim
from tests.tei_server.harness import TEIServer

from .conftest import MODEL_ID

pytest_plugins = ["tests.endpoint_sim.fixtures"]

ENV_TOKEN = "hf_env_token_must_stay_home"


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Poll the simulated endpoints every 50 ms instead of every 5 s."""
    monkeypatch.setattr(DedicatedEndpointBackend, "POLL_EVERY", 0.05)


@pytest.fixture(scope="module")
def model_tei() -> Iterator[TEIServer]:
    with TEIServer() as server:  # the real packaged all-MiniLM-L6-v2
        yield server


def _starting_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "hfe" and "is starting" in r.getMessage()]


# -- cold start -------------------------------------------------------------------------------------------
@pytest.mark.model
def test_cold_start_job_completes_with_every_vector_right_and_one_info_line(
    model_tei: TEIServer, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", ENV_TOKEN)
    texts = [f"document {index}: scaling from zero takes a while, {index % 7} times" for index in range(1000)]
    with ColdStartProxy(model_tei, cold_s=2.0) as proxy, caplog.at_level(logging.INFO, logger="hfe"):
        embedder = Embedder(mode="endpoint", url=proxy.url, max_concurrency=4)
        vectors = np.asarray(embedder.embed_documents(texts))
        requests = proxy.requests
    expected = np.asarray(Embedder(model=MODEL_ID).embed_documents(texts))
    assert vectors.shape == (1000, 384)
    cosines = np.sum(vectors * expected, axis=1)
    assert cosines.min() >= 0.9999
    assert len(_starting_lines(caplog)) == 1
    statuses = [request.status for request in requests]
    assert 503 in statuses and statuses[-1] == 200  # it did start cold
    assert all(request.scale_up_timeout == "30" for request in requests)
    assert all(request.authorization is None for request in requests)  # not an HF host: no HF token


def test_x_scale_up_timeout_lets_the_proxy_hold_instead_of_503(
    endpoint_sim_tei: TEIServer, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        ColdStartProxy(endpoint_sim_tei, cold_s=0.5, honor_scale_up_timeout=True) as proxy,
        caplog.at_level(logging.INFO, logger="hfe"),
    ):
        vectors = Embedder(mode="endpoint", url=proxy.url, scale_up_timeout=5).embed_documents(["a", "b"])
        requests = proxy.requests
    assert len(vectors) == 2
    assert [request.status for request in requests if request.path.endswith("/embed")] == [200]
    assert max(request.held_s for request in requests) > 0.2  # the first request was held
    assert _starting_lines(caplog) == []


def test_cold_start_budget_runs_out_with_a_timeout_error(endpoint_sim_tei: TEIServer) -> None:
    from hfe_core import EndpointNotReadyError

    with (
        ColdStartProxy(endpoint_sim_tei, cold_s=30.0) as proxy,
        pytest.raises(EndpointNotReadyError) as caught,
    ):
        Embedder(mode="endpoint", url=proxy.url, cold_start_timeout=1.5).embed_query("x")
    assert isinstance(caught.value, TimeoutError) and caught.value.status_code == 503
    assert caught.value.failed_indices == [0]


# -- by name, through huggingface_hub ---------------------------------------------------------------------
def test_endpoint_name_is_resolved_through_huggingface_hub(endpoint_sim: EndpointSim) -> None:
    url = endpoint_sim.add_endpoint("minilm", state="running")
    embedder = Embedder(endpoint_name="minilm", token=SIM_TOKEN)
    vectors = embedder.embed_documents(["by name"])
    assert len(vectors[0]) == endpoint_sim_dimension(endpoint_sim)
    assert embedder.backend.base_url == url  # type: ignore[attr-defined]
    management = endpoint_sim.requests_for(plane="management")
    assert any(r.path.endswith("/minilm") and r.token == SIM_TOKEN for r in management)


def endpoint_sim_dimension(sim: EndpointSim) -> int:
    return int(Embedder(mode="tei", url=str(sim.upstream.url)).dimension)  # type: ignore[union-attr]


def test_a_pending_endpoint_is_waited_for_then_used(
    endpoint_sim_factory: Callable[..., EndpointSim], caplog: pytest.LogCaptureFixture
) -> None:
    sim = endpoint_sim_factory(pending_s=0.3, initializing_s=0.3)
    sim.add_endpoint("warming", state="pending")
    with caplog.at_level(logging.INFO, logger="hfe"):
        vectors = Embedder(endpoint_name="warming", token=SIM_TOKEN).embed_documents(["after the wait"])
    assert len(vectors) == 1 and sim.state("warming") == "running"
    assert len(_starting_lines(caplog)) == 1


def test_a_failed_endpoint_raises_at_once(endpoint_sim: EndpointSim) -> None:
    endpoint_sim.add_endpoint("broken", state="failed")
    with pytest.raises(EndpointFailedError, match="failed to deploy"):
        Embedder(endpoint_name="broken", token=SIM_TOKEN).embed_query("x")


def test_scaled_to_zero_endpoint_that_fails_while_starting_stops_the_wait(endpoint_sim: EndpointSim) -> None:
    endpoint_sim.add_endpoint("doomed", state="scaledToZero", scale_up_s=60.0)
    embedder = Embedder(endpoint_name="doomed", token=SIM_TOKEN, cold_start_timeout=60)
    embedder.backend.base_url  # type: ignore[attr-defined]  # noqa: B018 - resolve the URL first
    endpoint_sim.set_state("doomed", "failed")  # only the state, polled through huggingface_hub, says why
    with pytest.raises(EndpointFailedError):
        embedder.embed_query("x")


# -- paused endpoints ---------------------------------------------------------------------------------------
def test_a_paused_endpoint_by_url_raises_the_typed_error(endpoint_sim: EndpointSim) -> None:
    url = endpoint_sim.add_endpoint("sleepy", state="paused", endpoint_type="public")
    with pytest.raises(EndpointPausedError) as caught:
        Embedder(mode="endpoint", url=url).embed_documents(["x", "y"])
    assert caught.value.status_code == 400 and caught.value.server_message == "Invalid state"
    assert "hfe endpoint resume" in str(caught.value) and "resume_if_paused=True" in str(caught.value)
    assert caught.value.failed_indices == [0, 1]


def test_a_paused_endpoint_by_name_raises_before_any_request(endpoint_sim: EndpointSim) -> None:
    endpoint_sim.add_endpoint("sleepy", state="paused")
    with pytest.raises(EndpointPausedError) as caught:
        Embedder(endpoint_name="sleepy", token=SIM_TOKEN).embed_query("x")
    assert caught.value.endpoint_name == "sleepy"
    assert endpoint_sim.requests_for(plane="data") == []


@pytest.mark.parametrize("by", ["name", "url"])
def test_resume_if_paused_resumes_and_waits(endpoint_sim: EndpointSim, by: str) -> None:
    url = endpoint_sim.add_endpoint("sleepy", state="paused")
    target = {"endpoint_name": "sleepy"} if by == "name" else {"mode": "endpoint", "url": url}
    embedder = Embedder(**target, token=SIM_TOKEN, resume_if_paused=True)
    vectors = embedder.embed_documents(["wake", "up"])
    assert len(vectors) == 2 and endpoint_sim.state("sleepy") == "running"
    resumes = [r for r in endpoint_sim.requests_for(plane="management") if r.path.endswith("/resume")]
    assert len(resumes) == 1


# -- tokens --------------------------------------------------------------------------------------------
def test_env_token_never_goes_to_a_non_hf_endpoint_and_the_401_says_so(
    endpoint_sim: EndpointSim, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", ENV_TOKEN)
    url = endpoint_sim.add_endpoint("private-one", state="running")  # authenticated: needs a token
    with pytest.raises(AuthenticationError) as caught:
        Embedder(mode="endpoint", url=url).embed_query("x")
    assert "No token was sent" in str(caught.value) and "hf auth login" in str(caught.value)
    assert ENV_TOKEN not in str(caught.value)
    assert all(r.authorization is None for r in endpoint_sim.requests_for(plane="data"))
    # Passed explicitly, the same token goes there.
    vectors = Embedder(mode="endpoint", url=url, token=ENV_TOKEN).embed_query("x")
    assert len(vectors) > 0
    assert endpoint_sim.requests_for(plane="data")[-1].token == ENV_TOKEN
