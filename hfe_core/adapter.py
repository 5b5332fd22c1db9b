"""What both framework adapters share: settings, the core embedder they delegate to, and config loading.

``langchain_hfe.HFEmbeddings`` and ``llamaindex_hfe.HFEmbedding`` inherit from
:class:`AdapterBase` and add only their framework's method names.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import PrivateAttr
from typing_extensions import Self

from hfe_core.compat import settings_from_config
from hfe_core.config import EmbedderSettings
from hfe_core.embedder import Embedder

__all__ = ["AdapterBase"]


class AdapterBase(EmbedderSettings):
    """Settings that build, and keep up to date, the core :class:`~hfe_core.Embedder` of an adapter."""

    _embedder: Embedder = PrivateAttr()

    def model_post_init(self, context: Any, /) -> None:
        """Resolve the settings and build the core embedder (nothing is loaded yet)."""
        super().model_post_init(context)
        self._embedder = Embedder(self)

    def __setattr__(self, name: str, value: Any) -> None:
        """Changing a setting after construction rebuilds the core embedder."""
        super().__setattr__(name, value)
        if name in EmbedderSettings.model_fields:
            self._embedder = Embedder(self)

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | str | Path, **overrides: Any) -> Self:
        """Create from a mem0, embedchain or hfe configuration (a dict, or a YAML or JSON file).

        Args:
            config: ``{"provider": "huggingface", "config": {...}}``, a whole config with an
                ``embedder`` section, or the path of a file holding one.
            **overrides: hfe settings that win over the configuration.

        Returns:
            The adapter.

        Raises:
            ConfigurationError: the configuration is malformed or has unknown keys.

        Example:
            >>> from langchain_hfe import HFEmbeddings
            >>> config = {"provider": "huggingface",
            ...           "config": {"model": "sentence-transformers/all-MiniLM-L6-v2",
            ...                      "embedding_dims": 384}}
            >>> embeddings = HFEmbeddings.from_config(config, batch_size=64)
            >>> embeddings.batch_size
            64
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

    @property
    def max_input_tokens(self) -> int | None:
        """The model's limit per input in tokens, when known (loads the model on first access)."""
        return self._embedder.max_input_tokens
