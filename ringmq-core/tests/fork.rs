//! A process made by fork() cannot use its parent's broker: every call
//! answers `Closed` at once (never a hang or a panic), dropping it leaks it,
//! and a broker of the child's own works.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use ringmq_core::{Broker, BrokerOptions, ErrorKind, SubOptions};

/// What the child checks; its exit code says which check failed (0: all).
fn child(mq: Broker, t: ringmq_core::Topic, pull: ringmq_core::PullSubscription) -> i32 {
    let closed = |r: ringmq_core::Result<()>| matches!(r, Err(e) if e.kind() == ErrorKind::Closed);
    if !closed(t.publish(b"from the child").map(|_| ())) {
        return 10;
    }
    if !closed(pull.poll(Some(Duration::from_secs(5))).map(|_| ())) {
        return 11;
    }
    if !closed(mq.create_topic("child", small(8)).map(|_| ())) {
        return 12;
    }
    if !closed(mq.close(Duration::from_secs(5)).map(|_| ())) {
        return 13;
    }
    let _ = t.stats();
    let _ = pull.stats();
    let _ = mq.metrics_text();
    drop((pull, t, mq));
    // A broker of its own works.
    let own = Broker::new(BrokerOptions::default()).unwrap();
    let t = own.create_topic("mine", small(8)).unwrap();
    let s = t.subscribe_pull("g", SubOptions::default()).unwrap();
    t.publish(b"hello").unwrap();
    match s.poll(Some(Duration::from_secs(5))) {
        Ok(Some(d)) if d.data() == b"hello" => d.ack().unwrap(),
        _ => return 14,
    }
    if own.close(Duration::from_secs(5)).is_err() {
        return 15;
    }
    0
}

#[test]
fn a_forked_child_gets_closed_from_its_parents_broker_and_works_with_its_own() {
    let mq = broker();
    let t = mq.create_topic("t", small(64)).unwrap();
    let pull = t.subscribe_pull("audit", SubOptions::default()).unwrap();
    t.subscribe("busy", SubOptions::default(), |_| Ok(()))
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    // Load while forking: producers, the pool, a poller holding locks.
    let load: Vec<_> = (0..2)
        .map(|_| {
            let (t, pull, stop) = (t.clone(), pull.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let _ = t.publish_with(b"load", 1, Some(Duration::from_millis(1)));
                    if let Ok(Some(d)) = pull.poll(Some(Duration::ZERO)) {
                        let _ = d.ack();
                    }
                }
            })
        })
        .collect();
    for round in 0..10 {
        // SAFETY: the child only runs `child` (engine calls that must not
        // block, which is the point) and then `_exit`; an alarm ends it if
        // anything hangs.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            // SAFETY: alarm and _exit are async-signal-safe.
            unsafe { libc::alarm(10) };
            let code = child(mq.clone(), t.clone(), pull.clone());
            // SAFETY: ends the child without running the parent's exit
            // handlers or test harness.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY: waits for our own child.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "round {round}: the child failed: status {status:#x} (exit {}, signal {})",
            libc::WEXITSTATUS(status),
            libc::WTERMSIG(status)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, Ordering::Relaxed);
    for h in load {
        h.join().unwrap();
    }
    mq.close(Duration::from_secs(1)).unwrap();
}
