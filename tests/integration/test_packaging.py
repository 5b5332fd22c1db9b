"""A plain ``pip install hfe`` (no extras) gives a working core without torch or any framework."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CHECK = """
import importlib.util, sys
for name in ("torch", "sentence_transformers", "langchain_core", "llama_index"):
    assert importlib.util.find_spec(name) is None, name + " is installed by a plain install"
import hfe_core
from hfe_core import BackendUnavailableError, Embedder
embedder = Embedder()
assert embedder.embed_documents([]) == []
try:
    embedder.embed_documents(["x"])
except BackendUnavailableError as exc:
    print("MESSAGE:", exc)
else:
    raise SystemExit("local mode ran without sentence-transformers")
"""


@pytest.mark.packaging
def test_plain_install_has_a_core_without_torch_or_frameworks(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    install = subprocess.run(
        [python, "-m", "pip", "install", "-qq", "--disable-pip-version-check", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    done = subprocess.run([python, "-c", CHECK], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "pip install 'hfe[local]'" in done.stdout
