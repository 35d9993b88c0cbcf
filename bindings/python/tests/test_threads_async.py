"""The GIL, signals and asyncio."""

import asyncio
import os
import signal
import threading
import time

import pytest

import ringmq


@pytest.mark.parametrize("how", ["poll", "poll_batch", "poll_raw"])
def test_blocking_poll_releases_the_gil(mq, how):
    t = mq.create_topic("gil")
    sub = t.pull("g")
    counter = 0
    stop = False

    def spin():
        nonlocal counter
        while not stop:
            counter += 1

    th = threading.Thread(target=spin)
    th.start()
    try:
        if how == "poll":
            assert sub.poll(timeout=0.3) is None
        else:
            assert len(getattr(sub, how)(8, timeout=0.3)) == 0
        during = counter
    finally:
        stop = True
        th.join()
    # A poll holding the GIL would have let the other thread run only at
    # switch intervals; detached, it runs all along.
    assert during > 10_000


def test_blocked_publish_releases_the_gil(mq):
    t = mq.create_topic("gilp", capacity=2)
    sub = t.pull("g")
    t.publish_many([b"a", b"b"])
    # Another Python thread frees room while this one waits for it.
    threading.Timer(0.1, lambda: sub.poll(timeout=1.0).ack()).start()
    assert t.publish(b"c", timeout=5.0) == 2


@pytest.mark.parametrize("how", ["poll", "poll_raw"])
def test_ctrl_c_interrupts_a_blocking_poll(mq, how):
    t = mq.create_topic("sig")
    sub = t.pull("g")
    main = threading.get_ident()
    fired = []

    def interrupt():
        fired.append(time.monotonic())
        signal.pthread_kill(main, signal.SIGINT)

    timer = threading.Timer(0.3, interrupt)
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        if how == "poll":
            sub.poll(timeout=None)
        else:
            sub.poll_raw(8, timeout=None)
    delay = time.monotonic() - fired[0]
    timer.join()
    assert delay < 0.5, delay
    # The interrupted wait took nothing.
    assert sub.stats()["delivered"] == 0
    t.publish(b"m")
    assert sub.poll(timeout=1.0).data == b"m"


def test_ctrl_c_interrupts_a_blocked_publish(mq):
    t = mq.create_topic("sigp", capacity=2)
    t.pull("g")
    t.publish_many([b"a", b"b"])
    fired = []

    def interrupt():
        fired.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)

    timer = threading.Timer(0.3, interrupt)
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        t.publish(b"c")
    assert time.monotonic() - fired[0] < 0.5
    timer.join()
    st = t.stats()
    assert (st["timed_out"], st["published"], st["depth"]) == (0, 2, 2)


def test_ctrl_c_interrupts_a_blocked_publish_many_with_a_timeout(mq):
    t = mq.create_topic("sigpm", capacity=2)
    t.pull("g")
    t.publish_many([b"a", b"b"])
    main = threading.get_ident()
    timer = threading.Timer(0.2, signal.pthread_kill, (main, signal.SIGINT))
    timer.start()
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        t.publish_many([b"c"], timeout=30.0)
    assert time.monotonic() - start < 0.2 + 0.5
    timer.join()
    st = t.stats()
    assert (st["timed_out"], st["published"]) == (0, 2)


def test_a_signal_whose_handler_returns_resumes_the_wait(mq):
    t = mq.create_topic("sigr")
    sub = t.pull("g")
    seen = []
    old = signal.signal(signal.SIGUSR1, lambda *_: seen.append(1))
    try:
        main = threading.get_ident()
        threading.Timer(0.1, signal.pthread_kill, (main, signal.SIGUSR1)).start()
        threading.Timer(0.3, t.publish, (b"late",)).start()
        msg = sub.poll(timeout=5.0)
    finally:
        signal.signal(signal.SIGUSR1, old)
    assert seen == [1]
    assert msg is not None and msg.data == b"late"


def test_asyncio_consumption(mq):
    t = mq.create_topic("aio")
    sub = t.pull("g")

    async def main():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.005)
                ticks += 1

        tick_task = asyncio.create_task(ticker())

        def produce():
            for i in range(100):
                t.publish(b"%d" % i)
                time.sleep(0.002)

        producer = threading.Thread(target=produce)
        producer.start()
        got = []
        async for msg in sub.aiter():
            got.append(int(msg.data))
            msg.ack()
            if len(got) == 100:
                break
        # Nothing for a while: the awaitable poll times out with None while
        # the loop keeps running.
        before = ticks
        assert await sub.poll_async(timeout=0.2) is None
        assert ticks - before >= 5
        producer.join()
        t.publish_many([b"x", b"y"])
        m = await sub.poll_async(timeout=2.0)
        m.ack()
        rest = await sub.poll_batch_async(10, timeout=2.0)
        assert sub.ack_all(rest) == 1
        tick_task.cancel()
        return got

    got = asyncio.run(main())
    assert got == list(range(100))


def test_asyncio_waits_can_be_cancelled(mq):
    sub = mq.create_topic("aioc").pull("g")

    async def main():
        task = asyncio.create_task(sub.poll_async())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    # The cancelled wait's thread ended with it, having taken nothing.
    deadline = time.monotonic() + 0.5
    while any(th.name == "ringmq-aio-wait" for th in threading.enumerate()):
        assert time.monotonic() < deadline, "a cancelled wait is still waiting"
        time.sleep(0.005)
    assert sub.stats()["delivered"] == 0


def test_async_iteration_ends_at_close():
    mq = ringmq.Broker()
    sub = mq.create_topic("aiox").pull("g")

    async def main():
        asyncio.get_running_loop().call_later(0.1, mq.close, 0)
        return [m async for m in sub.aiter()]

    assert asyncio.run(main()) == []


def test_bad_asyncio_arguments(mq):
    sub = mq.create_topic("aiob").pull("g")
    with pytest.raises(ringmq.InvalidArgument):
        sub.poll_async(timeout=-1)
    with pytest.raises(ringmq.InvalidArgument):
        sub.poll_batch_async(0)


def test_large_payloads_round_trip(mq):
    # 64 KiB and more are copied with the GIL released, both ways.
    t = mq.create_topic("big", capacity=8, slot_size=256 * 1024)
    sub = t.pull("g")
    seen = []
    done = threading.Event()

    def handler(msg):
        seen.append(msg.data)
        done.set()

    t.subscribe("push", handler)
    big = bytes(range(256)) * 800  # 200 KiB
    t.publish(big)
    t.publish(bytearray(big[:70_000]))
    t.publish_many([big[:65_536], memoryview(big)[1:100_001]])
    got = [m.data for m in sub.poll_batch(4, timeout=2.0)]
    while len(got) < 4:
        got.append(sub.poll(timeout=2.0).data)
    assert got == [big, big[:70_000], big[:65_536], big[1:100_001]]
    assert done.wait(5) and seen[0] == big


def test_handlers_run_on_pool_threads(mq):
    t = mq.create_topic("threads")
    names = []
    done = threading.Event()

    def handler(msg):
        names.append(threading.current_thread() is threading.main_thread())
        if len(names) == 20:
            done.set()

    t.subscribe("g", handler, concurrency=2)
    # The main thread keeps running Python while the handlers run.
    t.publish_many([b"x"] * 20)
    spins = 0
    while not done.is_set():
        spins += 1
        time.sleep(0.001)
    assert names == [False] * 20


def test_ctrl_c_interrupts_blocking_iteration(mq):
    sub = mq.create_topic("sigit").pull("g")
    main = threading.get_ident()
    timer = threading.Timer(0.2, signal.pthread_kill, (main, signal.SIGINT))
    timer.start()
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        for _ in sub:
            pass
    assert time.monotonic() - start < 0.2 + 0.5
    timer.join()
