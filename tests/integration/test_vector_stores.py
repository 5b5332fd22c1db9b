"""Real vector stores: LangChain's InMemoryVectorStore and LlamaIndex's VectorStoreIndex."""

from __future__ import annotations

import pytest

from langchain_hfe import HFEmbeddings
from llamaindex_hfe import HFEmbedding

from .conftest import MODEL_ID

pytestmark = pytest.mark.model

CORPUS = {
    "paris": "Paris is the capital and largest city of France, on the river Seine.",
    "python": "Python is a programming language that emphasises readable code and indentation.",
    "photosynthesis": "Plants turn sunlight, water and carbon dioxide into sugar through photosynthesis.",
    "bread": "To bake bread, knead flour, water, salt and yeast, let the dough rise, then bake it.",
    "everest": "Mount Everest, in the Himalayas, is the highest mountain above sea level.",
    "jupiter": "Jupiter is the largest planet of the solar system, a gas giant with a great red spot.",
}
QUERIES = {
    "What is the capital of France?": "paris",
    "Which language is known for significant whitespace?": "python",
    "How do plants make their food?": "photosynthesis",
    "How do I make a loaf at home?": "bread",
    "What is the tallest peak in the world?": "everest",
    "Which planet is the biggest?": "jupiter",
}


def test_langchain_in_memory_vector_store_finds_the_expected_document() -> None:
    from langchain_core.documents import Document
    from langchain_core.vectorstores import InMemoryVectorStore

    store = InMemoryVectorStore(HFEmbeddings(model=MODEL_ID))
    store.add_documents([Document(page_content=text, id=key) for key, text in CORPUS.items()])
    for query, expected in QUERIES.items():
        hits = store.similarity_search(query, k=1)
        assert hits[0].id == expected, (query, hits[0].id)


async def test_langchain_retriever_async() -> None:
    from langchain_core.documents import Document
    from langchain_core.vectorstores import InMemoryVectorStore

    store = InMemoryVectorStore(HFEmbeddings(model=MODEL_ID))
    await store.aadd_documents([Document(page_content=text, id=key) for key, text in CORPUS.items()])
    retriever = store.as_retriever(search_kwargs={"k": 1})
    for query, expected in QUERIES.items():
        assert (await retriever.ainvoke(query))[0].id == expected


def test_llamaindex_vector_store_index_retrieves_the_expected_node() -> None:
    from llama_index.core import Document, VectorStoreIndex

    embed_model = HFEmbedding(model=MODEL_ID)
    documents = [Document(text=text, id_=key) for key, text in CORPUS.items()]
    index = VectorStoreIndex.from_documents(documents, embed_model=embed_model)
    retriever = index.as_retriever(similarity_top_k=2)
    for query, expected in QUERIES.items():
        hits = retriever.retrieve(query)
        assert hits[0].node.ref_doc_id == expected, (query, hits[0].node.ref_doc_id)
        assert hits[0].score is not None and hits[0].score > hits[1].score


async def test_llamaindex_async_retrieval_matches_sync() -> None:
    from llama_index.core import Document, VectorStoreIndex

    embed_model = HFEmbedding(model=MODEL_ID)
    documents = [Document(text=text, id_=key) for key, text in CORPUS.items()]
    index = VectorStoreIndex.from_documents(documents, embed_model=embed_model, use_async=True)
    retriever = index.as_retriever(similarity_top_k=1)
    for query, expected in QUERIES.items():
        hits = await retriever.aretrieve(query)
        assert hits[0].node.ref_doc_id == expected
