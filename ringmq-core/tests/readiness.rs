//! The readiness descriptor (`PullSubscription::readiness_fd`) and `wake`:
//! the descriptor is readable exactly when a poll may take something, for
//! every way something becomes takeable (a publish, a retry or delayed
//! message falling due, an ack timeout, a settle that gives back a credit,
//! a resume, a close); no wake-up is lost under many threads; and each
//! `wake` ends exactly one blocked poll, taking nothing.

mod common;

use std::collections::HashSet;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use ringmq_core::{ErrorKind, PublishOptions, SubOptions, TopicOptions};

/// Is `fd` readable within `ms` milliseconds? (poll(2), as an event loop.)
fn readable(fd: RawFd, ms: i32) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call.
    let n = unsafe { libc::poll(&mut p, 1, ms) };
    assert!(n >= 0, "poll: {}", std::io::Error::last_os_error());
    n == 1
}

const ZERO: Option<Duration> = Some(Duration::ZERO);

#[test]
fn readable_at_first_cleared_by_an_empty_poll_and_set_by_a_publish() {
    let mq = broker();
    let t = mq.create_topic("t", small(16)).unwrap();
    let s = t.subscribe_pull("s", SubOptions::default()).unwrap();
    let fd = s.readiness_fd().unwrap();
    assert_eq!(
        s.readiness_fd().unwrap(),
        fd,
        "one descriptor per subscription"
    );
    assert_eq!(s.clone().readiness_fd().unwrap(), fd, "clones share it");
    assert!(readable(fd, 100), "readable at first");
    assert!(s.poll(ZERO).unwrap().is_none());
    assert!(!readable(fd, 50), "an empty poll clears it");
    t.publish(b"a").unwrap();
    t.publish(b"b").unwrap();
    assert!(readable(fd, 1000), "a publish sets it");
    s.poll(ZERO).unwrap().unwrap().ack().unwrap();
    assert!(readable(fd, 0), "a poll that took something leaves it set");
    s.poll(ZERO).unwrap().unwrap().ack().unwrap();
    assert!(s.poll(ZERO).unwrap().is_none());
    assert!(!readable(fd, 50));
    // A poll that waits and times out re-arms it too.
    assert!(s.poll(Some(Duration::from_millis(10))).unwrap().is_none());
    assert!(!readable(fd, 20));
    mq.close(Duration::ZERO).unwrap();
}

#[test]
fn a_retry_falling_due_sets_it() {
    let mq = broker();
    let t = mq.create_topic("t", small(16)).unwrap();
    let s = t.subscribe_pull("s", SubOptions::default()).unwrap();
    let fd = s.readiness_fd().unwrap();
    t.publish(b"x").unwrap();
    let d = poll1(&s);
    d.nack(Some(Duration::from_millis(200))).unwrap();
    let start = Instant::now();
    assert!(s.poll(ZERO).unwrap().is_none());
    assert!(!readable(fd, 100), "not before the retry is due");
    assert!(readable(fd, 3000), "the due retry sets it");
    assert!(start.elapsed() >= Duration::from_millis(150));
    // The coarse clock may lag the timer by a tick: what a poll finds in
    // that tick re-arms it for a millisecond later.
    let d = loop {
        if let Some(d) = s.poll(ZERO).unwrap() {
            break d;
        }
        assert!(readable(fd, 3000));
    };
    assert_eq!((d.data(), d.attempt()), (&b"x"[..], 2));
    d.ack().unwrap();
    mq.close(Duration::ZERO).unwrap();
}

#[test]
fn an_ack_timeout_and_a_delayed_message_set_it() {
    let mq = broker();
    let t = mq
        .create_topic(
            "t",
            TopicOptions {
                ack_timeout: Duration::from_millis(100),
                ..small(16)
            },
        )
        .unwrap();
    let s = t.subscribe_pull("s", SubOptions::default()).unwrap();
    let fd = s.readiness_fd().unwrap();
    t.publish(b"held").unwrap();
    let held = poll1(&s);
    assert!(s.poll(ZERO).unwrap().is_none());
    assert!(readable(fd, 3000), "the ack timeout sets it");
    let again = loop {
        if let Some(d) = s.poll(ZERO).unwrap() {
            break d;
        }
        assert!(readable(fd, 3000));
    };
    assert_eq!((again.data(), again.attempt()), (&b"held"[..], 2));
    again.ack().unwrap();
    drop(held);

    let opts = PublishOptions {
        delay: Some(Duration::from_millis(150)),
        ..PublishOptions::keyed(0, ZERO)
    };
    t.publish_opts(b"later", &opts).unwrap();
    while s.poll(ZERO).unwrap().is_some() {}
    assert!(!readable(fd, 50), "not before the delay");
    assert!(readable(fd, 3000), "the delay's end sets it");
    let d = loop {
        if let Some(d) = s.poll(ZERO).unwrap() {
            break d;
        }
        assert!(readable(fd, 3000));
    };
    assert_eq!(d.data(), b"later");
    d.ack().unwrap();
    mq.close(Duration::ZERO).unwrap();
}

#[test]
fn a_returned_credit_and_a_resume_set_it() {
    let mq = broker();
    // One store entry: one delivery out at a time (each reserves one).
    let t = mq
        .create_topic(
            "t",
            TopicOptions {
                retry_capacity: 1,
                ..small(16)
            },
        )
        .unwrap();
    let s = t.subscribe_pull("s", SubOptions::default()).unwrap();
    let fd = s.readiness_fd().unwrap();
    t.publish(b"1").unwrap();
    t.publish(b"2").unwrap();
    let first = poll1(&s);
    assert!(s.poll(ZERO).unwrap().is_none(), "no credit for the second");
    assert!(!readable(fd, 50));
    first.ack().unwrap();
    assert!(readable(fd, 1000), "the ack gave back the credit");
    poll1(&s).ack().unwrap();

    s.pause().unwrap();
    t.publish(b"3").unwrap();
    assert!(s.poll(ZERO).unwrap().is_none());
    assert!(!readable(fd, 50), "paused: nothing to take");
    s.resume().unwrap();
    assert!(readable(fd, 1000), "the resume sets it");
    poll1(&s).ack().unwrap();
    mq.close(Duration::ZERO).unwrap();
}

#[test]
fn a_close_sets_it_and_a_closed_subscription_has_none() {
    let mq = broker();
    let t = mq.create_topic("t", small(16)).unwrap();
    let s = t.subscribe_pull("s", SubOptions::default()).unwrap();
    let fd = s.readiness_fd().unwrap();
    assert!(s.poll(ZERO).unwrap().is_none());
    assert!(!readable(fd, 20));
    s.unsubscribe().unwrap();
    assert!(readable(fd, 1000), "the close sets it");
    assert_eq!(s.poll(ZERO).unwrap_err().kind(), ErrorKind::Closed);
    assert_eq!(s.readiness_fd().unwrap_err().kind(), ErrorKind::Closed);

    let s2 = t.subscribe_pull("s2", SubOptions::default()).unwrap();
    let fd2 = s2.readiness_fd().unwrap();
    assert!(s2.poll(ZERO).unwrap().is_none());
    mq.close(Duration::ZERO).unwrap();
    assert!(readable(fd2, 1000), "the broker's close sets it");
    assert_eq!(s2.poll(ZERO).unwrap_err().kind(), ErrorKind::Closed);
}

/// Event-loop consumers (poll(2) on the descriptor, then polls without
/// waiting until one takes nothing) against several producers: every
/// message is taken exactly once, and no consumer ever waits on the
/// descriptor past a bound while messages are there (a lost wake-up would).
#[test]
fn event_loop_consumers_lose_no_wake_up() {
    const PRODUCERS: u32 = 3;
    const PER: u64 = 20_000;
    let mq = broker();
    let t = mq.create_topic("t", small(64)).unwrap();
    let s = t.subscribe_pull("s", SubOptions::default()).unwrap();
    let fd = s.readiness_fd().unwrap();
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let taken = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let lost = Arc::new(AtomicU64::new(0));
    let consumers: Vec<_> = (0..2)
        .map(|_| {
            let (s, seen, taken, done) = (s.clone(), seen.clone(), taken.clone(), done.clone());
            let lost = lost.clone();
            std::thread::spawn(move || {
                let mut batch = Vec::new();
                'consumer: while !done.load(Ordering::SeqCst) {
                    // 10 s without the descriptor firing while messages
                    // wait is a lost wake-up.
                    if !readable(fd, 5_000) {
                        let lag = s.stats().lag;
                        if lag > 0 {
                            lost.store(lag, Ordering::SeqCst);
                            break;
                        }
                        continue;
                    }
                    loop {
                        batch.clear();
                        let n = match s.poll_batch(32, ZERO, &mut batch) {
                            Ok(n) => n,
                            // The close below: the descriptor fired for it.
                            Err(e) if e.kind() == ErrorKind::Closed => break 'consumer,
                            Err(e) => panic!("{e}"),
                        };
                        if n == 0 {
                            break;
                        }
                        let mut seen = seen.lock().unwrap();
                        for d in batch.drain(..) {
                            assert!(seen.insert(decode(d.data())), "taken twice");
                            d.ack().unwrap();
                        }
                        taken.fetch_add(n as u64, Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let t = t.clone();
            std::thread::spawn(move || {
                for n in 0..PER {
                    t.publish_with(&encode(p, n), 0, None).unwrap();
                    if n % 1000 == 0 {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            })
        })
        .collect();
    let total = u64::from(PRODUCERS) * PER;
    let start = Instant::now();
    while taken.load(Ordering::SeqCst) < total {
        let lost = lost.load(Ordering::SeqCst);
        if lost > 0 || start.elapsed() > Duration::from_secs(60) {
            // Close first, so that no thread is left waiting (a blocked
            // producer answers Closed).
            mq.close(Duration::ZERO).unwrap();
            panic!("the descriptor did not fire with {lost} messages waiting");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    for p in producers {
        p.join().unwrap();
    }
    done.store(true, Ordering::SeqCst);
    // The consumers are parked on the descriptor: a wake of consumers
    // (here, the close) ends their waits.
    mq.close(Duration::ZERO).unwrap();
    for c in consumers {
        c.join().unwrap();
    }
    assert_eq!(seen.lock().unwrap().len() as u64, total);
}

#[test]
fn wake_ends_a_blocked_poll_having_taken_nothing() {
    let mq = broker();
    let t = mq.create_topic("t", small(16)).unwrap();
    let s = t.subscribe_pull("s", SubOptions::default()).unwrap();
    let s2 = s.clone();
    let h = std::thread::spawn(move || s2.poll(Some(Duration::from_secs(30))));
    std::thread::sleep(Duration::from_millis(100));
    assert!(!h.is_finished());
    let t0 = Instant::now();
    s.wake();
    let r = h.join().unwrap();
    assert_eq!(r.unwrap_err().kind(), ErrorKind::Interrupted);
    assert!(t0.elapsed() < Duration::from_millis(500));
    // Nothing pending: a later poll waits again (to its deadline).
    assert!(s.poll(Some(Duration::from_millis(20))).unwrap().is_none());
    mq.close(Duration::ZERO).unwrap();
}

#[test]
fn a_wake_before_the_poll_ends_the_next_blocking_one_only() {
    let mq = broker();
    let t = mq.create_topic("t", small(16)).unwrap();
    let s = t.subscribe_pull("s", SubOptions::default()).unwrap();
    s.wake();
    // A poll that finds a message does not consume the wake...
    t.publish(b"m").unwrap();
    poll1(&s).ack().unwrap();
    // ... nor one that does not wait.
    assert!(s.poll(ZERO).unwrap().is_none());
    // The next poll that would block ends at once.
    let t0 = Instant::now();
    let r = s.poll(Some(Duration::from_secs(30)));
    assert_eq!(r.unwrap_err().kind(), ErrorKind::Interrupted);
    assert!(t0.elapsed() < Duration::from_secs(5));
    // It was consumed: the next one waits to its deadline.
    let t0 = Instant::now();
    assert!(s.poll(Some(Duration::from_millis(50))).unwrap().is_none());
    assert!(t0.elapsed() >= Duration::from_millis(40));
    // consume and poll_batch end the same way.
    s.wake();
    let r = s.consume(8, Some(Duration::from_secs(30)), |_| Ok(()));
    assert_eq!(r.unwrap_err().kind(), ErrorKind::Interrupted);
    s.wake();
    let r = s.poll_batch(8, Some(Duration::from_secs(30)), &mut Vec::new());
    assert_eq!(r.unwrap_err().kind(), ErrorKind::Interrupted);
    mq.close(Duration::ZERO).unwrap();
}

#[test]
fn each_wake_ends_one_of_many_blocked_polls() {
    const THREADS: usize = 6;
    let mq = broker();
    let t = mq.create_topic("t", small(16)).unwrap();
    let s = t.subscribe_pull("s", SubOptions::default()).unwrap();
    let ended = Arc::new(AtomicU64::new(0));
    let hs: Vec<_> = (0..THREADS)
        .map(|_| {
            let (s, ended) = (s.clone(), ended.clone());
            std::thread::spawn(move || {
                let r = s.poll(Some(Duration::from_secs(60)));
                ended.fetch_add(1, Ordering::SeqCst);
                r
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    for woken in 1..=THREADS as u64 {
        s.wake();
        let start = Instant::now();
        while ended.load(Ordering::SeqCst) < woken {
            assert!(start.elapsed() < Duration::from_secs(10), "a wake was lost");
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(ended.load(Ordering::SeqCst), woken, "one wake, one poll");
    }
    for h in hs {
        assert_eq!(
            h.join().unwrap().unwrap_err().kind(),
            ErrorKind::Interrupted
        );
    }
    // Nothing taken: the message published now is there for a poll.
    t.publish(b"after").unwrap();
    assert_eq!(poll1(&s).data(), b"after");
    mq.close(Duration::ZERO).unwrap();
}
