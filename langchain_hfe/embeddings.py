"""``HFEmbeddings``: a LangChain ``Embeddings`` that delegates every decision to :mod:`hfe_core`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings
from pydantic import ConfigDict, PrivateAttr
from typing_extensions import Self

from hfe_core import Embedder, EmbedderSettings, settings_from_config

__all__ = ["HFEmbeddings"]


class HFEmbeddings(EmbedderSettings, Embeddings):
    """Hugging Face embeddings for LangChain: local sentence-transformers, TEI or Inference Endpoints.

    Every field is documented on :class:`hfe_core.EmbedderSettings`; unset fields come
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

    _embedder: Embedder = PrivateAttr()

    def model_post_init(self, context: Any, /) -> None:
        """Build the core embedder (nothing is loaded yet)."""
        super().model_post_init(context)
        self._embedder = Embedder(self)

    def __setattr__(self, name: str, value: Any) -> None:
        """Changing a setting after construction rebuilds the core embedder."""
        super().__setattr__(name, value)
        if name in EmbedderSettings.model_fields:
            self._embedder = Embedder(self)

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | str | Path, **overrides: Any) -> Self:
        """Create from a mem0, embedchain or hfe configuration (dict, YAML or JSON file).

        Example:
            >>> HFEmbeddings.from_config({"provider": "huggingface",
            ...                           "config": {"model": "sentence-transformers/all-MiniLM-L6-v2"}})
            HFEmbeddings(...)
        """
        return cls(**settings_from_config(config, **overrides))

    @property
    def embedder(self) -> Embedder:
        """The core embedder this adapter delegates to (statistics in ``embedder.last_stats``)."""
        return self._embedder

    @property
    def dimension(self) -> int:
        """Dimension of the embeddings (loads the model on first access)."""
        return self._embedder.dimension

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed documents with the document prompt."""
        return self._embedder.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        """Embed a query with the query prompt."""
        return self._embedder.embed_query(text)

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed documents without blocking the event loop."""
        return await self._embedder.aembed_documents(texts)

    async def aembed_query(self, text: str) -> list[float]:
        """Embed a query without blocking the event loop."""
        return await self._embedder.aembed_query(text)
