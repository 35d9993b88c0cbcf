//! Ending a consumer's wait from outside a poll: a readiness descriptor
//! for event loops, and `wake`, which ends a blocked poll.
//!
//! Readiness. [`SubCore::readiness_fd`] makes (once) a descriptor
//! ([`ReadyFd`]) that is readable when a poll may take something, or answer
//! `Closed`: it starts readable, and every poll of the subscription that
//! takes nothing re-arms it ([`SubCore::rearm`]): clears it, sets it to
//! become readable at the next time-driven change (a retry or delayed
//! message falling due, an ack-timer scan while deliveries are out, a rate
//! limit's next token), lists it with the topic's consumer wait queue, and
//! re-checks `ready`, firing it if that already holds. The wait queue's
//! protocol (see `wait`) then guarantees that whatever a later poll could
//! take after the re-check fires it: publishes, settles that give back
//! credits, resumes and closes all notify that queue. Spurious readiness is
//! allowed (another consumer may take the message first): the loop polls,
//! finds nothing, and that poll re-arms. Without a descriptor a poll pays
//! one load to learn there is none.
//!
//! Wakes. [`SubCore::wake`] counts a wake and notifies the consumers; a poll
//! that is about to wait (or waits) consumes one and answers `Interrupted`,
//! having taken nothing. Each wake ends exactly one poll: the one blocked
//! now, or the next one that would block; a poll that finds a message
//! without waiting leaves the count alone.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::SubCore;
use crate::clock::{mono_coarse_ns, mono_ns};
use crate::error::Result;
use crate::ready_fd::ReadyFd;
use crate::sync::{AtomicU64, Ordering::*};

/// The shortest time-driven re-arm: the engine reads due times off the
/// coarse clock (a few ms of resolution), so a descriptor fired sooner
/// would only find nothing due yet, more often.
const MIN_REARM: Duration = Duration::from_millis(1);

pub(super) struct Watch {
    fd: OnceLock<Arc<ReadyFd>>,
    wakes: AtomicU64,
}

impl Watch {
    pub(super) fn new() -> Watch {
        Watch {
            fd: OnceLock::new(),
            wakes: AtomicU64::new(0),
        }
    }
}

impl SubCore {
    /// The subscription's readiness descriptor, made on first use.
    pub(crate) fn readiness_fd(&self) -> Result<std::os::fd::RawFd> {
        self.check_open()?;
        if let Some(fd) = self.watch.fd.get() {
            return Ok(fd.raw());
        }
        let made = Arc::new(ReadyFd::new()?);
        // It starts readable: the first poll finds out what is there.
        made.fire();
        // Two first calls at once: one descriptor wins, the other closes.
        Ok(self.watch.fd.get_or_init(|| made).raw())
    }

    /// After a poll that took nothing: clears the descriptor (if there is
    /// one) and lists it to be fired by the next change, as the module
    /// docs say.
    #[inline]
    pub(super) fn rearm(&self) {
        if let Some(fd) = self.watch.fd.get() {
            self.rearm_fd(fd);
        }
    }

    #[cold]
    fn rearm_fd(&self, fd: &Arc<ReadyFd>) {
        let now = mono_ns();
        fd.arm(
            self.next_change(now)
                .map(|at| Duration::from_nanos(at.saturating_sub(now)).max(MIN_REARM)),
        );
        self.topic.watch_consumers(fd);
        if self.ready(mono_coarse_ns()) && self.topic.unwatch_consumers(fd) {
            fd.fire();
        }
    }

    /// The next time at which `ready` may become true by the passing of
    /// time alone (monotonic ns); `None` for never.
    fn next_change(&self, now: u64) -> Option<u64> {
        let mut at = self.next_due();
        if let Some(r) = &self.rate {
            let token = r.next_token_at(now);
            if token > now {
                at = at.min(token);
            }
        }
        if self.reap_pending() {
            at = at.min(self.timer.next_at());
        }
        (at != u64::MAX).then_some(at)
    }

    /// Ends one blocked poll, or the next one that would block.
    pub(crate) fn wake(&self) {
        self.watch.wakes.fetch_add(1, SeqCst);
        self.topic.notify_consumers();
    }

    /// Is a wake waiting for a poll to end?
    pub(super) fn wake_pending(&self) -> bool {
        self.watch.wakes.load(SeqCst) > 0
    }

    /// Consumes one pending wake; false if there is none.
    pub(super) fn take_wake(&self) -> bool {
        self.watch
            .wakes
            .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
}
