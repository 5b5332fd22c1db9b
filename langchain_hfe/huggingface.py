"""Drop-in replacements for langchain-huggingface's embeddings classes, with the same names.

Change one import line and nothing else::

    from langchain_huggingface import HuggingFaceEmbeddings          # before
    from langchain_hfe import HuggingFaceEmbeddings                  # after

Each class accepts its peer's arguments with the peer's defaults, so the vectors are the peer's
and an index it built stays valid; every hfe setting is accepted too. A peer argument hfe cannot
honour raises :class:`~hfe_core.ConfigurationError` saying why and what to use instead; nothing is
dropped silently. ``docs/migrating.md`` lists every argument.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import ConfigDict, Field, PrivateAttr

from hfe_core.adapter import PeerEmbedder, PeerOptions
from hfe_core.config import SETTING_ALIASES, merge_aliases, mode_for_url
from hfe_core.embedder import Embedder
from hfe_core.errors import ConfigurationError
from langchain_hfe.embeddings import HFEmbeddings

__all__ = ["PEER_DEFAULT_MODEL", "HuggingFaceEmbeddings", "HuggingFaceEndpointEmbeddings"]

#: langchain-huggingface's default model, for both classes (768 dimensions).
PEER_DEFAULT_MODEL = "sentence-transformers/all-mpnet-base-v2"

_LOCAL = "langchain_hfe.HuggingFaceEmbeddings"
_ENDPOINT = "langchain_hfe.HuggingFaceEndpointEmbeddings"
#: What the two fixed-mode classes say when asked for the other kind of target.
_USE_ENDPOINT = f"use {_ENDPOINT}(model=URL) or langchain_hfe.HFEmbeddings(url=...) for a server"
_ENCODE_KEYS = (
    "prompt, prompt_name, normalize_embeddings, batch_size, truncate_dim, show_progress_bar, device, "
    "precision='float32', output_value='sentence_embedding', convert_to_numpy=True, convert_to_tensor"
)


def _kwargs_dict(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"{where} must be a dict (got a value of type {type(value).__name__}).")
    return dict(value)


def _key(data: Mapping[str, Any], field: str) -> str:
    """The name ``field`` has in ``data`` (the caller's, an alias maybe), else the field's own."""
    return next((name for name in (field, *SETTING_ALIASES.get(field, ())) if name in data), field)


def _get(data: Mapping[str, Any], field: str) -> Any:
    return data.get(_key(data, field))


def _set(data: dict[str, Any], field: str, value: Any, source: str) -> None:
    """Put a translated peer argument into the settings; a different explicit value is a conflict."""
    key = _key(data, field)
    current = data.get(key)
    if current is not None and current != value:
        raise ConfigurationError(
            f"{source} and {key}= were both given, with different values; they set the same thing. "
            f"Pass only one."
        )
    data[key] = value


# -- HuggingFaceEmbeddings: local sentence-transformers -----------------------------------------------------


@dataclass
class _Side:
    """What one of the peer's encode_kwargs dicts asks of ``SentenceTransformer.encode``."""

    where: str
    prompt: str | None = None
    prompt_name: str | None = None
    normalize: bool | None = None
    truncate_dim: int | None = None
    batch_size: int | None = None
    show_progress: bool | None = None
    device: str | None = None


def _refuse(where: str, key: str, why: str, owner: str = _LOCAL) -> ConfigurationError:
    return ConfigurationError(f"{where}[{key!r}] is not supported by {owner}: {why}")


def _invalid(where: str, key: str, expected: str, value: Any) -> ConfigurationError:
    return ConfigurationError(
        f"{where}[{key!r}] must be {expected} (got a value of type {type(value).__name__})."
    )


def _bool(where: str, key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _invalid(where, key, "True or False", value)
    return value


def _positive(where: str, key: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise _invalid(where, key, "a positive integer", value)
    return value


def _text(where: str, key: str, value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise _invalid(where, key, "a string", value)
    return value


def _side(kwargs: dict[str, Any], where: str) -> _Side:
    """Translate the peer's ``encode_kwargs`` (or ``query_encode_kwargs``) into what hfe applies."""
    side = _Side(where)
    for key, value in kwargs.items():
        if key == "prompt":
            side.prompt = _text(where, key, value)
        elif key == "prompt_name":
            side.prompt_name = _text(where, key, value)
        elif key == "normalize_embeddings":
            side.normalize = _bool(where, key, value)
        elif key == "truncate_dim":
            side.truncate_dim = _positive(where, key, value)
        elif key == "batch_size":
            side.batch_size = _positive(where, key, value)
        elif key == "show_progress_bar":
            side.show_progress = _bool(where, key, value)
        elif key == "device":
            side.device = _text(where, key, value)
        elif key == "precision":
            if value != "float32":
                raise _refuse(
                    where,
                    key,
                    "LangChain takes float32 vectors, as the peer returns by default. Remove it (or use "
                    "'float32'); for stored int8/binary codes use hfe_core.Embedder(precision=...) or "
                    "`hfe embed --precision`, whose codes do not depend on the rest of the call.",
                )
        elif key == "output_value":
            if value not in (None, "sentence_embedding"):
                raise _refuse(where, key, "hfe returns sentence embeddings only; remove it.")
        elif key == "convert_to_numpy":
            if value is not True:
                raise _refuse(where, key, "the peer itself fails without it (a list of tensors); remove it.")
        elif key == "convert_to_tensor":
            _bool(where, key, value)  # numpy or tensor, the floats returned are the same
        else:
            raise _refuse(where, key, f"the drop-in translates only {_ENCODE_KEYS}; remove it.")
    if side.prompt is not None and side.prompt_name is not None:
        warnings.warn(
            f"{where} has both prompt and prompt_name; prompt is used, as sentence-transformers does.",
            UserWarning,
            stacklevel=4,
        )
        side.prompt_name = None
    return side


def _translate_model_kwargs(data: dict[str, Any]) -> None:
    model_kwargs = _kwargs_dict(data.get("model_kwargs"), "model_kwargs")
    if "token" in model_kwargs:
        # Kept out of model_kwargs, which are shown and serialized: the token is a SecretStr setting.
        token = model_kwargs.pop("token")
        if token is not None:
            if _get(data, "token") is not None:
                raise ConfigurationError(
                    "model_kwargs['token'] and token= were both given; pass the token once, as token=."
                )
            data[_key(data, "token")] = token
    if "revision" in model_kwargs:
        _set(data, "revision", model_kwargs.pop("revision"), "model_kwargs['revision']")
    if model_kwargs.get("backend") == "ipex":
        # What langchain-huggingface does, with its words.
        warnings.warn(
            "`backend='ipex'` is no longer supported; the default `torch` backend will be used instead. "
            "Intel GPU acceleration is natively supported in PyTorch 2.5 and later.",
            UserWarning,
            stacklevel=4,
        )
        model_kwargs["backend"] = "torch"
    data["model_kwargs"] = model_kwargs


def _translate_local(data: dict[str, Any]) -> tuple[dict[str, Any], PeerOptions]:
    """langchain-huggingface's HuggingFaceEmbeddings arguments -> hfe settings and peer options."""
    mode = data.get("mode")
    if mode not in (None, "local"):
        raise ConfigurationError(f"{_LOCAL} computes embeddings locally (mode='local'); {_USE_ENDPOINT}.")
    for field in ("url", "endpoint_name", "provider"):
        if _get(data, field) is not None:
            raise ConfigurationError(
                f"{_key(data, field)}= names a server, but {_LOCAL} computes embeddings locally and would "
                f"ignore it; {_USE_ENDPOINT}."
            )
    data["mode"] = "local"
    if data.pop("multi_process", False):
        raise ConfigurationError(
            f"multi_process=True is not supported by {_LOCAL}: hfe keeps one model per process, shared and "
            "locked, and batches by length. For several GPUs run one TEI server per GPU and use "
            f"{_ENDPOINT}(model=URL), or hfe_core.ray (one model per worker); on one device remove "
            "multi_process. Note: langchain-huggingface ignores encode_kwargs when multi_process=True (no "
            "normalization, no prompt), so pass encode_kwargs={} to keep vectors stored that way."
        )
    _translate_model_kwargs(data)
    document = _side(_kwargs_dict(data.pop("encode_kwargs", None), "encode_kwargs"), "encode_kwargs")
    query_kwargs = _kwargs_dict(data.get("query_encode_kwargs"), "query_encode_kwargs")
    data["query_encode_kwargs"] = dict(query_kwargs)
    # The peer uses query_encode_kwargs for queries when it is not empty, and then encode_kwargs not at all.
    query = _side(query_kwargs, "query_encode_kwargs") if query_kwargs else document
    if query.truncate_dim != document.truncate_dim:
        raise ConfigurationError(
            "encode_kwargs and query_encode_kwargs ask for different truncate_dim: queries and documents "
            "would have different dimensions and could not be compared. Give the same truncate_dim to "
            "both (or set dimensions=)."
        )
    if document.truncate_dim is not None:
        _set(data, "dimensions", document.truncate_dim, f"{document.where}['truncate_dim']")
    for side in (document, query):
        if side.device is not None:
            _set(data, "device", side.device, f"{side.where}['device']")
    if document.batch_size is not None:
        _set(data, "batch_size", document.batch_size, "encode_kwargs['batch_size']")
    if document.show_progress is not None:
        _set(data, "show_progress", document.show_progress, "encode_kwargs['show_progress_bar']")
    # Normalization: the peer's default is False (sentence-transformers'), hfe's is True.
    explicit = data.pop("normalize", None)
    wanted: dict[str, bool] = {}
    for name, side in (("document", document), ("query", query)):
        if explicit is not None and side.normalize is not None and side.normalize != explicit:
            raise ConfigurationError(
                f"{side.where}['normalize_embeddings'] and normalize= disagree; pass only one."
            )
        wanted[name] = side.normalize if side.normalize is not None else bool(explicit)
    normalize_after: frozenset[str] = frozenset()
    if wanted["document"] == wanted["query"]:
        data["normalize"] = wanted["document"]
    else:
        data["normalize"] = False
        normalize_after = frozenset(name for name, value in wanted.items() if value)
    # Prompts: an explicit prompt becomes hfe's query_prompt/document_prompt; a prompt name, or none
    # (the model's default_prompt_name, as SentenceTransformer.encode does), is read from the model.
    names: dict[str, str | None] = {}
    for field, side in (("document_prompt", document), ("query_prompt", query)):
        if side.prompt is not None:
            _set(data, field, side.prompt, f"{side.where}['prompt']")
        elif side.prompt_name is not None and _get(data, field) is not None:
            raise ConfigurationError(
                f"{side.where}['prompt_name'] and {field}= were both given; pass only one."
            )
        names[field] = side.prompt_name
    return data, PeerOptions(
        query_prompt_name=names["query_prompt"],
        document_prompt_name=names["document_prompt"],
        model_default_prompt=True,
        normalize_after=normalize_after,
        replace_newlines=True,
    )


class _DropIn(HFEmbeddings):
    """What both drop-ins share: the peer options and the embedder that applies them."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, arbitrary_types_allowed=True)

    #: Peer arguments translated at construction: changing them afterwards would not be applied.
    _translated: ClassVar[tuple[str, ...]] = ()
    _peer: PeerOptions = PrivateAttr(default_factory=PeerOptions)

    def _apply(self, options: PeerOptions) -> None:
        self._peer = options
        self._embedder = self._new_embedder()

    def _new_embedder(self) -> Embedder:
        return PeerEmbedder(self, self._peer)

    def __setattr__(self, name: str, value: Any) -> None:
        """Settings may change after construction, as on HFEmbeddings; translated peer arguments may not.

        Raises:
            ConfigurationError: ``name`` is a peer argument translated at construction.
        """
        if name in self._translated:
            raise ConfigurationError(
                f"{name} is translated into hfe settings when {type(self).__name__} is created; create a "
                f"new {type(self).__name__}({name}=...) instead of changing it."
            )
        super().__setattr__(name, value)


class HuggingFaceEmbeddings(_DropIn):
    """Drop-in for ``langchain_huggingface.HuggingFaceEmbeddings``: sentence-transformers in process.

    Same arguments, same defaults, same vectors as langchain-huggingface, so an index it built stays
    valid: ``model_name`` (default ``sentence-transformers/all-mpnet-base-v2``), ``cache_folder``,
    ``model_kwargs`` (to ``SentenceTransformer``; ``device``, ``revision`` and ``token`` become hfe's
    settings, the token never shown), ``encode_kwargs`` and ``query_encode_kwargs``, ``multi_process``,
    ``show_progress``. Every hfe setting is accepted too (``batch_size``, ``truncation``...). The mode is
    always local (a URL is a :class:`~hfe_core.ConfigurationError`: use
    :class:`HuggingFaceEndpointEmbeddings`).

    Where hfe's own defaults differ, the peer's are kept:

    * **No normalization** unless ``encode_kwargs={"normalize_embeddings": True}`` (hfe: normalized).
    * **No prompt** unless ``encode_kwargs`` gives ``prompt`` or ``prompt_name``, or the model has a
      ``default_prompt_name`` (hfe: the model's query and document prompts, or a known family's).
    * **Queries** use ``query_encode_kwargs`` when it is not empty, and then ``encode_kwargs`` not at
      all (so ``{"prompt": "query: "}`` there leaves queries unnormalized), as the peer does.
    * Newlines in texts are replaced by spaces before embedding, as the peer does.

    To opt into hfe's behaviour (normalized vectors, the model's query/document prompts), use
    :class:`langchain_hfe.HFEmbeddings` and re-embed the index; or pass ``normalize=True``,
    ``query_prompt=``/``document_prompt=`` here.

    ``multi_process=True`` is refused with the alternatives (hfe keeps one shared model per process).
    Unsupported ``encode_kwargs`` keys (``precision='int8'``...) are refused the same way.

    Example:
        >>> from langchain_hfe import HuggingFaceEmbeddings
        >>> hf = HuggingFaceEmbeddings(
        ...     model_name="sentence-transformers/all-MiniLM-L6-v2",
        ...     model_kwargs={"device": "cpu"},
        ...     encode_kwargs={"normalize_embeddings": False},
        ... )
        >>> len(hf.embed_query("What is hfe?"))  # doctest: +SKIP
        384
    """

    default_local_model: ClassVar[str] = PEER_DEFAULT_MODEL
    _translated: ClassVar[tuple[str, ...]] = ("encode_kwargs", "query_encode_kwargs", "multi_process")

    query_encode_kwargs: dict[str, Any] = Field(
        default_factory=dict,
        description="langchain-huggingface's encode() arguments for queries, as given. When not empty they "
        "replace encode_kwargs for queries (prompt, prompt_name, normalize_embeddings...).",
    )
    multi_process: bool = Field(
        default=False,
        description="langchain-huggingface's multi-process pool; only False is accepted (see the class).",
    )

    def __init__(self, /, **data: Any) -> None:
        """Translate langchain-huggingface's arguments, then validate the settings.

        Raises:
            ConfigurationError: an argument hfe cannot honour (with what to use), a conflict, or an
                unknown keyword (with the closest name); no value is ever shown.
        """
        merged = merge_aliases(data, type(self).model_fields)
        translated, options = _translate_local(merged)
        super().__init__(**translated)
        self._apply(options)

    @property
    def model_name(self) -> str | None:
        """The model (langchain-huggingface's attribute name for ``model``)."""
        return self.model


# -- HuggingFaceEndpointEmbeddings: a TEI server, an Inference Endpoint or the serverless API -----------


_REQUEST_KEYS = "normalize, truncate, truncation_direction, dimensions, encoding_format"


def _refuse_request(key: str, why: str) -> ConfigurationError:
    return _refuse("model_kwargs", key, why, _ENDPOINT)


def _translate_request_kwargs(data: dict[str, Any]) -> None:
    """The peer passes model_kwargs to InferenceClient.feature_extraction: map them to settings."""
    kwargs = _kwargs_dict(data.pop("model_kwargs", None), "model_kwargs")
    data["model_kwargs"] = {}
    truncate: bool | None = None
    direction = "right"
    for key, value in kwargs.items():
        if key == "normalize":
            if value is not None:
                _set(data, "normalize", _bool("model_kwargs", key, value), "model_kwargs['normalize']")
        elif key == "truncate":
            if value is not None:
                truncate = _bool("model_kwargs", key, value)
        elif key == "truncation_direction":
            if value is not None:
                if not isinstance(value, str) or value.lower() not in ("left", "right"):
                    raise _refuse_request(key, "use 'left' or 'right'.")
                direction = value.lower()
        elif key == "dimensions":
            if value is not None:
                _set(data, "dimensions", _positive("model_kwargs", key, value), "model_kwargs['dimensions']")
        elif key == "encoding_format":
            if value not in (None, "float", "base64"):
                raise _refuse_request(key, "use 'float' or 'base64'.")
            # Only how the vectors travel: hfe chooses (base64 on /v1/embeddings), the floats are the same.
        elif key == "prompt_name":
            raise _refuse_request(
                key,
                "hfe does not send a server-side prompt name. Give the prompt's text instead, as "
                "query_prompt= and document_prompt= (the peer applied it to queries and documents alike).",
            )
        elif key == "model":
            raise _refuse_request(key, "give the model (a repo id or a URL) as model=.")
        else:
            raise _refuse_request(
                key,
                f"InferenceClient.feature_extraction takes no such argument; hfe maps {_REQUEST_KEYS}.",
            )
    if truncate is not None or direction == "left":
        policy = "error" if truncate is False else ("truncate_left" if direction == "left" else "truncate")
        _set(data, "truncation", policy, "model_kwargs['truncate'] / ['truncation_direction']")


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lower().startswith(("http://", "https://"))


def _translate_endpoint(data: dict[str, Any]) -> tuple[dict[str, Any], PeerOptions]:
    """langchain-huggingface's HuggingFaceEndpointEmbeddings arguments -> hfe settings and options."""
    for name in ("client", "async_client"):
        if data.pop(name, None) is not None:
            raise ConfigurationError(
                f"{name}= is not supported by {_ENDPOINT}: hfe makes its own pooled clients (with retries, "
                "limits and timeouts); langchain-huggingface replaced a given client too. Remove it; set "
                "timeout=, max_concurrency= or proxies= instead."
            )
    task = data.get("task", "feature-extraction")
    if task not in (None, "feature-extraction"):
        raise ConfigurationError(
            f"task= is not supported by {_ENDPOINT} with this value: embeddings are the 'feature-extraction' "
            "task, the only one langchain-huggingface accepts too. Remove task=."
        )
    data["task"] = "feature-extraction"
    repo_id = data.pop("repo_id", None)
    if repo_id is not None:
        _set(data, "model", repo_id, "repo_id=")
    model = _get(data, "model")
    if _is_url(model):
        # A URL is a server: a TEI server or an Inference Endpoint (the peer refuses URLs).
        data.pop(_key(data, "model"))
        _set(data, "url", model, "model= (a URL)")
    url = _get(data, "url")
    mode = data.get("mode")
    if mode == "local":
        raise ConfigurationError(
            f"{_ENDPOINT} calls a server (mode 'tei' or 'endpoint'); for local embeddings use "
            f"{_LOCAL} or langchain_hfe.HFEmbeddings."
        )
    if url is not None:
        if data.get("provider") is not None:
            raise ConfigurationError(
                "provider= chooses who serves a model id on Hugging Face's serverless API; with a URL the "
                "server is the URL's. Remove provider=, or give a model id as model= instead of the URL."
            )
        if mode is None:
            data["mode"] = mode_for_url(str(url))
    else:
        data["mode"] = mode or "endpoint"
    if url is None and data.get("endpoint_name") is None:
        if _get(data, "model") is None:
            data[_key(data, "model")] = PEER_DEFAULT_MODEL
        if data.get("provider") is None:
            data["provider"] = "auto"  # huggingface_hub's default, which the peer passes on
    _translate_request_kwargs(data)
    # The peer sends no prompt: the server's default prompt, if it has one, applies as it did.
    for field in ("query_prompt", "document_prompt"):
        if _get(data, field) is None:
            data[_key(data, field)] = ""
    return data, PeerOptions(model_default_prompt=False, replace_newlines=True)


class HuggingFaceEndpointEmbeddings(_DropIn):
    """Drop-in for ``langchain_huggingface.HuggingFaceEndpointEmbeddings``, and it takes URLs.

    ``model`` is a model id on Hugging Face's serverless API (Inference Providers; ``provider``,
    default ``"auto"`` as in huggingface_hub) **or a URL**: a Text Embeddings Inference server (tei
    mode) or an Inference Endpoint (endpoint mode, for ``*.endpoints.huggingface.cloud``). A URL never
    means local mode. ``repo_id`` is accepted as the peer's older name of ``model``;
    ``huggingfacehub_api_token`` is the token (a ``SecretStr``, never shown or serialized; default
    ``HF_TOKEN`` and the other Hugging Face variables, ``TEI_API_KEY`` first in tei mode); ``task``
    must be ``"feature-extraction"``. ``model_kwargs`` are the peer's request parameters: ``normalize``,
    ``truncate``, ``truncation_direction`` and ``dimensions`` become hfe's settings,
    ``encoding_format`` is accepted (transport only), ``prompt_name`` and anything else are refused
    with what to use.

    The vectors are the peer's: the server's own (normalized, as TEI's default), no prompt added for
    queries or documents, newlines replaced by spaces. One difference: long inputs are truncated
    (``truncate: true``) where a server without auto-truncation refused them for the peer; pass
    ``model_kwargs={"truncate": False}`` (or ``truncation="error"``) to keep the refusal.

    What improves with no code change: requests under the server's limits (``/info``), retries of
    429/503 and cold starts with backoff, bounded concurrency, typed errors, real async.

    Example:
        >>> from langchain_hfe import HuggingFaceEndpointEmbeddings
        >>> hf = HuggingFaceEndpointEmbeddings(model="http://localhost:8080")  # a TEI server
        >>> hf.mode
        'tei'
        >>> vectors = hf.embed_documents(["Paris is in France."])  # doctest: +SKIP
    """

    _translated: ClassVar[tuple[str, ...]] = ("task",)

    task: str = Field(
        default="feature-extraction",
        description="The peer's inference task; only 'feature-extraction' (embeddings) is accepted.",
    )

    def __init__(self, /, **data: Any) -> None:
        """Translate langchain-huggingface's arguments, then validate the settings.

        Raises:
            ConfigurationError: an argument hfe cannot honour (with what to use), a conflict, or an
                unknown keyword (with the closest name); no value is ever shown.
        """
        merged = merge_aliases(data, type(self).model_fields)
        translated, options = _translate_endpoint(merged)
        super().__init__(**translated)
        self._apply(options)

    @property
    def repo_id(self) -> str | None:
        """The model id (langchain-huggingface's older name for ``model``); ``None`` with a URL."""
        return self.model
