"""The rerank and sparse tasks' pure planners and parsers, and the settings checks of both tasks.

The answers read here are TEI's shapes (the recorded ``/rerank`` answer in
``tests/data/tei/test_http_rerank__ranks.snap`` is checked in the integration tests); hypothesis
feeds the parsers arbitrary JSON: they return checked ranks and vectors, or a typed error.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hfe_core import ConfigurationError, Rank, Reranker, ResponseFormatError, SparseEmbedder
from hfe_core.tasks import describe_model_type, plan_texts, served_tasks
from hfe_core.tasks.rerank import check_top_n, merge_ranks, read_ranks, rerank_body
from hfe_core.tasks.sparse import read_sparse, sparse_body

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 100) | st.floats(allow_nan=True) | st.text(max_size=3),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


def test_plan_covers_every_text_once_in_order() -> None:
    for count in (0, 1, 31, 32, 33, 100):
        plan = plan_texts(count, 32)
        assert [index for rows in plan for index in rows] == list(range(count))
        assert all(len(rows) <= 32 for rows in plan)
        assert len(plan) == -(-count // 32)  # as few requests as the limit allows
        assert max(map(len, plan), default=0) - min(map(len, plan), default=0) <= 1  # of even sizes


def test_merge_sorts_by_score_and_keeps_the_servers_order_on_ties() -> None:
    # TEI's recorded answer lists index 2 before index 0 for equal scores: that order is kept.
    parts = [[Rank(2, 0.9997739), Rank(0, 0.9997739), Rank(1, 0.3638598)], [Rank(3, 0.5)]]
    assert merge_ranks(parts) == [Rank(2, 0.9997739), Rank(0, 0.9997739), Rank(3, 0.5), Rank(1, 0.3638598)]
    assert merge_ranks(parts, top_n=1) == [Rank(2, 0.9997739)]
    assert merge_ranks(parts, top_n=0) == []


def test_read_ranks_shifts_indices_by_the_requests_offset() -> None:
    answer = [{"index": 1, "score": 0.75, "text": "b"}, {"index": 0, "score": 0.25}]
    assert read_ranks(answer, 2, offset=64, label="x") == [Rank(65, 0.75), Rank(64, 0.25)]


@pytest.mark.parametrize(
    ("answer", "named"),
    [
        ({"index": 0, "score": 1.0}, "dict, not a list"),
        ([{"index": 0, "score": 1.0}], "1 ranks for 2 texts"),
        ([{"index": 0, "score": 1.0}, {"index": 0, "score": 0.5}], "index 0 twice"),
        ([{"index": 0, "score": 1.0}, {"index": 2, "score": 0.5}], "index=2"),
        ([{"index": 0, "score": 1.0}, {"index": True, "score": 0.5}], "index=True"),
        ([{"index": 0, "score": 1.0}, {"index": 1, "score": math.inf}], "score=inf"),
        ([{"index": 0, "score": 1.0}, {"index": 1, "score": "0.5"}], "score='0.5'"),
        ([{"index": 0, "score": 1.0}, [1, 0.5]], "list at position 1"),
    ],
)
def test_a_bad_rerank_answer_is_a_response_format_error_naming_what(answer: Any, named: str) -> None:
    with pytest.raises(ResponseFormatError, match="No score was kept") as caught:
        read_ranks(answer, 2, label="http://tei/rerank (2 texts)")
    assert named in str(caught.value)
    assert isinstance(caught.value, ValueError)


@given(json_values, st.integers(1, 4))
def test_property_any_json_is_checked_ranks_or_a_typed_error(answer: Any, count: int) -> None:
    try:
        ranks = read_ranks(answer, count, label="x")
    except ResponseFormatError:
        return
    assert sorted(rank.index for rank in ranks) == list(range(count))
    assert all(math.isfinite(rank.score) for rank in ranks)


@given(json_values, st.integers(1, 3))
def test_property_any_json_is_checked_sparse_vectors_or_a_typed_error(answer: Any, count: int) -> None:
    try:
        vectors = read_sparse(answer, count, label="x")
    except ResponseFormatError:
        return
    assert len(vectors) == count
    for vector in vectors:
        assert all(isinstance(index, int) and index >= 0 for index in vector)
        assert all(math.isfinite(value) and value != 0 for value in vector.values())


@pytest.mark.parametrize(
    ("answer", "named"),
    [
        ([[{"index": 3, "value": 0.5}]], "1 vectors for 2 inputs"),
        ([[{"index": 3, "value": 0.5}], {"index": 1}], "dict for input 1"),
        ([[{"index": 3, "value": 0.5}, {"index": 3, "value": 0.1}], []], "index 3 twice"),
        ([[{"index": -1, "value": 0.5}], []], "index=-1"),
        ([[{"index": 1, "value": math.nan}], []], "value=nan"),
    ],
)
def test_a_bad_sparse_answer_is_a_response_format_error_naming_what(answer: Any, named: str) -> None:
    with pytest.raises(ResponseFormatError, match="No vector was built") as caught:
        read_sparse(answer, 2, label="x")
    assert named in str(caught.value)


def test_bodies_cut_texts_over_teis_character_limit_only_when_truncating() -> None:
    body = rerank_body("q" * 10, ["abcdef", "xy"], truncate=True, left=False, raw_scores=True, char_limit=4)
    assert body == {
        "query": "qqqq",
        "texts": ["abcd", "xy"],
        "truncate": True,
        "truncation_direction": "Right",
        "raw_scores": True,
        "return_text": False,
    }
    assert rerank_body("q", ["abcdef"], truncate=True, left=True, raw_scores=False, char_limit=4)[
        "texts"
    ] == ["cdef"]
    assert rerank_body("q", ["abcdef"], truncate=False, left=False, raw_scores=False, char_limit=4)[
        "texts"
    ] == ["abcdef"]
    assert sparse_body(["abcdef"], truncate=True, left=True, char_limit=4) == {
        "inputs": ["cdef"],
        "truncate": True,
        "truncation_direction": "Left",
    }


@pytest.mark.parametrize("top_n", [-1, 1.5, True, "3"])
def test_top_n_must_be_a_non_negative_integer(top_n: Any) -> None:
    with pytest.raises(ConfigurationError, match="top_n"):
        check_top_n(top_n)


def test_served_tasks_read_teis_model_type() -> None:
    assert served_tasks({"embedding": {"pooling": "mean"}}) == {"embed"}
    assert served_tasks({"embedding": {"pooling": "splade"}}) == {"sparse"}
    assert served_tasks({"reranker": {"id2label": {"0": "LABEL_0"}, "label2id": {"LABEL_0": 0}}}) == {
        "rerank"
    }
    assert served_tasks({"classifier": {"id2label": {}}}) == {"classify"}
    assert served_tasks(None) is None
    assert served_tasks("embedding") is None
    assert describe_model_type({"embedding": {"pooling": "cls"}}) == "an embedding model (cls pooling)"


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"dimensions": 64}, "dimensions"),
        ({"precision": "int8"}, "precision"),
        ({"query_prompt": "query: "}, "query_prompt"),
        ({"route": "openai"}, "route='openai'"),
        ({"truncation": "chunk"}, "truncation='chunk'"),
    ],
)
def test_a_reranker_refuses_dense_only_settings_by_name(kwargs: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        Reranker(mode="tei", url="http://127.0.0.1:9", **kwargs)


def test_a_sparse_embedder_keeps_prompts_but_refuses_normalize() -> None:
    assert (
        SparseEmbedder(mode="tei", url="http://127.0.0.1:9", query_prompt="q: ").settings.query_prompt
        == "q: "
    )
    with pytest.raises(ConfigurationError, match="normalize"):
        SparseEmbedder(mode="tei", url="http://127.0.0.1:9", normalize=True)


@pytest.mark.parametrize("cls", [Reranker, SparseEmbedder])
def test_serverless_is_refused_with_the_fix(cls: type[Any]) -> None:
    with pytest.raises(ConfigurationError, match="dedicated Inference Endpoint") as caught:
        cls(mode="endpoint", model="BAAI/bge-reranker-base")
    assert "hfe deploy" in str(caught.value)


def test_an_empty_candidate_list_needs_no_request() -> None:
    reranker = Reranker(mode="tei", url="http://127.0.0.1:9")  # nothing listens there
    assert reranker.rerank("query", []) == []
    assert SparseEmbedder(mode="tei", url="http://127.0.0.1:9").embed_documents([]) == []


def test_a_token_is_in_no_repr() -> None:
    reranker = Reranker(mode="tei", url="http://127.0.0.1:9", token="hf_secret_token_value")
    sparse = SparseEmbedder(mode="tei", url="http://127.0.0.1:9", token="hf_secret_token_value")
    assert "hf_secret" not in repr(reranker) + repr(sparse) + repr(reranker.settings) + repr(sparse.settings)


@pytest.mark.parametrize("cls", [Reranker, SparseEmbedder])
def test_pickling_carries_the_settings_and_never_the_token(cls: type[Any]) -> None:
    import pickle

    original = cls(mode="tei", url="http://127.0.0.1:9", token="hf_secret_token_value", timeout=7)
    data = pickle.dumps(original)
    assert b"hf_secret" not in data
    copy = pickle.loads(data)  # noqa: S301 - our own bytes
    assert type(copy) is cls and copy.settings.url == original.settings.url and copy.settings.timeout == 7
