//! The broker's worker pool: threads that run push handlers for every push
//! subscription, growing under load and shrinking when idle.
//!
//! Workers visit the push subscriptions round-robin, each visit taking a small
//! batch, so a hot subscription cannot starve a quiet one and no worker waits
//! on one subscription while another has work. A worker with nothing to do
//! parks on `work`, which publishes on topics with push subscriptions wake.
//!
//! Sizing. A supervisor thread samples utilisation (busy / workers) every
//! `TICK`, smooths it (exponential moving average over about ten samples),
//! and sets the target size on a sigmoid of it, as in the seed design:
//! `target = min + (max - min) * s(10 * (u - 0.7))`, with `s` the logistic
//! function; it grows by one worker per tick while work waits and the
//! pool is below target. A worker above the target that has been idle for
//! `idle_timeout` exits. The average and the one-per-tick step keep the size
//! from oscillating; the curve keeps a lightly loaded pool small.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::clock::{dur_ns, mono_ns};
use crate::handler::{FailureHook, HandlerFailure};
use crate::options::BrokerOptions;
use crate::push::PushSub;
use crate::stats::PoolStats;
use crate::sync::{AtomicBool, AtomicU64, AtomicUsize, Mutex, Ordering::*};
use crate::wait::{WaitQueue, Woke};

const TICK: Duration = Duration::from_millis(10);
/// The longest an idle worker sleeps before it looks again.
const MAX_IDLE_SLEEP: Duration = Duration::from_millis(50);
const GAIN: f64 = 10.0;
const THRESHOLD: f64 = 0.7;

thread_local! {
    static IS_WORKER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

pub(crate) struct Pool {
    opts: BrokerOptions,
    subs: Mutex<Arc<Vec<Arc<PushSub>>>>,
    work: WaitQueue,
    workers: AtomicUsize,
    busy: AtomicUsize,
    panics: AtomicU64,
    grown: AtomicU64,
    shrunk: AtomicU64,
    /// Utilisation × 1e6 (smoothed) and the target size, for stats.
    util_ppm: AtomicU64,
    target: AtomicUsize,
    next_name: AtomicUsize,
    rr: AtomicUsize,
    stop: AtomicBool,
    started: AtomicBool,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Called on every handler failure (see `Broker::on_handler_failure`).
    failure_hook: Mutex<Option<FailureHook>>,
}

impl Pool {
    pub(crate) fn new(opts: BrokerOptions) -> Arc<Pool> {
        Arc::new(Pool {
            target: AtomicUsize::new(opts.workers_min),
            opts,
            subs: Mutex::new(Arc::new(Vec::new())),
            work: WaitQueue::default(),
            workers: AtomicUsize::new(0),
            busy: AtomicUsize::new(0),
            panics: AtomicU64::new(0),
            grown: AtomicU64::new(0),
            shrunk: AtomicU64::new(0),
            util_ppm: AtomicU64::new(0),
            next_name: AtomicUsize::new(0),
            rr: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            started: AtomicBool::new(false),
            threads: Mutex::new(Vec::new()),
            failure_hook: Mutex::new(None),
        })
    }

    pub(crate) fn set_failure_hook(&self, hook: Option<FailureHook>) {
        *self.failure_hook.lock().unwrap_or_else(|e| e.into_inner()) = hook;
    }

    /// Tells the failure hook, if there is one (a panic in it is caught:
    /// a hook never takes a worker down).
    pub(crate) fn report_failure(&self, f: &HandlerFailure<'_>) {
        let hook = self
            .failure_hook
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(h) = hook {
            let _ = crate::handler::catch(|| h(f));
        }
    }

    /// A handler panicked on this pool (the worker lives on).
    pub(crate) fn count_panic(&self) {
        self.panics.fetch_add(1, Relaxed);
    }

    pub(crate) fn notify_work(&self) {
        self.work.notify();
    }

    fn snapshot(&self) -> Arc<Vec<Arc<PushSub>>> {
        self.subs.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Adds a push subscription; starts the pool's threads on first use.
    /// False, adding nothing, once the pool is shut down: `shutdown` sets
    /// `stop` before it empties the list under the same lock, so a
    /// subscription is either refused or in the list it empties (one added
    /// after would hold the pool, which holds it, for good).
    #[must_use]
    pub(crate) fn add(self: &Arc<Self>, sub: Arc<PushSub>) -> bool {
        {
            let mut g = self.subs.lock().unwrap_or_else(|e| e.into_inner());
            if self.stop.load(Acquire) {
                return false;
            }
            let mut v = (**g).clone();
            v.push(sub);
            *g = Arc::new(v);
        }
        if !self.started.swap(true, AcqRel) && !self.stop.load(Acquire) {
            for _ in 0..self.opts.workers_min.max(1) {
                self.spawn_worker();
            }
            let pool = self.clone();
            let h = std::thread::Builder::new()
                .name("ringmq-pool".into())
                .spawn(move || pool.supervise())
                .expect("spawn the pool supervisor");
            self.threads
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(h);
        }
        self.notify_work();
        true
    }

    pub(crate) fn remove(&self, sub: &Arc<PushSub>) {
        let mut g = self.subs.lock().unwrap_or_else(|e| e.into_inner());
        let v: Vec<_> = g.iter().filter(|s| !Arc::ptr_eq(s, sub)).cloned().collect();
        *g = Arc::new(v);
    }

    fn spawn_worker(self: &Arc<Self>) {
        let n = self.next_name.fetch_add(1, Relaxed);
        self.workers.fetch_add(1, AcqRel);
        let pool = self.clone();
        let h = std::thread::Builder::new()
            .name(format!("ringmq-worker-{n}"))
            .spawn(move || pool.work_loop())
            .expect("spawn a pool worker");
        let mut threads = self.threads.lock().unwrap_or_else(|e| e.into_inner());
        threads.retain(|t| !t.is_finished());
        threads.push(h);
    }

    /// Does any subscription have work a worker could take now?
    fn work_waits(&self, subs: &[Arc<PushSub>]) -> bool {
        let now = mono_ns();
        subs.iter().any(|s| s.has_work(now))
    }

    fn work_loop(self: Arc<Self>) {
        IS_WORKER.with(|w| w.set(true));
        let idle_ns = dur_ns(self.opts.idle_timeout);
        let mut idle_since = mono_ns();
        // Reused by every visit, so dispatch allocates nothing per message.
        let mut batch = Vec::with_capacity(crate::push::BATCH);
        loop {
            if self.stop.load(Acquire) {
                break;
            }
            let subs = self.snapshot();
            let mut did = false;
            if !subs.is_empty() {
                let start = self.rr.fetch_add(1, Relaxed);
                for i in 0..subs.len() {
                    let s = &subs[(start + i) % subs.len()];
                    self.busy.fetch_add(1, AcqRel);
                    let r = s.run_some(&mut batch);
                    self.busy.fetch_sub(1, AcqRel);
                    did |= r;
                }
            }
            if did {
                idle_since = mono_ns();
                continue;
            }
            let deadline = idle_since.saturating_add(idle_ns);
            // Sleep no later than the next retry or delayed message falls
            // due, and wake when a new one falls due sooner.
            let next_due = || {
                self.snapshot()
                    .iter()
                    .map(|s| s.next_due())
                    .min()
                    .unwrap_or(u64::MAX)
            };
            let due = next_due();
            let now = mono_ns();
            let longest = MAX_IDLE_SLEEP.as_nanos() as u64;
            // A due time already passed is work a visit could not take (a
            // subscription at its concurrency, a full ring): its progress
            // comes with a notify, so it is no reason to wake sooner.
            let max_sleep = if due > now {
                (due - now).clamp(100_000, longest)
            } else {
                longest
            };
            let woke = self.work.wait_until(
                Some(deadline),
                Some(Duration::from_nanos(max_sleep)),
                || self.stop.load(Acquire) || self.work_waits(&self.snapshot()) || next_due() < due,
            );
            if woke == Woke::TimedOut && mono_ns() >= deadline {
                // Idle for idle_timeout: leave if above the floor and target.
                let floor = self.opts.workers_min.max(self.target.load(Acquire)).max(1);
                let mut cur = self.workers.load(Acquire);
                let mut left = false;
                while cur > floor {
                    match self.workers.compare_exchange(cur, cur - 1, AcqRel, Acquire) {
                        Ok(_) => {
                            left = true;
                            break;
                        }
                        Err(a) => cur = a,
                    }
                }
                if left {
                    self.shrunk.fetch_add(1, Relaxed);
                    return;
                }
                idle_since = mono_ns();
            }
        }
        self.workers.fetch_sub(1, AcqRel);
    }

    fn supervise(self: Arc<Self>) {
        let mut util = 0.0f64;
        while !self.stop.load(Acquire) {
            std::thread::sleep(TICK);
            let workers = self.workers.load(Acquire).max(1);
            let busy = self.busy.load(Acquire).min(workers);
            let subs = self.snapshot();
            let waiting = self.work_waits(&subs);
            // A worker counts as busy while work waits, even between visits.
            let sample = if waiting {
                1.0
            } else {
                busy as f64 / workers as f64
            };
            util += (sample - util) * 0.1;
            let (min, max) = (self.opts.workers_min as f64, self.opts.workers_max as f64);
            let s = 1.0 / (1.0 + (-GAIN * (util - THRESHOLD)).exp());
            let target = (min + (max - min) * s).round().clamp(min.max(1.0), max) as usize;
            self.target.store(target, Release);
            self.util_ppm.store((util * 1e6) as u64, Relaxed);
            if waiting && self.workers.load(Acquire) < target {
                self.spawn_worker();
                self.grown.fetch_add(1, Relaxed);
            }
            for s in subs.iter() {
                s.housekeeping();
            }
            if waiting {
                // Retries that fell due are found by time, not by a publish.
                self.notify_work();
            }
        }
    }

    /// Stops every thread and joins them (but not the caller, if it is one).
    pub(crate) fn shutdown(&self) {
        self.stop.store(true, Release);
        self.work.notify();
        let handles: Vec<_> =
            std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        let me = std::thread::current().id();
        for h in handles {
            if h.thread().id() != me {
                let _ = h.join();
            }
        }
        *self.subs.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(Vec::new());
    }

    pub(crate) fn on_worker_thread() -> bool {
        IS_WORKER.with(|w| w.get())
    }

    pub(crate) fn stats(&self) -> PoolStats {
        let workers = self.workers.load(Acquire) as u64;
        let busy = (self.busy.load(Acquire) as u64).min(workers);
        PoolStats {
            workers,
            busy,
            idle: workers - busy,
            panics: self.panics.load(Relaxed),
            grown: self.grown.load(Relaxed),
            shrunk: self.shrunk.load(Relaxed),
            utilisation: self.util_ppm.load(Relaxed) as f64 / 1e6,
            target: self.target.load(Acquire) as u64,
        }
    }
}
