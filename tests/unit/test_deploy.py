"""Table tests of hfe_core.deploy's pure parts: the TEI image per hardware and the create arguments."""

from __future__ import annotations

import re
from typing import Any

import pytest

from hfe_core.deploy import (
    EndpointStatus,
    default_endpoint_name,
    endpoint_arguments,
    tei_image,
)
from hfe_core.errors import AuthenticationError, ConfigurationError

IMAGE = "ghcr.io/huggingface/text-embeddings-inference"
MODEL = "sentence-transformers/all-MiniLM-L6-v2"


@pytest.mark.parametrize(
    ("accelerator", "instance_type", "kwargs", "tag"),
    [
        ("cpu", "intel-spr", {}, "cpu-1.9"),
        ("cpu", "intel-icl", {}, "cpu-1.9"),
        ("CPU", "Intel-SPR", {}, "cpu-1.9"),
        ("cpu", "intel-xeon", {}, "cpu-1.9"),
        ("cpu", "aws-graviton3", {}, "cpu-arm64-1.9"),
        ("cpu", "aws-graviton4", {}, "cpu-arm64-1.9"),
        ("gpu", "nvidia-t4", {}, "turing-1.9"),
        ("gpu", "nvidia-a100", {}, "1.9"),
        ("gpu", "nvidia-a10g", {}, "86-1.9"),
        ("gpu", "nvidia-a10", {}, "86-1.9"),
        ("gpu", "nvidia-l4", {}, "89-1.9"),
        ("gpu", "nvidia-l40s", {}, "89-1.9"),
        ("gpu", "nvidia-h100", {}, "hopper-1.9"),
        ("gpu", "nvidia-h200", {}, "hopper-1.9"),
        ("gpu", "nvidia-b200", {}, "100-1.9"),
        ("gpu", "nvidia-rtx-pro-6000", {}, "120-1.9"),
        ("gpu", "nvidia-l4", {"tei_version": "1.9.3"}, "89-1.9.3"),
        ("gpu", "nvidia-a100", {"tei_version": "1.8"}, "1.8"),
        ("gpu", "nvidia-t4", {"grpc": True}, "turing-1.9-grpc"),
        ("gpu", "nvidia-a100", {"grpc": True}, "1.9-grpc"),
        ("cpu", "intel-spr", {"grpc": True, "tei_version": "1.8.3"}, "cpu-1.8.3-grpc"),
    ],
)
def test_tei_image_per_hardware(
    accelerator: str, instance_type: str, kwargs: dict[str, Any], tag: str
) -> None:
    assert tei_image(accelerator, instance_type, **kwargs) == f"{IMAGE}:{tag}"


@pytest.mark.parametrize(
    ("accelerator", "instance_type", "kwargs", "message"),
    [
        (
            "gpu",
            "nvidia-x9000",
            {},
            r"No TEI image is known for the GPU instance type 'nvidia-x9000'.*nvidia-l4",
        ),
        ("gpu", "nvidia-x9000", {}, r"image='ghcr.io/huggingface/text-embeddings-inference:<tag>'"),
        ("gpu", "intel-spr", {}, r"looks like a CPU type: pass accelerator='cpu'"),
        ("cpu", "nvidia-l4", {}, r"is a GPU but accelerator='cpu'; pass accelerator='gpu'"),
        ("neuron", "inf2", {}, r"accelerator='neuron' has no TEI image.*image="),
        ("cpu", "", {}, r"instance_type is empty"),
        ("cpu", "intel-spr", {"tei_version": "latest"}, r"tei_version='latest' is not a TEI release"),
        ("cpu", "intel-spr", {"tei_version": "v1.9"}, r"tei_version='v1.9'"),
    ],
)
def test_tei_image_refusals(
    accelerator: str, instance_type: str, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        tei_image(accelerator, instance_type, **kwargs)


@pytest.mark.parametrize(
    ("model", "name"),
    [
        ("sentence-transformers/all-MiniLM-L6-v2", "all-minilm-l6-v2"),
        ("BAAI/bge-small-en-v1.5", "bge-small-en-v1-5"),
        ("intfloat/multilingual-e5-large-instruct", "multilingual-e5-large-instruct"),
        ("gpt2", "gpt2"),
        ("org/__weird__..name__", "weird-name"),
        ("org/___", "embeddings"),
    ],
)
def test_default_endpoint_name(model: str, name: str) -> None:
    assert default_endpoint_name(model) == name


@pytest.mark.parametrize(
    "model",
    [
        "sentence-transformers/paraphrase-multilingual-mpnet-base-v2",
        "Alibaba-NLP/gte-Qwen2-7B-instruct-with-a-very-long-suffix-indeed",
        "x/" + "a" * 80,
    ],
)
def test_long_default_names_are_cut_to_a_valid_name(model: str) -> None:
    name = default_endpoint_name(model)
    assert len(name) <= 32
    assert re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", name)
    assert name == default_endpoint_name(model)  # deterministic
    assert endpoint_arguments(model)["name"] == name


def test_endpoint_arguments_defaults_make_a_small_cpu_endpoint() -> None:
    assert endpoint_arguments(MODEL) == {
        "name": "all-minilm-l6-v2",
        "namespace": None,
        "repository": MODEL,
        "revision": None,
        "framework": "pytorch",
        "task": "sentence-embeddings",
        "vendor": "aws",
        "region": "us-east-1",
        "accelerator": "cpu",
        "instance_type": "intel-spr",
        "instance_size": "x2",
        "min_replica": 0,
        "max_replica": 1,
        "scale_to_zero_timeout": 15,
        "type": "authenticated",
        "custom_image": {
            "tei": {
                "url": f"{IMAGE}:cpu-1.9",
                "healthRoute": "/health",
                "port": 80,
                "maxBatchTokens": 16384,
                "maxConcurrentRequests": 512,
            }
        },
        "env": {"MAX_BATCH_TOKENS": "16384", "MAX_CONCURRENT_REQUESTS": "512"},
    }


def test_endpoint_arguments_match_create_inference_endpoint() -> None:
    import inspect

    import huggingface_hub

    accepted = set(inspect.signature(huggingface_hub.HfApi.create_inference_endpoint).parameters)
    assert set(endpoint_arguments(MODEL)) <= accepted


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"name": "my-ep", "namespace": "my-org"}, {"name": "my-ep", "namespace": "my-org"}),
        (
            {"accelerator": "gpu", "instance_type": "nvidia-l4", "instance_size": "x1"},
            {"accelerator": "gpu", "instance_type": "nvidia-l4", "instance_size": "x1"},
        ),
        ({"accelerator": "GPU", "instance_type": "nvidia-t4"}, {"accelerator": "gpu"}),
        (
            {"min_replica": 1, "max_replica": 4},
            {"min_replica": 1, "max_replica": 4, "scale_to_zero_timeout": None},
        ),
        ({"scale_to_zero_timeout": 60}, {"scale_to_zero_timeout": 60}),
        ({"revision": "abc123"}, {"revision": "abc123"}),
        ({"endpoint_type": "public"}, {"type": "public"}),
        ({"endpoint_type": "private"}, {"type": "private"}),
        ({"vendor": "gcp", "region": "us-east4"}, {"vendor": "gcp", "region": "us-east4"}),
    ],
)
def test_endpoint_arguments_pass_choices_through(kwargs: dict[str, Any], expected: dict[str, Any]) -> None:
    arguments = endpoint_arguments(MODEL, **kwargs)
    assert {key: arguments[key] for key in expected} == expected


@pytest.mark.parametrize(
    ("kwargs", "image"),
    [
        ({"accelerator": "gpu", "instance_type": "nvidia-l4"}, f"{IMAGE}:89-1.9"),
        ({"accelerator": "gpu", "instance_type": "nvidia-a100", "tei_version": "1.9.3"}, f"{IMAGE}:1.9.3"),
        (
            {"accelerator": "gpu", "instance_type": "nvidia-x9000", "image": "my.registry/tei:1"},
            "my.registry/tei:1",
        ),
        ({"image": f"{IMAGE}:cpu-1.8.3"}, f"{IMAGE}:cpu-1.8.3"),
    ],
)
def test_the_image_follows_the_hardware_or_the_override(kwargs: dict[str, Any], image: str) -> None:
    assert endpoint_arguments(MODEL, **kwargs)["custom_image"]["tei"]["url"] == image


@pytest.mark.parametrize(
    ("kwargs", "env", "tei"),
    [
        (
            {"max_batch_tokens": 8192, "max_concurrent_requests": 64},
            {"MAX_BATCH_TOKENS": "8192", "MAX_CONCURRENT_REQUESTS": "64"},
            {"maxBatchTokens": 8192, "maxConcurrentRequests": 64},
        ),
        ({"max_client_batch_size": 128}, {"MAX_CLIENT_BATCH_SIZE": "128"}, {}),
        ({"max_batch_requests": 16}, {"MAX_BATCH_REQUESTS": "16"}, {}),
        ({"auto_truncate": False}, {"AUTO_TRUNCATE": "false"}, {}),
        ({"auto_truncate": True}, {"AUTO_TRUNCATE": "true"}, {}),
        ({"env": {"DEFAULT_PROMPT_NAME": "query"}}, {"DEFAULT_PROMPT_NAME": "query"}, {}),
        (
            {"env": {"PAYLOAD_LIMIT": 4000000, "JSON_OUTPUT": True}},
            {"PAYLOAD_LIMIT": "4000000", "JSON_OUTPUT": "true"},
            {},
        ),
        ({"env": {"MAX_BATCH_TOKENS": "16384"}}, {"MAX_BATCH_TOKENS": "16384"}, {}),  # agreeing: fine
    ],
)
def test_tei_limits_go_to_env_and_to_the_image(
    kwargs: dict[str, Any], env: dict[str, str], tei: dict[str, int]
) -> None:
    arguments = endpoint_arguments(MODEL, **kwargs)
    assert {key: arguments["env"][key] for key in env} == env
    assert {key: arguments["custom_image"]["tei"][key] for key in tei} == tei


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": ""}, r"model='' is not a Hugging Face model id"),
        ({"model": "has space/model"}, r"is not a Hugging Face model id"),
        ({"model": "a/b/c"}, r"is not a Hugging Face model id"),
        (
            {"name": "My_Endpoint"},
            r"name='My_Endpoint' is not a valid Inference Endpoint name.*'my-endpoint'",
        ),
        ({"name": "x" * 33}, r"at most 32 characters"),
        ({"name": "-lead"}, r"starting and ending with a letter or a digit"),
        ({"name": "trail-"}, r"not a valid Inference Endpoint name"),
        ({"name": ""}, r"not a valid Inference Endpoint name"),
        ({"namespace": "a/b"}, r"namespace='a/b' must be a user or organization"),
        ({"vendor": ""}, r"vendor='' must be a non-empty name"),
        ({"region": " us-east-1"}, r"region=' us-east-1'"),
        ({"instance_size": "2"}, r"instance_size='2' must look like 'x1'"),
        ({"instance_size": "x0"}, r"instance_size='x0'"),
        ({"min_replica": -1}, r"min_replica=-1 must be a whole number >= 0"),
        ({"max_replica": 0}, r"max_replica=0 must be a whole number >= 1"),
        ({"min_replica": 3, "max_replica": 2}, r"max_replica=2 must be >= min_replica=3"),
        ({"scale_to_zero_timeout": None}, r"min_replica=0 needs scale_to_zero_timeout.*min_replica=1"),
        ({"scale_to_zero_timeout": 0}, r"scale_to_zero_timeout=0 must be a whole number >= 1"),
        ({"max_batch_tokens": 0}, r"max_batch_tokens=0"),
        ({"max_concurrent_requests": 1.5}, r"max_concurrent_requests=1.5"),
        ({"max_client_batch_size": 0}, r"max_client_batch_size=0"),
        ({"max_batch_requests": True}, r"max_batch_requests=True"),
        ({"endpoint_type": "protected"}, r"'protected' is deprecated; use 'authenticated'"),
        ({"endpoint_type": "open"}, r"endpoint_type='open' must be one of public, authenticated, private"),
        ({"image": "has space"}, r"image='has space' must be a container image"),
        ({"revision": " "}, r"revision is empty"),
        ({"accelerator": "gpu", "instance_type": "nvidia-x9000"}, r"image='ghcr.io/huggingface/"),
        ({"tei_version": "main"}, r"tei_version='main'"),
        (
            {"env": {"MAX_BATCH_TOKENS": "1"}},
            r"conflicts with max_batch_tokens='16384'; set max_batch_tokens",
        ),
        (
            {"max_client_batch_size": 8, "env": {"MAX_CLIENT_BATCH_SIZE": "9"}},
            r"set max_client_batch_size instead",
        ),
        ({"env": {"HF_TOKEN": "hf_secret"}}, r"credential in plain text"),
        ({"env": {"API_KEY": "k"}}, r"credential in plain text"),
        ({"env": {"BAD-KEY": "1"}}, r"'BAD-KEY' is not a valid environment variable name"),
        ({"env": {"LIST": ["a"]}}, r"env\['LIST'\] must be a string"),
    ],
)
def test_endpoint_arguments_refusals_name_what_to_fix(kwargs: dict[str, Any], message: str) -> None:
    model = kwargs.pop("model", MODEL)
    with pytest.raises(ConfigurationError, match=message) as caught:
        endpoint_arguments(model, **kwargs)
    assert "hf_secret" not in str(caught.value)


def test_endpoint_status_reads_the_raw_answer_defensively() -> None:
    class Fake:
        name, namespace, status, url = "ep", "me", "running", "https://x.endpoints.huggingface.cloud"
        raw = {
            "type": "authenticated",
            "provider": {"vendor": "aws", "region": "us-east-1"},
            "compute": {
                "accelerator": "cpu",
                "instanceType": "intel-spr",
                "instanceSize": "x2",
                "scaling": {"minReplica": 0, "maxReplica": 1, "scaleToZeroTimeout": 15},
            },
            "model": {
                "repository": MODEL,
                "revision": "main",
                "task": "sentence-embeddings",
                "image": {"tei": {"url": f"{IMAGE}:cpu-1.9"}},
            },
            "status": {"state": "running", "message": "Endpoint is ready"},
        }

    status = EndpointStatus.from_endpoint(Fake())
    assert status.as_dict() == {
        "name": "ep",
        "namespace": "me",
        "status": "running",
        "url": "https://x.endpoints.huggingface.cloud",
        "repository": MODEL,
        "revision": "main",
        "task": "sentence-embeddings",
        "endpoint_type": "authenticated",
        "vendor": "aws",
        "region": "us-east-1",
        "accelerator": "cpu",
        "instance_type": "intel-spr",
        "instance_size": "x2",
        "min_replica": 0,
        "max_replica": 1,
        "scale_to_zero_timeout": 15,
        "image": f"{IMAGE}:cpu-1.9",
        "message": "Endpoint is ready",
    }

    class Bare:
        name, namespace, status, url, raw = "ep", "me", "pending", None, {}

    assert EndpointStatus.from_endpoint(Bare()).as_dict()["image"] is None


def test_no_token_is_an_authentication_error_before_any_request() -> None:
    from hfe_core.deploy import create_endpoint, endpoint_status

    with pytest.raises(AuthenticationError, match=r"hf auth login.*HF_TOKEN"):
        create_endpoint(MODEL)
    with pytest.raises(AuthenticationError, match=r"hf auth login"):
        endpoint_status("ep")


def test_deploy_endpoint_checks_its_settings_before_anything(monkeypatch: pytest.MonkeyPatch) -> None:
    from hfe_core import deploy

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("nothing may be created")

    monkeypatch.setattr(deploy, "_create", boom)
    with pytest.raises(ConfigurationError, match=r"deploy_endpoint sets endpoint_name, mode itself"):
        deploy.deploy_endpoint(MODEL, token="hf_x", mode="tei", endpoint_name="other")
    with pytest.raises(ValueError, match="batch_size"):
        deploy.deploy_endpoint(MODEL, token="hf_x", batch_size=-1)
    with pytest.raises(ConfigurationError, match=r"timeout=0 and poll_every=5.0 must be > 0"):
        deploy.create_endpoint(MODEL, token="hf_x", timeout=0)
