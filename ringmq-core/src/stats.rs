//! Counters and the latency histogram. Writers use relaxed atomic adds;
//! readers take a snapshot without locks, so reading stats never blocks a
//! publisher or a consumer.

use crate::stats_table;
use crate::surface::{
    Metric::{self, Counter, Gauge},
    SummaryPart,
    Unit::{Count, Nanoseconds, Ratio},
};
use crate::sync::{AtomicU64, Ordering::Relaxed};

/// Sub-buckets per power of two: 16, so a percentile is within 1/16 (6.25 %).
const SUB_BITS: u32 = 4;
const SUB: usize = 1 << SUB_BITS;
/// Values at or above 2^MAX_EXP ns (about 18 minutes) land in the last bucket.
const MAX_EXP: u32 = 40;
const BUCKETS: usize = SUB + (MAX_EXP - SUB_BITS) as usize * SUB;

/// Values on their way into a [`Histogram`], for a loop that records many:
/// consecutive values mostly share a bucket, so a run of them is added at
/// once, and the sum and the maximum are added once, at [`flush`](Self::flush).
/// Values pushed and not flushed are not recorded.
#[derive(Debug)]
pub struct LatencyRun {
    bucket: usize,
    /// The values of `bucket`: `lo ..= lo + (width - 1)` (a width of 0
    /// holds none, so that the first value finds its bucket).
    lo: u64,
    width: u64,
    run: u64,
    sum: u64,
    max: u64,
}

impl Default for LatencyRun {
    fn default() -> Self {
        LatencyRun {
            bucket: usize::MAX,
            lo: 0,
            width: 0,
            run: 0,
            sum: 0,
            max: 0,
        }
    }
}

impl LatencyRun {
    /// Adds `v`; adds the run before it to `h` when `v` starts another
    /// bucket. A value in the run's bucket is found by one compare with the
    /// bucket's bounds; only a value outside them computes its bucket.
    #[inline(always)]
    pub fn push(&mut self, h: &Histogram, v: u64) {
        if v.wrapping_sub(self.lo) >= self.width {
            self.start_bucket(h, v);
        }
        self.run += 1;
        self.sum = self.sum.wrapping_add(v);
        self.max = self.max.max(v);
    }

    /// Adds the run so far to `h` and starts one in `v`'s bucket. Out of
    /// line: a batch's acks mostly stay in one bucket.
    #[inline(never)]
    fn start_bucket(&mut self, h: &Histogram, v: u64) {
        if self.run > 0 {
            h.buckets[self.bucket].fetch_add(self.run, Relaxed);
        }
        let b = Histogram::index(v);
        (self.lo, self.width) = Histogram::span(b);
        (self.bucket, self.run) = (b, 0);
    }

    /// Records everything pushed into `h` and starts empty again.
    pub fn flush(&mut self, h: &Histogram) {
        if self.run > 0 {
            h.buckets[self.bucket].fetch_add(self.run, Relaxed);
            h.sum.fetch_add(self.sum, Relaxed);
            h.raise_max(self.max);
        }
        *self = LatencyRun::default();
    }
}

/// A fixed-bucket log-linear histogram of nanoseconds. Recording is one
/// relaxed add; it never allocates after construction.
pub struct Histogram {
    buckets: Box<[AtomicU64]>,
    sum: AtomicU64,
    max: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    pub fn new() -> Self {
        Histogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
            max: AtomicU64::new(0),
        }
    }

    #[inline]
    fn index(v: u64) -> usize {
        if v < SUB as u64 {
            return v as usize;
        }
        let exp = 63 - v.leading_zeros();
        if exp >= MAX_EXP {
            return BUCKETS - 1;
        }
        let mantissa = ((v >> (exp - SUB_BITS)) as usize) & (SUB - 1);
        SUB + (exp - SUB_BITS) as usize * SUB + mantissa
    }

    /// The values that land in bucket `i`, as its lowest and its width:
    /// `lo ..= lo + (width - 1)` (the last bucket takes every value from
    /// its lowest up).
    fn span(i: usize) -> (u64, u64) {
        let lo = if i == 0 { 0 } else { Self::upper(i - 1) + 1 };
        if i == BUCKETS - 1 {
            return (lo, u64::MAX - lo + 1);
        }
        (lo, Self::upper(i) - lo + 1)
    }

    /// The largest value that lands in bucket `i`.
    fn upper(i: usize) -> u64 {
        if i < SUB {
            return i as u64;
        }
        let exp = (i - SUB) / SUB + SUB_BITS as usize;
        let mantissa = ((i - SUB) % SUB) as u64;
        let width = 1u64 << (exp - SUB_BITS as usize);
        (1u64 << exp) + (mantissa + 1) * width - 1
    }

    pub fn record(&self, v: u64) {
        self.buckets[Self::index(v)].fetch_add(1, Relaxed);
        self.sum.fetch_add(v, Relaxed);
        self.raise_max(v);
    }

    /// Records a batch: one add per value's bucket, one for the sum.
    pub fn record_all(&self, values: impl IntoIterator<Item = u64>) {
        let mut run = LatencyRun::default();
        for v in values {
            run.push(self, v);
        }
        run.flush(self);
    }

    fn raise_max(&self, v: u64) {
        // Most values are below the max: skip the read-modify-write then.
        if v > self.max.load(Relaxed) {
            self.max.fetch_max(v, Relaxed);
        }
    }

    /// Values recorded (summed over the buckets, so never out of step).
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Relaxed)).sum()
    }

    /// Sum of the recorded values (wraps after ~584 years of nanoseconds).
    pub fn sum(&self) -> u64 {
        self.sum.load(Relaxed)
    }

    pub fn max(&self) -> u64 {
        self.max.load(Relaxed)
    }

    /// The value below which a fraction `q` of the recorded values fall
    /// (bucket upper bound, capped at the maximum seen); 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        let total: u64 = self.buckets.iter().map(|b| b.load(Relaxed)).sum();
        if total == 0 {
            return 0;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b.load(Relaxed);
            if seen >= rank {
                return Self::upper(i).min(self.max());
            }
        }
        self.max()
    }
}

/// Per-topic counters. Publishes are not counted here: every claimed
/// sequence is a publish (so the sequencer's claim counts them, with no
/// atomic add per message) except the few counted in `unpublished`.
#[derive(Default)]
pub struct TopicCounters {
    /// Claimed sequences that are not publishes: a duplicate that lost its
    /// race (a skip slot), and the second sequence of a delayed message
    /// (its publish took a skip slot when it was made, and it takes
    /// another when it falls due).
    pub unpublished: AtomicU64,
    pub rejected: AtomicU64,
    pub timed_out: AtomicU64,
    pub duplicates: AtomicU64,
}

stats_table! {
    /// A snapshot of a topic's stats.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct TopicStats in "topic", labels ["topic"] {
        published: u64, Counter, Count, "Messages accepted into the topic's ring.";
        rejected: u64, Counter, Count, "Publishes refused with Full because the ring was full.";
        timed_out: u64, Counter, Count, "Publishes that gave up with Timeout waiting for room.";
        dropped: u64, Counter, Count,
            "Messages overwritten or skipped before a subscription consumed them, summed over subscriptions.";
        depth: u64, Gauge, Count, "Messages in the ring not yet settled by the slowest subscription.";
        capacity: u64, Gauge, Count, "Slots in the topic's ring.";
        subscriptions: u64, Gauge, Count, "Subscriptions of the topic.";
        delayed: u64, Gauge, Count, "Delayed messages waiting outside the ring for their due time.";
        duplicates: u64, Counter, Count,
            "Publishes whose msg_id was already published within the dedupe window (nothing stored).";
        log_bytes: u64, Gauge, Count, "Bytes of a durable topic's log on disk (0 for a topic in memory).";
        log_segments: u64, Gauge, Count, "Segment files of a durable topic's log (0 for a topic in memory).";
    }
    text {}
}

stats_table! {
    /// A snapshot of a subscription's stats.
    ///
    /// The table's order is the C struct's layout: fields are only appended.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct SubStats in "subscription", labels ["topic", "group"] {
        delivered: u64, Counter, Count, "Deliveries handed to consumers, each attempt counted.";
        acked: u64, Counter, Count, "Messages acknowledged.";
        nacked: u64, Counter, Count, "Negative acknowledgements, handler errors and panics.";
        retried: u64, Counter, Count, "Messages scheduled for another attempt after a nack or an ack timeout.";
        dead_lettered: u64, Counter, Count, "Messages moved to the dead-letter topic.";
        dropped: u64, Counter, Count, "Messages a lossy subscription skipped.";
        expired: u64, Counter, Count, "Deliveries not settled within ack_timeout.";
        handler_panics: u64, Counter, Count, "Push handlers that panicked (each also counts as a nack).";
        in_flight: u64, Gauge, Count, "Deliveries handed out and not yet settled.";
        waiting_retry: u64, Gauge, Count, "Messages waiting outside the ring for a retry, or for room in a full dead-letter topic.";
        lag: u64, Gauge, Count, "Messages published but not yet delivered to the subscription.";
        latency_p50_ns: u64, LATENCY_P50, Nanoseconds, "Time from publish to ack, median (within 1/16).";
        latency_p99_ns: u64, LATENCY_P99, Nanoseconds, "Time from publish to ack, 99th percentile (within 1/16).";
        latency_p999_ns: u64, LATENCY_P999, Nanoseconds,
            "Time from publish to ack, 99.9th percentile (within 1/16).";
        latency_max_ns: u64, LATENCY_MAX, Nanoseconds, "Time from publish to ack, the longest seen.";
        latency_count: u64, LATENCY_COUNT, Count, "Acks whose publish-to-ack time was measured.";
        latency_sum_ns: u64, LATENCY_SUM, Nanoseconds, "Sum of the measured publish-to-ack times.";
        termed: u64, Counter, Count,
            "Deliveries settled with term by a consumer (straight to the dead-letter topic).";
        expired_messages: u64, Counter, Count,
            "Messages past their ttl or the topic's max_age, never delivered (dead-lettered or dropped).";
        paused: u64, Gauge, Count, "1 while the subscription is paused, else 0.";
        pinned: u64, Gauge, Count,
            "Deliveries past their ack timeout whose ring slot a live holder still pins, holding producers back.";
        retention_dropped: u64, Counter, Count,
            "Messages of a durable topic its retention removed before this subscription took them.";
    }
    text {
        last_error, "The text of the last handler failure or nack reason, if any.";
    }
}

// The C struct had `target` before `utilisation` was exposed, so the table
// (the C layout) keeps that order.
stats_table! {
    /// A snapshot of the pool.
    #[derive(Debug, Clone, Default, PartialEq)]
    pub struct PoolStats in "pool", labels [] {
        workers: u64, Gauge, Count, "Worker threads alive.";
        busy: u64, Gauge, Count, "Workers running handlers.";
        idle: u64, Gauge, Count, "Workers waiting for work.";
        panics: u64, Counter, Count, "Handler panics caught (the message was nacked, the worker lived on).";
        grown: u64, Counter, Count, "Workers started by the load curve.";
        shrunk: u64, Counter, Count, "Workers that left after idle_timeout.";
        target: u64, Gauge, Count, "The pool size the load curve asks for.";
        utilisation: f64, Gauge, Ratio, "Smoothed share of the workers' time spent in handlers.";
    }
    text {}
}

const fn latency(part: SummaryPart) -> Metric {
    Metric::Summary {
        family: "latency_seconds",
        part,
    }
}
const LATENCY_P50: Metric = latency(SummaryPart::Quantile("0.5"));
const LATENCY_P99: Metric = latency(SummaryPart::Quantile("0.99"));
const LATENCY_P999: Metric = latency(SummaryPart::Quantile("0.999"));
const LATENCY_MAX: Metric = latency(SummaryPart::Quantile("1"));
const LATENCY_COUNT: Metric = latency(SummaryPart::Count);
const LATENCY_SUM: Metric = latency(SummaryPart::Sum);

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_cover_their_values() {
        let mut last = None;
        for v in (0..5000u64).chain([1 << 20, (1 << 20) + 12345, 1 << 39, u64::MAX]) {
            let i = Histogram::index(v);
            assert!(v <= Histogram::upper(i) || i == BUCKETS - 1, "v={v} i={i}");
            if i > 0 && i < BUCKETS - 1 {
                assert!(v > Histogram::upper(i - 1), "v={v} i={i}");
            }
            if let Some(l) = last {
                assert!(i >= l);
            }
            last = Some(i);
        }
    }

    #[test]
    fn quantiles_are_within_a_sixteenth() {
        let h = Histogram::new();
        for v in 1..=10_000u64 {
            h.record(v * 1000);
        }
        for (q, exact) in [
            (0.5, 5_000_000f64),
            (0.99, 9_900_000.0),
            (0.999, 9_990_000.0),
        ] {
            let got = h.quantile(q) as f64;
            assert!((got - exact).abs() / exact < 1.0 / 16.0, "q={q} got={got}");
        }
        assert_eq!(h.max(), 10_000_000);
        assert_eq!(h.quantile(1.0), 10_000_000);
        assert_eq!(Histogram::new().quantile(0.5), 0);
    }

    #[test]
    fn batches_record_like_single_values() {
        let (one, many) = (Histogram::new(), Histogram::new());
        let values: Vec<u64> = (0..500u64).map(|i| (i / 7) * 1000 + i % 3).collect();
        for &v in &values {
            one.record(v);
        }
        many.record_all(values.iter().copied());
        for q in [0.1, 0.5, 0.9, 0.99, 1.0] {
            assert_eq!(one.quantile(q), many.quantile(q));
        }
        assert_eq!(
            (one.count(), one.sum(), one.max()),
            (many.count(), many.sum(), many.max())
        );
    }

    /// Every bucket's span holds exactly the values that land in it, and
    /// a run of values rising, falling and crossing every bucket's edges
    /// fills each bucket exactly as recording them one by one does.
    #[test]
    fn a_latency_run_fills_every_bucket_as_single_records_do() {
        let mut edges = Vec::new();
        for i in 0..BUCKETS {
            let (lo, width) = Histogram::span(i);
            let hi = lo + (width - 1);
            assert_eq!(Histogram::index(lo), i, "lowest of bucket {i}");
            assert_eq!(Histogram::index(hi), i, "highest of bucket {i}");
            if lo > 0 {
                assert_eq!(Histogram::index(lo - 1), i - 1, "below bucket {i}");
            }
            edges.extend([lo.saturating_sub(1), lo, lo + 1, hi.saturating_sub(1), hi]);
        }
        assert_eq!(
            Histogram::span(BUCKETS - 1).0 + (Histogram::span(BUCKETS - 1).1 - 1),
            u64::MAX
        );
        let mut values = edges.clone();
        values.extend(edges.iter().rev());
        values.extend(edges.iter().step_by(3));
        let (one, run_h) = (Histogram::new(), Histogram::new());
        let mut run = LatencyRun::default();
        for &v in &values {
            one.record(v);
            run.push(&run_h, v);
        }
        run.flush(&run_h);
        for i in 0..BUCKETS {
            assert_eq!(
                one.buckets[i].load(Relaxed),
                run_h.buckets[i].load(Relaxed),
                "bucket {i}"
            );
        }
        assert_eq!((one.sum(), one.max()), (run_h.sum(), run_h.max()));
    }

    #[test]
    fn a_latency_run_records_nothing_until_flushed_and_everything_after() {
        let (one, run_h) = (Histogram::new(), Histogram::new());
        let mut run = LatencyRun::default();
        let values = [5u64, 5, 900, 901, 5, 1 << 30, 0, 17];
        for v in values {
            one.record(v);
            run.push(&run_h, v);
        }
        // Runs of earlier buckets may be in; the last run, the sum and the
        // maximum wait for the flush.
        assert!(run_h.count() < values.len() as u64);
        assert_eq!((run_h.sum(), run_h.max()), (0, 0));
        run.flush(&run_h);
        assert_eq!(
            (one.count(), one.sum(), one.max()),
            (run_h.count(), run_h.sum(), run_h.max())
        );
        for q in [0.1, 0.5, 0.9, 1.0] {
            assert_eq!(one.quantile(q), run_h.quantile(q));
        }
        // A flushed run starts empty: flushing again adds nothing.
        run.flush(&run_h);
        assert_eq!(run_h.count(), values.len() as u64);
    }
}
