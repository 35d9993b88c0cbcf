"""Telemetry pipeline: sensor threads publish readings, a push handler stores
them (failing now and then, so retries and dead letters show), a dashboard
reads a lossy pull subscription, and the stats are printed at the end.

    python examples/python/telemetry.py [--seconds 2]
"""

from __future__ import annotations

import argparse
import json
import random
import struct
import threading
import time

import ringmq

READING = struct.Struct("<Hd")  # sensor id, value


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--sensors", type=int, default=4)
    args = parser.parse_args()

    with ringmq.Broker(workers_max=4) as mq:
        readings = mq.create_topic(
            "readings", capacity=4096, slot_size=64, max_attempts=3,
            backoff_base=0.01, backoff_max=0.1,
        )
        stored: dict[int, int] = {}
        lock = threading.Lock()

        def store(msg: ringmq.Message) -> None:
            sensor, value = READING.unpack(msg.data)
            if value > 99.0:  # an out-of-range reading: never storable
                raise ValueError(f"reading {value:.2f} of sensor {sensor} is out of range")
            if msg.attempt == 1 and random.random() < 0.02:
                raise ConnectionError("store briefly unavailable")  # retried
            with lock:
                stored[sensor] = stored.get(sensor, 0) + 1

        writer = readings.subscribe("store", store, concurrency=2, ordered_by_key=True)
        dashboard = readings.pull("dashboard", lossy=True)
        dead_letters = readings.dead_letter_topic  # "readings.dlq"
        assert dead_letters is not None
        dead = dead_letters.pull("alerts")

        stop = threading.Event()

        def sensor(sensor_id: int) -> None:
            rng = random.Random(sensor_id)
            while not stop.is_set():
                value = rng.uniform(0.0, 99.5)
                readings.publish(READING.pack(sensor_id, value), key=sensor_id, timeout=1.0)
                time.sleep(0.0005)

        threads = [threading.Thread(target=sensor, args=(i,)) for i in range(args.sensors)]
        for t in threads:
            t.start()
        shown = 0
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline:
            batch = dashboard.poll_batch(256, timeout=0.1)
            shown += len(batch)
            dashboard.ack_all(batch)
        stop.set()
        for t in threads:
            t.join()
        time.sleep(0.3)  # let the last retries run

        alerts = []
        while (msg := dead.poll(timeout=0.05)) is not None:
            alerts.append((msg.key, msg.attempt, msg.error))
            msg.ack()

        print("topic:", json.dumps(readings.stats()))
        print("store:", json.dumps(writer.stats()))
        print(f"dashboard saw {shown} readings; stored per sensor: {dict(sorted(stored.items()))}")
        print(f"dead letters: {len(alerts)}; first ones (sensor, attempts, error):")
        for alert in alerts[:3]:
            print("   ", alert)
        print("pool:", json.dumps(mq.pool_stats()))
        print("\n".join(mq.metrics_text().splitlines()[:6]))


if __name__ == "__main__":
    main()
