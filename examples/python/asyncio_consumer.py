"""An asyncio service consuming a topic: `async for` over a pull
subscription while a producer thread publishes, and an awaitable poll with a
timeout. The event loop keeps running other tasks throughout.

    python examples/python/asyncio_consumer.py [--count 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import threading

import ringmq


async def heartbeat(beats: list[int]) -> None:
    while True:
        await asyncio.sleep(0.01)
        beats.append(1)


async def consume(jobs: ringmq.PullSubscription, count: int) -> int:
    total = 0
    async for msg in jobs.aiter():
        total += int(msg.data)
        msg.ack()
        count -= 1
        if count == 0:
            break
    return total


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()

    with ringmq.Broker() as mq:
        topic = mq.create_topic("jobs")
        jobs = topic.pull("workers")
        beats: list[int] = []
        beat_task = asyncio.create_task(heartbeat(beats))

        def produce() -> None:
            for i in range(args.count):
                topic.publish(str(i).encode(), key=i % 8)

        producer = threading.Thread(target=produce)
        producer.start()
        total = await consume(jobs, args.count)
        producer.join()
        late = await jobs.poll_async(timeout=0.1)  # nothing more: None
        beat_task.cancel()
        print(f"consumed {args.count} jobs, sum {total}, expected {sum(range(args.count))}")
        print(f"late message: {late}; heartbeats meanwhile: {len(beats)}")
        print("stats:", jobs.stats())
        assert total == sum(range(args.count))


if __name__ == "__main__":
    asyncio.run(main())
