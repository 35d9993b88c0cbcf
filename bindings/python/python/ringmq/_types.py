"""The shapes of the dicts RingMQ returns and takes, as ``TypedDict`` classes.

At run time they are plain dicts; to a type checker each key has its
type, so that ``topic.stats()["publishd"]`` is an error and
``topic.stats()["published"]`` an ``int``. Import them from ``ringmq``
(``ringmq.TopicStats``, ``ringmq.SubStats``, ``ringmq.PoolStats``,
``ringmq.CloseReport``) and ``ringmq.nats`` (``BridgeStats``, ``Export``,
``Import``) to annotate your own code::

    def lagging(stats: ringmq.SubStats) -> bool:
        return stats["lag"] > 1000

The stats dicts are generated from the engine's declarations (the same
tables as the C structs, the Node types and docs/REFERENCE.md) by
``cargo run -p gen-surface``; tests hold the others to what the module
returns.
"""

from typing import List, Optional, Tuple, TypedDict

__all__ = [
    "TopicStats",
    "SubStats",
    "PoolStats",
    "CloseReport",
    "BridgeStats",
    "Export",
    "Import",
]

# BEGIN GENERATED types: written by `cargo run -p gen-surface` from ringmq-core; do not edit


class TopicStats(TypedDict):
    """What ``Topic.stats()`` returns: a topic's counters."""

    # The topic's name.
    topic: str
    # Messages accepted into the topic's ring.
    published: int
    # Publishes refused with Full because the ring was full.
    rejected: int
    # Publishes that gave up with Timeout waiting for room.
    timed_out: int
    # Messages overwritten or skipped before a subscription consumed them, summed over subscriptions.
    dropped: int
    # Messages in the ring not yet settled by the slowest subscription.
    depth: int
    # Slots in the topic's ring.
    capacity: int
    # Subscriptions of the topic.
    subscriptions: int
    # Delayed messages waiting outside the ring for their due time.
    delayed: int
    # Publishes whose msg_id was already published within the dedupe window (nothing stored).
    duplicates: int
    # Bytes of a durable topic's log on disk (0 for a topic in memory).
    log_bytes: int
    # Segment files of a durable topic's log (0 for a topic in memory).
    log_segments: int


class SubStats(TypedDict):
    """What ``stats()`` of a subscription returns (and
    ``Topic.subscription_stats()`` by group): its counters and latency."""

    # The topic's name.
    topic: str
    # The subscription's group.
    group: str
    # Deliveries handed to consumers, each attempt counted.
    delivered: int
    # Messages acknowledged.
    acked: int
    # Negative acknowledgements, handler errors and panics.
    nacked: int
    # Messages scheduled for another attempt after a nack or an ack timeout.
    retried: int
    # Messages moved to the dead-letter topic.
    dead_lettered: int
    # Messages a lossy subscription skipped.
    dropped: int
    # Deliveries not settled within ack_timeout.
    expired: int
    # Push handlers that panicked (each also counts as a nack).
    handler_panics: int
    # Deliveries handed out and not yet settled.
    in_flight: int
    # Messages waiting outside the ring for a retry, or for room in a full dead-letter topic.
    waiting_retry: int
    # Messages published but not yet delivered to the subscription.
    lag: int
    # Time from publish to ack, median (within 1/16). In nanoseconds.
    latency_p50_ns: int
    # Time from publish to ack, 99th percentile (within 1/16). In nanoseconds.
    latency_p99_ns: int
    # Time from publish to ack, 99.9th percentile (within 1/16). In nanoseconds.
    latency_p999_ns: int
    # Time from publish to ack, the longest seen. In nanoseconds.
    latency_max_ns: int
    # Acks whose publish-to-ack time was measured.
    latency_count: int
    # Sum of the measured publish-to-ack times. In nanoseconds.
    latency_sum_ns: int
    # Deliveries settled with term by a consumer (straight to the dead-letter topic).
    termed: int
    # Messages past their ttl or the topic's max_age, never delivered (dead-lettered or dropped).
    expired_messages: int
    # 1 while the subscription is paused, else 0.
    paused: int
    # Deliveries past their ack timeout whose ring slot a live holder still pins, holding producers back.
    pinned: int
    # Messages of a durable topic its retention removed before this subscription took them.
    retention_dropped: int
    # The text of the last handler failure or nack reason, if any.
    last_error: Optional[str]


class PoolStats(TypedDict):
    """What ``Broker.pool_stats()`` returns: the worker pool."""

    # Worker threads alive.
    workers: int
    # Workers running handlers.
    busy: int
    # Workers waiting for work.
    idle: int
    # Handler panics caught (the message was nacked, the worker lived on).
    panics: int
    # Workers started by the load curve.
    grown: int
    # Workers that left after idle_timeout.
    shrunk: int
    # The pool size the load curve asks for.
    target: int
    # Smoothed share of the workers' time spent in handlers. Between 0 and 1.
    utilisation: float

# END GENERATED types


class CloseReport(TypedDict):
    """What ``Broker.close()`` returns: what the drain left unfinished."""

    # Messages no subscription had finished with when the drain ended:
    # undelivered, in flight, or waiting for a retry (summed over
    # subscriptions).
    undelivered: int
    # Of those, deliveries handed out and not settled.
    in_flight: int
    # Of those, messages waiting for a retry.
    waiting_retry: int
    # True if the drain ended by its timeout rather than by running dry.
    timed_out: bool
    # Per subscription with something left: (topic, group, messages left).
    left: List[Tuple[str, str, int]]
    # Delayed messages whose due time had not come (the drain does not wait
    # for them); they are dropped with their topics.
    delayed: int
    # Deliveries past their ack timeout whose ring slot a message not yet
    # settled still pinned (part of what ``expired`` counted, not of
    # ``in_flight``).
    pinned: int
    # Handles of the broker still open after this close: 0 when it stopped
    # the broker; more when it only released this handle of a named broker
    # (Broker.open), and the keys above are all zero.
    handles_left: int


class BridgeStats(TypedDict):
    """What ``ringmq.nats.Bridge.stats()`` and ``stop()`` return."""

    # Messages JetStream acknowledged (duplicates included) and the bridge
    # then acked in RingMQ.
    exported: int
    # JetStream deliveries published into RingMQ.
    imported: int
    # Messages taken from RingMQ or JetStream and not yet settled.
    in_flight: int
    # Times the connection to NATS was established again after a loss.
    reconnects: int
    # Exported messages JetStream refused for good (dead-lettered in
    # RingMQ), and imported messages terminated in JetStream.
    dead_lettered: int
    # Connected to NATS now.
    connected: bool
    # The last error seen (NATS or RingMQ), if any.
    last_error: Optional[str]


class _ExportRequired(TypedDict):
    topic: str
    # The pull subscription the bridge reads with (created if missing).
    group: str
    subject: str


class Export(_ExportRequired, total=False):
    """One entry of ``exports=``: a RingMQ topic copied into a JetStream
    subject (docs/NATS.md). Any other key is refused."""

    # A stream created, if missing, capturing the subject.
    stream: Optional[str]
    # Messages published and not yet acked by JetStream (default 256).
    max_in_flight: Optional[int]


class _ImportRequired(TypedDict):
    stream: str
    # The durable pull consumer's name (created if missing).
    consumer: str
    topic: str
    # A pull subscription of the topic made sure of before importing.
    group: str


class Import(_ImportRequired, total=False):
    """One entry of ``imports=``: a JetStream stream copied into a RingMQ
    topic (docs/NATS.md). Any other key is refused."""

    filter_subject: Optional[str]
    # Messages fetched from JetStream at once (default 64).
    batch: Optional[int]
