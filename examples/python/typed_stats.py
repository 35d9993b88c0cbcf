"""Typed use of RingMQ, checked by `mypy --strict` (scripts/test-python.sh):
payloads of every buffer type, a push handler that dead-letters a poison
message, the dead letter read back, and the stats and close report as the
TypedDicts they are (`ringmq.TopicStats`, `SubStats`, `PoolStats`,
`CloseReport`).

    python examples/python/typed_stats.py
"""

from __future__ import annotations

import array
import threading

import ringmq


def describe(name: str, stats: ringmq.SubStats) -> str:
    p99_ms = stats["latency_p99_ns"] / 1e6
    why = f", last error {stats['last_error']!r}" if stats["last_error"] else ""
    return (f"{name}: {stats['acked']} acked, {stats['dead_lettered']} dead-lettered, "
            f"lag {stats['lag']}, p99 {p99_ms:.2f} ms{why}")


def publish_all(topic: ringmq.Topic) -> list[int]:
    """One message per kind of payload the binding takes."""
    payloads: list[bytes | bytearray | memoryview | array.array[int]] = [
        b"bytes",
        bytearray(b"bytearray"),
        memoryview(b"memoryview"),
        array.array("B", b"array"),
        b"poison",
    ]
    return [topic.publish(p, key=i) for i, p in enumerate(payloads)]


def billing(msg: ringmq.Message) -> None:
    if msg.data == b"poison":
        raise ringmq.Term("cannot bill this")


def run() -> tuple[ringmq.TopicStats, ringmq.CloseReport]:
    mq = ringmq.Broker(workers_max=2)
    orders = mq.create_topic("orders", max_attempts=2)
    settled = threading.Semaphore(0)

    def counted(msg: ringmq.Message) -> None:
        try:
            billing(msg)
        finally:
            settled.release()

    push = orders.subscribe("billing", counted)
    audit = orders.pull("audit", start="earliest")
    ids = publish_all(orders)
    for _ in ids:
        settled.acquire(timeout=5)
    for msg in audit.poll_batch(len(ids), timeout=1.0):
        msg.ack()

    dlq = orders.dead_letter_topic
    assert dlq is not None
    dead = dlq.pull("inspect", start="earliest").poll(timeout=1.0)
    assert dead is not None
    print(f"dead letter {dead.id}: {bytes(dead.data)!r} from group {dead.dead_letter_group}: {dead.error}")
    dead.ack()

    assert push.stats()["dead_lettered"] == 1
    for group, sub_stats in orders.subscription_stats().items():
        print(describe(group, sub_stats))
    pool: ringmq.PoolStats = mq.pool_stats()
    print(f"pool: {pool['workers']} workers, utilisation {pool['utilisation']:.2f}")
    topic_stats: ringmq.TopicStats = orders.stats()
    report: ringmq.CloseReport = mq.close(drain=1.0)
    return topic_stats, report


def published_with_block() -> int:
    """A `with` block that returns: the broker closes on the way out (and a
    type checker knows that the block does not swallow exceptions, so it
    reports no missing return)."""
    with ringmq.Broker() as mq:
        return mq.create_topic("t").publish(b"x") + 1


if __name__ == "__main__":
    topic_stats, report = run()
    print(f"orders: {topic_stats['published']} published, depth {topic_stats['depth']}")
    left = ", ".join(f"{t}/{g}: {n}" for t, g, n in report["left"]) or "nothing"
    print(f"closed: {report['undelivered']} undelivered, timed out: {report['timed_out']}, left {left}")
    assert topic_stats["published"] == 5 and report["undelivered"] == 0
    assert published_with_block() == 1
