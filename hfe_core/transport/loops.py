"""One object per running event loop, closed when that loop shuts down.

An async HTTP client belongs to the event loop it was first used in. A library that caches
one per loop and never closes it leaks its connections (and their file descriptors) every
time a caller runs ``asyncio.run(...)`` again: each run is a new loop. :class:`PerLoop`
keeps at most one object per *live* loop:

* the object is closed inside its own loop when that loop shuts down the way
  :func:`asyncio.run` (and ``loop.shutdown_asyncgens()``) does it: an async generator started
  in the loop holds it, and the loop finalizes its async generators before it closes;
* entries of loops that closed without that are dropped on the next access, so their
  objects are freed by the garbage collector;
* entries are held by a weak reference to the loop, never by ``id(loop)``, which a new loop
  may reuse.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["PerLoop"]

logger = logging.getLogger("hfe")

T = TypeVar("T")


class _Entry(Generic[T]):
    __slots__ = ("keeper", "value")

    def __init__(self, value: T) -> None:
        self.value = value
        self.keeper: AsyncGenerator[None, None] | None = None


class PerLoop(Generic[T]):
    """A lazily made object for each running event loop.

    Args:
        factory: makes the object (called inside the loop).
        aclose: closes it; awaited inside its loop when the loop shuts down, or by :meth:`aclose`.
    """

    def __init__(
        self, factory: Callable[[], T], aclose: Callable[[T], Awaitable[None]] | None = None
    ) -> None:
        self._factory = factory
        self._aclose = aclose
        self._entries: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Entry[T]] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """How many loops have an object (closed loops are counted until the next access)."""
        return len(self._entries)

    def _purge(self) -> None:
        for loop in [loop for loop in list(self._entries) if loop.is_closed()]:
            self._entries.pop(loop, None)

    def peek(self) -> T | None:
        """The running loop's object, if it has one (never makes one)."""
        entry = self._entries.get(asyncio.get_running_loop())
        return None if entry is None else entry.value

    async def get(self) -> T:
        """The running loop's object, made on first use and closed when the loop shuts down."""
        loop = asyncio.get_running_loop()
        entry = self._entries.get(loop)
        if entry is not None:
            return entry.value
        with self._lock:
            self._purge()
            entry = self._entries.get(loop)
            if entry is None:
                entry = _Entry(self._factory())
                self._entries[loop] = entry
                created = True
            else:
                created = False
        if created and self._aclose is not None:
            keeper = self._keeper(entry.value)
            entry.keeper = keeper
            await keeper.__anext__()  # started: the loop now finalizes it when it shuts down
        return entry.value

    async def _keeper(self, value: T) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            await self._close_quietly(value)

    async def _close_quietly(self, value: T) -> None:
        if self._aclose is None:
            return
        try:
            await self._aclose(value)
        except Exception as exc:  # noqa: BLE001 - closing must never mask the caller's outcome
            logger.debug("hfe: closing %r failed: %s", value, exc)

    async def aclose(self) -> None:
        """Close and forget the running loop's object now."""
        entry = self._entries.pop(asyncio.get_running_loop(), None)
        if entry is None:
            return
        if entry.keeper is not None:
            await entry.keeper.aclose()  # runs the keeper's finally: closes the value
        else:
            await self._close_quietly(entry.value)

    def clear(self) -> None:
        """Forget every loop's object (sync); each is closed by its loop's shutdown, or freed."""
        with self._lock:
            self._entries.clear()
