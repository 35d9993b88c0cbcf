"""RingMQ: an embeddable message queue.

Topics on a lock-free ring, consumer groups with acks, retries with backoff,
dead letters, backpressure and metrics, inside this process::

    import ringmq

    with ringmq.Broker(workers_max=4) as mq:
        orders = mq.create_topic("orders")
        audit = orders.pull("audit")
        orders.publish(b"hello", key=7)
        msg = audit.poll(timeout=1.0)
        msg.ack()

The package is typed (``py.typed``): stats and reports are ``TypedDict``
classes (``ringmq.TopicStats``, ``SubStats``, ``PoolStats``, ``CloseReport``).
"""

import atexit as _atexit
import logging as _logging

# Imported here, on the importing thread, so that a handler that raises
# KeyboardInterrupt can find the main thread to interrupt without importing
# `threading` for the first time on a pool thread (which would take that
# thread for the main one).
import threading as _threading  # noqa: F401

from . import _ringmq
# ringmq.nats.Bridge works after a plain `import ringmq`.
from . import nats
from ._outcomes import Retry, Term
from ._types import CloseReport, PoolStats, SubStats, TopicStats
from ._ringmq import (
    ENGINE_VERSION,
    Broker,
    Closed,
    Exists,
    Full,
    Interrupted,
    InvalidArgument,
    Message,
    NotFound,
    PullSubscription,
    PushSubscription,
    RawBatch,
    RingMQError,
    StorageError,
    Timeout,
    TooLarge,
    Topic,
    __version__,
)

__all__ = [
    "Broker",
    "Topic",
    "PushSubscription",
    "PullSubscription",
    "Message",
    "RawBatch",
    "Retry",
    "Term",
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
    "TopicStats",
    "SubStats",
    "PoolStats",
    "CloseReport",
    "ENGINE_VERSION",
    "__version__",
    "nats",
]

# Push handlers' exceptions are logged at ERROR on this logger, with their
# tracebacks; as for any library, nothing is printed until the application
# configures logging (logging.basicConfig() or a handler of its own).
_logging.getLogger("ringmq").addHandler(_logging.NullHandler())

# Stop every broker's threads before the interpreter shuts down, so that no
# pool thread tries to run a Python handler in a finalizing interpreter.
_atexit.register(_ringmq._close_all)
