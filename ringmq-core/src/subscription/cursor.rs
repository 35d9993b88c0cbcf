//! The cursor: which ring sequence a subscription delivers next, and taking
//! sequences from the ring.
//!
//! Gated subscriptions claim a run of published sequences with one
//! compare-and-swap on `next`, after reserving a credit for each, and mark
//! them DELIVERED (see `slots`); the slots stay pinned until settled, so
//! consumers read payloads in place. Lossy subscriptions never hold the ring:
//! they copy each message into the retry store, check the slot was not
//! overwritten meanwhile (seqlock), and when a producer has lapped them skip
//! to the oldest message still in the ring, counting what they skipped as
//! dropped.

use std::sync::Arc;

use crossbeam_utils::CachePadded;

use super::routing::Route;
use super::tag::Tag;
use super::{Sink, SubCore};
use crate::delivery::RawDelivery;
use crate::retry::RetryStore;
use crate::ring::{Peek, SlotMeta};
use crate::sync::{AtomicU64, MutexGuard, Ordering::*};

pub(super) struct Cursor {
    next: CachePadded<AtomicU64>,
}

impl Cursor {
    pub(super) fn new(start: u64) -> Cursor {
        Cursor {
            next: CachePadded::new(AtomicU64::new(start)),
        }
    }

    /// The next ring sequence to deliver: all below it were taken.
    pub(super) fn next(&self) -> u64 {
        self.next.load(Acquire)
    }

    fn advance(&self, from: u64, to: u64) -> Result<(), u64> {
        self.next
            .compare_exchange_weak(from, to, AcqRel, Acquire)
            .map(|_| ())
    }

    /// Moves the cursor to `to`: for a durable subscription's takers, which
    /// move it only while holding the store's lock (see `durable`).
    pub(super) fn set(&self, to: u64) {
        self.next.store(to, Release);
    }

    fn advance_strong(&self, from: u64, to: u64) -> bool {
        self.next
            .compare_exchange(from, to, AcqRel, Acquire)
            .is_ok()
    }
}

impl SubCore {
    /// Claims up to `max` published ring sequences for this (gated)
    /// subscription and marks them DELIVERED; returns the first and count.
    pub(super) fn claim_ring(&self, max: usize, now: u64, raw: bool) -> (u64, u64) {
        let ring = self.ring();
        let mut cur = self.cursor.next();
        if ring.peek(cur) != Peek::Ready {
            return (cur, 0);
        }
        let credits = self.credits.take(max as u64);
        if credits == 0 {
            return (cur, 0);
        }
        // `cur` was just seen published: the first pass starts past it.
        let mut seen = 1;
        let n = loop {
            let mut n = seen;
            while n < credits && ring.peek(cur + n) == Peek::Ready {
                n += 1;
            }
            if n == 0 {
                break 0;
            }
            match self.cursor.advance(cur, cur + n) {
                Ok(()) => break n,
                Err(a) => {
                    cur = a;
                    seen = 0;
                }
            }
        };
        if n < credits {
            self.return_credits(credits - n);
        }
        if self.keys.is_some() {
            self.mark_keyed(cur, n, now, raw);
            return (cur, n);
        }
        // Skip slots and expired messages (passed over with this same
        // `now`) are not deliveries.
        let passed = (cur..cur + n)
            .filter(|&seq| ring.passed_over(seq, now))
            .count() as u64;
        self.mark_delivered(cur, n, n - passed, now, raw);
        (cur, n)
    }

    /// Counts `deliveries` of claimed sequences `cur..cur + n`, then marks
    /// all of them DELIVERED with their ack deadline. Counted first, so
    /// that the ack timer (on another consumer's thread) can never count
    /// one of them expired before it was counted delivered.
    #[inline]
    fn mark_delivered(&self, cur: u64, n: u64, deliveries: u64, now: u64, raw: bool) {
        self.acct.delivered(deliveries);
        let deadline = self.ack_deadline(now);
        for seq in cur..cur + n {
            self.slots.deliver(seq, deadline, raw);
        }
    }

    /// `claim_ring`'s counting and marking with `max_in_flight_per_key`: a
    /// message whose key has no place is parked in the store instead (after
    /// it is marked).
    #[inline(never)]
    fn mark_keyed(&self, cur: u64, n: u64, now: u64, raw: bool) {
        let mut parked = Vec::new();
        let deliveries = self.count_keyed(cur, n, now, &mut parked);
        self.mark_delivered(cur, n, deliveries as u64, now, raw);
        for seq in parked {
            if self.slots.try_take(seq) {
                self.ring_to_store(seq, 0, Route::KeyWait, now, "");
                self.settle_slot(seq);
            }
        }
    }

    /// Of claimed sequences `cur..cur + n` of a subscription with
    /// `max_in_flight_per_key`: how many are deliveries; a message whose key
    /// has no place goes to `parked` instead.
    fn count_keyed(&self, cur: u64, n: u64, now: u64, parked: &mut Vec<u64>) -> usize {
        let ring = self.ring();
        let Some(k) = &self.keys else {
            return 0;
        };
        (cur..cur + n)
            .filter(|&seq| {
                let m = ring.meta(seq);
                if m.is_skip() || m.expired_at(now) {
                    return false;
                }
                if !k.take_place(m.key) {
                    parked.push(seq);
                    return false;
                }
                k.record(seq, m.key);
                true
            })
            .count()
    }

    /// A claimed (DELIVERED) ring sequence that is not to be delivered: a
    /// skip slot, settled at once, or an expired message, routed as
    /// expired. True if `seq` was passed over so (its credit is spent or
    /// given back); false if it is to be delivered.
    #[cold]
    pub(super) fn pass_over(&self, seq: u64, meta: &SlotMeta, now: u64) -> bool {
        if meta.is_skip() {
            if self.slots.try_ack(seq) {
                self.advance();
            }
            self.return_credits(1);
            return true;
        }
        if meta.expired_at(now) {
            if self.slots.try_take(seq) {
                self.ring_to_store(seq, 0, Route::Expired, now, "expired");
                self.settle_slot(seq);
            }
            return true;
        }
        false
    }

    pub(super) fn take_gated<S: Sink>(
        self: &Arc<Self>,
        max: usize,
        now: u64,
        out: &mut S,
    ) -> usize {
        let mut got = 0;
        // Claims again after passing over skip slots or expired messages,
        // so they never make a poll come back empty-handed.
        loop {
            let (cur, n) = self.claim_ring(max - got, now, S::RAW);
            if n == 0 {
                return got;
            }
            got += self.deliver_claimed(cur, n, now, out);
            if got == max {
                return got;
            }
        }
    }

    /// Delivers claimed sequences `cur..cur + n` into `out`, passing over
    /// skip slots and expired messages; returns how many were delivered.
    fn deliver_claimed(self: &Arc<Self>, cur: u64, n: u64, now: u64, out: &mut impl Sink) -> usize {
        let ring = self.ring();
        let mut got = 0;
        for seq in cur..cur + n {
            if self.keys.is_some() && !self.slots.is_delivered(seq) {
                // Parked for its key by `claim_ring`.
                continue;
            }
            let meta = ring.meta(seq);
            if (meta.is_skip() || meta.expired_at(now)) && self.pass_over(seq, &meta, now) {
                continue;
            }
            // SAFETY: `seq` was seen published above and is now DELIVERED and
            // unsettled for this gated subscription, so no producer can
            // overwrite it until the delivery is settled or released, and the
            // Delivery keeps the topic (and so the ring) alive.
            let (data, ext) = unsafe {
                (
                    ring.payload(seq, meta.len as usize),
                    ring.ext(seq, meta.ext_len as usize),
                )
            };
            // The note is pinned like the payload: no later lap has taken
            // its place.
            let note = self.topic.dead_letter_note(seq).unwrap_or(None);
            let raw = RawDelivery::new(seq, &meta, 1 + meta.attempt_base, data, ext, note);
            out.put_ring(self, raw);
            got += 1;
        }
        got
    }

    /// Copies sequences below `end` out of the ring into the store and
    /// delivers them from there: every sequence of a lossy subscription
    /// (`end` = `u64::MAX`), and the history of a gated one (what was
    /// published before it, which its gate does not hold).
    pub(super) fn take_lossy(
        self: &Arc<Self>,
        max: usize,
        now: u64,
        out: &mut impl Sink,
        end: u64,
    ) -> usize {
        if self.log.is_some() {
            return self.take_durable(max, now, out);
        }
        let ring = self.ring();
        let mut got = 0;
        let mut store: Option<MutexGuard<'_, RetryStore>> = None;
        while got < max {
            let cur = self.cursor.next();
            if cur >= end {
                break;
            }
            match ring.peek(cur) {
                Peek::NotYet => break,
                Peek::Lapped => {
                    let claimed = self.topic.published_upto();
                    let skip_to = (cur + 1)
                        .max(claimed.saturating_sub(ring.capacity()))
                        .min(end);
                    if self.cursor.advance_strong(cur, skip_to) {
                        self.acct.dropped(skip_to - cur);
                    }
                }
                Peek::Ready => {
                    if self.credits.take(1) == 0 {
                        break;
                    }
                    if !self.cursor.advance_strong(cur, cur + 1) {
                        self.return_credits(1);
                        continue;
                    }
                    let st = store.get_or_insert_with(|| self.lock_store());
                    let Some((idx, note)) = self.copy_slot(st, cur) else {
                        // A producer lapped us while we copied.
                        self.acct.dropped(1);
                        continue;
                    };
                    if self.hand_out_copy(st, idx, note, now, out) {
                        got += 1;
                    }
                }
            }
        }
        if let Some(mut st) = store {
            self.refresh_due(&mut st);
        }
        got
    }
}

impl SubCore {
    /// Copies published ring sequence `cur` into a new store entry (the
    /// caller spent a credit on it) with its dead-letter note; `None`, the
    /// entry freed and the credit given back, if a producer overwrote the
    /// slot meanwhile (the seqlock check).
    pub(super) fn copy_slot(
        &self,
        st: &mut RetryStore,
        cur: u64,
    ) -> Option<(u32, Option<Arc<crate::notes::DeadLetterNote>>)> {
        let ring = self.ring();
        // A dead letter's note is read before the copy: a later lap writes
        // its note before its slot, so a note still ours means the copy
        // below is checked by the seqlock.
        let note = self.topic.dead_letter_note(cur);
        let mut meta = SlotMeta::default();
        let idx = st.alloc(SlotMeta::default(), 0, |buf| {
            meta = ring.copy_out(cur, buf);
        });
        if note.is_err() || !ring.still_published(cur) {
            st.finish(idx);
            self.return_credits(1);
            return None;
        }
        st.set_meta(idx, meta);
        st.set_seq(idx, cur);
        Some((idx, note.unwrap_or(None)))
    }

    /// Hands out the message just copied into store entry `idx` (its
    /// metadata set; the caller spent a credit on it): a skip slot is
    /// finished and its credit given back, an expired message is routed as
    /// expired, a message whose key has no place is parked; any other is
    /// delivered into `out`. True if it was delivered.
    pub(super) fn hand_out_copy(
        self: &Arc<Self>,
        st: &mut RetryStore,
        idx: u32,
        note: Option<Arc<crate::notes::DeadLetterNote>>,
        now: u64,
        out: &mut impl Sink,
    ) -> bool {
        let meta = *st.message(idx).0;
        if meta.is_skip() {
            st.finish(idx);
            self.return_credits(1);
            return false;
        }
        if meta.expired_at(now) {
            self.expire_entry(st, idx, now);
            return false;
        }
        st.set_note(idx, note);
        let next = Tag::store(idx, st.gen(idx).wrapping_add(1));
        if !self.admit_entry(st, idx, next) {
            return false;
        }
        let gen = st.deliver(idx, self.ack_deadline(now));
        // Under the store's lock, which the timer's reaping of store
        // deliveries takes too: counted before it can expire.
        self.acct.delivered(1);
        out.put(self.store_delivery(st, idx, gen));
        true
    }
}
