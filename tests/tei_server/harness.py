"""``TEIServer``: the server in a background thread with its own event loop."""

from __future__ import annotations

import asyncio
import socket
import threading
from types import TracebackType
from typing import Any

from .config import TEIConfig
from .server import TEIApp, serve
from .stats import ServerStats


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class TEIServer:
    """A TEI-protocol server on loopback, run in a daemon thread.

    >>> with TEIServer(TEIConfig(version="1.8.3")) as server:  # doctest: +SKIP
    ...     httpx.post(server.url + "/embed", json={"inputs": "test"})

    ``start()`` returns once the port listens, except with ``startup_delay_s > 0`` (or
    ``wait=False``), where it returns at once with the port chosen and the port refusing connections;
    ``wait_ready()`` then waits. ``stop()`` closes the port; ``restart()`` stops and starts again on
    the same port, re-reading ``config`` (the model stays loaded in the process).
    """

    def __init__(self, config: TEIConfig | None = None, *, port: int | None = None, **changes: Any) -> None:
        base = config if config is not None else TEIConfig()
        self.config = base.copy(**changes) if changes else base
        self.stats = ServerStats()
        self._port = port
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._stopping = threading.Event()
        self._ready = threading.Event()
        self._listening = False
        self._error: BaseException | None = None
        self.app: TEIApp | None = None

    # -- properties ------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The TCP port (known once ``start()`` returned)."""
        if self._port is None:
            raise RuntimeError("the server has not been started")
        return self._port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        host = self.config.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        """True while the port listens."""
        return self._listening and self._thread is not None and self._thread.is_alive()

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self, wait: bool | None = None, timeout: float = 300.0) -> TEIServer:
        """Start serving; see the class docstring for when it waits."""
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError("the server is already running")
        if wait is None:
            wait = self.config.startup_delay_s <= 0
        if self._port is None and (not wait or self.config.startup_delay_s > 0):
            self._port = _free_port(self.config.host)
        self._ready.clear()
        self._stopping.clear()
        self._listening = False
        self._error = None
        self._thread = threading.Thread(target=self._thread_main, name="tei-test-server", daemon=True)
        self._thread.start()
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 300.0) -> None:
        """Block until the port listens; raise if the server failed to start."""
        if not self._ready.wait(timeout):
            raise TimeoutError(f"the TEI test server did not listen within {timeout} s")
        if self._error is not None:
            raise RuntimeError(f"the TEI test server failed to start: {self._error!r}") from self._error
        if not self._listening:
            raise RuntimeError("the TEI test server stopped before listening")

    def stop(self, timeout: float = 60.0) -> None:
        """Close the port and stop the thread (in-flight requests get ``shutdown_timeout_s``)."""
        thread = self._thread
        if thread is None:
            return
        self._stopping.set()
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            try:
                loop.call_soon_threadsafe(stop.set)
            except RuntimeError:  # the loop already closed
                pass
        thread.join(timeout)
        if thread.is_alive():
            raise TimeoutError("the TEI test server did not stop")
        self._thread = None
        self._listening = False

    def restart(self, wait: bool | None = None, timeout: float = 300.0) -> TEIServer:
        """Stop, then start on the same port with the (possibly changed) ``config``."""
        self.stop()
        return self.start(wait=wait, timeout=timeout)

    def reseed(self, seed: int | None = None) -> None:
        """Restart the fault-injection sequence (from ``seed``, default ``config.seed``)."""
        app, loop = self.app, self._loop
        if app is None or loop is None:
            raise RuntimeError("the server is not running")
        value = self.config.seed if seed is None else seed
        asyncio.run_coroutine_threadsafe(self._reseed(app, value), loop).result(10)

    @staticmethod
    async def _reseed(app: TEIApp, seed: int) -> None:
        app.faults.reseed(seed)

    def __enter__(self) -> TEIServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- the thread ------------------------------------------------------------------------------
    def _thread_main(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            self.app = TEIApp(self.config, self.stats)
            if self._stopping.is_set():
                return
            self._loop = loop
            self._stop = asyncio.Event()
            loop.run_until_complete(serve(self.app, self._port or 0, self._stop, self._on_listening))
        except BaseException as exc:  # reported by wait_ready()
            self._error = exc
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                self._loop = None
                self._listening = False
                loop.close()
                self._ready.set()

    def _on_listening(self, port: int) -> None:
        self._port = port
        self._listening = True
        self._ready.set()
