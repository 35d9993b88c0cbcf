//! The ack timer: a delivery not settled within `ack_timeout` comes back.
//!
//! There is no timer thread. Whoever takes from the subscription (a poll, a
//! pool worker) scans the window of delivered, unsettled sequences at most
//! every `reap_every` (an eighth of the ack timeout, between 1 and 100 ms)
//! and takes each one past its deadline (see `slots::try_reap`): its message
//! is copied into the retry store and redelivered after the backoff with
//! `attempt + 1`, like a nack. If its holder still has it, the slot stays
//! pinned (EXPIRED) until the holder lets go; a dropped delivery's slot
//! settles at once, and so does a raw tag's (LAPSED): a raw holder's
//! payload is valid only until the ack deadline. A raw holder of a store
//! delivery lets go of the entry at its expiry the same way. Expired store deliveries are found through the store's
//! due-time heap instead (see `routing`).

use super::routing::Route;
use super::{Reaped, SubCore};
use crate::sync::{AtomicU64, Ordering::*};

pub(super) struct AckTimer {
    next_reap: AtomicU64,
    reap_every: u64,
}

impl AckTimer {
    pub(super) fn new(ack_timeout_ns: u64) -> AckTimer {
        AckTimer {
            next_reap: AtomicU64::new(0),
            reap_every: (ack_timeout_ns / 8).clamp(1_000_000, 100_000_000),
        }
    }

    /// Is a scan due at `now`?
    pub(super) fn due(&self, now: u64) -> bool {
        now >= self.next_reap.load(Relaxed)
    }

    /// The longest a waiter may sleep without missing a scan.
    pub(super) fn period(&self) -> u64 {
        self.reap_every
    }

    /// When the next scan is due (monotonic ns).
    pub(super) fn next_at(&self) -> u64 {
        self.next_reap.load(Relaxed)
    }

    fn start(&self, now: u64) {
        self.next_reap.store(now + self.reap_every, Relaxed);
    }
}

impl SubCore {
    /// Scans the ring window for deliveries past their ack deadline.
    pub(super) fn reap(&self, now: u64) {
        self.timer.start(now);
        let Some(gate) = self.gate else { return };
        // Acks left unpublished (see `watermark`) need no scan.
        self.advance();
        let start = self.topic.gate_value(gate);
        let end = self.cursor.next();
        for seq in start..end {
            let Some(reaped) = self.slots.try_reap(seq, now) else {
                continue;
            };
            self.acct.expired();
            self.ring_to_store(seq, 1, Route::Retry(None), now, "ack timeout");
            self.release_key(seq);
            match reaped {
                Reaped::Held => self.slots.mark_expired(seq),
                Reaped::Abandoned => self.settle_slot(seq),
                Reaped::Lapsed => {
                    self.slots.mark_lapsed(seq);
                    self.advance();
                }
            }
        }
    }

    /// Are deliveries out, with a scan due?
    pub(super) fn reap_due(&self, now: u64) -> bool {
        self.timer.due(now) && self.reap_pending()
    }

    /// Are deliveries out, which a scan may find past their deadline? (A
    /// run of acks not yet published to the gate is not: see `watermark`;
    /// the look stops at the first unsettled sequence.)
    pub(super) fn reap_pending(&self) -> bool {
        self.gate.is_some_and(|g| {
            (self.topic.gate_value(g)..self.cursor.next()).any(|seq| !self.slots.is_settled(seq))
        })
    }
}
