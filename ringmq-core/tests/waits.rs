//! Every wait ends by its deadline, and nothing spins while it waits.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use ringmq_core::{HandlerError, Overflow, SubOptions, TopicOptions};

/// CPU time (user + system) of the whole process, in nanoseconds.
fn process_cpu_ns() -> u64 {
    // SAFETY: rusage is plain integers, for which all zeroes is valid.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage only writes the struct it is given.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    assert_eq!(rc, 0);
    let ns = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1_000;
    ns(ru.ru_utime) + ns(ru.ru_stime)
}

/// CPU time of the calling thread, in nanoseconds (Linux).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// A poll that can take nothing (every credit held by unsettled deliveries)
/// must wait out its timeout parked, then answer None: a lossy subscription
/// with its retry store full used to spin for ever.
#[test]
fn lossy_poll_with_every_credit_held_ends_by_its_deadline_without_spinning() {
    let mq = broker();
    for overflow in [Overflow::Block, Overflow::DropOldest] {
        let name = format!("t-{}", overflow.as_str());
        let t = mq
            .create_topic(
                &name,
                TopicOptions {
                    overflow,
                    ..small(4)
                },
            )
            .unwrap();
        let s = t
            .subscribe_pull(
                "dash",
                SubOptions {
                    lossy: true,
                    ..SubOptions::default()
                },
            )
            .unwrap();
        for i in 0..4u8 {
            t.publish(&[i]).unwrap();
        }
        let mut held = Vec::new();
        assert_eq!(s.poll_batch(4, Some(Duration::ZERO), &mut held).unwrap(), 4);
        t.publish(b"one more").unwrap();
        let (t0, cpu0) = (Instant::now(), thread_cpu_ns());
        let got = s.poll(Some(Duration::from_millis(100))).unwrap();
        let (waited, cpu) = (t0.elapsed(), thread_cpu_ns() - cpu0);
        assert!(got.is_none(), "{overflow:?}: no credit, nothing to take");
        assert!(
            waited >= Duration::from_millis(90) && waited < Duration::from_secs(2),
            "{overflow:?}: the poll ended after {waited:?}"
        );
        assert!(
            cpu < 50_000_000,
            "{overflow:?}: the poll burnt {} ms of CPU in {waited:?}",
            cpu / 1_000_000
        );
        // Settling one gives the credit back: the waiting message flows.
        held.pop().unwrap().ack().unwrap();
        let d = s
            .poll(Some(Duration::from_secs(1)))
            .unwrap()
            .expect("a message");
        assert_eq!(d.data(), b"one more");
    }
    mq.close(Duration::ZERO).unwrap();
}

/// A lossy push subscription whose failed messages wait out a 2 s retry
/// delay, with its retry store full, has nothing to run: no pool worker may
/// spin on it. The process's CPU over 1 s of that waiting stays far under
/// the wall time.
#[test]
fn lossy_push_waiting_for_retries_keeps_no_worker_spinning() {
    let mq = broker();
    let t = mq
        .create_topic(
            "retrying",
            TopicOptions {
                retry_capacity: 1,
                max_attempts: 100,
                ..small(8)
            },
        )
        .unwrap();
    let calls = Arc::new(AtomicU64::new(0));
    let c2 = calls.clone();
    let sub = t
        .subscribe(
            "flaky",
            SubOptions {
                lossy: true,
                concurrency: 2,
                ..SubOptions::default()
            },
            move |_| {
                c2.fetch_add(1, Ordering::SeqCst);
                Err(HandlerError::retry_after(Duration::from_secs(2)))
            },
        )
        .unwrap();
    for i in 0..4u8 {
        t.publish(&[i]).unwrap();
    }
    // The first failure fills the one-place retry store; the rest wait.
    let t0 = Instant::now();
    while sub.stats().nacked == 0 {
        assert!(t0.elapsed() < Duration::from_secs(5), "no handler failure");
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(50));
    let st = sub.stats();
    assert!(st.waiting_retry >= 1, "a failed message waits: {st:?}");
    let (w0, cpu0) = (Instant::now(), process_cpu_ns());
    std::thread::sleep(Duration::from_secs(1));
    let (wall, cpu) = (w0.elapsed(), process_cpu_ns() - cpu0);
    assert!(
        cpu < 300_000_000,
        "the process burnt {} ms of CPU in {wall:?} while the retry waited ({} handler calls)",
        cpu / 1_000_000,
        calls.load(Ordering::SeqCst)
    );
    assert!(
        w0.duration_since(t0) < Duration::from_secs(2),
        "the measurement ran past the retry delay"
    );
    sub.unsubscribe().unwrap();
    mq.close(Duration::ZERO).unwrap();
}
