"""Drop-in replacements for LlamaIndex's three Hugging Face embedding classes (issue 12).

Change one import line and nothing else::

    # from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llamaindex_hfe import HuggingFaceEmbedding

Each class here has its peer's name, accepts its peer's keyword arguments with its peer's
defaults, and returns the vectors its peer returns, so an index built with the peer stays valid.
It is a thin subclass of :class:`~llamaindex_hfe.HFEmbedding` whose mode is fixed by the class:

* :class:`HuggingFaceEmbedding` replaces ``llama_index.embeddings.huggingface.HuggingFaceEmbedding``
  (local mode);
* :class:`TextEmbeddingsInference` replaces
  ``llama_index.embeddings.text_embeddings_inference.TextEmbeddingsInference`` (tei mode);
* :class:`HuggingFaceInferenceAPIEmbedding` replaces
  ``llama_index.embeddings.huggingface_api.HuggingFaceInferenceAPIEmbedding`` (endpoint mode).

The peers' keywords are translated here into hfe's own setting names; hfe's settings
(``truncation``, ``max_concurrency``, ``dimensions``...) are accepted as well. A peer argument hfe
cannot honour raises :class:`~hfe_core.errors.ConfigurationError` naming why and what to use
instead; nothing is dropped silently. No credential appears in a ``repr``, ``to_dict()``,
``to_json()``, ``model_dump()``, a pickle or an error message.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Mapping
from importlib import metadata
from typing import Any, ClassVar
from urllib.parse import urlsplit

from llama_index.core.base.embeddings.base import Embedding
from llama_index.core.callbacks import CallbackManager
from pydantic import Field, PrivateAttr, SecretStr

from hfe_core.backends.endpoint import SERVERLESS_HOSTS
from hfe_core.config import EmbedderSettings, Mode
from hfe_core.embedder import Embedder
from hfe_core.errors import ConfigurationError
from hfe_core.validation import validate_text
from llamaindex_hfe.embeddings import HFEmbedding

__all__ = [
    "PEER_DEFAULT_LOCAL_MODEL",
    "PEER_DEFAULT_TEI_URL",
    "HuggingFaceEmbedding",
    "HuggingFaceInferenceAPIEmbedding",
    "TextEmbeddingsInference",
    "peer_format",
    "peer_query_instruction",
    "peer_text_instruction",
]

#: The model of ``llama_index.embeddings.huggingface.HuggingFaceEmbedding()`` with no argument.
PEER_DEFAULT_LOCAL_MODEL = "BAAI/bge-small-en"
#: The server of ``TextEmbeddingsInference()`` without ``base_url``.
PEER_DEFAULT_TEI_URL = "http://127.0.0.1:8080"

# The instruction tables of llama-index-embeddings-huggingface and llama-index-utils-huggingface
# (0.4.1), matched on the exact model name as they are there (not hfe's KNOWN_PROMPTS: note
# "question" where BGE's model card says "sentence").
_INSTRUCTOR_QUERY = "Represent the question for retrieving supporting documents: "
_INSTRUCTOR_TEXT = "Represent the document for retrieval: "
_BGE_QUERY_EN = "Represent this question for searching relevant passages: "
_BGE_QUERY_ZH = "为这个句子生成表示以用于检索相关文章："
_BGE_MODELS = frozenset(
    f"BAAI/bge-{size}-{lang}{version}"
    for size in ("small", "base", "large")
    for lang in ("en", "zh")
    for version in ("", "-v1.5")
)
_INSTRUCTOR_MODELS = frozenset(
    f"{org}/instructor-{size}" for org in ("hku-nlp", "hkunlp") for size in ("base", "large", "xl")
)

# Native-protocol routes of TEI that take LlamaIndex's {"inputs": [...], "truncate": ...} body.
_TEI_NATIVE_ENDPOINTS = ("/embed", "/", "", "/invocations")

# SentenceTransformer constructor arguments that the local peer passes on from **model_kwargs and
# that hfe passes on unchanged (each one is the peer's behaviour, run by the same library).
_SENTENCE_TRANSFORMER_ARGUMENTS = (
    "local_files_only",
    "processor_kwargs",
    "tokenizer_kwargs",
    "config_kwargs",
    "backend",
    "truncate_dim",
    "similarity_fn_name",
    "default_prompt_name",
    "use_kernels",
)


def peer_query_instruction(model_name: str | None) -> str:
    """The query instruction LlamaIndex's Hugging Face classes use for ``model_name`` when none is given.

    Example:
        >>> peer_query_instruction("BAAI/bge-small-en-v1.5")
        'Represent this question for searching relevant passages: '
        >>> peer_query_instruction("sentence-transformers/all-MiniLM-L6-v2")
        ''
    """
    if model_name in _INSTRUCTOR_MODELS:
        return _INSTRUCTOR_QUERY
    if model_name in _BGE_MODELS:
        return _BGE_QUERY_ZH if "zh" in str(model_name) else _BGE_QUERY_EN
    return ""


def peer_text_instruction(model_name: str | None) -> str:
    """The document instruction LlamaIndex's Hugging Face classes use for ``model_name`` when none is given.

    Example:
        >>> peer_text_instruction("hkunlp/instructor-base")
        'Represent the document for retrieval: '
        >>> peer_text_instruction("BAAI/bge-small-en-v1.5")
        ''
    """
    return _INSTRUCTOR_TEXT if model_name in _INSTRUCTOR_MODELS else ""


def peer_format(text: str, instruction: str) -> str:
    r"""What LlamaIndex's TEI and Inference API classes send: ``f"{instruction} {text}".strip()``.

    Note the ``strip()``: without an instruction the text itself loses its outer whitespace.

    Example:
        >>> peer_format("  Where is Paris? ", "query:")
        'query: Where is Paris?'
        >>> peer_format("  Paris\\n", "")
        'Paris'
    """
    return f"{instruction} {text}".strip()


def _conflict(first: str, second: str) -> ConfigurationError:
    return ConfigurationError(
        f"Both {first}= and {second}= were given with different values; they name one setting. Pass only one."
    )


def _rename(data: dict[str, Any], peer_name: str, hfe_name: str) -> None:
    """Move ``data[peer_name]`` to ``data[hfe_name]`` (refusing two different values)."""
    if peer_name not in data:
        return
    value = data.pop(peer_name)
    if value is None:
        return
    current = data.get(hfe_name)
    if current is not None and current != value:
        raise _conflict(peer_name, hfe_name)
    data[hfe_name] = value


def _batch_size_from_peer(data: dict[str, Any]) -> None:
    """The peers' ``embed_batch_size`` is also their batch per forward pass or request: ``batch_size``."""
    size = data.get("embed_batch_size")
    if data.get("batch_size") is None and isinstance(size, int) and not isinstance(size, bool) and size > 0:
        data["batch_size"] = size


def _check_optional_str(cls_name: str, name: str, value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ConfigurationError(
        f"{cls_name}({name}=...) must be a str or None (got a value of type {type(value).__name__})."
    )


def _is_url(value: str) -> bool:
    return value.lower().startswith(("http://", "https://"))


class _DropIn(HFEmbedding):
    """What the three drop-in classes share: a fixed mode, late fields, the peers' instructions."""

    #: The mode of the class (a ``mode=`` argument must agree).
    fixed_mode: ClassVar[Mode] = "local"
    #: The peer class, as users import it (for messages).
    peer: ClassVar[str] = ""
    #: Fields named like settings that hfe's core may also accept as aliases: validated here and set
    #: after the settings, so that the core never reads them (their meaning is the peer's).
    _late_fields: ClassVar[tuple[str, ...]] = ()
    #: The peer formats query and text as ``f"{instruction} {text}".strip()`` (TEI and Inference API).
    _formats_like_peer: ClassVar[bool] = False

    _auth_token_fn: Callable[[str], str] | None = PrivateAttr(default=None)
    _refresh_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, /, **data: Any) -> None:
        """Translate the peer's keyword arguments into hfe's settings, then validate them.

        Raises:
            ConfigurationError: a peer argument hfe cannot honour, an unknown keyword, an invalid
                value, or a ``mode=`` other than the class's; no value is ever shown.
        """
        name = type(self).__name__
        late = {field: data.pop(field) for field in self._late_fields if field in data}
        for field, value in late.items():
            late[field] = _check_optional_str(name, field, value)
        auth_token_fn = self._translate(data)
        mode = data.get("mode")
        if mode is not None and mode != self.fixed_mode:
            raise ConfigurationError(
                f"{name} always runs in mode={self.fixed_mode!r}; remove mode= (or use "
                "llamaindex_hfe.HFEmbedding, whose mode is a setting)."
            )
        data["mode"] = self.fixed_mode
        super().__init__(**data)
        for field, value in late.items():
            object.__setattr__(self, field, value)
            self.__pydantic_fields_set__.add(field)
        self._auth_token_fn = auth_token_fn

    def _translate(self, data: dict[str, Any]) -> Callable[[str], str] | None:
        """Rewrite ``data`` in place from the peer's names into hfe's; return a token callable if any."""
        raise NotImplementedError

    def _fixed_prompts(self, data: dict[str, Any]) -> None:
        """TEI and Inference API: instructions are put before texts here, the peer's way; hfe adds none."""
        for field, peer_field in (
            ("query_prompt", "query_instruction"),
            ("document_prompt", "text_instruction"),
        ):
            if data.get(field):
                raise ConfigurationError(
                    f"{type(self).__name__} puts {peer_field}= before the texts as its peer does; "
                    f"pass {peer_field}= instead of {field}= (or use llamaindex_hfe.HFEmbedding for hfe's "
                    "prompts)."
                )
            data[field] = ""

    def __getstate__(self) -> dict[Any, Any]:
        """Pickle the settings only: no token, and no token callable (it may hold one)."""
        state = super().__getstate__()
        private = state.get("__pydantic_private__")
        if private and "_auth_token_fn" in private:
            state["__pydantic_private__"] = {**private, "_auth_token_fn": None}
        return state

    # -- token callables (TextEmbeddingsInference's auth_token) ---------------------------------------
    def _fresh_embedder(self) -> Embedder:
        """The core embedder, rebuilt first when a token callable now returns another token."""
        fn = self._auth_token_fn
        if fn is None:
            return self._embedder
        with self._refresh_lock:
            value = fn(str(self.url))
            if not isinstance(value, str) or not value.strip():
                raise ConfigurationError(
                    f"{type(self).__name__}: auth_token() returned no token (it must return a "
                    f"non-empty str; got a value of type {type(value).__name__})."
                )
            if self.token is None or self.token.get_secret_value() != value.strip():
                object.__setattr__(self, "token", SecretStr(value.strip()))
                self._token_source = "argument"  # noqa: S105 - where the token came from, not a token
                self._embedder = Embedder(self)
            return self._embedder

    @property
    def dimension(self) -> int:
        """Dimension of the embeddings (asks the server or loads the model on first access).

        Example:
            >>> TextEmbeddingsInference(base_url="http://localhost:8080").dimension  # doctest: +SKIP
            384
        """
        return self._fresh_embedder().dimension

    # -- the peers' formatting (TEI and Inference API) ----------------------------------------------------
    def _query_text(self, query: str) -> str:
        query = validate_text(query, argument="query")
        instruction = getattr(self, "query_instruction", None)
        if instruction is None:
            instruction = peer_query_instruction(self.model_name)
        return peer_format(query, instruction)

    def _document_text(self, text: str) -> str:
        instruction = getattr(self, "text_instruction", None)
        if instruction is None:
            instruction = peer_text_instruction(self.model_name)
        return peer_format(text, instruction)

    def _get_query_embedding(self, query: str) -> Embedding:
        if not self._formats_like_peer:
            return super()._get_query_embedding(query)
        return self._fresh_embedder().embed_query(self._query_text(query))

    async def _aget_query_embedding(self, query: str) -> Embedding:
        if not self._formats_like_peer:
            return await super()._aget_query_embedding(query)
        return await self._fresh_embedder().aembed_query(self._query_text(query))

    def _get_text_embedding(self, text: str) -> Embedding:
        if not self._formats_like_peer:
            return super()._get_text_embedding(text)
        return self._get_text_embeddings([validate_text(text)])[0]

    async def _aget_text_embedding(self, text: str) -> Embedding:
        if not self._formats_like_peer:
            return await super()._aget_text_embedding(text)
        return (await self._aget_text_embeddings([validate_text(text)]))[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        if not self._formats_like_peer:
            return super()._get_text_embeddings(texts)
        return self._fresh_embedder().embed_documents([self._document_text(text) for text in texts])

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        if not self._formats_like_peer:
            return await super()._aget_text_embeddings(texts)
        return await self._fresh_embedder().aembed_documents([self._document_text(text) for text in texts])


def _refuse_server(cls_name: str, data: Mapping[str, Any]) -> None:
    for name in ("url", "base_url", "endpoint_url", "endpoint_name", "provider"):
        if data.get(name) is not None:
            raise ConfigurationError(
                f"{cls_name} computes embeddings in this process; {name}= names a server and would be "
                "ignored. Use llamaindex_hfe.TextEmbeddingsInference(base_url=...) for a TEI server, "
                "llamaindex_hfe.HuggingFaceInferenceAPIEmbedding(model_name=...) for Inference Endpoints "
                "and the Inference API, or remove it to embed locally."
            )


class HuggingFaceEmbedding(_DropIn):
    """Drop-in for LlamaIndex's local ``HuggingFaceEmbedding``: same arguments, same vectors, hfe inside.

    Replace ``from llama_index.embeddings.huggingface import HuggingFaceEmbedding`` by
    ``from llamaindex_hfe import HuggingFaceEmbedding``; nothing else changes. The model runs in this
    process (local mode) through sentence-transformers, as the peer's does.

    The peer's behaviour is kept wherever it changes the vectors, so an index built with the peer
    stays valid:

    * ``model_name`` defaults to the peer's ``"BAAI/bge-small-en"`` (not hfe's MiniLM);
    * prompts: ``query_instruction`` / ``text_instruction``, else the peer's own table by exact model
      name (BGE: ``"Represent this question for searching relevant passages: "`` for queries;
      INSTRUCTOR models), else none. The prompts saved with the model are *not* used, as the peer's
      ``prompts=`` overrides them;
    * ``normalize=True``; ``max_length`` caps the tokens per input as the peer's ``max_seq_length``;
    * ``cache_folder`` defaults to LlamaIndex's cache folder, where the peer downloaded the model.

    To opt into hfe's own behaviour (the model's saved prompts, hfe's known-family prompts, hfe's
    default model), use :class:`~llamaindex_hfe.HFEmbedding` instead, and re-embed your documents.

    Every other peer argument works as in the peer: ``embed_batch_size`` (also the batch per forward
    pass), ``device``, ``trust_remote_code``, ``show_progress_bar``, ``callback_manager`` (LlamaIndex's
    embedding events fire), ``model_kwargs`` and further SentenceTransformer arguments (``backend``,
    ``truncate_dim``, ``processor_kwargs``, ``revision``, ``token``...). ``parallel_process=True`` and
    ``target_devices`` raise :class:`~hfe_core.errors.ConfigurationError`: hfe keeps one model per process
    on one device. Without ``embed_batch_size`` LlamaIndex hands hfe 512 texts per call (the peer: 10);
    the vectors do not depend on it. Text only: the peer's image embeddings are not available.

    Example:
        >>> from llamaindex_hfe import HuggingFaceEmbedding
        >>> embed_model = HuggingFaceEmbedding(model_name="sentence-transformers/all-MiniLM-L6-v2")
        >>> len(embed_model.get_text_embedding("I want to embed this text!"))  # doctest: +SKIP
        384
    """

    fixed_mode: ClassVar[Mode] = "local"
    peer: ClassVar[str] = "llama_index.embeddings.huggingface.HuggingFaceEmbedding"

    model_kwargs: dict[str, Any] = Field(
        default_factory=dict,
        description="The peer's model_kwargs=: keyword arguments for the transformers model "
        "(SentenceTransformer's model_kwargs), e.g. {'torch_dtype': 'float16'}.",
    )
    max_length: int | None = Field(
        default=None,
        gt=0,
        description="Tokens per input, special tokens included (the model's max_seq_length); "
        "None keeps the model's own. Longer inputs are truncated (truncation='truncate').",
    )
    trust_remote_code: bool = Field(
        default=False, description="Run model code from the Hub (only for repositories you trust)."
    )
    sentence_transformers_kwargs: dict[str, Any] = Field(
        default_factory=dict,
        description="Further SentenceTransformer constructor arguments, which the peer took as "
        "**model_kwargs: " + ", ".join(_SENTENCE_TRANSFORMER_ARGUMENTS) + ".",
    )

    def __init__(
        self,
        model_name: str | None = None,
        tokenizer_name: str | None = None,
        pooling: str | None = None,
        max_length: int | None = None,
        query_instruction: str | None = None,
        text_instruction: str | None = None,
        normalize: bool | None = None,
        model: str | None = None,
        tokenizer: Any | None = None,
        embed_batch_size: int | None = None,
        cache_folder: str | None = None,
        trust_remote_code: bool | None = None,
        device: str | None = None,
        callback_manager: CallbackManager | None = None,
        parallel_process: bool | None = None,
        target_devices: list[str] | None = None,
        show_progress_bar: bool | None = None,
        **kwargs: Any,
    ) -> None:
        # The peer's parameters, in its order; None is "not given" (the peer's default applies).
        given = {
            "model_name": model_name,
            "tokenizer_name": tokenizer_name,
            "pooling": pooling,
            "max_length": max_length,
            "query_instruction": query_instruction,
            "text_instruction": text_instruction,
            "normalize": normalize,
            "model": model,
            "tokenizer": tokenizer,
            "embed_batch_size": embed_batch_size,
            "cache_folder": cache_folder,
            "trust_remote_code": trust_remote_code,
            "device": device,
            "callback_manager": callback_manager,
            "parallel_process": parallel_process,
            "target_devices": target_devices,
            "show_progress_bar": show_progress_bar,
        }
        super().__init__(**{key: value for key, value in given.items() if value is not None}, **kwargs)

    @classmethod
    def class_name(cls) -> str:
        """The peer's name, stored by LlamaIndex in serialized components.

        Example:
            >>> HuggingFaceEmbedding.class_name()
            'HuggingFaceEmbedding'
        """
        return "HuggingFaceEmbedding"

    def _translate(self, data: dict[str, Any]) -> None:
        name = type(self).__name__
        _refuse_server(name, data)
        if data.pop("parallel_process", False):
            raise ConfigurationError(
                f"{name}(parallel_process=True) is not supported: hfe keeps one model per process on one "
                "device and batches inside each call. Remove parallel_process; for several GPUs run one "
                "embedder per device (device='cuda:1') or use hfe_core.ray."
            )
        if data.pop("target_devices", None):
            raise ConfigurationError(
                f"{name}(target_devices=...) is not supported: it only applies to parallel_process, which "
                "hfe does not run. Use device= (one device, e.g. 'cuda:0')."
            )
        for deprecated in ("tokenizer_name", "tokenizer", "pooling"):
            if data.get(deprecated, "deprecated") not in ("deprecated", None):
                raise ConfigurationError(
                    f"{name}({deprecated}=...) is deprecated in the peer too, which refuses it: remove it "
                    "(sentence-transformers loads the model's own tokenizer and pooling)."
                )
            data.pop(deprecated, None)
        if data.get("model") is not None and not isinstance(data["model"], str):
            raise ConfigurationError(
                f"{name}(model=<a model object>) is deprecated in the peer and not supported: pass "
                "model_name= (a Hub id or a local folder)."
            )
        for refused, use in (
            ("prompts", "query_instruction= and text_instruction="),
            ("modules", "model_name="),
        ):
            if data.get(refused) is not None:
                raise ConfigurationError(
                    f"{name}({refused}=...) is not supported (the peer sets it itself); use {use}."
                )
        _rename(data, "use_auth_token", "token")
        _rename(data, "show_progress_bar", "show_progress")
        model_name = data.get("model_name") or data.get("model")
        if model_name is None:
            data["model_name"] = model_name = PEER_DEFAULT_LOCAL_MODEL
        model_name = str(model_name)
        for peer_field, field, default in (
            ("query_instruction", "query_prompt", peer_query_instruction),
            ("text_instruction", "document_prompt", peer_text_instruction),
        ):
            instruction = _check_optional_str(name, peer_field, data.pop(peer_field, None))
            given = data.get(field)
            if instruction is not None and given is not None and given != instruction:
                raise _conflict(peer_field, field)
            if given is None:
                # The peer: prompts={"query": query_instruction or <its table>, ...}; '' falls back too.
                data[field] = instruction or default(model_name)
        if data.get("max_length") in (0, None):
            data.pop("max_length", None)  # the peer: a falsy max_length keeps the model's own
        passed = {key: data.pop(key) for key in _SENTENCE_TRANSFORMER_ARGUMENTS if key in data}
        if passed:
            extra = dict(data.get("sentence_transformers_kwargs") or {})
            for key, value in passed.items():
                if key in extra and extra[key] != value:
                    raise _conflict(key, f"sentence_transformers_kwargs[{key!r}]")
                extra[key] = value
            data["sentence_transformers_kwargs"] = extra
        if data.get("cache_folder") is None:
            from llama_index.core.utils import get_cache_dir

            data["cache_folder"] = get_cache_dir()  # where the peer stored the models it downloaded
        _batch_size_from_peer(data)
        return None

    def sentence_transformer_arguments(self) -> dict[str, Any]:
        """What hfe passes to ``SentenceTransformer(...)``, besides device, revision, cache folder and token.

        Example:
            >>> HuggingFaceEmbedding(model_name="BAAI/bge-small-en", max_length=128,
            ...                      cache_folder="/tmp/models").sentence_transformer_arguments()
            {'processor_kwargs': {'model_max_length': 128}}
        """
        arguments = copy.deepcopy(self.sentence_transformers_kwargs)
        if self.trust_remote_code:
            arguments["trust_remote_code"] = True
        if self.model_kwargs:
            arguments["model_kwargs"] = copy.deepcopy(self.model_kwargs)
        if self.max_length:
            # sentence-transformers 6 names the tokenizer's arguments processor_kwargs; 5 tokenizer_kwargs.
            key = "processor_kwargs" if _sentence_transformers_major() >= 6 else "tokenizer_kwargs"
            arguments[key] = {**arguments.get(key, {}), "model_max_length": self.max_length}
        return arguments

    def snapshot(self) -> EmbedderSettings:
        """The core settings, with the SentenceTransformer arguments in hfe's ``model_kwargs``.

        Example:
            >>> HuggingFaceEmbedding(model_name="BAAI/bge-small-en", trust_remote_code=True,
            ...                      cache_folder="/tmp/models").snapshot().model_kwargs
            {'trust_remote_code': True}
        """
        detached = super().snapshot()
        object.__setattr__(detached, "model_kwargs", self.sentence_transformer_arguments())
        return detached

    def __setattr__(self, name: str, value: Any) -> None:
        """Changing a setting (the drop-in's own included) rebuilds the core embedder."""
        super().__setattr__(name, value)
        if name in ("max_length", "trust_remote_code", "sentence_transformers_kwargs"):
            self._embedder = Embedder(self)


def _sentence_transformers_major() -> int:
    try:
        return int(metadata.version("sentence-transformers").split(".", 1)[0])
    except (metadata.PackageNotFoundError, ValueError):
        return 6


class TextEmbeddingsInference(_DropIn):
    """Drop-in for LlamaIndex's ``TextEmbeddingsInference``: same arguments, same vectors, hfe's TEI client.

    Replace ``from llama_index.embeddings.text_embeddings_inference import TextEmbeddingsInference``
    by ``from llamaindex_hfe import TextEmbeddingsInference``; nothing else changes. It always calls
    the server (tei mode): ``base_url`` (default ``"http://127.0.0.1:8080"``, as the peer's) is never
    ignored and never ends in local mode.

    The peer's behaviour is kept wherever it changes the vectors, so an index built with the peer
    stays valid:

    * texts are sent as the peer sends them, ``f"{instruction} {text}".strip()``, with
      ``query_instruction`` / ``text_instruction``, else the peer's table by exact ``model_name``
      (BGE models get a query instruction), else none; hfe adds no prompt of its own;
    * ``truncate_text=True`` (default) sends ``truncate: true``; ``truncate_text=False`` is hfe's
      ``truncation="error"``: an over-long input raises
      :class:`~hfe_core.errors.InputTooLongError` (the peer got the server's error back);
    * the server normalizes, as its default is (hfe sends ``normalize: true``).

    To opt into hfe's own prompts (the known-family table, matched on the served model), use
    :class:`~llamaindex_hfe.HFEmbedding` ``(url=...)`` instead, and re-embed your documents.

    ``auth_token`` may be a str or, as in the peer, a callable given ``base_url`` that returns the
    token; it is called before each embedding call and the client is rebuilt when the token changes.
    ``endpoint`` may be ``"/embed"`` (default), ``"/"`` or ``"/invocations"`` (the routes that take this
    body; hfe uses ``/embed``), or a path ending in ``/embed`` under a proxy. ``timeout`` (default
    60 s), ``embed_batch_size`` (also the most inputs per request), ``model_name`` and
    ``callback_manager`` work as in the peer. Without ``embed_batch_size`` LlamaIndex hands hfe 512
    texts per call, and hfe splits them under the server's limits.

    Example:
        >>> from llamaindex_hfe import TextEmbeddingsInference
        >>> embed_model = TextEmbeddingsInference(
        ...     model_name="BAAI/bge-large-en-v1.5", base_url="http://127.0.0.1:8080", truncate_text=True
        ... )
        >>> embed_model.url, embed_model.truncation
        ('http://127.0.0.1:8080', 'truncate')
    """

    fixed_mode: ClassVar[Mode] = "tei"
    peer: ClassVar[str] = "llama_index.embeddings.text_embeddings_inference.TextEmbeddingsInference"
    _late_fields: ClassVar[tuple[str, ...]] = ("query_instruction", "text_instruction")
    _formats_like_peer: ClassVar[bool] = True

    query_instruction: str | None = Field(
        default=None,
        description="Put before queries as the peer does, f'{instruction} {query}'.strip(); "
        "None: the peer's table by model_name.",
    )
    text_instruction: str | None = Field(
        default=None,
        description="Put before documents as the peer does; None: the peer's table by model_name.",
    )

    def __init__(
        self,
        model_name: str | None = None,
        base_url: str | None = None,
        text_instruction: str | None = None,
        query_instruction: str | None = None,
        embed_batch_size: int | None = None,
        timeout: float | None = None,
        truncate_text: bool | None = None,
        callback_manager: CallbackManager | None = None,
        auth_token: str | Callable[[str], str] | None = None,
        endpoint: str | None = None,
        **kwargs: Any,
    ) -> None:
        # The peer's parameters, in its order; None is "not given" (the peer's default applies).
        given = {
            "model_name": model_name,
            "base_url": base_url,
            "text_instruction": text_instruction,
            "query_instruction": query_instruction,
            "embed_batch_size": embed_batch_size,
            "timeout": timeout,
            "truncate_text": truncate_text,
            "callback_manager": callback_manager,
            "auth_token": auth_token,
            "endpoint": endpoint,
        }
        super().__init__(**{key: value for key, value in given.items() if value is not None}, **kwargs)

    @classmethod
    def class_name(cls) -> str:
        """The peer's name, stored by LlamaIndex in serialized components.

        Example:
            >>> TextEmbeddingsInference.class_name()
            'TextEmbeddingsInference'
        """
        return "TextEmbeddingsInference"

    def _translate(self, data: dict[str, Any]) -> Callable[[str], str] | None:
        name = type(self).__name__
        for refused in ("endpoint_name", "provider"):
            if data.get(refused) is not None:
                raise ConfigurationError(
                    f"{name}({refused}=...) is for Inference Endpoints and the Inference API: use "
                    "llamaindex_hfe.HuggingFaceInferenceAPIEmbedding, or llamaindex_hfe.HFEmbedding."
                )
        _rename(data, "base_url", "url")
        _rename(data, "endpoint_url", "url")
        endpoint = data.pop("endpoint", None)
        if data.get("url") is None:
            data["url"] = PEER_DEFAULT_TEI_URL
        if endpoint is not None:
            if not isinstance(endpoint, str):
                raise ConfigurationError(f"{name}(endpoint=...) must be a str such as '/embed'.")
            path = endpoint.rstrip("/")
            if path.endswith("/embed") and path.startswith("/"):
                prefix = path[: -len("/embed")]  # a TEI server behind a proxy, under a path
                if prefix:
                    data["url"] = str(data["url"]).rstrip("/") + prefix
            elif endpoint not in _TEI_NATIVE_ENDPOINTS:
                raise ConfigurationError(
                    f"{name}(endpoint=...): hfe speaks TEI's native protocol, which the peer's request body "
                    "needs; use endpoint='/embed' (default), '/' or '/invocations', or a path ending in "
                    "'/embed' behind a proxy. For TEI's OpenAI route pass route='openai' instead."
                )
        truncate_text = data.pop("truncate_text", None)
        if truncate_text is not None:
            if not isinstance(truncate_text, bool):
                raise ConfigurationError(
                    f"{name}(truncate_text=...) must be True or False (got a value of type "
                    f"{type(truncate_text).__name__})."
                )
            policy = "truncate" if truncate_text else "error"
            if data.get("truncation") is not None and data["truncation"] != policy:
                raise _conflict("truncate_text", "truncation")
            data["truncation"] = policy
        auth_token = data.pop("auth_token", None)
        token_fn: Callable[[str], str] | None = None
        if callable(auth_token):
            if data.get("token") is not None or data.get("api_key") is not None:
                raise ConfigurationError(f"{name}: pass either auth_token= (a callable) or token=, not both.")
            token_fn = auth_token
        elif auth_token is not None:
            if not isinstance(auth_token, (str, SecretStr)):
                raise ConfigurationError(
                    f"{name}(auth_token=...) must be a str or a callable taking base_url and returning one "
                    f"(got a value of type {type(auth_token).__name__})."
                )
            if data.get("token") is not None or data.get("api_key") is not None:
                raise ConfigurationError(
                    f"Both auth_token= and token= were given to {name}; they name one setting. Pass only one."
                )
            data["token"] = auth_token
        self._fixed_prompts(data)
        _batch_size_from_peer(data)
        return token_fn

    @property
    def base_url(self) -> str:
        """The peer's name for ``url``: the server's URL.

        Example:
            >>> TextEmbeddingsInference(model_name="m", base_url="http://127.0.0.1:8080/").base_url
            'http://127.0.0.1:8080/'
        """
        return str(self.url)

    @property
    def truncate_text(self) -> bool:
        """The peer's name for ``truncation != "error"``.

        Example:
            >>> TextEmbeddingsInference(model_name="m", truncate_text=False).truncate_text
            False
        """
        return self.truncation != "error"


class HuggingFaceInferenceAPIEmbedding(_DropIn):
    """Drop-in for LlamaIndex's ``HuggingFaceInferenceAPIEmbedding``: same arguments, hfe's endpoint client.

    Replace ``from llama_index.embeddings.huggingface_api import HuggingFaceInferenceAPIEmbedding`` by
    ``from llamaindex_hfe import HuggingFaceInferenceAPIEmbedding``; nothing else changes. It always
    calls Hugging Face (endpoint mode), never the local model:

    * ``model_name`` a model id: the serverless Inference API through ``huggingface_hub``, with
      ``provider`` (hfe's setting; the peer 0.6 has none and routes as huggingface_hub's default,
      ``"auto"``, which is also the default here);
    * ``model_name`` a URL (a dedicated Inference Endpoint, or any TEI server): that URL, with hfe's
      TEI client (``/info`` limits, batching, cold-start waits).

    The peer's behaviour is kept wherever it changes the vectors: texts are sent as
    ``f"{instruction} {text}".strip()`` with ``query_instruction`` / ``text_instruction``, else the
    peer's table by exact ``model_name``; the vectors are the server's own (a URL: TEI normalizes by
    default, and hfe sends ``normalize: true``; the serverless API: returned as computed,
    ``normalize=False``, unless you pass ``normalize=True``). ``pooling``: ``"mean"`` averages per-token
    answers client-side as the peer does; the peer's default ``"cls"`` (like ``None``) applies only to
    models that answer per token, which raise :class:`~hfe_core.errors.TokenLevelOutputError` here
    (hfe does not pool by first token); ``"last"`` is refused.

    ``token`` (a str; ``True`` for the stored login) and ``timeout`` (``None``: hfe's 60 s per request,
    with up to 10 minutes of cold-start retries) work as in the peer. ``headers`` may carry only
    ``Authorization: Bearer <token>`` (taken as ``token``); other headers and ``cookies`` are refused.
    ``task`` only picks a model when ``model_name`` is None in the peer, which hfe does not do (and
    huggingface_hub 1.x no longer can): pass ``model_name``. ``token=False`` is refused, as
    huggingface_hub 1.x refuses it. The peer's ``validate_supported()`` and ``get_model_info()`` are
    not available.

    Example:
        >>> from llamaindex_hfe import HuggingFaceInferenceAPIEmbedding
        >>> embed_model = HuggingFaceInferenceAPIEmbedding(model_name="BAAI/bge-small-en-v1.5")
        >>> embed_model.mode, embed_model.provider, embed_model.normalize
        ('endpoint', 'auto', False)
    """

    fixed_mode: ClassVar[Mode] = "endpoint"
    peer: ClassVar[str] = "llama_index.embeddings.huggingface_api.HuggingFaceInferenceAPIEmbedding"
    _late_fields: ClassVar[tuple[str, ...]] = ("query_instruction", "text_instruction")
    _formats_like_peer: ClassVar[bool] = True

    query_instruction: str | None = Field(
        default=None,
        description="Put before queries as the peer does, f'{instruction} {query}'.strip(); "
        "None: the peer's table by model_name.",
    )
    text_instruction: str | None = Field(
        default=None,
        description="Put before documents as the peer does; None: the peer's table by model_name.",
    )

    def __init__(
        self,
        *,
        model_name: str | None = None,
        token: str | bool | None = None,
        timeout: float | None = None,
        headers: dict[str, str] | None = None,
        cookies: dict[str, str] | None = None,
        task: str | None = None,
        pooling: str | None = None,
        query_instruction: str | None = None,
        text_instruction: str | None = None,
        **kwargs: Any,
    ) -> None:
        # The peer's fields (it takes keywords only); None is "not given" (the peer's default applies).
        given = {
            "model_name": model_name,
            "token": token,
            "timeout": timeout,
            "headers": headers,
            "cookies": cookies,
            "task": task,
            "pooling": pooling,
            "query_instruction": query_instruction,
            "text_instruction": text_instruction,
        }
        super().__init__(**{key: value for key, value in given.items() if value is not None}, **kwargs)

    @classmethod
    def class_name(cls) -> str:
        """The peer's name, stored by LlamaIndex in serialized components.

        Example:
            >>> HuggingFaceInferenceAPIEmbedding.class_name()
            'HuggingFaceInferenceAPIEmbedding'
        """
        return "HuggingFaceInferenceAPIEmbedding"

    def _translate(self, data: dict[str, Any]) -> None:
        name = type(self).__name__
        model_name = data.get("model_name") or data.get("model")
        target = data.get("url") or data.get("endpoint_name")
        task = data.pop("task", None)
        if model_name is None and target is None:
            raise ConfigurationError(
                f"{name} needs model_name= (a model id such as 'BAAI/bge-small-en-v1.5', or an Inference "
                f"Endpoint's URL){' — task= does not pick one in hfe' if task else ''}."
            )
        if isinstance(model_name, str) and _is_url(model_name):
            if data.get("provider") is not None:
                raise ConfigurationError(
                    f"{name}: provider= applies to a model id, not to a URL (model_name is a URL). "
                    "Remove provider=."
                )
            if data.get("url") is not None and data["url"] != model_name:
                raise _conflict("model_name", "url")
            data["url"] = model_name
        target = data.get("url") or data.get("endpoint_name")
        if target is None and data.get("provider") is None:
            data["provider"] = "auto"  # huggingface_hub's InferenceClient default, which the peer uses
        if data.get("normalize") is None:
            serverless = target is None or (
                data.get("url") is not None
                and (urlsplit(str(data["url"])).hostname or "") in SERVERLESS_HOSTS
            )
            # The server's own vectors: TEI normalizes by default; the serverless API returns them as is.
            data["normalize"] = not serverless
        token = data.get("token")
        if token is False:
            raise ConfigurationError(
                f"{name}(token=False) is refused, as huggingface_hub 1.x refuses it. hfe sends a token found "
                "in the environment only to Hugging Face hosts over https; remove token=, or pass one."
            )
        if token is True:
            data.pop("token")  # the stored login: hfe's default chain
        self._headers(data)
        cookies = data.pop("cookies", None)
        if cookies:
            raise ConfigurationError(
                f"{name}(cookies=...) is not supported: hfe sends no cookies. A token goes in token=."
            )
        if "timeout" in data and data["timeout"] is None:
            data.pop("timeout")  # hfe's default, with cold-start retries, instead of waiting forever
        pooling = data.get("pooling")
        if pooling is not None:
            value = str(getattr(pooling, "value", pooling)).lower()
            if value == "last":
                raise ConfigurationError(
                    f"{name}(pooling='last') is not supported: hfe averages per-token answers "
                    "(pooling='mean') or expects sentence embeddings. Use pooling='mean', or a "
                    "sentence-embedding model."
                )
            if value not in ("cls", "mean"):
                raise ConfigurationError(f"{name}(pooling=...) must be 'cls', 'mean' or None.")
            data["pooling"] = "mean" if value == "mean" else None
        self._fixed_prompts(data)
        _batch_size_from_peer(data)
        return None

    def _headers(self, data: dict[str, Any]) -> None:
        name = type(self).__name__
        headers = data.pop("headers", None)
        if not headers:
            return
        if not isinstance(headers, Mapping):
            raise ConfigurationError(f"{name}(headers=...) must be a dict of header names to values.")
        others = sorted(str(key) for key in headers if str(key).lower() != "authorization")
        if others:
            raise ConfigurationError(
                f"{name}(headers=...) is not supported for {', '.join(others)}: hfe sends its own headers. "
                "A token goes in token=; remove the other headers."
            )
        value = next(str(v) for k, v in headers.items() if str(k).lower() == "authorization")
        scheme, _, credential = value.partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            raise ConfigurationError(
                f"{name}(headers={{'Authorization': ...}}): only a Bearer token is supported; "
                "pass it as token=."
            )
        if data.get("token") is not None or data.get("api_key") is not None:
            raise ConfigurationError(
                f"{name}: both token= and an Authorization header were given; pass only token=."
            )
        data["token"] = credential.strip()
