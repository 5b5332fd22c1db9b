"""What both framework adapters share: settings, the core embedder they delegate to, and config loading.

``langchain_hfe.HFEmbeddings`` and ``llamaindex_hfe.HFEmbedding`` inherit from
:class:`AdapterBase` and add only their framework's method names.

The drop-in classes named after other libraries' (``langchain_hfe.HuggingFaceEmbeddings``...)
keep those libraries' vectors, so that an index they built stays valid: they delegate to a
:class:`PeerEmbedder`, an :class:`~hfe_core.Embedder` that applies :class:`PeerOptions`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast

import numpy as np
from pydantic import PrivateAttr
from typing_extensions import Self

from hfe_core.compat import settings_from_config
from hfe_core.config import EmbedderSettings, InputType, Truncation
from hfe_core.embedder import Embedder, EmbeddingResult
from hfe_core.errors import ConfigurationError
from hfe_core.rerank import Reranker
from hfe_core.sparse import SparseEmbedder
from hfe_core.task_setup import RerankerSettings, SparseEmbedderSettings, TaskClient
from hfe_core.validation import validate_texts

__all__ = ["AdapterBase", "PeerEmbedder", "PeerOptions", "RerankAdapterBase", "SparseAdapterBase"]


@dataclass(frozen=True)
class PeerOptions:
    r"""What a drop-in class does differently from hfe's defaults, to keep its peer library's vectors.

    Attributes:
        query_prompt_name: sentence-transformers ``prompt_name`` for queries (a key of the model's
            ``prompts``), used when ``query_prompt`` is not set.
        document_prompt_name: the same for documents.
        model_default_prompt: when neither a prompt nor a prompt name is set, apply the model's
            ``default_prompt_name`` prompt (what ``SentenceTransformer.encode`` does) instead of
            hfe's choice (the model's query/document prompts, then a known family's).
        normalize_after: input types whose vectors are L2-normalized after hfe computed them without
            normalization (a peer that normalizes queries and documents differently).
        replace_newlines: replace ``"\n"`` by a space in every text first, as langchain-huggingface does.

    Example:
        >>> PeerOptions(replace_newlines=True, normalize_after=frozenset({"query"})).replace_newlines
        True
    """

    query_prompt_name: str | None = None
    document_prompt_name: str | None = None
    model_default_prompt: bool = True
    normalize_after: frozenset[str] = frozenset()
    replace_newlines: bool = False


class PeerEmbedder(Embedder):
    r"""An :class:`~hfe_core.Embedder` that applies :class:`PeerOptions`; everything else is hfe's.

    Args:
        settings: the resolved settings.
        options: what differs from hfe's defaults.

    Example:
        >>> embedder = PeerEmbedder(EmbedderSettings(query_prompt="", document_prompt=""),
        ...                         PeerOptions(replace_newlines=True))
        >>> embedder.embed_documents(["line one\nline two"])  # doctest: +SKIP
    """

    def __init__(self, settings: EmbedderSettings, options: PeerOptions) -> None:
        super().__init__(settings)
        self.options = options

    def __reduce__(self) -> tuple[Any, ...]:
        return (PeerEmbedder, (self.settings, self.options))

    def prompt_choice(self, input_type: InputType, prompt_name: str | None = None) -> tuple[str, str | None]:
        """The peer's prompt (:meth:`prompt`), never a server's; a per-call ``prompt_name`` as hfe's."""
        if prompt_name is not None:
            return super().prompt_choice(input_type, prompt_name)
        return self.prompt(input_type), None

    def prompt(self, input_type: InputType) -> str:
        """The explicit prompt if set, else the model prompt the peer would apply ('' for none).

        Raises:
            ConfigurationError: a prompt name the model does not have, or one outside local mode.
        """
        settings = self.settings
        explicit = settings.query_prompt if input_type == "query" else settings.document_prompt
        if explicit is not None:
            return explicit
        options = self.options
        name = options.query_prompt_name if input_type == "query" else options.document_prompt_name
        from hfe_core.backends.local import LocalBackend

        if not isinstance(self.backend, LocalBackend):
            if name is not None:
                raise ConfigurationError(
                    f"prompt_name={name!r} needs the model's saved prompts, which only local mode has; "
                    "give the prompt's text as query_prompt= / document_prompt= instead."
                )
            return ""
        model = self.backend.sentence_transformer
        prompts: dict[str, str | None] = dict(model.prompts or {})
        if name is not None:
            if name not in prompts:
                raise ConfigurationError(
                    f"prompt_name={name!r} is not one of the prompts of {settings.model!r} "
                    f"({', '.join(sorted(prompts)) or 'it has none'}); use one of them, or give the "
                    "text itself as prompt= (query_prompt= / document_prompt=)."
                )
            return prompts[name] or ""
        if options.model_default_prompt and model.default_prompt_name:
            return prompts.get(model.default_prompt_name) or ""
        return ""

    def _texts(self, texts: Sequence[str]) -> list[str]:
        items = validate_texts(texts)
        if self.options.replace_newlines:
            items = [text.replace("\n", " ") for text in items]
        return items

    def _after(self, result: EmbeddingResult, input_type: InputType) -> EmbeddingResult:
        if input_type in self.options.normalize_after and len(result.embeddings):
            vectors = result.embeddings
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            # As torch.nn.functional.normalize (what sentence-transformers uses): eps 1e-12.
            result.embeddings = (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
        return result

    def embed(
        self,
        texts: Sequence[str],
        *,
        input_type: InputType = "document",
        truncation: Truncation | None = None,
        batch_size: int | None = None,
        show_progress: bool | None = None,
        prompt_name: str | None = None,
    ) -> EmbeddingResult:
        """:meth:`hfe_core.Embedder.embed`, with the peer's text handling and normalization."""
        result = super().embed(
            self._texts(texts),
            input_type=input_type,
            truncation=truncation,
            batch_size=batch_size,
            show_progress=show_progress,
            prompt_name=prompt_name,
        )
        return self._after(result, input_type)

    async def aembed(
        self,
        texts: Sequence[str],
        *,
        input_type: InputType = "document",
        truncation: Truncation | None = None,
        batch_size: int | None = None,
        show_progress: bool | None = None,
        prompt_name: str | None = None,
    ) -> EmbeddingResult:
        """Async twin of :meth:`embed`."""
        result = await super().aembed(
            self._texts(texts),
            input_type=input_type,
            truncation=truncation,
            batch_size=batch_size,
            show_progress=show_progress,
            prompt_name=prompt_name,
        )
        return self._after(result, input_type)


class AdapterBase(EmbedderSettings):
    """Settings that build, and keep up to date, the core :class:`~hfe_core.Embedder` of an adapter."""

    _embedder: Embedder = PrivateAttr()

    def model_post_init(self, context: Any, /) -> None:
        """Resolve the settings and build the core embedder (nothing is loaded yet)."""
        super().model_post_init(context)
        self._check_float_output()
        self._embedder = self._new_embedder()

    def _new_embedder(self) -> Embedder:
        """The core embedder for the current settings; a subclass may return its own kind."""
        return Embedder(self)

    def _check_float_output(self) -> None:
        """Refuse ``precision`` other than float32.

        Raises:
            ConfigurationError: LangChain and LlamaIndex take float vectors, and their vector stores
                would compare int8 codes or packed bits as if they were floats.
        """
        if self.precision != "float32":
            raise ConfigurationError(
                f"precision={self.precision!r} is for hfe_core.Embedder and hfe embed: LangChain and "
                "LlamaIndex take float vectors, and their vector stores would compare codes or packed bits "
                "as if they were floats. Remove precision (let the vector store quantize, e.g. Qdrant's or "
                "FAISS's scalar or binary quantization), or use hfe_core.Embedder(precision=...)."
            )

    def __setattr__(self, name: str, value: Any) -> None:
        """Changing a setting after construction rebuilds the core embedder.

        Raises:
            ConfigurationError: the change would leave a server URL in local mode.
        """
        _refuse_url_in_local_mode(self, name, value)
        super().__setattr__(name, value)
        if name in EmbedderSettings.model_fields:
            self._check_float_output()
            self._embedder = self._new_embedder()

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


# -- the rerank and sparse adapters ---------------------------------------------------------------------
# Appended after the dense adapters' code: the task adapters (``HFReranker``/``HFRerank``,
# ``HFSparseEmbeddings``/``HFSparseEmbedding``) hold a Reranker or a SparseEmbedder instead of an Embedder.


def _refuse_url_in_local_mode(adapter: EmbedderSettings, name: str, value: Any) -> None:
    """Before ``adapter.<name> = value``: refuse a change that would leave a server URL in local mode.

    Raises:
        ConfigurationError: the change would leave ``url`` set with ``mode='local'``.
    """
    if name not in ("mode", "url"):
        return
    mode = value if name == "mode" else adapter.mode
    url = value if name == "url" else adapter.url
    if mode == "local" and url:
        raise ConfigurationError(
            f"Setting {name} would leave url= in local mode, where it is ignored. Create a new "
            f"{type(adapter).__name__}(url=...) (the mode is inferred from the URL), or set url=None "
            "to run locally."
        )


def _without_private(state: dict[Any, Any], name: str) -> dict[Any, Any]:
    """A pickle ``state`` of a pydantic model without the private attribute ``name``."""
    private = state.get("__pydantic_private__")
    if private and name in private:
        state = {**state, "__pydantic_private__": {k: v for k, v in private.items() if k != name}}
    return state


# The mixin below is a plain class at run time (listed first, so that its methods come before the
# ones pydantic wraps into each settings class); type checkers see the settings it is mixed into.
if TYPE_CHECKING:
    _Settings = EmbedderSettings
else:
    _Settings = object


class _TaskAdapter(_Settings):
    """Builds, and keeps up to date, the core task client (:attr:`_core_class`) of an adapter's settings.

    Mixed in before the task's settings class (``RerankerSettings``...). Changing a setting after
    construction builds a new client; a pickle holds the settings only (never the token), and the
    client is built again when it is loaded.
    """

    #: The core class the adapter delegates to (``Reranker``, ``SparseEmbedder``).
    _core_class: ClassVar[type[TaskClient[Any, Any]]]
    _core: Any  # a PrivateAttr of each subclass

    def model_post_init(self, context: Any, /) -> None:
        """Resolve the settings and build the core client (nothing is loaded or connected yet)."""
        super().model_post_init(context)
        self._core = self._core_class(self)

    def __setattr__(self, name: str, value: Any) -> None:
        """Changing a setting after construction rebuilds the core client.

        Raises:
            ConfigurationError: the change would leave a server URL in local mode, or the settings
                mean nothing to the task.
        """
        _refuse_url_in_local_mode(self, name, value)
        super().__setattr__(name, value)
        if name in self._core_class.settings_class.model_fields:
            self._core = self._core_class(self)

    def __getstate__(self) -> dict[Any, Any]:
        """Pickle the settings only: no token, no connections, no model."""
        return _without_private(super().__getstate__(), "_core")

    def __setstate__(self, state: dict[Any, Any]) -> None:
        """Restore the settings (the token resolved again) and build the core client anew."""
        super().__setstate__(state)
        self._core = self._core_class(self)


class RerankAdapterBase(_TaskAdapter, RerankerSettings):
    """Settings that build, and keep up to date, the core :class:`~hfe_core.Reranker` of a rerank adapter.

    ``langchain_hfe.HFReranker`` and ``llamaindex_hfe.HFRerank`` inherit from it and add only their
    framework's method names. Changing a setting after construction builds a new reranker; a pickle
    holds the settings only (never the token), and the reranker is built again when it is loaded.

    Example:
        >>> settings = RerankAdapterBase(mode="tei", url="http://localhost:8080")
        >>> settings.reranker
        Reranker(mode='tei', url='http://localhost:8080')
    """

    _core_class: ClassVar[type[TaskClient[Any, Any]]] = Reranker
    _core: Any = PrivateAttr()

    @property
    def reranker(self) -> Reranker:
        """The core reranker this adapter delegates to."""
        return cast("Reranker", self._core)


class SparseAdapterBase(_TaskAdapter, SparseEmbedderSettings):
    """Settings that build, and keep up to date, the core :class:`~hfe_core.SparseEmbedder` of an adapter.

    ``langchain_hfe.HFSparseEmbeddings`` and ``llamaindex_hfe.HFSparseEmbedding`` inherit from it
    and add only their framework's method names. Changing a setting after construction builds a new
    sparse embedder; a pickle holds the settings only (never the token).

    Example:
        >>> settings = SparseAdapterBase(mode="tei", url="http://localhost:8080")
        >>> settings.sparse_embedder
        SparseEmbedder(mode='tei', url='http://localhost:8080')
    """

    _core_class: ClassVar[type[TaskClient[Any, Any]]] = SparseEmbedder
    _core: Any = PrivateAttr()

    @property
    def sparse_embedder(self) -> SparseEmbedder:
        """The core sparse embedder this adapter delegates to."""
        return cast("SparseEmbedder", self._core)
