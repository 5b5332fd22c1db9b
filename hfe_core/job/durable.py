"""Writing files that survive a crash: fsync, atomic names, SHA-256, and one error for a failed write."""

from __future__ import annotations

import errno
import hashlib
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hfe_core.errors import (
    HfeError,
    OutputWriteError,
)

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
