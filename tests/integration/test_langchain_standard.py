"""LangChain's own standard test suites for HFEmbeddings and the drop-ins, on the real packaged model.

The endpoint drop-in runs against the TEI test server (the real model behind TEI's HTTP API).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from langchain_tests.integration_tests import EmbeddingsIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests

from langchain_hfe import HFEmbeddings, HuggingFaceEmbeddings, HuggingFaceEndpointEmbeddings
from tests.tei_server.harness import TEIServer

from .conftest import MODEL_ID

pytestmark = pytest.mark.model


class TestHFEmbeddingsUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[HFEmbeddings]:
        return HFEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model": MODEL_ID}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return (
            {"HFE_MODEL": MODEL_ID, "HFE_BATCH_SIZE": "7", "HF_TOKEN": "hf_fromenvironment"},
            {},
            {"model": MODEL_ID, "batch_size": 7, "token": "hf_fromenvironment"},
        )


class TestHFEmbeddingsIntegration(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self) -> type[HFEmbeddings]:
        return HFEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model": MODEL_ID}


# --- issue 12: the drop-ins named after langchain-huggingface's classes ---------------------------------


class TestHuggingFaceEmbeddingsDropInUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[HuggingFaceEmbeddings]:
        return HuggingFaceEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model_name": MODEL_ID, "encode_kwargs": {"normalize_embeddings": True}}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return (
            {"HFE_BATCH_SIZE": "7", "HF_TOKEN": "hf_fromenvironment", "HFE_URL": "http://127.0.0.1:8080"},
            {"model_name": MODEL_ID},
            # HFE_URL is not for a local-mode class: it stays local, with no URL.
            {"model": MODEL_ID, "batch_size": 7, "token": "hf_fromenvironment", "mode": "local", "url": None},
        )


class TestHuggingFaceEmbeddingsDropInIntegration(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self) -> type[HuggingFaceEmbeddings]:
        return HuggingFaceEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model_name": MODEL_ID}


_SERVER: dict[str, TEIServer] = {}
API_KEY = "sk-dropin-standard-suite-key"


@pytest.fixture(scope="class")
def tei_server() -> Iterator[TEIServer]:
    with TEIServer(api_key=API_KEY) as running:
        _SERVER["tei"] = running
        yield running
    _SERVER.clear()


class TestHuggingFaceEndpointEmbeddingsDropInUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[HuggingFaceEndpointEmbeddings]:
        return HuggingFaceEndpointEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model": "http://127.0.0.1:8080", "task": "feature-extraction"}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return (
            {"HUGGINGFACEHUB_API_TOKEN": "hf_fromenvironment", "HFE_MAX_CONCURRENCY": "3"},
            {"model": "BAAI/bge-small-en-v1.5"},
            {
                "mode": "endpoint",
                "model": "BAAI/bge-small-en-v1.5",
                "token": "hf_fromenvironment",
                "max_concurrency": 3,
            },
        )


@pytest.mark.usefixtures("tei_server")
class TestHuggingFaceEndpointEmbeddingsDropInIntegration(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self) -> type[HuggingFaceEndpointEmbeddings]:
        return HuggingFaceEndpointEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model": _SERVER["tei"].url, "huggingfacehub_api_token": API_KEY}
