"""The packed path: Topic.publish_packed and PullSubscription.poll_raw
(RawBatch), with the same semantics as publish_many and poll_batch."""

import array
import threading
import time

import pytest

import ringmq


def eventually(check, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:
        time.sleep(0.005)
    return check()


def drain_raw(sub, n, row, timeout=5.0):
    """Polls raw batches until n messages arrived (acking them) or timeout
    passes; row(batch, i) of each."""
    rows = []
    deadline = time.monotonic() + timeout
    while len(rows) < n and time.monotonic() < deadline:
        batch = sub.poll_raw(8, timeout=0.1)
        rows += [row(batch, i) for i in range(len(batch))]
        batch.ack_all()
    return rows


def pack(payloads):
    return b"".join(payloads), [len(p) for p in payloads]


def test_packed_round_trip(mq):
    t = mq.create_topic("packed", slot_size=64)
    sub = t.pull("g")
    payloads = [b"", b"a", b"bc" * 10, b"x" * 64, b"last"]
    data, lengths = pack(payloads)
    first = t.publish_packed(data, lengths, key=7)
    # One with headers and a msg_id, published on its own.
    hid = t.publish(b"with extras", key=3, headers={"trace": b"t-1", "kind": "order"},
                    msg_id="order-42")
    before = time.time_ns()
    batch = sub.poll_raw(64, timeout=1.0)
    assert isinstance(batch, ringmq.RawBatch)
    n = len(payloads) + 1
    assert len(batch) == n
    assert [batch.id(i) for i in range(n)] == list(range(first, first + len(payloads))) + [hid]
    assert [batch.key(i) for i in range(n)] == [7] * len(payloads) + [3]
    assert [batch.payload(i) for i in range(n)] == payloads + [b"with extras"]
    assert batch.data == b"".join(payloads) + b"with extras"
    assert list(batch.lengths) == [len(p) for p in payloads] + [11]
    offsets = list(batch.offsets)
    assert all(batch.data[o:o + ln] == batch.payload(i)
               for i, (o, ln) in enumerate(zip(offsets, batch.lengths)))
    assert batch.offsets.format == "Q" and batch.offsets.readonly
    for i in range(n):
        assert batch.attempt(i) == 1
        assert 0 < batch.timestamp_ns(i) <= before
        assert batch.error(i) is None and batch.dead_letter_group(i) is None
        assert not batch.settled(i)
    assert batch.headers(0) == {} and batch.msg_id(0) is None
    assert batch.headers(n - 1) == {"trace": b"t-1", "kind": b"order"}
    assert batch.msg_id(n - 1) == b"order-42"
    assert batch.ack_all() == n
    assert all(batch.settled(i) for i in range(n))
    assert eventually(lambda: sub.stats()["acked"] == n)
    assert sub.stats()["in_flight"] == 0


def test_publish_packed_takes_buffers_of_ints(mq):
    t = mq.create_topic("arrays", slot_size=16)
    sub = t.pull("g")
    data = bytearray(b"aabbbc")
    for lengths in ([2, 3, 1], (2, 3, 1), array.array("I", [2, 3, 1]),
                    array.array("Q", [2, 3, 1]), array.array("L", [2, 3, 1]),
                    memoryview(array.array("H", [2, 3, 1])), iter([2, 3, 1])):
        t.publish_packed(data, lengths)
        batch = sub.poll_raw(8, timeout=1.0)
        assert [batch.payload(i) for i in range(len(batch))] == [b"aa", b"bbb", b"c"], lengths
        batch.ack_all()
    t.publish_packed(memoryview(b"xyz")[1:], [1, 1])
    batch = sub.poll_raw(8, timeout=1.0)
    assert batch.data == b"yz"
    sub.ack_all(batch)
    assert batch.settled(0) and batch.settled(1)


def test_raw_settles_one_by_one(mq):
    t = mq.create_topic("settle", backoff_base=0.01, backoff_max=0.02)
    sub = t.pull("g")
    data, lengths = pack([b"ack", b"nack", b"keep"])
    first = t.publish_packed(data, lengths)
    batch = sub.poll_raw(8, timeout=1.0)
    assert len(batch) == 3
    batch.ack(0)
    batch.nack(1, delay=0.01)
    assert batch.settled(0) and batch.settled(1) and not batch.settled(2)
    # ack_all acks only what is left.
    assert batch.ack_all() == 1
    assert batch.ack_all() == 0
    again = sub.poll_raw(8, timeout=2.0)
    assert len(again) == 1
    assert (again.id(0), again.payload(0), again.attempt(0)) == (first + 1, b"nack", 2)
    again.ack(0)
    assert eventually(lambda: sub.stats()["acked"] == 3)
    assert sub.stats()["nacked"] == 1
    assert sub.poll_raw(8, timeout=0.05).data == b""


def test_raw_term_goes_to_the_dead_letter_topic(mq):
    t = mq.create_topic("poison", max_attempts=2, backoff_base=0.01, backoff_max=0.02)
    dlq = t.dead_letter_topic.pull("dead")
    sub = t.pull("g")
    data, lengths = pack([b"bad schema", b"runs out"])
    first = t.publish_packed(data, lengths, key=5)
    batch = sub.poll_raw(8, timeout=1.0)
    batch.term(0, reason="bad schema")
    batch.nack(1, delay=0, reason="cannot parse")
    sub.poll_raw(8, timeout=2.0).nack(0, reason="cannot parse")
    rows = drain_raw(dlq, 2, lambda b, i: (b.id(i), b.key(i), b.payload(i), b.error(i),
                                            b.dead_letter_group(i)))
    assert sorted(rows) == [
        (first, 5, b"bad schema", "bad schema", "g"),
        (first + 1, 5, b"runs out", "failed 2 deliveries (max_attempts 2): cannot parse", "g"),
    ]
    assert eventually(lambda: sub.stats()["dead_lettered"] == 2)


def test_raw_double_settle_and_bad_index_raise(mq):
    t = mq.create_topic("twice")
    sub = t.pull("g")
    t.publish_packed(b"abc", [1, 1, 1])
    batch = sub.poll_raw(8, timeout=1.0)
    batch.ack(0)
    for settle in (lambda: batch.ack(0), lambda: batch.nack(0), lambda: batch.term(0),
                   lambda: batch.requeue(0), lambda: batch.in_progress(0)):
        with pytest.raises(ringmq.InvalidArgument, match="already settled"):
            settle()
    for bad in (3, -1, 1 << 40):
        for call in (batch.id, batch.payload, batch.ack, batch.headers, batch.settled):
            with pytest.raises(IndexError, match="out of range"):
                call(bad)
    with pytest.raises(TypeError):
        batch.ack("1")
    # A bad delay raises before the message is settled.
    with pytest.raises(ringmq.InvalidArgument):
        batch.nack(1, delay=-1)
    assert not batch.settled(1)
    assert batch.ack_all() == 2
    assert eventually(lambda: sub.stats()["acked"] == 3)
    assert sub.stats()["in_flight"] == 0


@pytest.mark.parametrize(
    "data, lengths, error, text",
    [
        (b"abcd", [1, 2], ringmq.InvalidArgument, "add up to 3 bytes but data has 4"),
        (b"abcd", [2, 3], ringmq.InvalidArgument, "run past the end of data"),
        (b"", [], ringmq.InvalidArgument, "lengths is empty"),
        (b"abcd", [], ringmq.InvalidArgument, "lengths is empty"),
        (b"abcd", [5, -1], ringmq.InvalidArgument, r"lengths\[1\] is -1"),
        (b"abcd", array.array("i", [5, -1]), ringmq.InvalidArgument, "must not be negative"),
        (b"x" * 40, [8, 32], ringmq.TooLarge, "message 1 of 32 bytes is larger than slot_size 16"),
        (b"abcd", [2, 2.0], TypeError, r"lengths\[1\] must be an int"),
        (b"abcd", [2, True], TypeError, r"lengths\[1\] must be an int"),
        (b"abcd", b"\x02\x02", TypeError, "lengths must be a list of ints"),
        (b"abcd", 4, TypeError, "lengths must be a list of ints"),
        (b"abcd", array.array("d", [2.0, 2.0]), TypeError, "must hold integers"),
        ("abcd", [4], TypeError, "bytes-like"),
        (b"ab" * 40, [2] * 40, ringmq.InvalidArgument, "larger than the capacity"),
    ],
)
def test_bad_packed_input_publishes_nothing(mq, data, lengths, error, text):
    t = mq.create_topic("bad", capacity=32, slot_size=16)
    sub = t.pull("g")
    before = t.stats()
    with pytest.raises(error, match=text):
        t.publish_packed(data, lengths)
    assert t.stats() == before
    assert len(sub.poll_raw(64, timeout=0)) == 0


def test_publish_packed_full_ring(mq):
    t = mq.create_topic("full", capacity=4, overflow="reject")
    t.pull("g")
    t.publish_packed(b"abc", [1, 1, 1])
    before = t.stats()
    with pytest.raises(ringmq.Full):
        t.publish_packed(b"de", [1, 1])
    assert t.stats()["published"] == before["published"]
    blocking = mq.create_topic("blocking", capacity=2)
    blocking.pull("g")
    blocking.publish_packed(b"ab", [1, 1])
    with pytest.raises(ringmq.Timeout):
        blocking.publish_packed(b"c", [1], timeout=0.05)


def test_poll_raw_times_out_with_an_empty_batch_by_its_deadline(mq):
    t = mq.create_topic("idle")
    sub = t.pull("g")
    for timeout in (0, 0.2):
        start = time.monotonic()
        batch = sub.poll_raw(16, timeout=timeout)
        took = time.monotonic() - start
        assert len(batch) == 0 and not batch
        assert batch.data == b"" and list(batch.offsets) == [] and list(batch.lengths) == []
        assert batch.ack_all() == 0
        assert timeout <= took < timeout + 0.5, took
    with pytest.raises(IndexError):
        batch.id(0)
    with pytest.raises(ringmq.InvalidArgument, match="max 0"):
        sub.poll_raw(0)


def test_an_unsettled_batch_is_redelivered_after_the_ack_timeout(mq):
    t = mq.create_topic("forgot", ack_timeout=0.2)
    sub = t.pull("g")
    first = t.publish_packed(b"ab", [1, 1])
    batch = sub.poll_raw(8, timeout=1.0)
    assert len(batch) == 2
    del batch
    rows = drain_raw(sub, 2, lambda b, i: (b.id(i), b.attempt(i)))
    assert rows == [(first, 2), (first + 1, 2)]


def test_threaded_stress_every_message_seen_exactly_once(mq):
    t = mq.create_topic("stress", capacity=1024, slot_size=16)
    sub = t.pull("g")
    other = t.pull_subscription("g")
    batches, per_batch = 400, 50
    total = batches * per_batch
    seen = [[], []]
    done = threading.Event()
    errors = []

    def produce():
        try:
            k = 0
            for b in range(batches):
                payloads = [b"%d" % (k + i) for i in range(per_batch)]
                k += per_batch
                t.publish_packed(b"".join(payloads), [len(p) for p in payloads], key=b,
                                 timeout=10.0)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    def consume(c, s):
        try:
            while not done.is_set():
                batch = s.poll_raw(64, timeout=0.05)
                data, offsets, lengths = batch.data, batch.offsets, batch.lengths
                for i in range(len(batch)):
                    seen[c].append((batch.id(i), data[offsets[i]:offsets[i] + lengths[i]]))
                batch.ack_all()
                if len(seen[0]) + len(seen[1]) >= total:
                    done.set()
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)
            done.set()

    threads = [threading.Thread(target=produce)]
    threads += [threading.Thread(target=consume, args=(c, s)) for c, s in ((0, sub), (1, other))]
    for th in threads:
        th.start()
    done.wait(60)
    done.set()
    for th in threads:
        th.join()
    assert not errors, errors
    got = sorted(seen[0] + seen[1])
    assert len(got) == total
    first = got[0][0]
    assert got == [(first + k, b"%d" % k) for k in range(total)]
    assert not {i for i, _ in seen[0]} & {i for i, _ in seen[1]}
    assert eventually(lambda: sub.stats()["acked"] == total)
    assert sub.stats()["delivered"] == total
