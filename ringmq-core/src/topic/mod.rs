//! Topics: a named ring with its sequencer, its subscriptions and its
//! dead-letter topic; publishing with the overflow policies.
//!
//! - `registry`: creating, finding and removing subscriptions
//!   (`Topic::subscribe`, `subscribe_pull`, `subscribe_async`);
//! - `link`: what a subscription may ask of its topic.

mod delay;
mod journal;
mod link;
mod publish;
mod registry;
mod retention;

pub use publish::PublishOptions;

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{dur_ns, mono_ns};
use crate::dedupe::DedupeWindow;
use crate::durable::log::Log;
use crate::error::{Error, Result};
use crate::fork::Origin;
use crate::interrupt::Interrupt;
use crate::notes::NoteTable;
use crate::options::TopicOptions;
use crate::pool::Pool;
use crate::ring::Ring;
use crate::sequence::Sequencer;
use crate::stats::{TopicCounters, TopicStats};
use crate::subscription::SubCore;
use crate::sync::{AtomicBool, AtomicU64, AtomicUsize, Mutex, Ordering::*};
use crate::wait::WaitQueue;

pub(crate) struct TopicCore {
    pub(crate) name: String,
    opts: TopicOptions,
    ring: Ring,
    seq: Sequencer,
    counters: TopicCounters,
    /// Woken when messages are published.
    consumers: WaitQueue,
    /// Woken when a subscription settles (room may have appeared) or closes.
    producers: WaitQueue,
    subs: Mutex<Vec<Arc<SubCore>>>,
    dlq: Option<Arc<TopicCore>>,
    is_dlq: bool,
    /// The process the topic was created in (see `fork`).
    origin: Origin,
    /// A dead-letter topic's notes: why, and by which group, each dead
    /// letter was dead-lettered (see `notes`).
    notes: Option<NoteTable>,
    pool: Arc<Pool>,
    /// Push subscriptions on this topic; publishes wake the pool when > 0.
    push_subs: AtomicUsize,
    /// Publishes refused (closing).
    publishing_closed: AtomicBool,
    /// Everything refused (closed).
    shut: AtomicBool,
    /// Drops counted by subscriptions since removed.
    dropped_gone: AtomicU64,
    /// Delayed messages waiting (see `delay`), their wheel, and its next
    /// due time (`u64::MAX` when empty).
    delayed: AtomicUsize,
    wheel: Mutex<delay::Delays>,
    delayed_due: AtomicU64,
    /// The de-duplication window of `msg_id`s.
    dedupe: Mutex<DedupeWindow>,
    /// A durable topic's journal: its log, and the thread that writes it.
    journal: Option<journal::Journal>,
    /// Relays by group name (see `subscription::relay`): given to a
    /// subscription of that group when it is created.
    relays: Mutex<Vec<(String, crate::subscription::Relay)>>,
}

impl TopicCore {
    pub(crate) fn new(
        name: &str,
        opts: TopicOptions,
        dlq: Option<Arc<TopicCore>>,
        is_dlq: bool,
        pool: Arc<Pool>,
        origin: Origin,
        durable: Option<(Log, PathBuf)>,
    ) -> Result<TopicCore> {
        let ext_bytes = crate::headers::ext_capacity(opts.max_header_bytes);
        // A durable topic goes on after the ids in its log.
        let base = durable.as_ref().map_or(0, |(log, _)| log.next_id());
        let ring = Ring::try_new(opts.capacity, opts.slot_size, ext_bytes)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "not enough memory for topic {name:?}: capacity {} x slot_size {}",
                    opts.capacity, opts.slot_size
                ))
            })?
            .starting_at(base);
        let seq = Sequencer::starting_at(opts.capacity as u64, base);
        let journal = match durable {
            None => None,
            Some((log, dir)) => {
                // The journal's gate is taken before anything is published.
                let (gate, _) = seq
                    .register(false)
                    .ok_or_else(|| Error::invalid("no gate left for the journal"))?;
                Some(journal::Journal::new(
                    log,
                    dir,
                    opts.fsync,
                    opts.fsync_interval,
                    gate,
                ))
            }
        };
        let mut dedupe = DedupeWindow::new(dur_ns(opts.dedupe_window), opts.effective_dedupe_max());
        if let Some(j) = &journal {
            j.remember_recent_ids(
                &mut dedupe,
                dur_ns(opts.dedupe_window),
                opts.effective_dedupe_max(),
            );
        }
        Ok(TopicCore {
            name: name.to_owned(),
            ring,
            seq,
            // Allocates its note slots lazily, fallibly (see `notes`):
            // nothing to fail here, nothing held until a dead letter.
            notes: is_dlq.then(|| NoteTable::new(opts.capacity)),
            opts,
            counters: TopicCounters::default(),
            consumers: WaitQueue::default(),
            producers: WaitQueue::default(),
            subs: Mutex::new(Vec::new()),
            dlq,
            is_dlq,
            pool,
            push_subs: AtomicUsize::new(0),
            publishing_closed: AtomicBool::new(false),
            shut: AtomicBool::new(false),
            dropped_gone: AtomicU64::new(0),
            delayed: AtomicUsize::new(0),
            wheel: Mutex::new(delay::Delays::new(mono_ns())),
            delayed_due: AtomicU64::new(u64::MAX),
            dedupe: Mutex::new(dedupe),
            origin,
            journal,
            relays: Mutex::new(Vec::new()),
        })
    }

    /// Starts what runs beside the topic (a durable topic's journal).
    pub(crate) fn start(self: &Arc<Self>) -> Result<()> {
        journal::Journal::start(self)
    }

    pub(crate) fn is_durable(&self) -> bool {
        self.journal.is_some()
    }

    /// Sequences below this are readable from a durable topic's log.
    pub(crate) fn journal_written(&self) -> u64 {
        self.journal.as_ref().map_or(0, |j| j.written())
    }

    /// A durable topic's log and directory.
    pub(crate) fn log(&self) -> Option<(&Arc<Mutex<Log>>, &std::path::Path)> {
        self.journal.as_ref().map(|j| (&j.log, j.dir.as_path()))
    }

    /// Is a durable topic's log full (`max_bytes` reached by messages a
    /// subscription still needs)?
    pub(crate) fn log_full(&self) -> bool {
        self.journal.as_ref().is_some_and(|j| j.is_full())
    }

    /// A publish refused because the journal failed (`Io`).
    fn journal_failure(&self) -> Result<()> {
        match self.journal.as_ref().and_then(|j| j.failure()) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// After publishing `last` (and what came before it): waits until the
    /// journal made it durable, under `always` and `batch`.
    fn wait_durable(&self, last: u64) -> Result<()> {
        match &self.journal {
            Some(j) if j.publish_waits() => j.wait_synced(last),
            _ => Ok(()),
        }
    }

    pub(crate) fn is_shut(&self) -> bool {
        self.shut.load(Acquire) || self.origin.forked()
    }

    /// Publishes are refused: closing, closed, or in a forked child.
    fn refuses_publishes(&self) -> bool {
        self.publishing_closed.load(Acquire) || self.origin.forked()
    }

    /// Is this a forked child of the process that created the topic?
    pub(crate) fn forked(&self) -> bool {
        self.origin.forked()
    }

    /// `Closed`, saying why: the topic closed, or the process forked.
    pub(crate) fn closed_error(&self) -> Error {
        match self.origin.check() {
            Err(e) => e,
            Ok(()) => Error::closed(&format!("topic {:?}", self.name)),
        }
    }

    /// Stops publishes; consumers go on (draining).
    pub(crate) fn close_publishing(&self) {
        self.publishing_closed.store(true, Release);
        self.producers.notify();
    }

    /// Stops everything and wakes every waiter.
    pub(crate) fn shut_down(&self) {
        self.publishing_closed.store(true, Release);
        // The journal writes what was published and checkpoints the
        // subscriptions before they close.
        if let Some(j) = &self.journal {
            j.stop(self);
        }
        self.shut.store(true, Release);
        self.dedupe
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        // The topic lets go of its subscriptions (each holds the topic, so
        // keeping them would keep both alive for good); handles still held
        // by users keep theirs, closed.
        let subs = std::mem::take(&mut *self.subs.lock().unwrap_or_else(|e| e.into_inner()));
        for s in subs {
            self.dropped_gone.fetch_add(s.acct.dropped_total(), Relaxed);
            s.close();
        }
        self.producers.notify();
        self.consumers.notify();
    }

    /// Has every gated subscription publish the acks it left unpublished
    /// (see `subscription::watermark`): for a producer short of room
    /// before it parks or refuses, and for the stats.
    pub(crate) fn flush_gates(&self) {
        if self.forked() {
            // A lock held at fork time would never be released here.
            return;
        }
        for s in self.subs.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            s.flush_gate();
        }
    }

    /// For a producer that found no room and would refuse or give up:
    /// flushes the gates (see [`flush_gates`](Self::flush_gates)) the first
    /// time it is asked, and answers whether it did, so that the caller
    /// claims once more before refusing.
    pub(crate) fn flush_gates_once(&self, flushed: &mut bool) -> bool {
        if std::mem::replace(flushed, true) {
            return false;
        }
        self.flush_gates();
        true
    }

    pub(crate) fn subs_snapshot(&self) -> Vec<Arc<SubCore>> {
        if self.forked() {
            // A lock held at fork time would never be released here.
            return Vec::new();
        }
        self.subs.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Sequences below this are claimed (published or being written).
    /// Messages published: every claimed sequence but those counted in
    /// `unpublished`. A publish counts from its claim, a moment before its
    /// message is written, like a counter added to just after the claim.
    fn published_count(&self) -> u64 {
        let claimed = self.seq.claimed() - self.ring.base();
        claimed.saturating_sub(self.counters.unpublished.load(Acquire))
    }

    pub(crate) fn published_upto(&self) -> u64 {
        self.seq.claimed()
    }

    pub(crate) fn stats(&self) -> TopicStats {
        self.flush_gates();
        let subs = self.subs_snapshot();
        let claimed = self.seq.claimed();
        let dropped: u64 = subs.iter().map(|s| s.acct.dropped_total()).sum::<u64>()
            + self.dropped_gone.load(Relaxed);
        let gated_min = self.seq.min_gate(claimed);
        let (log_bytes, log_segments) = self.log().map_or((0, 0), |(log, _)| {
            let l = log.lock().unwrap_or_else(|e| e.into_inner());
            (l.bytes(), l.segment_count() as u64)
        });
        TopicStats {
            published: self.published_count(),
            rejected: self.counters.rejected.load(Relaxed),
            timed_out: self.counters.timed_out.load(Relaxed),
            dropped,
            depth: claimed.saturating_sub(gated_min),
            capacity: self.ring.capacity(),
            subscriptions: subs.len() as u64,
            delayed: self.delayed_count(),
            duplicates: self.counters.duplicates.load(Relaxed),
            log_bytes,
            log_segments,
        }
    }
}

/// A topic handle: cheap to clone, thread-safe.
#[derive(Clone)]
pub struct Topic {
    pub(crate) core: Arc<TopicCore>,
}

impl Topic {
    pub fn name(&self) -> &str {
        &self.core.name
    }

    pub fn options(&self) -> &TopicOptions {
        &self.core.opts
    }

    /// Publishes with key 0, waiting for room for ever under `block`.
    /// Returns the message id.
    pub fn publish(&self, data: &[u8]) -> Result<u64> {
        self.core.publish_plain(data, 0, None, None)
    }

    /// Publishes with a key and a timeout (`None`: wait for ever; zero: try
    /// once). Under `block` a full ring waits, then answers `Timeout`; under
    /// `reject` it answers `Full` at once; `drop_oldest` never waits.
    pub fn publish_with(&self, data: &[u8], key: u64, timeout: Option<Duration>) -> Result<u64> {
        self.core.publish_plain(data, key, timeout, None)
    }

    /// Publishes with everything a message may ask for (see
    /// [`PublishOptions`]): key, timeout, headers, a de-duplication id, a
    /// delay, a ttl. Returns the message id (for a duplicate `msg_id`, the
    /// first publish's).
    pub fn publish_opts(&self, data: &[u8], opts: &PublishOptions<'_>) -> Result<u64> {
        self.core.publish_one(data, opts, None)
    }

    /// As [`publish_opts`](Self::publish_opts), ending a wait for room
    /// early when `interrupt` is set (see
    /// [`publish_interruptible`](Self::publish_interruptible)).
    pub fn publish_opts_interruptible(
        &self,
        data: &[u8],
        opts: &PublishOptions<'_>,
        interrupt: &Interrupt,
    ) -> Result<u64> {
        self.core.publish_one(data, opts, Some(interrupt))
    }

    /// As [`publish_with`](Self::publish_with), ending a wait for room early
    /// when `interrupt` is set (before or during the wait): that answers
    /// `Interrupted`, publishes nothing and counts nothing. A publish that
    /// finds room does not look at `interrupt`.
    pub fn publish_interruptible(
        &self,
        data: &[u8],
        key: u64,
        timeout: Option<Duration>,
        interrupt: &Interrupt,
    ) -> Result<u64> {
        self.core
            .publish_one(data, &PublishOptions::keyed(key, timeout), Some(interrupt))
    }

    /// [`publish_batch`](Self::publish_batch) with an [`Interrupt`], as
    /// [`publish_interruptible`](Self::publish_interruptible).
    pub fn publish_batch_interruptible<P: AsRef<[u8]>>(
        &self,
        items: &[P],
        key: u64,
        timeout: Option<Duration>,
        interrupt: &Interrupt,
    ) -> Result<Range<u64>> {
        self.core.publish_many(items, key, timeout, Some(interrupt))
    }

    /// Publishes all of `items` in one claim (all or nothing); their ids are
    /// the returned consecutive range.
    pub fn publish_batch<P: AsRef<[u8]>>(
        &self,
        items: &[P],
        key: u64,
        timeout: Option<Duration>,
    ) -> Result<Range<u64>> {
        self.core.publish_many(items, key, timeout, None)
    }

    /// The dead-letter topic `<name>.dlq` (None for a dead-letter topic).
    pub fn dead_letter_topic(&self) -> Option<Topic> {
        self.core.dlq.clone().map(|core| Topic { core })
    }

    pub fn stats(&self) -> TopicStats {
        self.core.stats()
    }

    /// Stats of every subscription, by group name.
    pub fn subscription_stats(&self) -> Vec<(String, crate::SubStats)> {
        self.core
            .subs_snapshot()
            .iter()
            .map(|s| (s.group.clone(), s.stats_snapshot(true)))
            .collect()
    }

    /// Bytes held by the ring's slots.
    pub fn ring_bytes(&self) -> usize {
        self.core.ring.footprint()
    }
}

impl std::fmt::Debug for Topic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Topic")
            .field("name", &self.core.name)
            .field("capacity", &self.core.opts.capacity)
            .field("slot_size", &self.core.opts.slot_size)
            .field("overflow", &self.core.opts.overflow)
            .finish()
    }
}
