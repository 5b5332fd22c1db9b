"""Backend.share_server: several clients (Ray actors) of one server keep to their share of it.

A TEI server is simulated in process with httpx.MockTransport (unit tests open no socket): it
answers /info with small limits and records what is in flight on /embed, from the threads the
embedder really runs.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import numpy as np
import pytest

from hfe_core import ConfigurationError, Embedder
from hfe_core.backends.tei import TEIBackend

URL = "http://tei.test:8080"


class _Server:
    """A TEI stand-in: /info with the given limits; /embed answers after a short delay."""

    def __init__(self, *, max_concurrent_requests: int, max_client_batch_size: int = 32) -> None:
        self.info = {
            "model_id": "sentence-transformers/all-MiniLM-L6-v2",
            "version": "1.9.3",
            "max_concurrent_requests": max_concurrent_requests,
            "max_client_batch_size": max_client_batch_size,
            "max_batch_tokens": 16384,
        }
        self.lock = threading.Lock()
        self.requests = self.inputs = 0
        self.max_requests = self.max_inputs = 0
        self.request_sizes: list[int] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/info":
            return httpx.Response(200, json=self.info)
        inputs = json.loads(request.content)["inputs"]
        with self.lock:
            self.requests += 1
            self.inputs += len(inputs)
            self.max_requests = max(self.max_requests, self.requests)
            self.max_inputs = max(self.max_inputs, self.inputs)
            self.request_sizes.append(len(inputs))
        time.sleep(0.005)
        with self.lock:
            self.requests -= 1
            self.inputs -= len(inputs)
        return httpx.Response(200, json=[[float(len(text)), 1.0, 0.0] for text in inputs])


def _embedder(server: _Server, **settings: Any) -> Embedder:
    embedder = Embedder(mode="tei", url=URL, **settings)
    backend = embedder.backend
    assert isinstance(backend, TEIBackend)
    backend._client = httpx.Client(base_url=URL, transport=httpx.MockTransport(server))
    return embedder


def _backend(embedder: Embedder) -> TEIBackend:
    backend = embedder.backend
    assert isinstance(backend, TEIBackend)
    return backend


def test_tei_share_divides_requests_and_permits() -> None:
    backend = _backend(_embedder(_Server(max_concurrent_requests=10), max_concurrency=8))
    assert backend.max_concurrency == 8
    assert backend._new_limit().max_inputs == 10
    backend.share_server(3)
    assert backend.server_clients == 3
    assert backend.max_concurrency == 3  # ceil(8 / 3)
    assert backend._new_limit().max_requests == 3
    assert backend._new_limit().max_inputs == 3  # 10 // 3 permits
    assert backend._limits_for_requests(32).max_inputs == 3  # no request may need more than the share
    backend.share_server(3)  # sharing again starts from the configured values, not the share
    assert (backend.max_concurrency, backend._new_limit().max_inputs) == (3, 3)
    backend.share_server(1)
    assert (backend.max_concurrency, backend._new_limit().max_inputs) == (8, 10)


def test_more_clients_than_permits_still_send_one_input_each() -> None:
    backend = _backend(_embedder(_Server(max_concurrent_requests=2), max_concurrency=2))
    backend.share_server(4)
    assert (backend.max_concurrency, backend._new_limit().max_inputs) == (1, 1)


def test_a_shared_client_keeps_to_its_share_under_load() -> None:
    server = _Server(max_concurrent_requests=16)
    # Requests of 2 inputs: the request count, not the permits, is what binds first.
    embedder = _embedder(server, max_concurrency=8, batch_size=2)
    embedder.backend.share_server(2)
    texts = [f"text {i}" for i in range(200)]
    vectors = embedder.embed(texts).embeddings
    np.testing.assert_array_equal(vectors[:, 0], [len(text) for text in texts])  # order kept
    assert server.max_requests == 4  # ceil(8 / 2), and the limit was reached
    assert server.max_inputs <= 8  # 16 // 2 permits
    assert max(server.request_sizes) <= 8


def test_an_unshared_client_uses_the_whole_server() -> None:
    # The same load without sharing goes past one client's share: the test above can fail.
    server = _Server(max_concurrent_requests=16)
    _embedder(server, max_concurrency=8, batch_size=2).embed([f"text {i}" for i in range(200)])
    assert server.max_requests > 4
    assert server.max_inputs > 8


def test_limits_built_before_sharing_are_rebuilt() -> None:
    server = _Server(max_concurrent_requests=16)
    embedder = _embedder(server, max_concurrency=8)
    embedder.embed(["warm up"])  # builds the limit with the whole server
    embedder.backend.share_server(4)
    embedder.embed([f"text {i}" for i in range(100)])
    backend = _backend(embedder)
    assert backend._limit is not None
    assert (backend._limit.max_requests, backend._limit.max_inputs) == (2, 4)


def test_a_local_model_has_no_server_to_share() -> None:
    backend = Embedder(model="sentence-transformers/all-MiniLM-L6-v2").backend  # nothing is loaded
    backend.share_server(4)
    assert backend.max_concurrency == 1
    assert backend.server_clients == 4


def test_serverless_shares_its_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_unit_test_token")
    backend = Embedder(mode="endpoint", model="BAAI/bge-small-en-v1.5", max_concurrency=6).backend
    backend.share_server(4)
    assert backend.max_concurrency == 2  # ceil(6 / 4)


@pytest.mark.parametrize("clients", [0, -1, True, 1.5])
def test_share_server_needs_a_positive_count(clients: Any) -> None:
    backend = Embedder(mode="tei", url=URL).backend
    with pytest.raises(ConfigurationError, match="positive integer"):
        backend.share_server(clients)
