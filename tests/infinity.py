"""Infinity (infinity-emb 0.0.78), the third-party OpenAI-compatible server, on loopback.

Shared by tests/integration/test_infinity.py and bench/infinity.py. Infinity runs from its own
virtual environment, ``.venv-infinity`` (``HFE_INFINITY_VENV`` overrides; built by
scripts/infinity.sh), offline, on the CPU.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(os.environ.get("HFE_INFINITY_VENV") or ROOT / ".venv-infinity")
START_TIMEOUT = 300.0
#: Inputs that trip servers up (accents, CJK, emoji, newlines and tabs, one letter), shared by
#: tests/integration/test_infinity.py and bench/infinity.py.
ODD_TEXTS = [
    "The cat sat on the mat.",
    "Paris is the capital of France.",
    "naïve café — résumé, crème brûlée",
    "日本語のテキストも埋め込めます。",
    "emoji 🚀✨ and symbols ©®",
    "line one\nline two\n\ttabbed",
    "a",
]
#: Eight inputs over 256 tokens (and over 128).
LONG_TEXTS = [f"long {i} " + "word " * (300 + 50 * i) for i in range(8)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cls_variant(model_path: str, folder: Path) -> Path:
    """The packaged weights with CLS pooling and max_seq_length 128: another model, in a local folder."""
    folder.mkdir()
    for entry in Path(model_path).iterdir():
        if entry.is_file() and entry.name != "sentence_bert_config.json":
            (folder / entry.name).symlink_to(entry)
    (folder / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": 128, "do_lower_case": False})
    )
    pooling = json.loads((Path(model_path) / "1_Pooling" / "config.json").read_text())
    pooling.update(pooling_mode_cls_token=True, pooling_mode_mean_tokens=False)
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    return folder


class Infinity:
    """An Infinity server process on loopback, serving ``models`` (name -> path).

    ``url_prefix`` (for example ``"/v1"``) is Infinity's ``--url-prefix``: its routes but ``/health``
    live under it.
    """

    def __init__(self, models: dict[str, str], log: Path, *, url_prefix: str = "") -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [str(VENV / "bin" / "infinity_emb"), "v2"]
        for name, path in models.items():
            command += ["--model-id", path, "--served-model-name", name]
        command += ["--host", "127.0.0.1", "--port", str(self.port), "--device", "cpu", "--engine", "torch"]
        command += ["--no-model-warmup", "--log-level", "warning"]
        if url_prefix:
            command += ["--url-prefix", url_prefix]
        self.url_prefix = url_prefix
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "INFINITY_ANONYMOUS_USAGE_STATS": "0",
            "DO_NOT_TRACK": "1",
            "OMP_NUM_THREADS": "1",
        }
        self._log = log.open("wb")
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        self.started = time.monotonic()
        self._wait(log)

    def _wait(self, log: Path) -> None:
        while time.monotonic() - self.started < START_TIMEOUT:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"Infinity exited with {self.process.returncode}:\n{log.read_text()[-4000:]}"
                )
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:  # never under the prefix
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"Infinity did not start within {START_TIMEOUT:g} s:\n{log.read_text()[-4000:]}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()
