"""langchain_hfe: hfe's LangChain adapters, and drop-ins named after langchain-huggingface's.

``HFEmbeddings`` has hfe's defaults; ``HuggingFaceEmbeddings`` and ``HuggingFaceEndpointEmbeddings``
take langchain-huggingface's arguments and keep its vectors (change the import line, nothing else).
``HFReranker`` reranks a retriever's documents (a ``BaseDocumentCompressor``), and
``HFSparseEmbeddings`` gives langchain-qdrant's hybrid search its sparse vectors; it is imported on
first use, as it needs langchain-qdrant (``pip install langchain-qdrant``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langchain_hfe.embeddings import HFEmbeddings
from langchain_hfe.huggingface import HuggingFaceEmbeddings, HuggingFaceEndpointEmbeddings
from langchain_hfe.rerank import HFReranker

if TYPE_CHECKING:
    from langchain_hfe.sparse import HFSparseEmbeddings

__all__ = [
    "HFEmbeddings",
    "HFReranker",
    "HFSparseEmbeddings",
    "HuggingFaceEmbeddings",
    "HuggingFaceEndpointEmbeddings",
]


def __getattr__(name: str) -> Any:
    """Import ``HFSparseEmbeddings`` on first use: it needs langchain-qdrant, an optional dependency.

    Raises:
        BackendUnavailableError: langchain-qdrant is not installed (an ``ImportError``).
        AttributeError: no such name.
    """
    if name == "HFSparseEmbeddings":
        from langchain_hfe.sparse import HFSparseEmbeddings

        globals()[name] = HFSparseEmbeddings
        return HFSparseEmbeddings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
