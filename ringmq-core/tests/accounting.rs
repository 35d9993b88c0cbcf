//! The accounting identity `delivered = acked + nacked + expired + termed +
//! in_flight`, and every message of a gated subscription ending exactly once
//! (acked or dead-lettered).

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use ringmq_core::{HandlerError, SubOptions, SubStats, TopicOptions};

fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !cond() {
        assert!(t0.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn assert_identity(s: &SubStats) {
    assert_eq!(
        s.delivered,
        s.acked + s.nacked + s.expired + s.termed + s.in_flight,
        "delivered = acked + nacked + expired + termed + in_flight: {s:?}"
    );
}

/// An ordered lane that gives up on a message counts its failures as nacks
/// (not also as a term), so a later in-flight handler stays visible in
/// `in_flight` and `outstanding`.
#[test]
fn ordered_lane_dead_letter_is_counted_once_and_keeps_later_work_visible() {
    let mq = broker();
    let t = mq
        .create_topic(
            "orders",
            TopicOptions {
                max_attempts: 2,
                ..small(16)
            },
        )
        .unwrap();
    let dlq = t
        .dead_letter_topic()
        .unwrap()
        .subscribe_pull("dead", SubOptions::default())
        .unwrap();
    let release = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicBool::new(false));
    let (r, st) = (release.clone(), started.clone());
    let sub = t
        .subscribe(
            "billing",
            SubOptions {
                ordered_by_key: true,
                ..SubOptions::default()
            },
            move |m| {
                if m.data == b"poison" {
                    return Err(HandlerError::from("cannot parse"));
                }
                st.store(true, Ordering::SeqCst);
                let t0 = Instant::now();
                while !r.load(Ordering::SeqCst) && t0.elapsed() < Duration::from_secs(10) {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Ok(())
            },
        )
        .unwrap();
    t.publish_with(b"poison", 1, None).unwrap();
    let dead = poll1(&dlq);
    assert_eq!(
        (dead.data(), dead.key(), dead.attempt()),
        (&b"poison"[..], 1, 2)
    );
    dead.ack().unwrap();
    t.publish_with(b"slow", 2, None).unwrap();
    wait_for("the slow handler to start", Duration::from_secs(5), || {
        started.load(Ordering::SeqCst)
    });
    let s = sub.stats();
    assert_eq!(
        (
            s.delivered,
            s.acked,
            s.nacked,
            s.termed,
            s.dead_lettered,
            s.in_flight
        ),
        (3, 0, 2, 0, 1, 1),
        "{s:?}"
    );
    assert_identity(&s);
    assert_eq!(sub.outstanding(), 1, "the running handler is still owed");
    release.store(true, Ordering::SeqCst);
    wait_for("the slow message's ack", Duration::from_secs(5), || {
        sub.stats().acked == 1
    });
    let s = sub.stats();
    assert_eq!((s.in_flight, sub.outstanding()), (0, 0), "{s:?}");
    assert_identity(&s);
    mq.close(Duration::from_secs(1)).unwrap();
}

/// A tiny seeded generator (SplitMix64), so a failing run can be replayed.
/// Producers, two pull groups of competing consumers that ack, nack (with
/// and without delay), term, drop unsettled or mark in progress at random,
/// and a push group whose handler fails or panics at random. At every
/// moment the identity holds; at the end every message was acked or
/// dead-lettered exactly once per group, and the dead-letter topic holds
/// what the groups dead-lettered.
#[test]
fn randomized_mixed_workload_keeps_the_identity_and_ends_every_message_once() {
    let seed = seed();
    let per_producer: u64 = if cfg!(debug_assertions) {
        1_500
    } else {
        10_000
    };
    let producers = 2u64;
    let total = producers * per_producer;
    let mq = broker();
    let t = mq
        .create_topic(
            "mixed",
            TopicOptions {
                max_attempts: 3,
                ack_timeout: Duration::from_millis(30),
                backoff_base: Duration::from_micros(200),
                backoff_max: Duration::from_millis(2),
                ..small(64)
            },
        )
        .unwrap();
    let dlq = t
        .dead_letter_topic()
        .unwrap()
        .subscribe_pull("dead", SubOptions::default())
        .unwrap();
    let pulls: Vec<_> = ["a", "b"]
        .iter()
        .map(|g| t.subscribe_pull(g, SubOptions::default()).unwrap())
        .collect();
    let push_seed = AtomicU64::new(seed ^ 0xabcdef);
    let push = t
        .subscribe(
            "p",
            SubOptions {
                concurrency: 2,
                ..SubOptions::default()
            },
            move |m| {
                let mut r = Rng(push_seed.fetch_add(m.id + 1, Ordering::Relaxed));
                match r.below(20) {
                    0 => Err(HandlerError::from("flaky")),
                    1 => panic!("handler bug"),
                    _ => Ok(()),
                }
            },
        )
        .unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let dead_seen = std::thread::scope(|s| {
        for p in 0..producers {
            let t = t.clone();
            s.spawn(move || {
                for i in 0..per_producer {
                    t.publish_with(&encode(p as u32, i), i % 7, None).unwrap();
                }
            });
        }
        for (gi, g) in pulls.iter().enumerate() {
            for c in 0..2u64 {
                let (g, done) = (g.clone(), done.clone());
                let mut r = Rng(seed.wrapping_add(gi as u64 * 10 + c));
                s.spawn(move || {
                    while !done.load(Ordering::SeqCst) {
                        let Some(d) = g.poll(Some(Duration::from_millis(5))).unwrap() else {
                            continue;
                        };
                        // Settles may be refused (an expired delivery) but
                        // never lose a message.
                        let _ = match r.below(100) {
                            0..=79 => d.ack(),
                            80..=86 => d.nack(None),
                            87..=89 => d.nack(Some(Duration::from_micros(r.below(500)))),
                            90..=91 => d.term(),
                            92..=94 => {
                                drop(d);
                                Ok(())
                            }
                            _ => d.in_progress().and_then(|_| d.ack()),
                        };
                    }
                });
            }
        }
        // The dead-letter topic is drained as the groups fill it; its
        // count is checked at the end.
        let dead_seen = {
            let (dlq, done) = (dlq.clone(), done.clone());
            s.spawn(move || {
                let mut n = 0u64;
                loop {
                    match dlq.poll(Some(Duration::from_millis(5))).unwrap() {
                        Some(d) => {
                            assert!(d.attempt() >= 1);
                            d.ack().unwrap();
                            n += 1;
                        }
                        None if done.load(Ordering::SeqCst) => return n,
                        None => {}
                    }
                }
            })
        };
        // Check the identity while everything runs.
        let checker = {
            let (pulls, push, done) = (pulls.clone(), push.clone(), done.clone());
            s.spawn(move || {
                while !done.load(Ordering::SeqCst) {
                    for st in pulls.iter().map(|g| g.stats()).chain([push.stats()]) {
                        assert!(st.delivered >= st.acked + st.nacked + st.expired + st.termed);
                    }
                    std::thread::sleep(Duration::from_millis(3));
                }
            })
        };
        let finished = |st: &SubStats| st.acked + st.dead_lettered == total;
        let t0 = Instant::now();
        while !(pulls.iter().all(|g| finished(&g.stats())) && finished(&push.stats())) {
            if t0.elapsed() > Duration::from_secs(60) {
                done.store(true, Ordering::SeqCst);
                let all: Vec<_> = pulls
                    .iter()
                    .map(|g| g.stats())
                    .chain([push.stats()])
                    .collect();
                panic!(
                    "not every message ended in 60 s (seed {seed}): {all:#?}\n{:?}",
                    t.stats()
                );
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        done.store(true, Ordering::SeqCst);
        checker.join().unwrap();
        dead_seen.join().unwrap()
    });
    let mut dead_total = 0;
    for st in pulls.iter().map(|g| g.stats()).chain([push.stats()]) {
        assert_identity(&st);
        assert_eq!(st.in_flight, 0, "{st:?}");
        assert_eq!(st.acked + st.dead_lettered, total, "{st:?}");
        assert_eq!(st.waiting_retry, 0, "{st:?}");
        dead_total += st.dead_lettered;
    }
    assert_eq!(
        dead_seen, dead_total,
        "the dead-letter topic holds every dead letter"
    );
    mq.close(Duration::from_secs(1)).unwrap();
}
