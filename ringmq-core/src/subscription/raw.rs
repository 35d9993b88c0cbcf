//! Taking deliveries as raw tags in one step, for the bindings.
//!
//! The bindings copy every message out and hand the foreign caller a raw
//! tag (as [`Delivery::into_raw`] does). Taking [`Delivery`] values for
//! that costs, per message, a reference count taken and dropped and a
//! DELIVERED -> RAW swap of the slot's state. [`PullSubscription::poll_raw`]
//! takes straight into [`RawDelivery`] values instead: the ring path marks
//! each claimed slot RAW when it claims it (a store, as DELIVERED is), and
//! builds no `Delivery`; what comes from the retry store (or a durable
//! subscription's log) is taken as a `Delivery` under the store's lock, as
//! always, and turned into a raw tag once the take is done and the lock
//! released. The slot states, and so every settle, are those of
//! `into_raw`: a raw tag pins its payload until it is settled or its ack
//! deadline passes.

use std::sync::Arc;
use std::time::Duration;

use super::{Sink, SubCore};
use crate::delivery::Delivery;
use crate::error::Result;
use crate::interrupt::Interrupt;
use crate::notes::DeadLetterNote;
use crate::ring::SlotMeta;
use crate::subscription::pull::check_max;
use crate::subscription::PullSubscription;

/// A delivery held by its raw tag (see [`Delivery::into_raw`]): what a
/// binding copies out for its caller. It has no reference count and does
/// nothing when dropped; the tag is settled with the subscription's
/// `*_tag` calls (an unsettled one is redelivered after the ack timeout).
#[doc(hidden)]
pub struct RawDelivery {
    tag: u64,
    meta: SlotMeta,
    attempt: u32,
    ptr: *const u8,
    len: usize,
    ext_ptr: *const u8,
    ext_len: usize,
    note: Option<Arc<DeadLetterNote>>,
}

// SAFETY: the pointers are only read through the `unsafe` accessors, whose
// callers promise the tag is still held (the memory pinned); the rest is
// plain data and an `Arc`.
unsafe impl Send for RawDelivery {}
// SAFETY: as for Send; `&RawDelivery` only reads.
unsafe impl Sync for RawDelivery {}

impl From<Delivery> for RawDelivery {
    /// The delivery turned into its raw tag ([`Delivery::into_raw`]).
    fn from(d: Delivery) -> RawDelivery {
        let raw = RawDelivery::of(&d);
        d.into_raw();
        raw
    }
}

impl RawDelivery {
    /// What `d` holds, before it is turned raw.
    fn of(d: &Delivery) -> RawDelivery {
        let data = d.data();
        let ext = d.ext();
        RawDelivery {
            tag: d.tag,
            meta: d.meta,
            attempt: d.attempt(),
            ptr: data.as_ptr(),
            len: data.len(),
            ext_ptr: ext.as_ptr(),
            ext_len: ext.len(),
            note: d.note().cloned(),
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

/// Where `poll_raw` takes: ring deliveries are made in place; any other
/// is kept as a `Delivery` until the take is over (see the module doc).
struct RawSink<'a> {
    out: &'a mut Vec<RawDelivery>,
    held: Vec<Delivery>,
}

impl Sink for RawSink<'_> {
    const RAW: bool = true;

    fn put(&mut self, d: Delivery) {
        self.out.push(RawDelivery::of(&d));
        self.held.push(d);
    }

    fn put_ring(
        &mut self,
        _sub: &Arc<SubCore>,
        seq: u64,
        meta: &SlotMeta,
        attempt: u32,
        data: &[u8],
        ext: &[u8],
        note: Option<Arc<DeadLetterNote>>,
    ) {
        self.out.push(RawDelivery {
            tag: seq,
            meta: *meta,
            attempt,
            ptr: data.as_ptr(),
            len: data.len(),
            ext_ptr: ext.as_ptr(),
            ext_len: ext.len(),
            note,
        });
    }
}

impl RawSink<'_> {
    /// The take is over (no lock held): what was taken as a `Delivery`
    /// becomes a raw tag. Its payload stays where it was, so the entry
    /// already made for it stays right.
    fn finish(&mut self) {
        for d in self.held.drain(..) {
            d.into_raw();
        }
    }
}

impl PullSubscription {
    /// As [`poll_batch`](Self::poll_batch) (with an optional interrupt),
    /// taking each delivery as its raw tag, as `Delivery::into_raw` would,
    /// with less work per message: for the bindings.
    #[doc(hidden)]
    pub fn poll_raw(
        &self,
        max: usize,
        timeout: Option<Duration>,
        interrupt: Option<&Interrupt>,
        out: &mut Vec<RawDelivery>,
    ) -> Result<usize> {
        check_max(max)?;
        out.reserve(max);
        let mut sink = RawSink {
            out,
            held: Vec::new(),
        };
        let r = self.core.poll_into(max, timeout, interrupt, &mut sink);
        sink.finish();
        r
    }
}
