"""Durable topics: messages and group positions kept in the broker's
data_dir survive closing the broker and opening a new one on it."""

import os
import pathlib
import time

import pytest

import ringmq

DURABLE = dict(durable=True, fsync="batch", fsync_interval=0.05, segment_bytes=1 << 16,
               capacity=64, ack_timeout=5.0, backoff_base=0.01, backoff_max=0.01)


def open_broker(data_dir):
    return ringmq.Broker(workers_min=1, workers_max=2, data_dir=data_dir)


def test_messages_survive_a_restart_with_every_field(tmp_path):
    mq = open_broker(str(tmp_path))
    t = mq.create_topic("orders", **DURABLE)
    sent = []
    for i in range(20):
        mid = t.publish(b"order %d" % i, key=i * 3,
                        headers={"n": str(i), "kind": b"order"},
                        msg_id=b"o-%d" % i)
        sent.append((mid, b"order %d" % i, i * 3, {"n": str(i).encode(), "kind": b"order"},
                     b"o-%d" % i))
    mq.close(drain=0)
    assert mq.closed

    mq = open_broker(str(tmp_path))
    try:
        t = mq.create_topic("orders", **DURABLE)
        sub = t.pull("reader", start="earliest")
        got = []
        while (m := sub.poll(timeout=1.0)) is not None:
            got.append((m.id, m.data, m.key, m.headers, m.msg_id))
            assert m.attempt == 1
            m.ack()
        assert got == sent
    finally:
        mq.close(drain=0)


def test_a_group_resumes_where_it_acked(tmp_path):
    mq = open_broker(tmp_path)
    t = mq.create_topic("jobs", **DURABLE)
    sub = t.pull("workers")
    ids = [t.publish(b"job %d" % i) for i in range(10)]
    kept = []
    for i in range(6):
        m = sub.poll(timeout=2.0)
        assert m is not None and m.id == ids[i] and m.attempt == 1
        if i % 2:
            kept.append(m)  # taken, never settled
        else:
            m.ack()
    mq.close(drain=0)

    mq = open_broker(tmp_path)
    try:
        t = mq.create_topic("jobs", **DURABLE)
        sub = t.pull("workers")
        got = []
        while (m := sub.poll(timeout=0.5)) is not None:
            got.append((m.id, m.attempt, m.data))
            m.ack()
        want = [(m.id, 2, m.data) for m in kept]
        want += [(ids[i], 1, b"job %d" % i) for i in range(6, 10)]
        assert sorted(got) == sorted(want)
    finally:
        mq.close(drain=0)


def test_a_second_broker_on_the_same_dir_is_refused(tmp_path):
    mq = open_broker(tmp_path)
    try:
        with pytest.raises(ringmq.Exists):
            open_broker(tmp_path)
        with pytest.raises(ringmq.Exists):
            open_broker(str(tmp_path))
    finally:
        mq.close(drain=0)
    # Free again once closed.
    open_broker(tmp_path).close(drain=0)


def test_durable_needs_a_data_dir(mq):
    with pytest.raises(ringmq.InvalidArgument, match="data_dir"):
        mq.create_topic("d", durable=True)
    with pytest.raises(ValueError):
        mq.create_topic("d", durable=True)
    assert mq.topic_names() == []
    # The name is still free.
    mq.create_topic("d")


def test_bad_durable_options_raise_and_change_nothing(tmp_path):
    mq = open_broker(tmp_path)
    try:
        for bad in [dict(fsync="sometimes"), dict(fsync=""), dict(fsync_interval=0),
                    dict(fsync_interval=-1.0), dict(segment_bytes=10), dict(segment_bytes=-1),
                    dict(segment_bytes=4096, max_bytes=4096), dict(max_bytes=-1)]:
            with pytest.raises(ringmq.InvalidArgument):
                mq.create_topic("t", durable=True, **bad)
        with pytest.raises(ringmq.InvalidArgument, match="sometimes"):
            mq.create_topic("t", durable=True, fsync="sometimes")
        with pytest.raises(TypeError):
            mq.create_topic("t", durable="yes")
        with pytest.raises(TypeError):
            mq.create_topic("t", durable=True, fsync=1)
        assert mq.topic_names() == []
        mq.create_topic("t", durable=True).publish(b"x")
        for fsync in ringmq._ringmq.FSYNC_VALUES:
            t = mq.create_topic(f"f-{fsync}", durable=True, fsync=fsync)
            t.publish(b"x")
    finally:
        mq.close(drain=0)


def test_bad_data_dirs_raise(tmp_path):
    with pytest.raises(TypeError, match="data_dir"):
        ringmq.Broker(data_dir=42)
    with pytest.raises(TypeError, match="data_dir"):
        ringmq.Broker(data_dir=b"/tmp")
    with pytest.raises(ringmq.InvalidArgument, match="data_dir"):
        ringmq.Broker(data_dir="")
    with pytest.raises(TypeError, match="repair"):
        ringmq.Broker(data_dir=tmp_path, repair="yes")
    # A file where the directory should be.
    f = tmp_path / "file"
    f.write_bytes(b"")
    with pytest.raises(ringmq.StorageError) as e:
        ringmq.Broker(data_dir=f / "sub")
    assert isinstance(e.value, OSError)
    # None is no data_dir.
    ringmq.Broker(data_dir=None).close(drain=0)


class OwnPath(os.PathLike):
    def __init__(self, path):
        self.path = path

    def __fspath__(self):
        return self.path


@pytest.mark.parametrize("as_path", [pathlib.Path, OwnPath, lambda p: OwnPath(os.fsencode(p))],
                         ids=["pathlib", "pathlike-str", "pathlike-bytes"])
def test_a_path_like_data_dir(tmp_path, as_path):
    d = tmp_path / "data"
    mq = open_broker(as_path(str(d)))
    t = mq.create_topic("p", **DURABLE)
    mid = t.publish(b"kept")
    mq.close(drain=0)
    assert d.is_dir()
    mq = open_broker(as_path(str(d)))
    try:
        sub = mq.create_topic("p", **DURABLE).pull("g", start="earliest")
        m = sub.poll(timeout=1.0)
        assert (m.id, m.data) == (mid, b"kept")
        m.ack()
    finally:
        mq.close(drain=0)


def test_max_bytes_bounds_the_log_and_counts_what_it_removes(tmp_path):
    mq = open_broker(tmp_path)
    try:
        t = mq.create_topic("bounded", durable=True, fsync="never", fsync_interval=0.005,
                            segment_bytes=4096, max_bytes=3 * 4096, overflow="drop_oldest",
                            capacity=16, slot_size=64)
        s = t.pull("slow")
        for i in range(2000):
            t.publish(i.to_bytes(8, "little"), timeout=5.0)
        time.sleep(0.05)
        got = 0
        while (m := s.poll(timeout=0.2)) is not None:
            m.ack()
            got += 1
        dropped = s.stats()["retention_dropped"]
        assert dropped > 0
        assert got + dropped == 2000
        assert t.stats()["log_bytes"] <= 5 * 4096
    finally:
        mq.close(drain=0)
