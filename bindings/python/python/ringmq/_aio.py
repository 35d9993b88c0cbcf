"""asyncio support for pull subscriptions.

A poll first takes what is ready without waiting (a short call that holds
the GIL). When nothing is there, it waits in one core wait on a thread of
its own (not the loop's default executor, whose few threads idle consumers
would use up), detached from the GIL, with an interrupt that the task's
cancellation (or any other exception in the awaiting task) sets: the wait
then ends at once, taking nothing, so no thread is left waiting. A message
the wait took at the very moment of a cancellation is released unsettled
(it is delivered again), as any message dropped without a settle.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, List, Optional

from ._ringmq import Closed, _Interrupt

if TYPE_CHECKING:  # pragma: no cover
    from ._ringmq import Message, PullSubscription


def _settle(fut: "asyncio.Future[List[Message]]", result: "List[Message]", error: Optional[BaseException]) -> None:
    if fut.done():
        return
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(result)


async def _wait(sub: "PullSubscription", max: int, timeout: Optional[float]) -> "List[Message]":
    """Up to max messages, waiting on a thread of its own up to timeout."""
    loop = asyncio.get_running_loop()
    fut: "asyncio.Future[List[Message]]" = loop.create_future()
    stop = _Interrupt()

    def run() -> None:
        result: "List[Message]" = []
        error: Optional[BaseException] = None
        try:
            result = sub._wait(max, timeout, stop)
        except BaseException as e:  # handed to the awaiting task
            error = e
        try:
            loop.call_soon_threadsafe(_settle, fut, result, error)
        except RuntimeError:
            pass  # the loop is closed: nobody awaits any more

    threading.Thread(target=run, name="ringmq-aio-wait", daemon=True).start()
    try:
        return await fut
    except BaseException:
        stop.interrupt()
        raise


async def poll(sub: "PullSubscription", timeout: Optional[float]) -> "Optional[Message]":
    msg = sub.poll(0)
    if msg is not None or timeout == 0:
        return msg
    got = await _wait(sub, 1, timeout)
    return got[0] if got else None


async def poll_batch(
    sub: "PullSubscription", max: int, timeout: Optional[float]
) -> "List[Message]":
    batch = sub.poll_batch(max, 0)
    if batch or timeout == 0:
        return batch
    return await _wait(sub, max, timeout)


class AsyncMessages:
    """``async for msg in pull.aiter()``: ends when the subscription closes."""

    __slots__ = ("_sub",)

    def __init__(self, sub: "PullSubscription") -> None:
        self._sub = sub

    def __aiter__(self) -> "AsyncMessages":
        return self

    async def __anext__(self) -> "Message":
        sub = self._sub
        try:
            msg = sub.poll(0)
            while msg is None:
                got = await _wait(sub, 1, None)
                msg = got[0] if got else None
        except Closed:
            raise StopAsyncIteration from None
        return msg
