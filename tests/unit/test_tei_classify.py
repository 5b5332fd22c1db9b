"""The tei error boundary as a table: every status and body shape TEI sends, mapped once.

The bodies are TEI's documented wire formats (tests/tei_server answers the same; the
integration tests check classify() on its real answers too).
"""

from __future__ import annotations

import httpx
import pytest

from hfe_core import (
    AuthenticationError,
    NotFoundError,
    RateLimitedError,
    RequestRejectedError,
    ServerError,
)
from hfe_core.backends.tei import ServerInfo, classify

URL = "http://tei.test"


def _json(status: int, body: object, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def _text(status: int, body: str) -> httpx.Response:
    return httpx.Response(status, text=body, headers={"content-type": "text/plain; charset=utf-8"})


VALIDATION = {"error": "batch size 40 > maximum allowed batch size 32", "error_type": "Validation"}


@pytest.mark.parametrize(
    ("response", "kind", "error"),
    [
        (httpx.Response(200, json=[[0.1, 0.2]]), "ok", None),
        (_json(413, VALIDATION), "fail", RequestRejectedError),  # TEI <= 1.8
        (_json(422, VALIDATION), "fail", RequestRejectedError),  # TEI >= 1.9
        (
            _json(
                413,
                {
                    "message": "batch size 100 > maximum allowed batch size 32",
                    "code": 413,
                    "type": "Validation",
                },
            ),
            "fail",
            RequestRejectedError,
        ),  # /v1 shape
        (_text(413, "Failed to buffer the request body: length limit exceeded"), "split", None),
        (
            _json(400, {"error": "Input validation error: `inputs` cannot be empty", "error_type": "Empty"}),
            "fail",
            RequestRejectedError,
        ),
        (_json(422, {"error": "tokenizer error x", "error_type": "Tokenizer"}), "fail", RequestRejectedError),
        (
            _text(422, "Failed to deserialize the JSON body into the target type: inputs: x"),
            "fail",
            RequestRejectedError,
        ),
        (
            _json(424, {"error": "Backend error: Model is not an embedding model", "error_type": "Backend"}),
            "fail",
            ServerError,
        ),
        (_json(429, {"error": "Model is overloaded", "error_type": "Overloaded"}), "retry", RateLimitedError),
        (_json(503, {"error": "unhealthy", "error_type": "Unhealthy"}), "retry", ServerError),
        (_text(502, "Bad Gateway"), "retry", ServerError),
        (_text(504, "Gateway Timeout"), "retry", ServerError),
        (_json(500, {"error": "boom"}), "fail", ServerError),
        (httpx.Response(401), "fail", AuthenticationError),
        (httpx.Response(403), "fail", AuthenticationError),
        (httpx.Response(404), "fail", NotFoundError),
    ],
)
def test_every_answer_maps_to_one_outcome(response: httpx.Response, kind: str, error: type | None) -> None:
    outcome = classify(response, url=URL)
    assert outcome.kind == kind
    if error is None:
        assert outcome.error is None
    else:
        assert type(outcome.error) is error
        assert outcome.error.status_code == response.status_code


def test_server_message_and_request_id_are_kept() -> None:
    outcome = classify(_json(422, VALIDATION, **{"x-request-id": "req-1"}), url=URL)
    assert outcome.error is not None
    assert outcome.error.server_message == VALIDATION["error"]
    assert outcome.error.request_id == "req-1"
    assert "batch size 40" in str(outcome.error)


def test_retry_after_is_read_and_429_is_back_pressure() -> None:
    outcome = classify(_json(429, {"error": "Rate limit reached"}, **{"retry-after": "3"}), url=URL)
    assert outcome.retry_after == 3.0 and outcome.overloaded
    assert not classify(_json(503, {"error": "unhealthy"}), url=URL).overloaded


def test_serverless_list_errors_are_joined() -> None:
    outcome = classify(_json(400, {"error": ["Field required: inputs", "bad"]}), url=URL)
    assert outcome.error is not None and outcome.error.server_message == "Field required: inputs; bad"


def test_server_info_tolerates_old_and_partial_bodies() -> None:
    old = ServerInfo.from_json(
        {
            "model_id": "BAAI/bge-m3",
            "version": "1.8.3",
            "max_client_batch_size": 16,
            "max_input_length": 4096,
            "auto_truncate": True,
        }
    )
    assert old.version_tuple == (1, 8, 3) and old.max_client_batch_size == 16
    assert old.max_batch_tokens == 16384 and old.served_model_name is None
    assert ServerInfo().version_tuple == (0,)
