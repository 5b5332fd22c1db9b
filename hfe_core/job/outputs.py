"""Writing the assembled output: ``.npy`` and Parquet, checked writable before any work."""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import orjson

from hfe_core.corpus import require_pyarrow
from hfe_core.errors import (
    ConfigurationError,
    OutputWriteError,
)
from hfe_core.job.common import OutputFormat
from hfe_core.job.durable import _writing

if TYPE_CHECKING:
    from hfe_core.job.run import _Plan
    from hfe_core.job.workdir import _WorkDir


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
