//! Retries: the backoff schedule, and the bounded per-subscription store that
//! holds messages outside the ring (waiting for a retry, being redelivered, or
//! copied for a lossy consumer), so a message that waits never holds the ring.
//!
//! The store is a fixed table of entries with a free list and a due-time heap,
//! all sized when the subscription is created; an entry's buffer is allocated
//! on its first use and reused after, so steady state allocates nothing. It is
//! behind a mutex: it serves only the retry and lossy paths, never the
//! publish → poll → ack path of the ring.
//!
//! A delivery made from an entry points into the entry's buffer, so the entry
//! keeps the generations it handed out and that are not yet settled or
//! released) and is reused only when the message is done and nobody holds it.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::Duration;

use crate::notes::DeadLetterNote;
use crate::ring::SlotMeta;

/// The delay before delivery number `attempt + 1` after `attempt` failed
/// deliveries (attempt >= 1): `base * 2^(attempt-1)`, capped at `max`, then
/// "equal jitter": a uniform draw from [d/2, d], so that a burst of failures
/// spreads out but never retries sooner than half the schedule.
pub(crate) fn backoff(base: Duration, max: Duration, attempt: u32, seed: u64) -> Duration {
    let shift = attempt.saturating_sub(1).min(32);
    let d = base.saturating_mul(1u32 << shift.min(31)).min(max);
    let d_ns = d.as_nanos() as u64;
    if d_ns < 2 {
        return d;
    }
    let half = d_ns / 2;
    Duration::from_nanos(half + splitmix(seed) % (d_ns - half + 1))
}

/// A cheap, well-mixed hash for jitter (SplitMix64's finaliser).
pub(crate) fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EntryState {
    Free,
    /// Waiting until `due` (monotonic ns) to be delivered again.
    Waiting {
        due: u64,
    },
    /// Waiting to be moved to the dead-letter topic (it was full).
    ToDeadLetter {
        due: u64,
    },
    /// Handed to a consumer as delivery `gen`; redelivered after `deadline`.
    InFlight {
        deadline: u64,
    },
}

impl EntryState {
    /// Waiting in the store: for a retry, or for room in the dead-letter
    /// topic.
    fn is_waiting(self) -> bool {
        matches!(
            self,
            EntryState::Waiting { .. } | EntryState::ToDeadLetter { .. }
        )
    }
}

struct Entry {
    state: EntryState,
    meta: SlotMeta,
    /// The topic sequence the message was taken at: its id, except for a
    /// delayed message, which keeps its id and falls due at a later
    /// sequence (a durable topic's log is keyed by sequence).
    seq: u64,
    /// Deliveries made so far in this subscription.
    attempts: u32,
    data: Vec<u8>,
    /// Generation of the latest delivery; every delivery gets a new one.
    gen: u32,
    /// The first generation issued for the message now in this entry.
    first_gen: u32,
    /// Generations of deliveries handed out and not yet let go (usually
    /// one; an expired delivery's holder may still hold an older one).
    held: Vec<u32>,
    /// On the free list.
    listed: bool,
    /// Why the message last failed (kept with its dead letter).
    reason: String,
    /// For a message of a dead-letter topic: why it got there, and from
    /// which group (copied with the message, so it stays with its copy).
    note: Option<Arc<DeadLetterNote>>,
}

/// A subscription's store of messages outside the ring. Its fields are its
/// own: callers go through the methods, which keep `waiting`, the free list
/// and the heap consistent with the entries' states.
pub(crate) struct RetryStore {
    entries: Vec<Entry>,
    /// Entries it may make: the subscription's credits.
    capacity: usize,
    free: Vec<u32>,
    /// (time, entry, generation-or-state-marker); stale items are skipped.
    heap: BinaryHeap<Reverse<(u64, u32, u32)>>,
    /// Items the heap may hold before stale ones are dropped in place.
    heap_limit: usize,
    slot_size: usize,
    /// Entries waiting (for a retry or for the dead-letter topic).
    waiting: usize,
}

/// The generation bits a tag carries; the top bit of a held generation
/// marks a raw holder (see `mark_raw`).
const GEN_BITS: u32 = 0x7fff_ffff;
const RAW_HOLD: u32 = 1 << 31;

/// A heap item's marker for a waiting entry (in-flight ones use their gen).
const WAITING: u32 = u32::MAX;

impl RetryStore {
    /// A store of at most `capacity` entries. Entries (and heap room) are
    /// made on first use, so a subscription costs what it holds outside the
    /// ring, not `capacity` entries up front; once warm, nothing allocates.
    pub fn new(capacity: usize, slot_size: usize) -> RetryStore {
        RetryStore {
            entries: Vec::new(),
            capacity,
            free: Vec::new(),
            heap: BinaryHeap::new(),
            heap_limit: capacity * 2 + 8,
            slot_size,
            waiting: 0,
        }
    }

    /// Entries made so far: every tag of this store indexes below it.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(all(test, not(loom)))]
    pub fn used(&self) -> usize {
        self.entries.len() - self.free.len()
    }

    /// Takes a free entry for a message and fills its buffer with `fill`:
    /// the payload, then `meta.ext_len` bytes of extension (headers and
    /// msg_id). The caller holds a credit for it, so there is always one.
    pub fn alloc(&mut self, meta: SlotMeta, attempts: u32, fill: impl FnOnce(&mut Vec<u8>)) -> u32 {
        let idx = match self.free.pop() {
            Some(idx) => idx,
            None => {
                assert!(
                    self.entries.len() < self.capacity,
                    "retry store credit accounting"
                );
                self.entries.push(Entry {
                    state: EntryState::Free,
                    meta: SlotMeta::default(),
                    seq: 0,
                    attempts: 0,
                    data: Vec::new(),
                    gen: 0,
                    first_gen: 0,
                    held: Vec::new(),
                    listed: false,
                    reason: String::new(),
                    note: None,
                });
                (self.entries.len() - 1) as u32
            }
        };
        let slot_size = self.slot_size;
        let e = &mut self.entries[idx as usize];
        e.listed = false;
        if e.data.capacity() == 0 {
            e.data.reserve_exact(slot_size.div_ceil(8) * 8);
        }
        fill(&mut e.data);
        e.meta = meta;
        e.meta.len = e.data.len().saturating_sub(meta.ext_len as usize) as u32;
        e.seq = meta.id;
        e.attempts = attempts;
        e.first_gen = e.gen.wrapping_add(1);
        e.held.clear();
        e.reason.clear();
        e.note = None;
        idx
    }

    /// Messages waiting for a retry.
    pub fn waiting(&self) -> usize {
        self.waiting
    }

    /// The message in entry `idx`: its metadata, deliveries made, payload.
    pub fn message(&self, idx: u32) -> (&SlotMeta, u32, &[u8]) {
        let e = &self.entries[idx as usize];
        (&e.meta, e.attempts, &e.data[..e.meta.len as usize])
    }

    /// The extension (headers and msg_id) of the message in entry `idx`.
    pub fn ext(&self, idx: u32) -> &[u8] {
        let e = &self.entries[idx as usize];
        &e.data[e.meta.len as usize..]
    }

    /// Marks the message in entry `idx` expired (it is routed as such).
    pub fn mark_expired(&mut self, idx: u32) {
        self.entries[idx as usize].meta.flags |= crate::ring::FLAG_EXPIRED;
    }

    pub fn state(&self, idx: u32) -> EntryState {
        self.entries[idx as usize].state
    }

    /// Generation of entry `idx`'s latest delivery.
    pub fn gen(&self, idx: u32) -> u32 {
        self.entries[idx as usize].gen
    }

    /// Replaces the metadata of a just-allocated entry (a lossy copy learns
    /// it while copying); the length stays that of the copied payload.
    pub fn set_meta(&mut self, idx: u32, meta: SlotMeta) {
        let e = &mut self.entries[idx as usize];
        e.meta = SlotMeta {
            len: e.data.len().saturating_sub(meta.ext_len as usize) as u32,
            ..meta
        };
    }

    /// Records the topic sequence entry `idx`'s message was taken at (see
    /// `Entry::seq`; `alloc` takes its id).
    pub fn set_seq(&mut self, idx: u32, seq: u64) {
        self.entries[idx as usize].seq = seq;
    }

    /// (sequence, deliveries so far, due time) of every message the store
    /// holds and has not finished: in flight, waiting for a retry, for the
    /// dead-letter topic or for its key. The due time (monotonic ns) is a
    /// waiting entry's, else 0.
    pub fn unfinished(&self) -> impl Iterator<Item = (u64, u32, u64)> + '_ {
        self.entries
            .iter()
            .filter(|e| e.state != EntryState::Free)
            .map(|e| {
                let due = match e.state {
                    EntryState::Waiting { due } | EntryState::ToDeadLetter { due }
                        if due != u64::MAX =>
                    {
                        due
                    }
                    _ => 0,
                };
                (e.seq, e.attempts, due)
            })
    }

    /// Why the message last failed, if it did.
    pub fn reason(&self, idx: u32) -> Option<&str> {
        let r = &self.entries[idx as usize].reason;
        (!r.is_empty()).then_some(r.as_str())
    }

    /// Keeps `reason` as the message's failure text (reusing the buffer).
    pub fn set_reason(&mut self, idx: u32, reason: &str) {
        let r = &mut self.entries[idx as usize].reason;
        r.clear();
        r.push_str(reason);
    }

    /// The dead-letter note of the message in entry `idx`, if it has one.
    /// It changes only when the entry is reused, so a delivery that holds
    /// the entry may point into it.
    pub fn note(&self, idx: u32) -> Option<&Arc<DeadLetterNote>> {
        self.entries[idx as usize].note.as_ref()
    }

    /// Gives a just-allocated entry its message's dead-letter note.
    pub fn set_note(&mut self, idx: u32, note: Option<Arc<DeadLetterNote>>) {
        self.entries[idx as usize].note = note;
    }

    /// Deliveries made elsewhere (in place, by an ordered push lane) count
    /// as attempts of this entry.
    pub fn raise_attempts(&mut self, idx: u32, attempts: u32) {
        let e = &mut self.entries[idx as usize];
        e.attempts = e.attempts.max(attempts);
    }

    /// The current delivery of entry `idx` was given back unhandled (a
    /// requeue): it does not count as an attempt.
    pub fn uncount_attempt(&mut self, idx: u32) {
        let e = &mut self.entries[idx as usize];
        e.attempts = e.attempts.saturating_sub(1);
    }

    /// Schedules entry `idx` for delivery at `due`.
    pub fn park(&mut self, idx: u32, due: u64) {
        let e = &mut self.entries[idx as usize];
        if !e.state.is_waiting() {
            self.waiting += 1;
        }
        e.state = EntryState::Waiting { due };
        self.push_heap(due, idx, WAITING);
    }

    /// Parks entry `idx` until its key has a place (see
    /// `subscription::keys`): waiting, but never due by time; `park` with a
    /// due time wakes it.
    pub fn park_for_key(&mut self, idx: u32) {
        let e = &mut self.entries[idx as usize];
        if !e.state.is_waiting() {
            self.waiting += 1;
        }
        e.state = EntryState::Waiting { due: u64::MAX };
    }

    /// Sets or clears `FLAG_KEY_HELD` on entry `idx`'s message.
    pub fn set_key_held(&mut self, idx: u32, held: bool) {
        let f = &mut self.entries[idx as usize].meta.flags;
        if held {
            *f |= crate::ring::FLAG_KEY_HELD;
        } else {
            *f &= !crate::ring::FLAG_KEY_HELD;
        }
    }

    /// Schedules entry `idx` for another try at dead-lettering.
    pub fn park_for_dead_letter(&mut self, idx: u32, due: u64) {
        let e = &mut self.entries[idx as usize];
        if !e.state.is_waiting() {
            self.waiting += 1;
        }
        e.state = EntryState::ToDeadLetter { due };
        self.push_heap(due, idx, WAITING);
    }

    /// Marks entry `idx` handed out, returning the delivery's generation.
    pub fn deliver(&mut self, idx: u32, deadline: u64) -> u32 {
        let e = &mut self.entries[idx as usize];
        if e.state.is_waiting() {
            self.waiting -= 1;
        }
        e.gen = e.gen.wrapping_add(1);
        e.attempts += 1;
        e.held.push(e.gen);
        e.state = EntryState::InFlight { deadline };
        let gen = e.gen;
        self.push_heap(deadline, idx, gen);
        gen
    }

    /// Restarts the ack timer of an in-flight entry.
    pub fn extend(&mut self, idx: u32, deadline: u64) {
        let gen = self.entries[idx as usize].gen;
        self.entries[idx as usize].state = EntryState::InFlight { deadline };
        self.push_heap(deadline, idx, gen);
    }

    fn push_heap(&mut self, t: u64, idx: u32, marker: u32) {
        if self.heap.len() >= self.heap_limit {
            // Stale items (settled or extended deliveries) pile up; drop them
            // in place rather than growing.
            let entries = &self.entries;
            self.heap
                .retain(|Reverse((t, i, m))| item_is_live(entries, *t, *i, *m));
        }
        self.heap.push(Reverse((t, idx, marker)));
    }

    /// The earliest time something in the store falls due, if any.
    pub fn next_due(&mut self) -> Option<u64> {
        while let Some(Reverse((t, i, m))) = self.heap.peek().copied() {
            if item_is_live(&self.entries, t, i, m) {
                return Some(t);
            }
            self.heap.pop();
        }
        None
    }

    /// Pops the next entry due at or before `now`.
    pub fn pop_due(&mut self, now: u64) -> Option<u32> {
        let t = self.next_due()?;
        if t > now {
            return None;
        }
        let Reverse((_, i, _)) = self.heap.pop().expect("peeked");
        Some(i)
    }

    /// Ends the message in entry `idx`; the entry is reused once no delivery
    /// holds it. Returns true if the entry became free.
    pub fn finish(&mut self, idx: u32) -> bool {
        let e = &mut self.entries[idx as usize];
        if e.state.is_waiting() {
            self.waiting -= 1;
        }
        e.state = EntryState::Free;
        self.maybe_free(idx)
    }

    /// The holder of delivery `gen` of entry `idx` lets go. Returns
    /// (whether `gen` was held, whether the entry became free): letting go
    /// of a generation not held changes nothing.
    pub fn release(&mut self, idx: u32, gen: u32) -> (bool, bool) {
        let e = &mut self.entries[idx as usize];
        let Some(i) = e
            .held
            .iter()
            .position(|&g| g & 0x7fff_ffff == gen & 0x7fff_ffff)
        else {
            return (false, false);
        };
        e.held.swap_remove(i);
        (true, self.maybe_free(idx))
    }

    /// Delivery `gen` of entry `idx` is now held by raw tag: its holder's
    /// payload is valid only until the delivery expires. False, changing
    /// nothing, if it is not the entry's live delivery (it expired
    /// already): a raw holder would then pin the entry for good.
    pub fn mark_raw(&mut self, idx: u32, gen: u32) -> bool {
        let e = &mut self.entries[idx as usize];
        let live =
            e.gen & GEN_BITS == gen & GEN_BITS && matches!(e.state, EntryState::InFlight { .. });
        match e.held.iter_mut().find(|g| **g & GEN_BITS == gen & GEN_BITS) {
            Some(g) if live => {
                *g |= RAW_HOLD;
                true
            }
            _ => false,
        }
    }

    /// The delivery of entry `idx` expired: raw holders let go of it now.
    pub fn drop_raw_holders(&mut self, idx: u32) {
        self.entries[idx as usize]
            .held
            .retain(|g| g & RAW_HOLD == 0);
    }

    /// Is delivery `gen` of entry `idx` still held?
    pub fn holds(&self, idx: u32, gen: u32) -> bool {
        self.entries[idx as usize]
            .held
            .iter()
            .any(|&g| g & GEN_BITS == gen & GEN_BITS)
    }

    fn maybe_free(&mut self, idx: u32) -> bool {
        let e = &mut self.entries[idx as usize];
        if e.state == EntryState::Free && e.held.is_empty() && !e.listed {
            e.listed = true;
            self.free.push(idx);
            return true;
        }
        false
    }

    /// Does generation `gen` belong to the message now in entry `idx`?
    pub fn owns_gen(&self, idx: u32, gen: u32) -> bool {
        let e = &self.entries[idx as usize];
        gen.wrapping_sub(e.first_gen) <= e.gen.wrapping_sub(e.first_gen)
    }
}

fn item_is_live(entries: &[Entry], t: u64, idx: u32, marker: u32) -> bool {
    let e = &entries[idx as usize];
    match e.state {
        EntryState::Waiting { due } | EntryState::ToDeadLetter { due } => {
            marker == WAITING && due == t
        }
        EntryState::InFlight { deadline } => marker == e.gen && deadline == t,
        EntryState::Free => false,
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_jitters_within_half() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(1);
        for attempt in 1..10u32 {
            let full = (base * 2u32.pow(attempt - 1)).min(max);
            for seed in 0..50 {
                let d = backoff(base, max, attempt, seed);
                assert!(
                    d <= full && d >= full / 2,
                    "attempt {attempt}: {d:?} vs {full:?}"
                );
            }
        }
        let spread: std::collections::HashSet<_> =
            (0..50).map(|s| backoff(base, max, 3, s)).collect();
        assert!(spread.len() > 40, "jitter must spread retries");
    }

    #[test]
    fn store_reuses_entries_only_when_released() {
        let mut s = RetryStore::new(2, 8);
        let a = s.alloc(SlotMeta::default(), 1, |b| b.extend_from_slice(b"abc"));
        let g = s.deliver(a, 10);
        assert!(s.owns_gen(a, g));
        assert!(!s.finish(a), "a holder still points into the buffer");
        assert_eq!(s.used(), 1);
        assert_eq!(s.release(a, g + 1), (false, false), "not a held generation");
        assert_eq!(s.used(), 1);
        assert_eq!(s.release(a, g), (true, true));
        assert_eq!(s.release(a, g), (false, false), "let go once only");
        assert_eq!(s.used(), 0);
        assert_eq!(s.pop_due(100), None, "a freed entry's deadline is stale");
    }
}
