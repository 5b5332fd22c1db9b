"""The README's main job (examples/main_job.py) runs offline and ranks every expected document first."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.model

ROOT = Path(__file__).resolve().parents[2]


def test_main_job_runs_and_every_framework_ranks_the_expected_document_first() -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "main_job.py")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    queries = (ROOT / "examples" / "data" / "queries.jsonl").read_text().strip().splitlines()
    assert f"langchain {len(queries)}/{len(queries)}" in done.stdout
    assert f"llamaindex {len(queries)}/{len(queries)}" in done.stdout
