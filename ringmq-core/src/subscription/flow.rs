//! Flow control of one subscription: how fast it may hand out messages
//! ([`RateLimiter`]) and how many deliveries of one message key may be in
//! flight at once ([`KeyLimits`]). Both are standalone primitives; the take
//! and poll paths decide when to ask them.
//!
//! # `RateLimiter`: a token bucket as GCRA
//!
//! The generic cell rate algorithm keeps a bucket of `burst` tokens refilled
//! at `rate` per second in one number, the theoretical arrival time `TAT`
//! (monotonic ns): the time at which the bucket would be full again if
//! nothing more were taken. With the emission interval `I = 1e9 / rate` ns
//! and the tolerance `τ = burst · I`:
//!
//! - at `now` the bucket holds `⌊(now + τ - max(TAT, now)) / I⌋` tokens, so
//!   never more than `burst` (a `TAT` in the past counts as `now`);
//! - taking `n` moves `TAT` to `max(TAT, now) + n · I`, which is allowed
//!   while the result stays within `now + τ`;
//! - giving `n` back moves `TAT` back by `n · I` (never below 0). A `TAT`
//!   pushed into the past still counts as `now`, so the bucket never holds
//!   more than `burst`;
//! - `take(1)` succeeds from `TAT - (burst - 1) · I` on, which is what
//!   `next_token_at` returns.
//!
//! A full bucket does not fill further: with `burst = 1` the time between a
//! token becoming available and the next `take` is lost, so a poller that
//! checks every `p < I` ns gets about `1e9 / (I + p/2)` per second.
//! With `burst >= 2`, a take up to `(burst - 1) · I` late loses nothing and
//! the long-run rate is `rate`.
//!
//! `TAT` is one `AtomicU64` changed by compare-and-swap: no lock, no waiting.
//! Over any run that starts with `now >= TAT`, a `take` whose `now` is
//! stale (older than another thread's) sees fewer tokens, never more, so the
//! total granted up to time `t` is at most `burst + (t - start) / I`.
//!
//! `I` is a whole number of ns, rounded up (within one part in 1e12 of a
//! whole number counts as that number, absorbing the rounding of `1e9 /
//! rate`), and at least 1. So the limiter never runs faster than `rate`; it
//! runs slower by less than one part in `I` (exact for rates such as 0.5,
//! 1000 or 10 million per second, 0.2 % slow at 3 million per second), and
//! rates above 1e9 per second act as 1e9. The arithmetic is done in `u128`
//! or saturates, so neither 0.001 per second with a burst of `u32::MAX` nor
//! times near `u64::MAX` overflow: a take that would move `TAT` past
//! `u64::MAX` is granted less.
//!
//! # `KeyLimits`: deliveries in flight per key
//!
//! At most `per_key` deliveries of one message key are in flight at once; a
//! subscription that keeps each key in order uses `per_key = 1`. The counts
//! are a map under one mutex that holds only keys with a delivery in flight
//! (a key's entry goes when its count reaches 0), so it costs nothing while
//! idle and is only consulted when the option is set.

use std::collections::HashMap;

use crossbeam_utils::CachePadded;

use crate::sync::{AtomicU64, Mutex, MutexGuard, Ordering::Relaxed};

/// A lock-free token bucket (GCRA); see the module docs.
pub(crate) struct RateLimiter {
    /// Theoretical arrival time, monotonic ns. Relaxed is enough: it guards
    /// no other memory, and its compare-and-swaps are ordered among
    /// themselves by its modification order.
    tat: CachePadded<AtomicU64>,
    /// `I`: ns per token, >= 1.
    interval_ns: u64,
    /// `τ = burst · I`, in u128 so that it cannot overflow.
    tolerance_ns: u128,
    #[allow(dead_code)] // read by tests and diagnostics
    rate: f64,
    burst: u32,
}

impl RateLimiter {
    /// rate: messages per second (> 0, finite; may be fractional such as
    /// 0.5); burst: tokens that may be taken at once after idling (>= 1).
    ///
    /// # Panics
    /// If `rate` is not positive and finite, or `burst` is 0.
    pub(crate) fn new(rate: f64, burst: u32) -> RateLimiter {
        assert!(rate > 0.0 && rate.is_finite(), "rate {rate} must be > 0");
        assert!(burst >= 1, "burst must be at least 1");
        let exact = 1e9 / rate;
        let whole = exact.round();
        let ns = if (exact - whole).abs() <= exact * 1e-12 {
            whole
        } else {
            exact.ceil()
        };
        // `as` saturates: rates below ~5.4e-11 per second get u64::MAX.
        let interval_ns = (ns as u64).max(1);
        RateLimiter {
            tat: CachePadded::new(AtomicU64::new(0)),
            interval_ns,
            tolerance_ns: u128::from(burst) * u128::from(interval_ns),
            rate,
            burst,
        }
    }

    /// Takes up to `want` tokens at `now_ns`; returns how many were granted
    /// (0..=want). Never blocks.
    pub(crate) fn take(&self, want: u64, now_ns: u64) -> u64 {
        if want == 0 {
            return 0;
        }
        let i = u128::from(self.interval_ns);
        let mut tat = self.tat.load(Relaxed);
        loop {
            let base = tat.max(now_ns);
            // The new TAT must stay within now + τ, and within a u64.
            let room =
                (u128::from(now_ns) + self.tolerance_ns).saturating_sub(u128::from(base)) / i;
            let fits = u128::from(u64::MAX - base) / i;
            let grant = room.min(fits).min(u128::from(want)) as u64;
            if grant == 0 {
                return 0;
            }
            // grant <= fits, so this stays within u64::MAX.
            let new = base + grant * self.interval_ns;
            match self.tat.compare_exchange_weak(tat, new, Relaxed, Relaxed) {
                Ok(_) => return grant,
                Err(seen) => tat = seen,
            }
        }
    }

    /// Gives back `n` tokens taken but not used (a poll that found fewer
    /// messages than tokens); the bucket still holds at most `burst`.
    pub(crate) fn give_back(&self, n: u64) {
        if n == 0 {
            return;
        }
        let back = n.saturating_mul(self.interval_ns);
        let _ = self
            .tat
            .fetch_update(Relaxed, Relaxed, |tat| Some(tat.saturating_sub(back)));
    }

    /// The earliest monotonic time at which one token is available: `now_ns`
    /// if one is available now, else the exact time from which `take(1)`
    /// succeeds (if nobody takes before).
    pub(crate) fn next_token_at(&self, now_ns: u64) -> u64 {
        let ahead = u64::from(self.burst - 1).saturating_mul(self.interval_ns);
        self.tat.load(Relaxed).saturating_sub(ahead).max(now_ns)
    }

    #[allow(dead_code)]
    pub(crate) fn rate(&self) -> f64 {
        self.rate
    }

    #[allow(dead_code)]
    pub(crate) fn burst(&self) -> u32 {
        self.burst
    }
}

/// At most `per_key` deliveries of one message key in flight at once.
pub(crate) struct KeyLimits {
    per_key: u32,
    /// In-flight count per key; only keys with a count > 0 have an entry.
    in_flight: Mutex<HashMap<u64, u32>>,
}

impl KeyLimits {
    /// # Panics
    /// If `per_key` is 0.
    pub(crate) fn new(per_key: u32) -> KeyLimits {
        assert!(per_key >= 1, "per_key must be at least 1");
        KeyLimits {
            per_key,
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    fn counts(&self) -> MutexGuard<'_, HashMap<u64, u32>> {
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a place for `key`; false if `per_key` of that key are in flight.
    pub(crate) fn try_acquire(&self, key: u64) -> bool {
        let mut counts = self.counts();
        let n = counts.entry(key).or_insert(0);
        // A new entry starts at 0 < per_key, so a refusal leaves no 0 entry.
        if *n >= self.per_key {
            return false;
        }
        *n += 1;
        true
    }

    /// Gives a place back; true if the key was at its cap before (so a
    /// parked message of that key may go now). Releasing a key with none in
    /// flight is a logic error: a debug assertion, else ignored (false).
    pub(crate) fn release(&self, key: u64) -> bool {
        let mut counts = self.counts();
        let Some(n) = counts.get_mut(&key) else {
            drop(counts); // no poisoned lock from the assertion
            debug_assert!(false, "released key {key} with none in flight");
            return false;
        };
        let was_at_cap = *n == self.per_key;
        *n -= 1;
        if *n == 0 {
            counts.remove(&key);
        }
        was_at_cap
    }

    /// How many keys are at their cap now (diagnostics).
    #[cfg_attr(any(not(test), loom), allow(dead_code))] // diagnostics and tests
    pub(crate) fn at_cap(&self) -> usize {
        let per_key = self.per_key;
        self.counts().values().filter(|&&n| n == per_key).count()
    }

    /// How many keys have a delivery in flight now (diagnostics).
    #[cfg_attr(any(not(test), loom), allow(dead_code))]
    pub(crate) fn in_flight_keys(&self) -> usize {
        self.counts().len()
    }

    pub(crate) fn per_key(&self) -> u32 {
        self.per_key
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;
    use std::sync::{Arc, Barrier};

    /// xorshift64: reproducible steps and batch sizes.
    fn rng(seed: u64) -> impl FnMut(u64) -> u64 {
        let mut x = seed | 1;
        move |below| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % below
        }
    }

    #[test]
    fn flow_rate_converges_over_a_long_run() {
        // burst >= 2: a take up to one interval late loses nothing (module docs).
        for (rate, burst) in [(0.001, 2), (0.5, 3), (3.0, 2), (250.0, 10), (1e7, 64)] {
            let rl = RateLimiter::new(rate, burst);
            let interval = rl.interval_ns;
            let (start, mut now, mut granted, mut next) = (1_000_000, 1_000_000, 0, rng(7));
            let want = 10_000u64;
            let end = start + want * interval;
            while now < end {
                granted += rl.take(1 + next(4), now);
                // Steps under one interval: demand always exceeds supply.
                now += 1 + next(interval);
            }
            let expect = burst as f64 + (end - start) as f64 * rate / 1e9;
            assert!(
                (granted as f64 - expect).abs() <= 1.0 + f64::from(burst),
                "rate {rate}: granted {granted}, expected about {expect}"
            );
        }
    }

    #[test]
    fn flow_rate_after_idling_grants_at_most_burst() {
        let rl = RateLimiter::new(100.0, 5);
        assert_eq!((rl.rate(), rl.burst()), (100.0, 5));
        for now in [0, 10_000_000_000, 3_600_000_000_000] {
            assert_eq!(rl.take(u64::MAX, now), 5);
            assert_eq!(rl.take(1, now), 0);
        }
        let now = 7_200_000_000_000;
        assert_eq!((0..10).map(|_| rl.take(1, now)).sum::<u64>(), 5);
        assert_eq!(rl.take(3, now + 19_999_999), 1, "one interval later: one");
        assert_eq!(rl.take(3, now + 20_000_000), 1, "two later: one more");
    }

    #[test]
    fn flow_rate_take_zero_changes_nothing() {
        let rl = RateLimiter::new(10.0, 2);
        assert_eq!(
            (rl.take(0, 5), rl.next_token_at(5), rl.take(2, 5)),
            (0, 5, 2)
        );
        let at = rl.next_token_at(5);
        assert_eq!(
            (rl.take(0, at), rl.next_token_at(5), rl.take(5, at)),
            (0, at, 1)
        );
    }

    #[test]
    fn flow_rate_give_back_restores_up_to_burst() {
        let rl = RateLimiter::new(1.0, 4);
        let now = 50_000_000_000;
        assert_eq!(rl.take(4, now), 4);
        rl.give_back(2);
        assert_eq!(rl.take(10, now), 2);
        rl.give_back(0);
        assert_eq!(rl.take(1, now), 0);
        rl.give_back(1_000);
        assert_eq!(rl.take(10, now), 4, "never more than burst");
        rl.give_back(u64::MAX);
        assert_eq!(rl.take(10, now + 1), 4);
        // Given back after the bucket refilled: no extra tokens either.
        rl.give_back(4);
        assert_eq!(rl.take(10, now + 100_000_000_000), 4);
    }

    #[test]
    fn flow_rate_next_token_at_is_exact() {
        for (rate, burst) in [(0.5, 1), (3.0, 4), (7e6, 3), (1e7, 16), (0.001, 2)] {
            let rl = RateLimiter::new(rate, burst);
            let t0 = 123_456_789_012;
            assert_eq!(rl.next_token_at(t0), t0, "full: available now");
            assert_eq!(rl.take(u64::MAX, t0), u64::from(burst));
            let at = rl.next_token_at(t0);
            let gap = (at - t0) as f64;
            assert!(gap >= 1e9 / rate && gap < 1e9 / rate + 1.0, "rate {rate}");
            assert_eq!(
                (rl.next_token_at(at - 1), rl.take(1, at - 1)),
                (at, 0),
                "1 ns early"
            );
            assert_eq!((rl.next_token_at(at), rl.take(1, at)), (at, 1), "on time");
            assert_eq!(rl.next_token_at(at), at + (at - t0));
        }
    }

    #[test]
    fn flow_rate_extremes_do_not_overflow() {
        for rate in [1e-15, 0.001, 1e7, 1e12] {
            for burst in [1, 1_000, u32::MAX] {
                let rl = RateLimiter::new(rate, burst);
                for now in [0, 1 << 40, u64::MAX / 2, u64::MAX - 1, u64::MAX] {
                    assert!(rl.take(u64::MAX, now) <= u64::from(burst));
                    rl.take(1, now);
                    let _ = rl.next_token_at(now);
                    rl.give_back(u64::MAX / 3);
                    rl.give_back(1);
                }
            }
        }
        let over = RateLimiter::new(1e12, 1); // acts as 1e9 per second
        assert_eq!(
            (over.take(5, 7), over.take(5, 7), over.take(5, 8)),
            (1, 0, 1)
        );
    }

    #[test]
    #[should_panic(expected = "must be > 0")]
    fn flow_rate_rejects_a_zero_rate() {
        RateLimiter::new(0.0, 1);
    }

    #[test]
    fn flow_rate_concurrent_takes_never_exceed_the_bound() {
        let (rate, burst) = (1e6, 8); // I = 1000 ns
        let rl = Arc::new(RateLimiter::new(rate, burst));
        let start = 1_000_000_000;
        let clock = Arc::new(AtomicU64::new(start));
        let go = Arc::new(Barrier::new(4));
        let hs: Vec<_> = (0..4)
            .map(|t| {
                let (rl, clock, go) = (rl.clone(), clock.clone(), go.clone());
                std::thread::spawn(move || {
                    go.wait();
                    let (mut next, mut granted) = (rng(t + 11), 0);
                    for _ in 0..50_000 {
                        let step = 1 + next(400);
                        let now = clock.fetch_add(step, Relaxed) + step;
                        granted += rl.take(1 + next(3), now);
                    }
                    granted
                })
            })
            .collect();
        let granted: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
        let supply = (clock.load(Relaxed) - start) as f64 * rate / 1e9;
        let granted = granted as f64;
        assert!(granted <= f64::from(burst) + supply, "{granted} > {supply}");
        assert!(granted >= 0.9 * supply, "{granted} far below {supply}");
    }

    #[test]
    fn flow_keys_cap_each_key_and_report_the_cap() {
        let k = KeyLimits::new(2);
        assert_eq!(k.per_key(), 2);
        assert!(k.try_acquire(1) && k.try_acquire(1) && !k.try_acquire(1));
        assert!(k.try_acquire(2));
        assert_eq!((k.at_cap(), k.in_flight_keys()), (1, 2));
        assert!(
            k.release(1) && !k.release(1),
            "true only if it was at its cap"
        );
        assert!(k.try_acquire(2) && !k.try_acquire(2));
        assert_eq!((k.at_cap(), k.in_flight_keys()), (1, 1));
        assert!(k.release(2) && !k.release(2));
        assert_eq!((k.at_cap(), k.in_flight_keys()), (0, 0));
        let ordered = KeyLimits::new(1);
        assert!(ordered.try_acquire(9) && !ordered.try_acquire(9) && ordered.at_cap() == 1);
        assert!(ordered.release(9) && ordered.try_acquire(9) && ordered.release(9));
        assert_eq!(ordered.in_flight_keys(), 0);
    }

    #[test]
    #[cfg_attr(debug_assertions, should_panic(expected = "none in flight"))]
    fn flow_keys_releasing_an_idle_key_is_a_logic_error() {
        let k = KeyLimits::new(1);
        assert!(k.try_acquire(3));
        assert!(!k.release(4));
        assert_eq!(k.in_flight_keys(), 1, "ignored");
    }

    #[test]
    fn flow_keys_concurrent_holders_stay_under_the_cap_and_balance() {
        const KEYS: u64 = 6;
        const CAP: u32 = 2;
        let k = Arc::new(KeyLimits::new(CAP));
        let held: Arc<Vec<AtomicU32>> = Arc::new((0..KEYS).map(|_| AtomicU32::new(0)).collect());
        let go = Arc::new(Barrier::new(4));
        let hs: Vec<_> = (0..4)
            .map(|t| {
                let (k, held, go) = (k.clone(), held.clone(), go.clone());
                std::thread::spawn(move || {
                    go.wait();
                    let (mut next, mut mine, mut refused) = (rng(t + 3), Vec::new(), 0);
                    for _ in 0..20_000 {
                        let key = next(KEYS);
                        if k.try_acquire(key) {
                            let n = held[key as usize].fetch_add(1, Relaxed) + 1;
                            assert!(n <= CAP, "key {key}: {n} in flight");
                            mine.push(key);
                        } else {
                            refused += 1;
                        }
                        if mine.len() > 2 || (next(2) == 0 && !mine.is_empty()) {
                            let key = mine.swap_remove(next(mine.len() as u64) as usize);
                            held[key as usize].fetch_sub(1, Relaxed);
                            k.release(key);
                        }
                    }
                    for key in mine {
                        held[key as usize].fetch_sub(1, Relaxed);
                        k.release(key);
                    }
                    refused
                })
            })
            .collect();
        let refused: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
        assert!(refused > 0, "the cap was never reached");
        assert_eq!((k.at_cap(), k.in_flight_keys()), (0, 0));
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    #[test]
    fn loom_flow_one_token_goes_to_one_of_two_takers() {
        loom::model(|| {
            let rl = Arc::new(RateLimiter::new(1.0, 1));
            let other = rl.clone();
            let h = thread::spawn(move || other.take(1, 500));
            let mine = rl.take(1, 500);
            assert_eq!(mine + h.join().unwrap(), 1);
            assert_eq!(rl.next_token_at(500), 1_000_000_500);
        });
    }

    #[test]
    fn loom_flow_one_place_per_key_goes_to_one_of_two_acquirers() {
        loom::model(|| {
            let k = Arc::new(KeyLimits::new(1));
            let other = k.clone();
            let h = thread::spawn(move || other.try_acquire(7) && other.release(7));
            let mine = k.try_acquire(7);
            let theirs = h.join().unwrap();
            assert!(mine || theirs, "someone gets the place");
            if mine {
                assert!(k.release(7));
            }
            assert_eq!(k.in_flight_keys(), 0);
        });
    }
}
