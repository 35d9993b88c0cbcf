//! Push subscriptions: handlers run on the broker's pool.
//!
//! A visit by a worker takes a small batch from the subscription (the same
//! `take` as a pull consumer) and runs the handler on each message; success
//! acks, an error or a panic nacks (retried with the topic's backoff, then
//! dead-lettered). `running` bounds the visits of one subscription at once
//! to `concurrency`.
//!
//! `ordered_by_key`: messages are taken under an intake lock, so in sequence
//! order, into lanes chosen by a hash of the key; a lane runs one message at
//! a time (a `busy` flag) and keeps a failed message at its head for an
//! in-place retry after the backoff, so later messages of the same key never
//! overtake it. Different lanes run in parallel.
//!
//! Unsubscribing. Every visit (the only place handlers are called) first
//! enters: it raises `visits`, then checks that the subscription is still
//! open; `unsubscribe` closes the subscription, then waits until no visit
//! is inside (but the caller's own, when a handler unsubscribes its own
//! subscription). Both sides put a SeqCst fence between their write and
//! their read, so either the visit sees the close or the unsubscribe sees
//! the visit: after `unsubscribe` returns, no handler call starts. A visit
//! also stops at the next message once the subscription is closed, so a
//! handler that unsubscribes its own subscription is not called for the
//! rest of its batch. An asynchronous handler's completion may still
//! arrive afterwards; it settles nothing (the subscription is closed).

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use crate::clock::{dur_ns, mono_ns};
use crate::delivery::{Delivery, Message};
use crate::error::Result;
use crate::handler::{catch, HandlerResult};
use crate::pool::Pool;
use crate::retry::splitmix;
use crate::stats::SubStats;
use crate::subscription::IdleReason;
use crate::subscription::{Action, SubCore};
use crate::sync::{fence, AtomicBool, AtomicU64, AtomicUsize, Mutex, Ordering::*};
use crate::wait::WaitQueue;

thread_local! {
    /// The push subscription whose visit runs on this thread, if any (its
    /// address), so that an unsubscribe from its own handler does not wait
    /// for itself.
    static VISITING: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

type SyncHandler = dyn Fn(&Message<'_>) -> HandlerResult + Send + Sync;
type AsyncHandler = dyn Fn(&Message<'_>, Completion) + Send + Sync;

pub(crate) enum Handler {
    Sync(Box<SyncHandler>),
    Async(Box<AsyncHandler>),
}

/// Messages a visit takes at most.
pub(crate) const BATCH: usize = 16;

struct Held {
    d: Delivery,
    /// Attempt number of the next run (in-place retries of ordered lanes).
    attempt: u32,
}

struct Lane {
    queue: Mutex<VecDeque<Held>>,
    busy: AtomicBool,
    not_before: AtomicU64,
}

struct Ordered {
    intake: Mutex<Vec<Delivery>>,
    lanes: Box<[Lane]>,
    queued: AtomicUsize,
    limit: usize,
}

pub(crate) struct PushSub {
    pub core: Arc<SubCore>,
    handler: Handler,
    running: AtomicUsize,
    /// Visits inside `run_some` now (see the module doc).
    visits: AtomicUsize,
    /// Woken when a visit leaves (an unsubscribe waits on it).
    left: WaitQueue,
    ordered: Option<Ordered>,
    pool: Arc<Pool>,
    last_refresh: AtomicU64,
}

/// How an asynchronous handler reports that it is done with a message.
/// Dropping it without calling [`complete`](Self::complete) nacks.
pub struct Completion {
    sub: Arc<PushSub>,
    held: Option<Held>,
    lane: Option<usize>,
}

impl Completion {
    pub fn complete(mut self, result: HandlerResult) {
        if let Some(held) = self.held.take() {
            self.sub.finish(held, self.lane, result);
        }
    }
}

impl Drop for Completion {
    fn drop(&mut self) {
        if let Some(held) = self.held.take() {
            self.sub.finish(
                held,
                self.lane,
                Err("the handler dropped its completion".into()),
            );
        }
    }
}

impl PushSub {
    pub(crate) fn new(core: Arc<SubCore>, handler: Handler, pool: Arc<Pool>) -> Arc<PushSub> {
        let ordered = core.opts.ordered_by_key.then(|| {
            let n = (core.opts.concurrency * 4).next_power_of_two().max(8);
            let limit = (core.opts.concurrency * BATCH * 4).min(core.topic().options().capacity);
            Ordered {
                intake: Mutex::new(Vec::with_capacity(BATCH)),
                lanes: (0..n)
                    .map(|_| Lane {
                        queue: Mutex::new(VecDeque::with_capacity(limit / n + BATCH)),
                        busy: AtomicBool::new(false),
                        not_before: AtomicU64::new(0),
                    })
                    .collect(),
                queued: AtomicUsize::new(0),
                limit: limit.max(1),
            }
        });
        Arc::new(PushSub {
            core,
            handler,
            running: AtomicUsize::new(0),
            visits: AtomicUsize::new(0),
            left: WaitQueue::default(),
            ordered,
            pool,
            last_refresh: AtomicU64::new(mono_ns()),
        })
    }

    fn try_reserve(&self) -> bool {
        let max = self.core.opts.concurrency;
        let mut cur = self.running.load(Acquire);
        loop {
            if cur >= max {
                return false;
            }
            match self
                .running
                .compare_exchange_weak(cur, cur + 1, AcqRel, Acquire)
            {
                Ok(_) => return true,
                Err(a) => cur = a,
            }
        }
    }

    fn unreserve(&self) {
        self.running.fetch_sub(1, AcqRel);
        // A slot freed: a worker may now take more of this subscription.
        self.pool.notify_work();
    }

    /// The next time this subscription's work falls due by time alone.
    pub(crate) fn next_due(&self) -> u64 {
        self.core.next_due()
    }

    /// Could a worker do something for this subscription now?
    pub(crate) fn has_work(&self, now: u64) -> bool {
        if self.core.is_closed() || self.running.load(Acquire) >= self.core.opts.concurrency {
            return false;
        }
        if let Some(o) = &self.ordered {
            let lane_ready = o.queued.load(Acquire) > 0
                && o.lanes.iter().any(|l| {
                    !l.busy.load(Acquire)
                        && l.not_before.load(Acquire) <= now
                        && !l.queue.lock().unwrap_or_else(|e| e.into_inner()).is_empty()
                });
            return lane_ready || (o.queued.load(Acquire) < o.limit && self.core.ready(now));
        }
        self.core.ready(now)
    }

    /// One visit by a worker; true if it ran or queued anything.
    pub(crate) fn run_some(self: &Arc<Self>, batch: &mut Vec<Delivery>) -> bool {
        /// Leaves the visit however it ends (a panic in the engine
        /// included), so an unsubscribe never waits for a visit gone.
        struct Visit<'a>(&'a PushSub, usize);
        impl Drop for Visit<'_> {
            fn drop(&mut self) {
                VISITING.with(|v| v.set(self.1));
                self.0.visits.fetch_sub(1, SeqCst);
                // An unsubscribe may be waiting for the last visit to leave.
                self.0.left.notify();
            }
        }
        self.visits.fetch_add(1, SeqCst);
        fence(SeqCst);
        let outer = VISITING.with(|v| v.replace(Arc::as_ptr(self) as usize));
        let _visit = Visit(self, outer);
        !self.core.is_closed() && self.visit(batch)
    }

    fn visit(self: &Arc<Self>, batch: &mut Vec<Delivery>) -> bool {
        if self.ordered.is_some() {
            return self.run_ordered();
        }
        debug_assert!(batch.is_empty());
        match &self.handler {
            Handler::Sync(h) => {
                // One slot for the visit: the batch runs on this worker in
                // turn; its acks settle together.
                if !self.try_reserve() {
                    return false;
                }
                let n = self
                    .core
                    .consume(self.batch_hint(), batch, &mut |m| {
                        self.call_sync(h.as_ref(), m)
                    })
                    .unwrap_or(0);
                self.unreserve();
                n > 0
            }
            Handler::Async(_) => {
                // One slot per message, released by its completion.
                let mut did = false;
                for _ in 0..BATCH {
                    if !self.try_reserve() {
                        break;
                    }
                    let mut one = None;
                    self.core.take(1, &mut one).ok();
                    let Some(d) = one else {
                        self.unreserve();
                        break;
                    };
                    let attempt = d.attempt();
                    self.dispatch(Held { d, attempt }, None);
                    did = true;
                }
                did
            }
        }
    }

    /// A batch small enough to spread over the allowed concurrency.
    fn batch_hint(&self) -> usize {
        let lag = self.core.lag() as usize;
        (lag / self.core.opts.concurrency.max(1)).clamp(1, BATCH)
    }

    fn run_ordered(self: &Arc<Self>) -> bool {
        let o = self.ordered.as_ref().expect("ordered subscription");
        let mut did = false;
        // Intake: in sequence order, under the intake lock, into the lanes.
        if o.queued.load(Acquire) < o.limit {
            if let Ok(mut buf) = o.intake.try_lock() {
                let room = o.limit - o.queued.load(Acquire).min(o.limit);
                let n = self.core.take(room.min(BATCH), &mut *buf).unwrap_or(0);
                if n > 0 {
                    o.queued.fetch_add(n, AcqRel);
                    for d in buf.drain(..) {
                        let lane = (splitmix(d.key()) as usize) & (o.lanes.len() - 1);
                        let attempt = d.attempt();
                        o.lanes[lane]
                            .queue
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push_back(Held { d, attempt });
                    }
                    did = true;
                }
            }
        }
        // Run the heads of ready lanes, one message per lane at a time.
        let now = mono_ns();
        let n = o.lanes.len();
        let start = splitmix(now) as usize;
        for i in 0..n {
            if self.core.is_closed() {
                break;
            }
            let li = (start + i) & (n - 1);
            let l = &o.lanes[li];
            if l.busy.load(Acquire) || l.not_before.load(Acquire) > now {
                continue;
            }
            if !self.try_reserve() {
                break;
            }
            if l.busy
                .compare_exchange(false, true, AcqRel, Acquire)
                .is_err()
            {
                self.unreserve();
                continue;
            }
            let head = l
                .queue
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop_front();
            match head {
                Some(held) => {
                    self.dispatch(held, Some(li));
                    did = true;
                }
                None => {
                    l.busy.store(false, Release);
                    self.unreserve();
                }
            }
        }
        did
    }

    /// Runs the handler on one message; a sync handler's result is settled
    /// before this returns, an async one's when its completion completes.
    fn dispatch(self: &Arc<Self>, held: Held, lane: Option<usize>) {
        let msg = Message {
            attempt: held.attempt,
            ..held.d.message()
        };
        let (meta, attempt) = (*held.d.meta(), msg.attempt);
        let (ptr, len) = (msg.data.as_ptr(), msg.data.len());
        let ext = held.d.ext();
        let (ext_ptr, ext_len) = (ext.as_ptr(), ext.len());
        match &self.handler {
            Handler::Sync(h) => {
                let r = self.call_sync(h.as_ref(), &msg);
                self.finish(held, lane, r);
            }
            Handler::Async(h) => {
                // The note outlives the move of `held` (a dead letter's only).
                let note = held.d.note().cloned();
                let completion = Completion {
                    sub: self.clone(),
                    held: Some(held),
                    lane,
                };
                // SAFETY: `ptr..ptr+len` is the delivery's payload, pinned
                // until the delivery is settled, which happens only when the
                // completion (moved into the call) completes or drops; the
                // view is given for the call only, as for sync handlers.
                let data = unsafe { std::slice::from_raw_parts(ptr, len) };
                // SAFETY: as for the payload: the extension is pinned with it.
                let ext = unsafe { std::slice::from_raw_parts(ext_ptr, ext_len) };
                let msg = Message::new(&meta, attempt, data, ext, note.as_deref());
                if catch(|| h(&msg, completion)).is_err() {
                    // The completion was dropped while unwinding: a nack.
                    self.count_panic();
                }
            }
        }
    }

    /// Runs a sync handler; a panic becomes an error (and is counted).
    fn call_sync(&self, h: &SyncHandler, msg: &Message<'_>) -> HandlerResult {
        catch(|| h(msg)).unwrap_or_else(|e| {
            self.count_panic();
            Err(e)
        })
    }

    /// A handler panicked: counted for the subscription and for the pool
    /// it ran on.
    fn count_panic(&self) {
        self.core.acct.handler_panicked();
        self.pool.count_panic();
    }

    /// Settles one handled message.
    fn finish(self: &Arc<Self>, held: Held, lane: Option<usize>, result: HandlerResult) {
        if let Err(e) = &result {
            let msg = Message {
                attempt: held.attempt,
                ..held.d.message()
            };
            self.core.report_failure(&msg, e);
        }
        let (Some(li), Some(o)) = (lane, &self.ordered) else {
            let _ = match result {
                Ok(()) => held.d.ack(),
                Err(e) if e.is_term() => held.d.term_with_reason(e.text()),
                Err(e) => held.d.nack_with_reason(e.retry_delay(), e.text()),
            };
            if matches!(self.handler, Handler::Async(_)) {
                self.unreserve();
            }
            return;
        };
        let l = &o.lanes[li];
        match result {
            Ok(()) => {
                let _ = held.d.ack();
                o.queued.fetch_sub(1, AcqRel);
            }
            Err(e) => {
                if e.is_term() {
                    let _ = held.d.settle_with(Action::Term {
                        reason: Some(e.text()),
                    });
                    o.queued.fetch_sub(1, AcqRel);
                } else if held.attempt >= self.core.max_attempts() {
                    // Out of attempts: a nack like any other, which the
                    // subscription routes to the dead-letter topic.
                    let _ = held.d.settle_with(Action::Nack {
                        delay: None,
                        reason: Some(e.text()),
                        attempts: Some(held.attempt),
                    });
                    o.queued.fetch_sub(1, AcqRel);
                } else {
                    // Retried in place, so later messages of the key wait.
                    self.core.acct.retried_in_place(e.text());
                    let wait = e.retry_delay().unwrap_or_else(|| {
                        self.core
                            .retry_delay(held.attempt, held.d.id() ^ held.attempt as u64)
                    });
                    // Keep the ack timer away while it waits in the lane.
                    let _ = held.d.in_progress();
                    l.not_before.store(mono_ns() + dur_ns(wait), Release);
                    let attempt = held.attempt + 1;
                    l.queue
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push_front(Held { d: held.d, attempt });
                }
            }
        }
        l.busy.store(false, Release);
        self.unreserve();
    }

    /// Periodic upkeep by the pool's supervisor: messages held in ordered
    /// lanes restart their ack timers so waiting in a lane is not a timeout.
    pub(crate) fn housekeeping(&self) {
        let Some(o) = &self.ordered else { return };
        let now = mono_ns();
        let every = dur_ns(self.core.topic().options().ack_timeout) / 4;
        if now.saturating_sub(self.last_refresh.load(Relaxed)) < every {
            return;
        }
        self.last_refresh.store(now, Relaxed);
        for l in o.lanes.iter() {
            for h in l.queue.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                let _ = h.d.in_progress();
            }
        }
    }

    /// Settles what ordered lanes still hold, at close: back to the ring's
    /// accounting as undelivered (released unsettled).
    pub(crate) fn drop_held(&self) {
        if let Some(o) = &self.ordered {
            for l in o.lanes.iter() {
                l.queue.lock().unwrap_or_else(|e| e.into_inner()).clear();
            }
        }
    }
}

/// A push subscription's handle.
#[derive(Clone)]
pub struct PushSubscription {
    pub(crate) sub: Arc<PushSub>,
}

impl PushSubscription {
    pub(crate) fn new(sub: Arc<PushSub>) -> PushSubscription {
        PushSubscription { sub }
    }

    pub fn group(&self) -> &str {
        &self.sub.core.group
    }

    /// Stops handing new messages to the handler (its lag grows); handlers
    /// running and retries go on. `Closed` once unsubscribed or closed.
    pub fn pause(&self) -> Result<()> {
        self.sub.core.set_paused(true)
    }

    /// Hands new messages to the handler again after [`pause`](Self::pause).
    pub fn resume(&self) -> Result<()> {
        self.sub.core.set_paused(false)
    }

    pub fn is_paused(&self) -> bool {
        self.sub.core.is_paused()
    }

    /// Why the handler gets nothing now (empty when a message is there and
    /// nothing holds it back); see [`IdleReason`].
    pub fn why_idle(&self) -> Vec<IdleReason> {
        self.sub.core.why_idle()
    }

    pub fn stats(&self) -> SubStats {
        self.sub.core.stats_snapshot(true)
    }

    /// Messages this subscription still owes (undelivered, being handled,
    /// waiting for a retry); cheap, unlike `stats`.
    pub fn outstanding(&self) -> u64 {
        self.sub.core.outstanding()
    }

    /// Stops the handlers of this subscription and removes it. Handler
    /// calls running now finish first (but the caller's own, when a handler
    /// unsubscribes its own subscription, which is then not called again);
    /// after it returns no handler call of this subscription starts on any
    /// thread. Completions of asynchronous handlers may still arrive later;
    /// they settle nothing. Answers `Closed` if it was already removed.
    pub fn unsubscribe(&self) -> Result<()> {
        if self.sub.core.topic().forked() {
            return Err(self.sub.core.topic().closed_error());
        }
        self.sub.pool.remove(&self.sub);
        let r = self
            .sub
            .core
            .topic()
            .remove_push_subscription(&self.sub.core);
        // Closed (by the removal) before the visits are read: see the
        // module doc for why no handler call starts after this returns.
        fence(SeqCst);
        let own = VISITING.with(|v| v.get()) == Arc::as_ptr(&self.sub) as usize;
        let others_left = || self.sub.visits.load(SeqCst) <= usize::from(own);
        // A visit is one batch of handler calls; it leaves by itself.
        self.sub.left.wait_until(None, None, others_left);
        self.sub.drop_held();
        r
    }
}

impl fmt::Debug for PushSubscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushSubscription")
            .field("topic", &self.sub.core.topic().name)
            .field("group", &self.sub.core.group)
            .finish()
    }
}
