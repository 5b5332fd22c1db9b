"""Isolation for the unit tests: no HFE_* or token variable, no stored login, no sockets."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import huggingface_hub.constants
import pytest
import pytest_socket

from hfe_core.auth import TOKEN_ENV_VARS


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Clear every HFE_* and token variable and point the Hugging Face home at ``tmp_path``.

    Returns the path of the (absent) stored-login token file, for tests that want to write one.
    """
    for name in list(os.environ):
        if name.startswith("HFE_"):
            monkeypatch.delenv(name)
    for name in TOKEN_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "hf_home"
    home.mkdir()
    token_path = home / "token"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_TOKEN_PATH", str(token_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # huggingface_hub.constants reads HF_TOKEN_PATH at import, so patch the constant too.
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(token_path))
    return token_path


@pytest.fixture(autouse=True)
def no_network() -> Iterator[None]:
    """Unit tests open no socket (Unix sockets stay allowed: asyncio's event loop needs a socketpair)."""
    pytest_socket.disable_socket(allow_unix_socket=True)
    try:
        yield
    finally:
        pytest_socket.enable_socket()


@pytest.fixture
def token_file(clean_environment: Path) -> Path:
    """The stored-login token file location (not created)."""
    return clean_environment
