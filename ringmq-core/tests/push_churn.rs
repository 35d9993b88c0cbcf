//! Push handlers read payloads in place from the ring (or from a
//! subscription's store). While subscriptions come and go (some from
//! their own handlers), handlers fail
//! and sleep past their ack deadline, lossy subscriptions copy under the
//! producers' feet and the ring is tiny, every payload a handler sees must
//! be the one that was published with its key: a slot let go while a
//! handler still reads it shows up here as a payload of another message.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use common::*;
use ringmq_core::{
    ErrorKind, HandlerError, Message, Overflow, PublishOptions, PushSubscription, SubOptions,
    TopicOptions,
};

/// The payload published with `key`: its length and every byte follow
/// from the key, so any byte of another message gives itself away.
fn payload(key: u64, max: usize) -> Vec<u8> {
    let len = 1 + (key as usize * 7) % max;
    (0..len)
        .map(|i| {
            (key as u8)
                .wrapping_mul(31)
                .wrapping_add((i as u8).wrapping_mul(17))
                ^ 0x5a
        })
        .collect()
}

struct Seen {
    calls: AtomicU64,
    corrupt: AtomicU64,
    first_bad: std::sync::Mutex<Option<String>>,
}

impl Seen {
    fn check(&self, m: &Message<'_>, slot_size: usize, who: &str) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if m.data != payload(m.key, slot_size).as_slice() {
            self.corrupt.fetch_add(1, Ordering::Relaxed);
            let mut first = self.first_bad.lock().unwrap();
            first.get_or_insert_with(|| {
                format!(
                    "{who}: message {} (key {}, len {}, attempt {}) has payload {:?}",
                    m.id,
                    m.key,
                    m.data.len(),
                    m.attempt,
                    m.data
                )
            });
        }
    }
}

#[test]
fn push_handlers_read_whole_payloads_while_everything_moves_around_them() {
    // RINGMQ_CHURN_ROUNDS=N runs longer (each round is about 50 ms).
    let rounds = match std::env::var("RINGMQ_CHURN_ROUNDS") {
        Ok(v) => v.parse().expect("RINGMQ_CHURN_ROUNDS is a number"),
        Err(_) if cfg!(debug_assertions) => 8,
        Err(_) => 40,
    };
    let slot_size = 19;
    let seen = Arc::new(Seen {
        calls: AtomicU64::new(0),
        corrupt: AtomicU64::new(0),
        first_bad: std::sync::Mutex::new(None),
    });
    for round in 0..rounds {
        let mq = broker();
        let t = mq
            .create_topic(
                "t",
                TopicOptions {
                    capacity: 4,
                    slot_size,
                    // Odd rounds: producers overwrite, every subscription
                    // copies its messages out under their feet.
                    overflow: if round % 2 == 0 {
                        Overflow::Block
                    } else {
                        Overflow::DropOldest
                    },
                    ack_timeout: Duration::from_millis(3),
                    backoff_base: Duration::from_micros(200),
                    backoff_max: Duration::from_millis(1),
                    max_attempts: 4,
                    max_header_bytes: 16,
                    max_delayed: 64,
                    ..TopicOptions::default()
                },
            )
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let producers: Vec<_> = (0..2u64)
            .map(|p| {
                let (t, stop) = (t.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut k = p;
                    let fz = [0u8; 3];
                    while !stop.load(Ordering::Relaxed) {
                        let data = payload(k, slot_size);
                        let timeout = Some(Duration::from_millis(2));
                        // Some with headers (the slot's extension), some
                        // delayed (written into the ring later by the
                        // topic's wheel), some with a short life.
                        let r = match k % 8 {
                            1 => t.publish_opts(
                                &data,
                                &PublishOptions {
                                    headers: &[("fz", &fz)],
                                    ..PublishOptions::keyed(k, timeout)
                                },
                            ),
                            3 => t.publish_opts(
                                &data,
                                &PublishOptions {
                                    delay: Some(Duration::from_micros(300)),
                                    ..PublishOptions::keyed(k, timeout)
                                },
                            ),
                            5 => t.publish_opts(
                                &data,
                                &PublishOptions {
                                    ttl: Some(Duration::from_millis(1)),
                                    ..PublishOptions::keyed(k, timeout)
                                },
                            ),
                            _ => t.publish_with(&data, k, timeout),
                        };
                        if let Err(e) = r {
                            // A full ring past the timeout, the delayed
                            // messages' room full, or the close.
                            let ok = [ErrorKind::Timeout, ErrorKind::Full, ErrorKind::Closed];
                            assert!(ok.contains(&e.kind()), "publish of key {k}: {e}");
                        }
                        k += 2;
                    }
                })
            })
            .collect();
        let mut subs = Vec::new();
        for i in 0..12u64 {
            let s = seen.clone();
            let who = format!("round {round} sub {i}");
            let opts = SubOptions {
                concurrency: 3,
                ordered_by_key: i % 3 == 1,
                lossy: i % 4 == 3,
                max_in_flight_per_key: if i % 6 == 2 { 1 } else { 0 },
                rate_limit: (i % 7 == 5).then_some(20_000.0),
                ..SubOptions::default()
            };
            let calls = AtomicU64::new(0);
            // Every fifth one unsubscribes itself from a handler, with
            // other handler calls of it running on other workers.
            let own: Arc<OnceLock<PushSubscription>> = Arc::new(OnceLock::new());
            let mine = (i % 5 == 4).then(|| own.clone());
            let sub = t
                .subscribe(&format!("g{i}"), opts, move |m| {
                    s.check(m, slot_size, &who);
                    let n = calls.fetch_add(1, Ordering::Relaxed);
                    if n == 40 {
                        if let Some(sub) = mine.as_ref().and_then(|o| o.get()) {
                            let _ = sub.unsubscribe();
                        }
                    }
                    // Some outlive their ack deadline (the timer copies
                    // their slot out and redelivers it meanwhile), some
                    // fail (retried from the store).
                    match n % 11 {
                        3 => std::thread::sleep(Duration::from_millis(5)),
                        5 | 8 => return Err(HandlerError::new("again")),
                        _ => {}
                    }
                    // Read again after the wait: still ours.
                    s.check(m, slot_size, &who);
                    Ok(())
                })
                .unwrap();
            let _ = own.set(sub.clone());
            if i % 4 == 1 {
                // Paused and resumed with deliveries in flight.
                let _ = sub.pause();
                std::thread::sleep(Duration::from_millis(1));
                let _ = sub.resume();
            }
            subs.push(sub);
            std::thread::sleep(Duration::from_millis(2));
            if subs.len() > 3 {
                // Leave with handler calls under way on other workers.
                let gone = subs.remove(i as usize % subs.len());
                match gone.unsubscribe() {
                    // It may have unsubscribed itself.
                    Ok(()) => {}
                    Err(e) => assert_eq!(e.kind(), ErrorKind::Closed, "{e}"),
                }
            }
        }
        std::thread::sleep(Duration::from_millis(5));
        // The broker closes with handlers running and deliveries held.
        let _ = mq.close(Duration::from_millis(2));
        stop.store(true, Ordering::Relaxed);
        for p in producers {
            p.join().unwrap();
        }
    }
    let corrupt = seen.corrupt.load(Ordering::Relaxed);
    assert_eq!(
        corrupt,
        0,
        "{corrupt} of {} handler reads saw another message's bytes; the first: {}",
        seen.calls.load(Ordering::Relaxed),
        seen.first_bad.lock().unwrap().clone().unwrap_or_default()
    );
    assert!(seen.calls.load(Ordering::Relaxed) > 0);
}
