//! Every bad input gets its error kind, a message naming the bad value, and
//! changes nothing.

mod common;

use std::time::Duration;

use common::*;
use ringmq_core::{Broker, BrokerOptions, ErrorKind, Overflow, SubOptions, TopicOptions};

fn kind<T: std::fmt::Debug>(r: ringmq_core::Result<T>) -> (ErrorKind, String) {
    let e = r.unwrap_err();
    (e.kind(), e.message().to_owned())
}

#[test]
fn bad_topic_options_are_rejected_with_the_value_named() {
    let mq = broker();
    for (cap, text) in [
        (0, "capacity 0"),
        (1000, "capacity 1000 is not a power of two"),
    ] {
        let (k, m) = kind(mq.create_topic(
            "t",
            TopicOptions {
                capacity: cap,
                ..TopicOptions::default()
            },
        ));
        assert_eq!(k, ErrorKind::InvalidArgument);
        assert!(m.contains(text), "{m}");
    }
    let bad = [
        TopicOptions {
            slot_size: 0,
            ..TopicOptions::default()
        },
        TopicOptions {
            max_attempts: 0,
            ..TopicOptions::default()
        },
        TopicOptions {
            ack_timeout: Duration::ZERO,
            ..TopicOptions::default()
        },
        TopicOptions {
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(1),
            ..TopicOptions::default()
        },
        TopicOptions {
            capacity: 1 << 30,
            ..TopicOptions::default()
        },
    ];
    for o in bad {
        assert_eq!(kind(mq.create_topic("t", o)).0, ErrorKind::InvalidArgument);
    }
    assert!(mq.topic_names().is_empty(), "nothing was created");
    assert_eq!(
        Overflow::parse("sometimes").unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn bad_names_are_rejected() {
    let mq = broker();
    let long = "x".repeat(256);
    for name in ["", long.as_str(), "a\nb"] {
        assert_eq!(
            kind(mq.create_topic(name, small(8))).0,
            ErrorKind::InvalidArgument,
            "{name:?}"
        );
    }
    // 255 bytes is fine, but its ".dlq" would not be.
    assert_eq!(
        kind(mq.create_topic(&"y".repeat(253), small(8))).0,
        ErrorKind::InvalidArgument
    );
    mq.create_topic(&"y".repeat(251), small(8)).unwrap();
    let t = mq.create_topic("t", small(8)).unwrap();
    for group in ["", long.as_str()] {
        assert_eq!(
            kind(t.subscribe_pull(group, SubOptions::default())).0,
            ErrorKind::InvalidArgument
        );
    }
    assert_eq!(t.stats().subscriptions, 0);
}

#[test]
fn unknown_and_duplicate_names() {
    let mq = broker();
    assert_eq!(kind(mq.topic("nope")).0, ErrorKind::NotFound);
    let t = mq.create_topic("t", small(8)).unwrap();
    assert_eq!(kind(mq.create_topic("t", small(16))).0, ErrorKind::Exists);
    assert_eq!(
        kind(mq.create_topic("t.dlq", small(16))).0,
        ErrorKind::Exists
    );
    assert_eq!(
        mq.topic("t").unwrap().options().capacity,
        8,
        "the first one stays"
    );
    t.subscribe_pull("g", SubOptions::default()).unwrap();
    assert_eq!(
        kind(t.subscribe_pull("g", SubOptions::default())).0,
        ErrorKind::Exists
    );
    assert_eq!(kind(t.pull_subscription("h")).0, ErrorKind::NotFound);
    assert_eq!(
        kind(t.subscribe_pull(
            "c",
            SubOptions {
                concurrency: 0,
                ..SubOptions::default()
            }
        ))
        .0,
        ErrorKind::InvalidArgument
    );
}

#[test]
fn oversize_payloads_and_batches_change_nothing() {
    let mq = broker();
    let t = mq.create_topic("t", small(8)).unwrap();
    let s = t.subscribe_pull("s", SubOptions::default()).unwrap();
    let (k, m) = kind(t.publish(&[0u8; 65]));
    assert_eq!(k, ErrorKind::TooLarge);
    assert!(m.contains("65 bytes") && m.contains("slot_size 64"), "{m}");
    // One oversize item fails the whole batch before anything is claimed.
    let items: Vec<Vec<u8>> = vec![vec![1; 8], vec![2; 100]];
    assert_eq!(
        kind(t.publish_batch(&items, 0, None)).0,
        ErrorKind::TooLarge
    );
    let many: Vec<[u8; 1]> = vec![[0]; 9];
    assert_eq!(
        kind(t.publish_batch(&many, 0, None)).0,
        ErrorKind::InvalidArgument
    );
    assert_eq!(t.stats().published, 0);
    assert!(s.poll(Some(Duration::ZERO)).unwrap().is_none());
    assert_eq!(t.publish(&[7u8; 64]).unwrap(), 0, "ids did not move");
    let mut out = Vec::new();
    assert_eq!(
        kind(s.poll_batch(0, None, &mut out)).0,
        ErrorKind::InvalidArgument
    );
}

#[test]
fn settling_unknown_or_settled_deliveries() {
    let mq = broker();
    let t = mq.create_topic("t", small(8)).unwrap();
    let s = t.subscribe_pull("s", SubOptions::default()).unwrap();
    t.publish(b"a").unwrap();
    let d = poll1(&s);
    let tag = d.tag();
    d.ack().unwrap();
    // SAFETY: the delivery was consumed by ack; these tags name no live one.
    unsafe {
        assert_eq!(kind(s.ack_tag(tag)).0, ErrorKind::InvalidArgument);
        assert_eq!(kind(s.nack_tag(tag, None)).0, ErrorKind::InvalidArgument);
        assert_eq!(kind(s.term_tag(tag)).0, ErrorKind::InvalidArgument);
        assert_eq!(kind(s.ack_tag(u64::MAX)).0, ErrorKind::InvalidArgument);
        assert_eq!(kind(s.ack_tag(1 << 63 | 5)).0, ErrorKind::InvalidArgument);
    }
    assert_eq!(kind(s.in_progress_tag(tag)).0, ErrorKind::InvalidArgument);
    let st = s.stats();
    assert_eq!((st.acked, st.nacked, st.dead_lettered), (1, 0, 0));
}

#[test]
fn bad_broker_options() {
    for o in [
        BrokerOptions {
            workers_max: 0,
            ..BrokerOptions::default()
        },
        BrokerOptions {
            workers_min: 5,
            workers_max: 2,
            ..BrokerOptions::default()
        },
    ] {
        assert_eq!(
            Broker::new(o).unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
    }
}

#[test]
fn everything_after_close_answers_closed() {
    let mq = broker();
    let t = mq.create_topic("t", small(8)).unwrap();
    let s = t.subscribe_pull("s", SubOptions::default()).unwrap();
    mq.close(Duration::ZERO).unwrap();
    assert_eq!(kind(t.publish(b"x")).0, ErrorKind::Closed);
    assert_eq!(kind(t.publish_batch(&[b"x"], 0, None)).0, ErrorKind::Closed);
    assert_eq!(
        kind(t.subscribe_pull("s2", SubOptions::default())).0,
        ErrorKind::Closed
    );
    assert_eq!(kind(s.poll(Some(Duration::ZERO))).0, ErrorKind::Closed);
    assert_eq!(kind(mq.topic("t")).0, ErrorKind::Closed);
}
