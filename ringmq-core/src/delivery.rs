//! What consumers receive: [`Delivery`] for pull subscriptions (owned, settled
//! by value), [`RawDelivery`] for the bindings (held by its tag) and
//! [`Message`] for push handlers (borrowed for the call).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::Result;
use crate::headers::{self, Headers};
use crate::notes::DeadLetterNote;
use crate::ring::SlotMeta;
use crate::subscription::{Action, SubCore};

/// A message as a push handler sees it: valid for the duration of the call.
///
/// Made by the engine only; new fields may be added.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Message<'a> {
    /// The topic's sequence number (kept by dead letters).
    pub id: u64,
    pub key: u64,
    /// Publish time, nanoseconds since the Unix epoch.
    pub timestamp_ns: i64,
    /// 1 on the first delivery.
    pub attempt: u32,
    pub data: &'a [u8],
    /// The message's headers, in publish order (empty for none).
    pub headers: Headers<'a>,
    /// The id it was published with for de-duplication, if any.
    pub msg_id: Option<&'a [u8]>,
    /// For a message of a dead-letter topic: the failure that sent it
    /// there, as the engine recorded it (see
    /// [`Delivery::dead_letter_reason`]). None for other messages.
    pub dead_letter_reason: Option<&'a str>,
    /// For a message of a dead-letter topic: the consumer group that
    /// dead-lettered it. None for other messages.
    pub dead_letter_group: Option<&'a str>,
}

impl<'a> Message<'a> {
    #[inline(always)]
    pub(crate) fn new(
        meta: &SlotMeta,
        attempt: u32,
        data: &'a [u8],
        ext: &'a [u8],
        note: Option<&'a DeadLetterNote>,
    ) -> Message<'a> {
        let (msg_id, headers) = if ext.is_empty() {
            (None, Headers::default())
        } else {
            headers::decode(ext)
        };
        Message {
            id: meta.id,
            key: meta.key,
            timestamp_ns: meta.timestamp_ns,
            attempt,
            data,
            headers,
            msg_id,
            dead_letter_reason: note.map(DeadLetterNote::reason),
            dead_letter_group: note.map(DeadLetterNote::group),
        }
    }
}

/// A delivery held by its raw tag (see [`Delivery::into_raw`]): what a
/// binding copies out for its caller, and the parts every [`Delivery`] is
/// made of. It has no reference count and does nothing when dropped; the
/// tag is settled with the subscription's `*_tag` calls (an unsettled one is
/// redelivered after the ack timeout).
#[doc(hidden)]
pub struct RawDelivery {
    tag: u64,
    meta: SlotMeta,
    attempt: u32,
    ptr: *const u8,
    len: usize,
    /// The extension (headers and msg_id), beside the payload.
    ext_ptr: *const u8,
    ext_len: usize,
    /// Why and by whom a message of a dead-letter topic got there.
    note: Option<Arc<DeadLetterNote>>,
}

// SAFETY: the pointers are only read through the `unsafe` accessors, whose
// callers promise the tag is still held (the memory pinned); the rest is
// plain data and an `Arc`.
unsafe impl Send for RawDelivery {}
// SAFETY: as for Send; `&RawDelivery` only reads.
unsafe impl Sync for RawDelivery {}

impl RawDelivery {
    /// The delivery of tag `tag` whose slot or store entry pins `data` and
    /// `ext`.
    #[inline]
    pub(crate) fn new(
        tag: u64,
        meta: &SlotMeta,
        attempt: u32,
        data: &[u8],
        ext: &[u8],
        note: Option<Arc<DeadLetterNote>>,
    ) -> RawDelivery {
        RawDelivery {
            tag,
            meta: *meta,
            attempt,
            ptr: data.as_ptr(),
            len: data.len(),
            ext_ptr: ext.as_ptr(),
            ext_len: ext.len(),
            note,
        }
    }

    /// A second handle on the same tag, for a take that keeps the
    /// `Delivery` until its lock is released (the tag is still settled
    /// once).
    pub(crate) fn duplicate(&self) -> RawDelivery {
        RawDelivery {
            note: self.note.clone(),
            ..*self
        }
    }

    /// The tag to settle it by.
    pub fn tag(&self) -> u64 {
        self.tag
    }
    pub fn id(&self) -> u64 {
        self.meta.id
    }
    pub fn key(&self) -> u64 {
        self.meta.key
    }
    pub fn timestamp_ns(&self) -> i64 {
        self.meta.timestamp_ns
    }
    /// 1 on the first delivery; dead letters keep counting.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The payload, in place.
    ///
    /// # Safety
    /// The tag is not settled yet and its ack deadline has not passed (as
    /// right after the poll that took it): until then its slot or store
    /// entry is pinned.
    pub unsafe fn data(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: pinned, by the caller's promise.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// The encoded extension (headers and msg_id), beside the payload.
    ///
    /// # Safety
    /// As for [`data`](Self::data).
    pub unsafe fn ext(&self) -> &[u8] {
        if self.ext_len == 0 {
            return &[];
        }
        // SAFETY: pinned with the payload, by the caller's promise.
        unsafe { std::slice::from_raw_parts(self.ext_ptr, self.ext_len) }
    }

    /// As [`Delivery::dead_letter_reason`] (owned here, so always valid).
    pub fn dead_letter_reason(&self) -> Option<&str> {
        self.note.as_deref().map(DeadLetterNote::reason)
    }

    /// As [`Delivery::dead_letter_group`].
    pub fn dead_letter_group(&self) -> Option<&str> {
        self.note.as_deref().map(DeadLetterNote::group)
    }
}

/// One delivery from a pull subscription. Settle it with [`ack`](Self::ack),
/// [`nack`](Self::nack) or [`term`](Self::term); dropping it unsettled leaves
/// it to the ack timer, which redelivers it after `ack_timeout`.
///
/// The payload is read in place from the ring (or from the subscription's
/// retry store): the slot is not reused while this value exists.
pub struct Delivery {
    pub(crate) sub: Arc<SubCore>,
    /// The parts; its memory stays pinned while `settled` is false (the
    /// invariant every safe accessor below relies on).
    pub(crate) raw: RawDelivery,
    pub(crate) settled: bool,
}

impl Delivery {
    #[inline]
    pub(crate) fn new(sub: Arc<SubCore>, raw: RawDelivery) -> Delivery {
        Delivery {
            sub,
            raw,
            settled: false,
        }
    }

    pub fn id(&self) -> u64 {
        self.raw.id()
    }
    pub fn key(&self) -> u64 {
        self.raw.key()
    }
    pub fn timestamp_ns(&self) -> i64 {
        self.raw.timestamp_ns()
    }
    /// 1 on the first delivery; dead letters keep counting.
    pub fn attempt(&self) -> u32 {
        self.raw.attempt()
    }
    /// Identifies this delivery for the tag-based settle calls.
    pub fn tag(&self) -> u64 {
        self.raw.tag()
    }
    pub fn data(&self) -> &[u8] {
        // SAFETY: the payload lies in a slot or store buffer that is pinned
        // while this delivery is unsettled (see the type's docs), and
        // settling consumes the delivery, so this one is unsettled; `sub`
        // keeps the ring and store alive.
        unsafe { self.raw.data() }
    }

    /// The encoded extension (headers and msg_id), pinned like the payload:
    /// for the bindings, which decode it with
    /// `internals::decode_ext`.
    #[doc(hidden)]
    pub fn ext(&self) -> &[u8] {
        // SAFETY: as for `data`: the extension lies beside the payload in
        // the same pinned slot or store entry.
        unsafe { self.raw.ext() }
    }

    /// The message's headers, in publish order.
    pub fn headers(&self) -> Headers<'_> {
        headers::decode(self.ext()).1
    }

    /// The id the message was published with for de-duplication, if any.
    pub fn msg_id(&self) -> Option<&[u8]> {
        headers::decode(self.ext()).0
    }

    /// For a message of a dead-letter topic: the failure that sent it
    /// there, as the engine decided it: a nack's or term's reason, a
    /// handler's error text, `"nacked"` or `"termed"` without one, and, when
    /// it ran out of attempts, `"failed N deliveries (max_attempts M): "`
    /// followed by the last failure (such as `"ack timeout"`). None for any
    /// other message (including one published into a dead-letter topic
    /// directly).
    ///
    /// The text is followed in memory by a NUL byte, so its pointer is also
    /// a C string; it stays valid as long as the payload.
    pub fn dead_letter_reason(&self) -> Option<&str> {
        self.raw.dead_letter_reason()
    }

    /// For a message of a dead-letter topic: the consumer group of the
    /// original topic (the one named as this topic without `.dlq`) that
    /// dead-lettered it. None for any other message. NUL-terminated in
    /// memory, as [`dead_letter_reason`](Self::dead_letter_reason).
    pub fn dead_letter_group(&self) -> Option<&str> {
        self.raw.dead_letter_group()
    }

    /// The message view a handler gets.
    pub fn message(&self) -> Message<'_> {
        Message::new(
            &self.raw.meta,
            self.raw.attempt,
            self.data(),
            self.ext(),
            self.raw.note.as_deref(),
        )
    }

    /// The slot's metadata as the delivery took it.
    pub(crate) fn meta(&self) -> &SlotMeta {
        &self.raw.meta
    }

    /// The note, for a view made without borrowing this delivery.
    pub(crate) fn note(&self) -> Option<&Arc<DeadLetterNote>> {
        self.raw.note.as_ref()
    }

    /// Settles with `action`, consuming the delivery.
    pub(crate) fn settle_with(mut self, action: Action<'_>) -> Result<()> {
        self.settled = true;
        self.sub
            .settle(self.raw.tag, action, Some(self.raw.meta.timestamp_ns))
    }

    /// Done: the message will not be delivered again to this subscription.
    pub fn ack(mut self) -> Result<()> {
        self.settled = true;
        self.sub
            .ack_one(self.raw.tag, Some(self.raw.meta.timestamp_ns))
    }

    /// Failed: redeliver after `delay`, or after the topic's backoff when
    /// `None`; dead-lettered once it has had `max_attempts` deliveries.
    pub fn nack(self, delay: Option<Duration>) -> Result<()> {
        self.settle_with(Action::nack(delay, None))
    }

    /// As [`nack`](Self::nack), keeping `reason` as the failure's text.
    pub fn nack_with_reason(self, delay: Option<Duration>, reason: &str) -> Result<()> {
        self.settle_with(Action::nack(delay, Some(reason)))
    }

    /// Not handled, and not a failure: puts the message back to be
    /// delivered again at once (to any consumer of the subscription)
    /// without counting this delivery as an attempt, so no number of
    /// requeues dead-letters it. For a consumer that took a message it will
    /// not handle: a wait cancelled as the message arrived, a worker
    /// shutting down. A failure is a [`nack`](Self::nack). The stats count
    /// a requeue among the nacks.
    pub fn requeue(self) -> Result<()> {
        self.settle_with(Action::Requeue)
    }

    /// Poison: straight to the dead-letter topic, no more attempts.
    pub fn term(self) -> Result<()> {
        self.settle_with(Action::Term { reason: None })
    }

    pub fn term_with_reason(self, reason: &str) -> Result<()> {
        self.settle_with(Action::Term {
            reason: Some(reason),
        })
    }

    /// Still working on it: restarts the ack timer.
    pub fn in_progress(&self) -> Result<()> {
        self.sub.settle(self.raw.tag, Action::InProgress, None)
    }

    /// Turns the delivery into its tag and payload pointer without settling
    /// it, for the C API: the payload, and the texts of a dead letter's
    /// reason and group, stay valid until the tag is settled with one of the
    /// subscription's `*_tag` calls or its ack deadline passes, whichever
    /// comes first, while the subscription is alive. (A raw tag pins its
    /// slot only until the ack deadline, so a consumer that forgets a tag
    /// never holds producers back for good; `in_progress` moves the
    /// deadline. Settling a tag after it expired answers `InvalidArgument`,
    /// "expired".) A delivery whose deadline has passed already is let go
    /// at once, so read what you need of it before turning it raw.
    pub fn into_raw(self) -> (u64, *const u8, usize) {
        let raw = RawDelivery::from(self);
        (raw.tag, raw.ptr, raw.len)
    }
}

impl From<Delivery> for RawDelivery {
    /// The delivery turned into its raw tag ([`Delivery::into_raw`]).
    fn from(mut d: Delivery) -> RawDelivery {
        d.settled = true;
        d.sub.mark_raw(d.raw.tag);
        RawDelivery {
            note: d.raw.note.take(),
            ..d.raw
        }
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        if !self.settled {
            let _ = self.sub.settle(self.raw.tag, Action::Release, None);
        }
    }
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("id", &self.id())
            .field("key", &self.key())
            .field("attempt", &self.raw.attempt)
            .field("tag", &self.raw.tag)
            .field("len", &self.raw.len)
            .field("dead_letter_group", &self.dead_letter_group())
            .finish()
    }
}
