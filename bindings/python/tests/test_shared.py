"""One broker shared by threads: Broker(name=...) and Broker.open(name)."""

import os
import threading
import warnings

import pytest

import ringmq


def test_threads_open_the_broker_by_name_and_each_message_goes_once():
    producers, consumers, per = 4, 3, 3000
    total = producers * per
    seen = set()
    lock = threading.Lock()
    errors = []

    def produce(p):
        try:
            with ringmq.Broker.open("py-many") as mq:
                t = mq.topic("t")
                for n in range(per):
                    t.publish(f"{p}/{n}".encode(), timeout=10.0)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    def consume():
        try:
            mq = ringmq.Broker.open("py-many")
            sub = mq.topic("t").pull_subscription("g")
            while True:
                with lock:
                    if len(seen) == total:
                        break
                for m in sub.poll_batch(64, timeout=0.02):
                    with lock:
                        assert m.data not in seen, "a message came twice"
                        seen.add(m.data)
                    m.ack()
            report = mq.close(drain=1.0)
            # The creator's handle is open still: this close released ours.
            assert report["handles_left"] > 0
            assert mq.closed
            with pytest.raises(ringmq.Closed):
                mq.topic("t")
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    with ringmq.Broker(name="py-many", workers_max=4) as mq:
        assert "py-many" in repr(mq)
        mq.create_topic("t", capacity=256).pull("g")
        threads = [threading.Thread(target=produce, args=(p,)) for p in range(producers)]
        threads += [threading.Thread(target=consume) for _ in range(consumers)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
        assert not errors, errors
        assert seen == {f"{p}/{n}".encode() for p in range(producers) for n in range(per)}
        assert not any(th.is_alive() for th in threads)
    with pytest.raises(ringmq.NotFound):
        ringmq.Broker.open("py-many")


def test_the_broker_closes_with_its_last_handle_and_frees_its_name():
    a = ringmq.Broker(name="py-last")
    t = a.create_topic("t")
    sub = t.pull("g")
    b = ringmq.Broker.open("py-last")
    r = a.close(drain=5.0)
    assert r["handles_left"] == 1 and r["undelivered"] == 0
    assert a.closed and not b.closed
    # What was taken through a goes on while b is open.
    t.publish(b"one")
    sub.poll(timeout=5.0).ack()
    t.publish(b"left")
    r = b.close(drain=0.05)
    assert r["handles_left"] == 0 and r["undelivered"] == 1
    with pytest.raises(ringmq.Closed):
        t.publish(b"after")
    with pytest.raises(ringmq.NotFound):
        ringmq.Broker.open("py-last")
    # The name is free again: a new, empty broker.
    with ringmq.Broker(name="py-last") as again:
        assert again.topic_names() == []


def test_a_handle_dropped_by_another_thread_releases_it():
    a = ringmq.Broker(name="py-drop")
    a.create_topic("t")

    def use_and_drop():
        mq = ringmq.Broker.open("py-drop")
        mq.topic("t").publish(b"x")
        del mq

    th = threading.Thread(target=use_and_drop)
    th.start()
    th.join()
    assert a.close(drain=0)["handles_left"] == 0


def test_a_name_in_use_bad_names_and_concurrent_creates():
    with ringmq.Broker(name="py-taken"):
        with pytest.raises(ringmq.Exists, match="py-taken"):
            ringmq.Broker(name="py-taken")
    for bad in ["", "n" * 256, "nul\0inside"]:
        with pytest.raises(ringmq.InvalidArgument):
            ringmq.Broker(name=bad)
        with pytest.raises(ringmq.InvalidArgument):
            ringmq.Broker.open(bad)
    with pytest.raises(TypeError):
        ringmq.Broker(name=b"bytes")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ringmq.Broker.open(7)  # type: ignore[arg-type]

    start = threading.Barrier(6)
    results = []

    def create():
        start.wait()
        try:
            results.append(ringmq.Broker(name="py-race"))
        except ringmq.Exists as e:
            results.append(e)

    threads = [threading.Thread(target=create) for _ in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    won = [r for r in results if isinstance(r, ringmq.Broker)]
    assert len(won) == 1 and len(results) == 6
    won[0].close(drain=0)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_is_not_handed_the_parents_broker():
    with ringmq.Broker(name="py-fork") as mq:
        mq.create_topic("t")
        r, w = os.pipe()
        with warnings.catch_warnings():
            # Python 3.12+ warns about forking a process with threads.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            code = 1
            try:
                try:
                    ringmq.Broker.open("py-fork")
                except ringmq.NotFound:
                    code = 2
                except ringmq.Closed as e:
                    assert "parent process" in str(e)
                    own = ringmq.Broker(name="py-fork")
                    own.create_topic("mine")
                    own.close(drain=0)
                    code = 0
                except BaseException:
                    code = 3
            finally:
                os.write(w, bytes([code]))
                os._exit(code)
        os.close(w)
        _, status = os.waitpid(pid, 0)
        assert os.read(r, 1) == b"\0" and os.waitstatus_to_exitcode(status) == 0
        os.close(r)
        assert ringmq.Broker.open("py-fork").topic_names() == ["t", "t.dlq"]
