//! A topic's dead-letter notes cost nothing until a dead letter needs one:
//! every topic has a `<name>.dlq`, and its note table must not allocate a
//! slot per ring slot up front (hundreds of MiB at the largest capacity).
//!
//! One test in this binary, so that nothing else moves the RSS meanwhile.

mod common;

use std::time::{Duration, Instant};

use common::*;
use ringmq_core::{SubOptions, TopicOptions, MAX_CAPACITY};

/// Resident set size of this process, in bytes.
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[test]
fn a_topic_of_the_largest_capacity_creates_quickly_without_resident_note_slots() {
    let mq = broker();
    let before = rss_bytes();
    let started = Instant::now();
    let opts = TopicOptions {
        capacity: MAX_CAPACITY,
        slot_size: 1,
        max_attempts: 1,
        ..TopicOptions::default()
    };
    let t = mq.create_topic("big", opts).unwrap();
    let took = started.elapsed();
    let grew = rss_bytes().saturating_sub(before);
    assert!(
        grew < 64 << 20,
        "creating the topic made {} MiB resident",
        grew >> 20
    );
    assert!(took < Duration::from_secs(5), "creating took {took:?}");

    // A dead letter still gets its note, allocating only the chunk it uses.
    let dlq = mq.topic("big.dlq").unwrap();
    let dead = dlq.subscribe_pull("dead", SubOptions::default()).unwrap();
    let s = t.subscribe_pull("w", SubOptions::default()).unwrap();
    // (A subscription holds per-slot state of its own; measure past it.)
    let before = rss_bytes();
    t.publish(b"x").unwrap();
    poll1(&s).nack(None).unwrap();
    let d = poll1(&dead);
    assert_eq!(d.data(), b"x");
    assert_eq!(d.dead_letter_group(), Some("w"));
    let grew = rss_bytes().saturating_sub(before);
    assert!(
        grew < 16 << 20,
        "one dead letter made {} MiB resident",
        grew >> 20
    );
    d.ack().unwrap();
}
