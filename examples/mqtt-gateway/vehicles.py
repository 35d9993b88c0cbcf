"""Simulated vehicles: each one is its own MQTT client that publishes
telemetry readings to ``vehicles/<n>/telemetry`` at a set rate, QoS 1.

    python vehicles.py --port 1883 --vehicles 4 --readings 250 --rate 100

Each reading is a small JSON object with a reading id (``v<n>-<seq>``) that
the gateway uses as the primary key of its SQLite table. The values are a
pure function of (vehicle, seq), so a test can compute what the gateway
should have stored and which alerts it should have raised. ``--poison N:SEQ``
replaces one reading with a payload that cannot be parsed (a truncated JSON
object), which the gateway must dead-letter.

The program exits 0 once mosquitto has acknowledged (PUBACK) every reading.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

try:
    import paho.mqtt.client as mqtt
    from paho.mqtt.client import ConnectFlags
    from paho.mqtt.enums import CallbackAPIVersion
    from paho.mqtt.properties import Properties
    from paho.mqtt.reasoncodes import ReasonCode
except ImportError:  # paho-mqtt 1.x has no paho.mqtt.enums
    sys.exit("vehicles.py needs paho-mqtt 2.x: pip install 'paho-mqtt>=2,<3'")

TOPIC = "vehicles/{vehicle}/telemetry"


def reading_id(vehicle: int, seq: int) -> str:
    return f"v{vehicle}-{seq:06d}"


def reading(vehicle: int, seq: int) -> Dict[str, Any]:
    """The reading vehicle `vehicle` sends as its `seq`-th (from 0)."""
    # Engine temperature swings around 95 C with a period of its own per
    # vehicle, crossing the gateway's alert thresholds (105 C up, 100 C down)
    # a few times in a few hundred readings.
    period = 40 + 7 * (vehicle % 5)
    temp = 95.0 + 14.0 * math.sin(2 * math.pi * seq / period + vehicle) + 3.0 * math.sin(seq * 1.7 + vehicle)
    return {
        "id": reading_id(vehicle, seq),
        "vehicle": vehicle,
        "seq": seq,
        "speed_kmh": round(60 + 40 * math.sin(seq / 25 + vehicle), 2),
        "engine_temp_c": round(temp, 2),
        "battery_v": round(12.6 + 0.3 * math.cos(seq / 10), 3),
    }


def payload(vehicle: int, seq: int) -> bytes:
    return json.dumps(reading(vehicle, seq), separators=(",", ":")).encode()


def poison_payload(vehicle: int, seq: int) -> bytes:
    """A reading cut short, as a flaky modem might send it: not valid JSON."""
    whole = payload(vehicle, seq)
    return whole[: len(whole) // 2]


def parse_poison(text: Optional[str]) -> Optional[Tuple[int, int]]:
    if not text:
        return None
    vehicle, _, seq = text.partition(":")
    return int(vehicle), int(seq)


class Vehicle:
    """One MQTT connection, publishing its readings at `rate` per second."""

    def __init__(self, number: int, host: str, port: int, readings: int, rate: float,
                 poison: Optional[Tuple[int, int]], start_seq: int) -> None:
        self.number = number
        self.readings = readings
        self.rate = rate
        self.poison = poison
        self.start_seq = start_seq
        self.acked = 0
        self.failed: List[str] = []
        self._connected = threading.Event()
        self._lock = threading.Lock()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"vehicle-{number}",
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )
        # Up to 100 readings in flight (sent, PUBACK not yet back) per vehicle.
        self.client.max_inflight_messages_set(100)
        self.client.on_connect = self._on_connect
        self.client.on_publish = self._on_publish
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: ConnectFlags,
                    reason_code: ReasonCode, properties: Optional[Properties]) -> None:
        if reason_code.is_failure:
            self.failed.append(f"connect refused: {reason_code}")
        self._connected.set()

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int,
                    reason_code: ReasonCode, properties: Optional[Properties]) -> None:
        # QoS 1: called when the PUBACK arrives.
        with self._lock:
            self.acked += 1

    def run(self) -> None:
        if not self._connected.wait(10):
            self.failed.append("no CONNACK in 10 s")
            return
        if self.failed:
            return
        topic = TOPIC.format(vehicle=self.number)
        start = time.monotonic()
        for i in range(self.readings):
            seq = self.start_seq + i
            due = start + i / self.rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            data = (poison_payload if self.poison == (self.number, seq) else payload)(self.number, seq)
            info = self.client.publish(topic, data, qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                self.failed.append(f"publish of seq {seq}: {mqtt.error_string(info.rc)}")
                return

    def finish(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.acked < self.readings and time.monotonic() < deadline and not self.failed:
            time.sleep(0.01)
        if self.acked < self.readings and not self.failed:
            self.failed.append(f"only {self.acked} of {self.readings} readings acknowledged")
        self.client.disconnect()
        self.client.loop_stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--vehicles", type=int, default=4, help="how many vehicles (default 4)")
    parser.add_argument("--readings", type=int, default=250, help="readings per vehicle (default 250)")
    parser.add_argument("--rate", type=float, default=100.0, help="readings per second per vehicle (default 100)")
    parser.add_argument("--start-seq", type=int, default=0, help="seq of each vehicle's first reading (default 0)")
    parser.add_argument("--poison", metavar="N:SEQ", help="send vehicle N's reading SEQ malformed")
    args = parser.parse_args()
    if not 1 <= args.vehicles <= 1000 or args.readings < 0 or args.rate <= 0:
        parser.error("--vehicles 1..1000, --readings >= 0, --rate > 0")

    poison = parse_poison(args.poison)
    fleet = [Vehicle(n, args.host, args.port, args.readings, args.rate, poison, args.start_seq)
             for n in range(args.vehicles)]
    threads = [threading.Thread(target=v.run, name=f"vehicle-{v.number}") for v in fleet]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for v in fleet:
        v.finish(timeout=30)
    elapsed = time.monotonic() - start
    sent = sum(v.acked for v in fleet)
    failures = [f"vehicle {v.number}: {f}" for v in fleet for f in v.failed]
    print(f"vehicles: {len(fleet)} vehicles sent {sent} readings in {elapsed:.2f} s "
          f"({sent / max(elapsed, 1e-9):.0f}/s), every one acknowledged by mosquitto"
          if not failures else f"vehicles: {sent} readings acknowledged; failures:")
    for f in failures:
        print("   ", f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
