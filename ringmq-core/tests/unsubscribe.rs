//! Unsubscribing and closing: no handler call starts after `unsubscribe`
//! returns, a handler that unsubscribes its own subscription is not called
//! again, and calls after close answer `Closed` and change nothing.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use ringmq_core::{ErrorKind, SubOptions};

/// With `ordered_by_key` and a publisher running, unsubscribe returned
/// while lane heads were still being dispatched (a handler ran after it,
/// a use-after-free for C callers that free their `user_data` then).
#[test]
fn no_handler_call_starts_after_unsubscribe_returns() {
    let rounds = if cfg!(debug_assertions) { 60 } else { 300 };
    let mq = broker();
    let t = mq.create_topic("t", small(256)).unwrap();
    for round in 0..rounds {
        for ordered_by_key in [true, false] {
            let gone = Arc::new(AtomicBool::new(false));
            let late = Arc::new(AtomicU64::new(0));
            let (g, l) = (gone.clone(), late.clone());
            let sub = t
                .subscribe(
                    &format!("r{round}-{ordered_by_key}"),
                    SubOptions {
                        ordered_by_key,
                        concurrency: 4,
                        ..SubOptions::default()
                    },
                    move |_| {
                        if g.load(Ordering::SeqCst) {
                            l.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(())
                    },
                )
                .unwrap();
            let stop = Arc::new(AtomicBool::new(false));
            let publisher = {
                let (t, stop) = (t.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut k = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let _ = t.publish_with(b"x", k % 13, Some(Duration::from_millis(1)));
                        k += 1;
                    }
                })
            };
            std::thread::sleep(Duration::from_micros(300));
            sub.unsubscribe().unwrap();
            gone.store(true, Ordering::SeqCst);
            std::thread::sleep(Duration::from_micros(300));
            stop.store(true, Ordering::Relaxed);
            publisher.join().unwrap();
            assert_eq!(
                late.load(Ordering::SeqCst),
                0,
                "round {round} (ordered {ordered_by_key}): a handler ran after unsubscribe returned"
            );
        }
    }
    mq.close(Duration::ZERO).unwrap();
}

/// A handler that unsubscribes its own subscription is not called for the
/// rest of its batch (it was called 15 more times).
#[test]
fn a_handler_that_unsubscribes_its_own_subscription_is_not_called_again() {
    for ordered_by_key in [false, true] {
        let mq = broker();
        let t = mq.create_topic("t", small(64)).unwrap();
        let calls = Arc::new(AtomicU64::new(0));
        let me = Arc::new(std::sync::OnceLock::<ringmq_core::PushSubscription>::new());
        let (c, m) = (calls.clone(), me.clone());
        let sub = t
            .subscribe(
                "self",
                SubOptions {
                    ordered_by_key,
                    ..SubOptions::default()
                },
                move |_| {
                    c.fetch_add(1, Ordering::SeqCst);
                    // Wait until the handle is stored, then unsubscribe it.
                    while m.get().is_none() {
                        std::thread::yield_now();
                    }
                    m.get().unwrap().unsubscribe().unwrap();
                    Ok(())
                },
            )
            .unwrap();
        // One batch's worth at once, all on one key.
        t.publish_batch(&[[7u8]; 32], 1, None).unwrap();
        me.set(sub.clone()).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "ordered {ordered_by_key}: called again after unsubscribing itself"
        );
        assert_eq!(sub.unsubscribe().unwrap_err().kind(), ErrorKind::Closed);
        mq.close(Duration::ZERO).unwrap();
    }
}

/// After close: unsubscribe answers Closed; ack, nack and term answer
/// Closed and change no counter (the holder only lets go); a bad tag answers
/// Closed too.
#[test]
fn calls_after_close_answer_closed_and_change_nothing() {
    let mq = broker();
    let t = mq.create_topic("t", small(8)).unwrap();
    let s = t.subscribe_pull("w", SubOptions::default()).unwrap();
    for i in 0..3u8 {
        t.publish(&[i]).unwrap();
    }
    let (a, b, c) = (poll1(&s), poll1(&s), poll1(&s));
    let bad_tag = c.tag() + 1000;
    mq.close(Duration::ZERO).unwrap();
    let before = s.stats();
    assert_eq!(a.ack().unwrap_err().kind(), ErrorKind::Closed);
    assert_eq!(b.nack(None).unwrap_err().kind(), ErrorKind::Closed);
    assert_eq!(c.in_progress().unwrap_err().kind(), ErrorKind::Closed);
    assert_eq!(c.data(), &[2], "in_progress after close lets nothing go");
    assert_eq!(c.term().unwrap_err().kind(), ErrorKind::Closed);
    // SAFETY: the tag was never handed out, so no Delivery has it.
    let bad = unsafe { s.ack_tag(bad_tag) };
    assert_eq!(bad.unwrap_err().kind(), ErrorKind::Closed);
    let after = s.stats();
    assert_eq!(
        (
            after.acked,
            after.nacked,
            after.termed,
            after.retried,
            after.dead_lettered
        ),
        (
            before.acked,
            before.nacked,
            before.termed,
            before.retried,
            before.dead_lettered
        )
    );
    assert_eq!(s.unsubscribe().unwrap_err().kind(), ErrorKind::Closed);
}
