//! Subscriptions (consumer groups): a cursor into the ring, per-slot delivery
//! states, the settled watermark that gates producers, and the retry store.
//!
//! Competing consumers of one subscription take sequences from `next` by
//! compare-and-swap, so each sequence goes to exactly one of them. A gated
//! subscription then tracks the sequence in `entries[seq & mask]`, whose
//! `state` word is `(seq + 1) << 3 | tag`:
//!
//! | tag       | meaning                                                   |
//! |-----------|-----------------------------------------------------------|
//! | DELIVERED | handed to a consumer that holds it (the slot is pinned)   |
//! | ABANDONED | its holder dropped it unsettled; the ack timer will fire  |
//! | EXPIRED   | redelivered from a copy; the old holder still pins it     |
//! | BUSY      | someone is copying it out (nack, term, expiry)            |
//! | SETTLED   | done for this subscription                                |
//!
//! Every transition out of DELIVERED is a compare-and-swap, so ack, nack,
//! term and the ack timer race safely and exactly one wins. After a settle
//! the settler advances the watermark (the subscription's gate in the
//! [`Sequencer`](crate::sequence::Sequencer)) over every settled sequence;
//! all of these operations are SeqCst so that two settlers never both stop
//! short (each either sees the other's settle or the other sees its own).
//!
//! A sequence number is used once, so a stale tag never matches a later
//! lap's state word. Lossy subscriptions have no gate: they copy each message
//! out (seqlock-validated) into the retry store and skip ahead when lapped.

use std::sync::Arc;
use std::time::Duration;

use crossbeam_utils::CachePadded;

use crate::clock::{deadline, dur_ns, mono_coarse_ns, mono_ns, wall_ns};
use crate::delivery::{Delivery, Message};
use crate::error::{Error, Result};
use crate::options::SubOptions;
use crate::push::{HandlerError, HandlerResult};
use crate::retry::{backoff, EntryState, RetryStore};
use crate::ring::{Peek, SlotMeta};
use crate::sequence::advance_gate;
use crate::stats::{Histogram, SubCounters, SubStats};
use crate::sync::{spin_loop, AtomicBool, AtomicU64, Mutex, MutexGuard, Ordering::*};
use crate::topic::TopicCore;
use crate::wait::Woke;

const DELIVERED: u64 = 1;
const ABANDONED: u64 = 2;
const EXPIRED: u64 = 3;
const BUSY: u64 = 4;
const SETTLED: u64 = 7;

#[inline]
fn enc(seq: u64, tag: u64) -> u64 {
    (seq + 1) << 3 | tag
}

/// Tags of deliveries made from the retry store have the top bit set, the
/// entry index in the low 32 bits and the delivery generation above it.
const STORE_TAG: u64 = 1 << 63;

fn store_tag(idx: u32, gen: u32) -> u64 {
    STORE_TAG | ((gen as u64 & 0x7fff_ffff) << 32) | idx as u64
}

/// Where `take` puts deliveries: a reused Vec for batches, an Option for a
/// single poll, so that neither allocates per message.
pub(crate) trait Sink {
    fn put(&mut self, d: Delivery);
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

/// Runs a handler; a panic becomes an error with its text, and is counted.
pub(crate) fn call_handler(
    sub: &SubCore,
    f: &mut dyn FnMut(&Message<'_>) -> HandlerResult,
    msg: &Message<'_>,
) -> HandlerResult {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(msg))) {
        Ok(r) => r,
        Err(p) => {
            sub.count_panic();
            Err(HandlerError(panic_text(&*p)))
        }
    }
}

/// The text of a panic's payload.
pub(crate) fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        format!("handler panicked: {s}")
    } else if let Some(s) = p.downcast_ref::<String>() {
        format!("handler panicked: {s}")
    } else {
        "handler panicked".to_owned()
    }
}

/// How a consumer settles a delivery.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Action<'a> {
    Ack,
    Nack {
        delay: Option<Duration>,
        reason: Option<&'a str>,
    },
    Term {
        reason: Option<&'a str>,
        /// Deliveries made, when the consumer retried in place (ordered
        /// push lanes) rather than through the store.
        attempts: Option<u32>,
    },
    InProgress,
    /// The holder dropped the delivery without settling it.
    Release,
}

struct RingEntry {
    state: AtomicU64,
    deadline: AtomicU64,
}

pub(crate) struct SubCore {
    pub group: String,
    pub topic: Arc<TopicCore>,
    pub opts: SubOptions,
    lossy: bool,
    /// This subscription's gate in the sequencer (gated subscriptions).
    gate: Option<usize>,
    /// Next ring sequence to deliver.
    next: CachePadded<AtomicU64>,
    entries: Box<[RingEntry]>,
    /// Store entries not yet spoken for: each ring delivery reserves one so a
    /// nack or an expiry can always park its message (max_ack_pending).
    credits: CachePadded<AtomicU64>,
    store: Mutex<RetryStore>,
    /// Earliest due time in the store (monotonic ns), `u64::MAX` if none: lets
    /// pollers skip the store's lock.
    store_due: AtomicU64,
    next_reap: AtomicU64,
    reap_every: u64,
    pub counters: SubCounters,
    termed: AtomicU64,
    pub latency: Histogram,
    closed: AtomicBool,
    gate_released: AtomicBool,
    last_error: Mutex<Option<String>>,
    /// Seed for retry jitter.
    jitter: AtomicU64,
    /// Set for push subscriptions (handled by the pool).
    pub push: AtomicBool,
}

impl SubCore {
    pub(crate) fn new(
        topic: Arc<TopicCore>,
        group: &str,
        opts: SubOptions,
        lossy: bool,
        gate: Option<usize>,
        start: u64,
    ) -> SubCore {
        let cap = topic.ring.capacity() as usize;
        let store_cap = topic.opts.effective_retry_capacity();
        let ack = dur_ns(topic.opts.ack_timeout);
        SubCore {
            group: group.to_owned(),
            opts,
            lossy,
            gate,
            next: CachePadded::new(AtomicU64::new(start)),
            entries: if lossy {
                Box::new([])
            } else {
                (0..cap)
                    .map(|_| RingEntry {
                        state: AtomicU64::new(0),
                        deadline: AtomicU64::new(0),
                    })
                    .collect()
            },
            credits: CachePadded::new(AtomicU64::new(store_cap as u64)),
            store: Mutex::new(RetryStore::new(store_cap, topic.ring.slot_size())),
            store_due: AtomicU64::new(u64::MAX),
            next_reap: AtomicU64::new(0),
            reap_every: (ack / 8).clamp(1_000_000, 100_000_000),
            counters: SubCounters::default(),
            termed: AtomicU64::new(0),
            latency: Histogram::new(),
            closed: AtomicBool::new(false),
            gate_released: AtomicBool::new(false),
            last_error: Mutex::new(None),
            jitter: AtomicU64::new(start ^ 0x5eed),
            push: AtomicBool::new(false),
            topic,
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Acquire)
    }

    fn lock_store(&self) -> MutexGuard<'_, RetryStore> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn mask(&self) -> u64 {
        self.topic.ring.capacity() - 1
    }

    fn entry(&self, seq: u64) -> &RingEntry {
        &self.entries[(seq & self.mask()) as usize]
    }

    fn ack_deadline(&self, now: u64) -> u64 {
        now.saturating_add(dur_ns(self.topic.opts.ack_timeout))
    }

    fn add_credits(&self, n: u64) {
        if n > 0 {
            self.credits.fetch_add(n, AcqRel);
        }
    }

    /// The fast ack of a ring delivery: DELIVERED -> SETTLED, false if it is
    /// no longer DELIVERED (expired, or a stale tag).
    fn try_settle_delivered(&self, seq: u64) -> bool {
        self.entry(seq)
            .state
            .compare_exchange(enc(seq, DELIVERED), enc(seq, SETTLED), SeqCst, Acquire)
            .is_ok()
    }

    /// After `n` fast acks: their credits, the counter, and one watermark
    /// advance for all of them.
    fn finish_fast_acks(&self, n: u64) {
        if n > 0 {
            self.add_credits(n);
            self.counters.acked.fetch_add(n, Relaxed);
            self.advance();
        }
    }

    /// A handler panicked: counted for the subscription and the pool.
    pub(crate) fn count_panic(&self) {
        self.counters.handler_panics.fetch_add(1, Relaxed);
        self.topic.pool.panics.fetch_add(1, Relaxed);
    }

    /// Waits while `seq` is BUSY. A holder's settle that fails against
    /// DELIVERED may have met the ack timer copying the message out (the
    /// holder never sees its own BUSY); the timer ends in EXPIRED, which the
    /// holder must then settle, or the slot would stay pinned for good.
    fn wait_not_busy(&self, seq: u64) {
        let e = self.entry(seq);
        let mut spins = 0u32;
        while e.state.load(Acquire) == enc(seq, BUSY) {
            spins += 1;
            if spins < 64 {
                spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }

    /// `Closed` once the subscription or its topic has closed.
    fn check_open(&self) -> Result<()> {
        if self.is_closed() {
            return Err(Error::closed(&format!("subscription {:?}", self.group)));
        }
        if self.topic.is_shut() {
            return Err(Error::closed(&format!("topic {:?}", self.topic.name)));
        }
        Ok(())
    }

    /// Reserves up to `want` credits; returns how many.
    fn take_credits(&self, want: u64) -> u64 {
        let mut c = self.credits.load(Acquire);
        loop {
            let take = c.min(want);
            if take == 0 {
                return 0;
            }
            match self
                .credits
                .compare_exchange_weak(c, c - take, AcqRel, Acquire)
            {
                Ok(_) => return take,
                Err(a) => c = a,
            }
        }
    }

    pub(crate) fn set_last_error(&self, reason: &str) {
        let mut g = self.last_error.lock().unwrap_or_else(|e| e.into_inner());
        match g.as_mut() {
            Some(s) => {
                s.clear();
                s.push_str(reason);
            }
            None => *g = Some(reason.to_owned()),
        }
    }

    /// Is there anything a poll could take now (or is the subscription
    /// closed, which a poll also answers at once)?
    pub(crate) fn ready(&self, now: u64) -> bool {
        if self.is_closed() || self.topic.is_shut() {
            return true;
        }
        if self.store_due.load(Acquire) <= now {
            return true;
        }
        let next = self.next.load(Acquire);
        if now >= self.next_reap.load(Relaxed)
            && self
                .gate
                .is_some_and(|g| self.topic.seq.gate_value(g) < next)
        {
            // Deliveries are out and the ack timer is due for a look.
            return true;
        }
        match self.topic.ring.peek(next) {
            Peek::Ready => self.lossy || self.credits.load(Acquire) > 0,
            Peek::Lapped => true,
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
        if now >= self.next_reap.load(Relaxed) {
            self.reap(now);
        }
        let mut got = 0;
        if self.store_due.load(Acquire) <= now {
            got += self.take_from_store(max, now, out);
        }
        if got < max {
            got += if self.lossy {
                self.take_lossy(max - got, now, out)
            } else {
                self.take_gated(max - got, now, out)
            };
        }
        if got > 0 {
            self.counters.delivered.fetch_add(got as u64, Relaxed);
        }
        Ok(got)
    }

    /// Claims up to `max` published ring sequences for this (gated)
    /// subscription and marks them DELIVERED; returns the first and count.
    fn claim_ring(&self, max: usize, now: u64) -> (u64, u64) {
        let ring = &self.topic.ring;
        let mut cur = self.next.load(Acquire);
        if ring.peek(cur) != Peek::Ready {
            return (cur, 0);
        }
        let credits = self.take_credits(max as u64);
        if credits == 0 {
            return (cur, 0);
        }
        let n = loop {
            let mut n = 0;
            while n < credits && ring.peek(cur + n) == Peek::Ready {
                n += 1;
            }
            if n == 0 {
                break 0;
            }
            match self
                .next
                .compare_exchange_weak(cur, cur + n, AcqRel, Acquire)
            {
                Ok(_) => break n,
                Err(a) => cur = a,
            }
        };
        self.add_credits(credits - n);
        let deadline = self.ack_deadline(now);
        for seq in cur..cur + n {
            let e = self.entry(seq);
            e.deadline.store(deadline, Relaxed);
            e.state.store(enc(seq, DELIVERED), Release);
        }
        (cur, n)
    }

    fn take_gated(self: &Arc<Self>, max: usize, now: u64, out: &mut impl Sink) -> usize {
        let ring = &self.topic.ring;
        let (cur, n) = self.claim_ring(max, now);
        for seq in cur..cur + n {
            let meta = ring.meta(seq);
            // SAFETY: `seq` was seen published above and is now DELIVERED and
            // unsettled for this gated subscription, so no producer can
            // overwrite it until the delivery is settled or released, and the
            // Delivery keeps the topic (and so the ring) alive.
            let data = unsafe { ring.payload(seq, meta.len as usize) };
            out.put(Delivery::new(
                self.clone(),
                seq,
                &meta,
                1 + meta.attempt_base,
                data.as_ptr(),
                data.len(),
            ));
        }
        n as usize
    }

    fn take_lossy(self: &Arc<Self>, max: usize, now: u64, out: &mut impl Sink) -> usize {
        let ring = &self.topic.ring;
        let mut got = 0;
        let mut store: Option<MutexGuard<'_, RetryStore>> = None;
        while got < max {
            let cur = self.next.load(Acquire);
            match ring.peek(cur) {
                Peek::NotYet => break,
                Peek::Lapped => {
                    let claimed = self.topic.seq.claimed();
                    let skip_to = (cur + 1).max(claimed.saturating_sub(ring.capacity()));
                    if self
                        .next
                        .compare_exchange(cur, skip_to, AcqRel, Acquire)
                        .is_ok()
                    {
                        self.counters.dropped.fetch_add(skip_to - cur, Relaxed);
                    }
                }
                Peek::Ready => {
                    if self.take_credits(1) == 0 {
                        break;
                    }
                    if self
                        .next
                        .compare_exchange(cur, cur + 1, AcqRel, Acquire)
                        .is_err()
                    {
                        self.add_credits(1);
                        continue;
                    }
                    let st = store.get_or_insert_with(|| self.lock_store());
                    let mut meta = SlotMeta::default();
                    let idx = st.alloc(SlotMeta::default(), 0, |buf| {
                        meta = ring.copy_out(cur, buf);
                    });
                    if !ring.still_published(cur) {
                        // A producer lapped us while we copied.
                        st.finish(idx);
                        self.add_credits(1);
                        self.counters.dropped.fetch_add(1, Relaxed);
                        continue;
                    }
                    st.entries[idx as usize].meta = meta;
                    let gen = st.deliver(idx, self.ack_deadline(now));
                    out.put(self.store_delivery(st, idx, gen));
                    got += 1;
                }
            }
        }
        if let Some(mut st) = store {
            self.refresh_due(&mut st);
        }
        got
    }

    fn store_delivery(self: &Arc<Self>, st: &RetryStore, idx: u32, gen: u32) -> Delivery {
        let e = &st.entries[idx as usize];
        Delivery::new(
            self.clone(),
            store_tag(idx, gen),
            &e.meta,
            e.attempts + e.meta.attempt_base,
            e.data.as_ptr(),
            e.data.len(),
        )
    }

    fn refresh_due(&self, st: &mut RetryStore) {
        self.store_due
            .store(st.next_due().unwrap_or(u64::MAX), Release);
    }

    /// Delivers due retries and handles expired store deliveries.
    fn take_from_store(self: &Arc<Self>, max: usize, now: u64, out: &mut impl Sink) -> usize {
        let mut st = self.lock_store();
        let mut got = 0;
        while got < max {
            let Some(idx) = st.pop_due(now) else { break };
            match st.entries[idx as usize].state {
                EntryState::Waiting { .. } => {
                    let gen = st.deliver(idx, self.ack_deadline(now));
                    out.put(self.store_delivery(&st, idx, gen));
                    got += 1;
                }
                EntryState::ToDeadLetter { .. } => self.dead_letter_entry(&mut st, idx, now),
                EntryState::InFlight { .. } => {
                    self.counters.expired.fetch_add(1, Relaxed);
                    self.retry_or_dead_letter(&mut st, idx, None, now);
                }
                EntryState::Free => {}
            }
        }
        self.refresh_due(&mut st);
        got
    }

    /// After a failed delivery of store entry `idx`: park it for the next
    /// attempt, or dead-letter it when it has had `max_attempts`.
    fn retry_or_dead_letter(
        &self,
        st: &mut RetryStore,
        idx: u32,
        delay: Option<Duration>,
        now: u64,
    ) {
        let attempts = st.entries[idx as usize].attempts;
        let opts = &self.topic.opts;
        let max_attempts = if self.topic.dlq.is_none() && self.topic.is_dlq {
            u32::MAX
        } else {
            opts.max_attempts
        };
        if attempts >= max_attempts {
            st.entries[idx as usize].reason.get_or_insert_with(|| {
                format!("failed {attempts} deliveries (max_attempts {max_attempts})")
            });
            self.dead_letter_entry(st, idx, now);
            return;
        }
        let seed = self.jitter.fetch_add(1, Relaxed);
        let wait =
            delay.unwrap_or_else(|| backoff(opts.backoff_base, opts.backoff_max, attempts, seed));
        st.park(idx, now.saturating_add(dur_ns(wait)));
        self.counters.retried.fetch_add(1, Relaxed);
    }

    /// Moves store entry `idx` to the dead-letter topic, or parks it to try
    /// again if that topic is full.
    fn dead_letter_entry(&self, st: &mut RetryStore, idx: u32, now: u64) {
        let e = &st.entries[idx as usize];
        if self.dead_letter(&e.meta, e.attempts, &e.data) {
            if st.finish(idx) {
                self.add_credits(1);
            }
        } else {
            let due = now.saturating_add(dur_ns(self.topic.opts.backoff_base).max(1_000_000));
            st.park_for_dead_letter(idx, due);
        }
    }

    /// Publishes a message to the dead-letter topic, keeping its id, key,
    /// timestamp, payload and attempts. False if that topic is full.
    fn dead_letter(&self, meta: &SlotMeta, attempts: u32, data: &[u8]) -> bool {
        let ok = match &self.topic.dlq {
            // A dead-letter topic's own terms end the message here.
            None => true,
            Some(dlq) => {
                // The dead letter's first delivery reports the attempts made
                // so far (DLQ keeps the count); its own retries count on.
                let mut m = *meta;
                m.attempt_base = meta.attempt_base + attempts.saturating_sub(1);
                dlq.publish_dead_letter(&m, data).is_ok()
            }
        };
        if ok {
            self.counters.dead_lettered.fetch_add(1, Relaxed);
        }
        ok
    }

    /// Scans the ring window for deliveries past their ack deadline.
    fn reap(&self, now: u64) {
        self.next_reap.store(now + self.reap_every, Relaxed);
        let Some(gate) = self.gate else { return };
        let start = self.topic.seq.gate_value(gate);
        let end = self.next.load(Acquire);
        for seq in start..end {
            let e = self.entry(seq);
            let s = e.state.load(Acquire);
            if (s == enc(seq, DELIVERED) || s == enc(seq, ABANDONED))
                && e.deadline.load(Relaxed) <= now
                && e.state
                    .compare_exchange(s, enc(seq, BUSY), AcqRel, Acquire)
                    .is_ok()
            {
                self.counters.expired.fetch_add(1, Relaxed);
                self.park_from_ring(seq, None, now, "ack timeout");
                if s & 7 == DELIVERED {
                    e.state.store(enc(seq, EXPIRED), SeqCst);
                } else {
                    self.settle_ring_entry(seq);
                }
            }
        }
    }

    /// Copies ring sequence `seq` (BUSY, so pinned) into the store after a
    /// failed first delivery and schedules its retry, or dead-letters it.
    fn park_from_ring(&self, seq: u64, delay: Option<Duration>, now: u64, reason: &str) {
        let ring = &self.topic.ring;
        let meta = ring.meta(seq);
        let mut st = self.lock_store();
        // The ring delivery's credit pays for this entry.
        let idx = st.alloc(meta, 1, |buf| {
            ring.copy_out(seq, buf);
        });
        st.entries[idx as usize].reason = Some(reason.to_owned());
        self.retry_or_dead_letter(&mut st, idx, delay, now);
        self.refresh_due(&mut st);
    }

    /// Marks `seq` SETTLED and advances the watermark over every settled
    /// sequence, waking producers if it moved.
    fn settle_ring_entry(&self, seq: u64) {
        self.entry(seq).state.store(enc(seq, SETTLED), SeqCst);
        self.advance();
    }

    fn advance(&self) {
        let Some(gate) = self.gate else { return };
        if self.gate_released.load(Acquire) {
            return;
        }
        let moved = advance_gate(self.topic.seq.gate(gate), |w| {
            self.entry(w).state.load(SeqCst) == enc(w, SETTLED)
        });
        if moved {
            self.topic.producers.notify();
        }
    }

    /// Acks a batch: ring deliveries of this subscription settle with one
    /// compare-and-swap each, then credits, counters, latency and the
    /// watermark are updated once for the batch; anything else is acked one
    /// by one.
    pub(crate) fn ack_all(self: &Arc<Self>, batch: &mut Vec<Delivery>) -> Result<()> {
        let mut first = Ok(());
        let mut n = 0u64;
        let now = wall_ns();
        let closed = self.is_closed();
        let lat = |d: &Delivery| now.saturating_sub(d.meta.timestamp_ns).max(0) as u64;
        // Settle in place, then record latencies of the settled ones.
        for d in batch.iter_mut() {
            let fast =
                !closed && d.tag & STORE_TAG == 0 && !self.lossy && Arc::ptr_eq(&d.sub, self);
            if fast && self.try_settle_delivered(d.tag) {
                d.settled = true;
                n += 1;
            }
        }
        if n > 0 {
            self.latency
                .record_all(batch.iter().filter(|d| d.settled).map(lat));
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
        self.finish_fast_acks(n);
        first
    }

    /// Takes up to `max` messages and runs `f` on each in turn: `Ok` acks
    /// (the whole batch's acks settle together), `Err` or a panic nacks with
    /// its text. The fast path for ring messages of a gated subscription
    /// makes no `Delivery` (no reference count per message); retries and
    /// lossy subscriptions go through ordinary deliveries.
    pub(crate) fn consume(
        self: &Arc<Self>,
        max: usize,
        scratch: &mut Vec<Delivery>,
        f: &mut dyn FnMut(&Message<'_>) -> HandlerResult,
    ) -> Result<usize> {
        self.check_open()?;
        let now = mono_coarse_ns();
        if self.lossy || self.store_due.load(Acquire) <= now || now >= self.next_reap.load(Relaxed)
        {
            return self.consume_deliveries(max, scratch, f);
        }
        let ring = &self.topic.ring;
        let (first, n) = self.claim_ring(max, now);
        if n == 0 {
            return Ok(0);
        }
        self.counters.delivered.fetch_add(n, Relaxed);
        let mut acked = 0u64;
        // One clock read for the batch's acks, taken at the first one.
        let mut ack_time = None;
        for seq in first..first + n {
            let meta = ring.meta(seq);
            // SAFETY: `seq` is DELIVERED to us and unsettled, so its slot is
            // pinned until the settle below.
            let data = unsafe { ring.payload(seq, meta.len as usize) };
            let msg = Message {
                id: meta.id,
                key: meta.key,
                timestamp_ns: meta.timestamp_ns,
                attempt: 1 + meta.attempt_base,
                data,
            };
            match call_handler(self, f, &msg) {
                Ok(()) => {
                    let now = *ack_time.get_or_insert_with(wall_ns);
                    let latency = now.saturating_sub(meta.timestamp_ns).max(0) as u64;
                    if self.try_settle_delivered(seq) {
                        self.latency.record(latency);
                        acked += 1;
                    } else {
                        // Expired while the handler ran: its copy is out
                        // again; let go of the slot.
                        let _ = self.settle(seq, Action::Release, None);
                    }
                }
                Err(e) => {
                    let _ = self.settle(
                        seq,
                        Action::Nack {
                            delay: None,
                            reason: Some(&e.0),
                        },
                        None,
                    );
                }
            }
        }
        self.finish_fast_acks(acked);
        Ok(n as usize)
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
            match call_handler(self, f, &batch[i].message()) {
                Ok(()) => i += 1,
                Err(e) => {
                    let _ = batch.remove(i).nack_with_reason(None, &e.0);
                }
            }
        }
        self.ack_all(batch)?;
        Ok(n)
    }

    /// The raw-tag form of `ack_all` (tags from `Delivery::into_raw`).
    pub(crate) fn ack_tags(&self, tags: &[u64]) -> Result<()> {
        let mut first = Ok(());
        let mut n = 0u64;
        let now = wall_ns();
        let closed = self.is_closed();
        for (i, &tag) in tags.iter().enumerate() {
            let fast =
                !closed && tag & STORE_TAG == 0 && !self.lossy && tag < self.next.load(Acquire);
            if fast {
                // Read the timestamp while the slot is still pinned.
                let ts = self.topic.ring.meta(tag).timestamp_ns;
                if self.try_settle_delivered(tag) {
                    self.latency.record(now.saturating_sub(ts).max(0) as u64);
                    n += 1;
                    continue;
                }
            }
            let ts = self.tag_timestamp(tag);
            let r = self.settle(tag, Action::Ack, ts);
            if let (Err(e), true) = (r, first.is_ok()) {
                first = Err(Error::new(e.kind(), format!("tags[{i}]: {}", e.message())));
            }
        }
        self.finish_fast_acks(n);
        first
    }

    /// Settles the delivery `tag`.
    pub(crate) fn settle(
        &self,
        tag: u64,
        action: Action<'_>,
        timestamp_ns: Option<i64>,
    ) -> Result<()> {
        let r = if tag & STORE_TAG == 0 {
            self.settle_ring(tag, action)
        } else {
            self.settle_store(tag, action)
        };
        if r.is_ok() {
            match action {
                Action::Ack => {
                    self.counters.acked.fetch_add(1, Relaxed);
                    if let Some(ts) = timestamp_ns {
                        self.latency
                            .record(wall_ns().saturating_sub(ts).max(0) as u64);
                    }
                }
                // Counted where they happen (before any dead-lettering, so
                // nacked never lags dead_lettered in a snapshot).
                Action::Nack { reason, .. } | Action::Term { reason, .. } => {
                    if let Some(r) = reason {
                        self.set_last_error(r);
                    }
                }
                _ => {}
            }
        }
        if self.is_closed() {
            self.try_release_gate();
            if !matches!(action, Action::Release) {
                return r.and(Err(Error::closed(&format!(
                    "subscription {:?}",
                    self.group
                ))));
            }
        }
        r
    }

    fn unknown(tag: u64) -> Error {
        Error::invalid(format!("delivery tag {tag} is unknown or already settled"))
    }

    fn expired(tag: u64) -> Error {
        Error::invalid(format!(
            "delivery tag {tag} expired (not settled within ack_timeout) and was redelivered"
        ))
    }

    fn settle_ring(&self, seq: u64, action: Action<'_>) -> Result<()> {
        if self.lossy || seq >= self.next.load(Acquire) {
            return Err(Self::unknown(seq));
        }
        let e = self.entry(seq);
        let delivered = enc(seq, DELIVERED);
        let cas = |from: u64, to: u64| e.state.compare_exchange(from, to, SeqCst, Acquire).is_ok();
        // Not DELIVERED: an expired delivery's old holder lets go of its
        // slot (and learns it was redelivered), or the tag is unknown.
        let not_delivered = || {
            self.wait_not_busy(seq);
            if cas(enc(seq, EXPIRED), enc(seq, BUSY)) {
                self.settle_ring_entry(seq);
                Err(Self::expired(seq))
            } else {
                Err(Self::unknown(seq))
            }
        };
        match action {
            Action::Ack => {
                if !self.try_settle_delivered(seq) {
                    return not_delivered();
                }
                self.add_credits(1);
                self.advance();
                Ok(())
            }
            Action::Nack { delay, reason } => {
                if !cas(delivered, enc(seq, BUSY)) {
                    return not_delivered();
                }
                self.counters.nacked.fetch_add(1, Relaxed);
                self.park_from_ring(seq, delay, mono_ns(), reason.unwrap_or("nacked"));
                self.settle_ring_entry(seq);
                Ok(())
            }
            Action::Term { reason, attempts } => {
                if !cas(delivered, enc(seq, BUSY)) {
                    return not_delivered();
                }
                self.termed.fetch_add(1, Relaxed);
                let ring = &self.topic.ring;
                let meta = ring.meta(seq);
                let attempts = attempts.unwrap_or(1);
                // SAFETY: BUSY keeps the slot pinned while we read it.
                let data = unsafe { ring.payload(seq, meta.len as usize) };
                if self.dead_letter(&meta, attempts, data) {
                    self.add_credits(1);
                } else {
                    let mut st = self.lock_store();
                    let idx = st.alloc(meta, attempts, |buf| buf.extend_from_slice(data));
                    st.entries[idx as usize].reason = reason.map(str::to_owned);
                    self.dead_letter_entry(&mut st, idx, mono_ns());
                    self.refresh_due(&mut st);
                }
                self.settle_ring_entry(seq);
                Ok(())
            }
            Action::InProgress => {
                if e.state.load(Acquire) == delivered {
                    e.deadline.store(self.ack_deadline(mono_ns()), Relaxed);
                    Ok(())
                } else {
                    Err(Self::unknown(seq))
                }
            }
            Action::Release => {
                if !cas(delivered, enc(seq, ABANDONED)) {
                    self.wait_not_busy(seq);
                    if cas(enc(seq, EXPIRED), enc(seq, BUSY)) {
                        self.settle_ring_entry(seq);
                    }
                }
                Ok(())
            }
        }
    }

    fn settle_store(&self, tag: u64, action: Action<'_>) -> Result<()> {
        let idx = (tag & 0xffff_ffff) as u32;
        let gen = ((tag >> 32) & 0x7fff_ffff) as u32;
        let mut st = self.lock_store();
        if idx as usize >= st.capacity() || !st.owns_gen(idx, gen) {
            return Err(Self::unknown(tag));
        }
        let e = &st.entries[idx as usize];
        let current = e.gen & 0x7fff_ffff == gen && matches!(e.state, EntryState::InFlight { .. });
        let finished = e.state == EntryState::Free;
        if !current {
            // A holder of an earlier delivery of this message lets go.
            if st.release(idx) {
                self.add_credits(1);
            }
            return match action {
                Action::Release => Ok(()),
                _ if finished => Err(Self::unknown(tag)),
                _ => Err(Self::expired(tag)),
            };
        }
        let now = mono_ns();
        match action {
            Action::InProgress => {
                st.extend(idx, self.ack_deadline(now));
                self.refresh_due(&mut st);
                return Ok(());
            }
            // Left in flight: the ack timer redelivers it.
            Action::Release => {}
            Action::Ack => {
                st.finish(idx);
            }
            Action::Nack { delay, reason } => {
                self.counters.nacked.fetch_add(1, Relaxed);
                if let Some(r) = reason {
                    st.entries[idx as usize].reason = Some(r.to_owned());
                }
                self.retry_or_dead_letter(&mut st, idx, delay, now);
            }
            Action::Term { reason, attempts } => {
                self.termed.fetch_add(1, Relaxed);
                if let Some(r) = reason {
                    st.entries[idx as usize].reason = Some(r.to_owned());
                }
                if let Some(a) = attempts {
                    let e = &mut st.entries[idx as usize];
                    e.attempts = e.attempts.max(a);
                }
                self.dead_letter_entry(&mut st, idx, now);
            }
        }
        if st.release(idx) {
            self.add_credits(1);
        }
        self.refresh_due(&mut st);
        Ok(())
    }

    /// Blocks until something can be taken, the deadline passes, or the
    /// subscription closes.
    pub(crate) fn wait(&self, deadline: Option<u64>) -> Woke {
        let topic = &self.topic;
        let max_sleep = {
            let due = self.store_due.load(Acquire);
            let now = mono_ns();
            let until_due = due.saturating_sub(now);
            Duration::from_nanos(until_due.min(self.reap_every).max(100_000))
        };
        topic
            .consumers
            .wait_until(deadline, Some(max_sleep), || self.ready(mono_coarse_ns()))
    }

    pub(crate) fn poll_into(
        self: &Arc<Self>,
        max: usize,
        timeout: Option<Duration>,
        out: &mut impl Sink,
    ) -> Result<usize> {
        let got = self.take(max, out)?;
        if got > 0 || timeout == Some(Duration::ZERO) {
            return Ok(got);
        }
        // Only a poll that has to wait reads the clock for its deadline.
        let dl = deadline(timeout);
        loop {
            if self.wait(dl) == Woke::TimedOut {
                // One last look: something may have arrived with the deadline.
                return self.take(max, out);
            }
            let got = self.take(max, out)?;
            if got > 0 {
                return Ok(got);
            }
        }
    }

    /// Stops the subscription: polls answer `Closed`, and its gate stops
    /// holding producers once no delivery pins a slot.
    pub(crate) fn close(&self) {
        if self.closed.swap(true, AcqRel) {
            return;
        }
        self.try_release_gate();
        self.topic.consumers.notify();
    }

    /// Releases the gate now, even with deliveries outstanding.
    ///
    /// # Safety
    /// No payload of a delivery of this subscription may be read afterwards.
    pub(crate) unsafe fn close_abandoning(&self) {
        self.closed.store(true, Release);
        self.release_gate();
        self.topic.consumers.notify();
    }

    fn try_release_gate(&self) {
        let Some(gate) = self.gate else { return };
        if self.gate_released.load(Acquire) {
            return;
        }
        let start = self.topic.seq.gate_value(gate);
        let end = self.next.load(Acquire);
        let pinned = (start..end).any(|seq| {
            let s = self.entry(seq).state.load(Acquire);
            s == enc(seq, DELIVERED) || s == enc(seq, EXPIRED) || s == enc(seq, BUSY)
        });
        if !pinned {
            self.release_gate();
        }
    }

    fn release_gate(&self) {
        if let Some(gate) = self.gate {
            if !self.gate_released.swap(true, AcqRel) {
                self.topic.seq.release(gate);
                self.topic.producers.notify();
            }
        }
    }

    /// Messages published but not yet delivered.
    pub(crate) fn lag(&self) -> u64 {
        self.topic
            .published_upto()
            .saturating_sub(self.next.load(Acquire))
    }

    /// Messages this subscription still owes: undelivered, in flight, or
    /// waiting for a retry.
    pub(crate) fn outstanding(&self) -> u64 {
        let c = &self.counters;
        let delivered = c.delivered.load(Relaxed);
        let settled = c.acked.load(Relaxed)
            + c.nacked.load(Relaxed)
            + c.expired.load(Relaxed)
            + self.termed.load(Relaxed);
        let lag = if self.is_closed() { 0 } else { self.lag() };
        lag + delivered.saturating_sub(settled) + self.lock_store().waiting as u64
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
        let c = &self.counters;
        let delivered = c.delivered.load(Relaxed);
        let acked = c.acked.load(Relaxed);
        let nacked = c.nacked.load(Relaxed);
        let expired = c.expired.load(Relaxed);
        let termed = self.termed.load(Relaxed);
        let waiting_retry = {
            let st = self.lock_store();
            st.waiting as u64
        };
        SubStats {
            delivered,
            acked,
            nacked,
            retried: c.retried.load(Relaxed),
            dead_lettered: c.dead_lettered.load(Relaxed),
            termed,
            dropped: c.dropped.load(Relaxed),
            expired,
            handler_panics: c.handler_panics.load(Relaxed),
            in_flight: delivered.saturating_sub(acked + nacked + expired + termed),
            waiting_retry,
            lag: if self.is_closed() { 0 } else { self.lag() },
            latency_p50_ns: self.latency.quantile(0.5),
            latency_p99_ns: self.latency.quantile(0.99),
            latency_p999_ns: self.latency.quantile(0.999),
            latency_max_ns: self.latency.max(),
            latency_count: self.latency.count(),
            latency_sum_ns: self.latency.sum(),
            last_error: if with_error {
                self.last_error
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone()
            } else {
                None
            },
        }
    }
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
        &self.core.topic.name
    }

    /// Waits up to `timeout` (`None`: for ever) for one delivery.
    /// `Ok(None)` when nothing arrived in time.
    pub fn poll(&self, timeout: Option<Duration>) -> Result<Option<Delivery>> {
        let mut out = None;
        self.core.poll_into(1, timeout, &mut out)?;
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
        if max == 0 {
            return Err(Error::invalid("poll_batch max 0 must be at least 1"));
        }
        out.reserve(max);
        self.core.poll_into(max, timeout, out)
    }

    /// Waits up to `timeout` for messages, then runs `handler` on up to
    /// `max` of them in turn: `Ok` acks, `Err` (or a panic) nacks with its
    /// text, so they are retried and dead-lettered as usual. Returns how many
    /// were handled (0 on timeout). The fastest way to consume: no
    /// `Delivery` is made per message and a batch's acks settle together.
    pub fn consume<F>(&self, max: usize, timeout: Option<Duration>, mut handler: F) -> Result<usize>
    where
        F: FnMut(&Message<'_>) -> HandlerResult,
    {
        if max == 0 {
            return Err(Error::invalid("consume max 0 must be at least 1"));
        }
        let dl = deadline(timeout);
        let mut scratch = Vec::new();
        loop {
            let n = self.core.consume(max, &mut scratch, &mut handler)?;
            if n > 0 || timeout == Some(Duration::ZERO) {
                return Ok(n);
            }
            if self.core.wait(dl) == Woke::TimedOut {
                return self.core.consume(max, &mut scratch, &mut handler);
            }
        }
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
        let ts = self.core.tag_timestamp(tag);
        self.core.settle(tag, Action::Ack, ts)
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
        self.core.settle(
            tag,
            Action::Nack {
                delay,
                reason: None,
            },
            None,
        )
    }

    /// # Safety
    /// As for [`PullSubscription::ack_tag`].
    pub unsafe fn term_tag(&self, tag: u64) -> Result<()> {
        self.core.settle(
            tag,
            Action::Term {
                reason: None,
                attempts: None,
            },
            None,
        )
    }

    /// Restarts the ack timer of a raw delivery (safe: it frees nothing).
    pub fn in_progress_tag(&self, tag: u64) -> Result<()> {
        self.core.settle(tag, Action::InProgress, None)
    }

    pub fn stats(&self) -> SubStats {
        self.core.stats_snapshot(true)
    }

    /// Removes the subscription from its topic. Deliveries still held stay
    /// readable; the subscription stops holding producers back once they are
    /// settled or dropped.
    pub fn unsubscribe(&self) -> Result<()> {
        self.core.topic.remove_subscription(&self.core)
    }

    /// Removes the subscription and stops holding producers back at once.
    ///
    /// # Safety
    /// No payload of a delivery of this subscription may be read afterwards
    /// (for the C API, whose contract says so).
    pub unsafe fn unsubscribe_abandoning(&self) -> Result<()> {
        let r = self.core.topic.remove_subscription(&self.core);
        // SAFETY: the caller promises no payload is read afterwards.
        unsafe { self.core.close_abandoning() };
        r
    }
}

impl SubCore {
    /// The publish timestamp of the message behind a tag, for latency.
    fn tag_timestamp(&self, tag: u64) -> Option<i64> {
        if tag & STORE_TAG == 0 {
            if self.lossy || tag >= self.next.load(Acquire) {
                return None;
            }
            if self.entry(tag).state.load(Acquire) == enc(tag, DELIVERED) {
                return Some(self.topic.ring.meta(tag).timestamp_ns);
            }
            None
        } else {
            let st = self.lock_store();
            st.entries
                .get((tag & 0xffff_ffff) as usize)
                .map(|e| e.meta.timestamp_ns)
        }
    }

    pub(crate) fn is_push(&self) -> bool {
        self.push.load(Acquire)
    }
}

impl std::fmt::Debug for PullSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullSubscription")
            .field("topic", &self.core.topic.name)
            .field("group", &self.core.group)
            .finish()
    }
}
