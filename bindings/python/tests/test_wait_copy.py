"""A poll that waits lets the GIL go; getting it back can take any time (a
thread holding it, a long switch interval). What the poll returns must
still be the message it names: its payload is copied out under the same
hold of the GIL as the take, never after a wait, since a message held by
its raw tag is only pinned until its ack deadline."""

import sys
import threading
import time

import pytest

import ringmq


def spin(seconds):
    """Holds the GIL (pure Python) for about `seconds`, with a long switch
    interval set by the caller."""
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        n += 1
    return n


@pytest.mark.parametrize("how", ["poll", "poll_batch", "poll_raw"])
def test_a_waiting_poll_that_gets_the_gil_late_returns_whole_messages(mq, how):
    t = mq.create_topic("late", capacity=4, slot_size=16, ack_timeout=0.05,
                        backoff_base=0.001, backoff_max=0.001)
    sub = t.pull("g")
    got = []
    started = threading.Barrier(3)

    def consumer():
        started.wait()
        if how == "poll":
            m = sub.poll(timeout=5)
            got.append((m.id, m.data))
            settle = m.ack
        elif how == "poll_batch":
            batch = sub.poll_batch(1, timeout=5)
            got.extend((m.id, m.data) for m in batch)
            settle = lambda: sub.ack_all(batch)  # noqa: E731
        else:
            raw = sub.poll_raw(1, timeout=5)
            got.extend((raw.id(i), raw.payload(i)) for i in range(len(raw)))
            settle = raw.ack_all
        try:
            settle()
        except ringmq.InvalidArgument as e:
            # Starved of the GIL past its deadline: it was redelivered.
            assert "expired" in str(e)

    # Two consumers wait in the engine with the GIL let go; the one that
    # does not get the first message goes on waiting there, and a poll
    # that waits in the engine runs the ack timer.
    ths = [threading.Thread(target=consumer) for _ in range(2)]
    for th in ths:
        th.start()
    started.wait()
    time.sleep(0.05)
    old = sys.getswitchinterval()
    sys.setswitchinterval(2.0)
    try:
        ids = [t.publish(b"m0")]
        # A consumer's wait ends, but it cannot get the GIL back while
        # this thread spins: the first message's ack deadline passes (the
        # other consumer's wait in the engine runs the ack timer), and
        # producers go round the ring over its slot.
        spin(0.3)
        for i in range(1, 5):
            ids.append(t.publish(b"m%d" % i, timeout=0))
    except ringmq.RingMQError:
        pass  # a full ring: the slot was not freed, nothing to overwrite
    finally:
        sys.setswitchinterval(old)
    for th in ths:
        th.join(10)
        assert not th.is_alive()
    assert len(got) == 2
    for mid, data in got:
        assert data == b"m%d" % ids.index(mid), (got, ids)
