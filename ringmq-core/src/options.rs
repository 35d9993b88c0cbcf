//! Options of brokers, topics and subscriptions, with their defaults,
//! and their validation (bad input changes nothing).

use std::time::Duration;

use crate::error::{Error, Result};
use crate::options_table;
use crate::surface::OptionValue::{Bool, Choice, Computed, Int, Millis};

/// Longest topic or group name, in bytes.
pub const MAX_NAME_LEN: usize = 255;

#[derive(Debug, Clone)]
pub struct BrokerOptions {
    /// Fewest pool workers kept alive (default 1).
    pub workers_min: usize,
    /// Most pool workers (default: available parallelism).
    pub workers_max: usize,
    /// A worker idle this long above `workers_min` exits (default 30 s).
    pub idle_timeout: Duration,
}

impl Default for BrokerOptions {
    fn default() -> Self {
        BrokerOptions {
            workers_min: 1,
            workers_max: parallelism(),
            idle_timeout: Duration::from_secs(30),
        }
    }
}

/// Available parallelism, read once: std reads cgroup files on every call,
/// which would cost most of a broker's creation time.
fn parallelism() -> usize {
    static N: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *N.get_or_init(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    })
}

impl BrokerOptions {
    pub(crate) fn validate(&self) -> Result<()> {
        if self.workers_max == 0 {
            return Err(Error::invalid("workers_max 0 must be at least 1"));
        }
        if self.workers_min > self.workers_max {
            return Err(Error::invalid(format!(
                "workers_min {} is larger than workers_max {}",
                self.workers_min, self.workers_max
            )));
        }
        if self.workers_max > 1024 {
            return Err(Error::invalid(format!(
                "workers_max {} is over the limit of 1024",
                self.workers_max
            )));
        }
        Ok(())
    }
}

/// What a publish does when the ring is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// Wait for room, up to the caller's timeout, then `Timeout`.
    Block,
    /// Fail at once with `Full`.
    Reject,
    /// Overwrite the oldest message; every subscription is lossy.
    DropOldest,
}

impl Overflow {
    /// Every policy, in the order of the C enum's values.
    pub const ALL: [Overflow; 3] = [Overflow::Block, Overflow::Reject, Overflow::DropOldest];
    /// Their spellings, as every binding and the docs write them.
    pub const NAMES: [&'static str; 3] = ["block", "reject", "drop_oldest"];

    pub fn parse(s: &str) -> Result<Overflow> {
        parse_choice("overflow", s, &Self::ALL, &Self::NAMES)
    }
    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

/// The value among `all` spelled `s`, or an error listing the spellings.
fn parse_choice<T: Copy>(what: &str, s: &str, all: &[T], names: &[&str]) -> Result<T> {
    match names.iter().position(|n| *n == s) {
        Some(i) => Ok(all[i]),
        None => Err(Error::invalid(format!(
            "{what} {s:?} is not one of {}",
            names
                .iter()
                .map(|n| format!("{n:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

#[derive(Debug, Clone)]
pub struct TopicOptions {
    /// Slots in the ring; a power of two (default 1024).
    pub capacity: usize,
    /// Largest payload in bytes (default 256).
    pub slot_size: usize,
    pub overflow: Overflow,
    /// Deliveries of one message before it is dead-lettered (default 4).
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt (default 100 ms).
    pub backoff_base: Duration,
    /// Cap of the retry delay (default 10 s).
    pub backoff_max: Duration,
    /// A pulled delivery not settled within this is redelivered (default 30 s).
    pub ack_timeout: Duration,
    /// Messages one subscription may hold outside the ring (waiting for a
    /// retry, or copied for a lossy consumer); 0 means `capacity`. When it is
    /// full the subscription takes no new messages until some settle, like
    /// NATS's max_ack_pending: nothing is dropped.
    pub retry_capacity: usize,
}

impl Default for TopicOptions {
    fn default() -> Self {
        TopicOptions {
            capacity: 1024,
            slot_size: 256,
            overflow: Overflow::Block,
            max_attempts: 4,
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_secs(10),
            ack_timeout: Duration::from_secs(30),
            retry_capacity: 0,
        }
    }
}

/// Largest ring: 2^24 slots.
pub const MAX_CAPACITY: usize = 1 << 24;
/// Largest slot: 16 MiB.
pub const MAX_SLOT_SIZE: usize = 1 << 24;

impl TopicOptions {
    pub(crate) fn validate(&self) -> Result<()> {
        if self.capacity == 0 || !self.capacity.is_power_of_two() {
            return Err(Error::invalid(format!(
                "capacity {} is not a power of two",
                self.capacity
            )));
        }
        if self.capacity > MAX_CAPACITY {
            return Err(Error::invalid(format!(
                "capacity {} is over the limit of {MAX_CAPACITY}",
                self.capacity
            )));
        }
        if self.slot_size == 0 || self.slot_size > MAX_SLOT_SIZE {
            return Err(Error::invalid(format!(
                "slot_size {} is not between 1 and {MAX_SLOT_SIZE}",
                self.slot_size
            )));
        }
        if self
            .capacity
            .checked_mul(self.slot_size)
            .is_none_or(|b| b > (1usize << 34))
        {
            return Err(Error::invalid(format!(
                "capacity {} x slot_size {} is over 16 GiB",
                self.capacity, self.slot_size
            )));
        }
        if self.max_attempts == 0 {
            return Err(Error::invalid("max_attempts 0 must be at least 1"));
        }
        if self.backoff_max < self.backoff_base {
            return Err(Error::invalid(format!(
                "backoff_max {:?} is shorter than backoff_base {:?}",
                self.backoff_max, self.backoff_base
            )));
        }
        if self.ack_timeout.is_zero() {
            return Err(Error::invalid("ack_timeout 0 must be positive"));
        }
        if self.retry_capacity > MAX_CAPACITY {
            return Err(Error::invalid(format!(
                "retry_capacity {} is over the limit of {MAX_CAPACITY}",
                self.retry_capacity
            )));
        }
        Ok(())
    }

    pub(crate) fn effective_retry_capacity(&self) -> usize {
        if self.retry_capacity == 0 {
            self.capacity
        } else {
            self.retry_capacity
        }
    }
}

/// Where a new subscription starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartAt {
    /// Only messages published after the subscription was created (default).
    #[default]
    Latest,
    /// The oldest message still held in the ring for some other subscription,
    /// or, when none holds any, the next one published.
    Earliest,
}

impl StartAt {
    /// Every start, in the order of the C enum's values.
    pub const ALL: [StartAt; 2] = [StartAt::Latest, StartAt::Earliest];
    /// Their spellings, as every binding and the docs write them.
    pub const NAMES: [&'static str; 2] = ["latest", "earliest"];

    pub fn parse(s: &str) -> Result<StartAt> {
        parse_choice("start", s, &Self::ALL, &Self::NAMES)
    }
    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

#[derive(Debug, Clone)]
pub struct SubOptions {
    /// Push: most handlers of this subscription running at once (default 1).
    pub concurrency: usize,
    /// Push: same key, publish order, never two at once.
    pub ordered_by_key: bool,
    /// Never hold producers back; skip ahead and count drops when a ring behind.
    pub lossy: bool,
    pub start: StartAt,
}

impl Default for SubOptions {
    fn default() -> Self {
        SubOptions {
            concurrency: 1,
            ordered_by_key: false,
            lossy: false,
            start: StartAt::Latest,
        }
    }
}

impl SubOptions {
    pub(crate) fn validate(&self) -> Result<()> {
        if self.concurrency == 0 || self.concurrency > 65_536 {
            return Err(Error::invalid(format!(
                "concurrency {} is not between 1 and 65536",
                self.concurrency
            )));
        }
        Ok(())
    }
}

/// Checks a topic or group name: 1..=255 bytes of UTF-8 (Rust strings are
/// UTF-8 already; the C and binding layers check before converting).
pub(crate) fn validate_name(what: &str, name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::invalid(format!("{what} name is empty")));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(Error::invalid(format!(
            "{what} name is {} bytes long, over the limit of {MAX_NAME_LEN}",
            name.len()
        )));
    }
    if name.chars().any(|c| c.is_control()) {
        return Err(Error::invalid(format!(
            "{what} name {name:?} contains a control character"
        )));
    }
    Ok(())
}

// What the bindings expose of the options, with the defaults above (a test
// holds the two together).
options_table! {
    BrokerOptions in "broker" {
        workers_min: usize = Int(1), "Fewest pool workers kept alive.";
        workers_max: usize = Computed("available parallelism"), "Most pool workers, 1..=1024.";
        idle_timeout: Duration = Millis(30_000), "A worker idle this long above workers_min exits.";
    }
}

options_table! {
    TopicOptions in "topic" {
        capacity: usize = Int(1024), "Slots in the ring: a power of two, at most 2^24.";
        slot_size: usize = Int(256), "Largest payload in bytes, 1..=2^24.";
        overflow: Overflow = Choice("block"), "What a publish does when the ring is full.";
        max_attempts: u32 = Int(4), "Deliveries of one message before it is dead-lettered.";
        backoff_base: Duration = Millis(100), "First retry delay; doubles per attempt, with jitter.";
        backoff_max: Duration = Millis(10_000), "Cap of the retry delay, at least backoff_base.";
        ack_timeout: Duration = Millis(30_000), "A pulled delivery not settled within this is redelivered.";
        retry_capacity: usize = Int(0),
            "Messages one subscription may hold outside the ring; 0 means capacity.";
    }
}

options_table! {
    SubOptions in "sub" {
        concurrency: usize = Int(1), "Push: most handlers of this subscription at once, 1..=65536.";
        ordered_by_key: bool = Bool(false), "Push: same key, publish order, never two at once.";
        lossy: bool = Bool(false),
            "Never hold producers back: skip ahead and count drops when a ring behind.";
        start: StartAt = Choice("latest"), "Where a new subscription starts reading.";
    }
}
