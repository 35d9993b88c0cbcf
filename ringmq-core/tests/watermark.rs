//! Acks that leave their run unpublished (a subscription publishes a short
//! run of single acks to its gate only now and then, or when a producer
//! waits for room): no producer ever refuses, waits longer, or counts depth
//! because of such a run, and under many threads every message is still
//! seen exactly once.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::*;
use ringmq_core::{Broker, Overflow, PullSubscription, SubOptions, Topic, TopicOptions};

/// Capacity of the tests' rings: runs of up to 8 acks may stay unpublished.
const CAP: usize = 64;

fn topic(mq: &Broker, overflow: Overflow) -> Topic {
    mq.create_topic(
        "t",
        TopicOptions {
            overflow,
            ..small(CAP)
        },
    )
    .unwrap()
}

/// A topic whose ring is full, with one subscription.
fn full(overflow: Overflow) -> (Broker, Topic, PullSubscription) {
    let mq = broker();
    let t = topic(&mq, overflow);
    let s = t.subscribe_pull("s", SubOptions::default()).unwrap();
    for i in 0..CAP {
        t.publish(format!("m{i}").as_bytes()).unwrap();
    }
    (mq, t, s)
}

/// Takes and acks one message: one slot free, which the subscription has
/// not told its gate about (a run of 1 is short).
fn ack_one(s: &PullSubscription) {
    s.poll(Some(Duration::ZERO))
        .unwrap()
        .unwrap()
        .ack()
        .unwrap();
}

/// Publishes one message on another thread (with a timeout far longer
/// than any test waits); the receiver hears whether it went out.
fn publish_late(t: &Topic) -> (mpsc::Receiver<bool>, thread::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel();
    let t = t.clone();
    let producer = thread::spawn(move || {
        let r = t.publish_with(b"late", 0, Some(Duration::from_secs(60)));
        let _ = tx.send(r.is_ok());
    });
    (rx, producer)
}

#[test]
fn a_producer_that_would_refuse_first_takes_the_room_of_unpublished_acks() {
    for overflow in [Overflow::Reject, Overflow::Block] {
        let (mq, t, s) = full(overflow);
        ack_one(&s);
        // `reject` refuses at once when full, and so does a zero timeout.
        let r = t.publish_with(b"next", 0, Some(Duration::ZERO));
        assert!(r.is_ok(), "{overflow:?}: the acked slot was refused: {r:?}");
        let r = t.publish_with(b"one too many", 0, Some(Duration::ZERO));
        assert!(r.is_err(), "{overflow:?}: the ring is full again");
        mq.close(Duration::ZERO).unwrap();
    }
}

#[test]
fn a_producer_about_to_park_takes_the_room_of_unpublished_acks() {
    let (mq, t, s) = full(Overflow::Block);
    ack_one(&s);
    // The producer finds no room at its claim and through its spin, then
    // flushes the gates before it parks: it must not wait for its timeout.
    let (rx, producer) = publish_late(&t);
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)),
        Ok(true),
        "a producer waited for room that an ack had freed"
    );
    producer.join().unwrap();
    mq.close(Duration::ZERO).unwrap();
}

#[test]
fn an_ack_wakes_a_producer_parked_for_room() {
    let (mq, t, s) = full(Overflow::Block);
    let (rx, producer) = publish_late(&t);
    // Long enough for the producer to spin out and park.
    thread::sleep(Duration::from_millis(200));
    assert!(rx.try_recv().is_err(), "the ring was full");
    ack_one(&s);
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)),
        Ok(true),
        "an ack left a parked producer waiting"
    );
    producer.join().unwrap();
    mq.close(Duration::ZERO).unwrap();
}

#[test]
fn stats_count_no_acked_message_in_the_depth() {
    let mq = broker();
    let t = topic(&mq, Overflow::Block);
    let s = t.subscribe_pull("s", SubOptions::default()).unwrap();
    for i in 0..5u8 {
        t.publish(&[i]).unwrap();
    }
    for _ in 0..5 {
        ack_one(&s);
    }
    assert_eq!(t.stats().depth, 0, "five acked messages still counted");
    mq.close(Duration::ZERO).unwrap();
}

/// Two producers block for room while three consumers take one message at
/// a time (a few by raw tag, a few in batches of up to 3); each message is
/// acked exactly once, and nobody waits for good.
#[test]
fn single_acks_under_blocking_producers_see_every_message_once() {
    const PER: u64 = 20_000;
    let mq = broker();
    let t = topic(&mq, Overflow::Block);
    let s = t.subscribe_pull("s", SubOptions::default()).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let consumers: Vec<_> = (0..3)
        .map(|c| {
            let (s, done, seen) = (s.clone(), done.clone(), seen.clone());
            thread::spawn(move || {
                let mut batch = Vec::new();
                let mut mine = Vec::new();
                loop {
                    let n = if c == 2 {
                        s.poll_batch(3, Some(Duration::from_millis(20)), &mut batch)
                            .unwrap()
                    } else {
                        batch.extend(s.poll(Some(Duration::from_millis(20))).unwrap());
                        batch.len()
                    };
                    if n == 0 && done.load(Ordering::Acquire) {
                        break;
                    }
                    for d in batch.drain(..) {
                        mine.push(u64::from_le_bytes(d.data().try_into().unwrap()));
                        if c == 1 && mine.len() % 3 == 0 {
                            let (tag, _, _) = d.into_raw();
                            // SAFETY: `d` was consumed by `into_raw`; no
                            // other value holds this tag.
                            unsafe { s.ack_tags(&[tag]) }.unwrap();
                        } else {
                            d.ack().unwrap();
                        }
                    }
                }
                let mut seen = seen.lock().unwrap();
                for m in mine {
                    assert!(seen.insert(m), "message {m} acked twice");
                }
            })
        })
        .collect();
    let producers: Vec<_> = (0..2u64)
        .map(|p| {
            let t = t.clone();
            thread::spawn(move || {
                for i in 0..PER {
                    let m = p * PER + i;
                    t.publish_with(&m.to_le_bytes(), 0, Some(Duration::from_secs(30)))
                        .unwrap();
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    done.store(true, Ordering::Release);
    for c in consumers {
        c.join().unwrap();
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len() as u64, 2 * PER, "messages lost");
    assert_eq!(t.stats().depth, 0);
    mq.close(Duration::ZERO).unwrap();
}
