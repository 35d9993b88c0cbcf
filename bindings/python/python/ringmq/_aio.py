"""asyncio support for pull subscriptions.

Waiting never blocks the event loop and never takes a thread: each step
polls without waiting (a short call that holds the GIL for well under a
microsecond when the subscription is empty) and, when nothing is there,
sleeps on the loop with an adaptive back-off that starts at a bare yield and
doubles up to ``MAX_SLEEP``. A consumer that keeps finding messages never
sleeps; an idle one wakes at most 1 / MAX_SLEEP times a second.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, List, Optional

from ._ringmq import Closed

if TYPE_CHECKING:  # pragma: no cover
    from ._ringmq import Message, PullSubscription

#: First non-zero sleep of the back-off, in seconds.
MIN_SLEEP = 0.0002
#: Longest sleep between two polls of an idle subscription, in seconds.
MAX_SLEEP = 0.01


def _next_sleep(delay: float) -> float:
    return MAX_SLEEP if delay * 2 > MAX_SLEEP else max(MIN_SLEEP, delay * 2)


async def poll(sub: "PullSubscription", timeout: Optional[float]) -> "Optional[Message]":
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    delay = 0.0
    while True:
        msg = sub.poll(0)
        if msg is not None:
            return msg
        if deadline is None:
            await asyncio.sleep(delay)
        else:
            left = deadline - loop.time()
            if left <= 0:
                return None
            await asyncio.sleep(min(delay, left))
        delay = _next_sleep(delay)


async def poll_batch(
    sub: "PullSubscription", max: int, timeout: Optional[float]
) -> "List[Message]":
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    delay = 0.0
    while True:
        batch = sub.poll_batch(max, 0)
        if batch:
            return batch
        if deadline is None:
            await asyncio.sleep(delay)
        else:
            left = deadline - loop.time()
            if left <= 0:
                return batch
            await asyncio.sleep(min(delay, left))
        delay = _next_sleep(delay)


class AsyncMessages:
    """``async for msg in pull.aiter()``: ends when the subscription closes."""

    __slots__ = ("_sub", "_delay")

    def __init__(self, sub: "PullSubscription") -> None:
        self._sub = sub
        self._delay = 0.0

    def __aiter__(self) -> "AsyncMessages":
        return self

    async def __anext__(self) -> "Message":
        sub = self._sub
        while True:
            try:
                msg = sub.poll(0)
            except Closed:
                raise StopAsyncIteration from None
            if msg is not None:
                self._delay = 0.0
                return msg
            await asyncio.sleep(self._delay)
            self._delay = _next_sleep(self._delay)
