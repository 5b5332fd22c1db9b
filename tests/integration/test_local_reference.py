"""Local mode reproduces what real servers return for all-MiniLM-L6-v2.

References (see tests/data/README.md and tests/cassettes/README.md): TEI's own
snapshots of ``/embed`` (plain and with ``dimensions=128``) and a recorded answer
of the HF serverless Inference API.
"""

from __future__ import annotations

import numpy as np
import pytest

from hfe_core import Embedder

from .conftest import CASSETTES, MODEL_ID, cosine, load_cassette_body, load_snapshot

pytestmark = pytest.mark.model


def test_matches_tei_single_snapshot() -> None:
    expected = load_snapshot("test_http_embed__embeddings_single.snap")
    got = np.asarray(Embedder(model=MODEL_ID).embed_documents(["test"]))
    assert got.shape == expected.shape == (1, 384)
    assert cosine(got[0], expected[0]) >= 0.9999
    assert np.max(np.abs(got - expected)) < 2e-4
    assert abs(np.linalg.norm(got[0]) - 1.0) < 1e-5


def test_matches_tei_batch_snapshot() -> None:
    expected = load_snapshot("test_http_embed__embeddings_batch.snap")
    got = np.asarray(Embedder(model=MODEL_ID).embed_documents(["test"] * 5))
    assert got.shape == expected.shape == (5, 384)
    for row_got, row_expected in zip(got, expected, strict=True):
        assert cosine(row_got, row_expected) >= 0.9999


@pytest.mark.parametrize(
    "snapshot, count",
    [
        ("test_http_embed__mrl_embeddings_single.snap", 1),
        ("test_http_embed__mrl_embeddings_batch.snap", 3),
    ],
)
def test_matches_tei_matryoshka_snapshot(snapshot: str, count: int) -> None:
    expected = load_snapshot(snapshot)
    embedder = Embedder(model=MODEL_ID, dimensions=128)
    got = np.asarray(embedder.embed_documents(["test"] * count))
    assert got.shape == expected.shape == (count, 128)
    assert embedder.dimension == 128
    for row_got, row_expected in zip(got, expected, strict=True):
        assert cosine(row_got, row_expected) >= 0.9999
        assert abs(np.linalg.norm(row_got) - 1.0) < 1e-5
    # Re-normalized after truncation: not just the first 128 values of the full vector.
    full = np.asarray(Embedder(model=MODEL_ID).embed_documents(["test"]))[0]
    assert not np.allclose(got[0], full[:128], atol=1e-3)


def test_matches_serverless_inference_api_recording() -> None:
    cassette = (
        CASSETTES
        / "hf_inference_api"
        / ("InferenceClientVCRTest.test_feature_extraction_with_sentence_transformers.yaml")
    )
    expected = np.asarray(load_cassette_body(cassette), dtype=np.float32)
    assert expected.shape == (384,)
    got = np.asarray(Embedder(model=MODEL_ID).embed_query("Hi, who are you?"))
    assert cosine(got, expected) >= 0.9999
    assert np.max(np.abs(got - expected)) < 2e-4
