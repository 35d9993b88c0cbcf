//! `poll_raw`: deliveries taken straight as raw tags (the bindings' take)
//! behave as `poll_batch` followed by `into_raw`.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use ringmq_core::{ErrorKind, PublishOptions, RawDelivery, SubOptions, TopicOptions};

fn take(s: &ringmq_core::PullSubscription, max: usize, wait: Duration) -> Vec<RawDelivery> {
    let mut out = Vec::new();
    s.poll_raw(max, Some(wait), None, &mut out).unwrap();
    out
}

fn tags(batch: &[RawDelivery]) -> Vec<u64> {
    batch.iter().map(RawDelivery::tag).collect()
}

/// Producers go four times round the 4-slot ring of `t` (each lap taken
/// and acked), which a slot still pinned by `tag` would stop; then the late
/// settle of `tag` is refused and nothing is left in flight.
fn laps_then_late_settle(
    mq: &ringmq_core::Broker,
    t: &ringmq_core::Topic,
    s: &ringmq_core::PullSubscription,
    tag: u64,
) {
    for lap in 0..4u8 {
        for i in 0..4u8 {
            t.publish_with(&[lap, i], 0, Some(Duration::from_secs(2)))
                .unwrap_or_else(|e| panic!("lap {lap}: stayed full: {e}"));
        }
        let batch = take(s, 4, Duration::from_secs(1));
        assert_eq!(batch.len(), 4, "lap {lap}");
        // SAFETY: not read after.
        unsafe { s.ack_tags(&tags(&batch)) }.unwrap();
    }
    // Refused: its slot has held later laps since.
    // SAFETY: nothing reads the late tag's payload.
    let late = unsafe { s.ack_tag(tag) }.unwrap_err();
    assert_eq!(late.kind(), ErrorKind::InvalidArgument, "{late}");
    let st = s.stats();
    assert_eq!((st.in_flight, st.lag), (0, 0), "{st:?}");
    mq.close(Duration::ZERO).unwrap();
}

#[test]
fn poll_raw_takes_what_poll_batch_would() {
    let mq = broker();
    let t = mq.create_topic("t", small(16)).unwrap();
    let s = t.subscribe_pull("w", SubOptions::default()).unwrap();
    for i in 0..9u8 {
        t.publish_with(&[i; 3], 100 + i as u64, None).unwrap();
    }
    let headers: &[(&str, &[u8])] = &[("kind", b"last")];
    t.publish_opts(
        b"with headers",
        &PublishOptions {
            headers,
            msg_id: Some(b"m-9"),
            ..PublishOptions::default()
        },
    )
    .unwrap();
    let batch = take(&s, 16, Duration::from_secs(1));
    assert_eq!(batch.len(), 10);
    for (i, d) in batch.iter().enumerate().take(9) {
        // SAFETY: just taken, not settled.
        let data = unsafe { d.data() };
        assert_eq!(
            (d.id(), d.key(), d.attempt()),
            (i as u64, 100 + i as u64, 1)
        );
        assert_eq!(data, &[i as u8; 3][..]);
        assert!(d.timestamp_ns() > 0);
        assert_eq!(d.dead_letter_reason(), None);
    }
    // SAFETY: as above.
    let (data, ext) = unsafe { (batch[9].data(), batch[9].ext()) };
    assert_eq!(data, b"with headers");
    let (msg_id, h) = ringmq_core::internals::decode_ext(ext);
    assert_eq!(msg_id, Some(&b"m-9"[..]));
    assert_eq!(h.get("kind"), Some(&b"last"[..]));
    let st = s.stats();
    assert_eq!((st.delivered, st.in_flight), (10, 10));
    // SAFETY: no payload of these is read after this.
    unsafe { s.ack_tags(&tags(&batch)) }.unwrap();
    // SAFETY: as above; every tag is settled now, so this must fail.
    let e = unsafe { s.ack_tags(&tags(&batch)[..1]) }.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let st = s.stats();
    assert_eq!((st.acked, st.in_flight, st.latency_count), (10, 0, 10));
    assert_eq!(t.stats().depth, 0);
}

#[test]
fn bad_input_takes_nothing() {
    let mq = broker();
    let t = mq.create_topic("t", small(16)).unwrap();
    let s = t.subscribe_pull("w", SubOptions::default()).unwrap();
    t.publish(b"x").unwrap();
    let mut out = Vec::new();
    let e = s
        .poll_raw(0, Some(Duration::ZERO), None, &mut out)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(out.is_empty());
    assert_eq!(s.stats().delivered, 0);
    assert_eq!(take(&s, 1, Duration::ZERO).len(), 1);
}

/// Retries come from the retry store, which is taken under its lock as
/// `Delivery` values and turned raw after: they settle by tag as ring
/// deliveries do, and a nack's retry comes back with the next attempt.
#[test]
fn retries_come_back_through_poll_raw() {
    let mq = broker();
    let t = mq
        .create_topic(
            "t",
            TopicOptions {
                max_attempts: 3,
                ..small(16)
            },
        )
        .unwrap();
    let dead = t
        .dead_letter_topic()
        .unwrap()
        .subscribe_pull("d", SubOptions::default())
        .unwrap();
    let s = t.subscribe_pull("w", SubOptions::default()).unwrap();
    for i in 0..4u8 {
        t.publish(&[i]).unwrap();
    }
    let mut attempts = vec![0u32; 4];
    let t0 = Instant::now();
    // Message 2 fails every time: attempts 1, 2, 3, then the dead-letter
    // topic; the others are acked at their first delivery.
    while attempts[2] < 3 || attempts.iter().filter(|&&a| a > 0).count() < 4 {
        assert!(t0.elapsed() < Duration::from_secs(10), "{attempts:?}");
        for d in take(&s, 8, Duration::from_millis(50)) {
            // SAFETY: just taken, not settled.
            let i = unsafe { d.data() }[0] as usize;
            attempts[i] += 1;
            assert_eq!(d.attempt(), attempts[i], "message {i}");
            if i == 2 {
                // SAFETY: the payload is not read after this.
                unsafe { s.nack_tag(d.tag(), Some(Duration::ZERO)) }.unwrap();
            } else {
                // SAFETY: as above.
                unsafe { s.ack_tag(d.tag()) }.unwrap();
            }
        }
    }
    assert_eq!(attempts, vec![1, 1, 3, 1]);
    // A dead-letter topic's message comes through poll_raw with its note.
    let dl = take(&dead, 4, Duration::from_secs(5));
    assert_eq!(dl.len(), 1);
    // SAFETY: just taken, not settled.
    assert_eq!(unsafe { dl[0].data() }, &[2]);
    assert_eq!(dl[0].dead_letter_group(), Some("w"));
    assert!(
        dl[0]
            .dead_letter_reason()
            .is_some_and(|r| r.contains("max_attempts 3")),
        "{:?}",
        dl[0].dead_letter_reason()
    );
    let st = s.stats();
    assert_eq!((st.acked, st.nacked, st.dead_lettered), (3, 3, 1), "{st:?}");
    assert_eq!((st.in_flight, st.lag), (0, 0));
}

/// A raw tag that is never settled pins its slot only until the ack
/// timeout, as one from `into_raw`: had `poll_raw` marked it DELIVERED (a
/// `Delivery`'s state), the ack timer would wait for a holder that does not
/// exist to let go, and producers would never come round the ring again.
#[test]
fn a_forgotten_raw_tag_never_wedges_producers() {
    let mq = broker();
    let t = forgetful(&mq, 4);
    let s = t.subscribe_pull("c", SubOptions::default()).unwrap();
    t.publish(b"forgotten").unwrap();
    let tag = take(&s, 1, Duration::from_secs(1))[0].tag();
    ack_redelivered(&s, b"forgotten", 2);
    // Producers come round the ring while the forgotten tag is still
    // unsettled (a late settle would let go of a pinned slot).
    laps_then_late_settle(&mq, &t, &s, tag);
}

/// A delivery turned into its raw tag only after its ack deadline passed
/// (the timer has already copied it out for redelivery) and then
/// forgotten: its slot is let go at once, since a raw tag pins nothing
/// past its deadline, so producers come round the ring.
#[test]
fn a_delivery_turned_raw_after_its_deadline_never_wedges_producers() {
    let mq = broker();
    let t = forgetful(&mq, 4);
    let s = t.subscribe_pull("c", SubOptions::default()).unwrap();
    t.publish(b"late").unwrap();
    let d = poll1(&s);
    // Past its deadline, the timer copies it out and it comes again.
    ack_redelivered(&s, b"late", 2);
    let (tag, _, _) = d.into_raw();
    laps_then_late_settle(&mq, &t, &s, tag);
}

/// As above, for a delivery from the subscription's store (a retry): a
/// late raw tag forgotten keeps no store entry, so the subscription's
/// credits (its deliveries in flight at most) all come back.
#[test]
fn a_retry_turned_raw_after_its_deadline_keeps_no_store_entry() {
    let mq = broker();
    let t = mq
        .create_topic(
            "t",
            TopicOptions {
                retry_capacity: 4,
                ack_timeout: Duration::from_millis(50),
                backoff_base: Duration::from_millis(1),
                backoff_max: Duration::from_millis(1),
                ..small(4)
            },
        )
        .unwrap();
    let s = t.subscribe_pull("c", SubOptions::default()).unwrap();
    t.publish(b"retry").unwrap();
    poll1(&s).nack(Some(Duration::ZERO)).unwrap();
    let d = poll1(&s);
    assert_eq!(d.attempt(), 2);
    ack_redelivered(&s, b"retry", 3);
    let _late = d.into_raw();
    // All four credits are back: four messages are taken at once.
    for i in 0..4u8 {
        t.publish(&[i]).unwrap();
    }
    let batch = take(&s, 4, Duration::from_secs(1));
    assert_eq!(batch.len(), 4, "a credit stayed with the late raw tag");
    // SAFETY: not read after.
    unsafe { s.ack_tags(&tags(&batch)) }.unwrap();
    let st = s.stats();
    assert_eq!((st.in_flight, st.lag), (0, 0), "{st:?}");
    mq.close(Duration::ZERO).unwrap();
}

/// Competing consumers taking raw tags, some settling by nack, against
/// several producers: every message is acked exactly once, and its
/// payload is intact when taken.
#[test]
fn competing_raw_consumers_see_every_message_once() {
    const PRODUCERS: u32 = 3;
    const PER: u64 = 20_000;
    let mq = broker();
    let t = mq
        .create_topic(
            "t",
            TopicOptions {
                max_attempts: 1_000,
                backoff_base: Duration::from_micros(10),
                backoff_max: Duration::from_micros(10),
                ..small(256)
            },
        )
        .unwrap();
    let s = t.subscribe_pull("c", SubOptions::default()).unwrap();
    let acked = Arc::new(Mutex::new(HashSet::new()));
    let done = Arc::new(AtomicBool::new(false));
    let consumers: Vec<_> = (0..3)
        .map(|c| {
            let (s, acked, done) = (s.clone(), acked.clone(), done.clone());
            thread::spawn(move || {
                let mut rng = Rng(seed() + c);
                let mut out = Vec::new();
                while !done.load(Ordering::SeqCst) {
                    out.clear();
                    s.poll_raw(64, Some(Duration::from_millis(20)), None, &mut out)
                        .unwrap();
                    let mut ack = Vec::new();
                    for d in &out {
                        // SAFETY: just taken, not settled.
                        let msg = decode(unsafe { d.data() });
                        if rng.below(10) == 0 {
                            // SAFETY: not read after.
                            unsafe { s.nack_tag(d.tag(), None) }.unwrap();
                            continue;
                        }
                        assert!(acked.lock().unwrap().insert(msg), "{msg:?} twice");
                        ack.push(d.tag());
                    }
                    // SAFETY: not read after.
                    unsafe { s.ack_tags(&ack) }.unwrap();
                }
            })
        })
        .collect();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let t = t.clone();
            thread::spawn(move || {
                for n in 0..PER {
                    t.publish(&encode(p, n)).unwrap();
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    let t0 = Instant::now();
    while acked.lock().unwrap().len() < (PRODUCERS as u64 * PER) as usize {
        assert!(t0.elapsed() < Duration::from_secs(30), "messages lost");
        thread::sleep(Duration::from_millis(5));
    }
    done.store(true, Ordering::SeqCst);
    for c in consumers {
        c.join().unwrap();
    }
    let st = s.stats();
    assert_eq!(st.acked, PRODUCERS as u64 * PER);
    assert_eq!(
        (st.in_flight, st.lag, st.dead_lettered),
        (0, 0, 0),
        "{st:?}"
    );
}

/// `wait_ready` waits without taking: it answers true once a message is
/// there (which a poll then takes), false by its deadline, and `wake`, an
/// interrupt and a close end it as they end a poll.
#[test]
fn wait_ready_waits_without_taking() {
    let mq = broker();
    let t = mq.create_topic("t", small(4)).unwrap();
    let s = t.subscribe_pull("c", SubOptions::default()).unwrap();
    // Nothing there: false at once with no timeout, and by the deadline.
    assert!(!s.wait_ready(Some(Duration::ZERO), None).unwrap());
    let start = Instant::now();
    assert!(!s.wait_ready(Some(Duration::from_millis(30)), None).unwrap());
    assert!(start.elapsed() >= Duration::from_millis(30));
    // A message published while it waits ends the wait; it is not taken.
    let publisher = {
        let t = t.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            t.publish(b"m").unwrap();
        })
    };
    assert!(s.wait_ready(Some(Duration::from_secs(5)), None).unwrap());
    publisher.join().unwrap();
    assert!(s.wait_ready(None, None).unwrap(), "still there: not taken");
    assert_eq!(s.stats().in_flight, 0);
    poll1(&s).ack().unwrap();
    // An interrupt and a wake end it with Interrupted.
    let i = ringmq_core::Interrupt::new();
    i.interrupt();
    let e = s.wait_ready(None, Some(&i)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Interrupted, "{e}");
    s.wake();
    let e = s
        .wait_ready(Some(Duration::from_secs(5)), None)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Interrupted, "{e}");
    // A close ends it as ready: the poll that follows answers Closed.
    let closer = {
        let s = s.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            s.unsubscribe().unwrap();
        })
    };
    assert!(s.wait_ready(Some(Duration::from_secs(5)), None).unwrap());
    closer.join().unwrap();
    let e = s.poll(Some(Duration::ZERO)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Closed, "{e}");
    mq.close(Duration::ZERO).unwrap();
}
