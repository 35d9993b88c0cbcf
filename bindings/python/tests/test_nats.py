"""ringmq.nats.Bridge: configuration errors (no server needed) and, with
RINGMQ_NATS_URL set to a NATS server with JetStream (scripts/test-nats.sh
starts one), a round trip: one bridge exports a topic into a stream, a
second imports that stream into another topic."""

import gc
import os
import time
import uuid

import pytest

import ringmq
from ringmq.nats import Bridge, NatsBridge

URL = os.environ.get("RINGMQ_NATS_URL")
needs_server = pytest.mark.skipif(not URL, reason="RINGMQ_NATS_URL is not set")


def test_the_module_exports_the_class():
    assert Bridge is NatsBridge
    assert ringmq.nats.Bridge is Bridge
    assert Bridge.__module__ == "ringmq.nats"


def test_bad_configuration_raises_invalid_argument(mq):
    mq.create_topic("orders")
    export = {"topic": "orders", "group": "nats", "subject": "orders.created"}
    # Checked before any connection: no server needed.
    with pytest.raises(ringmq.InvalidArgument, match="unknown field `subjct`"):
        Bridge(mq, id="t", servers=["nats://127.0.0.1:1"],
               exports=[{"topic": "orders", "group": "nats", "subjct": "x"}])
    with pytest.raises(ValueError, match="servers is empty"):
        Bridge(mq, id="t", servers=[], exports=[export])
    with pytest.raises(ringmq.InvalidArgument, match="id"):
        Bridge(mq, id="has space", servers="nats://127.0.0.1:1")
    with pytest.raises(ringmq.InvalidArgument, match='"missing" does not exist'):
        Bridge(mq, id="t", servers="nats://127.0.0.1:1",
               exports=[dict(export, topic="missing")])
    with pytest.raises(ringmq.InvalidArgument, match="reconnect_max"):
        Bridge(mq, id="t", servers="nats://127.0.0.1:1", reconnect_min=2.0, reconnect_max=1.0)
    with pytest.raises(TypeError):
        Bridge(mq, id="t", servers="nats://127.0.0.1:1", reconnect_min="soon")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Bridge(mq, id="t", servers=5)  # type: ignore[arg-type]


def test_an_unreachable_server_starts_and_stops(mq):
    mq.create_topic("orders")
    with Bridge(mq, id="t", servers="nats://127.0.0.1:1",
                exports=[{"topic": "orders", "group": "nats", "subject": "o"}]) as bridge:
        assert bridge.broker is mq
        s = bridge.stats()
        assert s["connected"] is False
        assert s["exported"] == 0
    assert bridge.stopped
    assert bridge.stop(drain=0)["exported"] == 0
    assert "stopped" in repr(bridge)


def wait_for(cond, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


@needs_server
def test_round_trip_through_jetstream(mq):
    run = uuid.uuid4().hex[:10]
    stream, subject = f"PY_{run}", f"py.{run}.orders"
    orders = mq.create_topic("orders")
    copy = mq.create_topic("copy")
    reader = copy.pull("reader", start="earliest")
    exporter = Bridge(
        mq, id=f"py-{run}", servers=[URL],
        exports=[{"topic": "orders", "group": "nats", "subject": subject, "stream": stream}],
        reconnect_min=0.05, reconnect_max=0.5,
    )
    with exporter:
        n = 50
        for i in range(n):
            orders.publish(b"order-%d" % i, key=i)
        assert wait_for(lambda: exporter.stats()["exported"] == n), exporter.stats()
        s = exporter.stats()
        assert s["connected"] is True
        assert s["in_flight"] == 0 and s["dead_lettered"] == 0
        with Bridge(mq, id=f"py-in-{run}", servers=URL,
                    imports=[{"stream": stream, "consumer": f"c{run}",
                              "topic": "copy", "group": "reader"}]) as importer:
            got = []
            deadline = time.monotonic() + 15
            while len(got) < n and time.monotonic() < deadline:
                m = reader.poll(timeout=0.5)
                if m is not None:
                    got.append(m.data)
                    m.ack()
            assert sorted(got) == sorted(b"order-%d" % i for i in range(n))
            assert wait_for(lambda: importer.stats()["imported"] == n), importer.stats()
        final = importer.stats()
        assert final["imported"] == n and final["connected"] is False
    assert exporter.stats()["exported"] == n


def test_a_collected_bridge_stops_without_holding_the_caller(mq):
    mq.create_topic("orders")
    bridge = Bridge(mq, id="t", servers="nats://127.0.0.1:1",
                    exports=[{"topic": "orders", "group": "nats", "subject": "o"}])
    started = time.monotonic()
    del bridge
    gc.collect()
    # Stopping happens on a thread of its own.
    assert time.monotonic() - started < 0.5
