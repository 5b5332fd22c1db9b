"""LangChain's standard suites and the adapters' shared contract, in tei mode."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from typing import Any

import numpy as np
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


@pytest.mark.parametrize("adapter", [HFEmbeddings, HFEmbedding], ids=["langchain", "llamaindex"])
def test_tei_adapters_return_empty_for_empty_without_a_request(adapter: Any) -> None:
    obj = adapter(mode="tei", url="http://127.0.0.1:9")  # nothing listens there
    embed = obj.embed_documents if adapter is HFEmbeddings else obj.get_text_embedding_batch
    assert embed([]) == []


@pytest.mark.parametrize("adapter", [HFEmbeddings, HFEmbedding], ids=["langchain", "llamaindex"])
async def test_tei_adapters_async_twins_and_sync_inside_a_running_loop(
    adapter: Any, server: TEIServer
) -> None:
    obj = adapter(mode="tei", url=server.url, api_key=API_KEY)
    texts = ["twin one", "twin two"]
    if adapter is HFEmbeddings:
        sync_docs, async_docs = obj.embed_documents(texts), await obj.aembed_documents(texts)
        sync_query, async_query = obj.embed_query("q"), await obj.aembed_query("q")
    else:
        sync_docs, async_docs = (
            obj.get_text_embedding_batch(texts),
            await obj.aget_text_embedding_batch(texts),
        )
        sync_query, async_query = obj.get_query_embedding("q"), await obj.aget_query_embedding("q")
    np.testing.assert_allclose(sync_docs, async_docs, atol=1e-6)
    np.testing.assert_allclose(sync_query, async_query, atol=1e-6)


def test_tei_adapters_agree_with_each_other_and_pickle_their_configuration(server: TEIServer) -> None:
    lc = HFEmbeddings(mode="tei", url=server.url, api_key=API_KEY, max_concurrency=2)
    li = HFEmbedding(mode="tei", url=server.url, api_key=API_KEY, max_concurrency=2)
    texts = ["contract", "in tei mode"]
    np.testing.assert_allclose(lc.embed_documents(texts), li.get_text_embedding_batch(texts), atol=1e-6)
    restored = pickle.loads(pickle.dumps(lc))
    assert restored.max_concurrency == 2 and restored.url == server.url and restored.token is None
