"""hfe inside mem0, offline: ``infer=False`` (no LLM call), a local qdrant path, telemetry off.

(a) ``HFEmbeddings`` through mem0's ``langchain`` provider: works, but mem0 embeds memories with
``embed_query`` too (observed on the real adapter's ``last_stats``).
(b) ``hfe_core.integrations.mem0.enable()``: a plain ``provider: huggingface`` config runs on hfe,
searches embed as queries and adds as documents; ``disable()`` gives mem0 its class back.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hfe_core.integrations import mem0 as hfe_mem0

# mem0 reads MEM0_TELEMETRY when it is first imported (it is imported only inside the tests).
os.environ.setdefault("MEM0_TELEMETRY", "False")

pytestmark = pytest.mark.model

MEMORIES = [
    "I like green tea in the morning.",
    "My dog is called Rex.",
    "I live in Lisbon, near the river.",
    "I work as a nurse at the city hospital.",
    "I play the cello in an orchestra.",
    "I am allergic to peanuts.",
]
#: query → the memory expected first.
QUERIES = {
    "What do I like to drink?": MEMORIES[0],
    "What is the name of my pet?": MEMORIES[1],
    "Which musical instrument do I play?": MEMORIES[4],
}


def mem0_config(tmp_path: Path, embedder: dict[str, Any]) -> dict[str, Any]:
    """A whole mem0 config that builds offline.

    The LLM is mem0's ``lmstudio`` provider: it builds an OpenAI-protocol client without a key
    and without connecting, and ``infer=False`` never calls it.
    """
    return {
        "embedder": embedder,
        "vector_store": {
            "provider": "qdrant",
            "config": {
                "path": str(tmp_path / "qdrant"),
                "collection_name": "memories",
                "embedding_model_dims": 384,
                "on_disk": False,
            },
        },
        "llm": {"provider": "lmstudio", "config": {}},
        "history_db_path": str(tmp_path / "history.db"),
    }


def add_all(memory: Any) -> None:
    for text in MEMORIES:
        memory.add(text, user_id="alice", infer=False)


def top(memory: Any, query: str, limit: int = 3) -> list[str]:
    hits = memory.search(query, filters={"user_id": "alice"}, limit=limit)["results"]
    return [hit["memory"] for hit in hits]


def close(memory: Any) -> None:
    """Close the local qdrant client now, not at interpreter shutdown."""
    memory.vector_store.client.close()


@pytest.fixture
def enabled() -> Iterator[None]:
    hfe_mem0.enable()
    try:
        yield
    finally:
        hfe_mem0.disable()


def test_langchain_provider_uses_embed_query_for_memories_too(tmp_path: Path, model_path: str) -> None:
    # mem0's langchain provider imports the `langchain` package itself (in the test extra).
    from mem0 import Memory

    from langchain_hfe import HFEmbeddings

    lc = HFEmbeddings(model=model_path)
    memory = Memory.from_config(
        mem0_config(tmp_path, {"provider": "langchain", "config": {"model": lc, "embedding_dims": 384}})
    )
    memory.add(MEMORIES[0], user_id="alice", infer=False)
    assert lc.embedder.last_stats is not None
    # mem0's langchain provider ignores memory_action: a memory is embedded as a query.
    assert lc.embedder.last_stats.input_type == "query"
    for text in MEMORIES[1:]:
        memory.add(text, user_id="alice", infer=False)
    for query, expected in QUERIES.items():
        assert top(memory, query)[0] == expected
        assert lc.embedder.last_stats.input_type == "query"
    close(memory)


def test_enable_runs_the_huggingface_provider_on_hfe(tmp_path: Path, model_path: str, enabled: None) -> None:
    from mem0 import Memory

    embedder = {"provider": "huggingface", "config": {"model": model_path, "embedding_dims": 384}}
    memory = Memory.from_config(mem0_config(tmp_path, embedder))
    hf = memory.embedding_model
    assert type(hf) is hfe_mem0.embedding_class()
    assert hf.embedder.settings.expected_dimension == 384
    add_all(memory)
    assert hf.embedder.last_stats.input_type == "document"  # add embeds documents
    for query, expected in QUERIES.items():
        assert top(memory, query)[0] == expected
        assert hf.embedder.last_stats.input_type == "query"  # search embeds a query
        assert hf.embedder.last_stats.inputs == 1

    # memory_action="update" embeds a document too.
    first = memory.search("What do I like to drink?", filters={"user_id": "alice"}, limit=1)["results"][0]
    memory.update(first["id"], "I like jasmine tea in the morning.")
    assert hf.embedder.last_stats.input_type == "document"
    assert top(memory, "What do I like to drink?")[0] == "I like jasmine tea in the morning."
    close(memory)


def test_query_prompt_reaches_mem0_searches(tmp_path: Path, model_path: str) -> None:
    """Settings given to enable() win; the query prompt goes before searches only."""
    from mem0 import Memory

    from hfe_core import Embedder

    hfe_mem0.enable(query_prompt="question: ", document_prompt="")
    try:
        embedder = {"provider": "huggingface", "config": {"model": model_path}}
        memory = Memory.from_config(mem0_config(tmp_path, embedder))
    finally:
        hfe_mem0.disable()
    hf = memory.embedding_model
    assert memory.config.embedder.config["model"] == model_path
    assert hf.config.embedding_dims == 384  # looked up, as mem0's own class does
    plain = Embedder(model=model_path)
    query = "What do I like to drink?"
    assert hf.embed(query, "search") == pytest.approx(plain.embed_query("question: " + query), abs=1e-6)
    assert hf.embed(MEMORIES[0], "add") == pytest.approx(plain.embed_documents([MEMORIES[0]])[0], abs=1e-6)
    batch = hf.embed_batch(MEMORIES[:2], "add")
    np.testing.assert_allclose(batch, plain.embed_documents(MEMORIES[:2]), atol=1e-6)
    assert hf.embed_batch([], "add") == []
    close(memory)


def test_disable_restores_mem0s_class_and_is_idempotent() -> None:
    from mem0.utils.factory import EmbedderFactory

    original = EmbedderFactory.provider_to_class["huggingface"]
    hfe_mem0.enable()
    hfe_mem0.enable()
    assert hfe_mem0.is_enabled()
    assert EmbedderFactory.provider_to_class["huggingface"] == hfe_mem0.CLASS_PATH
    hfe_mem0.disable()
    hfe_mem0.disable()
    assert not hfe_mem0.is_enabled()
    assert EmbedderFactory.provider_to_class["huggingface"] == original == hfe_mem0.MEM0_CLASS_PATH


def test_tei_server_through_huggingface_base_url(tmp_path: Path, enabled: None) -> None:
    """mem0's ``huggingface_base_url`` becomes hfe's tei mode: 429s are retried, results still rank."""
    from mem0 import Memory

    from tests.tei_server.harness import TEIServer

    with TEIServer(fail_429=0.3, seed=3) as server:
        config = {"huggingface_base_url": server.url + "/v1", "embedding_dims": 384}
        memory = Memory.from_config(mem0_config(tmp_path, {"provider": "huggingface", "config": config}))
        hf = memory.embedding_model
        assert hf.embedder.settings.mode == "tei"
        add_all(memory)
        for query, expected in QUERIES.items():
            assert top(memory, query)[0] == expected
            assert hf.embedder.last_stats.input_type == "query"
        assert server.stats.count(status=429) > 0  # and every one was retried
        close(memory)


def test_importing_the_integration_does_not_import_mem0() -> None:
    code = "import sys, hfe_core.integrations.mem0; assert 'mem0' not in sys.modules, sorted(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_mem0_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from hfe_core.errors import BackendUnavailableError

    monkeypatch.setitem(sys.modules, "mem0.utils.factory", None)  # what an absent package looks like
    with pytest.raises(BackendUnavailableError, match=r"pip install 'hfe\[mem0\]'"):
        hfe_mem0.enable()
