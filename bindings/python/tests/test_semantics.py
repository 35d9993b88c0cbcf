"""The engine's semantics seen from Python, at a small scale."""

import threading
import time

import pytest

import ringmq


def drain(sub, n, timeout=5.0):
    """Polls until n messages arrived (acking them) or timeout passes."""
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        m = sub.poll(timeout=0.05)
        if m is not None:
            got.append(m)
            m.ack()
    return got


def eventually(check, timeout=5.0):
    """Waits for check() to hold: counters settle just after the message
    they count has moved on (a dead letter can be polled a moment before
    its subscription's counters say so)."""
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:
        time.sleep(0.005)
    return check()


def test_publish_and_poll_round_trip(mq):
    t = mq.create_topic("orders")
    sub = t.pull("audit")
    first = t.publish(b"hello", key=7)
    second = t.publish(bytearray(b"world"))
    assert second == first + 1
    m = sub.poll(timeout=1.0)
    assert (m.id, m.key, m.attempt, m.data) == (first, 7, 1, b"hello")
    assert (m.error, m.dead_letter_group) == (None, None)
    assert abs(m.timestamp_ns - time.time_ns()) < 10**10
    assert not m.settled
    m.ack()
    assert m.settled
    m2 = sub.poll(timeout=1.0)
    assert (m2.id, m2.key, m2.data) == (second, 0, b"world")
    m2.ack()
    assert sub.poll(timeout=0) is None
    st = sub.stats()
    assert (st["delivered"], st["acked"], st["in_flight"], st["lag"]) == (2, 2, 0, 0)


def test_any_bytes_like_payload(mq):
    import array

    t = mq.create_topic("bytes")
    sub = t.pull("g")
    payloads = [b"ab", bytearray(b"cd"), memoryview(b"xxefxx")[2:4], array.array("B", [1, 2])]
    for p in payloads:
        t.publish(p)
    got = [m.data for m in drain(sub, 4)]
    assert got == [b"ab", b"cd", b"ef", b"\x01\x02"]


def test_publish_many_returns_consecutive_ids(mq):
    t = mq.create_topic("batch")
    sub = t.pull("g")
    ids = t.publish_many([b"a", b"b", bytearray(b"c")], key=3)
    assert ids == [ids[0], ids[0] + 1, ids[0] + 2]
    batch = sub.poll_batch(10, timeout=1.0)
    assert [(m.id, m.key, m.data) for m in batch] == list(zip(ids, [3, 3, 3], [b"a", b"b", b"c"]))
    assert sub.ack_all(batch) == 3
    assert sub.stats()["acked"] == 3
    assert t.publish_many([]) == []
    assert t.publish_many(x for x in [b"g"]) == [ids[2] + 1]


def test_fan_out_to_two_groups(mq):
    t = mq.create_topic("fan", capacity=64)
    a, b = t.pull("a"), t.pull("b")
    ids = [t.publish(b"m%d" % i) for i in range(50)]
    assert [m.id for m in drain(a, 50)] == ids
    assert [m.id for m in drain(b, 50)] == ids
    assert t.stats()["depth"] == 0


def test_competing_consumers_share_one_group(mq):
    t = mq.create_topic("work", capacity=256)
    t.pull("workers")
    seen = [[], []]

    def consume(i):
        sub = t.pull_subscription("workers")
        while True:
            m = sub.poll(timeout=0.3)
            if m is None:
                return
            seen[i].append(m.id)
            m.ack()

    threads = [threading.Thread(target=consume, args=(i,)) for i in range(2)]
    for th in threads:
        th.start()
    ids = t.publish_many([b"job"] * 200)
    for th in threads:
        th.join()
    assert sorted(seen[0] + seen[1]) == ids
    assert not set(seen[0]) & set(seen[1])


def test_nacks_retry_then_dead_letter_with_attempts(mq):
    t = mq.create_topic("flaky", max_attempts=3, backoff_base=0.01, backoff_max=0.02)
    dlq_sub = t.dead_letter_topic.pull("dead")
    assert t.dead_letter_topic.name == "flaky.dlq"
    sub = t.pull("g")
    mid = t.publish(b"poison", key=9)
    attempts = []
    for _ in range(3):
        m = sub.poll(timeout=2.0)
        assert m is not None and m.id == mid
        attempts.append(m.attempt)
        m.nack(reason="cannot parse")
    assert attempts == [1, 2, 3]
    dead = dlq_sub.poll(timeout=2.0)
    assert (dead.id, dead.key, dead.data) == (mid, 9, b"poison")
    assert dead.error == "failed 3 deliveries (max_attempts 3): cannot parse"
    assert dead.dead_letter_group == "g"
    assert dead.attempt >= 3
    dead.ack()
    assert eventually(lambda: sub.stats()["dead_lettered"] == 1)
    st = sub.stats()
    assert st["nacked"] == 3
    assert "cannot parse" in st["last_error"]
    assert sub.poll(timeout=0.1) is None


def test_term_goes_straight_to_dead_letters(mq):
    t = mq.create_topic("t")
    dlq_sub = mq.topic("t.dlq").pull("dead")
    sub = t.pull("g")
    t.publish(b"x")
    sub.poll(timeout=1.0).term(reason="bad schema")
    dead = dlq_sub.poll(timeout=2.0)
    assert (dead.data, dead.error, dead.dead_letter_group) == (b"x", "bad schema", "g")
    assert eventually(lambda: sub.stats()["dead_lettered"] == 1)


def test_two_groups_dead_letter_one_message_each_with_its_own_error(mq):
    t = mq.create_topic("pay", max_attempts=2, backoff_base=0.01, backoff_max=0.02)
    dlq = t.dead_letter_topic.pull("dead")
    ledger = t.pull("ledger")

    def mailer(msg):
        raise ValueError("no address for %d" % msg.id)

    t.subscribe("mailer", mailer)
    mid = t.publish(b"pay 7")
    ledger.poll(timeout=2.0).term(reason="currency unknown")
    seen = {}
    for _ in range(2):
        dead = dlq.poll(timeout=5.0)
        assert dead is not None and (dead.id, dead.data) == (mid, b"pay 7")
        seen[dead.dead_letter_group] = dead.error
        dead.ack()
    assert seen == {
        "ledger": "currency unknown",
        "mailer": "failed 2 deliveries (max_attempts 2): ValueError: no address for %d" % mid,
    }


def test_a_push_handler_of_the_dead_letter_topic_sees_why(mq):
    t = mq.create_topic("jobs")
    got = []
    done = threading.Event()

    def pager(msg):
        got.append((msg.data, msg.error, msg.dead_letter_group))
        done.set()

    t.dead_letter_topic.subscribe("pager", pager)
    sub = t.pull("g")
    t.publish(b"job")
    sub.poll(timeout=2.0).term()
    assert done.wait(5.0)
    assert got == [(b"job", "termed", "g")]


def test_nack_delay_is_respected(mq):
    t = mq.create_topic("delay")
    sub = t.pull("g")
    t.publish(b"x")
    sub.poll(timeout=1.0).nack(delay=0.3)
    start = time.monotonic()
    m = sub.poll(timeout=3.0)
    assert m.attempt == 2
    assert time.monotonic() - start >= 0.25
    m.ack()


def test_requeue_redelivers_at_once_without_counting_an_attempt(mq):
    t = mq.create_topic("rq", max_attempts=2, backoff_base=60, backoff_max=60)
    sub = t.pull("g")
    t.publish(b"x")
    for _ in range(5):
        m = sub.poll(timeout=1.0)
        assert m is not None and m.attempt == 1
        m.requeue()
        assert m.settled
        with pytest.raises(ringmq.InvalidArgument):
            m.requeue()  # settled once: a second settle is refused
    m = sub.poll(timeout=1.0)
    assert m is not None and m.attempt == 1
    m.ack()
    st = sub.stats()
    assert (st["acked"], st["in_flight"], st["dead_lettered"]) == (1, 0, 0)
    assert st["delivered"] == st["acked"] + st["nacked"]


def test_ack_timeout_redelivers(mq):
    t = mq.create_topic("slow", ack_timeout=0.2, backoff_base=0.01, backoff_max=0.01)
    sub = t.pull("g")
    t.publish(b"x")
    first = sub.poll(timeout=1.0)
    assert first.attempt == 1
    second = sub.poll(timeout=3.0)
    assert second is not None and second.id == first.id and second.attempt == 2
    second.ack()
    # The first delivery expired: settling it now is refused.
    with pytest.raises(ringmq.RingMQError):
        first.ack()
    assert sub.stats()["expired"] >= 1


def test_in_progress_keeps_a_slow_delivery(mq):
    t = mq.create_topic("long", ack_timeout=0.8)
    sub = t.pull("g")
    t.publish(b"x")
    m = sub.poll(timeout=1.0)
    # Held for 1.2 s in all, well over the ack timeout, marked in progress
    # every 0.3 s.
    for _ in range(4):
        time.sleep(0.3)
        m.in_progress()
    assert sub.poll(timeout=0) is None
    m.ack()


def test_overflow_reject_raises_full(mq):
    t = mq.create_topic("r", capacity=4, overflow="reject")
    t.pull("g")
    for _ in range(4):
        t.publish(b"x")
    with pytest.raises(ringmq.Full):
        t.publish(b"x")
    assert t.stats()["rejected"] == 1


def test_overflow_block_times_out(mq):
    t = mq.create_topic("b", capacity=4, overflow="block")
    t.pull("g")
    for _ in range(4):
        t.publish(b"x")
    start = time.monotonic()
    with pytest.raises(ringmq.Timeout) as exc:
        t.publish(b"x", timeout=0.25)
    assert isinstance(exc.value, TimeoutError)
    assert 0.2 <= time.monotonic() - start < 2.0
    with pytest.raises(ringmq.Timeout):
        t.publish_many([b"x", b"y"], timeout=0)
    st = t.stats()
    assert st["timed_out"] == 3 and st["published"] == 4
    # The try-once probe and an interrupted wait are not counted as
    # timed-out publishes: the metrics agree with the stats.
    assert 'ringmq_topic_timed_out_total{topic="b"} 3\n' in mq.metrics_text()


def test_overflow_block_waits_for_room(mq):
    t = mq.create_topic("bw", capacity=4)
    sub = t.pull("g")
    for _ in range(4):
        t.publish(b"x")
    threading.Timer(0.2, lambda: sub.poll(timeout=1.0).ack()).start()
    t.publish(b"late", timeout=5.0)
    assert t.stats()["timed_out"] == 0


def test_overflow_drop_oldest_counts_dropped(mq):
    t = mq.create_topic("d", capacity=8, overflow="drop_oldest")
    sub = t.pull("g")
    for i in range(20):
        t.publish(b"%d" % i)
    got = drain(sub, 8, timeout=1.0)
    assert [m.data for m in got] == [b"%d" % i for i in range(12, 20)]
    assert sub.stats()["dropped"] == 12
    assert t.stats()["dropped"] == 12


def test_lossy_subscription_never_blocks_producers(mq):
    t = mq.create_topic("l", capacity=8)
    fast = t.pull("fast")
    dash = t.pull("dash", lossy=True)
    for i in range(30):
        t.publish(b"%d" % i, timeout=1.0)
        fast.poll(timeout=1.0).ack()
    assert drain(dash, 1)
    assert dash.stats()["dropped"] > 0


def test_push_handler_counts_exactly_with_four_publisher_threads(mq):
    t = mq.create_topic("push", capacity=256)
    count = 0
    lock = threading.Lock()
    done = threading.Event()
    total = 4 * 2500

    def handler(msg):
        nonlocal count
        assert len(msg.data) == 64
        with lock:
            count += 1
            if count == total:
                done.set()

    sub = t.subscribe("counter", handler, concurrency=2)

    def produce():
        for _ in range(2500):
            t.publish(b"p" * 64)

    threads = [threading.Thread(target=produce) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert done.wait(20)
    assert eventually(lambda: sub.stats()["acked"] == total)
    assert count == total
    assert sub.stats()["nacked"] == 0


def test_handler_exception_nacks_and_keeps_the_text(mq):
    t = mq.create_topic("h", max_attempts=2, backoff_base=0.01, backoff_max=0.01)
    dlq = t.dead_letter_topic.pull("dead")
    attempts = []

    def handler(msg):
        attempts.append(msg.attempt)
        raise RuntimeError("database unreachable for %d" % msg.key)

    sub = t.subscribe("writer", handler)
    t.publish(b"row", key=42)
    dead = dlq.poll(timeout=5.0)
    assert dead is not None and dead.data == b"row" and dead.key == 42
    assert dead.error == (
        "failed 2 deliveries (max_attempts 2): RuntimeError: database unreachable for 42"
    )
    assert dead.dead_letter_group == "writer"
    assert attempts == [1, 2]
    assert eventually(lambda: sub.stats()["dead_lettered"] == 1)
    assert eventually(lambda: sub.stats()["nacked"] == 2), sub.stats()
    st = sub.stats()
    assert "RuntimeError: database unreachable for 42" in st["last_error"]


def test_ordered_by_key_keeps_order_per_key(mq):
    t = mq.create_topic("ord", capacity=512)
    seen = {}
    lock = threading.Lock()

    def handler(msg):
        with lock:
            seen.setdefault(msg.key, []).append(int(msg.data))

    t.subscribe("o", handler, concurrency=4, ordered_by_key=True)
    for i in range(400):
        t.publish(b"%d" % i, key=i % 5)
    deadline = time.monotonic() + 10
    while sum(map(len, seen.values())) < 400 and time.monotonic() < deadline:
        time.sleep(0.01)
    for k, vals in seen.items():
        assert vals == sorted(vals) and len(vals) == 80, k


def test_push_message_cannot_be_settled_by_hand(mq):
    t = mq.create_topic("p")
    errors = []
    done = threading.Event()

    def handler(msg):
        try:
            msg.ack()
        except ringmq.InvalidArgument as e:
            errors.append(str(e))
        done.set()

    t.subscribe("g", handler)
    t.publish(b"x")
    assert done.wait(5)
    assert "settled by the handler" in errors[0]


def test_async_handler_without_an_event_loop_is_refused_clearly(mq):
    t = mq.create_topic("ah", max_attempts=1)

    async def handler(msg):
        pass

    # No loop is running: the coroutine handler would have none to run on.
    with pytest.raises(ringmq.InvalidArgument, match="no event loop is running"):
        t.subscribe("g", handler)
    assert "g" not in t.subscription_stats()

    # A plain function that returns an awaitable is only found out when
    # called: its message fails with a text that says why.
    sub = t.subscribe("h", lambda msg: handler(msg))
    t.publish(b"x")
    deadline = time.monotonic() + 5
    while sub.stats()["dead_lettered"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "no event loop was running" in sub.stats()["last_error"]


def test_blocking_iteration_ends_when_the_broker_closes():
    mq = ringmq.Broker()
    t = mq.create_topic("it")
    sub = t.pull("g")
    t.publish_many([b"1", b"2", b"3"])
    got = []

    def consume():
        for m in sub:
            got.append(m.data)
            m.ack()

    th = threading.Thread(target=consume)
    th.start()
    deadline = time.monotonic() + 5
    while len(got) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    mq.close(drain=1.0)
    th.join(5)
    assert not th.is_alive()
    assert got == [b"1", b"2", b"3"]


def test_close_drains_and_reports(mq):
    t = mq.create_topic("c")
    sub = t.pull("g")
    t.publish_many([b"a", b"b"])
    m = sub.poll(timeout=1.0)
    report = mq.close(drain=0.1)
    assert report["timed_out"] is True
    assert report["undelivered"] == 2
    assert report["left"] == [("c", "g", 2)]
    assert mq.closed
    assert mq.close() == report
    with pytest.raises(ringmq.Closed):
        t.publish(b"x")
    with pytest.raises(ringmq.Closed):
        mq.create_topic("later")
    del m


def test_context_manager_closes_with_drain():
    handled = []
    with ringmq.Broker(workers_max=2) as mq:
        t = mq.create_topic("cm")
        t.subscribe("g", lambda m: (time.sleep(0.001), handled.append(m.id)))
        ids = t.publish_many([b"x"] * 50)
    assert mq.closed
    assert handled == ids


def test_stats_and_metrics(mq):
    t = mq.create_topic("s")
    sub = t.pull("g")
    t.publish(b"x")
    sub.poll(timeout=1.0).ack()
    ts = t.stats()
    assert ts["published"] == 1 and ts["capacity"] == 1024 and ts["subscriptions"] == 1
    assert t.subscription_stats()["g"]["acked"] == 1
    assert sub.stats()["latency_count"] == 1
    text = mq.metrics_text()
    assert "ringmq_topic_published_total" in text and 'topic="s"' in text
    ps = mq.pool_stats()
    assert ps["workers"] <= 4 and ps["panics"] == 0 and 0.0 <= ps["utilisation"] <= 1.0
    assert sorted(mq.topic_names()) == ["s", "s.dlq"]
    assert t.name == "s" and t.slot_size == 256 and t.overflow == "block"
