"""TEI's request parsing and errors, as axum 0.7 + serde_json + serde_path_to_error produce them.

Two families of errors exist (protocol notes A.5):

* :class:`FrameworkError`: axum rejections raised before the handler runs, answered in plain text
  (415 content type, 413 body too large, 400 malformed JSON, 422 JSON of the wrong shape).
* :class:`TEIError`: handler-level errors, answered as ``{"error", "error_type"}`` JSON (or
  ``{"message", "code", "type"}`` on ``/v1/embeddings``).

The JSON parsing imitates serde_json's messages and ``line L column C`` positions (byte columns),
including the order in which serde meets errors: members are checked in document order, a type
error in an early member wins over a syntax error later in the body.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

# ----------------------------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------------------------

PAYLOAD_TOO_LARGE = "Failed to buffer the request body: length limit exceeded"
MISSING_JSON_CONTENT_TYPE = "Expected request with `Content-Type: application/json`"
JSON_SYNTAX_PREFIX = "Failed to parse the request body as JSON: "
JSON_DATA_PREFIX = "Failed to deserialize the JSON body into the target type: "

ERROR_TYPES = ("Unhealthy", "Backend", "Overloaded", "Validation", "Tokenizer", "Empty")


class FrameworkError(Exception):
    """An axum rejection: a plain-text body and a status."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(body)
        self.status = status
        self.body = body


class TEIError(Exception):
    """A TEI handler error: ``error_type`` (PascalCase) and the exact ``error`` message."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        if error_type not in ERROR_TYPES:
            raise ValueError(f"unknown TEI error type {error_type!r}")
        self.error_type = error_type
        self.message = message

    def status(self, validation_status: int) -> int:
        """HTTP status (server.rs L1891-1902); ``Validation`` is 422 from 1.9.0 and 413 before."""
        return {
            "Unhealthy": 503,
            "Backend": 424,
            "Overloaded": 429,
            "Validation": validation_status,
            "Tokenizer": 422,
            "Empty": 400,
        }[self.error_type]


def validation(message: str) -> TEIError:
    """A ``Validation`` error raised in TEI's core (``Input validation error: `` prefix)."""
    return TEIError("Validation", f"Input validation error: {message}")


def empty_inputs() -> TEIError:
    """The ``Empty`` error of an empty string, ``[]`` or an empty batch item."""
    return TEIError("Empty", "Input validation error: `inputs` cannot be empty")


def overloaded() -> TEIError:
    """No free concurrency permit."""
    return TEIError("Overloaded", "Model is overloaded")


def unhealthy() -> TEIError:
    """The ``/health`` error of an unhealthy backend."""
    return TEIError("Unhealthy", "unhealthy")


def is_json_content_type(value: str | None) -> bool:
    """axum's ``json_content_type``: ``application/json`` or ``application/*+json``, any parameters."""
    if not value:
        return False
    essence = value.split(";", 1)[0].strip().lower()
    if "/" not in essence:
        return False
    type_, subtype = essence.split("/", 1)
    return type_ == "application" and (subtype == "json" or subtype.endswith("+json"))


def rust_debug_str(value: str) -> str:
    """A string as Rust's ``{:?}`` writes it (quotes and escapes)."""
    out = ['"']
    for ch in value:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\0":
            out.append("\\0")
        elif code < 0x20 or code == 0x7F or not ch.isprintable() and ch != " ":
            out.append(f"\\u{{{code:x}}}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


# ----------------------------------------------------------------------------------------------
# A serde_json-like scanner: syntax errors with serde's wording and positions, member spans
# ----------------------------------------------------------------------------------------------

_WS = b" \t\n\r"
_STRING_SPECIAL = re.compile(rb'["\\\x00-\x1f]')
_DIGITS = re.compile(rb"[0-9]*")
_HEX = b"0123456789abcdefABCDEF"
_RECURSION_LIMIT = 128


class _SyntaxError(Exception):
    def __init__(self, message: str, index: int, path: tuple[str | int, ...]) -> None:
        super().__init__(message)
        self.message = message
        self.index = index
        self.path = path


@dataclass
class Member:
    """A member of the top-level JSON object, with byte offsets."""

    key: str
    key_end: int
    value_start: int
    value_end: int
    """End offset of the value; -1 when a syntax error stopped the scan inside it."""


@dataclass
class ScanResult:
    """What the scanner learnt: the top-level value's span and members, and the first syntax error."""

    members: list[Member]
    top_start: int
    top_end: int
    """End offset of the top-level value; -1 when a syntax error stopped the scan inside it."""
    error: _SyntaxError | None


class _Scanner:
    """Walks the bytes as serde_json does and raises its first syntax error."""

    def __init__(self, data: bytes) -> None:
        self.b = data
        self.n = len(data)
        self.i = 0
        self.members: list[Member] = []
        self.depth = 0
        self.top_end = -1

    # serde's SliceRead: `error` reports the current index, `peek_error` one byte further.
    def _err(self, message: str, path: tuple[str | int, ...]) -> _SyntaxError:
        return _SyntaxError(message, self.i, path)

    def _peek_err(self, message: str, path: tuple[str | int, ...]) -> _SyntaxError:
        return _SyntaxError(message, min(self.i + 1, self.n), path)

    def _ws(self) -> int | None:
        while self.i < self.n and self.b[self.i] in _WS:
            self.i += 1
        return self.b[self.i] if self.i < self.n else None

    def scan(self) -> ScanResult:
        top_start = -1
        try:
            if self._ws() is None:
                raise self._peek_err("EOF while parsing a value", ())
            top_start = self.i
            self._value((), top=True)
            self.top_end = self.i
            if self._ws() is not None:
                raise self._peek_err("trailing characters", ())
        except _SyntaxError as exc:
            return ScanResult(self.members, top_start, self.top_end, exc)
        return ScanResult(self.members, top_start, self.top_end, None)

    def _value(self, path: tuple[str | int, ...], top: bool = False) -> None:
        c = self._ws()
        if c is None:
            raise self._peek_err("EOF while parsing a value", path)
        if c == ord("n"):
            self.i += 1
            self._ident(b"ull", path)
        elif c == ord("t"):
            self.i += 1
            self._ident(b"rue", path)
        elif c == ord("f"):
            self.i += 1
            self._ident(b"alse", path)
        elif c == ord("-"):
            self.i += 1
            self._number(path)
        elif ord("0") <= c <= ord("9"):
            self._number(path)
        elif c == ord('"'):
            self.i += 1
            self._string(path)
        elif c == ord("["):
            self._enter(path)
            self.i += 1
            self._seq(path)
            self.depth -= 1
        elif c == ord("{"):
            self._enter(path)
            self.i += 1
            self._map(path, top)
            self.depth -= 1
        else:
            raise self._peek_err("expected value", path)

    def _enter(self, path: tuple[str | int, ...]) -> None:
        self.depth += 1
        if self.depth > _RECURSION_LIMIT:
            raise self._peek_err("recursion limit exceeded", path)

    def _ident(self, rest: bytes, path: tuple[str | int, ...]) -> None:
        for expected in rest:
            if self.i >= self.n:
                raise self._err("EOF while parsing a value", path)
            got = self.b[self.i]
            self.i += 1
            if got != expected:
                raise self._err("expected ident", path)

    def _number(self, path: tuple[str | int, ...]) -> None:
        if self.i >= self.n:
            raise self._err("EOF while parsing a value", path)
        c = self.b[self.i]
        self.i += 1
        if c == ord("0"):
            if self.i < self.n and ord("0") <= self.b[self.i] <= ord("9"):
                raise self._peek_err("invalid number", path)
        elif ord("1") <= c <= ord("9"):
            self.i = _DIGITS.match(self.b, self.i).end()  # type: ignore[union-attr]
        else:
            raise self._err("invalid number", path)
        if self.i < self.n and self.b[self.i] == ord("."):
            self.i += 1
            if self.i >= self.n:
                raise self._err("EOF while parsing a value", path)
            c = self.b[self.i]
            self.i += 1
            if not ord("0") <= c <= ord("9"):
                raise self._err("invalid number", path)
            self.i = _DIGITS.match(self.b, self.i).end()  # type: ignore[union-attr]
        if self.i < self.n and self.b[self.i] in b"eE":
            self.i += 1
            if self.i < self.n and self.b[self.i] in b"+-":
                self.i += 1
            if self.i >= self.n:
                raise self._err("EOF while parsing a value", path)
            c = self.b[self.i]
            self.i += 1
            if not ord("0") <= c <= ord("9"):
                raise self._err("invalid number", path)
            self.i = _DIGITS.match(self.b, self.i).end()  # type: ignore[union-attr]

    def _string(self, path: tuple[str | int, ...]) -> None:
        start = self.i
        while True:
            match = _STRING_SPECIAL.search(self.b, self.i)
            if match is None:
                self.i = self.n
                raise self._err("EOF while parsing a string", path)
            self.i = match.start()
            c = self.b[self.i]
            self.i += 1
            if c == ord('"'):
                try:
                    self.b[start : self.i - 1].decode("utf-8")
                except UnicodeDecodeError as exc:
                    self.i = start + exc.start + 1
                    raise self._err("invalid unicode code point", path) from None
                return
            if c == ord("\\"):
                if self.i >= self.n:
                    raise self._err("EOF while parsing a string", path)
                esc = self.b[self.i]
                self.i += 1
                if esc == ord("u"):
                    for _ in range(4):
                        if self.i >= self.n:
                            raise self._err("EOF while parsing a string", path)
                        h = self.b[self.i]
                        self.i += 1
                        if h not in _HEX:
                            raise self._err("invalid escape", path)
                elif esc not in b'"\\/bfnrt':
                    raise self._err("invalid escape", path)
            else:
                raise self._err("control character (\\u0000-\\u001F) found while parsing a string", path)

    def _seq(self, path: tuple[str | int, ...]) -> None:
        index = 0
        first = True
        while True:
            c = self._ws()
            if c == ord("]"):
                self.i += 1
                return
            if c == ord(",") and not first:
                self.i += 1
                c = self._ws()
                if c == ord("]"):
                    raise self._peek_err("trailing comma", path)
                if c is None:
                    raise self._peek_err("EOF while parsing a value", path)
            elif c is None:
                raise self._peek_err("EOF while parsing a list", path)
            elif not first:
                raise self._peek_err("expected `,` or `]`", path)
            first = False
            self._value((*path, index))
            index += 1

    def _map(self, path: tuple[str | int, ...], top: bool) -> None:
        first = True
        while True:
            c = self._ws()
            if c == ord("}"):
                self.i += 1
                return
            if c == ord(",") and not first:
                self.i += 1
                c = self._ws()
            elif c is None:
                raise self._peek_err("EOF while parsing an object", path)
            elif not first:
                raise self._peek_err("expected `,` or `}`", path)
            first = False
            if c == ord("}"):
                raise self._peek_err("trailing comma", path)
            if c is None:
                raise self._peek_err("EOF while parsing a value", path)
            if c != ord('"'):
                raise self._peek_err("key must be a string", path)
            key_start = self.i
            self.i += 1
            self._string(path)
            key_end = self.i
            key = json.loads(self.b[key_start:key_end].decode("utf-8"))
            c = self._ws()
            if c is None:
                raise self._peek_err("EOF while parsing an object", path)
            if c != ord(":"):
                raise self._peek_err("expected `:`", path)
            self.i += 1
            self._ws()
            member = Member(key, key_end, self.i, -1)
            if top:
                self.members.append(member)
            self._value((*path, key))
            member.value_end = self.i


def scan(data: bytes) -> ScanResult:
    """Scan ``data`` as serde_json would, stopping at its first syntax error."""
    return _Scanner(data).scan()


def position(data: bytes, index: int) -> tuple[int, int]:
    """serde_json's ``position_of_index``: 1-based line, and the count of bytes before ``index`` on it."""
    index = max(0, min(index, len(data)))
    line = data.count(b"\n", 0, index) + 1
    column = index - (data.rfind(b"\n", 0, index) + 1)
    return line, column


def _format_path(path: Sequence[str | int]) -> str:
    """serde_path_to_error's ``Path`` display (``inputs[2]``, ``a.b``)."""
    out = []
    for k, segment in enumerate(path):
        if isinstance(segment, int):
            out.append(f"[{segment}]")
        else:
            out.append(("." if k else "") + segment)
    return "".join(out)


def _with_position(message: str, data: bytes, index: int, path: Sequence[str | int] = ()) -> str:
    line, column = position(data, index)
    prefix = f"{_format_path(path)}: " if path else ""
    return f"{prefix}{message} at line {line} column {column}"


# ----------------------------------------------------------------------------------------------
# Typed validation of request structs (serde_derive + the TEI types)
# ----------------------------------------------------------------------------------------------


class _DataError(Exception):
    """A serde data error; ``where`` says how serde_json positions it.

    ``"end"``: just after the value (scalars). ``"start"``: at the value start (containers).
    ``"struct"``: where the struct's ``end_map`` stopped (errors made outside serde_json's own
    ``deserialize_*`` methods, such as untagged enums). ``"syntax"``: not a data error at all but
    serde_json's ``expected value`` syntax error (an enum given a non-string).
    """

    def __init__(self, message: str, where: str, element: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.where = where
        self.element = element
        """Index of the sequence element the error is in (``texts[2]``), or ``None``: the field itself."""


def _unexpected(value: Any) -> str:
    """serde's ``Unexpected`` display, with serde_json's ``null``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean `{'true' if value else 'false'}`"
    if isinstance(value, int):
        return f"integer `{value}`"
    if isinstance(value, float):
        text = repr(value)
        if "e" not in text and "." not in text and "inf" not in text and "nan" not in text:
            text += ".0"
        return f"floating point `{text}`"
    if isinstance(value, str):
        return f"string {rust_debug_str(value)}"
    if isinstance(value, list):
        return "sequence"
    return "map"


def _invalid_type(value: Any, expected: str) -> _DataError:
    where = "start" if isinstance(value, (list, JsonObject)) else "end"
    return _DataError(f"invalid type: {_unexpected(value)}, expected {expected}", where)


class JsonObject(list):  # type: ignore[type-arg]
    """A JSON object kept as its ``(key, value)`` pairs (duplicates and order preserved)."""


def _is_u32(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 0xFFFFFFFF


def _is_ids(value: Any) -> bool:
    return isinstance(value, list) and all(_is_u32(v) for v in value)


def _input_type(value: Any) -> str | list[int] | None:
    if isinstance(value, str):
        return value
    if _is_ids(value):
        return list(value)
    return None


@dataclass(frozen=True)
class Inputs:
    """A parsed TEI ``Input``: the items and whether the wire form was a batch."""

    items: list[str | list[int]]
    is_batch: bool


def check_input(value: Any) -> Inputs:
    """TEI's untagged ``Input``: ``Single(InputType) | Batch(Vec<InputType>)``."""
    single = _input_type(value)
    if single is not None:
        return Inputs([single], False)
    if isinstance(value, list):
        items = [_input_type(v) for v in value]
        if all(item is not None for item in items):
            return Inputs([item for item in items if item is not None], True)
    raise _DataError("data did not match any variant of untagged enum Input", "struct")


def check_tokenize_input(value: Any) -> Inputs:
    """TEI's untagged ``TokenizeInput``: ``Single(String) | Batch(Vec<String>)``."""
    if isinstance(value, str):
        return Inputs([value], False)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return Inputs(list(value), True)
    raise _DataError("data did not match any variant of untagged enum TokenizeInput", "struct")


def check_input_ids(value: Any) -> Inputs:
    """TEI's untagged ``InputIds``: ``Single(Vec<u32>) | Batch(Vec<Vec<u32>>)``."""
    if _is_ids(value):
        return Inputs([list(value)], False)
    if isinstance(value, list) and all(_is_ids(v) for v in value):
        return Inputs([list(v) for v in value], True)
    raise _DataError("data did not match any variant of untagged enum InputIds", "struct")


def check_str(value: Any) -> str:
    """``String``."""
    if isinstance(value, str):
        return value
    raise _invalid_type(value, "a string")


def check_str_list(value: Any) -> list[str]:
    """``Vec<String>``; an element's error carries its index (serde_path_to_error's ``texts[2]``)."""
    if not isinstance(value, list) or isinstance(value, JsonObject):
        raise _invalid_type(value, "a sequence")
    for k, item in enumerate(value):
        if not isinstance(item, str):
            err = _invalid_type(item, "a string")
            err.element = k
            raise err
    return list(value)


def check_bool(value: Any) -> bool:
    """``bool``."""
    if isinstance(value, bool):
        return value
    raise _invalid_type(value, "a boolean")


def check_opt_bool(value: Any) -> bool | None:
    """``Option<bool>``."""
    return None if value is None else check_bool(value)


def check_opt_str(value: Any) -> str | None:
    """``Option<String>``."""
    if value is None or isinstance(value, str):
        return value
    raise _invalid_type(value, "a string")


def check_opt_usize(value: Any) -> int | None:
    """``Option<usize>``."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value <= 0xFFFFFFFFFFFFFFFF:
            return value
        if value < 0:
            raise _DataError(f"invalid value: integer `{value}`, expected usize", "end")
        value = float(value)
    raise _invalid_type(value, "usize")


def enum_checker(name: str, variants: Sequence[str], canonical: Callable[[str], str]) -> Callable[[Any], str]:
    """A unit-variant enum deserialized from a string (serde_derive, serde_json ``deserialize_enum``)."""
    if len(variants) == 1:
        expected = f"expected `{variants[0]}`"
    elif len(variants) == 2:
        expected = f"expected `{variants[0]}` or `{variants[1]}`"
    else:
        expected = "expected one of " + ", ".join(f"`{v}`" for v in variants)

    def check(value: Any) -> str:
        if isinstance(value, str):
            if value in variants:
                return canonical(value)
            raise _DataError(f"unknown variant `{value}`, {expected}", "end")
        if isinstance(value, JsonObject):
            raise _DataError(f"invalid type: map, expected enum {name}", "start")
        raise _DataError("expected value", "syntax")

    return check


@dataclass(frozen=True)
class Field:
    """One field of a request struct."""

    check: Callable[[Any], Any]
    required: bool = False
    default: Any = None


@dataclass(frozen=True)
class StructSpec:
    """A TEI request struct: its Rust name and fields."""

    name: str
    fields: dict[str, Field]


def _direction(version19: bool) -> Callable[[Any], str]:
    if version19:
        return enum_checker(
            "TruncationDirection", ("Left", "left", "Right", "right"), lambda v: v.capitalize()
        )
    return enum_checker("TruncationDirection", ("Left", "Right"), lambda v: v)


def embed_spec(version19: bool) -> StructSpec:
    """``EmbedRequest`` (types.rs)."""
    return StructSpec(
        "EmbedRequest",
        {
            "inputs": Field(check_input, required=True),
            "truncate": Field(check_opt_bool),
            "truncation_direction": Field(_direction(version19), default="Right"),
            "prompt_name": Field(check_opt_str),
            "normalize": Field(check_bool, default=True),
            "dimensions": Field(check_opt_usize),
        },
    )


def openai_spec(version19: bool) -> StructSpec:  # noqa: ARG001 - same shape in 1.8 and 1.9
    """``OpenAICompatRequest`` (types.rs)."""
    return StructSpec(
        "OpenAICompatRequest",
        {
            "input": Field(check_input, required=True),
            "model": Field(check_opt_str),
            "user": Field(check_opt_str),
            "encoding_format": Field(
                enum_checker("EncodingFormat", ("float", "base64"), lambda v: v), default="float"
            ),
            "dimensions": Field(check_opt_usize),
        },
    )


def tokenize_spec() -> StructSpec:
    """``TokenizeRequest`` (types.rs)."""
    return StructSpec(
        "TokenizeRequest",
        {
            "inputs": Field(check_tokenize_input, required=True),
            "add_special_tokens": Field(check_bool, default=True),
            "prompt_name": Field(check_opt_str),
        },
    )


def decode_spec() -> StructSpec:
    """``DecodeRequest`` (types.rs)."""
    return StructSpec(
        "DecodeRequest",
        {
            "ids": Field(check_input_ids, required=True),
            "skip_special_tokens": Field(check_bool, default=True),
        },
    )


def embed_sparse_spec(version19: bool) -> StructSpec:
    """``EmbedSparseRequest`` (types.rs L453-472 at v1.9.3)."""
    return StructSpec(
        "EmbedSparseRequest",
        {
            "inputs": Field(check_input, required=True),
            "truncate": Field(check_opt_bool),
            "truncation_direction": Field(_direction(version19), default="Right"),
            "prompt_name": Field(check_opt_str),
        },
    )


def rerank_spec(version19: bool) -> StructSpec:
    """``RerankRequest`` (types.rs L243-260 at v1.9.3)."""
    return StructSpec(
        "RerankRequest",
        {
            "query": Field(check_str, required=True),
            "texts": Field(check_str_list, required=True),
            "truncate": Field(check_opt_bool),
            "truncation_direction": Field(_direction(version19), default="Right"),
            "raw_scores": Field(check_bool, default=False),
            "return_text": Field(check_bool, default=False),
        },
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"serde_json does not accept {name}")


def _after_end_map(data: bytes, stop: int) -> int:
    """Where serde_json's ``end_map`` leaves the index: after whitespace, and after a ``}``."""
    i = stop
    while i < len(data) and data[i] in _WS:
        i += 1
    if i < len(data) and data[i] == ord("}"):
        i += 1
    return i


def _element_span(data: bytes, value_start: int, element: int) -> tuple[int, int]:
    """Byte span of element ``element`` of the (complete, valid) JSON array at ``value_start``."""
    scanner = _Scanner(data)
    scanner.i = value_start + 1
    start = end = value_start
    for k in range(element + 1):
        scanner._ws()
        if k:
            scanner.i += 1  # the `,`
            scanner._ws()
        start = scanner.i
        scanner._value(())
        end = scanner.i
    return start, end


def _data_error(err: _DataError, data: bytes, member: Member) -> FrameworkError:
    if err.element is not None:
        start, end = _element_span(data, member.value_start, err.element)
        index = start if err.where == "start" else end
        message = _with_position(err.message, data, index, (member.key, err.element))
        return FrameworkError(422, JSON_DATA_PREFIX + message)
    if err.where == "syntax":
        message = _with_position(err.message, data, min(member.value_start + 1, len(data)), (member.key,))
        return FrameworkError(400, JSON_SYNTAX_PREFIX + message)
    if err.where == "start":
        index = member.value_start
    elif err.where == "end":
        index = member.value_end
    else:
        index = _after_end_map(data, member.value_end)
    return FrameworkError(422, JSON_DATA_PREFIX + _with_position(err.message, data, index, (member.key,)))


def _check_members(
    data: bytes, spec: StructSpec, members: Sequence[Member], values: Sequence[Any] | None
) -> dict[str, Any]:
    """Check complete members in order; the first error wins. ``values`` = parsed member values."""
    result: dict[str, Any] = {}
    for k, member in enumerate(members):
        field = spec.fields.get(member.key)
        if field is None:
            continue
        if member.key in result:
            index = _after_end_map(data, member.key_end)
            raise FrameworkError(
                422, JSON_DATA_PREFIX + _with_position(f"duplicate field `{member.key}`", data, index)
            )
        if values is not None:
            value = values[k]
        else:
            value = json.loads(
                data[member.value_start : member.value_end].decode("utf-8"),
                object_pairs_hook=JsonObject,
                parse_constant=_reject_constant,
            )
        try:
            result[member.key] = field.check(value)
        except _DataError as err:
            raise _data_error(err, data, member) from None
    return result


def _top_level_type_error(data: bytes, spec: StructSpec, value: Any, start: int, end: int) -> FrameworkError:
    err = _invalid_type(value, f"struct {spec.name}")
    index = start if err.where == "start" else end
    return FrameworkError(422, JSON_DATA_PREFIX + _with_position(err.message, data, index))


def parse_request(data: bytes, spec: StructSpec) -> dict[str, Any]:
    """Parse a request body as axum's ``Json<T>`` would, or raise the :class:`FrameworkError`.

    Returns the checked fields, defaults filled in (``Input`` fields become :class:`Inputs`).
    """
    try:
        value = json.loads(
            data.decode("utf-8"), object_pairs_hook=JsonObject, parse_constant=_reject_constant
        )
    except (ValueError, RecursionError):
        return _parse_invalid(data, spec)
    if not isinstance(value, JsonObject):
        result = scan(data)
        raise _top_level_type_error(data, spec, value, result.top_start, result.top_end)
    keys = [key for key, _ in value]
    if any(key in spec.fields for key in keys):
        known = [k for k, key in enumerate(keys) if key in spec.fields]
        try:
            fields_ = _check_fast(spec, value, known)
        except (_DataError, _Duplicate):
            members = scan(data).members
            fields_ = _check_members(data, spec, members, [v for _, v in value])
    else:
        fields_ = {}
    return _finish(data, spec, fields_, closing=None)


class _Duplicate(Exception):
    pass


def _check_fast(spec: StructSpec, pairs: Sequence[tuple[str, Any]], known: Sequence[int]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for k in known:
        key, value = pairs[k]
        if key in result:
            raise _Duplicate(key)
        result[key] = spec.fields[key].check(value)
    return result


def _finish(data: bytes, spec: StructSpec, result: dict[str, Any], closing: int | None) -> dict[str, Any]:
    for name, field in spec.fields.items():
        if name in result:
            continue
        if field.required:
            if closing is None:
                closing = len(data.rstrip(_WS))
            raise FrameworkError(
                422, JSON_DATA_PREFIX + _with_position(f"missing field `{name}`", data, closing)
            )
        result[name] = field.default
    return result


def _parse_invalid(data: bytes, spec: StructSpec) -> dict[str, Any]:
    """The body is not valid JSON for Python: find serde's first error, data or syntax."""
    result = scan(data)
    error = result.error
    if error is None:  # accepted by serde, refused by Python (should not happen): treat as syntax
        raise FrameworkError(400, JSON_SYNTAX_PREFIX + _with_position("expected value", data, 1))
    if result.top_start >= 0 and data[result.top_start] == ord("{"):
        complete = [m for m in result.members if m.value_end >= 0]
        _check_members(data, spec, complete, None)
        incomplete = [m for m in result.members if m.value_end < 0]
        for member in incomplete:  # a container where a scalar is expected fails before its end
            field = spec.fields.get(member.key)
            if field is None or member.key in {m.key for m in complete}:
                continue
            first = data[member.value_start : member.value_start + 1]
            if first in (b"[", b"{") and field.check not in (
                check_input,
                check_tokenize_input,
                check_input_ids,
            ):
                probe: Any = [] if first == b"[" else JsonObject()
                try:
                    field.check(probe)
                except _DataError as err:
                    raise _data_error(err, data, member) from None
    elif result.top_start >= 0 and data[result.top_start] == ord("["):
        # deserialize_struct meets `[`: (simplified) the sequence form of the struct is refused
        raise _top_level_type_error(data, spec, [], result.top_start, -1)
    elif result.top_end >= 0:
        # a complete scalar body followed by garbage: the type error comes first
        scalar = json.loads(data[result.top_start : result.top_end].decode("utf-8", "replace"))
        raise _top_level_type_error(data, spec, scalar, result.top_start, result.top_end)
    raise FrameworkError(
        400, JSON_SYNTAX_PREFIX + _with_position(error.message, data, error.index, error.path)
    )
