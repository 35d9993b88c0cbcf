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
use crate::delivery::{Delivery, RawDelivery};
use crate::error::Result;
use crate::interrupt::Interrupt;
use crate::subscription::pull::check_max;
use crate::subscription::PullSubscription;

/// Where `poll_raw` takes: ring deliveries are made in place; any other
/// is kept as a `Delivery` until the take is over (see the module doc).
struct RawSink<'a> {
    out: &'a mut Vec<RawDelivery>,
    held: Vec<Delivery>,
}

impl Sink for RawSink<'_> {
    const RAW: bool = true;

    fn put(&mut self, d: Delivery) {
        self.out.push(d.raw.duplicate());
        self.held.push(d);
    }

    fn put_ring(&mut self, _sub: &Arc<SubCore>, raw: RawDelivery) {
        self.out.push(raw);
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
