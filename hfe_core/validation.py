"""Input validation shared by every mode and adapter.

Rules (documented in the README, identical in every adapter):

* a ``str`` or ``bytes`` where a list of texts belongs is an :class:`InputTypeError`,
  never one vector per character;
* every item must be a ``str``; ``None``, numbers, bytes and nested lists raise
  :class:`InputTypeError` naming their indices;
* an empty list is valid and embeds to ``[]`` without loading anything;
* empty strings are embedded as the model embeds them; newlines are kept as they are.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hfe_core.errors import InputTypeError

__all__ = ["validate_text", "validate_texts"]

_MAX_LISTED = 5


def _describe(item: Any) -> str:
    text = repr(item)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{type(item).__name__} {text}"


def validate_texts(texts: Any, *, argument: str = "texts") -> list[str]:
    """Check that ``texts`` is a list (or other iterable) of strings and return it as a list.

    Args:
        texts: what the caller passed.
        argument: the argument's name, used in messages.

    Returns:
        The texts as a new list.

    Raises:
        InputTypeError: ``texts`` is a string, bytes or not iterable, or an item is not a string.
    """
    if isinstance(texts, str):
        raise InputTypeError(
            f"{argument} must be a list of strings, got a single str ({len(texts)} characters). "
            "Wrap it in a list ([text]) or use embed_query(text) for one query."
        )
    if isinstance(texts, (bytes, bytearray, memoryview)):
        raise InputTypeError(
            f"{argument} must be a list of strings, got {type(texts).__name__}. "
            "Decode it first, e.g. [data.decode('utf-8')]."
        )
    if isinstance(texts, dict) or not isinstance(texts, Iterable):
        raise InputTypeError(f"{argument} must be a list of strings, got {type(texts).__name__}.")
    items = list(texts)
    bad = [index for index, item in enumerate(items) if not isinstance(item, str)]
    if bad:
        listed = ", ".join(f"[{index}] is {_describe(items[index])}" for index in bad[:_MAX_LISTED])
        more = f" and {len(bad) - _MAX_LISTED} more" if len(bad) > _MAX_LISTED else ""
        raise InputTypeError(
            f"{argument} must contain only strings: {listed}{more}. "
            "Convert or drop those items (str(x) for numbers, .decode() for bytes).",
            indices=bad,
        )
    return items


def validate_text(text: Any, *, argument: str = "text") -> str:
    """Check that a single input is a string.

    Args:
        text: what the caller passed.
        argument: the argument's name, used in messages.

    Returns:
        The text.

    Raises:
        InputTypeError: ``text`` is not a string (a list, ``None``, bytes, a number).
    """
    if isinstance(text, str):
        return text
    hint = " Use embed_documents(texts) for a list." if isinstance(text, (list, tuple)) else ""
    raise InputTypeError(f"{argument} must be a str, got {_describe(text)}.{hint}", indices=[0])
