//! Batched acks and `consume`: the paths that settle many ring deliveries
//! with one update of credits, counters and watermark.
//!
//! A batch acks each ring delivery of this subscription with the fast
//! DELIVERED -> SETTLED swap, then returns the credits, counts the acks,
//! records their latencies and advances the watermark once. Anything else
//! (store deliveries, deliveries of another subscription, a closed
//! subscription) is settled one by one through `settle`.
//!
//! `consume` claims a run of ring sequences and runs the handler on each in
//! place, with no `Delivery` (no reference count) per message; retries and
//! lossy subscriptions go through ordinary deliveries.

use std::sync::Arc;

use super::tag::Tag;
use super::{Action, SubCore};
use crate::clock::{mono_coarse_ns, wall_ns};
use crate::delivery::{Delivery, Message};
use crate::error::{Error, Result};
use crate::handler::{catch, HandlerError, HandlerFailure, HandlerResult};
use crate::stats::LatencyRun;

impl SubCore {
    /// After `n` fast acks, `last` the last of them (a hint for when to
    /// publish the gate: see `watermark`): their credits, the counter, and
    /// one watermark advance for all of them.
    fn finish_fast_acks(&self, n: u64, last: u64) {
        if n > 0 {
            self.return_credits(n);
            self.acct.acked(n);
            self.advance_acked(last);
        }
    }

    /// May an ack of one of this subscription's ring deliveries take the
    /// fast DELIVERED -> SETTLED swap, and skip `settle`? Not once it is
    /// closed, nor with key places to give back or settles to relay (a
    /// lossy subscription's deliveries are all store copies).
    #[inline]
    fn plain_acks(&self) -> bool {
        !self.is_closed() && !self.lossy && self.keys.is_none() && !self.relayed()
    }

    /// One ack: a ring delivery by the fast swap (see `plain_acks`),
    /// anything else, or a swap that fails (expired, unknown), through
    /// `settle`. `timestamp_ns`: the message's publish time when the caller
    /// has it, else read from the slot (or the store) for the latency.
    pub(crate) fn ack_one(&self, tag: u64, timestamp_ns: Option<i64>) -> Result<()> {
        if Tag::is_ring(tag) && self.plain_acks() && tag < self.cursor.next() {
            // Read while the slot is still pinned.
            let ts = timestamp_ns.unwrap_or_else(|| self.ring().timestamp(tag));
            if self.slots.try_ack(tag) {
                self.acct
                    .latency(wall_ns().saturating_sub(ts).max(0) as u64);
                self.finish_fast_acks(1, tag);
                return Ok(());
            }
        }
        let ts = timestamp_ns.or_else(|| self.tag_timestamp(tag));
        self.settle(tag, Action::Ack, ts)
    }

    /// Acks a batch, emptying it; the first error, if any, is returned after
    /// every delivery was tried.
    pub(crate) fn ack_all(self: &Arc<Self>, batch: &mut Vec<Delivery>) -> Result<()> {
        let mut first = Ok(());
        let mut n = 0u64;
        let mut last = 0u64;
        let now = wall_ns();
        // Read once for the batch.
        let plain = self.plain_acks();
        let lat = |d: &Delivery| now.saturating_sub(d.timestamp_ns()).max(0) as u64;
        for d in batch.iter_mut() {
            let fast = plain && Tag::is_ring(d.tag()) && Arc::ptr_eq(&d.sub, self);
            if fast && self.slots.try_ack(d.tag()) {
                d.settled = true;
                n += 1;
                last = d.tag();
            }
        }
        if n > 0 {
            self.acct
                .latencies(batch.iter().filter(|d| d.settled).map(lat));
        }
        for d in batch.drain(..) {
            if d.settled {
                continue;
            }
            let r = d.ack();
            if first.is_ok() {
                first = r;
            }
        }
        self.finish_fast_acks(n, last);
        first
    }

    /// The raw-tag form of `ack_all` (tags from `Delivery::into_raw`).
    pub(crate) fn ack_tags(&self, tags: &[u64]) -> Result<()> {
        let mut first = Ok(());
        let mut n = 0u64;
        let mut last = 0u64;
        let now = wall_ns();
        // Read once for the batch: `plain_acks`, and the cursor, below
        // which every ring tag was delivered (it only grows: a tag at or
        // past this reading takes the full settle, which reads it again).
        let plain = self.plain_acks();
        let delivered_below = self.cursor.next();
        let mut lat = LatencyRun::default();
        for (i, &tag) in tags.iter().enumerate() {
            if plain && Tag::is_ring(tag) && tag < delivered_below {
                // Read the timestamp while the slot is still pinned.
                let ts = self.ring().timestamp(tag);
                if self.slots.try_ack(tag) {
                    self.acct
                        .latency_into(&mut lat, now.saturating_sub(ts).max(0) as u64);
                    n += 1;
                    last = tag;
                    continue;
                }
            }
            let ts = self.tag_timestamp(tag);
            let r = self.settle(tag, Action::Ack, ts);
            if let (Err(e), true) = (r, first.is_ok()) {
                first = Err(Error::new(e.kind(), format!("tags[{i}]: {}", e.message())));
            }
        }
        self.acct.flush_latencies(&mut lat);
        self.finish_fast_acks(n, last);
        first
    }

    /// Runs a consumer's handler; a panic becomes a failure with its text
    /// and is counted.
    #[inline]
    fn run_handler<F>(&self, f: &mut F, msg: &Message<'_>) -> HandlerResult
    where
        F: FnMut(&Message<'_>) -> HandlerResult + ?Sized,
    {
        let r = catch(|| f(msg)).unwrap_or_else(|e| self.handler_panicked(e));
        if let Err(e) = &r {
            self.report_failure(msg, e);
        }
        r
    }

    #[cold]
    fn handler_panicked(&self, e: HandlerError) -> HandlerResult {
        self.acct.handler_panicked();
        Err(e)
    }

    /// Tells the broker's failure hook about a handler's failure.
    pub(crate) fn report_failure(&self, msg: &Message<'_>, e: &HandlerError) {
        self.topic().report_failure(&HandlerFailure {
            topic: &self.topic().name,
            group: &self.group,
            id: msg.id,
            key: msg.key,
            attempt: msg.attempt,
            error: e,
            panicked: e.text().starts_with(crate::handler::PANIC_PREFIX),
            dead_lettered: e.is_term() || msg.attempt >= self.max_attempts(),
        });
    }

    /// Takes up to `max` messages and runs `f` on each in turn: `Ok` acks
    /// (the whole batch's acks settle together), `Err` or a panic nacks with
    /// its text.
    pub(crate) fn consume<F>(
        self: &Arc<Self>,
        max: usize,
        scratch: &mut Vec<Delivery>,
        f: &mut F,
    ) -> Result<usize>
    where
        F: FnMut(&Message<'_>) -> HandlerResult,
    {
        self.check_open()?;
        let now = mono_coarse_ns();
        // The fast path reads the ring in place; everything else (retries,
        // lossy copies, the ack timer, flow control, delayed messages to
        // fire) goes through `take`.
        if self.lossy
            || self.relayed()
            || self.store_due(now)
            || self.timer.due(now)
            || self.rate.is_some()
            || self.keys.is_some()
            || self.is_paused()
            || self.topic.delayed_due_at(now)
        {
            return self.consume_deliveries(
                max,
                scratch,
                f as &mut dyn FnMut(&Message<'_>) -> HandlerResult,
            );
        }
        let ring = self.ring();
        let (first, n) = self.claim_ring(max, now, false);
        if n == 0 {
            return Ok(0);
        }
        let mut acked = 0u64;
        let mut delivered = 0u64;
        // One clock read for the batch's acks, taken at the first one.
        let mut ack_time = None;
        let mut lat = LatencyRun::default();
        for seq in first..first + n {
            let meta = ring.meta(seq);
            if (meta.is_skip() || meta.expired_at(now)) && self.pass_over(seq, &meta, now) {
                continue;
            }
            // (`claim_ring` counted it delivered.)
            delivered += 1;
            if self.is_closed() {
                // A handler closed the subscription (unsubscribed): the
                // rest of the run is not handled; its slots are let go.
                let _ = self.settle(seq, Action::Release, None);
                continue;
            }
            // SAFETY: `seq` is DELIVERED to us and unsettled, so its slot is
            // pinned until the settle below.
            let (data, ext) = unsafe {
                (
                    ring.payload(seq, meta.len as usize),
                    ring.ext(seq, meta.ext_len as usize),
                )
            };
            let note = self.topic.dead_letter_note(seq).unwrap_or(None);
            let msg = Message::new(&meta, 1 + meta.attempt_base, data, ext, note.as_deref());
            match self.run_handler(f, &msg) {
                Ok(()) => {
                    let now = match ack_time {
                        Some(t) => t,
                        None => *ack_time.insert(wall_ns()),
                    };
                    let latency = now.saturating_sub(meta.timestamp_ns).max(0) as u64;
                    if self.slots.try_ack(seq) {
                        self.acct.latency_into(&mut lat, latency);
                        acked += 1;
                    } else {
                        // Expired while the handler ran: its copy is out
                        // again; let go of the slot.
                        let _ = self.settle(seq, Action::Release, None);
                    }
                }
                Err(e) => {
                    let action = if e.is_term() {
                        Action::Term {
                            reason: Some(e.text()),
                        }
                    } else {
                        Action::nack(e.retry_delay(), Some(e.text()))
                    };
                    let _ = self.settle(seq, action, None);
                }
            }
        }
        self.acct.flush_latencies(&mut lat);
        self.finish_fast_acks(acked, first + n - 1);
        Ok(delivered as usize)
    }

    /// `consume` through ordinary deliveries (retries, lossy copies).
    fn consume_deliveries(
        self: &Arc<Self>,
        max: usize,
        batch: &mut Vec<Delivery>,
        f: &mut dyn FnMut(&Message<'_>) -> HandlerResult,
    ) -> Result<usize> {
        let n = self.take(max, batch)?;
        let mut i = 0;
        while i < batch.len() {
            if self.is_closed() {
                // Closed by a handler: the rest is let go unhandled.
                batch.truncate(i);
                break;
            }
            match self.run_handler(f, &batch[i].message()) {
                Ok(()) => i += 1,
                Err(e) => {
                    let d = batch.remove(i);
                    let _ = if e.is_term() {
                        d.term_with_reason(e.text())
                    } else {
                        d.nack_with_reason(e.retry_delay(), e.text())
                    };
                }
            }
        }
        self.ack_all(batch)?;
        Ok(n)
    }
}
