//! Claiming sequences and gating producers on subscriptions.
//!
//! `claim` is the next sequence to hand to a producer. A producer claims `n`
//! sequences by a compare-and-swap from `c` to `c + n` (multi-producer, as in
//! the Disruptor's MultiProducerSequencer), after checking that the last one,
//! `c + n - 1`, does not overwrite a message some gated subscription has not
//! settled: `c + n <= min_gate + capacity`.
//!
//! Each gated (non-lossy) subscription owns one entry of `gates`: the lowest
//! sequence it has not settled (its settled watermark; `FREE` when the entry
//! is unused). Gates only grow while owned. `gate_cache` holds a recent
//! minimum so producers scan the gates once per lap, not per message; it may
//! lag the true minimum (that only makes producers rescan), never exceed it
//! (see `register`).

use crossbeam_utils::CachePadded;

use crate::sync::{AtomicU64, Ordering};

pub const FREE: u64 = u64::MAX;
/// Gated subscriptions one topic may have at once (fewer under loom, whose
/// models grow with every atomic a scan touches).
pub const MAX_GATES: usize = if cfg!(loom) { 4 } else { 64 };

pub struct Sequencer {
    claim: CachePadded<AtomicU64>,
    gate_cache: CachePadded<AtomicU64>,
    gates: Box<[CachePadded<AtomicU64>]>,
    capacity: u64,
}

/// Why a claim failed.
#[derive(Debug, PartialEq, Eq)]
pub enum ClaimError {
    /// Not enough room without overwriting an unsettled message.
    Full,
}

impl Sequencer {
    pub fn new(capacity: u64) -> Sequencer {
        Sequencer::starting_at(capacity, 0)
    }

    /// A sequencer whose first claim is `base` (a durable topic reopened
    /// goes on after the ids of its log).
    pub fn starting_at(capacity: u64, base: u64) -> Sequencer {
        Sequencer {
            claim: CachePadded::new(AtomicU64::new(base)),
            gate_cache: CachePadded::new(AtomicU64::new(base)),
            gates: (0..MAX_GATES)
                .map(|_| CachePadded::new(AtomicU64::new(FREE)))
                .collect(),
            capacity,
        }
    }

    /// The next sequence to be claimed (all below it are claimed).
    pub fn claimed(&self) -> u64 {
        self.claim.load(Ordering::SeqCst)
    }

    /// The lowest gate, or `fallback` when no gate is owned.
    pub fn min_gate(&self, fallback: u64) -> u64 {
        let mut min = FREE;
        for g in self.gates.iter() {
            min = min.min(g.load(Ordering::SeqCst));
        }
        if min == FREE {
            fallback
        } else {
            min
        }
    }

    /// Claims `n` consecutive sequences and returns the first. `gated`:
    /// respect the gates (block and reject policies); ungated producers
    /// (drop_oldest) overwrite.
    pub fn try_claim(&self, n: u64, gated: bool) -> Result<u64, ClaimError> {
        debug_assert!(n >= 1 && n <= self.capacity);
        let mut cur = self.claim.load(Ordering::Relaxed);
        loop {
            let next = cur + n;
            if gated {
                let mut min = self.gate_cache.load(Ordering::Acquire);
                if next > min + self.capacity {
                    min = self.min_gate(cur);
                    self.gate_cache.fetch_max(min, Ordering::AcqRel);
                    if next > min + self.capacity {
                        return Err(ClaimError::Full);
                    }
                }
            }
            match self
                .claim
                .compare_exchange_weak(cur, next, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => return Ok(cur),
                Err(actual) => cur = actual,
            }
        }
    }

    /// Would a claim of `n` fit now? For waiters of a blocked producer.
    pub fn has_room(&self, n: u64) -> bool {
        let cur = self.claim.load(Ordering::SeqCst);
        cur + n <= self.min_gate(cur) + self.capacity
    }

    /// Takes a gate for a new subscription and returns it with the sequence
    /// the subscription starts at. `earliest`: start at the oldest message
    /// still held for another subscription, else at the next claim.
    ///
    /// Why the start is safe: a producer's limit comes from a scan of the
    /// gates made before ours was visible, so it is at most the minimum of the
    /// other gates then (gates only grow, so at most their minimum now) or, if
    /// there were none, at most the claim then (at most the claim now). The
    /// start is read after our gate is visible and is at least that bound, so
    /// no producer can overwrite it; from then on every scan sees our gate.
    pub fn register(&self, earliest: bool) -> Option<(usize, u64)> {
        let floor = self.min_gate(self.claimed());
        let index = self.gates.iter().position(|g| {
            g.compare_exchange(FREE, floor, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        })?;
        // A read-modify-write, not a load: it is ordered with every
        // producer's claim (also an RMW on `claim`), so either we see a
        // claim, or that producer's claim reads from us and sees our gate.
        let claimed = self.claim.fetch_add(0, Ordering::SeqCst);
        let mut others = FREE;
        for (i, g) in self.gates.iter().enumerate() {
            if i != index {
                others = others.min(g.load(Ordering::SeqCst));
            }
        }
        let start = if earliest {
            claimed.min(others)
        } else {
            claimed
        };
        // Raising our own gate from the floor to the start: gates may grow.
        self.gates[index].store(start.max(floor), Ordering::SeqCst);
        Some((index, start.max(floor)))
    }

    /// Moves gate `index` forward to `settled` (the subscription's watermark).
    pub fn advance(&self, index: usize, settled: u64) {
        self.gates[index].store(settled, Ordering::SeqCst);
    }

    /// Releases gate `index`; producers stop waiting for it.
    pub fn release(&self, index: usize) {
        self.gates[index].store(FREE, Ordering::SeqCst);
    }
}

impl Sequencer {
    /// Gate `index` itself: the owning subscription's settled watermark.
    pub fn gate(&self, index: usize) -> &AtomicU64 {
        &self.gates[index]
    }

    pub fn gate_value(&self, index: usize) -> u64 {
        self.gates[index].load(Ordering::SeqCst)
    }
}

/// Advances a subscription's settled watermark `gate` over every sequence
/// that `settled` says is done; true if it moved.
///
/// Several settlers may run this at once. Each first publishes its own
/// settle (by the caller), then reads the gate with a read-modify-write:
/// RMWs of one location are totally ordered and each reads the latest value,
/// so of two settlers the later one acquires the earlier one's settle (the
/// earlier RMW releases it) and moves past it; the gate never stops short
/// of a settled run. The run found settled is taken with one
/// compare-and-swap: settled is final for a sequence, and no producer can
/// reuse a slot at or above the gate, so a run seen settled from `w` is
/// still settled when the gate is still `w`; a failed swap (another settler
/// moved the gate) reads the new gate and scans on from there. A gate
/// released meanwhile (`FREE`) is left alone: its subscription let go of it
/// while this settler ran.
pub fn advance_gate(gate: &AtomicU64, settled: impl Fn(u64) -> bool) -> bool {
    // The common case first: the caller settled the sequence at the gate.
    // A plain load is enough to try it, since a swap that succeeds is an
    // RMW like the read below (the scan after it sees every settle that an
    // earlier RMW released); a run not found from a plain load proves
    // nothing, so the read-modify-write decides then.
    let w = gate.load(Ordering::SeqCst);
    let mut end = w;
    while w != FREE && settled(end) {
        end += 1;
    }
    if end > w
        && gate
            .compare_exchange(w, end, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    {
        advance_gate_from(gate, end, &settled);
        return true;
    }
    let w = gate.fetch_add(0, Ordering::SeqCst);
    advance_gate_from(gate, w, &settled)
}

/// The loop of [`advance_gate`] from gate value `w`, read by a
/// read-modify-write of `gate` after this settler's own settle.
fn advance_gate_from(gate: &AtomicU64, mut w: u64, settled: &impl Fn(u64) -> bool) -> bool {
    let mut moved = false;
    while w != FREE {
        let mut end = w;
        while settled(end) {
            end += 1;
        }
        if end == w {
            break;
        }
        match gate.compare_exchange(w, end, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => {
                w = end;
                moved = true;
            }
            Err(a) => w = a,
        }
    }
    moved
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// A gate at a higher index than the others still holds producers
    /// back once the lower ones are released, and an entry taken again
    /// after its release gates again.
    #[test]
    fn scans_see_every_gate_taken_whatever_its_index() {
        let seq = Sequencer::new(4);
        let (a, _) = seq.register(false).unwrap();
        let (b, _) = seq.register(false).unwrap();
        let (c, start) = seq.register(false).unwrap();
        assert_eq!((a, b, c, start), (0, 1, 2, 0));
        seq.release(a);
        seq.release(b);
        // Gate `c` (index 2) is the only one left, and still at 0.
        assert_eq!(seq.min_gate(99), 0);
        for _ in 0..4 {
            seq.try_claim(1, true).unwrap();
        }
        assert_eq!(seq.try_claim(1, true), Err(ClaimError::Full));
        assert!(!seq.has_room(1));
        // Index 0 is taken again, at the claim; `c` still holds the ring.
        let (d, start) = seq.register(false).unwrap();
        assert_eq!((d, start), (0, 4));
        assert_eq!(seq.min_gate(99), 0);
        seq.advance(c, 4);
        assert_eq!(seq.min_gate(99), 4);
        seq.release(c);
        seq.release(d);
        assert_eq!(seq.min_gate(99), 99, "no gate owned");
    }
}
