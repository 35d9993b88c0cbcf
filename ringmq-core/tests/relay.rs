//! Relayed subscriptions: every settle of the group reaches its relay, the
//! group's own retries are handed over (a nacked or timed-out message is
//! done here and reported), attempts count the deliveries a message had
//! elsewhere, and the last one dead-letters here as always.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{broker, poll1, small};
use ringmq_core::{Outcome, PublishOptions, Relay, Settled, SubOptions, TopicOptions};

fn recorder() -> (Relay, Arc<Mutex<Vec<Settled>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let relay: Relay = Arc::new(move |e: &Settled| s2.lock().unwrap().push(e.clone()));
    (relay, seen)
}

fn outcomes(seen: &Mutex<Vec<Settled>>) -> Vec<(u64, Outcome)> {
    seen.lock()
        .unwrap()
        .iter()
        .map(|e| (e.id, e.outcome.clone()))
        .collect()
}

#[test]
fn every_settle_of_a_relayed_group_is_relayed_and_retries_are_handed_over() {
    let mq = broker();
    let t = mq
        .create_topic(
            "in",
            TopicOptions {
                max_attempts: 3,
                ack_timeout: Duration::from_millis(100),
                ..small(16)
            },
        )
        .unwrap();
    let (relay, seen) = recorder();
    // Set before the group exists: it gets it when created.
    t.relay_settles("local", relay).unwrap();
    let s = t.subscribe_pull("local", SubOptions::default()).unwrap();
    let other = t.subscribe_pull("other", SubOptions::default()).unwrap();
    for (i, body) in ["a", "b", "c", "d", "e"].iter().enumerate() {
        let o = PublishOptions {
            key: i as u64,
            // "e" had two deliveries elsewhere already.
            delivered_before: if *body == "e" { 2 } else { 0 },
            ..PublishOptions::default()
        };
        t.publish_opts(body.as_bytes(), &o).unwrap();
    }
    let a = poll1(&s);
    a.in_progress().unwrap();
    a.ack().unwrap();
    poll1(&s).nack(Some(Duration::from_millis(250))).unwrap();
    poll1(&s).term_with_reason("bad schema").unwrap();
    let d = poll1(&s);
    assert_eq!(d.id(), 3);
    std::mem::forget(d); // its ack timeout passes
    let e = poll1(&s);
    assert_eq!((e.id(), e.attempt()), (4, 3));
    e.nack(None).unwrap(); // its third delivery: out of attempts
                           // The timed-out one is relayed as a failure once the timer sees it.
    std::thread::sleep(Duration::from_millis(150));
    assert!(s.poll(Some(Duration::from_millis(50))).unwrap().is_none());
    let got = outcomes(&seen);
    assert_eq!(got[0], (0, Outcome::InProgress));
    assert_eq!(got[1], (0, Outcome::Acked));
    assert_eq!(
        got[2],
        (
            1,
            Outcome::Nacked {
                delay: Some(Duration::from_millis(250))
            }
        )
    );
    assert!(matches!(&got[3], (2, Outcome::DeadLettered { reason }) if reason == "bad schema"));
    assert!(
        matches!(&got[4], (4, Outcome::DeadLettered { reason }) if reason.contains("max_attempts 3")),
        "{got:?}"
    );
    assert_eq!(got[5], (3, Outcome::Nacked { delay: None }));
    assert_eq!(got.len(), 6);
    // Nothing is retried here: the nacked one never comes back.
    std::thread::sleep(Duration::from_millis(300));
    assert!(s.poll(Some(Duration::from_millis(50))).unwrap().is_none());
    let st = s.stats();
    assert_eq!((st.acked, st.nacked, st.termed, st.expired), (1, 2, 1, 1));
    assert_eq!(
        (st.in_flight, st.waiting_retry, st.dead_lettered),
        (0, 0, 2)
    );
    // Another group of the topic is not relayed and retries by itself.
    let m = poll1(&other);
    let first = m.id();
    m.nack(Some(Duration::from_millis(1))).unwrap();
    let again = loop {
        let m = poll1(&other);
        if m.id() == first {
            break m;
        }
        m.ack().unwrap();
    };
    assert_eq!(again.attempt(), 2);
    assert_eq!(seen.lock().unwrap().len(), 6);
    mq.close(Duration::ZERO).unwrap();
}

#[test]
fn batched_acks_and_raw_tags_are_relayed_too_and_relaying_can_stop() {
    let mq = broker();
    let t = mq.create_topic("in", small(64)).unwrap();
    let s = t.subscribe_pull("local", SubOptions::default()).unwrap();
    let (relay, seen) = recorder();
    // Set after the group exists.
    t.relay_settles("local", relay).unwrap();
    for i in 0..10u64 {
        t.publish_with(&i.to_le_bytes(), i, None).unwrap();
    }
    let mut batch = Vec::new();
    s.poll_batch(4, Some(Duration::from_secs(1)), &mut batch)
        .unwrap();
    assert_eq!(batch.len(), 4);
    s.ack_all(&mut batch).unwrap();
    s.poll_batch(3, Some(Duration::from_secs(1)), &mut batch)
        .unwrap();
    let tags: Vec<u64> = batch.drain(..).map(|d| d.into_raw().0).collect();
    assert_eq!(tags.len(), 3);
    // SAFETY: the tags are this subscription's, from into_raw, settled once.
    unsafe { s.ack_tags(&tags).unwrap() };
    let n = s
        .consume(3, Some(Duration::from_secs(1)), |_| Ok(()))
        .unwrap();
    assert_eq!(n, 3);
    let got = outcomes(&seen);
    assert_eq!(got.len(), 10, "{got:?}");
    assert!(got.iter().all(|(_, o)| *o == Outcome::Acked));
    let ids: Vec<u64> = got.iter().map(|g| g.0).collect();
    assert_eq!(ids, (0..10).collect::<Vec<_>>());
    t.stop_relaying("local");
    t.publish(b"x").unwrap();
    poll1(&s).ack().unwrap();
    assert_eq!(seen.lock().unwrap().len(), 10);
    mq.close(Duration::ZERO).unwrap();
}

#[test]
fn bad_relay_input_changes_nothing() {
    let mq = broker();
    let t = mq.create_topic("in", small(8)).unwrap();
    let (relay, _) = recorder();
    let e = t.relay_settles("", relay.clone()).unwrap_err();
    assert_eq!(e.kind(), ringmq_core::ErrorKind::InvalidArgument);
    mq.close(Duration::ZERO).unwrap();
    let e = t.relay_settles("g", relay).unwrap_err();
    assert_eq!(e.kind(), ringmq_core::ErrorKind::Closed);
}
