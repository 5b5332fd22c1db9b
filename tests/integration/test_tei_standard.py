"""LangChain's standard suites and the adapters' shared contract, in tei mode."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_tests.integration_tests import EmbeddingsIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests

from hfe_core import InputTypeError
from langchain_hfe import HFEmbeddings
from llamaindex_hfe import HFEmbedding
from tests.tei_server.harness import TEIServer

pytestmark = pytest.mark.model

_SERVER: dict[str, TEIServer] = {}
API_KEY = "sk-standard-suite-key"


@pytest.fixture(scope="module", autouse=True)
def server() -> Iterator[TEIServer]:
    with TEIServer(api_key=API_KEY) as running:
        _SERVER["tei"] = running
        yield running
    _SERVER.clear()


class TestHFEmbeddingsTEIUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[HFEmbeddings]:
        return HFEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"mode": "tei", "url": _SERVER["tei"].url, "api_key": API_KEY}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return (
            {"HFE_URL": "http://127.0.0.1:8080", "TEI_API_KEY": "sk-from-env", "HFE_MAX_CONCURRENCY": "3"},
            {},
            {"mode": "tei", "url": "http://127.0.0.1:8080", "token": "sk-from-env", "max_concurrency": 3},
        )


class TestHFEmbeddingsTEIIntegration(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self) -> type[HFEmbeddings]:
        return HFEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"mode": "tei", "url": _SERVER["tei"].url, "api_key": API_KEY}


@pytest.mark.parametrize("adapter", [HFEmbeddings, HFEmbedding], ids=["langchain", "llamaindex"])
def test_tei_adapters_keep_the_api_key_out_of_every_serialization(adapter: Any, server: TEIServer) -> None:
    obj = adapter(mode="tei", url=server.url, api_key=API_KEY)
    texts = [repr(obj), str(obj), obj.model_dump_json()]
    if adapter is HFEmbedding:
        texts.append(obj.to_json())
    assert all(API_KEY not in text for text in texts)
    assert API_KEY.encode() not in pickle.dumps(obj)


@pytest.mark.parametrize("adapter", [HFEmbeddings, HFEmbedding], ids=["langchain", "llamaindex"])
def test_tei_adapters_reject_a_bare_string(adapter: Any, server: TEIServer) -> None:
    obj = adapter(mode="tei", url=server.url, api_key=API_KEY)
    embed = obj.embed_documents if adapter is HFEmbeddings else obj.get_text_embedding_batch
    with pytest.raises(InputTypeError):
        embed("not a list")
    with pytest.raises(InputTypeError) as caught:
        embed(["fine", None])
    assert caught.value.indices == [1]
