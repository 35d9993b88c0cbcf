//! Single-threaded loops for an instruction profile (callgrind) of the
//! per-message cost of each queue operation, free of scheduling noise:
//!
//! ```text
//! cargo build --release -p ringmq-bench --example profile_ops
//! valgrind --tool=callgrind target/release/examples/profile_ops
//! callgrind_annotate --inclusive=yes callgrind.out.<pid> | grep profile_ops
//! ```
//!
//! Each `loop_*` function moves `MSGS` 64-byte messages in rounds of 64
//! (publish 64, then consume them); its inclusive instruction count divided
//! by `MSGS` is the cost per message. The same counts are printed as
//! nanoseconds per message when run without valgrind.

use std::hint::black_box;
use std::time::{Duration, Instant};

use ringmq_core::{
    Broker, BrokerOptions, Delivery, PullSubscription, RawDelivery, SubOptions, Topic, TopicOptions,
};

const MSGS: u64 = 1 << 20;
const ROUND: u64 = 64;

fn msg(i: u64) -> [u8; 64] {
    let mut m = [0u8; 64];
    m[..8].copy_from_slice(&i.to_le_bytes());
    m
}

#[inline(never)]
fn loop_ringmq_publish_poll_batch_ack_all(t: &Topic, s: &PullSubscription) {
    let mut got: Vec<Delivery> = Vec::with_capacity(256);
    for r in 0..MSGS / ROUND {
        for i in 0..ROUND {
            t.publish(&msg(r * ROUND + i)).unwrap();
        }
        let mut n = 0;
        while n < ROUND as usize {
            n += s.poll_batch(256, Some(Duration::ZERO), &mut got).unwrap();
            for d in &got {
                black_box(d.data());
            }
            s.ack_all(&mut got).unwrap();
        }
    }
}

/// The bindings' take before `poll_raw`: `Delivery` values turned into raw
/// tags one by one, then acked by tag.
#[inline(never)]
fn loop_ringmq_publish_poll_batch_into_raw_ack_tags(t: &Topic, s: &PullSubscription) {
    let mut got: Vec<Delivery> = Vec::with_capacity(256);
    let mut tags: Vec<u64> = Vec::with_capacity(256);
    for r in 0..MSGS / ROUND {
        for i in 0..ROUND {
            t.publish(&msg(r * ROUND + i)).unwrap();
        }
        let mut n = 0;
        while n < ROUND as usize {
            n += s.poll_batch(256, Some(Duration::ZERO), &mut got).unwrap();
            tags.clear();
            for d in got.drain(..) {
                black_box(d.data());
                tags.push(d.into_raw().0);
            }
            // SAFETY: no payload is read after the ack.
            unsafe { s.ack_tags(&tags) }.unwrap();
        }
    }
}

/// The bindings' take: `poll_raw`, then acked by tag.
#[inline(never)]
fn loop_ringmq_publish_poll_raw_ack_tags(t: &Topic, s: &PullSubscription) {
    let mut got: Vec<RawDelivery> = Vec::with_capacity(256);
    let mut tags: Vec<u64> = Vec::with_capacity(256);
    for r in 0..MSGS / ROUND {
        for i in 0..ROUND {
            t.publish(&msg(r * ROUND + i)).unwrap();
        }
        let mut n = 0;
        while n < ROUND as usize {
            got.clear();
            n += s
                .poll_raw(256, Some(Duration::ZERO), None, &mut got)
                .unwrap();
            tags.clear();
            for d in &got {
                // SAFETY: just taken, not settled.
                black_box(unsafe { d.data() });
                tags.push(d.tag());
            }
            // SAFETY: no payload is read after the ack.
            unsafe { s.ack_tags(&tags) }.unwrap();
        }
    }
}

/// Rounds of one `publish_batch` of `ROUND` messages, each round then
/// taken with `take` (returning how many it took) until all are in.
#[inline(always)]
fn batch_rounds(t: &Topic, mut take: impl FnMut() -> usize) {
    let mut items = [[0u8; 64]; ROUND as usize];
    for r in 0..MSGS / ROUND {
        for (i, it) in items.iter_mut().enumerate() {
            *it = msg(r * ROUND + i as u64);
        }
        t.publish_batch(&items, 0, None).unwrap();
        let mut n = 0;
        while n < ROUND as usize {
            n += take();
        }
    }
}

#[inline(never)]
fn loop_ringmq_publish_batch_poll_batch_ack_all(t: &Topic, s: &PullSubscription) {
    let mut got: Vec<Delivery> = Vec::with_capacity(256);
    batch_rounds(t, || {
        let n = s.poll_batch(256, Some(Duration::ZERO), &mut got).unwrap();
        for d in &got {
            black_box(d.data());
        }
        s.ack_all(&mut got).unwrap();
        n
    });
}

/// The batch scenario as the performance targets define it:
/// `publish_batch` of 64, then `consume`.
#[inline(never)]
fn loop_ringmq_publish_batch_consume(t: &Topic, s: &PullSubscription) {
    batch_rounds(t, || {
        s.consume(256, Some(Duration::ZERO), |m| {
            black_box(m.data);
            Ok(())
        })
        .unwrap()
    });
}

#[inline(never)]
fn loop_ringmq_publish_consume(t: &Topic, s: &PullSubscription) {
    for r in 0..MSGS / ROUND {
        for i in 0..ROUND {
            t.publish(&msg(r * ROUND + i)).unwrap();
        }
        let mut n = 0;
        while n < ROUND as usize {
            n += s
                .consume(256, Some(Duration::ZERO), |m| {
                    black_box(m.data);
                    Ok(())
                })
                .unwrap();
        }
    }
}

#[inline(never)]
fn loop_ringmq_publish_poll_ack(t: &Topic, s: &PullSubscription) {
    for r in 0..MSGS / ROUND {
        for i in 0..ROUND {
            t.publish(&msg(r * ROUND + i)).unwrap();
        }
        for _ in 0..ROUND {
            let d = s.poll(Some(Duration::ZERO)).unwrap().unwrap();
            black_box(d.data());
            d.ack().unwrap();
        }
    }
}

#[inline(never)]
fn loop_rtrb(p: &mut rtrb::Producer<[u8; 64]>, c: &mut rtrb::Consumer<[u8; 64]>) {
    for r in 0..MSGS / ROUND {
        for i in 0..ROUND {
            p.push(msg(r * ROUND + i)).unwrap();
        }
        for _ in 0..ROUND {
            black_box(c.pop().unwrap());
        }
    }
}

#[inline(never)]
fn loop_crossbeam_arrayqueue(q: &crossbeam_queue::ArrayQueue<[u8; 64]>) {
    for r in 0..MSGS / ROUND {
        for i in 0..ROUND {
            q.push(msg(r * ROUND + i)).unwrap();
        }
        for _ in 0..ROUND {
            black_box(q.pop().unwrap());
        }
    }
}

#[inline(never)]
fn loop_crossbeam_channel(
    tx: &crossbeam_channel::Sender<[u8; 64]>,
    rx: &crossbeam_channel::Receiver<[u8; 64]>,
) {
    for r in 0..MSGS / ROUND {
        for i in 0..ROUND {
            tx.send(msg(r * ROUND + i)).unwrap();
        }
        for _ in 0..ROUND {
            black_box(rx.recv().unwrap());
        }
    }
}

fn report(name: &str, t0: Instant) {
    let ns = t0.elapsed().as_nanos() as f64 / MSGS as f64;
    println!("{name:<48} {ns:>7.1} ns/msg");
}

fn main() {
    let broker = Broker::new(BrokerOptions::default()).unwrap();
    let opts = TopicOptions {
        capacity: 1024,
        slot_size: 64,
        ..TopicOptions::default()
    };
    let t = broker.create_topic("a", opts.clone()).unwrap();
    let s = t.subscribe_pull("a", SubOptions::default()).unwrap();
    let t0 = Instant::now();
    loop_ringmq_publish_poll_batch_ack_all(&t, &s);
    report("ringmq publish + poll_batch + ack_all", t0);

    let t3 = broker.create_topic("c", opts.clone()).unwrap();
    let s3 = t3.subscribe_pull("c", SubOptions::default()).unwrap();
    let t0 = Instant::now();
    loop_ringmq_publish_consume(&t3, &s3);
    report("ringmq publish + consume(256)", t0);

    let t4 = broker.create_topic("d", opts.clone()).unwrap();
    let s4 = t4.subscribe_pull("d", SubOptions::default()).unwrap();
    let t0 = Instant::now();
    loop_ringmq_publish_poll_ack(&t4, &s4);
    report("ringmq publish + poll + ack", t0);

    let t5 = broker.create_topic("e", opts.clone()).unwrap();
    let s5 = t5.subscribe_pull("e", SubOptions::default()).unwrap();
    let t0 = Instant::now();
    loop_ringmq_publish_poll_batch_into_raw_ack_tags(&t5, &s5);
    report("ringmq publish + poll_batch + into_raw + ack_tags", t0);

    let t6 = broker.create_topic("f", opts.clone()).unwrap();
    let s6 = t6.subscribe_pull("f", SubOptions::default()).unwrap();
    let t0 = Instant::now();
    loop_ringmq_publish_poll_raw_ack_tags(&t6, &s6);
    report("ringmq publish + poll_raw + ack_tags", t0);

    let t2 = broker.create_topic("b", opts.clone()).unwrap();
    let s2 = t2.subscribe_pull("b", SubOptions::default()).unwrap();
    let t0 = Instant::now();
    loop_ringmq_publish_batch_poll_batch_ack_all(&t2, &s2);
    report("ringmq publish_batch(64) + poll_batch + ack_all", t0);

    let t7 = broker.create_topic("g", opts).unwrap();
    let s7 = t7.subscribe_pull("g", SubOptions::default()).unwrap();
    let t0 = Instant::now();
    loop_ringmq_publish_batch_consume(&t7, &s7);
    report("ringmq publish_batch(64) + consume(256)", t0);

    let q = crossbeam_queue::ArrayQueue::new(1024);
    let t0 = Instant::now();
    loop_crossbeam_arrayqueue(&q);
    report("crossbeam ArrayQueue push + pop", t0);

    let (mut p, mut c) = rtrb::RingBuffer::new(1024);
    let t0 = Instant::now();
    loop_rtrb(&mut p, &mut c);
    report("rtrb push + pop", t0);

    let (tx, rx) = crossbeam_channel::bounded(1024);
    let t0 = Instant::now();
    loop_crossbeam_channel(&tx, &rx);
    report("crossbeam-channel send + recv", t0);

    drop((s, s2, s3, s4, s5, s6, s7));
    broker.close(Duration::from_secs(1)).unwrap();
}
