//! Readiness, waiting and polling.
//!
//! `take` never blocks: it runs the ack timer when a scan is due, delivers
//! due retries from the store, then takes from the ring (gated or lossy).
//! `ready` says whether a `take` could return something now; a poll that
//! found nothing waits on the topic's consumer wait queue (woken by
//! publishes) with `ready` as its condition, sleeping at most until the next
//! retry falls due or the next timer scan, and ends by its deadline or when
//! its [`Interrupt`] is set (answering `Interrupted`, having taken nothing).

use std::sync::Arc;
use std::time::Duration;

use super::SubCore;
use crate::clock::{deadline, mono_coarse_ns, mono_ns};
use crate::delivery::{Delivery, RawDelivery};
use crate::error::{Error, Result};
use crate::interrupt::Interrupt;
use crate::ring::Peek;
use crate::wait::Woke;

/// Where `take` puts deliveries: a reused Vec for batches, an Option for a
/// single poll, so that neither allocates per message; or raw tags for the
/// bindings (see `raw`).
pub(crate) trait Sink {
    /// Does this sink hold its ring deliveries by raw tag? The ring path
    /// then marks them RAW as it claims them.
    const RAW: bool = false;

    fn put(&mut self, d: Delivery);

    /// A delivery the ring path made of a claimed sequence, whose slot pins
    /// its payload and extension.
    #[inline]
    fn put_ring(&mut self, sub: &Arc<SubCore>, raw: RawDelivery) {
        self.put(Delivery::new(sub.clone(), raw));
    }
}

impl Sink for Vec<Delivery> {
    fn put(&mut self, d: Delivery) {
        self.push(d);
    }
}

impl Sink for Option<Delivery> {
    fn put(&mut self, d: Delivery) {
        debug_assert!(self.is_none(), "a single poll takes one delivery");
        *self = Some(d);
    }
}

impl SubCore {
    pub(crate) fn interrupted(&self) -> Error {
        Error::interrupted(&format!("poll of subscription {:?}", self.group))
    }

    /// Is there anything a poll could take now (or is the subscription
    /// closed, which a poll also answers at once)?
    pub(crate) fn ready(&self, now: u64) -> bool {
        if self.is_closed() || self.topic.is_shut() {
            return true;
        }
        if self.store_due(now) || self.reap_due(now) {
            return self.rate_allows(now);
        }
        if self.topic.delayed_due_at(now) {
            return true;
        }
        if self.is_paused() || !self.rate_allows(now) {
            return false;
        }
        if self.log_ready() {
            return true;
        }
        match self.ring().peek(self.cursor.next()) {
            // Lossy or not, a message can be taken only with a credit for
            // it: with none, a poll waits for a settle (or its deadline).
            Peek::Ready => self.credits.available() > 0,
            // A lossy subscription skips ahead (no credit needed); a
            // durable one reads the log (`log_ready`, above).
            Peek::Lapped => self.log.is_none(),
            Peek::NotYet => false,
        }
    }

    /// Takes up to `max` deliveries without blocking; returns how many were
    /// appended to `out`.
    pub(crate) fn take(self: &Arc<Self>, max: usize, out: &mut impl Sink) -> Result<usize> {
        self.check_open()?;
        if max == 0 {
            return Ok(0);
        }
        // Deadlines and due times need no nanoseconds: the coarse clock
        // keeps a clock read off the per-poll path.
        let now = mono_coarse_ns();
        self.topic.fire_delayed(now);
        if self.timer.due(now) {
            self.reap(now);
        }
        let max = self.grant(max, now);
        let mut got = 0;
        if max > 0 && self.store_due(now) {
            got += self.take_from_store(max, now, out);
        }
        if got < max && !self.is_paused() {
            if self.lossy {
                got += self.take_lossy(max - got, now, out, u64::MAX);
            } else {
                if self.cursor.next() < self.history_end {
                    got += self.take_lossy(max - got, now, out, self.history_end);
                }
                if got < max && self.cursor.next() >= self.history_end {
                    got += self.take_gated(max - got, now, out);
                }
            }
        }
        self.ungrant(max - got);
        // Each path counted its deliveries as it made them (see `cursor`).
        Ok(got)
    }

    /// How many of `max` deliveries the rate limit allows now (all of them
    /// without one).
    pub(super) fn grant(&self, max: usize, now: u64) -> usize {
        match &self.rate {
            None => max,
            Some(r) => r.take(max as u64, now) as usize,
        }
    }

    /// Gives back `n` granted deliveries that were not made.
    pub(super) fn ungrant(&self, n: usize) {
        if let (Some(r), true) = (&self.rate, n > 0) {
            r.give_back(n as u64);
        }
    }

    /// Could the rate limit grant a delivery at `now`?
    fn rate_allows(&self, now: u64) -> bool {
        self.rate
            .as_ref()
            .is_none_or(|r| r.next_token_at(now) <= now)
    }

    /// Blocks until something can be taken, the deadline passes, the
    /// subscription closes, or `interrupt` is set.
    /// The next time something falls due by the passing of time alone (a
    /// retry, a store delivery's ack deadline, a delayed message of the
    /// topic); `u64::MAX` for none.
    pub(crate) fn next_due(&self) -> u64 {
        self.store_due
            .load(crate::sync::Ordering::Acquire)
            .min(self.topic.delayed_due())
    }

    pub(crate) fn wait(&self, deadline: Option<u64>, interrupt: Option<&Interrupt>) -> Woke {
        // A wake (see `watch`) ends the poll that waits, or would.
        if self.take_wake() {
            return Woke::Interrupted;
        }
        let woke = self.wait_once(deadline, interrupt);
        if woke != Woke::Interrupted && self.take_wake() {
            return Woke::Interrupted;
        }
        woke
    }

    fn wait_once(&self, deadline: Option<u64>, interrupt: Option<&Interrupt>) -> Woke {
        let next_due = || self.next_due();
        let due_at_start = next_due();
        let max_sleep = {
            let now = mono_ns();
            let mut due = due_at_start;
            if let Some(r) = &self.rate {
                due = due.min(r.next_token_at(now));
            }
            let until_due = due.saturating_sub(now);
            Duration::from_nanos(until_due.min(self.timer.period()).max(100_000))
        };
        // A due time that moved earlier while this waits (a new delayed
        // message, a short retry) ends the wait too, so that the caller
        // waits again with a sleep bounded by it.
        self.topic
            .wait_for_consumers(deadline, Some(max_sleep), interrupt, || {
                self.ready(mono_coarse_ns()) || next_due() < due_at_start || self.wake_pending()
            })
    }

    pub(crate) fn poll_into(
        self: &Arc<Self>,
        max: usize,
        timeout: Option<Duration>,
        interrupt: Option<&Interrupt>,
        out: &mut impl Sink,
    ) -> Result<usize> {
        self.poll_by(timeout, interrupt, || self.take(max, out))
    }

    /// How every poll and consume takes, with `take` doing the taking: once
    /// at once; then, unless the timeout is zero, waiting (see `wait`) and
    /// taking again until something is taken, the deadline passes or the
    /// wait is interrupted. A call that took nothing re-arms the readiness
    /// descriptor (see `watch`).
    #[inline]
    pub(crate) fn poll_by(
        &self,
        timeout: Option<Duration>,
        interrupt: Option<&Interrupt>,
        mut take: impl FnMut() -> Result<usize>,
    ) -> Result<usize> {
        let got = take()?;
        if got > 0 {
            return Ok(got);
        }
        let got = if timeout == Some(Duration::ZERO) {
            0
        } else {
            self.wait_and_take(timeout, interrupt, &mut take)?
        };
        if got == 0 {
            self.rearm();
        }
        Ok(got)
    }

    /// Waits, taking nothing, until a poll could take something (or would
    /// answer `Closed`), the deadline passes or the wait is interrupted:
    /// true when ready. For a binding whose take must not be separated
    /// from its copy by a wait of its own (see `PullSubscription::wait_ready`).
    pub(crate) fn wait_ready(
        &self,
        timeout: Option<Duration>,
        interrupt: Option<&Interrupt>,
    ) -> Result<bool> {
        if self.ready(mono_coarse_ns()) {
            return Ok(true);
        }
        if timeout == Some(Duration::ZERO) {
            return Ok(false);
        }
        match self.wait(deadline(timeout), interrupt) {
            Woke::Ready => Ok(true),
            Woke::TimedOut => Ok(self.ready(mono_coarse_ns())),
            Woke::Interrupted => Err(self.interrupted()),
        }
    }

    /// The rest of a poll that found nothing: waits and takes again.
    #[inline(never)]
    fn wait_and_take(
        &self,
        timeout: Option<Duration>,
        interrupt: Option<&Interrupt>,
        take: &mut impl FnMut() -> Result<usize>,
    ) -> Result<usize> {
        // Only a poll that has to wait reads the clock for its deadline.
        let dl = deadline(timeout);
        loop {
            match self.wait(dl, interrupt) {
                // One last look: something may have arrived with the deadline.
                Woke::TimedOut => return take(),
                Woke::Interrupted => return Err(self.interrupted()),
                Woke::Ready => {}
            }
            let got = take()?;
            if got > 0 {
                return Ok(got);
            }
            // Woken for something another consumer took first: the wait
            // goes on, but never past its deadline.
            if dl.is_some_and(|d| mono_ns() >= d) {
                return Ok(0);
            }
        }
    }
}
