"""An asyncio service on one event loop: coroutine push handlers (an
`async def` subscribed from a coroutine runs on that loop, several at once),
a producer that awaits room in a full topic instead of blocking the loop, an
`async for` consumer, and `async with` closing with a drain that lets the
handlers finish while the loop keeps running.

    python examples/python/asyncio_service.py [--count 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import collections

import ringmq


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=2000)
    args = parser.parse_args()
    count: int = args.count

    handled: collections.Counter[int] = collections.Counter()
    busy = 0
    most_busy = 0
    audited = 0

    async with ringmq.Broker() as mq:
        # A small ring, so that the producer often finds it full and waits.
        orders = mq.create_topic("orders", capacity=64)

        async def charge(msg: ringmq.Message) -> None:
            nonlocal busy, most_busy
            busy += 1
            most_busy = max(most_busy, busy)
            await asyncio.sleep(0.001)  # an awaited call to another service
            busy -= 1
            handled[msg.key] += 1

        orders.subscribe("billing", charge, concurrency=8)
        audit = orders.pull("audit")

        async def auditor() -> None:
            nonlocal audited
            async for msg in audit:  # ends when the broker closes
                audited += 1
                msg.ack()

        audit_task = asyncio.create_task(auditor())
        for i in range(count):
            # Waits off the loop while the ring is full (overflow="block").
            await orders.publish_async(b"order %d" % i, key=i % 16, timeout=10.0)
        # Leaving the block drains: the handlers finish on this loop.

    await audit_task
    assert sum(handled.values()) == count, handled
    assert audited == count
    print(f"charged {count} orders over {len(handled)} customers, "
          f"up to {most_busy} handlers at once; audited {audited}")


if __name__ == "__main__":
    asyncio.run(main())
