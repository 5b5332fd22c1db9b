"""A server that cannot tokenize: "truncate" still embeds (the count is lost), the other policies say why."""

from __future__ import annotations

import logging
from typing import ClassVar

import numpy as np
import numpy.typing as npt
import pytest

from hfe_core import Embedder, NotFoundError
from hfe_core.backends.base import Backend
from hfe_core.config import InputType
from hfe_core.truncation import Span


class _NoTokenizeBackend(Backend):
    """Embeds by hashing; like a TEI without /tokenize, it cannot give token spans."""

    mode: ClassVar[str] = "tei"

    @property
    def dimension(self) -> int:
        return 4

    @property
    def max_input_tokens(self) -> int | None:
        return 8

    def token_spans(self, texts: list[str]) -> list[list[Span]]:
        raise NotFoundError("no /tokenize", status_code=404)

    def embed_batch(
        self, texts: list[str], *, input_type: InputType, prompt: str, batch_size: int
    ) -> npt.NDArray[np.float32]:
        return np.asarray([[len(text), 1.0, 0.0, 0.0] for text in texts], dtype=np.float32)


def _embedder(truncation: str) -> Embedder:
    embedder = Embedder(mode="tei", url="http://127.0.0.1:9", truncation=truncation)
    embedder._backend = _NoTokenizeBackend(embedder.settings)
    return embedder


def test_truncate_still_embeds_and_says_the_count_is_unknown(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="hfe"):
        result = _embedder("truncate").embed(["short", "a much longer text than eight tokens " * 3])
    assert result.embeddings.shape == (2, 4)
    assert result.stats.truncated == 0
    assert any("not counted" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("policy", ["error", "truncate_left", "chunk"])
def test_policies_that_need_tokens_raise(policy: str) -> None:
    with pytest.raises(NotFoundError):
        _embedder(policy).embed(["a much longer text than eight tokens " * 3])
