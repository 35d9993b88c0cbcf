"""Regression tests, each named for the defect it keeps fixed."""

import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import ringmq


def run_script(source, timeout=20):
    """Runs `source` in a fresh interpreter; returns the finished process."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(source)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# --- a lossy poll with every credit held ------------------------------------


def test_lossy_poll_with_every_credit_held_ends_by_its_deadline(mq):
    t = mq.create_topic("lossy-held", capacity=4)
    sub = t.pull("g", lossy=True)
    held = []
    for i in range(4):
        t.publish(b"m%d" % i)
        held.append(sub.poll(timeout=1))
    assert all(m is not None for m in held)
    t.publish(b"one more")
    cpu0, wall0 = time.process_time(), time.monotonic()
    assert sub.poll(timeout=0.1) is None
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    assert wall < 1.0
    # Parked, not spinning: far less CPU than the wait took.
    assert cpu < 0.08, cpu
    for m in held:
        m.ack()


# --- close from a push handler ----------------------------------------------


def test_close_from_a_handler_while_the_main_thread_closes_never_hangs():
    script = """
        import threading, ringmq
        mq = ringmq.Broker(workers_min=1, workers_max=2)
        t = mq.create_topic("t")
        entered, left, outcome = threading.Event(), threading.Event(), []
        def handler(msg):
            entered.set()
            try:
                mq.close(drain=0)
                outcome.append("closed")
            except ringmq.Closed:
                outcome.append("Closed")
            left.set()
        t.subscribe("g", handler)
        t.publish(b"x")
        assert entered.wait(5)
        mq.close(drain=1)
        assert left.wait(5), "the handler's close did not return"
        assert outcome in (["closed"], ["Closed"]), outcome
        print("ok", outcome[0])
    """
    for _ in range(3):
        p = run_script(script)
        assert p.returncode == 0, p.stderr
        assert p.stdout.startswith("ok"), p.stdout


def test_close_from_a_handler_alone_works(mq):
    t = mq.create_topic("t")
    done = threading.Event()
    result = []

    def handler(msg):
        result.append(mq.close(drain=0))
        done.set()

    t.subscribe("g", handler)
    t.publish(b"x")
    assert done.wait(5)
    assert isinstance(result[0], dict)
    assert mq.closed
    with pytest.raises(ringmq.Closed):
        t.publish(b"y")


def test_close_from_a_handler_then_interpreter_exit_exits_promptly():
    p = run_script(
        """
        import threading, ringmq
        mq = ringmq.Broker()
        t = mq.create_topic("t")
        done = threading.Event()
        def handler(msg):
            mq.close(drain=0)
            done.set()
        t.subscribe("g", handler)
        t.publish(b"x")
        assert done.wait(5)
        print("exiting")
        """,
        timeout=10,
    )
    assert p.returncode == 0, p.stderr
    assert "exiting" in p.stdout


def test_close_from_a_handler_that_is_still_running_at_exit():
    # The main thread leaves while the handler is inside close().
    p = run_script(
        """
        import threading, time, ringmq
        mq = ringmq.Broker()
        t = mq.create_topic("t")
        entered = threading.Event()
        def handler(msg):
            entered.set()
            time.sleep(0.2)
            mq.close(drain=0)
        t.subscribe("g", handler)
        t.publish(b"x")
        assert entered.wait(5)
        """,
        timeout=10,
    )
    assert p.returncode == 0, p.stderr


# --- after close ---------------------------------------------------------------


def test_unsubscribe_and_settles_after_close_raise_closed():
    mq = ringmq.Broker()
    t = mq.create_topic("t")
    sub = t.pull("g")
    push = t.subscribe("p", lambda m: None)
    t.publish(b"x")
    msg = sub.poll(timeout=1)
    assert msg is not None
    mq.close(drain=0)
    with pytest.raises(ringmq.Closed):
        sub.unsubscribe()
    with pytest.raises(ringmq.Closed):
        push.unsubscribe()
    with pytest.raises(ringmq.Closed):
        msg.ack()


def test_nack_and_term_after_close_raise_closed():
    mq = ringmq.Broker()
    t = mq.create_topic("t")
    sub = t.pull("g")
    t.publish(b"x")
    t.publish(b"y")
    a, b = sub.poll(timeout=1), sub.poll(timeout=1)
    mq.close(drain=0)
    with pytest.raises(ringmq.Closed):
        a.nack()
    with pytest.raises(ringmq.Closed):
        b.term()


# --- fork ------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_use_of_the_parents_broker_raises_closed():
    p = run_script(
        """
        import os, warnings, ringmq
        warnings.simplefilter("ignore", DeprecationWarning)
        mq = ringmq.Broker()
        t = mq.create_topic("t")
        sub = t.pull("g")
        t.publish(b"before")
        pid = os.fork()
        if pid == 0:
            code = 0
            for name, call in [
                ("publish", lambda: t.publish(b"x")),
                ("poll", lambda: sub.poll(timeout=0.1)),
                ("create_topic", lambda: mq.create_topic("u")),
                ("subscribe", lambda: t.pull("h")),
            ]:
                try:
                    call()
                    print(name, "did not raise")
                    code = 1
                except ringmq.Closed:
                    pass
                except BaseException as e:
                    print(name, "raised", type(e).__name__, e)
                    code = 1
            fresh = ringmq.Broker()
            ft = fresh.create_topic("t")
            fs = ft.pull("g")
            ft.publish(b"child")
            m = fs.poll(timeout=1)
            if m is None or m.data != b"child":
                code = 1
            else:
                m.ack()
            fresh.close(drain=0)
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.WEXITSTATUS(status) == 0, status
        m = sub.poll(timeout=1)
        assert m is not None and m.data == b"before"
        m.ack()
        mq.close(drain=0)
        print("ok")
        """,
        timeout=30,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    assert "ok" in p.stdout, p.stdout


# --- BaseException in a push handler ------------------------------------------


def test_system_exit_in_a_handler_stops_the_subscription_and_is_raised_by_close():
    mq = ringmq.Broker()
    t = mq.create_topic("t", max_attempts=1)
    calls = []

    def handler(msg):
        calls.append(msg.data)
        raise SystemExit(3)

    push = t.subscribe("g", handler)
    t.publish(b"a")
    deadline = time.monotonic() + 5
    while not calls and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    # Stopped: later messages reach no handler.
    with pytest.raises(SystemExit) as e:
        t.publish(b"b")
    assert e.value.code == 3
    t.publish(b"c")
    time.sleep(0.2)
    assert calls == [b"a"]
    # Not a failure the handler caused: nothing dead-lettered.
    assert t.dead_letter_topic.stats()["published"] == 0
    with pytest.raises(ringmq.Closed):
        push.unsubscribe()
    # Raised once only.
    mq.close(drain=0)


def test_system_exit_in_a_handler_is_raised_by_close():
    p = run_script(
        """
        import threading, ringmq
        mq = ringmq.Broker()
        t = mq.create_topic("t")
        called = threading.Event()
        def handler(msg):
            called.set()
            raise SystemExit("from a handler")
        t.subscribe("g", handler)
        t.publish(b"a")
        assert called.wait(5)
        mq.close(drain=0)
        print("not reached")
        """,
        timeout=10,
    )
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    assert "from a handler" in p.stderr
    assert "not reached" not in p.stdout


def test_keyboard_interrupt_in_a_handler_interrupts_the_main_thread(mq):
    t = mq.create_topic("t", max_attempts=1)
    calls = []

    def handler(msg):
        calls.append(msg.data)
        raise KeyboardInterrupt

    t.subscribe("g", handler)
    waiting = t.pull("w")
    t.publish(b"a")
    with pytest.raises(KeyboardInterrupt):
        # A blocking wait on the main thread ends with it.
        while True:
            m = waiting.poll(timeout=5)
            if m is not None:
                m.ack()
    t.publish(b"b")
    time.sleep(0.2)
    assert calls == [b"a"]
    assert t.dead_letter_topic.stats()["published"] == 0


def test_keyboard_interrupt_in_a_handler_ends_a_sleeping_main_program():
    p = run_script(
        """
        import time, ringmq
        mq = ringmq.Broker()
        t = mq.create_topic("t")
        t.subscribe("g", lambda m: (_ for _ in ()).throw(KeyboardInterrupt()))
        t.publish(b"a")
        try:
            time.sleep(10)
        except KeyboardInterrupt:
            print("interrupted")
        """,
        timeout=10,
    )
    assert p.returncode == 0, p.stderr
    assert "interrupted" in p.stdout


def test_an_exception_in_a_handler_still_nacks_and_dead_letters(mq):
    t = mq.create_topic("t", max_attempts=1)
    done = threading.Event()

    def handler(msg):
        done.set()
        raise ValueError("bad")

    t.subscribe("g", handler)
    t.publish(b"a")
    assert done.wait(5)
    deadline = time.monotonic() + 5
    while t.dead_letter_topic.stats()["published"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert t.dead_letter_topic.stats()["published"] == 1
    t.publish(b"b")  # no exception kept


# --- an unsettled pulled message and the ring -------------------------------


def test_an_unsettled_pulled_message_does_not_hold_producers_past_its_ack_timeout(mq):
    t = mq.create_topic("forgotten", capacity=4, ack_timeout=0.05)
    sub = t.pull("g")
    first = t.publish(b"first")
    kept = sub.poll(timeout=1)
    assert kept is not None and kept.id == first
    # Never settled, still referenced: redelivered after its ack timeout.
    again = sub.poll(timeout=2)
    assert again is not None and (again.id, again.data, again.attempt) == (first, b"first", 2)
    again.ack()
    # Producers come round the ring (8 publishes on 4 slots), each within
    # its timeout, and every message is consumed.
    for i in range(8):
        mid = t.publish(b"m%d" % i, timeout=1.0)
        m = sub.poll(timeout=1)
        assert m is not None and (m.id, m.data) == (mid, b"m%d" % i)
        m.ack()
    assert sub.poll(timeout=0.05) is None
    # The kept object's settles are stale.
    with pytest.raises(ringmq.InvalidArgument, match="expired"):
        kept.ack()
    assert kept.data == b"first"


def test_a_message_dropped_unsettled_after_unsubscribe_lets_producers_on(mq):
    t = mq.create_topic("left", capacity=4, ack_timeout=30.0)
    sub = t.pull("g")
    t.publish(b"held")
    kept = sub.poll(timeout=1)
    assert kept is not None
    for i in range(3):
        t.publish(b"%d" % i, timeout=1.0)
    sub.unsubscribe()
    # The kept message still pins its slot for the closed subscription...
    with pytest.raises(ringmq.Timeout):
        t.publish(b"blocked", timeout=0.1)
    # ...until it goes: nothing redelivers it now, so its slot is let go.
    del kept
    for i in range(8):
        t.publish(b"after %d" % i, timeout=1.0)


def test_ack_all_takes_messages_of_another_handle_of_the_group(mq):
    t = mq.create_topic("handles")
    sub = t.pull("g")
    other = t.pull_subscription("g")
    t.publish_many([b"a", b"b", b"c"])
    mine = sub.poll(timeout=1.0)
    theirs = other.poll_batch(2, timeout=1.0)
    assert len(theirs) == 2
    assert sub.ack_all([theirs[0], mine, theirs[1]]) == 3
    assert all(m.settled for m in [mine, *theirs])
    assert sub.stats()["acked"] == 3
    assert sub.poll(timeout=0.05) is None
    with pytest.raises(ringmq.InvalidArgument, match="already settled"):
        other.ack_all(theirs)


def test_a_kept_message_does_not_keep_its_broker_open():
    mq = ringmq.Broker(workers_min=1, workers_max=2)
    t = mq.create_topic("t")
    sub = t.pull("g")
    t.publish(b"x")
    m = sub.poll(timeout=1.0)
    del mq, t, sub
    # The last handle went: the broker closed, and the message's settle
    # says so.
    with pytest.raises(ringmq.Closed):
        m.ack()
    assert m.data == b"x"
