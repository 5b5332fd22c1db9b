"""hfe_core.deploy and `hfe deploy` / `hfe endpoint` against the simulated Inference Endpoints service.

The service is tests/endpoint_sim, a loopback SIMULATION (not a recording) of the management API and
proxy, in front of the TEI test server with hash vectors; huggingface_hub is pointed at it for each
test, never at the Hub.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Callable

import numpy as np
import pytest

from hfe_core import (
    AuthenticationError,
    ConfigurationError,
    Embedder,
    EndpointFailedError,
    EndpointNotReadyError,
    EndpointPausedError,
    NotFoundError,
    cli,
    deploy,
)
from hfe_core.backends.endpoint import DedicatedEndpointBackend
from tests.endpoint_sim import FAIL_ENV, SIM_TOKEN, EndpointSim
from tests.tei_server.harness import TEIServer

pytest_plugins = ["tests.endpoint_sim.fixtures"]

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
IMAGE = "ghcr.io/huggingface/text-embeddings-inference"
FAST = {"token": SIM_TOKEN, "poll_every": 0.05, "timeout": 10.0}


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    """The embedder polls a starting endpoint every 50 ms instead of every 5 s."""
    monkeypatch.setattr(DedicatedEndpointBackend, "POLL_EVERY", 0.05)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert SIM_TOKEN not in out + err
    return code, out, err


def _tei_vectors(tei: TEIServer, texts: list[str]) -> np.ndarray:
    import httpx

    return np.asarray(httpx.post(tei.url + "/embed", json={"inputs": texts}).json(), dtype=np.float32)


# -- deploy_endpoint ------------------------------------------------------------------------------------


def test_deploy_endpoint_creates_polls_and_returns_an_endpoint_embedder(
    endpoint_sim: EndpointSim, endpoint_sim_tei: TEIServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="hfe"):
        embedder = deploy.deploy_endpoint(MODEL, batch_size=16, cold_start_timeout=30.0, **FAST)
    assert endpoint_sim.state("all-minilm-l6-v2") == "running"
    create = endpoint_sim.requests_for(method="POST", plane="management")[0]
    assert create.path == "/v2/endpoint/sim-user"  # the namespace came from whoami
    assert create.body == {
        "compute": {
            "accelerator": "cpu",
            "instanceSize": "x2",
            "instanceType": "intel-spr",
            "scaling": {"maxReplica": 1, "minReplica": 0, "scaleToZeroTimeout": 15},
        },
        "model": {
            "framework": "pytorch",
            "repository": MODEL,
            "revision": None,
            "image": {
                "tei": {
                    "url": f"{IMAGE}:cpu-1.9",
                    "healthRoute": "/health",
                    "port": 80,
                    "maxBatchTokens": 16384,
                    "maxConcurrentRequests": 512,
                }
            },
            "task": "sentence-embeddings",
            "env": {"MAX_BATCH_TOKENS": "16384", "MAX_CONCURRENT_REQUESTS": "512"},
        },
        "name": "all-minilm-l6-v2",
        "provider": {"region": "us-east-1", "vendor": "aws"},
        "type": "authenticated",
    }
    polls = endpoint_sim.requests_for(method="GET", endpoint="sim-user/all-minilm-l6-v2")
    assert len(polls) >= 3  # pending, initializing, running
    assert all(r.token == SIM_TOKEN for r in endpoint_sim.requests_for(plane="management"))

    assert isinstance(embedder, Embedder)
    s = embedder.settings
    assert (s.mode, s.endpoint_name, s.namespace, s.batch_size, s.cold_start_timeout) == (
        "endpoint",
        "all-minilm-l6-v2",
        "sim-user",
        16,
        30.0,
    )
    assert s.token is not None and s.token.get_secret_value() == SIM_TOKEN
    assert SIM_TOKEN not in repr(embedder) + repr(s)
    assert SIM_TOKEN not in caplog.text
    assert any("creating the Inference Endpoint" in r.getMessage() for r in caplog.records)


def test_the_deployed_embedder_embeds_through_the_endpoint(
    endpoint_sim: EndpointSim, endpoint_sim_tei: TEIServer
) -> None:
    embedder = deploy.deploy_endpoint(MODEL, name="embedder-e2e", max_client_batch_size=64, **FAST)
    texts = ["Paris is the capital of France.", "Bern is the capital of Switzerland."]
    vectors = np.asarray(embedder.embed_documents(texts), dtype=np.float32)
    assert vectors.shape == (2, 384)
    np.testing.assert_allclose(vectors, _tei_vectors(endpoint_sim_tei, texts), atol=1e-6)
    data = endpoint_sim.requests_for(plane="data", endpoint="sim-user/embedder-e2e")
    assert any(r.path.endswith("/embed") and r.status == 200 for r in data)
    assert all(r.token == SIM_TOKEN and r.scale_up_timeout is not None for r in data)
    assert endpoint_sim.payload("embedder-e2e")["model"]["env"]["MAX_CLIENT_BATCH_SIZE"] == "64"


def test_deploy_on_a_gpu_in_an_organization(endpoint_sim: EndpointSim) -> None:
    embedder = deploy.deploy_endpoint(
        MODEL,
        name="minilm-l4",
        namespace="sim-org",
        accelerator="gpu",
        instance_type="nvidia-l4",
        instance_size="x1",
        min_replica=1,
        max_replica=2,
        endpoint_type="private",
        revision="abc123",
        env={"DEFAULT_PROMPT_NAME": "query"},
        **FAST,
    )
    payload = endpoint_sim.payload("minilm-l4", namespace="sim-org")
    assert payload["compute"] == {
        "accelerator": "gpu",
        "instanceSize": "x1",
        "instanceType": "nvidia-l4",
        "scaling": {"maxReplica": 2, "minReplica": 1, "scaleToZeroTimeout": None},
    }
    assert payload["model"]["image"]["tei"]["url"] == f"{IMAGE}:89-1.9"
    assert payload["model"]["revision"] == "abc123"
    assert payload["model"]["env"]["DEFAULT_PROMPT_NAME"] == "query"
    assert payload["type"] == "private"
    assert (embedder.settings.endpoint_name, embedder.settings.namespace) == ("minilm-l4", "sim-org")
    assert [r.path for r in endpoint_sim.requests_for(plane="management")][
        0
    ] == "/v2/endpoint/sim-org"  # no whoami


def test_a_failed_deployment_raises_endpoint_failed(endpoint_sim: EndpointSim) -> None:
    with pytest.raises(EndpointFailedError) as caught:
        deploy.deploy_endpoint(MODEL, name="doomed", env={FAIL_ENV: "deploy"}, **FAST)
    message = str(caught.value)
    assert "sim-user/doomed" in message and "'failed'" in message and "failed to deploy" in message
    assert "endpoints.huggingface.co/sim-user/endpoints/doomed" in message
    assert SIM_TOKEN not in message


def test_a_slow_deployment_raises_endpoint_not_ready_after_the_timeout(
    endpoint_sim_factory: Callable[..., EndpointSim],
) -> None:
    sim = endpoint_sim_factory(initializing_s=30.0)
    started = time.monotonic()
    with pytest.raises(
        EndpointNotReadyError, match=r"still '(pending|initializing)' 0.4s after it was created"
    ):
        deploy.deploy_endpoint(MODEL, name="slowpoke", token=SIM_TOKEN, timeout=0.4, poll_every=0.05)
    assert 0.35 <= time.monotonic() - started < 3
    assert sim.state("slowpoke") == "initializing"  # the deployment goes on


def test_without_waiting_the_embedder_waits_for_the_endpoint_itself(
    endpoint_sim_factory: Callable[..., EndpointSim],
) -> None:
    sim = endpoint_sim_factory(pending_s=0.2, initializing_s=0.2)
    started = time.monotonic()
    embedder = deploy.deploy_endpoint(MODEL, name="eager", wait=False, **FAST)
    assert time.monotonic() - started < 0.2 and sim.state("eager") == "pending"
    assert len(embedder.embed_query("hello")) == 384
    assert sim.state("eager") == "running"


def test_refusals_of_the_service_become_typed_errors(
    endpoint_sim_factory: Callable[..., EndpointSim],
) -> None:
    sim = endpoint_sim_factory(tokens={SIM_TOKEN: "sim-user"})
    deploy.create_endpoint(MODEL, name="taken", wait=False, token=SIM_TOKEN)
    with pytest.raises(ConfigurationError, match=r"named sim-user/taken already exists \(409\).*--yes"):
        deploy.create_endpoint(MODEL, name="taken", namespace="sim-user", token=SIM_TOKEN)
    with pytest.raises(
        ConfigurationError, match=r"refused to create .*\(400\): Bad Request: no such hardware.*"
    ):
        deploy.create_endpoint(MODEL, name="huge", instance_size="x64", token=SIM_TOKEN)
    with pytest.raises(ConfigurationError, match="list-hardware"):
        deploy.create_endpoint(MODEL, name="huge", instance_size="x64", token=SIM_TOKEN)
    with pytest.raises(
        AuthenticationError, match=r"refused the token \(401\).*hf auth login.*HF_TOKEN"
    ) as bad:
        deploy.create_endpoint(MODEL, name="nope", namespace="sim-user", token="hf_not_valid_at_all")
    assert "hf_not_valid_at_all" not in str(bad.value)
    with pytest.raises(AuthenticationError, match=r"\(401\)"):
        deploy.endpoint_status("taken", namespace="someone-else", token=SIM_TOKEN)
    with pytest.raises(
        NotFoundError, match=r"No Inference Endpoint sim-user/ghost \(404\).*hfe endpoint status"
    ):
        deploy.endpoint_status("ghost", namespace="sim-user", token=SIM_TOKEN)
    assert sim.state("nope") is None and sim.state("huge") is None


def test_the_token_comes_from_the_environment_when_not_given(
    endpoint_sim: EndpointSim, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUGGINGFACEHUB_API_TOKEN", SIM_TOKEN)  # LangChain's name: hfe's chain, not hub's
    status = deploy.create_endpoint(MODEL, name="from-env", poll_every=0.05)
    assert status.status == "running"
    assert {r.token for r in endpoint_sim.requests_for(plane="management")} == {SIM_TOKEN}


# -- managing an endpoint -----------------------------------------------------------------------------


def test_status_pause_resume_scale_to_zero_and_delete(endpoint_sim: EndpointSim) -> None:
    url = endpoint_sim.add_endpoint("managed")
    status = deploy.endpoint_status("managed", token=SIM_TOKEN)
    assert (status.name, status.namespace, status.status, status.url) == (
        "managed",
        "sim-user",
        "running",
        url,
    )
    assert (status.instance_type, status.instance_size, status.image) == (
        "intel-spr",
        "x2",
        f"{IMAGE}:cpu-1.9",
    )
    assert deploy.pause_endpoint("managed", token=SIM_TOKEN).status == "paused"
    assert endpoint_sim.state("managed") == "paused"
    resumed = deploy.resume_endpoint("managed", token=SIM_TOKEN, poll_every=0.05, timeout=5)
    assert resumed.status == "running" and resumed.url == url
    assert deploy.resume_endpoint("managed", token=SIM_TOKEN).status == "running"  # running: left as is
    assert deploy.scale_endpoint_to_zero("managed", token=SIM_TOKEN).status == "scaledToZero"
    deploy.delete_endpoint("managed", token=SIM_TOKEN)
    assert endpoint_sim.state("managed") is None
    with pytest.raises(NotFoundError):
        deploy.delete_endpoint("managed", token=SIM_TOKEN)


def test_resume_without_waiting_and_a_resume_that_fails(endpoint_sim: EndpointSim) -> None:
    endpoint_sim.add_endpoint("napper", state="paused")
    assert deploy.resume_endpoint("napper", token=SIM_TOKEN, wait=False).status == "initializing"
    endpoint_sim.add_endpoint("cursed", state="paused", fail=("resume",))
    with pytest.raises(EndpointFailedError, match="cursed"):
        deploy.resume_endpoint("cursed", token=SIM_TOKEN, poll_every=0.05, timeout=5)


def test_list_hardware_with_filters_and_tei_images(endpoint_sim: EndpointSim) -> None:
    everything = deploy.list_hardware(token=SIM_TOKEN)
    assert {o.id for o in everything} >= {"aws-us-east-1-intel-spr-x2", "aws-us-east-1-nvidia-t4-x1"}
    images = {o.instance_type: o.tei_image for o in everything}
    assert images["intel-spr"] == f"{IMAGE}:cpu-1.9"
    assert images["nvidia-t4"] == f"{IMAGE}:turing-1.9"
    assert images["nvidia-h100"] == f"{IMAGE}:hopper-1.9"
    gpus = deploy.list_hardware(token=SIM_TOKEN, vendor="aws", region="eu-west-1", accelerator="gpu")
    assert sorted(o.id for o in gpus) == ["aws-eu-west-1-nvidia-l4-x1", "aws-eu-west-1-nvidia-t4-x1"]
    assert len(deploy.list_hardware(token=SIM_TOKEN, available_only=True)) == len(everything)


def test_a_paused_deployment_raises_until_resumed_and_a_scaled_one_wakes(
    endpoint_sim_factory: Callable[..., EndpointSim],
) -> None:
    sim = endpoint_sim_factory(scale_up_s=0.3)
    embedder = deploy.deploy_endpoint(MODEL, name="lifecycle", **FAST)
    assert len(embedder.embed_query("one")) == 384
    deploy.pause_endpoint("lifecycle", token=SIM_TOKEN)
    with pytest.raises(EndpointPausedError, match="hfe endpoint resume"):
        embedder.embed_query("two")
    deploy.resume_endpoint("lifecycle", token=SIM_TOKEN, poll_every=0.05)
    assert len(embedder.embed_query("three")) == 384
    deploy.scale_endpoint_to_zero("lifecycle", token=SIM_TOKEN)
    vectors = embedder.embed_documents([f"text {i}" for i in range(100)])
    assert len(vectors) == 100
    woke = [r for r in sim.requests_for(plane="data") if r.state == "scaledToZero"]
    assert woke and woke[0].held_s > 0.2  # held by X-Scale-Up-Timeout while the replica started


# -- the command line ----------------------------------------------------------------------------------


def test_cli_deploy_prints_the_endpoint(
    endpoint_sim: EndpointSim, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(
        capsys,
        "deploy",
        MODEL,
        "--name",
        "cli-ep",
        "--token",
        SIM_TOKEN,
        "--poll-every",
        "0.05",
        "--max-client-batch-size",
        "64",
        "--env",
        "DEFAULT_PROMPT_NAME=query",
        "--env",
        "PAYLOAD_LIMIT=4000000",
        "--auto-truncate",
        "false",
    )
    assert code == 0, err
    rows = dict(line.split(None, 1) for line in out.splitlines() if line.strip())
    assert (rows["name"], rows["namespace"], rows["status"]) == ("cli-ep", "sim-user", "running")
    assert rows["url"] == endpoint_sim.endpoint_url("cli-ep")
    assert "Embedder(endpoint_name='cli-ep', namespace='sim-user')" in err
    env = endpoint_sim.payload("cli-ep")["model"]["env"]
    assert env == {
        "MAX_BATCH_TOKENS": "16384",
        "MAX_CONCURRENT_REQUESTS": "512",
        "MAX_CLIENT_BATCH_SIZE": "64",
        "AUTO_TRUNCATE": "false",
        "DEFAULT_PROMPT_NAME": "query",
        "PAYLOAD_LIMIT": "4000000",
    }


def test_cli_deploy_json_and_no_wait(endpoint_sim: EndpointSim, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(
        capsys,
        "deploy",
        MODEL,
        "--name",
        "cli-gpu",
        "--namespace",
        "sim-org",
        "--accelerator",
        "gpu",
        "--instance-type",
        "nvidia-t4",
        "--instance-size",
        "x1",
        "--min-replica",
        "1",
        "--max-replica",
        "3",
        "--max-batch-tokens",
        "8192",
        "--max-concurrent-requests",
        "64",
        "--max-batch-requests",
        "8",
        "--tei-version",
        "1.9.3",
        "--type",
        "public",
        "--revision",
        "main",
        "--token",
        SIM_TOKEN,
        "--no-wait",
        "--json",
    )
    assert code == 0
    shown = json.loads(out)
    assert (shown["name"], shown["namespace"], shown["status"], shown["url"]) == (
        "cli-gpu",
        "sim-org",
        "pending",
        None,
    )
    payload = endpoint_sim.payload("cli-gpu", namespace="sim-org")
    assert payload["model"]["image"]["tei"] == {
        "url": f"{IMAGE}:turing-1.9.3",
        "healthRoute": "/health",
        "port": 80,
        "maxBatchTokens": 8192,
        "maxConcurrentRequests": 64,
    }
    assert payload["compute"]["scaling"] == {"maxReplica": 3, "minReplica": 1, "scaleToZeroTimeout": None}
    assert payload["model"]["env"]["MAX_BATCH_REQUESTS"] == "8"
    assert (payload["type"], payload["model"]["revision"]) == ("public", "main")


def test_cli_deploy_with_an_image_and_scale_to_zero_timeout(
    endpoint_sim: EndpointSim, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(
        capsys,
        "deploy",
        MODEL,
        "--name",
        "cli-image",
        "--vendor",
        "gcp",
        "--region",
        "us-east4",
        "--image",
        f"{IMAGE}:cpu-1.8.3",
        "--scale-to-zero-timeout",
        "60",
        "--token",
        SIM_TOKEN,
        "--no-wait",
        "--timeout",
        "5",
    )
    assert code == 0, err
    payload = endpoint_sim.payload("cli-image")
    assert payload["provider"] == {"region": "us-east4", "vendor": "gcp"}
    assert payload["model"]["image"]["tei"]["url"] == f"{IMAGE}:cpu-1.8.3"
    assert payload["compute"]["scaling"]["scaleToZeroTimeout"] == 60


def test_cli_errors_print_the_type_and_exit_1(
    endpoint_sim: EndpointSim, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, "deploy", MODEL, "--instance-type", "nvidia-l4", "--token", SIM_TOKEN)
    assert (code, out) == (1, "")
    assert err.startswith("hfe: ConfigurationError: instance_type='nvidia-l4' is a GPU but accelerator='cpu'")
    code, _, err = _run(capsys, "deploy", MODEL, "--env", "NOEQUALS", "--token", SIM_TOKEN)
    assert code == 1 and "--env 'NOEQUALS' must look like KEY=VALUE" in err
    code, _, err = _run(capsys, "endpoint", "status", "ghost", "--token", SIM_TOKEN)
    assert code == 1 and err.startswith("hfe: NotFoundError: No Inference Endpoint ghost (404)")
    code, _, err = _run(capsys, "endpoint", "status", "ghost")  # no token anywhere
    assert code == 1 and err.startswith("hfe: AuthenticationError: No Hugging Face token found")
    endpoint_sim.add_endpoint("fragile", state="failed")
    code, _, err = _run(capsys, "endpoint", "resume", "fragile", "--token", SIM_TOKEN, "--poll-every", "0.05")
    assert code == 0, err  # a failed endpoint can be resumed; it starts again


def test_cli_endpoint_actions(endpoint_sim: EndpointSim, capsys: pytest.CaptureFixture[str]) -> None:
    url = endpoint_sim.add_endpoint("cli-life", namespace="sim-org")
    where = ("--namespace", "sim-org", "--token", SIM_TOKEN)
    code, out, _ = _run(capsys, "endpoint", "status", "cli-life", *where)
    assert code == 0 and f"url                    {url}" in out and "status                 running" in out
    code, out, _ = _run(capsys, "endpoint", "pause", "cli-life", *where, "--json")
    assert code == 0 and json.loads(out)["status"] == "paused"
    code, out, _ = _run(capsys, "endpoint", "resume", "cli-life", *where, "--no-wait", "--json")
    assert code == 0 and json.loads(out)["status"] == "initializing"
    code, out, _ = _run(
        capsys, "endpoint", "resume", "cli-life", *where, "--poll-every", "0.05", "--timeout", "5"
    )
    assert code == 0 and "status                 running" in out
    code, out, _ = _run(capsys, "endpoint", "scale-to-zero", "cli-life", *where, "--json")
    assert code == 0 and json.loads(out)["status"] == "scaledToZero"
    code, out, _ = _run(capsys, "endpoint", "status", "cli-life", *where, "--json")
    assert json.loads(out)["status"] == "scaledToZero"

    code, out, err = _run(capsys, "endpoint", "delete", "cli-life", *where)
    assert (code, out) == (1, "")
    assert "add --yes" in err and "hfe endpoint delete cli-life --namespace sim-org --yes" in err
    assert endpoint_sim.state("cli-life", namespace="sim-org") == "scaledToZero"  # nothing was deleted
    assert not endpoint_sim.requests_for(method="DELETE")
    code, out, _ = _run(capsys, "endpoint", "delete", "cli-life", *where, "--yes")
    assert (code, out) == (0, "deleted sim-org/cli-life\n")
    assert endpoint_sim.state("cli-life", namespace="sim-org") is None
    endpoint_sim.add_endpoint("cli-json")
    code, out, _ = _run(capsys, "endpoint", "delete", "cli-json", "--yes", "--json", "--token", SIM_TOKEN)
    assert json.loads(out) == {"name": "cli-json", "namespace": None, "deleted": True}


def test_cli_list_hardware(endpoint_sim: EndpointSim, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "endpoint", "list-hardware", "--token", SIM_TOKEN)
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:3] == ["vendor", "region", "accelerator"]
    assert any(
        line.split()[:5] == ["aws", "us-east-1", "gpu", "nvidia-l4", "x1"] and "89-1.9" in line
        for line in lines
    )
    code, out, _ = _run(
        capsys,
        "endpoint",
        "list-hardware",
        "--namespace",
        "sim-org",
        "--vendor",
        "gcp",
        "--region",
        "us-east4",
        "--accelerator",
        "cpu",
        "--available",
        "--json",
        "--token",
        SIM_TOKEN,
    )
    options = json.loads(out)
    assert {o["id"] for o in options} == {f"gcp-us-east4-intel-spr-x{n}" for n in (1, 2, 4, 8)}
    assert all(o["tei_image"] == f"{IMAGE}:cpu-1.9" for o in options)
    assert endpoint_sim.requests_for(plane="management")[-1].path == "/v2/provider/sim-org"


# -- help texts -----------------------------------------------------------------------------------------


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> list[str]:
    return [
        option
        for action in parser._actions
        for option in action.option_strings
        if option.startswith("--") and option != "--help"
    ]


def _help(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as done:
        cli.main([*argv, "--help"])
    assert done.value.code == 0
    return capsys.readouterr().out


def test_deploy_help_documents_every_option(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    deploy_parser = _subparsers(cli._build_parser())["deploy"]
    text = _help(capsys, "deploy")
    options = _options(deploy_parser)
    expected = (
        "--name --namespace --vendor --region --accelerator --instance-type --instance-size "
        "--min-replica --max-replica --scale-to-zero-timeout --max-batch-tokens --max-concurrent-requests "
        "--max-client-batch-size --max-batch-requests --auto-truncate --tei-version --image --type "
        "--revision --env --timeout --poll-every --no-wait --token --json"
    ).split()
    assert sorted(options) == sorted(expected)
    for action in deploy_parser._actions:
        assert action.help, action.option_strings or action.dest
    for option in options:
        assert option in text, option


def test_endpoint_help_documents_every_action_and_option(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    actions = _subparsers(_subparsers(cli._build_parser())["endpoint"])
    assert sorted(actions) == sorted(
        ["status", "pause", "resume", "scale-to-zero", "delete", "list-hardware"]
    )
    text = _help(capsys, "endpoint")
    for name, parser in actions.items():
        assert name in text, name
        action_text = _help(capsys, "endpoint", name)
        for action in parser._actions:
            assert action.help, (name, action.option_strings or action.dest)
        for option in _options(parser):
            assert option in text, (name, option)
            assert option in action_text, (name, option)
