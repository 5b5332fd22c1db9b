"""One contract, both adapters: same vectors, same prompts, same errors, same token hygiene.

Every test runs for LangChain's HFEmbeddings and LlamaIndex's HFEmbedding against
the real packaged model, and compares with plain sentence-transformers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import pickle
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hfe_core import (
    ConfigurationError,
    Embedder,
    InputTooLongError,
    InputTypeError,
    ModelLoadError,
)
from langchain_hfe import HFEmbeddings
from llamaindex_hfe import HFEmbedding

from .conftest import MODEL_ID, cosine, reference

pytestmark = pytest.mark.model

SECRET = "hf_contractSECRETtoken123"


@dataclass
class Adapter:
    """A uniform face over both adapters."""

    name: str
    make: Callable[..., Any]

    def documents(self, obj: Any, texts: Any) -> list[list[float]]:
        if self.name == "langchain":
            return obj.embed_documents(texts)  # type: ignore[no-any-return]
        return obj.get_text_embedding_batch(texts)  # type: ignore[no-any-return]

    def query(self, obj: Any, text: Any) -> list[float]:
        if self.name == "langchain":
            return obj.embed_query(text)  # type: ignore[no-any-return]
        return obj.get_query_embedding(text)  # type: ignore[no-any-return]

    async def adocuments(self, obj: Any, texts: Any) -> list[list[float]]:
        if self.name == "langchain":
            return await obj.aembed_documents(texts)  # type: ignore[no-any-return]
        return await obj.aget_text_embedding_batch(texts)  # type: ignore[no-any-return]

    async def aquery(self, obj: Any, text: Any) -> list[float]:
        if self.name == "langchain":
            return await obj.aembed_query(text)  # type: ignore[no-any-return]
        return await obj.aget_query_embedding(text)  # type: ignore[no-any-return]

    def serialized(self, obj: Any) -> list[str]:
        out = [repr(obj), str(obj), json.dumps(obj.model_dump(), default=str), obj.model_dump_json()]
        if self.name == "llamaindex":
            out += [json.dumps(obj.to_dict(), default=str), obj.to_json()]
        return out


ADAPTERS = [Adapter("langchain", HFEmbeddings), Adapter("llamaindex", HFEmbedding)]


@pytest.fixture(params=ADAPTERS, ids=lambda adapter: adapter.name)
def adapter(request: pytest.FixtureRequest) -> Adapter:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def prompted_model(tmp_path_factory: pytest.TempPathFactory, model_path: str) -> str:
    """A copy of the packaged model that carries saved prompts, as E5-style models do."""
    folder = tmp_path_factory.mktemp("prompted") / "minilm-with-prompts"
    shutil.copytree(model_path, folder)
    config_path = folder / "config_sentence_transformers.json"
    config = json.loads(config_path.read_text())
    config["prompts"] = {"query": "query: ", "document": "passage: "}
    config_path.write_text(json.dumps(config))
    return str(folder)


@pytest.fixture(scope="module")
def e5_named_model(tmp_path_factory: pytest.TempPathFactory, model_path: str) -> str:
    """A copy of the packaged model in a folder named like an E5 model, without saved prompts."""
    folder = tmp_path_factory.mktemp("family") / "e5-small-v2"
    shutil.copytree(model_path, folder)
    return str(folder)


TEXTS = ["The cat sat on the mat.", "Embeddings map text to vectors.", "", "line one\nline two"]


def test_both_adapters_return_the_core_vectors(adapter: Adapter, reference_model: Any) -> None:
    obj = adapter.make(model=MODEL_ID)
    got = np.asarray(adapter.documents(obj, TEXTS))
    core = np.asarray(Embedder(model=MODEL_ID).embed_documents(TEXTS))
    expected = reference(reference_model, TEXTS)
    assert got.shape == (4, 384)
    np.testing.assert_allclose(got, core, atol=1e-6)
    for row, want in zip(got, expected, strict=True):
        assert cosine(row, want) > 0.99999
    # Newlines are kept: "line one\nline two" is not embedded as "line one line two".
    flattened = reference(reference_model, ["line one line two"])[0]
    assert cosine(got[3], expected[3]) > cosine(got[3], flattened)
    # The empty string is embedded as the model embeds it.
    assert cosine(got[2], reference(reference_model, [""])[0]) > 0.99999


async def test_async_twins_match_sync(adapter: Adapter) -> None:
    obj = adapter.make(model=MODEL_ID)
    sync_docs = adapter.documents(obj, TEXTS)
    async_docs = await adapter.adocuments(obj, TEXTS)
    np.testing.assert_allclose(async_docs, sync_docs, atol=1e-6)
    np.testing.assert_allclose(
        await adapter.aquery(obj, "a question"), adapter.query(obj, "a question"), atol=1e-6
    )


async def test_sync_methods_work_inside_a_running_event_loop(adapter: Adapter) -> None:
    # What a Jupyter cell does: call the sync API while a loop is running.
    obj = adapter.make(model=MODEL_ID)
    assert asyncio.get_running_loop().is_running()
    assert len(adapter.documents(obj, ["inside a loop"])[0]) == 384
    assert len(adapter.query(obj, "inside a loop")) == 384


async def test_async_embedding_does_not_block_the_event_loop(adapter: Adapter) -> None:
    obj = adapter.make(model=MODEL_ID, batch_size=8)
    texts = [f"sentence number {i} about a topic that keeps the model busy for a while" for i in range(600)]
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.005)

    task = asyncio.create_task(ticker())
    vectors = await adapter.adocuments(obj, texts)
    done.set()
    await task
    assert len(vectors) == 600
    # The loop kept running while the model worked in a thread.
    assert ticks >= 10


def test_query_and_document_prompts_from_the_model(
    adapter: Adapter, prompted_model: str, reference_model: Any
) -> None:
    obj = adapter.make(model=prompted_model)
    query = np.asarray(adapter.query(obj, "how tall is everest"))
    document = np.asarray(adapter.documents(obj, ["how tall is everest"])[0])
    assert cosine(query, reference(reference_model, ["how tall is everest"], "query: ")[0]) > 0.99999
    assert cosine(document, reference(reference_model, ["how tall is everest"], "passage: ")[0]) > 0.99999
    assert cosine(query, document) < 0.9999


def test_explicit_prompts_override_the_model(
    adapter: Adapter, prompted_model: str, reference_model: Any
) -> None:
    obj = adapter.make(model=prompted_model, query_prompt="Question: ", document_prompt="")
    query = adapter.query(obj, "why is the sky blue")
    document = adapter.documents(obj, ["why is the sky blue"])[0]
    assert cosine(query, reference(reference_model, ["why is the sky blue"], "Question: ")[0]) > 0.99999
    assert cosine(document, reference(reference_model, ["why is the sky blue"])[0]) > 0.99999


def test_known_family_prompts_apply_when_the_model_has_none(
    adapter: Adapter, e5_named_model: str, reference_model: Any
) -> None:
    obj = adapter.make(model=e5_named_model)
    query = adapter.query(obj, "capital of peru")
    document = adapter.documents(obj, ["capital of peru"])[0]
    assert cosine(query, reference(reference_model, ["capital of peru"], "query: ")[0]) > 0.99999
    assert cosine(document, reference(reference_model, ["capital of peru"], "passage: ")[0]) > 0.99999


def test_a_str_instead_of_a_list_is_a_type_error(adapter: Adapter) -> None:
    obj = adapter.make(model=MODEL_ID)
    with pytest.raises(TypeError) as caught:
        adapter.documents(obj, "abc")
    assert isinstance(caught.value, InputTypeError)
    assert "list" in str(caught.value)


@pytest.mark.parametrize("bad", [None, 42, 3.5, b"bytes", ["nested"]])
def test_non_string_items_name_their_index(adapter: Adapter, bad: Any) -> None:
    obj = adapter.make(model=MODEL_ID)
    with pytest.raises(InputTypeError) as caught:
        adapter.documents(obj, ["fine", bad, "fine too"])
    assert caught.value.indices == [1]
    assert "[1]" in str(caught.value)


def test_a_non_string_query_is_a_type_error(adapter: Adapter) -> None:
    obj = adapter.make(model=MODEL_ID)
    with pytest.raises(InputTypeError):
        adapter.query(obj, None)


def test_empty_list_returns_empty_without_loading(adapter: Adapter) -> None:
    obj = adapter.make(model="no-such-org/no-such-model-would-fail-to-load")
    assert adapter.documents(obj, []) == []
    assert obj.embedder.backend._handle is None


def test_too_long_input_with_error_policy(adapter: Adapter) -> None:
    obj = adapter.make(model=MODEL_ID, truncation="error")
    long_text = "hello " * 400
    with pytest.raises(InputTooLongError) as caught:
        adapter.documents(obj, ["short", long_text])
    error = caught.value
    assert error.indices == [1]
    assert error.max_tokens == 256
    assert error.token_counts == [402]  # 400 words + [CLS] + [SEP]
    assert "[1]" in str(error) and "402" in str(error) and "256" in str(error)


def test_token_never_leaks(adapter: Adapter) -> None:
    obj = adapter.make(model=MODEL_ID, token=SECRET)
    assert obj.token.get_secret_value() == SECRET
    for text in adapter.serialized(obj):
        assert SECRET not in text
    pickled = pickle.dumps(obj)
    assert SECRET.encode() not in pickled
    restored = pickle.loads(pickled)  # noqa: S301 - our own object
    assert restored.token is None  # no token in this test environment
    assert len(adapter.documents(restored, ["still works"])[0]) == 384


def test_pickle_carries_configuration_only_and_reuses_the_loaded_model(adapter: Adapter) -> None:
    obj = adapter.make(model=MODEL_ID, batch_size=16)
    adapter.documents(obj, ["load the model"])
    pickled = pickle.dumps(obj)
    assert len(pickled) < 20_000  # the model is ~90 MB
    restored = pickle.loads(pickled)  # noqa: S301 - our own object
    assert restored.batch_size == 16
    assert restored.embedder.backend.sentence_transformer is obj.embedder.backend.sentence_transformer


def test_one_model_instance_per_process(adapter: Adapter) -> None:
    first, second = adapter.make(model=MODEL_ID), adapter.make(model=MODEL_ID)
    core = Embedder(model=MODEL_ID)
    assert first.embedder.backend.sentence_transformer is second.embedder.backend.sentence_transformer
    assert first.embedder.backend.sentence_transformer is core.backend.sentence_transformer


def test_dimension_and_limits(adapter: Adapter) -> None:
    obj = adapter.make(model=MODEL_ID)
    assert obj.dimension == 384
    assert obj.max_input_tokens == obj.embedder.max_input_tokens == 256
    assert adapter.make(model=MODEL_ID, dimensions=64).dimension == 64
    assert len(adapter.documents(adapter.make(model=MODEL_ID, dimensions=64), ["x"])[0]) == 64


def test_changing_a_setting_after_construction_takes_effect(adapter: Adapter) -> None:
    obj = adapter.make(model=MODEL_ID)
    obj.dimensions = 32
    assert len(adapter.documents(obj, ["x"])[0]) == 32


def test_normalize_off_returns_the_raw_pooled_vectors(adapter: Adapter, reference_model: Any) -> None:
    obj = adapter.make(model=MODEL_ID, normalize=False)
    got = np.asarray(adapter.documents(obj, ["normalization"])[0])
    raw = np.asarray(reference_model.encode(["normalization"], normalize_embeddings=False))[0]
    # all-MiniLM-L6-v2 carries a Normalize module, so even raw vectors have unit length.
    np.testing.assert_allclose(got, raw, atol=1e-5)


def test_device_override_and_unavailable_device(adapter: Adapter) -> None:
    import torch

    obj = adapter.make(model=MODEL_ID, device="cpu")
    assert str(obj.embedder.backend.sentence_transformer.device) == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ConfigurationError, match="cuda"):
            adapter.documents(adapter.make(model=MODEL_ID, device="cuda"), ["x"])


def test_model_that_cannot_be_loaded_offline(adapter: Adapter) -> None:
    obj = adapter.make(model="no-such-org/no-such-model")
    with pytest.raises(ModelLoadError) as caught:
        adapter.documents(obj, ["x"])
    assert "no-such-org/no-such-model" in str(caught.value)
    assert "HF_HUB_OFFLINE" in str(caught.value)


def test_truncation_is_reported(adapter: Adapter, caplog: pytest.LogCaptureFixture) -> None:
    obj = adapter.make(model=MODEL_ID)
    with caplog.at_level(logging.INFO, logger="hfe"):
        adapter.documents(obj, ["short", "word " * 300, "word " * 500])
    stats = obj.embedder.last_stats
    assert stats is not None and stats.truncated == 2 and stats.inputs == 3
    assert any("2 of 3 inputs" in record.getMessage() for record in caplog.records)


def test_from_config_mem0_shape(adapter: Adapter, model_path: str) -> None:
    config = {"provider": "huggingface", "config": {"model": model_path, "embedding_dims": 384}}
    obj = adapter.make.from_config(config)
    assert len(adapter.documents(obj, ["memory"])[0]) == 384
    assert obj.expected_dimension == 384


def test_cleaned_up_model_path_is_a_model_load_error(adapter: Adapter, tmp_path: Path) -> None:
    empty = tmp_path / "empty-model-folder"
    empty.mkdir()
    with pytest.raises((ModelLoadError, ConfigurationError)):
        adapter.documents(adapter.make(model=str(empty)), ["x"])


@pytest.mark.parametrize(
    ("settings", "backend"),
    [
        ({"endpoint_name": "my-ep"}, "DedicatedEndpointBackend"),
        ({"mode": "endpoint", "model": "a/b"}, "ServerlessBackend"),
    ],
)
def test_endpoint_settings_build_without_connecting(
    adapter: Adapter, settings: dict[str, Any], backend: str
) -> None:
    made = adapter.make(**settings)
    assert made._embedder.settings.mode == "endpoint"
    assert type(made._embedder.backend).__name__ == backend


def test_configuration_errors_keep_their_type(adapter: Adapter, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HFE_BATCH_SIZE", "many")
    with pytest.raises(ConfigurationError, match="HFE_BATCH_SIZE"):
        adapter.make(model=MODEL_ID)
