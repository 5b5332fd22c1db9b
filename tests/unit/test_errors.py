"""The exception tree: builtin bases, the drawing in the module docstring, attributes."""

from __future__ import annotations

import builtins
import inspect
import re

import pytest

import hfe_core
from hfe_core import errors
from hfe_core.errors import (
    AuthenticationError,
    BackendUnavailableError,
    BadRowError,
    ConfigurationError,
    DimensionMismatchError,
    EmbeddingError,
    EmbeddingRequestError,
    EmbeddingTimeoutError,
    EndpointFailedError,
    EndpointNotReadyError,
    EndpointPausedError,
    HfeError,
    InputTooLongError,
    InputTypeError,
    InvalidInputError,
    ModelLoadError,
    ModeNotAvailableError,
    NotFoundError,
    OutputWriteError,
    RateLimitedError,
    RequestRejectedError,
    ResponseFormatError,
    ServerError,
    TokenLevelOutputError,
)

# class -> (hfe parent, builtins it must also be)
TREE: dict[type[Exception], tuple[type[Exception], tuple[type[BaseException], ...]]] = {
    ConfigurationError: (HfeError, (ValueError,)),
    ModeNotAvailableError: (ConfigurationError, (ValueError,)),
    DimensionMismatchError: (ConfigurationError, (ValueError,)),
    InvalidInputError: (HfeError, (ValueError,)),
    InputTypeError: (InvalidInputError, (TypeError, ValueError)),
    InputTooLongError: (InvalidInputError, (ValueError,)),
    BadRowError: (InvalidInputError, (ValueError,)),
    BackendUnavailableError: (HfeError, (ImportError,)),
    ModelLoadError: (HfeError, (OSError,)),
    OutputWriteError: (HfeError, (OSError,)),
    EmbeddingError: (HfeError, (RuntimeError,)),
    EmbeddingRequestError: (EmbeddingError, (RuntimeError,)),
    AuthenticationError: (EmbeddingRequestError, (PermissionError, RuntimeError)),
    NotFoundError: (EmbeddingRequestError, (RuntimeError,)),
    RequestRejectedError: (EmbeddingRequestError, (ValueError, RuntimeError)),
    RateLimitedError: (EmbeddingRequestError, (RuntimeError,)),
    ServerError: (EmbeddingRequestError, (RuntimeError,)),
    # Both are EmbeddingErrors (issue 11): a timed-out or malformed batch keeps the other batches' vectors.
    EmbeddingTimeoutError: (EmbeddingError, (TimeoutError, RuntimeError)),
    ResponseFormatError: (EmbeddingError, (ValueError, RuntimeError)),
    EndpointPausedError: (EmbeddingRequestError, (RuntimeError,)),
    EndpointFailedError: (EmbeddingRequestError, (RuntimeError,)),
    EndpointNotReadyError: (ServerError, (TimeoutError, RuntimeError)),
    TokenLevelOutputError: (ResponseFormatError, (ValueError, RuntimeError)),
}


def test_tree_covers_every_public_class() -> None:
    assert set(errors.__all__) == {cls.__name__ for cls in TREE} | {"HfeError"}


@pytest.mark.parametrize("cls", list(TREE), ids=lambda cls: cls.__name__)
def test_parent_and_builtin_bases(cls: type[Exception]) -> None:
    parent, builtin_bases = TREE[cls]
    assert issubclass(cls, HfeError)
    assert issubclass(cls, parent)
    for base in builtin_bases:
        assert issubclass(cls, base)


def test_hfe_error_is_a_plain_exception() -> None:
    assert HfeError.__bases__ == (Exception,)


@pytest.mark.parametrize(
    ("cls", "unrelated"),
    [
        (ConfigurationError, TypeError),
        (InvalidInputError, TypeError),  # only InputTypeError is a TypeError
        (InputTooLongError, TypeError),
        (EmbeddingError, ValueError),
        (EmbeddingTimeoutError, ValueError),
        (BackendUnavailableError, ValueError),
        (ModelLoadError, ValueError),
        (ResponseFormatError, TypeError),
    ],
)
def test_no_accidental_builtin_bases(cls: type[Exception], unrelated: type[Exception]) -> None:
    assert not issubclass(cls, unrelated)


def test_generic_handlers_catch_hfe_errors() -> None:
    with pytest.raises(ValueError):
        raise ConfigurationError("bad")
    with pytest.raises(TypeError):
        raise InputTypeError("wrong type", indices=[1])
    with pytest.raises(ImportError):
        raise BackendUnavailableError("pip install 'hfe[local]'")
    with pytest.raises(TimeoutError):
        raise EmbeddingTimeoutError("slow")
    with pytest.raises(OSError):
        raise ModelLoadError("missing")
    with pytest.raises(RuntimeError):
        raise EmbeddingRequestError("500", status_code=500)


def test_every_public_class_is_exported_from_the_package_and_derives_from_hfe_error() -> None:
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert inspect.isclass(cls)
        assert issubclass(cls, HfeError)
        assert getattr(hfe_core, name) is cls
    public = {
        name
        for name, obj in vars(errors).items()
        if inspect.isclass(obj) and obj.__module__ == errors.__name__ and not name.startswith("_")
    }
    assert public == set(errors.__all__)


_BRANCH = re.compile(r"^(?P<indent>[ │]*)[├└]── (?P<name>\w+)(?:\((?P<base>\w+)\))?")
_ROOT = re.compile(r"^\s+(?P<name>HfeError)\((?P<base>\w+)\)\s*$")


def _drawn_tree() -> dict[str, tuple[str | None, str | None]]:
    """Parse the docstring drawing into name -> (drawn parent, drawn builtin base)."""
    doc = errors.__doc__ or ""
    drawn: dict[str, tuple[str | None, str | None]] = {}
    stack: list[str] = []
    root_indent: int | None = None
    for line in doc.splitlines():
        root = _ROOT.match(line)
        if root:
            drawn[root["name"]] = (None, root["base"])
            stack = [root["name"]]
            continue
        branch = _BRANCH.match(line)
        if not branch:
            continue
        if root_indent is None:
            root_indent = len(branch["indent"])
        depth = (len(branch["indent"]) - root_indent) // 4 + 1
        stack = stack[:depth]
        drawn[branch["name"]] = (stack[-1], branch["base"])
        stack.append(branch["name"])
    return drawn


def test_every_public_class_is_drawn_in_the_docstring() -> None:
    drawn = _drawn_tree()
    assert set(drawn) == set(errors.__all__)


def test_the_drawing_matches_the_classes() -> None:
    for name, (parent, base) in _drawn_tree().items():
        cls = getattr(errors, name)
        if parent is not None:
            assert getattr(errors, parent) in cls.__bases__, (name, parent)
        if base is not None:
            assert getattr(builtins, base) in cls.__bases__, (name, base)


# --- attributes -------------------------------------------------------------------------------------


def test_invalid_input_error_indices() -> None:
    exc = InvalidInputError("bad inputs", indices=(3, 1))
    assert exc.indices == [3, 1]
    assert isinstance(exc.indices, list)
    assert str(exc) == "bad inputs"
    assert InvalidInputError("no indices").indices == []


def test_input_type_error_indices() -> None:
    exc = InputTypeError("bad", indices=range(2))
    assert exc.indices == [0, 1]


def test_input_too_long_error_attributes() -> None:
    exc = InputTooLongError("too long", indices=(4, 9), token_counts=(600, 1000), max_tokens=512)
    assert exc.indices == [4, 9]
    assert exc.token_counts == [600, 1000]
    assert exc.max_tokens == 512
    assert isinstance(exc, InvalidInputError)


def test_bad_row_error_attributes() -> None:
    from hfe_core.corpus import BadRow

    rows = [BadRow(3, 4, "the field 'text' is missing")]
    exc = BadRowError("bad records", bad_rows=rows, count=5, path="in.jsonl")
    assert (exc.bad_rows, exc.count, exc.path, exc.indices) == (rows, 5, "in.jsonl", [3])


@pytest.mark.parametrize(
    "exc",
    [
        InputTooLongError("too long", indices=(4,), token_counts=(600,), max_tokens=512),
        DimensionMismatchError("mismatch", expected=768, actual=384),
        RateLimitedError("429", status_code=429, failed_indices=[1], partial_embeddings=[[0.5], None]),
        EndpointPausedError("paused", endpoint_name="e", status_code=400),
        ConfigurationError("plain"),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_errors_pickle_with_their_attributes(exc: HfeError) -> None:
    import pickle

    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is type(exc) and back.args == exc.args and back.__dict__ == exc.__dict__


def test_dimension_mismatch_error_attributes() -> None:
    exc = DimensionMismatchError("mismatch", expected=768, actual=384)
    assert (exc.expected, exc.actual) == (768, 384)
    assert str(exc) == "mismatch"


def test_embedding_error_attributes() -> None:
    exc = EmbeddingError("part-way", failed_indices=(1,), partial_embeddings=([0.5, 0.5], None))
    assert exc.failed_indices == [1]
    assert exc.partial_embeddings == [[0.5, 0.5], None]
    empty = EmbeddingError("nothing")
    assert empty.failed_indices == []
    assert empty.partial_embeddings == []


def test_embedding_request_error_attributes() -> None:
    exc = EmbeddingRequestError(
        "server error",
        status_code=503,
        server_message="Model is loading",
        request_id="req-42",
        failed_indices=[0, 2],
        partial_embeddings=[None, [1.0], None],
    )
    assert exc.status_code == 503
    assert exc.server_message == "Model is loading"
    assert exc.request_id == "req-42"
    assert exc.failed_indices == [0, 2]
    assert exc.partial_embeddings == [None, [1.0], None]
    plain = EmbeddingRequestError("x")
    assert (plain.status_code, plain.server_message, plain.request_id) == (None, None, None)
