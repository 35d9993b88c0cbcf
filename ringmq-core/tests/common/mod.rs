#![allow(dead_code)]
//! Helpers shared by the integration tests.

use std::time::Duration;

use ringmq_core::{Broker, BrokerOptions, Delivery, PullSubscription, Topic, TopicOptions};

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

/// A small topic whose deliveries expire after 50 ms and are retried at
/// once: for tests of what a forgotten delivery does.
pub fn forgetful(mq: &Broker, capacity: usize) -> Topic {
    mq.create_topic(
        "t",
        TopicOptions {
            ack_timeout: Duration::from_millis(50),
            backoff_base: Duration::from_millis(1),
            backoff_max: Duration::from_millis(1),
            ..small(capacity)
        },
    )
    .unwrap()
}

pub fn poll1(s: &PullSubscription) -> Delivery {
    s.poll(Some(Duration::from_secs(5)))
        .unwrap()
        .expect("a delivery within 5 s")
}

/// Waits up to 5 s for `s` to deliver `data` again as attempt `attempt`
/// (after an ack timeout or a nack), and acks it.
pub fn ack_redelivered(s: &PullSubscription, data: &[u8], attempt: u32) {
    let again = s
        .poll(Some(Duration::from_secs(5)))
        .unwrap()
        .expect("redelivered");
    assert_eq!((again.data(), again.attempt()), (data, attempt));
    again.ack().unwrap();
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

/// The seed of a randomized test: `RINGMQ_SEED` to replay one, else the
/// clock's. Printed, so that a failure can be replayed.
pub fn seed() -> u64 {
    let seed = std::env::var("RINGMQ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("RINGMQ_SEED={seed}");
    seed
}

/// A small, well-mixed random sequence for randomized tests (SplitMix64).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A fresh directory under the system's temporary directory, removed when
/// dropped.
pub struct TempDir(std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("ringmq-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The segment files (`*.seg`) of a log directory, sorted (oldest first).
pub fn segment_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    v.sort();
    v
}
