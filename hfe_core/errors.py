"""The one exception tree of hfe.

Every error hfe raises derives from :class:`HfeError` and, where a builtin
carries the same meaning, from that builtin too, so generic handlers
(``except ValueError``, ``except ImportError``, ``except TimeoutError``) keep
working::

    HfeError(Exception)
    ├── ConfigurationError(ValueError)        bad or conflicting settings
    │   ├── ModeNotAvailableError             a mode this release does not ship yet
    │   └── DimensionMismatchError            configured dimension != the model's
    ├── InvalidInputError(ValueError)         an input the caller must fix; .indices
    │   ├── InputTypeError(TypeError)         a str where a list belongs, None, bytes, numbers
    │   ├── InputTooLongError                 truncation="error" and an input is over the limit
    │   └── BadRowError                       records of an input file that cannot be embedded
    ├── BackendUnavailableError(ImportError)  an optional dependency is missing (names the extra)
    ├── ModelLoadError(OSError)               the model cannot be found or loaded
    ├── OutputWriteError(OSError)             hfe embed cannot write its output or work folder
    └── EmbeddingError(RuntimeError)          embedding failed part-way; keeps what was computed
        ├── EmbeddingRequestError             a server answered with an error (.status_code, ...)
        │   ├── AuthenticationError(PermissionError)  401/403: missing or wrong token or API key
        │   ├── NotFoundError                 404 (wrong URL, or a server without that route), or a 3xx
        │   ├── RequestRejectedError(ValueError)  the server refused the inputs (validation, empty)
        │   ├── RateLimitedError              429, still after the retry budget
        │   ├── EndpointPausedError           an Inference Endpoint is paused (400 "Invalid state")
        │   ├── EndpointFailedError           an Inference Endpoint failed to deploy or update
        │   └── ServerError                   5xx, 424, or no connection, after the retry budget
        │       └── EndpointNotReadyError(TimeoutError)  still scaling up after cold_start_timeout
        ├── EmbeddingTimeoutError(TimeoutError)  a request ran past its deadline (``timeout``, connect
        │                                     to last byte) until the retry budget was spent
        └── ResponseFormatError(ValueError)   a server answered with something that is not embeddings
            └── TokenLevelOutputError         per-token arrays from a model that is not a sentence
                                              embedding model (pooling="mean" pools them)

Each message says what happened and what to do next. Errors raised while a
call is under way carry everything that was already computed
(:attr:`EmbeddingError.partial_embeddings`), so nothing is lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "AuthenticationError",
    "BackendUnavailableError",
    "BadRowError",
    "ConfigurationError",
    "DimensionMismatchError",
    "EmbeddingError",
    "EmbeddingRequestError",
    "EmbeddingTimeoutError",
    "EndpointFailedError",
    "EndpointNotReadyError",
    "EndpointPausedError",
    "HfeError",
    "InputTooLongError",
    "InputTypeError",
    "InvalidInputError",
    "ModeNotAvailableError",
    "ModelLoadError",
    "NotFoundError",
    "OutputWriteError",
    "RateLimitedError",
    "RequestRejectedError",
    "ResponseFormatError",
    "ServerError",
    "TokenLevelOutputError",
]


def _rebuild(cls: type[HfeError], args: tuple[Any, ...], state: dict[str, Any]) -> HfeError:
    try:
        error = cls.__new__(cls)
    except TypeError:
        # An error that is also an OSError (AuthenticationError is a PermissionError) has OSError's
        # layout: RuntimeError.__new__, found first along the MRO, refuses to build it.
        error = OSError.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class HfeError(Exception):
    """Base class of every error raised by hfe.

    Every hfe error pickles with its attributes, so it crosses process boundaries
    (multiprocessing, Ray workers) as itself.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception's own reduce calls cls(*args), which keyword-only attributes cannot survive.
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


class ConfigurationError(HfeError, ValueError):
    """A setting is missing, malformed or conflicts with another one."""


class ModeNotAvailableError(ConfigurationError):
    """The requested mode (``tei`` or ``endpoint``) is not shipped in this release."""


class DimensionMismatchError(ConfigurationError):
    """A configured dimension (mem0 ``embedding_dims``, embedchain ``vector_dimension``) disagrees.

    Attributes:
        expected: the dimension the configuration asked for.
        actual: the dimension the model actually produces.
    """

    def __init__(self, message: str, *, expected: int, actual: int) -> None:
        super().__init__(message)
        self.expected = expected
        self.actual = actual


class InvalidInputError(HfeError, ValueError):
    """One or more inputs cannot be embedded as given.

    Attributes:
        indices: positions of the offending inputs in the list the caller passed.
    """

    def __init__(self, message: str, *, indices: Sequence[int] = ()) -> None:
        super().__init__(message)
        self.indices: list[int] = list(indices)


class InputTypeError(InvalidInputError, TypeError):
    """An input has the wrong type: a ``str`` where a list belongs, ``None``, bytes, a number."""


class InputTooLongError(InvalidInputError):
    """An input is longer than the model accepts and the truncation policy is ``"error"``.

    Attributes:
        token_counts: token count (special tokens and prompt included) of each offending input,
            in the order of :attr:`indices`.
        max_tokens: the model's limit.
    """

    def __init__(
        self,
        message: str,
        *,
        indices: Sequence[int],
        token_counts: Sequence[int],
        max_tokens: int,
    ) -> None:
        super().__init__(message, indices=indices)
        self.token_counts: list[int] = list(token_counts)
        self.max_tokens = max_tokens


class BadRowError(InvalidInputError):
    """Records of an input file that cannot be embedded (no text, not a string, empty), in a batch job.

    Attributes:
        bad_rows: the offending records (:class:`hfe_core.corpus.BadRow`: index, line, reason), at most
            the first few; ``count`` says how many there are in all.
        count: how many bad records were found.
        path: the input file.
    """

    def __init__(self, message: str, *, bad_rows: Sequence[Any], count: int, path: str) -> None:
        super().__init__(message, indices=[row.index for row in bad_rows])
        self.bad_rows = list(bad_rows)
        self.count = count
        self.path = path


class BackendUnavailableError(HfeError, ImportError):
    """An optional dependency a mode needs is not installed; the message names the extra."""


class ModelLoadError(HfeError, OSError):
    """The model could not be found or loaded (wrong id or path, offline, private without a token)."""


class OutputWriteError(HfeError, OSError):
    """The output or the job's work folder could not be written.

    A read-only folder or file system, a full disk, no permission, a path through a file. The
    message names the file and says what to do. Chunks committed before the failure are kept:
    once there is room (or the folder is writable), the same call resumes.

    Attributes:
        path: the file or folder that could not be written.
        errno: the operating system's error number (``errno.ENOSPC``...), when there is one.
    """

    def __init__(self, message: str, *, path: str, code: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        if code is not None:
            self.errno = code


class EmbeddingError(HfeError, RuntimeError):
    """Embedding failed part-way through a call.

    Nothing already computed is lost: :attr:`partial_embeddings` holds, in input
    order, the vector of every input that was embedded and ``None`` for the others,
    whose positions are listed in :attr:`failed_indices`.
    """

    #: True for failures that doom every request of the call (bad credentials, wrong URL):
    #: the call stops at once instead of trying its other batches.
    aborts_call: bool = False

    def __init__(
        self,
        message: str,
        *,
        failed_indices: Sequence[int] = (),
        partial_embeddings: Sequence[list[float] | None] = (),
    ) -> None:
        super().__init__(message)
        self.failed_indices: list[int] = list(failed_indices)
        self.partial_embeddings: list[list[float] | None] = list(partial_embeddings)


class EmbeddingRequestError(EmbeddingError):
    """A server answered a request with an error status.

    Attributes:
        status_code: the HTTP status, when there was one.
        server_message: the server's own error text.
        request_id: the server's request id, to quote in a bug report.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        server_message: str | None = None,
        request_id: str | None = None,
        failed_indices: Sequence[int] = (),
        partial_embeddings: Sequence[list[float] | None] = (),
    ) -> None:
        super().__init__(message, failed_indices=failed_indices, partial_embeddings=partial_embeddings)
        self.status_code = status_code
        self.server_message = server_message
        self.request_id = request_id


class AuthenticationError(EmbeddingRequestError, PermissionError):
    """The server refused the credentials (401/403): a missing, wrong or expired token or API key."""

    aborts_call = True


class NotFoundError(EmbeddingRequestError):
    """The server answered 404: the URL is wrong, or the server lacks that route."""

    aborts_call = True


class RequestRejectedError(EmbeddingRequestError, ValueError):
    """The server refused the inputs as invalid (TEI ``Validation``/``Empty``/``Tokenizer`` errors)."""


class RateLimitedError(EmbeddingRequestError):
    """The server kept answering 429 until the retry budget was spent."""


class ServerError(EmbeddingRequestError):
    """The server failed (5xx, 424) or could not be reached until the retry budget was spent."""


class EndpointPausedError(EmbeddingRequestError):
    """A Hugging Face Inference Endpoint is paused; no request wakes it, it must be resumed.

    Attributes:
        endpoint_name: the endpoint's name, when hfe knows it.
    """

    aborts_call = True

    def __init__(self, message: str, *, endpoint_name: str | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.endpoint_name = endpoint_name


class EndpointFailedError(EmbeddingRequestError):
    """A Hugging Face Inference Endpoint is in the ``failed`` or ``updateFailed`` state."""

    aborts_call = True


class EndpointNotReadyError(ServerError, TimeoutError):
    """An endpoint (or a serverless model) was still starting when ``cold_start_timeout`` ran out."""


class EmbeddingTimeoutError(EmbeddingError, TimeoutError):
    """A request ran past its deadline (``timeout`` covers it whole, connect to last byte).

    Raised once the retry budget is spent on requests that each ran out of time: a stalled
    server, or one that trickles its answer. Like every :class:`EmbeddingError` it keeps the
    vectors of the batches that succeeded.
    """


class ResponseFormatError(EmbeddingError, ValueError):
    """A server answered with a body that is not the embeddings that were asked for.

    Not finite, not numbers, the wrong count, an empty vector, or another dimension than the
    call's other answers. No vector is ever built from such an answer; the other batches'
    vectors are kept in :attr:`partial_embeddings`.
    """


class TokenLevelOutputError(ResponseFormatError):
    """The model answered one vector per token, not one per text: it is not a sentence-embedding model.

    ``pooling="mean"`` averages the token vectors client-side.
    """
