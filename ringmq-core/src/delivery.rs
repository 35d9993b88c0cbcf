//! What consumers receive: [`Delivery`] for pull subscriptions (owned, settled
//! by value) and [`Message`] for push handlers (borrowed for the call).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::Result;
use crate::ring::SlotMeta;
use crate::subscription::{Action, SubCore};

/// A message as a push handler sees it: valid for the duration of the call.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    /// The topic's sequence number (kept by dead letters).
    pub id: u64,
    pub key: u64,
    /// Publish time, nanoseconds since the Unix epoch.
    pub timestamp_ns: i64,
    /// 1 on the first delivery.
    pub attempt: u32,
    pub data: &'a [u8],
}

/// One delivery from a pull subscription. Settle it with [`ack`](Self::ack),
/// [`nack`](Self::nack) or [`term`](Self::term); dropping it unsettled leaves
/// it to the ack timer, which redelivers it after `ack_timeout`.
///
/// The payload is read in place from the ring (or from the subscription's
/// retry store): the slot is not reused while this value exists.
pub struct Delivery {
    pub(crate) sub: Arc<SubCore>,
    pub(crate) tag: u64,
    pub(crate) meta: SlotMeta,
    attempt: u32,
    ptr: *const u8,
    len: usize,
    pub(crate) settled: bool,
}

// SAFETY: `ptr` points into memory owned by the topic's ring or the
// subscription's store, both kept alive by `sub` and pinned (not written)
// while this delivery is unsettled; reading it from any thread is fine, and
// settling is thread-safe.
unsafe impl Send for Delivery {}
// SAFETY: as for Send; `&Delivery` only reads.
unsafe impl Sync for Delivery {}

impl Delivery {
    pub(crate) fn new(
        sub: Arc<SubCore>,
        tag: u64,
        meta: &SlotMeta,
        attempt: u32,
        ptr: *const u8,
        len: usize,
    ) -> Delivery {
        Delivery {
            sub,
            tag,
            meta: *meta,
            attempt,
            ptr,
            len,
            settled: false,
        }
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
    /// Identifies this delivery for the tag-based settle calls.
    pub fn tag(&self) -> u64 {
        self.tag
    }
    pub fn data(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: `ptr..ptr+len` lies in a slot or store buffer that is
        // pinned while this delivery is unsettled (see the type's docs), and
        // `settled` deliveries are consumed, so this one is unsettled.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// The message view a handler gets.
    pub fn message(&self) -> Message<'_> {
        Message {
            id: self.id(),
            key: self.key(),
            timestamp_ns: self.timestamp_ns(),
            attempt: self.attempt,
            data: self.data(),
        }
    }

    /// Settles with `action`, consuming the delivery.
    pub(crate) fn settle_with(mut self, action: Action<'_>) -> Result<()> {
        self.settled = true;
        self.sub
            .settle(self.tag, action, Some(self.meta.timestamp_ns))
    }

    /// Done: the message will not be delivered again to this subscription.
    pub fn ack(self) -> Result<()> {
        self.settle_with(Action::Ack)
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
        self.sub.settle(self.tag, Action::InProgress, None)
    }

    /// Turns the delivery into its tag and payload pointer without settling
    /// it, for the C API: the payload stays valid until the tag is settled
    /// with one of the subscription's `*_tag` calls, while the subscription
    /// is alive.
    pub fn into_raw(mut self) -> (u64, *const u8, usize) {
        self.settled = true;
        (self.tag, self.ptr, self.len)
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        if !self.settled {
            let _ = self.sub.settle(self.tag, Action::Release, None);
        }
    }
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("id", &self.id())
            .field("key", &self.key())
            .field("attempt", &self.attempt)
            .field("tag", &self.tag)
            .field("len", &self.len)
            .finish()
    }
}
