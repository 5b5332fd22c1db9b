"""``HFEmbeddings``: a LangChain ``Embeddings`` that delegates every decision to :mod:`hfe_core`."""

from __future__ import annotations

from langchain_core.embeddings import Embeddings
from pydantic import ConfigDict

from hfe_core.adapter import AdapterBase

__all__ = ["HFEmbeddings"]


class HFEmbeddings(AdapterBase, Embeddings):
    """Hugging Face embeddings for LangChain: local sentence-transformers, TEI or Inference Endpoints.

    Every field is documented on :class:`hfe_core.EmbedderSettings`; ``from_config``,
    ``embedder`` and ``dimension`` come from :class:`hfe_core.adapter.AdapterBase`; unset fields come
    from the environment (``HFE_*``, ``HF_TOKEN``...) and then from defaults. Queries use
    the model's query prompt and documents its document prompt. The token is a
    ``SecretStr`` that never appears in ``repr``, ``model_dump`` or a pickle.

    Example:
        >>> from langchain_core.vectorstores import InMemoryVectorStore
        >>> embeddings = HFEmbeddings(model="sentence-transformers/all-MiniLM-L6-v2")
        >>> store = InMemoryVectorStore.from_texts(["Paris is in France."], embeddings)
        >>> store.similarity_search("Where is Paris?", k=1)[0].page_content
        'Paris is in France.'
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True, arbitrary_types_allowed=True)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed documents with the document prompt.

        Args:
            texts: the documents; a bare ``str`` is a ``TypeError``.

        Returns:
            One vector (a list of floats) per document, in order.

        Example:
            >>> vectors = HFEmbeddings().embed_documents(["Paris is in France."])  # doctest: +SKIP
            >>> len(vectors[0])  # doctest: +SKIP
            384
        """
        return self._embedder.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        """Embed a query with the query prompt.

        Example:
            >>> len(HFEmbeddings().embed_query("Where is Paris?"))  # doctest: +SKIP
            384
        """
        return self._embedder.embed_query(text)

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed documents without blocking the event loop.

        Example:
            >>> vectors = await HFEmbeddings().aembed_documents(["Paris is in France."])  # doctest: +SKIP
        """
        return await self._embedder.aembed_documents(texts)

    async def aembed_query(self, text: str) -> list[float]:
        """Embed a query without blocking the event loop.

        Example:
            >>> vector = await HFEmbeddings().aembed_query("Where is Paris?")  # doctest: +SKIP
        """
        return await self._embedder.aembed_query(text)
