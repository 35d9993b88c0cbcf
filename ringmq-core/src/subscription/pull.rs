//! The public handle of a pull subscription: the caller polls and settles.
//!
//! [`PullSubscription`] holds nothing but an `Arc` of the subscription's
//! `SubCore`; every method hands the call on to it, so the protocols are
//! those of the other files, and clones of a handle (or handles from
//! `Topic::pull_subscription`) are competing consumers of one group.
//!
//! Polling (`poll`, `poll_batch` and their `_interruptible` forms):
//! - a poll first takes without blocking (see `poll`); a zero timeout stops
//!   there and never waits or reads the clock for a deadline;
//! - otherwise it waits on the topic's consumer wait queue and takes again
//!   after each wake-up, until it gets something or its deadline passes,
//!   taking once more at the deadline; a wake-up for a message another
//!   consumer took first does not end the wait early;
//! - an interrupt ends the wait with `Err` of kind `Interrupted`, having
//!   taken nothing (an error, so it is told from a timeout's `Ok(None)` or
//!   `Ok(0)`); a poll that finds a message at once does not look at it;
//! - `poll_batch` with `max` 0 is bad input, answered before anything is
//!   taken (so is `consume` with `max` 0);
//! - a poll or consume that takes nothing re-arms the readiness
//!   descriptor, and `wake` ends one blocked poll (see `watch`).
//!
//! `consume` takes the same way but runs the handler in place (see
//! `batch`): `Ok` acks, `Err` or a panic nacks with its text, no `Delivery`
//! is made per message on the ring's fast path, and the acks of one batch
//! settle together.
//!
//! Settling by raw tag (`ack_tag`, `ack_tags`, `nack_tag`, `requeue_tag`,
//! `term_tag`, `in_progress_tag`) takes the same slot transitions and store generations
//! as settling a [`Delivery`] (see `settle`; `ack_tags` batches its ring acks
//! as `batch` does), so exactly one settle of a delivery wins and a refused
//! one changes nothing; `ack_tags` tries every tag and answers the first
//! error. `ack_tag`, `ack_tags`, `nack_tag` and `term_tag` may free the
//! slot, so they are `unsafe`: no `Delivery` with the tag may still exist,
//! or its payload would be read after its slot is freed. `in_progress_tag`
//! frees nothing and is safe.
//!
//! `pause` and `resume` only stop and restart taking from the ring:
//! deliveries in flight and retries go on, and both answer `Closed` once the
//! subscription is closed. `why_idle` reads state and changes nothing (see
//! `idle`).
//!
//! `unsubscribe` removes the subscription from the topic's registry and
//! closes it: later polls answer `Closed`, deliveries still held stay
//! readable, and its gate stops holding producers back once no delivery
//! pins a slot. `unsubscribe_abandoning` lets go of the gate at once, so the
//! caller must promise never to read a payload of this subscription again.

use std::sync::Arc;
use std::time::Duration;

use super::IdleReason;
use super::{Action, SubCore};
use crate::delivery::{Delivery, Message};
use crate::error::{Error, Result};
use crate::handler::HandlerResult;
use crate::interrupt::Interrupt;
use crate::stats::SubStats;

/// A batch poll's `max` must be at least 1 (checked before anything is
/// taken).
pub(super) fn check_max(max: usize) -> Result<()> {
    if max == 0 {
        return Err(Error::invalid("poll_batch max 0 must be at least 1"));
    }
    Ok(())
}

/// A pull subscription: the caller polls and settles deliveries.
///
/// Handles are cheap to clone and thread-safe; clones share the
/// subscription, so several threads polling one are competing consumers.
#[derive(Clone)]
pub struct PullSubscription {
    pub(crate) core: Arc<SubCore>,
}

impl PullSubscription {
    pub fn group(&self) -> &str {
        &self.core.group
    }

    pub fn topic_name(&self) -> &str {
        &self.core.topic().name
    }

    /// Waits up to `timeout` (`None`: for ever) for one delivery.
    /// `Ok(None)` when nothing arrived in time.
    pub fn poll(&self, timeout: Option<Duration>) -> Result<Option<Delivery>> {
        let mut out = None;
        self.core.poll_into(1, timeout, None, &mut out)?;
        Ok(out)
    }

    /// As [`poll`](Self::poll), ending the wait early when `interrupt` is
    /// set (before or during the wait): that answers `Err` of kind
    /// `Interrupted` and takes nothing (an error rather than `Ok(None)`, so
    /// that a caller can tell it from a timeout). A poll that finds a
    /// message at once does not look at `interrupt`.
    pub fn poll_interruptible(
        &self,
        timeout: Option<Duration>,
        interrupt: &Interrupt,
    ) -> Result<Option<Delivery>> {
        let mut out = None;
        self.core.poll_into(1, timeout, Some(interrupt), &mut out)?;
        Ok(out)
    }

    /// Waits up to `timeout` for at least one delivery and appends up to
    /// `max` to `out`; returns how many. Reuse `out` to avoid allocating.
    pub fn poll_batch(
        &self,
        max: usize,
        timeout: Option<Duration>,
        out: &mut Vec<Delivery>,
    ) -> Result<usize> {
        self.poll_batch_with(max, timeout, None, out)
    }

    /// [`poll_batch`](Self::poll_batch) with an [`Interrupt`], as
    /// [`poll_interruptible`](Self::poll_interruptible).
    pub fn poll_batch_interruptible(
        &self,
        max: usize,
        timeout: Option<Duration>,
        interrupt: &Interrupt,
        out: &mut Vec<Delivery>,
    ) -> Result<usize> {
        self.poll_batch_with(max, timeout, Some(interrupt), out)
    }

    fn poll_batch_with(
        &self,
        max: usize,
        timeout: Option<Duration>,
        interrupt: Option<&Interrupt>,
        out: &mut Vec<Delivery>,
    ) -> Result<usize> {
        check_max(max)?;
        out.reserve(max);
        self.core.poll_into(max, timeout, interrupt, out)
    }

    /// Waits up to `timeout` for messages, then runs `handler` on up to
    /// `max` of them in turn: `Ok` acks, `Err` (or a panic) nacks with its
    /// text, so they are retried and dead-lettered as usual. Returns how many
    /// were handled (0 on timeout). The fastest way to consume: no
    /// `Delivery` is made per message and a batch's acks settle together.
    pub fn consume<F>(&self, max: usize, timeout: Option<Duration>, handler: F) -> Result<usize>
    where
        F: FnMut(&Message<'_>) -> HandlerResult,
    {
        self.consume_with(max, timeout, None, handler)
    }

    /// [`consume`](Self::consume) with an [`Interrupt`], as
    /// [`poll_interruptible`](Self::poll_interruptible): an interrupted wait
    /// answers `Interrupted` and runs the handler on nothing.
    pub fn consume_interruptible<F>(
        &self,
        max: usize,
        timeout: Option<Duration>,
        interrupt: &Interrupt,
        handler: F,
    ) -> Result<usize>
    where
        F: FnMut(&Message<'_>) -> HandlerResult,
    {
        self.consume_with(max, timeout, Some(interrupt), handler)
    }

    fn consume_with<F>(
        &self,
        max: usize,
        timeout: Option<Duration>,
        interrupt: Option<&Interrupt>,
        mut handler: F,
    ) -> Result<usize>
    where
        F: FnMut(&Message<'_>) -> HandlerResult,
    {
        if max == 0 {
            return Err(Error::invalid("consume max 0 must be at least 1"));
        }
        let mut scratch = Vec::new();
        self.core.poll_by(timeout, interrupt, || {
            self.core.consume(max, &mut scratch, &mut handler)
        })
    }

    /// A file descriptor that is readable when a poll of this subscription
    /// may take something (a message, a retry or delayed message fallen
    /// due, a delivery back from its ack timeout) or answer `Closed`: put
    /// it in epoll, libuv or asyncio's `add_reader` instead of blocking a
    /// thread in `poll`. Made on first call and readable at first; it stays
    /// readable until a poll of the subscription (any handle, any of the
    /// poll and consume calls) takes nothing, which re-arms it. So: when it
    /// is readable, poll without waiting until a poll takes nothing, then
    /// wait for it again. It may be readable with nothing to take (another
    /// consumer took it first); that poll takes nothing and re-arms it.
    ///
    /// Never read from or close it: the subscription owns it (it is closed
    /// when the last handle of a closed subscription is dropped), and the
    /// engine clears it. Linux only (a timerfd). `Closed` on a closed
    /// subscription; `Io` if the system refuses a descriptor.
    pub fn readiness_fd(&self) -> Result<std::os::fd::RawFd> {
        self.core.readiness_fd()
    }

    /// Waits until a poll could take something (or would answer `Closed`),
    /// `timeout` passes (`None`: for ever), or `interrupt` is set (then
    /// `Err` of kind `Interrupted`), taking nothing; true when ready. It
    /// may answer true with nothing left to take (another consumer took it
    /// first, or a due time passed): poll without waiting, and wait again
    /// if that took nothing. [`wake`](Self::wake) ends it as it ends a
    /// poll. For the bindings, which wait with their runtime's lock let go
    /// and must take and copy out in one go once they hold it again (a raw
    /// tag's payload is only pinned until its ack deadline).
    #[doc(hidden)]
    pub fn wait_ready(
        &self,
        timeout: Option<Duration>,
        interrupt: Option<&Interrupt>,
    ) -> Result<bool> {
        self.core.wait_ready(timeout, interrupt)
    }

    /// Ends a poll of this subscription that is blocked, or else the next
    /// one that would block, with `Err` of kind `Interrupted`, having taken
    /// nothing: how another thread stops a consumer blocked in `poll`,
    /// `poll_batch` or `consume` without closing anything. Wakes are
    /// counted: each ends one poll (with several threads blocked, call it
    /// once per thread). A poll that finds a message without waiting does
    /// not consume a wake.
    pub fn wake(&self) {
        self.core.wake()
    }

    /// Acks every delivery in `batch`, emptying it; the first error, if any,
    /// is returned after all were tried.
    pub fn ack_all(&self, batch: &mut Vec<Delivery>) -> Result<()> {
        self.core.ack_all(batch)
    }

    /// Settles by tag a delivery that was turned into a raw tag with
    /// [`Delivery::into_raw`].
    ///
    /// # Safety
    /// No `Delivery` value with this tag may still exist (its payload would
    /// then be read after its slot is freed).
    pub unsafe fn ack_tag(&self, tag: u64) -> Result<()> {
        self.core.ack_one(tag, None)
    }

    /// Acks many raw tags; like [`ack_all`](Self::ack_all), ring
    /// deliveries settle with one update of credits, counters and watermark.
    /// Returns the first error, after trying every tag.
    ///
    /// # Safety
    /// As for [`PullSubscription::ack_tag`], for every tag.
    pub unsafe fn ack_tags(&self, tags: &[u64]) -> Result<()> {
        self.core.ack_tags(tags)
    }

    /// # Safety
    /// As for [`PullSubscription::ack_tag`].
    pub unsafe fn nack_tag(&self, tag: u64, delay: Option<Duration>) -> Result<()> {
        self.core.settle(tag, Action::nack(delay, None), None)
    }

    /// As [`Delivery::requeue`]: back at once, not counted as an attempt.
    ///
    /// # Safety
    /// As for [`PullSubscription::ack_tag`].
    pub unsafe fn requeue_tag(&self, tag: u64) -> Result<()> {
        self.core.settle(tag, Action::Requeue, None)
    }

    /// # Safety
    /// As for [`PullSubscription::ack_tag`].
    pub unsafe fn term_tag(&self, tag: u64) -> Result<()> {
        self.core.settle(tag, Action::Term { reason: None }, None)
    }

    /// As [`nack_tag`](Self::nack_tag), keeping `reason` with the message
    /// (its dead letter carries it if this was its last attempt).
    ///
    /// # Safety
    /// As for [`PullSubscription::ack_tag`].
    pub unsafe fn nack_tag_with_reason(
        &self,
        tag: u64,
        delay: Option<Duration>,
        reason: &str,
    ) -> Result<()> {
        self.core
            .settle(tag, Action::nack(delay, Some(reason)), None)
    }

    /// As [`term_tag`](Self::term_tag), with the reason its dead letter
    /// carries.
    ///
    /// # Safety
    /// As for [`PullSubscription::ack_tag`].
    pub unsafe fn term_tag_with_reason(&self, tag: u64, reason: &str) -> Result<()> {
        self.core.settle(
            tag,
            Action::Term {
                reason: Some(reason),
            },
            None,
        )
    }

    /// Restarts the ack timer of a raw delivery (safe: it frees nothing).
    pub fn in_progress_tag(&self, tag: u64) -> Result<()> {
        self.core.settle(tag, Action::InProgress, None)
    }

    /// Stops taking new messages from the ring (its lag grows); deliveries
    /// in flight and retries go on. `Closed` once closed.
    pub fn pause(&self) -> Result<()> {
        self.core.set_paused(true)
    }

    /// Takes new messages again after [`pause`](Self::pause).
    pub fn resume(&self) -> Result<()> {
        self.core.set_paused(false)
    }

    pub fn is_paused(&self) -> bool {
        self.core.is_paused()
    }

    /// Why a poll would find nothing now (empty when it would find
    /// something): paused, rate-limited, credits exhausted, waiting for a
    /// retry or a delayed message, nothing published, closed.
    pub fn why_idle(&self) -> Vec<IdleReason> {
        self.core.why_idle()
    }

    pub fn stats(&self) -> SubStats {
        self.core.stats_snapshot(true)
    }

    /// Removes the subscription from its topic. Deliveries still held stay
    /// readable; the subscription stops holding producers back once they are
    /// settled or dropped.
    pub fn unsubscribe(&self) -> Result<()> {
        self.core.topic().remove_subscription(&self.core)
    }

    /// Removes the subscription and stops holding producers back at once.
    ///
    /// # Safety
    /// No payload of a delivery of this subscription may be read afterwards
    /// (for the C API, whose contract says so).
    pub unsafe fn unsubscribe_abandoning(&self) -> Result<()> {
        let r = self.core.topic().remove_subscription(&self.core);
        // SAFETY: the caller promises no payload is read afterwards.
        unsafe { self.core.close_abandoning() };
        r
    }
}

impl std::fmt::Debug for PullSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullSubscription")
            .field("topic", &self.core.topic().name)
            .field("group", &self.core.group)
            .finish()
    }
}
