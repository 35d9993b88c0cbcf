//! Every wait ends by its deadline, and nothing spins while it waits.

mod common;

use std::time::{Duration, Instant};

use common::*;
use ringmq_core::{Overflow, SubOptions, TopicOptions};

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
