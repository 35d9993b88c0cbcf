//! Settling one delivery: ack, nack, requeue (back unhandled, not counted
//! as an attempt), term, in_progress, or release (the
//! holder dropped it unsettled).
//!
//! Ring deliveries settle by a transition of their slot's state word (see
//! `slots`): exactly one of the consumer's settle and the ack timer wins. An
//! old holder of an expired delivery learns that it was redelivered (its
//! settle is refused) and lets go of the slot. Store deliveries settle under
//! the store's lock against the entry's current generation.
//!
//! A settle that is refused changes nothing, with one exception the refusal
//! itself reports: the holder of an expired delivery letting go of what it
//! pinned.

use std::time::Duration;

use super::relay::Outcome;
use super::routing::Route;
use super::tag::{gen_bits, Tag};
use super::SubCore;
use crate::clock::{mono_ns, wall_ns};
use crate::error::{Error, Result};
use crate::retry::EntryState;

/// How a consumer settles a delivery.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Action<'a> {
    Ack,
    Nack {
        delay: Option<Duration>,
        reason: Option<&'a str>,
        /// Deliveries made in place by the consumer (ordered push lanes
        /// retry in place), when more than the subscription made.
        attempts: Option<u32>,
    },
    Term {
        reason: Option<&'a str>,
    },
    InProgress,
    /// Given back unhandled (a cancelled wait, a consumer shutting down):
    /// delivered again at once, to any consumer, and not counted as an
    /// attempt (the stats count it as a nack, whose count `in_flight`
    /// derives from).
    Requeue,
    /// The holder dropped the delivery without settling it.
    Release,
}

impl Action<'_> {
    pub(crate) fn nack(delay: Option<Duration>, reason: Option<&str>) -> Action<'_> {
        Action::Nack {
            delay,
            reason,
            attempts: None,
        }
    }
}

/// Does `action`, when it wins, end the delivery?
fn ends(action: Action<'_>) -> bool {
    matches!(
        action,
        Action::Ack | Action::Nack { .. } | Action::Term { .. } | Action::Requeue
    )
}

impl SubCore {
    /// Settles the delivery `tag`. `timestamp_ns`: its publish time, for
    /// the latency of an ack.
    pub(crate) fn settle(
        &self,
        tag: u64,
        action: Action<'_>,
        timestamp_ns: Option<i64>,
    ) -> Result<()> {
        if self.is_closed() {
            return self.settle_closed(tag, action);
        }
        let r = self.settle_tag(tag, action);
        if r.is_ok() && matches!(action, Action::Ack) {
            self.acct.acked(1);
            if let Some(ts) = timestamp_ns {
                self.acct
                    .latency(wall_ns().saturating_sub(ts).max(0) as u64);
            }
        }
        if self.is_closed() {
            // Closed meanwhile: this may have been its last pinned slot.
            self.try_release_gate();
        }
        r
    }

    fn settle_tag(&self, tag: u64, action: Action<'_>) -> Result<()> {
        match Tag::decode(tag) {
            Tag::Ring(seq) => {
                let r = self.settle_ring(seq, action);
                // An ack, nack or term that won ends the delivery (a
                // release or in_progress does not; the timer ends those).
                if r.is_ok() && ends(action) {
                    self.release_key(tag);
                }
                r
            }
            Tag::Store { idx, gen } => self.settle_store(tag, idx, gen, action),
        }
    }

    /// A closed subscription takes no settle: ack, nack and term answer
    /// `Closed` (whatever the tag) and change nothing but the holder letting
    /// go of the delivery, so that its slot no longer holds producers back;
    /// `in_progress` changes nothing at all (the holder still reads it).
    fn settle_closed(&self, tag: u64, action: Action<'_>) -> Result<()> {
        // In a forked child nothing is let go: its locks may be held.
        if !matches!(action, Action::InProgress) && !self.topic().forked() {
            let _ = self.settle_tag(tag, Action::Release);
            self.try_release_gate();
        }
        match action {
            Action::Release => Ok(()),
            _ => Err(self.closed_error()),
        }
    }

    fn unknown(tag: u64) -> Error {
        Error::invalid(format!("delivery tag {tag} is unknown or already settled"))
    }

    fn expired(tag: u64) -> Error {
        Error::invalid(format!(
            "delivery tag {tag} expired (not settled within ack_timeout) and was redelivered"
        ))
    }

    fn settle_ring(&self, seq: u64, action: Action<'_>) -> Result<()> {
        if self.lossy || seq >= self.cursor.next() {
            return Err(Self::unknown(seq));
        }
        // Not DELIVERED: an expired delivery's old holder lets go of its
        // slot (and learns it was redelivered), or the tag is unknown.
        let not_delivered = || {
            if self.slots.try_let_go_expired(seq) {
                self.settle_slot(seq);
                Err(Self::expired(seq))
            } else if self.slots.try_take_lapsed(seq) {
                // A raw holder's delivery lapsed: its slot is free already.
                Err(Self::expired(seq))
            } else {
                Err(Self::unknown(seq))
            }
        };
        // Read while the slot is still pinned (the relay needs them).
        let (id, key) = if self.relayed() {
            let m = self.ring().meta(seq);
            (m.id, m.key)
        } else {
            (0, 0)
        };
        match action {
            Action::Ack => {
                if !self.slots.try_ack(seq) {
                    return not_delivered();
                }
                self.relay_event(id, key, || Outcome::Acked);
                self.return_credits(1);
                self.advance_acked(seq);
                Ok(())
            }
            Action::Nack {
                delay,
                reason,
                attempts,
            } => {
                if !self.slots.try_take(seq) {
                    return not_delivered();
                }
                self.acct.nacked(reason);
                let attempts = attempts.unwrap_or(1);
                let why = reason.unwrap_or("nacked");
                self.ring_to_store(seq, attempts, Route::Retry(delay), mono_ns(), why);
                self.settle_slot(seq);
                Ok(())
            }
            Action::Requeue => {
                if !self.slots.try_take(seq) {
                    return not_delivered();
                }
                self.acct.nacked(None);
                // Copied out with no attempt made: its next delivery is
                // the same attempt again.
                let now = mono_ns();
                self.ring_to_store(seq, 0, Route::Retry(Some(Duration::ZERO)), now, "requeued");
                self.settle_slot(seq);
                Ok(())
            }
            Action::Term { reason } => {
                if !self.slots.try_take(seq) {
                    return not_delivered();
                }
                self.acct.termed(reason);
                let why = reason.unwrap_or("termed");
                self.ring_to_store(seq, 1, Route::DeadLetter, mono_ns(), why);
                self.settle_slot(seq);
                Ok(())
            }
            Action::InProgress => {
                if self.slots.extend(seq, self.ack_deadline(mono_ns())) {
                    self.relay_event(id, key, || Outcome::InProgress);
                    Ok(())
                } else {
                    Err(Self::unknown(seq))
                }
            }
            Action::Release => {
                if !self.slots.try_abandon(seq) && self.slots.try_let_go_expired(seq) {
                    self.settle_slot(seq);
                }
                Ok(())
            }
        }
    }

    fn settle_store(&self, tag: u64, idx: u32, gen: u32, action: Action<'_>) -> Result<()> {
        let mut st = self.lock_store();
        if idx as usize >= st.len() || !st.owns_gen(idx, gen) {
            return Err(Self::unknown(tag));
        }
        let current =
            gen_bits(st.gen(idx)) == gen && matches!(st.state(idx), EntryState::InFlight { .. });
        if !current {
            // An earlier delivery of this message: it expired and was
            // redelivered, or the message is done. Its holder learns so, and
            // lets go (once) unless it only asked for more time.
            let held = st.holds(idx, gen);
            if held && !matches!(action, Action::InProgress) && st.release(idx, gen).1 {
                self.return_credits(1);
            }
            return match action {
                _ if !held => Err(Self::unknown(tag)),
                Action::Release => Ok(()),
                _ => Err(Self::expired(tag)),
            };
        }
        let now = mono_ns();
        if ends(action) {
            self.release_key_locked(&mut st, tag);
        }
        let (id, key) = {
            let m = st.message(idx).0;
            (m.id, m.key)
        };
        match action {
            Action::InProgress => {
                st.extend(idx, self.ack_deadline(now));
                self.refresh_due(&mut st);
                self.relay_event(id, key, || Outcome::InProgress);
                return Ok(());
            }
            // Left in flight: the ack timer redelivers it.
            Action::Release => {}
            Action::Ack => {
                st.finish(idx);
                self.relay_event(id, key, || Outcome::Acked);
            }
            Action::Nack {
                delay,
                reason,
                attempts,
            } => {
                self.acct.nacked(reason);
                st.set_reason(idx, reason.unwrap_or("nacked"));
                if let Some(a) = attempts {
                    st.raise_attempts(idx, a);
                }
                self.retry_or_dead_letter(&mut st, idx, delay, now);
            }
            Action::Requeue => {
                self.acct.nacked(None);
                st.uncount_attempt(idx);
                self.retry_or_dead_letter(&mut st, idx, Some(Duration::ZERO), now);
            }
            Action::Term { reason } => {
                self.acct.termed(reason);
                st.set_reason(idx, reason.unwrap_or("termed"));
                self.dead_letter_entry(&mut st, idx, now);
            }
        }
        if st.release(idx, gen).1 {
            self.return_credits(1);
        }
        self.refresh_due(&mut st);
        Ok(())
    }

    /// The holder of `tag` turned it into a raw tag (the C API): it pins
    /// its payload only until its ack deadline (see `slots`). A delivery
    /// whose deadline passed already (the timer took it) is let go now, as
    /// a dropped one would be: a raw tag pins nothing past its deadline,
    /// and nothing would ever let go of it otherwise.
    pub(crate) fn mark_raw(&self, tag: u64) {
        let live = match Tag::decode(tag) {
            Tag::Ring(seq) => self.lossy || self.slots.mark_raw(seq),
            Tag::Store { idx, gen } => {
                let mut st = self.lock_store();
                (idx as usize) < st.len() && st.mark_raw(idx, gen)
            }
        };
        if !live {
            let _ = self.settle(tag, Action::Release, None);
        }
    }

    /// The publish timestamp of the message behind a tag, for latency.
    pub(super) fn tag_timestamp(&self, tag: u64) -> Option<i64> {
        match Tag::decode(tag) {
            Tag::Ring(seq) => {
                if self.lossy || seq >= self.cursor.next() || !self.slots.is_delivered(seq) {
                    return None;
                }
                Some(self.ring().timestamp(seq))
            }
            Tag::Store { idx, .. } => {
                let st = self.lock_store();
                ((idx as usize) < st.len()).then(|| st.message(idx).0.timestamp_ns)
            }
        }
    }
}
