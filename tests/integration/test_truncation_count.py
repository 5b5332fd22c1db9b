"""Issue 13: under ``truncate`` the count of cut inputs never holds up the embedding, and stays exact.

* With the served model's own tokenizer (found client-side, checked once against the server's
  ``/tokenize``), later calls send no ``/tokenize`` at all and count exactly what the server cuts.
* Without one, the server's ``/tokenize`` runs beside ``/embed``: an ``/embed`` reaches the server
  while ``/tokenize`` is still unanswered (before, every ``/embed`` waited for it).
* ``truncate_left`` is TEI's own ``truncation_direction: Left`` when there is no prompt.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from hfe_core import Embedder
from tests.hostile import HostileServer, Reply, Request
from tests.tei_server.harness import TEIServer

from .conftest import cosine

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()


def _long_texts(count: int, words: int) -> list[str]:
    return [" ".join(WORDS[(i + j) % len(WORDS)] for j in range(words + i * 7)) for i in range(count)]


@pytest.fixture(scope="module")
def tei() -> Iterator[TEIServer]:
    """TEI 1.9 with the real tokenizer (all-MiniLM-L6-v2's id) and hashed vectors."""
    with TEIServer(vectors="hash", slots=4) as server:
        yield server


def _tokenize_requests(server: TEIServer) -> int:
    return sum(count for (route, _), count in server.stats.requests.items() if route == "/tokenize")


def _server_counts(server: TEIServer, texts: list[str]) -> list[int]:
    """Token counts (special tokens included) by the server's own /tokenize, 32 texts a request."""
    counts: list[int] = []
    for start in range(0, len(texts), 32):
        body = {"inputs": texts[start : start + 32], "add_special_tokens": True}
        answer = httpx.post(server.url + "/tokenize", json=body, timeout=60)
        answer.raise_for_status()
        counts += [len(tokens) for tokens in answer.json()]
    return counts


@pytest.mark.parametrize("asynchronous", [False, True])
def test_the_client_side_tokenizer_counts_exactly_with_no_tokenize_round_trip(
    tei: TEIServer, asynchronous: bool
) -> None:
    texts = _long_texts(40, 480) + ["short one", "short two"]  # about half run past the limit
    embedder = Embedder(mode="tei", url=tei.url)
    embedder.embed(["a warm-up call with text long enough to check the tokenizer " * 12])
    assert embedder.backend.tokenizes_remotely is False  # found, and the server agreed
    before = _tokenize_requests(tei)
    if asynchronous:
        result = asyncio.run(embedder.aembed(texts))
    else:
        result = embedder.embed(texts)
    assert _tokenize_requests(tei) == before  # nothing asked of /tokenize
    limit = embedder.max_input_tokens
    assert limit is not None
    expected = sum(count > limit for count in _server_counts(tei, texts))
    assert expected > 0
    assert result.stats.truncated == expected and result.stats.truncation_counted


def test_the_first_call_checks_the_tokenizer_beside_the_embedding(tei: TEIServer) -> None:
    texts = _long_texts(10, 480)
    embedder = Embedder(mode="tei", url=tei.url)
    result = embedder.embed(texts)
    limit = embedder.max_input_tokens
    assert limit is not None
    assert result.stats.truncated == sum(count > limit for count in _server_counts(tei, texts))
    assert embedder.backend.tokenizes_remotely is False


def test_without_a_client_tokenizer_the_count_runs_beside_embed(hostile: HostileServer) -> None:
    # The hostile server's model is unknown to the client: the count needs its /tokenize, which
    # stalls here until an /embed has arrived. Before the fix, /embed waited for /tokenize: deadlock
    # broken only by the 5 s stall, and the server saw no /embed while /tokenize was unanswered.
    hostile.info["max_input_length"] = 16
    embed_arrived = threading.Event()
    seen_while_tokenizing: list[bool] = []
    default_tokenize, default_embed = hostile.tokenize, hostile.embed

    def tokenize(request: Request) -> Reply:
        if request.json.get("prompt_name"):  # the one-time prompt discovery (issue 14), not a count
            return default_tokenize(request)
        seen_while_tokenizing.append(embed_arrived.wait(5.0))
        return default_tokenize(request)

    def embed(request: Request) -> Reply:
        embed_arrived.set()
        return default_embed(request)

    hostile.on("POST", "/tokenize", tokenize)
    hostile.on("POST", "/embed", embed)
    texts = [" ".join(["word"] * n) for n in (4, 30, 8, 50)]
    result = Embedder(mode="tei", url=hostile.url, max_retries=0).embed(texts)
    assert seen_while_tokenizing and all(seen_while_tokenizing)
    # The hostile server's /tokenize counts words (no special tokens); the limit is 16.
    assert result.stats.truncated == 2 and result.stats.truncation_counted


def test_a_server_without_tokenize_reports_the_count_as_missing(hostile: HostileServer) -> None:
    hostile.info["max_input_length"] = 16
    hostile.on("POST", "/tokenize", Reply(404, b""))
    result = Embedder(mode="tei", url=hostile.url, max_retries=0).embed(["word " * 40, "short"])
    assert result.embeddings.shape[0] == 2
    assert result.stats.truncation_counted is False and result.stats.truncated == 0


@pytest.mark.model
def test_truncate_left_is_the_servers_own_direction() -> None:
    with TEIServer(slots=2) as server:
        texts = ["the beginning is here. " + "filler words " * 200 + "and the ending is here."]
        left = Embedder(mode="tei", url=server.url, truncation="truncate_left")
        vector = left.embed(texts)
        sent: list[Any] = []
        with httpx.Client(base_url=server.url, timeout=60) as client:
            own = client.post(
                "/embed", json={"inputs": texts, "truncate": True, "truncation_direction": "Left"}
            ).json()
            sent = client.post(
                "/embed", json={"inputs": texts, "truncate": True, "truncation_direction": "Right"}
            ).json()
        assert vector.stats.truncated == 1
        assert cosine(vector.embeddings[0], own[0]) >= 0.9999
        assert cosine(vector.embeddings[0], sent[0]) < 0.99  # the other end gives another vector
        # No /tokenize and no client-side cut: TEI kept the end itself (token-level; a client-side cut
        # at a character offset may split the first word differently).
        assert _tokenize_requests(server) == 0 or left.backend.tokenizes_remotely is False


def test_the_openai_route_of_tei_1_8_gets_long_inputs_cut_client_side(reference_model: Any) -> None:
    """TEI 1.8's /v1/embeddings has no truncate field and auto_truncate off: it refuses long inputs.

    Under ``truncate`` hfe cuts them client-side at the model's limit, so the batch is embedded (not
    refused with 413) and each vector is the one of the text's first tokens, as the native route gives.
    """
    texts = _long_texts(3, 400) + ["a short one"]
    with TEIServer(version="1.8.3", slots=2) as server:  # the real packaged all-MiniLM-L6-v2
        assert httpx.get(server.url + "/info", timeout=10).json()["auto_truncate"] is False
        openai = Embedder(mode="tei", url=server.url, route="openai").embed(texts)
        native = Embedder(mode="tei", url=server.url).embed(texts)
    assert openai.stats.truncated == native.stats.truncated == 3
    expected = reference_model.encode(texts, normalize_embeddings=True)  # cut at 256 tokens too
    for ours, theirs in zip(openai.embeddings, expected, strict=True):
        assert cosine(ours, theirs) > 0.9999
    assert abs(openai.embeddings - native.embeddings).max() < 1e-5
