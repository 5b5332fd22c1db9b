"""Issue 14: the served model's own prompts in tei and endpoint mode, found with one request per server.

The TEI test server runs the real packaged all-MiniLM-L6-v2 with a prompt catalogue, as a
``config_sentence_transformers.json`` would give it; local mode gets the same prompts through
``SentenceTransformer(..., prompts=...)``. The text that reaches the model is then the same in every
mode, so the vectors are (to the test server's tanh-GELU difference, cosine >= 0.9999).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from hfe_core import ConfigurationError, Embedder
from langchain_hfe import HFEmbeddings
from llamaindex_hfe import HFEmbedding
from tests.tei_server.harness import TEIServer

from .conftest import MODEL_ID, cosine

PROMPTS = {
    "query": "Instruct: Given a web search query, retrieve relevant passages\nQuery: ",
    "document": "title: none | text: ",
    "Clustering": "Identify the topic or theme of the text: ",
}
QUERIES = ["Where is the Eiffel tower?", "How do plants make food?"]
DOCUMENTS = ["The Eiffel tower is in Paris.", "Photosynthesis turns light into sugar.", ""]


def _tokenize_requests(server: TEIServer) -> int:
    return sum(count for (route, _), count in server.stats.requests.items() if route == "/tokenize")


@pytest.fixture(scope="module")
def prompted() -> Iterator[TEIServer]:
    with TEIServer(slots=2, prompts=PROMPTS) as server:
        yield server


@pytest.fixture(scope="module")
def local() -> Embedder:
    return Embedder(model=MODEL_ID, model_kwargs={"prompts": PROMPTS})


def _close(a: Any, b: Any) -> None:
    for x, y in zip(np.asarray(a), np.asarray(b), strict=True):
        assert cosine(x, y) >= 0.9999


@pytest.mark.model
@pytest.mark.parametrize("mode", ["tei", "endpoint"])
def test_queries_and_documents_equal_local_mode_with_the_same_prompts(
    prompted: TEIServer, local: Embedder, mode: str
) -> None:
    remote = Embedder(mode=mode, url=prompted.url)
    assert remote.prompt_choice("query") == ("", "query")  # the server applies its own prompt
    assert remote.prompt_choice("document") == ("", "document")
    _close(
        remote.embed(QUERIES, input_type="query").embeddings,
        local.embed(QUERIES, input_type="query").embeddings,
    )
    _close(remote.embed_documents(DOCUMENTS), local.embed_documents(DOCUMENTS))
    # Not the vectors without prompts: the prompts did reach the model.
    plain = Embedder(model=MODEL_ID).embed(QUERIES, input_type="query").embeddings
    assert cosine(remote.embed(QUERIES, input_type="query").embeddings[0], plain[0]) < 0.99


@pytest.mark.model
def test_both_adapters_get_the_servers_prompts(prompted: TEIServer) -> None:
    lc_local = HFEmbeddings(model=MODEL_ID, model_kwargs={"prompts": PROMPTS})
    lc_remote = HFEmbeddings(url=prompted.url)
    li_local = HFEmbedding(model=MODEL_ID, model_kwargs={"prompts": PROMPTS})
    li_remote = HFEmbedding(url=prompted.url)
    assert cosine(lc_remote.embed_query(QUERIES[0]), lc_local.embed_query(QUERIES[0])) >= 0.9999
    _close(lc_remote.embed_documents(DOCUMENTS), lc_local.embed_documents(DOCUMENTS))
    assert (
        cosine(li_remote.get_query_embedding(QUERIES[1]), li_local.get_query_embedding(QUERIES[1])) >= 0.9999
    )
    _close(li_remote.get_text_embedding_batch(DOCUMENTS), li_local.get_text_embedding_batch(DOCUMENTS))


@pytest.mark.model
def test_a_named_task_prompt_per_call(prompted: TEIServer, local: Embedder) -> None:
    remote = Embedder(mode="tei", url=prompted.url)
    got = remote.embed(DOCUMENTS[:2], prompt_name="Clustering").embeddings
    want = local.embed(DOCUMENTS[:2], prompt_name="Clustering").embeddings
    _close(got, want)
    with pytest.raises(ConfigurationError) as caught:
        remote.embed(["x"], prompt_name="Summarization")
    assert "Clustering" in str(caught.value) and "query" in str(caught.value)


@pytest.mark.model
def test_an_explicit_prompt_wins_over_the_servers(prompted: TEIServer) -> None:
    remote = Embedder(mode="tei", url=prompted.url, query_prompt="query: ")
    assert remote.prompt_choice("query") == ("query: ", None)
    expected = Embedder(model=MODEL_ID, query_prompt="query: ").embed(QUERIES, input_type="query")
    _close(remote.embed(QUERIES, input_type="query").embeddings, expected.embeddings)


@pytest.mark.parametrize("version", ["1.8.3", "1.9.3"])
def test_discovery_costs_one_request_per_server_on_both_versions(version: str) -> None:
    # TEI answers the unknown name with 413 (1.8) or 422 (1.9), listing the model's prompts.
    with TEIServer(vectors="hash", version=version, prompts=PROMPTS) as server:
        first = Embedder(mode="tei", url=server.url)
        assert first.backend.server_prompt_names() == frozenset(PROMPTS)
        for _ in range(3):
            first.embed(["short text"], input_type="query")
        second = Embedder(mode="tei", url=server.url)
        second.embed(["another short text"])
        assert _tokenize_requests(server) == 1


@pytest.mark.parametrize("version", ["1.8.3", "1.9.3"])
def test_a_server_without_prompts_falls_back_to_the_family_table(version: str) -> None:
    # The model reports an E5 id and has no prompts: the family's "query: " is put client-side.
    with TEIServer(vectors="hash", version=version, model_id="intfloat/e5-small-v2") as server:
        remote = Embedder(mode="tei", url=server.url)
        assert remote.backend.server_prompt_names() == frozenset()
        assert remote.prompt_choice("query") == ("query: ", None)


# -- TEI's server-side options, where the server version has them -----------------------------------------
@pytest.mark.parametrize(
    ("version", "sent"), [("1.9.3", True), ("1.8.0", True), ("1.7.4", False), (None, False)]
)
def test_dimensions_go_to_servers_that_have_them(version: str | None, sent: bool) -> None:
    from tests.hostile import HostileServer, Reply, Request, hashed_vector

    with HostileServer(dim=16) as server:
        if version is None:
            del server.info["version"]
        else:
            server.info["version"] = version

        def answer(request: Request) -> Reply:  # as TEI: cut to `dimensions`, then normalize
            size = request.json.get("dimensions") or 16
            cut = [np.asarray(hashed_vector(t, 16)[:size]) for t in request.json["inputs"]]
            return Reply(200, [(v / np.linalg.norm(v)).tolist() for v in cut])

        server.on("POST", "/embed", answer)
        vectors = Embedder(mode="tei", url=server.url, dimensions=8).embed(["a", "b"]).embeddings
        bodies = [request.json for request in server.sent("/embed")]
    assert vectors.shape == (2, 8)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert all(("dimensions" in body) is sent for body in bodies)
    assert all(body.get("dimensions", 8) == 8 for body in bodies)


@pytest.mark.model
def test_server_side_dimensions_equal_the_client_side_cut() -> None:
    texts = ["Matryoshka vectors keep their meaning when cut."]
    with TEIServer(slots=2) as server:
        cut_by_server = Embedder(mode="tei", url=server.url, dimensions=128).embed(texts).embeddings
    cut_here = Embedder(model=MODEL_ID, dimensions=128).embed(texts).embeddings
    assert cut_by_server.shape == (1, 128)
    assert cosine(cut_by_server[0], cut_here[0]) >= 0.9999
