"""Requests in flight under an adaptive limit: one request's slot, sync and async.

The slot of a cancelled call is freed only when its request ends (the server works on it anyway), so
the client's count of the server's load stays true.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable
from typing import Any, TypeVar

from hfe_core.batching import AdaptiveLimit

T = TypeVar("T")


class _Slot:
    """One request's place under the adaptive limit; remembers whether the server pushed back."""

    def __init__(self, inputs: int) -> None:
        self.inputs = inputs
        self.overloaded = False
        self.epoch = 0
        #: The request of a cancelled call, still running: the slot is freed when it ends.
        self.abandoned: asyncio.Future[Any] | None = None


class _AsyncGate:
    """The adaptive limit of one event loop, with the slots' waiters.

    Entering and leaving run on the loop's thread and never await between the check and the
    change, so no lock is needed; :meth:`leave` is synchronous, which lets a done-callback free
    the slot of an abandoned request.
    """

    def __init__(self, limit: AdaptiveLimit) -> None:
        self.limit = limit
        self._waiters: set[asyncio.Future[None]] = set()

    async def enter(self, inputs: int) -> int:
        """Wait for room for a request of ``inputs`` inputs, take it, and return the limit's epoch."""
        while not self.limit.can_start(inputs):
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.add(waiter)
            try:
                await waiter
            finally:
                self._waiters.discard(waiter)
        return self.limit.start(inputs)

    def leave(self, slot: _Slot) -> None:
        """Free ``slot`` and wake the waiters (they check again whether they fit)."""
        self.limit.finish(slot.inputs, overloaded=slot.overloaded, epoch=slot.epoch)
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)


async def _finish_if_abandoned(request: Awaitable[T], slot: _Slot | None) -> T:
    """Await ``request``; if the caller is cancelled, let it run to its end and keep its slot till then.

    The server cannot tell that the caller gave up: it works on the request anyway. Letting the
    request finish (it is bounded by its deadline) and freeing its slot only then keeps the
    client's count of the server's load true.
    """
    task = asyncio.ensure_future(request)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        if slot is not None and not task.done():
            slot.abandoned = task
            task.add_done_callback(_consume)
        else:
            task.cancel()
        raise


def _consume(task: asyncio.Future[Any]) -> None:
    """Retrieve an abandoned request's outcome, so that asyncio does not report it as unhandled."""
    if not task.cancelled():
        task.exception()


class _SyncSlot(_Slot):
    def __init__(self, limit: AdaptiveLimit, cond: threading.Condition, inputs: int) -> None:
        super().__init__(inputs)
        self._limit = limit
        self._cond = cond

    def __enter__(self) -> _SyncSlot:
        with self._cond:
            self._cond.wait_for(lambda: self._limit.can_start(self.inputs))
            self.epoch = self._limit.start(self.inputs)
        return self

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._limit.finish(self.inputs, overloaded=self.overloaded, epoch=self.epoch)
            self._cond.notify_all()
