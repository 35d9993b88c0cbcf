//! "Why is my consumer not getting messages": the reasons a subscription
//! has nothing to hand out now, read from its state.
//!
//! `why_idle` reads the state the poll path reads (`ready` and `take`, see
//! `poll`) and changes none of it: it takes no credit, no token of the rate
//! limiter and no message, fires no delayed message and runs no timer scan.
//! It takes the retry store's lock and the key gate's lock one after the
//! other, never both at once. All due times are measured from one reading of
//! the monotonic clock, and a due time already past reads as zero.
//!
//! The answer, in this order (several reasons may hold at once):
//! - `Closed`, alone, when the subscription or its topic is closed (or the
//!   process is a forked child); nothing else is looked at;
//! - `Paused`;
//! - `RateLimited`, when the rate limiter's next token is still ahead;
//! - `CreditsExhausted`, only when a message is published at the cursor
//!   (without one, credits hold nothing back); `held` counts the deliveries
//!   in flight and the messages waiting in the retry store (for a retry or
//!   for a place of their key);
//! - `KeysAtCap`, when messages are parked for a place of their key; parked
//!   messages sit in the retry store, so they are taken out of the count of
//!   `WaitingRetry` rather than counted twice;
//! - `WaitingRetry`, with the store's next due time (`store_due`: the
//!   earliest retry due, or a store delivery's ack deadline if sooner);
//! - `WaitingDelayed`, the topic's delayed messages (shared by all its
//!   subscriptions) and the wheel's next due time;
//! - `NothingPublished`, when the ring holds nothing at the cursor (a
//!   cursor a producer has lapped counts as published).
//!
//! An empty answer means a message is published at the cursor and nothing
//! above holds it back. The answer is a snapshot, not a promise: publishes,
//! settles and other consumers go on while it is read, so it may be out of
//! date when it returns, and a retry or delayed message already due is
//! listed (with a zero `next_in`) until a poll takes or fires it.

use std::fmt;
use std::time::Duration;

use super::SubCore;
use crate::clock::mono_ns;
use crate::ring::Peek;

/// One reason a subscription has nothing to deliver now (see
/// [`PullSubscription::why_idle`](crate::PullSubscription::why_idle)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdleReason {
    /// The subscription (or its topic) is closed.
    Closed,
    /// Paused: it takes nothing new until resumed.
    Paused,
    /// Its `rate_limit` allows the next delivery in this long.
    RateLimited { next_in: Duration },
    /// Every credit (`retry_capacity`, like max_ack_pending) is held by
    /// deliveries in flight or messages waiting for a retry.
    CreditsExhausted { held: u64 },
    /// Messages wait for a place of their key (`max_in_flight_per_key`):
    /// every key they have is at its cap.
    KeysAtCap {
        parked: u64,
        keys: u64,
        per_key: u32,
    },
    /// Messages wait for a retry; the next is due in this long.
    WaitingRetry { count: u64, next_in: Duration },
    /// Delayed messages wait in the topic; the next is due in this long.
    WaitingDelayed { count: u64, next_in: Duration },
    /// Nothing was published past its position.
    NothingPublished,
}

impl fmt::Display for IdleReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdleReason::Closed => write!(f, "closed"),
            IdleReason::Paused => write!(f, "paused"),
            IdleReason::RateLimited { next_in } => {
                write!(
                    f,
                    "rate-limited: the next delivery is allowed in {next_in:?}"
                )
            }
            IdleReason::CreditsExhausted { held } => write!(
                f,
                "retry_capacity exhausted: {held} messages held (in flight or waiting for a retry)"
            ),
            IdleReason::KeysAtCap {
                parked,
                keys,
                per_key,
            } => write!(
                f,
                "keys at their cap: {parked} messages of {keys} keys wait for one of \
                 max_in_flight_per_key {per_key} in flight"
            ),
            IdleReason::WaitingRetry { count, next_in } => write!(
                f,
                "waiting for a retry: {count} messages, the next due in {next_in:?}"
            ),
            IdleReason::WaitingDelayed { count, next_in } => write!(
                f,
                "waiting for delayed messages: {count} in the topic, the next due in {next_in:?}"
            ),
            IdleReason::NothingPublished => write!(f, "nothing published"),
        }
    }
}

impl SubCore {
    /// Why nothing can be taken now; empty when something can.
    pub(crate) fn why_idle(&self) -> Vec<IdleReason> {
        if self.is_closed() || self.topic.is_shut() {
            return vec![IdleReason::Closed];
        }
        let now = mono_ns();
        let until = |t: u64| Duration::from_nanos(t.saturating_sub(now));
        let mut why = Vec::new();
        let published = self.ring().peek(self.cursor.next()) != Peek::NotYet;
        if self.is_paused() {
            why.push(IdleReason::Paused);
        }
        if let Some(r) = &self.rate {
            let at = r.next_token_at(now);
            if at > now {
                why.push(IdleReason::RateLimited { next_in: until(at) });
            }
        }
        let mut waiting = self.waiting_retry();
        if published && self.credits.available() == 0 {
            why.push(IdleReason::CreditsExhausted {
                held: self.acct.in_flight() + waiting,
            });
        }
        if let Some(k) = &self.keys {
            let (parked, keys) = k.parked();
            if parked > 0 {
                why.push(IdleReason::KeysAtCap {
                    parked,
                    keys,
                    per_key: k.per_key(),
                });
                waiting = waiting.saturating_sub(parked);
            }
        }
        if waiting > 0 {
            let due = self.store_due.load(crate::sync::Ordering::Acquire);
            why.push(IdleReason::WaitingRetry {
                count: waiting,
                next_in: until(due),
            });
        }
        let delayed = self.topic.delayed_count();
        if delayed > 0 {
            why.push(IdleReason::WaitingDelayed {
                count: delayed,
                next_in: until(self.topic.delayed_due()),
            });
        }
        if !published {
            why.push(IdleReason::NothingPublished);
        }
        // Empty when a message is there and nothing holds it back.
        why
    }
}
