"""asyncio: async with / aclose, publish_async, coroutine push handlers,
async for, and cancellation that loses nothing."""

import asyncio
import collections
import random
import threading
import time

import pytest

import ringmq


def wait_until(cond, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


def no_thread_named(name, timeout=1.0):
    wait_until(lambda: not any(th.name == name for th in threading.enumerate()), timeout)


async def ticking(ticks):
    while True:
        await asyncio.sleep(0.005)
        ticks.append(1)


# Closing.


def test_async_with_drains_coroutine_handlers_without_blocking_the_loop():
    acked = []
    ticks = []

    async def main():
        tick = asyncio.create_task(ticking(ticks))
        async with ringmq.Broker() as mq:
            t = mq.create_topic("aw")

            async def handler(msg):
                await asyncio.sleep(0.02)
                acked.append(msg.id)

            t.subscribe("g", handler, concurrency=2)
            for i in range(20):
                t.publish(b"%d" % i)
            before = len(ticks)
        # The drain ran while the loop went on: the handlers (coroutines on
        # this loop) finished, and other tasks kept running.
        assert mq.closed
        during = len(ticks) - before
        tick.cancel()
        return during

    during = asyncio.run(main())
    assert sorted(acked) == list(range(20))
    assert during > 0


def test_aclose_returns_the_report_and_drains_pending_handlers():
    async def main():
        mq = ringmq.Broker()
        t = mq.create_topic("ac")
        started = asyncio.Event()
        done = []

        async def handler(msg):
            started.set()
            await asyncio.sleep(0.2)
            done.append(msg.id)

        t.subscribe("g", handler)
        t.publish(b"x")
        await started.wait()
        report = await mq.aclose(drain=5)
        return report, done

    report, done = asyncio.run(main())
    assert done == [0]
    assert report["timed_out"] is False
    assert report["in_flight"] == 0 and report["undelivered"] == 0
    assert report["handles_left"] == 0


def test_cancelling_aclose_cuts_the_drain_short_and_closes_fully():
    mq = ringmq.Broker()
    t = mq.create_topic("acc")
    sub = t.pull("g")
    t.publish(b"never taken")

    async def main():
        task = asyncio.create_task(mq.aclose(drain=30))
        await asyncio.sleep(0.1)
        assert not task.done()  # draining: the message is still there
        start = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - start

    took = asyncio.run(main())
    assert took < 5
    assert mq.closed
    # The broker is fully closed; close() answers the first report.
    report = mq.close()
    assert report["timed_out"] is True
    assert report["undelivered"] == 1
    with pytest.raises(ringmq.Closed):
        sub.poll(0)
    no_thread_named("ringmq-aio-close")


def test_aclose_and_async_with_refuse_bad_drain_and_report_errors():
    mq = ringmq.Broker()
    for bad in (-1, float("nan"), "1"):
        with pytest.raises((ringmq.InvalidArgument, TypeError)):
            mq.aclose(drain=bad)
    assert not mq.closed

    async def main():
        with pytest.raises(KeyError):
            async with mq:
                raise KeyError("out")
        # Left by an exception: closed without a drain, exception kept.
        assert mq.closed
        again = await mq.aclose()
        assert again["handles_left"] == 0

    asyncio.run(main())


def test_aexit_returns_false():
    async def main():
        mq = ringmq.Broker()
        assert await mq.__aenter__() is mq
        assert await mq.__aexit__(None, None, None) is False

    asyncio.run(main())


# publish_async.


def test_publish_async_publishes_with_the_publish_arguments(mq):
    t = mq.create_topic("pa", dedupe_window=60)
    sub = t.pull("g")

    async def main():
        a = await t.publish_async(b"a", key=3, headers={"h": "v"}, msg_id="m1")
        b = await t.publish_async(bytearray(b"b"), 4, 1.0)
        dup = await t.publish_async(b"again", msg_id="m1")
        ids = await t.publish_many_async([b"c", memoryview(b"d")], key=5)
        return a, b, dup, ids

    a, b, dup, ids = asyncio.run(main())
    assert (a, b, dup, ids) == (0, 1, 0, [2, 3])
    got = sub.poll_batch(10, timeout=1)
    assert [(m.data, m.key) for m in got] == [(b"a", 3), (b"b", 4), (b"c", 5), (b"d", 5)]
    assert got[0].headers == {"h": b"v"} and got[0].msg_id == b"m1"


def test_publish_async_bad_input_raises_and_publishes_nothing(mq):
    t = mq.create_topic("pab", slot_size=64)
    with pytest.raises(TypeError):
        t.publish_async("text")
    with pytest.raises(ringmq.InvalidArgument):
        t.publish_async(b"x", timeout=-1)
    with pytest.raises((ringmq.InvalidArgument, TypeError, OverflowError)):
        t.publish_async(b"x", key=-1)
    with pytest.raises((ringmq.InvalidArgument, TypeError)):
        t.publish_async(b"x", delay="soon")
    with pytest.raises(TypeError):
        t.publish_many_async(b"one bytes object")
    with pytest.raises(TypeError, match="item 1"):
        t.publish_many_async([b"ok", 5])

    async def too_large():
        with pytest.raises(ringmq.TooLarge):
            await t.publish_async(b"x" * 100)

    asyncio.run(too_large())
    assert t.stats()["published"] == 0


def test_publish_async_under_reject_raises_full(mq):
    t = mq.create_topic("par", capacity=2, overflow="reject")
    t.pull("g")

    async def main():
        await t.publish_many_async([b"a", b"b"])
        with pytest.raises(ringmq.Full):
            await t.publish_async(b"c")
        with pytest.raises(ringmq.Full):
            await t.publish_many_async([b"c"])

    asyncio.run(main())
    stats = t.stats()
    assert stats["published"] == 2 and stats["rejected"] == 2


def test_publish_async_waits_for_room_off_the_loop(mq):
    t = mq.create_topic("paw", capacity=2)
    sub = t.pull("g")
    t.publish_many([b"a", b"b"])
    ticks = []

    async def main():
        tick = asyncio.create_task(ticking(ticks))
        waiting = asyncio.create_task(t.publish_async(b"c", timeout=5))
        await asyncio.sleep(0.1)
        assert not waiting.done()
        assert len(ticks) > 0  # the loop runs while the publish waits
        m = await sub.poll_async(timeout=1)
        m.ack()
        new_id = await waiting
        with pytest.raises(ringmq.Timeout):
            await t.publish_async(b"d", timeout=0.05)
        with pytest.raises(ringmq.Timeout):
            await t.publish_async(b"d", timeout=0)
        tick.cancel()
        return new_id

    assert asyncio.run(main()) == 2
    assert t.stats()["published"] == 3


def test_cancelled_publish_async_publishes_nothing(mq):
    t = mq.create_topic("pac", capacity=2)
    t.pull("g")
    t.publish_many([b"a", b"b"])
    before = t.stats()

    async def main():
        one = asyncio.create_task(t.publish_async(b"c"))
        many = asyncio.create_task(t.publish_many_async([b"d", b"e"]))
        await asyncio.sleep(0.1)
        one.cancel()
        many.cancel()
        for task in (one, many):
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(main())
    no_thread_named("ringmq-aio-publish")
    after = t.stats()
    assert after["published"] == before["published"] == 2
    assert after["depth"] == before["depth"]


# Coroutine push handlers.


def test_coroutine_handlers_run_concurrently_on_the_subscribers_loop(mq):
    t = mq.create_topic("ch")
    state = {"now": 0, "max": 0, "done": 0}
    threads = set()

    async def main():
        finished = asyncio.Event()
        loop_thread = threading.current_thread()

        async def handler(msg):
            threads.add(threading.current_thread() is loop_thread)
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
            await asyncio.sleep(0.01)
            state["now"] -= 1
            state["done"] += 1
            if state["done"] == 40:
                finished.set()

        t.subscribe("g", handler, concurrency=8)
        t.publish_many([b"x"] * 40)
        await asyncio.wait_for(finished.wait(), 10)

    asyncio.run(main())
    assert threads == {True}
    assert state["max"] > 1
    assert state["max"] <= 8
    wait_until(lambda: t.subscription_stats()["g"]["acked"] == 40)


def test_many_coroutine_handler_calls_ack_each_message_once(mq):
    n = 10_000
    t = mq.create_topic("chn", capacity=1024)
    seen = collections.Counter()

    async def main():
        finished = asyncio.Event()

        async def handler(msg):
            if msg.id % 7 == 0:
                await asyncio.sleep(0)
            seen[msg.id] += 1
            if len(seen) == n:
                finished.set()

        t.subscribe("g", handler, concurrency=16)

        def produce():
            for i in range(0, n, 100):
                t.publish_many([b"m"] * 100)

        producer = threading.Thread(target=produce)
        producer.start()
        await asyncio.wait_for(finished.wait(), 30)
        producer.join()

    asyncio.run(main())
    assert len(seen) == n and set(seen.values()) == {1}
    wait_until(lambda: t.subscription_stats()["g"]["acked"] == n)
    stats = t.subscription_stats()["g"]
    assert stats["nacked"] == 0 and stats["in_flight"] == 0


def test_ordered_coroutine_handlers_keep_per_key_order(mq):
    t = mq.create_topic("cho")
    got = collections.defaultdict(list)
    rng = random.Random(7)

    async def main():
        finished = asyncio.Event()
        total = [0]

        async def handler(msg):
            await asyncio.sleep(rng.random() * 0.003)
            got[msg.key].append(int(msg.data))
            total[0] += 1
            if total[0] == 200:
                finished.set()

        t.subscribe("g", handler, concurrency=4, ordered_by_key=True)
        for i in range(200):
            t.publish(b"%d" % i, key=i % 5)
        await asyncio.wait_for(finished.wait(), 10)

    asyncio.run(main())
    for key in range(5):
        assert got[key] == [i for i in range(200) if i % 5 == key]


def test_failing_coroutine_handlers_retry_then_dead_letter(mq):
    t = mq.create_topic("chf", max_attempts=3, backoff_base=0.01, backoff_max=0.02)
    dlq = t.dead_letter_topic.pull("dl", start="earliest")
    attempts = []

    async def main():
        async def handler(msg):
            attempts.append(msg.attempt)
            await asyncio.sleep(0)
            raise ValueError("bad order")

        t.subscribe("g", handler)
        t.publish(b"x")
        return await dlq.poll_async(timeout=10)

    dead = asyncio.run(main())
    assert attempts == [1, 2, 3]
    assert dead is not None and dead.data == b"x"
    assert "ValueError: bad order" in dead.error
    assert dead.dead_letter_group == "g"
    stats = t.subscription_stats()["g"]
    assert stats["dead_lettered"] == 1 and "bad order" in stats["last_error"]


def test_coroutine_handlers_choose_retry_and_term(mq):
    t = mq.create_topic("chr", max_attempts=5)
    dlq = t.dead_letter_topic.pull("dl", start="earliest")
    attempts = collections.defaultdict(list)

    async def main():
        async def handler(msg):
            attempts[msg.data].append(msg.attempt)
            await asyncio.sleep(0)
            if msg.data == b"term":
                raise ringmq.Term("poison")
            if msg.attempt == 1:
                raise ringmq.Retry(0.01, "later")

        t.subscribe("g", handler)
        t.publish(b"term")
        t.publish(b"retry")
        dead = await dlq.poll_async(timeout=10)
        while t.subscription_stats()["g"]["acked"] < 1:
            await asyncio.sleep(0.01)
        return dead

    dead = asyncio.run(asyncio.wait_for(main(), 10))
    assert dead.data == b"term" and dead.error == "poison"
    assert attempts[b"term"] == [1]
    assert attempts[b"retry"] == [1, 2]


def test_plain_function_returning_an_awaitable_runs_on_the_loop(mq):
    t = mq.create_topic("chp")
    ran = []

    async def work(msg):
        await asyncio.sleep(0)
        ran.append(msg.id)

    async def main():
        t.subscribe("g", lambda msg: work(msg))

        class Handler:
            async def __call__(self, msg):
                ran.append(("obj", msg.id))

        t.subscribe("o", Handler())
        t.publish(b"x")
        while len(ran) < 2:
            await asyncio.sleep(0.01)

    asyncio.run(asyncio.wait_for(main(), 10))
    assert sorted(ran, key=str) == sorted([0, ("obj", 0)], key=str)


def test_pending_coroutine_handlers_nack_when_their_loop_ends(mq):
    t = mq.create_topic("chl", max_attempts=2, backoff_base=0.01, backoff_max=0.01)
    started = []

    async def main():
        async def handler(msg):
            started.append(msg.attempt)
            await asyncio.sleep(3600)

        t.subscribe("g", handler)
        t.publish(b"x")
        while not started:
            await asyncio.sleep(0.01)

    # asyncio.run cancels the pending handler when main returns: a nack;
    # the retry finds the loop closed: a failure that says so.
    asyncio.run(main())
    wait_until(lambda: t.subscription_stats()["g"]["dead_lettered"] == 1)
    stats = t.subscription_stats()["g"]
    assert "event loop" in stats["last_error"] and "closed" in stats["last_error"]
    assert stats["in_flight"] == 0


def test_a_handler_destroyed_with_its_loop_nacks(mq):
    t = mq.create_topic("chd", max_attempts=1)
    started = []
    loop = asyncio.new_event_loop()

    async def subscribe():
        forever = asyncio.Event()

        async def handler(msg):
            started.append(1)
            await forever.wait()

        t.subscribe("g", handler, concurrency=2)

    loop.run_until_complete(subscribe())
    t.publish(b"x")

    async def until_started():
        while not started:
            await asyncio.sleep(0.01)

    loop.run_until_complete(until_started())
    # Closed without cancelling its tasks: the handler's task never runs
    # again. The next message finds the loop closed: both are nacked (here:
    # dead-lettered), the pending one included.
    loop.close()
    t.publish(b"y")
    wait_until(lambda: t.subscription_stats()["g"]["dead_lettered"] == 2)
    stats = t.subscription_stats()["g"]
    assert stats["in_flight"] == 0 and "closed" in stats["last_error"]


def test_system_exit_in_a_coroutine_handler_stops_its_subscription(mq):
    t = mq.create_topic("chx")

    async def main():
        async def handler(msg):
            await asyncio.sleep(0)
            raise SystemExit(3)

        sub = t.subscribe("g", handler)
        t.publish(b"x")
        await asyncio.sleep(10)
        return sub

    with pytest.raises(SystemExit):
        asyncio.run(main())
    # Unsubscribed: the group is gone, nothing was counted as a failure.
    assert "g" not in t.subscription_stats()


# async for.


def test_async_for_directly_over_a_pull_subscription():
    mq = ringmq.Broker()
    t = mq.create_topic("af")
    sub = t.pull("g")

    async def main():
        t.publish_many([b"a", b"b"])
        asyncio.get_running_loop().call_later(0.2, mq.close, 0)
        got = []
        async for m in sub:
            got.append(m.data)
            m.ack()
        return got

    assert asyncio.run(main()) == [b"a", b"b"]


def test_async_for_ends_when_the_subscription_is_removed(mq):
    sub = mq.create_topic("afu").pull("g")

    async def main():
        asyncio.get_running_loop().call_later(0.1, sub.unsubscribe)
        return [m async for m in sub]

    assert asyncio.run(asyncio.wait_for(main(), 5)) == []


# Cancellation loses nothing.


def test_cancelled_polls_release_what_they_took_at_once():
    n = 3000
    mq = ringmq.Broker()
    # A long ack timeout: a message lost by a cancelled poll would only come
    # back after it, far past this test's deadline. The default max_attempts:
    # what a cancelled poll took is requeued, not counted as an attempt, so
    # however often one message is caught, it is never dead-lettered.
    t = mq.create_topic("cs", capacity=256, ack_timeout=60)
    sub = t.pull("g")
    acked = collections.Counter()
    rng = random.Random(11)

    async def poller(batch):
        while True:
            if batch:
                got = await sub.poll_batch_async(8, timeout=1)
            else:
                m = await sub.poll_async(timeout=1)
                got = [m] if m is not None else []
            for m in got:
                assert m.attempt == 1, "a requeue is not an attempt"
                m.ack()
                acked[m.id] += 1

    async def main():
        def produce():
            for i in range(n):
                t.publish(b"%d" % i)
                if i % 5 == 0:
                    time.sleep(0.001)

        producer = threading.Thread(target=produce)
        producer.start()
        tasks = [asyncio.create_task(poller(i % 2 == 0)) for i in range(16)]
        while producer.is_alive() or len(acked) < n or cancels[0] < 200:
            await asyncio.sleep(rng.random() * 0.003)
            i = rng.randrange(len(tasks))
            tasks[i].cancel()
            cancels[0] += 1
            tasks[i] = asyncio.create_task(poller(i % 2 == 0))
            assert time.monotonic() < deadline, f"only {len(acked)} of {n} acked"
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        producer.join()

    deadline = time.monotonic() + 30
    cancels = [0]
    asyncio.run(main())
    assert len(acked) == n and set(acked.values()) == {1}
    stats = sub.stats()
    assert stats["acked"] == n and stats["in_flight"] == 0
    assert stats["dead_lettered"] == 0
    mq.close(drain=0)


# Waits on the readiness descriptor.


def test_waiting_polls_use_no_thread_and_are_woken_by_publishes(mq):
    t = mq.create_topic("fd")
    sub = t.pull("g")
    if sub._readiness_fd() is None:
        pytest.skip("no readiness descriptor on this platform")

    async def main():
        before = threading.active_count()
        waiting = [asyncio.create_task(sub.poll_async(timeout=10)) for _ in range(50)]
        batch = asyncio.create_task(sub.poll_batch_async(5, timeout=10))
        await asyncio.sleep(0.05)
        during = threading.active_count()
        assert not any(w.done() for w in waiting) and not batch.done()
        t.publish_many([b"%d" % i for i in range(55)])
        got = await asyncio.wait_for(asyncio.gather(*waiting, batch), 5)
        return before, during, got

    before, during, got = asyncio.run(main())
    assert during == before  # fifty-one waits, not one thread more
    singles, batch = got[:50], got[50]
    ids = sorted([m.id for m in singles] + [m.id for m in batch])
    assert ids == list(range(55))
    for m in singles + batch:
        m.ack()
    assert sub.stats()["acked"] == 55


def test_a_poll_times_out_and_the_reader_goes(mq):
    sub = mq.create_topic("fdt").pull("g")

    async def main():
        start = time.monotonic()
        assert await sub.poll_async(timeout=0.1) is None
        assert await sub.poll_batch_async(3, timeout=0.1) == []
        took = time.monotonic() - start
        from ringmq import _aio

        return took, dict(_aio._WAITERS.get(asyncio.get_running_loop(), {}))

    took, left = asyncio.run(main())
    assert 0.2 <= took < 2
    assert left == {}  # nobody waits: no reader left on the loop


def test_one_subscription_on_two_event_loops_one_after_the_other(mq):
    t = mq.create_topic("fd2")
    sub = t.pull("g")

    async def consume(n):
        got = []
        async for m in sub:
            got.append(m.data)
            m.ack()
            if len(got) == n:
                return got

    for round in range(2):
        threading.Timer(0.05, t.publish_many, ([b"r%d-%d" % (round, i) for i in range(3)],)).start()
        got = asyncio.run(asyncio.wait_for(consume(3), 5))
        assert got == [b"r%d-%d" % (round, i) for i in range(3)]


def test_one_subscription_on_two_running_loops_at_once(mq):
    t = mq.create_topic("fd3")
    sub = t.pull("g")
    got = collections.Counter()
    both_waiting = threading.Barrier(3)

    def consumer():
        async def main():
            waiting = asyncio.create_task(sub.poll_batch_async(1000, timeout=2))
            await asyncio.sleep(0.05)
            await asyncio.get_running_loop().run_in_executor(None, both_waiting.wait)
            n = 0
            while n < 200:
                batch = await waiting
                if not batch:
                    return
                for m in batch:
                    got[m.id] += 1
                sub.ack_all(batch)
                n = sum(got.values())
                waiting = asyncio.create_task(sub.poll_batch_async(1000, timeout=0.5))
            waiting.cancel()

        asyncio.run(main())

    threads = [threading.Thread(target=consumer) for _ in range(2)]
    for th in threads:
        th.start()
    both_waiting.wait(timeout=5)
    for i in range(200):
        t.publish(b"%d" % i)
        if i % 10 == 0:
            time.sleep(0.001)
    for th in threads:
        th.join(timeout=10)
    assert len(got) == 200 and set(got.values()) == {1}
    assert sub.stats()["acked"] == 200


class _LoopWithoutReaders(asyncio.SelectorEventLoop):
    def add_reader(self, fd, callback, *args):
        raise NotImplementedError


def test_a_loop_without_readers_waits_on_a_thread_that_cancellation_ends(mq):
    t = mq.create_topic("fdn")
    sub = t.pull("g")
    loop = _LoopWithoutReaders()

    async def main():
        threading.Timer(0.05, t.publish, (b"late",)).start()
        m = await sub.poll_async(timeout=5)
        m.ack()
        batch = await sub.poll_batch_async(4, timeout=0.05)
        waiting = asyncio.create_task(sub.poll_async())
        await asyncio.sleep(0.05)
        assert any(th.name == "ringmq-aio-wait" for th in threading.enumerate())
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        return m.data, batch

    try:
        data, batch = loop.run_until_complete(main())
    finally:
        loop.close()
    assert data == b"late" and batch == []
    # The cancelled wait's thread ended with it, having taken nothing.
    no_thread_named("ringmq-aio-wait")
    assert sub.stats()["delivered"] == 1 and sub.stats()["in_flight"] == 0


def test_a_close_cut_short_under_pending_coroutine_handlers_loses_nothing_silently():
    ended = []

    async def main():
        mq = ringmq.Broker()
        t = mq.create_topic("acp")
        started = asyncio.Event()

        async def handler(msg):
            started.set()
            try:
                await asyncio.sleep(3600)
            finally:
                ended.append(msg.id)

        t.subscribe("g", handler, concurrency=2)
        t.publish_many([b"a", b"b", b"c"])
        await started.wait()
        closing = asyncio.create_task(mq.aclose(drain=60))
        await asyncio.sleep(0.05)
        assert not closing.done()  # the handlers hold the drain
        closing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await closing
        return mq

    mq = asyncio.run(asyncio.wait_for(main(), 10))
    # asyncio.run cancelled the two pending handlers; their completions
    # reached a closed broker and changed nothing.
    assert sorted(ended) == [0, 1]
    report = mq.close()
    assert report["timed_out"] is True
    # Counted, not lost silently: two were being handled, none of the three
    # was acked.
    assert report["in_flight"] == 2 and report["undelivered"] == 3
