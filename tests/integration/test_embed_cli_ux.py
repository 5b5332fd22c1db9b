"""``hfe embed`` as a user meets it (issue 11): errors without tracebacks, cheap checks first, one Ctrl-C
message, honest throughput, where the ids went, and a model that is not in the cache.

The real packaged model computes every vector; the command runs as a real subprocess where what is
checked is what a terminal shows (stderr, the exit status, signals). A full disk and a read-only folder
are real tmpfs mounts where this machine allows mounting (root with CAP_SYS_ADMIN); elsewhere the full
disk is injected at ``os.fsync``, the one call every durable write goes through.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow.parquet as pq
import pytest

import hfe_core.job as job
from hfe_core import BadRowError, ConfigurationError, Embedder, EmbeddingError, HfeError
from hfe_core.cli import main
from hfe_core.config import EmbedderSettings, InputType
from hfe_core.engines import ChunkCounters, EmbedderEngine
from hfe_core.job import embed_file, work_dir_for

pytestmark = [
    pytest.mark.model,
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and mounts"),
]

ROOT = Path(__file__).resolve().parents[2]
#: Seconds one subprocess may take before the test fails.
RUN_TIMEOUT = 180.0


def write_corpus(path: Path, n: int, *, bad_line: int | None = None) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = [{"id": f"doc-{i}", "text": f"note {i} about tides"} for i in range(n)]
    if bad_line is not None:
        records[bad_line - 1] = {"id": "bad", "body": "no text field"}
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return records


def hfe(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``hfe`` as a subprocess; the result has its exit status, stdout and stderr."""
    return subprocess.run(
        [sys.executable, "-m", "hfe_core.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=RUN_TIMEOUT,
        check=False,
    )


def unloaded(model_path: str) -> Embedder:
    """A new embedder: its backend loads the model on first use, and not before."""
    embedder = Embedder(model=model_path, device="cpu")
    assert embedder.backend._handle is None  # type: ignore[attr-defined]
    return embedder


def model_loaded(embedder: Embedder) -> bool:
    return embedder.backend._handle is not None  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def embedder(model_path: str) -> Iterator[Embedder]:
    e = Embedder(model=model_path, device="cpu")
    yield e
    e.close()


# -- real mounts, where this machine allows them ----------------------------------------------------
def _mount(target: Path, options: str) -> bool:
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    target.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)],  # noqa: S607
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


@pytest.fixture
def mount(tmp_path: Path) -> Iterator[Any]:
    """``mount(folder, options)``: a tmpfs there, unmounted after the test; skips where one cannot mount."""
    mounted: list[Path] = []

    def make(target: Path, options: str) -> Path:
        if not _mount(target, options):
            pytest.skip("mounting a tmpfs needs root with CAP_SYS_ADMIN")
        mounted.append(target)
        return target

    yield make
    for target in reversed(mounted):
        subprocess.run(["umount", "-l", str(target)], capture_output=True, check=False)  # noqa: S607


def remount(target: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(target)], check=True)  # noqa: S607


# -- 1. filesystem errors ---------------------------------------------------------------------------
@pytest.fixture(params=["under-a-file", "read-only-mount"])
def unwritable(request: pytest.FixtureRequest, tmp_path: Path, mount: Any) -> Path:
    """An output path that cannot be written: through a regular file, or on a read-only file system."""
    if request.param == "under-a-file":
        (tmp_path / "a-file").write_text("not a folder")
        return tmp_path / "a-file" / "out.parquet"
    folder: Path = mount(tmp_path / "ro", "ro,size=1m")
    return folder / "out.parquet"


def test_an_unwritable_output_is_a_typed_error_before_the_model_loads(
    tmp_path: Path, model_path: str, unwritable: Path
) -> None:
    source = tmp_path / "in.jsonl"
    write_corpus(source, 5)
    fresh = unloaded(model_path)
    with pytest.raises(HfeError) as caught:
        embed_file(source, unwritable, embedder=fresh)
    error = caught.value
    assert type(error).__name__ == "OutputWriteError"
    assert isinstance(error, OSError) and error.errno in (errno.ENOTDIR, errno.EROFS)
    message = str(error)
    assert "\n" not in message and "Cannot write" in message and str(unwritable.parent) in message
    assert "output (-o)" in message and "Nothing was embedded yet" in message
    assert not model_loaded(fresh), "the model was loaded before the folder was found unwritable"

    run = hfe("embed", str(source), "-o", str(unwritable), "--model", model_path, "--no-progress")
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert run.stderr.splitlines() == [f"hfe: OutputWriteError: {message}"]


class FullDiskAfter:
    """``os.fsync`` that fails with ENOSPC, as a full disk does, once the manifest has ``chunks`` lines."""

    def __init__(self, work: Path, chunks: int) -> None:
        self.log, self.chunks, self.real = work / "chunks.jsonl", chunks, os.fsync

    def __call__(self, fd: int) -> None:
        if self.log.is_file() and self.log.read_bytes().count(b"\n") >= self.chunks:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.real(fd)


@pytest.mark.parametrize("disk", ["tmpfs", "injected"])
def test_a_full_disk_is_a_typed_error_and_the_same_call_resumes(
    tmp_path: Path,
    embedder: Embedder,
    model_path: str,
    mount: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    disk: str,
) -> None:
    source = tmp_path / "in.jsonl"
    write_corpus(source, 60)
    clean = embed_file(source, tmp_path / "clean.parquet", embedder=embedder, chunk_size=5)
    if disk == "tmpfs":  # a real 96 KiB file system: a few chunks fit, then it is full
        folder = mount(tmp_path / "small", "size=96k")
        output = folder / "out.parquet"
    else:  # the disk fills up after two chunks
        output = tmp_path / "out.parquet"
        monkeypatch.setattr(os, "fsync", FullDiskAfter(work_dir_for(output), chunks=2))

    with pytest.raises(HfeError) as caught:
        embed_file(source, output, embedder=embedder, chunk_size=5)
    error = caught.value
    assert type(error).__name__ == "OutputWriteError" and isinstance(error, OSError)
    assert error.errno == errno.ENOSPC
    kept = len((work_dir_for(output) / "chunks.jsonl").read_text().splitlines())
    assert 0 < kept < clean.chunks
    message = str(error)
    assert "\n" not in message and "no space left on device (ENOSPC)" in message
    assert f"{kept} chunks" in message and str(work_dir_for(output)) in message
    assert "run the same command again to resume" in message

    # The command line: one line, no traceback, exit status 1.
    status = main(["embed", str(source), "-o", str(output), "--model", model_path, "--chunk-size", "5"])
    err = capsys.readouterr().err
    assert status == 1
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("hfe") and "hfe: loading" not in line]
    assert len(lines) == 1 and lines[0].startswith("hfe: OutputWriteError: Cannot write"), err

    # Room again: the same call resumes and gives the uninterrupted run's output.
    if disk == "tmpfs":
        remount(output.parent, "size=16m")
    else:
        monkeypatch.undo()
    summary = embed_file(source, output, embedder=embedder, chunk_size=5)
    assert summary.resumed_chunks >= kept and summary.rows == clean.rows
    assert pq.read_table(output).equals(pq.read_table(tmp_path / "clean.parquet"))


# -- 2. what needs no model is checked before the model loads ----------------------------------------
def test_a_missing_input_bad_records_a_complete_job_and_a_conflict_need_no_model(
    tmp_path: Path, embedder: Embedder, model_path: str
) -> None:
    source = tmp_path / "in.jsonl"
    write_corpus(source, 12)
    done = tmp_path / "done.parquet"
    embed_file(source, done, embedder=embedder)

    fresh = unloaded(model_path)
    with pytest.raises(ConfigurationError, match="does not exist"):
        embed_file(tmp_path / "missing.jsonl", tmp_path / "a.parquet", embedder=fresh)
    assert not model_loaded(fresh), "missing input"

    bad = tmp_path / "bad.jsonl"
    write_corpus(bad, 12, bad_line=7)
    with pytest.raises(BadRowError, match="line 7"):
        embed_file(bad, tmp_path / "b.parquet", embedder=fresh)
    assert not model_loaded(fresh), "bad records"

    again = embed_file(source, done, embedder=fresh)
    assert again.already_complete and again.rows == 12
    assert not model_loaded(fresh), "already complete"

    other = Embedder(model=model_path, device="cpu", dimensions=128)
    with pytest.raises(ConfigurationError, match=r"dimensions: None -> 128.*--overwrite"):
        embed_file(source, done, embedder=other)
    assert not model_loaded(other), "settings conflict"


def test_ray_starts_only_after_the_cheap_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``hfe embed --engine ray`` used to start Ray (and load its actors' models) before these checks.

    Ray itself is not started here: ``RayEngine`` is replaced by a stand-in that records its arguments.
    """
    ray_module = pytest.importorskip("hfe_core.ray")
    started: list[tuple[Any, ...]] = []

    def record_start(settings: EmbedderSettings, **options: Any) -> Any:
        started.append((settings, options))
        raise ConfigurationError("Ray is not started in this test.")

    monkeypatch.setattr(ray_module, "RayEngine", record_start)
    bad, good = tmp_path / "bad.jsonl", tmp_path / "good.jsonl"
    write_corpus(bad, 4, bad_line=2)
    write_corpus(good, 4)
    ray = ["--engine", "ray", "--workers", "3", "--model", "some/model", "--no-progress"]
    for given in (tmp_path / "missing.jsonl", bad):
        assert main(["embed", str(given), "-o", str(tmp_path / "out.npy"), *ray]) == 1
    err = capsys.readouterr().err
    assert "ConfigurationError: The input" in err and "BadRowError" in err
    assert started == []

    # Past the checks, the engine is built from the job's settings and the Ray options.
    assert main(["embed", str(good), "-o", str(tmp_path / "out.npy"), *ray]) == 1
    assert "Ray is not started in this test." in capsys.readouterr().err
    [(settings, options)] = started
    assert settings.model == "some/model"
    assert options == {"workers": 3, "address": None, "num_gpus": None}


class Closing(EmbedderEngine):
    """The real engine, noting that the job closed it."""

    closed = False

    def close(self) -> None:
        self.closed = True
        super().close()


def test_an_engine_factory_is_called_once_the_checks_pass_and_closed(tmp_path: Path, model_path: str) -> None:
    built: list[Closing] = []

    def factory(settings: EmbedderSettings) -> Closing:
        built.append(Closing(Embedder(settings)))
        return built[-1]

    source = tmp_path / "in.jsonl"
    write_corpus(source, 6, bad_line=3)
    with pytest.raises(BadRowError):
        embed_file(source, tmp_path / "out.parquet", engine=factory, model=model_path, device="cpu")
    assert built == []
    summary = embed_file(
        source, tmp_path / "out.parquet", engine=factory, model=model_path, device="cpu", on_bad_row="skip"
    )
    assert summary.rows == 5
    [engine] = built
    assert engine.embedder.settings.model == model_path and engine.closed


# -- 3. Ctrl-C: one message, naming the work folder only when it holds something ---------------------
def interrupt_when(command: list[str], stderr_has: str, logs: Path) -> tuple[int, str]:
    """Run ``command``; send SIGINT as soon as its stderr shows ``stderr_has``."""
    err_path = logs / "err.txt"
    with err_path.open("wb") as err:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT)
        try:
            began = time.monotonic()
            while stderr_has not in err_path.read_text("utf-8", errors="replace"):
                assert process.poll() is None, "the command ended before the interruption point"
                assert time.monotonic() - began < RUN_TIMEOUT, "never reached the interruption point"
                time.sleep(0.01)
            process.send_signal(signal.SIGINT)
            process.wait(timeout=RUN_TIMEOUT)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    return process.returncode, err_path.read_text("utf-8")


def test_ctrl_c_while_the_model_loads_names_no_work_folder(tmp_path: Path, model_path: str) -> None:
    source = tmp_path / "in.jsonl"
    write_corpus(source, 50)
    output = tmp_path / "out.parquet"
    command = [sys.executable, "-m", "hfe_core.cli", "embed", str(source), "-o", str(output)]
    command += ["--model", model_path, "--device", "cpu", "--no-progress"]
    status, stderr = interrupt_when(command, "hfe: loading", tmp_path)
    assert status == 130, stderr
    assert not work_dir_for(output).exists(), f"the job got past the model load: {stderr}"
    assert "Traceback" not in stderr
    expected = (
        "hfe embed: interrupted before any chunk was done; nothing is kept. Run the same command again "
        "to start."
    )
    assert [line for line in stderr.splitlines() if "interrupted" in line] == [expected]
    assert ".hfe-job" not in stderr


# -- 4. throughput over embedding time; load time apart --------------------------------------------
class StopAfter(EmbedderEngine):
    """The real embedder; after ``chunks`` chunks it fails as a model that ran out of memory would."""

    def __init__(self, embedder: Embedder, chunks: int) -> None:
        super().__init__(embedder, owned=False)
        self.left = chunks

    def embed_chunk(
        self, texts: Sequence[str], *, input_type: InputType
    ) -> tuple[npt.NDArray[np.float32], ChunkCounters]:
        if self.left == 0:
            raise EmbeddingError("out of memory (injected)")
        self.left -= 1
        return super().embed_chunk(texts, input_type=input_type)


def test_texts_per_second_leave_out_the_model_load_and_resumed_chunks(
    tmp_path: Path, embedder: Embedder, model_path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from hfe_core.backends.local import clear_model_cache

    source = tmp_path / "in.jsonl"
    write_corpus(source, 40)
    output = tmp_path / "out.parquet"
    with pytest.raises(EmbeddingError):
        embed_file(source, output, engine=StopAfter(embedder, chunks=3), chunk_size=5)
    kept = [json.loads(line) for line in (work_dir_for(output) / "chunks.jsonl").read_text().splitlines()]
    assert len(kept) == 3

    clear_model_cache()  # the resumed run really loads the model
    fresh = unloaded(model_path)
    summary = embed_file(source, output, embedder=fresh, chunk_size=5)
    assert summary.resumed_chunks == 3
    assert summary.embedded_now == summary.embedded - sum(entry["embedded"] for entry in kept) == 25
    assert summary.load_seconds > 0 and summary.embed_seconds > 0
    assert summary.load_seconds + summary.embed_seconds <= summary.seconds
    assert summary.texts_per_second == pytest.approx(summary.embedded_now / summary.embed_seconds)
    assert summary.texts_per_second > summary.embedded_now / (summary.seconds - summary.load_seconds)
    text = summary.format()
    assert f"  load        {summary.load_seconds:,.1f} s" in text
    assert f"({summary.texts_per_second:,.1f} texts/s, 25 texts embedded in this run)" in text
    saved = json.loads((work_dir_for(output) / "summary.json").read_text())
    assert saved["load_seconds"] == summary.load_seconds
    fresh.close()

    status = main(["embed", str(source), "-o", str(tmp_path / "b.parquet"), "--model", model_path, "--json"])
    assert status == 0
    data = json.loads(capsys.readouterr().out)
    old_keys = {"records", "rows", "embedded", "duplicates", "seconds", "texts_per_second", "counters"}
    assert old_keys | {"load_seconds", "embed_seconds", "embedded_now"} <= set(data)
    assert data["texts_per_second"] == pytest.approx(data["embedded_now"] / data["embed_seconds"])


# -- 5. the .npy output's ids ----------------------------------------------------------------------
def test_the_npy_ids_file_is_named_in_the_summary_and_kept_complete(
    tmp_path: Path, embedder: Embedder, model_path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.jsonl"
    records = write_corpus(source, 7)
    output = tmp_path / "vec.npy"
    ids = tmp_path / "vec.ids.jsonl"
    status = main(
        ["embed", str(source), "-o", str(output), "--model", model_path, "--id-field", "id", "--no-progress"]
    )
    assert status == 0
    printed = capsys.readouterr().out
    assert f"  ids         {ids} (one per row, in order)" in printed.splitlines()
    assert [json.loads(line) for line in ids.read_text().splitlines()] == [r["id"] for r in records]
    assert job.ids_path_for(output) == ids
    assert json.loads((work_dir_for(output) / "summary.json").read_text())["ids"] == str(ids)

    # Complete, but its ids are gone: not "already complete"; both are written again.
    ids.unlink()
    summary = embed_file(source, output, embedder=embedder, id_field="id")
    assert not summary.already_complete and summary.ids == str(ids)
    assert [json.loads(line) for line in ids.read_text().splitlines()] == [r["id"] for r in records]
    again = embed_file(source, output, embedder=embedder, id_field="id")
    assert again.already_complete and again.ids == str(ids) and str(ids) in again.format()


# -- 6. a model that is not in the cache, the Hub out of reach --------------------------------------
def online_env(hf_home: Path) -> dict[str, str]:
    """HF_HUB_OFFLINE unset, and a Hub that refuses connections at once (nothing leaves this machine)."""
    env = {key: value for key, value in os.environ.items() if key != "HF_HUB_OFFLINE"}
    env.update(
        HF_HOME=str(hf_home),
        HF_HUB_CACHE=str(hf_home / "hub"),
        HF_ENDPOINT="http://127.0.0.1:9",  # the discard port: connection refused
        HF_HUB_DISABLE_TELEMETRY="1",
        NO_PROXY="*",
    )
    return env


def test_a_model_not_in_the_cache_with_the_hub_unreachable_fails_fast_in_one_line(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    write_corpus(source, 3)
    run = hfe(
        "embed",
        str(source),
        "-o",
        str(tmp_path / "out.parquet"),
        "--model",
        "hfe-test/not-in-any-cache",
        "--no-progress",
        env=online_env(tmp_path / "hf"),
    )
    assert run.returncode == 1
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr  # no huggingface_hub retry noise
    assert lines[0].startswith("hfe: ModelLoadError: Could not load the sentence-transformers model")
    for part in ("not in the Hugging Face cache", "cannot be reached", "HF_HUB_OFFLINE=1", "local folder"):
        assert part in lines[0], part
    assert not work_dir_for(tmp_path / "out.parquet").exists()


def test_a_cached_model_loads_from_the_cache_when_the_hub_is_unreachable(
    tmp_path: Path, model_path: str
) -> None:
    # The packaged model's files as a Hub cache entry (how the Hub cache lays out a downloaded model).
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hf" / "hub" / "models--hfe-test--cached-minilm"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    shutil.copytree(model_path, repo / "snapshots" / commit, copy_function=os.symlink)
    source = tmp_path / "in.jsonl"
    write_corpus(source, 3)
    run = hfe(
        "embed",
        str(source),
        "-o",
        str(tmp_path / "out.parquet"),
        "--model",
        "hfe-test/cached-minilm",
        "--no-progress",
        "--json",
        env=online_env(tmp_path / "hf"),
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["rows"] == 3
    hfe_lines = [line for line in run.stderr.splitlines() if line.startswith("hfe:")]
    assert hfe_lines[0].startswith("hfe: the Hub (http://127.0.0.1:9) cannot be reached")
    assert hfe_lines[0].endswith("loading hfe-test/cached-minilm from the cache.")
    assert "Retry" not in run.stderr and "thrown while requesting" not in run.stderr
