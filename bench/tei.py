"""TEI-mode throughput benchmark: hfe's server modes against a plain async client and the other TEI clients.

What it measures
    Texts per second, client CPU and the requests each client sends, for embedding three seeded
    workloads through a TEI-protocol server with a known service time, under TEI 1.8.3 and 1.9.3
    semantics (one server process per version):

    * ``corpus``: the original 4096 mixed texts (~88% sentences of 4-30 words, ~10% paragraphs of
      60-180 words, ~2% texts of 300-700 words, over the model's 256-token limit);
    * ``mixed``: 4096 texts of 5-200 words, uniformly drawn (none reaches the limit, but most are
      long enough that hfe must tokenize them to know);
    * ``long``: 1024 texts of 300-900 words, nearly all over the limit (the server truncates them).

    The five core contenders run on every workload and version:

    1. a minimal hand-written reference client: ``httpx.AsyncClient``, batches of exactly
       ``max_client_batch_size`` (32) in corpus order, ``SLOTS`` (4) requests in flight, which is
       both the server's number of inference slots and what issue 13's client used, orjson both
       ways, ``truncate: true``, no retries. It keeps one request per slot in flight: the server
       batches inputs across requests (up to 16384 padded tokens), so with texts of 100+ tokens its
       4 requests fill fewer than 4 batches and slots idle; a client with more in flight beats it;
    2. ``hfe_core.Embedder(mode="tei", url=URL).embed`` (defaults: ``truncation="truncate"``,
       ``max_concurrency=8``; returns a float32 array, no ``tolist``);
    3. ``await Embedder(mode="tei", url=URL).aembed`` (defaults);
    4. ``Embedder(mode="tei", url=URL, route="openai").embed`` (base64 over ``/v1/embeddings``);
    5. ``Embedder(mode="endpoint", url=URL).embed``: a URL that is not a Hugging Face host is a
       dedicated Inference Endpoint (``DedicatedEndpointBackend``: the tei backend plus the
       ``X-Scale-Up-Timeout`` header, cold-start retries and vectors re-normalized client-side);
       it needs no ``route`` and reads ``/info`` like tei mode.

    The other clients run on the first ``EXTRA_TEXTS`` (1024) texts of the ``corpus`` workload under
    TEI 1.9.3 only (``--extras-on``, ``--extras-version``), with ``--extra-repeats`` (1) timed calls
    each, as they are slow (sequential) or fail:
    LlamaIndex ``TextEmbeddingsInference`` (``embed_batch_size`` 10 and 32, sync and async),
    ``langchain_openai.OpenAIEmbeddings(chunk_size=32, check_embedding_ctx_length=False)`` on
    ``/v1``, the ``openai`` client one text per call as mem0 does (256 texts), and
    ``langchain_huggingface.HuggingFaceEndpointEmbeddings(model=URL)`` (it refuses URLs).

How
    The server is the repository's TEI-protocol test server (``tests/tei_server``) in its own
    process (``python -m tests.tei_server --version 1.8.3|1.9.3``), TEI's default limits (32 inputs
    per request, 16384 batch tokens, 512 permits, 2 MB payloads), ``vectors="hash"`` (no model
    competes for the CPUs; tokenization and token counts are the real tokenizer's), ``SLOTS``
    inference slots, and a simulated service time: ``LATENCY_MS`` per request plus
    ``MS_PER_TOKEN`` per computed token (the latter keeps a slot busy). Its ``/__stats`` route gives
    the requests of every call by route and status; its CPU time is read from ``/proc``. Before the
    timed calls the parent asks the server's own ``/tokenize`` (special tokens included) how many
    texts of each workload exceed ``max_input_length``: the truth hfe's count is checked against.

    Every contender lives in its own ``spawn`` subprocess per server version (client CPU =
    ``time.process_time()`` of that process, all its threads, native ones included). Each is
    warmed up once per server on ``WARMUP_TEXTS`` texts of the first workload (its first call:
    ``/info``, hfe's prompt probe and tokenizer check; the requests of that call are reported),
    then timed on each whole workload ``--repeats`` (3) times (``--fast-repeats`` (4) times when a
    call takes under ``FAST_SECONDS``); the contenders take turns in rotating order, one at a time,
    and the table reports medians. Vectors
    of the first timed call are compared with the reference client's, text by text (cosine of
    normalized vectors >= 0.9999). For hfe the worker also reads ``last_stats`` (``truncated``,
    ``truncation_counted``) and times, without a profiler, ``Embedder._prepare`` (validation,
    prompt, truncation count, request planning: everything before the first request),
    ``TEIBackend._parse`` (answer decoding) and ``ClientTokenizer.spans`` (wall and process CPU,
    the tokenizers library's own threads included).

    The floor is what the server needs at the least: ``ceil(n / 32)`` requests, each holding one
    of ``SLOTS`` slots for ``LATENCY_MS`` plus its tokens x ``MS_PER_TOKEN``:
    ``(requests x LATENCY_MS + tokens x MS_PER_TOKEN) / SLOTS`` (tokens counted by the server for
    the reference client's call, truncated texts counted at 256). The test server holds a slot
    only for the token time, so a client with more requests in flight than slots can overlap the
    latencies and beat that floor slightly; the pure token bound is printed too.

    Unless ``--no-profile``, one extra call of hfe sync and of hfe async on the first
    ``--profile-texts`` (512) texts of each profiled workload (``--profile-on``, default
    ``mixed,long``, under the last version) runs under cProfile with
    ``time.thread_time`` as its clock, so the profile is CPU, not waiting: every Python thread of
    the call is profiled (``threading.setprofile``; a fresh default executor for the async call's
    ``to_thread``). The top functions, and the CPU of marker functions (validation, planning,
    tokenizer, request bodies, HTTP stack, answer decoding, progress bar, thread pool) are written
    to ``bench/results/tei_profile.txt``, as shares of the call's process CPU. The tokenizers
    library's native threads are invisible to cProfile: their CPU is the process CPU measured
    around ``ClientTokenizer.spans``.

Run
    ``HF_HUB_OFFLINE=1 .venv/bin/python bench/tei.py`` from the repository root (``--scale 0.25``
    for smaller workloads while developing, ``--workloads corpus,mixed,long``,
    ``--versions 1.8.3,1.9.3``, ``--repeats``, ``--fast-repeats``, ``--extra-repeats``,
    ``--only hfe_sync,llama32`` (keys in ``CONTENDERS``; the reference always runs),
    ``--extras-on``, ``--extras-version``, ``--no-profile``, ``--profile-on``, ``--profile-texts``,
    ``--slots``, ``--latency-ms``,
    ``--ms-per-token``). The table is printed and written to ``bench/results/tei.md``. Needs the
    ``bench`` extra plus ``llama-index-embeddings-text-embeddings-inference``,
    ``langchain-openai``, ``openai`` and ``orjson``; a contender whose package is missing is
    reported as failed. A full run takes about 15 minutes on 2 cores shared with other work.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import hashlib
import io
import math
import multiprocessing as mp
import os
import platform
import pstats
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
from _corpus import passage, sentence  # bench/ is on sys.path when a bench runs
from _report import hfe_revision, publish
from _server import MAX_CLIENT_BATCH, ROOT, STATS_ROUTE, ServerProcess

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

RESULTS = ROOT / "bench" / "results"
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
AGREEMENT = 0.9999
WARMUP_TEXTS = 256
SUBSET = 256  # texts for the one-text-per-call contender
EXTRA_TEXTS = 1024  # texts per timed call of the other (slow) clients
PROFILE_TEXTS = 512  # texts of each profiled call
SLOTS = 4
FAST_SECONDS = 6.0  # contenders faster than this per call get --fast-repeats timed calls
LATENCY_MS = 5.0
MS_PER_TOKEN = 0.08
VERSIONS = ("1.8.3", "1.9.3")
REFERENCE = "reference client (httpx async + orjson, 32/request, 4 in flight, truncate: true)"


# -- workloads --------------------------------------------------------------------------------
def build_corpus(n: int, seed: int = 0) -> list[str]:
    """``n`` seeded texts in shuffled order: ~88% sentences of 4-30 words, ~10% paragraphs of
    60-180 words, ~2% long texts of 300-700 words (over the model's 256-token limit)."""
    rng = random.Random(seed)
    texts: list[str] = []
    for _ in range(n):
        kind = rng.random()
        if kind < 0.88:
            texts.append(sentence(rng, rng.randint(4, 30)))
        elif kind < 0.98:
            texts.append(passage(rng, rng.randint(60, 180)))
        else:
            texts.append(passage(rng, rng.randint(300, 700)))
    return texts


def build_mixed(n: int, seed: int = 0) -> list[str]:
    """``n`` seeded texts of 5-200 words (uniform), sentences of 8-25 words."""
    rng = random.Random(seed + 1)
    return [passage(rng, rng.randint(5, 200)) for _ in range(n)]


def build_long(n: int, seed: int = 0) -> list[str]:
    """``n`` seeded texts of 300-900 words (uniform), nearly all over the model's 256-token limit."""
    rng = random.Random(seed + 2)
    return [passage(rng, rng.randint(300, 900)) for _ in range(n)]


@dataclass(frozen=True)
class Workload:
    key: str
    size: int
    build: Callable[[int, int], list[str]]
    words: str  # what the texts are, in words

    def texts(self, scale: float, seed: int) -> list[str]:
        return self.build(max(MAX_CLIENT_BATCH, round(self.size * scale)), seed)


WORKLOADS = {
    w.key: w
    for w in (
        Workload("corpus", 4096, build_corpus, "88% 4-30, 10% 60-180, 2% 300-700 words"),
        Workload("mixed", 4096, build_mixed, "5-200 words"),
        Workload("long", 1024, build_long, "300-900 words"),
    )
}


def workload_summary(texts: list[str], truncated: int, limit: int) -> str:
    words = [len(text.split()) for text in texts]
    return (
        f"{len(texts)} texts, {min(words)}-{max(words)} words (mean {statistics.fmean(words):.0f}), "
        f"{sum(len(t) for t in texts) / 1e6:.2f} M characters; {truncated} over {limit} tokens by the "
        "server's /tokenize"
    )


# -- contenders (each built inside its own worker process) ------------------------------------
Embed = Callable[[list[str]], Any]


class Timers:
    """Wall (and process CPU) seconds spent in wrapped functions, summed over threads; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.spent: dict[str, float] = {}

    def wrap(self, name: str, function: Callable[..., Any], *, cpu: bool = False) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            tick, tock = time.perf_counter(), (time.process_time() if cpu else 0.0)
            try:
                return function(*args, **kwargs)
            finally:
                wall = time.perf_counter() - tick
                used = time.process_time() - tock if cpu else 0.0
                with self._lock:
                    self.spent[name] = self.spent.get(name, 0.0) + wall
                    if cpu:
                        self.spent[name + "_cpu"] = self.spent.get(name + "_cpu", 0.0) + used

        return wrapper

    def take(self) -> dict[str, float]:
        with self._lock:
            spent, self.spent = self.spent, {}
        return spent


@dataclass
class Loaded:
    """A ready contender: its timed call, and an object that may carry client-side counters."""

    embed: Embed
    handle: Any = None
    loop: asyncio.AbstractEventLoop | None = None
    timers: Timers | None = None


def _on_loop(make: Callable[[list[str]], Any]) -> tuple[Embed, asyncio.AbstractEventLoop]:
    """Run an async contender on one persistent event loop (clients are cached per loop)."""
    loop = asyncio.new_event_loop()

    def embed(texts: list[str]) -> Any:
        return loop.run_until_complete(make(texts))

    return embed, loop


def _instrumented(embedder: Any) -> Timers:
    """Time hfe's planning pass, answer decoding and client-side tokenizer (this worker only)."""
    from hfe_core.tokenizer import ClientTokenizer

    timers = Timers()
    embedder._prepare = timers.wrap("prepare", embedder._prepare)
    embedder.backend._parse = timers.wrap("parse", embedder.backend._parse)
    ClientTokenizer.spans = timers.wrap("tokenizer", ClientTokenizer.spans, cpu=True)  # type: ignore[method-assign]
    ClientTokenizer.counts = timers.wrap("tokenizer", ClientTokenizer.counts, cpu=True)  # type: ignore[method-assign]
    return timers


def _hfe(mode: str = "tei", **settings: Any) -> Callable[[str], Loaded]:
    def load(url: str) -> Loaded:
        from hfe_core import Embedder

        embedder = Embedder(mode=mode, url=url, **settings)
        return Loaded(lambda texts: embedder.embed(texts).embeddings, embedder, None, _instrumented(embedder))

    return load


def _load_hfe_job(url: str) -> Loaded:
    """``hfe embed``'s engine (embed_file) on a JSONL of the workload, written once, into a .npy."""
    import json
    import tempfile

    from hfe_core import Embedder
    from hfe_core.job import embed_file

    embedder = Embedder(mode="tei", url=url)
    folder = Path(tempfile.mkdtemp(prefix="hfe-bench-job-"))
    written: dict[int, Path] = {}

    def embed(texts: list[str]) -> Any:
        key = hash(tuple(texts))
        source = written.get(key)
        if source is None:  # written on the first call of each corpus (tens of ms, inside that call)
            source = folder / f"in-{len(written)}.jsonl"
            source.write_text("".join(json.dumps({"text": text}) + "\n" for text in texts))
            written[key] = source
        output = folder / "out.npy"
        embed_file(source, output, embedder=embedder, overwrite=True, show_progress=False)
        return np.load(output)

    return Loaded(embed, embedder)


def _load_hfe_async(url: str) -> Loaded:
    from hfe_core import Embedder

    embedder = Embedder(mode="tei", url=url)

    async def call(texts: list[str]) -> Any:
        return (await embedder.aembed(texts)).embeddings

    embed, loop = _on_loop(call)
    return Loaded(embed, embedder, loop, _instrumented(embedder))


def _llama(url: str, batch_size: int | None) -> Any:
    from llama_index.embeddings.text_embeddings_inference import (  # type: ignore[import-not-found]
        TextEmbeddingsInference,
    )

    if batch_size is None:
        return TextEmbeddingsInference(base_url=url, model_name=MODEL_NAME)
    return TextEmbeddingsInference(base_url=url, model_name=MODEL_NAME, embed_batch_size=batch_size)


def _load_llama_default(url: str) -> Loaded:
    embedding = _llama(url, None)
    return Loaded(embedding.get_text_embedding_batch, embedding)


def _load_llama_32(url: str) -> Loaded:
    embedding = _llama(url, 32)
    return Loaded(embedding.get_text_embedding_batch, embedding)


def _load_llama_default_async(url: str) -> Loaded:
    embedding = _llama(url, None)
    embed, loop = _on_loop(embedding.aget_text_embedding_batch)
    return Loaded(embed, embedding, loop)


def _load_llama_32_async(url: str) -> Loaded:
    embedding = _llama(url, 32)
    embed, loop = _on_loop(embedding.aget_text_embedding_batch)
    return Loaded(embed, embedding, loop)


def _load_langchain_openai(url: str) -> Loaded:
    from langchain_openai import OpenAIEmbeddings

    embeddings = OpenAIEmbeddings(
        model=MODEL_NAME,
        base_url=url + "/v1",
        api_key="none",  # type: ignore[arg-type]
        check_embedding_ctx_length=False,
        chunk_size=32,
    )
    return Loaded(embeddings.embed_documents, embeddings)


def _load_openai_per_text(url: str) -> Loaded:
    import openai

    client = openai.OpenAI(base_url=url + "/v1", api_key="none")

    def embed(texts: list[str]) -> list[list[float]]:
        # mem0's OpenAIEmbedding.embed: one create() call per text.
        return [client.embeddings.create(input=[text], model=MODEL_NAME).data[0].embedding for text in texts]

    return Loaded(embed, client)


def _load_reference(url: str) -> Loaded:
    import orjson

    info = httpx.get(url + "/info", timeout=10).json()
    batch = int(info["max_client_batch_size"])
    in_flight = SLOTS
    state: dict[str, httpx.AsyncClient] = {}

    async def embed_async(texts: list[str]) -> list[list[float]]:
        client = state.get("client")
        if client is None:
            client = httpx.AsyncClient(
                base_url=url,
                timeout=60,
                limits=httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight),
            )
            state["client"] = client
        starts = list(range(0, len(texts), batch))
        results: list[list[list[float]]] = [[] for _ in starts]
        headers = {"Content-Type": "application/json"}

        async def lane(lane_index: int) -> None:
            for number in range(lane_index, len(starts), in_flight):
                start = starts[number]
                body = orjson.dumps({"inputs": texts[start : start + batch], "truncate": True})
                response = await client.post("/embed", content=body, headers=headers)
                if response.status_code != 200:
                    raise RuntimeError(f"reference client got {response.status_code}: {response.text[:200]}")
                results[number] = orjson.loads(response.content)

        await asyncio.gather(*(lane(i) for i in range(in_flight)))
        return [vector for part in results for vector in part]

    embed, loop = _on_loop(embed_async)
    return Loaded(embed, None, loop)


def _load_langchain_hf_endpoint(url: str) -> Loaded:
    from langchain_huggingface import HuggingFaceEndpointEmbeddings

    embeddings = HuggingFaceEndpointEmbeddings(model=url)
    return Loaded(embeddings.embed_documents, embeddings)


@dataclass(frozen=True)
class Contender:
    key: str
    name: str
    load: Callable[[str], Loaded]
    note: str
    subset: int | None = None  # texts per timed call; None = the whole workload
    is_hfe: bool = False
    core: bool = True  # runs on every workload and version; else only where --extras-on says


LLAMA_NOTE = "sequential; a new httpx.Client (new connection, new SSL context) per request"
LLAMA_ASYNC_NOTE = "all requests at once (asyncio.gather, no bound), a new AsyncClient per request"
CONTENDERS: list[Contender] = [
    Contender(
        "ref", REFERENCE, _load_reference, "no retries; 4 in flight = the server's slots, as in issue 13"
    ),
    Contender("hfe_sync", "hfe sync `embed`", _hfe(), "defaults, max_concurrency=8", is_hfe=True),
    Contender("hfe_async", "hfe async `aembed`", _load_hfe_async, "defaults, max_concurrency=8", is_hfe=True),
    Contender(
        "hfe_job",
        "hfe embed (embed_file, JSONL -> .npy)",
        _load_hfe_job,
        "defaults: chunks of 1024 records, checkpointed to disk, dedup on",
    ),
    Contender(
        "hfe_openai",
        "hfe route='openai' sync (base64 /v1)",
        _hfe(route="openai"),
        "hfe's own httpx client (no openai package), max_concurrency=8",
        is_hfe=True,
    ),
    Contender(
        "hfe_endpoint",
        "hfe mode='endpoint' sync (dedicated URL)",
        _hfe(mode="endpoint"),
        "DedicatedEndpointBackend: X-Scale-Up-Timeout header, vectors re-normalized client-side",
        is_hfe=True,
    ),
    Contender(
        "llama10",
        "LlamaIndex TextEmbeddingsInference (default embed_batch_size=10) sync",
        _load_llama_default,
        LLAMA_NOTE,
        subset=EXTRA_TEXTS,
        core=False,
    ),
    Contender(
        "llama32",
        "LlamaIndex TextEmbeddingsInference embed_batch_size=32 sync",
        _load_llama_32,
        LLAMA_NOTE,
        subset=EXTRA_TEXTS,
        core=False,
    ),
    Contender(
        "llama10_async",
        "LlamaIndex TextEmbeddingsInference (default 10) async",
        _load_llama_default_async,
        LLAMA_ASYNC_NOTE,
        subset=EXTRA_TEXTS,
        core=False,
    ),
    Contender(
        "llama32_async",
        "LlamaIndex TextEmbeddingsInference embed_batch_size=32 async",
        _load_llama_32_async,
        LLAMA_ASYNC_NOTE,
        subset=EXTRA_TEXTS,
        core=False,
    ),
    Contender(
        "lc_openai",
        "langchain_openai.OpenAIEmbeddings chunk_size=32",
        _load_langchain_openai,
        "check_embedding_ctx_length=False; sequential",
        subset=EXTRA_TEXTS,
        core=False,
    ),
    Contender(
        "openai_loop",
        f"openai client, one text per call (mem0 style), {SUBSET}-text subset",
        _load_openai_per_text,
        "sequential",
        subset=SUBSET,
        core=False,
    ),
    Contender(
        "lc_hf_endpoint",
        "langchain_huggingface.HuggingFaceEndpointEmbeddings(model=URL)",
        _load_langchain_hf_endpoint,
        "",
        core=False,
    ),
]


# -- worker (runs in its own spawned process) -------------------------------------------------
def _client_counters(handle: Any) -> dict[str, int]:
    """hfe's own request counters (cumulative), when the contender is an hfe Embedder."""
    backend = getattr(handle, "backend", None)
    stats = getattr(backend, "stats", None)
    if stats is None:
        return {}
    return {"requests": stats.requests, "retries": stats.retries, "overloaded": stats.overloaded}


#: What the profile summary adds up: (label, kind, file suffix, function name). "cum": the cumulative
#: CPU of the Python functions of that name in files ending so; "tot": the own CPU of every function
#: whose file ends so ("" = any) and whose name contains the text (builtins have the file "~").
MARKERS: list[tuple[str, str, str, str]] = [
    ("validation (validate_texts)", "cum", "hfe_core/validation.py", "validate_texts"),
    (
        "planning: all of Embedder._prepare (before the first request)",
        "cum",
        "hfe_core/embedder.py",
        "_prepare",
    ),
    ("  truncation count (plan_truncation)", "cum", "hfe_core/truncation.py", "plan_truncation"),
    (
        "    ClientTokenizer.spans (calling thread: offsets to tuples)",
        "cum",
        "hfe_core/tokenizer.py",
        "spans",
    ),
    ("  request planning (plan_requests)", "cum", "hfe_core/batching.py", "plan_requests"),
    ("request bodies (TEIBackend._body + _encode)", "cum", "hfe_core/backends/tei.py", "_body"),
    ("", "cum", "hfe_core/backends/tei.py", "_encode"),
    ("HTTP stack (httpx Client.send / AsyncClient.send)", "cum", "httpx/_client.py", "send"),
    ("answer decoding (TEIBackend._parse)", "cum", "hfe_core/backends/tei.py", "_parse"),
    ("  JSON decode (orjson.loads)", "tot", "~", "orjson.loads"),
    ("numpy (own CPU of numpy functions and array methods)", "tot", "", "numpy"),
    ("progress bar (tqdm)", "tot", "tqdm/std.py", ""),
    ("thread pool and locks (own CPU in concurrent.futures, threading)", "tot", "", "\0threads"),
    ("result assembly (Embedder._finish)", "cum", "hfe_core/embedder.py", "_finish"),
]


def _marker_cpu(raw: dict[Any, Any], kind: str, suffix: str, name: str) -> float:
    total = 0.0
    for (filename, _, function), (_, _, tt, ct, _) in raw.items():
        if kind == "cum":
            if function == name and filename.endswith(suffix):
                total += ct  # cProfile counts a recursive call's time once
        elif name == "\0threads":
            if (
                "concurrent/futures/" in filename
                or filename.endswith("threading.py")
                or "_thread." in function
            ):
                total += tt
        elif name == "numpy":
            if "/numpy/" in filename or "numpy" in function:
                total += tt
        elif filename.endswith(suffix) and name in function:
            total += tt
    return total


def _marker_lines(stats: pstats.Stats, total: float) -> list[str]:
    raw = stats.stats  # type: ignore[attr-defined]
    rows: list[tuple[str, float]] = []
    for label, kind, suffix, name in MARKERS:
        cpu = _marker_cpu(raw, kind, suffix, name)
        if not label:  # adds to the row before
            label, previous = rows.pop()
            cpu += previous
        rows.append((label, cpu))
    return [f"  {label:<70} {cpu:7.3f} s {cpu / total if total else 0.0:6.1%}" for label, cpu in rows]


def _profile_threads(loaded: Loaded, texts: list[str], label: str) -> dict[str, Any]:
    """cProfile one call, CPU clock (``time.thread_time``), every Python thread it starts."""
    timer = time.thread_time
    profiles: list[cProfile.Profile] = []
    lock = threading.Lock()

    def start(*_: Any) -> None:  # a profile hook's first event in a new thread
        profile = cProfile.Profile(timer)
        with lock:
            profiles.append(profile)
        profile.enable()

    executor = None
    if loaded.loop is not None:  # to_thread runs on the default executor: fresh threads, profiled
        executor = ThreadPoolExecutor(thread_name_prefix="bench-profiled")
        loaded.loop.set_default_executor(executor)
    if loaded.timers is not None:
        loaded.timers.take()
    main = cProfile.Profile(timer)
    cpu, tick = time.process_time(), time.perf_counter()
    threading.setprofile(start)
    main.enable()
    try:
        loaded.embed(texts)
    finally:
        main.disable()
        threading.setprofile(None)  # type: ignore[arg-type]
        if executor is not None and loaded.loop is not None:
            executor.shutdown(wait=True)
            loaded.loop.set_default_executor(ThreadPoolExecutor())
    seconds, cpu = time.perf_counter() - tick, time.process_time() - cpu
    spent = loaded.timers.take() if loaded.timers is not None else {}
    stream = io.StringIO()
    stats = pstats.Stats(main, stream=stream)
    for profile in profiles:
        try:
            stats.add(profile)
        except TypeError:  # a thread whose profile never saw an event
            pass
    profiled = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
    tokenizer_cpu = spent.get("tokenizer_cpu", 0.0)
    markers = [
        f"  {'the whole call: process CPU, every thread':<70} {cpu:7.3f} s {1:6.1%}",
        f"  {'tokenizer: process CPU around ClientTokenizer.spans (native threads too)':<70} "
        f"{tokenizer_cpu:7.3f} s {tokenizer_cpu / cpu if cpu else 0.0:6.1%}",
        "  Python threads only (thread CPU clock, cumulative):",
        *_marker_lines(stats, cpu),
    ]
    header = (
        f"{label}: one call under cProfile, {len(texts)} texts: {seconds:.2f} s wall, {cpu:.2f} s process "
        f"CPU (profiling inflates it), {profiled:.2f} s of it in {len(profiles) + 1} Python threads; "
        f"ClientTokenizer.spans {spent.get('tokenizer', 0.0):.2f} s wall"
    )
    stream.write(
        header + "\n\nCPU by part (share of the call's process CPU; nested rows are included in "
        "the row above them):\n"
    )
    stream.write("\n".join(markers) + "\n")
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(30)
    return {"text": stream.getvalue(), "header": header, "markers": markers, "cpu": cpu, "profiled": profiled}


def worker(conn: Connection, index: int, url: str, corpora: dict[str, list[str]]) -> None:
    """Serve one contender: load, then answer "warmup", "run", "profile" and "exit"."""
    contender = CONTENDERS[index]
    try:
        loaded = contender.load(url)
    except BaseException as exc:  # reported in the table
        conn.send({"error": f"{type(exc).__module__}.{type(exc).__name__}: {exc}"})
        conn.close()
        return
    module = sys.modules.get("hfe_core")
    conn.send({"error": None, "hfe_core": getattr(module, "__file__", None)})
    while True:
        command, argument = conn.recv()
        try:
            if command == "warmup":
                texts = corpora[argument]
                loaded.embed(texts[: 32 if contender.subset else WARMUP_TEXTS])
                if loaded.timers is not None:
                    loaded.timers.take()
                conn.send({"error": None})
            elif command == "run":
                workload, file = argument
                texts = corpora[workload]
                corpus = texts[: contender.subset] if contender.subset else texts
                before = _client_counters(loaded.handle)
                tick, cpu_tick = time.perf_counter(), time.process_time()
                vectors = loaded.embed(corpus)
                seconds = time.perf_counter() - tick
                cpu = time.process_time() - cpu_tick
                after = _client_counters(loaded.handle)
                reply: dict[str, Any] = {
                    "error": None,
                    "seconds": seconds,
                    "cpu_seconds": cpu,
                    "client": {k: after[k] - before.get(k, 0) for k in after},
                }
                if contender.is_hfe:
                    stats = loaded.handle.last_stats
                    reply["hfe"] = {
                        "truncated": stats.truncated,
                        "counted": stats.truncation_counted,
                        **(loaded.timers.take() if loaded.timers is not None else {}),
                    }
                if file:  # keep this call's vectors for the agreement check
                    try:
                        array = np.asarray(vectors, dtype=np.float32)
                        np.save(file, array)
                    except (ValueError, TypeError) as exc:
                        reply["malformed"] = f"output is not a list of vectors: {type(exc).__name__}: {exc}"[
                            :300
                        ]
                conn.send(reply)
            elif command == "profile":
                workload, label, count = argument
                conn.send({"error": None, **_profile_threads(loaded, corpora[workload][:count], label)})
            else:
                if loaded.loop is not None:
                    loaded.loop.close()
                conn.close()
                return
        except Exception as exc:
            conn.send({"error": f"{type(exc).__module__}.{type(exc).__name__}: {str(exc)[:400]}"})


# -- parent -----------------------------------------------------------------------------------
@dataclass
class Result:
    contender: Contender
    version: str
    workload: str
    texts: int
    error: str | None = None
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)
    server_cpu: list[float] = field(default_factory=list)
    requests: list[dict[str, dict[str, int]]] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    max_in_flight: list[int] = field(default_factory=list)
    client: list[dict[str, int]] = field(default_factory=list)
    hfe: list[dict[str, Any]] = field(default_factory=list)
    warmup: dict[str, dict[str, int]] = field(default_factory=dict)
    malformed: str | None = None
    min_cosine: float = float("nan")
    disagreeing: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.seconds)

    @property
    def rate(self) -> float:
        return self.texts / statistics.median(self.seconds) if self.ok else float("nan")

    @property
    def cpu_per_1000(self) -> float:
        return statistics.median(self.cpu_seconds) / self.texts * 1000

    def median_of(self, key: str) -> float:
        return statistics.median(call.get(key, 0.0) for call in self.hfe) if self.hfe else 0.0


def _routes(routes: dict[str, dict[str, int]]) -> tuple[int, str, int]:
    """(requests, 'route count[/count xSTATUS]' by route, non-200 answers)."""
    total = sum(n for statuses in routes.values() for n in statuses.values())
    failed = sum(n for statuses in routes.values() for s, n in statuses.items() if s != "200")
    parts = []
    for route, statuses in sorted(routes.items()):
        ok = statuses.get("200", 0)
        others = "".join(f" +{n}x{s}" for s, n in sorted(statuses.items()) if s != "200")
        parts.append(f"{route} {ok}{others}")
    return total, ", ".join(parts), failed


def _normalized(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    normalized: npt.NDArray[np.float32] = vectors / np.maximum(norms, np.finfo(np.float32).tiny)
    return normalized


def check_agreement(results: list[Result], files: dict[int, str], reference: int) -> list[str]:
    """Cosine of each contender's normalized vectors with the reference client's, text by text."""
    head = f"{results[reference].workload} @ TEI {results[reference].version}"
    if not os.path.exists(files[reference]):
        return [f"  {head}: the reference client failed: nothing to compare"]
    base = _normalized(np.load(files[reference]))
    lines = []
    for slot, result in enumerate(results):
        if slot == reference or not result.ok:
            continue
        name = result.contender.name
        if result.malformed or not os.path.exists(files[slot]):
            result.disagreeing = result.texts
            lines.append(f"  {head}, {name}: {result.malformed or 'no vectors'} -> DISAGREES")
            continue
        vectors = np.load(files[slot])
        expected = base[: result.texts]
        if vectors.shape != expected.shape:
            result.disagreeing = result.texts
            lines.append(f"  {head}, {name}: shape {vectors.shape} != {expected.shape} -> DISAGREES")
            continue
        cosines = np.einsum("ij,ij->i", _normalized(vectors), expected)
        result.min_cosine = float(cosines.min())
        result.disagreeing = int((cosines < AGREEMENT).sum())
        verdict = "OK" if not result.disagreeing else "DISAGREES"
        lines.append(
            f"  {head}, {name}: min {cosines.min():.7f}, {result.disagreeing} of {len(cosines)} below "
            f"-> {verdict}"
        )
    return lines


@dataclass
class Floor:
    requests: int
    tokens: int
    seconds: float
    token_bound_s: float
    texts: int

    @property
    def rate(self) -> float:
        return self.texts / self.seconds


def compute_floor(n: int, tokens: int, slots: int, latency_ms: float, ms_per_token: float) -> Floor:
    requests = math.ceil(n / MAX_CLIENT_BATCH)
    seconds = (requests * latency_ms + tokens * ms_per_token) / 1000.0 / slots
    return Floor(requests, tokens, seconds, tokens * ms_per_token / 1000.0 / slots, n)


@dataclass
class Run:
    """One workload under one server version: its results, the server's truth and the floor."""

    version: str
    workload: str
    texts: list[str]
    truncated: int  # texts over max_input_length, by the server's /tokenize
    limit: int
    results: list[Result] = field(default_factory=list)
    floor: Floor | None = None
    agreement: list[str] = field(default_factory=list)

    @property
    def reference(self) -> Result:
        return next(r for r in self.results if r.contender.key == "ref")


def _one_line(text: str) -> str:
    return " ".join(text.split()).replace("|", "/")


@dataclass
class Worker:
    contender: Contender
    connection: Connection | None
    process: Any
    error: str | None = None
    warmed: bool = False  # its first call (on this server) is done


def start_workers(
    indices: list[int], url: str, corpora: dict[str, list[str]], extras_on: set[str]
) -> list[Worker]:
    """One spawned process per contender, started and loaded one after the other."""
    context = mp.get_context("spawn")
    workers: list[Worker] = []
    for index in indices:
        contender = CONTENDERS[index]
        own = {k: v for k, v in corpora.items() if contender.core or k in extras_on}
        parent_end, child_end = context.Pipe()
        process = context.Process(target=worker, args=(child_end, index, url, own), daemon=True)
        process.start()
        child_end.close()
        ready = parent_end.recv()
        if ready["error"]:
            workers.append(Worker(contender, None, process, _one_line(ready["error"])))
            print(f"failed  {contender.name}: {ready['error'][:200]}", flush=True)
            continue
        workers.append(Worker(contender, parent_end, process))
        origin = f" (hfe_core from {ready['hfe_core']})" if ready.get("hfe_core") else ""
        print(f"ready   {contender.name}{origin}", flush=True)
    return workers


def warm_up(server: ServerProcess, worker_: Worker, result: Result) -> None:
    """The contender's first call on this server (``WARMUP_TEXTS`` texts); the requests it sent are kept."""
    assert worker_.connection is not None
    server.reset_stats()
    worker_.connection.send(("warmup", result.workload))
    reply = worker_.connection.recv()
    result.warmup = server.requests()
    if reply["error"]:
        result.error = _one_line(f"{reply['error']} (warm-up)")
        print(f"failed  {result.contender.name}: {result.error[:300]}", flush=True)


def timed_call(server: ServerProcess, connection: Connection, result: Result, file: str | None) -> None:
    """One timed call of one contender, with the server's view of it."""
    server.reset_stats()
    server_cpu = server.cpu_seconds()
    connection.send(("run", (result.workload, file)))
    reply = connection.recv()
    server_cpu = server.cpu_seconds() - server_cpu
    stats = server.stats()
    routes = {r: s for r, s in stats["requests"].items() if r != STATS_ROUTE}
    name = f"{result.workload}@{result.version} {result.contender.name}"
    if reply["error"]:
        total, breakdown, failed = _routes(routes)
        result.error = _one_line(reply["error"]) + f" [the server saw: {breakdown}; {failed} non-200]"
        print(f"failed  {name}: {result.error[:300]}", flush=True)
        return
    result.requests.append(routes)
    result.seconds.append(reply["seconds"])
    result.cpu_seconds.append(reply["cpu_seconds"])
    result.server_cpu.append(server_cpu)
    result.tokens.append(int(stats["tokens_embedded"]))
    result.max_in_flight.append(int(stats["max_in_flight_requests"]))
    result.client.append(reply["client"])
    if "hfe" in reply:
        result.hfe.append(reply["hfe"])
    if reply.get("malformed"):
        result.malformed = reply["malformed"]
    print(
        f"run {len(result.seconds)}  {name}: {reply['seconds']:.2f} s "
        f"({result.texts / reply['seconds']:.0f} texts/s, client CPU {reply['cpu_seconds']:.2f} s, "
        f"server CPU {server_cpu:.2f} s, {sum(sum(s.values()) for s in routes.values())} requests)",
        flush=True,
    )


def wanted_calls(result: Result, args: argparse.Namespace) -> int:
    if not result.contender.core:
        return args.extra_repeats
    if result.seconds and statistics.median(result.seconds) < FAST_SECONDS:
        return max(args.repeats, args.fast_repeats)
    return args.repeats


def timed_rounds(
    server: ServerProcess,
    live: list[tuple[Worker, Result]],
    files: dict[int, str],
    args: argparse.Namespace,
    loads: list[float],
) -> None:
    """Rounds in rotating order until every contender has its calls (fast ones get more)."""
    rounds = max(args.repeats, args.fast_repeats, args.extra_repeats)
    for repeat in range(rounds):
        shift = repeat % len(live)
        for slot, (worker_, result) in [*enumerate(live)][shift:] + [*enumerate(live)][:shift]:
            if result.error or len(result.seconds) >= wanted_calls(result, args):
                continue
            assert worker_.connection is not None
            loads.append(os.getloadavg()[0])
            timed_call(server, worker_.connection, result, files[slot] if repeat == 0 else None)


def run_version(
    version: str,
    args: argparse.Namespace,
    corpora: dict[str, list[str]],
    indices: list[int],
    loads: list[float],
    profiles: list[dict[str, Any]],
) -> list[Run]:
    """Start the server of ``version``, then every workload with every contender that takes part."""
    extras_here = version == args.extras_version
    extras_on = set(args.extras_on.split(",")) if extras_here else set()
    server = ServerProcess(args.slots, args.latency_ms, args.ms_per_token, version=version)
    server.start()
    print(f"server TEI {version}: {server.url}", flush=True)
    runs: list[Run] = []
    workers: list[Worker] = []
    try:
        limit = int(server.info()["max_input_length"])
        chosen = [i for i in indices if CONTENDERS[i].core or extras_on]
        workers = start_workers(chosen, server.url, corpora, extras_on)
        for workload, texts in corpora.items():
            run = Run(version, workload, texts, server.truncated(texts, limit), limit)
            runs.append(run)
            live: list[tuple[Worker, Result]] = []
            for worker_ in workers:
                contender = worker_.contender
                if not (contender.core or workload in extras_on):
                    continue
                result = Result(contender, version, workload, min(contender.subset or len(texts), len(texts)))
                run.results.append(result)
                if worker_.error:
                    result.error = worker_.error
                    continue
                if not worker_.warmed:
                    warm_up(server, worker_, result)
                    worker_.warmed = not result.error
                if not result.error:
                    live.append((worker_, result))
            with tempfile.TemporaryDirectory(prefix="hfe-bench-tei-") as scratch:
                files = {slot: str(Path(scratch) / f"{slot}.npy") for slot in range(len(live))}
                timed_rounds(server, live, files, args, loads)
                ref_slot = next(slot for slot, (_, r) in enumerate(live) if r.contender.key == "ref")
                run.agreement = check_agreement([r for _, r in live], files, ref_slot)
            reference = run.reference
            if not reference.ok:
                raise RuntimeError(f"the reference client failed: {reference.error}")
            run.floor = compute_floor(
                len(texts), reference.tokens[0], args.slots, args.latency_ms, args.ms_per_token
            )
            if args.profile and version == args.versions[-1] and workload in args.profile_on:
                for worker_, result in live:
                    if result.contender.key in ("hfe_sync", "hfe_async") and not result.error:
                        assert worker_.connection is not None
                        label = f"{result.contender.name}, {workload} workload, TEI {version}"
                        worker_.connection.send(("profile", (workload, label, args.profile_texts)))
                        reply = worker_.connection.recv()
                        if reply["error"]:
                            print(f"profile failed: {label}: {reply['error']}", flush=True)
                        else:
                            profiles.append(reply)
                            print(reply["header"], *reply["markers"], sep="\n", flush=True)
    finally:
        for worker_ in workers:
            if worker_.connection is not None:
                try:
                    worker_.connection.send(("exit", None))
                except (BrokenPipeError, OSError):
                    pass
        server.stop()
        for worker_ in workers:
            worker_.process.join(timeout=30)
            if worker_.process.is_alive():
                worker_.process.terminate()
    return runs


# -- report -----------------------------------------------------------------------------------
def truncation_cell(result: Result, run: Run) -> str:
    """hfe's count against the server's, over every timed call."""
    if not result.contender.is_hfe:
        return f"server cuts {run.truncated}" if result.contender.key == "ref" else "-"
    if not result.hfe:
        return "-"
    counts = sorted({call["truncated"] for call in result.hfe})
    counted = all(call["counted"] for call in result.hfe)
    shown = "/".join(str(c) for c in counts)
    if not counted:
        return f"{shown} / {run.truncated}, **not counted**"
    exact = counts == [run.truncated]
    return f"{shown} / {run.truncated} {'exact' if exact else '**WRONG**'}"


def details(result: Result) -> str:
    c = result.contender
    notes = [c.note] if c.note else []
    if c.subset:
        notes.append(f"timed on the first {c.subset} texts only")
    rates = sorted(result.texts / s for s in result.seconds)
    notes.append(f"{len(rates)} calls, {rates[0]:.0f}-{rates[-1]:.0f} texts/s")
    _, _, failed = _routes(result.requests[0])
    if failed:
        notes.append(f"**{failed} non-200 answers per call at the server**")
    if result.warmup:
        notes.append(f"warm-up call ({WARMUP_TEXTS} texts, first use): {_routes(result.warmup)[1]}")
    if result.hfe:
        notes.append(
            f"before the first request (Embedder._prepare) {result.median_of('prepare'):.2f} s, of which "
            f"ClientTokenizer.spans {result.median_of('tokenizer'):.2f} s wall / "
            f"{result.median_of('tokenizer_cpu'):.2f} s CPU; answer decoding (_parse, summed over threads) "
            f"{result.median_of('parse'):.2f} s"
        )
    if result.client and result.client[0]:
        counted = result.client[0]
        notes.append(
            f"hfe counted {counted['requests']} attempts, {counted['retries']} retries, "
            f"{counted['overloaded']} 429s"
        )
    notes.append(f"max {statistics.median(result.max_in_flight):.0f} in flight at the server")
    notes.append(f"server CPU {statistics.median(result.server_cpu):.2f} s per call")
    if c.key != "ref":
        if result.disagreeing:
            why = result.malformed or f"{result.disagreeing} texts below cosine {AGREEMENT}"
            notes.append(f"**VECTORS DISAGREE**: {why}")
        else:
            notes.append(f"vectors agree (min cosine {result.min_cosine:.6f})")
    return "; ".join(notes)


def verdict_lines(runs: list[Run]) -> list[str]:
    lines = []
    for run in runs:
        ref = run.reference
        parts = []
        for result in run.results:
            if result.contender.is_hfe:
                ratio = f"{result.rate / ref.rate:.2f}x" if result.ok else "failed"
                parts.append(f"{result.contender.key} {ratio}")
        below = [
            r.contender.key for r in run.results if r.contender.is_hfe and r.ok and r.rate < 0.9 * ref.rate
        ]
        flag = f" (**under 0.9x: {', '.join(below)}**)" if below else ""
        lines.append(f"* {run.workload} @ TEI {run.version}: " + ", ".join(parts) + flag)
    return lines


def render(
    runs: list[Run],
    args: argparse.Namespace,
    loads: list[float],
    profiles: list[dict[str, Any]],
    client_ms: float,
    revision: str,
    minutes: float,
) -> str:
    lines = [
        "# TEI-mode throughput (hfe vs. a plain async client and the other TEI clients)",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"1-minute load average during the timed calls {min(loads):.2f}-{max(loads):.2f}. The server "
        f"and the client share these CPUs (and other work ran beside them). hfe: {revision}. "
        f"The whole run took {minutes:.1f} min.",
        "",
        "Server: `python -m tests.tei_server` in its own process, "
        f"TEI {' and '.join(args.versions)} semantics "
        f"(one server per version), `vectors=hash`, {args.slots} inference slots, service time "
        f"{args.latency_ms:g} ms per request + {args.ms_per_token:g} ms per token, TEI default limits "
        "(max_client_batch_size 32, max_batch_tokens 16384, max_concurrent_requests 512, payload 2 MB), "
        f"max_input_length {runs[0].limit}.",
        "",
        "Workloads (seeded; 'over the limit' is the server's own `/tokenize`, special tokens included):",
        "",
    ]
    seen = set()
    for run in runs:
        if run.workload in seen:
            continue
        seen.add(run.workload)
        lines.append(
            f"* `{run.workload}` ({WORKLOADS[run.workload].words}): "
            + workload_summary(run.texts, run.truncated, run.limit)
        )
    lines += [
        "",
        "Floors, `(requests x latency + tokens x ms/token) / slots` (tokens counted by the server):",
        "",
    ]
    for run in runs:
        assert run.floor is not None
        f = run.floor
        lines.append(
            f"* {run.workload} @ TEI {run.version}: ({f.requests} x {args.latency_ms:g} ms + "
            f"{f.tokens} tokens x "
            f"{args.ms_per_token:g} ms) / {args.slots} = {f.seconds:.2f} s = **{f.rate:.0f} texts/s** "
            f"(token-only bound {f.texts / f.token_bound_s:.0f} texts/s)"
        )
    lines += [
        "",
        f"texts/s: median of {args.repeats} timed calls ({args.fast_repeats} when a call takes under "
        f"{FAST_SECONDS:g} s; {args.extra_repeats} for the extra clients) after one warm-up call per "
        "contender and server, contenders one "
        "at a time in rotating order, each in its own process. x reference / x floor: that median over the "
        "reference client's / the floor's. Client CPU: `time.process_time()` of the contender's process (all "
        "threads) per 1000 vectors, median. Requests: what the server received during the first timed "
        "call, by "
        "route (`+NxSTATUS` for other answers). Truncated: hfe's `last_stats.truncated` in every timed call "
        "against the server's `/tokenize` count ('exact' also means `truncation_counted` was true). "
        "The reference keeps 4 requests in flight, one per slot; the server batches inputs across "
        "requests (up to 16384 padded tokens), so 4 requests of 100+-token texts fill 2-3 batches "
        "and slots idle: hence its low x floor on `mixed` and `long`, and why hfe (8 in flight) passes it.",
        "",
        "| workload | TEI | contender | texts/s | x reference | x floor | client CPU s / 1000 vectors "
        "| requests (one call) | truncated: hfe / server |",
        "|---|---|---|---:|---:|---:|---:|---|---|",
    ]
    for run in runs:
        ref = run.reference
        assert run.floor is not None
        for result in run.results:
            c = result.contender
            head = f"| {run.workload} | {run.version} | {c.name} |"
            if not result.ok:
                lines.append(f"{head} failed | - | - | - | - | see below |")
                continue
            requests = _routes(result.requests[0])[1]
            lines.append(
                f"{head} {result.rate:.0f} | {result.rate / ref.rate:.2f} "
                f"| {result.rate / run.floor.rate:.2f} "
                f"| {result.cpu_per_1000:.3f} | {requests} | {truncation_cell(result, run)} |"
            )
    lines += ["", "hfe's throughput over the reference client's:", "", *verdict_lines(runs), ""]
    lines += ["Details:", "", "| workload | TEI | contender | notes |", "|---|---|---|---|"]
    for run in runs:
        for result in run.results:
            text = details(result) if result.ok else f"**failed: {result.error}**"
            lines.append(f"| {run.workload} | {run.version} | {result.contender.name} | {text} |")
    lines += [
        "",
        f"Building one `httpx.Client()` (what LlamaIndex's TEI class does per request) costs "
        f"{client_ms:.1f} ms of CPU on this machine (it loads the CA bundle into a new SSL context).",
        "",
    ]
    if profiles:
        lines += [
            "Where hfe's client CPU goes (cProfile, thread CPU clock, one extra call each; full profile in "
            "`tei_profile.txt`):",
            "",
            "```",
        ]
        for profile in profiles:
            lines += [profile["header"], *profile["markers"], ""]
        lines += ["```", ""]
    lines += [
        "Agreement with the reference client (cosine of normalized vectors, threshold 0.9999):",
        "",
        "```",
    ]
    for run in runs:
        lines += run.agreement
    lines += ["```"]
    return "\n".join(lines) + "\n"


def snapshot_hfe(folder: Path) -> str:
    """Copy ``hfe_core`` as it is now into ``folder``, first on ``sys.path`` (spawned workers inherit it).

    A run takes minutes; in a checkout that is being worked on, workers started later would
    otherwise import another hfe. Returns a short digest of the copied sources.
    """
    shutil.copytree(ROOT / "hfe_core", folder / "hfe_core", ignore=shutil.ignore_patterns("__pycache__"))
    digest = hashlib.sha256()
    for path in sorted((folder / "hfe_core").rglob("*.py")):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    sys.path.insert(0, str(folder))
    return f"sha256 {digest.hexdigest()[:12]} of hfe_core/**/*.py"


def httpx_client_cpu_ms(rounds: int = 20) -> float:
    """CPU milliseconds to build and close one ``httpx.Client()`` with its defaults."""
    tick = time.process_time()
    for _ in range(rounds):
        httpx.Client().close()
    return (time.process_time() - tick) / rounds * 1000


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scale", type=float, default=1.0, help="workload sizes x this (default 1)")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="default corpus,mixed,long")
    parser.add_argument("--versions", default=",".join(VERSIONS), help="TEI versions (default 1.8.3,1.9.3)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per contender (default 3)")
    parser.add_argument(
        "--fast-repeats",
        type=int,
        default=4,
        help=f"timed calls for contenders whose calls take under {FAST_SECONDS:g} s (default 4)",
    )
    parser.add_argument(
        "--extra-repeats", type=int, default=1, help="timed calls of the extra clients (default 1)"
    )
    parser.add_argument(
        "--extras-on", default="corpus", help="workloads the extra clients run on ('' = none)"
    )
    parser.add_argument("--extras-version", default="1.9.3", help="the server version they run on")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--slots", type=int, default=SLOTS)
    parser.add_argument("--latency-ms", type=float, default=LATENCY_MS)
    parser.add_argument("--ms-per-token", type=float, default=MS_PER_TOKEN)
    parser.add_argument("--only", default="", help="contender keys to run (the reference always runs)")
    parser.add_argument("--no-profile", dest="profile", action="store_false", help="skip the cProfile calls")
    parser.add_argument("--profile-texts", type=int, default=PROFILE_TEXTS, help="texts per profiled call")
    parser.add_argument("--profile-on", default="mixed,long", help="workloads profiled (default mixed,long)")
    parser.add_argument("--out", type=Path, default=RESULTS / "tei.md")
    args = parser.parse_args(argv)
    args.versions = [v.strip() for v in args.versions.split(",") if v.strip()]
    args.profile_on = {w.strip() for w in args.profile_on.split(",") if w.strip()}
    args.extras_on = ",".join(w.strip() for w in args.extras_on.split(",") if w.strip())
    if args.slots != SLOTS:
        print(f"note: the reference client keeps {SLOTS} requests in flight (SLOTS), not --slots")

    started = time.perf_counter()
    corpora = {}
    for key in (w.strip() for w in args.workloads.split(",") if w.strip()):
        corpora[key] = WORKLOADS[key].texts(args.scale, args.seed)
    indices = list(range(len(CONTENDERS)))
    if args.only:
        keys = {part.strip() for part in args.only.split(",") if part.strip()}
        indices = [i for i, c in enumerate(CONTENDERS) if c.key == "ref" or c.key in keys]
    revision = hfe_revision()
    loads: list[float] = []
    profiles: list[dict[str, Any]] = []
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="hfe-bench-tei-src-") as source:
        revision += f" (snapshot {snapshot_hfe(Path(source))} taken at the start; every worker imports it)"
        print(f"hfe: {revision}", flush=True)
        for version in args.versions:
            runs += run_version(version, args, corpora, indices, loads, profiles)
    minutes = (time.perf_counter() - started) / 60

    client_ms = httpx_client_cpu_ms()
    table = render(runs, args, loads, profiles, client_ms, revision, minutes)
    if profiles:
        profile_path = args.out.with_name("tei_profile.txt")
        profile_path.parent.mkdir(parents=True, exist_ok=True)
        profile_path.write_text("\n\n".join(p["text"] for p in profiles))
        print(f"profile written to {profile_path}")
    publish(args.out, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
