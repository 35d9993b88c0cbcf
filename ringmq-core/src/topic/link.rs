//! The subscription's interface to its topic: the `TopicCore` methods that
//! the code in `subscription/` calls. Most of them are here; the others live
//! beside the topic state they read.
//!
//! Here (this file):
//! - the topic as configured: `options`, `is_dead_letter_topic`, `ring`;
//! - its own gate in the sequencer: `gate_value`, `advance_gate`,
//!   `release_gate`;
//! - wake-ups and waiting: `notify_producers`, `producers_parked`,
//!   `notify_consumers`,
//!   `wake_pool`, `wait_for_consumers`, and a readiness descriptor's
//!   `watch_consumers`, `unwatch_consumers`;
//! - the broker's failure hook: `report_failure`;
//! - the dead-letter topic: `dead_letter`, `dead_letter_note`.
//!
//! Elsewhere in `topic/`:
//! - `mod.rs`: the topic's state: `is_shut`, `forked` and `closed_error`
//!   (whether it still answers, and the `Closed` error saying why), and
//!   `published_upto` (a subscription's lag, and where a lapped lossy
//!   reader skips to);
//! - `delay.rs`: the timing wheel, which consumers drive: `delayed_count`,
//!   `delayed_due`, `delayed_due_at`, `fire_delayed`;
//! - `registry.rs`: `remove_subscription` (a pull subscription's
//!   unsubscribe).
//!
//! The subscription also reads the topic's `name` field (for the failure
//! hook, `PullSubscription::topic_name` and `Debug`). Outside
//! `subscription/`, the push subscriptions of `push.rs` use `options`,
//! `forked` and `closed_error` of this interface, and
//! `remove_push_subscription` from `registry.rs`.
//! Nothing else of `TopicCore` is the subscription's business: a new call
//! from `subscription/` into the topic belongs on this list.

use std::sync::Arc;
use std::time::Duration;

use super::TopicCore;
use crate::interrupt::Interrupt;
use crate::notes::{DeadLetterNote, Lapped};
use crate::options::TopicOptions;
use crate::ready_fd::ReadyFd;
use crate::ring::{Ring, SlotMeta};
use crate::sequence::advance_gate;
use crate::wait::Woke;

/// The part of the subscription's interface kept in this file: the ring it
/// reads, its own gate in the sequencer, wake-ups, the failure hook and the
/// dead-letter topic. The rest of the interface is in `topic/mod.rs`,
/// `topic/delay.rs` and `topic/registry.rs` (see the module doc).
impl TopicCore {
    pub(crate) fn options(&self) -> &TopicOptions {
        &self.opts
    }

    pub(crate) fn is_dead_letter_topic(&self) -> bool {
        self.is_dlq
    }

    pub(crate) fn ring(&self) -> &Ring {
        &self.ring
    }

    pub(crate) fn gate_value(&self, gate: usize) -> u64 {
        self.seq.gate_value(gate)
    }

    /// Advances `gate` over every sequence `settled` says is settled;
    /// true if it moved.
    pub(crate) fn advance_gate(&self, gate: usize, settled: impl Fn(u64) -> bool) -> bool {
        advance_gate(self.seq.gate(gate), settled)
    }

    /// Gives up `gate`: the subscription no longer holds producers back.
    pub(crate) fn release_gate(&self, gate: usize) {
        self.seq.release(gate);
        self.producers.notify();
    }

    pub(crate) fn notify_producers(&self) {
        self.producers.notify();
    }

    /// Is a producer parked (or about to park) waiting for room? An ack
    /// that finds none may leave its run unpublished (see
    /// `subscription::watermark`).
    pub(crate) fn producers_parked(&self) -> bool {
        self.producers.has_waiters()
    }

    pub(crate) fn notify_consumers(&self) {
        self.consumers.notify();
    }

    /// Lists a subscription's readiness descriptor to be fired by the next
    /// wake-up of consumers (see `WaitQueue::watch`).
    pub(crate) fn watch_consumers(&self, fd: &Arc<ReadyFd>) {
        self.consumers.watch(fd);
    }

    /// Unlists it; false if a wake-up fired it first.
    pub(crate) fn unwatch_consumers(&self, fd: &Arc<ReadyFd>) -> bool {
        self.consumers.unwatch(fd)
    }

    /// Tells the broker's failure hook about a handler failure.
    pub(crate) fn report_failure(&self, f: &crate::handler::HandlerFailure<'_>) {
        self.pool.report_failure(f);
    }

    /// Wakes the pool, for push subscriptions that may have work again.
    pub(crate) fn wake_pool(&self) {
        if self.push_subs.load(crate::sync::Ordering::Relaxed) > 0 {
            self.pool.notify_work();
        }
    }

    /// Waits for a publish (or `ready`, or the deadline, or `interrupt`).
    pub(crate) fn wait_for_consumers(
        &self,
        deadline: Option<u64>,
        max_sleep: Option<Duration>,
        interrupt: Option<&Interrupt>,
        ready: impl FnMut() -> bool,
    ) -> Woke {
        self.consumers
            .wait_until_or(deadline, max_sleep, interrupt, ready)
    }

    /// Publishes a dead letter, keeping its metadata, with why and by
    /// which group it was dead-lettered; tries once. True when it landed,
    /// or when there is no dead-letter topic (a dead-letter topic's own
    /// terms end the message there).
    pub(crate) fn dead_letter(
        &self,
        meta: &SlotMeta,
        data: &[u8],
        ext: &[u8],
        reason: &str,
        group: &str,
    ) -> bool {
        match &self.dlq {
            None => true,
            Some(dlq) => dlq
                .publish_dead_letter(meta, data, ext, reason, group)
                .is_ok(),
        }
    }

    /// The dead-letter note of published sequence `seq` (None for an
    /// ordinary topic, or a message published into a dead-letter topic by
    /// other means); `Lapped` if a later lap has taken its slot. Valid while
    /// `seq` is pinned, and for as long as the reference is kept.
    #[inline]
    pub(crate) fn dead_letter_note(&self, seq: u64) -> Result<Option<Arc<DeadLetterNote>>, Lapped> {
        match &self.notes {
            None => Ok(None),
            Some(notes) => notes.get(seq),
        }
    }
}
