//! Overflow policies, lossy subscriptions and closing.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use ringmq_core::{Delivery, ErrorKind, Overflow, PublishOptions, SubOptions, Topic, TopicOptions};

fn opts(capacity: usize, overflow: Overflow) -> TopicOptions {
    TopicOptions {
        overflow,
        ..small(capacity)
    }
}

#[test]
fn reject_answers_full_at_once() {
    let mq = broker();
    let t = mq.create_topic("t", opts(4, Overflow::Reject)).unwrap();
    let _s = t.subscribe_pull("s", SubOptions::default()).unwrap();
    for _ in 0..4 {
        t.publish(b"x").unwrap();
    }
    let t0 = Instant::now();
    let e = t.publish_with(b"x", 0, None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Full);
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "reject must not wait"
    );
    assert_eq!(
        t.publish_batch(&[b"a"], 0, None).unwrap_err().kind(),
        ErrorKind::Full
    );
    let st = t.stats();
    assert_eq!((st.published, st.rejected, st.depth), (4, 2, 4));
}

#[test]
fn block_times_out_then_proceeds_when_room_appears() {
    let mq = broker();
    let t = mq.create_topic("t", opts(4, Overflow::Block)).unwrap();
    let s = t.subscribe_pull("s", SubOptions::default()).unwrap();
    for _ in 0..4 {
        t.publish(b"x").unwrap();
    }
    let t0 = Instant::now();
    let e = t
        .publish_with(b"x", 0, Some(Duration::from_millis(100)))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    assert!(t0.elapsed() >= Duration::from_millis(95));
    // A blocked producer wakes when a consumer settles.
    let t2 = t.clone();
    let h = std::thread::spawn(move || t2.publish_with(b"y", 0, Some(Duration::from_secs(10))));
    std::thread::sleep(Duration::from_millis(50));
    poll1(&s).ack().unwrap();
    assert_eq!(h.join().unwrap().unwrap(), 4);
    assert_eq!(t.stats().timed_out, 1);
}

#[test]
fn drop_oldest_counts_exactly_what_it_overwrote() {
    let mq = broker();
    let t = mq.create_topic("t", opts(8, Overflow::DropOldest)).unwrap();
    let s = t.subscribe_pull("s", SubOptions::default()).unwrap();
    for i in 0..100u8 {
        t.publish_with(&[i], 0, Some(Duration::ZERO)).unwrap();
    }
    let mut got = vec![];
    while let Some(d) = s.poll(Some(Duration::ZERO)).unwrap() {
        got.push(d.data()[0]);
        d.ack().unwrap();
    }
    // The newest 8 survive; the 92 before them were overwritten.
    assert_eq!(got, (92..100).collect::<Vec<u8>>());
    assert_eq!(s.stats().dropped, 92);
    assert_eq!(t.stats().dropped, 92);
}

#[test]
fn lossy_subscription_never_holds_producers_and_counts_drops() {
    let mq = broker();
    let t = mq.create_topic("t", opts(16, Overflow::Reject)).unwrap();
    let lossy = t
        .subscribe_pull(
            "dash",
            SubOptions {
                lossy: true,
                ..SubOptions::default()
            },
        )
        .unwrap();
    let critical = t.subscribe_pull("billing", SubOptions::default()).unwrap();
    let n = 1000u64;
    for i in 0..n {
        t.publish(&i.to_le_bytes()).unwrap();
        poll1(&critical).ack().unwrap();
    }
    // The lossy one never polled; it now sees the last ring's worth.
    let mut seen = vec![];
    while let Some(d) = lossy.poll(Some(Duration::ZERO)).unwrap() {
        seen.push(u64::from_le_bytes(d.data().try_into().unwrap()));
        d.ack().unwrap();
    }
    let dropped = lossy.stats().dropped;
    assert_eq!(
        dropped + seen.len() as u64,
        n,
        "every message seen or counted"
    );
    assert!(seen.len() <= 16 && !seen.is_empty());
    assert!(seen.windows(2).all(|w| w[1] == w[0] + 1));
    assert_eq!(*seen.last().unwrap(), n - 1);
}

/// Two producers publish into an 8-slot `drop_oldest` ring until told to
/// stop (`publish(topic, producer, i)` publishes producer's i-th message)
/// while a lossy reader polls for half a second, then takes what is left;
/// `check` sees every delivery it takes. Every message published is either
/// taken or counted dropped.
fn race_a_lossy_reader(publish: fn(&Topic, u8, u64), mut check: impl FnMut(&Delivery)) {
    let mq = broker();
    let t = mq.create_topic("t", opts(8, Overflow::DropOldest)).unwrap();
    let s = t.subscribe_pull("s", SubOptions::default()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let producers: Vec<_> = (0..2u8)
        .map(|p| {
            let (t, stop) = (t.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    publish(&t, p, i);
                    i += 1;
                }
                i
            })
        })
        .collect();
    let mut seen = 0u64;
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(500) {
        if let Some(d) = s.poll(Some(Duration::from_millis(10))).unwrap() {
            check(&d);
            seen += 1;
            d.ack().unwrap();
        }
    }
    stop.store(true, Ordering::Relaxed);
    let published: u64 = producers.into_iter().map(|h| h.join().unwrap()).sum();
    while let Some(d) = s.poll(Some(Duration::ZERO)).unwrap() {
        check(&d);
        seen += 1;
        d.ack().unwrap();
    }
    assert_eq!(seen + s.stats().dropped, published);
}

#[test]
fn lossy_reader_racing_producers_never_sees_torn_messages() {
    race_a_lossy_reader(
        |t, p, i| {
            // Every byte of a message is the same: a torn read mixes.
            t.publish(&[(i as u8) ^ (p * 0x55); 64]).unwrap();
        },
        |d| {
            let b = d.data();
            assert!(b.iter().all(|&x| x == b[0]), "torn message {b:?}");
        },
    );
}

/// As above, with every other message carrying what a slot keeps in its
/// cold words (an expiry, and headers' length) and the rest without: a
/// lossy reader copying a slot while the next lap is written must never
/// take one lap's header with the other's cold words. Each message's key
/// says which kind it is and its payload byte; ids must rise.
#[test]
fn lossy_reader_racing_producers_never_mixes_two_laps_metadata() {
    let (mut seen, mut cold_seen, mut last_id) = (0u64, 0u64, None);
    race_a_lossy_reader(
        |t, p, i| {
            let b = (i as u8) ^ (p * 0x55);
            let cold = i % 2 == 1;
            let tag = [b];
            let headers: &[(&str, &[u8])] = if cold { &[("b", &tag)] } else { &[] };
            let o = PublishOptions {
                key: (b as u64) << 1 | cold as u64,
                headers,
                ttl: cold.then_some(Duration::from_secs(3600)),
                ..PublishOptions::default()
            };
            t.publish_opts(&[b; 64], &o).unwrap();
        },
        |d| {
            let data = d.data();
            let b = data[0];
            assert!(data.iter().all(|&x| x == b), "torn payload {data:?}");
            assert_eq!(d.key() >> 1, b as u64, "key of another lap");
            let headers = d.headers();
            if d.key() & 1 == 1 {
                assert_eq!(headers.get("b"), Some(&[b][..]), "headers of another lap");
                cold_seen += 1;
            } else {
                assert!(
                    headers.is_empty(),
                    "a plain message with headers {headers:?}"
                );
            }
            assert!(last_id < Some(d.id()), "id {} after {last_id:?}", d.id());
            last_id = Some(d.id());
            seen += 1;
        },
    );
    assert!(cold_seen > 0 && cold_seen < seen, "both kinds were read");
}

#[test]
fn close_stops_publishes_drains_and_is_idempotent() {
    let mq = broker();
    let t = mq.create_topic("t", small(64)).unwrap();
    let s = t.subscribe_pull("s", SubOptions::default()).unwrap();
    for _ in 0..10 {
        t.publish(b"x").unwrap();
    }
    let consumed = Arc::new(AtomicU64::new(0));
    let (s2, c2) = (s.clone(), consumed.clone());
    let consumer = std::thread::spawn(move || loop {
        match s2.poll(Some(Duration::from_millis(20))) {
            Ok(Some(d)) => {
                std::thread::sleep(Duration::from_millis(5));
                if d.ack().is_ok() {
                    c2.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(None) => {}
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::Closed);
                return;
            }
        }
    });
    let report = mq.close(Duration::from_secs(5)).unwrap();
    assert_eq!(report.undelivered, 0, "{report:?}");
    assert!(!report.timed_out);
    assert_eq!(consumed.load(Ordering::Relaxed), 10);
    consumer.join().unwrap();
    assert_eq!(t.publish(b"x").unwrap_err().kind(), ErrorKind::Closed);
    assert_eq!(mq.close(Duration::ZERO).unwrap(), report);
    assert_eq!(
        mq.create_topic("u", small(8)).unwrap_err().kind(),
        ErrorKind::Closed
    );
    assert_eq!(mq.topic("t").unwrap_err().kind(), ErrorKind::Closed);
    assert_eq!(s.poll(None).unwrap_err().kind(), ErrorKind::Closed);
}

#[test]
fn close_reports_what_was_left_and_wakes_blocked_callers() {
    let mq = broker();
    let t = mq.create_topic("t", small(4)).unwrap();
    let s = t.subscribe_pull("s", SubOptions::default()).unwrap();
    let idle = t.subscribe_pull("idle", SubOptions::default()).unwrap();
    for _ in 0..4 {
        t.publish(b"x").unwrap();
    }
    let t2 = t.clone();
    let blocked = std::thread::spawn(move || t2.publish(b"y"));
    let idle2 = idle.clone();
    std::thread::sleep(Duration::from_millis(20));
    let _held = poll1(&s);
    let report = mq.close(Duration::from_millis(50)).unwrap();
    assert!(report.timed_out);
    assert_eq!(report.undelivered, 4 + 4);
    assert_eq!(report.in_flight, 1);
    assert_eq!(
        blocked.join().unwrap().unwrap_err().kind(),
        ErrorKind::Closed
    );
    assert_eq!(idle2.poll(None).unwrap_err().kind(), ErrorKind::Closed);
}

#[test]
fn interrupted_publishes_count_no_timeout() {
    let mq = broker();
    let t = mq.create_topic("t", small(2)).unwrap();
    let _s = t.subscribe_pull("s", SubOptions::default()).unwrap();
    t.publish(b"a").unwrap();
    t.publish(b"b").unwrap();
    let stop = ringmq_core::Interrupt::new();
    stop.interrupt();
    for _ in 0..3 {
        let e = t.publish_interruptible(b"c", 0, None, &stop).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Interrupted);
        let e = t
            .publish_batch_interruptible(&[b"c"], 0, Some(Duration::from_secs(5)), &stop)
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Interrupted);
    }
    assert_eq!(t.stats().timed_out, 0, "an interrupt is not a timeout");
    let e = t
        .publish_with(b"c", 0, Some(Duration::from_millis(5)))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    assert_eq!(t.stats().timed_out, 1);
}

#[test]
fn close_does_not_wait_for_an_idle_lossy_subscription() {
    let mq = broker();
    let t = mq.create_topic("t", small(64)).unwrap();
    let _dash = t
        .subscribe_pull(
            "dash",
            SubOptions {
                lossy: true,
                ..SubOptions::default()
            },
        )
        .unwrap();
    for _ in 0..10 {
        t.publish(b"x").unwrap();
    }
    let t0 = Instant::now();
    let report = mq.close(Duration::from_secs(10)).unwrap();
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    assert!(!report.timed_out);
    // Still reported: the lossy subscription never saw them.
    assert_eq!(report.undelivered, 10);
}
