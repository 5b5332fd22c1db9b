"""The job itself: :func:`embed_file` reads the input in chunks, embeds, commits and assembles."""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar, get_args

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
    InvalidInputError,
    OutputWriteError,
)
from hfe_core.job.common import _LAYOUT, _NAMED, OnBadRow, OutputFormat, logger
from hfe_core.job.durable import _file_sha256, _fsync_dir, _sha256, _write_durably, _writing
from hfe_core.job.outputs import _check_writable, _npy_bytes, _output_format, _write_npy, _write_parquet
from hfe_core.job.summary import JobInterrupted, JobSummary
from hfe_core.job.workdir import _ChunkVectors, _SeenTexts, _text_key, _WorkDir, ids_path_for, work_dir_for
from hfe_core.precision import quantize


def _reads_ahead(embedder: Embedder) -> bool:
    """Whether to embed the next chunk while one is consumed.

    Yes for a backend sending requests concurrently (a server), which would otherwise idle at every
    chunk's tail; not for a local model.
    """
    return embedder.backend.max_concurrency > 1


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
