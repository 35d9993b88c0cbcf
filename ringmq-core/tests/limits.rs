//! Limits of one topic: how many gated subscriptions it holds, and what
//! happens when a subscription's memory cannot be had. A refusal is an
//! error that names the limit and changes nothing.

mod common;

use std::time::Duration;

use common::*;
use ringmq_core::{ErrorKind, SubOptions, TopicOptions};

/// Gated (non-lossy) subscriptions one topic holds (`MAX_GATES` in the
/// engine's sequencer).
const MAX_GATES: usize = 64;

#[test]
fn the_65th_gated_subscription_is_refused_and_changes_nothing() {
    let mq = broker();
    let t = mq.create_topic("t", small(8)).unwrap();
    let subs: Vec<_> = (0..MAX_GATES)
        .map(|i| {
            t.subscribe_pull(&format!("g{i}"), SubOptions::default())
                .unwrap()
        })
        .collect();
    for attempt in 0..2 {
        let e = t
            .subscribe_pull("one-too-many", SubOptions::default())
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{attempt}: {e:?}");
        assert!(
            e.message().contains("64 non-lossy subscriptions"),
            "{attempt}: the error names the limit: {}",
            e.message()
        );
        assert_eq!(t.stats().subscriptions, MAX_GATES as u64);
        assert_eq!(
            t.pull_subscription("one-too-many").unwrap_err().kind(),
            ErrorKind::NotFound,
            "the refused one was not registered"
        );
    }
    // The 64 still work: a message reaches the first and the last.
    t.publish(b"still fine").unwrap();
    for s in [&subs[0], &subs[MAX_GATES - 1]] {
        let d = poll1(s);
        assert_eq!(d.data(), b"still fine");
        d.ack().unwrap();
    }
    // A lossy subscription takes no gate, so it can still be added.
    let lossy = t
        .subscribe_pull(
            "lossy",
            SubOptions {
                lossy: true,
                ..SubOptions::default()
            },
        )
        .unwrap();
    t.publish(b"after").unwrap();
    assert_eq!(poll1(&lossy).data(), b"after");
    assert_eq!(poll1(&subs[7]).data(), b"still fine");
    // Giving a gate back makes room for one more gated subscription.
    subs[3].unsubscribe().unwrap();
    t.subscribe_pull("one-too-many", SubOptions::default())
        .unwrap();
    mq.close(Duration::ZERO).unwrap();
}

/// Set in the child process that runs the memory-limited part of
/// `a_subscription_whose_memory_cannot_be_had_is_refused`.
const CHILD: &str = "RINGMQ_LIMITS_CHILD";

/// The process's virtual size, in bytes (Linux).
fn vm_size() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmSize in /proc/self/status");
    kb * 1024
}

fn set_address_space_limit(bytes: libc::rlim_t) {
    let lim = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit only reads the struct it is given.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &lim) }, 0);
}

/// A gated subscription's per-slot states (16 bytes a slot) are allocated
/// fallibly: when they cannot be had the subscription is refused with an
/// error, the process does not abort, and nothing changes. The address
/// space is capped (RLIMIT_AS) in a child process running only this test,
/// so no other test shares the cap and the machine's memory is never
/// exhausted.
#[test]
fn a_subscription_whose_memory_cannot_be_had_is_refused() {
    if std::env::var_os(CHILD).is_none() {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "a_subscription_whose_memory_cannot_be_had_is_refused",
                "--test-threads=1",
                "--nocapture",
            ])
            .env(CHILD, "1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "the child failed ({:?}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("1 passed"),
            "the child ran the test"
        );
        return;
    }
    let capacity = 1 << 22; // 64 MiB of slot states per gated subscription
    let mq = broker();
    let t = mq
        .create_topic(
            "big",
            TopicOptions {
                capacity,
                slot_size: 1,
                ..TopicOptions::default()
            },
        )
        .unwrap();
    let first = t.subscribe_pull("first", SubOptions::default()).unwrap();
    // 16 MiB of room: less than one subscription's 64 MiB.
    set_address_space_limit(vm_size() + (16 << 20));
    let e = t
        .subscribe_pull("starved", SubOptions::default())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e:?}");
    assert!(
        e.message().contains("not enough memory") && e.message().contains("starved"),
        "{}",
        e.message()
    );
    assert_eq!(t.stats().subscriptions, 1, "nothing was registered");
    // A lossy subscription tracks no slot states: it fits.
    let lossy = t
        .subscribe_pull(
            "lossy",
            SubOptions {
                lossy: true,
                ..SubOptions::default()
            },
        )
        .unwrap();
    t.publish(b"m").unwrap();
    assert_eq!(poll1(&first).data(), b"m");
    assert_eq!(poll1(&lossy).data(), b"m");
    // With the memory back, the same subscription is made, and its gate
    // was not leaked by the refusal.
    set_address_space_limit(libc::RLIM_INFINITY);
    let starved = t.subscribe_pull("starved", SubOptions::default()).unwrap();
    t.publish(b"n").unwrap();
    assert_eq!(poll1(&starved).data(), b"n");
    mq.close(Duration::ZERO).unwrap();
}
