"""End-to-end run of the MQTT gateway against a running mosquitto: starts
gateway.py, runs vehicles.py, scrapes /metrics, stops the gateway and checks
the SQLite file. Used by run.sh (the demo) and scripts/test-gateway.sh.

    python e2e.py --mqtt-port PORT [--vehicles 4] [--readings 250] [--rate 100]
                  [--offline-readings 50] [--workdir DIR]

1. live: the gateway is subscribed; the vehicles send --readings each, one
   of them poison (vehicle 0's middle reading, cut short).
2. offline (--offline-readings > 0): the gateway is stopped, the vehicles
   send more, mosquitto queues them in the gateway's persistent session, the
   gateway is started again and must get every one.
3. repeat: one reading already stored is sent again; the gateway must count
   it as a duplicate (the SQLite primary key keeps the table right, the
   counts show it came twice).

After each phase the metrics must agree with what was sent (published,
acked, dead-lettered, rows written); at the end SQLite must hold each reading
exactly once with its values, every delivery must be accounted for (rows
written = readings + the one repeat), the dead letters must be the poison
reading (one per consumer group), and each vehicle's alerts must be those its
readings give in order. The checks are then run on tampered copies of the
database (a reading lost, a reading written twice) and must fail there.
Exits 1 if any check failed; the last line is "N passed, N failed".
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Callable, Dict, FrozenSet, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import vehicles as fleet  # noqa: E402  (beside this file)

OVERHEAT_C = 105.0  # the gateway's thresholds (gateway.py)
COOLED_C = 100.0

Metrics = Dict[Tuple[str, FrozenSet[Tuple[str, str]]], float]


def parse_metrics(text: str) -> Metrics:
    out: Metrics = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_labels, _, value = line.rpartition(" ")
        name, _, labels = name_labels.partition("{")
        pairs: List[Tuple[str, str]] = []
        for part in labels.rstrip("}").split(","):
            if part:
                k, _, v = part.partition("=")
                pairs.append((k, v.strip('"')))
        out[(name, frozenset(pairs))] = float(value)
    return out


def metric(m: Metrics, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    if key not in m:
        raise KeyError(f"no metric {name}{labels or ''} on /metrics")
    return m[key]


class Checks:
    def __init__(self) -> None:
        self.passed = 0
        self.failed: List[str] = []

    def check(self, what: str, ok: bool, detail: str = "") -> None:
        if ok:
            self.passed += 1
            print(f"  ok    {what}")
        else:
            self.failed.append(what)
            print(f"  FAIL  {what}{': ' + detail if detail else ''}")

    def equal(self, what: str, got: object, want: object) -> None:
        self.check(f"{what} = {want!r}", got == want, f"got {got!r}")


class GatewayProcess:
    def __init__(self, python: str, workdir: str, mqtt_port: int, db: str, phase: str,
                 max_attempts: int) -> None:
        self.log_path = os.path.join(workdir, f"gateway-{phase}.log")
        ready = os.path.join(workdir, f"gateway-{phase}.ready")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [python, os.path.join(HERE, "gateway.py"), "--mqtt-port", str(mqtt_port), "--db", db,
             "--ready-file", ready, "--max-attempts", str(max_attempts)],
            stdout=self.log, stderr=subprocess.STDOUT,
            # Not in the terminal's process group: a Ctrl-C ends this run,
            # whose `finally` stops the gateway (SIGTERM to its PID).
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while not os.path.exists(ready):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the gateway did not get ready; its log:\n{self.tail()}")
            time.sleep(0.05)
        with open(ready) as f:
            self.http_port = int(json.load(f)["http_port"])
        self.url = f"http://127.0.0.1:{self.http_port}/metrics"

    def scrape(self) -> Metrics:
        with urllib.request.urlopen(self.url, timeout=5) as r:
            return parse_metrics(r.read().decode())

    def stop(self) -> int:
        """SIGTERM to this gateway's own PID; it drains and exits."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def tail(self, n: int = 30) -> str:
        self.log.flush()
        with open(self.log_path) as f:
            return "".join(f.readlines()[-n:])


def settled(m: Metrics, received: int) -> bool:
    if metric(m, "gateway_mqtt_received_total") < received:
        return False
    published = metric(m, "ringmq_topic_published_total", topic="readings")
    for group in ("store", "alerts"):
        done = (metric(m, "ringmq_subscription_acked_total", topic="readings", group=group)
                + metric(m, "ringmq_subscription_dead_lettered_total", topic="readings", group=group))
        if done < published:
            return False
        for gauge in ("in_flight", "waiting_retry", "lag"):
            if metric(m, f"ringmq_subscription_{gauge}", topic="readings", group=group):
                return False
    dead = metric(m, "ringmq_topic_published_total", topic="readings.dlq")
    return (metric(m, "ringmq_subscription_acked_total", topic="readings.dlq", group="quarantine") >= dead
            and metric(m, "ringmq_subscription_in_flight", topic="readings.dlq", group="quarantine") == 0)


COUNTERS = ("gateway_mqtt_received_total", "gateway_sqlite_rows_total", "gateway_dead_letters_stored_total")


def wait_settled(gw: GatewayProcess, received: int, timeout: float = 60.0) -> Metrics:
    """Waits until the gateway has received `received` readings and settled
    everything, then for half a second more in which nothing may change (a
    late duplicate would show)."""
    deadline = time.monotonic() + timeout
    while True:
        m = gw.scrape()
        if settled(m, received):
            time.sleep(0.5)
            again = gw.scrape()
            if settled(again, received) and all(metric(again, c) == metric(m, c) for c in COUNTERS):
                return again
        if time.monotonic() > deadline:
            return m
        time.sleep(0.1)


def run_vehicles(python: str, mqtt_port: int, n: int, readings: int, rate: float, start_seq: int,
                 poison: Optional[str]) -> None:
    cmd = [python, os.path.join(HERE, "vehicles.py"), "--port", str(mqtt_port), "--vehicles", str(n),
           "--readings", str(readings), "--rate", str(rate), "--start-seq", str(start_seq)]
    if poison:
        cmd += ["--poison", poison]
    subprocess.run(cmd, check=True, timeout=600)


def send_again(mqtt_port: int, vehicle: int, seq: int) -> None:
    """Publishes one reading a second time, as a vehicle whose PUBACK got lost would."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="e2e-repeat", protocol=mqtt.MQTTv311)
    client.connect("127.0.0.1", mqtt_port)
    client.loop_start()
    info = client.publish(fleet.TOPIC.format(vehicle=vehicle), fleet.payload(vehicle, seq), qos=1)
    info.wait_for_publish(timeout=10)
    client.disconnect()
    client.loop_stop()


def expected_alerts(vehicle: int, seqs: range, poison: Tuple[int, int]) -> List[Tuple[int, str]]:
    """The alerts vehicle `vehicle`'s readings give, taken in order (the poison
    reading gives none: it never parses)."""
    out: List[Tuple[int, str]] = []
    over = False
    for seq in seqs:
        if (vehicle, seq) == poison:
            continue
        temp = fleet.reading(vehicle, seq)["engine_temp_c"]
        if not over and temp >= OVERHEAT_C:
            out.append((seq, "overheat"))
            over = True
        elif over and temp <= COOLED_C:
            out.append((seq, "cooled"))
            over = False
    return out


def check_phase(c: Checks, m: Metrics, sent: int, poison: int, repeats: int, alerts: int,
                max_attempts: int) -> None:
    """The metrics of one gateway process against what it was sent: `sent`
    MQTT messages, `poison` of them malformed, `repeats` a copy of a reading
    already stored, `alerts` alerts expected."""
    good = sent - poison
    c.equal("MQTT messages received", metric(m, "gateway_mqtt_received_total"), sent)
    c.equal("  ... none rejected", metric(m, "gateway_mqtt_rejected_total"), 0)
    c.equal("published into RingMQ topic 'readings'", metric(m, "ringmq_topic_published_total", topic="readings"), sent)
    for group in ("store", "alerts"):
        labels = {"topic": "readings", "group": group}
        c.equal(f"group {group}: acked", metric(m, "ringmq_subscription_acked_total", **labels), good)
        c.equal(f"group {group}: dead-lettered", metric(m, "ringmq_subscription_dead_lettered_total", **labels), poison)
        c.equal(f"group {group}: nacked ({poison} poison x {max_attempts} attempts)",
                metric(m, "ringmq_subscription_nacked_total", **labels), poison * max_attempts)
        c.equal(f"group {group}: deliveries (each acked or nacked once)",
                metric(m, "ringmq_subscription_delivered_total", **labels), good + poison * max_attempts)
        c.equal(f"group {group}: retried", metric(m, "ringmq_subscription_retried_total", **labels),
                poison * (max_attempts - 1))
    c.equal("published into 'readings.dlq' (one per group)",
            metric(m, "ringmq_topic_published_total", topic="readings.dlq"), 2 * poison)
    c.equal("dead letters kept in SQLite",
            metric(m, "gateway_dead_letters_stored_total"), 2 * poison)
    c.equal("SQLite rows written (every delivery to the store)", metric(m, "gateway_sqlite_rows_total"), good)
    c.equal("  ... of which new readings", metric(m, "gateway_sqlite_inserted_total"), good - repeats)
    c.equal("  ... of which duplicates", metric(m, "gateway_sqlite_duplicates_total"), repeats)
    c.equal("alerts raised", metric(m, "gateway_alerts_total", kind="overheat")
            + metric(m, "gateway_alerts_total", kind="cooled"), alerts)
    c.equal("readings older than their vehicle's last (no alert)", metric(m, "gateway_alerts_stale_total"), repeats)


def check_db(c: Checks, db: str, n_vehicles: int, seqs: range, poison: Tuple[int, int], repeats: int,
             max_attempts: int, quiet: bool = False) -> None:
    conn = sqlite3.connect(db)
    try:
        want = {fleet.reading_id(v, s) for v in range(n_vehicles) for s in seqs} - {fleet.reading_id(*poison)}
        rows, distinct = conn.execute("SELECT COUNT(*), COUNT(DISTINCT reading_id) FROM readings").fetchone()
        c.equal("SQLite readings: rows", rows, len(want))
        c.equal("SQLite readings: distinct reading ids", distinct, len(want))
        got = {r for (r,) in conn.execute("SELECT reading_id FROM readings")}
        c.check("SQLite readings: exactly the readings sent, less the poison one", got == want,
                f"{len(want - got)} missing (e.g. {sorted(want - got)[:3]}), "
                f"{len(got - want)} unexpected (e.g. {sorted(got - want)[:3]})")
        bad = [rid for rid, v, s, temp in conn.execute(
            "SELECT reading_id, vehicle, seq, engine_temp_c FROM readings")
            if temp != fleet.reading(v, s)["engine_temp_c"] or rid != fleet.reading_id(v, s)]
        c.check("SQLite readings: the values sent", not bad, f"{len(bad)} differ, e.g. {bad[:3]}")
        written, inserted, dups = conn.execute(
            "SELECT SUM(rows), SUM(inserted), SUM(duplicates) FROM batches").fetchone()
        c.equal("SQLite batches: readings written by the store handlers (each once + repeats)",
                written, len(want) + repeats)
        c.equal("SQLite batches: new rows", inserted, len(want))
        c.equal("SQLite batches: duplicates", dups, repeats)

        dead = conn.execute("SELECT vehicle, mqtt_topic, grp, attempts, error, payload FROM dead_letters").fetchall()
        c.equal("dead letters: groups that gave up on the poison reading",
                sorted(d[2] for d in dead), ["alerts", "store"])
        poison_bytes = fleet.poison_payload(*poison)
        c.check("dead letters: each the poison reading, from its vehicle's topic, after "
                f"{max_attempts} attempts, with the parse error",
                bool(dead) and all(
                    d[0] == poison[0] and d[1] == fleet.TOPIC.format(vehicle=poison[0]) and d[3] == max_attempts
                    and d[5] == poison_bytes and str(d[4]).startswith(f"failed {max_attempts} deliveries")
                    and "BadReading: not JSON" in str(d[4]) for d in dead),
                repr(dead))

        out_of_order = []
        for v in range(n_vehicles):
            got_alerts = [(s, k) for s, k in conn.execute(
                "SELECT seq, kind FROM alerts WHERE vehicle = ? ORDER BY n", (v,))]
            want_alerts = expected_alerts(v, seqs, poison)
            if got_alerts != want_alerts:
                i = next((i for i, (a, b) in enumerate(zip(got_alerts, want_alerts)) if a != b),
                         min(len(got_alerts), len(want_alerts)))
                out_of_order.append(f"vehicle {v} from alert {i}: got {got_alerts[i:i + 3]}, "
                                    f"want {want_alerts[i:i + 3]}")
        total = conn.execute("SELECT COUNT(*) FROM alerts").fetchone()[0]
        c.check(f"alerts: each vehicle's, in the order its readings give them ({total} in all)",
                not out_of_order and total > 0, "; ".join(out_of_order[:3]) or "no alerts at all")
    finally:
        conn.close()


def tampered_copies_fail(db: str, workdir: str, check: Callable[[Checks, str], None]) -> Checks:
    """The database checks must fail on a copy with a reading lost and on one
    with a reading written twice: they can see what they are meant to."""
    result = Checks()
    cases = {
        "a reading lost": [
            "DELETE FROM readings WHERE reading_id = (SELECT MAX(reading_id) FROM readings)",
            "UPDATE batches SET rows = rows - 1, inserted = inserted - 1 WHERE batch = (SELECT MAX(batch) FROM batches)",
        ],
        "a reading delivered twice": [
            "INSERT INTO batches (rows, inserted, duplicates, committed_at) VALUES (1, 0, 1, 0)",
        ],
    }
    for name, statements in cases.items():
        copy = os.path.join(workdir, "tampered.db")
        src = sqlite3.connect(db)
        dst = sqlite3.connect(copy)
        src.backup(dst)
        src.close()
        with dst:
            for s in statements:
                dst.execute(s)
        dst.close()
        inner = Checks()
        saved = sys.stdout
        sys.stdout = open(os.devnull, "w")
        try:
            check(inner, copy)
        finally:
            sys.stdout.close()
            sys.stdout = saved
        os.remove(copy)
        result.check(f"the checks fail on a copy with {name} ({', '.join(inner.failed) or 'none failed'})",
                     bool(inner.failed))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mqtt-port", type=int, required=True)
    parser.add_argument("--vehicles", type=int, default=4)
    parser.add_argument("--readings", type=int, default=250, help="per vehicle, gateway up (default 250)")
    parser.add_argument("--rate", type=float, default=100.0, help="readings per second per vehicle (default 100)")
    parser.add_argument("--offline-readings", type=int, default=50,
                        help="per vehicle, sent while the gateway is stopped (default 50; 0: no such phase)")
    parser.add_argument("--max-attempts", type=int, default=4)
    parser.add_argument("--workdir", help="for the database and logs (default: a temporary directory, removed)")
    parser.add_argument("--python", default=sys.executable, help="runs gateway.py and vehicles.py")
    args = parser.parse_args()
    if args.readings < 2:
        parser.error("--readings must be at least 2")

    # SIGTERM (run.sh cleaning up) ends the run through the `finally` below,
    # which stops the gateway.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = args.workdir or tempfile.mkdtemp(prefix="ringmq-gateway.")
    os.makedirs(workdir, exist_ok=True)
    db = os.path.join(workdir, "telemetry.db")
    for stale in ("telemetry.db", "telemetry.db-wal", "telemetry.db-shm"):
        if os.path.exists(os.path.join(workdir, stale)):
            os.remove(os.path.join(workdir, stale))
    n, r1, r2 = args.vehicles, args.readings, args.offline_readings
    poison = (0, r1 // 2)
    seqs = range(0, r1 + r2)
    c = Checks()
    gw: Optional[GatewayProcess] = None
    try:
        print(f"== 1. live: {n} vehicles x {r1} readings at {args.rate:g}/s each, "
              f"vehicle {poison[0]}'s reading {poison[1]} poison")
        gw = GatewayProcess(args.python, workdir, args.mqtt_port, db, "live", args.max_attempts)
        print(f"   gateway pid {gw.proc.pid}, metrics on {gw.url}")
        run_vehicles(args.python, args.mqtt_port, n, r1, args.rate, 0, f"{poison[0]}:{poison[1]}")
        m = wait_settled(gw, n * r1)
        repeat_now = r2 == 0
        if repeat_now:
            repeat_seq = 1
            print(f"== 3. repeat: vehicle 1's reading {repeat_seq} sent again")
            send_again(args.mqtt_port, 1 % n, repeat_seq)
            m = wait_settled(gw, n * r1 + 1)
        live_alerts = sum(len([a for a in expected_alerts(v, range(0, r1), poison)]) for v in range(n))
        check_phase(c, m, n * r1 + repeat_now, 1, int(repeat_now), live_alerts, args.max_attempts)
        print_excerpt(m)
        show_log(gw, "ALERT", 3, "alerts")
        show_log(gw, "dead letter from", 2, "dead letters")
        c.equal("gateway exit status after SIGTERM (drained)", gw.stop(), 0)
        gw = None

        if r2:
            print(f"== 2. offline: gateway stopped, {n} vehicles x {r2} readings queued by mosquitto")
            run_vehicles(args.python, args.mqtt_port, n, r2, args.rate, r1, None)
            gw = GatewayProcess(args.python, workdir, args.mqtt_port, db, "offline", args.max_attempts)
            print(f"   gateway started again (pid {gw.proc.pid}), same client id: the session holds them")
            wait_settled(gw, n * r2)
            repeat_seq = r1
            print(f"== 3. repeat: vehicle 1's reading {repeat_seq} sent again")
            send_again(args.mqtt_port, 1 % n, repeat_seq)
            m = wait_settled(gw, n * r2 + 1)
            offline_alerts = sum(len([a for a in expected_alerts(v, seqs, poison) if a[0] >= r1]) for v in range(n))
            check_phase(c, m, n * r2 + 1, 0, 1, offline_alerts, args.max_attempts)
            c.equal("gateway exit status after SIGTERM (drained)", gw.stop(), 0)
            gw = None

        print(f"== SQLite {db}")

        def db_checks(checks: Checks, path: str) -> None:
            check_db(checks, path, n, seqs, poison, 1, args.max_attempts)

        db_checks(c, db)
        print("== the checks can fail")
        t = tampered_copies_fail(db, workdir, db_checks)
        c.passed += t.passed
        c.failed += t.failed
    except Exception as e:
        c.failed.append(f"run: {e!r}")
        print(f"  FAIL  {e!r}")
    finally:
        if gw is not None:
            gw.stop()
        if c.failed:
            for log in sorted(f for f in os.listdir(workdir) if f.endswith(".log")):
                print(f"--- {log} (the end) ---")
                with open(os.path.join(workdir, log)) as f:
                    print("".join(f.readlines()[-25:]), end="")
            print(f"kept {workdir}")
        elif not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"mqtt-gateway: {c.passed} passed, {len(c.failed)} failed")
    return 1 if c.failed else 0


def show_log(gw: GatewayProcess, pattern: str, n: int, what: str) -> None:
    with open(gw.log_path) as f:
        lines = [line.rstrip() for line in f if pattern in line]
    print(f"   {what} in the gateway's log ({len(lines)}; the first {min(n, len(lines))}):")
    for line in lines[:n]:
        print(f"     {line[:160]}")


def print_excerpt(m: Metrics) -> None:
    p99 = metric(m, "ringmq_subscription_latency_seconds", topic="readings", group="store", quantile="0.99")
    batches = metric(m, "gateway_sqlite_batches_total")
    rows = metric(m, "gateway_sqlite_rows_total")
    print(f"   store: {rows:.0f} readings in {batches:.0f} SQLite transactions "
          f"(largest {metric(m, 'gateway_sqlite_batch_rows_max'):.0f}), publish-to-ack p99 {p99 * 1000:.1f} ms")


if __name__ == "__main__":
    sys.exit(main())
