"""Reading a server's answer into vectors: every shape hfe accepts, every value checked.

Pure functions (no I/O, no backend state), shared by the sync and async paths of every mode. Each
turns a parsed answer, or the raw bytes of TEI's ``/embed`` answer, into a ``(count, dimension)``
float32 array whose values are all finite, or raises a typed error that names the request (the
``label`` the caller passes, e.g. ``"http://host:8080/embed (32 inputs)"``) and says what was wrong
and where. No vector is ever built from a bad answer:

* values that are not numbers (``true``, ``null``, strings, objects), even mixed into floats;
* NaN and infinities, and numbers beyond float32's range (they would become ``inf``);
* empty vectors, the wrong number of vectors, vectors of different lengths, arrays nested too deep;
* per-token arrays (a model that is not a sentence-embedding model) unless ``pooling="mean"``,
  which averages them: :class:`~hfe_core.errors.TokenLevelOutputError` otherwise.

:func:`read_json_vectors` is the hot path for TEI's native answer: on a good answer it costs a few
byte searches and one ``isfinite`` pass over what ``np.asarray(orjson.loads(body))`` costs anyway,
and anything unusual goes to :func:`read_vectors` for the precise error.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from hfe_core.errors import ResponseFormatError, TokenLevelOutputError

__all__ = [
    "check_dimension",
    "parse_json",
    "read_info",
    "read_json_vectors",
    "read_openai_vectors",
    "read_vectors",
]

_orjson: Any
try:  # optional at import (a dependency of hfe): several times faster than json
    import orjson as _orjson
except ImportError:  # pragma: no cover - depends on the environment
    _orjson = None

#: Python types of JSON numbers (``bool`` is an ``int`` subclass, so types are compared exactly).
_JSON_NUMBERS = frozenset({float, int})
#: ``(inputs, 1, tokens, hidden)`` is the deepest answer there is.
_MAX_NDIM = 4


class _Bad(Exception):  # noqa: N818 - internal signal, turned into a ResponseFormatError
    """What is wrong with an answer, and where (indices into it)."""

    def __init__(self, path: Sequence[int], detail: str, *, shape: bool = False) -> None:
        super().__init__(detail)
        self.path = tuple(path)
        self.detail = detail
        #: A shape problem (count, nesting), not a value: the message adds what server to suspect.
        self.shape = shape


# -- messages --------------------------------------------------------------------------------------
def _describe(value: Any) -> str:
    """A JSON value as a message names it: ``true``, ``null``, ``a string ("256")``, ``an array``."""
    if value is None:
        return "null"
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, str):
        text = json.dumps(value if len(value) <= 40 else value[:40] + "...")
        return f"a string ({text})"
    if isinstance(value, list | tuple | np.ndarray):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, int | np.integer):
        integer = int(value)
        if abs(integer) >= 10**30:  # str() of a huge int is slow, and refused past 4300 digits
            return f"an integer of {integer.bit_length()} bits"
        return f"an integer ({integer})"
    if isinstance(value, float | np.floating):
        number = float(value)
        if math.isnan(number):
            return "NaN"
        if math.isinf(number):
            return "Infinity" if number > 0 else "-Infinity"
        return f"a number ({number:g})"
    return f"a {type(value).__name__}"


def _where(path: tuple[int, ...], *, flat: bool = False) -> str:
    """``(3, 17)`` as ``"input 3, position 17"``."""
    if not path:
        return ""
    if flat and len(path) == 1:
        return f"position {path[0]}"
    names = {
        1: ("input",),
        2: ("input", "position"),
        3: ("input", "token", "position"),
        4: ("input", "row", "token", "position"),
    }.get(len(path))
    if names is None:
        return "".join(f"[{index}]" for index in path)
    return ", ".join(f"{name} {index}" for name, index in zip(names, path, strict=True))


def _error(label: str, bad: _Bad, *, flat: bool = False) -> ResponseFormatError:
    where = _where(bad.path, flat=flat)
    detail = f"{where}: {bad.detail}" if where else bad.detail
    hint = " Is this a feature-extraction (embedding) model?" if bad.shape else ""
    return ResponseFormatError(
        f"{label} did not answer usable embeddings: {detail}. No vector was built from this answer.{hint}"
    )


def _token_level_error(label: str, what: str) -> TokenLevelOutputError:
    return TokenLevelOutputError(
        f"{label} answered per-token embeddings ({what}), not one vector per text: it is not a "
        "sentence-embedding model. Pass pooling='mean' to average the tokens client-side, or choose "
        "a sentence-transformers model (e.g. sentence-transformers/all-MiniLM-L6-v2)."
    )


def _inputs(count: int) -> str:
    return f"{count} input{'' if count == 1 else 's'}"


def _values(count: int) -> str:
    return f"{count} value{'' if count == 1 else 's'}"


# -- values ------------------------------------------------------------------------------------------
def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


def _numbers_only(values: list[Any]) -> bool:
    """Whether every item is a number (no bool): at C speed for JSON's own types."""
    return set(map(type, values)) <= _JSON_NUMBERS or all(map(_is_number, values))


def _first_bad_number(values: list[Any], path: tuple[int, ...]) -> _Bad:
    for index, value in enumerate(values):
        if isinstance(value, list):
            return _Bad((*path, index), "an array where a number belongs", shape=True)
        if not _is_number(value):
            return _Bad((*path, index), f"{_describe(value)} is not a number")
    return _Bad(path, "not an array of numbers")  # pragma: no cover - callers checked there is one


def _first(values: Any, path: tuple[int, ...], wanted: Callable[[Any], bool]) -> tuple[tuple[int, ...], Any]:
    """The path and value of the first leaf of a nest of lists for which ``wanted`` holds."""
    for index, value in enumerate(values):
        if isinstance(value, list):
            found = _first(value, (*path, index), wanted)
            if found[0]:
                return found
        elif wanted(value):
            return (*path, index), value
    return (), None


def _too_big(value: Any) -> bool:
    try:
        float(value)
    except OverflowError:
        return True
    return False


def _float32(block: Any, path: tuple[int, ...]) -> npt.NDArray[np.float32]:
    """A checked rectangular block of numbers as float32, every value finite.

    Raises:
        _Bad: a value that is not finite, or beyond float32's range.
    """
    try:
        wide = np.asarray(block, dtype=np.float64)
    except OverflowError:  # a JSON integer beyond float64 (json parses 1e400 as inf, ints stay ints)
        where, value = _first(block, path, _too_big)
        raise _Bad(where, f"{_describe(value)} is beyond float32's range") from None
    with np.errstate(over="ignore", invalid="ignore"):
        narrow = wide.astype(np.float32)
    finite = np.isfinite(narrow)
    if not finite.all():
        index = tuple(int(i) for i in np.argwhere(~finite)[0])
        original = float(wide[index])
        if math.isfinite(original):
            detail = f"{original:g} is beyond float32's range (about ±3.4e38)"
        else:
            detail = f"{_describe(original)} is not a finite number"
        raise _Bad((*path, *index), detail)
    return narrow


# -- shapes ------------------------------------------------------------------------------------------
def _scan(values: list[Any], path: tuple[int, ...]) -> tuple[int, ...]:
    """The shape of a rectangular nest of lists of numbers (checked), below one input.

    Raises:
        _Bad: an element that is neither a number nor an array, a mix of both, sub-arrays of
            different shapes, or arrays nested deeper than an answer ever is.
    """
    if not values:
        return (0,)
    if _numbers_only(values):
        return (len(values),)
    if not isinstance(values[0], list):
        raise _first_bad_number(values, path)
    if len(path) >= _MAX_NDIM - 1:
        at = "".join(f"[{index}]" for index in path)
        raise _Bad((), f"arrays nested deeper than (inputs, 1, tokens, hidden), at {at}", shape=True)
    shapes: list[tuple[int, ...]] = []
    for index, value in enumerate(values):
        if not isinstance(value, list):
            raise _Bad((*path, index), f"{_describe(value)} where an array belongs")
        shapes.append(_scan(value, (*path, index)))
        if shapes[-1] != shapes[0]:
            raise _Bad(
                (*path, index),
                f"an array of shape {shapes[-1]} beside one of shape {shapes[0]} (ragged)",
                shape=True,
            )
    return (len(values), *shapes[0])


def _layout(data: Any) -> tuple[Any, list[tuple[int, ...]] | None]:
    """The answer as nested lists or a numeric ndarray, and each input's shape (``None``: flat).

    Raises:
        _Bad: anything that is not a (nest of) array(s) of numbers.
    """
    if isinstance(data, np.ndarray):
        if data.dtype.kind == "O":
            return _layout(data.tolist())
        if data.dtype.kind not in "fiu":
            what = "booleans" if data.dtype.kind == "b" else f"values of type {data.dtype}"
            raise _Bad((), f"an array of {what}, not numbers")
        if data.ndim == 0:
            raise _Bad((), f"a single number ({_describe(data.item())}), not an array of vectors")
        if data.ndim > _MAX_NDIM:
            raise _Bad((), f"an array of shape {data.shape}, nested too deep", shape=True)
        if data.shape[0] == 0:
            raise _Bad((), "an empty array")
        if data.ndim == 1:
            return data, None
        return data, [tuple(data.shape[1:])] * data.shape[0]
    if not isinstance(data, list):
        raise _Bad((), f"{_describe(data)}, not an array of vectors")
    if not data:
        raise _Bad((), "an empty array")
    if _numbers_only(data):
        return data, None
    if not isinstance(data[0], list):
        raise _first_bad_number(data, ())
    shapes: list[tuple[int, ...]] = []
    for index, item in enumerate(data):
        if not isinstance(item, list):
            raise _Bad((index,), f"{_describe(item)} where an array belongs")
        shapes.append(_scan(item, (index,)))
    return data, shapes


def _unwrap(answer: Any) -> Any:
    """The vectors inside the ``{"embeddings": ...}`` of the default Inference Endpoints image."""
    if isinstance(answer, dict):
        if "embeddings" in answer:
            return answer["embeddings"]
        keys = ", ".join(repr(key) for key in list(answer)[:5]) or "none"
        message = answer.get("error")
        said = f" saying {str(message)[:200]!r}" if message else ""
        raise _Bad((), f"a JSON object (keys {keys}){said}, not an array of vectors", shape=True)
    return answer


def _assemble(
    data: Any, shapes: list[tuple[int, ...]] | None, count: int, pooling: str | None, label: str
) -> npt.NDArray[np.float32]:
    """One float32 vector per input from a checked layout, pooling per-token arrays."""
    if shapes is None:  # a flat vector: the answer for one input
        if count != 1:
            raise _Bad((), f"a single vector ({_values(len(data))}) for {_inputs(count)}", shape=True)
        return _float32(data, ())[None, :]
    ndims = {len(shape) for shape in shapes}
    if len(ndims) > 1:
        index = next(i for i, shape in enumerate(shapes) if len(shape) != len(shapes[0]))
        raise _Bad(
            (index,), f"an array of shape {shapes[index]}, but input 0 is of shape {shapes[0]}", shape=True
        )
    rows = len(shapes)
    for index, shape in enumerate(shapes):
        if 0 in shape:
            raise _Bad((index,), "an empty vector" if shape == (0,) else f"an empty array (shape {shape})")
        if shape[-1] != shapes[0][-1]:
            raise _Bad(
                (index,),
                f"vectors of {_values(shape[-1])}, but input 0 has vectors of {_values(shapes[0][-1])}",
                shape=True,
            )
    ndim = ndims.pop() + 1
    if ndim == 2:
        if rows == count:
            return _float32(data, ())
        if count != 1:
            raise _Bad((), f"an array of shape ({rows}, {shapes[0][0]}) for {_inputs(count)}", shape=True)
        blocks: list[Any] = [data]  # (tokens, hidden): one input
        what = f"shape ({rows}, {shapes[0][0]})"
    else:
        if rows != count:
            raise _Bad((), f"{rows} arrays of per-token vectors for {_inputs(count)}", shape=True)
        if ndim == 4:
            odd = next((i for i, shape in enumerate(shapes) if shape[0] != 1), None)
            if odd is not None:
                raise _Bad(
                    (odd,), f"an array of shape {shapes[odd]}; expected (1, tokens, hidden)", shape=True
                )
        tokens = sorted({shape[-2] for shape in shapes})
        if len(tokens) == 1:
            what = f"shape ({rows}, {', '.join(map(str, shapes[0]))})"
        else:
            what = f"ragged arrays of {tokens[0]} to {tokens[-1]} tokens of {shapes[0][-1]} values per input"
        blocks = [data[index] for index in range(rows)]
    if pooling != "mean":
        raise _token_level_error(label, what)
    pooled = []
    for index, block in enumerate(blocks):
        tokens_array = _float32(block, (index,) if ndim > 2 else ())
        if ndim == 4:
            tokens_array = tokens_array[0]
        # The mean of finite float32 values is finite; summing in float64 keeps it from overflowing.
        pooled.append(tokens_array.mean(axis=0, dtype=np.float64))
    return np.stack(pooled).astype(np.float32)


# -- the readers -------------------------------------------------------------------------------------
def read_vectors(
    answer: Any, count: int, *, label: str, pooling: str | None = None
) -> npt.NDArray[np.float32]:
    """Read a feature-extraction answer by its shape into one checked vector per input.

    Accepted shapes (nested lists as parsed from JSON, or a numeric ndarray):

    * ``(count, dim)``; a flat ``(dim,)`` vector answers one input;
    * per-token arrays, from a model that is not a sentence-embedding model: ``(tokens, hidden)``
      for one input, ``(count, tokens, hidden)``, ``(count, 1, tokens, hidden)``, and ragged lists of
      these (each input its own token count). Averaged over the tokens with ``pooling="mean"``;
    * any of these inside ``{"embeddings": ...}`` (the default Inference Endpoints image).

    Args:
        answer: the parsed answer.
        count: how many inputs were sent (at least 1).
        label: the request, for messages (e.g. ``"http://host:8080/embed (32 inputs)"``).
        pooling: ``"mean"`` to average per-token arrays, or ``None``.

    Returns:
        A ``(count, dim)`` float32 array, ``dim > 0``, every value finite.

    Raises:
        TokenLevelOutputError: per-token arrays without ``pooling="mean"``.
        ResponseFormatError: anything else that is not ``count`` finite vectors of one dimension:
            the message says what and where (``"input 3, position 17: true is not a number"``).
        ValueError: ``count < 1`` (a caller's mistake, not the server's).
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, not {count}")
    flat = False
    try:
        data = _unwrap(answer)
        if isinstance(data, np.ndarray):
            flat = data.ndim == 1
        elif isinstance(data, list):
            flat = bool(data) and not isinstance(data[0], list)
        data, shapes = _layout(data)
        return _assemble(data, shapes, count, pooling, label)
    except _Bad as bad:
        raise _error(label, bad, flat=flat) from None


def parse_json(content: bytes, *, label: str) -> Any:
    """Parse an answer's body: orjson when installed, else (or for non-standard JSON) json.

    json also reads ``NaN`` and ``Infinity``, so that the error then says which value was not finite
    rather than that the body was not JSON.

    Raises:
        ResponseFormatError: the body is not JSON.
    """
    if _orjson is not None:
        try:
            return _orjson.loads(content)
        except _orjson.JSONDecodeError:
            pass
    try:
        return json.loads(content)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        start = content[:60].decode("utf-8", "replace")
        raise ResponseFormatError(
            f"{label} did not answer JSON ({type(exc).__name__}: {exc}); its answer starts with "
            f"{start!r}. No vector was built from this answer."
        ) from None


def read_json_vectors(
    content: bytes, count: int, *, label: str, pooling: str | None = None
) -> npt.NDArray[np.float32]:
    """Read TEI's native ``/embed`` answer (a JSON array of arrays of numbers) from its bytes.

    The good path has no Python loop over the values: the body is parsed (orjson), searched for the
    bytes any non-numeric JSON value needs, converted by numpy and checked finite, ``(count, dim)``
    and ``dim > 0``. Anything else, other shapes included, goes to :func:`read_vectors`.

    Args:
        content: the answer's body.
        count: how many inputs were sent (at least 1).
        label: the request, for messages.
        pooling: ``"mean"`` to average per-token arrays (see :func:`read_vectors`), or ``None``.

    Returns:
        A ``(count, dim)`` float32 array, ``dim > 0``, every value finite.

    Raises:
        TokenLevelOutputError: per-token arrays without ``pooling="mean"``.
        ResponseFormatError: a body that is not JSON, or not ``count`` finite vectors.
    """
    answer = parse_json(content, label=label)
    # Any JSON value but numbers and arrays has one of these bytes: a string or key ("), an object
    # ({), true or null (u), false (a). Non-standard NaN has an a; Infinity has none, and the finite
    # check below catches it. Four memchr scans, spelled out (a loop over them is slower).
    if not (b'"' in content or b"{" in content or b"u" in content or b"a" in content):
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                vectors = np.asarray(answer, dtype=np.float32)
        except (ValueError, TypeError, OverflowError):  # ragged, or an integer beyond float64
            pass
        else:
            if (
                vectors.ndim == 2
                and vectors.shape[0] == count
                and vectors.shape[1]
                and np.isfinite(vectors).all()
            ):
                return vectors
    return read_vectors(answer, count, label=label, pooling=pooling)


def _openai_embedding(value: Any, index: int) -> npt.NDArray[np.float32]:
    """One ``/v1/embeddings`` vector: base64 of little-endian float32 bytes, or an array of numbers."""
    if isinstance(value, str):
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise _Bad((index,), "an embedding string that is not base64") from None
        if not raw or len(raw) % 4:
            raise _Bad((index,), f"base64 of {len(raw)} bytes, not float32 values (4 bytes each)")
        return _float32(np.frombuffer(raw, dtype="<f4"), (index,))
    if not isinstance(value, list):
        raise _Bad((index,), f"{_describe(value)} where an embedding (an array of numbers or base64) belongs")
    if not value:
        raise _Bad((index,), "an empty vector")
    if not _numbers_only(value):
        raise _first_bad_number(value, (index,))
    return _float32(value, (index,))


def read_openai_vectors(answer: Any, count: int, *, label: str) -> npt.NDArray[np.float32]:
    """Read an OpenAI-style answer, ``{"data": [{"embedding": ..., "index": i}, ...]}``.

    The indices must be ``0 .. count-1``, each once (the vectors are put in their order); each
    embedding is an array of numbers or base64 of little-endian float32, checked like
    :func:`read_vectors` checks values.

    Args:
        answer: the parsed answer.
        count: how many inputs were sent (at least 1).
        label: the request, for messages.

    Returns:
        A ``(count, dim)`` float32 array, ``dim > 0``, every value finite.

    Raises:
        ResponseFormatError: anything else.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, not {count}")
    try:
        data = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(data, list):
            what = _describe(answer) if not isinstance(answer, dict) else "an object without a 'data' array"
            raise _Bad((), f"{what}, not {{'data': [{{'embedding': ..., 'index': ...}}, ...]}}", shape=True)
        if len(data) != count:
            raise _Bad((), f"{len(data)} embeddings for {_inputs(count)}", shape=True)
        rows: list[npt.NDArray[np.float32] | None] = [None] * count
        for position, item in enumerate(data):
            if not isinstance(item, dict):
                raise _Bad((), f"data[{position}] is {_describe(item)}, not an object")
            index = item.get("index")
            if type(index) is not int:
                raise _Bad((), f"data[{position}].index is {_describe(index)}, not an integer")
            if not 0 <= index < count:
                raise _Bad((), f"data[{position}].index is {index}, outside 0..{count - 1}")
            if rows[index] is not None:
                raise _Bad((), f"data[{position}].index {index} comes twice")
            if "embedding" not in item:
                raise _Bad((), f"data[{position}] has no 'embedding'")
            rows[index] = _openai_embedding(item["embedding"], index)
        vectors = [row for row in rows if row is not None]  # every index came once: all set
        for index, row in enumerate(vectors):
            if row.shape != vectors[0].shape:
                raise _Bad(
                    (index,), f"{_values(row.shape[0])}, but input 0 has {vectors[0].shape[0]}", shape=True
                )
        return np.stack(vectors)
    except _Bad as bad:
        raise _error(label, bad) from None


def check_dimension(vectors: npt.NDArray[np.float32], expected: int | None, *, label: str) -> None:
    """Refuse a batch whose dimension differs from the one the call (or the backend) already knows.

    Args:
        vectors: a ``(count, dim)`` batch.
        expected: the known dimension, or ``None`` when none is known yet.
        label: the request, for messages.

    Raises:
        ResponseFormatError: ``dim != expected``.
    """
    if expected is None or vectors.ndim != 2 or vectors.shape[1] == expected:
        return
    raise ResponseFormatError(
        f"{label} answered vectors of dimension {vectors.shape[1]}, but this call's other answers have "
        f"dimension {expected}: is a different model behind the same URL (a redeploy, or replicas "
        "serving different models)? No vector was built from this answer."
    )


# -- /info -------------------------------------------------------------------------------------------
_INFO_STRINGS = (
    "model_id",
    "model_sha",
    "model_dtype",
    "version",
    "sha",
    "docker_label",
    "served_model_name",
)
_INFO_COUNTS = (
    "max_concurrent_requests",
    "max_input_length",
    "max_batch_tokens",
    "max_client_batch_size",
    "max_batch_requests",
    "tokenization_workers",
)


def read_info(data: Any, *, label: str) -> dict[str, Any]:
    """Check a TEI ``GET /info`` body against TEI's ``Info`` schema; unknown fields pass through.

    Fields may be missing (older servers, other images) or ``null``; present ones must have TEI's
    types: strings for ``model_id``, ``model_sha``, ``model_dtype``, ``version``, ``sha``,
    ``docker_label`` and ``served_model_name``; non-negative integers (not booleans, not ``"256"``)
    for the limits and ``tokenization_workers``; a boolean for ``auto_truncate``; an object for
    ``model_type``.

    Args:
        data: the parsed body.
        label: the URL, for messages.

    Returns:
        ``data``, checked.

    Raises:
        ResponseFormatError: not an object, or a field of the wrong type (named, with what it is and
            what it should be).
    """
    if not isinstance(data, dict):
        raise ResponseFormatError(f"{label}: /info answered {_describe(data)}, expected a JSON object.")

    def wrong(name: str, expected: str) -> ResponseFormatError:
        return ResponseFormatError(
            f"{label}: /info field {name} is {_describe(data[name])}, expected {expected}. "
            "Is this a TEI server?"
        )

    for name in _INFO_STRINGS:
        if data.get(name) is not None and not isinstance(data[name], str):
            raise wrong(name, "a string")
    for name in _INFO_COUNTS:
        value = data.get(name)
        if value is not None and (type(value) is not int or value < 0):
            raise wrong(name, "a non-negative integer" if type(value) is int else "an integer")
    if data.get("auto_truncate") is not None and not isinstance(data["auto_truncate"], bool):
        raise wrong("auto_truncate", "a boolean")
    if "model_type" in data and not isinstance(data["model_type"], dict):
        raise wrong("model_type", "an object")
    return data
