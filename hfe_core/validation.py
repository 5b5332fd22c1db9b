"""Input validation shared by every mode and adapter.

Rules (documented in the README, identical in every adapter):

* a ``str`` or ``bytes`` where a list of texts belongs is an :class:`InputTypeError`,
  never one vector per character;
* every item must be a ``str``; ``None``, numbers, bytes and nested lists raise
  :class:`InputTypeError` naming their indices;
* an empty list is valid and embeds to ``[]`` without loading anything;
* any iterable is read once (a generator too), before anything else happens;
* empty strings are embedded as the model embeds them (its special tokens alone), in every
  mode: TEI refuses an empty input, so server modes send a single space, which tokenizes to
  the same special tokens (see :func:`server_text`); newlines are kept as they are;
* a lone surrogate (such as ``chr(0xD800)``, which no UTF-8 encoder accepts) is replaced by U+FFFD, the
  replacement character, as a UTF-8 decoder does with a broken sequence; a surrogate pair
  written as two code points is joined. The text is embedded, and a WARNING names its index.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from hfe_core.errors import InputTypeError

__all__ = ["repair_surrogates", "server_text", "validate_text", "validate_texts"]

logger = logging.getLogger("hfe")

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
    return repair_surrogates(items, argument=argument)


def _has_surrogates(texts: list[str]) -> bool:
    try:
        "".join(texts).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _repaired(text: str) -> str:
    # UTF-16 joins surrogate pairs written as two code points; what is left alone becomes U+FFFD.
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def repair_surrogates(texts: list[str], *, argument: str = "texts") -> list[str]:
    """Replace lone surrogates by U+FFFD (in place) and name the texts that had them, at WARNING.

    A lone surrogate cannot be encoded as UTF-8, so no tokenizer and no HTTP request can take it:
    it would fail the text's whole batch. The check costs one UTF-8 encoding of the texts.

    Args:
        texts: the texts, modified in place.
        argument: the argument's name, used in the warning.

    Returns:
        ``texts``.

    Example:
        >>> repair_surrogates(["ok", "bad " + chr(0xD800)]) == ["ok", "bad \N{REPLACEMENT CHARACTER}"]
        True
    """
    if not _has_surrogates(texts):
        return texts
    fixed: list[int] = []
    for index, text in enumerate(texts):
        if _has_surrogates([text]):
            texts[index] = _repaired(text)
            fixed.append(index)
    listed = ", ".join(str(index) for index in fixed[:_MAX_LISTED])
    more = f" and {len(fixed) - _MAX_LISTED} more" if len(fixed) > _MAX_LISTED else ""
    logger.warning(
        "hfe: %s[%s]%s contained lone surrogates (not valid Unicode text), replaced by U+FFFD. "
        "Decode such texts with errors='replace' upstream to silence this.",
        argument,
        listed,
        more,
    )
    return texts


def server_text(text: str) -> str:
    """What a server mode sends for ``text`` (the prompt already put before it).

    TEI (and the Inference API) refuse an empty input with an ``Empty`` error that fails the
    whole request; a single space tokenizes to the special tokens alone, as ``""`` does in
    local mode, so the empty text gets the same vector in every mode.
    """
    return text or " "


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
        return repair_surrogates([text], argument=argument)[0]
    hint = " Use embed_documents(texts) for a list." if isinstance(text, (list, tuple)) else ""
    raise InputTypeError(f"{argument} must be a str, got {_describe(text)}.{hint}", indices=[0])
