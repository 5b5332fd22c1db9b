"""``HFSparseEmbedding``: a LlamaIndex ``BaseSparseEmbedding`` over :class:`hfe_core.SparseEmbedder`."""

from __future__ import annotations

from typing import Any

from llama_index.core.base.embeddings.base_sparse import BaseSparseEmbedding, SparseEmbedding
from pydantic import ConfigDict, Field

from hfe_core.adapter import SparseAdapterBase
from hfe_core.validation import validate_text, validate_texts
from llamaindex_hfe.embeddings import DEFAULT_EMBED_BATCH_SIZE

__all__ = ["HFSparseEmbedding"]


class HFSparseEmbedding(BaseSparseEmbedding, SparseAdapterBase):
    """Sparse (SPLADE) embeddings for LlamaIndex: local sentence-transformers, TEI or an Inference Endpoint.

    Each text becomes ``{token_id: weight}`` (non-zero weights only), LlamaIndex's
    ``SparseEmbedding``. Every hfe field is documented on :class:`hfe_core.SparseEmbedderSettings`
    (local mode's default model is ``naver/splade-cocondenser-ensembledistil``; a TEI server must
    run a SPLADE model, ``--pooling splade``). ``model_dump()``, ``repr`` and pickles never contain
    the token.

    Example:
        >>> sparse = HFSparseEmbedding(url="http://localhost:8080")
        >>> vector = sparse.get_query_embedding("Where is Paris?")  # doctest: +SKIP
        >>> documents = sparse.get_text_embedding_batch(["Paris is in France."])  # doctest: +SKIP
        >>> sparse.similarity(vector, documents[0]) > 0  # doctest: +SKIP
        True
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True, arbitrary_types_allowed=True)

    embed_batch_size: int = Field(
        default=DEFAULT_EMBED_BATCH_SIZE,
        gt=0,
        le=2048,
        description="Texts LlamaIndex passes per call; hfe batches inside each call.",
    )

    def model_post_init(self, context: Any, /) -> None:
        """Build the core sparse embedder and name the model for LlamaIndex (nothing is loaded yet)."""
        super().model_post_init(context)
        if self.model and self.model_name in ("unknown", None):
            object.__setattr__(self, "model_name", self.model)

    @classmethod
    def class_name(cls) -> str:
        """The name LlamaIndex stores in serialized components."""
        return "HFSparseEmbedding"

    def get_text_embedding_batch(
        self, texts: list[str], show_progress: bool = False, **kwargs: Any
    ) -> list[SparseEmbedding]:
        """Sparse vectors of a list of texts; a bare ``str`` is a ``TypeError``, not one per character.

        Example:
            >>> vectors = HFSparseEmbedding(url="http://localhost:8080").get_text_embedding_batch(
            ...     ["Paris is in France."])  # doctest: +SKIP
            >>> all(weight > 0 for weight in vectors[0].values())  # doctest: +SKIP
            True
        """
        return super().get_text_embedding_batch(validate_texts(texts), show_progress, **kwargs)

    async def aget_text_embedding_batch(
        self, texts: list[str], show_progress: bool = False
    ) -> list[SparseEmbedding]:
        """Async twin of :meth:`get_text_embedding_batch`."""
        return await super().aget_text_embedding_batch(validate_texts(texts), show_progress)

    def _get_query_embedding(self, query: str) -> SparseEmbedding:
        return self.sparse_embedder.embed_query(query)

    async def _aget_query_embedding(self, query: str) -> SparseEmbedding:
        return await self.sparse_embedder.aembed_query(query)

    def _get_text_embedding(self, text: str) -> SparseEmbedding:
        return self.sparse_embedder.embed_documents([validate_text(text)])[0]

    async def _aget_text_embedding(self, text: str) -> SparseEmbedding:
        return (await self.sparse_embedder.aembed_documents([validate_text(text)]))[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[SparseEmbedding]:
        return self.sparse_embedder.embed_documents(texts)

    async def _aget_text_embeddings(self, texts: list[str]) -> list[SparseEmbedding]:
        return await self.sparse_embedder.aembed_documents(texts)

    # -- llama-index-vector-stores-qdrant's hybrid mode takes functions, not an embedding object ------
    def sparse_doc_fn(self, texts: list[str]) -> tuple[list[list[int]], list[list[float]]]:
        """Documents' sparse vectors as Qdrant's hybrid store wants them: ``(indices, values)`` lists.

        Example:
            >>> from llama_index.vector_stores.qdrant import QdrantVectorStore  # doctest: +SKIP
            >>> sparse = HFSparseEmbedding(url="http://localhost:8080")
            >>> store = QdrantVectorStore(
            ...     client=client, collection_name="docs", enable_hybrid=True,
            ...     sparse_doc_fn=sparse.sparse_doc_fn,
            ...     sparse_query_fn=sparse.sparse_query_fn)  # doctest: +SKIP
        """
        return _qdrant_lists(self.sparse_embedder.embed_documents(texts))

    def sparse_query_fn(self, texts: list[str]) -> tuple[list[list[int]], list[list[float]]]:
        """Queries' sparse vectors as Qdrant's hybrid store wants them (see :meth:`sparse_doc_fn`)."""
        return _qdrant_lists(self.sparse_embedder.embed(texts, input_type="query"))


def _qdrant_lists(vectors: list[SparseEmbedding]) -> tuple[list[list[int]], list[list[float]]]:
    return [list(vector) for vector in vectors], [list(vector.values()) for vector in vectors]
