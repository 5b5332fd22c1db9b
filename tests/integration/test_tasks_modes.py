"""Reranker and SparseEmbedder in every mode, against sentence-transformers itself.

local mode runs ``CrossEncoder`` / ``SparseEncoder``; tei and endpoint modes (a dedicated endpoint
by URL) talk to the project's TEI test server serving the same model folder (TEI 1.8 and 1.9).
The models are tiny ones built from a config (``tests/tiny_models.py``): **their scores are not
meaningful**, only equal across paths, which is what these tests check. The server computes with
PyTorch's exact GELU here (``gelu="exact"``), as sentence-transformers does, so agreement is to
float rounding.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from hfe_core import ConfigurationError, Rank, Reranker, SparseEmbedder
from tests.tei_server import TEIConfig, TEIServer

QUERY = "Where is the capital of France?"
TEXTS = [
    f"Passage {i}: "
    + " ".join(
        ["Paris lies on the Seine", "Bern is in Switzerland", "cheese and wine"][i % 3]
        for _ in range(1 + i % 4)
    )
    for i in range(70)
]


@pytest.fixture(scope="module", params=["1.8.3", "1.9.3"])
def rerank_server(request: pytest.FixtureRequest, cross_encoder_path: str) -> Iterator[TEIServer]:
    config = TEIConfig(
        version=request.param, model_type="reranker", model_path=cross_encoder_path, gelu="exact"
    )
    with TEIServer(config) as server:
        yield server


@pytest.fixture(scope="module")
def sparse_server(sparse_encoder_path: str) -> Iterator[TEIServer]:
    config = TEIConfig(model_type="splade", model_path=sparse_encoder_path, gelu="exact")
    with TEIServer(config) as server:
        yield server


def _reference_scores(path: str, *, raw: bool) -> np.ndarray:
    import torch
    from sentence_transformers import CrossEncoder

    options: dict[str, Any] = {"activation_fn": torch.nn.Identity()} if raw else {}
    return np.asarray(
        CrossEncoder(path).predict([(QUERY, text) for text in TEXTS], **options), dtype=np.float64
    )


def _check(ranks: list[Rank], reference: np.ndarray, top_n: int | None = None) -> None:
    order = sorted(range(len(reference)), key=lambda index: -reference[index])[:top_n]
    assert [rank.index for rank in ranks] == order
    assert np.allclose([rank.score for rank in ranks], reference[order], atol=1e-5, rtol=0)


@pytest.mark.parametrize("raw", [False, True])
def test_every_mode_gives_sentence_transformers_scores(
    rerank_server: TEIServer, cross_encoder_path: str, raw: bool
) -> None:
    reference = _reference_scores(cross_encoder_path, raw=raw)
    for settings in (
        {"mode": "local", "model": cross_encoder_path},
        {"mode": "tei", "url": rerank_server.url},
        {"mode": "endpoint", "url": rerank_server.url},
    ):
        reranker = Reranker(**settings, raw_scores=raw)
        _check(reranker.rerank(QUERY, TEXTS), reference)
        _check(asyncio.run(reranker.arerank(QUERY, TEXTS, top_n=5)), reference, top_n=5)


def test_max_client_batch_size_applies_to_texts(cross_encoder_path: str) -> None:
    config = TEIConfig(
        model_type="reranker", model_path=cross_encoder_path, gelu="exact", max_client_batch_size=8
    )
    with TEIServer(config) as server:
        seen: list[int] = []
        reranker = Reranker(mode="tei", url=server.url)
        original = reranker._mode._post  # type: ignore[union-attr]

        def spy(body: dict[str, Any]) -> Any:
            seen.append(len(body["texts"]))
            return original(body)

        reranker._mode._post = spy  # type: ignore[union-attr,method-assign]
        _check(reranker.rerank(QUERY, TEXTS), _reference_scores(cross_encoder_path, raw=False))
    assert sorted(seen, reverse=True) == [8] * 7 + [7] * 2  # 70 texts, at most 8 a request: 9 even requests


def test_five_percent_429_and_five_percent_503_give_exact_ordered_results(cross_encoder_path: str) -> None:
    config = TEIConfig(
        model_type="reranker",
        model_path=cross_encoder_path,
        gelu="exact",
        fail_429=0.05,
        fail_503=0.05,
        seed=16,
    )
    reference = _reference_scores(cross_encoder_path, raw=False)
    with TEIServer(config) as server:
        reranker = Reranker(mode="tei", url=server.url, max_retries=20)
        for _ in range(5):
            _check(reranker.rerank(QUERY, TEXTS), reference)
            _check(asyncio.run(reranker.arerank(QUERY, TEXTS)), reference)
        assert reranker._mode.stats.retries > 0  # type: ignore[union-attr]  # the faults did happen


def test_sparse_vectors_equal_sentence_transformers_in_every_mode(
    sparse_server: TEIServer, sparse_encoder_path: str
) -> None:
    from sentence_transformers import SparseEncoder

    model = SparseEncoder(sparse_encoder_path)
    for input_type, encode in (("document", model.encode_document), ("query", model.encode_query)):
        dense = encode(TEXTS[:40], convert_to_tensor=True, convert_to_sparse_tensor=False).numpy()
        for settings in (
            {"mode": "local", "model": sparse_encoder_path},
            {"mode": "tei", "url": sparse_server.url},
            {"mode": "endpoint", "url": sparse_server.url},
        ):
            sparse = SparseEmbedder(**settings)
            vectors = sparse.embed(TEXTS[:40], input_type=input_type)  # type: ignore[arg-type]
            assert asyncio.run(sparse.aembed(TEXTS[:40], input_type=input_type)) == vectors  # type: ignore[arg-type]
            for row, vector in zip(dense, vectors, strict=True):
                assert set(vector) == set(np.nonzero(row)[0].tolist())
                assert np.allclose([vector[i] for i in sorted(vector)], row[sorted(vector)], atol=1e-5)


def test_a_reranker_at_an_embedding_server_says_so_before_any_rerank_request() -> None:
    with TEIServer(TEIConfig(vectors="hash")) as server:
        with pytest.raises(ConfigurationError, match="an embedding model .* which has no /rerank") as caught:
            Reranker(mode="tei", url=server.url).rerank(QUERY, TEXTS)
        assert "Embedder" in str(caught.value)
        with pytest.raises(ConfigurationError, match="which has no /embed_sparse"):
            SparseEmbedder(mode="tei", url=server.url).embed_documents(TEXTS)


def test_a_sparse_embedder_at_a_reranker_says_so(rerank_server: TEIServer) -> None:
    with pytest.raises(ConfigurationError, match="a re-ranker model .* which has no /embed_sparse"):
        SparseEmbedder(mode="tei", url=rerank_server.url).embed_query(QUERY)
