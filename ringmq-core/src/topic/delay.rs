//! Delayed messages and de-duplication: the parts of a topic that hold
//! messages or ids outside the ring.
//!
//! A delayed message takes its id (a ring sequence, left as a skip slot)
//! when it is published, then waits in the topic's hierarchical timing
//! wheel until it is due, so it never holds the ring back. It fires at its
//! due time, or at its expiry if that comes first (it is then written
//! expired and each subscription routes it as expired). Firing is driven by
//! consumers: a poll, a batch or a pool worker that finds the wheel due
//! fires what is due into the ring (a new sequence, the original id kept),
//! and sleepers never sleep past the wheel's next due time. Due messages
//! that find the ring full wait, in due order, in a queue beside the wheel
//! (taken from the wheel once, not put back) and go first when room appears;
//! meanwhile consumers look again a tick later rather than at every poll.
//! Whether anything is due is judged on the coarse clock first and, near
//! the due time, on the fine one, so a message fires within about a tick of
//! its due time, not within the coarse clock's resolution.
//! `max_delayed` bounds the messages waiting (publish answers `Full` past it).
//!
//! The de-duplication window (see `dedupe`) sits behind its own lock, taken
//! only by publishes that carry a `msg_id`.

use std::collections::VecDeque;
use std::time::Duration;

use super::TopicCore;
use crate::clock::{dur_ns, mono_ns};
use crate::error::{Error, ErrorKind, Result};
use crate::options::Overflow;
use crate::ring::SlotMeta;
use crate::sync::Ordering::*;
use crate::wheel::TimingWheel;

/// The wheel's tick: delayed messages fire within about this of their due
/// time (sooner never).
pub(super) const TICK_NS: u64 = 1_000_000;

/// How far the coarse clock may be behind the fine one: the kernel's
/// coarse clock ticks every 1 to 4 ms.
const COARSE_SLACK_NS: u64 = 5_000_000;

/// A message waiting in the wheel: its metadata and its payload followed by
/// its extension.
pub(super) struct Delayed {
    meta: SlotMeta,
    bytes: Vec<u8>,
}

/// The topic's delayed messages: the wheel, and those already due that
/// found the ring full (oldest first).
pub(super) struct Delays {
    wheel: TimingWheel<Delayed>,
    due: VecDeque<Delayed>,
}

impl Delays {
    pub(super) fn new(now: u64) -> Delays {
        Delays {
            wheel: TimingWheel::new(TICK_NS, now),
            due: VecDeque::new(),
        }
    }

    /// The next time something may fire: at once while due messages wait
    /// for room (the caller backs off a tick), else the wheel's next due.
    fn next_due(&self, now: u64) -> u64 {
        if self.due.is_empty() {
            self.wheel.next_due().unwrap_or(u64::MAX)
        } else {
            now + TICK_NS
        }
    }
}

impl TopicCore {
    /// Takes a place among `max_delayed`; `Full` when none is left.
    pub(super) fn reserve_delayed(&self) -> Result<()> {
        let max = self.opts.effective_max_delayed();
        let taken = self
            .delayed
            .fetch_update(AcqRel, Acquire, |n| (n < max).then_some(n + 1));
        if taken.is_err() {
            self.counters.rejected.fetch_add(1, Relaxed);
            return Err(Error::new(
                ErrorKind::Full,
                format!(
                    "topic {:?} holds max_delayed {max} delayed messages already",
                    self.name
                ),
            ));
        }
        Ok(())
    }

    pub(super) fn unreserve_delayed(&self) {
        self.delayed.fetch_sub(1, AcqRel);
    }

    /// Delayed messages waiting now.
    pub(crate) fn delayed_count(&self) -> u64 {
        self.delayed.load(Acquire) as u64
    }

    /// Puts a delayed message (its place among `max_delayed` taken) in the
    /// wheel, due `delay` from now (or at its expiry, if sooner).
    pub(super) fn schedule_delayed(
        &self,
        meta: SlotMeta,
        data: &[u8],
        ext: &[u8],
        delay: Duration,
    ) {
        let mut bytes = Vec::with_capacity(data.len() + ext.len());
        bytes.extend_from_slice(data);
        bytes.extend_from_slice(ext);
        let meta = SlotMeta {
            len: data.len() as u32,
            ext_len: ext.len() as u32,
            ..meta
        };
        let now = mono_ns();
        let due = now.saturating_add(dur_ns(delay));
        let fire_at = match meta.expires_ns {
            0 => due,
            e => due.min(e),
        };
        let mut d = self.wheel.lock().unwrap_or_else(|e| e.into_inner());
        d.wheel.insert(fire_at, Delayed { meta, bytes });
        self.delayed_due.store(d.next_due(now), Release);
        drop(d);
        // Sleepers recompute how long they may sleep.
        self.wake_consumers();
    }

    /// The earliest time the wheel may have something to fire (monotonic
    /// ns), `u64::MAX` when it is empty.
    pub(crate) fn delayed_due(&self) -> u64 {
        self.delayed_due.load(Acquire)
    }

    /// Is a delayed message due at `coarse_now` (a reading of the coarse
    /// clock)? Near the due time the fine clock decides.
    #[inline]
    pub(crate) fn delayed_due_at(&self, coarse_now: u64) -> bool {
        let due = self.delayed_due();
        due <= coarse_now || (due <= coarse_now + COARSE_SLACK_NS && due <= mono_ns())
    }

    /// Fires every delayed message due now into the ring, in due order, as
    /// far as there is room. Cheap when nothing is due (`coarse_now` is a
    /// reading of the coarse clock); a caller that finds another one firing
    /// goes on (that one fires for it).
    #[inline]
    pub(crate) fn fire_delayed(&self, coarse_now: u64) {
        if !self.delayed_due_at(coarse_now) || self.is_shut() {
            return;
        }
        self.fire_delayed_now();
    }

    #[inline(never)]
    fn fire_delayed_now(&self) {
        let Ok(mut d) = self.wheel.try_lock() else {
            return;
        };
        let now = mono_ns();
        let Delays { wheel, due } = &mut *d;
        wheel.advance(now, |_, m| due.push_back(m));
        let gated = self.opts.overflow != Overflow::DropOldest;
        let mut fired = 0;
        let mut flushed = false;
        while let Some(m) = due.front() {
            // Not a publish (that was counted when the message was made):
            // counted before the claim, so that stats never count it as one.
            self.counters.unpublished.fetch_add(1, Relaxed);
            let Ok(seq) = self.seq.try_claim(1, gated) else {
                self.counters.unpublished.fetch_sub(1, Relaxed);
                // Acks not yet published to a gate may hold the room
                // (see `subscription::watermark`).
                if self.flush_gates_once(&mut flushed) {
                    continue;
                }
                // The ring is full: the rest wait for room, in order.
                break;
            };
            let (data, ext) = m.bytes.split_at(m.meta.len as usize);
            self.ring.write(seq, &m.meta, data, ext);
            due.pop_front();
            fired += 1;
        }
        self.delayed_due.store(d.next_due(now), Release);
        drop(d);
        if fired > 0 {
            self.delayed.fetch_sub(fired, AcqRel);
            self.wake_consumers();
        }
    }

    /// Empties the wheel (the topic closed); returns how many messages it
    /// held, undelivered.
    pub(crate) fn drop_delayed(&self) -> u64 {
        let mut d = self.wheel.lock().unwrap_or_else(|e| e.into_inner());
        let n = d.wheel.drain().len() + std::mem::take(&mut d.due).len();
        self.delayed_due.store(u64::MAX, Release);
        self.delayed.fetch_sub(n, AcqRel);
        n as u64
    }

    /// The first message id published with `msg_id`, if still remembered.
    pub(super) fn dedupe_lookup(&self, msg_id: &[u8]) -> Option<u64> {
        let mut w = self.dedupe.lock().unwrap_or_else(|e| e.into_inner());
        w.lookup(msg_id, mono_ns())
    }

    /// Remembers `msg_id` as message `id`; `Err(first)` if a racing publish
    /// of the same id got there first.
    pub(super) fn dedupe_insert(&self, msg_id: &[u8], id: u64) -> std::result::Result<(), u64> {
        let mut w = self.dedupe.lock().unwrap_or_else(|e| e.into_inner());
        w.insert(msg_id, id, mono_ns())
    }
}
