//! Relaying a subscription's settles to another system that owns the
//! messages' retries (a bridge importing from NATS JetStream, say).
//!
//! A *relayed* subscription tells its relay how each message ended here:
//! acked, nacked (with the delay asked for), given more time, or
//! dead-lettered (termed, out of attempts, expired). Its own retries are
//! handed over: a nacked or timed-out message is finished here (counted as
//! nacked, not retried) and the relay is told, so the other system
//! redelivers it, as a new message, after the delay. Out of attempts is
//! counted from the message's `delivered_before` (the other system's
//! deliveries) plus this one, so both sides agree; the last failure
//! dead-letters here, as always.
//!
//! The relay runs on the settling thread, possibly while the subscription
//! holds its store's lock: it must be short and must not call back into
//! the subscription (send the event on a channel).
//!
//! Every settle of a relayed subscription goes through the one-by-one path
//! (no batched fast acks), so no outcome escapes the relay.

use std::sync::Arc;
use std::time::Duration;

use super::SubCore;
use crate::sync::{AtomicBool, Mutex, Ordering::*};

/// How a message of a relayed subscription ended, or what happened to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Acked.
    Acked,
    /// Failed (nacked, a handler error, or its ack timeout passed): the
    /// other system should deliver it again after `delay` (its own backoff
    /// when `None`).
    Nacked { delay: Option<Duration> },
    /// The consumer asked for more time.
    InProgress,
    /// Gone to the dead-letter topic (termed, out of attempts, or
    /// expired), with the reason it carries there.
    DeadLettered { reason: String },
    /// Expired and dropped (the topic's `expired` is `drop`).
    Dropped,
}

/// One event of a relayed subscription: the message's id and key here, and
/// what happened to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    pub id: u64,
    pub key: u64,
    pub outcome: Outcome,
}

/// What a relay is: called with each event (see the module docs).
pub type Relay = Arc<dyn Fn(&Settled) + Send + Sync>;

/// A subscription's relay, set when the subscription is created or later.
#[derive(Default)]
pub(crate) struct RelaySlot {
    on: AtomicBool,
    relay: Mutex<Option<Relay>>,
}

impl RelaySlot {
    pub(crate) fn set(&self, relay: Option<Relay>) {
        let mut r = self.relay.lock().unwrap_or_else(|e| e.into_inner());
        self.on.store(relay.is_some(), Release);
        *r = relay;
    }

    /// Is a relay set? One load: the settle paths of other subscriptions
    /// pay nothing more.
    pub(crate) fn is_on(&self) -> bool {
        self.on.load(Acquire)
    }

    fn get(&self) -> Option<Relay> {
        self.relay.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl SubCore {
    /// Does this subscription hand its retries to a relay?
    pub(super) fn relayed(&self) -> bool {
        self.relay.is_on()
    }

    /// Sets (or, with `None`, clears) this subscription's relay.
    pub(crate) fn set_relay(&self, relay: Option<Relay>) {
        self.relay.set(relay);
    }

    /// Tells the relay, if there is one, about message `id`.
    pub(super) fn relay_event(&self, id: u64, key: u64, outcome: impl FnOnce() -> Outcome) {
        if !self.relay.is_on() {
            return;
        }
        if let Some(r) = self.relay.get() {
            r(&Settled {
                id,
                key,
                outcome: outcome(),
            });
        }
    }
}
