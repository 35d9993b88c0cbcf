"""Type stubs of the compiled module ``ringmq._ringmq``."""

import datetime
import os
from types import TracebackType
from typing import (
    Any,
    AsyncIterator,
    Callable,
    Coroutine,
    Dict,
    Iterable,
    Iterator,
    List,
    Literal,
    Mapping,
    Optional,
    Tuple,
    Type,
    TypedDict,
    Union,
    final,
)

# PEP 688: any object with the buffer protocol (bytes, bytearray,
# memoryview, array.array, mmap, NumPy arrays, ...). Type checkers know it
# without typing_extensions being installed.
from typing_extensions import Buffer

from ._types import BridgeStats, CloseReport, Export, Import


__version__: str
ENGINE_VERSION: str

# The core's declarations, as the module exports them (tests hold the typed
# dicts below and the signatures to these).
TOPIC_STATS_FIELDS: Tuple[str, ...]
SUB_STATS_FIELDS: Tuple[str, ...]
POOL_STATS_FIELDS: Tuple[str, ...]
# Option name -> its default as Python takes it (None: unset, or worked out
# at run time).
BROKER_OPTIONS: Dict[str, Union[int, float, bool, str, None]]
TOPIC_OPTIONS: Dict[str, Union[int, float, bool, str, None]]
SUB_OPTIONS: Dict[str, Union[int, float, bool, str, None]]
OVERFLOW_VALUES: Tuple[str, ...]
START_VALUES: Tuple[str, ...]
EXPIRED_VALUES: Tuple[str, ...]
FSYNC_VALUES: Tuple[str, ...]
ERROR_CLASSES: Dict[str, Type["RingMQError"]]

# BEGIN GENERATED types: written by `cargo run -p gen-surface` from ringmq-core; do not edit
_Overflow = Literal["block", "reject", "drop_oldest"]
_Start = Literal["latest", "earliest"]
_Expired = Literal["dead_letter", "drop"]
_Fsync = Literal["always", "batch", "interval", "never"]

class _TopicStats(TypedDict):
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

class _SubStats(TypedDict):
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

class _PoolStats(TypedDict):
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
# A file system path.
_Path = Union[str, "os.PathLike[str]"]
# A payload: any object with the buffer protocol is accepted (bytes is
# read in place; anything else is copied). A str is refused: encode it.
_BytesLike = Buffer
# Header values: any buffer, or str (encoded UTF-8).
_Headers = Union[
    Mapping[str, Union[_BytesLike, str]], Iterable[Tuple[str, Union[_BytesLike, str]]]
]

class RingMQError(Exception):
    """Base class of every RingMQ error."""

class Full(RingMQError):
    """The topic is full and its overflow policy is "reject"."""

class Timeout(RingMQError, TimeoutError):
    """A blocking call ran out of time (also a TimeoutError)."""

class TooLarge(RingMQError):
    """The payload is larger than the topic's slot_size."""

class NotFound(RingMQError):
    """No topic or subscription of that name."""

class Exists(RingMQError):
    """A topic or subscription of that name already exists."""

class Closed(RingMQError):
    """The broker, topic or subscription is closed."""

class InvalidArgument(RingMQError, ValueError):
    """A value the call cannot accept (also a ValueError)."""

class Interrupted(RingMQError):
    """A wait was interrupted before it ended; it changed nothing."""

class StorageError(RingMQError, OSError):
    """Reading or writing a durable topic's files failed (also an OSError)."""

@final
class _Interrupt:
    def __init__(self) -> None: ...
    def interrupt(self) -> None: ...

@final
class _PendingPublish:
    def _wait(self, timeout: Optional[float], interrupt: _Interrupt) -> Any: ...

@final
class _Completion:
    def _ack(self) -> None: ...
    def _fail(self, exc: BaseException) -> bool: ...
    def _release(self, reason: str) -> None: ...

@final
class Message:
    """A delivered message."""

    @property
    def id(self) -> int: ...
    @property
    def key(self) -> int: ...
    @property
    def attempt(self) -> int: ...
    @property
    def timestamp_ns(self) -> int: ...
    @property
    def data(self) -> bytes: ...
    @property
    def headers(self) -> Dict[str, bytes]: ...
    @property
    def msg_id(self) -> Optional[bytes]: ...
    @property
    def error(self) -> Optional[str]: ...
    @property
    def dead_letter_group(self) -> Optional[str]: ...
    @property
    def settled(self) -> bool: ...
    def ack(self) -> None: ...
    def nack(self, delay: Optional[float] = None, reason: Optional[str] = None) -> None: ...
    def requeue(self) -> None: ...
    def term(self, reason: Optional[str] = None) -> None: ...
    def in_progress(self) -> None: ...
    def __len__(self) -> int: ...

@final
class RawBatch:
    """The messages of one ``poll_raw``, packed: payloads back to back in
    ``data``, other fields read by index."""

    @property
    def data(self) -> bytes: ...
    # Read-only memoryviews of format "Q" (unsigned 64-bit ints).
    @property
    def offsets(self) -> memoryview: ...
    @property
    def lengths(self) -> memoryview: ...
    def id(self, i: int) -> int: ...
    def key(self, i: int) -> int: ...
    def attempt(self, i: int) -> int: ...
    def timestamp_ns(self, i: int) -> int: ...
    def payload(self, i: int) -> bytes: ...
    def headers(self, i: int) -> Dict[str, bytes]: ...
    def msg_id(self, i: int) -> Optional[bytes]: ...
    def error(self, i: int) -> Optional[str]: ...
    def dead_letter_group(self, i: int) -> Optional[str]: ...
    def settled(self, i: int) -> bool: ...
    def ack(self, i: int) -> None: ...
    def nack(
        self, i: int, delay: Optional[float] = None, reason: Optional[str] = None
    ) -> None: ...
    def requeue(self, i: int) -> None: ...
    def term(self, i: int, reason: Optional[str] = None) -> None: ...
    def in_progress(self, i: int) -> None: ...
    def ack_all(self) -> int: ...
    def __len__(self) -> int: ...

@final
class PullSubscription:
    """A pull subscription (consumer group): poll and settle."""

    @property
    def group(self) -> str: ...
    @property
    def topic(self) -> str: ...
    def poll(self, timeout: Optional[float] = None) -> Optional[Message]: ...
    def poll_batch(self, max: int, timeout: Optional[float] = None) -> List[Message]: ...
    def poll_raw(self, max: int, timeout: Optional[float] = None) -> RawBatch: ...
    def _wait(
        self, max: int, timeout: Optional[float], interrupt: _Interrupt
    ) -> List[Message]: ...
    def _readiness_fd(self) -> Optional[int]: ...
    def ack_all(self, messages: Union[Iterable[Message], RawBatch]) -> int: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    @property
    def paused(self) -> bool: ...
    def why_idle(self) -> List[str]: ...
    def __iter__(self) -> Iterator[Message]: ...
    def __next__(self) -> Message: ...
    def poll_async(
        self, timeout: Optional[float] = None
    ) -> Coroutine[Any, Any, Optional[Message]]: ...
    def poll_batch_async(
        self, max: int, timeout: Optional[float] = None
    ) -> Coroutine[Any, Any, List[Message]]: ...
    def aiter(self) -> AsyncIterator[Message]: ...
    def __aiter__(self) -> AsyncIterator[Message]: ...
    def stats(self) -> _SubStats: ...
    def unsubscribe(self) -> None: ...

@final
class PushSubscription:
    """A push subscription: its handler runs on the broker's pool."""

    @property
    def group(self) -> str: ...
    @property
    def topic(self) -> str: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    @property
    def paused(self) -> bool: ...
    def why_idle(self) -> List[str]: ...
    def stats(self) -> _SubStats: ...
    def unsubscribe(self) -> None: ...

@final
class Topic:
    """A named ring of slots with its subscriptions."""

    @property
    def name(self) -> str: ...
    @property
    def capacity(self) -> int: ...
    @property
    def slot_size(self) -> int: ...
    @property
    def overflow(self) -> _Overflow: ...
    @property
    def max_attempts(self) -> int: ...
    @property
    def ack_timeout(self) -> float: ...
    @property
    def dead_letter_topic(self) -> Optional["Topic"]: ...
    def publish(
        self,
        data: _BytesLike,
        key: int = 0,
        timeout: Optional[float] = None,
        *,
        headers: Optional[_Headers] = None,
        msg_id: Optional[Union[_BytesLike, str]] = None,
        delay: Optional[float] = None,
        ttl: Optional[float] = None,
    ) -> int: ...
    def publish_many(
        self, items: Iterable[_BytesLike], key: int = 0, timeout: Optional[float] = None
    ) -> List[int]: ...
    def publish_packed(
        self,
        data: _BytesLike,
        # A list of ints, or a buffer of ints (array('I'), a memoryview).
        lengths: Iterable[int],
        key: int = 0,
        timeout: Optional[float] = None,
    ) -> int: ...
    def publish_async(
        self,
        data: _BytesLike,
        key: int = 0,
        timeout: Optional[float] = None,
        *,
        headers: Optional[_Headers] = None,
        msg_id: Optional[Union[_BytesLike, str]] = None,
        delay: Optional[float] = None,
        ttl: Optional[float] = None,
    ) -> Coroutine[Any, Any, int]: ...
    def publish_many_async(
        self, items: Iterable[_BytesLike], key: int = 0, timeout: Optional[float] = None
    ) -> Coroutine[Any, Any, List[int]]: ...
    def subscribe(
        self,
        group: str,
        # A plain function, or (subscribed from a coroutine) an async def
        # or any callable returning an awaitable: it runs on that loop.
        handler: Callable[[Message], Any],
        concurrency: int = 1,
        ordered_by_key: bool = False,
        lossy: bool = False,
        start: _Start = "latest",
        max_in_flight_per_key: int = 0,
        rate_limit: Optional[float] = None,
        rate_burst: int = 0,
        start_at_id: Optional[int] = None,
        start_at_time: Optional[Union[float, datetime.datetime]] = None,
    ) -> PushSubscription: ...
    def pull(
        self,
        group: str,
        lossy: bool = False,
        start: _Start = "latest",
        max_in_flight_per_key: int = 0,
        rate_limit: Optional[float] = None,
        rate_burst: int = 0,
        start_at_id: Optional[int] = None,
        start_at_time: Optional[Union[float, datetime.datetime]] = None,
    ) -> PullSubscription: ...
    def pull_subscription(self, group: str) -> PullSubscription: ...
    def stats(self) -> _TopicStats: ...
    def subscription_stats(self) -> Dict[str, _SubStats]: ...

@final
class Broker:
    """One engine instance: topics and one worker pool."""

    def __new__(
        cls,
        *,
        workers_min: Optional[int] = None,
        workers_max: Optional[int] = None,
        idle_timeout: Optional[float] = None,
        data_dir: Optional[_Path] = None,
        repair: bool = False,
        name: Optional[str] = None,
    ) -> "Broker": ...
    @staticmethod
    def open(name: str) -> "Broker": ...
    def create_topic(
        self,
        name: str,
        capacity: int = 1024,
        slot_size: int = 256,
        overflow: _Overflow = "block",
        max_attempts: int = 4,
        backoff_base: float = 0.1,
        backoff_max: float = 10.0,
        ack_timeout: float = 30.0,
        retry_capacity: int = 0,
        max_header_bytes: int = 1024,
        max_delayed: int = 0,
        max_age: float = 0.0,
        expired: _Expired = "dead_letter",
        dedupe_window: float = 120.0,
        dedupe_max: int = 0,
        durable: bool = False,
        fsync: _Fsync = "batch",
        fsync_interval: float = 0.05,
        segment_bytes: int = 67108864,
        max_bytes: int = 0,
    ) -> Topic: ...
    def topic(self, name: str) -> Topic: ...
    def topic_names(self) -> List[str]: ...
    @property
    def closed(self) -> bool: ...
    def close(self, drain: Optional[float] = None) -> CloseReport: ...
    def aclose(self, drain: Optional[float] = None) -> Coroutine[Any, Any, CloseReport]: ...
    def _close_interruptible(self, drain: float, interrupt: _Interrupt) -> CloseReport: ...
    def metrics_text(self) -> str: ...
    def pool_stats(self) -> _PoolStats: ...
    def __enter__(self) -> "Broker": ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> Literal[False]: ...
    def __aenter__(self) -> Coroutine[Any, Any, "Broker"]: ...
    def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> Coroutine[Any, Any, Literal[False]]: ...

@final
class NatsBridge:
    """A running bridge between a broker's topics and NATS JetStream
    (``ringmq.nats.Bridge``)."""

    def __new__(
        cls,
        broker: Broker,
        *,
        id: str,
        servers: Union[str, Iterable[str]],
        exports: Optional[Iterable[Export]] = (),
        imports: Optional[Iterable[Import]] = (),
        reconnect_min: Optional[float] = 0.1,
        reconnect_max: Optional[float] = 5.0,
    ) -> "NatsBridge": ...
    def stats(self) -> BridgeStats: ...
    @property
    def stopped(self) -> bool: ...
    @property
    def broker(self) -> Broker: ...
    def stop(self, drain: Optional[float] = 1.0) -> BridgeStats: ...
    def __enter__(self) -> "NatsBridge": ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> Literal[False]: ...

def _close_all() -> None: ...

__all__ = [
    "__version__",
    "ENGINE_VERSION",
    "TOPIC_STATS_FIELDS",
    "SUB_STATS_FIELDS",
    "POOL_STATS_FIELDS",
    "BROKER_OPTIONS",
    "TOPIC_OPTIONS",
    "SUB_OPTIONS",
    "OVERFLOW_VALUES",
    "START_VALUES",
    "EXPIRED_VALUES",
    "FSYNC_VALUES",
    "ERROR_CLASSES",
    "RingMQError",
    "Full",
    "Timeout",
    "TooLarge",
    "NotFound",
    "Exists",
    "Closed",
    "InvalidArgument",
    "Interrupted",
    "StorageError",
    "Broker",
    "Topic",
    "PushSubscription",
    "PullSubscription",
    "Message",
    "RawBatch",
    "NatsBridge",
    "_Interrupt",
    "_PendingPublish",
    "_Completion",
    "_close_all",
]
