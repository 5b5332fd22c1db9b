"""Batch jobs over large corpora: :func:`embed_file` (``hfe embed``) and :func:`embed_stream`.

:func:`embed_file` embeds every record of a JSONL, CSV/TSV, Parquet or text file into a
Parquet or ``.npy`` file, and never loses work:

* The input is read in chunks of ``chunk_size`` records (streamed, never loaded whole).
  Each chunk's vectors and ids are written to a work folder next to the output
  (``OUTPUT.hfe-job/``) and fsynced, then one line is appended to its manifest
  (``chunks.jsonl``: the chunk's input digest, its files' SHA-256, its counters and the
  records it skipped). That line is the commit point.
* Run again after a crash, Ctrl-C, a killed process or a server that stayed down, the
  same call resumes: a chunk whose manifest line, input digest and file hashes all check
  out is kept; a missing, truncated or corrupt chunk, or one whose input records changed,
  is embedded again. The output is assembled from the chunks in input order only when
  all are done, so it is the same as an uninterrupted run's: same rows, same order, no
  duplicates.
* Texts seen before in the job are embedded once (``dedup=True``) and their vector is
  copied; the index of seen texts lives in SQLite on disk, so memory stays bounded by
  the chunk size, the batch size and the concurrency, not by the corpus.

Example:
    >>> from hfe_core import embed_file
    >>> summary = embed_file(  # doctest: +SKIP
    ...     "corpus.jsonl", "vectors.parquet", text_field="body", id_field="doc_id"
    ... )
    >>> print(summary.format())  # doctest: +SKIP
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import shutil
import sqlite3
import tempfile
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args

import numpy as np
import numpy.typing as npt
import orjson
from tqdm.auto import tqdm

from hfe_core.config import EmbedderSettings, InputType
from hfe_core.corpus import BadRow, InputFormat, Row, detect_format, read_records, require_pyarrow
from hfe_core.embedder import Embedder
from hfe_core.engines import ChunkCounters, EmbedderEngine, Engine
from hfe_core.errors import (
    BadRowError,
    ConfigurationError,
    HfeError,
    InputTypeError,
    InvalidInputError,
    OutputWriteError,
)
from hfe_core.precision import quantize

__all__ = [
    "JobInterrupted",
    "JobSummary",
    "OnBadRow",
    "OutputWriteError",
    "embed_file",
    "embed_stream",
    "ids_path_for",
    "work_dir_for",
]

logger = logging.getLogger("hfe")

OnBadRow = Literal["error", "skip"]
OutputFormat = Literal["parquet", "npy"]

#: Version of the work folder's layout; a folder of another version is not resumed.
_LAYOUT = 1
#: Bad records named in an error message or a printed summary.
_NAMED = 10
#: Keys looked up in one query of the seen-texts index.
_LOOKUP = 256
#: Earlier chunks kept memory-mapped to copy duplicate texts' vectors from.
_OPEN_CHUNKS = 8


def _reads_ahead(embedder: Embedder) -> bool:
    """Whether to embed the next chunk while one is consumed.

    Yes for a backend sending requests concurrently (a server), which would otherwise idle at every
    chunk's tail; not for a local model.
    """
    return embedder.backend.max_concurrency > 1


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


class JobInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGINT) stopped a batch job; the message says what is kept and how to resume.

    It is a :class:`KeyboardInterrupt`, so ``except KeyboardInterrupt`` handles it as before.

    Attributes:
        work_dir: the job's work folder when it holds finished chunks, else ``None``.
        chunks: the finished chunks kept in it.
    """

    def __init__(self, message: str, *, work_dir: Path | None, chunks: int) -> None:
        super().__init__(message)
        self.work_dir = work_dir
        self.chunks = chunks


#: What to do about a failed write, by error number.
_WRITE_HINTS: dict[int, str] = {
    errno.ENOSPC: "free some space, or choose an output (-o) on another disk",
    errno.EDQUOT: "free some space under your quota, or choose an output (-o) on another disk",
    errno.EROFS: "the file system is read-only: choose an output (-o) in a writable folder",
    errno.EACCES: "choose an output (-o) in a folder you may write to, or fix its permissions",
    errno.EPERM: "choose an output (-o) in a folder you may write to, or fix its permissions",
    errno.ENOTDIR: "a part of the path is a file, not a folder: choose another output (-o)",
}


@contextmanager
def _writing(path: Path) -> Iterator[None]:
    """Turn a failed write under ``path`` (disk full, read-only, no permission) into OutputWriteError."""
    try:
        yield
    except HfeError:
        raise
    except (OSError, sqlite3.Error) as exc:
        code = exc.errno if isinstance(exc, OSError) else None
        if code is None and "full" in str(exc):  # SQLite's "database or disk is full"
            code = errno.ENOSPC
        if code is not None and code in errno.errorcode:
            reason = f"{os.strerror(code).lower()} ({errno.errorcode[code]})"
        else:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        hint = _WRITE_HINTS.get(code or 0, "choose an output (-o) in a writable folder, or fix this one")
        raise OutputWriteError(f"Cannot write {path}: {reason}; {hint}.", path=str(path), code=code) from exc


def _check_writable(output: Path) -> None:
    """Fail now, before the model loads, when the output's folder cannot be written."""
    folder = existing = output.parent
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputWriteError(
            f"Cannot write {output}: {existing} is a file, not a folder; choose another output (-o).",
            path=str(existing),
            code=errno.ENOTDIR,
        )
    with _writing(folder):
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass


def _output_format(output: Path) -> OutputFormat:
    suffix = output.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix == ".npy":
        return "npy"
    raise ConfigurationError(f"Cannot write {output.name!r}: name the output .parquet or .npy.")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_sha256(path: Path) -> str | None:
    if not path.is_file():
        return None
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _text_key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _write_durably(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file, fsynced, renamed into place."""
    partial = path.with_name(path.name + ".partial")
    with _writing(path):
        with partial.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


@dataclass
class JobSummary:
    """What a batch job did (also saved as ``summary.json`` in its work folder).

    Attributes:
        input: the input file.
        output: the output file.
        records: records read from the input, bad ones included.
        rows: rows written to the output.
        embedded: distinct texts embedded by the model (whole job, earlier runs included).
        duplicates: rows whose text came earlier in the input: embedded once, vector copied.
        skipped: the bad records skipped (``{"index", "line", "reason"}``), with ``on_bad_row="skip"``.
        chunks: chunks in the job.
        resumed_chunks: chunks found done by an earlier run and kept.
        redone_chunks: chunks an earlier run wrote that were missing, corrupt or stale, embedded again.
        dimension: the vectors' dimension.
        counters: what the engine did over the whole job: texts embedded (windows included),
            truncated and chunked inputs, requests, retries, tokens (0 when the mode does not say).
        seconds: wall time of this run, everything included (reading, model load, writing).
        texts_per_second: distinct texts embedded by this run per second of ``embed_seconds``: the
            model load and the chunks kept from an earlier run count in neither.
        already_complete: the output was complete and unchanged; nothing was done.
        load_seconds: part of ``seconds`` spent loading the model (local mode) or reading the
            server's facts (server modes) before the first chunk.
        embed_seconds: part of ``seconds`` spent embedding and writing the chunks of this run
            (chunks kept from an earlier run excluded).
        embedded_now: distinct texts embedded by this run (``embedded`` less an earlier run's).
        ids: the ids file of a ``.npy`` output (:func:`ids_path_for`); ``None`` for Parquet, which
            holds its ids in its ``id`` column.

    Example:
        >>> summary = embed_file("corpus.jsonl", "vectors.parquet")  # doctest: +SKIP
        >>> summary.rows, summary.dimension, summary.resumed_chunks  # doctest: +SKIP
        (100000, 384, 0)
    """

    input: str
    output: str
    records: int = 0
    rows: int = 0
    embedded: int = 0
    duplicates: int = 0
    skipped: list[dict[str, Any]] = field(default_factory=list)
    chunks: int = 0
    resumed_chunks: int = 0
    redone_chunks: int = 0
    dimension: int = 0
    counters: ChunkCounters = field(default_factory=ChunkCounters)
    seconds: float = 0.0
    texts_per_second: float = 0.0
    already_complete: bool = False
    load_seconds: float = 0.0
    embed_seconds: float = 0.0
    embedded_now: int = 0
    ids: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready data."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobSummary:
        """A summary read back from :meth:`as_dict`."""
        values = dict(data)
        values["counters"] = ChunkCounters(**values.get("counters", {}))
        known = {name for name in cls.__dataclass_fields__}
        return cls(**{key: value for key, value in values.items() if key in known})

    def format(self) -> str:
        """A few lines for a terminal."""
        c = self.counters
        lines = [
            f"{self.records:,} records -> {self.output} ({self.rows:,} rows, {self.dimension} dimensions)",
            *([f"  ids         {self.ids} (one per row, in order)"] if self.ids else []),
            f"  embedded    {self.embedded:,} distinct texts"
            + (f"; {self.duplicates:,} duplicate rows embedded once" if self.duplicates else ""),
        ]
        if self.skipped:
            named = ", ".join(
                f"{BadRow(s['index'], s['line'], s['reason']).where}: {s['reason']}"
                for s in self.skipped[:_NAMED]
            )
            more = f" and {len(self.skipped) - _NAMED} more" if len(self.skipped) > _NAMED else ""
            lines.append(f"  skipped     {len(self.skipped):,} bad records ({named}{more})")
        if self.resumed_chunks or self.redone_chunks:
            lines.append(
                f"  resumed     {self.resumed_chunks} of {self.chunks} chunks kept from an earlier run"
                + (
                    f", {self.redone_chunks} redone (missing, corrupt or changed)"
                    if self.redone_chunks
                    else ""
                )
            )
        lines.append(
            f"  tokens      {c.tokens:,}" if c.tokens else "  tokens      - (not reported in this mode)"
        )
        lines.append(f"  truncated   {c.truncated:,}" + (f" (chunked: {c.chunked:,})" if c.chunked else ""))
        lines.append(
            f"  retries     {c.retries:,} of {c.requests:,} requests" if c.requests else "  retries     0"
        )
        lines.append(f"  time        {self.seconds:,.1f} s")
        if self.load_seconds:
            lines.append(f"  load        {self.load_seconds:,.1f} s (the model, or the server's facts)")
        if self.embed_seconds:
            lines.append(
                f"  embedding   {self.embed_seconds:,.1f} s"
                + (
                    f" ({self.texts_per_second:,.1f} texts/s, {self.embedded_now:,} "
                    f"text{'s' if self.embedded_now != 1 else ''} embedded in this run)"
                    if self.texts_per_second
                    else ""
                )
            )
        if self.already_complete:
            lines.append("  (the output was already complete; nothing to do)")
        return "\n".join(lines)


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


# -- reading in chunks ----------------------------------------------------------------------------
@dataclass
class _Chunk:
    number: int
    records: list[Row | BadRow]

    @property
    def rows(self) -> list[Row]:
        return [r for r in self.records if isinstance(r, Row)]

    @property
    def bad(self) -> list[BadRow]:
        return [r for r in self.records if isinstance(r, BadRow)]

    def digest(self) -> str:
        """Fingerprint of the chunk's input records: a changed record means the chunk is redone."""
        digest = hashlib.blake2b(digest_size=16)
        for record in self.records:
            if isinstance(record, Row):
                item: Any = [record.index, record.id, record.text, record.meta]
            else:
                item = [record.index, None, record.reason]
            digest.update(orjson.dumps(item, default=str))
        return digest.hexdigest()


def _chunks(records: Iterable[Row | BadRow], size: int) -> Iterator[_Chunk]:
    current: list[Row | BadRow] = []
    number = 0
    for record in records:
        current.append(record)
        if len(current) == size:
            yield _Chunk(number, current)
            number, current = number + 1, []
    if current:
        yield _Chunk(number, current)


def _bad_row_error(path: Path, bad: list[BadRow], count: int, *, done: int) -> BadRowError:
    named = "; ".join(f"{b.where}: {b.reason}" for b in bad[:_NAMED])
    more = f" (and {count - _NAMED} more)" if count > _NAMED else ""
    kept = (
        f" The {done:,} records before them are embedded and kept; the same command resumes."
        if done
        else " Nothing was embedded yet."
    )
    return BadRowError(
        f"{path.name}: {count} record{'s' if count != 1 else ''} cannot be embedded: {named}{more}. Fix "
        f"{'them' if count != 1 else 'it'}, or skip bad records with --on-bad-row skip "
        f"(on_bad_row='skip'); skipped records are listed in the summary.{kept}",
        bad_rows=bad[:_NAMED],
        count=count,
        path=str(path),
    )


# -- the job --------------------------------------------------------------------------------------
_T = TypeVar("_T")


def _now(call: Callable[[], _T]) -> Future[_T]:
    """Run ``call`` here and now, its outcome in a future."""
    future: Future[_T] = Future()
    try:
        future.set_result(call())
    except Exception as exc:  # noqa: BLE001 - handed to whoever reads the future (Ctrl-C propagates)
        future.set_exception(exc)
    return future


def _in_daemon_thread(call: Callable[[], _T]) -> Future[_T]:
    """Run ``call`` in a daemon thread: a job stopped by Ctrl-C or an error does not wait for it.

    (An executor's threads are joined at interpreter exit, so a chunk retrying against a server
    that is down would hold the process long after the job stopped. Nothing is lost by not
    waiting: only the main thread commits chunks.)
    """
    future: Future[_T] = Future()

    def run() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(call())
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread through the future
            future.set_exception(exc)

    threading.Thread(target=run, name="hfe-job-chunk", daemon=True).start()
    return future


@dataclass
class _Pending:
    """A chunk on its way: planned (which texts are new), maybe being embedded, not yet committed."""

    chunk: _Chunk
    digest: str
    keys: list[bytes] = field(default_factory=list)
    earlier: dict[bytes, tuple[int, int]] = field(default_factory=dict)
    first_here: dict[bytes, int] = field(default_factory=dict)
    to_embed: list[int] = field(default_factory=list)
    future: Future[tuple[npt.NDArray[np.float32], ChunkCounters]] | None = None
    started: float = 0.0
    entry: dict[str, Any] | None = None  # set for a chunk kept from an earlier run


@dataclass
class _Plan:
    input: Path
    output: Path
    fmt: InputFormat
    out_fmt: OutputFormat
    text_field: str
    id_field: str | None
    keep: list[str]
    input_type: InputType
    on_bad_row: OnBadRow
    dedup: bool
    chunk_size: int

    def job_record(self, settings: EmbedderSettings, embedder: Embedder | None = None) -> dict[str, Any]:
        """What must not change for a resumed job to equal an uninterrupted one.

        Without ``embedder``, only what the settings say, with nothing loaded or contacted: the
        model's dimension, and the model id and prompt where a server or the model would tell them,
        are left out (so a conflict or a complete job is found before the model loads). With it, all.
        """
        explicit = settings.query_prompt if self.input_type == "query" else settings.document_prompt
        embedding: dict[str, Any] = {"mode": settings.mode}
        if embedder is not None:
            embedding["model"] = embedder.backend.model_id or settings.model
        elif settings.model:
            embedding["model"] = settings.model
        embedding["revision"] = settings.revision
        if embedder is not None:
            embedding["dimension"] = embedder.dimension
        embedding.update(
            dimensions=settings.dimensions,
            normalize=settings.normalize,
            truncation=settings.truncation,
            input_type=self.input_type,
        )
        if embedder is not None:
            embedding["prompt"] = embedder.prompt(self.input_type)
        elif explicit is not None:
            embedding["prompt"] = explicit
        embedding["dedup"] = self.dedup
        if settings.precision != "float32":  # absent at float32, so records of earlier jobs stay equal
            embedding["precision"] = settings.precision
            embedding["precision_ranges"] = settings.precision_ranges
        return {
            "layout": _LAYOUT,
            "input": {
                "format": self.fmt,
                "text_field": self.text_field,
                "id_field": self.id_field,
                "keep": self.keep,
                "chunk_size": self.chunk_size,
            },
            "embedding": embedding,
        }


def _differences(old: dict[str, Any], new: dict[str, Any], *, known_only: bool = False) -> list[str]:
    """What differs between two job records; with ``known_only``, only the keys ``new`` has."""
    changes = []
    for section in ("input", "embedding"):
        before, after = old.get(section, {}), new.get(section, {})
        keys = set(after) if known_only else set(before) | set(after)
        for key in sorted(keys):
            if before.get(key) != after.get(key):
                changes.append(f"{key}: {before.get(key)!r} -> {after.get(key)!r}")
    if old.get("layout") != new.get("layout"):
        changes.append(f"layout: {old.get('layout')!r} -> {new.get('layout')!r}")
    return changes


#: Builds the job's engine from its settings once the cheap checks passed (e.g. starts Ray actors).
EngineFactory = Callable[[EmbedderSettings], Engine]


def embed_file(
    input: str | Path,
    output: str | Path,
    *,
    embedder: Embedder | None = None,
    engine: Engine | EngineFactory | None = None,
    input_format: InputFormat | None = None,
    text_field: str = "text",
    id_field: str | None = None,
    keep: Sequence[str] = (),
    input_type: InputType = "document",
    on_bad_row: OnBadRow = "error",
    dedup: bool = True,
    chunk_size: int = 1024,
    overwrite: bool = False,
    show_progress: bool | None = None,
    **settings: Any,
) -> JobSummary:
    """Embed every record of a file into a Parquet or ``.npy`` file; resumable, bounded in memory.

    Run the same call again after any interruption and it resumes where it stopped; the
    output equals an uninterrupted run's. See the module documentation for how.

    Everything that needs no model is checked before the model is loaded (or a server is
    contacted): the input exists and has no bad records, the output's folder is writable, the
    job is not already complete and an unfinished one has the same settings.

    Args:
        input: a ``.jsonl``, ``.csv``, ``.tsv``, ``.parquet`` or ``.txt`` file (one text per line).
        output: a ``.parquet`` file (columns ``id``, ``embedding`` and the ``keep`` fields) or a ``.npy``
            file (a ``(rows, dimension)`` float32 array; the ids go to ``NAME.ids.jsonl`` next to
            ``NAME.npy``, one JSON value per line: see :func:`ids_path_for`).
        embedder: the :class:`~hfe_core.embedder.Embedder` to use; default: one built from ``settings``.
        engine: what embeds the chunks: an engine (e.g. ``hfe_core.ray.RayEngine``), or a function
            that builds one from the job's settings (``settings`` are then allowed), called only once
            the cheap checks passed and closed at the end; default: ``embedder``.
        input_format: ``"jsonl"``, ``"csv"``, ``"tsv"``, ``"parquet"`` or ``"text"``; default: the suffix's.
        text_field: the field or column holding the text (not used for text files).
        id_field: the field or column holding the record's id (written as a string); default: the
            record's position in the input, from 0.
        keep: more fields or columns to copy to the Parquet output.
        input_type: ``"document"`` (default) or ``"query"``: which prompt applies.
        on_bad_row: ``"error"`` (default): records without a text, with a text that is not a string or
            an empty one stop the job before anything is embedded, named by line or row; ``"skip"``:
            they are left out and listed in the summary and the manifest.
        dedup: embed each distinct text once and copy its vector to its duplicates (default True).
        chunk_size: records per chunk, the unit of checkpointing (default 1024).
        overwrite: start again, discarding an existing output or an unfinished job's chunks.
        show_progress: a tqdm bar with texts/s and ETA; default: when stderr is a terminal.
        **settings: :class:`~hfe_core.config.EmbedderSettings` fields, when ``embedder`` is not given.

    Returns:
        A :class:`JobSummary` (also saved in ``OUTPUT.hfe-job/summary.json``).

    Raises:
        BadRowError: bad records with ``on_bad_row="error"``; names them by line or row.
        ConfigurationError: a missing input, an unknown format, a missing column, an existing output
            without ``overwrite``, or an unfinished job started with other settings.
        OutputWriteError: the output's folder is read-only, the disk is full, or a write failed;
            every chunk done is kept, and the same call resumes once it can write.
        EmbeddingError: the model or server failed (after the retry budget); every chunk done is
            kept, and the same call resumes.
        JobInterrupted: Ctrl-C; says which chunks are kept and whether the same call resumes.

    Example:
        >>> from hfe_core import Embedder, embed_file
        >>> summary = embed_file("corpus.jsonl", "vectors.parquet",  # doctest: +SKIP
        ...                      embedder=Embedder(batch_size=64), id_field="id")
        >>> summary.rows  # doctest: +SKIP
        100000
    """
    started = time.perf_counter()
    factory: EngineFactory | None = None
    if engine is not None and not isinstance(engine, Engine):
        if not callable(engine):
            raise ConfigurationError(
                f"engine={engine!r}: pass an engine (e.g. RayEngine) or a function building one."
            )
        factory, engine = engine, None
        if embedder is not None:
            raise ConfigurationError("Pass either an engine factory and settings, or an embedder, not both.")
    if engine is not None and (embedder is not None or settings):
        raise ConfigurationError("Pass either an engine, or an embedder or settings, not both.")
    if embedder is not None and settings:
        raise ConfigurationError("Pass either an embedder or settings, not both.")
    if on_bad_row not in get_args(OnBadRow):
        raise ConfigurationError(f"on_bad_row={on_bad_row!r}: use 'error' or 'skip'.")
    if input_type not in ("query", "document"):
        raise ConfigurationError(f"input_type={input_type!r}: use 'query' or 'document'.")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size <= 0:
        raise ConfigurationError(f"chunk_size={chunk_size!r}: use a positive integer.")
    source, target = Path(input), Path(output)
    if not source.is_file():
        raise ConfigurationError(
            f"The input {str(source)!r} does not exist or is not a file. Check the path (it is read "
            f"relative to {os.getcwd()})."
        )
    plan = _Plan(
        source,
        target,
        detect_format(source, input_format),
        _output_format(target),
        text_field,
        id_field,
        list(keep),
        input_type,
        on_bad_row,
        dedup,
        chunk_size,
    )
    if plan.fmt == "parquet" or plan.out_fmt == "parquet":
        require_pyarrow()
    # Nothing is loaded or contacted here: an Embedder loads its model (or reads a server) on first use.
    default: EmbedderEngine | None = None
    if factory is not None:
        resolved = EmbedderSettings(**settings)
        build: Callable[[], Engine] = partial(factory, _float_settings(resolved))
    elif engine is not None:
        resolved, build = engine.embedder.settings, partial(_given, engine)
        if resolved.precision != "float32":
            raise ConfigurationError(
                f"The engine's embedder has precision={resolved.precision!r}; the job quantizes the "
                "vectors it writes itself. Give the engine a float32 embedder and the job precision= "
                "(with settings), or quantize the output with hfe_core.precision.quantize."
            )
    else:
        given = embedder or Embedder(**settings)
        resolved = given.settings
        if resolved.precision != "float32":  # chunks stay float32; the output is quantized when written
            given = Embedder(_float_settings(resolved))
        default = EmbedderEngine(given, owned=given is not embedder)
        build = partial(_given, default)
    job = _Job(plan, resolved, build, overwrite=overwrite, show_progress=show_progress, started=started)
    try:
        return job.run()
    except KeyboardInterrupt as exc:
        if isinstance(exc, JobInterrupted):
            raise
        raise job.interrupted().with_traceback(exc.__traceback__) from None
    finally:
        if default is not None:
            default.close()
        elif factory is not None and job.engine is not None:  # the factory's engine is ours to close
            job.engine.close()


def _float_settings(settings: EmbedderSettings) -> EmbedderSettings:
    """``settings`` with float32 output: a job keeps float chunks and quantizes only what it writes."""
    if settings.precision == "float32":
        return settings
    return settings.model_copy(update={"precision": "float32", "precision_ranges": None})


def _given(engine: Engine) -> Engine:
    return engine


def _settings_conflict(root: Path, changes: list[str]) -> ConfigurationError:
    return ConfigurationError(
        f"{root} holds a job started with other settings ({'; '.join(changes)}). Run it with its "
        "settings to finish it, or pass --overwrite (overwrite=True) to start again."
    )


class _Job:
    def __init__(
        self,
        plan: _Plan,
        settings: EmbedderSettings,
        build: Callable[[], Engine],
        *,
        overwrite: bool,
        show_progress: bool | None,
        started: float,
    ) -> None:
        self.plan = plan
        self.settings = settings
        self._build = build
        self.engine: Engine | None = None
        self.overwrite = overwrite
        self.show_progress = show_progress
        self.started = started
        self.work = _WorkDir(work_dir_for(plan.output))
        self.summary = JobSummary(
            input=str(plan.input),
            output=str(plan.output),
            ids=str(ids_path_for(plan.output)) if plan.out_fmt == "npy" else None,
        )
        self.input_digest = ""
        self._stale: str | None = None  # why a complete job's output must be made again

    def interrupted(self) -> JobInterrupted:
        """The Ctrl-C message: what is kept, and whether the same command resumes."""
        chunks, rows = self.work.committed()
        if chunks:
            return JobInterrupted(
                f"hfe embed: interrupted. {chunks:,} chunk{'s' if chunks != 1 else ''} ({rows:,} rows) "
                f"are done and kept in {self.work.root}; run the same command again to resume.",
                work_dir=self.work.root,
                chunks=chunks,
            )
        return JobInterrupted(
            "hfe embed: interrupted before any chunk was done; nothing is kept. Run the same command "
            "again to start.",
            work_dir=None,
            chunks=0,
        )

    def _explain(self, exc: OutputWriteError) -> None:
        """Add to a write error what is kept and how to go on."""
        chunks, rows = self.work.committed()
        if chunks:
            then = (
                f" {chunks:,} chunk{'s' if chunks != 1 else ''} ({rows:,} rows) are done and kept in "
                f"{self.work.root}; then run the same command again to resume."
            )
        else:
            then = " Nothing was embedded yet."
        exc.args = (f"{exc.args[0]}{then}",)

    # -- setting up ------------------------------------------------------------------------------
    def _before_load(self, cheap: dict[str, Any]) -> JobSummary | None:
        """The checks that need no model; returns the summary of a job already complete.

        Settings conflicts, a complete job, an output no job wrote, a folder that cannot be written.
        """
        work, output = self.work, self.plan.output
        if not self.overwrite and work.exists():
            old = work.read_job()
            changes = _differences(old, cheap, known_only=True)
            if changes:
                raise _settings_conflict(work.root, changes)
            if old.get("complete"):
                if old.get("input_digest") != self.input_digest:
                    self._stale = f"{self.plan.input} changed since {output} was written"
                elif (
                    _file_sha256(output) != old.get("output_sha256")
                    or not work.summary_file.is_file()
                    or (self.summary.ids is not None and not Path(self.summary.ids).is_file())
                ):
                    self._stale = f"{output} is missing or changed since the job completed"
                else:
                    summary = JobSummary.from_dict(orjson.loads(work.summary_file.read_bytes()))
                    summary.already_complete = True
                    summary.ids = self.summary.ids
                    summary.seconds = time.perf_counter() - self.started
                    summary.texts_per_second = summary.load_seconds = summary.embed_seconds = 0.0
                    summary.embedded_now = 0
                    return summary
        elif not self.overwrite and output.exists():
            raise ConfigurationError(
                f"{output} exists and no job in {work.root} wrote it. Pass --overwrite (overwrite=True) to "
                "replace it, or choose another output."
            )
        _check_writable(output)
        return None

    def _open_work_dir(self, record: dict[str, Any]) -> dict[int, dict[str, Any]]:
        """Start or resume, now that the model's facts are known; returns the committed chunks."""
        work, output = self.work, self.plan.output
        if self.overwrite:
            work.wipe()
            with _writing(output):
                output.unlink(missing_ok=True)
                if self.summary.ids is not None:
                    Path(self.summary.ids).unlink(missing_ok=True)
        elif work.exists():
            old = work.read_job()
            changes = _differences(old, record)  # what the model or the server says, too
            if changes:
                raise _settings_conflict(work.root, changes)
            if old.get("complete"):
                logger.info("hfe embed: %s; embedding again.", self._stale or f"{output} is stale")
                work.wipe()
        if not work.exists():
            work.create(record)
            return {}
        return work.read_log()

    def _scan(self) -> tuple[int, str]:
        """One pass over the input before embedding: counts records, finds bad ones, digests it all."""
        plan = self.plan
        total, bad_count = 0, 0
        bad: list[BadRow] = []
        whole = hashlib.blake2b(digest_size=16)
        records = read_records(
            plan.input, plan.fmt, text_field=plan.text_field, id_field=plan.id_field, keep=plan.keep
        )
        for chunk in _chunks(records, plan.chunk_size):
            whole.update(chunk.digest().encode())
            for record in chunk.bad:
                bad_count += 1
                if len(bad) < _NAMED:
                    bad.append(record)
            total += len(chunk.records)
        if bad_count and plan.on_bad_row == "error":
            raise _bad_row_error(plan.input, bad, bad_count, done=0)
        return total, whole.hexdigest()

    # -- running -------------------------------------------------------------------------------
    def run(self) -> JobSummary:
        try:
            return self._run()
        except OutputWriteError as exc:
            self._explain(exc)
            raise

    def _run(self) -> JobSummary:
        plan, work, summary = self.plan, self.work, self.summary
        # First what needs no model (bad records stop the job before it leaves any trace)...
        total, self.input_digest = self._scan()
        done = self._before_load(plan.job_record(self.settings))
        if done is not None:
            return done
        # ... then the engine, the model (or the server's facts) and the job's full record.
        loading = time.perf_counter()
        self.engine = engine = self._build()
        engine.embedder.backend.warm_up()  # the model, or the server's /info: load time, not embedding time
        record = plan.job_record(self.settings, engine.embedder)
        summary.load_seconds = time.perf_counter() - loading
        committed = self._open_work_dir(record)
        summary.dimension = int(record["embedding"]["dimension"])
        seen = _SeenTexts(work.dedup_file) if plan.dedup else None
        vectors = _ChunkVectors(work)
        chunks: list[dict[str, Any]] = []
        # Chunks are planned in input order and committed in input order; with a server (or Ray), the
        # next chunk is already being embedded while one is committed, so the server never idles between
        # chunks. Memory: ``depth`` chunks at most.
        depth = int(getattr(engine, "pipeline_depth", 0) or 0) or (2 if _reads_ahead(engine.embedder) else 1)
        pending: deque[_Pending] = deque()
        bar = tqdm(
            total=total, unit="text", desc="hfe embed", disable=self._progress_disabled(), smoothing=0.1
        )

        totals: Counter[str] = Counter()  # rows and duplicates committed; texts embedded by this run

        def commit_oldest() -> None:
            item = pending.popleft()
            entry = self._commit(item, vectors)
            chunks.append(entry)
            totals.update(rows=int(entry["rows"]), duplicates=int(entry["duplicates"]))
            if item.entry is None:
                totals["embedded_now"] += int(entry["embedded"])
            bar.update(int(entry["records"]))
            bar.set_postfix(duplicates=totals["duplicates"], refresh=False)

        embedding = time.perf_counter()
        kept_seconds = 0.0  # spent checking chunks kept from an earlier run: not embedding time
        try:
            records = read_records(
                plan.input, plan.fmt, text_field=plan.text_field, id_field=plan.id_field, keep=plan.keep
            )
            for chunk in _chunks(records, plan.chunk_size):
                began = time.perf_counter()
                entry = committed.get(chunk.number)
                digest = chunk.digest()
                if entry is not None and entry.get("digest") == digest and work.intact(entry):
                    summary.resumed_chunks += 1
                    if seen is not None:
                        seen.add(chunk.number, [_text_key(row.text) for row in chunk.rows])
                    pending.append(_Pending(chunk, digest, entry=entry))
                    kept_seconds += time.perf_counter() - began
                else:
                    if entry is not None:
                        summary.redone_chunks += 1
                    vectors.forget(chunk.number)
                    pending.append(
                        self._start(engine, chunk, digest, seen, background=depth > 1, done=totals["rows"])
                    )
                while len(pending) >= depth:
                    commit_oldest()
            while pending:
                commit_oldest()
        except BaseException as exc:
            # Ctrl-C and write failures say what is kept in their own message (one message, not two).
            if not isinstance(exc, BadRowError | ConfigurationError | OutputWriteError | KeyboardInterrupt):
                logger.warning(
                    "hfe embed: stopped (%s). %d chunks (%d rows) are done and kept in %s; run the same "
                    "command again to resume.",
                    type(exc).__name__,
                    len(chunks),
                    totals["rows"],
                    work.root,
                )
            raise
        finally:
            bar.close()
            if seen is not None:
                seen.close()
        summary.embed_seconds = max(0.0, time.perf_counter() - embedding - kept_seconds)
        self._assemble(chunks)
        self._finish(record, chunks, totals["embedded_now"])
        return summary

    def _progress_disabled(self) -> bool | None:
        if self.show_progress is None:
            return None  # tqdm: shown on a terminal only
        return not self.show_progress

    def _start(
        self,
        engine: Engine,
        chunk: _Chunk,
        digest: str,
        seen: _SeenTexts | None,
        *,
        background: bool,
        done: int,
    ) -> _Pending:
        """Decide which texts of ``chunk`` are new to the job and start embedding them."""
        plan = self.plan
        if chunk.bad and plan.on_bad_row == "error":  # the file changed since the scan
            raise _bad_row_error(plan.input, chunk.bad, len(chunk.bad), done=done)
        rows = chunk.rows
        keys = [_text_key(row.text) for row in rows]
        earlier = seen.find(keys) if seen is not None else {}
        first_here: dict[bytes, int] = {}
        to_embed: list[int] = []  # positions in rows whose text is new to the job
        for pos, key in enumerate(keys):
            if key in earlier or (seen is not None and key in first_here):
                continue
            first_here.setdefault(key, pos)
            to_embed.append(pos)
        if seen is not None:
            # Known before its vectors exist: the next chunk copies from this one, committed before it.
            seen.add(chunk.number, keys)
        texts = [rows[pos].text for pos in to_embed]
        future = None
        if texts:
            call = partial(engine.embed_chunk, texts, input_type=plan.input_type)
            future = _in_daemon_thread(call) if background else _now(call)
        return _Pending(chunk, digest, keys, earlier, first_here, to_embed, future, time.perf_counter())

    def _commit(self, item: _Pending, vectors: _ChunkVectors) -> dict[str, Any]:
        """Wait for a chunk's vectors, fill in its duplicates, write it durably and log it."""
        if item.entry is not None:
            return item.entry
        plan, work, chunk = self.plan, self.work, item.chunk
        rows = chunk.rows
        result = np.empty((len(rows), self.summary.dimension), dtype=np.float32)
        counters = ChunkCounters()
        if item.future is not None:
            try:
                computed, counters = item.future.result()
            except InvalidInputError as exc:
                # Positions in this chunk's new texts -> the records' places in the input file.
                offending = [rows[item.to_embed[i]] for i in exc.indices if 0 <= i < len(item.to_embed)]
                named = ", ".join(row.where for row in offending[:_NAMED])
                exc.args = (f"{plan.input.name} {named}: {exc.args[0] if exc.args else exc}",)
                exc.indices = [row.index for row in offending]
                raise
            result[item.to_embed] = computed
        for pos, key in enumerate(item.keys):
            if key in item.earlier:
                result[pos] = vectors.get(*item.earlier[key])
            elif plan.dedup and item.first_here[key] != pos:
                result[pos] = result[item.first_here[key]]
        vectors_bytes = _npy_bytes(result)
        rows_bytes = orjson.dumps(
            {
                "ids": [row.id for row in rows],
                "meta": {name: [row.meta.get(name) for row in rows] for name in plan.keep},
            },
            default=str,
        )
        _write_durably(work.vectors_path(chunk.number), vectors_bytes)
        _write_durably(work.rows_path(chunk.number), rows_bytes)
        _fsync_dir(work.chunks_dir)
        entry = {
            "chunk": chunk.number,
            "first": chunk.records[0].index,
            "records": len(chunk.records),
            "rows": len(rows),
            "digest": item.digest,
            "vectors_sha256": _sha256(vectors_bytes),
            "rows_sha256": _sha256(rows_bytes),
            "embedded": len(item.to_embed),
            "duplicates": len(rows) - len(item.to_embed),
            "skipped": [bad.as_dict() for bad in chunk.bad],
            "counters": asdict(counters),
            "seconds": round(time.perf_counter() - item.started, 4),
        }
        work.append_log(entry)
        return entry

    # -- finishing -------------------------------------------------------------------------------
    def _codes(self, vectors: npt.NDArray[np.float32]) -> npt.NDArray[Any]:
        """A chunk's float vectors as the output stores them: at the settings' ``precision``."""
        settings = self.settings
        if settings.precision == "float32":
            return np.ascontiguousarray(vectors, dtype="<f4")
        return quantize(vectors, settings.precision, ranges=settings.precision_ranges)

    def _assemble(self, chunks: list[dict[str, Any]]) -> None:
        output = self.plan.output
        partial = output.with_name(output.name + ".partial")
        if self.plan.out_fmt == "npy":
            with _writing(output):
                _write_npy(partial, self.work, chunks, self.summary.dimension, self._codes)
            ids = ids_path_for(output)
            ids_partial = ids.with_name(ids.name + ".partial")
            with _writing(ids), ids_partial.open("wb") as handle:
                for entry in chunks:
                    for identifier in orjson.loads(self.work.rows_path(entry["chunk"]).read_bytes())["ids"]:
                        handle.write(orjson.dumps(identifier) + b"\n")
                handle.flush()
                os.fsync(handle.fileno())
            with _writing(ids):
                os.replace(ids_partial, ids)
        else:
            with _writing(output):
                _write_parquet(partial, self.work, chunks, self.summary.dimension, self._codes, self.plan)
        with _writing(output):
            os.replace(partial, output)
        _fsync_dir(output.parent)

    def _finish(self, record: dict[str, Any], chunks: list[dict[str, Any]], embedded_now: int) -> None:
        summary, work = self.summary, self.work
        summary.chunks = len(chunks)
        for entry in chunks:
            summary.records += int(entry["records"])
            summary.rows += int(entry["rows"])
            summary.embedded += int(entry["embedded"])
            summary.duplicates += int(entry["duplicates"])
            summary.skipped.extend(entry["skipped"])
            summary.counters.add(ChunkCounters(**entry["counters"]))
        summary.seconds = time.perf_counter() - self.started
        summary.embedded_now = embedded_now
        summary.texts_per_second = (
            embedded_now / summary.embed_seconds if embedded_now and summary.embed_seconds else 0.0
        )
        _write_durably(work.summary_file, orjson.dumps(summary.as_dict(), option=orjson.OPT_INDENT_2))
        done = {
            **record,
            "complete": True,
            "input_digest": self.input_digest,
            "output_sha256": _file_sha256(self.plan.output),
        }
        _write_durably(work.job_file, orjson.dumps(done, option=orjson.OPT_INDENT_2))
        # The chunks are in the output now; the manifest, the job and the summary stay.
        shutil.rmtree(work.chunks_dir, ignore_errors=True)
        work.dedup_file.unlink(missing_ok=True)
        logger.debug("hfe embed: %s", summary.format().splitlines()[0])


def _npy_bytes(array: npt.NDArray[np.float32]) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array, dtype="<f4"), allow_pickle=False)
    return buffer.getvalue()


def _write_npy(
    path: Path,
    work: _WorkDir,
    chunks: list[dict[str, Any]],
    dimension: int,
    codes: Callable[[npt.NDArray[np.float32]], npt.NDArray[Any]],
) -> None:
    rows = sum(int(entry["rows"]) for entry in chunks)
    probe = codes(np.zeros((1, dimension), dtype=np.float32))  # the stored dtype and width
    header = {
        "descr": np.lib.format.dtype_to_descr(probe.dtype),
        "fortran_order": False,
        "shape": (rows, probe.shape[1]),
    }
    with path.open("wb") as handle:
        np.lib.format.write_array_header_2_0(handle, header)
        for entry in chunks:
            part = codes(np.load(work.vectors_path(entry["chunk"]), mmap_mode="r"))
            handle.write(np.ascontiguousarray(part).tobytes())
        handle.flush()
        os.fsync(handle.fileno())


def _infer_type(pa: Any, values: list[Any]) -> Any:
    try:
        return pa.array(values).type
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        return pa.string()  # mixed kinds of values: kept as their JSON text


def _column_type(pa: Any, types: set[Any]) -> Any:
    if not types:
        return pa.null()
    if len(types) == 1:
        return next(iter(types))
    if all(pa.types.is_integer(t) or pa.types.is_floating(t) for t in types):
        return pa.float64()
    return pa.string()


def _as_column(pa: Any, values: list[Any], kind: Any) -> Any:
    if pa.types.is_string(kind):
        values = [
            v if v is None or isinstance(v, str) else orjson.dumps(v, default=str).decode() for v in values
        ]
    return pa.array(values, type=kind)


def _write_parquet(
    path: Path,
    work: _WorkDir,
    chunks: list[dict[str, Any]],
    dimension: int,
    codes: Callable[[npt.NDArray[np.float32]], npt.NDArray[Any]],
    plan: _Plan,
) -> None:
    pa = require_pyarrow()
    probe = codes(np.zeros((1, dimension), dtype=np.float32))  # the stored dtype and width
    value_type, width = pa.from_numpy_dtype(probe.dtype), probe.shape[1]
    meta_types: dict[str, set[Any]] = {name: set() for name in plan.keep}
    if plan.keep:  # one light pass over the chunks' fields: a column's type must hold every chunk's values
        for entry in chunks:
            meta = orjson.loads(work.rows_path(entry["chunk"]).read_bytes())["meta"]
            for name in plan.keep:
                kind = _infer_type(pa, meta[name])
                if not pa.types.is_null(kind):
                    meta_types[name].add(kind)
    id_type = pa.int64() if plan.id_field is None else pa.string()
    schema = pa.schema(
        [
            pa.field("id", id_type, nullable=False),
            pa.field("embedding", pa.list_(value_type, width), nullable=False),
            *(pa.field(name, _column_type(pa, meta_types[name])) for name in plan.keep),
        ]
    )
    # Dictionary encoding is wasted on float vectors, and its buffers cost ~30 MiB while writing.
    writer = pa.parquet.ParquetWriter(path, schema, use_dictionary=["id", *plan.keep])
    try:
        for entry in chunks:
            if not entry["rows"]:
                continue
            rows = orjson.loads(work.rows_path(entry["chunk"]).read_bytes())
            vectors = codes(np.load(work.vectors_path(entry["chunk"])))
            flat = pa.array(vectors.reshape(-1), type=value_type)
            embedding = pa.FixedSizeListArray.from_arrays(flat, width)
            columns = [pa.array(rows["ids"], type=id_type), embedding]
            columns += [_as_column(pa, rows["meta"][name], schema.field(name).type) for name in plan.keep]
            writer.write_table(pa.Table.from_arrays(columns, schema=schema))
    finally:
        writer.close()
    with path.open("rb+") as handle:
        os.fsync(handle.fileno())


# -- streaming ------------------------------------------------------------------------------------
def embed_stream(
    texts: Iterable[str],
    embedder: Embedder | None = None,
    *,
    input_type: InputType = "document",
    chunk_size: int = 1024,
    **settings: Any,
) -> Iterator[npt.NDArray[np.float32]]:
    """Embed an iterable of texts of any length, yielding one vector per text, in order.

    Memory stays bounded: at most two chunks of ``chunk_size`` texts (the one being
    yielded and, with a server backend, the next one being embedded) are held at a time.

    Args:
        texts: any iterable of strings (a generator reading a file, a database cursor...).
        embedder: the embedder; default: one built from ``settings`` (and closed at the end).
        input_type: ``"document"`` (default) or ``"query"``.
        chunk_size: texts per call to the embedder.
        **settings: :class:`~hfe_core.config.EmbedderSettings` fields, when ``embedder`` is not given.

    Yields:
        float32 vectors of shape ``(dimension,)``.

    Raises:
        InputTypeError: an item is not a string; names its position in the stream.
        EmbeddingError: a chunk failed; every vector before it was already yielded, and the error's
            ``failed_indices`` count from the first text of that chunk.

    Example:
        >>> from hfe_core import embed_stream
        >>> lines = (line.strip() for line in open("corpus.txt"))  # doctest: +SKIP
        >>> for vector in embed_stream(lines, batch_size=64):  # doctest: +SKIP
        ...     index.add(vector)
    """
    if isinstance(texts, str | bytes):
        raise InputTypeError(
            "embed_stream takes an iterable of strings, not a single string: wrap it in a list.", indices=[]
        )
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size <= 0:
        raise ConfigurationError(f"chunk_size={chunk_size!r}: use a positive integer.")
    if embedder is not None and settings:
        raise ConfigurationError("Pass either an embedder or settings, not both.")
    owned = embedder is None
    active = embedder or Embedder(**settings)
    ahead = _reads_ahead(active)

    def chunks() -> Iterator[list[str]]:
        current: list[str] = []
        for position, text in enumerate(texts):
            if not isinstance(text, str):
                raise InputTypeError(
                    f"Item {position} of the stream is {type(text).__name__}, not a string. Pass strings "
                    "(convert or drop that item).",
                    indices=[position],
                )
            current.append(text)
            if len(current) == chunk_size:
                yield current
                current = []
        if current:
            yield current

    def embed(batch: list[str]) -> npt.NDArray[np.float32]:
        return active.embed(batch, input_type=input_type, show_progress=False).embeddings

    try:
        pending: Future[npt.NDArray[np.float32]] | None = None
        for batch in chunks():
            if not ahead:
                yield from embed(batch)
                continue
            following = _in_daemon_thread(partial(embed, batch))
            if pending is not None:
                yield from pending.result()
            pending = following
        if pending is not None:
            yield from pending.result()
    finally:
        if owned:
            active.close()
