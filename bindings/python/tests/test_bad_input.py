"""Every entry point answers bad input with a clear exception and changes nothing."""

import pytest

import ringmq


def test_exception_hierarchy():
    for cls in (ringmq.Full, ringmq.Timeout, ringmq.TooLarge, ringmq.NotFound,
                ringmq.Exists, ringmq.Closed, ringmq.InvalidArgument):
        assert issubclass(cls, ringmq.RingMQError)
        assert cls.__module__ == "ringmq"
    assert issubclass(ringmq.Timeout, TimeoutError)
    assert issubclass(ringmq.InvalidArgument, ValueError)


@pytest.mark.parametrize(
    "kwargs, exc, text",
    [
        (dict(workers_max=0), ringmq.InvalidArgument, "workers_max"),
        (dict(workers_min=3, workers_max=2), ringmq.InvalidArgument, "workers_min"),
        (dict(workers_min=-1), ringmq.InvalidArgument, "workers_min"),
        (dict(workers_max="4"), TypeError, "workers_max"),
        (dict(idle_timeout=-1.0), ringmq.InvalidArgument, "idle_timeout"),
        (dict(idle_timeout=float("nan")), ringmq.InvalidArgument, "idle_timeout"),
        (dict(idle_timeout=float("inf")), ringmq.InvalidArgument, "idle_timeout"),
    ],
)
def test_bad_broker_options(kwargs, exc, text):
    with pytest.raises(exc, match=text):
        ringmq.Broker(**kwargs)


@pytest.mark.parametrize(
    "kwargs, exc, text",
    [
        (dict(capacity=1000), ringmq.InvalidArgument, "power of two"),
        (dict(capacity=0), ringmq.InvalidArgument, "power of two"),
        (dict(capacity=-8), ringmq.InvalidArgument, "capacity"),
        (dict(capacity=8.0), TypeError, "capacity"),
        (dict(slot_size=0), ringmq.InvalidArgument, "slot_size"),
        (dict(overflow="drop"), ringmq.InvalidArgument, "overflow"),
        (dict(overflow=1), TypeError, "overflow"),
        (dict(max_attempts=0), ringmq.InvalidArgument, "max_attempts"),
        (dict(backoff_base=-0.1), ringmq.InvalidArgument, "backoff_base"),
        (dict(backoff_base=2.0, backoff_max=1.0), ringmq.InvalidArgument, "backoff_max"),
        (dict(ack_timeout=0), ringmq.InvalidArgument, "ack_timeout"),
        (dict(ack_timeout="30"), TypeError, "ack_timeout"),
    ],
)
def test_bad_topic_options_change_nothing(mq, kwargs, exc, text):
    with pytest.raises(exc, match=text):
        mq.create_topic("t", **kwargs)
    assert mq.topic_names() == []


@pytest.mark.parametrize(
    "name, exc",
    [("", ringmq.InvalidArgument), ("x" * 256, ringmq.InvalidArgument),
     ("a\nb", ringmq.InvalidArgument), ("\ud800", ringmq.InvalidArgument),
     (b"bytes", TypeError), (None, TypeError)],
)
def test_bad_names(mq, name, exc):
    with pytest.raises(exc):
        mq.create_topic(name)
    t = mq.create_topic("ok")
    with pytest.raises(exc):
        t.pull(name)
    with pytest.raises(exc):
        t.subscribe(name, print)
    assert mq.topic_names() == ["ok", "ok.dlq"]
    assert t.stats()["subscriptions"] == 0


def test_duplicates_and_unknown_names(mq):
    t = mq.create_topic("t")
    with pytest.raises(ringmq.Exists):
        mq.create_topic("t")
    with pytest.raises(ringmq.Exists):
        mq.create_topic("t.dlq")
    with pytest.raises(ringmq.NotFound):
        mq.topic("nope")
    t.pull("g")
    with pytest.raises(ringmq.Exists):
        t.pull("g")
    with pytest.raises(ringmq.Exists):
        t.subscribe("g", print)
    with pytest.raises(ringmq.NotFound):
        t.pull_subscription("other")
    t.subscribe("push", print)
    with pytest.raises(ringmq.InvalidArgument, match="push"):
        t.pull_subscription("push")


def test_bad_publish_arguments(mq):
    t = mq.create_topic("t", slot_size=16)
    sub = t.pull("g")
    bad = [
        (dict(data="text"), TypeError, "bytes-like"),
        (dict(data=12), TypeError, "bytes-like"),
        (dict(data=None), TypeError, "bytes-like"),
        (dict(data=object()), TypeError, "bytes-like"),
        (dict(data=b"x" * 17), ringmq.TooLarge, "slot_size"),
        (dict(data=b"x", key=-1), ringmq.InvalidArgument, "key"),
        (dict(data=b"x", key=2**64), ringmq.InvalidArgument, "key"),
        (dict(data=b"x", key="7"), TypeError, "key"),
        (dict(data=b"x", timeout=-1), ringmq.InvalidArgument, "timeout"),
        (dict(data=b"x", timeout=float("nan")), ringmq.InvalidArgument, "timeout"),
        (dict(data=b"x", timeout="1"), TypeError, "timeout"),
    ]
    for kwargs, exc, text in bad:
        with pytest.raises(exc, match=text):
            t.publish(**kwargs)
    with pytest.raises(TypeError):
        t.publish_many(b"abc")
    with pytest.raises(TypeError):
        t.publish_many(5)
    with pytest.raises(TypeError, match="item 1"):
        t.publish_many([b"a", "b"])
    with pytest.raises(ringmq.TooLarge):
        t.publish_many([b"a", b"x" * 17])
    with pytest.raises(ringmq.InvalidArgument, match="capacity"):
        t.publish_many([b"a"] * 2000)
    assert t.stats()["published"] == 0
    assert sub.poll(timeout=0) is None
    assert t.publish(b"x" * 16) == 0


def test_bad_subscription_arguments(mq):
    t = mq.create_topic("t")
    with pytest.raises(TypeError, match="callable"):
        t.subscribe("g", "not a function")
    with pytest.raises(ringmq.InvalidArgument, match="concurrency"):
        t.subscribe("g", print, concurrency=0)
    with pytest.raises(TypeError, match="ordered_by_key"):
        t.subscribe("g", print, ordered_by_key="yes")
    with pytest.raises(ringmq.InvalidArgument, match="start"):
        t.pull("g", start="beginning")
    with pytest.raises(TypeError, match="lossy"):
        t.pull("g", lossy=1)
    assert t.stats()["subscriptions"] == 0


def test_bad_poll_and_settle_arguments(mq):
    t = mq.create_topic("t")
    sub = t.pull("g")
    with pytest.raises(ringmq.InvalidArgument, match="timeout"):
        sub.poll(timeout=-0.5)
    with pytest.raises(ringmq.InvalidArgument, match="max"):
        sub.poll_batch(0)
    with pytest.raises(ringmq.InvalidArgument, match="max"):
        sub.poll_batch(-1)
    with pytest.raises(TypeError):
        sub.poll_batch("10")
    t.publish(b"x")
    m = sub.poll(timeout=1.0)
    with pytest.raises(ringmq.InvalidArgument, match="delay"):
        m.nack(delay=-1)
    assert not m.settled
    m.ack()
    for settle in (m.ack, m.nack, m.term, m.in_progress):
        with pytest.raises(ringmq.InvalidArgument, match="already settled"):
            settle()
    with pytest.raises(TypeError, match="Message"):
        sub.ack_all([b"x"])
    assert sub.stats()["acked"] == 1


def test_use_after_close(mq):
    t = mq.create_topic("t")
    sub = t.pull("g")
    mq.close(drain=0)
    with pytest.raises(ringmq.Closed):
        t.publish(b"x")
    with pytest.raises(ringmq.Closed):
        t.publish_many([b"x"])
    with pytest.raises(ringmq.Closed):
        sub.poll(timeout=0)
    with pytest.raises(ringmq.Closed):
        mq.topic("t")
    with pytest.raises(ringmq.Closed):
        t.pull("g2")


def test_bad_message_options_publish_nothing(mq):
    t = mq.create_topic("t", max_header_bytes=64)
    sub = t.pull("g")
    bad = [
        (dict(headers={"big": b"x" * 64}), ringmq.TooLarge, "max_header_bytes"),
        (dict(msg_id=b"x" * 129), ringmq.TooLarge, "msg_id"),
        (dict(msg_id=b""), ringmq.InvalidArgument, "msg_id"),
        (dict(delay=-1), ringmq.InvalidArgument, "delay"),
        (dict(delay=float("nan")), ringmq.InvalidArgument, "delay"),
        (dict(delay=float("inf")), ringmq.InvalidArgument, "delay"),
        (dict(ttl=-0.5), ringmq.InvalidArgument, "ttl"),
        (dict(ttl=0), ringmq.InvalidArgument, "ttl"),
        (dict(delay="1"), TypeError, "delay"),
        (dict(headers={1: b"x"}), TypeError, "header names"),
        (dict(headers={"a": 1}), TypeError, "header"),
        (dict(headers=["a"]), TypeError, "pair"),
        (dict(headers=b"a"), TypeError, "headers"),
        (dict(headers={"": b"x"}), ringmq.InvalidArgument, "empty name"),
        (dict(msg_id=7), TypeError, "msg_id"),
    ]
    for kwargs, exc, text in bad:
        with pytest.raises(exc, match=text):
            t.publish(b"x", **kwargs)
    assert t.stats()["published"] == 0
    assert sub.poll(timeout=0) is None
    assert t.publish(b"x", headers={"ok": b"x" * 56}, msg_id=b"y" * 128) == 0


def test_bad_new_subscription_options(mq):
    t = mq.create_topic("t")
    for rate in (0, -1.0, float("nan")):
        with pytest.raises(ringmq.InvalidArgument, match="rate_limit"):
            t.pull("g", rate_limit=rate)
        with pytest.raises(ringmq.InvalidArgument, match="rate_limit"):
            t.subscribe("g", print, rate_limit=rate)
    with pytest.raises(TypeError, match="rate_limit"):
        t.pull("g", rate_limit="10")
    with pytest.raises(ringmq.InvalidArgument, match="max_in_flight_per_key"):
        t.pull("g", max_in_flight_per_key=-1)
    with pytest.raises(ringmq.InvalidArgument, match="max_in_flight_per_key"):
        t.pull("g", max_in_flight_per_key=70_000)
    assert t.stats()["subscriptions"] == 0
    t.pull("g", rate_limit=1000.5, rate_burst=10, max_in_flight_per_key=2)
    assert t.stats()["subscriptions"] == 1
