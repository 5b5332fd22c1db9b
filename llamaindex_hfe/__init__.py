"""llamaindex_hfe: hfe's LlamaIndex ``BaseEmbedding`` adapter."""

from llamaindex_hfe.embeddings import HFEmbedding

__all__ = ["HFEmbedding"]
