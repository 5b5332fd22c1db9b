"""Embedder without a model: what happens before loading, and the pipeline over a fake backend."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import ClassVar

import numpy as np
import numpy.typing as npt
import pytest

from hfe_core import (
    ConfigurationError,
    DimensionMismatchError,
    Embedder,
    EmbedderSettings,
    EmbeddingError,
    EmbeddingResult,
    InputTooLongError,
    InputTypeError,
    ModelLoadError,
)
from hfe_core.auth import TOKEN_ENV_VARS
from hfe_core.backends.base import Backend
from hfe_core.backends.local import LocalBackend
from hfe_core.config import InputType
from hfe_core.truncation import Span

SECRET = "hf_EmbedderSecret0987654321"

# --- before any model is loaded (real local backend) ----------------------------------------------------


def _unloaded(embedder: Embedder) -> bool:
    backend = embedder.backend
    assert isinstance(backend, LocalBackend)
    return backend._handle is None


def test_embedding_nothing_loads_nothing() -> None:
    embedder = Embedder()
    result = embedder.embed([])
    assert isinstance(result, EmbeddingResult)
    assert result.embeddings.shape[0] == 0
    assert result.tolist() == []
    assert result.stats.inputs == 0
    assert result.stats.texts_embedded == 0
    assert result.stats.batches == 0
    assert result.stats.input_type == "document"
    assert embedder.last_stats is result.stats
    assert embedder.embed([], input_type="query").stats.input_type == "query"
    assert embedder.embed_documents([]) == []
    assert embedder.embed(iter([])).tolist() == []
    assert _unloaded(embedder)


async def test_async_embedding_nothing_loads_nothing() -> None:
    embedder = Embedder()
    result = await embedder.aembed([])
    assert result.embeddings.shape[0] == 0
    assert await embedder.aembed_documents([]) == []
    assert _unloaded(embedder)


def test_a_str_is_refused_before_loading() -> None:
    embedder = Embedder()
    with pytest.raises(InputTypeError, match="Wrap it in a list"):
        embedder.embed_documents("abc")  # type: ignore[arg-type]
    with pytest.raises(InputTypeError) as info:
        embedder.embed_documents(["ok", 3, None])  # type: ignore[list-item]
    assert info.value.indices == [1, 2]
    with pytest.raises(InputTypeError, match="embed_documents"):
        embedder.embed_query(["a list"])  # type: ignore[arg-type]
    with pytest.raises(InputTypeError):
        embedder.embed_query(None)  # type: ignore[arg-type]
    with pytest.raises(InputTypeError):
        embedder.embed_memory(b"bytes")  # type: ignore[arg-type]
    assert _unloaded(embedder)


async def test_async_a_str_is_refused_before_loading() -> None:
    embedder = Embedder()
    with pytest.raises(InputTypeError):
        await embedder.aembed_documents("abc")  # type: ignore[arg-type]
    with pytest.raises(InputTypeError):
        await embedder.aembed_query(42)  # type: ignore[arg-type]
    assert _unloaded(embedder)


@pytest.mark.parametrize("texts", [[], ["some text"]])
@pytest.mark.parametrize("input_type", ["passage", "Query", "", None])
def test_invalid_input_type(texts: list[str], input_type: object) -> None:
    embedder = Embedder()
    with pytest.raises(ConfigurationError) as info:
        embedder.embed(texts, input_type=input_type)  # type: ignore[arg-type]
    assert repr(input_type) in str(info.value)
    assert _unloaded(embedder)


@pytest.mark.parametrize("action", ["delete", "ADD", "", 1])
def test_invalid_memory_action(action: object) -> None:
    embedder = Embedder()
    with pytest.raises(ConfigurationError) as info:
        embedder.embed_memory("I like tea", memory_action=action)  # type: ignore[arg-type]
    assert repr(action) in str(info.value)
    assert _unloaded(embedder)


def test_settings_object_and_keywords_together() -> None:
    with pytest.raises(ConfigurationError, match="not both"):
        Embedder(EmbedderSettings(), batch_size=3)


def test_settings_are_a_detached_snapshot() -> None:
    settings = EmbedderSettings(batch_size=8, token=SECRET)
    embedder = Embedder(settings)
    assert embedder.settings is not settings
    assert embedder.settings.batch_size == 8
    assert embedder.settings.token is not None and embedder.settings.token.get_secret_value() == SECRET
    settings.batch_size = 64
    assert embedder.settings.batch_size == 8


def test_repr_has_no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", SECRET + "env")
    for embedder in (Embedder(token=SECRET), Embedder()):
        text = repr(embedder)
        assert SECRET not in text
        assert "EmbedderSecret" not in text
        assert text.startswith("Embedder(")
        assert "mode='local'" in text
        assert "model='sentence-transformers/all-MiniLM-L6-v2'" in text


def test_pickle_is_small_and_has_no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUGGINGFACE_ACCESS_TOKEN", "hf_env_after_unpickle")
    embedder = Embedder(token=SECRET, model="intfloat/e5-small-v2", batch_size=3)
    data = pickle.dumps(embedder)
    assert len(data) < 5 * 1024
    assert SECRET.encode() not in data
    assert b"EmbedderSecret" not in data
    restored = pickle.loads(data)  # noqa: S301 - our own bytes
    assert isinstance(restored, Embedder)
    assert restored.settings.settings_dict() == embedder.settings.settings_dict()
    assert restored.settings.token is not None
    assert restored.settings.token.get_secret_value() == "hf_env_after_unpickle"
    assert _unloaded(restored)


_PROBE = textwrap.dedent(
    """
    import json, sys
    import hfe_core
    embedder = hfe_core.Embedder()
    outcomes = {}
    outcomes["empty"] = embedder.embed([]).tolist()
    for name, call in [
        ("str", lambda: embedder.embed_documents("abc")),
        ("input_type", lambda: embedder.embed(["a"], input_type="passage")),
        ("memory_action", lambda: embedder.embed_memory("a", memory_action="delete")),
    ]:
        try:
            call()
        except hfe_core.HfeError as exc:
            outcomes[name] = type(exc).__name__
    heavy = sorted(m for m in sys.modules if m.startswith(("sentence_transformers", "torch", "transformers")))
    print(json.dumps({"outcomes": outcomes, "heavy": heavy}))
    """
)


def test_nothing_heavy_is_imported_before_a_real_embedding(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HFE_") and k not in TOKEN_ENV_VARS}
    env.update(HF_HOME=str(tmp_path), HF_TOKEN_PATH=str(tmp_path / "token"), HF_HUB_OFFLINE="1")
    result = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", _PROBE],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    state = json.loads(result.stdout.strip().splitlines()[-1])
    assert state["outcomes"] == {
        "empty": [],
        "str": "InputTypeError",
        "input_type": "ConfigurationError",
        "memory_action": "ConfigurationError",
    }
    assert state["heavy"] == []


# --- the pipeline over a fake backend -------------------------------------------------------------------

_WORD = re.compile(r"\S+")


def fake_vector(text: str, dim: int = 4, *, normalize: bool = True) -> npt.NDArray[np.float32]:
    """A deterministic pseudo-embedding of ``text``."""
    seed = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")
    vector = np.random.default_rng(seed).normal(size=dim).astype(np.float32)
    return vector / np.linalg.norm(vector) if normalize else vector


class FakeBackend(Backend):
    """Whitespace tokenizer, hashed vectors; fails any batch holding a text with 'FAIL'."""

    mode: ClassVar[str] = "local"

    def __init__(
        self,
        settings: EmbedderSettings,
        *,
        dim: int = 4,
        max_tokens: int | None = None,
        overhead: int = 0,
        saved: dict[str, str] | None = None,
        error: Exception | None = None,
    ) -> None:
        super().__init__(settings)
        self.dim = dim
        self.max_tokens = max_tokens
        self.overhead = overhead
        self.saved = saved or {}
        self.error = error or RuntimeError("backend exploded")
        self.calls: list[tuple[list[str], str, str, int]] = []

    def embed_batch(
        self, texts: list[str], *, input_type: InputType, prompt: str, batch_size: int
    ) -> npt.NDArray[np.float32]:
        self.calls.append((list(texts), input_type, prompt, batch_size))
        if any("FAIL" in text for text in texts):
            raise self.error
        return np.stack(
            [fake_vector(prompt + text, self.dim, normalize=self.settings.normalize) for text in texts]
        )

    @property
    def dimension(self) -> int:
        return self.dim

    @property
    def max_input_tokens(self) -> int | None:
        return self.max_tokens

    def saved_prompt(self, input_type: InputType) -> str | None:
        return self.saved.get(input_type)

    def token_spans(self, texts: list[str]) -> list[list[Span]]:
        return [[match.span() for match in _WORD.finditer(text)] for text in texts]

    def prompt_overhead(self, prompt: str) -> int:
        return self.overhead + len(_WORD.findall(prompt))


def make(
    backend_options: dict[str, object] | None = None, **settings: object
) -> tuple[Embedder, FakeBackend]:
    embedder = Embedder(**settings)
    backend = FakeBackend(embedder.settings, **(backend_options or {}))  # type: ignore[arg-type]
    embedder._backend = backend
    return embedder, backend


def test_rows_are_the_backends_in_input_order() -> None:
    embedder, backend = make()
    texts = ["first", "", "third\nline", "first"]
    result = embedder.embed(texts)
    assert result.embeddings.dtype == np.float32
    assert result.embeddings.shape == (4, 4)
    for row, text in zip(result.embeddings, texts, strict=True):
        np.testing.assert_array_equal(row, fake_vector(text))
    assert backend.calls[0][0] == texts  # the texts reach the backend unchanged
    assert result.stats.inputs == 4


def test_documents_and_queries_get_their_prompts() -> None:
    embedder, backend = make(model="intfloat/e5-small-v2")
    assert embedder.prompt("query") == "query: "
    assert embedder.prompt("document") == "passage: "
    vector = embedder.embed_query("where?")
    np.testing.assert_allclose(vector, fake_vector("query: where?"), rtol=1e-6)
    documents = embedder.embed_documents(["here."])
    np.testing.assert_allclose(documents[0], fake_vector("passage: here."), rtol=1e-6)
    assert [(call[1], call[2]) for call in backend.calls] == [("query", "query: "), ("document", "passage: ")]


def test_memory_actions_map_to_query_and_document() -> None:
    embedder, backend = make(query_prompt="Q: ", document_prompt="D: ")
    embedder.embed_memory("tea", memory_action="search")
    embedder.embed_memory("tea", memory_action="add")
    embedder.embed_memory("tea", memory_action="update")
    embedder.embed_memory("tea")
    assert [(call[1], call[2]) for call in backend.calls] == [
        ("query", "Q: "),
        ("document", "D: "),
        ("document", "D: "),
        ("document", "D: "),
    ]


def test_saved_prompt_beats_family_and_explicit_beats_saved() -> None:
    embedder, _ = make({"saved": {"query": "Saved query: "}}, model="intfloat/e5-small-v2")
    assert embedder.prompt("query") == "Saved query: "
    assert embedder.prompt("document") == "passage: "
    explicit, _ = make({"saved": {"query": "Saved query: "}}, model="intfloat/e5-small-v2", query_prompt="")
    assert explicit.prompt("query") == ""


@pytest.mark.parametrize(
    ("batch_size", "per_call", "sizes"), [(2, None, [2, 2, 1]), (2, 4, [4, 1]), (10, None, [5])]
)
def test_batches(batch_size: int, per_call: int | None, sizes: list[int]) -> None:
    embedder, backend = make(batch_size=batch_size)
    texts = [f"t{i}" for i in range(5)]
    result = embedder.embed(texts, batch_size=per_call)
    assert [len(call[0]) for call in backend.calls] == sizes
    assert [t for call in backend.calls for t in call[0]] == texts
    assert {call[3] for call in backend.calls} == {per_call or batch_size}
    assert result.stats.batches == len(sizes)
    assert result.stats.texts_embedded == 5


@pytest.mark.parametrize("override", [{"batch_size": -1}, {"truncation": "middle"}])
def test_per_call_overrides_are_validated(override: dict[str, object]) -> None:
    # input_type is checked per call; the other per-call settings must be too, not silently misused
    # (batch_size=-1 returns zero rows for two inputs; truncation='middle' falls through to chunking).
    embedder, _ = make({"max_tokens": 4})
    with pytest.raises(ConfigurationError):
        embedder.embed(["a b c d e f g h i j", "short"], **override)  # type: ignore[arg-type]


def test_chunking_end_to_end(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="hfe")
    embedder, backend = make({"max_tokens": 6}, truncation="chunk", batch_size=2)
    long_text = " ".join(f"w{i}" for i in range(14))
    result = embedder.embed(["hello", long_text])
    sent = [t for call in backend.calls for t in call[0]]
    windows = ["w0 w1 w2 w3 w4 w5", "w6 w7 w8 w9 w10 w11", "w12 w13"]
    assert sent == ["hello", *windows]
    expected = 6 * fake_vector(windows[0]) + 6 * fake_vector(windows[1]) + 2 * fake_vector(windows[2])
    expected /= np.linalg.norm(expected)
    assert result.embeddings.shape == (2, 4)
    np.testing.assert_allclose(result.embeddings[1], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(result.embeddings[0], fake_vector("hello"))
    assert result.stats.chunked == 1
    assert result.stats.truncated == 0
    assert result.stats.texts_embedded == 4
    assert result.stats.batches == 2
    assert "1 of 2 inputs were longer than 6 tokens and were chunked and averaged" in caplog.text


def test_truncate_left_end_to_end(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="hfe")
    embedder, backend = make({"max_tokens": 5, "overhead": 2}, document_prompt="")
    long_text = "a b c d e f g"
    result = embedder.embed([long_text, "x"], truncation="truncate_left")
    assert backend.calls[0][0] == ["e f g", "x"]
    assert result.stats.truncated == 1
    assert "1 of 2 inputs were longer than 5 tokens and were truncated" in caplog.text


def test_prompt_tokens_count_against_the_limit() -> None:
    embedder, _ = make({"max_tokens": 5}, document_prompt="one two")  # 2 prompt tokens: budget 3
    with pytest.raises(InputTooLongError) as info:
        embedder.embed(["a b c", "a b c d"], truncation="error")
    assert info.value.indices == [1]
    assert info.value.token_counts == [6]


def test_error_policy_embeds_nothing() -> None:
    embedder, backend = make({"max_tokens": 3}, truncation="error")
    with pytest.raises(InputTooLongError) as info:
        embedder.embed(["ok", "a b c d e"])
    assert info.value.indices == [1]
    assert backend.calls == []


def test_no_truncation_is_silent(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="hfe")
    embedder, _ = make({"max_tokens": 64})
    result = embedder.embed(["short", "texts"])
    assert result.stats.truncated == result.stats.chunked == 0
    assert "were truncated" not in caplog.text


def test_partial_failure_keeps_what_was_computed() -> None:
    embedder, _ = make(batch_size=1)
    texts = ["alpha", "FAIL beta", "gamma"]
    with pytest.raises(EmbeddingError) as info:
        embedder.embed(texts)
    exc = info.value
    assert exc.failed_indices == [1]
    assert exc.partial_embeddings[1] is None
    np.testing.assert_allclose(exc.partial_embeddings[0], fake_vector("alpha"), rtol=1e-6)  # type: ignore[arg-type]
    np.testing.assert_allclose(exc.partial_embeddings[2], fake_vector("gamma"), rtol=1e-6)  # type: ignore[arg-type]
    assert isinstance(exc.__cause__, RuntimeError)
    assert "1 of 3 inputs" in str(exc)
    assert "backend exploded" in str(exc)


async def test_async_partial_failure_keeps_what_was_computed() -> None:
    embedder, _ = make(batch_size=1)
    with pytest.raises(EmbeddingError) as info:
        await embedder.aembed(["alpha", "FAIL beta", "FAIL gamma", "delta"])
    assert info.value.failed_indices == [1, 2]
    assert info.value.partial_embeddings[1] is None and info.value.partial_embeddings[2] is None
    np.testing.assert_allclose(info.value.partial_embeddings[3], fake_vector("delta"), rtol=1e-6)  # type: ignore[arg-type]


def test_partial_failure_with_chunked_inputs() -> None:
    embedder, _ = make({"max_tokens": 2}, batch_size=1, truncation="chunk")
    texts = ["a b c d", "e f FAIL g", "h"]
    with pytest.raises(EmbeddingError) as info:
        embedder.embed(texts)
    exc = info.value
    assert exc.failed_indices == [1]
    expected = 2 * fake_vector("a b") + 2 * fake_vector("c d")
    expected /= np.linalg.norm(expected)
    np.testing.assert_allclose(exc.partial_embeddings[0], expected, rtol=1e-5, atol=1e-6)  # type: ignore[arg-type]
    np.testing.assert_allclose(exc.partial_embeddings[2], fake_vector("h"), rtol=1e-6)  # type: ignore[arg-type]


def test_hfe_errors_that_are_not_embedding_errors_propagate_unchanged() -> None:
    error = ModelLoadError("cannot load")
    embedder, _ = make({"error": error}, batch_size=1)
    with pytest.raises(ModelLoadError) as info:
        embedder.embed(["ok", "FAIL"])
    assert info.value is error


async def test_async_matches_sync() -> None:
    embedder, _ = make(batch_size=2, model="intfloat/e5-small-v2")
    texts = [f"text number {i}" for i in range(7)]
    sync = embedder.embed(texts)
    asynchronous = await embedder.aembed(texts)
    np.testing.assert_array_equal(sync.embeddings, asynchronous.embeddings)
    assert await embedder.aembed_query("q") == embedder.embed_query("q")
    assert await embedder.aembed_documents(texts) == embedder.embed_documents(texts)


def test_matryoshka_dimensions() -> None:
    embedder, _ = make(dimensions=2)
    assert embedder.dimension == 2
    row = embedder.embed(["x"]).embeddings[0]
    full = fake_vector("x")
    np.testing.assert_allclose(row, full[:2] / np.linalg.norm(full[:2]), rtol=1e-5)


def test_matryoshka_without_normalization() -> None:
    embedder, _ = make(dimensions=3, normalize=False)
    row = embedder.embed(["x"]).embeddings[0]
    np.testing.assert_allclose(row, fake_vector("x", normalize=False)[:3], rtol=1e-6)


def test_dimensions_larger_than_the_model() -> None:
    embedder, backend = make(dimensions=8)
    with pytest.raises(ConfigurationError, match="dimensions=8"):
        embedder.embed(["x"])
    assert backend.calls == []


def test_expected_dimension_is_checked_before_embedding() -> None:
    embedder, backend = make(expected_dimension=768)
    with pytest.raises(DimensionMismatchError) as info:
        embedder.embed(["x"])
    assert (info.value.expected, info.value.actual) == (768, 4)
    assert backend.calls == []


def test_expected_dimension_agreeing() -> None:
    embedder, _ = make(expected_dimension=2, dimensions=2)
    assert embedder.embed(["x"]).embeddings.shape == (1, 2)


def test_max_input_tokens_comes_from_the_backend() -> None:
    embedder, _ = make({"max_tokens": 77})
    assert embedder.max_input_tokens == 77
