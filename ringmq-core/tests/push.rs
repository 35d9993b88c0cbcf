//! Push subscriptions on the worker pool.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use ringmq_core::{Broker, BrokerOptions, HandlerError, SubOptions, TopicOptions};

fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !cond() {
        assert!(t0.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn many_messages_through_four_push_subscriptions_exactly_once() {
    let n: u64 = if cfg!(debug_assertions) {
        100_000
    } else {
        1_000_000
    };
    let mq = broker();
    let t = mq
        .create_topic(
            "telemetry",
            TopicOptions {
                capacity: 1024,
                slot_size: 64,
                ..TopicOptions::default()
            },
        )
        .unwrap();
    let seen: Vec<Arc<Vec<AtomicU64>>> = (0..4)
        .map(|_| Arc::new((0..n.div_ceil(64)).map(|_| AtomicU64::new(0)).collect()))
        .collect();
    let dup = Arc::new(AtomicU64::new(0));
    let subs: Vec<_> = (0..4)
        .map(|i| {
            let (bits, dup) = (seen[i].clone(), dup.clone());
            t.subscribe(
                &format!("g{i}"),
                SubOptions {
                    concurrency: 2,
                    ..SubOptions::default()
                },
                move |m| {
                    let v = u64::from_le_bytes(m.data[..8].try_into().unwrap());
                    let old = bits[(v / 64) as usize].fetch_or(1 << (v % 64), Ordering::Relaxed);
                    if old & (1 << (v % 64)) != 0 {
                        dup.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(())
                },
            )
            .unwrap()
        })
        .collect();
    let producers: Vec<_> = (0..2u64)
        .map(|p| {
            let t = t.clone();
            std::thread::spawn(move || {
                let mut v = p;
                while v < n {
                    t.publish(&v.to_le_bytes()).unwrap();
                    v += 2;
                }
            })
        })
        .collect();
    for h in producers {
        h.join().unwrap();
    }
    wait_for("all acks", Duration::from_secs(120), || {
        subs.iter().all(|s| s.stats().acked == n)
    });
    assert_eq!(dup.load(Ordering::Relaxed), 0);
    for bits in &seen {
        let count: u64 = bits
            .iter()
            .map(|w| w.load(Ordering::Relaxed).count_ones() as u64)
            .sum();
        assert_eq!(count, n);
    }
    for s in &subs {
        let st = s.stats();
        assert_eq!(
            (st.delivered, st.acked, st.nacked, st.in_flight),
            (n, n, 0, 0)
        );
    }
    let report = mq.close(Duration::from_secs(5)).unwrap();
    assert_eq!(report.undelivered, 0);
}

#[test]
fn failing_and_panicking_handlers_retry_then_dead_letter_and_workers_survive() {
    let mq = broker();
    let t = mq.create_topic("jobs", small(64)).unwrap();
    let dead = mq
        .topic("jobs.dlq")
        .unwrap()
        .subscribe_pull("dead", SubOptions::default())
        .unwrap();
    let attempts: Arc<Mutex<HashMap<u64, Vec<u32>>>> = Arc::default();
    let a2 = attempts.clone();
    let sub = t
        .subscribe(
            "w",
            SubOptions {
                concurrency: 2,
                ..SubOptions::default()
            },
            move |m| {
                a2.lock().unwrap().entry(m.id).or_default().push(m.attempt);
                match m.data {
                    b"flaky" if m.attempt < 3 => Err(HandlerError::from("upstream 503")),
                    b"panic" => panic!("poison record"),
                    b"bad" => Err("always bad".into()),
                    _ => Ok(()),
                }
            },
        )
        .unwrap();
    let flaky = t.publish(b"flaky").unwrap();
    let panicky = t.publish(b"panic").unwrap();
    let bad = t.publish(b"bad").unwrap();
    for _ in 0..100 {
        t.publish(b"fine").unwrap();
    }
    wait_for("settling", Duration::from_secs(20), || {
        let s = sub.stats();
        s.acked == 101 && s.dead_lettered == 2
    });
    {
        let a = attempts.lock().unwrap();
        assert_eq!(a[&flaky], vec![1, 2, 3]);
        assert_eq!(a[&panicky], vec![1, 2, 3, 4]);
        assert_eq!(a[&bad], vec![1, 2, 3, 4]);
    }
    let mut dead_ids = vec![poll1(&dead).id(), poll1(&dead).id()];
    dead_ids.sort();
    assert_eq!(dead_ids, vec![panicky, bad]);
    let st = sub.stats();
    assert_eq!(st.handler_panics, 4);
    assert_eq!(st.nacked, 2 + 4 + 4);
    assert_eq!(mq.pool_stats().panics, 4);
    assert!(mq.pool_stats().workers >= 1, "workers survive panics");
    // Still working afterwards.
    t.publish(b"fine").unwrap();
    wait_for("one more", Duration::from_secs(5), || {
        sub.stats().acked == 102
    });
}

#[test]
fn ordered_by_key_keeps_publish_order_and_never_overlaps() {
    let mq = Broker::new(BrokerOptions {
        workers_min: 4,
        workers_max: 4,
        ..BrokerOptions::default()
    })
    .unwrap();
    let t = mq
        .create_topic(
            "orders",
            TopicOptions {
                backoff_base: Duration::from_millis(1),
                backoff_max: Duration::from_millis(2),
                ..small(256)
            },
        )
        .unwrap();
    let keys = 8u64;
    let per_key = 500u64;
    let last: Arc<Vec<AtomicU64>> = Arc::new((0..keys).map(|_| AtomicU64::new(0)).collect());
    let running: Arc<Vec<AtomicUsize>> = Arc::new((0..keys).map(|_| AtomicUsize::new(0)).collect());
    let max_parallel = Arc::new(AtomicUsize::new(0));
    let now_running = Arc::new(AtomicUsize::new(0));
    let violations = Arc::new(AtomicU64::new(0));
    let handled = Arc::new(AtomicU64::new(0));
    let (l2, r2, mp, nr, v2, h2) = (
        last.clone(),
        running.clone(),
        max_parallel.clone(),
        now_running.clone(),
        violations.clone(),
        handled.clone(),
    );
    let sub = t
        .subscribe(
            "o",
            SubOptions {
                concurrency: 4,
                ordered_by_key: true,
                ..SubOptions::default()
            },
            move |m| {
                let k = m.key as usize;
                if r2[k].fetch_add(1, Ordering::SeqCst) != 0 {
                    v2.fetch_add(1, Ordering::SeqCst);
                }
                let p = nr.fetch_add(1, Ordering::SeqCst) + 1;
                mp.fetch_max(p, Ordering::SeqCst);
                let seq = u64::from_le_bytes(m.data[..8].try_into().unwrap());
                // Fail some first attempts: the retry must still come before the
                // key's next message.
                let fail = seq % 50 == 7 && m.attempt == 1;
                if !fail {
                    if seq != l2[k].load(Ordering::SeqCst) {
                        v2.fetch_add(1, Ordering::SeqCst);
                    }
                    l2[k].store(seq + 1, Ordering::SeqCst);
                    h2.fetch_add(1, Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_micros(50));
                nr.fetch_sub(1, Ordering::SeqCst);
                r2[k].fetch_sub(1, Ordering::SeqCst);
                if fail {
                    Err("transient".into())
                } else {
                    Ok(())
                }
            },
        )
        .unwrap();
    for i in 0..per_key {
        for k in 0..keys {
            t.publish_with(&i.to_le_bytes(), k, None).unwrap();
        }
    }
    wait_for("ordered handling", Duration::from_secs(60), || {
        handled.load(Ordering::SeqCst) == keys * per_key
    });
    assert_eq!(
        violations.load(Ordering::SeqCst),
        0,
        "order or exclusivity broken"
    );
    assert!(
        max_parallel.load(Ordering::SeqCst) > 1,
        "different keys ran in parallel"
    );
    // The handler counts before its ack lands: wait for the acks too.
    wait_for("the acks", Duration::from_secs(10), || {
        sub.stats().acked == keys * per_key
    });
    assert_eq!(sub.stats().retried, keys * per_key / 50);
}

#[test]
fn pool_grows_under_load_and_shrinks_back_after_idle_timeout() {
    let mq = Broker::new(BrokerOptions {
        workers_min: 1,
        workers_max: 4,
        idle_timeout: Duration::from_millis(200),
        ..BrokerOptions::default()
    })
    .unwrap();
    let t = mq.create_topic("load", small(1024)).unwrap();
    let done = Arc::new(AtomicU64::new(0));
    let d2 = done.clone();
    let _sub = t
        .subscribe(
            "slow",
            SubOptions {
                concurrency: 4,
                ..SubOptions::default()
            },
            move |_| {
                std::thread::sleep(Duration::from_millis(2));
                d2.fetch_add(1, Ordering::Relaxed);
                Ok(())
            },
        )
        .unwrap();
    for _ in 0..600 {
        t.publish(b"work").unwrap();
    }
    wait_for("growth", Duration::from_secs(10), || {
        mq.pool_stats().workers == 4
    });
    wait_for("the work", Duration::from_secs(30), || {
        done.load(Ordering::Relaxed) == 600
    });
    wait_for("shrinking", Duration::from_secs(10), || {
        mq.pool_stats().workers == 1
    });
    let ps = mq.pool_stats();
    assert!(ps.grown >= 3 && ps.shrunk >= 3, "{ps:?}");
}

#[test]
fn a_hot_subscription_does_not_starve_a_quiet_one() {
    // One worker, so the two subscriptions compete for it.
    let mq = Broker::new(BrokerOptions {
        workers_min: 1,
        workers_max: 1,
        ..BrokerOptions::default()
    })
    .unwrap();
    let hot = mq.create_topic("hot", small(1024)).unwrap();
    let quiet = mq.create_topic("quiet", small(16)).unwrap();
    let hot_done = Arc::new(AtomicU64::new(0));
    let h2 = hot_done.clone();
    let _h = hot
        .subscribe("h", SubOptions::default(), move |_| {
            std::thread::sleep(Duration::from_micros(200));
            h2.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
        .unwrap();
    // What the hot subscription had done when the quiet message ran.
    let seen_at = Arc::new(AtomicU64::new(u64::MAX));
    let (s2, h3) = (seen_at.clone(), hot_done.clone());
    let _q = quiet
        .subscribe("q", SubOptions::default(), move |_| {
            s2.store(h3.load(Ordering::SeqCst), Ordering::SeqCst);
            Ok(())
        })
        .unwrap();
    for _ in 0..1000 {
        hot.publish(b"x").unwrap();
    }
    quiet.publish(b"ping").unwrap();
    wait_for("the quiet one", Duration::from_secs(30), || {
        seen_at.load(Ordering::SeqCst) != u64::MAX
    });
    // Visits are round-robin in batches of at most 16, so the quiet message
    // runs long before the hot backlog of 1000 is worked off, however slow
    // the machine.
    let at = seen_at.load(Ordering::SeqCst);
    assert!(at < 500, "the quiet message waited for {at} hot ones");
}

#[test]
fn async_handlers_complete_later_from_other_threads() {
    let mq = broker();
    let t = mq.create_topic("t", small(64)).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = Mutex::new(tx);
    let sub = t
        .subscribe_async(
            "a",
            SubOptions {
                concurrency: 8,
                ..SubOptions::default()
            },
            move |m, done| {
                tx.lock()
                    .unwrap()
                    .send((m.data.to_vec(), m.attempt, done))
                    .unwrap();
            },
        )
        .unwrap();
    for i in 0..20u8 {
        t.publish(&[i]).unwrap();
    }
    let finisher = std::thread::spawn(move || {
        let mut n = 0;
        while let Ok((data, attempt, done)) = rx.recv_timeout(Duration::from_secs(5)) {
            if data[0] % 5 == 0 && attempt == 1 {
                done.complete(Err("later".into()));
            } else if data[0] == 3 && attempt == 1 {
                drop(done); // forgetting to complete nacks
            } else {
                done.complete(Ok(()));
                n += 1;
            }
            if n == 20 {
                break;
            }
        }
        n
    });
    assert_eq!(finisher.join().unwrap(), 20);
    let st = sub.stats();
    assert_eq!((st.acked, st.nacked), (20, 5));
}
