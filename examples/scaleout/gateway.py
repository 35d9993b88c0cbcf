"""Process A of the scale-out demo: a telemetry gateway at the edge.

Producer threads publish vehicle readings into a local, durable RingMQ
topic (keyed by vehicle, so each vehicle's readings keep their order); a
NATS bridge exports the topic to the JetStream subject ``fleet.telemetry``
(stream ``FLEET``). RingMQ is the buffer: while NATS is slow or down the
producers go on and the topic's log holds the backlog; a reading is acked
here only once JetStream stored it.

One reading is poison: vehicle 3's sixth is a garbled frame the dashboard
(process B, dashboard.js) cannot parse.

When the producers are done, the gateway waits until everything is
exported, stops the bridge and writes a manifest of what it published
(``--manifest``), which examples/scaleout/check.py compares with what the
dashboard saw. Run both with examples/scaleout/run.sh.

    python gateway.py --nats nats://127.0.0.1:4222 --data-dir DIR \\
        --manifest manifest.json [--seconds 3] [--vehicles 8] [--rate 2000]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import threading
import time
from typing import Dict, List

import ringmq
from ringmq.nats import Bridge

POISON_VEHICLE = 3
POISON_SEQ = 5


# The demo's clock: seconds since run.sh started both processes (its
# RINGMQ_SCALEOUT_T0, Unix time), else since this one started.
T0 = float(os.environ.get("RINGMQ_SCALEOUT_T0") or time.time())


def log(text: str) -> None:
    print(f"[gateway A]   {time.time() - T0:4.1f}s {text}", flush=True)


def reading(vehicle: int, seq: int) -> bytes:
    """A reading as JSON, or the poison frame."""
    if (vehicle, seq) == (POISON_VEHICLE, POISON_SEQ):
        return b"#garbled CAN frame 0x3f1"
    speed = 50.0 + 30.0 * math.sin(seq / 20.0 + vehicle)
    return json.dumps(
        {"vehicle": vehicle, "seq": seq, "speed_kmh": round(speed, 1), "fuel_pct": 80 - seq % 50}
    ).encode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nats", required=True, help="NATS server URL")
    parser.add_argument("--data-dir", required=True, help="the broker's data directory")
    parser.add_argument("--manifest", required=True, help="where to write what was published")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--vehicles", type=int, default=8)
    parser.add_argument("--rate", type=float, default=2000.0, help="readings per second, all vehicles")
    args = parser.parse_args()
    if args.vehicles <= POISON_VEHICLE:
        parser.error(f"--vehicles must be more than {POISON_VEHICLE} (vehicle {POISON_VEHICLE} sends the poison reading)")

    with ringmq.Broker(data_dir=args.data_dir, workers_max=2) as mq:
        # The outbox: durable, so a backlog outlives NATS outages (and this
        # process); 'block' holds producers back only once the ring is full.
        # fsync 'interval': the log is synced every 50 ms, publishers do not
        # wait for it (with 'batch' each publish returns after its fsync).
        telemetry = mq.create_topic(
            "telemetry", capacity=4096, slot_size=256, durable=True, overflow="block",
            fsync="interval", fsync_interval=0.05,
        )
        bridge = Bridge(
            mq,
            id="gateway-a",
            servers=[args.nats],
            exports=[{
                "topic": "telemetry", "group": "nats", "subject": "fleet.telemetry",
                "stream": "FLEET", "max_in_flight": 256,
            }],
            reconnect_min=0.05,
            reconnect_max=1.0,
        )
        log(
            f"{args.vehicles} vehicles -> topic 'telemetry' (durable) -> export -> "
            f"JetStream subject fleet.telemetry, stream FLEET, at {args.nats}"
        )
        published: Dict[int, int] = {}
        lock = threading.Lock()
        stop = threading.Event()
        # Producer threads, each with its share of the vehicles, at
        # --rate readings per second in all.
        producers = 2
        per_thread = args.rate / producers

        def produce(vehicles: List[int]) -> None:
            seq = {v: 0 for v in vehicles}
            start = time.monotonic()
            sent = 0
            while not stop.is_set():
                for v in vehicles:
                    n = seq[v]
                    # The reading's identity travels as a header (headers
                    # cross JetStream), so the dashboard can name even the
                    # one it cannot parse.
                    telemetry.publish(
                        reading(v, n), key=v, timeout=5.0,
                        headers={"reading": f"v{v}-{n}"}, msg_id=f"v{v}-{n}",
                    )
                    seq[v] = n + 1
                    sent += 1
                ahead = sent / per_thread - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)
            with lock:
                published.update(seq)

        threads = [
            threading.Thread(target=produce, args=([v for v in range(args.vehicles) if v % producers == p],))
            for p in range(producers)
        ]
        t0 = time.monotonic()
        for t in threads:
            t.start()

        def status() -> str:
            s = bridge.stats()
            sub = telemetry.subscription_stats()["nats"]
            return (
                f"published {telemetry.stats()['published']:6d}  exported {s['exported']:6d}  "
                f"lag {sub['lag']:5d}  in flight {s['in_flight']:4d}  "
                f"nats {'up' if s['connected'] else 'DOWN'}"
            )

        next_line = t0 + 1.0
        while time.monotonic() - t0 < args.seconds:
            time.sleep(max(0.0, min(next_line, t0 + args.seconds) - time.monotonic()))
            if time.monotonic() >= next_line:
                log(status())
                next_line += 1.0
        stop.set()
        for t in threads:
            t.join()
        total = sum(published.values())

        # Everything out: JetStream acked every reading (lag and in flight 0).
        deadline = time.monotonic() + 60.0
        while True:
            sub = telemetry.subscription_stats()["nats"]
            if sub["lag"] == 0 and sub["in_flight"] == 0 and bridge.stats()["exported"] >= total:
                break
            if time.monotonic() > deadline:
                log(f"not everything was exported in 60 s: {status()}; last error: {bridge.stats()['last_error']}")
                return 1
            time.sleep(0.05)
        final = bridge.stop(drain=2.0)
        log(
            f"done: published {total} readings of "
            f"{args.vehicles} vehicles, exported {final['exported']}, "
            f"reconnects {final['reconnects']}, dead-lettered {final['dead_lettered']}"
        )
        manifest = {
            "published": total,
            "per_vehicle": {str(v): n for v, n in sorted(published.items())},
            "poison": f"v{POISON_VEHICLE}-{POISON_SEQ}",
            "exported": final["exported"],
            "reconnects": final["reconnects"],
        }
        tmp = args.manifest + ".tmp"
        with open(tmp, "w") as f:
            json.dump(manifest, f)
        os.replace(tmp, args.manifest)  # the dashboard waits for this file
    return 0


if __name__ == "__main__":
    sys.exit(main())
