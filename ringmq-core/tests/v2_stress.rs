//! Messages v2 under load: 4 producers publish with delays, ttls and
//! msg_ids (some published twice, also by another producer at once) while
//! 2 groups of 2 consumers ack, nack and term at random. Every message
//! must end exactly once per group: acked, expired or dead-lettered, and
//! the counters must say the same. The seed is printed; replay it with
//! RINGMQ_SEED.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{broker, seed, Rng};
use ringmq_core::{PublishOptions, SubOptions, TopicOptions};

/// How each (group, message) ended, in the order seen.
type Ends = HashMap<(usize, u64), Vec<End>>;

/// Is message `m` also published by a second producer?
fn twinned(m: u64) -> bool {
    m.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 61 == 0
}

/// How message `n` ended in one group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum End {
    Acked,
    Expired,
    DeadLettered,
}

#[test]
fn delays_ttls_duplicates_and_nacks_end_every_message_exactly_once_per_group() {
    let seed = seed();
    let per_producer: u64 = if cfg!(debug_assertions) { 1500 } else { 6000 };
    let total = 4 * per_producer;
    let mq = broker();
    let t = mq
        .create_topic(
            "v2",
            TopicOptions {
                capacity: 256,
                slot_size: 16,
                max_attempts: 3,
                backoff_base: Duration::from_millis(1),
                backoff_max: Duration::from_millis(5),
                ack_timeout: Duration::from_secs(30),
                max_delayed: 1 << 16,
                // Remembers every id of the run (the default, 4 x capacity,
                // would let a producer far ahead of its twin publish twice).
                dedupe_max: 1 << 16,
                ..TopicOptions::default()
            },
        )
        .unwrap();
    let dlq = t
        .dead_letter_topic()
        .unwrap()
        .subscribe_pull("dead", SubOptions::default())
        .unwrap();
    let groups = ["billing", "audit"];
    let subs: Vec<_> = groups
        .iter()
        .map(|g| t.subscribe_pull(g, SubOptions::default()).unwrap())
        .collect();
    let ends: Arc<Mutex<Ends>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));

    std::thread::scope(|s| {
        for p in 0..4u64 {
            let t = t.clone();
            let mut r = Rng(seed ^ (p + 1).wrapping_mul(0x9e37));
            s.spawn(move || {
                for i in 0..per_producer {
                    let n = p * per_producer + i;
                    // Some messages are also published by the next producer,
                    // with the same id and payload, racing this one.
                    let twin = (n + per_producer) % total;
                    for (m, again) in [(n, false), (twin, true)] {
                        if again && !twinned(m) {
                            continue;
                        }
                        let id = m.to_string();
                        let delay =
                            (r.below(4) == 0).then(|| Duration::from_micros(r.below(20_000)));
                        let ttl =
                            (r.below(6) == 0).then(|| Duration::from_micros(1 + r.below(10_000)));
                        // A twinned message always carries its id, so that
                        // whichever publish comes second is the duplicate.
                        let with_id = twinned(m) || r.below(2) == 0;
                        let opts = PublishOptions {
                            key: m % 7,
                            timeout: Some(Duration::from_secs(30)),
                            msg_id: with_id.then_some(id.as_bytes()),
                            delay,
                            ttl,
                            ..Default::default()
                        };
                        t.publish_opts(&m.to_le_bytes(), &opts).unwrap();
                    }
                }
            });
        }
        for (gi, sub) in subs.iter().enumerate() {
            for c in 0..2u64 {
                let (sub, ends, stop) = (sub.clone(), ends.clone(), stop.clone());
                let mut r = Rng(seed ^ (gi as u64 * 31 + c + 7));
                s.spawn(move || {
                    while !stop.load(SeqCst) {
                        let Some(d) = sub.poll(Some(Duration::from_millis(5))).unwrap() else {
                            continue;
                        };
                        let n = u64::from_le_bytes(d.data().try_into().unwrap());
                        match r.below(20) {
                            0..=15 => {
                                d.ack().unwrap();
                                ends.lock()
                                    .unwrap()
                                    .entry((gi, n))
                                    .or_default()
                                    .push(End::Acked);
                            }
                            16..=18 => d.nack(None).unwrap(),
                            _ => d.term().unwrap(),
                        }
                    }
                });
            }
        }
        {
            let (ends, stop) = (ends.clone(), stop.clone());
            let groups = groups.map(str::to_owned);
            s.spawn(move || {
                while !stop.load(SeqCst) {
                    let Some(d) = dlq.poll(Some(Duration::from_millis(5))).unwrap() else {
                        continue;
                    };
                    let n = u64::from_le_bytes(d.data().try_into().unwrap());
                    let gi = groups
                        .iter()
                        .position(|g| Some(g.as_str()) == d.dead_letter_group())
                        .expect("a dead letter names its group");
                    let end = if d.dead_letter_reason() == Some("expired") {
                        End::Expired
                    } else {
                        End::DeadLettered
                    };
                    ends.lock().unwrap().entry((gi, n)).or_default().push(end);
                    d.ack().unwrap();
                }
            });
        }
        // Wait for the producers, the delayed messages and every group.
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let done = ends.lock().unwrap().len() as u64 == 2 * total;
            if done && t.stats().delayed == 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "seed {seed}: {} of {} ends after 120 s; topic {:?}; {:?}",
                ends.lock().unwrap().len(),
                2 * total,
                t.stats(),
                subs.iter().map(|s| s.stats()).collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // A little longer: anything ending twice would show now.
        std::thread::sleep(Duration::from_millis(100));
        stop.store(true, SeqCst);
    });

    let ends = ends.lock().unwrap();
    for (gi, sub) in subs.iter().enumerate() {
        let mut count = HashMap::new();
        for n in 0..total {
            let e = ends
                .get(&(gi, n))
                .unwrap_or_else(|| panic!("seed {seed}: message {n} never ended in group {gi}"));
            assert_eq!(
                e.len(),
                1,
                "seed {seed}: message {n} ended {e:?} in group {gi}"
            );
            *count.entry(e[0]).or_insert(0u64) += 1;
        }
        let st = sub.stats();
        let get = |e| count.get(&e).copied().unwrap_or(0);
        assert_eq!(st.acked, get(End::Acked), "seed {seed}: {st:?}");
        assert_eq!(
            st.expired_messages,
            get(End::Expired),
            "seed {seed}: {st:?}"
        );
        assert_eq!(
            st.dead_lettered,
            get(End::DeadLettered),
            "seed {seed}: {st:?}"
        );
        assert_eq!(
            (st.in_flight, st.waiting_retry, st.lag),
            (0, 0, 0),
            "seed {seed}: {st:?}"
        );
        assert!(
            get(End::Expired) > 0 && get(End::DeadLettered) > 0,
            "{count:?}"
        );
    }
    let ts = t.stats();
    assert_eq!(
        ts.published, total,
        "seed {seed}: one stored per id: {ts:?}"
    );
    assert!(ts.duplicates > 0, "{ts:?}");
    mq.close(Duration::from_secs(1)).unwrap();
}
