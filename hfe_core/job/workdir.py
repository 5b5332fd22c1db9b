"""The work folder next to the output (``OUTPUT.hfe-job/``): chunks, manifest, seen texts, durable writes."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from hfe_core.job.common import _LOOKUP, _OPEN_CHUNKS
from hfe_core.job.durable import _file_sha256, _fsync_dir, _write_durably, _writing


def work_dir_for(output: str | Path) -> Path:
    """The work folder of the job writing ``output``: ``OUTPUT.hfe-job`` next to it.

    Example:
        >>> work_dir_for("out/vectors.parquet").as_posix()
        'out/vectors.parquet.hfe-job'
    """
    output = Path(output)
    return output.with_name(output.name + ".hfe-job")


def ids_path_for(output: str | Path) -> Path:
    """Where a ``.npy`` output's ids go: ``NAME.ids.jsonl`` next to ``NAME.npy``, one JSON value a line.

    Example:
        >>> ids_path_for("out/vectors.npy").as_posix()
        'out/vectors.ids.jsonl'
    """
    return Path(output).with_suffix(".ids.jsonl")


def _text_key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


# -- the work folder ------------------------------------------------------------------------------
class _WorkDir:
    """``OUTPUT.hfe-job/``: ``job.json`` (settings), ``chunks.jsonl`` (manifest), ``chunks/`` (data)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.chunks_dir = root / "chunks"
        self.job_file = root / "job.json"
        self.log_file = root / "chunks.jsonl"
        self.summary_file = root / "summary.json"
        self.dedup_file = root / "dedup.sqlite"

    def exists(self) -> bool:
        return self.job_file.is_file()

    def wipe(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def create(self, job: dict[str, Any]) -> None:
        with _writing(self.chunks_dir):
            self.chunks_dir.mkdir(parents=True, exist_ok=True)
        _write_durably(self.job_file, orjson.dumps(job, option=orjson.OPT_INDENT_2))
        _fsync_dir(self.root)

    def read_job(self) -> dict[str, Any]:
        data: dict[str, Any] = orjson.loads(self.job_file.read_bytes())
        return data

    def read_log(self) -> dict[int, dict[str, Any]]:
        """The committed chunks; a line cut short by a crash is ignored (and that chunk redone)."""
        entries: dict[int, dict[str, Any]] = {}
        if not self.log_file.is_file():
            return entries
        good: list[bytes] = []
        for raw in self.log_file.read_bytes().splitlines():
            try:
                entry = orjson.loads(raw)
                number = int(entry["chunk"])
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                continue
            entries[number] = entry  # a later line for the same chunk wins
            good.append(raw)
        # Rewrite without torn lines, so appends start on a clean line.
        _write_durably(self.log_file, b"".join(line + b"\n" for line in good))
        return entries

    def append_log(self, entry: dict[str, Any]) -> None:
        with _writing(self.log_file), self.log_file.open("ab") as handle:
            handle.write(orjson.dumps(entry) + b"\n")
            handle.flush()
            os.fsync(handle.fileno())

    def committed(self) -> tuple[int, int]:
        """Chunks and rows the manifest records as done (read only: torn lines are skipped)."""
        rows: dict[int, int] = {}
        try:
            data = self.log_file.read_bytes() if self.job_file.is_file() else b""
        except OSError:
            return 0, 0
        for raw in data.splitlines():
            try:
                entry = orjson.loads(raw)
                rows[int(entry["chunk"])] = int(entry["rows"])
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                continue
        return len(rows), sum(rows.values())

    def vectors_path(self, number: int) -> Path:
        return self.chunks_dir / f"{number:08d}.npy"

    def rows_path(self, number: int) -> Path:
        return self.chunks_dir / f"{number:08d}.json"

    def intact(self, entry: dict[str, Any]) -> bool:
        number = int(entry["chunk"])
        return _file_sha256(self.vectors_path(number)) == entry.get("vectors_sha256") and _file_sha256(
            self.rows_path(number)
        ) == entry.get("rows_sha256")


class _SeenTexts:
    """Texts already embedded in this job -> (chunk, position); in SQLite on disk, not in memory."""

    def __init__(self, path: Path) -> None:
        self._path = path
        with _writing(path):
            path.unlink(missing_ok=True)
            self._db = sqlite3.connect(path)
            self._db.execute("PRAGMA journal_mode=OFF")
            self._db.execute("PRAGMA synchronous=OFF")
            self._db.execute(
                "CREATE TABLE seen (key BLOB PRIMARY KEY, chunk INTEGER, pos INTEGER) WITHOUT ROWID"
            )
        marks = ",".join("?" * _LOOKUP)  # placeholders only; the keys are bound parameters
        self._query = f"SELECT key, chunk, pos FROM seen WHERE key IN ({marks})"  # noqa: S608

    def find(self, keys: Sequence[bytes]) -> dict[bytes, tuple[int, int]]:
        found: dict[bytes, tuple[int, int]] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), _LOOKUP):
            part = unique[start : start + _LOOKUP]
            # Always _LOOKUP parameters (the last group padded with a repeat): one prepared statement
            # for the whole job, where each new count would be a new one in SQLite's statement cache.
            part += part[-1:] * (_LOOKUP - len(part))
            for key, chunk, pos in self._db.execute(self._query, part):
                found[key] = (chunk, pos)
        return found

    def add(self, number: int, keys: Sequence[bytes]) -> None:
        with _writing(self._path):
            self._db.executemany(
                "INSERT OR IGNORE INTO seen VALUES (?, ?, ?)",
                ((key, number, pos) for pos, key in enumerate(keys)),
            )
            self._db.commit()

    def close(self) -> None:
        self._db.close()


class _ChunkVectors:
    """Memory-mapped vectors of earlier chunks, to copy a duplicate text's vector from."""

    def __init__(self, work: _WorkDir) -> None:
        self._work = work
        self._open: OrderedDict[int, npt.NDArray[np.float32]] = OrderedDict()

    def get(self, number: int, pos: int) -> npt.NDArray[np.float32]:
        if number not in self._open:
            self._open[number] = np.load(self._work.vectors_path(number), mmap_mode="r")
            while len(self._open) > _OPEN_CHUNKS:
                self._open.popitem(last=False)
        self._open.move_to_end(number)
        return np.array(self._open[number][pos], dtype=np.float32)

    def forget(self, number: int) -> None:
        self._open.pop(number, None)
