"""Throughput of RingMQ's Python binding against Python's queues.

One producer thread and one consumer thread in one process, 64-byte
payloads, messages per second; single calls (one message per call) and
batch APIs (many messages per call). Every case runs once per round and the
rounds interleave the cases (round r of every case before round r+1 of any),
so that a machine that changes speed for a while hurts every case alike; the
figure reported is the median over the rounds.

A third group measures RingMQ's push path (a handler on the broker's pool)
against a consumer thread that calls the same handler for each item.

RingMQ's packed case (``ringmq packed``, in the batch group) publishes
with publish_packed (the payloads back to back in one bytes, their lengths
in a list) and consumes with poll_raw + ack_all (one RawBatch per poll): no
Python object per message on either side. The batch table shows its ratio
to every batch case, and a last line its ratio to RingMQ's other cases.

Peers: queue.Queue, queue.SimpleQueue, multiprocessing.Queue (used between
two threads, as the others) and faster-fifo (pip package faster-fifo; skipped
with a note when it is not installed). Batch APIs: RingMQ's publish_many /
poll_batch / ack_all; faster-fifo's put_many / get_many; the other queues
have none, so their batch case puts a list of payloads as one item.

    python bench/python/bench_queues.py [--rounds 5] [--scale 1.0]

This is a benchmark, not a test: it prints figures and ratios and fails only
if a case does not deliver every message.
"""

import argparse
import multiprocessing
import queue
import statistics
import sys
import threading
import time

import ringmq

try:
    import faster_fifo
except ImportError:  # pragma: no cover - depends on the environment
    faster_fifo = None

PAYLOAD = b"x" * 64
BATCH = 256
CAPACITY = 8192


def run_pair(produce, consume):
    """Runs produce() in a thread and consume() here; returns seconds."""
    start = threading.Barrier(2)

    def producer():
        start.wait()
        produce()

    th = threading.Thread(target=producer)
    th.start()
    # Read the clock before releasing the producer: if this thread were
    # descheduled between the two, the producer could do its work untimed.
    t0 = time.perf_counter()
    start.wait()
    consume()
    dt = time.perf_counter() - t0
    th.join()
    return dt


# --- single calls -----------------------------------------------------------


def ringmq_single(n):
    mq = ringmq.Broker()
    topic = mq.create_topic("bench", capacity=CAPACITY, slot_size=64)
    sub = topic.pull("c")
    publish, poll = topic.publish, sub.poll

    def produce():
        for _ in range(n):
            publish(PAYLOAD)

    def consume():
        for _ in range(n):
            m = poll()
            assert len(m.data) == 64
            m.ack()

    dt = run_pair(produce, consume)
    mq.close(0)
    return dt


def stdlib_single(make):
    def case(n):
        q = make()
        put, get = q.put, q.get

        def produce():
            for _ in range(n):
                put(PAYLOAD)

        def consume():
            for _ in range(n):
                assert len(get()) == 64

        dt = run_pair(produce, consume)
        if hasattr(q, "close"):
            q.close()
            q.join_thread()
        return dt

    return case


def faster_fifo_single(n):
    q = faster_fifo.Queue(max_size_bytes=CAPACITY * 128)
    put, get = q.put, q.get

    def produce():
        for _ in range(n):
            put(PAYLOAD)

    def consume():
        for _ in range(n):
            assert len(get()) == 64

    return run_pair(produce, consume)


# --- batch APIs -------------------------------------------------------------


def ringmq_batch(n):
    mq = ringmq.Broker()
    topic = mq.create_topic("bench", capacity=CAPACITY, slot_size=64)
    sub = topic.pull("c")
    items = [PAYLOAD] * BATCH

    def produce():
        for _ in range(n // BATCH):
            topic.publish_many(items)

    def consume():
        got = 0
        while got < n // BATCH * BATCH:
            batch = sub.poll_batch(BATCH)
            got += len(batch)
            assert len(batch[-1].data) == 64
            sub.ack_all(batch)

    dt = run_pair(produce, consume)
    mq.close(0)
    return dt


def ringmq_packed(n):
    """publish_packed of BATCH payloads back to back / poll_raw + ack_all:
    no object per message on either side."""
    mq = ringmq.Broker()
    topic = mq.create_topic("bench", capacity=CAPACITY, slot_size=64)
    sub = topic.pull("c")
    data = PAYLOAD * BATCH
    lengths = [len(PAYLOAD)] * BATCH

    def produce():
        for _ in range(n // BATCH):
            topic.publish_packed(data, lengths)

    def consume():
        got = 0
        while got < n // BATCH * BATCH:
            batch = sub.poll_raw(BATCH)
            got += len(batch)
            assert len(batch.payload(len(batch) - 1)) == 64
            batch.ack_all()

    dt = run_pair(produce, consume)
    mq.close(0)
    return dt


def stdlib_batch(make):
    def case(n):
        q = make()
        items = [PAYLOAD] * BATCH

        def produce():
            for _ in range(n // BATCH):
                q.put(list(items))

        def consume():
            for _ in range(n // BATCH):
                assert len(q.get()[-1]) == 64

        dt = run_pair(produce, consume)
        if hasattr(q, "close"):
            q.close()
            q.join_thread()
        return dt

    return case


def faster_fifo_batch(n):
    q = faster_fifo.Queue(max_size_bytes=CAPACITY * 128)
    items = [PAYLOAD] * BATCH

    def produce():
        for _ in range(n // BATCH):
            q.put_many(items, block=True, timeout=10)

    def consume():
        got = 0
        while got < n // BATCH * BATCH:
            got += len(q.get_many(max_messages_to_get=BATCH, block=True, timeout=10))

    return run_pair(produce, consume)


# --- push handler -----------------------------------------------------------


def ringmq_push(n):
    """publish() in a thread; a handler on the broker's pool counts."""
    mq = ringmq.Broker(workers_max=1)
    topic = mq.create_topic("bench", capacity=CAPACITY, slot_size=64)
    done = threading.Event()
    seen = 0

    def handler(msg):
        nonlocal seen
        seen += 1
        if seen == n:
            done.set()

    topic.subscribe("c", handler)
    publish = topic.publish

    def produce():
        for _ in range(n):
            publish(PAYLOAD)

    dt = run_pair(produce, lambda: done.wait(120))
    assert seen == n
    mq.close(0)
    return dt


def stdlib_push(make):
    """The same with a consumer thread calling the handler for each item."""

    def case(n):
        q = make()
        seen = 0

        def handler(data):
            nonlocal seen
            seen += 1

        def produce():
            for _ in range(n):
                q.put(PAYLOAD)

        def consume():
            get = q.get
            for _ in range(n):
                handler(get())

        dt = run_pair(produce, consume)
        assert seen == n
        return dt

    return case


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--scale", type=float, default=1.0, help="message counts x this")
    args = ap.parse_args()
    if args.rounds < 5:
        print("note: fewer than 5 rounds; the medians are less reliable")

    def count(n):
        return max(BATCH, int(n * args.scale) // BATCH * BATCH)

    # (group, name, function, messages per run)
    cases = [
        ("single", "ringmq", ringmq_single, count(200_000)),
        ("single", "queue.Queue", stdlib_single(lambda: queue.Queue(CAPACITY)), count(200_000)),
        ("single", "queue.SimpleQueue", stdlib_single(queue.SimpleQueue), count(200_000)),
        ("single", "multiprocessing.Queue",
         stdlib_single(lambda: multiprocessing.Queue(CAPACITY)), count(50_000)),
        ("batch", "ringmq", ringmq_batch, count(1_000_000)),
        ("batch", "ringmq packed", ringmq_packed, count(2_000_000)),
        ("batch", "queue.Queue", stdlib_batch(lambda: queue.Queue(CAPACITY // BATCH)),
         count(1_000_000)),
        ("batch", "queue.SimpleQueue", stdlib_batch(queue.SimpleQueue), count(1_000_000)),
        ("batch", "multiprocessing.Queue",
         stdlib_batch(lambda: multiprocessing.Queue(CAPACITY // BATCH)), count(1_000_000)),
        ("push", "ringmq", ringmq_push, count(200_000)),
        ("push", "queue.Queue", stdlib_push(lambda: queue.Queue(CAPACITY)), count(200_000)),
        ("push", "queue.SimpleQueue", stdlib_push(queue.SimpleQueue), count(200_000)),
    ]
    if faster_fifo is not None:
        cases.insert(4, ("single", "faster-fifo", faster_fifo_single, count(50_000)))
        cases.append(("batch", "faster-fifo", faster_fifo_batch, count(200_000)))
    else:
        print("note: faster-fifo is not installed (pip install faster-fifo); skipping it")

    print(f"python {sys.version.split()[0]}, ringmq {ringmq.__version__}, "
          f"64-byte payloads, batches of {BATCH}, {args.rounds} interleaved rounds")
    rates = {(g, name): [] for g, name, _, _ in cases}
    for r in range(args.rounds):
        for group, name, fn, n in cases:
            dt = fn(n)
            rates[(group, name)].append(n / dt)
        print(f"  round {r + 1}/{args.rounds} done", file=sys.stderr)

    titles = {
        "single": "single calls: publish / poll + ack (peers: put / get)",
        "batch": f"batch APIs: publish_many / poll_batch + ack_all (packed: publish_packed / "
                 f"poll_raw + ack_all), {BATCH} per call",
        "push": "push: publish / handler on the pool (peers: put / get + handler call in a thread)",
    }
    packed = statistics.median(rates[("batch", "ringmq packed")])
    for group, title in titles.items():
        base = statistics.median(rates[(group, "ringmq")])
        print(f"\n{title}")
        extra = f"{'packed / it':>14}" if group == "batch" else ""
        print(f"  {'queue':<24}{'median msgs/s':>16}{'min':>14}{'max':>14}{'ringmq / it':>14}"
              + extra)
        for (g, name), rs in rates.items():
            if g != group:
                continue
            med = statistics.median(rs)
            extra = f"{packed / med:>13.2f}x" if group == "batch" else ""
            print(f"  {name:<24}{med:>16,.0f}{min(rs):>14,.0f}{max(rs):>14,.0f}"
                  f"{base / med:>13.2f}x" + extra)
    single = statistics.median(rates[("single", "ringmq")])
    batch = statistics.median(rates[("batch", "ringmq")])
    print(f"\nringmq packed (publish_packed / poll_raw + ack_all): {packed:,.0f} msgs/s, "
          f"{packed / batch:.2f}x publish_many / poll_batch, {packed / single:.2f}x single calls; "
          f"target 5,000,000: {'met' if packed >= 5e6 else 'missed'}")


if __name__ == "__main__":
    main()
