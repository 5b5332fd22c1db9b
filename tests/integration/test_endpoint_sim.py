"""Self-tests of the Inference Endpoints simulation, driven through huggingface_hub's public functions."""

from __future__ import annotations

import time
from typing import Any

import httpx
import huggingface_hub
import huggingface_hub.constants
import huggingface_hub.hf_api
import pytest
from huggingface_hub.errors import BadRequestError, HfHubHTTPError, InferenceEndpointError

from tests.endpoint_sim import FAIL_ENV, SIM_TOKEN, ColdStartProxy, EndpointSim, hub_pointed_at
from tests.tei_server.harness import TEIServer

pytest_plugins = ["tests.endpoint_sim.fixtures"]

AUTH = {"Authorization": f"Bearer {SIM_TOKEN}"}
MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def _create(name: str, **changes: Any) -> huggingface_hub.InferenceEndpoint:
    kwargs: dict[str, Any] = {
        "repository": MODEL,
        "framework": "pytorch",
        "task": "sentence-embeddings",
        "accelerator": "cpu",
        "vendor": "aws",
        "region": "us-east-1",
        "instance_type": "intel-spr",
        "instance_size": "x2",
        "min_replica": 0,
        "max_replica": 1,
        "scale_to_zero_timeout": 15,
        "custom_image": {
            "tei": {
                "url": "ghcr.io/huggingface/text-embeddings-inference:cpu-1.9",
                "healthRoute": "/health",
                "port": 80,
                "maxBatchTokens": 16384,
                "maxConcurrentRequests": 512,
            }
        },
        "env": {"MAX_CLIENT_BATCH_SIZE": "64"},
        "token": SIM_TOKEN,
    }
    kwargs.update(changes)
    return huggingface_hub.create_inference_endpoint(name, **kwargs)


def _wait_state(sim: EndpointSim, name: str, state: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while sim.state(name) != state:
        assert time.monotonic() < deadline, f"{name} stayed {sim.state(name)!r}, expected {state!r}"
        time.sleep(0.01)


# -- management API ----------------------------------------------------------------------------------


def test_create_resolves_the_namespace_with_whoami_and_sends_the_payload(endpoint_sim: EndpointSim) -> None:
    ep = _create("my-embedder")
    assert (ep.name, ep.namespace, ep.status, ep.url) == ("my-embedder", "sim-user", "pending", None)
    assert (ep.repository, ep.framework, ep.task, ep.health_route) == (
        MODEL,
        "pytorch",
        "sentence-embeddings",
        "/health",
    )
    whoami, create = endpoint_sim.requests_for(plane="management")
    assert (whoami.method, whoami.path, whoami.authorization) == (
        "GET",
        "/api/whoami-v2",
        f"Bearer {SIM_TOKEN}",
    )
    assert (create.method, create.path, create.token) == ("POST", "/v2/endpoint/sim-user", SIM_TOKEN)
    assert create.body["model"]["image"]["tei"]["url"].endswith(":cpu-1.9")
    assert create.body["model"]["env"] == {"MAX_CLIENT_BATCH_SIZE": "64"}
    assert create.body["compute"]["scaling"] == {"maxReplica": 1, "minReplica": 0, "scaleToZeroTimeout": 15}
    assert endpoint_sim.payload("my-embedder") == create.body


def test_states_follow_the_configured_timings_and_wait_returns_when_running(
    endpoint_sim_factory: Any,
) -> None:
    sim = endpoint_sim_factory(pending_s=0.15, initializing_s=0.15)
    ep = _create("timed", namespace="sim-user")
    seen = [ep.status]
    while ep.status != "running":
        time.sleep(0.02)
        ep.fetch()
        if ep.status != seen[-1]:
            seen.append(ep.status)
    assert seen == ["pending", "initializing", "running"]
    assert ep.url == sim.endpoint_url("timed")
    assert ep.wait(timeout=5, refresh_every=1) is ep  # already running: one health check, through the proxy
    health = sim.requests_for(plane="data")
    assert [(r.method, r.path, r.status) for r in health] == [("GET", "/ep/sim-user/timed/health", 200)]


def test_wait_polls_until_running(endpoint_sim: EndpointSim) -> None:
    ep = _create("waiter", namespace="sim-user")
    started = time.monotonic()
    ep.wait(timeout=10, refresh_every=0.05)
    assert ep.status == "running" and ep.url == endpoint_sim.endpoint_url("waiter")
    assert 0.3 <= time.monotonic() - started < 5
    assert [state for state, _ in endpoint_sim.endpoint("waiter").history] == [
        "pending",
        "initializing",
        "running",
    ]


def test_management_calls_need_a_bearer_token_of_a_member(endpoint_sim_factory: Any) -> None:
    sim = endpoint_sim_factory(tokens={SIM_TOKEN: "sim-user"})
    sim.add_endpoint("guarded")
    with pytest.raises(HfHubHTTPError) as missing:
        huggingface_hub.get_inference_endpoint("guarded", namespace="sim-user", token=False)
    assert missing.value.response.status_code == 401
    with pytest.raises(HfHubHTTPError) as wrong:
        huggingface_hub.get_inference_endpoint("guarded", namespace="sim-user", token="hf_wrong")
    assert wrong.value.response.status_code == 401
    with pytest.raises(HfHubHTTPError) as foreign:
        huggingface_hub.get_inference_endpoint("guarded", namespace="someone-else", token=SIM_TOKEN)
    assert foreign.value.response.status_code == 401
    with pytest.raises(HfHubHTTPError) as member:  # an org of the user: allowed, and nothing there
        huggingface_hub.get_inference_endpoint("guarded", namespace="sim-org", token=SIM_TOKEN)
    assert member.value.response.status_code == 404
    assert [r.authorization for r in sim.requests_for(plane="management")][:3] == [
        None,
        "Bearer hf_wrong",
        f"Bearer {SIM_TOKEN}",
    ]


def test_pause_resume_scale_to_zero_and_delete(endpoint_sim: EndpointSim) -> None:
    endpoint_sim.add_endpoint("life")
    ep = huggingface_hub.get_inference_endpoint("life", namespace="sim-user", token=SIM_TOKEN)
    assert ep.status == "running"
    assert ep.pause().status == "paused"
    assert ep.resume().status == "initializing"
    ep.wait(timeout=5, refresh_every=0.05)
    assert ep.status == "running"
    assert ep.scale_to_zero().status == "scaledToZero"
    assert ep.url == endpoint_sim.endpoint_url("life")  # the URL stays while scaled to zero
    ep.delete()
    with pytest.raises(HfHubHTTPError) as gone:
        ep.fetch()
    assert gone.value.response.status_code == 404
    assert endpoint_sim.state("life") is None
    paths = [(r.method, r.path.rsplit("/", 1)[-1]) for r in endpoint_sim.requests_for(plane="management")]
    for call in (("POST", "pause"), ("POST", "resume"), ("POST", "scale-to-zero"), ("DELETE", "life")):
        assert call in paths


def test_resume_of_a_running_endpoint_is_a_400_that_running_ok_swallows(endpoint_sim: EndpointSim) -> None:
    endpoint_sim.add_endpoint("awake")
    ep = huggingface_hub.resume_inference_endpoint("awake", namespace="sim-user", token=SIM_TOKEN)
    assert ep.status == "running"
    with pytest.raises(BadRequestError, match="already running"):
        huggingface_hub.resume_inference_endpoint(
            "awake", namespace="sim-user", running_ok=False, token=SIM_TOKEN
        )


def test_list_one_namespace_and_all(endpoint_sim: EndpointSim, monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint_sim.add_endpoint("mine-a")
    endpoint_sim.add_endpoint("mine-b", state="paused")
    endpoint_sim.add_endpoint("ours", namespace="sim-org")
    listed = huggingface_hub.list_inference_endpoints(namespace="sim-user", token=SIM_TOKEN)
    assert [(e.name, e.status) for e in listed] == [("mine-a", "running"), ("mine-b", "paused")]
    # namespace="*" lists the personal namespace without passing the token on (huggingface_hub 1.33),
    # so the token must come from the environment there.
    monkeypatch.setenv("HF_TOKEN", SIM_TOKEN)
    everything = huggingface_hub.list_inference_endpoints(namespace="*", token=SIM_TOKEN)
    assert sorted((e.namespace, e.name) for e in everything) == [
        ("sim-org", "ours"),
        ("sim-user", "mine-a"),
        ("sim-user", "mine-b"),
    ]


def test_update_goes_through_updating(endpoint_sim: EndpointSim) -> None:
    endpoint_sim.add_endpoint("upd")
    ep = huggingface_hub.update_inference_endpoint(
        "upd", namespace="sim-user", max_replica=3, env={"MAX_CLIENT_BATCH_SIZE": "8"}, token=SIM_TOKEN
    )
    assert ep.status == "updating"
    assert ep.raw["compute"]["scaling"]["maxReplica"] == 3
    assert ep.raw["compute"]["instanceType"] == "intel-spr"  # untouched fields stay
    assert ep.raw["model"]["env"] == {"MAX_CLIENT_BATCH_SIZE": "8"}
    ep.wait(timeout=5, refresh_every=0.05)
    assert ep.status == "running"


def test_failures_on_deploy_and_on_update(endpoint_sim: EndpointSim) -> None:
    ep = _create("doomed", env={FAIL_ENV: "deploy"})
    with pytest.raises(InferenceEndpointError, match="failed to deploy"):
        ep.wait(timeout=5, refresh_every=0.05)
    assert ep.status == "failed" and ep.url is None
    assert "errorMessage" in ep.raw["status"]

    endpoint_sim.add_endpoint("shaky", fail=("update",))
    ep = huggingface_hub.update_inference_endpoint(
        "shaky", namespace="sim-user", max_replica=2, token=SIM_TOKEN
    )
    with pytest.raises(InferenceEndpointError, match="failed to update"):
        ep.wait(timeout=5, refresh_every=0.05)

    endpoint_sim.add_endpoint("broken")
    endpoint_sim.set_state("broken", "failed")
    assert (
        huggingface_hub.get_inference_endpoint("broken", namespace="sim-user", token=SIM_TOKEN).status
        == "failed"
    )


def test_fail_deploys_option(endpoint_sim_factory: Any) -> None:
    endpoint_sim_factory(fail_deploys=True, pending_s=0.01, initializing_s=0.01)
    ep = _create("never")
    with pytest.raises(InferenceEndpointError):
        ep.wait(timeout=5, refresh_every=0.05)


def test_create_refusals(endpoint_sim: EndpointSim) -> None:
    _create("taken")
    with pytest.raises(HfHubHTTPError) as conflict:
        _create("taken")
    assert conflict.value.response.status_code == 409
    with pytest.raises(BadRequestError, match="invalid endpoint name"):
        _create("Not_Valid")
    with pytest.raises(BadRequestError, match="no such hardware"):
        _create("gpu-typo", accelerator="gpu", instance_type="nvidia-x9000", instance_size="x1")
    with pytest.raises(BadRequestError, match="scaleToZeroTimeout"):
        _create("no-timeout", scale_to_zero_timeout=None)


def test_hardware_catalogue(endpoint_sim: EndpointSim) -> None:
    hardware = huggingface_hub.list_inference_endpoints_hardware(token=SIM_TOKEN)
    ids = {hw.id for hw in hardware}
    assert {"aws-us-east-1-intel-spr-x2", "aws-us-east-1-nvidia-l4-x1", "gcp-us-east4-nvidia-h100-x1"} <= ids
    cpu = next(hw for hw in hardware if hw.id == "aws-us-east-1-intel-spr-x2")
    assert (cpu.vendor, cpu.region, cpu.accelerator, cpu.instance_type, cpu.instance_size) == (
        "aws",
        "us-east-1",
        "cpu",
        "intel-spr",
        "x2",
    )
    assert cpu.gpu_memory_gb is None and cpu.num_cpus is None
    assert endpoint_sim.requests_for(plane="management")[-1].path == "/v2/provider/sim-user"


def test_hub_pointed_at_restores_huggingface_hub(endpoint_sim_tei: TEIServer) -> None:
    constants = huggingface_hub.constants
    before = (constants.INFERENCE_ENDPOINTS_ENDPOINT, constants.ENDPOINT, huggingface_hub.hf_api.api.endpoint)
    with EndpointSim(upstream=endpoint_sim_tei) as sim, hub_pointed_at(sim):
        assert constants.INFERENCE_ENDPOINTS_ENDPOINT == sim.api_url
        assert huggingface_hub.whoami(token=SIM_TOKEN)["name"] == "sim-user"
        assert constants.HF_HUB_OFFLINE is False
    after = (constants.INFERENCE_ENDPOINTS_ENDPOINT, constants.ENDPOINT, huggingface_hub.hf_api.api.endpoint)
    assert after == before
    assert constants.HF_HUB_OFFLINE is True  # the suite runs offline


# -- data plane --------------------------------------------------------------------------------------


def test_running_endpoints_forward_every_route_to_tei(
    endpoint_sim: EndpointSim, endpoint_sim_tei: TEIServer
) -> None:
    url = endpoint_sim.add_endpoint("fwd")
    for method, path, body in [
        ("POST", "/embed", {"inputs": ["hello", "world"]}),
        ("POST", "/v1/embeddings", {"input": ["hello"], "model": "x"}),
        ("POST", "/tokenize", {"inputs": "hello"}),
        ("GET", "/info", None),
        ("GET", "/health", None),
        ("POST", "/embed", {"inputs": []}),  # a TEI error passes through as it is
    ]:
        via = httpx.request(method, url + path, json=body, headers=AUTH)
        direct = httpx.request(method, endpoint_sim_tei.url + path, json=body)
        assert (via.status_code, via.content) == (direct.status_code, direct.content), path
        assert via.headers.get("content-type") == direct.headers.get("content-type")
    assert httpx.post(url + "/embed", json={"inputs": "a"}, headers=AUTH).headers["x-compute-tokens"] == "3"
    seen = endpoint_sim.requests_for(plane="data")
    assert all(r.authorization == f"Bearer {SIM_TOKEN}" and r.endpoint == "sim-user/fwd" for r in seen)


def test_the_data_plane_checks_the_token_unless_public(endpoint_sim: EndpointSim) -> None:
    private = endpoint_sim.add_endpoint("private-one")
    public = endpoint_sim.add_endpoint("public-one", endpoint_type="public")
    assert httpx.get(private + "/info").status_code == 401
    assert httpx.get(private + "/info", headers=AUTH).status_code == 200
    assert httpx.get(public + "/info").status_code == 200
    assert httpx.get(endpoint_sim.endpoint_url("nobody") + "/info", headers=AUTH).status_code == 404


def test_scaled_to_zero_answers_503_and_starts_a_replica(endpoint_sim_factory: Any) -> None:
    sim = endpoint_sim_factory(scale_up_s=0.3)
    url = sim.add_endpoint("sleepy", state="scaledToZero")
    first = httpx.post(url + "/embed", json={"inputs": "a"}, headers=AUTH)
    assert (first.status_code, first.text, first.headers["content-type"]) == (
        503,
        "Service Unavailable",
        "text/plain; charset=utf-8",
    )
    assert sim.state("sleepy") == "initializing"
    assert httpx.post(url + "/embed", json={"inputs": "a"}, headers=AUTH).status_code == 503
    _wait_state(sim, "sleepy", "running")
    assert httpx.post(url + "/embed", json={"inputs": "a"}, headers=AUTH).status_code == 200
    assert [r.state for r in sim.requests_for(plane="data")] == ["scaledToZero", "initializing", "running"]


def test_x_scale_up_timeout_holds_the_request_until_ready(endpoint_sim_factory: Any) -> None:
    sim = endpoint_sim_factory(scale_up_s=0.4)
    url = sim.add_endpoint("held", state="scaledToZero")
    started = time.monotonic()
    answer = httpx.post(url + "/embed", json={"inputs": "a"}, headers={**AUTH, "X-Scale-Up-Timeout": "5"})
    assert answer.status_code == 200 and len(answer.json()[0]) == 384
    assert 0.35 <= time.monotonic() - started < 3
    (record,) = sim.requests_for(plane="data")
    assert (record.scale_up_timeout, record.state) == ("5", "scaledToZero")
    assert 0.35 <= record.held_s < 3


def test_x_scale_up_timeout_shorter_than_the_start_ends_in_503(endpoint_sim_factory: Any) -> None:
    sim = endpoint_sim_factory(scale_up_s=2.0)
    url = sim.add_endpoint("slow", state="scaledToZero")
    started = time.monotonic()
    answer = httpx.post(url + "/embed", json={"inputs": "a"}, headers={**AUTH, "X-Scale-Up-Timeout": "0.2"})
    assert answer.status_code == 503
    assert 0.15 <= time.monotonic() - started < 1.5


def test_holding_can_be_switched_off(endpoint_sim_factory: Any) -> None:
    sim = endpoint_sim_factory(scale_up_s=1.0, honor_scale_up_timeout=False)
    url = sim.add_endpoint("no-hold", state="scaledToZero")
    started = time.monotonic()
    assert (
        httpx.post(
            url + "/embed", json={"inputs": "a"}, headers={**AUTH, "X-Scale-Up-Timeout": "5"}
        ).status_code
        == 503
    )
    assert time.monotonic() - started < 0.5


def test_starting_states_answer_503(endpoint_sim_factory: Any) -> None:
    sim = endpoint_sim_factory(initializing_s=5.0, updating_s=5.0)
    for state in ("pending", "initializing", "updating"):
        url = sim.add_endpoint(f"in-{state}", state=state)
        assert httpx.get(url + "/info", headers=AUTH).status_code == 503, state
    url = sim.add_endpoint("dead", state="failed")
    assert httpx.get(url + "/info", headers={**AUTH, "X-Scale-Up-Timeout": "5"}).status_code == 503


def test_paused_answers_400_invalid_state_and_is_not_woken(endpoint_sim: EndpointSim) -> None:
    url = endpoint_sim.add_endpoint("napping", state="paused")
    for headers in (AUTH, {**AUTH, "X-Scale-Up-Timeout": "5"}):
        answer = httpx.post(url + "/embed", json={"inputs": "a"}, headers=headers)
        assert (answer.status_code, answer.text) == (400, "Invalid state")
        assert answer.headers["content-type"].startswith("text/plain")
    assert endpoint_sim.state("napping") == "paused"


def test_idle_endpoints_scale_to_zero(endpoint_sim_factory: Any) -> None:
    sim = endpoint_sim_factory(auto_scale_to_zero_s=0.2)
    url = sim.add_endpoint("idle")
    assert httpx.get(url + "/health", headers=AUTH).status_code == 200
    _wait_state(sim, "idle", "scaledToZero", timeout=3)
    assert httpx.get(url + "/health", headers=AUTH).status_code == 503


def test_cold_start_proxy(endpoint_sim_tei: TEIServer) -> None:
    with ColdStartProxy(endpoint_sim_tei, cold_s=0.5) as proxy:
        started = time.monotonic()
        codes = []
        while True:
            code = httpx.post(proxy.url + "/embed", json={"inputs": "a"}).status_code
            codes.append(code)
            if code == 200:
                break
            time.sleep(0.05)
        assert codes[0] == 503 and set(codes[:-1]) == {503}
        assert 0.45 <= time.monotonic() - started < 3
        assert (
            httpx.post(
                proxy.url + "/embed", json={"inputs": "a"}, headers={"X-Scale-Up-Timeout": "9"}
            ).status_code
            == 200
        )
        assert len(proxy.requests) == len(codes) + 1
