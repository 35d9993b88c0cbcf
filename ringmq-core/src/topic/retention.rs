//! A durable topic's retention: which of its log's segments may go, and
//! what the topic does when its `max_bytes` is reached by messages a
//! subscription still needs.
//!
//! Rules (run by the journal's thread on each tick, and after an append
//! that took the log past `max_bytes`):
//! - Only the oldest segment is ever removed, whole, never the one being
//!   written, and only while a limit asks for it: the log is over
//!   `max_bytes`, or the segment's newest message is older than `max_age`.
//! - A segment no registered subscription still needs (each one's cursor
//!   and unfinished messages are past it) goes quietly.
//! - One still needed goes anyway when `max_age` asks (its messages have
//!   expired: none would be delivered), and when `max_bytes` asks under the
//!   `drop_oldest` policy. Either way each subscription counts the
//!   messages it had not taken yet as `retention_dropped`: never silent.
//! - Otherwise (`max_bytes`, under `block` or `reject`) the segment stays
//!   and the log is *full*: publishes wait for room (`block`) or answer
//!   `Full` (`reject`) until subscriptions move on. The log may pass
//!   `max_bytes` by what was already published (at most a ring).

use std::sync::Arc;

use super::journal::Journal;
use super::TopicCore;
use crate::clock::{dur_ns, realtime_ns};
use crate::durable::log::{Log, ReadPos};
use crate::options::Overflow;
use crate::subscription::SubCore;
use crate::sync::Ordering::*;

/// Applies the topic's retention (see the module docs). Returns an error
/// text if removing a segment failed.
pub(super) fn apply(topic: &TopicCore, j: &Journal) -> Result<(), String> {
    let opts = topic.options();
    let max_bytes = opts.max_bytes as u64;
    let max_age = dur_ns(opts.max_age);
    if max_bytes == 0 && max_age == 0 {
        return Ok(());
    }
    let subs = topic.subs_snapshot();
    // What each subscription still needs: from its cursor, or its oldest
    // unfinished message if older.
    let needs: Vec<(Arc<SubCore>, u64, u64)> = subs
        .into_iter()
        .map(|s| {
            let (cursor, needed) = s.log_position();
            (s, cursor, needed)
        })
        .collect();
    let min_needed = needs.iter().map(|n| n.2).min().unwrap_or(u64::MAX);
    let mut full = false;
    loop {
        let mut log = j.log.lock().unwrap_or_else(|e| e.into_inner());
        let infos = log.segment_infos();
        if infos.len() < 2 {
            break;
        }
        let oldest = &infos[0];
        let over_bytes = max_bytes > 0 && log.bytes() > max_bytes;
        let too_old = max_age > 0
            && oldest.last_id.is_some()
            && (realtime_ns()
                .saturating_sub(oldest.last_timestamp_ns)
                .max(0) as u64)
                > max_age;
        if !over_bytes && !too_old {
            break;
        }
        let last = oldest.last_id.unwrap_or(oldest.first_id);
        let needed = last >= min_needed;
        if needed && !too_old && opts.overflow != Overflow::DropOldest {
            full = true;
            break;
        }
        if needed {
            // Count, per subscription, what it had not taken.
            drop(log);
            for (s, cursor, _) in &needs {
                if *cursor <= last {
                    let n = count_frames(&j.log, *cursor, last);
                    s.acct.retention_dropped(n);
                }
            }
            log = j.log.lock().unwrap_or_else(|e| e.into_inner());
        }
        let mut first = true;
        log.remove_front(|_, _, _| std::mem::take(&mut first))
            .map_err(|e| e.to_string())?;
    }
    // Waiting producers look again: for room, or to be refused.
    if j.retention_full.swap(full, AcqRel) != full {
        topic.producers.notify();
    }
    Ok(())
}

/// Frames of the log with ids in `from..=last`.
fn count_frames(log: &crate::sync::Mutex<Log>, from: u64, last: u64) -> u64 {
    let mut pos = ReadPos::default();
    let mut id = from;
    let mut n = 0;
    while let Ok(Some(f)) = Log::read_from(log, id, &mut pos, &mut Vec::new()) {
        if f.meta.id > last {
            break;
        }
        n += 1;
        id = f.meta.id + 1;
    }
    n
}
