"""hfe_core.answers: a bad 200 answer never becomes vectors; every accepted shape reads right.

Each bad answer below was accepted as vectors before issue 11 (``np.asarray(answer, float32)`` turns
``true`` into 1.0 and 1e39 into inf). The property tests throw arbitrary JSON and near-valid answers
at the three readers: they return finite ``(count, dim)`` float32 arrays equal to the input where it
was valid, or raise ResponseFormatError (TokenLevelOutputError included), never anything else.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hfe_core.answers import (
    check_dimension,
    read_info,
    read_json_vectors,
    read_openai_vectors,
    read_vectors,
)
from hfe_core.errors import EmbeddingError, ResponseFormatError, TokenLevelOutputError

LABEL = "http://host:8080/embed (2 inputs)"
TEI_DATA = Path(__file__).resolve().parent.parent / "data" / "tei"


def _both(answer: Any, count: int, pooling: str | None = None) -> list[Any]:
    """What read_vectors and read_json_vectors (on the same answer as JSON bytes) each do."""
    outcomes: list[Any] = []
    reads: list[Callable[[], Any]] = [
        partial(read_vectors, answer, count, label=LABEL, pooling=pooling),
        partial(read_json_vectors, json.dumps(answer).encode(), count, label=LABEL, pooling=pooling),
    ]
    for read in reads:
        try:
            outcomes.append(read())
        except ResponseFormatError as exc:
            outcomes.append(exc)
    return outcomes


# -- bad answers: a typed error that says what and where ------------------------------------------------
@pytest.mark.parametrize(
    ("answer", "count", "message"),
    [
        ([[0.1, 1e39], [0.3, 0.4]], 2, r"input 0, position 1: 1e\+39 is beyond float32's range"),
        ([[0.1, 0.2], [1e308, 0.4]], 2, r"input 1, position 0: 1e\+308 is beyond float32's range"),
        ([[0.1, 0.2], [0.3, -1e39]], 2, r"input 1, position 1: -1e\+39 is beyond"),
        ([[0.1, 0.2], [0.3, 10**400]], 2, r"input 1, position 1: an integer of 1329 bits is beyond"),
        ([[True, False], [True, True]], 2, r"input 0, position 0: true is not a number"),
        ([[0.1, 0.2], [0.3, True]], 2, r"input 1, position 1: true is not a number"),
        ([[0.1, 0.2], [0.3, None]], 2, r"input 1, position 1: null is not a number"),
        ([[None, None]], 1, r"input 0, position 0: null is not a number"),
        ([["0.1", "0.2"]], 1, r'input 0, position 0: a string \("0.1"\) is not a number'),
        ([0.1, "x", 0.3], 1, r'position 1: a string \("x"\) is not a number'),
        ([0.1, False], 1, r"position 1: false is not a number"),
        ([[0.1, {"v": 1}]], 1, r"input 0, position 1: an object is not a number"),
        ([[]], 1, r"input 0: an empty vector"),
        ([[0.1], []], 2, r"input 1: an empty vector"),
        ([], 1, r"an empty array"),
        ([[0.1, 0.2]], 2, r"an array of shape \(1, 2\) for 2 inputs"),
        ([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]], 2, r"shape \(3, 2\) for 2 inputs"),
        ([0.1, 0.2, 0.3], 2, r"a single vector \(3 values\) for 2 inputs"),
        ([[0.1, 0.2], [0.3]], 2, r"input 1: vectors of 1 value, but input 0 has vectors of 2"),
        ([[[0.1]], [[0.2]], [[0.3]]], 2, r"3 arrays of per-token vectors for 2 inputs"),
        ([[[[0.1]]], [[[0.2]]], [[[0.3]]]], 2, r"3 arrays of per-token vectors for 2 inputs"),
        ([[0.1, 0.2], 0.3], 2, r"input 1: a number \(0.3\) where an array belongs"),
        ([[0.1, [0.2]]], 1, r"input 0, position 1: an array where a number belongs"),
        ([[[[[0.1]]]]], 1, r"nested deeper than \(inputs, 1, tokens, hidden\), at \[0\]\[0\]\[0\]"),
        ([[[0.1, 0.2], [0.3]]], 1, r"ragged"),
        ({"vectors": [[0.1]]}, 1, r"a JSON object \(keys 'vectors'\), not an array of vectors"),
        ({"error": "CUDA out of memory"}, 1, r"saying 'CUDA out of memory'"),
        ({"embeddings": [[0.1, True]]}, 1, r"input 0, position 1: true is not a number"),
        ("[[0.1]]", 1, r'a string \("\[\[0.1\]\]"\), not an array of vectors'),
        (0.5, 1, r"a number \(0.5\), not an array of vectors"),
        (None, 1, r"null, not an array of vectors"),
        ([[[[0.1, 0.2]], [[0.3, 0.4]]]], 1, r"input 0: an array of shape \(2, 1, 2\); expected \(1, tokens"),
        (
            [[0.1, 0.2], [[0.3, 0.4]]],
            2,
            r"input 1: an array of shape \(1, 2\), but input 0 is of shape \(2,\)",
        ),
        ([[[0.1, 0.2]], [[0.3]]], 2, r"input 1: vectors of 1 value, but input 0 has vectors of 2"),
    ],
)
def test_bad_answers_are_refused_by_both_readers(answer: Any, count: int, message: str) -> None:
    for outcome in _both(answer, count, pooling="mean"):
        assert isinstance(outcome, ResponseFormatError), outcome
        assert not isinstance(outcome, TokenLevelOutputError)
        assert outcome.args[0].startswith(LABEL)
        assert "No vector was built" in str(outcome)
        assert re.search(message, str(outcome)), str(outcome)


def test_the_error_is_an_embedding_error_and_a_value_error() -> None:
    with pytest.raises(ResponseFormatError) as caught:
        read_vectors([[True]], 1, label=LABEL)
    assert isinstance(caught.value, EmbeddingError) and isinstance(caught.value, ValueError)


def test_nan_and_infinity_in_non_standard_json() -> None:
    with pytest.raises(orjson.JSONDecodeError):  # orjson refuses them, so json reads them, to say so
        orjson.loads(b"[[NaN]]")
    with pytest.raises(ResponseFormatError, match=r"input 0, position 1: NaN is not a finite number"):
        read_json_vectors(b"[[0.1, NaN], [0.3, 0.4]]", 2, label=LABEL)
    with pytest.raises(ResponseFormatError, match=r"input 1, position 0: -Infinity is not a finite"):
        read_json_vectors(b"[[0.1, 0.2], [-Infinity, 0.4]]", 2, label=LABEL)
    with pytest.raises(ResponseFormatError, match=r"input 0, position 0: Infinity is not a finite"):
        read_json_vectors(b"[[1e400, 0.2]]", 1, label=LABEL)  # orjson refuses it; json reads inf
    with pytest.raises(ResponseFormatError, match=r"position 0: NaN is not a finite number"):
        read_vectors(np.array([np.nan, 1.0], dtype=np.float32), 1, label=LABEL)


def test_bodies_that_are_not_json() -> None:
    for body in (b"", b"<html>502 Bad Gateway</html>", b"[[0.1, 0.2]", b"\xff\xfe[", b"[" * 5000):
        with pytest.raises(ResponseFormatError, match=r"did not answer JSON"):
            read_json_vectors(body, 1, label=LABEL)


def test_arrays_from_a_client_library_are_checked_too() -> None:
    # huggingface_hub's InferenceClient hands back np.array(answer, dtype="float32").
    with pytest.raises(ResponseFormatError, match=r"an array of booleans"):
        read_vectors(np.array([[True, False]]), 1, label=LABEL)
    with pytest.raises(ResponseFormatError, match=r"values of type <U"):
        read_vectors(np.array([["a"]]), 1, label=LABEL)
    with pytest.raises(ResponseFormatError, match=r"input 0, position 1: Infinity"):
        read_vectors(np.array([[1.0, np.inf]], dtype=np.float32), 1, label=LABEL)
    with pytest.raises(ResponseFormatError, match=r"an empty array"):
        read_vectors(np.zeros((0, 4), dtype=np.float32), 1, label=LABEL)
    with pytest.raises(ResponseFormatError, match=r"input 0: an empty vector"):
        read_vectors(np.zeros((1, 0), dtype=np.float32), 1, label=LABEL)
    with pytest.raises(ResponseFormatError, match=r"input 0, position 1: true is not a number"):
        read_vectors(np.array([[0.5, True]], dtype=object), 1, label=LABEL)
    with pytest.raises(ResponseFormatError, match=r"a single number \(a number \(1\)\)"):
        read_vectors(np.array(1.0, dtype=np.float32), 1, label=LABEL)
    with pytest.raises(ResponseFormatError, match=r"a number \(1\), not an array of vectors"):
        read_vectors(np.float32(1.0), 1, label=LABEL)


# -- good answers ---------------------------------------------------------------------------------------
def test_sentence_vectors_read_exactly() -> None:
    rng = np.random.default_rng(1)
    matrix = rng.normal(size=(3, 5)).astype(np.float32)
    for outcome in _both(matrix.tolist(), 3):
        assert isinstance(outcome, np.ndarray) and outcome.dtype == np.float32
        np.testing.assert_array_equal(outcome, matrix)
    for outcome in _both(matrix[0].tolist(), 1):  # flat (dim,) for one input
        np.testing.assert_array_equal(outcome, matrix[:1])
    for outcome in _both({"embeddings": matrix.tolist()}, 3):  # the default Inference Endpoints image
        np.testing.assert_array_equal(outcome, matrix)
    for outcome in _both([[1, 2], [3, -4]], 2):  # integers are numbers
        np.testing.assert_array_equal(outcome, [[1, 2], [3, -4]])
    edge = float(np.finfo(np.float32).max)
    for outcome in _both([[edge, -edge]], 1):
        np.testing.assert_array_equal(outcome, [[edge, -edge]])


def test_a_real_tei_answer_takes_the_fast_path_and_reads_exactly() -> None:
    text = (TEI_DATA / "test_http_embed__embeddings_batch.snap").read_text(encoding="utf-8")
    values = yaml.safe_load(text.split("---", 2)[2])
    body = orjson.dumps(values)
    vectors = read_json_vectors(body, len(values), label=LABEL)
    np.testing.assert_array_equal(vectors, np.asarray(values, dtype=np.float32))
    assert vectors.shape[1] == 384


@pytest.mark.parametrize(
    ("shape", "count"),
    [((1, 7, 8), 1), ((7, 8), 1), ((2, 3, 8), 2), ((2, 1, 3, 8), 2)],
)
def test_token_level_arrays_need_pooling_and_pool_to_the_mean(shape: tuple[int, ...], count: int) -> None:
    rng = np.random.default_rng(2)
    values = rng.normal(size=shape).astype(np.float32)
    for outcome in _both(values.tolist(), count):
        assert isinstance(outcome, TokenLevelOutputError), outcome
        assert "pooling='mean'" in str(outcome)
    expected = values.reshape(count, -1, shape[-1]).astype(np.float64).mean(axis=1)
    for outcome in _both(values.tolist(), count, pooling="mean"):
        np.testing.assert_allclose(outcome, expected, rtol=1e-6)
        assert outcome.dtype == np.float32


def test_ragged_token_level_answers_pool_each_input() -> None:
    # The router's real answer for facebook/bart-base, two texts: [[1x3x768], [1x7x768]] (hidden 4 here).
    rng = np.random.default_rng(3)
    first, second = rng.normal(size=(3, 4)), rng.normal(size=(7, 4))
    expected = np.stack([first.mean(axis=0), second.mean(axis=0)])
    for answer in ([first.tolist(), second.tolist()], [[first.tolist()], [second.tolist()]]):
        for outcome in _both(answer, 2):
            assert isinstance(outcome, TokenLevelOutputError)
            assert "ragged arrays of 3 to 7 tokens of 4 values per input" in str(outcome)
        for outcome in _both(answer, 2, pooling="mean"):
            np.testing.assert_allclose(outcome, expected, rtol=1e-6)
        for outcome in _both({"embeddings": answer}, 2, pooling="mean"):
            np.testing.assert_allclose(outcome, expected, rtol=1e-6)


def test_pooling_huge_tokens_does_not_overflow() -> None:
    big = float(np.finfo(np.float32).max)
    pooled = read_vectors([[[big, -big], [big, -big]]], 1, label=LABEL, pooling="mean")
    np.testing.assert_array_equal(pooled, [[big, -big]])


def test_bad_values_inside_token_level_answers_are_found_when_pooling() -> None:
    with pytest.raises(ResponseFormatError, match=r"input 1, token 1, position 0: 1e\+39"):
        read_vectors([[[0.1], [0.2]], [[0.3], [1e39]]], 2, label=LABEL, pooling="mean")
    with pytest.raises(ResponseFormatError, match=r"input 0, token 0, position 1: true is not a number"):
        read_vectors([[[0.1, True]], [[0.3, 0.4]]], 2, label=LABEL, pooling="mean")


# -- OpenAI-style answers -------------------------------------------------------------------------------
def _b64(values: Any) -> str:
    return base64.b64encode(np.asarray(values, dtype="<f4").tobytes()).decode()


def test_openai_answers_float_and_base64_in_index_order() -> None:
    answer = {
        "object": "list",
        "data": [
            {"object": "embedding", "embedding": _b64([5.0, 6.0]), "index": 2},
            {"object": "embedding", "embedding": [1.0, 2.0], "index": 0},
            {"object": "embedding", "embedding": _b64([3.0, 4.0]), "index": 1},
        ],
        "model": "tei",
    }
    vectors = read_openai_vectors(answer, 3, label=LABEL)
    assert vectors.dtype == np.float32
    np.testing.assert_array_equal(vectors, [[1, 2], [3, 4], [5, 6]])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            [{"embedding": [1.0], "index": 0}, {"embedding": [2.0], "index": 0}],
            r"data\[1\].index 0 comes twice",
        ),
        (
            [{"embedding": [1.0], "index": 0}, {"embedding": [2.0], "index": 2}],
            r"data\[1\].index is 2, outside",
        ),
        (
            [{"embedding": [1.0], "index": 0}, {"embedding": [2.0]}],
            r"data\[1\].index is null, not an integer",
        ),
        (
            [{"embedding": [1.0], "index": 0}, {"embedding": [2.0], "index": True}],
            r"index is true, not an int",
        ),
        (
            [{"embedding": [1.0], "index": 0}, {"embedding": [2.0], "index": "1"}],
            r'index is a string \("1"\)',
        ),
        ([{"embedding": [1.0], "index": 0}], r"1 embeddings for 2 inputs"),
        ([{"embedding": [1.0], "index": 0}, {"index": 1}], r"data\[1\] has no 'embedding'"),
        ([{"embedding": [1.0], "index": 0}, [2.0]], r"data\[1\] is an array, not an object"),
        ([{"embedding": [1.0], "index": 0}, {"embedding": [True], "index": 1}], r"input 1, position 0: true"),
        (
            [{"embedding": [1.0], "index": 0}, {"embedding": [1e39], "index": 1}],
            r"input 1, position 0: 1e\+39",
        ),
        ([{"embedding": [1.0], "index": 0}, {"embedding": [], "index": 1}], r"input 1: an empty vector"),
        (
            [{"embedding": [1.0], "index": 0}, {"embedding": [[2.0]], "index": 1}],
            r"input 1, position 0: an arr",
        ),
        (
            [{"embedding": [1.0], "index": 0}, {"embedding": None, "index": 1}],
            r"input 1: null where an embed",
        ),
        (
            [{"embedding": [1.0], "index": 0}, {"embedding": [2.0, 3.0], "index": 1}],
            r"input 1: 2 values, but",
        ),
        ([{"embedding": _b64([1.0]), "index": 0}, {"embedding": "AAA=", "index": 1}], r"base64 of 2 bytes"),
        ([{"embedding": _b64([1.0]), "index": 0}, {"embedding": "", "index": 1}], r"base64 of 0 bytes"),
        ([{"embedding": _b64([1.0]), "index": 0}, {"embedding": "not base64!", "index": 1}], r"not base64"),
        (
            [{"embedding": _b64([1.0]), "index": 0}, {"embedding": _b64([np.nan]), "index": 1}],
            r"1, position 0: NaN",
        ),
        (
            [{"embedding": _b64([1.0]), "index": 0}, {"embedding": _b64([-np.inf]), "index": 1}],
            r"-Infinity is not",
        ),
    ],
)
def test_bad_openai_answers(data: list[Any], message: str) -> None:
    with pytest.raises(ResponseFormatError, match=message):
        read_openai_vectors({"object": "list", "data": data}, 2, label=LABEL)


@pytest.mark.parametrize("answer", [[[1.0, 2.0]], {"embeddings": [[1.0]]}, {"data": {"0": [1.0]}}, None, "x"])
def test_openai_answers_that_are_not_openai(answer: Any) -> None:
    with pytest.raises(ResponseFormatError, match=r"not \{'data'"):
        read_openai_vectors(answer, 2, label=LABEL)


# -- dimension ------------------------------------------------------------------------------------------
def test_check_dimension() -> None:
    vectors = np.zeros((2, 384), dtype=np.float32)
    check_dimension(vectors, None, label=LABEL)
    check_dimension(vectors, 384, label=LABEL)
    with pytest.raises(
        ResponseFormatError,
        match=r"^http://host:8080/embed \(2 inputs\) answered vectors of dimension 384.*dimension 768",
    ):
        check_dimension(vectors, 768, label=LABEL)


# -- /info ----------------------------------------------------------------------------------------------
TEI_INFO = {
    "model_id": "sentence-transformers/all-MiniLM-L6-v2",
    "model_sha": None,
    "model_dtype": "float32",
    "model_type": {"embedding": {"pooling": "mean"}},
    "max_concurrent_requests": 512,
    "max_input_length": 256,
    "max_batch_tokens": 16384,
    "max_batch_requests": None,
    "max_client_batch_size": 32,
    "auto_truncate": True,
    "tokenization_workers": 4,
    "version": "1.9.3",
    "sha": None,
    "docker_label": None,
    "served_model_name": "all-MiniLM-L6-v2",
}
STRINGS = ["model_id", "model_sha", "model_dtype", "version", "sha", "docker_label", "served_model_name"]
COUNTS = [
    "max_concurrent_requests",
    "max_input_length",
    "max_batch_tokens",
    "max_client_batch_size",
    "max_batch_requests",
    "tokenization_workers",
]


def test_a_real_info_passes_with_unknown_fields_and_nulls() -> None:
    body = {**TEI_INFO, "prompts": None, "something_new": [1, 2]}
    assert read_info(body, label="http://h") is body
    assert read_info({name: None for name in STRINGS + COUNTS + ["auto_truncate"]}, label="h")
    assert read_info({}, label="h") == {}
    assert read_info({"max_input_length": 0, "auto_truncate": False}, label="h")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        *[(name, 5, r"is an integer \(5\), expected a string") for name in STRINGS],
        *[(name, ["x"], r"is an array, expected a string") for name in STRINGS],
        *[(name, "256", r'is a string \("256"\), expected an integer') for name in COUNTS],
        *[(name, True, r"is true, expected an integer") for name in COUNTS],
        *[(name, -1, r"is an integer \(-1\), expected a non-negative integer") for name in COUNTS],
        *[(name, 2.5, r"is a number \(2.5\), expected an integer") for name in COUNTS],
        ("auto_truncate", "true", r'is a string \("true"\), expected a boolean'),
        ("auto_truncate", 1, r"is an integer \(1\), expected a boolean"),
        ("model_type", "embedding", r'is a string \("embedding"\), expected an object'),
        ("model_type", None, r"is null, expected an object"),
    ],
)
def test_info_fields_of_the_wrong_type(field: str, value: Any, message: str) -> None:
    with pytest.raises(ResponseFormatError, match=rf"^http://h/info: /info field {field} {message}"):
        read_info({**TEI_INFO, field: value}, label="http://h/info")


@pytest.mark.parametrize("body", [[], "ok", None, 3])
def test_info_that_is_not_an_object(body: Any) -> None:
    with pytest.raises(ResponseFormatError, match=r"expected a JSON object"):
        read_info(body, label="http://h/info")


# -- property tests -------------------------------------------------------------------------------------
JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=4)
    | st.sampled_from([1e39, -1e39, 1e308, 10**400, float("nan"), float("inf"), 0.0, -0.0])
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=40,
)
FLOATS = st.floats(width=32, allow_nan=False, allow_infinity=False)
#: Values that must not pass for a number (fresh containers each time: the answers are mutated).
NOT_NUMBERS: st.SearchStrategy[Any] = st.sampled_from(
    [True, False, None, "0.5", 1e39, -1e39, 1e308, 10**400, float("nan"), float("-inf")]
) | st.builds(dict)
POISON: st.SearchStrategy[Any] = NOT_NUMBERS | st.builds(list) | st.builds(lambda: [0.5])


@st.composite
def near_valid(draw: st.DrawFn) -> tuple[Any, int]:
    """A sentence or per-token answer (maybe ragged, maybe wrapped) with occasional mutations."""
    count = draw(st.integers(1, 4))
    dim = draw(st.integers(1, 5))
    kind = draw(st.sampled_from(["vectors", "vectors", "flat", "tokens", "tokens4", "ragged"]))
    row = st.lists(FLOATS | st.integers(-1000, 1000), min_size=dim, max_size=dim)
    answer: Any
    if kind == "vectors":
        answer = draw(st.lists(row, min_size=count, max_size=count))
    elif kind == "flat":
        answer = draw(row)
    else:
        answer = [
            draw(st.lists(row, min_size=1, max_size=4 if kind == "ragged" else 1)) for _ in range(count)
        ]
        if kind == "tokens4":
            answer = [[block] for block in answer]
    for _ in range(draw(st.integers(0, 2))):  # mutations
        mutation = draw(st.sampled_from(["poison", "poison", "poison", "drop", "add", "wrap", "count"]))
        leaf = answer  # a poison goes into a row of numbers; the other mutations anywhere
        while (
            isinstance(leaf, list)
            and leaf
            and isinstance(leaf[0], list)
            and (mutation == "poison" or draw(st.booleans()))
        ):
            leaf = leaf[draw(st.integers(0, len(leaf) - 1))]
        if not isinstance(leaf, list):  # pragma: no cover - answers are lists
            continue
        if mutation == "poison" and leaf:
            leaf[draw(st.integers(0, len(leaf) - 1))] = draw(POISON)
        elif mutation == "drop" and leaf:
            leaf.pop()
        elif mutation == "add":
            leaf.append(draw(FLOATS))
        elif mutation == "wrap":
            answer = [answer]
        else:
            count = draw(st.integers(1, 4))
    if draw(st.integers(0, 4)) == 0:
        answer = {"embeddings": answer}
    return answer, count


def _numbers(row: Any) -> bool:
    return isinstance(row, list) and bool(row) and all(type(x) in (int, float) for x in row)


def _matrix(block: Any) -> bool:
    return (
        isinstance(block, list)
        and bool(block)
        and all(_numbers(row) for row in block)
        and len({len(row) for row in block}) == 1
    )


def _exact(blocks: list[Any]) -> list[Any] | str:
    """Each block as float32, or "bad" (a value beyond float32, or not finite)."""
    try:
        wide = [np.array(block, dtype=np.float64) for block in blocks]
    except OverflowError:
        return "bad"
    with np.errstate(over="ignore"):
        narrow = [array.astype(np.float32) for array in wide]
    return narrow if all(np.isfinite(array).all() for array in narrow) else "bad"


def _oracle(answer: Any, count: int) -> tuple[Any, Any]:
    """An independent reading: (plain, pooled), each the expected float32 array, "bad", or None.

    ``plain``: a sentence answer, ``(count, dim)`` or flat for one input. ``pooled``: a per-token answer
    (``(tokens, hidden)`` for one input, ``(count, tokens_i, hidden)``, ``(count, 1, tokens_i, hidden)``)
    averaged over its tokens.
    """
    data = answer["embeddings"] if isinstance(answer, dict) and "embeddings" in answer else answer
    if not isinstance(data, list) or not data:
        return None, None
    plain: Any = None
    if _numbers(data):
        plain = _exact([[data]])[0] if count == 1 else None
    elif len(data) == count and _matrix(data):
        plain = _exact([data])[0]
    if plain is not None:
        return plain, None
    if count == 1 and _matrix(data):
        blocks = [data]
    elif len(data) == count and all(_matrix(block) for block in data):
        blocks = data
    elif len(data) == count and all(isinstance(b, list) and len(b) == 1 and _matrix(b[0]) for b in data):
        blocks = [block[0] for block in data]
    else:
        return None, None
    if len({len(block[0]) for block in blocks}) != 1:
        return None, None
    arrays = _exact(blocks)
    if isinstance(arrays, str):
        return None, arrays
    return None, np.stack([array.mean(axis=0, dtype=np.float64) for array in arrays]).astype(np.float32)


def _check(outcome: Any, count: int, plain: Any, pooled: Any = None, pooling: str | None = None) -> None:
    """The property: a typed error, or finite (count, dim) float32 vectors equal to what was sent."""
    if isinstance(outcome, BaseException):
        assert isinstance(outcome, ResponseFormatError), repr(outcome)  # TokenLevelOutputError is one
        assert not isinstance(plain, np.ndarray), f"a valid answer was refused: {outcome}"
        assert not (pooling == "mean" and isinstance(pooled, np.ndarray)), f"valid tokens refused: {outcome}"
        if isinstance(plain, str):
            assert not isinstance(outcome, TokenLevelOutputError)
        return
    assert isinstance(outcome, np.ndarray) and outcome.dtype == np.float32
    assert outcome.ndim == 2 and outcome.shape[0] == count and outcome.shape[1] > 0
    assert np.isfinite(outcome).all()
    if isinstance(plain, np.ndarray):
        np.testing.assert_array_equal(outcome, plain)
    elif pooling == "mean" and isinstance(pooled, np.ndarray):
        np.testing.assert_allclose(outcome, pooled, rtol=1e-6, atol=1e-35)
    else:
        raise AssertionError(f"an answer that is neither valid sentence vectors nor valid tokens: {outcome}")


def _outcome(read: Any) -> Any:
    try:
        return read()
    except Exception as exc:  # noqa: BLE001 - the property is about which exceptions
        return exc


def _check_both_readers(answer: Any, count: int) -> None:
    plain, pooled = _oracle(answer, count)
    body = json.dumps(answer).encode()  # NaN and Infinity as json writes them (non-standard)
    for pooling in (None, "mean"):
        read = partial(read_vectors, answer, count, label=LABEL, pooling=pooling)
        _check(_outcome(read), count, plain, pooled, pooling)
        read = partial(read_json_vectors, body, count, label=LABEL, pooling=pooling)
        _check(_outcome(read), count, plain, pooled, pooling)


PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(answer=JSON_VALUES, count=st.integers(1, 4))
def test_property_arbitrary_json_is_vectors_or_a_typed_error(answer: Any, count: int) -> None:
    _check_both_readers(answer, count)
    outcome = _outcome(lambda: read_openai_vectors(answer, count, label=LABEL))
    assert isinstance(outcome, ResponseFormatError), repr(outcome)  # never valid: no "data" array of objects


@PROPERTY
@given(case=near_valid())
def test_property_near_valid_answers(case: tuple[Any, int]) -> None:
    answer, count = case
    _check_both_readers(answer, count)


@PROPERTY
@given(
    matrix=st.integers(1, 4).flatmap(
        lambda dim: st.lists(st.lists(FLOATS, min_size=dim, max_size=dim), min_size=1, max_size=4)
    ),
    poison=NOT_NUMBERS,
    data=st.data(),
)
def test_property_one_bad_value_in_a_good_answer_is_found(
    matrix: list[list[float]], poison: Any, data: st.DataObject
) -> None:
    row = data.draw(st.integers(0, len(matrix) - 1))
    column = data.draw(st.integers(0, len(matrix[0]) - 1))
    matrix[row][column] = poison
    where = f"input {row}, position {column}: "
    for outcome in _both(matrix, len(matrix)) + _both(matrix, len(matrix), pooling="mean"):
        assert isinstance(outcome, ResponseFormatError), outcome
        assert where in str(outcome), str(outcome)


@st.composite
def openai_answers(draw: st.DrawFn) -> tuple[Any, int, Any]:
    """An OpenAI-style answer, shuffled, base64 or floats, with occasional mutations."""
    count = draw(st.integers(1, 4))
    dim = draw(st.integers(1, 5))
    matrix = draw(st.lists(st.lists(FLOATS, min_size=dim, max_size=dim), min_size=count, max_size=count))
    order = draw(st.permutations(range(count)))
    data: list[Any] = []
    for index in order:
        vector = matrix[index]
        embedding: Any = _b64(vector) if draw(st.booleans()) else list(vector)
        data.append({"object": "embedding", "embedding": embedding, "index": index})
    expected: Any = np.asarray(matrix, dtype=np.float32)
    for _ in range(draw(st.integers(0, 2))):
        expected = None  # a mutated answer may still be valid (e.g. a poison that is a float)
        item = data[draw(st.integers(0, len(data) - 1))]
        mutation = draw(st.sampled_from(["index", "poison", "bytes", "drop", "count", "junk"]))
        if mutation == "index":
            item["index"] = draw(st.sampled_from([None, True, -1, count, "0", 0, 1.0]))
        elif mutation == "poison" and isinstance(item.get("embedding"), list) and item["embedding"]:
            item["embedding"][draw(st.integers(0, len(item["embedding"]) - 1))] = draw(POISON)
        elif mutation == "bytes":
            raw = draw(st.binary(max_size=12))
            item["embedding"] = draw(st.sampled_from([base64.b64encode(raw).decode(), raw.hex(), "=="]))
        elif mutation == "drop":
            item.pop(draw(st.sampled_from(["index", "embedding"])), None)
        elif mutation == "count":
            count = draw(st.integers(1, 4))
        else:
            item["embedding"] = draw(JSON_VALUES)
    return {"object": "list", "data": data}, count, expected


@PROPERTY
@given(case=openai_answers())
def test_property_openai_answers(case: tuple[Any, int, Any]) -> None:
    answer, count, expected = case
    outcome = _outcome(lambda: read_openai_vectors(answer, count, label=LABEL))
    if isinstance(outcome, BaseException):
        assert isinstance(outcome, ResponseFormatError), repr(outcome)
        assert expected is None, f"a valid answer was refused: {outcome}"
        return
    assert isinstance(outcome, np.ndarray) and outcome.dtype == np.float32
    assert outcome.ndim == 2 and outcome.shape[0] == count and outcome.shape[1] > 0
    if expected is not None:
        np.testing.assert_array_equal(outcome, expected)
    else:  # mutated, yet valid (a poison that is a float): what came back is what was sent
        assert sorted(item["index"] for item in answer["data"]) == list(range(count))
        for item in answer["data"]:
            value = item["embedding"]
            sent = np.frombuffer(base64.b64decode(value), "<f4") if isinstance(value, str) else value
            sent32 = np.asarray(sent, dtype=np.float64).astype(np.float32)
            np.testing.assert_array_equal(outcome[item["index"]], sent32)
            assert all(math.isfinite(float(x)) for x in outcome[item["index"]])
