//! Messages v2: headers, de-duplication by msg_id, delayed delivery,
//! expiry, pause/resume, the rate limit, handler outcomes, the failure hook
//! and why_idle, each with its bad input.
//!
//! These tests move the engine's virtual clock (a process-wide offset), so
//! they run one at a time (`serial`), in a process of their own.

mod common;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use common::{broker, poll1, small};
use ringmq_core::internals::clock;
use ringmq_core::{
    ErrorKind, Expired, HandlerError, IdleReason, PublishOptions, PullSubscription, SubOptions,
    Topic, TopicOptions,
};

fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

const NOW: Option<Duration> = Some(Duration::ZERO);

fn none_now(s: &PullSubscription) {
    let got = s.poll(NOW).unwrap();
    assert!(got.is_none(), "nothing deliverable yet, got {got:?}");
}

fn dlq(t: &Topic) -> PullSubscription {
    t.dead_letter_topic()
        .unwrap()
        .subscribe_pull("dead", SubOptions::default())
        .unwrap()
}

const TRACEPARENT: &[u8] = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[test]
fn headers_and_msg_id_reach_pull_consume_and_the_dead_letter_topic() {
    let _g = serial();
    let mq = broker();
    let t = mq.create_topic("traced", small(16)).unwrap();
    let dead = dlq(&t);
    let pull = t.subscribe_pull("pull", SubOptions::default()).unwrap();
    let batch = t.subscribe_pull("batch", SubOptions::default()).unwrap();
    let headers: &[(&str, &[u8])] = &[
        ("traceparent", TRACEPARENT),
        ("tenant", b"acme"),
        ("tenant", b"second"),
        ("empty", b""),
    ];
    let id = t
        .publish_opts(
            b"payload",
            &PublishOptions {
                key: 9,
                headers,
                msg_id: Some(b"order-1"),
                ..Default::default()
            },
        )
        .unwrap();
    let plain = t.publish(b"plain").unwrap();

    let d = poll1(&pull);
    assert_eq!((d.id(), d.key(), d.data()), (id, 9, &b"payload"[..]));
    let h = d.headers();
    assert_eq!(h.len(), 4);
    assert_eq!(h.get("traceparent"), Some(TRACEPARENT));
    assert_eq!(h.get("tenant"), Some(&b"acme"[..]), "the first of a name");
    let all: Vec<_> = h.iter().collect();
    assert_eq!(all, headers.to_vec(), "in publish order, duplicates kept");
    assert_eq!(d.msg_id(), Some(&b"order-1"[..]));
    d.term_with_reason("poison").unwrap();
    let p = poll1(&pull);
    assert!(p.headers().is_empty() && p.msg_id().is_none());
    assert_eq!(p.id(), plain);
    p.ack().unwrap();

    // consume sees them too.
    let mut seen = Vec::new();
    let n = batch
        .consume(8, Some(Duration::from_secs(5)), |m| {
            seen.push((m.id, m.headers.get("traceparent").map(<[u8]>::to_vec)));
            Ok(())
        })
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(seen[0], (id, Some(TRACEPARENT.to_vec())));
    assert_eq!(seen[1], (plain, None));

    // The dead letter keeps headers and id.
    let dl = poll1(&dead);
    assert_eq!(dl.id(), id);
    assert_eq!(dl.dead_letter_reason(), Some("poison"));
    assert_eq!(dl.headers().iter().collect::<Vec<_>>(), headers.to_vec());
    assert_eq!(dl.msg_id(), Some(&b"order-1"[..]));
    dl.ack().unwrap();
}

#[test]
fn headers_survive_a_retry_from_the_store() {
    let _g = serial();
    let mq = broker();
    let t = mq.create_topic("retried", small(8)).unwrap();
    let s = t.subscribe_pull("s", SubOptions::default()).unwrap();
    let opts = PublishOptions {
        headers: &[("k", b"v")],
        ..Default::default()
    };
    t.publish_opts(b"x", &opts).unwrap();
    poll1(&s).nack(Some(Duration::ZERO)).unwrap();
    let again = poll1(&s);
    assert_eq!(again.attempt(), 2);
    assert_eq!(again.headers().get_str("k"), Some("v"));
    again.ack().unwrap();
}

#[test]
fn bad_headers_and_ids_are_refused_and_publish_nothing() {
    let _g = serial();
    let mq = broker();
    let t = mq
        .create_topic(
            "strict",
            TopicOptions {
                max_header_bytes: 32,
                ..small(8)
            },
        )
        .unwrap();
    let big = [0u8; 40];
    let big_header: &[(&str, &[u8])] = &[("h", &big)];
    let cases: Vec<(PublishOptions<'_>, ErrorKind)> = vec![
        (
            PublishOptions {
                headers: big_header,
                ..Default::default()
            },
            ErrorKind::TooLarge,
        ),
        (
            PublishOptions {
                headers: &[("", b"v")],
                ..Default::default()
            },
            ErrorKind::InvalidArgument,
        ),
        (
            PublishOptions {
                headers: &[("a\nb", b"v")],
                ..Default::default()
            },
            ErrorKind::InvalidArgument,
        ),
        (
            PublishOptions {
                msg_id: Some(&[7u8; 129]),
                ..Default::default()
            },
            ErrorKind::TooLarge,
        ),
        (
            PublishOptions {
                msg_id: Some(b""),
                ..Default::default()
            },
            ErrorKind::InvalidArgument,
        ),
        (
            PublishOptions {
                delay: Some(Duration::from_secs(400 * 86_400)),
                ..Default::default()
            },
            ErrorKind::InvalidArgument,
        ),
        (
            PublishOptions {
                ttl: Some(Duration::ZERO),
                ..Default::default()
            },
            ErrorKind::InvalidArgument,
        ),
    ];
    for (o, kind) in &cases {
        let e = t.publish_opts(b"x", o).unwrap_err();
        assert_eq!(e.kind(), *kind, "{o:?}: {e}");
    }
    let st = t.stats();
    assert_eq!((st.published, st.delayed, st.duplicates), (0, 0, 0));
    // The limit itself is fine: 4 + 1 + 27 = 32 bytes.
    t.publish_opts(
        b"x",
        &PublishOptions {
            headers: &[("h", &big[..27])],
            ..Default::default()
        },
    )
    .unwrap();
    let e = mq
        .create_topic(
            "too-big",
            TopicOptions {
                max_header_bytes: 70_000,
                ..small(8)
            },
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn a_duplicate_msg_id_stores_nothing_and_answers_the_first_id() {
    let _g = serial();
    let mq = broker();
    let t = mq
        .create_topic(
            "dedupe",
            TopicOptions {
                dedupe_window: Duration::from_secs(60),
                ..small(16)
            },
        )
        .unwrap();
    let s = t.subscribe_pull("s", SubOptions::default()).unwrap();
    let o = |id: &'static [u8]| PublishOptions {
        msg_id: Some(id),
        ..Default::default()
    };
    let first = t.publish_opts(b"one", &o(b"A")).unwrap();
    let b = t.publish_opts(b"two", &o(b"B")).unwrap();
    assert_eq!(t.publish_opts(b"again", &o(b"A")).unwrap(), first);
    assert_eq!(t.publish_opts(b"again", &o(b"B")).unwrap(), b);
    let st = t.stats();
    assert_eq!((st.published, st.duplicates), (2, 2));
    assert_eq!(poll1(&s).data(), b"one");
    assert_eq!(poll1(&s).data(), b"two");
    none_now(&s);
    // Past the window the id is forgotten: a new message.
    clock::advance(Duration::from_secs(61));
    let later = t.publish_opts(b"three", &o(b"A")).unwrap();
    assert!(later > b);
    assert_eq!(poll1(&s).data(), b"three");
}

#[test]
fn racing_duplicates_store_one_message() {
    let _g = serial();
    let mq = broker();
    let t = mq.create_topic("race", small(256)).unwrap();
    let s = t.subscribe_pull("s", SubOptions::default()).unwrap();
    let ids: Vec<u64> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let t = t.clone();
                sc.spawn(move || {
                    (0..20u32)
                        .map(|i| {
                            let id = format!("m{i}");
                            t.publish_opts(
                                id.as_bytes(),
                                &PublishOptions {
                                    msg_id: Some(id.as_bytes()),
                                    ..Default::default()
                                },
                            )
                            .unwrap()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let mut distinct = ids.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 20, "one id per msg_id");
    let mut got = Vec::new();
    while let Some(d) = s.poll(NOW).unwrap() {
        got.push(d.id());
        d.ack().unwrap();
    }
    got.sort_unstable();
    assert_eq!(got, distinct, "each msg_id delivered once, with its id");
    assert_eq!(t.stats().duplicates, 60);
}

#[test]
fn delayed_messages_wait_outside_the_ring_and_keep_their_id() {
    let _g = serial();
    let mq = broker();
    let t = mq.create_topic("later", small(4)).unwrap();
    let s = t.subscribe_pull("s", SubOptions::default()).unwrap();
    let delayed = t
        .publish_opts(
            b"in ten seconds",
            &PublishOptions {
                delay: Some(Duration::from_secs(10)),
                headers: &[("k", b"v")],
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(t.stats().delayed, 1);
    // The ring keeps flowing past it: a full ring's worth and more.
    for i in 0..8u8 {
        t.publish(&[i]).unwrap();
        let d = poll1(&s);
        assert_eq!(d.data(), &[i]);
        d.ack().unwrap();
    }
    none_now(&s);
    assert!(s
        .why_idle()
        .iter()
        .any(|r| matches!(r, IdleReason::WaitingDelayed { count: 1, .. })));
    clock::advance(Duration::from_secs(9));
    none_now(&s);
    clock::advance(Duration::from_secs(1));
    let d = poll1(&s);
    assert_eq!((d.id(), d.data()), (delayed, &b"in ten seconds"[..]));
    assert_eq!(d.headers().get_str("k"), Some("v"));
    d.ack().unwrap();
    assert_eq!(t.stats().delayed, 0);
}

#[test]
fn delayed_messages_come_in_due_order_and_max_delayed_bounds_them() {
    let _g = serial();
    let mq = broker();
    let t = mq
        .create_topic(
            "bounded",
            TopicOptions {
                max_delayed: 3,
                ..small(16)
            },
        )
        .unwrap();
    let s = t.subscribe_pull("s", SubOptions::default()).unwrap();
    let at = |secs: u64, data: &[u8]| {
        t.publish_opts(
            data,
            &PublishOptions {
                delay: Some(Duration::from_secs(secs)),
                ..Default::default()
            },
        )
    };
    at(3, b"c").unwrap();
    at(1, b"a").unwrap();
    at(2, b"b").unwrap();
    let e = at(1, b"d").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Full, "{e}");
    assert_eq!(t.stats().delayed, 3);
    clock::advance(Duration::from_secs(3));
    let got: Vec<Vec<u8>> = (0..3)
        .map(|_| {
            let d = poll1(&s);
            let v = d.data().to_vec();
            d.ack().unwrap();
            v
        })
        .collect();
    assert_eq!(got, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
    at(1, b"room again").unwrap();
}

#[test]
fn closing_reports_delayed_messages_left() {
    let _g = serial();
    let mq = broker();
    let t = mq.create_topic("closing", small(8)).unwrap();
    t.publish_opts(
        b"never",
        &PublishOptions {
            delay: Some(Duration::from_secs(3600)),
            ..Default::default()
        },
    )
    .unwrap();
    let report = mq.close(Duration::from_millis(50)).unwrap();
    assert_eq!(report.delayed, 1);
}

#[test]
fn expired_messages_go_to_the_dead_letter_topic_never_delivered() {
    let _g = serial();
    let mq = broker();
    let t = mq.create_topic("perishable", small(16)).unwrap();
    let dead = dlq(&t);
    let s = t.subscribe_pull("s", SubOptions::default()).unwrap();
    let ttl = |secs: u64| PublishOptions {
        ttl: Some(Duration::from_secs(secs)),
        ..Default::default()
    };
    let short = t.publish_opts(b"short", &ttl(1)).unwrap();
    let long = t.publish_opts(b"long", &ttl(100)).unwrap();
    clock::advance(Duration::from_secs(2));
    let d = poll1(&s);
    assert_eq!(d.id(), long, "the expired one is passed over");
    d.ack().unwrap();
    let dl = poll1(&dead);
    assert_eq!((dl.id(), dl.dead_letter_reason()), (short, Some("expired")));
    dl.ack().unwrap();
    let st = s.stats();
    assert_eq!(
        (
            st.delivered,
            st.acked,
            st.expired_messages,
            st.dead_lettered
        ),
        (1, 1, 1, 0)
    );

    // In the retry store: it expires before its retry is due.
    let r = t.publish_opts(b"retry", &ttl(5)).unwrap();
    poll1(&s).nack(Some(Duration::from_secs(10))).unwrap();
    clock::advance(Duration::from_secs(6));
    none_now(&s);
    let dl = poll1(&dead);
    assert_eq!((dl.id(), dl.dead_letter_reason()), (r, Some("expired")));
    dl.ack().unwrap();

    // In the delay wheel: it expires before it is due.
    let w = t
        .publish_opts(
            b"wheel",
            &PublishOptions {
                delay: Some(Duration::from_secs(10)),
                ttl: Some(Duration::from_secs(2)),
                ..Default::default()
            },
        )
        .unwrap();
    clock::advance(Duration::from_secs(3));
    none_now(&s);
    let dl = poll1(&dead);
    assert_eq!((dl.id(), dl.dead_letter_reason()), (w, Some("expired")));
    dl.ack().unwrap();
    assert_eq!(s.stats().expired_messages, 3);
    assert_eq!(t.stats().delayed, 0);
}

#[test]
fn max_age_expires_and_drop_drops() {
    let _g = serial();
    let mq = broker();
    let t = mq
        .create_topic(
            "aged",
            TopicOptions {
                max_age: Duration::from_secs(5),
                expired: Expired::Drop,
                ..small(16)
            },
        )
        .unwrap();
    let dead = dlq(&t);
    let s = t.subscribe_pull("s", SubOptions::default()).unwrap();
    t.publish(b"old").unwrap();
    t.publish_batch(&[b"old2"], 0, None).unwrap();
    clock::advance(Duration::from_secs(6));
    let fresh = t.publish(b"fresh").unwrap();
    let d = poll1(&s);
    assert_eq!(d.id(), fresh);
    d.ack().unwrap();
    none_now(&dead);
    assert_eq!(s.stats().expired_messages, 2);
}

#[test]
fn pause_stops_new_deliveries_but_not_retries() {
    let _g = serial();
    let mq = broker();
    let t = mq.create_topic("pausable", small(16)).unwrap();
    let s = t.subscribe_pull("s", SubOptions::default()).unwrap();
    t.publish(b"first").unwrap();
    poll1(&s).nack(Some(Duration::from_secs(1))).unwrap();
    t.publish(b"second").unwrap();
    s.pause().unwrap();
    assert!(s.is_paused() && s.stats().paused == 1);
    assert!(s.why_idle().contains(&IdleReason::Paused));
    clock::advance(Duration::from_secs(2));
    let retry = poll1(&s);
    assert_eq!(retry.data(), b"first", "retries go on while paused");
    retry.ack().unwrap();
    none_now(&s);
    assert_eq!(s.stats().lag, 1);
    s.resume().unwrap();
    assert_eq!(poll1(&s).data(), b"second");
    s.unsubscribe().unwrap();
    assert_eq!(s.pause().unwrap_err().kind(), ErrorKind::Closed);
    assert_eq!(s.why_idle(), vec![IdleReason::Closed]);
}

#[test]
fn the_rate_limit_paces_deliveries() {
    let _g = serial();
    let mq = broker();
    let t = mq.create_topic("paced", small(64)).unwrap();
    let s = t
        .subscribe_pull(
            "s",
            SubOptions {
                rate_limit: Some(10.0),
                rate_burst: 3,
                ..SubOptions::default()
            },
        )
        .unwrap();
    for i in 0..20u8 {
        t.publish(&[i]).unwrap();
    }
    let mut batch = Vec::new();
    s.poll_batch(20, NOW, &mut batch).unwrap();
    assert_eq!(batch.len(), 3, "the burst");
    s.ack_all(&mut batch).unwrap();
    none_now(&s);
    assert!(s
        .why_idle()
        .iter()
        .any(|r| matches!(r, IdleReason::RateLimited { .. })));
    clock::advance(Duration::from_millis(200));
    s.poll_batch(20, NOW, &mut batch).unwrap();
    assert_eq!(batch.len(), 2, "two tokens in 200 ms at 10/s");
    s.ack_all(&mut batch).unwrap();
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let e = t
            .subscribe_pull(
                "bad",
                SubOptions {
                    rate_limit: Some(bad),
                    ..SubOptions::default()
                },
            )
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{bad}");
    }
    assert_eq!(t.stats().subscriptions, 1, "nothing made");
}

#[test]
fn handlers_can_term_or_retry_after_and_the_hook_hears_every_failure() {
    let _g = serial();
    let mq = broker();
    let failures = Arc::new(Mutex::new(Vec::new()));
    let f = failures.clone();
    mq.on_handler_failure(move |fail| {
        f.lock().unwrap().push((
            fail.id,
            fail.attempt,
            fail.error.text().to_owned(),
            fail.dead_lettered,
        ))
    });
    let t = mq.create_topic("outcomes", small(16)).unwrap();
    let dead = dlq(&t);
    let s = t.subscribe_pull("s", SubOptions::default()).unwrap();
    let poison = t.publish(b"poison").unwrap();
    let later = t.publish(b"later").unwrap();
    let wait = Some(Duration::from_secs(5));
    s.consume(2, wait, |m| {
        if m.data == b"poison" {
            Err(HandlerError::term("bad payload"))
        } else {
            Err(HandlerError::retry_after(Duration::from_secs(30)))
        }
    })
    .unwrap();
    let dl = poll1(&dead);
    assert_eq!(
        (dl.id(), dl.attempt(), dl.dead_letter_reason()),
        (poison, 1, Some("bad payload"))
    );
    dl.ack().unwrap();
    clock::advance(Duration::from_secs(20));
    none_now(&s);
    clock::advance(Duration::from_secs(11));
    let d = poll1(&s);
    assert_eq!((d.id(), d.attempt()), (later, 2));
    d.ack().unwrap();
    let got = failures.lock().unwrap().clone();
    assert_eq!(
        got,
        vec![
            (poison, 1, "bad payload".to_owned(), true),
            (later, 1, "retry after 30s".to_owned(), false),
        ]
    );
}

#[test]
fn a_push_handler_term_goes_straight_to_the_dead_letter_topic() {
    let _g = serial();
    let mq = broker();
    let t = mq.create_topic("push-term", small(16)).unwrap();
    let dead = dlq(&t);
    let _sub = t
        .subscribe("h", SubOptions::default(), |m| {
            if m.data == b"bad" {
                Err(HandlerError::term("refused"))
            } else {
                Ok(())
            }
        })
        .unwrap();
    let id = t.publish(b"bad").unwrap();
    let dl = poll1(&dead);
    assert_eq!(
        (dl.id(), dl.attempt(), dl.dead_letter_reason()),
        (id, 1, Some("refused"))
    );
    dl.ack().unwrap();
    mq.close(Duration::from_secs(2)).unwrap();
}

#[test]
fn why_idle_says_nothing_published_then_nothing_when_ready() {
    let _g = serial();
    let mq = broker();
    let t = mq.create_topic("idle", small(8)).unwrap();
    let s = t.subscribe_pull("s", SubOptions::default()).unwrap();
    assert_eq!(s.why_idle(), vec![IdleReason::NothingPublished]);
    t.publish(b"x").unwrap();
    assert_eq!(s.why_idle(), vec![], "a message is there to take");
    assert_eq!(
        IdleReason::NothingPublished.to_string(),
        "nothing published"
    );
}

fn keyed(per_key: u32) -> SubOptions {
    SubOptions {
        max_in_flight_per_key: per_key,
        ..SubOptions::default()
    }
}

#[test]
fn max_in_flight_per_key_parks_a_key_at_its_cap_and_keeps_its_order() {
    let _g = serial();
    let mq = broker();
    let t = mq.create_topic("keyed", small(32)).unwrap();
    let s = t.subscribe_pull("s", keyed(2)).unwrap();
    for i in 0..5u8 {
        t.publish_with(&[b'a', i], 1, None).unwrap();
    }
    t.publish_with(b"b0", 2, None).unwrap();
    let mut batch = Vec::new();
    s.poll_batch(10, NOW, &mut batch).unwrap();
    let got: Vec<Vec<u8>> = batch.iter().map(|d| d.data().to_vec()).collect();
    assert_eq!(
        got,
        vec![b"a\0".to_vec(), b"a\x01".to_vec(), b"b0".to_vec()]
    );
    assert!(s.why_idle().iter().any(|r| matches!(
        r,
        IdleReason::KeysAtCap {
            parked: 3,
            keys: 1,
            per_key: 2
        }
    )));
    assert_eq!(s.stats().waiting_retry, 3, "parked off the ring, counted");
    none_now(&s);
    // Acking one of key 1 lets the next of key 1 go, in publish order.
    batch.remove(0).ack().unwrap();
    let next = poll1(&s);
    assert_eq!((next.data(), next.attempt()), (&b"a\x02"[..], 1));
    none_now(&s);
    // A nack ends a delivery too; its retry queues behind the parked ones.
    batch.remove(0).nack(Some(Duration::ZERO)).unwrap();
    let a3 = poll1(&s);
    assert_eq!(a3.data(), b"a\x03");
    next.ack().unwrap();
    let a4 = poll1(&s);
    assert_eq!(a4.data(), b"a\x04");
    a4.ack().unwrap();
    let retry = poll1(&s);
    assert_eq!((retry.data(), retry.attempt()), (&b"a\x01"[..], 2));
    retry.ack().unwrap();
    a3.ack().unwrap();
    batch.drain(..).for_each(|d| d.ack().unwrap());
    let st = s.stats();
    assert_eq!((st.acked, st.in_flight, st.waiting_retry), (6, 0, 0));
    let e = t.subscribe_pull("too-many", keyed(70_000)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn max_in_flight_per_key_holds_across_threads_and_every_message_is_acked_once() {
    use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::SeqCst};
    let _g = serial();
    let mq = broker();
    let t = mq
        .create_topic(
            "keyed-stress",
            TopicOptions {
                ack_timeout: Duration::from_secs(600),
                ..small(64)
            },
        )
        .unwrap();
    let s = t.subscribe_pull("s", keyed(2)).unwrap();
    const KEYS: usize = 5;
    const PER: u64 = 600;
    let live: Arc<Vec<AtomicI64>> = Arc::new((0..KEYS).map(|_| AtomicI64::new(0)).collect());
    let worst = Arc::new(AtomicI64::new(0));
    let acked: Arc<Vec<AtomicU64>> = Arc::new((0..4 * PER).map(|_| AtomicU64::new(0)).collect());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let dead_topic = t.dead_letter_topic().unwrap();
    std::thread::scope(|sc| {
        for p in 0..4u64 {
            let t = t.clone();
            sc.spawn(move || {
                for i in 0..PER {
                    let n = p * PER + i;
                    // A stall fails the test (here) rather than hanging it.
                    t.publish_with(
                        &n.to_le_bytes(),
                        n % KEYS as u64,
                        Some(Duration::from_secs(60)),
                    )
                    .unwrap();
                }
            });
        }
        for c in 0..3u64 {
            let (s, live, worst, acked, stop) = (
                s.clone(),
                live.clone(),
                worst.clone(),
                acked.clone(),
                stop.clone(),
            );
            sc.spawn(move || {
                let mut r = c;
                while !stop.load(SeqCst) {
                    let Some(d) = s.poll(Some(Duration::from_millis(20))).unwrap() else {
                        continue;
                    };
                    let k = d.key() as usize;
                    let now = live[k].fetch_add(1, SeqCst) + 1;
                    worst.fetch_max(now, SeqCst);
                    std::thread::yield_now();
                    r = r
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    live[k].fetch_sub(1, SeqCst);
                    if (r >> 33) % 5 == 0 {
                        d.nack(Some(Duration::ZERO)).unwrap();
                    } else {
                        let n = u64::from_le_bytes(d.data().try_into().unwrap());
                        d.ack().unwrap();
                        acked[n as usize].fetch_add(1, SeqCst);
                    }
                }
            });
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let ended = acked.iter().filter(|a| a.load(SeqCst) > 0).count() as u64
                + dead_topic.stats().published;
            if ended >= 4 * PER {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "stalled at {ended} of {}: {:?} {:?}",
                4 * PER,
                s.stats(),
                s.why_idle()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        stop.store(true, SeqCst);
    });
    assert!(worst.load(SeqCst) <= 2, "at most 2 of a key at once");
    let dead = t.dead_letter_topic().unwrap().stats().published;
    let once = acked.iter().filter(|a| a.load(SeqCst) == 1).count() as u64;
    assert!(acked.iter().all(|a| a.load(SeqCst) <= 1), "never twice");
    assert_eq!(
        once + dead,
        4 * PER,
        "every message acked once or dead-lettered"
    );
    let st = s.stats();
    assert_eq!((st.in_flight, st.waiting_retry, st.lag), (0, 0, 0));
}

#[test]
fn a_push_subscription_runs_at_most_n_of_a_key_while_other_keys_run() {
    use std::sync::atomic::{AtomicI64, Ordering::SeqCst};
    let _g = serial();
    let mq = broker();
    let t = mq.create_topic("keyed-push", small(64)).unwrap();
    let live: Arc<Vec<AtomicI64>> = Arc::new((0..3).map(|_| AtomicI64::new(0)).collect());
    let worst: Arc<Vec<AtomicI64>> = Arc::new((0..3).map(|_| AtomicI64::new(0)).collect());
    let done = Arc::new(AtomicI64::new(0));
    let (l, w, d) = (live.clone(), worst.clone(), done.clone());
    let _sub = t
        .subscribe(
            "h",
            SubOptions {
                concurrency: 4,
                max_in_flight_per_key: 1,
                ..SubOptions::default()
            },
            move |m| {
                let k = m.key as usize;
                let now = l[k].fetch_add(1, SeqCst) + 1;
                w[k].fetch_max(now, SeqCst);
                std::thread::sleep(Duration::from_micros(300));
                l[k].fetch_sub(1, SeqCst);
                d.fetch_add(1, SeqCst);
                Ok(())
            },
        )
        .unwrap();
    for i in 0..150u64 {
        t.publish_with(b"m", i % 3, None).unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while done.load(SeqCst) < 150 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(done.load(SeqCst), 150);
    for k in 0..3 {
        assert_eq!(worst[k].load(SeqCst), 1, "key {k}: one at a time");
    }
    mq.close(Duration::from_secs(2)).unwrap();
}

#[test]
fn a_parked_message_that_expires_gives_its_key_place_back() {
    let _g = serial();
    let mq = broker();
    let t = mq.create_topic("keyed-ttl", small(16)).unwrap();
    let dead = dlq(&t);
    let s = t.subscribe_pull("s", keyed(1)).unwrap();
    let ttl = PublishOptions {
        key: 3,
        ttl: Some(Duration::from_secs(1)),
        ..Default::default()
    };
    t.publish_opts(b"first", &ttl).unwrap();
    let parked = t.publish_opts(b"parked", &ttl).unwrap();
    let first = poll1(&s);
    none_now(&s);
    clock::advance(Duration::from_secs(2));
    first.ack().unwrap();
    none_now(&s);
    let dl = poll1(&dead);
    assert_eq!(
        (dl.id(), dl.dead_letter_reason()),
        (parked, Some("expired"))
    );
    dl.ack().unwrap();
    t.publish_with(b"next", 3, None).unwrap();
    assert_eq!(poll1(&s).data(), b"next", "the key's place was given back");
}

#[test]
fn a_push_handler_gets_a_delayed_message_when_due_not_before() {
    use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
    let _g = serial();
    let mq = broker();
    let t = mq.create_topic("push-later", small(16)).unwrap();
    let handled = Arc::new(AtomicU64::new(0));
    let h = handled.clone();
    let _sub = t
        .subscribe("h", SubOptions::default(), move |_| {
            h.fetch_add(1, SeqCst);
            Ok(())
        })
        .unwrap();
    t.publish_opts(
        b"later",
        &PublishOptions {
            delay: Some(Duration::from_secs(10)),
            ..Default::default()
        },
    )
    .unwrap();
    clock::advance(Duration::from_secs(9));
    std::thread::sleep(Duration::from_millis(150));
    assert_eq!(handled.load(SeqCst), 0, "not before its due time");
    clock::advance(Duration::from_secs(1));
    let t0 = std::time::Instant::now();
    while handled.load(SeqCst) == 0 {
        assert!(t0.elapsed() < Duration::from_secs(5), "handled once due");
        std::thread::sleep(Duration::from_millis(1));
    }
    mq.close(Duration::from_secs(2)).unwrap();
    assert_eq!(handled.load(SeqCst), 1);
}
