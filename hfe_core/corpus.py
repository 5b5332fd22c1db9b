"""Reading a corpus file row by row, for batch jobs: JSONL, CSV/TSV, Parquet and plain text lines.

Every reader streams: memory depends on one row (one Parquet record batch), never on the
file. Each record becomes a :class:`Row` or, when it cannot be embedded, a :class:`BadRow`
that says where it is (line number for line-based formats, row number for Parquet) and why.

Ids: with ``id_field`` the field's value as a string; without it the record's position in
the input, counting from 0 (like a DataFrame index), bad records included.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from hfe_core.errors import BackendUnavailableError, ConfigurationError

__all__ = [
    "BadRow",
    "InputFormat",
    "Row",
    "detect_format",
    "read_records",
    "require_pyarrow",
]

InputFormat = Literal["jsonl", "csv", "tsv", "parquet", "text"]

_SUFFIXES: dict[str, InputFormat] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".txt": "text",
    ".text": "text",
}

#: Records read from Parquet at a time (each becomes rows one by one).
_PARQUET_BATCH = 1024


def _where(index: int, line: int | None) -> str:
    return f"line {line}" if line is not None else f"row {index + 1}"


@dataclass
class Row:
    """One record that can be embedded.

    Attributes:
        index: position of the record in the input, from 0, bad records included.
        line: the line it starts on (from 1) for JSONL, CSV and text; ``None`` for Parquet.
        id: the value of ``id_field`` as a string, else ``index``.
        text: the text to embed.
        meta: the fields asked for with ``keep`` (``None`` where a record lacks one).
    """

    index: int
    line: int | None
    id: str | int
    text: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def where(self) -> str:
        """``"line 17"`` or, for Parquet, ``"row 17"`` (both counted from 1)."""
        return _where(self.index, self.line)


@dataclass
class BadRow:
    """A record that cannot be embedded: no text, a text that is not a string, an empty text.

    Attributes:
        index: position of the record in the input, from 0.
        line: the line it starts on (from 1), or ``None`` for Parquet.
        reason: what is wrong, e.g. ``"the field 'text' is missing"``.
    """

    index: int
    line: int | None
    reason: str

    @property
    def where(self) -> str:
        """``"line 17"`` or, for Parquet, ``"row 17"`` (both counted from 1, as editors and viewers do)."""
        return _where(self.index, self.line)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready description (for the manifest and the summary)."""
        return {"index": self.index, "line": self.line, "reason": self.reason}


def require_pyarrow() -> Any:
    """Import pyarrow, or explain which extra brings it."""
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401 - the submodule used by callers
    except ImportError as exc:  # pragma: no cover - pyarrow is installed in the test environment
        raise BackendUnavailableError(
            "Parquet needs pyarrow: pip install 'hfe[parquet]'. JSONL, CSV, text input and .npy output "
            "work without it."
        ) from exc
    return pyarrow


def detect_format(path: str | Path, explicit: str | None = None) -> InputFormat:
    """The input format: ``explicit`` when given, else from the file name's suffix.

    Raises:
        ConfigurationError: an unknown format or suffix.
    """
    if explicit is not None:
        if explicit not in get_args(InputFormat):
            raise ConfigurationError(
                f"input format {explicit!r}: use one of {', '.join(get_args(InputFormat))}."
            )
        return explicit  # type: ignore[return-value]
    suffix = Path(path).suffix.lower()
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix]
    raise ConfigurationError(
        f"Cannot tell the format of {Path(path).name!r} from its suffix {suffix!r}: name it .jsonl, .csv, "
        ".tsv, .parquet or .txt, or pass the format (--input-format / input_format=)."
    )


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"a number ({value!r})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _text_problem(value: Any, text_field: str, *, present: bool) -> str | None:
    if not present:
        return f"the field {text_field!r} is missing"
    if not isinstance(value, str):
        return f"the field {text_field!r} is {_describe(value)}, not a string"
    if value == "":
        return f"the field {text_field!r} is empty"
    return None


class _Fields:
    """Turns one decoded record (a mapping) into a Row or a BadRow."""

    def __init__(self, text_field: str, id_field: str | None, keep: Sequence[str]) -> None:
        self.text_field = text_field
        self.id_field = id_field
        self.keep = list(keep)

    def check_columns(self, path: Path, columns: list[str]) -> list[str]:
        """The columns to read; a column that is not there fails every record, so it fails the job."""
        wanted = list(
            dict.fromkeys([self.text_field, *([self.id_field] if self.id_field else []), *self.keep])
        )
        missing = [name for name in wanted if name not in columns]
        if missing:
            raise ConfigurationError(
                f"{path.name} has no column {', '.join(map(repr, missing))}; its columns are "
                f"{', '.join(map(repr, columns)) or 'none'}. Pass --text-field/--id-field/--keep "
                "(text_field=, id_field=, keep=) with one of them."
            )
        return wanted

    def row(self, record: Any, index: int, line: int | None) -> Row | BadRow:
        if isinstance(record, str):  # a JSON line that is just a string: the text itself
            if record == "":
                return BadRow(index, line, "the text is empty")
            if self.id_field is not None:
                return BadRow(index, line, f"the line is a string, so it has no id field {self.id_field!r}")
            return Row(index, line, index, record, dict.fromkeys(self.keep))
        if not isinstance(record, dict):
            return BadRow(index, line, f"the record is {_describe(record)}, not an object with a text field")
        problem = _text_problem(
            record.get(self.text_field), self.text_field, present=self.text_field in record
        )
        if problem:
            return BadRow(index, line, problem)
        identifier: str | int = index
        if self.id_field is not None:
            value = record.get(self.id_field)
            if value is None or value == "":
                return BadRow(index, line, f"the id field {self.id_field!r} is missing or empty")
            identifier = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        meta = {name: record.get(name) for name in self.keep}
        return Row(index, line, identifier, record[self.text_field], meta)


def read_records(
    path: str | Path,
    fmt: InputFormat,
    *,
    text_field: str = "text",
    id_field: str | None = None,
    keep: Sequence[str] = (),
) -> Iterator[Row | BadRow]:
    """Stream the records of ``path`` as :class:`Row` and :class:`BadRow`, in file order.

    Args:
        path: the input file.
        fmt: its format (see :func:`detect_format`).
        text_field: the field (JSONL), column (CSV, Parquet) holding the text; ignored for text files.
        id_field: the field holding each record's id; default: the record's position from 0.
        keep: more fields to carry to the output.

    Raises:
        ConfigurationError: a CSV or Parquet file has no such column (every record would be bad).
    """
    fields = _Fields(text_field, id_field, keep)
    path = Path(path)
    if fmt == "jsonl":
        yield from _read_jsonl(path, fields)
    elif fmt in ("csv", "tsv"):
        yield from _read_csv(path, fields, delimiter="\t" if fmt == "tsv" else ",")
    elif fmt == "parquet":
        yield from _read_parquet(path, fields)
    else:
        yield from _read_text(path, keep)


def _read_jsonl(path: Path, fields: _Fields) -> Iterator[Row | BadRow]:
    import orjson

    index = 0
    with path.open("rb") as handle:
        for line_number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue  # blank lines separate nothing in JSON Lines; they are not records
            try:
                record = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                yield BadRow(index, line_number, f"not valid JSON ({exc})")
            else:
                yield fields.row(record, index, line_number)
            index += 1


def _read_csv(path: Path, fields: _Fields, *, delimiter: str) -> Iterator[Row | BadRow]:
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # texts may be long
    with path.open("r", encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        header = list(reader.fieldnames or [])
        fields.check_columns(path, header)
        index = 0
        while True:
            line = reader.line_num + 1
            try:
                record = next(reader)
            except StopIteration:
                return
            if None in record:  # more cells than the header has: the row is malformed
                yield BadRow(index, line, f"the row has more cells than the header's {len(header)}")
            else:
                yield fields.row(record, index, line)
            index += 1


def _read_parquet(path: Path, fields: _Fields) -> Iterator[Row | BadRow]:
    pa = require_pyarrow()
    parquet = pa.parquet.ParquetFile(path)
    columns = fields.check_columns(path, list(parquet.schema_arrow.names))
    index = 0
    for batch in parquet.iter_batches(batch_size=_PARQUET_BATCH, columns=columns):
        for record in batch.to_pylist():
            yield fields.row(record, index, None)
            index += 1


def _read_text(path: Path, keep: Sequence[str]) -> Iterator[Row | BadRow]:
    meta = dict.fromkeys(keep)
    with path.open("rb") as handle:
        for index, raw in enumerate(handle):
            line = index + 1
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield BadRow(index, line, f"not valid UTF-8 ({exc.reason} at byte {exc.start})")
                continue
            text = text.removesuffix("\n").removesuffix("\r")
            if text == "":
                yield BadRow(index, line, "the line is empty")
            else:
                yield Row(index, line, index, text, dict(meta))
