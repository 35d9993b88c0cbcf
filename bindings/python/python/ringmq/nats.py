"""The NATS JetStream bridge: RingMQ topics copied into JetStream subjects
(exports) and JetStream streams copied into RingMQ topics (imports).

    import ringmq
    from ringmq.nats import Bridge

    with ringmq.Broker() as mq:
        mq.create_topic("orders")
        with Bridge(mq, id="edge-1", servers=["nats://127.0.0.1:4222"],
                    exports=[{"topic": "orders", "group": "nats",
                              "subject": "orders.created", "stream": "ORDERS"}]) as bridge:
            mq.topic("orders").publish(b"hello")
            ...
            print(bridge.stats()["exported"])

Each export and import is a dict with the configuration's fields (see
docs/NATS.md): exports ``topic``, ``group``, ``subject``, optional
``stream`` and ``max_in_flight``; imports ``stream``, ``consumer``,
``topic``, ``group``, optional ``filter_subject`` and ``batch``.
``reconnect_min`` and ``reconnect_max`` are seconds. A bad configuration
raises ``ringmq.InvalidArgument`` (a ``ValueError``) naming the field.
For a type checker the entries are ``Export`` and ``Import`` and the stats
a ``BridgeStats`` (``TypedDict`` classes of this module).
"""

from ._ringmq import NatsBridge
from ._types import BridgeStats, Export, Import

#: The bridge class (``NatsBridge`` in the compiled module).
Bridge = NatsBridge

__all__ = ["Bridge", "NatsBridge", "BridgeStats", "Export", "Import"]
