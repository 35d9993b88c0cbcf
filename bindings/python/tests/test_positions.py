"""Where a new subscription starts: start="earliest" (a topic keeps its last
`capacity` messages, its dead-letter topic too), start_at_id and
start_at_time."""

import datetime
import math
import threading
import time

import pytest

import ringmq


def drain_ids(sub):
    """Acks everything deliverable now; returns the ids in delivery order."""
    ids = []
    while True:
        m = sub.poll(timeout=0)
        if m is None:
            return ids
        ids.append(m.id)
        m.ack()


def test_earliest_reads_the_last_capacity_messages_of_a_topic_nobody_subscribed_to(mq):
    t = mq.create_topic("history", capacity=8)
    for i in range(10):
        assert t.publish(bytes([i])) == i
    late = t.pull("late", start="earliest")
    assert drain_ids(late) == list(range(2, 10))
    latest = t.pull("latest")
    assert t.publish(b"new") == 10
    assert drain_ids(latest) == [10]
    assert drain_ids(late) == [10], "then the live messages, once"


def test_earliest_push_subscription_gets_the_history(mq):
    t = mq.create_topic("pushed", capacity=8)
    for i in range(10):
        t.publish(bytes([i]))
    got = []
    done = threading.Event()

    def handler(msg):
        got.append((msg.id, msg.data))
        if len(got) == 8:
            done.set()

    t.subscribe("late", handler, start="earliest")
    assert done.wait(5.0)
    assert got == [(i, bytes([i])) for i in range(2, 10)]


def test_the_dead_letter_topic_keeps_dead_letters_for_a_later_subscription(mq):
    t = mq.create_topic("orders", capacity=8)
    sub = t.pull("billing")
    ids = [t.publish(bytes([i])) for i in range(3)]
    for _ in range(3):
        sub.poll(timeout=1.0).term(reason="refused")
    dlq = t.dead_letter_topic
    deadline = time.monotonic() + 5.0
    while dlq.stats()["published"] < 3 and time.monotonic() < deadline:
        time.sleep(0.005)
    # Nobody listened on the dead-letter topic until now.
    later = dlq.pull("inspector", start="earliest")
    got = []
    while True:
        m = later.poll(timeout=0)
        if m is None:
            break
        assert (m.error, m.dead_letter_group) == ("refused", "billing")
        got.append(m.id)
        m.ack()
    assert got == ids


def test_start_at_id_starts_there_or_at_the_oldest_held(mq):
    t = mq.create_topic("ids", capacity=8)
    for i in range(12):
        t.publish(bytes([i]))
    assert drain_ids(t.pull("at9", start_at_id=9)) == [9, 10, 11]
    # Overrides start.
    assert drain_ids(t.pull("at10", start="earliest", start_at_id=10)) == [10, 11]
    gone = t.pull("gone", start_at_id=1)
    assert drain_ids(gone) == list(range(4, 12)), "id 1 was overwritten: from the oldest held"
    following = t.pull("next", start_at_id=12)
    assert drain_ids(following) == []
    t.publish(b"x")
    assert drain_ids(following) == [12]
    got = []
    done = threading.Event()

    def handler(msg):
        got.append(msg.id)
        if len(got) == 3:
            done.set()

    t.subscribe("pushed", handler, start_at_id=10)
    assert done.wait(5.0)
    assert got == [10, 11, 12]


def test_start_at_time_starts_at_the_first_message_published_then(mq):
    t = mq.create_topic("times", capacity=16)
    watch = t.pull("watch")
    t.publish(b"before")
    time.sleep(0.02)
    later = [t.publish(b"after 1"), t.publish(b"after 2")]
    stamps = [m.timestamp_ns for m in (watch.poll(timeout=1.0) for _ in range(3))]
    # Between the two publishes, by the engine's own clock.
    then = (stamps[0] + stamps[1]) / 2 / 1e9
    assert drain_ids(t.pull("float", start_at_time=then)) == later
    assert drain_ids(t.pull("int", start_at_time=int(then) - 3600)) == [later[0] - 1] + later
    aware = datetime.datetime.fromtimestamp(then, tz=datetime.timezone.utc)
    assert drain_ids(t.pull("aware", start_at_time=aware)) == later
    naive = datetime.datetime.fromtimestamp(then)
    assert drain_ids(t.pull("naive", start_at_time=naive)) == later
    # Overrides start.
    assert drain_ids(t.pull("over", start="earliest", start_at_time=then)) == later
    future = t.pull("future", start_at_time=time.time() + 60)
    assert drain_ids(future) == [], "nothing yet: starts at the next"
    nxt = t.publish(b"next")
    assert drain_ids(future) == [nxt]


def test_bad_positions_raise_and_create_nothing(mq):
    t = mq.create_topic("bad", capacity=8)
    for i in range(12):
        t.publish(bytes([i]))
    with pytest.raises(ringmq.InvalidArgument, match="start_at_id"):
        t.pull("both", start_at_id=3, start_at_time=time.time())
    with pytest.raises(ringmq.InvalidArgument, match="start_at_id"):
        t.subscribe("both", print, start_at_id=3, start_at_time=time.time())
    with pytest.raises(ringmq.InvalidArgument, match="start_at_id 13 is past the next id 12"):
        t.pull("future", start_at_id=13)
    with pytest.raises(ringmq.InvalidArgument, match="past the next id"):
        t.subscribe("future", print, start_at_id=100)
    with pytest.raises(ringmq.InvalidArgument, match="start_at_id"):
        t.pull("negative", start_at_id=-1)
    with pytest.raises(ringmq.InvalidArgument, match="start_at_id"):
        t.pull("huge", start_at_id=2**64)
    for when in (-1.0, -1, math.nan, math.inf):
        with pytest.raises(ringmq.InvalidArgument, match="start_at_time"):
            t.pull("when", start_at_time=when)
        with pytest.raises(ringmq.InvalidArgument, match="start_at_time"):
            t.subscribe("when", print, start_at_time=when)
    before_1970 = datetime.datetime(1969, 12, 31, tzinfo=datetime.timezone.utc)
    with pytest.raises(ringmq.InvalidArgument, match="start_at_time"):
        t.pull("old", start_at_time=before_1970)
    with pytest.raises(TypeError, match="start_at_id"):
        t.pull("typed", start_at_id=9.0)
    with pytest.raises(TypeError, match="start_at_id"):
        t.pull("typed", start_at_id=True)
    with pytest.raises(TypeError, match="start_at_time"):
        t.pull("typed", start_at_time="2026-01-01")
    with pytest.raises(TypeError, match="start_at_time"):
        t.pull("typed", start_at_time=datetime.date(2026, 1, 1))
    with pytest.raises(TypeError, match="start_at_time"):
        t.pull("typed", start_at_time=True)
    assert t.stats()["subscriptions"] == 0
    assert drain_ids(t.pull("ok", start_at_id=None, start_at_time=None)) == []
