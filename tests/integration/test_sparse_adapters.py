"""The sparse adapters end to end: LangChain's ``HFSparseEmbeddings`` and LlamaIndex's ``HFSparseEmbedding``.

Real parts only. Two sparse models from ``tests/tiny_models.py``:

* a lexical ``SparseEncoder`` (one ``SparseStaticEmbedding`` weighted by the IDF of :data:`CORPUS`):
  its vectors mean something (a query's dot product with a document is the summed IDF of the word
  pieces they share), so retrieval answers can be checked;
* a tiny SPLADE model (random weights) that the TEI test server can serve (``model_type="splade"``;
  TEI serves only ``*ForMaskedLM`` models with SPLADE pooling, not the lexical one): its vectors mean
  nothing, but tei mode must give local mode's numbers.

Dense vectors come from the packaged all-MiniLM-L6-v2 (``HFEmbeddings`` / ``HFEmbedding``, local mode),
and the vector stores are Qdrant in memory (langchain-qdrant, llama-index-vector-stores-qdrant).
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_qdrant import QdrantVectorStore, RetrievalMode, SparseEmbeddings, SparseVector

from hfe_core import SparseEmbedder
from hfe_core.errors import AuthenticationError
from langchain_hfe import HFEmbeddings, HFSparseEmbeddings
from llamaindex_hfe import HFEmbedding, HFSparseEmbedding
from tests.tei_server import TEIServer

pytestmark = pytest.mark.model

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
SECRET = "hf_secret_xxx"

CORPUS = [
    "The durian is a spiky tropical fruit famous for its pungent smell.",
    "A theodolite measures horizontal and vertical angles for surveyors.",
    "Axolotls can regenerate lost limbs and even parts of their brain.",
    "The Voynich manuscript is written in an undeciphered script.",
    "Sourdough bread rises thanks to wild yeast and lactobacilli.",
    "A harpsichord plucks its strings instead of striking them.",
    "Tardigrades survive extreme cold, radiation and the vacuum of space.",
    "The Rosetta Stone helped scholars decipher Egyptian hieroglyphs.",
    "Replacement filter for the coffee machine: order part QX-7731.",
    "Replacement filter for the water jug: order part BR-2290.",
    "Replacement filter for the vacuum cleaner: order part KT-5518.",
]
#: Queries whose answer is clear (a rare word or code found in one document), and that answer.
CLEAR = {
    "theodolite": 1,
    "Which animal regrows its limbs?": 2,
    "decipher hieroglyphs": 7,
    "lactobacilli": 4,
    "filter KT-5518": 10,
}
#: Dense retrieval alone gets this one wrong (sourdough, not the durian); the sparse side fixes it.
PUNGENT = "pungent"


# -- fixtures -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lexical_path(tiny_models_dir: Path) -> str:
    from tests.tiny_models import build_lexical_sparse_encoder

    return str(build_lexical_sparse_encoder(tiny_models_dir, CORPUS))


@pytest.fixture(scope="module")
def lexical_model(lexical_path: str) -> Any:
    """The lexical model as plain sentence-transformers: the independent reference."""
    from sentence_transformers import SparseEncoder

    return SparseEncoder(lexical_path, device="cpu")


@pytest.fixture(scope="module")
def splade_server(sparse_encoder_path: str) -> Iterator[TEIServer]:
    with TEIServer(
        model_type="splade", model_path=sparse_encoder_path, gelu="exact", max_client_batch_size=4
    ) as tei:
        yield tei


@pytest.fixture(scope="module")
def dense() -> HFEmbeddings:
    return HFEmbeddings(model=MODEL_ID, device="cpu")


@pytest.fixture(scope="module")
def lexical(lexical_path: str) -> HFSparseEmbeddings:
    return HFSparseEmbeddings(mode="local", model=lexical_path, device="cpu")


def store(
    mode: RetrievalMode, dense: HFEmbeddings | None, sparse: SparseEmbeddings | None, name: str
) -> QdrantVectorStore:
    return QdrantVectorStore.from_texts(
        CORPUS,
        embedding=dense,
        sparse_embedding=sparse,
        retrieval_mode=mode,
        location=":memory:",
        collection_name=name,
    )


def answers(vector_store: Any, query: str, k: int = 3) -> list[int]:
    return [CORPUS.index(doc.page_content) for doc in vector_store.similarity_search(query, k=k)]


def as_dense(vector: dict[int, float] | SparseVector, size: int = 30522) -> np.ndarray:
    pairs = vector.items() if isinstance(vector, dict) else zip(vector.indices, vector.values, strict=True)
    row = np.zeros(size, dtype=np.float64)
    for index, value in pairs:
        row[index] = value
    return row


def reference(model: Any, texts: list[str], query: bool = False) -> np.ndarray:
    encode = model.encode_query if query else model.encode_document
    return np.asarray(
        encode(texts, convert_to_tensor=True).to_dense().float().cpu().numpy(), dtype=np.float64
    )


# -- LangChain: hybrid and sparse retrieval in Qdrant -----------------------------------------------------


def test_hybrid_qdrant_finds_the_clear_answers(dense: HFEmbeddings, lexical: HFSparseEmbeddings) -> None:
    hybrid = store(RetrievalMode.HYBRID, dense, lexical, "hybrid")
    for query, answer in CLEAR.items():
        assert answers(hybrid, query)[0] == answer, query
    # The sparse side counts: dense retrieval alone ranks sourdough first for "pungent", hybrid the durian.
    assert answers(store(RetrievalMode.DENSE, dense, None, "dense"), PUNGENT)[0] == 4
    assert answers(hybrid, PUNGENT)[0] == 0


def test_sparse_only_qdrant_scores_are_the_models_dot_products(
    lexical: HFSparseEmbeddings, lexical_model: Any
) -> None:
    sparse = store(RetrievalMode.SPARSE, None, lexical, "sparse")
    for query, answer in {**CLEAR, PUNGENT: 0}.items():
        assert answers(sparse, query)[0] == answer, query
    query = "decipher hieroglyphs"
    want = reference(lexical_model, CORPUS) @ reference(lexical_model, [query], query=True)[0]
    found = sparse.similarity_search_with_score(query, k=len(CORPUS))
    assert len(found) == int(np.count_nonzero(want))  # only the documents sharing a word piece
    for doc, score in found:
        assert score == pytest.approx(want[CORPUS.index(doc.page_content)], rel=1e-5)
    assert found[0][1] > 5 * found[1][1]  # "Rosetta... decipher... hieroglyphs" far ahead of "undeciphered"


def test_tei_mode_serves_local_modes_vectors_into_qdrant(
    splade_server: TEIServer, sparse_encoder_path: str
) -> None:
    """TEI serves the tiny SPLADE model: its vectors and its Qdrant answers are local mode's."""
    from sentence_transformers import SparseEncoder

    tei = HFSparseEmbeddings(mode="tei", url=splade_server.url)
    local = HFSparseEmbeddings(mode="local", model=sparse_encoder_path, device="cpu")
    model = SparseEncoder(sparse_encoder_path, device="cpu")
    served = np.stack([as_dense(vector) for vector in tei.embed_documents(CORPUS)])
    assert splade_server.stats.count("/embed_sparse", 200) >= 3  # eleven texts, four per request
    np.testing.assert_allclose(served, reference(model, CORPUS), atol=1e-5)
    np.testing.assert_allclose(
        as_dense(tei.embed_query(PUNGENT)), reference(model, [PUNGENT], True)[0], atol=1e-5
    )
    assert all(len(vector.indices) > 10 for vector in tei.embed_documents(CORPUS[:2]))

    by_tei = store(RetrievalMode.SPARSE, None, tei, "tei").similarity_search_with_score(PUNGENT, k=5)
    by_local = store(RetrievalMode.SPARSE, None, local, "local").similarity_search_with_score(PUNGENT, k=5)
    assert [doc.page_content for doc, _ in by_tei] == [doc.page_content for doc, _ in by_local]
    np.testing.assert_allclose([s for _, s in by_tei], [s for _, s in by_local], rtol=1e-4)
    hybrid = store(RetrievalMode.HYBRID, HFEmbeddings(model=MODEL_ID, device="cpu"), tei, "tei-hybrid")
    assert answers(hybrid, "theodolite")[0] == 1


async def test_the_langchain_adapter_gives_the_cores_vectors(
    lexical: HFSparseEmbeddings, lexical_path: str, splade_server: TEIServer
) -> None:
    assert isinstance(lexical, SparseEmbeddings)
    for adapter, core in (
        (lexical, SparseEmbedder(mode="local", model=lexical_path, device="cpu")),
        (
            HFSparseEmbeddings(mode="tei", url=splade_server.url),
            SparseEmbedder(mode="tei", url=splade_server.url),
        ),
    ):
        want = core.embed_documents(CORPUS)
        got = adapter.embed_documents(CORPUS)
        assert all(isinstance(vector, SparseVector) for vector in got)
        assert [dict(zip(v.indices, v.values, strict=True)) for v in got] == want
        assert [
            dict(zip(v.indices, v.values, strict=True)) for v in await adapter.aembed_documents(CORPUS)
        ] == want
        query = core.embed_query(PUNGENT)
        assert (
            dict(zip(adapter.embed_query(PUNGENT).indices, adapter.embed_query(PUNGENT).values, strict=True))
            == query
        )
        vector = await adapter.aembed_query(PUNGENT)
        assert dict(zip(vector.indices, vector.values, strict=True)) == query
        assert adapter.embed_documents([]) == []
    with pytest.raises(TypeError):
        lexical.embed_documents("not a list")  # type: ignore[arg-type]


# -- LlamaIndex -----------------------------------------------------------------------------------------


async def test_the_llamaindex_adapter_gives_the_cores_vectors(
    lexical_path: str, lexical_model: Any, splade_server: TEIServer
) -> None:
    for adapter, core in (
        (
            HFSparseEmbedding(mode="local", model=lexical_path, device="cpu"),
            SparseEmbedder(mode="local", model=lexical_path, device="cpu"),
        ),
        (
            HFSparseEmbedding(mode="tei", url=splade_server.url),
            SparseEmbedder(mode="tei", url=splade_server.url),
        ),
    ):
        want = core.embed_documents(CORPUS)
        assert adapter.get_text_embedding_batch(CORPUS) == want
        assert await adapter.aget_text_embedding_batch(CORPUS) == want
        assert adapter.get_text_embedding(CORPUS[3]) == want[3]
        assert await adapter.aget_text_embedding(CORPUS[3]) == want[3]
        assert adapter.get_query_embedding(PUNGENT) == core.embed_query(PUNGENT)
        assert await adapter.aget_query_embedding(PUNGENT) == core.embed_query(PUNGENT)
        with pytest.raises(TypeError):
            adapter.get_text_embedding_batch("not a list")  # type: ignore[arg-type]
    lexical = HFSparseEmbedding(mode="local", model=lexical_path, device="cpu", embed_batch_size=4)
    assert lexical.model_name == lexical_path
    vectors = lexical.get_text_embedding_batch(CORPUS)  # three LlamaIndex batches, one order
    np.testing.assert_allclose(
        np.stack([as_dense(v) for v in vectors]), reference(lexical_model, CORPUS), atol=1e-6
    )
    query = lexical.get_query_embedding("theodolite")
    assert int(np.argmax([lexical.similarity(query, vector) for vector in vectors])) == 1


# llama-index's Qdrant store asks for payload indexes, which Qdrant in memory does not keep (it says so).
@pytest.mark.filterwarnings("ignore:Payload indexes have no effect in the local Qdrant:UserWarning")
def test_llamaindex_hybrid_qdrant_index(lexical_path: str) -> None:
    from llama_index.core import Document, StorageContext, VectorStoreIndex
    from llama_index.vector_stores.qdrant import QdrantVectorStore as LlamaQdrant
    from qdrant_client import QdrantClient

    sparse = HFSparseEmbedding(mode="local", model=lexical_path, device="cpu")
    indices, values = sparse.sparse_query_fn(["theodolite survey"])
    assert dict(zip(indices[0], values[0], strict=True)) == sparse.get_query_embedding("theodolite survey")
    vector_store = LlamaQdrant(
        client=QdrantClient(":memory:"),
        collection_name="hybrid",
        enable_hybrid=True,
        sparse_doc_fn=sparse.sparse_doc_fn,
        sparse_query_fn=sparse.sparse_query_fn,
    )
    index = VectorStoreIndex.from_documents(
        [Document(text=text) for text in CORPUS],
        storage_context=StorageContext.from_defaults(vector_store=vector_store),
        embed_model=HFEmbedding(model=MODEL_ID, device="cpu"),
    )
    hybrid = index.as_retriever(vector_store_query_mode="hybrid", similarity_top_k=3, sparse_top_k=3)
    dense = index.as_retriever(similarity_top_k=3)
    for query, answer in CLEAR.items():
        assert CORPUS.index(hybrid.retrieve(query)[0].node.get_content()) == answer, query
    assert CORPUS.index(dense.retrieve(PUNGENT)[0].node.get_content()) == 4
    assert CORPUS.index(hybrid.retrieve(PUNGENT)[0].node.get_content()) == 0


# -- secrets and the optional dependency -------------------------------------------------------------------


def test_the_token_reaches_the_server_and_never_leaks(sparse_encoder_path: str) -> None:
    with TEIServer(
        model_type="splade", model_path=sparse_encoder_path, gelu="exact", api_key=SECRET
    ) as guarded:
        langchain = HFSparseEmbeddings(mode="tei", url=guarded.url, token=SECRET)
        llama = HFSparseEmbedding(mode="tei", url=guarded.url, token=SECRET)
        assert langchain.embed_query(PUNGENT).indices
        assert llama.get_query_embedding(PUNGENT)
        texts = [
            repr(langchain),
            str(langchain),
            langchain.model_dump_json(),
            json.dumps(langchain.model_dump()),
            repr(langchain.sparse_embedder),
            repr(llama),
            llama.model_dump_json(),
            json.dumps(llama.to_payload()),
        ]
        assert all(SECRET not in text for text in texts)
        for adapter in (langchain, llama):
            data = pickle.dumps(adapter)
            assert SECRET.encode() not in data
            restored = pickle.loads(data)  # noqa: S301 - our own pickle
            assert restored.token is None and restored.url == guarded.url
            with pytest.raises(AuthenticationError):  # so the token above was what opened the door
                restored.sparse_embedder.embed_query(PUNGENT)


def test_langchain_qdrant_is_imported_on_first_use_and_its_absence_named(tmp_path: Path) -> None:
    probe = textwrap.dedent(
        """
        import sys
        import langchain_hfe
        assert "langchain_qdrant" not in sys.modules  # imported on first use of HFSparseEmbeddings only
        assert langchain_hfe.HFReranker and langchain_hfe.HFEmbeddings
        sys.modules["langchain_qdrant"] = None  # from now on, as if it were not installed
        from hfe_core.errors import BackendUnavailableError
        try:
            from langchain_hfe import HFSparseEmbeddings
        except BackendUnavailableError as error:
            assert isinstance(error, ImportError)
            print(error)
        else:
            raise AssertionError("no error")
        """
    )
    env = {**os.environ, "HF_HOME": str(tmp_path)}
    result = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "pip install langchain-qdrant" in result.stdout
