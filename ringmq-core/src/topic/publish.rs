//! Publishing: claiming room under the overflow policy, writing the
//! message, and what a message may ask for besides its payload (see
//! [`PublishOptions`]): headers, a message id for de-duplication, a delay
//! and a time to live.
//!
//! Order of a publish, each step changing nothing if it fails:
//! 1. check the payload, headers, id and durations (bad input);
//! 2. a `msg_id` already remembered answers the first publish's id at once
//!    (counted as a duplicate, nothing stored);
//! 3. a delayed message needs room among `max_delayed` (else `Full`);
//! 4. claim a sequence under the overflow policy (it is the message id);
//! 5. remember the `msg_id`; if a racing publish of the same id got there
//!    first, this sequence becomes a skip slot and the first id is answered;
//! 6. a delayed message leaves a skip slot in the ring (its id is taken, no
//!    consumer waits on it) and waits in the topic's timing wheel (see
//!    `delay`); any other message is written into its slot.
//!
//! A message without headers, id, delay or ttl takes none of the locks and
//! allocates nothing.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use super::TopicCore;
use crate::clock::{deadline, dur_ns, mono_ns, wall_ns};
use crate::error::{Error, ErrorKind, Result};
use crate::headers;
use crate::interrupt::Interrupt;
use crate::notes::DeadLetterNote;
use crate::options::{check_span, Overflow};
use crate::ring::{SlotMeta, FLAG_SKIP};
use crate::sequence::ClaimError;
use crate::sync::Ordering::*;
use crate::wait::Woke;

/// What a publish asks for besides the payload. `Default`: key 0, wait for
/// room for ever (under `block`), no headers, no id, no delay, no ttl.
///
/// ```
/// use ringmq_core::{Broker, BrokerOptions, PublishOptions, SubOptions, TopicOptions};
/// use std::time::Duration;
///
/// let mq = Broker::new(BrokerOptions::default()).unwrap();
/// let orders = mq.create_topic("orders", TopicOptions::default()).unwrap();
/// let billing = orders.subscribe_pull("billing", SubOptions::default()).unwrap();
///
/// let traceparent = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
/// let opts = PublishOptions {
///     key: 7,
///     headers: &[("traceparent", traceparent)],
///     msg_id: Some(b"order-7"),         // published again: stored once
///     ttl: Some(Duration::from_secs(60)), // never delivered after a minute
///     ..Default::default()
/// };
/// let id = orders.publish_opts(b"{\"total\": 12}", &opts).unwrap();
/// assert_eq!(orders.publish_opts(b"{\"total\": 12}", &opts).unwrap(), id);
///
/// // Deliverable no earlier than 50 ms from now.
/// let later = PublishOptions {
///     delay: Some(Duration::from_millis(50)),
///     ..Default::default()
/// };
/// orders.publish_opts(b"reminder", &later).unwrap();
///
/// let d = billing.poll(Some(Duration::from_secs(1))).unwrap().unwrap();
/// assert_eq!(d.headers().get("traceparent"), Some(&traceparent[..]));
/// assert_eq!(d.msg_id(), Some(&b"order-7"[..]));
/// d.ack().unwrap();
/// let r = billing.poll(Some(Duration::from_secs(2))).unwrap().unwrap();
/// assert_eq!(r.data(), b"reminder");
/// r.ack().unwrap();
/// mq.close(Duration::from_secs(1)).unwrap();
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct PublishOptions<'a> {
    /// The message key (ordering and per-key limits use it).
    pub key: u64,
    /// How long to wait for room: `None` for ever, zero to try once.
    pub timeout: Option<Duration>,
    /// Headers, in order: (name, value) pairs, names UTF-8.
    pub headers: &'a [(&'a str, &'a [u8])],
    /// An id for de-duplication, 1 to 128 bytes: publishing it again within
    /// the topic's `dedupe_window` stores nothing and answers the first
    /// publish's message id.
    pub msg_id: Option<&'a [u8]>,
    /// Deliverable no earlier than this from now (zero: at once).
    pub delay: Option<Duration>,
    /// Expires this long after the publish (with the topic's `max_age`, the
    /// sooner counts); an expired message is never delivered.
    pub ttl: Option<Duration>,
    /// Deliveries the message already had elsewhere (a bridge importing it
    /// from a system that redelivers): its first delivery here reports
    /// attempt `delivered_before + 1`, and a relayed subscription counts
    /// them toward `max_attempts` (see
    /// [`Topic::relay_settles`](crate::Topic::relay_settles)).
    pub delivered_before: u32,
}

impl<'a> PublishOptions<'a> {
    /// Options with only a key and a timeout (the plain publish).
    pub fn keyed(key: u64, timeout: Option<Duration>) -> PublishOptions<'a> {
        PublishOptions {
            key,
            timeout,
            ..Default::default()
        }
    }

    fn delay(&self) -> Option<Duration> {
        self.delay.filter(|d| !d.is_zero())
    }

    /// Is this a plain publish (nothing but a key and a timeout)?
    fn is_plain(&self) -> bool {
        self.headers.is_empty()
            && self.msg_id.is_none()
            && self.delay().is_none()
            && self.ttl.is_none()
            && self.delivered_before == 0
    }
}

/// How many bytes of extension a publish needs, checked; 0 for none.
fn check_options(o: &PublishOptions<'_>, max_header_bytes: usize) -> Result<usize> {
    if let Some(d) = o.delay {
        check_span("delay", d)?;
    }
    if let Some(t) = o.ttl {
        check_span("ttl", t)?;
        if t.is_zero() {
            return Err(Error::invalid(
                "ttl 0 would expire the message at once (leave it out for none)",
            ));
        }
    }
    headers::validate(o.headers, o.msg_id, max_header_bytes)
}

impl TopicCore {
    #[inline]
    pub(super) fn check_payload(&self, len: usize) -> Result<()> {
        if len > self.opts.slot_size {
            return Err(self.too_large(len));
        }
        Ok(())
    }

    #[cold]
    fn too_large(&self, len: usize) -> Error {
        Error::new(
            ErrorKind::TooLarge,
            format!(
                "payload of {len} bytes is larger than slot_size {} of topic {:?}",
                self.opts.slot_size, self.name
            ),
        )
    }

    /// Why the topic is full.
    fn full_text(&self) -> String {
        if self.log_full() {
            format!(
                "the log of topic {:?} is at max_bytes {} with messages its subscriptions still need",
                self.name, self.opts.max_bytes
            )
        } else {
            format!(
                "topic {:?} is full ({} slots)",
                self.name, self.opts.capacity
            )
        }
    }

    /// The common case of [`claim`](Self::claim): an open in-memory topic
    /// with room now. `None` sends the caller to `claim`, which decides
    /// (and counts) everything else.
    #[inline]
    fn claim_at_once(&self, n: u64) -> Option<u64> {
        if self.is_durable() || self.refuses_publishes() {
            return None;
        }
        self.seq
            .try_claim(n, self.opts.overflow != Overflow::DropOldest)
            .ok()
    }

    /// Claims `n` slots under the overflow policy, waiting up to `timeout`
    /// unless `interrupt` ends the wait first.
    #[inline(never)]
    pub(super) fn claim(
        &self,
        n: u64,
        timeout: Option<Duration>,
        ignore_closing: bool,
        interrupt: Option<&Interrupt>,
    ) -> Result<u64> {
        let closed = || {
            if ignore_closing {
                self.is_shut()
            } else {
                self.refuses_publishes()
            }
        };
        if closed() {
            return Err(self.closed_error());
        }
        self.journal_failure()?;
        // A zero timeout never waits, so it answers `Timeout`, never
        // `Interrupted`.
        let interrupt = interrupt.filter(|_| timeout != Some(Duration::ZERO));
        // A durable topic's producers never pass its journal (drop_oldest
        // would overwrite what the log does not have yet).
        let gated = self.opts.overflow != Overflow::DropOldest || self.is_durable();
        // The deadline is read only once a first try failed: a publish that
        // finds room reads no clock.
        let mut dl = None;
        // Subscriptions may have acks not yet published to their gates
        // (see `subscription::watermark`): a producer publishes them
        // before it refuses, and before it parks.
        let mut flushed = false;
        loop {
            // A durable topic's log at max_bytes is full as a ring is.
            let claimed = if self.log_full() {
                Err(ClaimError::Full)
            } else {
                self.seq.try_claim(n, gated)
            };
            match claimed {
                Ok(first) => return Ok(first),
                Err(ClaimError::Full) => {}
            }
            // A durable topic's ring is only ever full for a moment, until
            // its journal catches up: `reject` refuses when its log is full.
            let full = !self.is_durable() || self.log_full();
            if (self.opts.overflow == Overflow::Reject && full)
                || (timeout == Some(Duration::ZERO) && ignore_closing)
            {
                if self.flush_gates_once(&mut flushed) {
                    continue;
                }
                self.counters.rejected.fetch_add(n, Relaxed);
                return Err(Error::new(ErrorKind::Full, self.full_text()));
            }
            let dl = *dl.get_or_insert_with(|| deadline(timeout));
            let ready = || {
                closed()
                    || (self.seq.has_room(n) && !self.log_full())
                    || (self.opts.overflow == Overflow::Reject && self.log_full())
                    || self.journal_failure().is_err()
            };
            let woke =
                self.producers
                    .wait_parking(dl, None, interrupt, || self.flush_gates(), ready);
            if woke == Woke::Interrupted {
                return Err(Error::interrupted(&format!(
                    "publish to topic {:?}",
                    self.name
                )));
            }
            if closed() {
                return Err(self.closed_error());
            }
            self.journal_failure()?;
            if woke == Woke::TimedOut && (!self.seq.has_room(n) || self.log_full()) {
                if self.flush_gates_once(&mut flushed) {
                    continue;
                }
                self.counters.timed_out.fetch_add(n, Relaxed);
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "topic {:?} stayed full for {:?}",
                        self.name,
                        timeout.unwrap_or_default()
                    ),
                ));
            }
        }
    }

    /// Wakes pollers, and the pool when push subscriptions may have work.
    pub(super) fn wake_consumers(&self) {
        self.consumers.notify();
        if self.push_subs.load(Relaxed) > 0 {
            self.pool.notify_work();
        }
    }

    /// Writes a skip slot: sequence `seq` is used up (an id taken by a
    /// delayed message or a losing duplicate) and no consumer delivers it.
    pub(super) fn write_skip(&self, seq: u64) {
        let meta = SlotMeta {
            id: seq,
            flags: FLAG_SKIP,
            ..SlotMeta::default()
        };
        self.ring.write(seq, &meta, &[], &[]);
        self.wake_consumers();
    }

    /// The monotonic time at which a message published now expires, 0 for
    /// never: the sooner of its ttl and the topic's max_age.
    fn expiry(&self, ttl: Option<Duration>) -> u64 {
        let age = Some(self.opts.max_age).filter(|a| !a.is_zero());
        match (ttl, age) {
            (None, None) => 0,
            (Some(a), None) | (None, Some(a)) => mono_ns().saturating_add(dur_ns(a)),
            (Some(a), Some(b)) => mono_ns().saturating_add(dur_ns(a.min(b))),
        }
    }

    pub(crate) fn publish_one(
        &self,
        data: &[u8],
        o: &PublishOptions<'_>,
        interrupt: Option<&Interrupt>,
    ) -> Result<u64> {
        if o.is_plain() {
            return self.publish_plain(data, o.key, o.timeout, interrupt);
        }
        self.check_payload(data.len())?;
        self.publish_extended(data, o, interrupt)
    }

    /// A publish of nothing but a payload, a key and a timeout (`publish`,
    /// `publish_with`): the shortest path, written for the common case
    /// (room now, no expiry); anything else goes by `claim` or
    /// `publish_extended`.
    #[inline]
    pub(crate) fn publish_plain(
        &self,
        data: &[u8],
        key: u64,
        timeout: Option<Duration>,
        interrupt: Option<&Interrupt>,
    ) -> Result<u64> {
        self.check_payload(data.len())?;
        if !self.opts.max_age.is_zero() {
            return self.publish_extended(data, &PublishOptions::keyed(key, timeout), interrupt);
        }
        let seq = match self.claim_at_once(1) {
            Some(seq) => seq,
            None => self.claim(1, timeout, false, interrupt)?,
        };
        let meta = SlotMeta {
            id: seq,
            key,
            timestamp_ns: wall_ns(),
            ..SlotMeta::default()
        };
        self.ring.write(seq, &meta, data, &[]);
        self.wake_consumers();
        self.wait_durable(seq)?;
        Ok(seq)
    }

    /// A publish with headers, an id, a delay or an expiry.
    #[inline(never)]
    fn publish_extended(
        &self,
        data: &[u8],
        o: &PublishOptions<'_>,
        interrupt: Option<&Interrupt>,
    ) -> Result<u64> {
        let ext_len = check_options(o, self.opts.max_header_bytes)?;
        if self.refuses_publishes() {
            return Err(self.closed_error());
        }
        if let Some(id) = o.msg_id {
            if let Some(first) = self.dedupe_lookup(id) {
                self.counters.duplicates.fetch_add(1, Relaxed);
                return Ok(first);
            }
        }
        let delay = o.delay();
        if delay.is_some() && self.is_durable() {
            // A delayed message waits in memory (the timing wheel) and is
            // logged when it falls due: a crash before then would lose a
            // publish that returned.
            return Err(Error::invalid(format!(
                "delay is not available on durable topic {:?} (a delayed message would not survive a crash before it falls due)",
                self.name
            )));
        }
        if delay.is_some() {
            self.reserve_delayed()?;
        }
        let seq = match self.claim(1, o.timeout, false, interrupt) {
            Ok(seq) => seq,
            Err(e) => {
                if delay.is_some() {
                    self.unreserve_delayed();
                }
                return Err(e);
            }
        };
        if let Some(id) = o.msg_id {
            if let Err(first) = self.dedupe_insert(id, seq) {
                if delay.is_some() {
                    self.unreserve_delayed();
                }
                self.counters.unpublished.fetch_add(1, Relaxed);
                self.write_skip(seq);
                self.counters.duplicates.fetch_add(1, Relaxed);
                return Ok(first);
            }
        }
        let meta = SlotMeta {
            id: seq,
            key: o.key,
            timestamp_ns: wall_ns(),
            expires_ns: self.expiry(o.ttl),
            attempt_base: o.delivered_before,
            ..SlotMeta::default()
        };
        let mut ext = [0u8; 256];
        let mut big;
        let ext: &mut [u8] = if ext_len <= ext.len() {
            &mut ext[..ext_len]
        } else {
            big = vec![0u8; ext_len];
            &mut big[..]
        };
        headers::encode(o.headers, o.msg_id, ext);
        match delay {
            Some(d) => {
                // Counted by its skip slot's claim.
                self.write_skip(seq);
                self.schedule_delayed(meta, data, ext, d);
            }
            None => {
                self.ring.write(seq, &meta, data, ext);
                self.wake_consumers();
                self.wait_durable(seq)?;
            }
        }
        Ok(seq)
    }

    pub(crate) fn publish_many<P: AsRef<[u8]>>(
        &self,
        items: &[P],
        key: u64,
        timeout: Option<Duration>,
        interrupt: Option<&Interrupt>,
    ) -> Result<Range<u64>> {
        let n = items.len() as u64;
        if n > self.ring.capacity() {
            return Err(Error::invalid(format!(
                "batch of {n} messages is larger than the capacity {} of topic {:?}",
                self.ring.capacity(),
                self.name
            )));
        }
        for p in items {
            self.check_payload(p.as_ref().len())?;
        }
        if n == 0 {
            if self.refuses_publishes() {
                return Err(self.closed_error());
            }
            let at = self.seq.claimed();
            return Ok(at..at);
        }
        let first = match self.claim_at_once(n) {
            Some(first) => first,
            None => self.claim(n, timeout, false, interrupt)?,
        };
        let meta = SlotMeta {
            key,
            timestamp_ns: wall_ns(),
            expires_ns: self.expiry(None),
            ..SlotMeta::default()
        };
        self.ring.write_run(first, &meta, items);
        self.wake_consumers();
        self.wait_durable(first + n - 1)?;
        Ok(first..first + n)
    }

    /// Publishes a dead letter, keeping its metadata and extension (never
    /// expiring), with its note (kept before the message is published, so
    /// whoever sees the message sees the note); tries once.
    pub(crate) fn publish_dead_letter(
        &self,
        meta: &SlotMeta,
        data: &[u8],
        ext: &[u8],
        reason: &str,
        group: &str,
    ) -> Result<u64> {
        let seq = self.claim(1, Some(Duration::ZERO), true, None)?;
        if let Some(notes) = &self.notes {
            notes.put(seq, Arc::new(DeadLetterNote::new(reason, group)));
        }
        let meta = SlotMeta {
            expires_ns: 0,
            flags: 0,
            ..*meta
        };
        self.ring.write(seq, &meta, data, ext);
        self.wake_consumers();
        Ok(seq)
    }
}
