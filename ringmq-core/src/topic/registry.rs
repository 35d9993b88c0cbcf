//! The topic's registry of subscriptions: creating (pull, push and async
//! push), finding and removing them. A subscription's consumer kind is
//! fixed before it is registered, so a push subscription is never pullable,
//! not even for a moment; its memory is made before its gate is taken, so a
//! failure changes nothing.

use std::sync::Arc;

use super::{Topic, TopicCore};
use crate::delivery::Message;
use crate::durable::checkpoint;
use crate::durable::log::{Log, ReadPos};
use crate::error::{Error, ErrorKind, Result};
use crate::handler::HandlerResult;
use crate::options::{validate_name, Overflow, StartAt, SubOptions};
use crate::push::{Completion, Handler, PushSub, PushSubscription};
use crate::ring::Peek;
use crate::sequence::MAX_GATES;
use crate::subscription::{
    Consumer, LogSource, PullSubscription, Relay, Seat, SlotStates, SubCore,
};
use crate::sync::Mutex;
use crate::sync::Ordering::*;

impl TopicCore {
    /// Registers a subscription. Its consumer kind is fixed here, before it
    /// is visible to `find_subscription`, so a push subscription is never
    /// pullable.
    fn add_subscription(
        self: &Arc<Self>,
        group: &str,
        opts: SubOptions,
        consumer: Consumer,
    ) -> Result<Arc<SubCore>> {
        validate_name("group", group)?;
        opts.validate()?;
        // First without the lock: a forked child must not take it (its
        // parent's threads may have held it at the fork).
        if self.refuses_publishes() {
            return Err(self.closed_error());
        }
        let mut subs = self.subs.lock().unwrap_or_else(|e| e.into_inner());
        // Again under the registry's lock: a close sets the flag before
        // `shut_down` takes the registry under this lock, so either this
        // sees the flag, or the registry it adds to is the one `shut_down`
        // then takes and closes. (Checked before the lock, a subscription
        // could land in the registry after `shut_down` emptied it, and it
        // and its topic, each holding the other, would never be freed.)
        if self.refuses_publishes() {
            return Err(self.closed_error());
        }
        if subs.iter().any(|s| s.group == group) {
            return Err(Error::new(
                ErrorKind::Exists,
                format!(
                    "subscription {group:?} already exists on topic {:?}",
                    self.name
                ),
            ));
        }
        // A durable topic's subscriptions copy messages out, like lossy
        // ones, and read what the ring no longer holds from the log.
        let durable = self.log().map(|(log, dir)| (log.clone(), dir.to_owned()));
        let lossy = opts.lossy || self.opts.overflow == Overflow::DropOldest || durable.is_some();
        // The subscription's memory first: a failure then changes nothing.
        let slots =
            SlotStates::try_new(if lossy { 0 } else { self.opts.capacity }).ok_or_else(|| {
                Error::invalid(format!(
                    "not enough memory for subscription {group:?} of topic {:?} ({} slot states)",
                    self.name, self.opts.capacity
                ))
            })?;
        // A gated subscription's gate starts at the next claim (it never
        // holds producers back for messages published before it); what it
        // reads before that, the history, it copies out like a lossy one.
        let (gate, history_end) = if lossy {
            (None, self.seq.claimed())
        } else {
            let (g, s) = self.seq.register(false).ok_or_else(|| {
                Error::invalid(format!(
                    "topic {:?} already has {MAX_GATES} non-lossy subscriptions, the most it can hold",
                    self.name
                ))
            })?;
            (Some(g), s)
        };
        let resume = match &durable {
            Some((_, dir)) => checkpoint::read(dir, group)?,
            None => None,
        };
        let start = match &resume {
            // The log may have lost its unsynced tail (fsync "never").
            Some(c) => Ok(c.cursor.min(history_end)),
            None => self.start_position(&opts, history_end, durable.as_ref().map(|d| &*d.0)),
        };
        let start = match start {
            Ok(start) => start,
            Err(e) => {
                if let Some(g) = gate {
                    self.release_gate(g);
                }
                return Err(e);
            }
        };
        let sub = Arc::new(SubCore::new(
            self.clone(),
            group,
            opts,
            consumer,
            Seat {
                lossy,
                gate,
                start,
                history_end,
                slots,
                log: durable.map(|(log, _)| LogSource::new(log)),
            },
        ));
        if let Some(c) = &resume {
            sub.resume_from(c);
        }
        if let Some(r) = self.relay_of(group) {
            sub.set_relay(Some(r));
        }
        subs.push(sub.clone());
        Ok(sub)
    }

    /// The first sequence a new subscription delivers, given the next
    /// claim `end`: `end` for `latest`; the oldest message held for
    /// `earliest` (the oldest in the ring, or in a durable topic's `log`);
    /// for `start_at_id` that id's sequence (the oldest held if it is gone;
    /// past `end` is refused); for `start_at_time` the first message held
    /// published at or after that time, looked for in the log before the
    /// ring (or `end`).
    fn start_position(&self, opts: &SubOptions, end: u64, log: Option<&Mutex<Log>>) -> Result<u64> {
        let ring_oldest = end.saturating_sub(self.ring.capacity());
        let oldest = match log {
            Some(l) => l.lock().unwrap_or_else(|e| e.into_inner()).first_id(),
            None => ring_oldest,
        };
        if let Some(id) = opts.start_at_id {
            if id > end {
                return Err(Error::invalid(format!(
                    "start_at_id {id} is past the next id {end} of topic {:?}",
                    self.name
                )));
            }
            return Ok(id.max(oldest));
        }
        if let Some(t) = opts.start_at_time {
            let t = t
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos().min(i64::MAX as u128) as i64)
                .unwrap_or(0);
            let mut ring_from = ring_oldest;
            if let Some(log) = log {
                let written = self.journal_written();
                if let Some(id) = self.first_logged_at_or_after(log, t, oldest, written)? {
                    return Ok(id);
                }
                ring_from = ring_from.max(written);
            }
            return Ok(self.first_published_at_or_after(t, ring_from, end));
        }
        Ok(match opts.start {
            StartAt::Latest => end,
            StartAt::Earliest => oldest,
        })
    }

    /// The first message of `log` with an id in `from..written` published
    /// at or after `t_ns`, if any.
    fn first_logged_at_or_after(
        &self,
        log: &Mutex<Log>,
        t_ns: i64,
        from: u64,
        written: u64,
    ) -> Result<Option<u64>> {
        let mut pos = ReadPos::default();
        let mut id = from;
        while id < written {
            match Log::read_from(log, id, &mut pos, &mut Vec::new()) {
                Ok(Some(f)) if f.meta.id >= written => break,
                Ok(Some(f)) if f.meta.timestamp_ns >= t_ns => return Ok(Some(f.meta.id)),
                Ok(Some(f)) => id = f.meta.id + 1,
                Ok(None) => break,
                Err(e) => {
                    return Err(Error::io(format!(
                        "cannot read the log of topic {:?}: {e}",
                        self.name
                    )))
                }
            }
        }
        Ok(None)
    }

    /// The first sequence in `from..end` holding a message published at or
    /// after `t_ns`, or `end`. Reads each slot's metadata seqlock-checked:
    /// a slot a producer is overwriting counts as gone.
    fn first_published_at_or_after(&self, t_ns: i64, from: u64, end: u64) -> u64 {
        let mut scratch = Vec::new();
        (from..end)
            .find(|&seq| {
                if self.ring.peek(seq) != Peek::Ready {
                    return false;
                }
                let meta = self.ring.copy_out(seq, &mut scratch);
                self.ring.still_published(seq) && !meta.is_skip() && meta.timestamp_ns >= t_ns
            })
            .unwrap_or(end)
    }

    pub(crate) fn remove_subscription(&self, sub: &Arc<SubCore>) -> Result<()> {
        if self.is_shut() {
            // The broker closed every subscription already.
            return Err(self.closed_error());
        }
        let mut subs = self.subs.lock().unwrap_or_else(|e| e.into_inner());
        let Some(i) = subs.iter().position(|s| Arc::ptr_eq(s, sub)) else {
            return Err(Error::closed(&format!("subscription {:?}", sub.group)));
        };
        subs.swap_remove(i);
        drop(subs);
        // A durable subscription's position is kept for the next one of
        // its group (the journal checkpoints only registered ones).
        let saved = self
            .log()
            .map_or(Ok(()), |(_, dir)| sub.write_checkpoint(dir));
        self.dropped_gone
            .fetch_add(sub.acct.dropped_total(), Relaxed);
        sub.close();
        saved
    }

    /// Removes a push subscription (the pool has stopped visiting it).
    pub(crate) fn remove_push_subscription(&self, sub: &Arc<SubCore>) -> Result<()> {
        let r = self.remove_subscription(sub);
        if r.is_ok() {
            self.push_subs.fetch_sub(1, AcqRel);
        }
        r
    }

    /// The relay set for `group`, if any.
    fn relay_of(&self, group: &str) -> Option<Relay> {
        let relays = self.relays.lock().unwrap_or_else(|e| e.into_inner());
        relays
            .iter()
            .find(|(g, _)| g == group)
            .map(|(_, r)| r.clone())
    }

    /// Sets (or with `None` clears) the relay of `group`: its subscription
    /// now, and any created later under that name.
    pub(crate) fn set_relay(&self, group: &str, relay: Option<Relay>) {
        // The subscriptions' lock first, as `add_subscription` takes them
        // (it reads the relays while registering): a subscription of this
        // group is either found here or created after, with the new relay.
        let subs = self.subs.lock().unwrap_or_else(|e| e.into_inner());
        {
            let mut relays = self.relays.lock().unwrap_or_else(|e| e.into_inner());
            relays.retain(|(g, _)| g != group);
            if let Some(r) = &relay {
                relays.push((group.to_owned(), r.clone()));
            }
        }
        if let Some(s) = subs.iter().find(|s| s.group == group) {
            s.set_relay(relay);
        }
    }

    pub(crate) fn find_subscription(&self, group: &str) -> Option<Arc<SubCore>> {
        self.subs_snapshot().into_iter().find(|s| s.group == group)
    }
}

impl Topic {
    /// Creates a pull subscription (consumer group) named `group`.
    pub fn subscribe_pull(&self, group: &str, opts: SubOptions) -> Result<PullSubscription> {
        Ok(PullSubscription {
            core: self.core.add_subscription(group, opts, Consumer::Pull)?,
        })
    }

    /// Creates a push subscription: `handler` runs on the broker's pool for
    /// each message; `Ok` acks, `Err` (or a panic) nacks.
    pub fn subscribe<F>(
        &self,
        group: &str,
        opts: SubOptions,
        handler: F,
    ) -> Result<PushSubscription>
    where
        F: Fn(&Message<'_>) -> HandlerResult + Send + Sync + 'static,
    {
        self.subscribe_with(group, opts, Handler::Sync(Box::new(handler)))
    }

    /// Creates a push subscription whose handler finishes later: it gets a
    /// [`Completion`] to complete (from any thread) when done. The message
    /// view is valid during the call only; copy what outlives it.
    pub fn subscribe_async<F>(
        &self,
        group: &str,
        opts: SubOptions,
        handler: F,
    ) -> Result<PushSubscription>
    where
        F: Fn(&Message<'_>, Completion) + Send + Sync + 'static,
    {
        self.subscribe_with(group, opts, Handler::Async(Box::new(handler)))
    }

    fn subscribe_with(
        &self,
        group: &str,
        opts: SubOptions,
        handler: Handler,
    ) -> Result<PushSubscription> {
        let core = self.core.add_subscription(group, opts, Consumer::Push)?;
        let pool = self.core.pool.clone();
        let sub = PushSub::new(core, handler, pool.clone());
        self.core.push_subs.fetch_add(1, AcqRel);
        if !pool.add(sub.clone()) {
            // The broker closed after the subscription was added: its
            // topic's shut_down closes it.
            return Err(self.core.closed_error());
        }
        Ok(PushSubscription::new(sub))
    }

    /// Relays the settles of group `group` (its subscription now, and one
    /// created later under that name) to `relay`, which takes over its
    /// retries: see [`Outcome`](crate::Outcome). For bridges that import
    /// messages from a system that redelivers them itself.
    pub fn relay_settles(&self, group: &str, relay: Relay) -> Result<()> {
        validate_name("group", group)?;
        if self.core.is_shut() {
            return Err(self.core.closed_error());
        }
        self.core.set_relay(group, Some(relay));
        Ok(())
    }

    /// Stops relaying group `group`'s settles: it retries by itself again.
    pub fn stop_relaying(&self, group: &str) {
        self.core.set_relay(group, None);
    }

    /// The existing pull subscription `group`, for another consumer of it.
    pub fn pull_subscription(&self, group: &str) -> Result<PullSubscription> {
        match self.core.find_subscription(group) {
            Some(core) if !core.is_push() => Ok(PullSubscription { core }),
            Some(_) => Err(Error::invalid(format!(
                "subscription {group:?} of topic {:?} is a push subscription",
                self.core.name
            ))),
            None => Err(Error::new(
                ErrorKind::NotFound,
                format!("no subscription {group:?} on topic {:?}", self.core.name),
            )),
        }
    }
}
