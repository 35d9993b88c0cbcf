//! Credits: how many messages a subscription may hold outside the ring.
//!
//! The retry store has `retry_capacity` entries. Every delivery from the
//! ring reserves one credit before it is handed out, so a nack, a term or an
//! expiry can always copy its message into the store (the delivery's credit
//! pays for the entry) and nothing is ever dropped for want of room. When no
//! credit is left the subscription takes no new messages until some settle,
//! as NATS's `max_ack_pending` does.
//!
//! Invariant: `available + (ring deliveries unsettled) + (store entries in
//! use) = retry_capacity`. A credit comes back when an acked ring delivery
//! settles, or when a store entry is freed.

use crossbeam_utils::CachePadded;

use crate::sync::{AtomicU64, Ordering::*};

pub(super) struct Credits(CachePadded<AtomicU64>);

impl Credits {
    pub(super) fn new(n: u64) -> Credits {
        Credits(CachePadded::new(AtomicU64::new(n)))
    }

    /// Reserves up to `want`; returns how many were reserved.
    pub(super) fn take(&self, want: u64) -> u64 {
        let mut c = self.0.load(Acquire);
        loop {
            let take = c.min(want);
            if take == 0 {
                return 0;
            }
            match self.0.compare_exchange_weak(c, c - take, AcqRel, Acquire) {
                Ok(_) => return take,
                Err(a) => c = a,
            }
        }
    }

    /// Returns `n` credits; true if there were none before (a poll may be
    /// waiting for one).
    pub(super) fn give(&self, n: u64) -> bool {
        n > 0 && self.0.fetch_add(n, AcqRel) == 0
    }

    pub(super) fn available(&self) -> u64 {
        self.0.load(Acquire)
    }
}
