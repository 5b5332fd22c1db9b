"""langchain_hfe: hfe's LangChain ``Embeddings`` adapter."""

from langchain_hfe.embeddings import HFEmbeddings

__all__ = ["HFEmbeddings"]
