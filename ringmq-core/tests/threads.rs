//! Close joins every thread the broker started. Its own test binary, so no
//! other test's threads come and go while it counts.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use ringmq_core::{Broker, BrokerOptions, SubOptions};

#[test]
fn close_drains_push_subscriptions_and_joins_every_thread() {
    fn threads() -> usize {
        std::fs::read_dir("/proc/self/task").unwrap().count()
    }
    let before = threads();
    let mq = Broker::new(BrokerOptions {
        workers_min: 2,
        workers_max: 4,
        ..BrokerOptions::default()
    })
    .unwrap();
    let t = mq.create_topic("t", small(1024)).unwrap();
    let handled = Arc::new(AtomicU64::new(0));
    let h2 = handled.clone();
    t.subscribe(
        "w",
        SubOptions {
            concurrency: 2,
            ..SubOptions::default()
        },
        move |_| {
            std::thread::sleep(Duration::from_millis(1));
            h2.fetch_add(1, Ordering::Relaxed);
            Ok(())
        },
    )
    .unwrap();
    for _ in 0..300 {
        t.publish(b"x").unwrap();
    }
    assert!(threads() > before);
    let report = mq.close(Duration::from_secs(20)).unwrap();
    assert_eq!(report.undelivered, 0, "{report:?}");
    assert_eq!(handled.load(Ordering::Relaxed), 300);
    assert_eq!(threads(), before, "no thread outlives its broker");
}
