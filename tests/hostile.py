"""A hostile HTTP server on loopback: it misbehaves on purpose, in the way each test chooses.

TEI's protocol is reproduced faithfully by ``tests/tei_server``; this one is the opposite. By
default it answers like a small TEI (``/info``, ``/embed``, ``/v1/embeddings``, ``/tokenize``,
with hashed unit vectors), and a test replaces any route by a function of the request that
returns a :class:`Reply`. A reply can:

* trickle its body a few bytes at a time (``trickle=seconds between writes``), or stall
  before the headers (``stall=``) or after them (``stall_body=``);
* echo the request's headers into its body (see :func:`echo_headers`);
* carry any status, headers and body: ``inf`` and huge numbers, booleans, empty vectors,
  mixed dimensions, wrong ``/info`` types, serverless shapes, redirects...

Every request is recorded (method, path, headers, body) and the server counts how many are
in flight at once, so tests can check concurrency and what was sent. Requests never leave the
machine: the server binds 127.0.0.1, and a trickle or stall ends when the server stops.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

__all__ = ["HostileServer", "Reply", "Request", "echo_headers", "hashed_vector"]


@dataclass
class Request:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Reply:
    """What the server answers; ``body`` that is not bytes or str is sent as JSON."""

    status: int = 200
    body: Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    #: Seconds between writes of ``chunk`` bytes of the body (0: all at once).
    trickle: float = 0.0
    chunk: int = 1
    #: Seconds to wait before the status line and headers.
    stall: float = 0.0
    #: Seconds to wait after the headers, before the body.
    stall_body: float = 0.0

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return json.dumps(self.body).encode("utf-8")


Handler = Callable[[Request], Reply]


def hashed_vector(text: str, dim: int) -> list[float]:
    """A deterministic unit vector for ``text`` (no model: the tests check plumbing, not meaning)."""
    seed = int.from_bytes(hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[:8], "little")
    vector = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return (vector / np.linalg.norm(vector)).astype(np.float32).tolist()  # type: ignore[no-any-return]


def echo_headers(status: int, *, as_json: bool = True) -> Handler:
    """A handler that answers ``status`` with the request's headers echoed in the body."""

    def handle(request: Request) -> Reply:
        lines = [f"{name}: {value}" for name, value in request.headers.items()]
        if as_json:
            return Reply(status, {"error": "debug echo: " + "; ".join(lines), "error_type": "Backend"})
        return Reply(status, "debug echo\n" + "\n".join(lines), {"content-type": "text/plain"})

    return handle


def _inputs(body: Any, key: str) -> list[str]:
    raw = body.get(key) if isinstance(body, dict) else None
    return [raw] if isinstance(raw, str) else list(raw or [])


class HostileServer:
    """The server; use it as a context manager, or through the ``hostile`` fixture.

    Args:
        dim: dimension of the default answers' vectors.
        max_input_length: what the default ``/info`` reports.
    """

    def __init__(self, *, dim: int = 8, max_input_length: int = 512) -> None:
        self.dim = dim
        self.info: dict[str, Any] = {
            "model_id": "hostile/test-model",
            "version": "1.9.3",
            "max_concurrent_requests": 512,
            "max_input_length": max_input_length,
            "max_batch_tokens": 16384,
            "max_client_batch_size": 32,
            "auto_truncate": True,
        }
        self.requests: list[Request] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.routes: dict[tuple[str, str], Handler] = {
            ("GET", "/info"): lambda _: Reply(200, self.info),
            ("POST", "/embed"): self.embed,
            ("POST", "/v1/embeddings"): self.openai_embed,
            ("POST", "/tokenize"): self.tokenize,
        }
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- defaults: a small, well-behaved TEI ----------------------------------------------------
    def vectors(self, texts: list[str]) -> list[list[float]]:
        return [hashed_vector(text, self.dim) for text in texts]

    def embed(self, request: Request) -> Reply:
        texts = _inputs(request.json, "inputs")
        if any(text == "" for text in texts):
            return Reply(
                400, {"error": "Input validation error: `inputs` cannot be empty", "error_type": "Empty"}
            )
        return Reply(200, self.vectors(texts))

    def openai_embed(self, request: Request) -> Reply:
        texts = _inputs(request.json, "input")
        data = [
            {"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(self.vectors(texts))
        ]
        return Reply(200, {"object": "list", "data": data, "model": "hostile/test-model"})

    def tokenize(self, request: Request) -> Reply:
        answer = []
        for text in _inputs(request.json, "inputs"):
            tokens, start = [], 0
            for word in text.split(" "):
                if word:
                    tokens.append(
                        {"id": 1, "text": word, "special": False, "start": start, "stop": start + len(word)}
                    )
                start += len(word) + 1
            answer.append(tokens)
        return Reply(200, answer)

    # -- configuration -----------------------------------------------------------------------------
    def on(self, method: str, path: str, handler: Handler | Reply) -> None:
        """Answer ``method path`` with ``handler`` (a function of the request, or a fixed reply)."""
        self.routes[(method, path)] = handler if callable(handler) else (lambda _: handler)

    def on_embed(self, make_vectors: Callable[[list[str], int], Any]) -> None:
        """Answer ``/embed`` with ``make_vectors(texts, call_number)`` as JSON (call_number from 0)."""
        calls = iter(range(1 << 30))
        lock = threading.Lock()

        def handle(request: Request) -> Reply:
            with lock:
                number = next(calls)
            return Reply(200, make_vectors(_inputs(request.json, "inputs"), number))

        self.on("POST", "/embed", handle)

    def sent(self, path: str) -> list[Request]:
        """The requests received on ``path``."""
        return [request for request in self.requests if request.path == path]

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- life cycle -------------------------------------------------------------------------------
    def start(self) -> HostileServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> HostileServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _wait(self, seconds: float) -> bool:
        """Sleep, unless the server stops first (False then)."""
        return not self._stopping.wait(seconds)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                request = Request(self.command, path, {k.lower(): v for k, v in self.headers.items()}, body)
                with server._lock:
                    server.requests.append(request)
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    handler = server.routes.get((self.command, path))
                    reply = handler(request) if handler else Reply(404, b"")
                    self._send(reply)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up: that is what some tests want
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _send(self, reply: Reply) -> None:
                if reply.stall and not server._wait(reply.stall):
                    return
                payload = reply.payload()
                self.send_response(reply.status)
                headers = {"content-type": "application/json", **reply.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.flush()
                if reply.stall_body and not server._wait(reply.stall_body):
                    return
                if not reply.trickle:
                    self.wfile.write(payload)
                    return
                for start in range(0, len(payload), reply.chunk):
                    self.wfile.write(payload[start : start + reply.chunk])
                    self.wfile.flush()
                    if not server._wait(reply.trickle):
                        return

            do_GET = _serve
            do_POST = _serve

        return _Handler


def serve(**kwargs: Any) -> Iterator[HostileServer]:
    """A started server, stopped at the end (the body of the ``hostile`` fixture)."""
    with HostileServer(**kwargs) as server:
        yield server
