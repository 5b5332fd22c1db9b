"""A Hugging Face Text Embeddings Inference (TEI) protocol server for tests, backed by the real model.

See ``README.md`` beside this file. Typical use::

    from tests.tei_server import TEIConfig, TEIServer

    with TEIServer(TEIConfig(version="1.8.3", max_client_batch_size=8)) as server:
        httpx.post(server.url + "/embed", json={"inputs": ["a", "b"]})
        assert server.stats.inputs_embedded == 2
"""

from __future__ import annotations

from .config import TEIConfig
from .harness import TEIServer
from .protocol import FrameworkError, TEIError
from .server import TEIApp, serve
from .stats import DROPPED, ServerStats

__all__ = [
    "DROPPED",
    "FrameworkError",
    "ServerStats",
    "TEIApp",
    "TEIConfig",
    "TEIError",
    "TEIServer",
    "serve",
]
