"""``HFSparseEmbeddings``: langchain-qdrant's ``SparseEmbeddings`` over :class:`hfe_core.SparseEmbedder`.

This module needs langchain-qdrant (``pip install langchain-qdrant``, or ``pip install 'hfe[qdrant]'``);
``langchain_hfe`` imports it only when ``HFSparseEmbeddings`` is first used.
"""

from __future__ import annotations

from pydantic import ConfigDict

from hfe_core.adapter import SparseAdapterBase
from hfe_core.errors import BackendUnavailableError
from hfe_core.sparse import SparseVector as CoreSparseVector

try:
    from langchain_qdrant.sparse_embeddings import SparseEmbeddings, SparseVector
except ImportError as exc:  # pragma: no cover - exercised in a subprocess without langchain-qdrant
    raise BackendUnavailableError(
        "langchain_hfe.HFSparseEmbeddings implements langchain-qdrant's SparseEmbeddings, and "
        "langchain-qdrant is not installed: pip install langchain-qdrant (or pip install 'hfe[qdrant]')."
    ) from exc

__all__ = ["HFSparseEmbeddings"]


def _qdrant_vector(vector: CoreSparseVector) -> SparseVector:
    return SparseVector(indices=list(vector), values=list(vector.values()))


class HFSparseEmbeddings(SparseAdapterBase, SparseEmbeddings):
    """Sparse (SPLADE) embeddings for langchain-qdrant's hybrid search: local, TEI or an Inference Endpoint.

    Give it to ``QdrantVectorStore(sparse_embedding=..., retrieval_mode=RetrievalMode.HYBRID)``
    (or ``SPARSE``). Each text becomes a ``SparseVector`` of its non-zero ``(token id, weight)``
    pairs. Every field is documented on :class:`hfe_core.SparseEmbedderSettings` (local mode's
    default model is ``naver/splade-cocondenser-ensembledistil``; a TEI server must run a SPLADE
    model, ``--pooling splade``); the token never appears in ``repr``, ``model_dump`` or a pickle.
    Needs ``pip install langchain-qdrant``.

    Example:
        >>> from langchain_qdrant import QdrantVectorStore, RetrievalMode
        >>> from langchain_hfe import HFEmbeddings
        >>> store = QdrantVectorStore.from_texts(
        ...     ["Paris is in France.", "Berlin is in Germany."],
        ...     embedding=HFEmbeddings(),
        ...     sparse_embedding=HFSparseEmbeddings(url="http://localhost:8080"),
        ...     retrieval_mode=RetrievalMode.HYBRID,
        ...     location=":memory:",
        ... )  # doctest: +SKIP
        >>> store.similarity_search("Where is Paris?", k=1)[0].page_content  # doctest: +SKIP
        'Paris is in France.'
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True, arbitrary_types_allowed=True)

    def embed_documents(self, texts: list[str]) -> list[SparseVector]:
        """Sparse vectors of documents (with the document prompt, if any).

        Args:
            texts: the documents; a bare ``str`` is a ``TypeError``.

        Returns:
            One ``SparseVector(indices, values)`` per document, in order.

        Example:
            >>> vectors = HFSparseEmbeddings(url="http://localhost:8080").embed_documents(
            ...     ["Paris is in France."])  # doctest: +SKIP
            >>> len(vectors[0].indices) == len(vectors[0].values)  # doctest: +SKIP
            True
        """
        return [_qdrant_vector(vector) for vector in self.sparse_embedder.embed_documents(texts)]

    def embed_query(self, text: str) -> SparseVector:
        """The sparse vector of a query (with the query prompt, if any).

        Example:
            >>> HFSparseEmbeddings(url="http://localhost:8080").embed_query("Paris?")  # doctest: +SKIP
            SparseVector(indices=[...], values=[...])
        """
        return _qdrant_vector(self.sparse_embedder.embed_query(text))

    async def aembed_documents(self, texts: list[str]) -> list[SparseVector]:
        """Async twin of :meth:`embed_documents` (server requests run concurrently).

        Example:
            >>> vectors = await HFSparseEmbeddings(url="http://localhost:8080").aembed_documents(
            ...     ["Paris is in France."])  # doctest: +SKIP
        """
        return [_qdrant_vector(vector) for vector in await self.sparse_embedder.aembed_documents(texts)]

    async def aembed_query(self, text: str) -> SparseVector:
        """Async twin of :meth:`embed_query`.

        Example:
            >>> vector = await HFSparseEmbeddings(url="http://localhost:8080").aembed_query(
            ...     "Paris?")  # doctest: +SKIP
        """
        return _qdrant_vector(await self.sparse_embedder.aembed_query(text))
