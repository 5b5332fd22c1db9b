"""Reading corpus files for batch jobs: formats, ids, bad records and where they are."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hfe_core.corpus import BadRow, Row, detect_format, read_records
from hfe_core.errors import ConfigurationError


def _read(path: Path, fmt: str | None = None, **options: object) -> list[Row | BadRow]:
    return list(read_records(path, detect_format(path, fmt), **options))  # type: ignore[arg-type]


def test_format_from_suffix_and_explicit(tmp_path: Path) -> None:
    assert detect_format(tmp_path / "a.jsonl") == "jsonl"
    assert detect_format(tmp_path / "a.NDJSON") == "jsonl"
    assert detect_format(tmp_path / "a.csv") == "csv"
    assert detect_format(tmp_path / "a.tsv") == "tsv"
    assert detect_format(tmp_path / "a.parquet") == "parquet"
    assert detect_format(tmp_path / "a.txt") == "text"
    assert detect_format(tmp_path / "a.data", "csv") == "csv"
    with pytest.raises(ConfigurationError, match=r"a\.data.*--input-format"):
        detect_format(tmp_path / "a.data")
    with pytest.raises(ConfigurationError, match="xml"):
        detect_format(tmp_path / "a.jsonl", "xml")


def test_jsonl_rows_ids_meta_and_every_kind_of_bad_record(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    lines = [
        json.dumps({"id": "a", "text": "first", "year": 2020}),
        "",  # blank lines are not records
        json.dumps({"id": "b", "body": "no text field"}),
        json.dumps({"id": 7, "text": 42}),
        json.dumps({"id": "d", "text": ""}),
        "{not json",
        json.dumps("a bare string is the text"),
        json.dumps([1, 2]),
        json.dumps({"id": 9, "text": "numeric id", "year": None}),
        json.dumps({"text": "no id"}),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    records = _read(path, id_field="id", keep=["year"])
    assert [type(r).__name__ for r in records] == [
        "Row",
        "BadRow",
        "BadRow",
        "BadRow",
        "BadRow",
        "BadRow",
        "BadRow",
        "Row",
        "BadRow",
    ]
    first, numeric = records[0], records[7]
    assert isinstance(first, Row) and isinstance(numeric, Row)
    assert (first.index, first.line, first.id, first.text, first.meta) == (0, 1, "a", "first", {"year": 2020})
    assert (numeric.index, numeric.line, numeric.id, numeric.meta) == (7, 9, "9", {"year": None})
    bad = {r.line: r.reason for r in records if isinstance(r, BadRow)}
    assert bad[3] == "the field 'text' is missing"
    assert bad[4] == "the field 'text' is a number (42), not a string"
    assert bad[5] == "the field 'text' is empty"
    assert bad[6].startswith("not valid JSON")
    assert "no id field 'id'" in bad[7]
    assert bad[8] == "the record is a list, not an object with a text field"
    assert bad[10] == "the id field 'id' is missing or empty"
    assert len(records) == 9


def test_jsonl_without_id_field_uses_positions_and_accepts_bare_strings(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('"one"\n{"text": "two"}\n', encoding="utf-8")
    records = _read(path)
    assert [(r.index, r.id, r.text) for r in records if isinstance(r, Row)] == [(0, 0, "one"), (1, 1, "two")]


def test_csv_line_numbers_count_multiline_cells(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text('id,text,lang\n1,"two\nlines",en\n2,,fr\n3,plain,de,extra\n4,last,it\n', encoding="utf-8")
    records = _read(path, id_field="id", keep=["lang"])
    assert isinstance(records[0], Row) and records[0].text == "two\nlines" and records[0].line == 2
    assert isinstance(records[1], BadRow) and records[1].line == 4 and "empty" in records[1].reason
    assert isinstance(records[2], BadRow) and records[2].line == 5 and "more cells" in records[2].reason
    assert isinstance(records[3], Row) and (records[3].line, records[3].id, records[3].meta) == (
        6,
        "4",
        {"lang": "it"},
    )
    assert len(records) == 4


def test_csv_without_the_column_is_a_configuration_error_naming_the_columns(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("title,body\na,b\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"no column 'text'; its columns are 'title', 'body'"):
        _read(path)
    assert [r.text for r in _read(path, text_field="body") if isinstance(r, Row)] == ["b"]


def test_tsv(tmp_path: Path) -> None:
    path = tmp_path / "in.tsv"
    path.write_text("text\tn\nhello, world\t1\n", encoding="utf-8")
    (row,) = _read(path, keep=["n"])
    assert isinstance(row, Row) and row.text == "hello, world" and row.meta == {"n": "1"}


def test_parquet_rows_and_nulls(tmp_path: Path) -> None:
    path = tmp_path / "in.parquet"
    table = pa.table({"doc": ["x", None, "z", ""], "score": [1.5, 2.5, None, 4.0]})
    pq.write_table(table, path, row_group_size=2)
    records = _read(path, text_field="doc", keep=["score"])
    assert isinstance(records[0], Row) and records[0].meta == {"score": 1.5} and records[0].line is None
    assert isinstance(records[1], BadRow) and records[1].where == "row 2" and "null" in records[1].reason
    assert isinstance(records[3], BadRow) and records[3].where == "row 4"
    assert len(records) == 4
    with pytest.raises(ConfigurationError, match="no column 'text'"):
        _read(path)


def test_text_lines(tmp_path: Path) -> None:
    path = tmp_path / "in.txt"
    path.write_bytes(b"alpha\r\n\nbeta\n\xff\xfe bad\ngamma")
    records = _read(path)
    assert [(r.line, r.text) for r in records if isinstance(r, Row)] == [
        (1, "alpha"),
        (3, "beta"),
        (5, "gamma"),
    ]
    bad = [r for r in records if isinstance(r, BadRow)]
    assert [b.where for b in bad] == ["line 2", "line 4"]
    assert bad[0].reason == "the line is empty" and "UTF-8" in bad[1].reason
    assert len(records) == 5
