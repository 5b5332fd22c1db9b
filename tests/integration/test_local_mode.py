"""Local mode with the real packaged model: truncation policies, partial results, configs, extras."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from hfe_core import (
    DimensionMismatchError,
    Embedder,
    EmbeddingError,
    from_config,
)
from hfe_core.backends.local import LocalBackend

from .conftest import MODEL_ID, cosine, reference

pytestmark = pytest.mark.model

# 600 distinct single-token words, so token positions are easy to reason about.
WORDS = [f"w{i}" for i in range(600)]


def _long_text(reference_model: Any, tokens: int) -> str:
    text = " ".join(["alpha", "beta", "gamma", "delta", "omega"] * (tokens // 5))
    assert len(reference_model.tokenizer(text, add_special_tokens=False)["input_ids"]) == tokens
    return text


def test_truncate_keeps_the_start_like_sentence_transformers(reference_model: Any) -> None:
    text = _long_text(reference_model, 600)
    embedder = Embedder(model=MODEL_ID)
    result = embedder.embed([text, "short"])
    assert result.stats.truncated == 1 and result.stats.chunked == 0
    np.testing.assert_allclose(result.embeddings[0], reference(reference_model, [text])[0], atol=1e-5)


def test_truncate_left_keeps_the_end(reference_model: Any) -> None:
    head = " ".join(["north"] * 300)
    tail = " ".join(["south", "east", "west"] * 84)  # 252 tokens + 2 specials = 254 <= 256
    embedder = Embedder(model=MODEL_ID, truncation="truncate_left")
    result = embedder.embed([head + " " + tail])
    assert result.stats.truncated == 1
    kept = embedder.backend.token_spans([head + " " + tail])
    assert len(kept[0]) == 552
    # The window of the last 254 content tokens: two "north" words and the whole tail.
    expected = reference(reference_model, ["north north " + tail])[0]
    assert cosine(result.embeddings[0], expected) > 0.99999
    # ...and not the start of the text.
    assert cosine(result.embeddings[0], reference(reference_model, [head])[0]) < 0.9


def test_chunk_returns_the_token_weighted_average_of_windows(reference_model: Any) -> None:
    text = _long_text(reference_model, 600)
    embedder = Embedder(model=MODEL_ID, truncation="chunk")
    result = embedder.embed([text, "a short one"])
    assert result.stats.chunked == 1 and result.stats.texts_embedded == 4
    # Budget per window: 256 - 2 special tokens = 254 -> windows of 254, 254 and 92 tokens.
    spans = embedder.backend.token_spans([text])[0]
    windows = [text[spans[s][0] : spans[min(s + 254, 600) - 1][1]] for s in (0, 254, 508)]
    vectors = reference(reference_model, windows)
    average = (vectors * np.asarray([254, 254, 92], dtype=np.float32)[:, None]).sum(axis=0) / 600
    average /= np.linalg.norm(average)
    assert cosine(result.embeddings[0], average) > 0.99999
    assert abs(np.linalg.norm(result.embeddings[0]) - 1) < 1e-5
    np.testing.assert_allclose(
        result.embeddings[1], reference(reference_model, ["a short one"])[0], atol=1e-5
    )


def test_chunk_with_a_prompt_leaves_room_for_it(reference_model: Any) -> None:
    text = _long_text(reference_model, 600)
    embedder = Embedder(model=MODEL_ID, truncation="chunk", document_prompt="passage: ")
    overhead = embedder.backend.prompt_overhead("passage: ")
    assert overhead == 2 + 2  # [CLS] [SEP] + "passage" ":"
    result = embedder.embed([text])
    assert result.stats.texts_embedded == 3  # 252-token windows: 252 + 252 + 96


def test_the_error_policy_embeds_nothing_and_short_inputs_pass(reference_model: Any) -> None:
    embedder = Embedder(model=MODEL_ID, truncation="error")
    ok = embedder.embed(["fits", _long_text(reference_model, 250)])
    assert ok.embeddings.shape == (2, 384)


def test_per_call_overrides(reference_model: Any) -> None:
    embedder = Embedder(model=MODEL_ID)
    text = _long_text(reference_model, 600)
    assert embedder.embed([text], truncation="chunk").stats.chunked == 1
    assert embedder.embed([text]).stats.truncated == 1


class _FailingOnMarker(LocalBackend):
    """The real local backend, except that a batch holding the marker fails (a device fault)."""

    def embed_batch(self, texts: list[str], **kwargs: Any) -> Any:
        if any(text.startswith("FAIL") for text in texts):
            raise RuntimeError("CUDA out of memory (simulated for one batch)")
        return super().embed_batch(texts, **kwargs)


def test_batches_group_similar_lengths_and_results_keep_input_order(reference_model: Any) -> None:
    embedder = Embedder(model=MODEL_ID, batch_size=1)  # 16 texts per encode() call
    texts = [("short " if i % 2 else "a much longer text " * 8) + str(i) for i in range(40)]
    result = embedder.embed(texts)
    np.testing.assert_allclose(result.embeddings, reference(reference_model, texts), atol=1e-5)
    assert result.stats.batches == 3


def _with_failing_backend(embedder: Embedder) -> Embedder:
    embedder._backend = _FailingOnMarker(embedder.settings)
    return embedder


def test_a_failed_batch_keeps_every_computed_embedding(reference_model: Any) -> None:
    embedder = _with_failing_backend(Embedder(model=MODEL_ID, batch_size=2))  # 32 texts per call
    # Texts of one length, so the length sort keeps them in order and batch k holds inputs 32k..32k+31.
    texts = [f"text {i:03d}" for i in range(100)]
    texts[40] = "FAIL 040"
    with pytest.raises(EmbeddingError) as caught:
        embedder.embed_documents(texts)
    error = caught.value
    assert error.failed_indices == list(range(32, 64))  # the one failed call
    assert len(error.partial_embeddings) == 100
    assert all(error.partial_embeddings[i] is None for i in range(32, 64))
    kept = [i for i in range(100) if i not in range(32, 64)]
    expected = reference(reference_model, [texts[i] for i in kept])
    for row, i in zip(expected, kept, strict=True):
        assert cosine(error.partial_embeddings[i], row) > 0.99999
    assert "CUDA out of memory" in str(error)
    assert isinstance(error.__cause__, RuntimeError)


async def test_a_failed_batch_keeps_computed_embeddings_async() -> None:
    embedder = _with_failing_backend(Embedder(model=MODEL_ID, batch_size=2))
    texts = [f"text {i:03d}" for i in range(70)]
    texts[0] = "FAIL 000"
    with pytest.raises(EmbeddingError) as caught:
        await embedder.aembed_documents(texts)
    assert caught.value.failed_indices == list(range(32))
    assert all(vector is not None for vector in caught.value.partial_embeddings[32:])


def test_mem0_config_and_memory_actions(model_path: str, reference_model: Any) -> None:
    embedder = from_config(
        {"embedder": {"provider": "huggingface", "config": {"model": model_path, "embedding_dims": 384}}},
        query_prompt="query: ",
    )
    search = embedder.embed_memory("Where do I live?", memory_action="search")
    add = embedder.embed_memory("Where do I live?", memory_action="add")
    update = embedder.embed_memory("Where do I live?", memory_action="update")
    assert cosine(search, reference(reference_model, ["Where do I live?"], "query: ")[0]) > 0.99999
    assert cosine(add, reference(reference_model, ["Where do I live?"])[0]) > 0.99999
    np.testing.assert_allclose(add, update)


def test_embedchain_yaml_config(tmp_path: Any, model_path: str) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "app:\n  config:\n    name: demo\n"
        "embedder:\n  provider: huggingface\n  config:\n"
        f"    model: {model_path}\n    vector_dimension: 384\n    model_kwargs:\n      device: cpu\n"
    )
    embedder = from_config(config)
    assert embedder.settings.device == "cpu"
    assert len(embedder.embed_documents(["from yaml"])[0]) == 384


def test_a_configured_dimension_that_disagrees_is_an_error(model_path: str) -> None:
    embedder = from_config(
        {"provider": "huggingface", "config": {"model": model_path, "embedding_dims": 1536}}
    )
    with pytest.raises(DimensionMismatchError) as caught:
        embedder.embed_documents(["x"])
    assert caught.value.expected == 1536 and caught.value.actual == 384
    assert "1536" in str(caught.value) and "384" in str(caught.value)


def test_model_and_encode_kwargs_pass_through(reference_model: Any) -> None:
    embedder = Embedder(
        model=MODEL_ID,
        model_kwargs={"device": "cpu"},
        encode_kwargs={"normalize_embeddings": True, "batch_size": 4},
    )
    assert embedder.settings.device == "cpu" and embedder.settings.batch_size == 4
    assert embedder.backend.work_batch_size(4) == 64
    np.testing.assert_allclose(
        embedder.embed_documents(["pass through"]), reference(reference_model, ["pass through"]), atol=1e-5
    )


def test_missing_sentence_transformers_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['sentence_transformers'] = None\n"
        "from hfe_core import Embedder, BackendUnavailableError\n"
        "try:\n    Embedder().embed_documents(['x'])\n"
        "except ImportError as exc:\n    assert isinstance(exc, BackendUnavailableError); print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert "pip install 'hfe[local]'" in out.stdout


def test_progress_bar_is_shown_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    Embedder(model=MODEL_ID, show_progress=True).embed_documents([f"t{i}" for i in range(10)])
    assert "Embedding" in capsys.readouterr().err
    Embedder(model=MODEL_ID).embed_documents([f"t{i}" for i in range(10)])
    assert "Embedding" not in capsys.readouterr().err


def test_a_lone_surrogate_costs_no_neighbour_its_vector(reference_model: Any) -> None:
    # Before: the tokenizer refused the text and the whole batch failed (issue 11).
    texts = ["a fine sentence", "broken \ud800 text", "another fine sentence"]
    vectors = np.asarray(Embedder(model=MODEL_ID).embed_documents(texts))
    expected = reference(reference_model, ["a fine sentence", "broken \ufffd text", "another fine sentence"])
    for got, want in zip(vectors, expected, strict=True):
        assert cosine(got, want) >= 0.9999
