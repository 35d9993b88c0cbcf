//! Dead-letter notes: why each dead letter was dead-lettered, and by which
//! consumer group, kept by the dead-letter topic beside its ring.
//!
//! A dead-letter topic has a side table of `capacity` note slots, one per
//! ring slot (`seq & mask`). Each holds the sequence its note belongs to and
//! the note, an immutable shared [`DeadLetterNote`]. The ring itself, and
//! every publish, poll and ack of an ordinary topic, never look at it.
//!
//! Protocol:
//! - The publisher of a dead letter claims its sequence, stores the note for
//!   it ([`NoteTable::put`]) and only then writes and publishes the ring
//!   slot. The note slot's lock is released before the slot's Release
//!   stamp, so a reader that saw the message published (Acquire) and then
//!   takes the lock sees the note.
//! - A note slot only moves forward: a note for an older sequence never
//!   replaces one for a newer sequence (two publishers of one slot index,
//!   a lap apart, can race only when no gated subscription holds the ring).
//! - A message published by other means (an ordinary publish into a
//!   dead-letter topic) writes no note; the note slot then holds another
//!   sequence, and [`NoteTable::get`] answers none.
//! - While a gated subscription has a sequence delivered and unsettled, no
//!   publisher can claim the next lap of that slot, so the slot's note stays
//!   as it is: a note read then is valid, and stays in its slot, as long as
//!   the payload. Deliveries keep a reference of their own; copies into a
//!   retry store (a nack, an ack timeout, a lossy subscription) carry their
//!   note with them.
//!
//! The text of a note lives in one NUL-terminated buffer,
//! `reason \0 group \0`, so that the C API can hand out both as C strings.

use std::sync::Arc;

use crate::sync::{Mutex, MutexGuard};

/// Why a message was dead-lettered, and which consumer group gave up on it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct DeadLetterNote {
    /// `reason \0 group \0`.
    text: Box<str>,
    reason_len: usize,
}

impl DeadLetterNote {
    pub(crate) fn new(reason: &str, group: &str) -> DeadLetterNote {
        let mut text = String::with_capacity(reason.len() + group.len() + 2);
        text.push_str(reason);
        text.push('\0');
        text.push_str(group);
        text.push('\0');
        DeadLetterNote {
            text: text.into_boxed_str(),
            reason_len: reason.len(),
        }
    }

    /// The failure that sent the message to the dead letters (followed in
    /// memory by a NUL).
    pub(crate) fn reason(&self) -> &str {
        &self.text[..self.reason_len]
    }

    /// The consumer group that dead-lettered it (followed in memory by a
    /// NUL).
    pub(crate) fn group(&self) -> &str {
        &self.text[self.reason_len + 1..self.text.len() - 1]
    }
}

#[derive(Default)]
struct NoteSlot {
    /// `seq + 1` of the note below; 0 before the first.
    seq_plus_one: u64,
    note: Option<Arc<DeadLetterNote>>,
}

/// A later lap has written the note slot of the sequence asked for: its
/// message is being (or has been) overwritten.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Lapped;

/// The note slots of a dead-letter topic, indexed like its ring.
pub(crate) struct NoteTable {
    slots: Box<[Mutex<NoteSlot>]>,
    mask: u64,
}

impl NoteTable {
    /// A table for a ring of `capacity` slots (a power of two).
    pub(crate) fn new(capacity: usize) -> NoteTable {
        assert!(capacity.is_power_of_two());
        NoteTable {
            slots: (0..capacity)
                .map(|_| Mutex::new(NoteSlot::default()))
                .collect(),
            mask: capacity as u64 - 1,
        }
    }

    fn slot(&self, seq: u64) -> MutexGuard<'_, NoteSlot> {
        self.slots[(seq & self.mask) as usize]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `note` for claimed, not yet published sequence `seq`.
    pub(crate) fn put(&self, seq: u64, note: Arc<DeadLetterNote>) {
        let mut s = self.slot(seq);
        if s.seq_plus_one <= seq + 1 {
            s.seq_plus_one = seq + 1;
            s.note = Some(note);
        }
    }

    /// The note of published sequence `seq`, if it has one; `Lapped` if a
    /// later lap already wrote the slot (only possible when no gated
    /// subscription holds `seq`).
    pub(crate) fn get(&self, seq: u64) -> Result<Option<Arc<DeadLetterNote>>, Lapped> {
        let s = self.slot(seq);
        match s.seq_plus_one.cmp(&(seq + 1)) {
            std::cmp::Ordering::Equal => Ok(s.note.clone()),
            std::cmp::Ordering::Less => Ok(None),
            std::cmp::Ordering::Greater => Err(Lapped),
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_note_splits_into_reason_and_group_each_nul_terminated() {
        let n = DeadLetterNote::new("failed 4 deliveries (max_attempts 4): nacked", "billing");
        assert_eq!(n.reason(), "failed 4 deliveries (max_attempts 4): nacked");
        assert_eq!(n.group(), "billing");
        assert_eq!(
            &n.text.as_bytes()[n.reason().len()..][..1],
            b"\0",
            "a C string"
        );
        assert!(n.text.ends_with("billing\0"));
        let empty = DeadLetterNote::new("", "");
        assert_eq!((empty.reason(), empty.group()), ("", ""));
    }

    #[test]
    fn notes_are_validated_by_sequence_and_only_move_forward() {
        let t = NoteTable::new(4);
        assert_eq!(t.get(1), Ok(None), "never written");
        t.put(1, Arc::new(DeadLetterNote::new("termed", "a")));
        assert_eq!(t.get(1).unwrap().unwrap().group(), "a");
        assert_eq!(t.get(9), Ok(None), "a later lap without a note of its own");
        t.put(5, Arc::new(DeadLetterNote::new("nacked", "b")));
        assert_eq!(t.get(1), Err(Lapped));
        t.put(1, Arc::new(DeadLetterNote::new("late", "c")));
        assert_eq!(
            t.get(5).unwrap().unwrap().reason(),
            "nacked",
            "never backwards"
        );
    }
}
