//! A process made by fork() cannot use its parent's broker: every call
//! answers `Closed` at once (never a hang or a panic), dropping it leaks it,
//! and a broker of the child's own works.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;

/// The tests of this file fork; one at a time, so that no child is forked
/// while another test's threads are mid-way through something.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The address space this process uses now, in bytes.
fn vm_size() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmSize:"))?
                .split_whitespace()
                .nth(1)?
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kb| kb * 1024)
}
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
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
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

/// Memory that cannot be had is an error, not an abort: a child process
/// with a small address-space limit asks for a 4 GiB ring.
#[test]
fn a_topic_too_large_for_memory_is_refused_with_an_error() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // Room for the engine's small allocations, not for a 4 GiB ring.
    let room = vm_size() + (512 << 20);
    // SAFETY: the child only makes engine calls and `_exit`s; an alarm
    // ends it if anything hangs.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: alarm and setrlimit are plain system calls.
        unsafe { libc::alarm(10) };
        let limit = libc::rlimit {
            rlim_cur: room,
            rlim_max: room,
        };
        // SAFETY: as above; `limit` is a valid rlimit.
        let code = if unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) } != 0 {
            20
        } else {
            let mq = Broker::new(BrokerOptions::default()).unwrap();
            match mq.create_topic(
                "huge",
                ringmq_core::TopicOptions {
                    capacity: 1 << 22,
                    slot_size: 1024,
                    ..ringmq_core::TopicOptions::default()
                },
            ) {
                Err(e)
                    if e.kind() == ErrorKind::InvalidArgument && e.message().contains("memory") =>
                {
                    // Nothing changed: the name is free, a small topic works.
                    match mq.create_topic("huge", small(8)) {
                        Ok(_) => 0,
                        Err(_) => 22,
                    }
                }
                _ => 21,
            }
        };
        // SAFETY: ends the child without the parent's exit handlers.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waits for our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the child failed: status {status:#x} (exit {})",
        libc::WEXITSTATUS(status)
    );
}
