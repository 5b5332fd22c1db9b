"""Batch-job memory benchmark: peak RSS of ``hfe embed`` against the obvious embed-everything loop.

What it measures
    Peak resident memory (and wall time) of embedding a JSONL corpus of 10 000 and of
    100 000 texts into a Parquet file through a TEI-protocol server, with:

    1. ``hfe embed IN.jsonl -o OUT.parquet --mode tei --url URL --id-field id --no-progress``:
       the real command line (``.venv/bin/hfe``), hfe's defaults otherwise (chunks of 1024
       records, deduplication on, ``max_concurrency`` and ``batch_size`` at their defaults);
    2. the script LangChain users write today: read the whole JSONL into lists,
       ``langchain_openai.OpenAIEmbeddings(base_url=URL + "/v1", check_embedding_ctx_length=False,
       chunk_size=32).embed_documents(all_texts)``, then one ``pyarrow`` table (id, float32
       vectors) written with ``pq.write_table``. That is the LangChain class that talks to TEI
       here: ``langchain_huggingface.HuggingFaceEndpointEmbeddings`` refuses a URL (``model`` "must
       be a HuggingFace repo ID, not a URL"; the refusal is checked and recorded on every run), and
       ``check_embedding_ctx_length`` must be off (it needs tiktoken's downloaded tables and
       OpenAI token counts), ``chunk_size=32`` is TEI's default ``max_client_batch_size``;
    3. the same naive script with hfe's own adapter, ``langchain_hfe.HFEmbeddings(mode="tei",
       url=URL).embed_documents(all_texts)``: same loop shape, hfe's client. It separates what the
       library costs from what the shape of the loop costs.

    Then ``hfe embed`` alone, once, on 300 000 texts (``--hfe-only-sizes``): flat further out.
    (The naive scripts would hold about 6 GiB there.)

How
    The corpus is seeded JSONL, ``{"id": "doc-0000001", "text": ...}`` per line: paragraphs of
    20-80 words (``bench/_corpus.passage``), and ``DUPLICATES`` (5%) of the records repeat an
    earlier text; a smaller corpus is the first records of a larger one.

    The server is the repository's TEI-protocol test server (``python -m tests.tei_server``) in
    its own process, so its memory is never counted: TEI 1.9.3 semantics and default limits
    (32 inputs per request, 16384 batch tokens, 512 permits, 2 MB payloads), ``vectors=hash``
    (deterministic unit vectors of ``--hash-dim`` = 384 dimensions computed from the real
    tokenizer's token ids: no model), ``SLOTS`` inference slots and no simulated service time
    (``--latency-ms`` and ``--ms-per-token`` add one).

    Every run of every contender is a fresh process, forked by a tiny launcher (``LAUNCHER``,
    ``python -S``) that reaps it with ``os.wait4`` and reports its ``ru_maxrss``: that process's
    own peak RSS, interpreter, imports and all; neither this script's memory nor the server's
    is in it. (Started directly from this script, a child would report at least this script's
    own peak: ``subprocess`` starts children with vfork, and Linux carries the hiwater RSS of the
    address space that ``exec`` replaces into the new program's ``ru_maxrss``.) Its wall time runs
    from the start of the launcher to the exit of the process (imports, reading, embedding,
    writing: what a user waits for). While it
    runs, the parent samples its ``VmRSS`` from ``/proc`` every ``SAMPLE_S`` seconds, and for hfe
    counts the chunks in ``OUT.parquet.hfe-job/chunks/`` and watches for ``OUT.parquet.partial``
    (assembly), so that the notes can say where the memory goes: resident memory after the first
    chunk, halfway and after the last one, and the peak while the Parquet file is assembled.
    The naive scripts report the high-water mark (``ru_maxrss``) after each of their phases
    (read, embed, write). The contenders take turns, one at a time, ``--repeats`` (2) times per
    size in rotating order; the tables give medians.

    After each size, the outputs are compared row by row with hfe's: same ids in the same order,
    cosine of the vectors >= ``AGREEMENT``.

Run
    ``HF_HUB_OFFLINE=1 .venv/bin/python bench/batch.py`` from the repository root (``--sizes``,
    ``--hfe-only-sizes``, ``--repeats``, ``--only hfe,langchain,hfe_langchain``, ``--timeout`` per
    child, ``--workdir``, ``--hash-dim``, ``--latency-ms``, ``--ms-per-token``). Needs the ``bench``
    extra (pyarrow, langchain-openai, langchain-huggingface). The table is printed and written to
    ``bench/results/batch.md``. About 8 minutes on 2 idle cores: 5 for the two sizes twice over,
    most of it in the 100 000-text runs, and 2.5 for the 300 000-text run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from _corpus import passage  # bench/ is on sys.path when a bench runs
from _report import hfe_revision, publish
from _server import MAX_CLIENT_BATCH, ROOT, ServerProcess

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

RESULTS = ROOT / "bench" / "results"
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
SIZES = (10_000, 100_000)
HFE_ONLY_SIZES = (300_000,)  # hfe alone, one run: flat further out (the naive scripts would need ~6 GiB)
MIN_WORDS, MAX_WORDS = 20, 80
DUPLICATES = 0.05  # share of records whose text repeats an earlier record's
DUPLICATE_POOL = 5_000  # the duplicated text is drawn from the last this-many distinct texts
SLOTS = 4
HASH_DIM = 384
CHUNK_SIZE = 1024  # hfe embed's default --chunk-size (records per chunk)
SAMPLE_S = 0.05
AGREEMENT = 0.9999
CHILD_TIMEOUT_S = 1200.0


# -- corpus -----------------------------------------------------------------------------------
def records(n: int, seed: int) -> Iterator[dict[str, str]]:
    """``n`` seeded records; a prefix of a longer corpus with the same seed is the shorter one."""
    rng = random.Random(seed)
    pool: list[str] = []
    for index in range(n):
        if pool and rng.random() < DUPLICATES:
            text = rng.choice(pool)
        else:
            text = passage(rng, rng.randint(MIN_WORDS, MAX_WORDS))
            pool.append(text)
            if len(pool) > DUPLICATE_POOL:
                pool.pop(0)
        yield {"id": f"doc-{index:07d}", "text": text}


@dataclass
class Corpus:
    path: Path
    texts: int
    distinct: int
    words: float
    mib: float

    def summary(self) -> str:
        return (
            f"{self.texts:,} records, {self.distinct:,} distinct texts ({self.texts - self.distinct:,} "
            f"duplicates), mean {self.words:.1f} words, {self.mib:.1f} MiB of JSONL"
        )


def write_corpus(path: Path, n: int, seed: int) -> Corpus:
    seen: set[str] = set()
    words = 0
    with path.open("wb") as handle:
        for record in records(n, seed):
            seen.add(record["text"])
            words += len(record["text"].split())
            handle.write(json.dumps(record).encode() + b"\n")
    return Corpus(path, n, len(seen), words / n, path.stat().st_size / 2**20)


# -- the naive scripts (each runs as ``batch.py _worker KEY ...`` in its own process) ----------
def _high_water_mib() -> float:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def naive_script(key: str, source: str, target: str, url: str) -> None:
    """Read everything, ``embed_documents(everything)``, write one table: the obvious script."""
    marks: dict[str, float] = {}
    tick = time.perf_counter()
    ids: list[str] = []
    texts: list[str] = []
    with open(source, encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            ids.append(record["id"])
            texts.append(record["text"])
    marks["read_s"], marks["read_peak_mib"] = time.perf_counter() - tick, _high_water_mib()

    tick = time.perf_counter()
    if key == "langchain":
        from langchain_openai import OpenAIEmbeddings

        embeddings: Any = OpenAIEmbeddings(
            model=MODEL_NAME,
            base_url=url + "/v1",
            api_key="none",  # type: ignore[arg-type]
            check_embedding_ctx_length=False,
            chunk_size=MAX_CLIENT_BATCH,
        )
    else:
        from langchain_hfe import HFEmbeddings

        embeddings = HFEmbeddings(mode="tei", url=url)
    vectors = embeddings.embed_documents(texts)
    marks["embed_s"], marks["embed_peak_mib"] = time.perf_counter() - tick, _high_water_mib()

    tick = time.perf_counter()
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"id": pa.array(ids), "embedding": pa.array(vectors, type=pa.list_(pa.float32()))})
    pq.write_table(table, target)
    marks["write_s"], marks["write_peak_mib"] = time.perf_counter() - tick, _high_water_mib()
    print("MARKS " + json.dumps(marks), flush=True)


def endpoint_refusal(url: str) -> str:
    """What ``HuggingFaceEndpointEmbeddings(model=URL)`` says, the documented TEI recipe of old."""
    try:
        from langchain_huggingface import HuggingFaceEndpointEmbeddings

        HuggingFaceEndpointEmbeddings(model=url)
    except Exception as exc:  # recorded in the notes
        message = " ".join(str(exc).split()).replace("`", "'")  # shown inside a code span
        return f"{type(exc).__name__}: {message[:160]}"
    return "accepted (no refusal): consider adding it as a contender"


# -- running one child ------------------------------------------------------------------------
@dataclass
class Sample:
    seconds: float
    rss_mib: float
    chunks: int  # hfe: chunk files written so far (-1 when not counted)
    assembling: bool  # hfe: the output's .partial file exists


@dataclass
class Run:
    key: str
    size: int
    ok: bool = False
    error: str = ""
    peak_mib: float = 0.0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    samples: list[Sample] = field(default_factory=list)
    marks: dict[str, float] = field(default_factory=dict)
    requests: dict[str, dict[str, int]] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.size / self.wall_s if self.ok else float("nan")


def _rss_mib(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status", "rb") as handle:
            for line in handle:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _count_chunks(folder: Path) -> int:
    try:
        return sum(name.endswith(".npy") for name in os.listdir(folder))
    except OSError:
        return 0


def _sampler(pid: int, run: Run, target: Path, started: float, done: threading.Event) -> None:
    chunks_dir = target.with_name(target.name + ".hfe-job") / "chunks"
    partial = target.with_name(target.name + ".partial")
    watch = run.key == "hfe"
    while not done.is_set():
        rss = _rss_mib(pid)
        if rss is not None:
            run.samples.append(
                Sample(
                    time.perf_counter() - started,
                    rss,
                    _count_chunks(chunks_dir) if watch else -1,
                    watch and partial.exists(),
                )
            )
        done.wait(SAMPLE_S)


# A small process that forks the measured command and reports its rusage. The command is not
# started by this (large) process directly: subprocess starts children with vfork, and Linux
# carries the hiwater RSS of the address space that exec replaces into the new program's
# ru_maxrss, so a direct child would report at least this process's own peak. Through the
# launcher, that floor is the launcher's few MiB.
LAUNCHER = """
import json, os, sys
report = int(sys.argv[1])
pid = os.fork()
if pid == 0:
    os.close(report)
    os.execv(sys.argv[2], sys.argv[2:])
os.write(report, (json.dumps({"pid": pid}) + "\\n").encode())
_, status, usage = os.wait4(pid, 0)
done = {"status": status, "maxrss_kib": usage.ru_maxrss, "cpu_s": usage.ru_utime + usage.ru_stime}
os.write(report, (json.dumps(done) + "\\n").encode())
"""


def run_child(command: list[str], run: Run, target: Path, timeout: float) -> None:
    """Run ``command`` through the launcher, sample it; its own peak RSS and CPU time."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    read_end, write_end = os.pipe()
    started = time.perf_counter()
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and the hfe entry point
        [sys.executable, "-S", "-c", LAUNCHER, str(write_end), *command],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        pass_fds=(write_end,),
    )
    os.close(write_end)
    out: list[bytes] = []
    err: list[bytes] = []
    readers = [
        threading.Thread(target=lambda: out.append(process.stdout.read() if process.stdout else b"")),
        threading.Thread(target=lambda: err.append(process.stderr.read() if process.stderr else b"")),
    ]
    for reader in readers:
        reader.start()
    with os.fdopen(read_end, "rb") as report:
        first = report.readline()
        pid = int(json.loads(first)["pid"]) if first else process.pid
        done = threading.Event()
        sampler = threading.Thread(target=_sampler, args=(pid, run, target, started, done), daemon=True)
        sampler.start()
        killer = threading.Timer(timeout, _kill, args=(pid,))
        killer.start()
        last = report.readline()
    process.wait()
    run.wall_s = time.perf_counter() - started
    killer.cancel()
    done.set()
    sampler.join()
    for reader in readers:
        reader.join()
    stdout = b"".join(out).decode(errors="replace")
    stderr = b"".join(err).decode(errors="replace")
    if not last:
        run.error = f"the launcher failed (exit {process.returncode}): {stderr.strip()[-300:]}"
        return
    usage = json.loads(last)
    run.peak_mib = usage["maxrss_kib"] / 1024  # KiB on Linux
    run.cpu_s = usage["cpu_s"]
    code = os.waitstatus_to_exitcode(usage["status"])
    for line in stdout.splitlines():
        if line.startswith("MARKS "):
            run.marks = json.loads(line.removeprefix("MARKS "))
    if code != 0:
        why = f"killed after {timeout:.0f} s" if run.wall_s >= timeout else f"exit {code}"
        tail = " ".join(stderr.strip().splitlines()[-1:])[:300]
        run.error = f"{why}: {tail}"
        return
    run.ok = True


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run_contender(key: str, corpus: Corpus, workdir: Path, server: ServerProcess, timeout: float) -> Run:
    run = Run(key, corpus.texts)
    target = workdir / f"{key}-{corpus.texts}.parquet"
    target.unlink(missing_ok=True)
    job = target.with_name(target.name + ".hfe-job")
    if job.exists():
        import shutil

        shutil.rmtree(job)
    if key == "hfe":
        hfe = Path(sys.executable).with_name("hfe")
        command = [str(hfe), "embed", str(corpus.path), "-o", str(target), "--mode", "tei", "--url"]
        command += [server.url, "--id-field", "id", "--no-progress"]
    else:
        command = [sys.executable, str(Path(__file__).resolve()), "_worker", key, str(corpus.path)]
        command += [str(target), server.url]
    server.reset_stats()
    run_child(command, run, target, timeout)
    run.requests = server.requests()
    summary_file = job / "summary.json"
    if key == "hfe" and summary_file.is_file():
        run.summary = json.loads(summary_file.read_text())
    state = (
        f"{run.peak_mib:.0f} MiB peak, {run.wall_s:.1f} s ({run.rate:.0f} texts/s)" if run.ok else run.error
    )
    print(f"{key:>14} {corpus.texts:>7}: {state}", flush=True)
    return run


# -- checking the outputs ---------------------------------------------------------------------
def _read_output(path: Path) -> tuple[list[str], npt.NDArray[np.float32]]:
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["id", "embedding"])
    column = table.column("embedding").combine_chunks()
    values = np.asarray(column.flatten(), dtype=np.float32)
    return [str(i) for i in table.column("id").to_pylist()], values.reshape(len(table), -1)


def check_outputs(size: int, workdir: Path, keys: Sequence[str]) -> list[str]:
    """Each output against hfe's: same ids in the same order, cosine >= AGREEMENT row by row."""
    lines: list[str] = []
    base_path = workdir / f"hfe-{size}.parquet"
    if not base_path.is_file():
        return [f"{size:,} texts: no hfe output to compare with"]
    base_ids, base = _read_output(base_path)
    for key in keys:
        path = workdir / f"{key}-{size}.parquet"
        if key == "hfe" or not path.is_file():
            continue
        ids, vectors = _read_output(path)
        if ids != base_ids or vectors.shape != base.shape:
            lines.append(f"{size:,} texts, {NAMES[key]}: ids or shape differ from hfe's -> DISAGREES")
            continue
        norms = np.linalg.norm(vectors, axis=1) * np.linalg.norm(base, axis=1)
        cosines = np.einsum("ij,ij->i", vectors, base) / np.maximum(norms, np.finfo(np.float32).tiny)
        below = int((cosines < AGREEMENT).sum())
        verdict = "OK" if not below else "DISAGREES"
        lines.append(
            f"{size:,} texts, {NAMES[key]}: same {len(ids):,} ids in the same order, min cosine "
            f"{cosines.min():.7f}, {below} below {AGREEMENT} -> {verdict}"
        )
    return lines


# -- the report -------------------------------------------------------------------------------
NAMES = {
    "hfe": "`hfe embed` (CLI)",
    "langchain": "LangChain `OpenAIEmbeddings.embed_documents(all)`",
    "hfe_langchain": "hfe adapter `HFEmbeddings.embed_documents(all)`",
}
KEYS = tuple(NAMES)


def _median(runs: list[Run], attribute: str) -> float:
    values = [getattr(r, attribute) for r in runs if r.ok]
    return statistics.median(values) if values else float("nan")


def _cell(value: float, digits: int = 0, suffix: str = "") -> str:
    return "-" if value != value else f"{value:,.{digits}f}{suffix}"  # NaN: failed


def _ratio(a: float, b: float) -> str:
    return "-" if a != a or b != b or not b else f"{a / b:.2f}"


def _requests_line(routes: dict[str, dict[str, int]]) -> str:
    return ", ".join(
        f"{route} " + "/".join(f"{n}x{s}" for s, n in sorted(statuses.items()))
        for route, statuses in sorted(routes.items())
    )


def _hfe_profile(run: Run) -> str:
    """Where hfe's memory is during the job, from the sampled timeline (startup, embedding, assembly)."""
    samples = run.samples
    first = next((i for i, s in enumerate(samples) if s.chunks > 0), None)
    if first is None:
        return "no samples while chunks were being written"
    # Assembly starts when OUT.parquet.partial appears; afterwards the chunk files are deleted.
    assembly = next((i for i, s in enumerate(samples) if s.assembling), len(samples))
    per_chunk: dict[int, float] = {}
    for sample in samples[first:assembly]:
        if sample.chunks > 0:
            per_chunk[sample.chunks] = max(per_chunk.get(sample.chunks, 0.0), sample.rss_mib)
    parts = [f"max {max((s.rss_mib for s in samples[:first]), default=0.0):.0f} MiB before the 1st chunk"]
    last = max(per_chunk, default=0)
    for label, share in (("1st chunk", 0.0), ("10% of the chunks", 0.1), ("half", 0.5), ("all", 1.0)):
        wanted = max(1, round(last * share))
        if wanted in per_chunk:
            parts.append(f"{per_chunk[wanted]:.0f} MiB at {label} ({wanted} of {last})")
    if per_chunk:
        parts.append(f"max {max(per_chunk.values()):.0f} MiB while embedding")
    steady = sorted(c for c in per_chunk if c >= max(2, last // 10))
    if len(steady) >= 20:  # too few chunks: the trend is the warm-up's
        slope = float(np.polyfit(steady, [per_chunk[c] for c in steady], 1)[0])
        parts.append(
            f"trend from {steady[0]} chunks on: {slope * 10_000 / CHUNK_SIZE:+.2f} MiB per 10,000 texts "
            "(least squares over the per-chunk maxima)"
        )
    assembling = [s.rss_mib for s in samples[assembly:] if s.assembling]
    if assembling:
        parts.append(f"max {max(assembling):.0f} MiB while assembling the Parquet file")
    return "; ".join(parts)


def _naive_profile(run: Run) -> str:
    m = run.marks
    if not m:
        return "no marks"
    return (
        f"high-water {m['read_peak_mib']:.0f} MiB after reading ({m['read_s']:.1f} s), "
        f"{m['embed_peak_mib']:.0f} MiB after embed_documents ({m['embed_s']:.1f} s), "
        f"{m['write_peak_mib']:.0f} MiB after writing ({m['write_s']:.1f} s)"
    )


def render(
    runs: dict[tuple[str, int], list[Run]],
    corpora: dict[int, Corpus],
    keys: Sequence[str],
    args: argparse.Namespace,
    agreement: list[str],
    refusal: str,
    revision: str,
    elapsed: float,
    loads: list[float],
    extra: dict[int, tuple[Corpus, Run]],
) -> str:
    sizes = sorted(corpora)
    small, large = sizes[0], sizes[-1]
    peak = {(k, n): _median(runs[(k, n)], "peak_mib") for k in keys for n in sizes}
    wall = {(k, n): _median(runs[(k, n)], "wall_s") for k in keys for n in sizes}
    rate = {(k, n): n / wall[(k, n)] for k in keys for n in sizes}
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Batch-job memory: `hfe embed` vs. the embed-everything loop",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, {_memory_gib():.0f} GiB, Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}; {when}; 1-minute load "
        f"average during the runs {min(loads):.2f}-{max(loads):.2f}. The server and the clients share these "
        f"CPUs. hfe: {revision}. The whole run took {elapsed / 60:.1f} minutes.",
        "",
        f"Server: `python -m tests.tei_server` in its own process (not counted), TEI 1.9.3 semantics and "
        f"default limits (32 inputs per request, 16384 batch tokens, 512 permits, 2 MB payloads), "
        f"`vectors=hash` with {args.hash_dim} dimensions (unit vectors from the real tokenizer's token ids, "
        f"no model), {args.slots} inference slots, service time {args.latency_ms:g} ms per request + "
        f"{args.ms_per_token:g} ms per token.",
        "",
        'Corpora (seeded JSONL, `{"id", "text"}` per line, paragraphs of '
        f"{MIN_WORDS}-{MAX_WORDS} words, {DUPLICATES:.0%} of the records repeat an earlier text; the smaller "
        "is a prefix of the larger):",
        "",
        *(f"* {corpora[n].summary()}" for n in sizes),
        *(f"* {corpus.summary()} (`hfe embed` only, one run)" for corpus, _ in extra.values()),
        "",
        "Each number is one fresh child process (median of "
        f"{args.repeats} when repeated): peak RSS = `ru_maxrss` of that process from `os.wait4` "
        "(interpreter, imports, reading, embedding and writing; the server's and this script's memory are "
        "not in it); time = from the process's start to its exit; texts/s = records / time.",
        "",
        "Contenders:",
        "",
        "* `hfe embed IN.jsonl -o OUT.parquet --mode tei --url URL --id-field id --no-progress`, hfe's "
        "defaults (chunks of 1024 records, dedup on, default batch size and concurrency);",
        "* the script LangChain users write today: read the whole JSONL into two lists, "
        '`OpenAIEmbeddings(base_url=URL + "/v1", check_embedding_ctx_length=False, chunk_size=32)'
        ".embed_documents(texts)`, one `pa.table(id, list<float32>)`, `pq.write_table`. "
        "(`langchain_huggingface.HuggingFaceEndpointEmbeddings(model=URL)`, the TEI recipe of its docs, "
        f"refuses the URL: `{refusal}`.) `chunk_size=32` is TEI's request limit; sequential requests;",
        '* the same script with hfe\'s LangChain adapter, `HFEmbeddings(mode="tei", url=URL)'
        ".embed_documents(texts)`: the same loop shape with hfe's client (8 requests in flight, "
        "no deduplication), to tell the library from the loop.",
        "",
        "## Peak RSS (MiB)",
        "",
        f"| contender | {small:,} texts | {large:,} texts | ratio {large // 1000}k / {small // 1000}k "
        f"| growth per {small:,} texts |",
        "|---|---:|---:|---:|---:|",
    ]
    steps = (large - small) / small
    for key in keys:
        a, b = peak[(key, small)], peak[(key, large)]
        growth = (b - a) / steps if a == a and b == b else float("nan")
        lines.append(
            f"| {NAMES[key]} | {_cell(a)} | {_cell(b)} | {_ratio(b, a)} | {_cell(growth, 1, ' MiB')} |"
        )
    base = peak[("hfe", small)]
    for n, (_, run) in sorted(extra.items()):
        if not run.ok:
            lines += ["", f"{NAMES['hfe']} alone on {n:,} texts failed: {run.error}"]
            continue
        growth = (run.peak_mib - base) / ((n - small) / small)
        lines += [
            "",
            f"{NAMES['hfe']} alone on {n:,} texts (one run, further out than the naive scripts are run): "
            f"**{run.peak_mib:,.0f} MiB**, {_ratio(run.peak_mib, base)} x its {small:,}-text peak "
            f"({growth:+.1f} MiB per {small:,} texts).",
        ]
    lines += [
        "",
        "## Side by side, per corpus size",
        "",
        "| texts | contender | peak RSS MiB | memory ratio to hfe | time s | texts/s "
        "| speed ratio hfe / this | CPU s (client) |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for n in sizes:
        for key in keys:
            ok = [r for r in runs[(key, n)] if r.ok]
            if not ok:
                error = runs[(key, n)][0].error if runs[(key, n)] else "not run"
                lines.append(f"| {n:,} | {NAMES[key]} | failed | - | - | - | - | **{error}** |")
                continue
            cpu = statistics.median(r.cpu_s for r in ok)
            memory = _ratio(peak[(key, n)], peak[("hfe", n)])
            lines.append(
                f"| {n:,} | {NAMES[key]} | {_cell(peak[(key, n)])} | {memory} "
                f"| {_cell(wall[(key, n)], 1)} | {_cell(rate[(key, n)])} "
                f"| {_ratio(rate[('hfe', n)], rate[(key, n)])} | {cpu:.1f} |"
            )
    lines += ["", "## Where the memory is", ""]
    for n in sizes:
        for key in keys:
            for number, run in enumerate(runs[(key, n)]):
                if not run.ok:
                    continue
                profile = _hfe_profile(run) if key == "hfe" else _naive_profile(run)
                repeat = f" (run {number + 1})" if len(runs[(key, n)]) > 1 else ""
                lines.append(f"* {n:,} texts, {NAMES[key]}{repeat}: {profile}.")
    for n, (_, run) in sorted(extra.items()):
        if run.ok:
            lines.append(
                f"* {n:,} texts, {NAMES['hfe']} (one run, {run.wall_s:.1f} s, {run.rate:,.0f} texts/s): "
                f"{_hfe_profile(run)}."
            )
    lines += ["", "## What the server received (one run each)", ""]
    for n in sizes:
        for key in keys:
            if runs[(key, n)]:
                run = runs[(key, n)][0]
                extra = ""
                if run.summary:
                    s = run.summary
                    extra = (
                        f"; hfe's summary: {s['embedded']:,} texts embedded, {s['duplicates']:,} duplicate "
                        f"rows copied, {s['chunks']} chunks, {s['seconds']:.1f} s inside `embed_file`"
                    )
                lines.append(f"* {n:,} texts, {NAMES[key]}: {_requests_line(run.requests)}{extra}.")
    lines += ["", "```", *agreement, "```"]
    return "\n".join(lines) + "\n"


def _memory_gib() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        return float("nan")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_worker"]:
        naive_script(*argv[1:5])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--sizes", default=",".join(str(n) for n in SIZES), help="corpus sizes, comma-separated"
    )
    parser.add_argument(
        "--hfe-only-sizes",
        default=",".join(str(n) for n in HFE_ONLY_SIZES),
        help="larger corpora run with hfe embed alone, once ('' for none)",
    )
    parser.add_argument("--repeats", type=int, default=2, help="runs per contender and size (default 2)")
    parser.add_argument(
        "--only", default="", help=f"contender keys to run ({', '.join(KEYS)}); hfe always runs"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hash-dim", type=int, default=HASH_DIM)
    parser.add_argument("--slots", type=int, default=SLOTS)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--ms-per-token", type=float, default=0.0)
    parser.add_argument("--timeout", type=float, default=CHILD_TIMEOUT_S, help="seconds per child process")
    parser.add_argument(
        "--workdir", type=Path, default=None, help="corpora and outputs (default: a temp dir)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "batch.md")
    args = parser.parse_args(argv)
    sizes = sorted({int(part) for part in args.sizes.split(",") if part.strip()})
    hfe_only = sorted({int(part) for part in args.hfe_only_sizes.split(",") if part.strip()} - set(sizes))
    keys = list(KEYS)
    if args.only:
        wanted = {part.strip() for part in args.only.split(",")}
        keys = [k for k in KEYS if k == "hfe" or k in wanted]

    began = time.perf_counter()
    revision = hfe_revision()
    with tempfile.TemporaryDirectory(prefix="hfe-bench-batch-", dir=args.workdir) as scratch:
        workdir = Path(scratch)
        corpora = {n: write_corpus(workdir / f"corpus-{n}.jsonl", n, args.seed) for n in sizes + hfe_only}
        for n in sizes + hfe_only:
            print(f"corpus: {corpora[n].summary()}", flush=True)
        server = ServerProcess(args.slots, args.latency_ms, args.ms_per_token, hash_dim=args.hash_dim)
        server.start()
        print(f"server: {server.url} (pid {server.process.pid if server.process else '?'})", flush=True)
        runs: dict[tuple[str, int], list[Run]] = {(k, n): [] for k in keys for n in sizes}
        agreement: list[str] = []
        loads: list[float] = []
        extra: dict[int, tuple[Corpus, Run]] = {}
        try:
            refusal = endpoint_refusal(server.url)
            for n in sizes:
                for repeat in range(args.repeats):
                    shift = repeat % len(keys)
                    for key in [*keys[shift:], *keys[:shift]]:  # rotating order, as bench/tei.py
                        loads.append(os.getloadavg()[0])
                        runs[(key, n)].append(run_contender(key, corpora[n], workdir, server, args.timeout))
                agreement += check_outputs(n, workdir, keys)
            for n in hfe_only:
                loads.append(os.getloadavg()[0])
                corpus = corpora.pop(n)
                extra[n] = (corpus, run_contender("hfe", corpus, workdir, server, args.timeout))
        finally:
            server.stop()
    print("\n".join(agreement))
    table = render(
        runs, corpora, keys, args, agreement, refusal, revision, time.perf_counter() - began, loads, extra
    )
    publish(args.out, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
