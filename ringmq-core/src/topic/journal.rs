//! A durable topic's journal: the thread that appends every published
//! message to the topic's log, fsyncs it under the topic's `fsync` policy,
//! and checkpoints the topic's subscriptions.
//!
//! Protocol:
//! - The journal holds a gate in the topic's sequencer, taken before the
//!   first publish, so producers never overwrite a slot it has not
//!   appended; it is the only gate of a durable topic (its subscriptions
//!   copy messages out of the ring and read older ones from the log, so a
//!   slow or absent consumer never holds producers back).
//! - The thread follows the ring in sequence order: it takes the run of
//!   published slots at its cursor, appends one frame per message (skip
//!   slots have none; the frame's id is the sequence), writes them with one
//!   `pwrite`, moves its gate past them (room for producers) and `written`
//!   (readable from the log). Then, by policy: `always` fsyncs after each
//!   message, `batch` after each run (publishes that meet in one run share
//!   that fsync: group commit), `interval` when `fsync_interval` has passed,
//!   `never` not at all. `synced` moves past what is durable, and waiting
//!   publishers are woken.
//! - `always` and `batch` publishes wait until `synced` passes their
//!   sequence ([`Journal::wait_synced`]); the others return at once.
//! - Every `fsync_interval` the thread checkpoints the topic's
//!   subscriptions (each one's file is rewritten only when it changed),
//!   after the log is fsynced, so a checkpoint never names a message the
//!   log might lose.
//! - An I/O error stops the journal for good: it is kept, publishes answer
//!   it (`Io`), and waiting publishers are woken with it.
//! - Stopping (the topic shuts down) appends and fsyncs everything
//!   published, writes every checkpoint, and joins the thread.

use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;

use super::TopicCore;
use crate::clock::{dur_ns, mono_ns, realtime_ns};
use crate::dedupe::DedupeWindow;
use crate::durable::frame::FrameMeta;
use crate::durable::log::{Log, ReadPos};
use crate::error::{Error, Result};
use crate::options::Fsync;
use crate::ring::Peek;
use crate::sync::{AtomicBool, AtomicU64, Mutex, Ordering::*};
use crate::wait::WaitQueue;

/// Most messages appended in one run before the gate moves.
const MAX_RUN: u64 = 4096;

pub(crate) struct Journal {
    pub(crate) log: Arc<Mutex<Log>>,
    pub(crate) dir: PathBuf,
    policy: Fsync,
    interval_ns: u64,
    gate: usize,
    /// Sequences below this are in the log's files (readable).
    written: AtomicU64,
    /// Sequences below this are durable under the policy.
    synced: AtomicU64,
    synced_waiters: WaitQueue,
    failure: Mutex<Option<String>>,
    failed: AtomicBool,
    /// The log is at `max_bytes` with messages subscriptions still need:
    /// publishes wait or are refused (see `retention`).
    pub(super) retention_full: AtomicBool,
    stop: AtomicBool,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Journal {
    pub(crate) fn new(
        log: Log,
        dir: PathBuf,
        policy: Fsync,
        interval: std::time::Duration,
        gate: usize,
    ) -> Journal {
        let next = log.next_id();
        // A log damaged before its end is read only: publishes answer why.
        let damaged = log.read_only().map(|c| {
            format!(
                "{c}; the topic is read only up to there (open the broker with repair to cut the log there)"
            )
        });
        Journal {
            log: Arc::new(Mutex::new(log)),
            dir,
            policy,
            interval_ns: dur_ns(interval).max(1),
            gate,
            written: AtomicU64::new(next),
            synced: AtomicU64::new(next),
            synced_waiters: WaitQueue::default(),
            failed: AtomicBool::new(damaged.is_some()),
            retention_full: AtomicBool::new(false),
            failure: Mutex::new(damaged),
            stop: AtomicBool::new(false),
            thread: Mutex::new(None),
        }
    }

    /// Starts the journal's thread for `topic`.
    pub(crate) fn start(topic: &Arc<TopicCore>) -> Result<()> {
        let Some(j) = topic.journal.as_ref() else {
            return Ok(());
        };
        let t = topic.clone();
        let handle = std::thread::Builder::new()
            .name(format!(
                "ringmq-log-{}",
                topic.name.chars().take(20).collect::<String>()
            ))
            .spawn(move || run(&t))
            .map_err(|e| Error::io(format!("cannot start the journal thread: {e}")))?;
        *j.thread.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
        Ok(())
    }

    /// Sequences below this are readable from the log.
    pub(crate) fn written(&self) -> u64 {
        self.written.load(Acquire)
    }

    /// The error that stopped the journal, if one did.
    pub(crate) fn failure(&self) -> Option<Error> {
        if !self.failed.load(Acquire) {
            return None;
        }
        let f = self.failure.lock().unwrap_or_else(|e| e.into_inner());
        Some(Error::io(f.clone().unwrap_or_default()))
    }

    /// Does a publish wait for its fsync?
    pub(crate) fn publish_waits(&self) -> bool {
        self.policy.publish_waits()
    }

    /// Waits until sequence `seq` is durable (or the journal failed).
    pub(crate) fn wait_synced(&self, seq: u64) -> Result<()> {
        self.synced_waiters.wait_until(None, None, || {
            self.synced.load(Acquire) > seq || self.failed.load(Acquire)
        });
        if self.synced.load(Acquire) > seq {
            return Ok(());
        }
        Err(self
            .failure()
            .unwrap_or_else(|| Error::io("the journal stopped")))
    }

    fn fail(&self, topic: &TopicCore, e: impl std::fmt::Display) {
        *self.failure.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(format!("the log of topic {:?} failed: {e}", topic.name));
        self.failed.store(true, Release);
        self.synced_waiters.notify();
        topic.producers.notify();
    }

    /// Appends and fsyncs what was published, checkpoints, and joins the
    /// thread. Idempotent.
    pub(crate) fn stop(&self, topic: &TopicCore) {
        self.stop.store(true, Release);
        topic.consumers.notify();
        let handle = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(h) = handle {
            if h.thread().id() != std::thread::current().id() {
                let _ = h.join();
            }
        }
    }

    /// Remembers in `dedupe` the msg_ids of the log's newest messages (at
    /// most `max`) still within the de-duplication window, so that a
    /// publish retried across a restart is still known.
    pub(crate) fn remember_recent_ids(
        &self,
        dedupe: &mut DedupeWindow,
        window_ns: u64,
        max: usize,
    ) {
        let (first, next) = {
            let l = self.log.lock().unwrap_or_else(|e| e.into_inner());
            (l.first_id(), l.next_id())
        };
        let (mono_now, wall_now) = (mono_ns(), realtime_ns());
        let mut pos = ReadPos::default();
        let mut id = next.saturating_sub(max as u64).max(first);
        while let Ok(Some(f)) = Log::read_from(&self.log, id, &mut pos, &mut Vec::new()) {
            id = f.meta.id + 1;
            let age = wall_now.saturating_sub(f.meta.timestamp_ns).max(0) as u64;
            if age >= window_ns {
                continue;
            }
            if let (Some(msg_id), _) = crate::headers::decode(f.ext()) {
                let _ = dedupe.insert(msg_id, f.meta.id, mono_now.saturating_sub(age));
            }
        }
    }

    /// Is the log past the topic's `max_bytes`?
    fn over_max_bytes(&self, topic: &TopicCore) -> bool {
        let max = topic.options().max_bytes as u64;
        max > 0 && self.log.lock().unwrap_or_else(|e| e.into_inner()).bytes() > max
    }

    /// Is the log full (see `retention`)? Publishes wait or are refused.
    pub(crate) fn is_full(&self) -> bool {
        self.retention_full.load(Acquire)
    }

    fn sync_log(&self) -> std::io::Result<()> {
        let file = {
            let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
            log.flush()?;
            log.active_file()
        };
        file.sync_data()
    }
}

/// The journal's thread.
fn run(topic: &Arc<TopicCore>) {
    let Some(j) = topic.journal.as_ref() else {
        return;
    };
    let ring = &topic.ring;
    let mut next = j.written.load(Acquire);
    let mut last_sync = mono_ns();
    let mut last_checkpoint = mono_ns();
    let mut unsynced = false;
    loop {
        let mut n = 0;
        while n < MAX_RUN && ring.peek(next + n) == Peek::Ready {
            n += 1;
        }
        if n > 0 {
            if let Err(e) = append_run(topic, j, next, n) {
                return j.fail(topic, e);
            }
            next += n;
            topic.seq.advance(j.gate, next);
            j.written.store(next, Release);
            topic.producers.notify();
            match j.policy {
                // Each message was fsynced as it was appended.
                Fsync::Always => j.synced.store(next, Release),
                Fsync::Batch => {
                    if let Err(e) = j.sync_log() {
                        return j.fail(topic, e);
                    }
                    j.synced.store(next, Release);
                    last_sync = mono_ns();
                }
                Fsync::Interval => unsynced = true,
                Fsync::Never => j.synced.store(next, Release),
            }
            j.synced_waiters.notify();
            // A consumer reading the log may wait for what was just written.
            topic.wake_consumers();
            if j.over_max_bytes(topic) {
                if let Err(e) = super::retention::apply(topic, j) {
                    return j.fail(topic, e);
                }
            }
        }
        let now = mono_ns();
        if unsynced && now.saturating_sub(last_sync) >= j.interval_ns {
            if let Err(e) = j.sync_log() {
                return j.fail(topic, e);
            }
            j.synced.store(next, Release);
            last_sync = now;
            unsynced = false;
        }
        if now.saturating_sub(last_checkpoint) >= j.interval_ns {
            if let Err(e) = checkpoint_all(topic, j, &mut unsynced, next) {
                return j.fail(topic, e);
            }
            if let Err(e) = super::retention::apply(topic, j) {
                return j.fail(topic, e);
            }
            last_checkpoint = mono_ns();
        }
        if n == 0 {
            if j.stop.load(Acquire) && ring.peek(next) != Peek::Ready {
                break;
            }
            let mut due = last_checkpoint;
            if unsynced {
                due = due.min(last_sync);
            }
            let deadline = due.saturating_add(j.interval_ns);
            topic.consumers.wait_until(Some(deadline), None, || {
                j.stop.load(Acquire) || ring.peek(next) == Peek::Ready
            });
        }
    }
    // Stopping: make everything durable, then checkpoint.
    if let Err(e) = j.sync_log() {
        return j.fail(topic, e);
    }
    j.synced.store(next, Release);
    j.synced_waiters.notify();
    let mut unsynced = false;
    if let Err(e) = checkpoint_all(topic, j, &mut unsynced, next) {
        j.fail(topic, e);
    }
}

/// Appends sequences `first..first + n` (all published) to the log.
fn append_run(topic: &TopicCore, j: &Journal, first: u64, n: u64) -> std::io::Result<()> {
    let ring = &topic.ring;
    let mut log = j.log.lock().unwrap_or_else(|e| e.into_inner());
    // Monotonic expiry times become wall-clock ones in the log.
    let (mono_now, wall_now) = (mono_ns(), realtime_ns());
    for seq in first..first + n {
        let meta = ring.meta(seq);
        if meta.is_skip() {
            continue;
        }
        // SAFETY: `seq` is published (peeked Ready on this thread) and
        // under the journal's gate, which has not moved past it, so no
        // producer can overwrite it while these borrows live.
        let (payload, ext) = unsafe {
            (
                ring.payload(seq, meta.len as usize),
                ring.ext(seq, meta.ext_len as usize),
            )
        };
        let expires_ns = if meta.expires_ns == 0 {
            0
        } else {
            (wall_now as u64)
                .saturating_add(meta.expires_ns.saturating_sub(mono_now))
                .max(1)
        };
        let fm = FrameMeta {
            id: seq,
            key: meta.key,
            timestamp_ns: meta.timestamp_ns,
            attempt: meta.attempt_base,
            expires_ns,
            flags: 0,
        };
        log.append(&fm, ext, payload)?;
        if j.policy == Fsync::Always {
            log.sync()?;
        }
    }
    log.flush()
}

/// Checkpoints every subscription of the topic, after making the log
/// durable up to `next` (a checkpoint must not name what the log could
/// still lose; under `never` nothing is promised, and recovery clamps a
/// checkpoint to the log it finds).
fn checkpoint_all(
    topic: &TopicCore,
    j: &Journal,
    unsynced: &mut bool,
    next: u64,
) -> std::result::Result<(), String> {
    let subs = topic.subs_snapshot();
    if subs.is_empty() {
        return Ok(());
    }
    if *unsynced && j.policy != Fsync::Never {
        j.sync_log().map_err(|e| e.to_string())?;
        j.synced.store(next, Release);
        j.synced_waiters.notify();
        *unsynced = false;
    }
    for s in subs {
        s.write_checkpoint(&j.dir)
            .map_err(|e| e.message().to_owned())?;
    }
    Ok(())
}
