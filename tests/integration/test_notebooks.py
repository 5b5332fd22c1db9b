"""Execute every notebook in ``notebooks/`` and check that the committed copies carry no outputs.

Each notebook runs top to bottom in a Jupyter kernel started from this interpreter
(``sys.executable -m ipykernel_launcher``), so a fresh clone's virtual environment works without a
kernelspec installed. The kernel's working directory is the repository root (so that
``from tests.tei_server.harness import TEIServer`` imports), with the packaged offline model
(``HF_HUB_OFFLINE=1``) and matplotlib's headless inline backend (no display needed; figures
are rendered into the outputs, so a plot that fails to draw fails the test).
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.model

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
#: Seconds any one cell may take.
CELL_TIMEOUT = 300
KERNEL_NAME = "hfe-notebook-test"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _kernel_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "HF_HUB_OFFLINE": "1",
            # Headless, like Agg, but figures are rendered to PNG outputs, so plotting errors surface.
            "MPLBACKEND": "module://matplotlib_inline.backend_inline",
            "TOKENIZERS_PARALLELISM": "false",
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        }
    )
    # The repository root first, as it is for the kernel's own working directory.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


@pytest.fixture(scope="module")
def kernel_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A kernelspec folder whose only kernel is this interpreter's ipykernel."""
    root = tmp_path_factory.mktemp("kernels")
    spec = root / KERNEL_NAME
    spec.mkdir()
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python 3 (hfe tests)",
                "language": "python",
            }
        )
    )
    return root


def _execute(path: Path, kernel_dir: Path) -> tuple[Any, float]:
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    nb = nbformat.read(path, as_version=4)
    specs = KernelSpecManager(kernel_dirs=[str(kernel_dir)], ensure_native_kernel=False)
    km = KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=specs)
    client = NotebookClient(
        nb,
        km=km,
        kernel_name=KERNEL_NAME,
        timeout=CELL_TIMEOUT,
        startup_timeout=120,
        resources={"metadata": {"path": str(ROOT)}},
    )
    started = time.perf_counter()
    try:
        client.execute(env=_kernel_env(), cwd=str(ROOT))
    except (CellExecutionError, CellTimeoutError) as exc:
        pytest.fail(f"{path.name}: a cell failed\n{_ANSI.sub('', str(exc))}", pytrace=False)
    return nb, time.perf_counter() - started


@pytest.mark.skipif(not PATHS, reason="no notebooks")
@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_notebook_runs(path: Path, kernel_dir: Path) -> None:
    nb, seconds = _execute(path, kernel_dir)
    errors = [
        output
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert not errors, f"{path.name}: error outputs {errors}"
    print(f"{path.name}: executed in {seconds:.1f} s")


@pytest.mark.skipif(not PATHS, reason="no notebooks")
@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_notebook_is_stripped_and_valid(path: Path) -> None:
    import nbformat

    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for number, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        assert cell.get("outputs") == [], f"{path.name}: cell {number} has outputs; strip them"
        assert cell.get("execution_count") is None, f"{path.name}: cell {number} has an execution count"


def test_every_notebook_is_described() -> None:
    readme = (NOTEBOOKS / "README.md").read_text()
    missing = [p.name for p in PATHS if p.name not in readme]
    assert not missing, f"notebooks/README.md does not mention {missing}"
