"""``hfe --version`` prints the installed distribution's version (issue 12)."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version

import pytest

from hfe_core.cli import main


def test_version_flag_prints_the_distribution_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"hfe {version('hfe')}"


def test_the_console_script_answers_too() -> None:
    answer = subprocess.run(
        [sys.executable, "-m", "hfe_core.cli", "--version"], capture_output=True, text=True, check=False
    )
    assert answer.returncode == 0 and answer.stdout.startswith("hfe ")
