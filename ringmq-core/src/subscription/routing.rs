//! After a failure: retry from the store, or the dead letter.
//!
//! A failed ring delivery (nack, term, ack timeout) is first copied into the
//! retry store, paid for by the credit its delivery reserved, so the slot can
//! be freed at once. From there a message either waits for its next attempt
//! (`Waiting`, due after the backoff) or goes to the dead-letter topic. A
//! store entry is delivered again when it falls due; an expired store
//! delivery is found on the store's due-time heap and routed like a nack.
//!
//! Every way into the dead-letter topic, a nack at `max_attempts`, a term,
//! an ordered push lane giving up and an expiry at `max_attempts`, goes
//! through [`SubCore::dead_letter_entry`], which keeps the message's id, key,
//! timestamp, payload and attempt count, and leaves with the dead letter its
//! note: the entry's failure text and this subscription's group (see
//! `notes`). If the dead-letter topic is full the entry waits in the store
//! and tries again (nothing is dropped).
//!
//! The failure texts are the engine's: a nack's or term's reason, or
//! `"nacked"`, `"termed"`, `"ack timeout"`, or a handler's error text; a
//! message out of attempts gets `"failed N deliveries (max_attempts M): "`
//! before its last failure's text.

use std::sync::Arc;
use std::time::Duration;

use super::relay::Outcome;
use super::tag::Tag;
use super::{Sink, SubCore};
use crate::clock::dur_ns;
use crate::delivery::{Delivery, RawDelivery};
use crate::options::Expired;
use crate::retry::{backoff, EntryState, RetryStore};
use crate::ring::FLAG_EXPIRED;
use crate::sync::Ordering::*;

/// Where a failed ring delivery goes once copied out.
#[derive(Debug, Clone, Copy)]
pub(super) enum Route {
    /// Another attempt after `delay` (the backoff when `None`), unless it
    /// has had `max_attempts`.
    Retry(Option<Duration>),
    /// Straight to the dead-letter topic.
    DeadLetter,
    /// Past its ttl or max_age: to the dead-letter topic with the reason
    /// `expired`, or dropped (the topic's `expired` option); counted as an
    /// expired message either way.
    Expired,
    /// Its key is at its `max_in_flight_per_key` cap: parked until a place
    /// of its key frees (not a failure; no attempt counted).
    KeyWait,
}

impl SubCore {
    /// Deliveries of a message before it is dead-lettered.
    pub(crate) fn max_attempts(&self) -> u32 {
        self.policy.max_attempts
    }

    /// The backoff before the next delivery after `attempts` failed ones
    /// (`seed` spreads the jitter).
    pub(crate) fn retry_delay(&self, attempts: u32, seed: u64) -> Duration {
        let p = &self.policy;
        backoff(p.backoff_base, p.backoff_max, attempts, seed)
    }

    pub(super) fn store_delivery(
        self: &Arc<Self>,
        st: &RetryStore,
        idx: u32,
        gen: u32,
    ) -> Delivery {
        let (meta, attempts, data) = st.message(idx);
        let raw = RawDelivery::new(
            Tag::store(idx, gen),
            meta,
            attempts + meta.attempt_base,
            data,
            st.ext(idx),
            st.note(idx).cloned(),
        );
        Delivery::new(self.clone(), raw)
    }

    pub(super) fn refresh_due(&self, st: &mut RetryStore) {
        self.store_due
            .store(st.next_due().unwrap_or(u64::MAX), Release);
    }

    /// Is a store entry due (a retry to deliver, or a store delivery past
    /// its ack deadline)?
    pub(super) fn store_due(&self, now: u64) -> bool {
        self.store_due.load(Acquire) <= now
    }

    /// Delivers due retries and routes expired store deliveries.
    pub(super) fn take_from_store(
        self: &Arc<Self>,
        max: usize,
        now: u64,
        out: &mut impl Sink,
    ) -> usize {
        let mut st = self.lock_store();
        let mut got = 0;
        while got < max {
            let Some(idx) = st.pop_due(now) else { break };
            match st.state(idx) {
                EntryState::Waiting { .. } if st.message(idx).0.expired_at(now) => {
                    self.give_back_key(&mut st, idx);
                    self.expire_entry(&mut st, idx, now);
                }
                EntryState::Waiting { .. } => {
                    let next = Tag::store(idx, st.gen(idx).wrapping_add(1));
                    if !self.admit_entry(&mut st, idx, next) {
                        continue;
                    }
                    let gen = st.deliver(idx, self.ack_deadline(now));
                    debug_assert_eq!(Tag::store(idx, gen), next);
                    // Under the store's lock, which reaping takes too.
                    self.acct.delivered(1);
                    out.put(self.store_delivery(&st, idx, gen));
                    got += 1;
                }
                EntryState::ToDeadLetter { .. } => self.dead_letter_entry(&mut st, idx, now),
                EntryState::InFlight { .. } => {
                    self.acct.expired();
                    let tag = Tag::store(idx, st.gen(idx));
                    self.release_key_locked(&mut st, tag);
                    st.drop_raw_holders(idx);
                    st.set_reason(idx, "ack timeout");
                    self.retry_or_dead_letter(&mut st, idx, None, now);
                }
                EntryState::Free => {}
            }
        }
        self.refresh_due(&mut st);
        got
    }

    /// Copies BUSY ring sequence `seq` (so pinned) into the store after
    /// `attempts` failed deliveries, and routes it. The delivery's credit
    /// pays for the entry.
    pub(super) fn ring_to_store(
        &self,
        seq: u64,
        attempts: u32,
        route: Route,
        now: u64,
        reason: &str,
    ) {
        let ring = self.ring();
        let meta = ring.meta(seq);
        // A message of a dead-letter topic keeps its note in the copy (its
        // slot is pinned, so no later lap has taken the note's place).
        let note = self.topic.dead_letter_note(seq).unwrap_or(None);
        let mut st = self.lock_store();
        let idx = st.alloc(meta, attempts, |buf| {
            ring.copy_out(seq, buf);
        });
        st.set_note(idx, note);
        st.set_reason(idx, reason);
        match route {
            Route::Retry(delay) => self.retry_or_dead_letter(&mut st, idx, delay, now),
            Route::DeadLetter => self.dead_letter_entry(&mut st, idx, now),
            Route::Expired => self.expire_entry(&mut st, idx, now),
            Route::KeyWait => self.park_for_key(&mut st, idx),
        }
        self.refresh_due(&mut st);
    }

    /// Parks store entry `idx` until its key has a place.
    pub(super) fn park_for_key(&self, st: &mut RetryStore, idx: u32) {
        let Some(k) = &self.keys else { return };
        if k.park(st.message(idx).0.key, idx) {
            st.park_for_key(idx);
        } else {
            // A place freed meanwhile: it is this entry's.
            self.hand_place(st, idx);
        }
    }

    /// Store entry `idx` now holds a place of its key: it is due at once
    /// (0: before any reading of the coarse clock), and consumers are told.
    fn hand_place(&self, st: &mut RetryStore, idx: u32) {
        st.set_key_held(idx, true);
        st.park(idx, 0);
        self.refresh_due(st);
        self.topic.notify_consumers();
        self.topic.wake_pool();
    }

    /// Admits a store delivery about to be made from entry `idx`: true if
    /// it may go (its key has a place, now recorded for `tag`), false if
    /// it was parked for its key instead.
    pub(super) fn admit_entry(&self, st: &mut RetryStore, idx: u32, tag: u64) -> bool {
        let Some(k) = &self.keys else { return true };
        let meta = *st.message(idx).0;
        if meta.flags & crate::ring::FLAG_KEY_HELD != 0 {
            st.set_key_held(idx, false);
        } else if !k.take_place(meta.key) && k.park(meta.key, idx) {
            st.park_for_key(idx);
            return false;
        }
        k.record(tag, meta.key);
        true
    }

    /// The delivery `tag` ended (with the store's lock held): its key's
    /// place passes to the first message parked for that key, if any.
    pub(super) fn release_key_locked(&self, st: &mut RetryStore, tag: u64) {
        let Some(k) = &self.keys else { return };
        if let Some(idx) = k.release(tag) {
            self.hand_place(st, idx);
        }
    }

    /// Entry `idx` was handed a place of its key but will not be delivered
    /// (it expired): the place passes on.
    fn give_back_key(&self, st: &mut RetryStore, idx: u32) {
        let (Some(k), meta) = (&self.keys, *st.message(idx).0) else {
            return;
        };
        if meta.flags & crate::ring::FLAG_KEY_HELD == 0 {
            return;
        }
        st.set_key_held(idx, false);
        if let Some(next) = k.give_back(meta.key) {
            self.hand_place(st, next);
        }
    }

    /// As `release_key_locked`, taking the store's lock only when a parked
    /// message takes the place. Called by every settle that ends a ring
    /// delivery: without `max_in_flight_per_key`, one inlined check.
    #[inline]
    pub(super) fn release_key(&self, tag: u64) {
        if self.keys.is_some() {
            self.release_key_keyed(tag);
        }
    }

    #[inline(never)]
    fn release_key_keyed(&self, tag: u64) {
        let Some(k) = &self.keys else { return };
        if let Some(idx) = k.release(tag) {
            self.hand_place(&mut self.lock_store(), idx);
        }
    }

    /// Store entry `idx` holds an expired message: it goes to the
    /// dead-letter topic with the reason `expired`, or is dropped, as the
    /// topic says; counted as an expired message either way.
    pub(super) fn expire_entry(&self, st: &mut RetryStore, idx: u32, now: u64) {
        st.mark_expired(idx);
        st.set_reason(idx, "expired");
        if self.policy.expired == Expired::Drop {
            self.acct.message_expired();
            let m = *st.message(idx).0;
            self.relay_event(m.id, m.key, || Outcome::Dropped);
            if st.finish(idx) {
                self.return_credits(1);
            }
        } else {
            self.dead_letter_entry(st, idx, now);
        }
    }

    /// After a failed delivery of store entry `idx`: park it for the next
    /// attempt, or dead-letter it when it has had `max_attempts`.
    pub(super) fn retry_or_dead_letter(
        &self,
        st: &mut RetryStore,
        idx: u32,
        delay: Option<Duration>,
        now: u64,
    ) {
        let (meta, attempts, _) = st.message(idx);
        let (id, key) = (meta.id, meta.key);
        // A relayed message counts the deliveries it had elsewhere too.
        let attempts = if self.relayed() {
            attempts.saturating_add(meta.attempt_base)
        } else {
            attempts
        };
        let p = &self.policy;
        if attempts >= p.max_attempts {
            let why = st.reason(idx).unwrap_or("failed").to_owned();
            st.set_reason(
                idx,
                &format!(
                    "failed {attempts} deliveries (max_attempts {}): {why}",
                    p.max_attempts
                ),
            );
            self.dead_letter_entry(st, idx, now);
            return;
        }
        if self.relayed() {
            // Its retry is the other system's: done here.
            self.relay_event(id, key, || Outcome::Nacked { delay });
            if st.finish(idx) {
                self.return_credits(1);
            }
            return;
        }
        let seed = self.jitter.fetch_add(1, Relaxed);
        let wait = delay.unwrap_or_else(|| self.retry_delay(attempts, seed));
        let mut due = now.saturating_add(dur_ns(wait));
        // A message that expires before its retry is due is looked at (and
        // expired) at its expiry instead.
        let expires = st.message(idx).0.expires_ns;
        if expires != 0 {
            due = due.min(expires);
        }
        st.park(idx, due);
        self.acct.retried();
    }

    /// The one way into the dead-letter topic: publishes store entry `idx`
    /// there, keeping its id, key, timestamp, payload and attempts, with
    /// its note (the entry's failure text and this subscription's group),
    /// and frees the entry; if that topic is full, parks it to try again.
    pub(super) fn dead_letter_entry(&self, st: &mut RetryStore, idx: u32, now: u64) {
        let (meta, attempts, data) = st.message(idx);
        // The dead letter's first delivery reports the attempts made so far
        // (the dead-letter topic keeps the count); its own retries count on.
        let mut m = *meta;
        m.attempt_base = meta.attempt_base + attempts.saturating_sub(1);
        let expired = m.flags & FLAG_EXPIRED != 0;
        let reason = st.reason(idx).unwrap_or("dead-lettered");
        if self
            .topic
            .dead_letter(&m, data, st.ext(idx), reason, &self.group)
        {
            if expired {
                self.acct.message_expired();
            } else {
                self.acct.dead_lettered();
            }
            self.relay_event(m.id, m.key, || Outcome::DeadLettered {
                reason: reason.to_owned(),
            });
            if st.finish(idx) {
                self.return_credits(1);
            }
        } else {
            let retry_in = dur_ns(self.policy.backoff_base).max(1_000_000);
            st.park_for_dead_letter(idx, now.saturating_add(retry_in));
        }
    }
}
