"""One semantic search, four ways: hfe alone, LangChain, LlamaIndex and mem0 rank the same.

The corpus and queries are small; each framework stores the vectors its hfe adapter returns and
ranks by cosine similarity, so the top-3 ids must match hfe's own ranking exactly.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

# mem0 reads MEM0_TELEMETRY when it is first imported (it is imported only inside the test).
os.environ.setdefault("MEM0_TELEMETRY", "False")

pytestmark = pytest.mark.model

CORPUS = {
    "tea": "Green tea is brewed from the leaves of Camellia sinensis.",
    "coffee": "Espresso is a strong coffee made by forcing hot water through ground beans.",
    "dog": "Dogs are loyal pets that need daily walks.",
    "cat": "Cats are independent pets that sleep most of the day.",
    "paris": "Paris is the capital of France and home to the Eiffel Tower.",
    "rome": "Rome is the capital of Italy, famous for the Colosseum.",
    "python": "Python is a programming language popular for data science.",
    "rust": "Rust is a systems programming language focused on memory safety.",
    "cello": "The cello is a bowed string instrument with a deep sound.",
    "piano": "The piano is a keyboard instrument played with hammers striking strings.",
}
QUERIES = [
    "Which drink contains caffeine from beans?",
    "What animal makes a good companion?",
    "Where can I see the Eiffel Tower?",
    "Which programming language is focused on memory safety?",
]
K = 3
IDS = list(CORPUS)


@pytest.fixture(scope="module")
def expected(model_path: str) -> list[list[str]]:
    """hfe's own ranking: cosine of embed_query against embed_documents."""
    from hfe_core import Embedder

    embedder = Embedder(model=model_path)
    docs = np.asarray(embedder.embed_documents(list(CORPUS.values())))
    docs /= np.linalg.norm(docs, axis=1, keepdims=True)
    rankings = []
    for query in QUERIES:
        q = np.asarray(embedder.embed_query(query))
        scores = docs @ (q / np.linalg.norm(q))
        rankings.append([IDS[i] for i in np.argsort(-scores)[:K]])
    return rankings


def test_expected_rankings_are_sensible(expected: list[list[str]]) -> None:
    assert [ranking[0] for ranking in expected] == ["coffee", "dog", "paris", "rust"]


def test_langchain_ranks_like_hfe(model_path: str, expected: list[list[str]]) -> None:
    from langchain_core.vectorstores import InMemoryVectorStore

    from langchain_hfe import HFEmbeddings

    store = InMemoryVectorStore(HFEmbeddings(model=model_path))
    store.add_texts(list(CORPUS.values()), ids=IDS)
    langchain = [[doc.id for doc in store.similarity_search(q, k=K)] for q in QUERIES]
    assert langchain == expected


def test_llamaindex_ranks_like_hfe(model_path: str, expected: list[list[str]]) -> None:
    from llama_index.core import VectorStoreIndex
    from llama_index.core.schema import TextNode

    from llamaindex_hfe import HFEmbedding

    nodes = [TextNode(text=text, id_=doc_id) for doc_id, text in CORPUS.items()]
    index = VectorStoreIndex(nodes, embed_model=HFEmbedding(model=model_path))
    retriever = index.as_retriever(similarity_top_k=K)
    llamaindex = [[hit.node.node_id for hit in retriever.retrieve(q)] for q in QUERIES]
    assert llamaindex == expected


def test_mem0_ranks_like_hfe(model_path: str, expected: list[list[str]], tmp_path: Path) -> None:
    from mem0 import Memory

    from hfe_core.integrations import mem0 as hfe_mem0

    hfe_mem0.enable()
    try:
        memory = Memory.from_config(
            {
                "embedder": {"provider": "huggingface", "config": {"model": model_path}},
                "vector_store": {
                    "provider": "qdrant",
                    "config": {
                        "path": str(tmp_path / "qdrant"),
                        "collection_name": "ranking",
                        "embedding_model_dims": 384,
                        "on_disk": False,
                    },
                },
                # Built offline without a key; infer=False never calls it.
                "llm": {"provider": "lmstudio", "config": {}},
                "history_db_path": str(tmp_path / "history.db"),
            }
        )
    finally:
        hfe_mem0.disable()
    by_text = {text: doc_id for doc_id, text in CORPUS.items()}
    try:
        for text in CORPUS.values():
            memory.add(text, user_id="u", infer=False)
        mem0 = [
            [by_text[hit["memory"]] for hit in memory.search(q, filters={"user_id": "u"}, limit=K)["results"]]
            for q in QUERIES
        ]
    finally:
        memory.vector_store.client.close()
    assert mem0 == expected
