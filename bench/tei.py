"""TEI-mode throughput benchmark: hfe's ``tei`` mode against the other TEI clients, one server.

What it measures
    Texts per second, and the client's own CPU time, for embedding one fixed, seeded,
    mixed-length corpus (4096 texts) through a TEI-protocol server with a known service
    time, with:

    1. ``hfe_core.Embedder(mode="tei", url=URL).embed_documents`` (defaults);
    2. ``await Embedder(mode="tei", url=URL).aembed_documents`` (defaults);
    3. ``Embedder(mode="tei", url=URL, route="openai").embed_documents`` (base64 over ``/v1``);
    4. LlamaIndex ``TextEmbeddingsInference.get_text_embedding_batch`` with its default
       ``embed_batch_size`` (10) and with 32, and ``aget_text_embedding_batch`` with both;
    5. ``langchain_openai.OpenAIEmbeddings(base_url=URL + "/v1", check_embedding_ctx_length=False,
       chunk_size=32).embed_documents``;
    6. the ``openai`` client, one text per call, as mem0 does (on a 256-text subset);
    7. ``langchain_huggingface.HuggingFaceEndpointEmbeddings(model=URL)`` (it refuses URLs: the
       error is recorded, nothing is timed);
    8. a minimal hand-written reference client: ``httpx.AsyncClient``, batches of exactly
       ``max_client_batch_size`` (32) in corpus order, as many requests in flight as the server
       has inference slots, orjson both ways, no retries. On a small machine where server and
       client share the CPUs this is the practical ceiling;
    9. a what-if row: hfe sync with the change the profile suggests (no ``/tokenize`` pass for
       ``truncation="truncate"``, which the server does anyway) monkeypatched into its worker
       process only.

How
    The server is the repository's TEI-protocol test server (``tests/tei_server``) in its own
    process (``python -m tests.tei_server``), TEI 1.9.3 semantics and TEI's default limits
    (32 inputs per request, 16384 batch tokens, 512 permits, 2 MB payloads), ``vectors="hash"``
    (deterministic vectors, so no model competes for the CPUs), ``SLOTS`` inference slots, and a
    simulated service time: ``LATENCY_MS`` per request plus ``MS_PER_TOKEN`` per computed token
    (the latter keeps a slot busy). Its ``/__stats`` route gives the requests and statuses of
    every timed call; its CPU time is read from ``/proc``.

    Every contender lives in its own ``spawn`` subprocess (client CPU = ``time.process_time()``
    of that process, all its threads), is warmed up on ``WARMUP_TEXTS`` texts, then timed on the
    whole corpus ``--repeats`` times (``--fast-repeats`` times when a call takes under
    ``FAST_SECONDS``); the contenders take turns in rotating order, one at a time, and the table
    reports the median. Vectors of the first timed call are compared with the
    reference client's, text by text (cosine of normalized vectors >= 0.9999).

    The theoretical floor is what the server needs at the least: ``ceil(n / 32)`` requests, each
    holding one of ``SLOTS`` slots for ``LATENCY_MS`` plus its tokens x ``MS_PER_TOKEN``:
    ``(requests x LATENCY_MS + tokens x MS_PER_TOKEN) / SLOTS`` (tokens counted by the server).
    The test server holds a slot only for the token time, not for the fixed latency, so a client
    with more requests in flight than slots can overlap the latencies and beat that floor
    slightly; the pure token bound ``tokens x MS_PER_TOKEN / SLOTS`` is printed too.

    One more call of hfe sync and of hfe async times hfe's planning pass (``Embedder._prepare``,
    which includes the ``/tokenize`` requests) and its answer decoding (``TEIBackend._parse``).
    When hfe (sync, defaults) reaches less than 90% of the reference client's throughput, or
    with ``--profile``, one extra call of hfe sync and of hfe async runs under cProfile (every
    thread of the sync call is profiled) and the top functions are written to
    ``bench/results/tei_profile.txt``.

Run
    ``HF_HUB_OFFLINE=1 .venv/bin/python bench/tei.py`` from the repository root (``--n``,
    ``--repeats``, ``--fast-repeats``, ``--only hfe_sync,llama32`` (keys in ``CONTENDERS``),
    ``--profile``, ``--slots``, ``--latency-ms``, ``--ms-per-token``, ``--max-batch-requests``).
    The table is printed and written to ``bench/results/tei.md``. Needs the ``bench`` extra plus
    ``llama-index-embeddings-text-embeddings-inference``, ``langchain-openai``, ``openai`` and
    ``orjson``; a contender whose package is missing is reported as failed.
    About 6-7 minutes on 2 cores, most of it in the sequential clients.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import math
import multiprocessing as mp
import os
import platform
import pstats
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
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
SLOTS = 4
FAST_SECONDS = 10.0  # contenders faster than this per call get --fast-repeats timed calls
LATENCY_MS = 5.0
MS_PER_TOKEN = 0.08
REFERENCE = "reference client (httpx async + orjson, 32/request, 4 in flight)"


# -- corpus -----------------------------------------------------------------------------------
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


def corpus_summary(texts: list[str]) -> str:
    words = [len(text.split()) for text in texts]
    return (
        f"{len(texts)} seeded texts ({sum(w <= 30 for w in words)} sentences of 4-30 words, "
        f"{sum(60 <= w <= 180 for w in words)} paragraphs of 60-180 words, "
        f"{sum(w >= 300 for w in words)} long texts of 300-700 words, over the 256-token limit); "
        f"mean {statistics.fmean(words):.1f} words, {sum(len(t) for t in texts) / 1e6:.2f} M characters"
    )


# -- contenders (each built inside its own worker process) ------------------------------------
Embed = Callable[[list[str]], Any]


@dataclass
class Loaded:
    """A ready contender: its timed call, and an object that may carry client-side counters."""

    embed: Embed
    handle: Any = None
    loop: asyncio.AbstractEventLoop | None = None


def _on_loop(make: Callable[[list[str]], Any]) -> tuple[Embed, asyncio.AbstractEventLoop]:
    """Run an async contender on one persistent event loop (clients are cached per loop)."""
    loop = asyncio.new_event_loop()

    def embed(texts: list[str]) -> Any:
        return loop.run_until_complete(make(texts))

    return embed, loop


def _load_hfe_sync(url: str) -> Loaded:
    from hfe_core import Embedder

    embedder = Embedder(mode="tei", url=url)
    return Loaded(embedder.embed_documents, embedder)


def _load_hfe_async(url: str) -> Loaded:
    from hfe_core import Embedder

    embedder = Embedder(mode="tei", url=url)
    embed, loop = _on_loop(embedder.aembed_documents)
    return Loaded(embed, embedder, loop)


def _load_hfe_openai(url: str) -> Loaded:
    from hfe_core import Embedder

    embedder = Embedder(mode="tei", url=url, route="openai")
    return Loaded(embedder.embed_documents, embedder)


def _load_hfe_patched(url: str) -> Loaded:
    """hfe sync with the change the profile suggests, patched in this worker process only.

    ``truncation="truncate"`` against a server that truncates by itself (hfe sends
    ``truncate: true``): no ``/tokenize`` pass before the first ``/embed``; in the shipped code
    that pass only finds out which inputs will be cut, for the statistics and the INFO line.
    """
    import hfe_core.embedder as embedder_module
    from hfe_core import Embedder
    from hfe_core.truncation import TruncationPlan

    original = embedder_module.plan_truncation

    def plan_truncation(texts: Sequence[str], *, policy: str, **kwargs: Any) -> Any:
        if policy == "truncate":
            return TruncationPlan(list(texts), list(range(len(texts))), [0] * len(texts))
        return original(texts, policy=policy, **kwargs)  # type: ignore[arg-type]

    embedder_module.plan_truncation = plan_truncation  # type: ignore[assignment]
    embedder = Embedder(mode="tei", url=url)
    return Loaded(embedder.embed_documents, embedder)


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
    subset: int | None = None  # texts per timed call; None = the whole corpus
    is_hfe: bool = False


CONTENDERS: list[Contender] = [
    Contender("ref", REFERENCE, _load_reference, "no retries; the practical ceiling"),
    Contender("hfe_sync", "hfe sync (defaults)", _load_hfe_sync, "max_concurrency=8", is_hfe=True),
    Contender("hfe_async", "hfe async (defaults)", _load_hfe_async, "max_concurrency=8", is_hfe=True),
    Contender(
        "hfe_openai",
        "hfe route='openai' sync (base64 /v1)",
        _load_hfe_openai,
        "openai client underneath, max_concurrency=8",
        is_hfe=True,
    ),
    Contender(
        "hfe_patched",
        "what-if: hfe sync without the /tokenize pass (patched in-process, not shipped)",
        _load_hfe_patched,
        "max_concurrency=8; patched: plan_truncation returns the plan unchanged for policy 'truncate', "
        "so no /tokenize requests",
        is_hfe=True,
    ),
    Contender(
        "llama10",
        "LlamaIndex TextEmbeddingsInference (default embed_batch_size=10) sync",
        _load_llama_default,
        "sequential; a new httpx.Client (new connection, new SSL context) per request",
    ),
    Contender(
        "llama32",
        "LlamaIndex TextEmbeddingsInference embed_batch_size=32 sync",
        _load_llama_32,
        "sequential; a new httpx.Client (new connection, new SSL context) per request",
    ),
    Contender(
        "llama10_async",
        "LlamaIndex TextEmbeddingsInference (default 10) async",
        _load_llama_default_async,
        "all requests at once (asyncio.gather, no bound), a new AsyncClient per request",
    ),
    Contender(
        "llama32_async",
        "LlamaIndex TextEmbeddingsInference embed_batch_size=32 async",
        _load_llama_32_async,
        "all requests at once (asyncio.gather, no bound), a new AsyncClient per request",
    ),
    Contender(
        "lc_openai",
        "langchain_openai.OpenAIEmbeddings chunk_size=32",
        _load_langchain_openai,
        "check_embedding_ctx_length=False; sequential",
    ),
    Contender(
        "openai_loop",
        f"openai client, one text per call (mem0 style), {SUBSET}-text subset",
        _load_openai_per_text,
        "sequential",
        subset=SUBSET,
    ),
    Contender(
        "lc_hf_endpoint",
        "langchain_huggingface.HuggingFaceEndpointEmbeddings(model=URL)",
        _load_langchain_hf_endpoint,
        "",
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


def _phase_times(embed: Embed, handle: Any, texts: list[str]) -> str:
    """One call without cProfile, timing hfe's planning pass and its answer decoding."""
    backend = handle.backend
    spent = {"prepare": 0.0, "parse": 0.0}
    lock = threading.Lock()

    def timed(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            tick = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                with lock:
                    spent[name] += time.perf_counter() - tick

        return wrapper

    handle._prepare = timed("prepare", handle._prepare)
    backend._parse = timed("parse", backend._parse)
    tick, cpu = time.perf_counter(), time.process_time()
    try:
        embed(texts)
    finally:
        del handle._prepare, backend._parse
    seconds, cpu = time.perf_counter() - tick, time.process_time() - cpu
    return (
        f"one call without the profiler: {seconds:.2f} s wall, {cpu:.2f} s process CPU; "
        f"Embedder._prepare (validation + truncation plan, incl. the /tokenize pass, before the first "
        f"/embed) {spent['prepare']:.2f} s wall; TEIBackend._parse (json decode + np.asarray), summed "
        f"over all requests: {spent['parse']:.2f} s\n"
    )


def _profile_threads(embed: Embed, handle: Any, texts: list[str]) -> str:
    """cProfile one call in every thread: the calling thread, and each backend.embed_batch call."""
    profiles: list[cProfile.Profile] = []
    lock = threading.Lock()
    backend = getattr(handle, "backend", None)
    original = getattr(backend, "embed_batch", None)
    if backend is not None and original is not None:

        def profiled(*args: Any, **kwargs: Any) -> Any:
            if threading.current_thread() is threading.main_thread():
                return original(*args, **kwargs)
            profile = cProfile.Profile()
            with lock:
                profiles.append(profile)
            profile.enable()
            try:
                return original(*args, **kwargs)
            finally:
                profile.disable()

        backend.embed_batch = profiled
    main = cProfile.Profile()
    cpu = time.process_time()
    tick = time.perf_counter()
    main.enable()
    try:
        embed(texts)
    finally:
        main.disable()
        if backend is not None and original is not None:
            del backend.embed_batch  # back to the class's method
    seconds, cpu = time.perf_counter() - tick, time.process_time() - cpu
    stream = io.StringIO()
    stream.write(
        f"\none call under cProfile, {len(texts)} texts: {seconds:.2f} s wall, {cpu:.2f} s process CPU "
        f"(profiling slows it down); {len(profiles)} worker-thread calls profiled\n"
    )
    stats = pstats.Stats(main, stream=stream)
    for profile in profiles:
        stats.add(profile)
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(40)
    return stream.getvalue()


def worker(conn: Connection, index: int, url: str, texts: list[str]) -> None:
    """Serve one contender: load, then answer "warmup", "run", "profile" and "exit"."""
    contender = CONTENDERS[index]
    try:
        loaded = contender.load(url)
    except BaseException as exc:  # reported in the table
        conn.send({"error": f"{type(exc).__module__}.{type(exc).__name__}: {exc}"})
        conn.close()
        return
    conn.send({"error": None})
    corpus = texts[: contender.subset] if contender.subset else texts
    while True:
        command, argument = conn.recv()
        try:
            if command == "warmup":
                loaded.embed(texts[: 32 if contender.subset else WARMUP_TEXTS])
                conn.send({"error": None})
            elif command == "run":
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
                if argument:  # keep this call's vectors for the agreement check
                    try:
                        array = np.asarray(vectors, dtype=np.float32)
                        np.save(argument, array)
                    except (ValueError, TypeError) as exc:
                        reply["malformed"] = f"output is not a list of vectors: {type(exc).__name__}: {exc}"[
                            :300
                        ]
                conn.send(reply)
            elif command == "profile":
                conn.send({"error": None, "text": _profile_threads(loaded.embed, loaded.handle, corpus)})
            elif command == "phases":
                conn.send({"error": None, "text": _phase_times(loaded.embed, loaded.handle, corpus)})
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
    error: str | None = None
    texts: int = 0
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)
    server_cpu: list[float] = field(default_factory=list)
    requests: list[dict[str, dict[str, int]]] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    max_in_flight: list[int] = field(default_factory=list)
    client: list[dict[str, int]] = field(default_factory=list)
    malformed: str | None = None
    min_cosine: float = float("nan")
    disagreeing: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.seconds)

    @property
    def rate(self) -> float:
        return self.texts / statistics.median(self.seconds) if self.ok else float("nan")

    def request_summary(self, call: int = 0) -> tuple[int, str, int]:
        """(requests, breakdown, non-200 answers) of one call (default: the first timed call)."""
        if not self.requests:
            return 0, "", 0
        routes = self.requests[call]
        total = sum(n for statuses in routes.values() for n in statuses.values())
        failed = sum(n for statuses in routes.values() for s, n in statuses.items() if s != "200")
        parts = [
            f"{route} " + "/".join(f"{n}x{s}" for s, n in sorted(statuses.items()))
            for route, statuses in sorted(routes.items())
        ]
        return total, ", ".join(parts), failed


def _normalized(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    normalized: npt.NDArray[np.float32] = vectors / np.maximum(norms, np.finfo(np.float32).tiny)
    return normalized


def check_agreement(results: list[Result], files: dict[int, str], reference: int) -> list[str]:
    """Cosine of each contender's normalized vectors with the reference client's, text by text."""
    lines = [f"Agreement with the reference client (cosine of normalized vectors, threshold {AGREEMENT}):"]
    if not os.path.exists(files[reference]):
        return [*lines, "  the reference client failed: nothing to compare"]
    base = _normalized(np.load(files[reference]))
    for slot, result in enumerate(results):
        if slot == reference or not result.ok:
            continue
        name = result.contender.name
        if result.malformed or not os.path.exists(files[slot]):
            result.disagreeing = result.texts
            lines.append(f"  {name}: {result.malformed or 'no vectors'} -> DISAGREES")
            continue
        vectors = np.load(files[slot])
        expected = base[: result.texts]
        if vectors.shape != expected.shape:
            result.disagreeing = result.texts
            lines.append(f"  {name}: shape {vectors.shape} != {expected.shape} -> DISAGREES")
            continue
        cosines = np.einsum("ij,ij->i", _normalized(vectors), expected)
        result.min_cosine = float(cosines.min())
        result.disagreeing = int((cosines < AGREEMENT).sum())
        verdict = "OK" if not result.disagreeing else "DISAGREES"
        lines.append(
            f"  {name}: min {cosines.min():.7f}, {result.disagreeing} of {len(cosines)} below -> {verdict}"
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


def verdict_lines(results: list[Result], reference: Result) -> tuple[list[str], float]:
    """Whether hfe (defaults) reaches 90% of the reference and beats every peer that succeeds."""
    lines: list[str] = []
    share = float("nan")
    peers = [
        r for r in results if r.ok and not r.disagreeing and not r.contender.is_hfe and r is not reference
    ]
    for key in ("hfe_sync", "hfe_async"):
        hfe = next((r for r in results if r.contender.key == key and r.ok), None)
        if hfe is None:
            continue
        ratio = hfe.rate / reference.rate
        if key == "hfe_sync":
            share = ratio
        faster = [f"{r.contender.name} ({r.rate:.0f} texts/s)" for r in peers if r.rate >= hfe.rate]
        against = (
            "beats every peer that succeeds" if not faster else "is not faster than " + ", ".join(faster)
        )
        lines.append(
            f"**{hfe.contender.name}: {ratio:.0%} of the reference client's throughput** "
            f"({'>=' if ratio >= 0.9 else '<'} 90%), and {against}."
        )
    return lines, share


def render(
    results: list[Result],
    reference: Result,
    floor: Floor,
    args: argparse.Namespace,
    texts: list[str],
    agreement: list[str],
    verdict: list[str],
    loads: list[float],
    phases: str,
    client_ms: float,
    revision: str,
) -> str:
    ref_rate = reference.rate
    lines = [
        "# TEI-mode throughput (hfe vs. other TEI clients)",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"1-minute load average during the timed calls {min(loads):.2f}-{max(loads):.2f}. The server "
        f"and the client share these CPUs. hfe: {revision} (read when the workers started).",
        "",
        f"Server: `python -m tests.tei_server` in its own process, TEI 1.9.3 semantics, "
        f"`vectors=hash`, {args.slots} inference slots, service time {args.latency_ms:g} ms per request + "
        f"{args.ms_per_token:g} ms per token, TEI default limits (max_client_batch_size 32, "
        "max_batch_tokens 16384, max_concurrent_requests 512, payload 2 MB).",
        "",
        f"Corpus: {corpus_summary(texts)}; the server counted {floor.tokens} tokens for it (special "
        "tokens included, long texts truncated to 256).",
        "",
        f"Theoretical floor: {floor.requests} requests x service time / {args.slots} slots = "
        f"({floor.requests} x {args.latency_ms:g} ms + {floor.tokens} tokens x {args.ms_per_token:g} ms) / "
        f"{args.slots} = **{floor.seconds:.2f} s = {floor.rate:.0f} texts/s**. (The test server holds a "
        "slot for the token time only, so clients with more requests in flight than slots can overlap "
        f"the per-request latency; the token-only bound is {floor.token_bound_s:.2f} s = "
        f"{floor.texts / floor.token_bound_s:.0f} texts/s.)",
        "",
        f"texts/s: median of {args.repeats} timed calls ({args.fast_repeats} for contenders whose calls take "
        f"under {FAST_SECONDS:g} s) after a warm-up call, contenders one at a time in rotating order, each "
        "in its own process. Client CPU: `time.process_time()` of the contender's "
        "process (all threads) per 1000 vectors, median. Requests: what the server received for one "
        "call (first timed call; the stats route excluded), by route and status.",
        "",
        "| contender | texts/s | ratio to reference | ratio to floor | client CPU s / 1000 vectors "
        "| requests sent | notes |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for result in results:
        c = result.contender
        if not result.ok:
            lines.append(f"| {c.name} | failed | - | - | - | - | **{result.error}** |")
            continue
        total, breakdown, failed = result.request_summary()
        rates = sorted(result.texts / s for s in result.seconds)
        cpu = statistics.median(result.cpu_seconds) / result.texts * 1000
        server_cpu = statistics.median(result.server_cpu)
        notes = [c.note] if c.note else []
        if c.subset:
            notes.append(f"timed on the first {c.subset} texts only")
        notes.append(f"{len(rates)} calls, {rates[0]:.0f}-{rates[-1]:.0f} texts/s")
        notes.append(breakdown)
        if failed:
            notes.append(f"**{failed} non-200 answers per call at the server**")
        if result.client and result.client[0]:
            counted = result.client[0]
            notes.append(
                f"hfe counted {counted['requests']} attempts, {counted['retries']} retries, "
                f"{counted['overloaded']} 429s"
            )
        notes.append(f"max {statistics.median(result.max_in_flight):.0f} requests in flight at the server")
        notes.append(f"server CPU {server_cpu:.2f} s per call")
        if result is not reference:
            if result.disagreeing:
                why = result.malformed or f"{result.disagreeing} texts below cosine {AGREEMENT}"
                notes.append(f"**VECTORS DISAGREE**: {why}")
            else:
                notes.append(f"vectors agree (min cosine {result.min_cosine:.6f})")
        ratios = f"{result.rate / ref_rate:.2f} | {result.rate / floor.rate:.2f}"
        lines.append(
            f"| {c.name} | {result.rate:.0f} | {ratios} | {cpu:.3f} | {total} | {'; '.join(notes)} |"
        )
    lines += ["", *verdict, ""]
    lines += [
        f"Building one `httpx.Client()` (what LlamaIndex's TEI class does per request) costs "
        f"{client_ms:.1f} ms of CPU on this machine (it loads the CA bundle into a new SSL context).",
        "",
    ]
    if phases:
        lines += [
            "Where hfe's time goes (one more call each, hfe's own methods timed):",
            "",
            "```",
            phases,
            "```",
            "",
        ]
    lines += ["```", *agreement, "```"]
    return "\n".join(lines) + "\n"


def httpx_client_cpu_ms(rounds: int = 20) -> float:
    """CPU milliseconds to build and close one ``httpx.Client()`` with its defaults."""
    tick = time.process_time()
    for _ in range(rounds):
        httpx.Client().close()
    return (time.process_time() - tick) / rounds * 1000


def _one_line(text: str) -> str:
    return " ".join(text.split()).replace("|", "/")


def start_workers(
    chosen: list[int], url: str, texts: list[str]
) -> tuple[list[Result], dict[int, Connection], list[Any]]:
    """One spawned process per contender, started, loaded and warmed up one after the other."""
    context = mp.get_context("spawn")
    results: list[Result] = []
    connections: dict[int, Connection] = {}
    processes: list[Any] = []
    for slot, index in enumerate(chosen):
        contender = CONTENDERS[index]
        result = Result(contender, texts=contender.subset or len(texts))
        results.append(result)
        parent_end, child_end = context.Pipe()
        process = context.Process(target=worker, args=(child_end, index, url, texts), daemon=True)
        process.start()
        child_end.close()
        processes.append(process)
        ready = parent_end.recv()
        if ready["error"]:
            result.error = _one_line(ready["error"])
            print(f"failed  {contender.name}: {result.error}", flush=True)
            continue
        parent_end.send(("warmup", None))
        warm = parent_end.recv()
        if warm["error"]:
            result.error = _one_line(f"{warm['error']} (warm-up)")
            print(f"failed  {contender.name}: {result.error}", flush=True)
            parent_end.send(("exit", None))
            continue
        connections[slot] = parent_end
        print(f"ready   {contender.name}", flush=True)
    return results, connections, processes


def timed_call(server: ServerProcess, connection: Connection, result: Result, file: str | None) -> None:
    """One timed call of one contender, with the server's view of it."""
    server.reset_stats()
    server_cpu = server.cpu_seconds()
    connection.send(("run", file))
    reply = connection.recv()
    server_cpu = server.cpu_seconds() - server_cpu
    stats = server.stats()
    routes = {r: s for r, s in stats["requests"].items() if r != STATS_ROUTE}
    result.requests.append(routes)
    name = result.contender.name
    if reply["error"]:
        result.error = _one_line(reply["error"])
        _, breakdown, failed = result.request_summary(-1)
        result.error += f" [the server saw: {breakdown}; {failed} non-200]"
        print(f"failed  {name}: {result.error}", flush=True)
        return
    result.seconds.append(reply["seconds"])
    result.cpu_seconds.append(reply["cpu_seconds"])
    result.server_cpu.append(server_cpu)
    result.tokens.append(int(stats["tokens_embedded"]))
    result.max_in_flight.append(int(stats["max_in_flight_requests"]))
    result.client.append(reply["client"])
    if reply.get("malformed"):
        result.malformed = reply["malformed"]
    print(
        f"run {len(result.seconds)}  {name}: {reply['seconds']:.2f} s "
        f"({result.texts / reply['seconds']:.0f} texts/s, client CPU {reply['cpu_seconds']:.2f} s, "
        f"server CPU {server_cpu:.2f} s, {sum(sum(s.values()) for s in routes.values())} requests)",
        flush=True,
    )


def timed_rounds(
    server: ServerProcess,
    results: list[Result],
    connections: dict[int, Connection],
    files: dict[int, str],
    args: argparse.Namespace,
) -> list[float]:
    """``repeats`` rounds in rotating order; then more rounds for the fast contenders only."""
    loads: list[float] = []
    live = sorted(connections)
    for repeat in range(max(args.repeats, args.fast_repeats)):
        shift = repeat % len(live)
        for slot in [*live[shift:], *live[:shift]]:
            result = results[slot]
            if result.error:
                continue
            if repeat >= args.repeats and statistics.median(result.seconds) > FAST_SECONDS:
                continue
            loads.append(os.getloadavg()[0])
            timed_call(server, connections[slot], result, files[slot] if repeat == 0 else None)
    return loads


def ask_hfe(results: list[Result], connections: dict[int, Connection], command: str) -> str:
    """Send ``command`` ("phases" or "profile") to the hfe sync and async workers; their answers."""
    parts: list[str] = []
    for slot, result in enumerate(results):
        if result.contender.key in ("hfe_sync", "hfe_async") and result.ok:
            connections[slot].send((command, None))
            reply = connections[slot].recv()
            parts.append(f"{result.contender.name}: {(reply.get('text') or reply['error']).strip()}")
    return "\n".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=4096, help="corpus size (default 4096)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per contender (default 3)")
    parser.add_argument(
        "--fast-repeats",
        type=int,
        default=5,
        help=f"timed calls for contenders whose calls take under {FAST_SECONDS:g} s (default 5)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--slots", type=int, default=SLOTS)
    parser.add_argument("--latency-ms", type=float, default=LATENCY_MS)
    parser.add_argument("--ms-per-token", type=float, default=MS_PER_TOKEN)
    parser.add_argument(
        "--max-batch-requests",
        type=int,
        default=0,
        help="server-side batch limit in inputs (TEI's --max-batch-requests; default 0 = none, as TEI)",
    )
    parser.add_argument("--only", default="", help="contender keys to run (the reference always runs)")
    parser.add_argument("--profile", action="store_true", help="cProfile one extra hfe sync and async call")
    parser.add_argument("--out", type=Path, default=RESULTS / "tei.md")
    args = parser.parse_args(argv)
    if args.slots != SLOTS:
        print(f"note: the reference client keeps {SLOTS} requests in flight (SLOTS), not --slots")

    texts = build_corpus(args.n, args.seed)
    print(f"Corpus: {corpus_summary(texts)}", flush=True)
    chosen = list(range(len(CONTENDERS)))
    if args.only:
        keys = {part.strip() for part in args.only.split(",") if part.strip()}
        chosen = [i for i, c in enumerate(CONTENDERS) if c.key == "ref" or c.key in keys]

    server = ServerProcess(
        args.slots, args.latency_ms, args.ms_per_token, max_batch_requests=args.max_batch_requests or None
    )
    server.start()
    print(f"server: {server.url} (pid {server.process.pid if server.process else '?'})", flush=True)
    profile_text = ""
    revision = hfe_revision()
    processes: list[Any] = []
    try:
        results, connections, processes = start_workers(chosen, server.url, texts)
        with tempfile.TemporaryDirectory(prefix="hfe-bench-tei-") as scratch:
            files = {slot: str(Path(scratch) / f"{slot}.npy") for slot in range(len(results))}
            loads = timed_rounds(server, results, connections, files, args)
            ref_slot = next(slot for slot, r in enumerate(results) if r.contender.key == "ref")
            reference = results[ref_slot]
            if not reference.ok:
                raise RuntimeError(f"the reference client failed: {reference.error}")
            agreement = check_agreement(results, files, ref_slot)

        floor = compute_floor(len(texts), reference.tokens[0], args.slots, args.latency_ms, args.ms_per_token)
        verdict, share = verdict_lines(results, reference)
        phases = ask_hfe(results, connections, "phases")
        if share < 0.9 or args.profile:
            profile_text = ask_hfe(results, connections, "profile")
        for connection in connections.values():
            try:
                connection.send(("exit", None))
            except (BrokenPipeError, OSError):
                pass
    finally:
        server.stop()
        for process in processes:
            process.join(timeout=30)

    print()
    print("\n".join(agreement))
    client_ms = httpx_client_cpu_ms()
    table = render(
        results, reference, floor, args, texts, agreement, verdict, loads, phases, client_ms, revision
    )
    if profile_text:
        profile_path = args.out.with_name("tei_profile.txt")
        profile_path.parent.mkdir(parents=True, exist_ok=True)
        profile_path.write_text(profile_text)
        print(f"profile written to {profile_path}")
    publish(args.out, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
