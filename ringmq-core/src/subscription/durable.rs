//! A subscription of a durable topic: taking messages from the ring while
//! it holds them and from the topic's log when it does not, its
//! checkpoint, and resuming from one.
//!
//! Protocol and invariants:
//! - A durable topic's subscriptions hold no gate (only the topic's journal
//!   does), so they take messages as a lossy subscription does: copied out
//!   of the ring into the store, then delivered from there. Where a lossy
//!   subscription would skip what a producer overwrote, a durable one reads
//!   it from the log instead; it reads the log too for what lies below the
//!   ring's first sequence (messages from before a restart, or an old start
//!   position). Nothing is ever dropped for being overwritten.
//! - The cursor moves only under the store's lock, so a checkpoint (taken
//!   under that lock) sees every message below the cursor either finished
//!   or in the store: nothing taken is missing from it.
//! - A checkpoint holds the cursor, every unfinished store entry's sequence
//!   and delivery count, and the paused flag (see `durable::checkpoint`).
//!   Resuming puts each listed message back in the store, due at once, with
//!   its count (so `attempt` goes on), and starts the cursor where it was;
//!   a message taken after the last checkpoint is taken again (at least
//!   once, never lost).

use std::path::Path;
use std::sync::Arc;

use super::{Sink, SubCore};
use crate::clock::{mono_ns, realtime_ns};
use crate::durable::checkpoint::{self, Checkpoint, Unfinished};
use crate::durable::log::{Log, ReadPos, StoredFrame};
use crate::error::Result;
use crate::retry::RetryStore;
use crate::ring::{Peek, SlotMeta};
use crate::sync::Mutex;

/// What a durable subscription keeps besides a lossy one's state.
pub(crate) struct LogSource {
    log: Arc<Mutex<Log>>,
    /// Where this subscription's reads of the log left off.
    pos: Mutex<ReadPos>,
    /// The checkpoint last written (rewritten only when it changes).
    last: Mutex<Option<Checkpoint>>,
}

impl LogSource {
    pub(crate) fn new(log: Arc<Mutex<Log>>) -> LogSource {
        LogSource {
            log,
            pos: Mutex::new(ReadPos::default()),
            last: Mutex::new(None),
        }
    }
}

/// A message's metadata as the store keeps it, from its frame (a
/// wall-clock expiry becomes a monotonic one).
fn slot_meta(f: &StoredFrame) -> SlotMeta {
    let expires_ns = match f.meta.expires_ns {
        0 => 0,
        wall => match wall.checked_sub(realtime_ns().max(0) as u64) {
            // Already past: long expired on any clock.
            None | Some(0) => 1,
            Some(left) => mono_ns().saturating_add(left),
        },
    };
    SlotMeta {
        id: f.meta.id,
        key: f.meta.key,
        timestamp_ns: f.meta.timestamp_ns,
        len: f.payload().len() as u32,
        attempt_base: f.meta.attempt,
        ext_len: f.ext_len as u32,
        flags: 0,
        expires_ns,
    }
}

enum Logged {
    /// A message was taken (and delivered if this is true).
    Taken(bool),
    /// Nothing more can be taken now.
    Stop,
}

impl SubCore {
    /// Takes up to `max` deliveries of a durable subscription, from the
    /// ring or from the log (see the module docs).
    pub(super) fn take_durable(
        self: &Arc<Self>,
        max: usize,
        now: u64,
        out: &mut impl Sink,
    ) -> usize {
        let Some(src) = self.log.as_ref() else {
            return 0;
        };
        let ring = self.ring();
        let mut st = self.lock_store();
        let mut got = 0;
        while got < max {
            let cur = self.cursor.next();
            let peek = if cur < ring.base() {
                Peek::Lapped
            } else {
                ring.peek(cur)
            };
            match peek {
                Peek::NotYet => break,
                Peek::Lapped => match self.take_logged(src, &mut st, cur, now, out) {
                    Logged::Taken(delivered) => got += delivered as usize,
                    Logged::Stop => break,
                },
                Peek::Ready => {
                    if self.credits.take(1) == 0 {
                        break;
                    }
                    let Some((idx, note)) = self.copy_slot(&mut st, cur) else {
                        // Overwritten while we copied: the log has it (the
                        // journal's gate had passed it).
                        continue;
                    };
                    // Only takers holding the store's lock move the cursor.
                    self.cursor.set(cur + 1);
                    if self.hand_out_copy(&mut st, idx, note, now, out) {
                        got += 1;
                    }
                }
            }
        }
        self.refresh_due(&mut st);
        got
    }

    /// Takes the first message at or after `cur` from the log.
    fn take_logged(
        self: &Arc<Self>,
        src: &LogSource,
        st: &mut RetryStore,
        cur: u64,
        now: u64,
        out: &mut impl Sink,
    ) -> Logged {
        let written = self.topic.journal_written();
        if cur >= written || self.credits.take(1) == 0 {
            return Logged::Stop;
        }
        let read = {
            let mut pos = src.pos.lock().unwrap_or_else(|e| e.into_inner());
            Log::read_from(&src.log, cur, &mut pos, &mut Vec::new())
        };
        let f = match read {
            Ok(Some(f)) => f,
            Ok(None) => {
                // Every sequence up to what is written was a skip slot.
                self.return_credits(1);
                self.cursor.set(written.max(cur));
                return Logged::Taken(false);
            }
            Err(e) => {
                // Never silent: counted as dropped, and the topic's log
                // reports the damage when it is next opened.
                self.return_credits(1);
                self.acct.dropped(1);
                self.cursor.set(cur + 1);
                let _ = e;
                return Logged::Taken(false);
            }
        };
        self.cursor.set(f.meta.id + 1);
        let meta = slot_meta(&f);
        let idx = st.alloc(meta, 0, |buf| {
            buf.clear();
            buf.extend_from_slice(f.payload());
            buf.extend_from_slice(f.ext());
        });
        st.set_seq(idx, f.meta.id);
        Logged::Taken(self.hand_out_copy(st, idx, None, now, out))
    }

    /// Is there something to take from the log (below the ring, or
    /// overwritten), with a credit for it?
    pub(super) fn log_ready(&self) -> bool {
        if self.log.is_none() || self.credits.available() == 0 {
            return false;
        }
        let cur = self.cursor.next();
        let ring = self.ring();
        cur < self.topic.journal_written() && (cur < ring.base() || ring.peek(cur) == Peek::Lapped)
    }

    /// Where this subscription is in its topic's log: its cursor (the next
    /// id it takes), and the oldest id it still needs (its oldest
    /// unfinished message's, if older than the cursor).
    pub(crate) fn log_position(&self) -> (u64, u64) {
        let st = self.lock_store();
        let cursor = self.cursor.next();
        let oldest = st.unfinished().map(|e| e.0).min().unwrap_or(u64::MAX);
        (cursor, cursor.min(oldest))
    }

    /// Writes this subscription's checkpoint into topic directory `dir`
    /// if it changed since the last one (a subscription of a topic that is
    /// not durable has none).
    pub(crate) fn write_checkpoint(&self, dir: &Path) -> Result<()> {
        let Some(src) = self.log.as_ref() else {
            return Ok(());
        };
        let mut last = src.last.lock().unwrap_or_else(|e| e.into_inner());
        // A closed subscription's last checkpoint was written as it closed
        // (unsubscribe, or the broker's close); what its holders do after
        // that is not its position.
        if self.is_closed() {
            return Ok(());
        }
        let c = {
            let st = self.lock_store();
            let (mono_now, wall_now) = (mono_ns(), realtime_ns());
            let mut entries: Vec<Unfinished> = st
                .unfinished()
                .map(|(id, attempts, due)| Unfinished {
                    id,
                    attempts,
                    // Later than now: kept as a wall-clock time.
                    due_ns: match due.checked_sub(mono_now) {
                        Some(left) if left > 0 && due != 0 => {
                            wall_now.saturating_add(left.min(i64::MAX as u64) as i64)
                        }
                        _ => 0,
                    },
                })
                .collect();
            entries.sort_unstable();
            Checkpoint {
                group: self.group.clone(),
                cursor: self.cursor.next(),
                paused: self.is_paused(),
                entries,
            }
        };
        if last.as_ref() == Some(&c) {
            return Ok(());
        }
        checkpoint::write(dir, &c)?;
        *last = Some(c);
        Ok(())
    }

    /// Puts back the unfinished messages of checkpoint `c` (read from the
    /// log, due at once, keeping their delivery counts) and its paused
    /// flag. Called before the subscription is registered.
    pub(crate) fn resume_from(&self, c: &Checkpoint) {
        let Some(src) = self.log.as_ref() else {
            return;
        };
        if c.paused {
            let _ = self.set_paused(true);
        }
        // Due times are read against the coarse clock (as pollers do), so
        // "at once" is at once for the next poll.
        let (now, wall_now) = (crate::clock::mono_coarse_ns(), realtime_ns());
        let mut st = self.lock_store();
        let mut pos = ReadPos::default();
        for &Unfinished {
            id: seq,
            attempts,
            due_ns,
        } in &c.entries
        {
            let Ok(Some(f)) = Log::read_from(&src.log, seq, &mut pos, &mut Vec::new()) else {
                continue;
            };
            if f.meta.id != seq || self.credits.take(1) == 0 {
                // Gone from the log (retention), or no room left.
                continue;
            }
            let meta = slot_meta(&f);
            let idx = st.alloc(meta, attempts, |buf| {
                buf.clear();
                buf.extend_from_slice(f.payload());
                buf.extend_from_slice(f.ext());
            });
            st.set_seq(idx, seq);
            // A retry keeps its due time; anything else is due at once.
            let left = due_ns.saturating_sub(wall_now).max(0) as u64;
            st.park(idx, now.saturating_add(left));
        }
        *src.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(c.clone());
        self.refresh_due(&mut st);
    }
}
