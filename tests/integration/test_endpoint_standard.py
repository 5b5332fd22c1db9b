"""LangChain's standard suites and the adapters' shared contract in endpoint mode, from a cassette.

CI only replays tests/cassettes/endpoint/standard.yaml (no server starts, no socket opens). To
re-record, run::

    HFE_RECORD_CASSETTES=1 python -m pytest tests/integration/test_endpoint_standard.py

which starts tests/endpoint_sim (a loopback SIMULATION of the Inference Endpoints service) on
127.0.0.1:18081 with one authenticated endpoint in front of tests/tei_server running the real
packaged all-MiniLM-L6-v2, and rewrites the cassette. The Authorization header is filtered out
before it is written; the recorded vectors are checked against TEI's own snapshot.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import vcr
import yaml
from langchain_tests.integration_tests import EmbeddingsIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests

from hfe_core import InputTypeError
from langchain_hfe import HFEmbeddings
from llamaindex_hfe import HFEmbedding

from .conftest import CASSETTES, cosine, load_snapshot

RECORD = os.environ.get("HFE_RECORD_CASSETTES") == "1"
FOLDER = CASSETTES / "endpoint"
PORT = 18081
URL = f"http://127.0.0.1:{PORT}/ep/sim-user/minilm"
TOKEN = "hf_recording_token_never_stored"


def _endpoint_only(request: Any) -> Any:
    """Keep hfe's requests to the endpoint; drop the simulation's own requests to its TEI server."""
    return request if request.uri.startswith(URL) else None


def _keep_each_request_once(path: Path) -> None:
    """After recording: drop repeated identical requests (replay repeats the first answer)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    seen: set[tuple[str, str, str]] = set()
    kept = []
    for interaction in data["interactions"]:
        request = interaction["request"]
        key = (request["method"], request["uri"], str(request.get("body")))
        if key not in seen:
            seen.add(key)
            kept.append(interaction)
    data["interactions"] = kept
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


recorder = vcr.VCR(
    cassette_library_dir=str(FOLDER),
    record_mode="all" if RECORD else "none",
    match_on=["method", "path", "body"],
    filter_headers=["authorization"],
    before_record_request=_endpoint_only,
    decode_compressed_response=True,
)


@pytest.fixture(scope="module", autouse=True)
def cassette() -> Iterator[None]:
    """Every test of the module runs inside one cassette (recorded from the simulation, or replayed)."""
    if not RECORD:
        with recorder.use_cassette("standard.yaml", allow_playback_repeats=True):
            yield
        return
    from tests.endpoint_sim import EndpointSim
    from tests.tei_server.harness import TEIServer

    (FOLDER / "standard.yaml").unlink(missing_ok=True)
    with TEIServer() as tei, EndpointSim(upstream=tei, port=PORT) as sim:
        sim.add_endpoint("minilm", state="running")
        with recorder.use_cassette("standard.yaml", allow_playback_repeats=True):
            yield
    _keep_each_request_once(FOLDER / "standard.yaml")


PARAMS = {"mode": "endpoint", "url": URL, "token": TOKEN}


class TestHFEmbeddingsEndpointUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[HFEmbeddings]:
        return HFEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return dict(PARAMS)

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return (
            {"HFE_URL": "https://abc.us-east-1.aws.endpoints.huggingface.cloud", "HF_TOKEN": "hf_from_env"},
            {},
            {"mode": "endpoint", "url": "https://abc.us-east-1.aws.endpoints.huggingface.cloud"},
        )


class TestHFEmbeddingsEndpointIntegration(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self) -> type[HFEmbeddings]:
        return HFEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return dict(PARAMS)


ADAPTERS = [HFEmbeddings, HFEmbedding]


def _documents(obj: Any, texts: Any) -> list[list[float]]:
    return (
        obj.embed_documents(texts) if isinstance(obj, HFEmbeddings) else obj.get_text_embedding_batch(texts)
    )


def _query(obj: Any, text: str) -> list[float]:
    return obj.embed_query(text) if isinstance(obj, HFEmbeddings) else obj.get_query_embedding(text)


@pytest.mark.parametrize("adapter", ADAPTERS, ids=["langchain", "llamaindex"])
def test_endpoint_adapters_return_the_real_model_vectors(adapter: Any) -> None:
    obj = adapter(**PARAMS)
    snapshot = load_snapshot("test_http_embed__embeddings_single.snap")[0]  # TEI's own answer for "test"
    documents = _documents(obj, ["test", "Embeddings map text to vectors."])
    assert cosine(documents[0], snapshot) >= 0.9999
    assert cosine(_query(obj, "test"), snapshot) >= 0.9999
    assert abs(np.linalg.norm(documents[1]) - 1) < 1e-5


@pytest.mark.parametrize("adapter", ADAPTERS, ids=["langchain", "llamaindex"])
async def test_endpoint_adapters_async_twins_match_sync(adapter: Any) -> None:
    obj = adapter(**PARAMS)
    texts = ["twin one", "twin two"]
    if adapter is HFEmbeddings:
        pairs = [(obj.embed_documents(texts), await obj.aembed_documents(texts))]
        pairs.append(([obj.embed_query("q")], [await obj.aembed_query("q")]))
    else:
        pairs = [(obj.get_text_embedding_batch(texts), await obj.aget_text_embedding_batch(texts))]
        pairs.append(([obj.get_query_embedding("q")], [await obj.aget_query_embedding("q")]))
    for sync, asynchronous in pairs:
        np.testing.assert_allclose(sync, asynchronous, atol=1e-6)


@pytest.mark.parametrize("adapter", ADAPTERS, ids=["langchain", "llamaindex"])
def test_endpoint_adapters_keep_the_token_out_of_every_serialization(adapter: Any) -> None:
    obj = adapter(**PARAMS)
    texts = [repr(obj), str(obj), obj.model_dump_json()]
    if adapter is HFEmbedding:
        texts.append(obj.to_json())
    assert all(TOKEN not in text for text in texts)
    assert TOKEN.encode() not in pickle.dumps(obj)


@pytest.mark.parametrize("adapter", ADAPTERS, ids=["langchain", "llamaindex"])
def test_endpoint_adapters_reject_bad_input_and_embed_nothing_for_nothing(adapter: Any) -> None:
    obj = adapter(**PARAMS)
    with pytest.raises(InputTypeError):
        _documents(obj, "not a list")
    with pytest.raises(InputTypeError) as caught:
        _documents(obj, ["fine", None])
    assert caught.value.indices == [1]
    assert _documents(obj, []) == []


def test_endpoint_adapters_agree_and_pickle_their_configuration() -> None:
    lc, li = HFEmbeddings(**PARAMS, max_concurrency=2), HFEmbedding(**PARAMS, max_concurrency=2)
    texts = ["contract", "in endpoint mode"]
    np.testing.assert_allclose(lc.embed_documents(texts), li.get_text_embedding_batch(texts), atol=1e-6)
    restored = pickle.loads(pickle.dumps(lc))
    assert restored.max_concurrency == 2 and restored.url == URL and restored.token is None
    assert restored.mode == "endpoint"


def test_the_cassette_is_small_and_has_no_secret() -> None:
    path = FOLDER / "standard.yaml"
    text = path.read_text(encoding="utf-8")
    assert path.stat().st_size < 100_000
    assert TOKEN not in text and "authorization:" not in text.lower()
    assert "x-scale-up-timeout" in text and "/ep/sim-user/minilm/embed" in text
