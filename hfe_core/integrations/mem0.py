"""mem0's ``huggingface`` embedder provider, upgraded in place to run on hfe.

After :func:`enable`, every mem0 ``Memory`` built from a configuration with
``embedder.provider == "huggingface"`` embeds through an :class:`~hfe_core.Embedder`. The
configuration keeps mem0's own keys (``model``, ``huggingface_base_url``, ``api_key``,
``model_kwargs``, ``embedding_dims``, ``http_client_proxies``), read by
:func:`hfe_core.compat.settings_from_config`, and gains hfe's batching, retries and server limits
(``huggingface_base_url`` becomes ``tei`` mode), its truncation policy and its dimension lookup
(``embedding_dims`` is checked, not trusted). mem0's ``memory_action`` is honoured: ``"search"``
embeds a query, ``"add"`` and ``"update"`` embed documents, each with its prompt.

mem0 itself is imported only inside :func:`enable`, :func:`disable` and :func:`embedding_class`:
importing this module never imports mem0.

Example:
    >>> from hfe_core.integrations import mem0 as hfe_mem0
    >>> hfe_mem0.enable()  # doctest: +SKIP
    >>> from mem0 import Memory  # doctest: +SKIP
    >>> memory = Memory.from_config({  # doctest: +SKIP
    ...     "embedder": {"provider": "huggingface",
    ...                  "config": {"model": "sentence-transformers/all-MiniLM-L6-v2",
    ...                             "embedding_dims": 384}},
    ...     "vector_store": {"provider": "qdrant",
    ...                      "config": {"path": "/tmp/qdrant", "embedding_model_dims": 384}},
    ... })
    >>> hfe_mem0.disable()  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from typing import Any

from hfe_core.compat import settings_from_config
from hfe_core.config import InputType
from hfe_core.embedder import Embedder
from hfe_core.errors import BackendUnavailableError

__all__ = ["CLASS_PATH", "MEM0_CLASS_PATH", "disable", "embedding_class", "enable", "is_enabled"]

#: Where mem0's factory finds hfe's embedder class once :func:`enable` ran.
CLASS_PATH = "hfe_core.integrations.mem0.HFEMem0Embedding"
#: mem0's own class for provider ``huggingface`` (what :func:`disable` restores).
MEM0_CLASS_PATH = "mem0.embeddings.huggingface.HuggingFaceEmbedding"

#: mem0 ``BaseEmbedderConfig`` attributes that a ``huggingface`` provider reads.
_KEYS = ("model", "api_key", "model_kwargs", "huggingface_base_url", "embedding_dims", "http_client_proxies")

_lock = threading.Lock()
_overrides: dict[str, Any] = {}
_previous: str | None = None


def _factory() -> Any:
    try:
        from mem0.utils.factory import EmbedderFactory  # type: ignore[import-untyped,unused-ignore]
    except ImportError as exc:
        raise BackendUnavailableError(
            f"hfe's mem0 integration needs mem0 ({exc}). Install it with: pip install 'hfe[mem0]'"
        ) from exc
    return EmbedderFactory


@functools.cache
def embedding_class() -> type[Any]:
    """The hfe-backed mem0 embedder class (a subclass of mem0's ``EmbeddingBase``).

    mem0's factory builds it for provider ``huggingface`` once :func:`enable` ran; it can also be
    built directly from a mem0 ``BaseEmbedderConfig``.

    Returns:
        The class ``HFEMem0Embedding``.

    Raises:
        BackendUnavailableError: mem0 is not installed.

    Example:
        >>> from mem0.configs.embeddings.base import BaseEmbedderConfig  # doctest: +SKIP
        >>> cls = embedding_class()  # doctest: +SKIP
        >>> config = BaseEmbedderConfig(model="sentence-transformers/all-MiniLM-L6-v2")  # doctest: +SKIP
        >>> embedder = cls(config)  # doctest: +SKIP
        >>> len(embedder.embed("What do I drink?", memory_action="search"))  # doctest: +SKIP
        384
    """
    _factory()
    from mem0.embeddings.base import EmbeddingBase  # type: ignore[import-untyped,unused-ignore]

    class HFEMem0Embedding(EmbeddingBase):  # type: ignore[misc,unused-ignore]
        """mem0's ``huggingface`` embedder, run by an :class:`~hfe_core.Embedder`.

        Args:
            config: mem0's ``BaseEmbedderConfig``; its Hugging Face keys become hfe settings,
                and the settings given to :func:`enable` win over them.

        Attributes:
            embedder: the core embedder (statistics of the last call in ``embedder.last_stats``).
        """

        def __init__(self, config: Any = None) -> None:
            super().__init__(config)
            keys = {key: getattr(self.config, key, None) for key in _KEYS}
            inner = {key: value for key, value in keys.items() if value is not None}
            settings = settings_from_config({"provider": "huggingface", "config": inner}, **dict(_overrides))
            self.embedder = Embedder(**settings)
            if self.config.embedding_dims is None:
                # mem0's vector stores read it; hfe looks it up (loads the model or asks the server).
                self.config.embedding_dims = self.embedder.dimension

        def embed(self, text: str, memory_action: str | None = None) -> list[float]:
            """Embed one text: a query for ``"search"``, a document for ``"add"``/``"update"``."""
            return self.embedder.embed_memory(text, memory_action)  # type: ignore[arg-type]

        def embed_batch(self, texts: Sequence[str], memory_action: str | None = "add") -> list[list[float]]:
            """Embed several texts in hfe's batches, with the prompt ``memory_action`` selects."""
            if not texts:
                return []
            if memory_action not in (None, "add", "update", "search"):
                # The same error embed_memory raises.
                self.embedder.embed_memory(texts[0], memory_action)  # type: ignore[arg-type]
            input_type: InputType = "query" if memory_action == "search" else "document"
            vectors: list[list[float]] = self.embedder.embed(list(texts), input_type=input_type).tolist()
            return vectors

    HFEMem0Embedding.__module__ = __name__
    HFEMem0Embedding.__qualname__ = "HFEMem0Embedding"
    return HFEMem0Embedding


def __getattr__(name: str) -> Any:
    # mem0's factory loads CLASS_PATH with importlib + getattr: build the class on first use.
    if name == "HFEMem0Embedding":
        return embedding_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def enable(**overrides: Any) -> None:
    """Make mem0's ``huggingface`` embedder provider run on hfe (idempotent).

    Memories created afterwards with ``embedder.provider == "huggingface"`` get
    ``HFEMem0Embedding`` (see :func:`embedding_class`); those created before keep their embedder.

    Args:
        **overrides: hfe settings that win over every mem0 configuration (for example
            ``batch_size=64``, ``query_prompt="query: "``, ``max_retries=8``). A later call
            replaces them.

    Raises:
        BackendUnavailableError: mem0 is not installed.

    Example:
        >>> from hfe_core.integrations import mem0 as hfe_mem0
        >>> hfe_mem0.enable(batch_size=64)  # doctest: +SKIP
        >>> hfe_mem0.is_enabled()  # doctest: +SKIP
        True
    """
    global _previous
    factory = _factory()
    with _lock:
        current = factory.provider_to_class.get("huggingface")
        if current != CLASS_PATH:
            _previous = current
        _overrides.clear()
        _overrides.update(overrides)
        factory.provider_to_class["huggingface"] = CLASS_PATH


def disable() -> None:
    """Give mem0's ``huggingface`` provider back to mem0's own class (idempotent).

    Raises:
        BackendUnavailableError: mem0 is not installed.

    Example:
        >>> from hfe_core.integrations import mem0 as hfe_mem0
        >>> hfe_mem0.disable()  # doctest: +SKIP
        >>> hfe_mem0.is_enabled()  # doctest: +SKIP
        False
    """
    global _previous
    factory = _factory()
    with _lock:
        if factory.provider_to_class.get("huggingface") == CLASS_PATH:
            factory.provider_to_class["huggingface"] = _previous or MEM0_CLASS_PATH
        _previous = None
        _overrides.clear()


def is_enabled() -> bool:
    """Whether mem0's ``huggingface`` provider currently runs on hfe.

    Returns:
        ``True`` after :func:`enable` and before :func:`disable`.

    Raises:
        BackendUnavailableError: mem0 is not installed.

    Example:
        >>> from hfe_core.integrations import mem0 as hfe_mem0
        >>> hfe_mem0.enable()  # doctest: +SKIP
        >>> hfe_mem0.is_enabled()  # doctest: +SKIP
        True
    """
    return bool(_factory().provider_to_class.get("huggingface") == CLASS_PATH)
