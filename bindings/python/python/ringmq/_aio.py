"""asyncio support: awaitable polls, publishes and close, and push handlers
that are coroutines.

Every call first does what it can without waiting, on the loop's thread (a
short call that holds the GIL).

A poll that finds nothing waits on the subscription's readiness descriptor
with ``loop.add_reader``: no thread, no polling; the engine makes it
readable when a poll may take something. One reader per loop and
subscription serves its waiting tasks in order (see ``_Waiters``). Where
there is no descriptor (not Linux) or the loop has no readers, the wait runs
as the other waits below.

A wait for room in a full ring, or a close's drain, runs in one engine call
on a thread of its own (not the loop's default executor, whose few threads
idle consumers would use up), detached from the GIL, with an interrupt that
the task's cancellation (or any other exception in the awaiting task) sets:
the wait then ends at once, having published nothing, so no thread is left
waiting.

Messages taken for a task cancelled at that very moment are requeued, so
they are delivered again at once, not counted as an attempt.

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
import collections
import inspect
import threading
import weakref
from typing import (
    TYPE_CHECKING,
    Any,
    Awaitable,
    Callable,
    Deque,
    Dict,
    List,
    Optional,
    Tuple,
    TypeVar,
)

from ._ringmq import Closed, Message, _Interrupt

if TYPE_CHECKING:  # pragma: no cover
    from ._ringmq import Broker, PullSubscription, _Completion, _PendingPublish
    from ._types import CloseReport

T = TypeVar("T")

def _release(result: object) -> None:
    """Requeues messages nobody will get (not counted as attempts)."""
    if isinstance(result, list):
        for m in result:
            if isinstance(m, Message) and not m.settled:
                try:
                    m.requeue()
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


def _give_back(fut: "asyncio.Future[T]", discard: Callable[[object], None]) -> None:
    """For a task cancelled after ``fut`` got its answer, before the task
    could resume with it: ``discard`` it (messages go back at once)."""
    if fut.done() and not fut.cancelled() and fut.exception() is None:
        discard(fut.result())


async def _interruptible(
    call: "Callable[[_Interrupt], T]",
    name: str,
    discard: Callable[[object], None] = lambda r: None,
) -> T:
    """``call(interrupt)`` on a thread of its own (see ``_off_loop``); a
    cancellation of the awaiting task sets the interrupt, which ends the
    call's wait having changed nothing, and discards what it had got."""
    stop = _Interrupt()
    fut = _off_loop(lambda: call(stop), name, discard)
    try:
        return await fut
    except BaseException:
        stop.interrupt()
        _give_back(fut, discard)
        raise


async def ready(value: T) -> T:
    """An awaitable answering ``value``."""
    return value


async def failed(error: BaseException) -> Any:
    """An awaitable raising ``error``."""
    raise error


# Pull subscriptions.


class _Waiters:
    """The tasks of one event loop waiting on one subscription, in order,
    served when its readiness descriptor becomes readable: each with a poll
    that does not wait, on the loop's thread, until one takes nothing (which
    re-arms the descriptor). The reader is removed when nobody waits."""

    __slots__ = ("loop", "fd", "queue", "reading")

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int) -> None:
        self.loop = loop
        self.fd = fd
        self.queue: "Deque[_Waiting]" = collections.deque()
        self.reading = False

    def ready(self) -> None:
        q = self.queue
        while q:
            fut, sub, max = q[0]
            if fut.done():  # cancelled, or timed out
                q.popleft()
                continue
            try:
                got = sub.poll_batch(max, 0)
            except BaseException as e:  # Closed, most likely: this waiter's
                q.popleft()
                fut.set_exception(e)
                continue
            if not got:
                break  # re-armed: the next readiness serves the rest
            q.popleft()
            fut.set_result(got)
        if not q:
            self.stop()

    def forget(self, entry: "_Waiting") -> None:
        try:
            self.queue.remove(entry)
        except ValueError:
            pass
        if not self.queue:
            self.stop()

    def stop(self) -> None:
        if self.reading:
            self.reading = False
            self.loop.remove_reader(self.fd)
        waiting = _WAITERS.get(self.loop)
        if waiting is not None and waiting.get(self.fd) is self:
            del waiting[self.fd]


if TYPE_CHECKING:  # pragma: no cover
    _Waiting = Tuple["asyncio.Future[List[Message]]", "PullSubscription", int]

# Per event loop: the waiters of each subscription (by descriptor). Loops
# are held weakly: a loop that goes away takes its waiters with it.
_WAITERS: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Dict[int, _Waiters]]" = (
    weakref.WeakKeyDictionary()
)


def _expire(fut: "asyncio.Future[List[Message]]") -> None:
    if not fut.done():
        fut.set_result([])


async def _wait(sub: "PullSubscription", max: int, timeout: Optional[float]) -> "List[Message]":
    """Up to max messages, waiting up to timeout for the subscription's
    readiness descriptor on the running loop (a thread of its own where
    there is none)."""
    loop = asyncio.get_running_loop()
    fd = sub._readiness_fd()
    if fd is None:
        return await _wait_in_thread(sub, max, timeout)
    per_loop = _WAITERS.get(loop)
    if per_loop is None:
        per_loop = _WAITERS[loop] = {}
    waiters = per_loop.get(fd)
    if waiters is None:
        waiters = per_loop[fd] = _Waiters(loop, fd)
    fut: "asyncio.Future[List[Message]]" = loop.create_future()
    entry: "_Waiting" = (fut, sub, max)
    waiters.queue.append(entry)
    if not waiters.reading:
        try:
            loop.add_reader(fd, waiters.ready)
        except NotImplementedError:  # a loop without readers (Windows' proactor)
            waiters.forget(entry)
            return await _wait_in_thread(sub, max, timeout)
        waiters.reading = True
    fut.add_done_callback(lambda _: waiters.forget(entry))
    timer = loop.call_later(timeout, _expire, fut) if timeout is not None else None
    try:
        return await fut
    except BaseException:
        _give_back(fut, _release)
        raise
    finally:
        if timer is not None:
            timer.cancel()


async def _wait_in_thread(
    sub: "PullSubscription", max: int, timeout: Optional[float]
) -> "List[Message]":
    """Up to max messages, waiting on a thread of its own up to timeout."""
    return await _interruptible(
        lambda stop: sub._wait(max, timeout, stop), "ringmq-aio-wait", _release
    )


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
    return await _interruptible(lambda stop: pending._wait(timeout, stop), "ringmq-aio-publish")


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


def _retrieved(task: "asyncio.Future[None]") -> None:
    # What a handler's task lets out (KeyboardInterrupt, SystemExit) has
    # already gone out of the loop to the program: not to be logged again
    # as never retrieved.
    if not task.cancelled():
        task.exception()


def run_handler(aw: "Awaitable[object]", done: "_Completion") -> None:
    """On the loop: runs an awaitable a handler returned, as a task."""
    try:
        task = asyncio.ensure_future(_handle(aw, done))
    except BaseException:
        done._release("the handler's awaitable could not be scheduled")
        raise
    task.add_done_callback(_retrieved)


def start_handler(
    handler: "Callable[[Message], object]", msg: "Message", done: "_Completion"
) -> None:
    """On the loop: calls a coroutine handler and runs its coroutine."""
    try:
        aw = handler(msg)
    except asyncio.CancelledError:
        done._release("the handler was cancelled before it finished")
        raise
    except BaseException as e:
        if done._fail(e):
            raise
        return
    if inspect.isawaitable(aw):
        run_handler(aw, done)
    else:
        done._ack()
