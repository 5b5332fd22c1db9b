"""The replay infrastructure (tests/replay.py) with huggingface_hub's own clients, not hfe.

Every recording is a real HTTP interaction (tests/cassettes/README.md). Each test sends the call through
huggingface_hub 1.x's ``InferenceClient``/``AsyncInferenceClient`` and compares the result with the recorded
body read independently with ``recorded_bodies``. The unit conftest blocks sockets, so a request that vcrpy
did not intercept would fail.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from huggingface_hub import AsyncInferenceClient, InferenceClient
from huggingface_hub.errors import HfHubHTTPError
from pytest_socket import SocketBlockedError
from vcr.errors import CannotOverwriteExistingCassetteException

from tests.replay import (
    A2,
    A5,
    A8,
    A11,
    A12,
    B1,
    B4,
    C1,
    hub_online,
    load_interactions,
    normalized_route,
    recorded_bodies,
    replay,
    tape_key,
)

API = "https://api-inference.huggingface.co"
ROUTER = "https://router.huggingface.co/hf-inference"
TEXT = "Hi, who are you?"
HAPPY = "That is a happy person"

# sha256 of the files as copied (INDEX.md section G for the verbatim copies).
SHA256 = {
    A2: "a6c8a50367b0723b75b70483b825a3e657a235d7687c2faa1fc6ad984af72023",
    A5: "703f97a50d2ddec2af14b2bc569ebbe0b7e7f192969071c91093230e4f6a2301",
    A8: "ccc13130a0e5ffe325fef9f1fec85e049a9f816a0220f1b0af0a21694794d097",
    A11: "3ec9e6c05a4b503e913381d9a3a0ab76bba9c276c8b7a11409fdc24a34e87923",
    A12: "739d76aa97c7e2ad05c74393d5c44f1bf037e12f3efe578ffbd11ba1741b6f4a",
    C1: "8f1fcee6a64678c7b4155582e85a0d2759102d0465be101f8ac687e9c1a2b5ad",
    B4: "8a6190914c3b08dc4e7bca841c8bdb3e2fa32bc26f9ce12776113d568f130546",
    B1: "b3fa707b379bc5e9ac37c0731c6160a9645547d44036aab2eab08343fb3329c0",
}


@pytest.fixture(autouse=True)
def hub_reachable() -> Iterator[None]:
    """huggingface_hub's offline switch lifted and its caches cleared (see ``hub_online``)."""
    with hub_online():
        yield


def f32(value: Any) -> np.ndarray:
    return np.asarray(value, dtype=np.float32)


@pytest.mark.parametrize("path", list(SHA256), ids=lambda p: p.parent.name)
def test_recordings_are_unchanged(path: Path) -> None:
    assert hashlib.sha256(path.read_bytes()).hexdigest() == SHA256[path]


@pytest.mark.parametrize("path", [B4, B1], ids=["457119ebd1", "e26e61887b"])
def test_tape_keys_are_the_hash_of_the_recorded_request(path: Path) -> None:
    interactions = load_interactions(path)
    assert interactions
    for item in interactions:
        body = item.request.body.decode() if item.request.body is not None else None
        assert item.key == tape_key(item.request.uri, item.request.method, body)


def test_a8_model_id_replays_model_info_then_old_router_route() -> None:
    recorded = recorded_bodies(A8)
    assert recorded[0]["pipeline_tag"] == "feature-extraction"
    with replay(A8) as cassette:
        out = InferenceClient(model="facebook/bart-base", provider="hf-inference").feature_extraction(TEXT)
        assert cassette.play_count == 2 and cassette.all_played
    assert out.shape == (1, 8, 768)
    np.testing.assert_array_equal(out, f32(recorded[1]))


async def test_a8_async_client() -> None:
    with replay(A8) as cassette:
        async with AsyncInferenceClient(model="facebook/bart-base", provider="hf-inference") as client:
            out = await client.feature_extraction(TEXT)
        assert cassette.all_played
    np.testing.assert_array_equal(out, f32(recorded_bodies(A8)[1]))


@pytest.mark.parametrize(
    "url",
    [
        f"{ROUTER}/pipeline/feature-extraction/facebook/bart-base",
        f"{ROUTER}/models/facebook/bart-base/pipeline/feature-extraction",
    ],
    ids=["recorded-form", "1.x-form"],
)
def test_a8_url_as_model_skips_model_info(url: str) -> None:
    with replay(A8, select=[1]) as cassette:
        out = InferenceClient(model=url).feature_extraction(TEXT)
        assert cassette.all_played
    np.testing.assert_array_equal(out, f32(recorded_bodies(A8)[1]))


def test_a5_503_loading_then_200() -> None:
    client = InferenceClient(model=f"{API}/pipeline/feature-extraction/facebook/bart-base")
    with replay(A5):
        with pytest.raises(HfHubHTTPError) as error:
            client.feature_extraction(TEXT)  # huggingface_hub 1.x does not retry a 503
        assert error.value.response.status_code == 503
        assert error.value.response.json() == recorded_bodies(A5)[0]  # estimated_time is not in the message
        assert "is currently loading" in str(error.value)
        out = client.feature_extraction(TEXT)
        with pytest.raises(CannotOverwriteExistingCassetteException):
            client.feature_extraction(TEXT)  # each interaction plays once
    assert recorded_bodies(A5)[0]["estimated_time"] == pytest.approx(22.307266235351562)
    np.testing.assert_array_equal(out, f32(recorded_bodies(A5)[1]))


def test_hosts_are_never_equivalent() -> None:
    client = InferenceClient(model=f"{ROUTER}/models/facebook/bart-base/pipeline/feature-extraction")
    with replay(A5), pytest.raises(CannotOverwriteExistingCassetteException):
        client.feature_extraction(TEXT)


def test_without_replay_the_socket_guard_stops_the_call() -> None:
    client = InferenceClient(model=f"{API}/pipeline/feature-extraction/facebook/bart-base")
    # pytest-socket blocks getaddrinfo; its warning becomes an error under filterwarnings=error.
    with pytest.raises((SocketBlockedError, UserWarning), match="socket"):
        client.feature_extraction(TEXT)


def test_unrecorded_model_fails_loudly() -> None:
    client = InferenceClient(model="sentence-transformers/all-MiniLM-L6-v2", provider="hf-inference")
    with replay(A8), pytest.raises(CannotOverwriteExistingCassetteException):
        client.feature_extraction(TEXT)


@pytest.mark.parametrize(
    ("path", "status", "message"), [(A11, 429, "Rate limit reached"), (A12, 400, "inputs.context")]
)
def test_recorded_errors(path: Path, status: int, message: str) -> None:
    recorded = recorded_bodies(path)[1]
    client = InferenceClient(model=f"{API}/pipeline/question-answering/deepset/roberta-base-squad2")
    with replay(path, select=[1]) as cassette:
        with pytest.raises(HfHubHTTPError) as error:
            client.question_answering(question="What's my name?", context="")
        assert cassette.all_played
    assert error.value.response.status_code == status
    assert error.value.response.json() == recorded
    assert message in str(error.value)
    assert isinstance(recorded["error"], str if status == 429 else list)


def test_c1_ruby_vcr_flat_1024() -> None:
    with replay(C1) as cassette:
        out = InferenceClient(model=f"{API}/models/mixedbread-ai/mxbai-embed-large-v1").feature_extraction(
            "test"
        )
        assert cassette.all_played
    assert out.shape == (1024,)
    np.testing.assert_array_equal(out, f32(recorded_bodies(C1)[0]))


def test_a2_flat_384() -> None:
    url = f"{API}/pipeline/feature-extraction/sentence-transformers/all-MiniLM-L6-v2"
    with replay(A2):
        out = InferenceClient(model=url).feature_extraction(TEXT)
    assert out.shape == (384,)
    np.testing.assert_array_equal(out, f32(recorded_bodies(A2)[0]))


def test_b4_tape_ragged_batch_single_and_flat() -> None:
    ragged, single, flat = recorded_bodies(B4)
    assert [np.shape(item) for item in ragged] == [(1, 3, 768), (1, 7, 768)]
    client = InferenceClient(model=f"{ROUTER}/models/facebook/bart-base/pipeline/feature-extraction")
    with replay(B4, match_on=("method", "hf_route", "hf_inputs")) as cassette:
        # InferenceClient does np.array(body, dtype="float32"): a ragged batch cannot become an array.
        with pytest.raises(ValueError, match="inhomogeneous"):
            client.feature_extraction(["hello", HAPPY])
        out = client.feature_extraction(HAPPY)
        distil = InferenceClient(
            model=f"{ROUTER}/models/sentence-transformers/distilbert-base-nli-mean-tokens/pipeline/feature-extraction"
        )
        out_flat = distil.feature_extraction(HAPPY)
        assert cassette.all_played
    np.testing.assert_array_equal(out, f32(single))
    assert out.shape == (1, 7, 768) and out_flat.shape == (768,)
    np.testing.assert_array_equal(out_flat, f32(flat))


async def test_b1_tape_async_503_then_200() -> None:
    bodies = recorded_bodies(B1)
    assert [item.status for item in load_interactions(B1)] == [503, 503, 200, 200]
    async with AsyncInferenceClient(model=f"{API}/pipeline/feature-extraction/facebook/bart-base") as client:
        with replay(B1) as cassette:
            with pytest.raises(HfHubHTTPError) as error:
                await client.feature_extraction(HAPPY)
            out = await client.feature_extraction(HAPPY)
            assert cassette.play_count == 2
    assert error.value.response.status_code == 503
    assert error.value.response.json() == bodies[0] and bodies[0]["estimated_time"] == 20.0
    assert out.shape == (1, 7, 768)
    np.testing.assert_array_equal(out, f32(bodies[3]))


def test_normalized_route() -> None:
    old = normalized_route(f"{ROUTER}/pipeline/feature-extraction/facebook/bart-base")
    assert old == normalized_route(f"{ROUTER}/models/facebook/bart-base/pipeline/feature-extraction")
    info = "https://huggingface.co/api/models/facebook/bart-base"
    assert normalized_route(info) == normalized_route(f"{info}?expand=inferenceProviderMapping")
    assert normalized_route(f"{API}/models/x?a=1") != normalized_route(f"{API}/models/x?a=2")
    assert normalized_route(f"{API}/pipeline/feature-extraction/facebook/bart-base") != old


def test_replay_refuses_missing_file_and_writing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError), replay(tmp_path / "absent.yaml"):
        pass
    copy = tmp_path / "a8.yaml"
    copy.write_bytes(A8.read_bytes())
    with replay(copy) as cassette:
        with pytest.raises(RuntimeError, match="read-only"):
            cassette._save(force=True)
    assert copy.read_bytes() == A8.read_bytes()
