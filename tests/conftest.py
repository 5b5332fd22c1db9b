"""Test-wide settings: offline Hugging Face, no real token, and the packaged model."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

# Before anything imports huggingface_hub: never reach the Hub, never use a real login.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
_HF_HOME = tempfile.mkdtemp(prefix="hfe-test-hf-home-")
os.environ["HF_HOME"] = _HF_HOME
os.environ["HF_TOKEN_PATH"] = os.path.join(_HF_HOME, "token")
for _name in (
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "HUGGINGFACEHUB_API_TOKEN",
    "HUGGINGFACE_ACCESS_TOKEN",
    "HUGGINGFACE_API_KEY",
    "HFE_MODE",
    "HFE_MODEL",
    "HFE_URL",
    "HFE_DEVICE",
    "HFE_BATCH_SIZE",
    "HFE_TRUNCATION",
    "HFE_SHOW_PROGRESS",
):
    os.environ.pop(_name, None)


# -- the hostile server (tests/hostile.py): misbehaves the way each test chooses -----------------------
import pytest  # noqa: E402

from tests.hostile import HostileServer, serve  # noqa: E402


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    """A started :class:`tests.hostile.HostileServer` on loopback, stopped after the test."""
    yield from serve()
