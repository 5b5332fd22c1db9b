"""Reranking on TEI's ``/rerank``: hfe's ``Reranker`` against LlamaIndex's TEI postprocessor and httpx.

Run: ``python bench/rerank.py`` (with the ``bench`` extra, ``HF_HUB_OFFLINE=1``; about 8 minutes on
2 cores). Options: ``--queries``, ``--candidates``, ``--rounds``, ``--out``.

What it measures
    The workload of the issue: ``--queries`` (100) queries, each with its own ``--candidates`` (100)
    candidate texts of 20-200 words, every candidate scored against its query and the candidates
    ranked best first. Texts per second (query-candidate pairs), client and server CPU, the requests
    the server received, and whether each query's ranking is right. Contenders:

    1. ``hfe_core.Reranker(mode="tei", url=URL).rerank``, the queries one after another;
    2. ``await Reranker(...).arerank`` for all queries at once (``asyncio.gather``; hfe keeps at most
       ``max_concurrency`` (8) requests in flight);
    3. LlamaIndex's ``llama_index.postprocessor.tei_rerank.TextEmbeddingInference(top_n=candidates)``
       through ``postprocess_nodes(nodes, query_str=query)``, one query after another, on
       ``NodeWithScore`` objects built from the candidates (before timing). It posts every candidate
       in one request, with a new ``httpx.Client`` per call, and does not look at the status code;
    4. a hand-written client, what a user writes with httpx: one ``httpx.Client``, per query
       ``POST /rerank`` in chunks of ``CHUNK`` (32, TEI's default ``max_client_batch_size``), the
       scores merged and sorted.

    Two server configurations, each its own server process: TEI's default ``max_client_batch_size``
    32 (LlamaIndex's 100-text requests are refused there) and 128 (every contender succeeds, for a
    fair speed comparison).

How
    The server is the repository's TEI-protocol test server (``python -m tests.tei_server``, TEI
    1.9.3 semantics, ``model_type="reranker"``) in its own process, so its work never competes with
    the client for the GIL; it serves a tiny cross-encoder built from a config
    (``tests.tiny_models.build_cross_encoder``: 2 layers, hidden size 64, random weights, the real
    MiniLM tokenizer). Its scores mean nothing; they only have to equal sentence-transformers' on the
    same folder. The server computes with the model on the CPU (no simulated latency), with PyTorch's
    exact GELU (``gelu="exact"``), and keeps ``TEIConfig``'s defaults otherwise (1 inference slot,
    16384 batch tokens, 512 permits, auto-truncate on; ``max_input_length`` 512, which no pair
    reaches).

    Reference: ``CrossEncoder(folder).predict(pairs)`` in this process (sigmoid scores, as TEI's
    default). A query's ranking is correct when it has every candidate once, every score is within
    ``TOLERANCE`` (1e-5) of the reference score of that candidate, and the order follows the
    reference scores (two candidates whose reference scores differ by less than ``TOLERANCE`` may
    come in either order). A query whose call raised counts as failed; so does a wrong ranking.

    Each contender is warmed up on ``WARMUP`` queries per server (connections, ``/info``), then timed
    ``--rounds`` times on the whole workload; every round goes through all (server, contender) pairs
    in an order rotated by one each round, and the table reports medians. Every round's rankings are
    checked. Requests: what the server received during the first timed round, by route and status
    (its ``/__stats`` route). Client CPU: ``time.process_time()`` of this process; server CPU: the
    server process's from ``/proc``; both per 1000 pairs, medians.

The tables go to bench/results/rerank.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import importlib.metadata
import json
import os
import random
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import httpx
from _corpus import passage, sentence  # bench/ is on sys.path when a bench runs
from _report import hfe_revision, publish
from _server import ROOT, STATS_ROUTE, cpu_seconds, launch, reset_stats, stop

sys.path.insert(0, str(ROOT))
from tests.tei_server import TEIConfig  # noqa: E402
from tests.tiny_models import build_cross_encoder  # noqa: E402

QUERIES = 100
CANDIDATES = 100
MIN_WORDS, MAX_WORDS = 20, 200
ROUNDS = 3
WARMUP = 2
CHUNK = 32
TOLERANCE = 1e-5
SEED = 0
MODEL_ID = "hfe-bench/tiny-cross-encoder"
SERVER_LIMITS = (32, 128)
DATA = ROOT / "examples" / "data"

Ranking = list[tuple[int, float]]  # (candidate index, score), best first


# -- workload ----------------------------------------------------------------------------------------


def build_workload(queries: int, candidates: int) -> tuple[list[str], list[list[str]]]:
    """Seeded queries and candidates: examples/data's questions and passages, extended with generated text.

    Queries: the 8 questions of examples/data/queries.jsonl, then generated questions of 4-14 words.
    Candidates: a sentence of examples/data/corpus.jsonl followed by generated sentences, 20-200 words
    in all (uniform).
    """
    rng = random.Random(SEED)
    real_queries = [json.loads(line)["query"] for line in (DATA / "queries.jsonl").read_text().splitlines()]
    real_passages = [json.loads(line)["text"] for line in (DATA / "corpus.jsonl").read_text().splitlines()]
    asked = real_queries[:queries]
    while len(asked) < queries:
        asked.append(sentence(rng, rng.randint(4, 14))[:-1] + "?")
    texts: list[list[str]] = []
    for _ in range(queries):
        row: list[str] = []
        for _ in range(candidates):
            words = rng.randint(MIN_WORDS, MAX_WORDS)
            head = rng.choice(real_passages)
            rest = words - len(head.split())
            row.append(head if rest <= 0 else f"{head} {passage(rng, rest)}")
        texts.append(row)
    return asked, texts


def reference_scores(folder: str, queries: list[str], texts: list[list[str]]) -> list[list[float]]:
    """``CrossEncoder(folder).predict`` over every pair (sigmoid scores), per query."""
    from sentence_transformers import CrossEncoder

    model = CrossEncoder(folder, device="cpu")
    pairs = [(query, text) for query, row in zip(queries, texts, strict=True) for text in row]
    flat = [float(score) for score in model.predict(pairs, show_progress_bar=False)]
    width = len(texts[0])
    return [flat[start : start + width] for start in range(0, len(flat), width)]


# -- the server --------------------------------------------------------------------------------------


@dataclass
class RerankServer:
    """``python -m tests.tei_server`` serving the tiny cross-encoder, in its own process."""

    config: TEIConfig
    process: subprocess.Popen[str] | None = None
    url: str = ""

    # the TEIConfig fields passed on the command line; every other field keeps TEIConfig's default
    FIELDS: ClassVar[tuple[str, ...]] = (
        "version",
        "model_type",
        "model_path",
        "model_id",
        "gelu",
        "max_client_batch_size",
        "stats_route",
    )

    def start(self) -> None:
        command = [sys.executable, "-m", "tests.tei_server", "--port", "0"]
        for name in self.FIELDS:
            command += ["--" + name.replace("_", "-"), str(getattr(self.config, name))]
        self.process, self.url = launch(command, {})

    def stop(self) -> None:
        stop(self.process)

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process (Linux ``/proc``; NaN elsewhere)."""
        assert self.process is not None
        return cpu_seconds(self.process)

    def reset_stats(self) -> None:
        reset_stats(self.url)

    def requests(self) -> tuple[dict[str, dict[str, int]], int]:
        """Answers by route and status since the last reset (the stats route left out), and the most
        requests the server handled at once."""
        response = httpx.get(self.url + STATS_ROUTE, timeout=10)
        response.raise_for_status()
        stats = response.json()
        routes: dict[str, dict[str, int]] = stats["requests"]
        answers = {route: counts for route, counts in routes.items() if route != STATS_ROUTE}
        return answers, int(stats["max_in_flight_requests"])


# -- the contenders ----------------------------------------------------------------------------------

# One call of a contender: all the queries it is given, a ranking or the exception per query.
Outcome = list[Ranking | BaseException]
Runner = Callable[[list[str], list[list[str]]], Outcome]


def _hfe_sync(url: str) -> Runner:
    from hfe_core import Reranker

    reranker = Reranker(mode="tei", url=url)

    def run(queries: list[str], texts: list[list[str]]) -> Outcome:
        outcome: Outcome = []
        for query, row in zip(queries, texts, strict=True):
            try:
                outcome.append([(rank.index, rank.score) for rank in reranker.rerank(query, row)])
            except Exception as error:
                outcome.append(error)
        return outcome

    return run


def _hfe_async(url: str) -> Runner:
    from hfe_core import Reranker

    reranker = Reranker(mode="tei", url=url)

    async def gather(queries: list[str], texts: list[list[str]]) -> Outcome:
        try:
            answers = await asyncio.gather(
                *(reranker.arerank(query, row) for query, row in zip(queries, texts, strict=True)),
                return_exceptions=True,
            )
        finally:
            await reranker.aclose()
        return [
            answer if isinstance(answer, BaseException) else [(rank.index, rank.score) for rank in answer]
            for answer in answers
        ]

    def run(queries: list[str], texts: list[list[str]]) -> Outcome:
        return asyncio.run(gather(queries, texts))

    return run


def _llamaindex(url: str, texts: list[list[str]]) -> Runner:
    from llama_index.core.schema import NodeWithScore, TextNode
    from llama_index.postprocessor.tei_rerank import TextEmbeddingInference

    postprocessor = TextEmbeddingInference(base_url=url, top_n=len(texts[0]), timeout=120.0)
    # The nodes are built once, before any timed call, as a retriever hands them over; each node's id
    # is its candidate index. (postprocess_nodes sets their scores: every call overwrites them all.)
    nodes = {
        id(row): [NodeWithScore(node=TextNode(text=text, id_=str(i))) for i, text in enumerate(row)]
        for row in texts
    }

    def run(queries: list[str], rows: list[list[str]]) -> Outcome:
        outcome: Outcome = []
        for query, row in zip(queries, rows, strict=True):
            try:
                ranked = postprocessor.postprocess_nodes(nodes[id(row)], query_str=query)
                outcome.append([(int(node.node.node_id), float(node.score or 0.0)) for node in ranked])
            except Exception as error:
                outcome.append(error)
        return outcome

    return run


def handwritten_rerank(client: httpx.Client, query: str, texts: list[str], chunk: int = CHUNK) -> Ranking:
    """What a user writes: POST /rerank per chunk of texts, indices shifted back, best first."""
    scored: Ranking = []
    for start in range(0, len(texts), chunk):
        response = client.post("/rerank", json={"query": query, "texts": texts[start : start + chunk]})
        response.raise_for_status()
        scored += [(start + item["index"], item["score"]) for item in response.json()]
    return sorted(scored, key=lambda pair: -pair[1])


def _handwritten(url: str) -> Runner:
    client = httpx.Client(base_url=url, timeout=120.0)

    def run(queries: list[str], texts: list[list[str]]) -> Outcome:
        outcome: Outcome = []
        for query, row in zip(queries, texts, strict=True):
            try:
                outcome.append(handwritten_rerank(client, query, row))
            except Exception as error:
                outcome.append(error)
        return outcome

    return run


CONTENDERS = {
    "handwritten": f"hand-written httpx client ({CHUNK} texts per request, queries one after another)",
    "hfe_sync": "hfe `Reranker(mode='tei').rerank`, queries one after another",
    "hfe_async": "hfe `Reranker(mode='tei').arerank`, all queries gathered",
    "llamaindex": (
        "LlamaIndex `TextEmbeddingInference(top_n=100).postprocess_nodes`, queries one after another"
    ),
}


def make_runner(name: str, url: str, texts: list[list[str]]) -> Runner:
    if name == "handwritten":
        return _handwritten(url)
    if name == "hfe_sync":
        return _hfe_sync(url)
    if name == "hfe_async":
        return _hfe_async(url)
    return _llamaindex(url, texts)


# -- checking and reporting --------------------------------------------------------------------------


def check_ranking(got: Ranking, reference: list[float]) -> str | None:
    """Why ``got`` is not the reference ranking, or ``None`` when it is."""
    indices = [index for index, _ in got]
    if sorted(indices) != list(range(len(reference))):
        return f"{len(got)} ranks, not each of the {len(reference)} candidates once"
    for index, score in got:
        if abs(score - reference[index]) > TOLERANCE:
            return f"candidate {index}: score {score!r}, reference {reference[index]!r}"
    for (first, _), (second, _) in zip(got, got[1:], strict=False):
        if reference[first] < reference[second] - TOLERANCE:
            return f"candidate {first} before {second}, whose reference score is higher"
    return None


def describe(error: BaseException) -> str:
    message = str(error).strip().replace("\n", " ").replace("|", "/")
    if len(message) > 220:
        message = message[:217] + "..."
    return f"`{type(error).__name__}`" + (f": {message}" if message else " (no message)")


@dataclass
class Record:
    """One (server, contender) pair's measurements over the timed rounds."""

    seconds: list[float] = field(default_factory=list)
    client_cpu: list[float] = field(default_factory=list)
    server_cpu: list[float] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)  # failed queries, per round
    exact_order: list[int] = field(default_factory=list)  # queries in exactly the reference's order
    max_diff: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)  # described error -> count, all rounds
    mismatches: dict[str, int] = field(default_factory=dict)
    requests: dict[str, dict[str, int]] | None = None
    in_flight: int = 0  # the most requests the server handled at once, first timed round


def score(record: Record, outcome: Outcome, reference: list[list[float]]) -> None:
    failed = exact = 0
    for got, want in zip(outcome, reference, strict=True):
        if isinstance(got, BaseException):
            failed += 1
            text = describe(got)
            record.errors[text] = record.errors.get(text, 0) + 1
            continue
        problem = check_ranking(got, want)
        if problem is not None:
            failed += 1
            record.mismatches[problem] = record.mismatches.get(problem, 0) + 1
            continue
        record.max_diff = max(record.max_diff, max(abs(s - want[i]) for i, s in got))
        exact += [i for i, _ in got] == sorted(range(len(want)), key=lambda i: -want[i])
    record.failed.append(failed)
    record.exact_order.append(exact)


def _requests_text(requests: dict[str, dict[str, int]] | None) -> str:
    if not requests:
        return "-"
    return ", ".join(
        f"{route} " + " + ".join(f"{n} x {status}" for status, n in sorted(counts.items()))
        for route, counts in sorted(requests.items())
    )


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def client_setup_ms(times: int = 20) -> float:
    """CPU milliseconds of one ``httpx.Client()`` created and closed (LlamaIndex makes one per call)."""
    samples = []
    for _ in range(times):
        tick = time.process_time()
        with httpx.Client():
            pass
        samples.append(1000 * (time.process_time() - tick))
    return statistics.median(samples)


def server_refusal(url: str, count: int) -> str:
    """What the server answers one request of ``count`` texts (LlamaIndex's request)."""
    body = {"query": "q", "texts": ["a text"] * count}
    response = httpx.post(url + "/rerank", json=body, timeout=60)
    if response.is_success:
        return f"{response.status_code} ({len(response.json())} ranks)"
    return f"{response.status_code} `{response.text.strip()}`"


def report(
    records: dict[tuple[int, str], Record],
    *,
    pairs: int,
    rounds: int,
    queries: list[str],
    texts: list[list[str]],
    refusals: dict[int, str],
    loads: list[float],
    reference_seconds: float,
    setup_ms: float,
    minutes: float,
    argv: Sequence[str],
) -> str:
    words = [len(text.split()) for row in texts for text in row]
    query_words = [len(query.split()) for query in queries]
    command = "python bench/rerank.py" + "".join(f" {shlex.quote(arg)}" for arg in argv)
    config = TEIConfig(model_type="reranker")
    lines = [
        "# Reranking through TEI's /rerank (hfe vs LlamaIndex's TEI postprocessor and plain httpx)",
        "",
        f"Command: `{command}` ({datetime.date.today().isoformat()}; the whole run took {minutes:.1f} min).",
        "",
        f"Machine: {os.uname().machine}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; the server "
        "and the clients share these CPUs, and other work ran beside them (1-minute load average during "
        f"the timed rounds {min(loads):.2f}-{max(loads):.2f}). hfe {_version('hfe')} ({hfe_revision()}), "
        f"llama-index-postprocessor-tei-rerank {_version('llama-index-postprocessor-tei-rerank')} "
        f"(llama-index-core {_version('llama-index-core')}), httpx {_version('httpx')}, "
        f"sentence-transformers {_version('sentence-transformers')}, torch {_version('torch')}, "
        f"transformers {_version('transformers')}.",
        "",
        f"Workload: {len(queries)} queries ({min(query_words)}-{max(query_words)} words; the 8 questions "
        f"of examples/data/queries.jsonl, then generated ones) x {len(texts[0])} candidates each "
        f"({min(words)}-{max(words)} words, mean {statistics.fmean(words):.0f}: a passage of "
        "examples/data/corpus.jsonl followed by generated sentences, seeded) = "
        f"{pairs} query-candidate pairs per round.",
        "",
        "Server: the TEI-protocol test server (`python -m tests.tei_server`, TEI 1.9.3 semantics) in its "
        "own process, `model_type='reranker'`, serving a tiny cross-encoder **built from a config** "
        "(`tests.tiny_models.build_cross_encoder`: BERT, 2 layers, hidden size 64, random weights, the "
        "real MiniLM tokenizer). **Its scores mean nothing**: they only have to be equal across paths. "
        "The server runs that model on the CPU (the real compute, no simulated latency) with PyTorch's "
        f"exact GELU (`gelu='exact'`), `slots={config.slots}`, `max_batch_tokens={config.max_batch_tokens}`, "
        f"`max_concurrent_requests={config.max_concurrent_requests}` (TEIConfig's defaults), auto-truncate "
        "on (no pair reaches the 512-token limit). Even this tiny model keeps the server busy (see "
        "'server busy'), so the clients differ in speed only by how much CPU they take from it and "
        "whether they leave it idle between requests. A real re-ranker (e.g. bge-reranker-base: 12 "
        "layers, hidden size 768) costs the server far more per pair, which would bring the speed "
        "ratios closer to 1; the request counts and the correctness would not change.",
        "",
        f"Reference: `CrossEncoder(folder).predict(pairs)` ({reference_seconds:.0f} s for all pairs). A "
        f"query is correct when its ranking has every candidate once, each score within {TOLERANCE:g} "
        "of the reference, in the reference's order (candidates whose reference scores differ by less "
        f"than {TOLERANCE:g} may come in either order). Failed: queries whose call raised or whose "
        "ranking is not correct, per round (the same in every round unless shown as a range).",
        "",
        f"Timing: {WARMUP} warm-up queries per contender and server, then {rounds} timed rounds of the "
        "whole workload; each round runs every (server, contender) pair once, in an order rotated by one "
        "each round. Texts/s: candidate texts (query-candidate pairs) scored per second in the median "
        "round. x hand-written: that contender's texts/s over the hand-written client's on the same "
        "server. "
        "CPU: process CPU seconds per 1000 pairs (client: "
        "this process, all threads; server: the server process), medians. Server busy: the server "
        "process's CPU seconds over the round's wall seconds (of the machine's CPUs; median): near the "
        "CPUs left to it, the server is the bottleneck. Requests: what the server answered during the "
        "first timed round, by route and status; most in flight: the most `/rerank` requests it held "
        "at once in that round (hfe keeps at most `max_concurrency` (8) requests in flight and, as TEI "
        "takes one of its 512 permits per text, at most 512 texts: 5 requests of 100 texts).",
        "",
    ]
    limits = sorted({limit for limit, _ in records})
    lines += summary(records, limits, pairs=pairs, queries=len(queries)) + [""]
    for limit in limits:
        base_rate = _rate(records[(limit, "handwritten")], pairs)
        lines += [
            f"## Server `max_client_batch_size={limit}`",
            "",
            f"One request of {len(texts[0])} texts, as LlamaIndex sends it, is answered {refusals[limit]}.",
            "",
            "| contender | texts/s (median) | x hand-written | s per round | correct queries / "
            f"{len(queries)} | failed | client CPU s / 1000 | server CPU s / 1000 | server busy (CPUs) "
            "| requests (one round) | most in flight |",
            "|---|---:|---:|---|---:|---:|---:|---:|---:|---|---:|",
        ]
        for name, label in CONTENDERS.items():
            record = records[(limit, name)]
            failed = f"{min(record.failed)}" + (
                f"-{max(record.failed)}" if max(record.failed) != min(record.failed) else ""
            )
            correct = len(queries) - max(record.failed)
            each = ", ".join(f"{s:.1f}" for s in record.seconds)
            rate = _rate(record, pairs)
            speed = "fails" if correct == 0 else f"{rate:.0f} | {rate / base_rate:.2f}"
            if correct == 0:
                speed += " | -"
            client = 1000 * statistics.median(record.client_cpu) / pairs
            server = 1000 * statistics.median(record.server_cpu) / pairs
            busy = statistics.median(c / w for c, w in zip(record.server_cpu, record.seconds, strict=True))
            lines.append(
                f"| {label} | {speed} | {each} | {correct} | {failed} | {client:.3f} | "
                f"{server:.3f} | {busy:.2f} | {_requests_text(record.requests)} | {record.in_flight} |"
            )
        lines.append("")
        for name, label in CONTENDERS.items():
            record = records[(limit, name)]
            for text, count in record.errors.items():
                lines.append(f"* {label}: raised {text} ({count} queries over {rounds} rounds).")
                if name == "llamaindex" and "AssertionError" in text:
                    lines.append(LLAMAINDEX_FAILURE)
            for text, count in record.mismatches.items():
                lines.append(f"* {label}: wrong ranking, {text} ({count} queries over {rounds} rounds).")
            if name == "llamaindex":
                lines.append(
                    f"* {label}: it creates a new `httpx.Client` per call (no connection reuse); creating "
                    f"and closing one costs {setup_ms:.0f} ms of CPU here (median; mostly loading the CA "
                    f"bundle into a new SSL context), i.e. {setup_ms / len(texts[0]):.2f} s per 1000 pairs "
                    f"at {len(texts[0])} candidates per call."
                )
            if max(record.exact_order) > 0:
                lines.append(
                    f"* {label}: max abs score difference to the reference {record.max_diff:.1e}; "
                    f"queries in exactly the reference's order: {min(record.exact_order)}-"
                    f"{max(record.exact_order)} of {len(queries)} per round."
                )
        lines.append("")
    return "\n".join(lines)


LLAMAINDEX_FAILURE = (
    "  Why: its `_call_api` returns `response.json()` without looking at the status, so "
    '`_postprocess_nodes` gets the server\'s error object (`{"error": ..., "error_type": ...}`, a dict '
    "of 2 keys) and `assert len(scores) == len(nodes)` fails: a bare `AssertionError`, the server's "
    "message lost. Under `python -O` the assert is gone and the loop over the dict's keys raises "
    "`TypeError: string indices must be integers, not 'str'` instead (checked). Nothing is retried, "
    "split or reported; no node gets a score."
)


def _rate(record: Record, pairs: int) -> float:
    return pairs / statistics.median(record.seconds)


def summary(
    records: dict[tuple[int, str], Record], limits: list[int], *, pairs: int, queries: int
) -> list[str]:
    """One row per contender, both servers side by side: texts/s, x hand-written, correct, requests."""
    head = "| contender |" + "".join(
        f" texts/s @{limit} | x hand-written @{limit} | correct @{limit} | requests @{limit} |"
        for limit in limits
    )
    lines = [
        "## Summary",
        "",
        "@32 / @128: the server's `max_client_batch_size`. Correct: queries (of "
        f"{queries}) whose ranking equals the reference in every round. Requests: `/rerank` answers in "
        "one round, by status.",
        "",
        head,
        "|---|" + "---:|---:|---:|---|" * len(limits),
    ]
    for name, label in CONTENDERS.items():
        row = f"| {label} |"
        for limit in limits:
            record = records[(limit, name)]
            correct = queries - max(record.failed)
            requests = _requests_text(record.requests)
            if correct == 0:
                row += f" fails | - | {correct} | {requests} |"
            else:
                rate = _rate(record, pairs)
                base = _rate(records[(limit, "handwritten")], pairs)
                row += f" {rate:.0f} | {rate / base:.2f} | {correct} | {requests} |"
        lines.append(row)
    return lines


# -- main --------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=QUERIES)
    parser.add_argument("--candidates", type=int, default=CANDIDATES)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "rerank.md")
    given = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(given)
    started = time.perf_counter()
    queries, texts = build_workload(args.queries, args.candidates)
    pairs = args.queries * args.candidates
    with tempfile.TemporaryDirectory(prefix="hfe-bench-rerank-") as folder:
        model = str(build_cross_encoder(folder))
        servers = {
            limit: RerankServer(
                TEIConfig(
                    version="1.9.3",
                    model_type="reranker",
                    model_path=model,
                    model_id=MODEL_ID,
                    gelu="exact",
                    max_client_batch_size=limit,
                    stats_route=STATS_ROUTE,
                )
            )
            for limit in SERVER_LIMITS
        }
        try:
            for server in servers.values():
                server.start()
            tick = time.perf_counter()
            reference = reference_scores(model, queries, texts)
            reference_seconds = time.perf_counter() - tick
            print(f"reference: {reference_seconds:.1f} s", flush=True)
            refusals = {
                limit: server_refusal(server.url, args.candidates) for limit, server in servers.items()
            }
            runners: dict[tuple[int, str], Runner] = {}
            records: dict[tuple[int, str], Record] = {}
            for limit, server in servers.items():
                for name in CONTENDERS:
                    runner = make_runner(name, server.url, texts)
                    runner(queries[:WARMUP], texts[:WARMUP])
                    runners[(limit, name)] = runner
                    records[(limit, name)] = Record()
            order = list(runners)
            loads: list[float] = []
            for round_number in range(args.rounds):
                shift = round_number % len(order)
                for key in order[shift:] + order[:shift]:
                    server = servers[key[0]]
                    record = records[key]
                    server.reset_stats()
                    client_before, server_before = time.process_time(), server.cpu_seconds()
                    tick = time.perf_counter()
                    outcome = runners[key](queries, texts)
                    seconds = time.perf_counter() - tick
                    record.seconds.append(seconds)
                    record.client_cpu.append(time.process_time() - client_before)
                    record.server_cpu.append(server.cpu_seconds() - server_before)
                    if record.requests is None:
                        record.requests, record.in_flight = server.requests()
                    loads.append(os.getloadavg()[0])
                    score(record, outcome, reference)
                    print(
                        f"round {round_number + 1} {key[0]:>4} {key[1]:<12} {seconds:6.1f} s, "
                        f"failed {record.failed[-1]}",
                        flush=True,
                    )
        finally:
            for server in servers.values():
                server.stop()
    table = report(
        records,
        pairs=pairs,
        rounds=args.rounds,
        queries=queries,
        texts=texts,
        refusals=refusals,
        loads=loads,
        reference_seconds=reference_seconds,
        setup_ms=client_setup_ms(),
        minutes=(time.perf_counter() - started) / 60,
        argv=given,
    )
    publish(args.out, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
