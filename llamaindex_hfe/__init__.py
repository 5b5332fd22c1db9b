"""llamaindex_hfe: hfe's LlamaIndex adapters, and drop-ins for LlamaIndex's HF classes.

``HFEmbedding`` is hfe's own ``BaseEmbedding``; ``HFRerank`` reranks retrieved nodes (a node
postprocessor) and ``HFSparseEmbedding`` computes SPLADE vectors (a ``BaseSparseEmbedding``).
``HuggingFaceEmbedding``, ``TextEmbeddingsInference`` and ``HuggingFaceInferenceAPIEmbedding``
replace LlamaIndex's classes of the same names: change the import line only (see docs/migrating.md).
"""

from llamaindex_hfe.dropin import (
    HuggingFaceEmbedding,
    HuggingFaceInferenceAPIEmbedding,
    TextEmbeddingsInference,
)
from llamaindex_hfe.embeddings import HFEmbedding
from llamaindex_hfe.rerank import HFRerank
from llamaindex_hfe.sparse import HFSparseEmbedding

__all__ = [
    "HFEmbedding",
    "HFRerank",
    "HFSparseEmbedding",
    "HuggingFaceEmbedding",
    "HuggingFaceInferenceAPIEmbedding",
    "TextEmbeddingsInference",
]
