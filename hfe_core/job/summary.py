"""What a batch job reports: :class:`JobSummary`, and :class:`JobInterrupted` for Ctrl-C."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hfe_core.corpus import BadRow
from hfe_core.engines import ChunkCounters
from hfe_core.job.common import _NAMED


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
