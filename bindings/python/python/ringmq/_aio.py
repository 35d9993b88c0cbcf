"""asyncio support: awaitable polls, publishes and close, and push handlers
that are coroutines.

Every call first does what it can without waiting, on the loop's thread (a
short call that holds the GIL). A wait (an empty subscription, a full ring
under overflow="block", a close's drain) runs in one engine call on a thread
of its own (not the loop's default executor, whose few threads idle
consumers would use up), detached from the GIL, with an interrupt that the
task's cancellation (or any other exception in the awaiting task) sets: the
wait then ends at once, having taken or published nothing, so no thread is
left waiting. Messages a poll took at the very moment its task was cancelled
are nacked without delay, so they are delivered again at once.

Coroutine push handlers: a pool thread copies the message and schedules
``start_handler`` (or ``run_handler`` for an awaitable a plain function
returned) on the event loop that was running when ``subscribe()`` was
called, and returns; the handler's coroutine then completes the message's
completion (return: ack; an exception: the sync handlers' outcome rules). A
handler cancelled (its loop shutting down, say) or destroyed with its loop
nacks its message.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from typing import TYPE_CHECKING, Any, Awaitable, Callable, List, Optional, TypeVar

from ._ringmq import Closed, Message, _Interrupt

if TYPE_CHECKING:  # pragma: no cover
    from ._ringmq import Broker, PullSubscription, _Completion, _PendingPublish
    from ._types import CloseReport

T = TypeVar("T")

#: The reason given to messages released because their task was cancelled.
RELEASED = "released: the awaiting task was cancelled"


def _release(result: object) -> None:
    """Nacks, without delay, messages nobody will get."""
    if isinstance(result, list):
        for m in result:
            if isinstance(m, Message) and not m.settled:
                try:
                    m.nack(0, RELEASED)
                except Exception:  # closed meanwhile: nothing to give back
                    pass


def _settle(
    fut: "asyncio.Future[Any]",
    result: object,
    error: Optional[BaseException],
    discard: Callable[[object], None],
) -> None:
    if fut.done():
        # The awaiting task was cancelled meanwhile.
        discard(result)
        return
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(result)


def _off_loop(
    call: Callable[[], T], name: str, discard: Callable[[object], None] = lambda r: None
) -> "asyncio.Future[T]":
    """Runs ``call`` on a thread of its own; its answer settles the future."""
    loop = asyncio.get_running_loop()
    fut: "asyncio.Future[T]" = loop.create_future()

    def run() -> None:
        result: object = None
        error: Optional[BaseException] = None
        try:
            result = call()
        except BaseException as e:  # handed to the awaiting task
            error = e
        try:
            loop.call_soon_threadsafe(_settle, fut, result, error, discard)
        except RuntimeError:  # the loop is closed: nobody awaits any more
            discard(result)

    threading.Thread(target=run, name=name, daemon=True).start()
    return fut


async def ready(value: T) -> T:
    """An awaitable answering ``value``."""
    return value


async def failed(error: BaseException) -> Any:
    """An awaitable raising ``error``."""
    raise error


# Pull subscriptions.


async def _wait(sub: "PullSubscription", max: int, timeout: Optional[float]) -> "List[Message]":
    """Up to max messages, waiting on a thread of its own up to timeout."""
    stop = _Interrupt()
    fut = _off_loop(lambda: sub._wait(max, timeout, stop), "ringmq-aio-wait", _release)
    try:
        return await fut
    except BaseException:
        stop.interrupt()
        if fut.done() and not fut.cancelled() and fut.exception() is None:
            # The messages came, but the task was cancelled before it could
            # resume with them.
            _release(fut.result())
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
    """``async for msg in pull`` (or ``pull.aiter()``): ends when the
    subscription or its broker closes."""

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


# Publishing.


async def publish_wait(pending: "_PendingPublish", timeout: Optional[float]) -> Any:
    """Waits for room off the loop; cancellation ends the wait, publishing
    nothing (unless the publish had just completed)."""
    stop = _Interrupt()
    fut = _off_loop(lambda: pending._wait(timeout, stop), "ringmq-aio-publish")
    try:
        return await fut
    except BaseException:
        stop.interrupt()
        raise


# Closing.


async def aclose(mq: "Broker", drain: float) -> "CloseReport":
    """Closes off the loop. A cancellation cuts the drain short, waits for
    the broker to be fully closed, then propagates."""
    stop = _Interrupt()
    fut = _off_loop(lambda: mq._close_interruptible(drain, stop), "ringmq-aio-close")
    try:
        return await asyncio.shield(fut)
    except asyncio.CancelledError:
        stop.interrupt()
        while not fut.done():
            try:
                await asyncio.shield(fut)
            except asyncio.CancelledError:
                continue  # cancelled again: the close still finishes first
            except BaseException:
                break
        if not fut.cancelled():
            fut.exception()  # retrieved: it is the cancellation that goes on
        raise


async def aexit(mq: "Broker", drain: float) -> bool:
    await aclose(mq, drain)
    return False


# Coroutine push handlers.


def is_coroutine_handler(handler: object) -> bool:
    """True for an ``async def`` function (or a callable object whose
    ``__call__`` is one)."""
    if inspect.iscoroutinefunction(handler):
        return True
    if inspect.isroutine(handler) or isinstance(handler, type):
        return False
    return inspect.iscoroutinefunction(getattr(handler, "__call__", None))


async def _handle(aw: "Awaitable[object]", done: "_Completion") -> None:
    try:
        await aw
    except (asyncio.CancelledError, GeneratorExit):
        done._release("the handler was cancelled before it finished")
        raise
    except BaseException as e:
        if done._fail(e):
            # KeyboardInterrupt, SystemExit...: the subscription is stopped,
            # and asyncio lets it out of the loop to the program.
            raise
    else:
        done._ack()


def run_handler(aw: "Awaitable[object]", done: "_Completion") -> None:
    """On the loop: runs an awaitable a handler returned, as a task."""
    try:
        asyncio.ensure_future(_handle(aw, done))
    except BaseException:
        done._release("the handler's awaitable could not be scheduled")
        raise


def start_handler(
    handler: "Callable[[Message], object]", msg: "Message", done: "_Completion"
) -> None:
    """On the loop: calls a coroutine handler and runs its coroutine."""
    try:
        aw = handler(msg)
    except BaseException as e:
        if done._fail(e):
            raise
        return
    if inspect.isawaitable(aw):
        run_handler(aw, done)
    else:
        done._ack()
