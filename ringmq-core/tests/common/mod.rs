#![allow(dead_code)]
//! Helpers shared by the integration tests.

use std::time::Duration;

use ringmq_core::{Broker, BrokerOptions, Delivery, PullSubscription, TopicOptions};

pub fn broker() -> Broker {
    Broker::new(BrokerOptions {
        workers_min: 1,
        workers_max: 4,
        ..BrokerOptions::default()
    })
    .unwrap()
}

pub fn small(capacity: usize) -> TopicOptions {
    TopicOptions {
        capacity,
        slot_size: 64,
        backoff_base: Duration::from_millis(2),
        backoff_max: Duration::from_millis(20),
        ..TopicOptions::default()
    }
}

pub fn poll1(s: &PullSubscription) -> Delivery {
    s.poll(Some(Duration::from_secs(5)))
        .unwrap()
        .expect("a delivery within 5 s")
}

/// Payload: producer index and its counter.
pub fn encode(producer: u32, n: u64) -> [u8; 12] {
    let mut b = [0u8; 12];
    b[..4].copy_from_slice(&producer.to_le_bytes());
    b[4..].copy_from_slice(&n.to_le_bytes());
    b
}

pub fn decode(b: &[u8]) -> (u32, u64) {
    (
        u32::from_le_bytes(b[..4].try_into().unwrap()),
        u64::from_le_bytes(b[4..12].try_into().unwrap()),
    )
}
