"""``HFEmbedding``: a LlamaIndex ``BaseEmbedding`` that delegates every decision to :mod:`hfe_core`."""

from __future__ import annotations

from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from pydantic import ConfigDict, Field

from hfe_core.adapter import AdapterBase
from hfe_core.validation import validate_text, validate_texts

__all__ = ["DEFAULT_EMBED_BATCH_SIZE", "HFEmbedding"]

#: Texts LlamaIndex hands over per call. LlamaIndex's own default (10) starves a GPU and
#: a server; hfe batches and bounds concurrency itself inside each call.
DEFAULT_EMBED_BATCH_SIZE = 512


class HFEmbedding(BaseEmbedding, AdapterBase):
    """Hugging Face embeddings for LlamaIndex: local sentence-transformers, TEI or Inference Endpoints.

    Every hfe field is documented on :class:`hfe_core.EmbedderSettings`; unset fields
    come from the environment and then from defaults. Queries use the model's query
    prompt and texts its document prompt. ``to_dict()``, ``to_json()``, ``repr`` and
    pickles never contain the token.

    Example:
        >>> from llama_index.core import Settings, VectorStoreIndex, Document
        >>> Settings.embed_model = HFEmbedding(model="sentence-transformers/all-MiniLM-L6-v2")
        >>> index = VectorStoreIndex.from_documents([Document(text="Paris is in France.")])
        >>> index.as_retriever().retrieve("Where is Paris?")[0].score > 0.5
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
        """Build the core embedder and name the model for LlamaIndex (nothing is loaded yet)."""
        super().model_post_init(context)
        if self.model and self.model_name in ("unknown", None):
            object.__setattr__(self, "model_name", self.model)

    @classmethod
    def class_name(cls) -> str:
        """The name LlamaIndex stores in serialized components."""
        return "HFEmbedding"

    def get_text_embedding_batch(
        self, texts: list[str], show_progress: bool = False, **kwargs: Any
    ) -> list[Embedding]:
        """Embed a list of texts; a bare ``str`` is a ``TypeError``, not one vector per character.

        Example:
            >>> vectors = HFEmbedding().get_text_embedding_batch(["Paris is in France."])  # doctest: +SKIP
            >>> len(vectors[0])  # doctest: +SKIP
            384
        """
        return super().get_text_embedding_batch(validate_texts(texts), show_progress, **kwargs)

    async def aget_text_embedding_batch(
        self, texts: list[str], show_progress: bool = False, **kwargs: Any
    ) -> list[Embedding]:
        """Async twin of :meth:`get_text_embedding_batch`."""
        return await super().aget_text_embedding_batch(validate_texts(texts), show_progress, **kwargs)

    def _get_query_embedding(self, query: str) -> Embedding:
        return self._embedder.embed_query(query)

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return await self._embedder.aembed_query(query)

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._embedder.embed_documents([validate_text(text)])[0]

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return (await self._embedder.aembed_documents([validate_text(text)]))[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return self._embedder.embed_documents(texts)

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return await self._embedder.aembed_documents(texts)
