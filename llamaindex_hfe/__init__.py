"""llamaindex_hfe: hfe's LlamaIndex ``BaseEmbedding`` adapter, and drop-ins for LlamaIndex's HF classes.

``HFEmbedding`` is hfe's own adapter. ``HuggingFaceEmbedding``, ``TextEmbeddingsInference`` and
``HuggingFaceInferenceAPIEmbedding`` replace LlamaIndex's classes of the same names: change the
import line only (see docs/migrating.md).
"""

from llamaindex_hfe.dropin import (
    HuggingFaceEmbedding,
    HuggingFaceInferenceAPIEmbedding,
    TextEmbeddingsInference,
)
from llamaindex_hfe.embeddings import HFEmbedding

__all__ = [
    "HFEmbedding",
    "HuggingFaceEmbedding",
    "HuggingFaceInferenceAPIEmbedding",
    "TextEmbeddingsInference",
]
