//! The one owner of a subscription's counters.
//!
//! Nothing else changes them: each event of a delivery's life is one method
//! here, and `in_flight`, `lag`, `outstanding` and the stats snapshot are
//! derived here, from the same counters and from what the subscription
//! reads elsewhere and passes in ([`Readings`]: the topic's published
//! watermark and the cursor, for `lag`; the retry store's `waiting_retry`;
//! the slot states' `pinned`). Every delivery ends in exactly one of acked,
//! nacked, expired or termed, so at every quiescent moment
//!
//! ```text
//! delivered = acked + nacked + expired + termed + in_flight
//! ```
//!
//! A push handler's failure is a nack whether the message is retried or
//! dead-lettered; `termed` counts only explicit terms. `dead_lettered` and
//! `retried` count what followed a failure (a dead letter follows a nack at
//! `max_attempts`, a term, or an ordered lane giving up), not deliveries.
//! A failure is counted before the dead-lettering it causes, so a snapshot
//! never shows `dead_lettered` ahead of the nack or term behind it.
//!
//! A message past its ttl or `max_age` is never delivered: it counts in
//! `expired_messages` (whether it was dead-lettered or dropped), not in
//! `delivered` or `dead_lettered`, so each message a subscription gets
//! ends exactly once as acked, dead-lettered or expired_messages.
//!
//! `lag` is what is published and not yet taken by the cursor (0 once the
//! subscription is closed: it will take nothing more), and
//!
//! ```text
//! outstanding = lag + in_flight + waiting_retry
//! ```
//!
//! `pinned` is a part of `expired` still holding its ring slot: deliveries
//! past their ack deadline whose `Delivery` is alive (see `slots`).

use crate::stats::{Histogram, LatencyRun, SubStats};
use crate::sync::{AtomicU64, Mutex, Ordering::Relaxed};

/// What a subscription reads outside its counters, for the derivations.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Readings {
    /// The topic's published watermark: every sequence below it is published.
    pub published_upto: u64,
    /// The subscription's cursor: the next ring sequence it will take.
    pub next: u64,
    /// The subscription is closed (it owes no lag).
    pub closed: bool,
    /// Messages in the retry store.
    pub waiting_retry: u64,
    /// Expired deliveries whose slot a live holder still pins.
    pub pinned: u64,
    pub paused: bool,
}

pub(crate) struct Accounting {
    delivered: AtomicU64,
    acked: AtomicU64,
    nacked: AtomicU64,
    expired: AtomicU64,
    termed: AtomicU64,
    retried: AtomicU64,
    dead_lettered: AtomicU64,
    dropped: AtomicU64,
    handler_panics: AtomicU64,
    expired_messages: AtomicU64,
    retention_dropped: AtomicU64,
    latency: Histogram,
    last_error: Mutex<Option<String>>,
}

impl Accounting {
    pub(crate) fn new() -> Accounting {
        Accounting {
            delivered: AtomicU64::new(0),
            acked: AtomicU64::new(0),
            nacked: AtomicU64::new(0),
            expired: AtomicU64::new(0),
            termed: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            dead_lettered: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            handler_panics: AtomicU64::new(0),
            expired_messages: AtomicU64::new(0),
            retention_dropped: AtomicU64::new(0),
            latency: Histogram::new(),
            last_error: Mutex::new(None),
        }
    }

    /// `n` deliveries handed to consumers.
    pub(crate) fn delivered(&self, n: u64) {
        if n > 0 {
            self.delivered.fetch_add(n, Relaxed);
        }
    }

    /// `n` deliveries acked.
    pub(crate) fn acked(&self, n: u64) {
        if n > 0 {
            self.acked.fetch_add(n, Relaxed);
        }
    }

    /// One ack's publish-to-ack latency.
    pub(crate) fn latency(&self, ns: u64) {
        self.latency.record(ns);
    }

    /// One ack's latency, gathered in `run` with others of its batch;
    /// recorded by [`flush_latencies`](Self::flush_latencies).
    #[inline(always)]
    pub(crate) fn latency_into(&self, run: &mut LatencyRun, ns: u64) {
        run.push(&self.latency, ns);
    }

    /// Records the latencies gathered in `run`.
    pub(crate) fn flush_latencies(&self, run: &mut LatencyRun) {
        run.flush(&self.latency);
    }

    /// A batch of acks' latencies.
    pub(crate) fn latencies(&self, ns: impl IntoIterator<Item = u64>) {
        self.latency.record_all(ns);
    }

    /// A delivery failed (nack, handler error or panic).
    pub(crate) fn nacked(&self, reason: Option<&str>) {
        self.nacked.fetch_add(1, Relaxed);
        if let Some(r) = reason {
            self.set_last_error(r);
        }
    }

    /// A delivery was termed by its consumer.
    pub(crate) fn termed(&self, reason: Option<&str>) {
        self.termed.fetch_add(1, Relaxed);
        if let Some(r) = reason {
            self.set_last_error(r);
        }
    }

    /// A delivery was not settled within its ack timeout.
    pub(crate) fn expired(&self) {
        self.expired.fetch_add(1, Relaxed);
    }

    /// A message expired (ttl or max_age) before it was delivered.
    pub(crate) fn message_expired(&self) {
        self.expired_messages.fetch_add(1, Relaxed);
    }

    /// A failed message was scheduled for another attempt.
    pub(crate) fn retried(&self) {
        self.retried.fetch_add(1, Relaxed);
    }

    /// A message reached the dead-letter topic.
    pub(crate) fn dead_lettered(&self) {
        self.dead_lettered.fetch_add(1, Relaxed);
    }

    /// A lossy subscription skipped `n` messages.
    pub(crate) fn dropped(&self, n: u64) {
        if n > 0 {
            self.dropped.fetch_add(n, Relaxed);
        }
    }

    /// A durable topic's retention removed `n` messages this subscription
    /// had not taken yet.
    pub(crate) fn retention_dropped(&self, n: u64) {
        if n > 0 {
            self.retention_dropped.fetch_add(n, Relaxed);
        }
    }

    /// A handler panicked (the failure itself is counted as a nack).
    pub(crate) fn handler_panicked(&self) {
        self.handler_panics.fetch_add(1, Relaxed);
    }

    /// An ordered push lane failed a delivery and will retry it in place
    /// after the backoff: a nack, a retry, and the next delivery.
    pub(crate) fn retried_in_place(&self, reason: &str) {
        // The new delivery first: a snapshot may then see one more in
        // flight for a moment, never one less.
        self.delivered(1);
        self.retried();
        self.nacked(Some(reason));
    }

    pub(crate) fn dropped_total(&self) -> u64 {
        self.dropped.load(Relaxed)
    }

    fn set_last_error(&self, reason: &str) {
        let mut g = self.last_error.lock().unwrap_or_else(|e| e.into_inner());
        match g.as_mut() {
            Some(s) => {
                s.clear();
                s.push_str(reason);
            }
            None => *g = Some(reason.to_owned()),
        }
    }

    /// Deliveries handed out and not yet settled, by the identity above.
    pub(crate) fn in_flight(&self) -> u64 {
        let settled = self.acked.load(Relaxed)
            + self.nacked.load(Relaxed)
            + self.expired.load(Relaxed)
            + self.termed.load(Relaxed);
        self.delivered.load(Relaxed).saturating_sub(settled)
    }

    /// Messages published but not yet delivered: from the cursor to the
    /// published watermark; none once closed.
    pub(crate) fn lag(&self, r: &Readings) -> u64 {
        if r.closed {
            return 0;
        }
        r.published_upto.saturating_sub(r.next)
    }

    /// Messages still owed: not yet delivered (`lag`), in flight, or waiting
    /// in the store for a retry.
    pub(crate) fn outstanding(&self, r: &Readings) -> u64 {
        self.lag(r) + self.in_flight() + r.waiting_retry
    }

    /// The stats snapshot. Counters are read settled-side first, so that a
    /// concurrent delivery can only make `in_flight` look larger, never
    /// wrap below zero.
    pub(crate) fn snapshot(&self, r: &Readings, with_error: bool) -> SubStats {
        let acked = self.acked.load(Relaxed);
        let nacked = self.nacked.load(Relaxed);
        let expired = self.expired.load(Relaxed);
        let termed = self.termed.load(Relaxed);
        let delivered = self.delivered.load(Relaxed);
        SubStats {
            delivered,
            acked,
            nacked,
            retried: self.retried.load(Relaxed),
            dead_lettered: self.dead_lettered.load(Relaxed),
            termed,
            dropped: self.dropped.load(Relaxed),
            expired,
            handler_panics: self.handler_panics.load(Relaxed),
            expired_messages: self.expired_messages.load(Relaxed),
            paused: r.paused as u64,
            in_flight: delivered.saturating_sub(acked + nacked + expired + termed),
            waiting_retry: r.waiting_retry,
            lag: self.lag(r),
            latency_p50_ns: self.latency.quantile(0.5),
            latency_p99_ns: self.latency.quantile(0.99),
            latency_p999_ns: self.latency.quantile(0.999),
            latency_max_ns: self.latency.max(),
            latency_count: self.latency.count(),
            latency_sum_ns: self.latency.sum(),
            pinned: r.pinned,
            retention_dropped: self.retention_dropped.load(Relaxed),
            last_error: if with_error {
                self.last_error
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone()
            } else {
                None
            },
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn lag_outstanding_and_the_snapshot_derive_from_one_reading() {
        let a = Accounting::new();
        a.delivered(3);
        a.acked(1);
        let r = Readings {
            published_upto: 10,
            next: 4,
            waiting_retry: 2,
            pinned: 1,
            ..Readings::default()
        };
        assert_eq!((a.lag(&r), a.in_flight()), (6, 2));
        assert_eq!(a.outstanding(&r), 6 + 2 + 2);
        let s = a.snapshot(&r, false);
        assert_eq!(
            (s.lag, s.in_flight, s.waiting_retry, s.pinned),
            (6, 2, 2, 1)
        );
        let behind = Readings { next: 12, ..r };
        assert_eq!(a.lag(&behind), 0, "a cursor read after the watermark");
        let closed = Readings { closed: true, ..r };
        assert_eq!(a.lag(&closed), 0, "closed: owes no lag");
        assert_eq!(a.outstanding(&closed), 2 + 2);
    }
}
