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
//!   The chunk holding the note slot is published through a `OnceLock`
//!   (Release on set, Acquire on get), so that reader finds the chunk too.
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
//! The slots are allocated lazily, a chunk at a time on the first note
//! into it, and fallibly: a dead-letter topic that never receives a dead
//! letter holds no note slots, and a chunk that cannot be allocated loses
//! its note (the dead letter still goes; its note reads as none) instead of
//! aborting the process.
//!
//! The text of a note lives in one NUL-terminated buffer,
//! `reason \0 group \0`, so that the C API can hand out both as C strings.

use std::sync::{Arc, OnceLock};

use crate::sync::{AtomicU64, Mutex, MutexGuard, Ordering};

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

/// Note slots per chunk (fewer when the ring is smaller).
const CHUNK_SLOTS: usize = 4096;

type Chunk = Box<[Mutex<NoteSlot>]>;

/// The note slots of a dead-letter topic, indexed like its ring.
///
/// Every topic has a dead-letter topic, and most never see a dead letter,
/// so the slots cost nothing until used: they are allocated in chunks of
/// [`CHUNK_SLOTS`] on the first [`put`](NoteTable::put) into each chunk,
/// fallibly. When an allocation fails the note is not kept (counted in
/// [`lost`](NoteTable::lost)); the dead letter is still published, and its
/// note reads as none, as for a message published by other means. Nothing
/// here aborts on a failed allocation.
pub(crate) struct NoteTable {
    /// One entry per chunk; empty if even this could not be allocated.
    chunks: Box<[OnceLock<Chunk>]>,
    chunk_slots: usize,
    mask: u64,
    /// Notes not kept because their chunk could not be allocated.
    lost: AtomicU64,
}

/// `n` empty note slots, or `None` if the memory is not there.
fn try_chunk(n: usize) -> Option<Chunk> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).ok()?;
    v.extend((0..n).map(|_| Mutex::new(NoteSlot::default())));
    Some(v.into_boxed_slice())
}

impl NoteTable {
    /// A table for a ring of `capacity` slots (a power of two); allocates
    /// only its chunk directory (one word-sized entry per
    /// [`CHUNK_SLOTS`] slots), fallibly.
    pub(crate) fn new(capacity: usize) -> NoteTable {
        assert!(capacity.is_power_of_two());
        let chunk_slots = capacity.min(CHUNK_SLOTS);
        let n = capacity / chunk_slots;
        let mut dir = Vec::new();
        if dir.try_reserve_exact(n).is_ok() {
            dir.extend((0..n).map(|_| OnceLock::new()));
        }
        NoteTable {
            chunks: dir.into_boxed_slice(),
            chunk_slots,
            mask: capacity as u64 - 1,
            lost: AtomicU64::new(0),
        }
    }

    /// The chunk and index within it of `seq`'s note slot.
    fn place(&self, seq: u64) -> (usize, usize) {
        let i = (seq & self.mask) as usize;
        (i / self.chunk_slots, i % self.chunk_slots)
    }

    fn lock(slot: &Mutex<NoteSlot>) -> MutexGuard<'_, NoteSlot> {
        slot.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `note` for claimed, not yet published sequence `seq`. If the
    /// slot's chunk cannot be allocated the note is counted as lost.
    pub(crate) fn put(&self, seq: u64, note: Arc<DeadLetterNote>) {
        let (c, i) = self.place(seq);
        let Some(cell) = self.chunks.get(c) else {
            self.lost.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let chunk = match cell.get() {
            Some(chunk) => chunk,
            None => match try_chunk(self.chunk_slots) {
                // A racing put may have set it first; either one serves.
                Some(fresh) => cell.get_or_init(|| fresh),
                None => {
                    self.lost.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            },
        };
        let mut s = Self::lock(&chunk[i]);
        if s.seq_plus_one <= seq + 1 {
            s.seq_plus_one = seq + 1;
            s.note = Some(note);
        }
    }

    /// The note of published sequence `seq`, if it has one; `Lapped` if a
    /// later lap already wrote the slot (only possible when no gated
    /// subscription holds `seq`).
    pub(crate) fn get(&self, seq: u64) -> Result<Option<Arc<DeadLetterNote>>, Lapped> {
        let (c, i) = self.place(seq);
        // A chunk never allocated holds no note.
        let Some(chunk) = self.chunks.get(c).and_then(OnceLock::get) else {
            return Ok(None);
        };
        let s = Self::lock(&chunk[i]);
        match s.seq_plus_one.cmp(&(seq + 1)) {
            std::cmp::Ordering::Equal => Ok(s.note.clone()),
            std::cmp::Ordering::Less => Ok(None),
            std::cmp::Ordering::Greater => Err(Lapped),
        }
    }

    /// Notes not kept because memory for them could not be allocated.
    #[allow(dead_code)]
    pub(crate) fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }

    /// Chunks allocated so far.
    #[cfg(test)]
    fn chunks_allocated(&self) -> usize {
        self.chunks.iter().filter(|c| c.get().is_some()).count()
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

    #[test]
    fn the_table_allocates_nothing_until_a_note_is_put_and_then_one_chunk() {
        let t = NoteTable::new(1 << 24);
        assert_eq!(t.chunks_allocated(), 0);
        assert_eq!(t.chunks.len(), (1 << 24) / CHUNK_SLOTS);
        assert_eq!(t.get(12345), Ok(None), "no chunk, no note");
        t.put(12345, Arc::new(DeadLetterNote::new("nacked", "g")));
        assert_eq!(t.chunks_allocated(), 1);
        assert_eq!(t.get(12345).unwrap().unwrap().reason(), "nacked");
        assert_eq!(t.get(12346), Ok(None));
        assert_eq!(t.get(12345 + (1 << 24)), Ok(None), "next lap, no note");
        t.put(
            12345 + (1 << 24),
            Arc::new(DeadLetterNote::new("late", "g")),
        );
        assert_eq!(t.get(12345), Err(Lapped));
        assert_eq!(t.chunks_allocated(), 1, "same slot, same chunk");
        t.put(1 << 23, Arc::new(DeadLetterNote::new("x", "g")));
        assert_eq!(t.chunks_allocated(), 2);
        assert_eq!(t.lost(), 0);
    }

    #[test]
    fn a_small_ring_has_one_chunk_of_its_own_size() {
        let t = NoteTable::new(2);
        assert_eq!((t.chunks.len(), t.chunk_slots), (1, 2));
        t.put(3, Arc::new(DeadLetterNote::new("r", "g")));
        assert_eq!(t.get(3).unwrap().unwrap().group(), "g");
        assert_eq!(t.get(1), Err(Lapped));
    }

    #[test]
    fn a_table_without_a_directory_loses_notes_instead_of_aborting() {
        // What `new` leaves when even the directory cannot be allocated.
        let t = NoteTable {
            chunks: Box::new([]),
            chunk_slots: 4,
            mask: 3,
            lost: AtomicU64::new(0),
        };
        t.put(1, Arc::new(DeadLetterNote::new("r", "g")));
        assert_eq!(t.get(1), Ok(None));
        assert_eq!(t.lost(), 1);
    }
}
