"""Messages v2 seen from Python: headers, msg_id, delay, ttl, pausing,
handler outcomes and the logging of handler exceptions."""

import logging
import threading
import time

import ringmq

from test_semantics import drain, eventually

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_headers_and_msg_id_round_trip_pulled(mq):
    t = mq.create_topic("h")
    sub = t.pull("g")
    t.publish(b"a", headers={"traceparent": TRACEPARENT, "bin": b"\x00\xff"}, msg_id="order-1")
    t.publish(b"b", headers=[("x", b"1"), ("x", "2"), ("y", b"")])
    t.publish(b"c")
    a, b, c = drain(sub, 3)
    assert a.headers == {"traceparent": TRACEPARENT.encode(), "bin": b"\x00\xff"}
    assert a.msg_id == b"order-1"
    # A repeated name keeps its last value in the dict.
    assert b.headers == {"x": b"2", "y": b""} and b.msg_id is None
    assert c.headers == {} and c.msg_id is None
    # Still readable once settled.
    assert a.settled and a.headers["traceparent"] == TRACEPARENT.encode()


def test_headers_and_msg_id_round_trip_pushed(mq):
    t = mq.create_topic("h")
    seen = []
    done = threading.Event()

    def handler(msg):
        seen.append((msg.data, msg.headers, msg.msg_id))
        if len(seen) == 2:
            done.set()

    t.subscribe("g", handler)
    t.publish(b"a", headers={"traceparent": TRACEPARENT}, msg_id=b"\x01id")
    t.publish(b"b")
    assert done.wait(5.0)
    assert seen == [
        (b"a", {"traceparent": TRACEPARENT.encode()}, b"\x01id"),
        (b"b", {}, None),
    ]


def test_headers_reach_the_dead_letter_topic(mq):
    t = mq.create_topic("h")
    sub = t.pull("g")
    dlq = t.dead_letter_topic.pull("dead")
    t.publish(b"a", headers={"traceparent": TRACEPARENT}, msg_id="m")
    sub.poll(timeout=1.0).term("no")
    dead = dlq.poll(timeout=5.0)
    assert dead.headers == {"traceparent": TRACEPARENT.encode()} and dead.msg_id == b"m"


def test_msg_id_dedupe_answers_the_first_id(mq):
    t = mq.create_topic("d")
    sub = t.pull("g")
    first = t.publish(b"one", msg_id="order-7")
    t.publish(b"other")
    again = t.publish(b"two", msg_id=b"order-7")
    assert again == first
    st = t.stats()
    assert (st["duplicates"], st["published"]) == (1, 2)
    got = drain(sub, 3, timeout=0.5)
    assert [m.data for m in got] == [b"one", b"other"]


def test_delay_holds_a_message_back(mq):
    t = mq.create_topic("later")
    sub = t.pull("g")
    start = time.monotonic()
    t.publish(b"soon", delay=0.2)
    assert sub.poll(timeout=0) is None
    assert t.stats()["delayed"] == 1
    m = sub.poll(timeout=2.0)
    assert m is not None and m.data == b"soon"
    assert time.monotonic() - start >= 0.15
    m.ack()
    assert t.stats()["delayed"] == 0


def test_the_close_report_counts_dropped_delayed_messages():
    mq = ringmq.Broker()
    t = mq.create_topic("report", ack_timeout=0.05)
    sub = t.pull("g")
    t.publish(b"held")
    t.publish(b"not yet", delay=60)
    held = sub.poll(timeout=1.0)
    assert held is not None
    time.sleep(0.12)
    assert sub.poll(timeout=0) is None  # its scan finds the held one expired
    r = mq.close(drain=0)
    assert r["delayed"] == 1  # dropped with its topic
    assert (r["waiting_retry"], r["undelivered"], r["timed_out"]) == (1, 1, True)
    # A Python message holds its payload until its ack deadline, not the
    # ring slot past it: one left unsettled never pins a slot.
    assert r["pinned"] == 0


def test_ttl_expiry_goes_to_the_dead_letter_topic(mq):
    t = mq.create_topic("fresh")
    sub = t.pull("g")
    dlq = t.dead_letter_topic.pull("dead")
    t.publish(b"stale", ttl=0.05)
    time.sleep(0.2)
    assert sub.poll(timeout=0.1) is None
    dead = dlq.poll(timeout=2.0)
    assert dead is not None and dead.data == b"stale"
    assert dead.error == "expired" and dead.dead_letter_group == "g"
    assert eventually(lambda: sub.stats()["expired_messages"] == 1)


def test_pause_and_resume_a_pull_subscription(mq):
    t = mq.create_topic("p")
    sub = t.pull("g")
    assert not sub.paused and "paused" not in sub.why_idle()
    sub.pause()
    t.publish(b"x")
    assert sub.paused
    assert sub.poll(timeout=0.1) is None
    assert "paused" in sub.why_idle()
    assert sub.stats()["paused"] == 1
    sub.resume()
    assert not sub.paused and "paused" not in sub.why_idle()
    m = sub.poll(timeout=1.0)
    assert m is not None and m.data == b"x"
    m.ack()
    assert sub.why_idle() == ["nothing published"]


def test_pause_and_resume_a_push_subscription(mq):
    t = mq.create_topic("p")
    seen = []
    push = t.subscribe("g", lambda m: seen.append(m.data))
    push.pause()
    assert push.paused and "paused" in push.why_idle()
    t.publish(b"x")
    time.sleep(0.2)
    assert seen == []
    push.resume()
    assert not push.paused
    assert eventually(lambda: seen == [b"x"])


def test_retry_from_a_push_handler_uses_its_delay(mq):
    t = mq.create_topic("r", backoff_base=5.0, backoff_max=5.0)
    times = []
    done = threading.Event()

    def handler(msg):
        times.append(time.monotonic())
        if msg.attempt == 1:
            raise ringmq.Retry(0.05, "busy")
        done.set()

    sub = t.subscribe("g", handler)
    t.publish(b"x")
    assert done.wait(3.0), "the retry waited for the backoff instead of its own delay"
    assert times[1] - times[0] >= 0.04
    assert eventually(lambda: sub.stats()["retried"] == 1)
    assert sub.stats()["last_error"] == "busy"


def test_term_from_a_push_handler_dead_letters_at_once(mq):
    t = mq.create_topic("t", max_attempts=5)
    dlq = t.dead_letter_topic.pull("dead")
    attempts = []

    def handler(msg):
        attempts.append(msg.attempt)
        raise ringmq.Term("malformed order")

    sub = t.subscribe("g", handler)
    t.publish(b"bad")
    dead = dlq.poll(timeout=5.0)
    assert dead is not None and dead.data == b"bad"
    assert (dead.attempt, dead.error, dead.dead_letter_group) == (1, "malformed order", "g")
    assert attempts == [1]
    assert eventually(lambda: sub.stats()["termed"] == 1)


def test_handler_exceptions_are_logged_with_their_traceback(mq, caplog):
    t = mq.create_topic("l", max_attempts=1)
    dlq = t.dead_letter_topic.pull("dead")

    def handler(msg):
        if msg.data == b"boom":
            raise RuntimeError("kaboom")
        if msg.data == b"term":
            raise ringmq.Term("deliberate")

    with caplog.at_level(logging.ERROR, logger="ringmq"):
        t.subscribe("writer", handler)
        t.publish(b"term")
        t.publish(b"boom")
        assert len(drain(dlq, 2)) == 2
        assert eventually(lambda: len(caplog.records) >= 1)
        time.sleep(0.05)
    records = [r for r in caplog.records if r.name == "ringmq"]
    assert len(records) == 1, "only the unexpected exception is logged"
    r = records[0]
    assert r.levelno == logging.ERROR
    assert "'writer'" in r.getMessage() and "'l'" in r.getMessage()
    assert r.exc_info is not None and r.exc_info[0] is RuntimeError
    assert "kaboom" in caplog.text and "Traceback" in caplog.text and "in handler" in caplog.text


def test_retry_and_term_are_exported():
    assert issubclass(ringmq.Retry, Exception) and issubclass(ringmq.Term, Exception)
    assert "Retry" in ringmq.__all__ and "Term" in ringmq.__all__
    assert ringmq.Retry(0.5).delay == 0.5
    assert str(ringmq.Term("why")) == "why"


def test_max_in_flight_per_key_holds_a_key_at_its_cap_in_order(mq):
    t = mq.create_topic("keyed")
    sub = t.pull("g", max_in_flight_per_key=1)
    for i in range(3):
        t.publish(b"k1-%d" % i, key=1)
    t.publish(b"k2", key=2)
    first = sub.poll(timeout=1.0)
    other = sub.poll(timeout=1.0)
    assert (first.data, other.data) == (b"k1-0", b"k2")
    assert sub.poll(timeout=0) is None
    assert any(r.startswith("keys at their cap") for r in sub.why_idle()), sub.why_idle()
    first.ack()
    other.ack()
    assert [m.data for m in drain(sub, 2)] == [b"k1-1", b"k1-2"]
