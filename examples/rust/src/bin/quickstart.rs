//! The README's Rust quick start, kept compiling and running.

use std::time::Duration;

use ringmq_core::{Broker, BrokerOptions, SubOptions, TopicOptions};

fn main() -> Result<(), ringmq_core::Error> {
    let mq = Broker::new(BrokerOptions::default())?;
    let orders = mq.create_topic("orders", TopicOptions::default())?;

    // Push: a handler on the pool; Err nacks (retried, then dead-lettered).
    orders.subscribe(
        "billing",
        SubOptions {
            concurrency: 2,
            ..Default::default()
        },
        |m| {
            println!(
                "bill order {} ({} bytes), attempt {}",
                m.id,
                m.data.len(),
                m.attempt
            );
            Ok(())
        },
    )?;

    // Pull: poll and settle yourself.
    let audit = orders.subscribe_pull("audit", SubOptions::default())?;
    orders.publish_with(b"order #1", 7, None)?;
    if let Some(d) = audit.poll(Some(Duration::from_secs(1)))? {
        assert_eq!(d.data(), b"order #1");
        d.ack()?;
    }
    // Or in batches, the fastest way: Ok acks, Err nacks; acks settle together.
    orders.publish_with(b"order #2", 8, None)?;
    let handled = audit.consume(256, Some(Duration::from_secs(1)), |m| {
        println!("audit {} {:?}", m.id, m.data);
        Ok(())
    })?;
    assert_eq!(handled, 1);
    let report = mq.close(Duration::from_secs(5))?;
    println!("{}", mq.metrics_text().lines().count());
    assert_eq!(report.undelivered, 0);
    Ok(())
}
