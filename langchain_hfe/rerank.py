"""``HFReranker``: a LangChain document compressor that reranks with :class:`hfe_core.Reranker`."""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.callbacks import Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document
from pydantic import ConfigDict, Field

from hfe_core.adapter import RerankAdapterBase
from hfe_core.rerank import Rank

__all__ = ["HFReranker"]


def _texts(documents: Sequence[Document]) -> list[str]:
    return [document.page_content for document in documents]


def _ranked(documents: Sequence[Document], ranks: list[Rank]) -> list[Document]:
    """Copies of the ranked documents, best first, each with its score in ``relevance_score``."""
    return [
        documents[index].model_copy(
            update={"metadata": {**documents[index].metadata, "relevance_score": score}}
        )
        for index, score in ranks
    ]


class HFReranker(RerankAdapterBase, BaseDocumentCompressor):
    """Rerank LangChain documents with a cross-encoder: local sentence-transformers, TEI or an Endpoint.

    A ``BaseDocumentCompressor``: give it to ``ContextualCompressionRetriever`` to rerank a
    retriever's hits. It returns the ``top_n`` best documents, best first, as copies (the inputs are
    never changed) with the score in ``metadata["relevance_score"]``: the model's sigmoid (0..1), or
    its logit with ``raw_scores=True``. Every other field is documented on
    :class:`hfe_core.RerankerSettings` (local mode's default model is ``BAAI/bge-reranker-base``);
    the token is a ``SecretStr`` that never appears in ``repr``, ``model_dump`` or a pickle.

    Example:
        >>> from langchain_classic.retrievers import ContextualCompressionRetriever
        >>> from langchain_core.vectorstores import InMemoryVectorStore
        >>> from langchain_hfe import HFEmbeddings
        >>> store = InMemoryVectorStore.from_texts(
        ...     ["Paris is in France.", "Berlin is in Germany."], HFEmbeddings())  # doctest: +SKIP
        >>> retriever = ContextualCompressionRetriever(
        ...     base_compressor=HFReranker(url="http://localhost:8080", top_n=1),
        ...     base_retriever=store.as_retriever(search_kwargs={"k": 10}))  # doctest: +SKIP
        >>> retriever.invoke("Where is Paris?")[0].metadata["relevance_score"] > 0.5  # doctest: +SKIP
        True
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True, arbitrary_types_allowed=True)

    top_n: int | None = Field(
        default=3,
        ge=0,
        description="Documents to keep, the best first (None: all of them, reordered). LangChain's "
        "rerank compressors keep 3 by default.",
    )

    def compress_documents(
        self,
        documents: Sequence[Document],
        query: str,
        callbacks: Callbacks | None = None,  # noqa: ARG002 - LangChain's signature; nothing to report
    ) -> Sequence[Document]:
        """Rerank ``documents`` against ``query`` and keep the ``top_n`` best.

        Args:
            documents: the retrieved documents.
            query: the query.
            callbacks: LangChain's callbacks (unused).

        Returns:
            Copies of the best documents, best first, with ``metadata["relevance_score"]``.

        Example:
            >>> from langchain_core.documents import Document
            >>> docs = [Document("Cheese is made of milk."), Document("Paris is in France.")]
            >>> best = HFReranker(url="http://localhost:8080", top_n=1).compress_documents(
            ...     docs, "Where is Paris?")  # doctest: +SKIP
            >>> best[0].page_content  # doctest: +SKIP
            'Paris is in France.'
        """
        return _ranked(documents, self.reranker.rerank(query, _texts(documents), self.top_n))

    async def acompress_documents(
        self,
        documents: Sequence[Document],
        query: str,
        callbacks: Callbacks | None = None,  # noqa: ARG002 - LangChain's signature; nothing to report
    ) -> Sequence[Document]:
        """Async twin of :meth:`compress_documents` (server requests run concurrently).

        Example:
            >>> best = await HFReranker(url="http://localhost:8080").acompress_documents(
            ...     docs, "Where is Paris?")  # doctest: +SKIP
        """
        return _ranked(documents, await self.reranker.arerank(query, _texts(documents), self.top_n))
