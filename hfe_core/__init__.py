"""hfe_core: the framework-free core of hfe, Hugging Face embeddings for LangChain and LlamaIndex.

Example:
    >>> from hfe_core import Embedder
    >>> embedder = Embedder()  # local mode, sentence-transformers/all-MiniLM-L6-v2
    >>> len(embedder.embed_query("What is hfe?"))
    384

Importing this package loads no framework, no torch and no sentence-transformers.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hfe_core._version import __version__
from hfe_core.compat import settings_from_config
from hfe_core.config import EmbedderSettings, InputType, Mode, Truncation
from hfe_core.deploy import deploy_endpoint
from hfe_core.embedder import Embedder, EmbeddingResult, EmbeddingStats
from hfe_core.errors import (
    AuthenticationError,
    BackendUnavailableError,
    BadRowError,
    ConfigurationError,
    DimensionMismatchError,
    EmbeddingError,
    EmbeddingRequestError,
    EmbeddingTimeoutError,
    EndpointFailedError,
    EndpointNotReadyError,
    EndpointPausedError,
    HfeError,
    InputTooLongError,
    InputTypeError,
    InvalidInputError,
    ModelLoadError,
    ModeNotAvailableError,
    NotFoundError,
    OutputWriteError,
    RateLimitedError,
    RequestRejectedError,
    ResponseFormatError,
    ServerError,
    TokenLevelOutputError,
)
from hfe_core.job import JobSummary, embed_file, embed_stream
from hfe_core.rerank import Rank, Reranker, RerankerSettings
from hfe_core.sparse import SparseEmbedder, SparseEmbedderSettings, SparseVector

__all__ = [
    "AuthenticationError",
    "BackendUnavailableError",
    "BadRowError",
    "ConfigurationError",
    "DimensionMismatchError",
    "Embedder",
    "EmbedderSettings",
    "EmbeddingError",
    "EmbeddingRequestError",
    "EmbeddingResult",
    "EmbeddingStats",
    "EmbeddingTimeoutError",
    "EndpointFailedError",
    "EndpointNotReadyError",
    "EndpointPausedError",
    "HfeError",
    "InputTooLongError",
    "InputType",
    "InputTypeError",
    "InvalidInputError",
    "JobSummary",
    "Mode",
    "ModeNotAvailableError",
    "ModelLoadError",
    "NotFoundError",
    "OutputWriteError",
    "Rank",
    "RateLimitedError",
    "RequestRejectedError",
    "Reranker",
    "RerankerSettings",
    "ResponseFormatError",
    "ServerError",
    "SparseEmbedder",
    "SparseEmbedderSettings",
    "SparseVector",
    "TokenLevelOutputError",
    "Truncation",
    "__version__",
    "deploy_endpoint",
    "embed_file",
    "embed_stream",
    "from_config",
    "settings_from_config",
]


def from_config(config: Mapping[str, Any] | str | Path, **overrides: Any) -> Embedder:
    """Create an :class:`Embedder` from a mem0, embedchain or hfe configuration.

    Args:
        config: a dict (``{"provider": "huggingface", "config": {...}}``, or a whole
            config with an ``embedder`` section), or the path of a YAML or JSON file.
        **overrides: hfe settings that win over the configuration.

    Returns:
        The embedder.

    Example:
        >>> embedder = from_config({"provider": "huggingface",
        ...                         "config": {"model": "sentence-transformers/all-MiniLM-L6-v2",
        ...                                    "embedding_dims": 384}})
        >>> len(embedder.embed_memory("I like tea", memory_action="add"))
        384
    """
    return Embedder(**settings_from_config(config, **overrides))
