//! `max_in_flight_per_key`: at most N deliveries of one message key in
//! flight at once, for an unordered subscription.
//!
//! The gate keeps, under one lock, which delivery tag holds which key and
//! per key a FIFO of messages parked in the retry store because their key
//! was at its cap; the counts per key are `flow::KeyLimits`, taken under
//! that lock so that "no parked message and a place free" is one decision.
//!
//! - A delivery is admitted (`take_place`, then `record` of its tag) where
//!   it is made: a claimed ring sequence, a retry falling due, a lossy or
//!   history copy. A message whose key is at its cap, or whose key already
//!   has parked messages (so that a key's messages keep their order), is
//!   parked instead: copied into the store, off the ring, waiting for its key
//!   (`RetryStore::park_for_key`), counted as waiting, not delivered.
//! - A delivery ends (`release` of its tag) where the accounting ends it: an
//!   ack, nack or term that wins, or the ack timer taking it. If its key has
//!   parked messages, the place passes straight to the first of them (its
//!   store entry becomes due now, marked as holding its place); otherwise the
//!   key's count drops.
//!
//! Lock order: the store's lock, then this one, then `KeyLimits`' (never
//! the reverse).

use std::collections::{HashMap, VecDeque};

use super::flow::KeyLimits;
use crate::sync::Mutex;

#[derive(Default)]
struct State {
    /// Which key each admitted delivery tag holds.
    tags: HashMap<u64, u64>,
    /// Store entries parked per key, oldest first.
    parked: HashMap<u64, VecDeque<u32>>,
}

pub(crate) struct KeyGate {
    limits: KeyLimits,
    state: Mutex<State>,
}

impl KeyGate {
    pub(crate) fn new(per_key: u32) -> KeyGate {
        KeyGate {
            limits: KeyLimits::new(per_key),
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> crate::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a place for a delivery of `key`: false when `per_key` of them
    /// are in flight or earlier messages of `key` are parked.
    pub(crate) fn take_place(&self, key: u64) -> bool {
        let s = self.lock();
        if s.parked.get(&key).is_some_and(|q| !q.is_empty()) {
            return false;
        }
        self.limits.try_acquire(key)
    }

    /// The delivery `tag` holds a place of `key` (taken by `take_place`, or
    /// handed over by `release`).
    pub(crate) fn record(&self, tag: u64, key: u64) {
        self.lock().tags.insert(tag, key);
    }

    /// Store entry `idx` waits for a place of `key` (a `take_place` for it
    /// failed). Decided again under the lock: if meanwhile the last place of
    /// `key` was given back and nothing else is parked, the entry takes that
    /// place instead and this answers false (the caller delivers it as
    /// holding a place); parking it then would leave it waiting for a
    /// release that no delivery of its key will make.
    pub(crate) fn park(&self, key: u64, idx: u32) -> bool {
        let mut s = self.lock();
        if s.parked.get(&key).is_none_or(|q| q.is_empty()) && self.limits.try_acquire(key) {
            return false;
        }
        s.parked.entry(key).or_default().push_back(idx);
        true
    }

    /// The delivery `tag` ended. Returns the store entry that takes over its
    /// place (the first parked message of its key), if any; otherwise the
    /// place is given back. A tag that holds no place changes nothing.
    pub(crate) fn release(&self, tag: u64) -> Option<u32> {
        let mut s = self.lock();
        let key = s.tags.remove(&tag)?;
        Self::pass_on(&mut s, &self.limits, key)
    }

    /// A place of `key` handed to a parked message that will not be
    /// delivered after all (it expired): passed on as by `release`.
    pub(crate) fn give_back(&self, key: u64) -> Option<u32> {
        let mut s = self.lock();
        Self::pass_on(&mut s, &self.limits, key)
    }

    fn pass_on(s: &mut State, limits: &KeyLimits, key: u64) -> Option<u32> {
        if let Some(q) = s.parked.get_mut(&key) {
            if let Some(idx) = q.pop_front() {
                if q.is_empty() {
                    s.parked.remove(&key);
                }
                return Some(idx);
            }
        }
        limits.release(key);
        None
    }

    /// (messages parked, keys with parked messages), for `why_idle`.
    pub(crate) fn parked(&self) -> (u64, u64) {
        let s = self.lock();
        let n = s.parked.values().map(|q| q.len() as u64).sum();
        (n, s.parked.len() as u64)
    }

    pub(crate) fn per_key(&self) -> u32 {
        self.limits.per_key()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_key_at_its_cap_parks_and_the_place_passes_in_order() {
        let g = KeyGate::new(2);
        assert!(g.take_place(7));
        g.record(1, 7);
        assert!(g.take_place(7));
        g.record(2, 7);
        assert!(!g.take_place(7), "at the cap");
        assert!(g.take_place(8), "other keys go on");
        g.record(3, 8);
        assert!(g.park(7, 100));
        assert!(g.park(7, 101));
        assert_eq!(g.parked(), (2, 1));
        assert_eq!(g.release(1), Some(100), "the place passes to the first");
        assert!(
            !g.take_place(7),
            "still parked ones: a newcomer waits behind"
        );
        g.record(4, 7);
        assert_eq!(g.release(2), Some(101));
        g.record(5, 7);
        assert_eq!(g.parked(), (0, 0));
        assert_eq!(g.release(4), None);
        assert!(g.take_place(7), "a place is free again");
        assert_eq!(g.release(99), None, "an unknown tag changes nothing");
    }

    #[test]
    fn places_balance_to_empty() {
        let g = KeyGate::new(1);
        for tag in 0..100u64 {
            let key = tag % 3;
            if g.take_place(key) {
                g.record(tag, key);
                assert_eq!(g.release(tag), None);
            }
        }
        assert_eq!(g.limits.in_flight_keys(), 0);
        let s = g.lock();
        assert!(s.tags.is_empty() && s.parked.is_empty());
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    /// A place that frees while a newcomer asks for one: the place passes
    /// to the parked message, never to the newcomer, and never to both.
    #[test]
    fn loom_keys_a_freed_place_goes_to_the_parked_message_first() {
        loom::model(|| {
            let g = Arc::new(KeyGate::new(1));
            assert!(g.take_place(7));
            g.record(1, 7);
            assert!(g.park(7, 100));
            let releaser = {
                let g = g.clone();
                thread::spawn(move || g.release(1))
            };
            let newcomer = g.take_place(7);
            let handed = releaser.join().unwrap();
            assert!(!newcomer, "a newcomer never overtakes a parked message");
            assert_eq!(handed, Some(100));
            // The parked message holds the one place now.
            g.record(2, 7);
            assert!(!g.take_place(7));
            assert_eq!(g.release(2), None);
            assert!(g.take_place(7));
        });
    }

    /// A message that found its key at the cap parks while the one
    /// delivery of that key ends: it gets the place exactly once, either
    /// handed over by the release or taken when it parks.
    #[test]
    fn loom_keys_parking_races_the_last_release() {
        loom::model(|| {
            let g = Arc::new(KeyGate::new(1));
            assert!(g.take_place(7));
            g.record(1, 7);
            assert!(!g.take_place(7));
            let releaser = {
                let g = g.clone();
                thread::spawn(move || g.release(1))
            };
            let parked = g.park(7, 100);
            let handed = releaser.join().unwrap();
            assert_eq!(
                parked,
                handed == Some(100),
                "the place reaches the message once: by hand-over or at parking"
            );
            assert!(!g.take_place(7), "and it holds the one place");
        });
    }
}
