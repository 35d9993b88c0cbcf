//! The settled watermark: moving a subscription's gate over what it has
//! settled, and when.
//!
//! Every settle that could move the gate (a nack, a term, the ack timer, a
//! close) advances it at once. Acks may leave a short run unpublished: a
//! consumer that acks one message at a time would otherwise store to the
//! gate on every ack, a line that a producer short of room keeps reading,
//! and each such store costs a transfer of that line between cores (in a
//! `poll` + `ack` loop against a full ring, a third of the consumer's
//! time). So an ack run shorter than `defer` sequences past the gate stays
//! unpublished while no producer is parked waiting for room.
//!
//! Nothing waits on an unpublished run for long:
//! - a producer about to park (counted in the producers' wait queue, past
//!   the heavy side of the barrier) first publishes every subscription's
//!   run itself (`TopicCore::flush_gates`), and an ack that leaves its run
//!   unpublished first checks, past the light side of the barrier, that no
//!   producer is counted there: either the ack sees the producer (and
//!   publishes its run and wakes it), or the producer's flush sees the ack;
//! - a producer that would refuse (`reject`, a zero timeout, a timeout
//!   that passed) flushes and claims again before it refuses;
//! - the topic's stats flush before they read the gates, and the ack timer
//!   before it scans from the gate.
//!
//! A run is at most `defer` sequences (an eighth of the ring, at most 32;
//! none for rings of fewer than 8 slots), so a producer never finds more
//! than that unpublished, and producers that keep finding room never wait
//! on it at all.

use super::SubCore;
use crate::sync::{AtomicU64, Ordering::*};

/// Where this subscription last published its gate, and how far acks may
/// run past it unpublished.
pub(super) struct Watermark {
    /// The gate as this subscription last published it (a hint: another
    /// settler may have moved the gate since).
    published: AtomicU64,
    defer: u64,
}

impl Watermark {
    pub(super) fn new(start: u64, capacity: usize) -> Watermark {
        Watermark {
            published: AtomicU64::new(start),
            defer: (capacity as u64 / 8).min(32),
        }
    }

    /// Does an ack of sequences up to `last` leave a run short enough to
    /// stay unpublished?
    fn short(&self, last: u64) -> bool {
        last < self.published.load(Relaxed).saturating_add(self.defer)
    }
}

impl SubCore {
    /// Advances the watermark over every settled sequence, waking producers
    /// if it moved.
    pub(super) fn advance(&self) {
        let Some(gate) = self.gate else { return };
        if self.gate_released.load(Acquire) {
            return;
        }
        if self.topic.advance_gate(gate, |w| self.slots.is_settled(w)) {
            self.topic.notify_producers();
        }
        self.watermark
            .published
            .store(self.topic.gate_value(gate), Relaxed);
        // A closed subscription lets go of its gate with its last pinned
        // slot, whichever path settled it (a settle, the timer, a batch).
        if self.is_closed() {
            self.try_release_gate();
        }
    }

    /// After acks of ring sequences up to `last` (each settled already):
    /// advances the watermark, unless the run is short and no producer is
    /// parked waiting for room (see the module doc).
    pub(super) fn advance_acked(&self, last: u64) {
        if self.watermark.short(last) && !self.is_closed() && !self.topic.producers_parked() {
            return;
        }
        self.advance();
    }

    /// Publishes any run of acks left unpublished: for a producer short of
    /// room and the topic's stats (`TopicCore::flush_gates`).
    pub(crate) fn flush_gate(&self) {
        self.advance();
    }
}
