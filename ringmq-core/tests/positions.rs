//! Where a new subscription starts: a topic keeps its last `capacity`
//! messages readable for late subscriptions (`earliest`), also a dead-letter
//! topic; `start_at_id` and `start_at_time`; and reading that history never
//! holds producers back.

mod common;

use std::time::{Duration, SystemTime};

use common::{broker, poll1, small};
use ringmq_core::{ErrorKind, PullSubscription, StartAt, SubOptions, Topic};

const NOW: Option<Duration> = Some(Duration::ZERO);

fn sub(t: &Topic, group: &str, opts: SubOptions) -> PullSubscription {
    t.subscribe_pull(group, opts).unwrap()
}

fn earliest() -> SubOptions {
    SubOptions {
        start: StartAt::Earliest,
        ..SubOptions::default()
    }
}

/// Acks everything deliverable now; returns the ids in delivery order.
fn drain_ids(s: &PullSubscription) -> Vec<u64> {
    let mut ids = Vec::new();
    while let Some(d) = s.poll(NOW).unwrap() {
        ids.push(d.id());
        d.ack().unwrap();
    }
    ids
}

#[test]
fn earliest_reads_the_last_capacity_messages_even_when_nobody_held_them() {
    let mq = broker();
    let t = mq.create_topic("history", small(8)).unwrap();
    for i in 0..10u8 {
        t.publish(&[i]).unwrap();
    }
    let late = sub(&t, "late", earliest());
    assert_eq!(drain_ids(&late), (2..10).collect::<Vec<_>>());
    let latest = sub(&t, "latest", SubOptions::default());
    t.publish(b"new").unwrap();
    assert_eq!(drain_ids(&latest), vec![10]);
    assert_eq!(drain_ids(&late), vec![10], "then the live messages, once");
}

#[test]
fn the_dead_letter_topic_keeps_its_last_dead_letters_for_later_subscribers() {
    let mq = broker();
    let t = mq.create_topic("orders", small(8)).unwrap();
    let s = sub(&t, "billing", SubOptions::default());
    let ids: Vec<u64> = (0..3u8).map(|i| t.publish(&[i]).unwrap()).collect();
    for _ in 0..3 {
        poll1(&s).term_with_reason("refused").unwrap();
    }
    // Nobody listened on the dead-letter topic until now.
    let dlq = t.dead_letter_topic().unwrap();
    let later = sub(&dlq, "inspector", earliest());
    let mut got = Vec::new();
    while let Some(d) = later.poll(NOW).unwrap() {
        assert_eq!(d.dead_letter_reason(), Some("refused"));
        assert_eq!(d.dead_letter_group(), Some("billing"));
        got.push(d.id());
        d.ack().unwrap();
    }
    assert_eq!(got, ids);
}

#[test]
fn start_at_id_starts_there_or_at_the_oldest_held() {
    let mq = broker();
    let t = mq.create_topic("ids", small(8)).unwrap();
    for i in 0..12u8 {
        t.publish(&[i]).unwrap();
    }
    let at = |group: &str, id: u64| {
        t.subscribe_pull(
            group,
            SubOptions {
                start_at_id: Some(id),
                ..SubOptions::default()
            },
        )
    };
    assert_eq!(drain_ids(&at("at9", 9).unwrap()), vec![9, 10, 11]);
    assert_eq!(
        drain_ids(&at("gone", 1).unwrap()),
        (4..12).collect::<Vec<_>>(),
        "id 1 was overwritten: from the oldest still held"
    );
    let next = at("next", 12).unwrap();
    assert!(drain_ids(&next).is_empty());
    t.publish(b"x").unwrap();
    assert_eq!(drain_ids(&next), vec![12]);
    let e = at("future", 100).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    let e = t
        .subscribe_pull(
            "both",
            SubOptions {
                start_at_id: Some(3),
                start_at_time: Some(SystemTime::now()),
                ..SubOptions::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let names: Vec<_> = t.subscription_stats().into_iter().map(|(g, _)| g).collect();
    assert!(!names.contains(&"future".to_owned()) && !names.contains(&"both".to_owned()));
}

#[test]
fn start_at_time_starts_at_the_first_message_published_then() {
    let mq = broker();
    let t = mq.create_topic("times", small(16)).unwrap();
    t.publish(b"before").unwrap();
    std::thread::sleep(Duration::from_millis(5));
    let then = SystemTime::now();
    std::thread::sleep(Duration::from_millis(5));
    let a = t.publish(b"after 1").unwrap();
    let b = t.publish(b"after 2").unwrap();
    let s = sub(
        &t,
        "since",
        SubOptions {
            start_at_time: Some(then),
            ..SubOptions::default()
        },
    );
    assert_eq!(drain_ids(&s), vec![a, b]);
    let future = sub(
        &t,
        "future",
        SubOptions {
            start_at_time: Some(SystemTime::now() + Duration::from_secs(60)),
            ..SubOptions::default()
        },
    );
    assert!(
        drain_ids(&future).is_empty(),
        "nothing yet: starts at the next"
    );
}

#[test]
fn reading_history_never_holds_producers_back() {
    let mq = broker();
    let t = mq.create_topic("busy", small(4)).unwrap();
    for i in 0..4u8 {
        t.publish(&[i]).unwrap();
    }
    let slow = sub(&t, "slow", earliest());
    // The gate starts at the next claim: a full ring's worth more fits at
    // once, overwriting the history the subscription has not read.
    for i in 4..8u8 {
        t.publish_with(&[i], 0, NOW).unwrap();
    }
    assert_eq!(drain_ids(&slow), vec![4, 5, 6, 7]);
    assert_eq!(
        slow.stats().dropped,
        4,
        "the history overwritten before it was read is counted, not silent"
    );
}

#[test]
fn history_and_live_messages_arrive_once_in_order_under_concurrent_producers() {
    let mq = broker();
    let t = mq.create_topic("stream", small(64)).unwrap();
    let keep = sub(&t, "keep", SubOptions::default());
    let producers: Vec<_> = (0..2)
        .map(|_| {
            let t = t.clone();
            std::thread::spawn(move || {
                for _ in 0..2000 {
                    t.publish_with(b"m", 0, Some(Duration::from_secs(5)))
                        .unwrap();
                }
            })
        })
        .collect();
    let keeper = std::thread::spawn(move || {
        let mut n = 0;
        while n < 4000 {
            if let Some(d) = keep.poll(Some(Duration::from_secs(5))).unwrap() {
                d.ack().unwrap();
                n += 1;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(2));
    let late = sub(&t, "late", earliest());
    let mut ids = Vec::new();
    loop {
        match late.poll(Some(Duration::from_millis(200))).unwrap() {
            Some(d) => {
                ids.push(d.id());
                d.ack().unwrap();
            }
            None if t.stats().published == 4000 => break,
            None => {}
        }
    }
    for p in producers {
        p.join().unwrap();
    }
    keeper.join().unwrap();
    while let Some(d) = late.poll(NOW).unwrap() {
        ids.push(d.id());
        d.ack().unwrap();
    }
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "increasing, no repeats"
    );
    let first = ids[0];
    let st = late.stats();
    assert_eq!(ids.last(), Some(&3999));
    // The subscription starts at the oldest message held when it was made;
    // messages a producer overwrote before its first delivery are counted
    // dropped too, so drops cover at least every id missing after the
    // first, and delivered plus dropped never exceed what was published.
    let missing = (4000 - first) - ids.len() as u64;
    assert!(
        missing <= st.dropped,
        "{missing} ids missing after the first, only {} counted dropped",
        st.dropped
    );
    assert!(ids.len() as u64 + st.dropped <= 4000, "{st:?}");
}
