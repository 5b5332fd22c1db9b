"""What every benchmark's report shares: the revision measured, and writing the table out."""

from __future__ import annotations

import subprocess
from pathlib import Path

from _server import ROOT


def hfe_revision() -> str:
    """The commit of the checkout, and whether hfe_core has uncommitted changes."""
    try:
        commit = subprocess.run(  # noqa: S603
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(  # noqa: S603
            ["git", "status", "--porcelain", "--", "hfe_core"],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown revision"
    return f"commit {commit}" + (" with uncommitted changes in hfe_core" if dirty else "")


def publish(out: Path, table: str) -> None:
    """Write the results table to ``out`` and print it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(table)
    print()
    print(table)
    print(f"written to {out}")
