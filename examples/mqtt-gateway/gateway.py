"""MQTT telemetry gateway: mosquitto -> RingMQ -> SQLite, with alerts, a
dead-letter quarantine and Prometheus metrics.

    python gateway.py --mqtt-port 1883 --db telemetry.db [--http-port 9108]

- An MQTT client (paho-mqtt 2.x, QoS 1, a persistent session) subscribes to
  ``vehicles/+/telemetry`` and publishes each reading, as it came, into the
  RingMQ topic ``readings`` with the vehicle number as key. The reading is
  acknowledged to mosquitto (PUBACK) only once it is in the topic.
- Push handlers on the broker's worker pool do the work:
  ``store`` parses readings and batch-inserts them into SQLite (handlers
  waiting for the same commit share one transaction: a group commit);
  ``alerts`` (``ordered_by_key``: one vehicle's readings in order) raises an
  alert when a vehicle's engine temperature crosses a threshold;
  ``quarantine`` keeps what lands in the dead-letter topic ``readings.dlq``
  (a reading that failed ``max_attempts`` times) in SQLite.
- ``GET /metrics`` serves ``broker.metrics_text()`` and the gateway's own
  counters (Prometheus text format); ``GET /healthz`` says whether MQTT is
  connected.
- SIGTERM or Ctrl-C: disconnect from MQTT (no new readings), close the broker
  with a drain (every reading taken is settled), exit.

``--ready-file PATH`` writes a JSON object (pid, http_port) once the MQTT
subscription is in place, for scripts that start the gateway.
"""

from __future__ import annotations

import argparse
import http.server
import json
import logging
import os
import signal
import sqlite3
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

import ringmq

try:
    import paho.mqtt.client as mqtt
    from paho.mqtt.client import ConnectFlags, DisconnectFlags, MQTTMessage
    from paho.mqtt.enums import CallbackAPIVersion
    from paho.mqtt.properties import Properties
    from paho.mqtt.reasoncodes import ReasonCode
except ImportError:  # paho-mqtt 1.x has no paho.mqtt.enums
    sys.exit("gateway.py needs paho-mqtt 2.x: pip install 'paho-mqtt>=2,<3'")

log = logging.getLogger("gateway")

# Alert thresholds, with hysteresis: "overheat" when the engine reaches
# OVERHEAT_C, "cooled" when an overheated engine is back at COOLED_C or below.
OVERHEAT_C = 105.0
COOLED_C = 100.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    reading_id    TEXT PRIMARY KEY,
    vehicle       INTEGER NOT NULL,
    seq           INTEGER NOT NULL,
    speed_kmh     REAL NOT NULL,
    engine_temp_c REAL NOT NULL,
    battery_v     REAL NOT NULL,
    batch         INTEGER NOT NULL
);
-- One row per committed batch: how many readings the handlers wrote and how
-- many of those were already there (a reading delivered twice).
CREATE TABLE IF NOT EXISTS batches (
    batch        INTEGER PRIMARY KEY AUTOINCREMENT,
    rows         INTEGER NOT NULL,
    inserted     INTEGER NOT NULL,
    duplicates   INTEGER NOT NULL,
    committed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS alerts (
    n             INTEGER PRIMARY KEY AUTOINCREMENT,
    vehicle       INTEGER NOT NULL,
    seq           INTEGER NOT NULL,
    reading_id    TEXT NOT NULL,
    kind          TEXT NOT NULL,
    engine_temp_c REAL NOT NULL,
    raised_at     REAL NOT NULL
);
-- Whether a vehicle is overheated, so that a restarted gateway goes on where
-- the last one stopped.
CREATE TABLE IF NOT EXISTS vehicle_state (
    vehicle    INTEGER PRIMARY KEY,
    overheated INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letters (
    n          INTEGER PRIMARY KEY AUTOINCREMENT,
    vehicle    INTEGER NOT NULL,
    mqtt_topic TEXT,
    grp        TEXT,
    attempts   INTEGER NOT NULL,
    error      TEXT,
    payload    BLOB NOT NULL,
    stored_at  REAL NOT NULL
);
"""


def connect_db(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=10.0, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


class Counters:
    """The gateway's own metrics, appended to the broker's on /metrics."""

    HELP = {
        "gateway_mqtt_received_total": ("counter", "MQTT messages received on the telemetry subscription."),
        "gateway_mqtt_redelivered_total": ("counter", "Received messages flagged DUP: mosquitto sent them again."),
        "gateway_mqtt_rejected_total": ("counter", "Received messages not forwarded (no vehicle number in the topic, too large)."),
        "gateway_mqtt_connected": ("gauge", "1 while connected to the MQTT broker."),
        "gateway_sqlite_batches_total": ("counter", "Batches committed to SQLite."),
        "gateway_sqlite_rows_total": ("counter", "Readings written by the store handlers, duplicates included."),
        "gateway_sqlite_inserted_total": ("counter", "Readings that were new rows."),
        "gateway_sqlite_duplicates_total": ("counter", "Readings already in SQLite (delivered more than once)."),
        "gateway_sqlite_batch_rows_max": ("gauge", "The largest batch committed."),
        "gateway_alerts_total": ("counter", "Alerts raised, by kind."),
        "gateway_alerts_stale_total": ("counter", "Readings older than their vehicle's last one (out of order or repeated): no alert from them."),
        "gateway_dead_letters_stored_total": ("counter", "Dead letters kept in SQLite."),
    }

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: Dict[Tuple[str, str], float] = {}
        for name in self.HELP:
            if name != "gateway_alerts_total":
                self._values[(name, "")] = 0
        for kind in ("overheat", "cooled"):
            self._values[("gateway_alerts_total", f'kind="{kind}"')] = 0

    def add(self, name: str, n: float = 1, labels: str = "") -> None:
        with self._lock:
            self._values[(name, labels)] = self._values.get((name, labels), 0) + n

    def set(self, name: str, value: float, labels: str = "") -> None:
        with self._lock:
            self._values[(name, labels)] = value

    def max(self, name: str, value: float) -> None:
        with self._lock:
            self._values[(name, "")] = max(self._values.get((name, ""), 0), value)

    def get(self, name: str, labels: str = "") -> float:
        with self._lock:
            return self._values.get((name, labels), 0)

    def text(self) -> str:
        with self._lock:
            values = dict(self._values)
        out: List[str] = []
        for name, (kind, help_text) in self.HELP.items():
            out.append(f"# HELP {name} {help_text}")
            out.append(f"# TYPE {name} {kind}")
            for (n, labels), v in sorted(values.items()):
                if n == name:
                    out.append(f"{name}{{{labels}}} {v:g}" if labels else f"{name} {v:g}")
        return "\n".join(out) + "\n"


class BadReading(ValueError):
    """A payload that is not a reading (it will never parse: it is retried
    with backoff like any failure, then dead-lettered)."""


def parse_reading(msg: ringmq.Message) -> Dict[str, Any]:
    try:
        r = json.loads(msg.data)
    except ValueError as e:
        raise BadReading(f"not JSON ({e}): {msg.data[:40]!r}") from None
    if not isinstance(r, dict):
        raise BadReading(f"not a JSON object: {msg.data[:40]!r}")
    try:
        reading = {
            "id": str(r["id"]),
            "vehicle": int(r["vehicle"]),
            "seq": int(r["seq"]),
            "speed_kmh": float(r["speed_kmh"]),
            "engine_temp_c": float(r["engine_temp_c"]),
            "battery_v": float(r["battery_v"]),
        }
    except (KeyError, TypeError, ValueError) as e:
        raise BadReading(f"missing or bad field {e}") from None
    if reading["vehicle"] != msg.key:
        raise BadReading(f"reading of vehicle {reading['vehicle']} came on vehicle {msg.key}'s topic")
    return reading


class _Slot:
    __slots__ = ("row", "done", "error")

    def __init__(self, row: Tuple[Any, ...]) -> None:
        self.row = row
        self.done = False
        self.error: Optional[BaseException] = None


class BatchWriter:
    """Group commit: each store handler hands its row to `write` and returns
    only once the row is committed, so a reading is acked only when it is in
    SQLite. The first handler to arrive while no commit runs leads: it waits
    up to `linger` for others to join (or for `batch_max` rows), then commits
    all of them in one transaction; the others wait for that commit. A failed
    commit fails every handler of the batch, and each reading is retried."""

    def __init__(self, conn: sqlite3.Connection, counters: Counters, batch_max: int, linger: float) -> None:
        self._conn = conn
        self._counters = counters
        self._batch_max = batch_max
        self._linger = linger
        self._cond = threading.Condition()
        self._pending: List[_Slot] = []
        self._leading = False

    def write(self, row: Tuple[Any, ...]) -> None:
        slot = _Slot(row)
        batch: List[_Slot] = []
        with self._cond:
            self._pending.append(slot)
            self._cond.notify_all()  # the leader may be waiting for a full batch
            while self._leading and not slot.done:
                self._cond.wait()
            if not slot.done:
                # Lead the next batch: wait a little for others to join.
                self._leading = True
                deadline = time.monotonic() + self._linger
                while len(self._pending) < self._batch_max:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                batch, self._pending = self._pending, []
        if batch:
            error: Optional[BaseException] = None
            try:
                self._commit([s.row for s in batch])
            except Exception as e:  # sqlite3.Error, most likely "database is locked"
                error = e
            with self._cond:
                for s in batch:
                    s.done, s.error = True, error
                self._leading = False
                self._cond.notify_all()
        if slot.error is not None:
            raise RuntimeError(f"batch insert failed: {slot.error!r}")

    def _commit(self, rows: List[Tuple[Any, ...]]) -> None:
        with self._conn:  # one transaction: committed, or rolled back on error
            cur = self._conn.execute(
                "INSERT INTO batches (rows, inserted, duplicates, committed_at) VALUES (?, 0, 0, ?)",
                (len(rows), time.time()),
            )
            batch = cur.lastrowid
            cur = self._conn.executemany(
                "INSERT INTO readings (reading_id, vehicle, seq, speed_kmh, engine_temp_c, battery_v, batch)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (reading_id) DO NOTHING",
                [row + (batch,) for row in rows],
            )
            inserted = cur.rowcount  # summed over the rows; a conflict adds 0
            self._conn.execute(
                "UPDATE batches SET inserted = ?, duplicates = ? WHERE batch = ?",
                (inserted, len(rows) - inserted, batch),
            )
        c = self._counters
        c.add("gateway_sqlite_batches_total")
        c.add("gateway_sqlite_rows_total", len(rows))
        c.add("gateway_sqlite_inserted_total", inserted)
        c.add("gateway_sqlite_duplicates_total", len(rows) - inserted)
        c.max("gateway_sqlite_batch_rows_max", len(rows))
        if inserted != len(rows):
            log.warning("batch %s: %d of %d readings were already stored", batch, len(rows) - inserted, len(rows))


class Gateway:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.counters = Counters()
        self.subscribed = threading.Event()
        self.stop = threading.Event()

        conn = connect_db(args.db)
        conn.executescript(SCHEMA)
        self.overheated = {v: bool(o) for v, o in conn.execute("SELECT vehicle, overheated FROM vehicle_state")}
        conn.close()
        self.store_db = connect_db(args.db)
        self.events_db = connect_db(args.db)
        self.events_lock = threading.Lock()
        self.last_seq: Dict[int, int] = {}
        self.writer = BatchWriter(self.store_db, self.counters, args.batch, args.linger_ms / 1000.0)

        # The store handlers wait for each other (group commit), the alert
        # handlers run one per vehicle at a time, the quarantine one: a pool
        # of fixed size that holds all of them at once.
        workers = args.batch + args.alert_workers + 1
        self.mq = ringmq.Broker(workers_min=workers, workers_max=workers)
        self.readings = self.mq.create_topic(
            "readings", capacity=args.capacity, slot_size=2048, overflow="block",
            max_attempts=args.max_attempts, backoff_base=0.05, backoff_max=1.0, ack_timeout=30.0,
        )
        dlq = self.readings.dead_letter_topic
        assert dlq is not None
        self.quarantine_sub = dlq.subscribe("quarantine", self.quarantine, start="earliest")
        self.store_sub = self.readings.subscribe("store", self.store, concurrency=args.batch)
        self.alerts_sub = self.readings.subscribe(
            "alerts", self.alert, concurrency=args.alert_workers, ordered_by_key=True,
        )

        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=args.client_id,
            protocol=mqtt.MQTTv311,
            clean_session=False,  # mosquitto keeps our subscription and queues readings while we are away
            manual_ack=True,  # PUBACK once the reading is in RingMQ, not before
        )
        self.client.on_connect = self.on_connect
        self.client.on_subscribe = self.on_subscribe
        self.client.on_message = self.on_message
        self.client.on_disconnect = self.on_disconnect
        self.client.reconnect_delay_set(min_delay=1, max_delay=10)

    # ---------------------------------------------------------------- handlers

    def store(self, msg: ringmq.Message) -> None:
        r = parse_reading(msg)
        self.writer.write((r["id"], r["vehicle"], r["seq"], r["speed_kmh"], r["engine_temp_c"], r["battery_v"]))

    def alert(self, msg: ringmq.Message) -> None:
        # ordered_by_key: never two calls for one vehicle at once, and its
        # readings arrive in the order they were published.
        r = parse_reading(msg)
        vehicle, seq, temp = r["vehicle"], r["seq"], r["engine_temp_c"]
        last = self.last_seq.get(vehicle)
        if last is not None and seq <= last:
            self.counters.add("gateway_alerts_stale_total")
            log.warning("vehicle %d: reading %d after reading %d: no alert from it", vehicle, seq, last)
            return
        overheated = self.overheated.get(vehicle, False)
        kind = None
        if not overheated and temp >= OVERHEAT_C:
            kind = "overheat"
        elif overheated and temp <= COOLED_C:
            kind = "cooled"
        if kind is not None:
            with self.events_lock, self.events_db:
                self.events_db.execute(
                    "INSERT INTO alerts (vehicle, seq, reading_id, kind, engine_temp_c, raised_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)", (vehicle, seq, r["id"], kind, temp, time.time()),
                )
                self.events_db.execute(
                    "INSERT INTO vehicle_state (vehicle, overheated) VALUES (?, ?)"
                    " ON CONFLICT (vehicle) DO UPDATE SET overheated = excluded.overheated",
                    (vehicle, kind == "overheat"),
                )
            self.overheated[vehicle] = kind == "overheat"
            self.counters.add("gateway_alerts_total", labels=f'kind="{kind}"')
            log.info("ALERT vehicle %d %s: engine %.1f C (reading %s)", vehicle, kind, temp, r["id"])
        self.last_seq[vehicle] = seq

    def quarantine(self, msg: ringmq.Message) -> None:
        topic = msg.headers.get("mqtt-topic", b"").decode(errors="replace")
        with self.events_lock, self.events_db:
            self.events_db.execute(
                "INSERT INTO dead_letters (vehicle, mqtt_topic, grp, attempts, error, payload, stored_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (msg.key, topic, msg.dead_letter_group, msg.attempt, msg.error, msg.data, time.time()),
            )
        self.counters.add("gateway_dead_letters_stored_total")
        log.warning("dead letter from group %s, vehicle %d (%s): %s", msg.dead_letter_group, msg.key, topic, msg.error)

    # ------------------------------------------------------------- MQTT side

    def on_connect(self, client: mqtt.Client, userdata: Any, flags: ConnectFlags,
                   reason_code: ReasonCode, properties: Optional[Properties]) -> None:
        if reason_code.is_failure:
            log.error("MQTT connect refused: %s", reason_code)
            return
        self.counters.set("gateway_mqtt_connected", 1)
        log.info("MQTT connected (session present: %s); subscribing to %s", flags.session_present, self.args.topic)
        client.subscribe(self.args.topic, qos=1)

    def on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int,
                     reason_codes: List[ReasonCode], properties: Optional[Properties]) -> None:
        if any(rc.is_failure for rc in reason_codes):
            log.error("MQTT subscription refused: %s", reason_codes)
            self.stop.set()
            return
        self.subscribed.set()

    def on_disconnect(self, client: mqtt.Client, userdata: Any, flags: DisconnectFlags,
                      reason_code: ReasonCode, properties: Optional[Properties]) -> None:
        self.counters.set("gateway_mqtt_connected", 0)
        if not self.stop.is_set():
            log.warning("MQTT disconnected (%s); paho reconnects", reason_code)

    def on_message(self, client: mqtt.Client, userdata: Any, message: MQTTMessage) -> None:
        # Runs on paho's network thread. Publishing waits while the topic is
        # full (overflow="block"): mosquitto then holds the readings, which is
        # the backpressure we want. An exception here would end paho's loop,
        # so every failure is handled.
        self.counters.add("gateway_mqtt_received_total")
        if message.dup:
            self.counters.add("gateway_mqtt_redelivered_total")
        parts = message.topic.split("/")
        try:
            vehicle = int(parts[1])
            if vehicle < 0:
                raise ValueError
        except (IndexError, ValueError):
            self.counters.add("gateway_mqtt_rejected_total")
            log.error("no vehicle number in topic %r: dropped", message.topic)
            client.ack(message.mid, message.qos)
            return
        try:
            self.readings.publish(message.payload, key=vehicle, headers={"mqtt-topic": message.topic})
        except ringmq.TooLarge:
            self.counters.add("gateway_mqtt_rejected_total")
            log.error("a reading of %d bytes on %s is too large: dropped", len(message.payload), message.topic)
        except ringmq.RingMQError as e:
            # Closed while shutting down: not acknowledged, so mosquitto
            # sends it again to our next session.
            log.error("reading on %s not taken (%s): left to mosquitto", message.topic, e)
            return
        client.ack(message.mid, message.qos)

    # ------------------------------------------------------------------ run

    def metrics_text(self) -> str:
        return self.mq.metrics_text() + self.counters.text()

    def serve_http(self) -> http.server.ThreadingHTTPServer:
        gateway = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/metrics":
                    status, ctype, body = 200, "text/plain; version=0.0.4; charset=utf-8", gateway.metrics_text()
                elif self.path == "/healthz":
                    up = gateway.counters.get("gateway_mqtt_connected") == 1
                    status, ctype, body = (200 if up else 503), "text/plain", ("ok\n" if up else "mqtt down\n")
                else:
                    status, ctype, body = 404, "text/plain", "not found: try /metrics\n"
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = http.server.ThreadingHTTPServer((self.args.http_host, self.args.http_port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
        return server

    def run(self) -> int:
        server = self.serve_http()
        http_port = server.server_port
        log.info("metrics on http://%s:%d/metrics", self.args.http_host, http_port)
        self.client.connect(self.args.mqtt_host, self.args.mqtt_port, keepalive=30)
        self.client.loop_start()
        if not self.subscribed.wait(15):
            log.error("no SUBACK from mosquitto in 15 s")
            self.stop.set()
        elif self.args.ready_file:
            tmp = self.args.ready_file + ".tmp"
            with open(tmp, "w") as f:
                json.dump({"pid": os.getpid(), "http_port": http_port}, f)
            os.replace(tmp, self.args.ready_file)
        if self.subscribed.is_set():
            log.info("ready: %s -> RingMQ topic 'readings' -> SQLite %s", self.args.topic, self.args.db)
        while not self.stop.wait(0.5):
            pass

        # No new readings, then settle everything taken.
        log.info("stopping: disconnecting from MQTT, draining RingMQ")
        self.client.disconnect()
        self.client.loop_stop()
        report = self.mq.close(drain=self.args.drain)
        server.shutdown()
        server.server_close()
        for conn in (self.store_db, self.events_db):
            conn.close()
        c = self.counters
        log.info(
            "received %d, stored %d new (%d duplicates) in %d batches, %d alerts, %d dead letters",
            c.get("gateway_mqtt_received_total"), c.get("gateway_sqlite_inserted_total"),
            c.get("gateway_sqlite_duplicates_total"), c.get("gateway_sqlite_batches_total"),
            c.get("gateway_alerts_total", 'kind="overheat"') + c.get("gateway_alerts_total", 'kind="cooled"'),
            c.get("gateway_dead_letters_stored_total"),
        )
        left = report["undelivered"] + report["in_flight"] + report["waiting_retry"]
        if left:
            log.error("closed with readings not settled: %s", report)
            return 1
        return 0 if self.subscribed.is_set() else 1


class _QuietBadReadings(logging.Filter):
    """The ringmq logger logs each failed handler call with its traceback;
    for a reading that does not parse, one line is enough."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], BadReading):
            record.msg = f"{record.msg}: {record.exc_info[1]}"
            record.exc_info = None
        return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mqtt-host", default="127.0.0.1")
    parser.add_argument("--mqtt-port", type=int, default=1883)
    parser.add_argument("--topic", default="vehicles/+/telemetry", help="MQTT subscription (default vehicles/+/telemetry)")
    parser.add_argument("--client-id", default="ringmq-gateway", help="MQTT client id: the persistent session's name")
    parser.add_argument("--db", default="telemetry.db", help="SQLite file (default telemetry.db)")
    parser.add_argument("--http-host", default="127.0.0.1")
    parser.add_argument("--http-port", type=int, default=0, help="port of /metrics (default: a free one, logged)")
    parser.add_argument("--ready-file", help="write {pid, http_port} as JSON here once subscribed")
    parser.add_argument("--capacity", type=int, default=4096, help="slots of the readings topic (a power of two)")
    parser.add_argument("--batch", type=int, default=16, help="store handlers at once = largest batch (default 16)")
    parser.add_argument("--linger-ms", type=float, default=5.0, help="how long a batch waits to fill (default 5)")
    parser.add_argument("--alert-workers", type=int, default=4, help="alert handlers at once (default 4)")
    parser.add_argument("--max-attempts", type=int, default=4, help="deliveries of a reading before the DLQ")
    parser.add_argument("--drain", type=float, default=10.0, help="seconds to settle readings when stopping")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stdout,
    )
    logging.getLogger("ringmq").addFilter(_QuietBadReadings())
    gateway = Gateway(args)
    signal.signal(signal.SIGTERM, lambda *_: gateway.stop.set())
    signal.signal(signal.SIGINT, lambda *_: gateway.stop.set())
    return gateway.run()


if __name__ == "__main__":
    sys.exit(main())
