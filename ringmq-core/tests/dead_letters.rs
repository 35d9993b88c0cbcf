//! Every dead letter carries the engine's reason and the group that gave up
//! on it, whichever way it got into the dead-letter topic, and keeps them
//! through the dead-letter topic's own retries and lossy copies.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{broker, poll1, small};
use ringmq_core::{Delivery, HandlerError, PullSubscription, SubOptions, Topic, TopicOptions};

fn with_attempts(max_attempts: u32) -> TopicOptions {
    TopicOptions {
        max_attempts,
        ..small(16)
    }
}

fn dead_letters(t: &Topic) -> PullSubscription {
    t.dead_letter_topic()
        .unwrap()
        .subscribe_pull("dead", SubOptions::default())
        .unwrap()
}

fn note(d: &Delivery) -> (Option<&str>, Option<&str>) {
    (d.dead_letter_reason(), d.dead_letter_group())
}

/// Nacks whatever `sub` delivers until it stops coming back.
fn nack_until_dead(sub: &PullSubscription, reason: Option<&str>) {
    while let Some(d) = sub.poll(Some(Duration::from_millis(300))).unwrap() {
        match reason {
            Some(r) => d.nack_with_reason(None, r).unwrap(),
            None => d.nack(None).unwrap(),
        }
    }
}

#[test]
fn two_groups_dead_lettering_one_message_each_keep_their_own_reason() {
    let mq = broker();
    let t = mq.create_topic("orders", with_attempts(2)).unwrap();
    let dlq = dead_letters(&t);
    let billing = t.subscribe_pull("billing", SubOptions::default()).unwrap();
    let audit = t.subscribe_pull("audit", SubOptions::default()).unwrap();
    let id = t.publish(b"order 7").unwrap();

    poll1(&billing).term_with_reason("bad currency").unwrap();
    nack_until_dead(&audit, Some("audit store down"));

    let mut got = Vec::new();
    for _ in 0..2 {
        let d = poll1(&dlq);
        assert_eq!((d.id(), d.data()), (id, &b"order 7"[..]));
        got.push((
            d.dead_letter_group().unwrap().to_owned(),
            d.dead_letter_reason().unwrap().to_owned(),
        ));
        d.ack().unwrap();
    }
    got.sort();
    assert_eq!(
        got,
        [
            (
                "audit".to_owned(),
                "failed 2 deliveries (max_attempts 2): audit store down".to_owned()
            ),
            ("billing".to_owned(), "bad currency".to_owned()),
        ]
    );
    mq.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn each_way_in_gives_its_reason() {
    let mq = broker();
    let t = mq.create_topic("t", with_attempts(3)).unwrap();
    let dlq = dead_letters(&t);
    let g = t.subscribe_pull("g", SubOptions::default()).unwrap();

    t.publish(b"nacked").unwrap();
    nack_until_dead(&g, None);
    let d = poll1(&dlq);
    assert_eq!(
        note(&d),
        (
            Some("failed 3 deliveries (max_attempts 3): nacked"),
            Some("g")
        )
    );
    assert_eq!((d.data(), d.attempt()), (&b"nacked"[..], 3));
    d.ack().unwrap();

    t.publish(b"termed").unwrap();
    poll1(&g).term().unwrap();
    let d = poll1(&dlq);
    assert_eq!(note(&d), (Some("termed"), Some("g")));
    d.ack().unwrap();

    t.publish(b"poison").unwrap();
    poll1(&g).term_with_reason("schema v1 is gone").unwrap();
    let d = poll1(&dlq);
    assert_eq!(note(&d), (Some("schema v1 is gone"), Some("g")));
    d.ack().unwrap();

    // A retry from the store that is termed keeps the term's reason.
    t.publish(b"late term").unwrap();
    poll1(&g).nack(None).unwrap();
    poll1(&g).term_with_reason("gave up").unwrap();
    let d = poll1(&dlq);
    assert_eq!(note(&d), (Some("gave up"), Some("g")));
    d.ack().unwrap();
    mq.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn an_ack_timeout_at_max_attempts_says_so() {
    let mq = broker();
    let t = mq
        .create_topic(
            "slow",
            TopicOptions {
                ack_timeout: Duration::from_millis(30),
                ..with_attempts(2)
            },
        )
        .unwrap();
    let dlq = dead_letters(&t);
    let g = t.subscribe_pull("worker", SubOptions::default()).unwrap();
    t.publish(b"x").unwrap();
    // Held past the ack timeout twice (the second time from the store).
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(poll1(&g));
    }
    // The second one's expiry is found by the next poll.
    assert!(g.poll(Some(Duration::from_millis(200))).unwrap().is_none());
    let d = poll1(&dlq);
    assert_eq!(
        note(&d),
        (
            Some("failed 2 deliveries (max_attempts 2): ack timeout"),
            Some("worker")
        )
    );
    d.ack().unwrap();
    drop(held);
    mq.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn an_ordered_lane_out_of_attempts_gives_the_handlers_error() {
    let mq = broker();
    let t = mq.create_topic("orders", with_attempts(2)).unwrap();
    let dlq = dead_letters(&t);
    let _sub = t
        .subscribe(
            "billing",
            SubOptions {
                ordered_by_key: true,
                ..SubOptions::default()
            },
            |_| Err(HandlerError::from("cannot parse")),
        )
        .unwrap();
    t.publish_with(b"poison", 1, None).unwrap();
    let d = poll1(&dlq);
    assert_eq!(
        note(&d),
        (
            Some("failed 2 deliveries (max_attempts 2): cannot parse"),
            Some("billing")
        )
    );
    d.ack().unwrap();
    mq.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn other_messages_have_no_note() {
    let mq = broker();
    let t = mq.create_topic("t", small(16)).unwrap();
    let dlq_topic = t.dead_letter_topic().unwrap();
    let dlq = dead_letters(&t);
    let g = t.subscribe_pull("g", SubOptions::default()).unwrap();
    t.publish(b"fine").unwrap();
    let d = poll1(&g);
    assert_eq!(note(&d), (None, None));
    assert_eq!(d.message().dead_letter_reason, None);
    d.ack().unwrap();

    // Published into the dead-letter topic directly, in a slot that held a
    // dead letter a lap earlier: no note of its own.
    t.publish(b"dead").unwrap();
    poll1(&g).term().unwrap();
    poll1(&dlq).ack().unwrap();
    for i in 0..16u8 {
        dlq_topic.publish(&[i]).unwrap();
        let d = poll1(&dlq);
        assert_eq!(note(&d), (None, None), "message {i}");
        d.ack().unwrap();
    }
    mq.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn the_note_stays_with_retries_lossy_copies_and_push_handlers_of_the_dlq() {
    let mq = broker();
    let t = mq.create_topic("t", small(16)).unwrap();
    let dlq_topic = t.dead_letter_topic().unwrap();
    let dlq = dead_letters(&t);
    let lossy = dlq_topic
        .subscribe_pull(
            "dashboard",
            SubOptions {
                lossy: true,
                ..SubOptions::default()
            },
        )
        .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (s1, s2) = (seen.clone(), seen.clone());
    let _sync = dlq_topic
        .subscribe("alerts", SubOptions::default(), move |m| {
            s1.lock().unwrap().push((
                "sync",
                m.dead_letter_reason.map(str::to_owned),
                m.dead_letter_group.map(str::to_owned),
            ));
            Ok(())
        })
        .unwrap();
    let _async = dlq_topic
        .subscribe_async("pager", SubOptions::default(), move |m, done| {
            s2.lock().unwrap().push((
                "async",
                m.dead_letter_reason.map(str::to_owned),
                m.dead_letter_group.map(str::to_owned),
            ));
            done.complete(Ok(()));
        })
        .unwrap();
    let g = t.subscribe_pull("g", SubOptions::default()).unwrap();
    t.publish(b"x").unwrap();
    poll1(&g).term_with_reason("why").unwrap();

    let want = (Some("why"), Some("g"));
    // The dead-letter topic's own retry comes from its store, note and all.
    let d = poll1(&dlq);
    assert_eq!(note(&d), want);
    d.nack_with_reason(None, "not now").unwrap();
    let d = poll1(&dlq);
    assert_eq!((note(&d), d.attempt()), (want, 2));
    d.ack().unwrap();

    let d = poll1(&lossy);
    assert_eq!(note(&d), want);
    d.ack().unwrap();

    let t0 = std::time::Instant::now();
    while seen.lock().unwrap().len() < 2 && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    let w = (Some("why".to_owned()), Some("g".to_owned()));
    assert_eq!(
        seen,
        [("async", w.0.clone(), w.1.clone()), ("sync", w.0, w.1)]
    );
    mq.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn the_texts_are_c_strings() {
    let mq = broker();
    let t = mq.create_topic("t", small(16)).unwrap();
    let dlq = dead_letters(&t);
    let g = t.subscribe_pull("g", SubOptions::default()).unwrap();
    t.publish(b"x").unwrap();
    poll1(&g).term_with_reason("r").unwrap();
    let d = poll1(&dlq);
    for s in [
        d.dead_letter_reason().unwrap(),
        d.dead_letter_group().unwrap(),
    ] {
        // SAFETY: the engine documents a NUL right after each text.
        let c = unsafe { std::ffi::CStr::from_ptr(s.as_ptr().cast()) };
        assert_eq!(c.to_str().unwrap(), s);
    }
    d.ack().unwrap();
    mq.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn raw_tags_nacked_at_max_attempts_or_termed_leave_their_reason() {
    let mq = broker();
    let t = mq.create_topic("raw", with_attempts(2)).unwrap();
    let dlq = dead_letters(&t);
    let g = t.subscribe_pull("g", SubOptions::default()).unwrap();

    // Nacked by raw tag on every attempt: the last one's reason is kept, a
    // ring delivery first and then a retry from the store.
    t.publish(b"nacked raw").unwrap();
    for attempt in 1..=2 {
        let d = poll1(&g);
        assert_eq!(d.attempt(), attempt);
        let (tag, _, _) = d.into_raw();
        // SAFETY: `into_raw` consumed the only delivery with this tag.
        unsafe { g.nack_tag_with_reason(tag, None, &format!("try {attempt} failed")) }.unwrap();
    }
    let d = poll1(&dlq);
    assert_eq!(
        note(&d),
        (
            Some("failed 2 deliveries (max_attempts 2): try 2 failed"),
            Some("g")
        )
    );
    assert_eq!((d.data(), d.attempt()), (&b"nacked raw"[..], 2));
    d.ack().unwrap();

    // Termed by raw tag, from the ring and from the store.
    t.publish(b"termed raw").unwrap();
    let (tag, _, _) = poll1(&g).into_raw();
    // SAFETY: as above.
    unsafe { g.term_tag_with_reason(tag, "poison pill") }.unwrap();
    let d = poll1(&dlq);
    assert_eq!(note(&d), (Some("poison pill"), Some("g")));
    assert_eq!(d.data(), b"termed raw");
    d.ack().unwrap();

    t.publish(b"termed raw retry").unwrap();
    poll1(&g).nack(None).unwrap();
    let (tag, _, _) = poll1(&g).into_raw();
    // SAFETY: as above.
    unsafe { g.term_tag_with_reason(tag, "gave up by tag") }.unwrap();
    let d = poll1(&dlq);
    assert_eq!(note(&d), (Some("gave up by tag"), Some("g")));
    assert_eq!(d.data(), b"termed raw retry");
    d.ack().unwrap();

    assert!(g.poll(Some(Duration::from_millis(50))).unwrap().is_none());
    mq.close(Duration::from_secs(5)).unwrap();
}
