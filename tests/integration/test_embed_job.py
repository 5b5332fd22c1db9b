"""Batch jobs in process: embed_file's outputs, deduplication, bad records, resuming, embed_stream, the CLI.

The real packaged model computes every vector (local mode, or tei mode against the TEI test
server); nothing is mocked. The kill tests (SIGKILL, Ctrl-C, a server stopped mid-run) run
``hfe embed`` as a subprocess in test_embed_kill.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow.parquet as pq
import pytest

from hfe_core import BadRowError, ConfigurationError, Embedder, InputTooLongError, ServerError
from hfe_core.cli import main
from hfe_core.config import InputType
from hfe_core.engines import ChunkCounters, EmbedderEngine
from hfe_core.errors import InputTypeError
from hfe_core.job import embed_file, embed_stream, work_dir_for
from tests.tei_server.harness import TEIServer

pytestmark = pytest.mark.model

TOPICS = ["rivers", "mountains", "databases", "compilers", "bread", "chess", "tides", "glaciers"]


def corpus(n: int = 60) -> list[dict[str, Any]]:
    """Records with ids, a kept field of mixed presence, and duplicate texts (every 5th repeats one)."""
    records = []
    for i in range(n):
        text = (
            records[i - 4]["text"] if i % 5 == 4 else f"A note about {TOPICS[i % len(TOPICS)]}, number {i}."
        )
        records.append({"id": f"doc-{i}", "text": text, "year": 2000 + i})
    return records


def write_jsonl(path: Path, records: Sequence[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def read_parquet(path: Path) -> tuple[list[Any], npt.NDArray[np.float32], dict[str, list[Any]]]:
    table = pq.read_table(path)
    vectors = np.asarray(table.column("embedding").to_pylist(), dtype=np.float32)
    others = {
        name: table.column(name).to_pylist() for name in table.column_names if name not in ("id", "embedding")
    }
    return table.column("id").to_pylist(), vectors, others


@pytest.fixture(scope="module")
def embedder(model_path: str) -> Iterator[Embedder]:
    e = Embedder(model=model_path, device="cpu")
    yield e
    e.close()


@pytest.fixture(scope="module")
def tei() -> Iterator[TEIServer]:
    with TEIServer(slots=2) as server:
        yield server


# --- outputs ---------------------------------------------------------------------------------------------


def test_parquet_output_has_every_row_in_order_with_the_model_s_vectors(
    tmp_path: Path, embedder: Embedder
) -> None:
    records = corpus(60)
    source = write_jsonl(tmp_path / "in.jsonl", records)
    summary = embed_file(
        source, tmp_path / "out.parquet", embedder=embedder, id_field="id", keep=["year"], chunk_size=7
    )

    ids, vectors, others = read_parquet(tmp_path / "out.parquet")
    assert ids == [r["id"] for r in records]
    assert others == {"year": [r["year"] for r in records]}
    assert pq.read_schema(tmp_path / "out.parquet").field("year").type == "int64"
    expected = embedder.embed([r["text"] for r in records]).embeddings
    # Chunks batch texts differently from one call; the model gives the same numbers to float32 rounding.
    np.testing.assert_allclose(vectors, expected, atol=1e-6)

    distinct = len({r["text"] for r in records})
    assert (summary.records, summary.rows, summary.embedded) == (60, 60, distinct)
    assert summary.duplicates == 60 - distinct == 12
    assert summary.chunks == 9 and summary.dimension == 384 and not summary.skipped
    # A duplicate's vector is a copy of its first occurrence's, even across chunks (rows 0 and 4, 5 and 9...).
    for i in range(4, 60, 5):
        assert np.array_equal(vectors[i], vectors[i - 4])
    work = work_dir_for(tmp_path / "out.parquet")
    assert not (work / "chunks").exists() and (work / "summary.json").is_file()
    assert len((work / "chunks.jsonl").read_text().splitlines()) == 9


def test_without_dedup_every_row_is_embedded(tmp_path: Path, embedder: Embedder) -> None:
    records = corpus(20)
    source = write_jsonl(tmp_path / "in.jsonl", records)
    summary = embed_file(source, tmp_path / "out.parquet", embedder=embedder, dedup=False)
    assert (summary.embedded, summary.duplicates) == (20, 0)
    ids, vectors, _ = read_parquet(tmp_path / "out.parquet")
    assert ids == list(range(20))
    np.testing.assert_allclose(vectors, embedder.embed([r["text"] for r in records]).embeddings, atol=1e-6)


def test_npy_output_with_an_ids_file_and_skipped_lines(tmp_path: Path, embedder: Embedder) -> None:
    source = tmp_path / "in.txt"
    source.write_text("first line\n\nthird line\nfirst line\n", encoding="utf-8")
    summary = embed_file(source, tmp_path / "out.npy", embedder=embedder, on_bad_row="skip")
    vectors = np.load(tmp_path / "out.npy")
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    ids = [json.loads(line) for line in (tmp_path / "out.ids.jsonl").read_text().splitlines()]
    assert ids == [0, 2, 3]
    np.testing.assert_allclose(
        vectors[:2], embedder.embed(["first line", "third line"]).embeddings, atol=1e-6
    )
    assert np.array_equal(vectors[0], vectors[2])
    assert summary.skipped == [{"index": 1, "line": 2, "reason": "the line is empty"}]
    assert "skipped     1 bad records (line 2: the line is empty)" in summary.format()
    manifest = [
        json.loads(line)
        for line in (work_dir_for(tmp_path / "out.npy") / "chunks.jsonl").read_text().splitlines()
    ]
    assert manifest[0]["skipped"] == summary.skipped


def test_csv_and_parquet_inputs(tmp_path: Path, embedder: Embedder) -> None:
    source = tmp_path / "in.csv"
    source.write_text('key,body\nk1,"one, with a comma"\nk2,two\n', encoding="utf-8")
    embed_file(source, tmp_path / "a.parquet", embedder=embedder, text_field="body", id_field="key")
    ids, vectors, _ = read_parquet(tmp_path / "a.parquet")
    assert ids == ["k1", "k2"]
    np.testing.assert_allclose(vectors, embedder.embed(["one, with a comma", "two"]).embeddings, atol=1e-6)

    embed_file(tmp_path / "a.parquet", tmp_path / "b.npy", embedder=embedder, text_field="id")
    np.testing.assert_allclose(
        np.load(tmp_path / "b.npy"), embedder.embed(["k1", "k2"]).embeddings, atol=1e-6
    )


# --- bad records -------------------------------------------------------------------------------------------


def test_bad_records_stop_the_job_before_anything_named_by_line(tmp_path: Path, embedder: Embedder) -> None:
    records: list[Any] = [{"text": "fine"}] * 3 + [{"body": "x"}, {"text": 12}, {"text": ""}]
    source = write_jsonl(tmp_path / "in.jsonl", records)
    with pytest.raises(BadRowError) as caught:
        embed_file(source, tmp_path / "out.parquet", embedder=embedder)
    error = caught.value
    assert error.count == 3 and [b.line for b in error.bad_rows] == [4, 5, 6] and error.indices == [3, 4, 5]
    message = str(error)
    assert (
        "line 4: the field 'text' is missing" in message
        and "line 5: the field 'text' is a number (12)" in message
    )
    assert "--on-bad-row skip" in message and "Nothing was embedded yet" in message
    assert not work_dir_for(tmp_path / "out.parquet").exists() and not (tmp_path / "out.parquet").exists()

    # Choosing to skip needs no --overwrite: nothing was started.
    summary = embed_file(source, tmp_path / "out.parquet", embedder=embedder, on_bad_row="skip")
    assert summary.rows == 3 and [s["line"] for s in summary.skipped] == [4, 5, 6]


def test_an_input_over_the_limit_with_truncation_error_is_named_by_line(
    tmp_path: Path, model_path: str
) -> None:
    long_text = " ".join(["word"] * 600)
    source = write_jsonl(tmp_path / "in.jsonl", [{"text": "short"}, {"text": long_text}])
    with pytest.raises(InputTooLongError, match=r"in\.jsonl line 2: ") as caught:
        embed_file(source, tmp_path / "out.parquet", model=model_path, truncation="error")
    assert caught.value.indices == [1]


# --- resuming ---------------------------------------------------------------------------------------------


class Counting(EmbedderEngine):
    """The real embedder, counting the chunks it is given."""

    def __init__(self, embedder: Embedder) -> None:
        super().__init__(embedder, owned=False)
        self.calls = 0

    def embed_chunk(
        self, texts: Sequence[str], *, input_type: InputType
    ) -> tuple[npt.NDArray[np.float32], ChunkCounters]:
        self.calls += 1
        return super().embed_chunk(texts, input_type=input_type)


class FailAfter(Counting):
    """After ``chunks`` chunks, the real TEI server starts answering 503 (its fault injection)."""

    def __init__(self, embedder: Embedder, server: TEIServer, chunks: int) -> None:
        super().__init__(embedder)
        self.server, self.chunks = server, chunks

    def embed_chunk(
        self, texts: Sequence[str], *, input_type: InputType
    ) -> tuple[npt.NDArray[np.float32], ChunkCounters]:
        if self.calls == self.chunks:
            self.server.config.fail_503 = 1.0
        return super().embed_chunk(texts, input_type=input_type)


def test_a_job_stopped_by_a_failing_server_resumes_to_the_same_output(tmp_path: Path, tei: TEIServer) -> None:
    records = corpus(48)
    source = write_jsonl(tmp_path / "in.jsonl", records)
    settings = {"mode": "tei", "url": tei.url, "max_retries": 0}
    clean = embed_file(source, tmp_path / "clean.parquet", chunk_size=8, id_field="id", **settings)
    assert clean.chunks == 6

    embedder = Embedder(**settings)
    engine = FailAfter(embedder, tei, chunks=3)
    try:
        with pytest.raises(ServerError):
            embed_file(source, tmp_path / "out.parquet", engine=engine, chunk_size=8, id_field="id")
    finally:
        tei.config.fail_503 = 0.0
    assert not (tmp_path / "out.parquet").exists()
    manifest = (work_dir_for(tmp_path / "out.parquet") / "chunks.jsonl").read_text().splitlines()
    assert len(manifest) == 3

    engine = Counting(embedder)
    summary = embed_file(source, tmp_path / "out.parquet", engine=engine, chunk_size=8, id_field="id")
    assert engine.calls == 3 and summary.resumed_chunks == 3 and summary.redone_chunks == 0
    assert (summary.rows, summary.embedded, summary.duplicates) == (
        clean.rows,
        clean.embedded,
        clean.duplicates,
    )
    assert (tmp_path / "out.parquet").read_bytes() == (tmp_path / "clean.parquet").read_bytes()
    embedder.close()


def test_other_settings_are_refused_until_overwrite(
    tmp_path: Path, embedder: Embedder, model_path: str
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", corpus(10))
    output = tmp_path / "out.parquet"
    embed_file(source, output, embedder=embedder)
    # Complete and unchanged: nothing to do, nothing embedded.
    counting = Counting(embedder)
    again = embed_file(source, output, engine=counting)
    assert again.already_complete and again.rows == 10 and counting.calls == 0

    with pytest.raises(ConfigurationError, match=r"dimensions: None -> 128.*--overwrite"):
        embed_file(source, output, model=model_path, dimensions=128)
    redone = embed_file(source, output, model=model_path, dimensions=128, overwrite=True)
    assert redone.dimension == 128 and not redone.already_complete
    assert np.asarray(pq.read_table(output).column("embedding").to_pylist()).shape == (10, 128)


def test_an_output_not_written_by_a_job_is_not_replaced(tmp_path: Path, embedder: Embedder) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", corpus(3))
    (tmp_path / "out.npy").write_bytes(b"precious")
    with pytest.raises(ConfigurationError, match="exists and no job"):
        embed_file(source, tmp_path / "out.npy", embedder=embedder)
    assert (tmp_path / "out.npy").read_bytes() == b"precious"


# --- embed_stream --------------------------------------------------------------------------------


def test_embed_stream_yields_in_order_and_reads_ahead_at_most_two_chunks(tei: TEIServer) -> None:
    texts = [r["text"] for r in corpus(50)]
    pulled = 0

    def source() -> Iterator[str]:
        nonlocal pulled
        for text in texts:
            pulled += 1
            yield text

    embedder = Embedder(mode="tei", url=tei.url)
    stream = embed_stream(source(), embedder, chunk_size=10)
    first = next(stream)
    assert pulled <= 20  # the chunk yielded and the one embedded meanwhile, not the whole input
    vectors = np.stack([first, *stream])
    np.testing.assert_allclose(vectors, embedder.embed(texts).embeddings, atol=1e-6)
    embedder.close()


def test_embed_stream_names_a_bad_item_by_its_position(embedder: Embedder) -> None:
    stream = embed_stream(iter(["ok", "fine", None, "never"]), embedder, chunk_size=2)  # type: ignore[list-item]
    assert len(list(zip(range(2), stream, strict=False))) == 2  # the first chunk is yielded before the error
    with pytest.raises(InputTypeError, match="Item 2 of the stream is NoneType") as caught:
        list(stream)
    assert caught.value.indices == [2]
    with pytest.raises(InputTypeError, match="not a single string"):
        next(embed_stream("one string", embedder))


# --- the command line --------------------------------------------------------------------------------


def test_cli_embed_prints_a_json_summary(
    tmp_path: Path, model_path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", corpus(12))
    status = main(
        [
            "embed",
            str(source),
            "-o",
            str(tmp_path / "out.parquet"),
            "--model",
            model_path,
            "--json",
            "--no-progress",
        ]
    )
    assert status == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"] == 12 and summary["duplicates"] == 2 and summary["dimension"] == 384


def test_cli_embed_reports_bad_records_and_exits_1(
    tmp_path: Path, model_path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [{"text": "a"}, {"txt": "b"}])
    status = main(
        ["embed", str(source), "-o", str(tmp_path / "out.npy"), "--model", model_path, "--no-progress"]
    )
    assert status == 1
    assert (
        "BadRowError: in.jsonl: 1 record cannot be embedded: line 2: the field 'text' is missing"
        in capsys.readouterr().err
    )


def test_cli_embed_help_lists_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["embed", "--help"])
    text = capsys.readouterr().out
    for option in (
        "--output", "--input-format", "--text-field", "--id-field", "--keep", "--input-type", "--on-bad-row",
        "--no-dedup", "--chunk-size", "--overwrite", "--no-progress", "--json", "--mode", "--model", "--url",
        "--provider", "--endpoint-name", "--device", "--batch-size", "--max-concurrency", "--timeout",
        "--max-retries", "--retry-timeout", "--truncation", "--dimensions", "--route", "--prompt",
        "--api-key", "--no-normalize", "--engine", "--address", "--workers", "--num-gpus",
    ):  # fmt: skip
        assert option in text, option
