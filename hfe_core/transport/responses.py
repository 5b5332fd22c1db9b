"""HTTP answers become outcomes: the one place where a server's answer is judged, for every task.

* :func:`classify` maps an answer to what to do (``ok``, ``retry``, ``split``, ``fail``, ``absent``)
  and, for a failure, the typed error of :mod:`hfe_core.errors`;
* :func:`next_wait` says how long to wait before the next attempt, from the retry or the cold-start
  budget;
* :class:`_Scrubbed` and :func:`_scrub_error` keep credentials out of server texts before they are
  stored or logged.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from hfe_core.auth import redact
from hfe_core.errors import (
    AuthenticationError,
    EmbeddingError,
    NotFoundError,
    RateLimitedError,
    RequestRejectedError,
    ServerError,
)
from hfe_core.retry import RetryPolicy, parse_retry_after

__all__ = ["HTTPResponse", "classify", "next_wait"]

logger = logging.getLogger("hfe")

_orjson: Any
try:  # optional: faster parsing of large JSON answers
    import orjson as _orjson
except ImportError:  # pragma: no cover - depends on the environment
    _orjson = None


class HTTPResponse(Protocol):
    """What hfe reads of an HTTP answer (httpx's, or the one the openai client wraps)."""

    @property
    def status_code(self) -> int: ...  # noqa: D102

    @property
    def text(self) -> str: ...  # noqa: D102

    @property
    def headers(self) -> Mapping[str, str]: ...  # noqa: D102

    @property
    def content(self) -> bytes: ...  # noqa: D102

    def json(self) -> Any: ...  # noqa: D102


@dataclass(frozen=True)
class _Outcome:
    """What to do with one HTTP answer."""

    kind: str  # "ok", "retry", "split", "fail", "absent"
    error: EmbeddingError | None = None
    retry_after: float | None = None
    overloaded: bool = False
    #: A replica is starting (an endpoint scaling from zero, a model loading): retried along the
    #: cold-start budget instead of the retry budget.
    cold_start: bool = False
    #: The endpoint is paused; endpoint mode resumes it before the retry (``resume_if_paused``).
    paused: bool = False


@dataclass
class _Attempts:
    """One request's retry state: attempts and time spent, in the retry and cold-start budgets."""

    started: float = field(default_factory=time.monotonic)
    attempt: int = 0
    cold_started: float | None = None
    cold_attempt: int = 0


def _server_message(response: HTTPResponse) -> tuple[str, str | None]:
    """The server's error text and error type, from a JSON or plain-text body.

    Reads every shape an embedding server answers with: TEI's ``{"error", "error_type"}`` and its
    ``/v1`` ``{"message", "type", "code"}``; OpenAI's ``{"error": {"message", "type", "code"}}``
    (vLLM, Infinity, llama.cpp, LiteLLM...); FastAPI's ``{"detail": "..."}`` and its validation list
    ``{"detail": [{"loc": [...], "msg": "..."}]}`` (whose echoed ``input`` is left out: it may be a
    whole text); a list of messages (the serverless API); or plain text.
    """
    text = response.text
    try:
        body = json.loads(text) if text else None
    except ValueError:
        return text.strip(), None
    if not isinstance(body, dict):
        return text.strip(), None
    error = body.get("error")
    if isinstance(error, dict):  # OpenAI: {"error": {"message", "type", "param", "code"}}
        message: Any = error.get("message") or error.get("detail") or json.dumps(error, ensure_ascii=False)
        code = error.get("code")
        kind = error.get("type") or (code if isinstance(code, str) else None)  # not a number: the status
    else:
        message = error or body.get("message") or body.get("detail") or body.get("msg") or text
        kind = body.get("error_type") or body.get("type")
    return _message_text(message), str(kind) if kind not in (None, "") else None


def _message_text(message: Any) -> str:
    """One line of text for a message that may be a list (FastAPI's validation errors, serverless)."""
    if isinstance(message, list):
        return "; ".join(_message_text(item) for item in message)
    if isinstance(message, dict) and "msg" in message:
        where = ".".join(str(part) for part in message.get("loc") or [] if part != "body")
        return f"{where}: {message['msg']}" if where else str(message["msg"])
    if isinstance(message, dict):
        return json.dumps(
            {key: value for key, value in message.items() if key != "input"}, ensure_ascii=False
        )
    return str(message)


class _Scrubbed:
    """An error answer as the error boundary reads it: body and headers without hfe's credentials."""

    def __init__(self, response: HTTPResponse, secrets: list[str]) -> None:
        self.status_code = response.status_code
        self.text = redact(response.text, secrets)
        self.headers: Mapping[str, str] = {
            name: redact(value, secrets) for name, value in response.headers.items()
        }
        self._secrets = secrets

    @property
    def content(self) -> bytes:
        """The body, scrubbed, as bytes."""
        return self.text.encode("utf-8")

    def json(self) -> Any:
        """The body, parsed (from the scrubbed text)."""
        return json.loads(self.text)


def _scrub_error(error: EmbeddingError, secrets: list[str]) -> None:
    """Remove ``secrets`` from an error's message and server text, in place."""
    error.args = tuple(redact(arg, secrets) if isinstance(arg, str) else arg for arg in error.args)
    message = getattr(error, "server_message", None)
    if isinstance(message, str):
        error.server_message = redact(message, secrets)  # type: ignore[attr-defined]


def classify(response: HTTPResponse, *, url: str, openai_server: bool = False) -> _Outcome:
    """Map one answer to success, retry, split or a typed error. The one error boundary of tei mode.

    Args:
        response: the server's answer.
        url: the URL hfe called (the route included), for messages.
        openai_server: the answer is an OpenAI-compatible server's that is not TEI (no TEI
            ``/info``): its 4xx bodies are that server's own, not TEI's validation errors.
    """
    status = response.status_code
    if status == 200:
        return _Outcome("ok")
    message, error_type = _server_message(response)
    request_id = response.headers.get("x-request-id")
    details: dict[str, Any] = {"status_code": status, "server_message": message, "request_id": request_id}
    tei_validation = error_type in _TEI_VALIDATION_TYPES
    if status == 413 and not tei_validation:
        return _Outcome("split")  # the payload limit (plain text, or any server's 413), not TEI's validation
    if status in (401, 403):
        return _Outcome(
            "fail",
            AuthenticationError(
                f"{url} answered {status}{f' ({message})' if message else ''}: the API key or token was "
                "refused. Pass api_key= (the server's "
                "key: TEI's --api-key, vLLM's, Infinity's...), or set TEI_API_KEY; an HF token from the "
                "environment is only sent to https URLs on huggingface.co, its subdomains and "
                "*.endpoints.huggingface.cloud.",
                **details,
            ),
        )
    if 300 <= status < 400:
        # httpx does not follow redirects here, on purpose: the request's credentials would go along.
        location = response.headers.get("location") or "(no Location header)"
        return _Outcome(
            "fail",
            NotFoundError(
                f"{url} answered {status}, a redirect to {location}. hfe does not follow redirects, so "
                "that no credential is sent where you did not point it: set url= to the server's real URL.",
                **details,
            ),
        )
    if status == 404:
        if _names_the_model(message):
            return _Outcome(
                "fail", NotFoundError(f"{url} answered 404 ({message}). {_MODEL_HINT}", **details)
            )
        return _Outcome(
            "fail", NotFoundError(f"{url} answered 404: no such route. {_route_hint(url)}", **details)
        )
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        return _Outcome(
            "retry",
            RateLimitedError(
                f"{url} answered 429 ({message}) until the retry budget ran out. Lower max_concurrency, "
                "raise max_retries/retry_timeout, or give the server more capacity.",
                **details,
            ),
            retry_after=retry_after,
            overloaded=True,
        )
    if status in (502, 503, 504):
        return _Outcome(
            "retry",
            ServerError(
                f"{url} answered {status} ({message or 'unavailable'}) until the retry budget ran out; "
                "the server may be starting or unhealthy.",
                **details,
            ),
            retry_after=parse_retry_after(response.headers.get("retry-after")),
        )
    if status == 400 or (status == 422 and openai_server) or (status in (413, 422) and tei_validation):
        hint = f" {_MODEL_HINT}" if _names_the_model(message) else ""
        return _Outcome(
            "fail",
            RequestRejectedError(
                f"{url} rejected the inputs ({status} {error_type or ''}): {message}{hint}", **details
            ),
        )
    if status == 422:
        return _Outcome(
            "fail",
            RequestRejectedError(
                f"{url} could not read hfe's request ({message}); this is a bug in hfe, please report it.",
                **details,
            ),
        )
    return _Outcome(
        "fail",
        ServerError(f"{url} answered {status}: {message}", **details),
    )


#: TEI's error types for a request it refused (validation), whatever the status (413 before 1.9, 422).
_TEI_VALIDATION_TYPES = frozenset({"Validation", "Empty", "Tokenizer"})
_MODEL_HINT = (
    "Pass model= with a name the server serves (an OpenAI-compatible server lists them at GET "
    "<base URL>/models)."
)


def _names_the_model(message: str) -> bool:
    """Whether a refusal is about the requested model (an unknown or missing ``model``)."""
    lowered = message.lower()
    return "model" in lowered and any(
        word in lowered
        for word in ("not found", "does not exist", "invalid model", "unknown model", "no model")
    )


def _route_hint(url: str) -> str:
    """What to do about a 404: which route hfe called, and how to point it elsewhere."""
    if url.endswith("/embeddings"):
        return (
            f"hfe posted to {url} (route='openai'). Check url=: it is the OpenAI base URL, the part "
            "before /embeddings (as the openai SDK's base_url), or a TEI server's root URL (hfe then posts "
            "to its /v1/embeddings). For example http://host:8080 (TEI), http://host:8000/v1 (vLLM), "
            "http://host:7997 (Infinity; http://host:7997/v1 with --url-prefix /v1), http://host:11434/v1 "
            "(Ollama). route='native' posts to TEI's /embed instead."
        )
    if url.endswith("/embed"):
        return (
            f"hfe posted to {url}, Text Embeddings Inference's native route (route='native'). Check url= "
            "(the TEI server's root URL, e.g. http://localhost:8080); for a server that is not TEI but "
            "OpenAI-compatible (vLLM, Infinity, llama.cpp, Ollama), pass route='openai'."
        )
    return f"hfe called {url}. Check url= (the server's root URL, e.g. http://localhost:8080)."


def next_wait(
    outcome: _Outcome,
    state: _Attempts,
    policy: RetryPolicy,
    cold_start_wait: Callable[[_Outcome, int, float], float | None],
) -> float | None:
    """The wait before the next attempt (``None``: give up), from the budget the outcome belongs to.

    A cold start (a replica starting, a model loading) is counted on its own budget from its first
    answer; every other transient failure on the retry policy from the request's first attempt.
    """
    if outcome.cold_start:
        now = time.monotonic()
        if state.cold_started is None:
            state.cold_started = now
        state.cold_attempt += 1
        return cold_start_wait(outcome, state.cold_attempt, now - state.cold_started)
    return policy.wait(state.attempt, time.monotonic() - state.started, outcome.retry_after)


def _loads(response: HTTPResponse) -> Any:
    """Parse a JSON answer: with orjson when it is installed (several times faster), else json."""
    if _orjson is not None:
        content = getattr(response, "content", None)
        if isinstance(content, bytes):
            return _orjson.loads(content)
    return response.json()
