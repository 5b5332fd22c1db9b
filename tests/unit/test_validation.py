"""Input validation: what is accepted, what is refused, and how the refusal reads."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from hfe_core.errors import InputTypeError, InvalidInputError
from hfe_core.validation import validate_text, validate_texts


def test_a_single_str_is_refused_with_a_hint_to_wrap_it() -> None:
    with pytest.raises(InputTypeError) as info:
        validate_texts("hello world")
    message = str(info.value)
    assert "single str" in message
    assert "11 characters" in message
    assert "Wrap it in a list" in message
    assert "[text]" in message
    assert isinstance(info.value, TypeError)
    assert isinstance(info.value, InvalidInputError)
    assert info.value.indices == []


def test_an_empty_str_is_refused_too() -> None:
    with pytest.raises(InputTypeError, match="single str"):
        validate_texts("")


@pytest.mark.parametrize("data", [b"bytes", bytearray(b"ba"), memoryview(b"mv")])
def test_binary_containers_are_refused(data: object) -> None:
    with pytest.raises(InputTypeError) as info:
        validate_texts(data)
    assert type(data).__name__ in str(info.value)
    assert "decode" in str(info.value)


@pytest.mark.parametrize("data", [{"a": 1}, {}, 42, 3.5, None, object()])
def test_dicts_and_non_iterables_are_refused(data: object) -> None:
    with pytest.raises(InputTypeError) as info:
        validate_texts(data)
    assert type(data).__name__ in str(info.value)


def test_argument_name_is_used_in_messages() -> None:
    with pytest.raises(InputTypeError, match="^documents must be a list of strings"):
        validate_texts("x", argument="documents")


@pytest.mark.parametrize(
    ("items", "bad"),
    [
        (["ok", None, "ok"], [1]),
        ([1, "ok"], [0]),
        (["ok", 2.5], [1]),
        (["ok", b"raw"], [1]),
        (["ok", ["nested"], "ok", ("tuple",)], [1, 3]),
        ([None, None], [0, 1]),
        (["a", True], [1]),
    ],
)
def test_non_str_items_are_refused_with_their_exact_indices(items: list[object], bad: list[int]) -> None:
    with pytest.raises(InputTypeError) as info:
        validate_texts(items)
    assert info.value.indices == bad
    message = str(info.value)
    for index in bad:
        assert f"[{index}] is {type(items[index]).__name__}" in message
    for index in set(range(len(items))) - set(bad):
        assert f"[{index}] is" not in message


def test_more_than_five_bad_items_are_summarised() -> None:
    items = ["ok"] + list(range(8))  # indices 1..8 are ints
    with pytest.raises(InputTypeError) as info:
        validate_texts(items)
    assert info.value.indices == list(range(1, 9))
    message = str(info.value)
    for index in range(1, 6):
        assert f"[{index}] is int" in message
    for index in range(6, 9):
        assert f"[{index}] is" not in message
    assert "and 3 more" in message


def test_exactly_five_bad_items_have_no_summary() -> None:
    with pytest.raises(InputTypeError) as info:
        validate_texts([None] * 5)
    assert "more" not in str(info.value)


def test_long_item_reprs_are_shortened() -> None:
    with pytest.raises(InputTypeError) as info:
        validate_texts([b"x" * 500])
    assert "x" * 100 not in str(info.value)
    assert "..." in str(info.value)


def test_tuples_and_generators_are_accepted() -> None:
    assert validate_texts(("a", "b")) == ["a", "b"]

    def gen() -> Iterator[str]:
        yield "first"
        yield "second"

    assert validate_texts(gen()) == ["first", "second"]
    assert validate_texts(iter(["x"])) == ["x"]


def test_result_is_a_new_list() -> None:
    given = ["a", "b"]
    out = validate_texts(given)
    assert out == given
    assert out is not given
    out.append("c")
    assert given == ["a", "b"]


def test_empty_inputs() -> None:
    assert validate_texts([]) == []
    assert validate_texts(()) == []
    assert validate_texts(iter([])) == []


def test_empty_strings_and_whitespace_are_kept_exactly() -> None:
    texts = ["", "line one\nline two", "\n\n", "  padded  ", "tab\there", "\r\n"]
    assert validate_texts(texts) == texts


def test_str_subclasses_and_numpy_strings_are_strings() -> None:
    class Label(str):
        pass

    out = validate_texts([Label("a"), np.str_("b")])
    assert out == ["a", "b"]


def test_validate_text_accepts_str_unchanged() -> None:
    assert validate_text("a\nb ") == "a\nb "
    assert validate_text("") == ""


@pytest.mark.parametrize("value", [None, 5, b"x", ["a"], ("a",)])
def test_validate_text_refuses_non_str(value: object) -> None:
    with pytest.raises(InputTypeError) as info:
        validate_text(value, argument="query")
    message = str(info.value)
    assert message.startswith("query must be a str")
    assert type(value).__name__ in message
    assert info.value.indices == [0]
    if isinstance(value, (list, tuple)):
        assert "embed_documents" in message
    else:
        assert "embed_documents" not in message
