//! Subscriptions (consumer groups), one protocol per file:
//!
//! | file          | protocol                                                     |
//! |---------------|--------------------------------------------------------------|
//! | `slots`       | the per-slot delivery state word of a gated subscription     |
//! | `cursor`      | claiming ring sequences (gated) or copying them out (lossy)  |
//! | `credits`     | store entries reserved per delivery (`max_ack_pending`)      |
//! | `timer`       | the ack timer: deliveries past their deadline come back      |
//! | `routing`     | after a failure: retry from the store, or the dead letter    |
//! | `settle`      | ack, nack, term, in_progress and release of one delivery     |
//! | `batch`       | batched acks and `consume`                                   |
//! | `poll`        | readiness, waiting and polling                               |
//! | `accounting`  | the counters; `in_flight`, `lag`, `outstanding`, the snapshot |
//! | `flow`        | flow control: the rate limiter and per-key limits            |
//! | `idle`        | why a subscription has nothing to deliver (`why_idle`)       |
//! | `keys`        | `max_in_flight_per_key`: places per key, parked messages     |
//! | `tag`         | what a delivery tag encodes                                  |
//! | `pull`        | the public [`PullSubscription`] handle                       |
//! | `durable`     | a durable topic's subscription: the log, checkpoints         |
//! | `relay`       | handing settles and retries to another system (a bridge)     |
//! | `watch`       | a readiness descriptor for event loops; waking a blocked poll |
//!
//! Competing consumers of one subscription take sequences from the cursor by
//! compare-and-swap, so each sequence goes to exactly one of them. A gated
//! subscription (the default) tracks each delivered sequence in its
//! [`SlotStates`](slots::SlotStates) and holds producers back with its gate in
//! the topic's sequencer, the settled watermark: the lowest sequence not yet
//! settled. A failed message leaves the ring for the bounded retry store, so
//! a message waiting for a retry never holds producers back. Lossy
//! subscriptions have no gate: they copy each message out (seqlock-validated)
//! into the store and skip ahead when lapped.
//!
//! A subscription asks its topic only for what `TopicCore`'s "subscription
//! interface" offers (the ring, its gate, wake-ups, the dead-letter topic),
//! and copies the topic's retry policy at creation.

mod accounting;
mod batch;
mod credits;
mod cursor;
mod durable;
mod flow;
mod idle;
mod keys;
mod poll;
mod pull;
mod raw;
mod relay;
mod routing;
mod settle;
mod slots;
mod tag;
mod timer;
mod watch;
mod watermark;

use std::sync::Arc;
use std::time::Duration;

use crate::clock::dur_ns;
use crate::error::{Error, Result};
use crate::options::{Expired, SubOptions, TopicOptions};
use crate::retry::RetryStore;
use crate::ring::Ring;
use crate::stats::SubStats;
use crate::sync::{AtomicBool, AtomicU64, Mutex, MutexGuard, Ordering::*};
use crate::topic::TopicCore;

pub(crate) use accounting::Accounting;
use accounting::Readings;
pub use idle::IdleReason;
pub(crate) use poll::Sink;
pub use pull::PullSubscription;
pub(crate) use settle::Action;
pub use slots::{Reaped, SlotStates};

use credits::Credits;
use cursor::Cursor;
use flow::RateLimiter;
use keys::KeyGate;
use timer::AckTimer;
use watch::Watch;
use watermark::Watermark;

pub(crate) use durable::LogSource;
pub use relay::{Outcome, Relay, Settled};

/// Who consumes a subscription: fixed at creation, so a push subscription
/// is never visible as pullable, not even for a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Consumer {
    Pull,
    Push,
}

/// Where a new subscription sits in its topic's ring: lossy or gated (and
/// its gate), the first sequence it delivers, and its slot states.
pub(crate) struct Seat {
    pub lossy: bool,
    pub gate: Option<usize>,
    pub start: u64,
    /// Sequences below this were published before the subscription; a
    /// gated one copies them out (they are not under its gate).
    pub history_end: u64,
    pub slots: SlotStates,
    /// A durable topic's log, read for what the ring no longer holds.
    pub log: Option<LogSource>,
}

/// The retry policy a subscription copies from its topic.
pub(crate) struct Policy {
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub ack_timeout_ns: u64,
    pub expired: Expired,
}

impl Policy {
    fn new(opts: &TopicOptions, is_dead_letter_topic: bool) -> Policy {
        Policy {
            // A dead-letter topic has nowhere further to send a message: its
            // own failures retry until acked or termed.
            max_attempts: if is_dead_letter_topic {
                u32::MAX
            } else {
                opts.max_attempts
            },
            backoff_base: opts.backoff_base,
            backoff_max: opts.backoff_max,
            ack_timeout_ns: dur_ns(opts.ack_timeout),
            expired: opts.expired,
        }
    }
}

pub(crate) struct SubCore {
    pub(crate) group: String,
    topic: Arc<TopicCore>,
    pub(crate) opts: SubOptions,
    consumer: Consumer,
    policy: Policy,
    lossy: bool,
    /// This subscription's gate in the sequencer (gated subscriptions).
    gate: Option<usize>,
    /// Sequences below this (its history) are copied out, as by a lossy
    /// subscription, rather than read in place under the gate.
    history_end: u64,
    cursor: Cursor,
    slots: SlotStates,
    credits: Credits,
    store: Mutex<RetryStore>,
    /// Earliest due time in the store (monotonic ns), `u64::MAX` if none: lets
    /// pollers skip the store's lock.
    store_due: AtomicU64,
    timer: AckTimer,
    pub(crate) acct: Accounting,
    closed: AtomicBool,
    gate_released: AtomicBool,
    /// When acks publish the gate (see `watermark`).
    watermark: Watermark,
    /// Seed for retry jitter.
    jitter: AtomicU64,
    /// Paused: takes nothing new from the ring (retries go on).
    paused: AtomicBool,
    /// `rate_limit`, when set.
    rate: Option<RateLimiter>,
    /// `max_in_flight_per_key`, when set (not for ordered push
    /// subscriptions, whose lanes run one per key anyway).
    keys: Option<KeyGate>,
    /// A durable topic's subscription: its log and checkpoint (see
    /// `durable`).
    log: Option<LogSource>,
    /// Where its settles are relayed, if anywhere (see `relay`).
    relay: relay::RelaySlot,
    /// Its readiness descriptor and pending wakes (see `watch`).
    watch: Watch,
}

impl SubCore {
    pub(crate) fn new(
        topic: Arc<TopicCore>,
        group: &str,
        opts: SubOptions,
        consumer: Consumer,
        seat: Seat,
    ) -> SubCore {
        let Seat {
            lossy,
            gate,
            start,
            history_end,
            slots,
            log,
        } = seat;
        let topic_opts = topic.options();
        let store_cap = topic_opts.effective_retry_capacity();
        let policy = Policy::new(topic_opts, topic.is_dead_letter_topic());
        let rate = opts
            .rate_limit
            .map(|r| RateLimiter::new(r, opts.effective_rate_burst()));
        let ordered_push = consumer == Consumer::Push && opts.ordered_by_key;
        let keys = (opts.max_in_flight_per_key > 0 && !ordered_push)
            .then(|| KeyGate::new(opts.max_in_flight_per_key));
        SubCore {
            group: group.to_owned(),
            opts,
            consumer,
            lossy,
            gate,
            history_end,
            cursor: Cursor::new(start),
            slots,
            credits: Credits::new(store_cap as u64),
            store: Mutex::new(RetryStore::new(store_cap, topic_opts.slot_size)),
            store_due: AtomicU64::new(u64::MAX),
            timer: AckTimer::new(policy.ack_timeout_ns),
            acct: Accounting::new(),
            closed: AtomicBool::new(false),
            gate_released: AtomicBool::new(false),
            watermark: Watermark::new(start, topic_opts.capacity),
            jitter: AtomicU64::new(start ^ 0x5eed),
            paused: AtomicBool::new(false),
            rate,
            keys,
            log,
            relay: relay::RelaySlot::default(),
            watch: Watch::new(),
            policy,
            topic,
        }
    }

    pub(crate) fn topic(&self) -> &Arc<TopicCore> {
        &self.topic
    }

    pub(crate) fn is_push(&self) -> bool {
        self.consumer == Consumer::Push
    }

    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Acquire) || self.topic.forked()
    }

    fn ring(&self) -> &Ring {
        self.topic.ring()
    }

    fn lock_store(&self) -> MutexGuard<'_, RetryStore> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn ack_deadline(&self, now: u64) -> u64 {
        now.saturating_add(self.policy.ack_timeout_ns)
    }

    /// `Closed` once the subscription or its topic has closed.
    fn check_open(&self) -> Result<()> {
        if self.is_closed() {
            return Err(self.closed_error());
        }
        if self.topic.is_shut() {
            return Err(self.topic.closed_error());
        }
        Ok(())
    }

    fn closed_error(&self) -> Error {
        if self.topic.forked() {
            return self.topic.closed_error();
        }
        Error::closed(&format!("subscription {:?}", self.group))
    }

    /// Gives back `n` credits; a consumer waiting for one is woken.
    fn return_credits(&self, n: u64) {
        if self.credits.give(n) {
            self.topic.notify_consumers();
        }
    }

    /// Marks a BUSY `seq` settled and advances the watermark.
    fn settle_slot(&self, seq: u64) {
        self.slots.settle(seq);
        self.advance();
    }

    /// Stops the subscription: polls answer `Closed`, and its gate stops
    /// holding producers once no delivery pins a slot.
    pub(crate) fn close(&self) {
        if self.closed.swap(true, AcqRel) {
            return;
        }
        self.try_release_gate();
        self.topic.notify_consumers();
    }

    /// Releases the gate now, even with deliveries outstanding.
    ///
    /// # Safety
    /// No payload of a delivery of this subscription may be read afterwards.
    pub(crate) unsafe fn close_abandoning(&self) {
        self.closed.store(true, Release);
        self.release_gate();
        self.topic.notify_consumers();
    }

    fn try_release_gate(&self) {
        let Some(gate) = self.gate else { return };
        if self.gate_released.load(Acquire) {
            return;
        }
        let start = self.topic.gate_value(gate);
        let end = self.cursor.next();
        // Dropped deliveries will not come back to a closed subscription;
        // settling them first keeps a running timer scan off their slots.
        let mut settled = false;
        for seq in start..end {
            settled |= self.slots.try_settle_abandoned(seq);
        }
        if !(start..end).any(|seq| self.slots.pins(seq)) {
            self.release_gate();
        } else if settled && self.topic.advance_gate(gate, |w| self.slots.is_settled(w)) {
            self.topic.notify_producers();
        }
    }

    fn release_gate(&self) {
        if let Some(gate) = self.gate {
            if !self.gate_released.swap(true, AcqRel) {
                self.topic.release_gate(gate);
            }
        }
    }

    /// Pauses (true) or resumes the subscription: a paused one takes
    /// nothing new from the ring (its lag grows); deliveries in flight and
    /// retries are not disturbed. `Closed` on a closed subscription.
    pub(crate) fn set_paused(&self, paused: bool) -> Result<()> {
        self.check_open()?;
        self.paused.store(paused, Release);
        if !paused {
            self.topic.notify_consumers();
            self.topic.wake_pool();
        }
        Ok(())
    }

    pub(crate) fn is_paused(&self) -> bool {
        self.paused.load(Acquire)
    }

    /// What the accounting derives `lag` from; `waiting_retry` (which takes
    /// the store's lock) only if asked, else 0.
    fn readings(&self, with_store: bool) -> Readings {
        // The published watermark first, as before: the cursor, read after,
        // can only make the lag look smaller, never wrap.
        let closed = self.is_closed();
        let published_upto = self.topic.published_upto();
        Readings {
            published_upto,
            next: self.cursor.next(),
            closed,
            waiting_retry: if with_store { self.waiting_retry() } else { 0 },
            pinned: self.slots.pinned(),
            paused: self.is_paused(),
        }
    }

    fn waiting_retry(&self) -> u64 {
        self.lock_store().waiting() as u64
    }

    /// Messages published but not yet delivered.
    pub(crate) fn lag(&self) -> u64 {
        self.acct.lag(&self.readings(false))
    }

    /// Messages this subscription still owes: undelivered, in flight, or
    /// waiting for a retry.
    pub(crate) fn outstanding(&self) -> u64 {
        if self.topic.forked() {
            return 0;
        }
        self.acct.outstanding(&self.readings(true))
    }

    /// What a closing broker waits for: `outstanding`, less a lossy
    /// subscription's backlog, which it may skip at any time anyway.
    pub(crate) fn drain_outstanding(&self) -> u64 {
        let o = self.outstanding();
        if self.lossy {
            o.saturating_sub(self.lag())
        } else {
            o
        }
    }

    pub(crate) fn stats_snapshot(&self, with_error: bool) -> SubStats {
        if self.topic.forked() {
            // The store's lock may be held for good in a forked child.
            return self.acct.snapshot(&Readings::default(), false);
        }
        self.acct.snapshot(&self.readings(true), with_error)
    }
}
