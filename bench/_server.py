"""The TEI test server in its own process, for benchmarks: ``python -m tests.tei_server`` with hashed vectors.

Its memory and CPU are never counted as a client's. TEI 1.9.3 semantics by default (``version="1.8.3"``
for 1.8: validation answers 413, ``auto_truncate`` off), TEI's default limits (32 inputs per request,
16384 batch tokens, 512 permits, 2 MB payloads), a stats route, and the service time a benchmark asks for.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
STATS_ROUTE = "/__stats"
MAX_CLIENT_BATCH = 32  # TEI's default --max-client-batch-size


@dataclass
class ServerProcess:
    """``python -m tests.tei_server`` in a subprocess, with its stats route and CPU time."""

    slots: int
    latency_ms: float
    ms_per_token: float
    hash_dim: int = 384
    max_batch_requests: int | None = None
    version: str = "1.9.3"
    process: subprocess.Popen[str] | None = None
    url: str = ""

    def start(self) -> None:
        """Start the server and wait until it listens."""
        limits = {
            "--max-client-batch-size": MAX_CLIENT_BATCH,
            "--max-batch-tokens": 16384,
            "--max-concurrent-requests": 512,
            "--payload-limit": 2_000_000,
        }
        if self.max_batch_requests is not None:
            limits["--max-batch-requests"] = self.max_batch_requests
        command = [sys.executable, "-m", "tests.tei_server", "--port", "0", "--version", self.version]
        command += ["--vectors", "hash", "--hash-dim", str(self.hash_dim), "--slots", str(self.slots)]
        command += ["--latency-ms", str(self.latency_ms), "--ms-per-token", str(self.ms_per_token)]
        command += [str(item) for pair in limits.items() for item in pair]
        command += ["--stats-route", STATS_ROUTE]
        self.process, self.url = launch(command, {"HF_HUB_OFFLINE": "1"})

    def stop(self) -> None:
        """Stop the server (terminate, then kill after 10 s)."""
        stop(self.process)

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process (Linux ``/proc``; NaN elsewhere)."""
        assert self.process is not None
        return cpu_seconds(self.process)

    def reset_stats(self) -> None:
        """Zero the server's counters."""
        reset_stats(self.url)

    def stats(self) -> dict[str, Any]:
        """The server's counters."""
        response = httpx.get(self.url + STATS_ROUTE, timeout=10)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def requests(self) -> dict[str, dict[str, int]]:
        """Requests per route (the stats route left out)."""
        return {r: s for r, s in self.stats()["requests"].items() if r != STATS_ROUTE}

    def truncated(self, texts: list[str], limit: int, batch: int = MAX_CLIENT_BATCH) -> int:
        """How many of ``texts`` the server cuts: ``/tokenize`` (special tokens included) over ``limit``."""
        count = 0
        with httpx.Client(base_url=self.url, timeout=60) as client:
            for start in range(0, len(texts), batch):
                body = {"inputs": texts[start : start + batch], "add_special_tokens": True}
                response = client.post("/tokenize", json=body)
                response.raise_for_status()
                count += sum(len(tokens) > limit for tokens in response.json())
        return count

    def info(self) -> dict[str, Any]:
        """The server's ``/info``."""
        data: dict[str, Any] = httpx.get(self.url + "/info", timeout=10).json()
        return data


# -- a server process, whatever it serves (bench/rerank.py starts one with a re-ranker) ---------------
def launch(command: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """Start ``command`` (``python -m tests.tei_server ...``) and wait until it says where it listens.

    Returns:
        The process and the server's URL.
    """
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        command,
        cwd=ROOT,
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line.startswith("listening on "):
        stop(process)
        raise RuntimeError(f"the TEI test server did not start: {line!r}")
    return process, line.removeprefix("listening on ")


def stop(process: subprocess.Popen[str] | None) -> None:
    """Stop a server process (terminate, then kill after 10 s)."""
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def cpu_seconds(process: subprocess.Popen[str]) -> float:
    """User + system CPU time of a process (Linux ``/proc``; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def reset_stats(url: str) -> None:
    """Zero a server's counters (its stats route)."""
    httpx.delete(url + STATS_ROUTE, timeout=10).raise_for_status()
