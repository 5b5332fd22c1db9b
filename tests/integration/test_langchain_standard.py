"""LangChain's own standard test suites for HFEmbeddings, on the real packaged model."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_tests.integration_tests import EmbeddingsIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests

from langchain_hfe import HFEmbeddings

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
