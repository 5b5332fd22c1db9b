"""The rerank adapters end to end: LangChain's ``HFReranker`` and LlamaIndex's ``HFRerank``.

Real parts only: the packaged all-MiniLM-L6-v2 retrieves (``HFEmbeddings`` / ``HFEmbedding`` in local
mode), a tiny ``CrossEncoder`` built from a config (``tests/tiny_models.py``, random weights: its
scores mean nothing, but every path must give the *same* numbers) reranks, served by the TEI test
server (``model_type="reranker"``) or loaded locally. The expected order and scores are computed
independently with ``sentence_transformers.CrossEncoder.predict``.

The server runs with ``gelu="exact"`` (PyTorch's GELU, as sentence-transformers) so that its scores
equal ``CrossEncoder.predict`` to float precision, and with ``max_client_batch_size=4`` so that ten
candidates take three ``/rerank`` requests whose scores the core merges into one order.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from langchain_classic.retrievers import ContextualCompressionRetriever
from langchain_core.documents import Document
from langchain_core.vectorstores import InMemoryVectorStore
from llama_index.core import Document as LlamaDocument
from llama_index.core import VectorStoreIndex
from llama_index.core.llms import MockLLM
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.response_synthesizers.no_text import NoText
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from hfe_core import Rank, Reranker
from hfe_core.errors import AuthenticationError
from langchain_hfe import HFEmbeddings, HFReranker
from llamaindex_hfe import HFEmbedding, HFRerank
from tests.tei_server import TEIServer

pytestmark = pytest.mark.model

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
SECRET = "hf_secret_xxx"
TOLERANCE = 1e-5

CORPUS = [
    "The Eiffel Tower is a wrought-iron lattice tower in Paris.",
    "Paris is the capital and largest city of France.",
    "The Louvre in Paris is the most visited museum in the world.",
    "Berlin is the capital of Germany and its largest city.",
    "Mount Everest is the highest mountain above sea level.",
    "The Seine flows through Paris before reaching the English Channel.",
    "Croissants are a buttery French pastry eaten at breakfast.",
    "Tokyo is the capital of Japan and a huge metropolitan area.",
    "The Amazon rainforest covers much of the Amazon basin in South America.",
    "Notre-Dame de Paris is a medieval Catholic cathedral.",
    "The Great Wall of China stretches thousands of kilometres.",
    "Rome was the capital of the Roman Empire.",
]
QUERY = "What can a visitor see in Paris?"
K = 10


# -- fixtures: the models and the server, once per module --------------------------------------------


@pytest.fixture(scope="module")
def cross_encoder(cross_encoder_path: str) -> Any:
    """The tiny re-ranker as plain sentence-transformers: the independent reference."""
    from sentence_transformers import CrossEncoder

    return CrossEncoder(cross_encoder_path, device="cpu")


@pytest.fixture(scope="module")
def server(cross_encoder_path: str) -> Iterator[TEIServer]:
    with TEIServer(
        model_type="reranker", model_path=cross_encoder_path, gelu="exact", max_client_batch_size=4
    ) as tei:
        yield tei


@pytest.fixture(scope="module")
def langchain_retriever() -> Any:
    store = InMemoryVectorStore.from_texts(CORPUS, HFEmbeddings(model=MODEL_ID, device="cpu"))
    return store.as_retriever(search_kwargs={"k": K})


@pytest.fixture(scope="module")
def llama_index() -> VectorStoreIndex:
    embed_model = HFEmbedding(model=MODEL_ID, device="cpu")
    return VectorStoreIndex.from_documents(
        [LlamaDocument(text=text) for text in CORPUS], embed_model=embed_model
    )


def expected(cross_encoder: Any, query: str, texts: list[str], top_n: int | None) -> list[tuple[str, float]]:
    """``(text, score)`` best first, from ``CrossEncoder.predict`` (its default sigmoid)."""
    scores = np.asarray(cross_encoder.predict([(query, text) for text in texts]), dtype=np.float64)
    order = np.argsort(-scores, kind="stable")
    ranked = [(texts[i], float(scores[i])) for i in order]
    gaps = np.abs(np.diff([score for _, score in ranked]))
    assert gaps.min() > 100 * TOLERANCE, "two candidates tie: the order would not test anything"
    return ranked if top_n is None else ranked[:top_n]


def assert_ranked(got: list[tuple[str, float]], want: list[tuple[str, float]]) -> None:
    assert [text for text, _ in got] == [text for text, _ in want]
    np.testing.assert_allclose([s for _, s in got], [s for _, s in want], rtol=0, atol=TOLERANCE)


def docs_scores(documents: list[Document]) -> list[tuple[str, float]]:
    return [(doc.page_content, doc.metadata["relevance_score"]) for doc in documents]


def nodes_scores(nodes: list[NodeWithScore]) -> list[tuple[str, float]]:
    return [(node.node.get_content(), float(node.score or 0.0)) for node in nodes]


# -- LangChain ----------------------------------------------------------------------------------------


def test_langchain_contextual_compression_orders_by_the_servers_scores(
    server: TEIServer, langchain_retriever: Any, cross_encoder: Any
) -> None:
    candidates = [doc.page_content for doc in langchain_retriever.invoke(QUERY)]
    assert len(candidates) == K
    reranker = HFReranker(mode="tei", url=server.url, top_n=3)
    retriever = ContextualCompressionRetriever(base_compressor=reranker, base_retriever=langchain_retriever)
    before = server.stats.count("/rerank", 200)

    got = retriever.invoke(QUERY)

    want = expected(cross_encoder, QUERY, candidates, 3)
    assert [text for text, _ in want] != candidates[:3]  # the reranker does change the retriever's order
    assert_ranked(docs_scores(got), want)
    # ten candidates, four per request: three requests, their scores merged into one order
    assert server.stats.count("/rerank", 200) - before == 3


async def test_langchain_async_retriever_gives_the_same_documents(
    server: TEIServer, langchain_retriever: Any, cross_encoder: Any
) -> None:
    candidates = [doc.page_content for doc in langchain_retriever.invoke(QUERY)]
    retriever = ContextualCompressionRetriever(
        base_compressor=HFReranker(mode="tei", url=server.url, top_n=3), base_retriever=langchain_retriever
    )
    got = await retriever.ainvoke(QUERY)
    assert_ranked(docs_scores(got), expected(cross_encoder, QUERY, candidates, 3))


def test_langchain_local_mode_agrees_with_tei(
    server: TEIServer, langchain_retriever: Any, cross_encoder: Any, cross_encoder_path: str
) -> None:
    candidates = [doc.page_content for doc in langchain_retriever.invoke(QUERY)]
    local = HFReranker(mode="local", model=cross_encoder_path, device="cpu", top_n=3)
    retriever = ContextualCompressionRetriever(base_compressor=local, base_retriever=langchain_retriever)
    got_local = docs_scores(retriever.invoke(QUERY))
    assert_ranked(got_local, expected(cross_encoder, QUERY, candidates, 3))

    documents = [Document(page_content=text) for text in candidates]
    every_local = docs_scores(
        list(local.model_copy(update={"top_n": None}).compress_documents(documents, QUERY))
    )
    tei_all = HFReranker(mode="tei", url=server.url, top_n=None)
    assert_ranked(docs_scores(list(tei_all.compress_documents(documents, QUERY))), every_local)
    assert len(every_local) == K


def test_compress_documents_returns_copies_and_keeps_metadata(server: TEIServer, cross_encoder: Any) -> None:
    documents = [
        Document(page_content=text, metadata={"source": f"doc{number}"}, id=str(number))
        for number, text in enumerate(CORPUS[:6])
    ]
    originals = [doc.model_copy(deep=True) for doc in documents]
    reranker = HFReranker(mode="tei", url=server.url, top_n=2)

    got = list(reranker.compress_documents(documents, QUERY))

    assert documents == originals  # nothing changed in place
    assert all("relevance_score" not in doc.metadata for doc in documents)
    assert all(all(new is not old for old in documents) for new in got)
    want = expected(cross_encoder, QUERY, CORPUS[:6], 2)
    assert_ranked(docs_scores(got), want)
    by_text = {doc.page_content: doc for doc in documents}
    for doc in got:
        source = by_text[doc.page_content]
        assert doc.id == source.id
        assert doc.metadata["source"] == source.metadata["source"]
    assert reranker.compress_documents([], QUERY) == []


def test_langchain_defaults_and_raw_scores(server: TEIServer, cross_encoder: Any) -> None:
    assert HFReranker(mode="tei", url=server.url).top_n == 3  # as LangChain's rerank compressors
    documents = [Document(page_content=text) for text in CORPUS[:5]]
    raw = HFReranker(mode="tei", url=server.url, raw_scores=True, top_n=None).compress_documents(
        documents, QUERY
    )
    logits = np.asarray(
        cross_encoder.predict([(QUERY, doc.page_content) for doc in raw], activation_fn=_identity()),
        dtype=np.float64,
    )
    np.testing.assert_allclose([doc.metadata["relevance_score"] for doc in raw], logits, atol=TOLERANCE)
    assert np.all(np.diff(logits) <= 0)  # best first
    sigmoid = HFReranker(mode="tei", url=server.url, top_n=None).compress_documents(documents, QUERY)
    assert [doc.page_content for doc in sigmoid] == [doc.page_content for doc in raw]
    np.testing.assert_allclose(
        [doc.metadata["relevance_score"] for doc in sigmoid], 1 / (1 + np.exp(-logits)), atol=TOLERANCE
    )
    assert not np.allclose(logits, 1 / (1 + np.exp(-logits)), atol=1e-3)  # raw_scores did change the scores


def _identity() -> Any:
    import torch

    return torch.nn.Identity()


# -- LlamaIndex ---------------------------------------------------------------------------------------


def query_engine(index: VectorStoreIndex, rerank: HFRerank) -> RetrieverQueryEngine:
    """The index's top-K retriever with ``rerank`` as node postprocessor, answering without an LLM call.

    (``index.as_query_engine(llm=MockLLM(), response_mode="no_text")`` would still ask
    ``Settings.llm``, i.e. OpenAI: llama-index-core 0.14 builds ``NoText`` without the given LLM.)
    """
    return RetrieverQueryEngine(
        retriever=index.as_retriever(similarity_top_k=K),
        response_synthesizer=NoText(llm=MockLLM()),
        node_postprocessors=[rerank],
    )


def test_llamaindex_query_engine_reranks_by_the_servers_scores(
    server: TEIServer, llama_index: VectorStoreIndex, cross_encoder: Any
) -> None:
    candidates = [
        node.node.get_content() for node in llama_index.as_retriever(similarity_top_k=K).retrieve(QUERY)
    ]
    assert len(candidates) == K
    engine = query_engine(llama_index, HFRerank(mode="tei", url=server.url, top_n=3))
    response = engine.query(QUERY)
    want = expected(cross_encoder, QUERY, candidates, 3)
    assert [text for text, _ in want] != candidates[:3]  # the reranker does change the retriever's order
    assert_ranked(nodes_scores(response.source_nodes), want)


async def test_llamaindex_async_query_engine_and_local_mode(
    server: TEIServer, llama_index: VectorStoreIndex, cross_encoder: Any, cross_encoder_path: str
) -> None:
    retriever = llama_index.as_retriever(similarity_top_k=K)
    candidates = [node.node.get_content() for node in retriever.retrieve(QUERY)]
    want = expected(cross_encoder, QUERY, candidates, 3)
    for rerank in (
        HFRerank(mode="tei", url=server.url, top_n=3),
        HFRerank(mode="local", model=cross_encoder_path, device="cpu", top_n=3),
    ):
        engine = query_engine(llama_index, rerank)
        assert_ranked(nodes_scores((await engine.aquery(QUERY)).source_nodes), want)
        assert_ranked(nodes_scores(engine.query(QUERY).source_nodes), want)


def test_llamaindex_postprocessor_details(server: TEIServer, cross_encoder: Any) -> None:
    nodes = [
        NodeWithScore(node=TextNode(text=text, id_=f"n{i}"), score=0.5 + i / 100)
        for i, text in enumerate(CORPUS[:6])
    ]
    rerank = HFRerank(mode="tei", url=server.url, top_n=4, keep_retrieval_score=True)
    assert HFRerank(mode="tei", url=server.url).top_n == 2  # as LlamaIndex's SentenceTransformerRerank

    got = rerank.postprocess_nodes(nodes, query_str=QUERY)

    assert_ranked(nodes_scores(got), expected(cross_encoder, QUERY, CORPUS[:6], 4))
    by_id = {scored.node.node_id: scored for scored in nodes}
    for scored in got:
        source = by_id[scored.node.node_id]
        assert scored.node.metadata["retrieval_score"] == source.score
        assert "retrieval_score" not in source.node.metadata  # the input nodes are not changed
    assert [scored.score for scored in nodes] == [0.5 + i / 100 for i in range(6)]
    assert rerank.postprocess_nodes([], query_str=QUERY) == []
    with pytest.raises(ValueError, match="query"):
        rerank.postprocess_nodes(nodes)
    same = rerank.postprocess_nodes(nodes, query_bundle=QueryBundle(QUERY))
    assert nodes_scores(same) == nodes_scores(got)


# -- delegation and secrets ---------------------------------------------------------------------------


async def test_the_adapters_give_the_cores_ranks(server: TEIServer) -> None:
    core = Reranker(mode="tei", url=server.url)
    want: list[Rank] = core.rerank(QUERY, CORPUS, top_n=5)
    assert want == await core.arerank(QUERY, CORPUS, top_n=5)
    texts_want = [(CORPUS[index], score) for index, score in want]

    langchain = HFReranker(mode="tei", url=server.url, top_n=5)
    assert isinstance(langchain.reranker, Reranker)
    documents = [Document(page_content=text) for text in CORPUS]
    assert docs_scores(list(langchain.compress_documents(documents, QUERY))) == texts_want
    assert docs_scores(list(await langchain.acompress_documents(documents, QUERY))) == texts_want

    llama = HFRerank(mode="tei", url=server.url, top_n=5)
    nodes = [NodeWithScore(node=TextNode(text=text)) for text in CORPUS]
    assert nodes_scores(llama.postprocess_nodes(nodes, query_str=QUERY)) == texts_want
    assert nodes_scores(await llama.apostprocess_nodes(nodes, query_str=QUERY)) == texts_want

    langchain.url = "http://127.0.0.1:9"  # a setting changed after construction: a new core reranker
    assert langchain.reranker.settings.url == "http://127.0.0.1:9"


def test_the_token_reaches_the_server_and_never_leaks(cross_encoder_path: str) -> None:
    with TEIServer(
        model_type="reranker", model_path=cross_encoder_path, gelu="exact", api_key=SECRET
    ) as guarded:
        documents = [Document(page_content=text) for text in CORPUS[:3]]
        nodes = [NodeWithScore(node=TextNode(text=text)) for text in CORPUS[:3]]
        langchain = HFReranker(mode="tei", url=guarded.url, token=SECRET)
        llama = HFRerank(mode="tei", url=guarded.url, token=SECRET)
        assert len(langchain.compress_documents(documents, QUERY)) == 3
        assert len(llama.postprocess_nodes(nodes, query_str=QUERY)) == 2

        texts = [
            repr(langchain),
            str(langchain),
            langchain.model_dump_json(),
            json.dumps(langchain.model_dump()),
            repr(langchain.reranker),
            repr(llama),
            str(llama),
            llama.to_json(),
            json.dumps(llama.to_dict()),
            llama.model_dump_json(),
        ]
        assert all(SECRET not in text for text in texts)
        for adapter in (langchain, llama):
            data = pickle.dumps(adapter)
            assert SECRET.encode() not in data
            restored = pickle.loads(data)  # noqa: S301 - our own pickle
            assert restored.token is None  # never pickled; HF_TOKEN would be read again
            assert restored.url == guarded.url and restored.top_n == adapter.top_n
            with pytest.raises(AuthenticationError):  # so the token above was what opened the door
                restored.reranker.rerank(QUERY, CORPUS[:2])
