//! How long a waiter keeps checking before it parks: a budget per wait
//! queue that adapts to how long its waits turn out to last.
//!
//! Parking is dear here: the waiter passes the heavy side of the
//! asymmetric barrier (a `membarrier`, an inter-processor interrupt to
//! every CPU running the process, several microseconds in a VM), sleeps on
//! a futex, and its notifier pays a futex wake. When the other side answers
//! within a few microseconds (a request and its reply, a consumer that
//! keeps catching up with its producer), a waiter that parks makes the
//! other side wait for its wake-up, which then parks in turn: every hop
//! pays a park and a wake-up, and the round trip grows from about a
//! microsecond to ten.
//!
//! So a waiter, after the short spin every wait has, goes on checking
//! (yielding its CPU between checks, so that a runnable thread is never
//! kept off it) for up to the queue's budget, then parks. The budget moves
//! as the host's halt-polling does (Linux's KVM `halt_poll_ns`): a wait
//! that had to park but ended within [`MAX_NS`] doubles it (a longer check
//! would have saved the park); a wait that parked for longer than that
//! halves it (checking was wasted), down to nothing. A queue whose waits
//! are long (an idle subscription, a pool with no work) thus parks after
//! the short spin alone, and only waits that end quickly are checked for.

use crate::sync::{AtomicU64, Ordering::Relaxed};

/// The most a waiter checks before it parks (ns).
pub(crate) const MAX_NS: u64 = 50_000;
/// Where a budget restarts from when it grows from nothing (ns).
const GROW_FROM_NS: u64 = 5_000;

pub(crate) struct SpinBudget {
    ns: AtomicU64,
    /// [`MAX_NS`], but in tests.
    max_ns: u64,
}

impl Default for SpinBudget {
    fn default() -> Self {
        SpinBudget::bounded(MAX_NS)
    }
}

impl SpinBudget {
    /// A budget that grows up to `max_ns` (tests use a bound longer than a
    /// sleep's, to be free of the machine's timing).
    pub(crate) fn bounded(max_ns: u64) -> SpinBudget {
        SpinBudget {
            ns: AtomicU64::new(0),
            max_ns,
        }
    }

    /// How long a waiter checks, after the short spin, before it parks.
    #[inline]
    pub(crate) fn ns(&self) -> u64 {
        if cfg!(loom) {
            // A model explores interleavings, not time.
            return 0;
        }
        self.ns.load(Relaxed)
    }

    /// A wait parked and ended (woken, not timed out) `waited_ns` after it
    /// began: grow the budget if checking that long would have saved the
    /// park, else shrink it. Racing updates may lose one another's step;
    /// each is a heuristic's step, and the value stays within bounds.
    pub(crate) fn parked(&self, waited_ns: u64) {
        if cfg!(loom) {
            // Not modelled (`ns` is 0 under loom). A step here would hang
            // on how long the wait took in real time, so a model's
            // execution would not replay the same: its operations would
            // differ from one run of the same interleaving to the next.
            return;
        }
        let cur = self.ns.load(Relaxed);
        let next = if waited_ns <= self.max_ns {
            (cur * 2).clamp(GROW_FROM_NS.min(self.max_ns), self.max_ns)
        } else if cur <= GROW_FROM_NS / 2 {
            0
        } else {
            cur / 2
        };
        if next != cur {
            self.ns.store(next, Relaxed);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn short_parks_grow_the_budget_to_its_bound_and_long_ones_shrink_it_to_nothing() {
        let b = SpinBudget::default();
        assert_eq!(b.ns(), 0, "a new queue parks after the short spin");
        b.parked(20_000);
        assert_eq!(b.ns(), GROW_FROM_NS);
        for _ in 0..10 {
            b.parked(20_000);
        }
        assert_eq!(b.ns(), MAX_NS);
        b.parked(MAX_NS + 1);
        assert_eq!(b.ns(), MAX_NS / 2);
        for _ in 0..10 {
            b.parked(1_000_000);
        }
        assert_eq!(b.ns(), 0);
    }
}
