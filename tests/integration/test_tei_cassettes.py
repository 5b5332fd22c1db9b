"""Both adapters in tei mode, replayed from vcrpy cassettes recorded from the TEI test server.

CI only replays (no server is started, no socket is opened to it). To re-record, run::

    HFE_RECORD_CASSETTES=1 python -m pytest tests/integration/test_tei_cassettes.py

which starts tests/tei_server on 127.0.0.1:18080 with an API key and the real packaged
model, and rewrites tests/cassettes/tei/. The Authorization header is filtered out
before a cassette is written; the recorded vectors are checked against TEI's own
snapshots in tests/data/tei, so a cassette from a server that drifted would fail.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import vcr

from langchain_hfe import HFEmbeddings
from llamaindex_hfe import HFEmbedding

from .conftest import CASSETTES, cosine, load_snapshot

RECORD = os.environ.get("HFE_RECORD_CASSETTES") == "1"
FOLDER = CASSETTES / "tei"
URL = "http://127.0.0.1:18080"
API_KEY = "sk-recording-key-never-stored"
TEXTS = ["test", "Embeddings map text to vectors.", "line one\nline two"]

recorder = vcr.VCR(
    cassette_library_dir=str(FOLDER),
    record_mode="all" if RECORD else "none",
    match_on=["method", "path", "body"],
    filter_headers=["authorization"],
    decode_compressed_response=True,
)


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    if not RECORD:
        yield URL
        return
    from tests.tei_server.harness import TEIServer

    with TEIServer(port=18080, api_key=API_KEY):
        yield URL


def _check_vectors(documents: list[list[float]], query: list[float]) -> None:
    snapshot = load_snapshot("test_http_embed__embeddings_single.snap")[0]
    assert len(documents) == len(TEXTS) and all(len(row) == 384 for row in documents)
    assert cosine(documents[0], snapshot) >= 0.9999
    assert cosine(query, snapshot) >= 0.9999  # all-MiniLM-L6-v2 has no query prompt
    assert abs(np.linalg.norm(documents[1]) - 1) < 1e-5


def _cassette_text(name: str) -> str:
    return (FOLDER / name).read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("adapter", "cassette"),
    [(HFEmbeddings, "langchain_embed.yaml"), (HFEmbedding, "llamaindex_embed.yaml")],
    ids=["langchain", "llamaindex"],
)
def test_adapters_replay_tei(server_url: str, adapter: Any, cassette: str) -> None:
    with recorder.use_cassette(cassette):
        obj = adapter(mode="tei", url=server_url, api_key=API_KEY)
        if adapter is HFEmbeddings:
            documents, query = obj.embed_documents(TEXTS), obj.embed_query("test")
        else:
            documents, query = obj.get_text_embedding_batch(TEXTS), obj.get_query_embedding("test")
    _check_vectors(documents, query)
    text = _cassette_text(cassette)
    assert API_KEY not in text and "authorization" not in text.lower()
    assert "/info" in text and "/embed" in text


def test_async_replay_tei(server_url: str) -> None:
    async def run() -> tuple[list[list[float]], list[float]]:
        obj = HFEmbeddings(mode="tei", url=server_url, api_key=API_KEY)
        return await obj.aembed_documents(TEXTS), await obj.aembed_query("test")

    with recorder.use_cassette("langchain_async_embed.yaml"):
        documents, query = asyncio.run(run())
    _check_vectors(documents, query)


def test_cassettes_are_small_and_have_no_secrets() -> None:
    files = sorted(Path(FOLDER).glob("*.yaml"))
    assert len(files) == 3
    for path in files:
        assert path.stat().st_size < 64_000
        assert API_KEY not in path.read_text(encoding="utf-8")
