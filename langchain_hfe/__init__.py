"""langchain_hfe: hfe's LangChain ``Embeddings`` adapter, and drop-ins named after langchain-huggingface's.

``HFEmbeddings`` has hfe's defaults; ``HuggingFaceEmbeddings`` and ``HuggingFaceEndpointEmbeddings``
take langchain-huggingface's arguments and keep its vectors (change the import line, nothing else).
"""

from langchain_hfe.embeddings import HFEmbeddings
from langchain_hfe.huggingface import HuggingFaceEmbeddings, HuggingFaceEndpointEmbeddings

__all__ = ["HFEmbeddings", "HuggingFaceEmbeddings", "HuggingFaceEndpointEmbeddings"]
