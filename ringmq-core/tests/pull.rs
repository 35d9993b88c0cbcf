//! Pull subscriptions: delivery, settling, retries, dead letters, timeouts.

mod common;

use std::time::{Duration, Instant};

use common::*;
use ringmq_core::{ErrorKind, StartAt, SubOptions, TopicOptions};

#[test]
fn fan_out_and_competing_consumers() {
    let mq = broker();
    let t = mq.create_topic("t", small(16)).unwrap();
    let a = t.subscribe_pull("a", SubOptions::default()).unwrap();
    let b = t.subscribe_pull("b", SubOptions::default()).unwrap();
    let a2 = t.pull_subscription("a").unwrap();
    for i in 0..10u8 {
        assert_eq!(t.publish_with(&[i], 7, None).unwrap(), i as u64);
    }
    let mut seen_a = vec![];
    for i in 0..10 {
        let d = poll1(if i % 2 == 0 { &a } else { &a2 });
        assert_eq!(d.attempt(), 1);
        assert_eq!(d.key(), 7);
        seen_a.push(d.data()[0]);
        d.ack().unwrap();
    }
    assert_eq!(seen_a, (0..10).collect::<Vec<_>>());
    assert!(a.poll(Some(Duration::ZERO)).unwrap().is_none());
    let mut batch = Vec::new();
    assert_eq!(
        b.poll_batch(64, Some(Duration::ZERO), &mut batch).unwrap(),
        10
    );
    assert_eq!(
        batch.iter().map(|d| d.id()).collect::<Vec<_>>(),
        (0..10).collect::<Vec<_>>()
    );
    b.ack_all(&mut batch).unwrap();
    let s = a.stats();
    assert_eq!((s.delivered, s.acked, s.in_flight, s.lag), (10, 10, 0, 0));
    assert_eq!(t.stats().depth, 0);
    assert!(s.latency_count == 10 && s.latency_max_ns > 0);
}

#[test]
fn nacked_every_time_goes_to_dlq_after_max_attempts_while_others_flow() {
    let mq = broker();
    let cap = 8;
    let t = mq.create_topic("jobs", small(cap)).unwrap();
    let dlq = mq.topic("jobs.dlq").unwrap();
    let dead = dlq.subscribe_pull("dead", SubOptions::default()).unwrap();
    let s = t.subscribe_pull("w", SubOptions::default()).unwrap();
    let poison = t.publish_with(b"poison", 99, None).unwrap();
    let mut attempts = vec![];
    let mut ok = 0u64;
    let mut published = 1u64;
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        // Keep the ring busy: 10 x capacity other messages must flow while
        // the poison message waits for its retries.
        while published < 1 + 10 * cap as u64 {
            match t.publish_with(b"ok", 1, Some(Duration::ZERO)) {
                Ok(_) => published += 1,
                Err(e) if e.kind() == ErrorKind::Timeout => break,
                Err(e) => panic!("{e:?}"),
            }
        }
        let Some(d) = s.poll(Some(Duration::from_millis(50))).unwrap() else {
            if attempts.len() == 4 && ok == 10 * cap as u64 {
                break;
            }
            continue;
        };
        if d.id() == poison {
            attempts.push(d.attempt());
            d.nack_with_reason(None, "boom").unwrap();
        } else {
            ok += 1;
            d.ack().unwrap();
        }
    }
    assert_eq!(attempts, vec![1, 2, 3, 4]);
    assert_eq!(ok, 10 * cap as u64);
    let d = poll1(&dead);
    assert_eq!((d.id(), d.key(), d.data()), (poison, 99, &b"poison"[..]));
    assert_eq!(d.attempt(), 4, "a dead letter keeps its attempt count");
    d.ack().unwrap();
    let st = s.stats();
    assert_eq!(st.dead_lettered, 1);
    assert_eq!(st.nacked, 4);
    assert_eq!(st.retried, 3);
    assert_eq!(st.last_error.as_deref(), Some("boom"));
}

#[test]
fn term_goes_straight_to_dlq_and_double_settle_is_rejected() {
    let mq = broker();
    let t = mq.create_topic("t", small(8)).unwrap();
    let dead = t
        .dead_letter_topic()
        .unwrap()
        .subscribe_pull("d", SubOptions::default())
        .unwrap();
    let s = t.subscribe_pull("w", SubOptions::default()).unwrap();
    t.publish(b"x").unwrap();
    let d = poll1(&s);
    let tag = d.tag();
    d.term().unwrap();
    // SAFETY: no Delivery with this tag exists any more.
    let e = unsafe { s.ack_tag(tag) }.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    // SAFETY: as above; a tag never issued.
    let e = unsafe { s.ack_tag(12345) }.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let d = poll1(&dead);
    assert_eq!((d.data(), d.attempt()), (&b"x"[..], 1));
}

/// A small topic whose unsettled deliveries expire after `ack_ms` and are
/// retried after 1 ms.
fn quick_timeout(ack_ms: u64) -> TopicOptions {
    TopicOptions {
        ack_timeout: Duration::from_millis(ack_ms),
        backoff_base: Duration::from_millis(1),
        backoff_max: Duration::from_millis(1),
        ..small(8)
    }
}

#[test]
fn ack_timeout_redelivers_and_in_progress_postpones() {
    let mq = broker();
    let t = mq.create_topic("t", quick_timeout(400)).unwrap();
    let s = t.subscribe_pull("w", SubOptions::default()).unwrap();
    t.publish(b"slow").unwrap();
    let d = poll1(&s);
    // Keep it alive past the timeout by marking it in progress.
    for _ in 0..4 {
        std::thread::sleep(Duration::from_millis(50));
        d.in_progress().unwrap();
        assert!(s.poll(Some(Duration::ZERO)).unwrap().is_none());
    }
    // Now let it expire: it comes back with attempt 2 while we still hold it.
    let t0 = Instant::now();
    let again = poll1(&s);
    assert!(
        t0.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!((again.attempt(), again.data()), (2, &b"slow"[..]));
    assert_eq!(d.data(), b"slow", "the old holder's view stays valid");
    assert_eq!(d.ack().unwrap_err().kind(), ErrorKind::InvalidArgument);
    again.ack().unwrap();
    let st = s.stats();
    assert_eq!((st.expired, st.acked, st.in_flight), (1, 1, 0));
    assert_eq!(t.stats().depth, 0);
}

#[test]
fn dropped_delivery_is_redelivered_after_ack_timeout() {
    let mq = broker();
    let t = mq.create_topic("t", quick_timeout(50)).unwrap();
    let s = t.subscribe_pull("w", SubOptions::default()).unwrap();
    t.publish(b"m").unwrap();
    drop(poll1(&s));
    let d = poll1(&s);
    assert_eq!(d.attempt(), 2);
    d.ack().unwrap();
    assert_eq!(t.stats().depth, 0);
}

#[test]
fn nack_with_delay_waits_that_long() {
    let mq = broker();
    let t = mq.create_topic("t", small(8)).unwrap();
    let s = t.subscribe_pull("w", SubOptions::default()).unwrap();
    t.publish(b"m").unwrap();
    poll1(&s).nack(Some(Duration::from_millis(150))).unwrap();
    let t0 = Instant::now();
    let d = poll1(&s);
    assert!(
        t0.elapsed() >= Duration::from_millis(140),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(d.attempt(), 2);
    d.ack().unwrap();
}

#[test]
fn start_earliest_sees_messages_held_for_others() {
    let mq = broker();
    let t = mq.create_topic("t", small(8)).unwrap();
    let slow = t.subscribe_pull("slow", SubOptions::default()).unwrap();
    for i in 0..5u8 {
        t.publish(&[i]).unwrap();
    }
    let late = t.subscribe_pull("late", SubOptions::default()).unwrap();
    let early = t
        .subscribe_pull(
            "early",
            SubOptions {
                start: StartAt::Earliest,
                ..SubOptions::default()
            },
        )
        .unwrap();
    assert!(late.poll(Some(Duration::ZERO)).unwrap().is_none());
    assert_eq!(poll1(&early).data(), &[0]);
    assert_eq!(poll1(&slow).data(), &[0]);
}

#[test]
fn unsubscribe_releases_producers() {
    let mq = broker();
    let t = mq
        .create_topic(
            "t",
            TopicOptions {
                overflow: ringmq_core::Overflow::Reject,
                ..small(4)
            },
        )
        .unwrap();
    let s = t.subscribe_pull("w", SubOptions::default()).unwrap();
    for _ in 0..4 {
        t.publish(b"x").unwrap();
    }
    assert_eq!(t.publish(b"x").unwrap_err().kind(), ErrorKind::Full);
    let held = poll1(&s);
    s.unsubscribe().unwrap();
    // A delivery still held pins its slot, so the ring stays full...
    assert_eq!(t.publish(b"x").unwrap_err().kind(), ErrorKind::Full);
    assert_eq!(held.data(), b"x");
    assert_eq!(held.ack().unwrap_err().kind(), ErrorKind::Closed);
    // ...until it is settled.
    t.publish(b"x").unwrap();
    assert_eq!(
        s.poll(Some(Duration::ZERO)).unwrap_err().kind(),
        ErrorKind::Closed
    );
    assert_eq!(s.unsubscribe().unwrap_err().kind(), ErrorKind::Closed);
}

#[test]
fn raw_tags_settle_in_batches() {
    let mq = broker();
    let t = mq.create_topic("t", small(16)).unwrap();
    let s = t.subscribe_pull("w", SubOptions::default()).unwrap();
    for i in 0..10u8 {
        t.publish(&[i]).unwrap();
    }
    let mut batch = Vec::new();
    s.poll_batch(10, Some(Duration::from_secs(1)), &mut batch)
        .unwrap();
    let tags: Vec<u64> = batch.drain(..).map(|d| d.into_raw().0).collect();
    // SAFETY: the deliveries were turned into raw tags; none is read after.
    unsafe { s.ack_tags(&tags) }.unwrap();
    // SAFETY: as above; every tag is settled now, so this must fail.
    let e = unsafe { s.ack_tags(&tags[..1]) }.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let st = s.stats();
    assert_eq!((st.acked, st.in_flight, st.latency_count), (10, 0, 10));
    assert_eq!(t.stats().depth, 0);
}

#[test]
fn consume_acks_successes_and_retries_failures() {
    let mq = broker();
    let t = mq.create_topic("t", small(64)).unwrap();
    let dead = t
        .dead_letter_topic()
        .unwrap()
        .subscribe_pull("d", SubOptions::default())
        .unwrap();
    let s = t.subscribe_pull("w", SubOptions::default()).unwrap();
    for i in 0..20u8 {
        t.publish(&[i]).unwrap();
    }
    let mut seen = Vec::new();
    let t0 = Instant::now();
    // 18 good messages once, the two bad ones 4 times each.
    while seen.len() < 18 + 4 + 4 {
        assert!(t0.elapsed() < Duration::from_secs(10), "{seen:?}");
        s.consume(8, Some(Duration::from_millis(50)), |m| {
            seen.push((m.data[0], m.attempt));
            match m.data[0] {
                3 => Err("three fails".into()),
                5 => panic!("five panics"),
                _ => Ok(()),
            }
        })
        .unwrap();
    }
    for bad in [3u8, 5] {
        let attempts: Vec<u32> = seen
            .iter()
            .filter(|(d, _)| *d == bad)
            .map(|(_, a)| *a)
            .collect();
        assert_eq!(attempts, vec![1, 2, 3, 4], "message {bad}");
    }
    let st = s.stats();
    assert_eq!(
        (st.acked, st.nacked, st.dead_lettered, st.handler_panics),
        (18, 8, 2, 4)
    );
    assert_eq!((st.in_flight, st.lag), (0, 0));
    assert_eq!(t.stats().depth, 0);
    let mut d = vec![poll1(&dead).data()[0], poll1(&dead).data()[0]];
    d.sort();
    assert_eq!(d, vec![3, 5]);
    assert_eq!(s.consume(8, Some(Duration::ZERO), |_| Ok(())).unwrap(), 0);
}

/// A raw tag (the C API's delivery) that is never settled pins its slot
/// only until the ack timeout: the message is redelivered, and producers
/// come round the ring as usual (one forgotten delivery wedged the topic).
#[test]
fn a_forgotten_raw_delivery_never_wedges_producers() {
    let mq = broker();
    let t = forgetful(&mq, 4);
    let s = t.subscribe_pull("c", SubOptions::default()).unwrap();
    t.publish(b"forgotten").unwrap();
    let (tag, _, _) = poll1(&s).into_raw();
    // Redelivered after the ack timeout, and acked this time.
    ack_redelivered(&s, b"forgotten", 2);
    // The forgotten tag's late settle is refused as expired, once.
    // SAFETY: no Delivery with this tag exists (it was turned raw).
    let late = unsafe { s.ack_tag(tag) }.unwrap_err();
    assert!(late.message().contains("expired"), "{late}");
    // SAFETY: as above.
    let twice = unsafe { s.ack_tag(tag) }.unwrap_err();
    assert!(twice.message().contains("unknown"), "{twice}");
    // Producers come round the ring several times.
    for lap in 0..4u8 {
        for i in 0..4u8 {
            t.publish_with(&[lap, i], 0, Some(Duration::from_secs(2)))
                .unwrap_or_else(|e| panic!("lap {lap}: {e}"));
        }
        for _ in 0..4 {
            poll1(&s).ack().unwrap();
        }
    }
    let st = s.stats();
    assert_eq!((st.in_flight, st.lag), (0, 0), "{st:?}");
    mq.close(Duration::ZERO).unwrap();
}

/// Settling a stale retry-store tag is refused and changes nothing: it used
/// to drop a holder of the entry anyway, so a still-held delivery's payload
/// was overwritten by another message and a credit leaked per stale settle
/// (with retry_capacity 1 the subscription then never took another).
#[test]
fn a_stale_retry_store_tag_changes_nothing() {
    let mq = broker();
    let t = mq
        .create_topic(
            "t",
            TopicOptions {
                retry_capacity: 1,
                max_attempts: 2,
                ack_timeout: Duration::from_millis(40),
                backoff_base: Duration::from_millis(1),
                backoff_max: Duration::from_millis(1),
                ..small(8)
            },
        )
        .unwrap();
    let s = t.subscribe_pull("c", SubOptions::default()).unwrap();
    t.publish(b"AAAAAAAA").unwrap();
    poll1(&s).nack(Some(Duration::ZERO)).unwrap();
    // The retry, from the store, held past its ack timeout: it expires and
    // (at max_attempts) is dead-lettered, while this delivery still holds
    // the store entry.
    let held = poll1(&s);
    assert_eq!((held.data(), held.attempt()), (&b"AAAAAAAA"[..], 2));
    std::thread::sleep(Duration::from_millis(80));
    assert!(s.poll(Some(Duration::from_millis(20))).unwrap().is_none());
    assert_eq!(s.stats().dead_lettered, 1);
    // Asking for more time on the expired delivery is refused, and changes
    // nothing: the entry stays held, so its one credit is not handed out.
    for _ in 0..3 {
        assert!(held.in_progress().is_err());
    }
    t.publish(b"BBBBBBBB").unwrap();
    if let Some(b) = s.poll(Some(Duration::from_millis(30))).unwrap() {
        // Taken with a credit still held: nack it into the store, over the
        // held payload (what the defect did).
        b.nack(Some(Duration::from_secs(60))).unwrap();
        panic!("a message was handed out while the only credit was held");
    }
    assert_eq!(held.data(), b"AAAAAAAA", "the held payload is intact");
    assert!(held.ack().is_err(), "expired");
    assert_eq!(
        poll1(&s).data(),
        b"BBBBBBBB",
        "the credit came back with the hold"
    );
    mq.close(Duration::ZERO).unwrap();
}

/// Polls `s` until its stats show `pinned == want`, acking whatever comes
/// back meanwhile (the retry copies of expired deliveries); bounded.
fn wait_pinned(s: &ringmq_core::PullSubscription, want: u64) -> ringmq_core::SubStats {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let st = s.stats();
        if st.pinned == want {
            return st;
        }
        assert!(Instant::now() < deadline, "pinned stayed {}", st.pinned);
        // A poll runs the ack timer.
        if let Some(d) = s.poll(Some(Duration::from_millis(10))).unwrap() {
            d.ack().unwrap();
        }
    }
}

#[test]
fn a_delivery_held_past_its_ack_timeout_shows_as_pinned_until_dropped() {
    let mq = broker();
    let opts = TopicOptions {
        capacity: 4,
        ..quick_timeout(50)
    };
    let t = mq.create_topic("t", opts).unwrap();
    let s = t.subscribe_pull("w", SubOptions::default()).unwrap();
    t.publish(b"held").unwrap();
    let d = poll1(&s);
    assert_eq!(s.stats().pinned, 0, "within its ack timeout");
    let st = wait_pinned(&s, 1);
    assert_eq!((st.expired, st.in_flight), (1, 0), "expired, not in flight");
    assert_eq!(d.data(), b"held", "the holder's view stays valid");
    assert_eq!(t.stats().depth, 1, "its slot still holds producers back");
    drop(d);
    assert_eq!(s.stats().pinned, 0);
    assert_eq!(t.stats().depth, 0);

    // The close report counts one still held.
    t.publish(b"held too").unwrap();
    let d = poll1(&s);
    wait_pinned(&s, 1);
    let report = mq.close(Duration::ZERO).unwrap();
    assert_eq!(report.pinned, 1, "{report:?}");
    assert_eq!(d.data(), b"held too");
    drop(d);
}

/// Every form of a single ack (a `Delivery`'s, by raw tag, a batch of one,
/// a batch of raw tags of one, and `consume`) counts the same, gives its
/// credit back and moves the gate: with a retry capacity of 2 and a ring
/// of 4, forty messages flow through each form one at a time only if each
/// ack returns its credit and frees its slot. A second ack of the same
/// delivery is refused and changes nothing.
#[test]
fn every_form_of_a_single_ack_counts_returns_its_credit_and_frees_its_slot() {
    let mq = broker();
    let opts = TopicOptions {
        retry_capacity: 2,
        ..small(4)
    };
    let t = mq.create_topic("t", opts).unwrap();
    let s = t.subscribe_pull("w", SubOptions::default()).unwrap();
    let forms = ["ack", "ack_tag", "ack_all", "ack_tags", "consume"];
    let mut acked = 0u64;
    for form in forms {
        for i in 0..40u64 {
            t.publish_with(&i.to_le_bytes(), i, Some(Duration::ZERO))
                .unwrap_or_else(|e| panic!("{form}: publish {i} found no room: {e}"));
            let mut batch = Vec::new();
            match form {
                "consume" => {
                    let n = s
                        .consume(1, Some(Duration::ZERO), |m| {
                            assert_eq!(m.key, i);
                            Ok(())
                        })
                        .unwrap();
                    assert_eq!(n, 1, "{form}: message {i}");
                }
                _ => {
                    let got = s.poll_batch(1, Some(Duration::ZERO), &mut batch).unwrap();
                    assert_eq!(got, 1, "{form}: message {i} (no credit left?)");
                    assert_eq!(batch[0].key(), i);
                }
            }
            match form {
                "ack" => batch.pop().unwrap().ack().unwrap(),
                "ack_all" => s.ack_all(&mut batch).unwrap(),
                "ack_tag" | "ack_tags" => {
                    let tag = batch.pop().unwrap().into_raw().0;
                    // SAFETY: the delivery became a raw tag; nothing reads it.
                    unsafe {
                        if form == "ack_tag" {
                            s.ack_tag(tag).unwrap();
                        } else {
                            s.ack_tags(&[tag]).unwrap();
                        }
                        let again = if form == "ack_tag" {
                            s.ack_tag(tag)
                        } else {
                            s.ack_tags(&[tag])
                        };
                        assert_eq!(again.unwrap_err().kind(), ErrorKind::InvalidArgument);
                    }
                }
                _ => {}
            }
            acked += 1;
            let st = s.stats();
            assert_eq!(
                (st.delivered, st.acked, st.in_flight, st.latency_count),
                (acked, acked, 0, acked),
                "{form}: after message {i}"
            );
        }
    }
    assert_eq!(t.stats().depth, 0);
}

/// A batch is written slot by slot in one loop: each message keeps its own
/// id, length and bytes (lengths across word edges, empty included), the
/// batch's key and one timestamp, lap after lap of a small ring, whether the
/// payloads' length is known at compile time or not.
#[test]
fn batches_keep_every_message_whole_lap_after_lap() {
    let mq = broker();
    let t = mq.create_topic("t", small(8)).unwrap();
    let s = t.subscribe_pull("w", SubOptions::default()).unwrap();
    let lens = [0usize, 1, 7, 8, 9, 15, 16, 17, 31, 63, 64];
    let mut got = Vec::new();
    for lap in 0..12u64 {
        // Varying lengths (slices), then fixed ones (arrays).
        let first = if lap % 2 == 0 {
            let n = 5 + (lap as usize % 4);
            let items: Vec<Vec<u8>> = (0..n)
                .map(|i| {
                    let len = lens[(lap as usize + i) % lens.len()];
                    (0..len)
                        .map(|b| (b as u64 * 31 + lap * 7 + i as u64) as u8)
                        .collect()
                })
                .collect();
            let ids = t.publish_batch(&items, lap, None).unwrap();
            assert_eq!(ids.end - ids.start, n as u64);
            (ids.start, items)
        } else {
            let arrays = [[lap as u8; 24]; 8];
            let ids = t.publish_batch(&arrays, lap, None).unwrap();
            (ids.start, arrays.iter().map(|a| a.to_vec()).collect())
        };
        let (start, items) = first;
        let n = s.poll_batch(64, Some(Duration::ZERO), &mut got).unwrap();
        assert_eq!(n, items.len(), "lap {lap}");
        let ts = got[0].timestamp_ns();
        for (i, (d, want)) in got.iter().zip(&items).enumerate() {
            assert_eq!(d.id(), start + i as u64, "lap {lap} message {i}");
            assert_eq!(d.data(), &want[..], "lap {lap} message {i}");
            assert_eq!(
                (d.key(), d.timestamp_ns()),
                (lap, ts),
                "lap {lap} message {i}"
            );
        }
        s.ack_all(&mut got).unwrap();
    }
    assert!(
        t.stats().published > 8 * 8,
        "the ring went round several times"
    );
}
