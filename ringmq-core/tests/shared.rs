//! One broker shared by name across threads: `BrokerOptions::name` registers
//! it process-wide, `Broker::open(name)` hands out more handles to the same
//! engine, and the engine stops when its last handle is closed or dropped,
//! which frees the name.
//!
//! The registry is process-wide and the tests of this file run in parallel:
//! each uses names of its own.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use common::*;
use ringmq_core::{Broker, BrokerOptions, ErrorKind, SubOptions, MAX_NAME_LEN};

fn named(name: &str) -> BrokerOptions {
    BrokerOptions {
        name: Some(name.to_owned()),
        workers_min: 1,
        workers_max: 4,
        ..BrokerOptions::default()
    }
}

fn kind<T: std::fmt::Debug>(r: ringmq_core::Result<T>) -> ErrorKind {
    r.expect_err("an error").kind()
}

#[test]
fn threads_that_open_the_broker_by_name_share_its_topics_and_each_message_goes_once() {
    const PRODUCERS: u32 = 4;
    const CONSUMERS: usize = 3;
    const PER: u64 = 5_000;
    let mq = Broker::new(named("shared-many")).unwrap();
    assert_eq!(mq.name(), Some("shared-many"));
    let t = mq.create_topic("t", small(256)).unwrap();
    t.subscribe_pull("g", SubOptions::default()).unwrap();
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let total = PRODUCERS as u64 * PER;
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|_| {
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mq = Broker::open("shared-many").unwrap();
                let sub = mq.topic("t").unwrap().pull_subscription("g").unwrap();
                let mut mine = 0u64;
                loop {
                    if seen.lock().unwrap().len() as u64 == total {
                        break;
                    }
                    if let Some(d) = sub.poll(Some(Duration::from_millis(20))).unwrap() {
                        assert!(
                            seen.lock().unwrap().insert(d.data().to_vec()),
                            "a message came twice"
                        );
                        d.ack().unwrap();
                        mine += 1;
                    }
                }
                let r = mq.close(Duration::from_secs(5)).unwrap();
                assert!(r.handles_left > 0, "the creator's handle is still open");
                mine
            })
        })
        .collect();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            std::thread::spawn(move || {
                let mq = Broker::open("shared-many").unwrap();
                let t = mq.topic("t").unwrap();
                for n in 0..PER {
                    t.publish_with(&encode(p, n), 0, Some(Duration::from_secs(10)))
                        .unwrap();
                }
                // Dropped, not closed: that releases the handle too.
            })
        })
        .collect();
    for h in producers {
        h.join().unwrap();
    }
    let got: u64 = consumers.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(got, total);
    let seen = seen.lock().unwrap();
    for p in 0..PRODUCERS {
        for n in 0..PER {
            assert!(seen.contains(&encode(p, n)[..]), "lost {p}/{n}");
        }
    }
    assert_eq!(mq.handles(), 1, "every other handle was released");
    let r = mq.close(Duration::from_secs(5)).unwrap();
    assert_eq!((r.handles_left, r.undelivered), (0, 0));
    assert_eq!(kind(Broker::open("shared-many")), ErrorKind::NotFound);
}

#[test]
fn the_engine_stops_when_its_last_handle_is_closed_and_not_before() {
    let a = Broker::new(named("shared-last")).unwrap();
    let t = a.create_topic("t", small(16)).unwrap();
    let pull = t.subscribe_pull("g", SubOptions::default()).unwrap();
    let b = Broker::open("shared-last").unwrap();
    assert_eq!((a.handles(), b.handles()), (2, 2));
    assert_eq!(b.name(), Some("shared-last"));

    // Closing one handle of two releases it and nothing else.
    let r = a.close(Duration::from_secs(5)).unwrap();
    assert_eq!(r.handles_left, 1);
    assert!(a.is_closed() && !b.is_closed());
    assert_eq!(kind(a.create_topic("u", small(8))), ErrorKind::Closed);
    assert_eq!(kind(a.topic("t")), ErrorKind::Closed);
    // Again: the same answer; a clone is the same handle.
    assert_eq!(a.clone().close(Duration::ZERO).unwrap(), r);
    assert_eq!(b.handles(), 1);
    // What was taken through the released handle goes on.
    t.publish(b"one").unwrap();
    b.topic("t").unwrap().publish(b"two").unwrap();
    for want in [&b"one"[..], b"two"] {
        let d = poll1(&pull);
        assert_eq!(d.data(), want);
        d.ack().unwrap();
    }
    // A handle opened and dropped in between changes nothing.
    drop(Broker::open("shared-last").unwrap());
    assert_eq!(b.handles(), 1);
    t.publish(b"three").unwrap();

    // The last close drains and stops the engine.
    let r = b.close(Duration::from_millis(200)).unwrap();
    assert_eq!(r.handles_left, 0);
    assert_eq!(r.undelivered, 1, "'three' was never polled");
    assert_eq!(r.left, vec![("t".to_owned(), "g".to_owned(), 1)]);
    assert!(b.is_closed());
    assert_eq!(kind(t.publish(b"four")), ErrorKind::Closed);
    assert_eq!(b.close(Duration::ZERO).unwrap(), r);
    assert_eq!(
        a.close(Duration::ZERO).unwrap().handles_left,
        1,
        "a's own answer"
    );
    assert_eq!(kind(Broker::open("shared-last")), ErrorKind::NotFound);
}

#[test]
fn dropping_the_last_handle_stops_the_engine_whichever_thread_holds_it() {
    let a = Broker::new(named("shared-drop")).unwrap();
    let t = a.create_topic("t", small(16)).unwrap();
    let b = std::thread::spawn(|| Broker::open("shared-drop").unwrap())
        .join()
        .unwrap();
    drop(a);
    t.publish(b"still open").unwrap();
    std::thread::spawn(move || drop(b)).join().unwrap();
    assert_eq!(kind(t.publish(b"closed")), ErrorKind::Closed);
    assert_eq!(kind(Broker::open("shared-drop")), ErrorKind::NotFound);
}

#[test]
fn the_name_is_free_again_once_the_broker_has_stopped() {
    for round in 0..20 {
        let a = Broker::new(named("shared-reuse")).unwrap();
        a.create_topic("t", small(8)).unwrap();
        let b = Broker::open("shared-reuse").unwrap();
        // The new broker is a new engine: no topic of the old one.
        assert_eq!(b.topic_names(), vec!["t", "t.dlq"], "round {round}");
        if round % 2 == 0 {
            a.close(Duration::ZERO).unwrap();
            b.close(Duration::ZERO).unwrap();
        } else {
            drop((b, a));
        }
    }
}

#[test]
fn a_name_in_use_is_refused_and_the_refusal_changes_nothing() {
    let dir = std::env::temp_dir().join(format!("ringmq-shared-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let a = Broker::new(named("shared-taken")).unwrap();
    a.create_topic("t", small(8)).unwrap();
    let e = Broker::new(BrokerOptions {
        data_dir: Some(dir.clone()),
        ..named("shared-taken")
    })
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Exists);
    assert!(e.message().contains("\"shared-taken\""), "{e}");
    // The data directory was not taken (nor made), and the first broker
    // is the one its name opens.
    assert!(!dir.exists());
    assert_eq!(
        Broker::open("shared-taken").unwrap().topic_names(),
        vec!["t", "t.dlq"]
    );
    assert_eq!(a.handles(), 1);
    a.close(Duration::ZERO).unwrap();
}

#[test]
fn bad_names_are_refused_by_new_and_open() {
    let long = "n".repeat(MAX_NAME_LEN + 1);
    for bad in ["", long.as_str(), "nul\0inside", "new\nline"] {
        let e = Broker::new(named(bad)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{bad:?}");
        assert!(e.message().starts_with("broker name"), "{e}");
        assert_eq!(
            kind(Broker::open(bad)),
            ErrorKind::InvalidArgument,
            "{bad:?}"
        );
    }
    // The longest name is fine, and no name at all is a broker of its own.
    let longest = "m".repeat(MAX_NAME_LEN);
    let mq = Broker::new(named(&longest)).unwrap();
    assert!(Broker::open(&longest).is_ok());
    mq.close(Duration::ZERO).unwrap();
    let anon = broker();
    assert_eq!(anon.name(), None);
    assert_eq!(anon.handles(), 1);
    assert_eq!(anon.close(Duration::ZERO).unwrap().handles_left, 0);
    assert_eq!(kind(Broker::open("never-made")), ErrorKind::NotFound);
}

#[test]
fn of_threads_creating_the_same_name_at_once_exactly_one_wins() {
    const THREADS: usize = 8;
    for round in 0..20 {
        let start = Arc::new(Barrier::new(THREADS));
        let results: Vec<_> = (0..THREADS)
            .map(|_| {
                let start = start.clone();
                std::thread::spawn(move || {
                    start.wait();
                    Broker::new(named("shared-race"))
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect();
        let (won, lost): (Vec<_>, Vec<_>) = results.into_iter().partition(|r| r.is_ok());
        assert_eq!(won.len(), 1, "round {round}");
        for r in lost {
            assert_eq!(kind(r), ErrorKind::Exists, "round {round}");
        }
        let mq = won.into_iter().next().unwrap().unwrap();
        assert_eq!(mq.handles(), 1);
        mq.close(Duration::ZERO).unwrap();
    }
}

#[test]
fn a_broker_that_is_closing_hands_out_no_handle_and_keeps_its_name_until_stopped() {
    let a = Broker::new(named("shared-closing")).unwrap();
    let t = a.create_topic("t", small(8)).unwrap();
    let pull = t.subscribe_pull("g", SubOptions::default()).unwrap();
    t.publish(b"never polled").unwrap();
    // The drain waits for it for 2 s.
    let closing = {
        let a = a.clone();
        std::thread::spawn(move || a.close(Duration::from_secs(2)).unwrap())
    };
    while a.handles() > 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let e = Broker::open("shared-closing").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Closed, "{e}");
    assert!(e.message().contains("closing"), "{e}");
    let e = Broker::new(named("shared-closing")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Exists, "{e}");
    assert!(e.message().contains("closing"), "{e}");
    // Consuming ends the drain early; then the name is free.
    poll1(&pull).ack().unwrap();
    let r = closing.join().unwrap();
    assert_eq!((r.undelivered, r.timed_out), (0, false));
    Broker::new(named("shared-closing"))
        .unwrap()
        .close(Duration::ZERO)
        .unwrap();
}

/// A forked child is never handed the parent's broker, even when a thread
/// of the parent held the registry's lock at the fork: `open` answers at
/// once, and the child may create a broker of that name of its own.
#[test]
fn a_forked_child_is_not_handed_the_parents_broker() {
    let mq = Broker::new(named("shared-fork")).unwrap();
    let t = mq.create_topic("t", small(8)).unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Keeps the registry's lock busy while forking.
    let churn = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                drop(Broker::open("shared-fork").unwrap());
                let _ = Broker::open("shared-fork-absent");
            }
        })
    };
    for round in 0..10 {
        // SAFETY: the child makes engine calls that must not block (the
        // point of the test) and `_exit`s; an alarm ends it if one hangs.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            // SAFETY: alarm and _exit are async-signal-safe.
            unsafe { libc::alarm(10) };
            let code = (|| {
                match Broker::open("shared-fork") {
                    Err(e) if e.kind() == ErrorKind::Closed => {
                        if !e.message().contains("parent process") {
                            return 10;
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    _ => return 11,
                }
                if !matches!(t.publish(b"child"), Err(e) if e.kind() == ErrorKind::Closed) {
                    return 12;
                }
                // A broker of the child's own, under the same name.
                let own = match Broker::new(named("shared-fork")) {
                    Ok(b) => b,
                    Err(_) => return 13,
                };
                let again = match Broker::open("shared-fork") {
                    Ok(b) => b,
                    Err(_) => return 14,
                };
                if again.create_topic("mine", small(8)).is_err()
                    || own.topic("mine").is_err()
                    || own.close(Duration::ZERO).is_err()
                    || again.close(Duration::ZERO).is_err()
                {
                    return 15;
                }
                0
            })();
            // SAFETY: ends the child without the parent's exit handlers.
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
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    churn.join().unwrap();
    // The parent's broker is untouched.
    t.publish(b"parent").unwrap();
    assert_eq!(mq.handles(), 1);
    mq.close(Duration::ZERO).unwrap();
}
