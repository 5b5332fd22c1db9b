"""Where hfe sends a token, seen from the wire: a loopback proxy records every request's headers.

Embedders in tei and endpoint mode are built with ``url=`` on the hosts of the routing table
(``tests/unit/test_auth.py``) and ``proxies=`` pointing at a recording proxy on 127.0.0.1. For
``http://`` URLs it is a plain forward proxy; for ``https://`` URLs it terminates TLS itself
(``CONNECT``, then a certificate for the requested host signed by a CA made here with the
``openssl`` command, trusted through ``SSL_CERT_FILE``). The proxy answers every request itself,
as a TEI server would (``/info``, ``/embed``), and never resolves or contacts the target host;
name resolution of anything but loopback fails the test.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from hfe_core import Embedder

SECRET = "hf_RoutingCheckSecret0123456789abcdef"
DIMENSION = 3

#: Every host a case below talks to (one leaf certificate names them all).
TLS_HOSTS = (
    "huggingface.co",
    "router.huggingface.co",
    "api-inference.huggingface.co",
    "x.endpoints.huggingface.cloud",
    "abc.us-east-1.aws.endpoints.huggingface.cloud",
    "x.hf.space",
    "huggingface.co.evil.com",
    "evilhuggingface.co",
    "evil.com",
    "localhost",
)
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


# --- the recording proxy ----------------------------------------------------------------------------


@dataclass
class Seen:
    """One request as the proxy saw it."""

    scheme: str
    host: str
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class Recorder:
    requests: list[Seen] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def clear(self) -> None:
        with self.lock:
            self.requests.clear()
            self.errors.clear()


def _answer(path: str, body: bytes) -> tuple[int, Any]:
    """What a TEI server would say (the proxy answers itself; nothing is forwarded)."""
    route = path.split("?", 1)[0].rstrip("/")
    if route.endswith("/info"):
        return 200, {
            "model_id": "test/routing-model",
            "model_dtype": "float32",
            "max_concurrent_requests": 512,
            "max_input_length": 512,
            "max_batch_tokens": 16384,
            "max_client_batch_size": 32,
            "version": "1.9.0",
        }
    if route.endswith("/embed"):
        inputs = json.loads(body or b"{}").get("inputs", [])
        count = 1 if isinstance(inputs, str) else len(inputs)
        return 200, [[0.1 * (i + 1)] * DIMENSION for i in range(count)]
    return 404, {"error": f"no route {route}", "error_type": "NotFound"}


def _handler(recorder: Recorder, tls: ssl.SSLContext | None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        tunnel: str | None = None  # the host of a CONNECT tunnel, once TLS is terminated

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
            pass

        def do_CONNECT(self) -> None:  # noqa: N802 - http.server's naming
            host = self.path.rsplit(":", 1)[0].strip("[]")
            if tls is None:
                self.send_error(501, "no TLS in this run")
                return
            self.send_response(200, "Connection established")
            self.end_headers()
            self.wfile.flush()
            try:
                wrapped = tls.wrap_socket(self.connection, server_side=True)
            except (ssl.SSLError, OSError) as exc:
                with recorder.lock:
                    recorder.errors.append(f"TLS with the client for {host}: {exc}")
                self.close_connection = True
                return
            self.connection = wrapped
            self.rfile = wrapped.makefile("rb")
            self.wfile = wrapped.makefile("wb")
            self.tunnel = host
            self.close_connection = False  # go on reading requests inside the tunnel

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.tunnel is not None:
                scheme, host, path = "https", self.tunnel, self.path
            else:  # a forward proxy gets the absolute URL
                parts = urlsplit(self.path)
                scheme, host = parts.scheme, parts.hostname or ""
                path = parts.path + (f"?{parts.query}" if parts.query else "")
            with recorder.lock:
                recorder.requests.append(Seen(scheme, host, self.command, path, dict(self.headers.items())))
            status, payload = _answer(path, body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()

        do_GET = _serve  # noqa: N815 - http.server's naming
        do_POST = _serve  # noqa: N815 - http.server's naming

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, recorder: Recorder, tls: ssl.SSLContext | None) -> None:
        super().__init__(("127.0.0.1", 0), _handler(recorder, tls))
        self.recorder = recorder

    def handle_error(self, request: Any, client_address: Any) -> None:
        with self.recorder.lock:
            self.recorder.errors.append(repr(sys.exc_info()[1]))


# --- a CA and a certificate for every host, made here -----------------------------------------------


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)  # noqa: S603,S607


def _make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """(CA certificate, leaf certificate, leaf key): the leaf names every host of TLS_HOSTS."""
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl(
        "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=hfe test routing CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=folder,
    )  # fmt: skip
    _openssl(
        "req", "-new", *ec, "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=hfe test", cwd=folder
    )
    names = ",".join([*(f"DNS:{host}" for host in TLS_HOSTS), "IP:127.0.0.1"])
    (folder / "leaf.ext").write_text(
        f"subjectAltName={names}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n", encoding="utf-8"
    )
    _openssl(
        "x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "leaf.pem", "-days", "2", "-extfile", "leaf.ext",
        cwd=folder,
    )  # fmt: skip
    return folder / "ca.pem", folder / "leaf.pem", folder / "leaf.key"


@dataclass
class Proxy:
    url: str
    recorder: Recorder
    ca: Path | None


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    tls: ssl.SSLContext | None = None
    ca: Path | None = None
    if shutil.which("openssl"):
        ca, leaf, key = _make_certificates(tmp_path_factory.mktemp("routing-ca"))
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(leaf, key)
    recorder = Recorder()
    server = _Server(recorder, tls)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Proxy(f"http://127.0.0.1:{server.server_address[1]}", recorder, ca)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def routed(proxy: Proxy, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Proxy:
    """A clean environment, the proxy's CA trusted, and no name resolution but loopback."""
    import huggingface_hub.constants

    from hfe_core.auth import TOKEN_ENV_VARS

    for name in (*TOKEN_ENV_VARS, "TEI_API_KEY", "HFE_MODE", "HFE_URL", "HFE_MODEL", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    token_path = tmp_path / "token"
    monkeypatch.setenv("HF_TOKEN_PATH", str(token_path))
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(token_path))
    if proxy.ca is not None:
        monkeypatch.setenv("SSL_CERT_FILE", str(proxy.ca))
    real_getaddrinfo = socket.getaddrinfo

    def loopback_only(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name not in _LOOPBACK:
            raise AssertionError(f"the test tried to resolve {name!r}: nothing may leave this machine")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", loopback_only)
    proxy.recorder.clear()
    return proxy


# --- the cases ---------------------------------------------------------------------------------------

#: (mode, url, where the token comes from, whether it must reach the server).
CASES: list[tuple[str, str, str, bool]] = [
    # a token from HF_TOKEN: https on Hugging Face's hosts only
    ("tei", "https://huggingface.co", "HF_TOKEN", True),
    ("tei", "http://huggingface.co", "HF_TOKEN", False),
    ("tei", "https://HUGGINGFACE.CO:8443", "HF_TOKEN", True),
    ("tei", "https://router.huggingface.co/hf-inference", "HF_TOKEN", True),
    ("tei", "http://router.huggingface.co/hf-inference", "HF_TOKEN", False),
    ("tei", "https://api-inference.huggingface.co", "HF_TOKEN", True),
    ("tei", "https://x.endpoints.huggingface.cloud", "HF_TOKEN", True),
    ("tei", "http://x.endpoints.huggingface.cloud", "HF_TOKEN", False),
    ("tei", "https://x.hf.space", "HF_TOKEN", False),
    ("tei", "http://x.hf.space", "HF_TOKEN", False),
    ("tei", "https://huggingface.co.evil.com", "HF_TOKEN", False),
    ("tei", "http://huggingface.co.evil.com", "HF_TOKEN", False),
    ("tei", "https://evilhuggingface.co", "HF_TOKEN", False),
    ("tei", "https://huggingface.co@evil.com/", "HF_TOKEN", False),
    ("tei", "https://localhost:8443", "HF_TOKEN", False),
    ("tei", "http://localhost:8080", "HF_TOKEN", False),
    ("tei", "https://127.0.0.1:8443", "HF_TOKEN", False),
    ("tei", "http://127.0.0.1:8080", "HF_TOKEN", False),
    # the other HF variables and the stored login follow the same rule
    ("tei", "https://x.hf.space", "HUGGINGFACEHUB_API_TOKEN", False),
    ("tei", "http://localhost:8080", "HUGGINGFACE_API_KEY", False),
    ("tei", "https://huggingface.co", "HUGGINGFACE_API_KEY", True),
    ("tei", "https://x.hf.space", "login", False),
    ("tei", "http://localhost:8080", "login", False),
    ("tei", "https://x.endpoints.huggingface.cloud", "login", True),
    # an explicit token, and TEI's own key, go where they are told
    ("tei", "https://x.hf.space", "argument", True),
    ("tei", "http://localhost:8080", "argument", True),
    ("tei", "http://huggingface.co.evil.com", "argument", True),
    ("tei", "http://localhost:8080", "TEI_API_KEY", True),
    ("tei", "https://x.hf.space", "TEI_API_KEY", True),
    # endpoint mode with a dedicated endpoint's URL: the same HTTP client, the same rule
    ("endpoint", "https://x.endpoints.huggingface.cloud", "HF_TOKEN", True),
    ("endpoint", "https://abc.us-east-1.aws.endpoints.huggingface.cloud", "HF_TOKEN", True),
    ("endpoint", "http://x.endpoints.huggingface.cloud", "HF_TOKEN", False),
    ("endpoint", "https://x.hf.space", "HF_TOKEN", False),
    ("endpoint", "http://localhost:8080", "HF_TOKEN", False),
    ("endpoint", "https://x.hf.space", "login", False),
    ("endpoint", "https://x.hf.space", "argument", True),
    ("endpoint", "https://x.endpoints.huggingface.cloud", "argument", True),
]


@pytest.mark.parametrize(("mode", "url", "source", "sent"), CASES)
def test_the_token_reaches_only_the_servers_it_may(
    routed: Proxy, monkeypatch: pytest.MonkeyPatch, mode: str, url: str, source: str, sent: bool
) -> None:
    if url.startswith("https://") and routed.ca is None:
        pytest.skip("the openssl command is needed to make the TLS proxy's certificates")
    settings: dict[str, Any] = {"mode": mode, "url": url, "proxies": {"all://": routed.url}, "max_retries": 0}
    if source == "argument":
        settings["token"] = SECRET
    elif source == "login":
        Path(os.environ["HF_TOKEN_PATH"]).write_text(SECRET, encoding="utf-8")
    else:
        monkeypatch.setenv(source, SECRET)
    embedder = Embedder(**settings)
    try:
        assert embedder.settings.token_source == source
        vectors = embedder.embed_documents(["Paris is in France.", "Bern is in Switzerland."])
    finally:
        embedder.close()
    assert len(vectors) == 2 and len(vectors[0]) == DIMENSION

    recorder = routed.recorder
    assert not recorder.errors
    target = urlsplit(url)
    assert recorder.requests, "nothing went through the proxy"
    for seen in recorder.requests:  # every request went through the proxy, to the URL's host
        assert (seen.scheme, seen.host) == (target.scheme, (target.hostname or "").lower())
    assert {seen.path.rsplit("/", 1)[-1] for seen in recorder.requests} >= {"info", "embed"}
    for seen in recorder.requests:
        authorization = {k.lower(): v for k, v in seen.headers.items()}.get("authorization")
        if sent:
            assert authorization == f"Bearer {SECRET}", (seen.method, seen.path)
        else:
            assert not any(SECRET in value for value in seen.headers.values()), (seen.method, seen.path)
            assert not (authorization or "").startswith("Bearer"), (seen.method, seen.path)


def test_the_proxy_is_a_tls_proxy(routed: Proxy) -> None:
    """The https cases really are TLS-terminated: a client that does not trust the test CA is refused."""
    import certifi
    import httpx

    if routed.ca is None:
        pytest.skip("the openssl command is needed to make the TLS proxy's certificates")
    with (
        httpx.Client(proxy=routed.url, verify=ssl.create_default_context(cafile=certifi.where())) as client,
        pytest.raises(httpx.ConnectError),
    ):
        client.get("https://huggingface.co/info")
    with httpx.Client(proxy=routed.url) as client:  # trusts SSL_CERT_FILE, the test CA
        assert client.get("https://huggingface.co/info").json()["model_id"] == "test/routing-model"
