//! Interruptible waits: an interrupt ends a publish or poll wait promptly,
//! changes nothing, is not lost when it comes first, and never hangs.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::*;
use ringmq_core::{ErrorKind, Interrupt, Overflow, SubOptions, TopicOptions};

fn block(capacity: usize) -> TopicOptions {
    TopicOptions {
        overflow: Overflow::Block,
        ..small(capacity)
    }
}

/// Runs `wait` on a thread, interrupts it after 100 ms and returns its
/// answer and how long it took to answer after the interrupt.
fn interrupt_after<T: Send + 'static>(
    wait: impl FnOnce(&Interrupt) -> T + Send + 'static,
) -> (T, Duration) {
    let stop = Interrupt::new();
    let s2 = stop.clone();
    let h = std::thread::spawn(move || wait(&s2));
    std::thread::sleep(Duration::from_millis(100));
    assert!(!h.is_finished(), "the wait must still be waiting");
    let t0 = Instant::now();
    stop.interrupt();
    let r = h.join().unwrap();
    (r, t0.elapsed())
}

#[test]
fn interrupted_publish_into_a_full_topic_changes_nothing() {
    let mq = broker();
    let t = mq.create_topic("t", block(4)).unwrap();
    let s = t.subscribe_pull("s", SubOptions::default()).unwrap();
    for _ in 0..4 {
        t.publish(b"x").unwrap();
    }
    let before = t.stats();
    let t2 = t.clone();
    let (r, took) = interrupt_after(move |i| t2.publish_interruptible(b"y", 0, None, i));
    assert_eq!(r.unwrap_err().kind(), ErrorKind::Interrupted);
    assert!(took < Duration::from_millis(50), "took {took:?}");
    let t2 = t.clone();
    let (r, took) = interrupt_after(move |i| {
        t2.publish_batch_interruptible(&[b"a", b"b"], 0, Some(Duration::from_secs(30)), i)
    });
    assert_eq!(r.unwrap_err().kind(), ErrorKind::Interrupted);
    assert!(took < Duration::from_millis(50), "took {took:?}");
    let after = t.stats();
    assert_eq!(
        (
            after.published,
            after.timed_out,
            after.rejected,
            after.depth
        ),
        (
            before.published,
            before.timed_out,
            before.rejected,
            before.depth
        )
    );
    // Once reset, the same handle waits again, and room lets it through.
    let stop = Interrupt::new();
    stop.interrupt();
    stop.reset();
    poll1(&s).ack().unwrap();
    assert_eq!(
        t.publish_interruptible(b"z", 0, Some(Duration::from_secs(5)), &stop)
            .unwrap(),
        4
    );
}

#[test]
fn interrupted_poll_takes_nothing() {
    let mq = broker();
    let t = mq.create_topic("t", block(4)).unwrap();
    let s = t.subscribe_pull("s", SubOptions::default()).unwrap();
    let s2 = s.clone();
    let (r, took) = interrupt_after(move |i| s2.poll_interruptible(None, i));
    assert_eq!(r.unwrap_err().kind(), ErrorKind::Interrupted);
    assert!(took < Duration::from_millis(50), "took {took:?}");
    let s2 = s.clone();
    let (r, took) = interrupt_after(move |i| {
        let mut out = Vec::new();
        s2.poll_batch_interruptible(8, Some(Duration::from_secs(30)), i, &mut out)
            .map(|n| (n, out.len()))
    });
    assert_eq!(r.unwrap_err().kind(), ErrorKind::Interrupted);
    assert!(took < Duration::from_millis(50), "took {took:?}");
    let s2 = s.clone();
    let (r, _) = interrupt_after(move |i| s2.consume_interruptible(8, None, i, |_| Ok(())));
    assert_eq!(r.unwrap_err().kind(), ErrorKind::Interrupted);
    let st = s.stats();
    assert_eq!((st.delivered, st.acked, st.nacked), (0, 0, 0));
    // The subscription still works.
    t.publish(b"m").unwrap();
    assert_eq!(poll1(&s).data(), b"m");
}

#[test]
fn an_interrupt_before_the_wait_is_not_lost() {
    let mq = broker();
    let t = mq.create_topic("t", block(2)).unwrap();
    let s = t.subscribe_pull("s", SubOptions::default()).unwrap();
    let stop = Interrupt::new();
    stop.interrupt();
    let t0 = Instant::now();
    let e = s.poll_interruptible(None, &stop).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Interrupted);
    // A call that needs no wait completes: it does not look at the flag.
    t.publish_interruptible(b"a", 0, None, &stop).unwrap();
    t.publish_interruptible(b"b", 0, None, &stop).unwrap();
    let e = t.publish_interruptible(b"c", 0, None, &stop).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Interrupted);
    assert!(t0.elapsed() < Duration::from_secs(1));
    assert_eq!(
        s.poll_interruptible(None, &stop).unwrap().unwrap().data(),
        b"a"
    );
    assert_eq!(t.stats().timed_out, 0);
}

#[test]
fn a_deadline_still_ends_an_interruptible_wait() {
    let mq = broker();
    let t = mq.create_topic("t", block(2)).unwrap();
    let s = t.subscribe_pull("s", SubOptions::default()).unwrap();
    let stop = Interrupt::new();
    let t0 = Instant::now();
    assert!(s
        .poll_interruptible(Some(Duration::from_millis(50)), &stop)
        .unwrap()
        .is_none());
    assert!(t0.elapsed() >= Duration::from_millis(45));
}

/// Many waiters, some sharing a handle, interrupted at random moments
/// (before, during and after they start waiting): every one ends.
#[test]
fn interrupting_many_waiters_never_hangs() {
    let mq = broker();
    let t = mq.create_topic("t", block(2)).unwrap();
    let s = t.subscribe_pull("s", SubOptions::default()).unwrap();
    t.publish(b"x").unwrap();
    t.publish(b"y").unwrap();
    let s = {
        // Drain so that polls wait; the ring stays full for publishers as
        // the deliveries are held unsettled.
        let held: Vec<_> = (0..2).map(|_| poll1(&s)).collect();
        std::mem::forget(held);
        s
    };
    let rounds = if cfg!(debug_assertions) { 300 } else { 2000 };
    let failed = Arc::new(AtomicBool::new(false));
    for round in 0..rounds {
        let shared = Interrupt::new();
        let own: Vec<Interrupt> = (0..4).map(|_| Interrupt::new()).collect();
        let start = Arc::new(Barrier::new(5));
        let mut hs = Vec::new();
        for (k, own) in own.iter().enumerate() {
            let (t, s, shared, own, start) = (
                t.clone(),
                s.clone(),
                shared.clone(),
                own.clone(),
                start.clone(),
            );
            hs.push(std::thread::spawn(move || {
                start.wait();
                let i = if k % 2 == 0 { &shared } else { &own };
                let kind = if k < 2 {
                    t.publish_interruptible(b"z", 0, None, i)
                        .unwrap_err()
                        .kind()
                } else {
                    s.poll_interruptible(None, i).unwrap_err().kind()
                };
                assert_eq!(kind, ErrorKind::Interrupted);
            }));
        }
        start.wait();
        if round % 3 == 1 {
            std::thread::yield_now();
        } else if round % 3 == 2 {
            std::thread::sleep(Duration::from_micros(200));
        }
        shared.interrupt();
        for o in &own {
            o.interrupt();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for h in hs {
            while !h.is_finished() {
                if Instant::now() > deadline {
                    failed.store(true, Ordering::Relaxed);
                    panic!("round {round}: a waiter missed its interrupt");
                }
                std::thread::sleep(Duration::from_micros(100));
            }
            h.join().unwrap();
        }
    }
    assert!(!failed.load(Ordering::Relaxed));
    assert_eq!(t.stats().timed_out, 0);
}

#[test]
fn a_zero_timeout_answers_timeout_even_when_interrupted() {
    let mq = broker();
    let t = mq.create_topic("t", block(2)).unwrap();
    let s = t.subscribe_pull("s", SubOptions::default()).unwrap();
    let stop = Interrupt::new();
    stop.interrupt();
    assert!(s
        .poll_interruptible(Some(Duration::ZERO), &stop)
        .unwrap()
        .is_none());
    t.publish(b"a").unwrap();
    t.publish(b"b").unwrap();
    let e = t
        .publish_interruptible(b"c", 0, Some(Duration::ZERO), &stop)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    assert_eq!(t.stats().timed_out, 1);
}

#[test]
fn an_interrupt_cuts_the_drain_of_close_short_and_counts_what_is_left() {
    let mq = broker();
    let t = mq.create_topic("t", small(16)).unwrap();
    // A pull subscription nobody polls: the drain would wait its whole
    // minute for these three.
    let _s = t.subscribe_pull("idle", SubOptions::default()).unwrap();
    for _ in 0..3 {
        t.publish(b"x").unwrap();
    }
    let mq2 = mq.clone();
    let (r, took) = interrupt_after(move |i| mq2.close_interruptible(Duration::from_secs(60), i));
    let report = r.unwrap();
    assert!(took < Duration::from_millis(500), "took {took:?}");
    assert!(report.timed_out);
    assert_eq!(report.undelivered, 3);
    assert!(mq.is_closed());
    assert_eq!(t.publish(b"y").unwrap_err().kind(), ErrorKind::Closed);
}

#[test]
fn an_interrupt_set_before_close_skips_the_drain() {
    let mq = broker();
    let t = mq.create_topic("t", small(16)).unwrap();
    let _s = t.subscribe_pull("idle", SubOptions::default()).unwrap();
    t.publish(b"x").unwrap();
    let stop = Interrupt::new();
    stop.interrupt();
    let t0 = Instant::now();
    let report = mq
        .close_interruptible(Duration::from_secs(60), &stop)
        .unwrap();
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert!(report.timed_out);
    assert_eq!(report.undelivered, 1);
}
