//! Options of brokers, topics and subscriptions, with their defaults,
//! and their validation (bad input changes nothing).

use std::time::Duration;

use crate::error::{Error, Result};
use crate::options_table;
use crate::surface::OptionValue::{Bool, Choice, Computed, Int, Millis, Unset};

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
    /// Where durable topics keep their logs and subscriptions' checkpoints
    /// (default none: every topic lives in memory only). The broker locks
    /// it: a second broker opening it gets `Exists`. Every durable topic
    /// found there is recovered when the broker is created.
    pub data_dir: Option<std::path::PathBuf>,
    /// On recovery, cut a durable topic's log at damage found before its
    /// end (losing what follows) instead of opening that topic read only
    /// (default false).
    pub repair: bool,
    /// Registers the broker process-wide under this name, for `Broker::open`
    /// from any thread (default none); free again once the broker stopped.
    pub name: Option<String>,
}

impl Default for BrokerOptions {
    fn default() -> Self {
        BrokerOptions {
            workers_min: 1,
            workers_max: parallelism(),
            idle_timeout: Duration::from_secs(30),
            data_dir: None,
            repair: false,
            name: None,
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
    /// Most bytes of headers one message may carry (each header counts its
    /// name, its value and 4 bytes); kept beside the slots, apart from
    /// `slot_size` (default 1024, at most 65,535).
    pub max_header_bytes: usize,
    /// Most delayed messages waiting at once (publish answers `Full` past
    /// it); 0 means `capacity`.
    pub max_delayed: usize,
    /// Messages older than this (from their publish) are expired, never
    /// delivered; zero for no limit (default).
    pub max_age: Duration,
    /// What becomes of an expired message (default: the dead-letter topic).
    pub expired: Expired,
    /// How long a `msg_id` is remembered for de-duplication (default 2 min).
    pub dedupe_window: Duration,
    /// Most `msg_id`s remembered at once; 0 means 4 x `capacity`.
    pub dedupe_max: usize,
    /// Keep the topic's messages in an append-only log in the broker's
    /// `data_dir`, so they (and its subscriptions' positions) survive a
    /// restart or a crash (default false).
    pub durable: bool,
    /// When a durable topic's appends are fsynced (default `Batch`).
    pub fsync: Fsync,
    /// How often an `Interval` topic is fsynced, and how often durable
    /// subscriptions' positions are checkpointed (default 50 ms).
    pub fsync_interval: Duration,
    /// Bytes of one segment file of the log (default 64 MiB).
    pub segment_bytes: usize,
    /// Most bytes a durable topic's log keeps (0, the default: no limit).
    /// Past it the oldest segment goes if no subscription needs it; if one
    /// does, the overflow policy acts: `block` waits, `reject` answers
    /// `Full`, `drop_oldest` removes it (counted as `retention_dropped`).
    /// A durable topic's `max_age` also removes segments whose messages
    /// have all expired.
    pub max_bytes: usize,
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
            max_header_bytes: 1024,
            max_delayed: 0,
            max_age: Duration::ZERO,
            expired: Expired::DeadLetter,
            dedupe_window: Duration::from_secs(120),
            dedupe_max: 0,
            durable: false,
            fsync: Fsync::Batch,
            fsync_interval: Duration::from_millis(50),
            segment_bytes: 64 << 20,
            max_bytes: 0,
        }
    }
}

/// What becomes of a message that expires (its `ttl` or the topic's
/// `max_age` passed) before it was delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expired {
    /// To the dead-letter topic, with the reason `expired`.
    DeadLetter,
    /// Dropped (still counted as `expired_messages`).
    Drop,
}

impl Expired {
    /// Every policy, in the order of the C enum's values.
    pub const ALL: [Expired; 2] = [Expired::DeadLetter, Expired::Drop];
    /// Their spellings, as every binding and the docs write them.
    pub const NAMES: [&'static str; 2] = ["dead_letter", "drop"];

    pub fn parse(s: &str) -> Result<Expired> {
        parse_choice("expired", s, &Self::ALL, &Self::NAMES)
    }
    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

/// When a durable topic's appends are made durable (fsynced).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    /// Each publish returns after the fsync of its own message.
    Always,
    /// Group commit: a publish returns after the fsync that covers it;
    /// publishes that meet share one (default).
    Batch,
    /// Publishes return at once; the log is fsynced every
    /// `fsync_interval`.
    Interval,
    /// Never fsynced by RingMQ: left to the operating system.
    Never,
}

impl Fsync {
    /// Every policy, in the order of the C enum's values.
    pub const ALL: [Fsync; 4] = [Fsync::Always, Fsync::Batch, Fsync::Interval, Fsync::Never];
    /// Their spellings, as every binding and the docs write them.
    pub const NAMES: [&'static str; 4] = ["always", "batch", "interval", "never"];

    pub fn parse(s: &str) -> Result<Fsync> {
        parse_choice("fsync", s, &Self::ALL, &Self::NAMES)
    }
    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }
    /// Does a publish wait for its message's fsync?
    pub(crate) fn publish_waits(self) -> bool {
        matches!(self, Fsync::Always | Fsync::Batch)
    }
}

/// The longest delay, ttl, max_age or dedupe window the engine takes: a
/// year. Longer is taken for a mistake (a timestamp passed as a duration).
pub const MAX_DELAY: Duration = Duration::from_secs(366 * 24 * 3600);

/// Largest ring: 2^24 slots.
pub const MAX_CAPACITY: usize = 1 << 24;
/// Largest slot: 16 MiB.
pub const MAX_SLOT_SIZE: usize = 1 << 24;
/// Smallest `segment_bytes` of a durable topic.
pub const MIN_SEGMENT_BYTES: usize = 4096;
/// Largest `segment_bytes` of a durable topic (1 TiB).
pub const MAX_SEGMENT_BYTES: usize = 1 << 40;

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
        if self.max_header_bytes > crate::headers::MAX_HEADER_BYTES_LIMIT {
            return Err(Error::invalid(format!(
                "max_header_bytes {} is over the limit of {}",
                self.max_header_bytes,
                crate::headers::MAX_HEADER_BYTES_LIMIT
            )));
        }
        if self.max_delayed > MAX_CAPACITY * 64 {
            return Err(Error::invalid(format!(
                "max_delayed {} is over the limit of {}",
                self.max_delayed,
                MAX_CAPACITY * 64
            )));
        }
        check_span("max_age", self.max_age)?;
        check_span("dedupe_window", self.dedupe_window)?;
        if self.dedupe_window.is_zero() {
            return Err(Error::invalid("dedupe_window 0 must be positive"));
        }
        check_span("fsync_interval", self.fsync_interval)?;
        if self.fsync_interval.is_zero() {
            return Err(Error::invalid("fsync_interval 0 must be positive"));
        }
        if !(MIN_SEGMENT_BYTES..=MAX_SEGMENT_BYTES).contains(&self.segment_bytes) {
            return Err(Error::invalid(format!(
                "segment_bytes {} is not between {MIN_SEGMENT_BYTES} and {MAX_SEGMENT_BYTES}",
                self.segment_bytes
            )));
        }
        if self.max_bytes != 0 && self.max_bytes < 2 * self.segment_bytes {
            return Err(Error::invalid(format!(
                "max_bytes {} is less than two segments of segment_bytes {} (0 for no limit)",
                self.max_bytes, self.segment_bytes
            )));
        }
        if self.dedupe_max > MAX_CAPACITY * 4 {
            return Err(Error::invalid(format!(
                "dedupe_max {} is over the limit of {}",
                self.dedupe_max,
                MAX_CAPACITY * 4
            )));
        }
        Ok(())
    }

    pub(crate) fn effective_max_delayed(&self) -> usize {
        if self.max_delayed == 0 {
            self.capacity
        } else {
            self.max_delayed
        }
    }

    pub(crate) fn effective_dedupe_max(&self) -> usize {
        if self.dedupe_max == 0 {
            self.capacity * 4
        } else {
            self.dedupe_max
        }
    }

    pub(crate) fn effective_retry_capacity(&self) -> usize {
        if self.retry_capacity == 0 {
            self.capacity
        } else {
            self.retry_capacity
        }
    }
}

/// A duration option must not pass [`MAX_DELAY`].
pub(crate) fn check_span(what: &str, d: Duration) -> Result<()> {
    if d > MAX_DELAY {
        return Err(Error::invalid(format!(
            "{what} {d:?} is over the limit of {} days",
            MAX_DELAY.as_secs() / 86_400
        )));
    }
    Ok(())
}

/// Where a new subscription starts reading (unless `start_at_id` or
/// `start_at_time` says otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartAt {
    /// Only messages published after the subscription was created (default).
    #[default]
    Latest,
    /// The oldest message still in the ring: a topic keeps its last
    /// `capacity` messages readable for late subscriptions.
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
    /// Unordered subscriptions: most deliveries of one key in flight at
    /// once; 0 for no limit (default). (Ordered push subscriptions run one
    /// per key anyway.)
    pub max_in_flight_per_key: u32,
    /// Most messages per second handed to consumers (a token bucket); None
    /// for no limit (default). Must be positive and finite.
    pub rate_limit: Option<f64>,
    /// Messages that may go at once after the subscription idled; 0 means
    /// one second's worth of `rate_limit` (rounded up).
    pub rate_burst: u32,
    /// Start at the message with this id (or at the oldest still in the
    /// ring if it is gone); overrides `start`.
    pub start_at_id: Option<u64>,
    /// Start at the first message published at or after this time (among
    /// those still in the ring); overrides `start`.
    pub start_at_time: Option<std::time::SystemTime>,
}

impl Default for SubOptions {
    fn default() -> Self {
        SubOptions {
            concurrency: 1,
            ordered_by_key: false,
            lossy: false,
            start: StartAt::Latest,
            max_in_flight_per_key: 0,
            rate_limit: None,
            rate_burst: 0,
            start_at_id: None,
            start_at_time: None,
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
        if self.max_in_flight_per_key > 65_536 {
            return Err(Error::invalid(format!(
                "max_in_flight_per_key {} is over the limit of 65536",
                self.max_in_flight_per_key
            )));
        }
        if let Some(r) = self.rate_limit {
            if !(r.is_finite() && r > 0.0 && r <= 1e9) {
                return Err(Error::invalid(format!(
                    "rate_limit {r} is not a number of messages per second above 0 and at most 1e9 \
                     (leave it out for no limit)"
                )));
            }
        }
        if self.start_at_id.is_some() && self.start_at_time.is_some() {
            return Err(Error::invalid(
                "start_at_id and start_at_time are both set: give one position",
            ));
        }
        if let Some(t) = self.start_at_time {
            if t.duration_since(std::time::UNIX_EPOCH).is_err() {
                return Err(Error::invalid("start_at_time is before 1970"));
            }
        }
        if self.rate_burst > 1_000_000_000 {
            return Err(Error::invalid(format!(
                "rate_burst {} is over the limit of 1e9",
                self.rate_burst
            )));
        }
        Ok(())
    }

    /// The burst of the rate limit: `rate_burst`, or one second's worth.
    pub(crate) fn effective_rate_burst(&self) -> u32 {
        match (self.rate_burst, self.rate_limit) {
            (0, Some(r)) => (r.ceil() as u32).max(1),
            (b, _) => b.max(1),
        }
    }
}

/// Checks a topic, group or broker name: 1..=255 bytes of UTF-8 (Rust strings are
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
        data_dir: Option<std::path::PathBuf> = Unset,
            "Where durable topics keep their logs and checkpoints; unset for memory only.";
        repair: bool = Bool(false),
            "On recovery, cut a durable log at damage before its end instead of opening it read only.";
        name: Option<String> = Unset,
            "Register the broker process-wide under this name, for Broker.open from any thread; unset for none.";
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
        max_header_bytes: usize = Int(1024),
            "Most header bytes per message (name + value + 4 each), apart from slot_size; at most 65535.";
        max_delayed: usize = Int(0), "Most delayed messages waiting at once; 0 means capacity.";
        max_age: Duration = Millis(0), "Messages older than this are expired, never delivered; 0 for no limit.";
        expired: Expired = Choice("dead_letter"), "What becomes of an expired message.";
        dedupe_window: Duration = Millis(120_000), "How long a msg_id is remembered for de-duplication.";
        dedupe_max: usize = Int(0), "Most msg_ids remembered at once; 0 means 4 x capacity.";
        durable: bool = Bool(false), "Keep messages and positions in a log in the broker's data_dir.";
        fsync: Fsync = Choice("batch"), "When a durable topic's appends are fsynced.";
        fsync_interval: Duration = Millis(50),
            "Fsync period of an interval topic, and checkpoint period of durable subscriptions.";
        segment_bytes: usize = Int(64 << 20), "Bytes of one log segment file, 4096..=2^40.";
        max_bytes: usize = Int(0),
            "Most bytes a durable topic's log keeps (then the overflow policy acts); 0 for no limit.";
    }
}

options_table! {
    SubOptions in "sub" {
        concurrency: usize = Int(1), "Push: most handlers of this subscription at once, 1..=65536.";
        ordered_by_key: bool = Bool(false), "Push: same key, publish order, never two at once.";
        lossy: bool = Bool(false),
            "Never hold producers back: skip ahead and count drops when a ring behind.";
        start: StartAt = Choice("latest"), "Where a new subscription starts reading.";
        max_in_flight_per_key: u32 = Int(0),
            "Unordered subscriptions: most deliveries of one key in flight at once; 0 for no limit.";
        rate_limit: Option<f64> = Unset, "Most messages per second handed to consumers; unset for no limit.";
        rate_burst: u32 = Int(0), "Messages that may go at once after idling; 0 means one second's worth.";
        start_at_id: Option<u64> = Unset,
            "Start at the message with this id (the oldest still held if it is gone); overrides start.";
        start_at_time: Option<std::time::SystemTime> = Unset,
            "Start at the first message published at or after this time; overrides start.";
    }
}
