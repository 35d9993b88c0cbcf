//! Blocking without lost wake-ups: waiters spin briefly, go on checking
//! (yielding) for as long as the queue's spin budget says (see `spin`),
//! then park on a condition variable; notifiers pay one fence and one load
//! when nobody waits.
//!
//! Protocol. A waiter increments `waiters` (SeqCst), passes the heavy side of
//! an asymmetric barrier ([`crate::barrier`]), then, holding the mutex,
//! re-checks its condition before every sleep. A notifier first makes its
//! change visible, passes the light side of the barrier (a compiler barrier
//! where membarrier is available, else a SeqCst fence) and reads `waiters`;
//! if it is non-zero it takes and releases the mutex and notifies. Either the
//! notifier's load sees the waiter's increment (and the mutex orders the
//! notify after the waiter's check or wakes its sleep), or the barrier orders
//! the notifier's change before the waiter's check, which then sees it.
//!
//! Watchers. A readiness descriptor ([`ReadyFd`]) waits the same way, for
//! an event loop instead of a thread: [`WaitQueue::watch`] lists it (and
//! counts it in `waiters`) under the mutex, then passes the heavy side of
//! the barrier, and its owner re-checks its condition after. A notify that
//! finds waiters fires every listed descriptor and unlists it, under the
//! same mutex, so each listing is fired at most once; the owner lists it
//! again after the event loop has seen it and found nothing.

use std::sync::Arc;
use std::time::Duration;

use crossbeam_utils::CachePadded;

use crate::barrier;
use crate::clock::{mono_coarse_ns, mono_ns};
use crate::interrupt::Interrupt;
use crate::ready_fd::ReadyFd;
use crate::spin::SpinBudget;
use crate::sync::{spin_loop, AtomicUsize, Condvar, Mutex, Ordering::Relaxed, Ordering::SeqCst};

/// The short spin every wait begins with: a check after every spin-loop
/// hint, so that a wait ends within a hint of its answer, for about
/// `SPIN_NS` (measured from the `CLOCK_EVERY`th check, the clock read every
/// `CLOCK_EVERY` checks). A hint (`pause`) takes 5 to 140 cycles by CPU,
/// 26 ns on the AMD EPYC this was tuned on. Eight hints between checks
/// (about 200 ns here) had added half a gap on average to every hop of a
/// message, and so about 200 ns to a round trip's p50 (docs/BENCHMARKS.md,
/// "A check after every hint"). Bounded by time, not by a count of checks:
/// under valgrind or a sanitizer a check costs far more than a hint, and a
/// count of 160 made every wait there spin several times as long as it
/// had (the C tests under valgrind took 89 s, against 42 s so). None under
/// loom, whose models explore interleavings, not time.
const SPIN_NS: u64 = 6_000;
const CLOCK_EVERY: u32 = 16;

pub(crate) struct WaitQueue {
    /// Read by every notify: on a line of its own, away from the counters
    /// that other threads write.
    waiters: CachePadded<AtomicUsize>,
    /// Held around every park and notify; holds the listed watchers.
    lock: Mutex<Vec<Arc<ReadyFd>>>,
    cond: Condvar,
    /// How long a waiter checks before it parks.
    spin: SpinBudget,
}

impl Default for WaitQueue {
    fn default() -> Self {
        barrier::init();
        WaitQueue {
            waiters: CachePadded::new(AtomicUsize::new(0)),
            lock: Mutex::new(Vec::new()),
            cond: Condvar::new(),
            spin: SpinBudget::default(),
        }
    }
}

/// Why a wait ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Woke {
    Ready,
    TimedOut,
    Interrupted,
}

impl WaitQueue {
    /// Wakes every waiter whose condition may have become true.
    #[inline]
    pub(crate) fn notify(&self) {
        if self.has_waiters() {
            self.wake_all();
        }
    }

    /// Does anyone wait (or is about to park)? The notifier's side of the
    /// protocol without the wake-up: a caller that made a change visible
    /// and finds nobody here may leave the rest of its work for the waiter,
    /// which runs its `before_park` (see [`wait_parking`](Self::wait_parking))
    /// after it is counted here.
    #[inline]
    pub(crate) fn has_waiters(&self) -> bool {
        barrier::light();
        self.waiters.load(Relaxed) != 0
    }

    /// The rare half of `notify`, out of line so that a notify with nobody
    /// waiting (one per publish) stays a fence, a load and a branch.
    #[cold]
    #[inline(never)]
    fn wake_all(&self) {
        let mut watchers = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        for fd in watchers.drain(..) {
            self.waiters.fetch_sub(1, SeqCst);
            fd.fire();
        }
        drop(watchers);
        self.cond.notify_all();
    }

    /// Lists `fd` to be fired by the next notify (once; listing it again
    /// before that changes nothing). The caller re-checks its condition
    /// after this returns, and fires `fd` itself if it already holds.
    pub(crate) fn watch(&self, fd: &Arc<ReadyFd>) {
        {
            let mut watchers = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            if !watchers.iter().any(|w| Arc::ptr_eq(w, fd)) {
                watchers.push(fd.clone());
                self.waiters.fetch_add(1, SeqCst);
            }
        }
        barrier::heavy();
    }

    /// Unlists `fd`; false if it was not listed (a notify fired it).
    pub(crate) fn unwatch(&self, fd: &Arc<ReadyFd>) -> bool {
        let mut watchers = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        match watchers.iter().position(|w| Arc::ptr_eq(w, fd)) {
            Some(i) => {
                watchers.swap_remove(i);
                self.waiters.fetch_sub(1, SeqCst);
                true
            }
            None => false,
        }
    }

    /// Waits until `ready()` is true or the monotonic `deadline` (ns) passes.
    /// `ready` must be cheap and must not block. `max_sleep` bounds each park,
    /// for conditions that become true by the passing of time (a retry falling
    /// due) rather than by a notify.
    pub(crate) fn wait_until(
        &self,
        deadline: Option<u64>,
        max_sleep: Option<Duration>,
        ready: impl FnMut() -> bool,
    ) -> Woke {
        self.wait_until_or(deadline, max_sleep, None, ready)
    }

    /// As [`wait_until`](Self::wait_until), ending also (first) when
    /// `interrupt` is set.
    pub(crate) fn wait_until_or(
        &self,
        deadline: Option<u64>,
        max_sleep: Option<Duration>,
        interrupt: Option<&Interrupt>,
        ready: impl FnMut() -> bool,
    ) -> Woke {
        self.wait_parking(deadline, max_sleep, interrupt, || {}, ready)
    }

    /// As [`wait_until_or`](Self::wait_until_or), running `before_park`
    /// each time the waiter is about to park: after it is counted in
    /// `waiters` and has passed the heavy side of the barrier, before it
    /// checks `ready` under the lock. A notifier that finds no waiter (see
    /// [`has_waiters`](Self::has_waiters)) may leave work undone for
    /// `before_park` to finish: either the notifier saw the waiter, or
    /// `before_park` sees the notifier's change.
    pub(crate) fn wait_parking(
        &self,
        deadline: Option<u64>,
        max_sleep: Option<Duration>,
        interrupt: Option<&Interrupt>,
        before_park: impl FnMut(),
        ready: impl FnMut() -> bool,
    ) -> Woke {
        let Some(i) = interrupt else {
            return self.wait_inner(deadline, max_sleep, || false, before_park, ready);
        };
        /// Unlists the queue however the wait ends (a panicking `ready`
        /// included): the interrupt must never keep a pointer to it.
        struct Listed<'a>(&'a Interrupt, &'a WaitQueue);
        impl Drop for Listed<'_> {
            fn drop(&mut self) {
                self.0.unlist(self.1);
            }
        }
        i.enlist(self);
        let _listed = Listed(i, self);
        self.wait_inner(
            deadline,
            max_sleep,
            || i.is_interrupted(),
            before_park,
            ready,
        )
    }

    fn wait_inner(
        &self,
        deadline: Option<u64>,
        max_sleep: Option<Duration>,
        interrupted: impl Fn() -> bool,
        mut before_park: impl FnMut(),
        mut ready: impl FnMut() -> bool,
    ) -> Woke {
        let mut spins = 0u32;
        let mut spin_since = None;
        let mut spun = cfg!(loom);
        let mut checking_since = None;
        loop {
            if interrupted() {
                return Woke::Interrupted;
            }
            if ready() {
                return Woke::Ready;
            }
            // The coarse clock lags: a deadline seen passed has passed.
            if deadline.is_some_and(|d| mono_coarse_ns() >= d) {
                return Woke::TimedOut;
            }
            // The short spin: a check after every hint. (An exponential
            // backoff's gaps grow to microseconds, and an answer that came
            // early in one waited for its end: that gap was a round trip's
            // p99.)
            if !spun {
                spins = spins.wrapping_add(1);
                if spins % CLOCK_EVERY == 0 {
                    let now = mono_ns();
                    spun = now - *spin_since.get_or_insert(now) >= SPIN_NS;
                }
                if !spun {
                    spin_loop();
                    continue;
                }
            }
            // Past the short spin: go on checking for the queue's budget
            // (see `spin`), giving the CPU away between checks.
            let now = mono_ns();
            let since = *checking_since.get_or_insert(now);
            if now - since >= self.spin.ns() {
                break;
            }
            std::thread::yield_now();
        }
        let parked_at = mono_ns();
        self.waiters.fetch_add(1, SeqCst);
        barrier::heavy();
        before_park();
        let mut guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let woke = loop {
            if interrupted() {
                break Woke::Interrupted;
            }
            if ready() {
                break Woke::Ready;
            }
            let now = mono_ns();
            let mut sleep = match deadline {
                Some(d) if now >= d => break Woke::TimedOut,
                Some(d) => Duration::from_nanos(d - now),
                None => Duration::from_secs(3600),
            };
            if let Some(m) = max_sleep {
                sleep = sleep.min(m);
            }
            guard = self
                .cond
                .wait_timeout(guard, sleep)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        };
        drop(guard);
        self.waiters.fetch_sub(1, SeqCst);
        if woke != Woke::TimedOut {
            self.spin.parked(mono_ns().saturating_sub(parked_at));
        }
        woke
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::sync::{AtomicBool, Ordering::Release};
    use loom::thread;

    /// The watcher's protocol against a notifier: a consumer re-arms its
    /// descriptor (arm, watch, re-check, fire if the condition holds)
    /// while a producer makes the condition true and notifies. Whatever
    /// the interleaving, the descriptor ends up fired, and nothing stays
    /// listed with it fired twice over.
    #[test]
    fn loom_a_change_during_a_rearm_always_fires_the_descriptor() {
        loom::model(|| {
            let q = std::sync::Arc::new(WaitQueue::default());
            let ready = std::sync::Arc::new(AtomicBool::new(false));
            let fd = Arc::new(ReadyFd::new().unwrap());
            let producer = {
                let (q, ready) = (q.clone(), ready.clone());
                thread::spawn(move || {
                    ready.store(true, Release);
                    q.notify();
                })
            };
            fd.arm(None);
            q.watch(&fd);
            if ready.load(SeqCst) && q.unwatch(&fd) {
                fd.fire();
            }
            producer.join().unwrap();
            // Fired by one side or the other (a timerfd set to 1 ns
            // becomes readable as soon as its timer runs).
            let mut readable = false;
            for _ in 0..100 {
                if fd.is_readable() {
                    readable = true;
                    break;
                }
                std::thread::sleep(Duration::from_micros(50));
            }
            assert!(readable, "the change was lost");
            // Whoever fired it unlisted it: the count is back to zero.
            assert_eq!(q.waiters.load(SeqCst), 0);
        });
    }

    /// The handshake that lets a notifier leave work to a waiter about to
    /// park, as an ack leaves its run of settled sequences unpublished for
    /// a producer short of room (`has_waiters` on the notifier's side,
    /// `wait_parking`'s `before_park` on the waiter's): whatever the
    /// interleaving, the work is done by one side or the other and the
    /// wait ends. (With a `before_park` that does nothing, loom finds the
    /// interleaving that parks for good.)
    #[test]
    fn loom_work_left_for_a_waiter_about_to_park_is_never_lost() {
        loom::model(|| {
            let q = std::sync::Arc::new(WaitQueue::default());
            // The ack (a settled slot) and its publication (the gate).
            let settled = std::sync::Arc::new(AtomicBool::new(false));
            let published = std::sync::Arc::new(AtomicBool::new(false));
            let consumer = {
                let (q, settled, published) = (q.clone(), settled.clone(), published.clone());
                thread::spawn(move || {
                    settled.store(true, SeqCst);
                    if q.has_waiters() {
                        published.store(true, SeqCst);
                        q.notify();
                    }
                })
            };
            let flush = || {
                if settled.load(SeqCst) {
                    published.store(true, SeqCst);
                }
            };
            let woke = q.wait_parking(None, None, None, flush, || published.load(SeqCst));
            assert_eq!(woke, Woke::Ready);
            consumer.join().unwrap();
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::sync::AtomicBool;
    use std::thread;

    /// A queue whose spin budget may grow to 50 ms, so that the test's
    /// waits (1 ms answers, then 100 ms ones) are short or long whatever the
    /// machine's load.
    fn queue() -> Arc<WaitQueue> {
        Arc::new(WaitQueue {
            spin: SpinBudget::bounded(50_000_000),
            ..WaitQueue::default()
        })
    }

    /// Waits on `q` for a flag that another thread sets `after` the wait
    /// has begun to park (so that every wait parks, however long its
    /// checking took); the budget it leaves.
    fn wait_for_answer(q: &Arc<WaitQueue>, after: Duration) -> u64 {
        let flag = Arc::new(AtomicBool::new(false));
        let answer = {
            let (q, flag) = (q.clone(), flag.clone());
            thread::spawn(move || {
                while q.waiters.load(SeqCst) == 0 {
                    thread::sleep(Duration::from_micros(100));
                }
                thread::sleep(after);
                flag.store(true, SeqCst);
                q.notify();
            })
        };
        assert_eq!(q.wait_until(None, None, || flag.load(SeqCst)), Woke::Ready);
        answer.join().unwrap();
        q.spin.ns()
    }

    /// Waits that park and are answered soon (1 ms, within the bound)
    /// teach the queue to check before parking: the budget grows. Waits
    /// longer than the bound teach it to park at once again.
    #[test]
    fn the_spin_budget_follows_how_long_the_waits_last() {
        let q = queue();
        assert_eq!(q.spin.ns(), 0);
        let mut budget = 0;
        for _ in 0..3 {
            let next = wait_for_answer(&q, Duration::from_millis(1));
            assert!(
                next > budget,
                "a short park did not grow the budget ({budget} -> {next})"
            );
            budget = next;
        }
        while budget > 0 {
            let next = wait_for_answer(&q, Duration::from_millis(100));
            assert!(
                next < budget,
                "a long park did not shrink the budget ({budget} -> {next})"
            );
            budget = next;
        }
    }
}
