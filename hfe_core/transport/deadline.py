"""A total deadline per request, for httpx clients, sync and async.

httpx's ``timeout`` bounds each network operation: a server that trickles its answer one
byte a second, or sends its headers and then stalls, keeps a request alive for ever. Here
every read, write and connect of a request is bounded by the time left to the request's
deadline, so ``timeout`` covers the request whole, connect to last byte::

    client = with_deadlines(httpx.Client())
    with request_deadline(30.0):
        client.post(...)           # raises httpx.ReadTimeout (etc.) 30 s after it started at most

The deadline travels in a :class:`contextvars.ContextVar`, so it follows the thread (sync) or
the task (async) that sends the request, and a keep-alive connection shared by several
requests is bounded by the deadline of the request that uses it at the time. It is applied
through httpcore's network-backend interface, below TLS, so a TLS handshake and the headers
are covered too.
"""

from __future__ import annotations

import contextvars
import time
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx

__all__ = ["request_deadline", "time_left", "with_deadlines"]

_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("hfe_deadline", default=None)


@contextmanager
def request_deadline(seconds: float | None) -> Iterator[None]:
    """Bound every network operation inside the block by a deadline ``seconds`` from now.

    Args:
        seconds: the whole request's time limit; ``None`` for no deadline.
    """
    token = _DEADLINE.set(None if seconds is None else time.monotonic() + seconds)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def time_left() -> float | None:
    """Seconds left to the current deadline (``None`` when there is none); may be negative."""
    deadline = _DEADLINE.get()
    return None if deadline is None else deadline - time.monotonic()


def _bounded(timeout: float | None, error: type[Exception]) -> float | None:
    """``timeout`` cut to the time left; raise ``error`` when the deadline has passed."""
    left = time_left()
    if left is None:
        return timeout
    if left <= 0:
        raise error("the request ran past its deadline (timeout covers the whole request)")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, bounded))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.connect_tcp(host, port, bounded, local_address, socket_options))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: typing.Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.connect_unix_socket(path, bounded, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _AsyncStream(httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _AsyncStream(await self._inner.start_tls(ssl_context, server_hostname, bounded))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _AsyncBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        stream = await self._inner.connect_tcp(host, port, bounded, local_address, socket_options)
        return _AsyncStream(stream)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: typing.Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _AsyncStream(await self._inner.connect_unix_socket(path, bounded, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


ClientT = typing.TypeVar("ClientT", httpx.Client, httpx.AsyncClient)


def with_deadlines(client: ClientT) -> ClientT:
    """Make ``client`` keep to :func:`request_deadline`, on its own transport and every proxy's.

    The client is built the usual way (so httpx's proxy and environment handling stay as they
    are); then the network backend of each of its connection pools is wrapped.

    Args:
        client: a new :class:`httpx.Client` or :class:`httpx.AsyncClient` with httpx's own transports.

    Returns:
        The same client.

    Raises:
        TypeError: a transport is not one of httpx's HTTP transports (a custom or mock transport).
    """
    wrapper: Any = _AsyncBackend if isinstance(client, httpx.AsyncClient) else _Backend
    transports = [client._transport, *client._mounts.values()]
    for transport in transports:
        if transport is None:
            continue
        pool = getattr(transport, "_pool", None)
        inner = getattr(pool, "_network_backend", None)
        if inner is None:
            raise TypeError(f"cannot bound the requests of {type(transport).__name__} by a deadline")
        # httpx builds its httpcore pools (plain, HTTP proxy, SOCKS proxy) with the default network
        # backend and has no argument for another one; each pool keeps it in `_network_backend`.
        if not isinstance(inner, _Backend | _AsyncBackend):
            pool._network_backend = wrapper(inner)  # type: ignore[union-attr]
    return client
