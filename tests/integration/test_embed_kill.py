"""Kill tests of ``hfe embed`` (issue 5): interrupted jobs resume to the uninterrupted output.

``hfe embed`` runs as a real subprocess against the TEI-protocol test server (the real packaged
model, in this process). It is SIGKILLed at seeded-random points, interrupted with Ctrl-C (SIGINT),
left without its server past the retry budget, or finds its chunks corrupted, truncated or its
input changed; each time, running the same command again must give the clean run's output: the
same ids in the same order, no duplicates, the same kept fields and the same vectors, bit for bit.

Why ``--max-concurrency 1``: the server batches the inputs of concurrent requests together, as TEI
does, and a text's vector depends on its server-side batch (the batch's padded length and size
change the matrix shapes, hence float rounding, by up to ~1.5e-7). With several requests in flight
the batches depend on timing, so two *uninterrupted* runs already differ in their last bits on
~20% of the rows. One request at a time makes every request its own server batch, the same in
every run, and the outputs bitwise equal. ``test_sigkill_with_concurrent_requests`` covers kills
with many requests in flight and compares vectors with a tolerance instead.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hfe_core import embed_file
from tests.tei_server.harness import TEIServer

pq = pytest.importorskip("pyarrow.parquet")

pytestmark = [
    pytest.mark.model,
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals (SIGKILL, SIGINT)"),
]

ROOT = Path(__file__).resolve().parents[2]
RECORDS = 2000
CHUNK = 100
CHUNKS = RECORDS // CHUNK
KEEP = ["n", "tag"]
#: One request at a time: every request is its own server batch, so runs are bitwise equal (see above).
EXACT = ["--max-concurrency", "1"]
#: Seconds a single subprocess run may take before the test fails.
RUN_TIMEOUT = 120.0


def seeded(seed: int) -> random.Random:
    """A seeded generator: the corpus and the interruption points are the same in every run."""
    return random.Random(seed)  # noqa: S311 - test data, not secrets


# -- the corpus -----------------------------------------------------------------------------------
_WORDS = (
    "alpha beta gamma delta river mountain cloud vector embedding search query model token batch "
    "server resume kill chunk night day red blue green quick lazy fox dog cat sat mat data file line "
    "text café naïve über 東京 数据 😀 ümlaut 42 3.14 -7 C++ e-mail O'Brien"
).split()
_PUNCT = ["", "", "", ".", "!", "?", ",", ";", " ..."]


def make_corpus(path: Path, n: int = RECORDS, seed: int = 20240605) -> list[dict[str, Any]]:
    """Write ``n`` short varied records as JSONL (seeded); about 12% repeat an earlier text.

    Every record has a unique ``id``, an int ``n`` and a ``tag`` that is a string or null.
    """
    rng = seeded(seed)
    texts: list[str] = []
    records = []
    for i in range(n):
        if texts and rng.random() < 0.12:
            text = rng.choice(texts)
        else:
            words = [rng.choice(_WORDS) for _ in range(rng.randint(1, 10))]
            if rng.random() < 0.3:
                words[0] = words[0].capitalize()
            text = " ".join(words) + rng.choice(_PUNCT)
            if rng.random() < 0.05:
                text = text.replace(" ", "\n", 1)
            texts.append(text)
        records.append({"id": f"doc-{i:05d}", "text": text, "n": i, "tag": rng.choice(["x", "y", None])})
    write_jsonl(path, records)
    return records


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


# -- running hfe embed ----------------------------------------------------------------------------
def embed_command(source: Path, output: Path, url: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "hfe_core.cli",
        "embed",
        str(source),
        "-o",
        str(output),
        "--mode",
        "tei",
        "--url",
        url,
        "--chunk-size",
        str(CHUNK),
        "--id-field",
        "id",
        *(arg for name in KEEP for arg in ("--keep", name)),
        "--no-progress",
        "--json",
        *extra,
    ]


@dataclass
class Run:
    """One finished (or interrupted) subprocess run."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def summary(self) -> dict[str, Any]:
        assert self.returncode == 0, f"exit status {self.returncode}\n{self.stderr[-3000:]}"
        data: dict[str, Any] = json.loads(self.stdout)
        return data


def manifest_lines(output: Path) -> list[dict[str, Any]]:
    """The complete (newline-terminated) lines of the job's manifest ``chunks.jsonl``."""
    log = output.with_name(output.name + ".hfe-job") / "chunks.jsonl"
    if not log.is_file():
        return []
    data = log.read_bytes()
    return [json.loads(line) for line in data[: data.rfind(b"\n") + 1].splitlines() if line.strip()]


def run_embed(
    command: list[str],
    logs: Path,
    *,
    after_lines: int | None = None,
    after_seconds: float | None = None,
    sig: int = signal.SIGKILL,
    then: Callable[[subprocess.Popen[bytes]], object] | None = None,
    timeout: float = RUN_TIMEOUT,
) -> Run:
    """Run ``command``; with ``after_lines``/``after_seconds``, send ``sig`` once the manifest has that
    many lines or that many seconds passed (``then(process)`` is called instead when given).

    The output path is read from the command (after ``-o``). Raises ``subprocess.TimeoutExpired``
    (after killing it) when the process still runs ``timeout`` seconds after that point.
    """
    output = Path(command[command.index("-o") + 1])
    logs.mkdir(parents=True, exist_ok=True)
    stamp = time.monotonic_ns()
    out_path, err_path = logs / f"{stamp}.out", logs / f"{stamp}.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, cwd=ROOT)  # noqa: S603 - our own CLI
        try:
            began = time.monotonic()
            if after_lines is not None or after_seconds is not None:
                while process.poll() is None:
                    elapsed = time.monotonic() - began
                    assert elapsed < RUN_TIMEOUT, (
                        "the job neither finished nor reached the interruption point"
                    )
                    if (after_lines is not None and len(manifest_lines(output)) >= after_lines) or (
                        after_seconds is not None and elapsed >= after_seconds
                    ):
                        if then is not None:
                            then(process)
                        else:
                            process.send_signal(sig)
                        break
                    time.sleep(0.005)
            process.wait(timeout=timeout)
        finally:
            if process.poll() is None:  # a failed assertion above: do not leave it running
                process.kill()
                process.wait()
    return Run(process.returncode, out_path.read_text("utf-8"), err_path.read_text("utf-8"))


def wait_idle(server: TEIServer, timeout: float = 30.0) -> None:
    """Wait until the server answered every request (a killed client's last one is still computed)."""
    deadline = time.monotonic() + timeout
    while server.stats.in_flight_requests:
        assert time.monotonic() < deadline, "the server kept requests in flight"
        time.sleep(0.01)


# -- comparing outputs ----------------------------------------------------------------------------
@dataclass
class Output:
    ids: list[str]
    vectors: np.ndarray
    meta: dict[str, list[Any]]
    schema: Any


def read_output(path: Path) -> Output:
    table = pq.read_table(path)
    vectors = np.asarray(table.column("embedding").combine_chunks().flatten(), dtype=np.float32)
    return Output(
        ids=table.column("id").to_pylist(),
        vectors=vectors.reshape(table.num_rows, -1),
        meta={name: table.column(name).to_pylist() for name in KEEP},
        schema=table.schema,
    )


def assert_same_output(got: Output, want: Output, *, exact: bool = True) -> None:
    """Same rows in the same order, no duplicates, same kept fields; vectors bitwise equal when exact."""
    assert len(got.ids) == len(want.ids)
    assert len(set(got.ids)) == len(got.ids), "duplicate rows"
    assert got.ids == want.ids
    assert got.schema == want.schema
    assert got.meta == want.meta
    assert got.vectors.shape == want.vectors.shape
    if exact:
        differ = np.flatnonzero((got.vectors != want.vectors).any(axis=1))
        assert differ.size == 0, (
            f"{differ.size} rows differ (first: {[got.ids[i] for i in differ[:5]]}), max abs difference "
            f"{np.abs(got.vectors - want.vectors).max():.3g}"
        )
    else:
        np.testing.assert_allclose(got.vectors, want.vectors, rtol=0, atol=1e-6)


def assert_job_finished(output: Path) -> None:
    """After completion: the chunks folder is gone; job.json (complete), the manifest and summary stay."""
    work = output.with_name(output.name + ".hfe-job")
    assert not (work / "chunks").exists()
    assert json.loads((work / "job.json").read_text())["complete"] is True
    assert (work / "chunks.jsonl").is_file()
    assert (work / "summary.json").is_file()


# -- fixtures -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tei() -> Iterator[TEIServer]:
    """The TEI test server with the real packaged model, shared by the module."""
    with TEIServer() as server:
        yield server


@pytest.fixture
def server(tei: TEIServer) -> Iterator[TEIServer]:
    """The module's server, listening and idle, with fresh stats; listening again after the test."""
    if not tei.running:
        tei.start()
    wait_idle(tei)
    tei.stats.reset()
    yield tei
    if not tei.running:
        tei.start()


@dataclass
class Clean:
    source: Path
    records: list[dict[str, Any]]
    output: Output
    summary: dict[str, Any]


@pytest.fixture(scope="module")
def clean(tei: TEIServer, tmp_path_factory: pytest.TempPathFactory) -> Clean:
    """The corpus and its uninterrupted run (a subprocess, like the interrupted ones)."""
    folder = tmp_path_factory.mktemp("clean")
    source = folder / "in.jsonl"
    records = make_corpus(source)
    target = folder / "clean.parquet"
    run = run_embed(embed_command(source, target, tei.url, *EXACT), folder / "logs")
    summary = run.summary
    output = read_output(target)
    # The clean run itself is what the corpus says: every record once, in order, duplicates copied.
    assert output.ids == [r["id"] for r in records]
    assert output.meta == {name: [r[name] for r in records] for name in KEEP}
    assert output.vectors.shape == (RECORDS, 384)
    np.testing.assert_allclose(np.linalg.norm(output.vectors, axis=1), 1.0, atol=1e-5)
    first: dict[str, int] = {}
    for i, record in enumerate(records):
        j = first.setdefault(record["text"], i)
        assert np.array_equal(output.vectors[i], output.vectors[j])
    distinct = len(first)
    assert summary["rows"] == summary["records"] == RECORDS
    assert summary["chunks"] == CHUNKS
    assert summary["embedded"] == distinct
    assert summary["duplicates"] == RECORDS - distinct > 100
    assert summary["resumed_chunks"] == summary["redone_chunks"] == 0
    assert_job_finished(target)
    return Clean(source, records, output, summary)


def assert_resumed_equal(run: Run, target: Path, clean: Clean, *, exact: bool = True) -> dict[str, Any]:
    summary = run.summary
    assert_same_output(read_output(target), clean.output, exact=exact)
    for key in ("records", "rows", "chunks", "embedded", "duplicates", "dimension"):
        assert summary[key] == clean.summary[key], key
    assert summary["skipped"] == []
    assert summary["already_complete"] is False
    assert_job_finished(target)
    return summary


# -- SIGKILL --------------------------------------------------------------------------------------
def test_sigkill_at_random_points_then_resume(server: TEIServer, clean: Clean, tmp_path: Path) -> None:
    rng = seeded(5)
    target = tmp_path / "out.parquet"
    command = embed_command(clean.source, target, server.url, *EXACT)
    # Kill points: some at wall-clock delays (the first before any chunk can be committed, while
    # the process starts or scans), the others once the manifest reaches k lines, k drawn at random.
    plan: list[tuple[str, float]] = [
        ("seconds", rng.uniform(0.05, 0.4)),
        ("lines", rng.randint(1, 4)),
        ("seconds", rng.uniform(0.6, 1.5)),
        ("lines", rng.randint(6, 10)),
        ("seconds", rng.uniform(0.6, 1.5)),
        ("lines", rng.randint(12, CHUNKS - 3)),
        ("lines", CHUNKS - 1),
    ]
    progress = []
    for kind, point in plan:
        before = len(manifest_lines(target))
        if kind == "lines":
            run = run_embed(command, tmp_path / "logs", after_lines=max(int(point), before + 1))
        else:
            run = run_embed(command, tmp_path / "logs", after_seconds=point)
        assert run.returncode == -signal.SIGKILL, f"{kind}={point}: the job ended on its own\n{run.stderr}"
        assert not target.exists(), "an interrupted job left an output"
        lines = manifest_lines(target)
        numbers = [entry["chunk"] for entry in lines]
        assert numbers == sorted(set(numbers)), f"chunks committed twice or out of order: {numbers}"
        assert len(lines) >= before
        progress.append(len(lines))
    assert progress[-1] == CHUNKS - 1
    assert len(set(progress)) >= 4, f"too few kills landed mid-run: {progress}"

    committed = manifest_lines(target)
    wait_idle(server)
    server.stats.reset()
    run = run_embed(command, tmp_path / "logs")
    summary = assert_resumed_equal(run, target, clean)
    assert summary["resumed_chunks"] == len(committed) == CHUNKS - 1
    assert summary["redone_chunks"] == 0
    # Only the missing chunk's new texts went to the server.
    missing = clean.summary["embedded"] - sum(entry["embedded"] for entry in committed)
    assert 0 < missing < CHUNK
    assert server.stats.inputs_embedded == missing + 1  # + the backend's one-text dimension probe
    # Running it once more does nothing.
    again = run_embed(command, tmp_path / "logs").summary
    assert again["already_complete"] is True
    assert_same_output(read_output(target), clean.output)


def test_sigkill_with_concurrent_requests(server: TEIServer, clean: Clean, tmp_path: Path) -> None:
    """Kills with up to 8 requests in flight (the default concurrency).

    Vectors are compared with atol 1e-6, not bitwise: with concurrent requests the server's batches
    mix inputs of several requests, in an order that depends on timing; a vector's last bits depend
    on its batch (see the module docstring), in an uninterrupted run as much as in a resumed one.
    """
    rng = seeded(11)
    target = tmp_path / "out.parquet"
    command = embed_command(clean.source, target, server.url, "--max-concurrency", "8")
    for k in sorted(rng.sample(range(2, CHUNKS - 2), 2)):
        run = run_embed(command, tmp_path / "logs", after_lines=max(k, len(manifest_lines(target)) + 1))
        assert run.returncode == -signal.SIGKILL
    assert server.stats.max_in_flight_requests > 1
    committed = manifest_lines(target)
    chunks = target.with_name(target.name + ".hfe-job") / "chunks"
    kept = {entry["chunk"]: np.load(chunks / f"{entry['chunk']:08d}.npy") for entry in committed}
    run = run_embed(command, tmp_path / "logs")
    summary = assert_resumed_equal(run, target, clean, exact=False)
    assert summary["resumed_chunks"] == len(committed) > 0
    # The chunks kept from the killed runs are in the output bit for bit.
    got = read_output(target)
    for number, vectors in kept.items():
        assert np.array_equal(got.vectors[number * CHUNK : (number + 1) * CHUNK], vectors)


# -- Ctrl-C ---------------------------------------------------------------------------------------
def test_ctrl_c_exits_130_and_resumes(server: TEIServer, clean: Clean, tmp_path: Path) -> None:
    target = tmp_path / "out.parquet"
    command = embed_command(clean.source, target, server.url, *EXACT)
    k = seeded(3).randint(4, CHUNKS - 6)
    run = run_embed(command, tmp_path / "logs", after_lines=k, sig=signal.SIGINT)
    assert run.returncode == 130, run.stderr
    assert "Traceback" not in run.stderr
    assert run.stdout == ""
    assert not target.exists()
    committed = manifest_lines(target)
    assert k <= len(committed) < CHUNKS
    # One message (not a warning and then the same words again), with what is kept and where.
    assert run.stderr.count("interrupted") == 1, run.stderr
    assert run.stderr.count("run the same command again") == 1, run.stderr
    assert (
        f"hfe embed: interrupted. {len(committed)} chunks ({len(committed) * CHUNK:,} rows) are done and "
        f"kept in {target}.hfe-job; run the same command again to resume."
    ) in run.stderr.splitlines()

    run = run_embed(command, tmp_path / "logs")
    summary = assert_resumed_equal(run, target, clean)
    assert summary["resumed_chunks"] == len(committed)
    assert summary["redone_chunks"] == 0


def test_ctrl_c_while_the_server_is_down_exits_promptly(
    server: TEIServer, clean: Clean, tmp_path: Path
) -> None:
    target = tmp_path / "out.parquet"
    command = embed_command(
        clean.source, target, server.url, *EXACT, "--max-retries", "50", "--retry-timeout", "300"
    )

    def stop_then_interrupt(process: subprocess.Popen[bytes]) -> None:
        server.stop()
        time.sleep(0.5)  # the job is now retrying its request
        process.send_signal(signal.SIGINT)

    try:
        run = run_embed(command, tmp_path / "logs", after_lines=2, then=stop_then_interrupt, timeout=3)
    except subprocess.TimeoutExpired:
        pytest.fail("hfe embed still ran 3 s after Ctrl-C (server down); it was killed")
    assert run.returncode == 130, run.stderr
    assert run.stderr.count("run the same command again") == 1, run.stderr
    assert "Traceback" not in run.stderr
    assert 2 <= len(manifest_lines(target)) < CHUNKS


# -- the server goes away -------------------------------------------------------------------------
def test_server_down_past_the_retry_budget_then_resume(
    server: TEIServer, clean: Clean, tmp_path: Path
) -> None:
    target = tmp_path / "out.parquet"
    command = embed_command(
        clean.source, target, server.url, *EXACT, "--max-retries", "1", "--retry-timeout", "2"
    )
    k = seeded(8).randint(4, CHUNKS - 6)
    began = time.monotonic()
    run = run_embed(command, tmp_path / "logs", after_lines=k, then=lambda _: server.stop())
    assert not server.running
    assert run.returncode == 1, run.stderr
    assert time.monotonic() - began < 60
    assert "hfe: ServerError" in run.stderr, run.stderr
    assert "run the same command again" in run.stderr
    assert "Traceback" not in run.stderr
    assert not target.exists()
    committed = manifest_lines(target)
    assert k <= len(committed) < CHUNKS

    server.restart()  # the same port: the same command finds it again
    run = run_embed(command, tmp_path / "logs")
    summary = assert_resumed_equal(run, target, clean)
    assert summary["resumed_chunks"] == len(committed)
    assert summary["redone_chunks"] == 0


def test_server_back_within_the_retry_budget(server: TEIServer, clean: Clean, tmp_path: Path) -> None:
    target = tmp_path / "out.parquet"
    command = embed_command(
        clean.source, target, server.url, *EXACT, "--max-retries", "20", "--retry-timeout", "60"
    )

    def bounce(_: object) -> None:
        server.stop()
        time.sleep(1.0)
        server.start()

    run = run_embed(command, tmp_path / "logs", after_lines=seeded(9).randint(3, CHUNKS - 4), then=bounce)
    summary = assert_resumed_equal(run, target, clean)
    assert summary["resumed_chunks"] == summary["redone_chunks"] == 0
    assert summary["counters"]["retries"] >= 1


# -- damaged work folder --------------------------------------------------------------------------
def test_corrupt_and_truncated_chunks_are_redone(server: TEIServer, clean: Clean, tmp_path: Path) -> None:
    target = tmp_path / "out.parquet"
    command = embed_command(clean.source, target, server.url, *EXACT)
    run = run_embed(command, tmp_path / "logs", after_lines=10)
    assert run.returncode == -signal.SIGKILL
    committed = manifest_lines(target)
    assert 10 <= len(committed) < CHUNKS
    chunks = target.with_name(target.name + ".hfe-job") / "chunks"
    work_log = chunks.parent / "chunks.jsonl"

    truncated = chunks / "00000002.npy"  # cut in half
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    flipped_ids = chunks / "00000005.json"  # one id changed: still valid JSON, wrong content
    data = flipped_ids.read_bytes()
    assert b"doc-00510" in data
    flipped_ids.write_bytes(data.replace(b"doc-00510", b"doc-00501"))
    flipped_vectors = chunks / "00000007.npy"  # a few bytes of vector data flipped, header intact
    raw = bytearray(flipped_vectors.read_bytes())
    for offset in (200, 1000, len(raw) - 3):
        raw[offset] ^= 0xFF
    flipped_vectors.write_bytes(bytes(raw))
    (chunks / "00000008.json").unlink()  # missing
    with work_log.open("ab") as handle:  # a torn manifest line, as a crash during the append leaves
        handle.write(b'{"chunk": ' + str(len(committed)).encode() + b', "first": 10')

    wait_idle(server)
    server.stats.reset()
    run = run_embed(command, tmp_path / "logs")
    summary = assert_resumed_equal(run, target, clean)
    assert summary["redone_chunks"] == 4
    assert summary["resumed_chunks"] == len(committed) - 4
    assert server.stats.inputs_embedded < clean.summary["embedded"]


def test_changed_input_redoes_the_changed_chunks(server: TEIServer, clean: Clean, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    records = [dict(r) for r in clean.records]
    write_jsonl(source, records)
    target = tmp_path / "out.parquet"
    command = embed_command(source, target, server.url, *EXACT)
    run = run_embed(command, tmp_path / "logs", after_lines=12)
    assert run.returncode == -signal.SIGKILL
    committed = manifest_lines(target)
    assert 12 <= len(committed) < CHUNKS

    # Chunk 3: a record's text changes (a text found once in the corpus, to one found nowhere, so
    # no other chunk's deduplication depends on it); chunk 6: a kept field changes.
    counts: dict[str, int] = {}
    for r in records:
        counts[r["text"]] = counts.get(r["text"], 0) + 1
    changed = next(i for i in range(3 * CHUNK, 4 * CHUNK) if counts[records[i]["text"]] == 1)
    records[changed]["text"] = "a sentence that appears nowhere else in the corpus"
    records[6 * CHUNK + 17]["tag"] = "changed"
    write_jsonl(source, records)

    run = run_embed(command, tmp_path / "logs")
    summary = run.summary
    assert summary["redone_chunks"] == 2
    assert summary["resumed_chunks"] == len(committed) - 2
    got = read_output(target)

    # The reference: an uninterrupted run of the changed input. Its chunks 0-3 are computed here (a
    # job over the first four chunks, in this process, with the same settings: a chunk's vectors
    # depend only on the records up to it). Its later chunks are the clean run's: neither the old
    # text nor the new one occurs anywhere else, so no later chunk's deduplication changes.
    assert all(r["text"] != records[changed]["text"] for i, r in enumerate(records) if i != changed)
    prefix, reference = tmp_path / "prefix.jsonl", tmp_path / "reference.parquet"
    write_jsonl(prefix, records[: 4 * CHUNK])
    embed_reference(prefix, reference, server)
    want = Output(
        ids=[r["id"] for r in records],
        vectors=np.concatenate([read_output(reference).vectors, clean.output.vectors[4 * CHUNK :]]),
        meta={name: [r[name] for r in records] for name in KEEP},
        schema=clean.output.schema,
    )
    assert_same_output(got, want)
    assert got.meta["tag"][6 * CHUNK + 17] == "changed"
    assert not np.array_equal(got.vectors[changed], clean.output.vectors[changed])
    # Rows outside the changed text's chunk keep the clean run's vectors.
    outside = np.r_[0 : 3 * CHUNK, 4 * CHUNK : RECORDS]
    assert np.array_equal(got.vectors[outside], clean.output.vectors[outside])


def embed_reference(source: Path, target: Path, server: TEIServer) -> None:
    """An uninterrupted job in this process, with the subprocess runs' settings (one request at a time)."""
    embed_file(
        source,
        target,
        mode="tei",
        url=server.url,
        max_concurrency=1,
        chunk_size=CHUNK,
        id_field="id",
        keep=KEEP,
        show_progress=False,
    )


def test_input_changed_after_the_job_completed(server: TEIServer, clean: Clean, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    records = [dict(r) for r in clean.records[: 2 * CHUNK]]
    write_jsonl(source, records)
    target = tmp_path / "out.parquet"
    command = embed_command(source, target, server.url, *EXACT)
    assert run_embed(command, tmp_path / "logs").summary["rows"] == 2 * CHUNK
    records[5]["text"] = "a sentence that appears nowhere else in the corpus"
    write_jsonl(source, records)

    run = run_embed(command, tmp_path / "logs")
    assert run.returncode == 0, run.stderr
    assert run.summary["already_complete"] is False, "stale output kept for a changed input"
    reference = tmp_path / "reference.parquet"
    embed_reference(source, reference, server)
    assert_same_output(read_output(target), read_output(reference))
