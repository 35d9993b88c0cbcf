//! The ring: `capacity` pre-allocated slots, each a small header and
//! `slot_size` payload bytes, all in one allocation made at creation.
//!
//! Every slot starts with a `stamp` that says which sequence it holds and
//! whether that sequence is being written or is published:
//!
//! | stamp        | meaning                                   |
//! |--------------|-------------------------------------------|
//! | 0            | never written                             |
//! | 2·seq + 2    | sequence `seq` is published (readable)    |
//! | 2·seq + 3    | sequence `seq` is being written            |
//!
//! A producer that claimed `seq` (see [`crate::sequence`]) first waits until
//! the slot holds the previous lap's sequence published (`seq - capacity`,
//! or 0 on the first lap), so two producers never write one slot; gating makes
//! that wait empty unless producers are ungated (drop_oldest). It then stores
//! the writing stamp, writes the header and payload words with relaxed
//! atomic stores, and stores the published stamp with Release. A reader that
//! loads the published stamp with Acquire sees the whole message.
//!
//! Beside the slots, a ring may have an extension area of `ext_bytes` per
//! slot, a separate allocation for what some messages carry besides their
//! payload (headers and a message id, see `headers`). It is written only for
//! messages that have an extension, so a topic whose messages carry none
//! never touches, and so never pays for, its pages.
//!
//! Payload words are atomics so that a lossy reader can copy a slot that a
//! producer may be overwriting (seqlock: stamp, copy, fence, stamp again)
//! without a data race; a gated reader instead borrows the bytes in place,
//! since no producer can touch the slot before it settles.

use crate::sync::{fence, spin_loop, AtomicU64, Ordering};

/// Header words before the payload of each slot.
const STAMP: usize = 0;
const ID: usize = 1;
const KEY: usize = 2;
const TIMESTAMP: usize = 3;
/// `len` in the low 32 bits, the attempt base (attempts before this topic,
/// for dead letters) in the high 32.
const META: usize = 4;
/// `ext_len` in the low 32 bits, `flags` in the high 32.
const EXT: usize = 5;
/// `expires_ns`.
const EXPIRES: usize = 6;
const HEADER_WORDS: usize = 7;
/// Words in a cache line. Each slot starts a line and fills whole lines, so
/// no line holds parts of two slots: a producer writing the slot after the
/// one a consumer is reading does not take that line from it (64 B
/// messages measured 20-50 % faster between two threads so).
const LINE_WORDS: usize = 8;

/// `SlotMeta::flags`: the slot holds no message, only a used-up sequence
/// number (a delayed message's id, kept for it while it waits outside the
/// ring, or a duplicate that lost a race); consumers pass over it.
pub const FLAG_SKIP: u32 = 1;
/// `SlotMeta::flags`, on a copy outside the ring only: the message expired
/// and is routed as expired (counted so, not as a dead letter).
pub const FLAG_EXPIRED: u32 = 2;
/// `SlotMeta::flags`, on a copy outside the ring only: the message was
/// parked for its key and was handed a place of that key when one freed
/// (see `subscription::keys`).
pub const FLAG_KEY_HELD: u32 = 4;

/// The metadata of one message in a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SlotMeta {
    pub id: u64,
    pub key: u64,
    pub timestamp_ns: i64,
    pub len: u32,
    pub attempt_base: u32,
    /// Bytes of the extension (headers and message id), 0 for none.
    pub ext_len: u32,
    /// `FLAG_*` bits.
    pub flags: u32,
    /// Monotonic time (as the engine's clock reads it) from which the
    /// message is expired and must not be delivered; 0 for never.
    pub expires_ns: u64,
}

impl SlotMeta {
    /// Is this slot a used-up sequence number rather than a message?
    pub fn is_skip(&self) -> bool {
        self.flags & FLAG_SKIP != 0
    }

    /// Has the message expired at monotonic time `now`?
    pub fn expired_at(&self, now: u64) -> bool {
        self.expires_ns != 0 && now >= self.expires_ns
    }
}

/// What a reader found in a slot.
#[derive(Debug, PartialEq, Eq)]
pub enum Peek {
    /// The sequence asked for is published.
    Ready,
    /// Not yet written (or being written) for this sequence.
    NotYet,
    /// A later lap overwrote it (only possible for ungated readers).
    Lapped,
}

/// `n` zeroed atomic words, allocated zeroed (calloc), so that the pages of
/// a large ring stay untouched, and cost no memory, until messages use them.
/// `None` when the memory cannot be had (an error for the caller, not an
/// abort).
#[cfg(not(loom))]
fn zeroed_words(n: usize) -> Option<Box<[AtomicU64]>> {
    if n == 0 {
        return Some(Box::new([]));
    }
    let layout = std::alloc::Layout::array::<AtomicU64>(n).ok()?;
    // SAFETY: the layout's size is not zero (n > 0).
    let p = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<AtomicU64>();
    if p.is_null() {
        return None;
    }
    // SAFETY: `p` is a live allocation of the global allocator with the
    // layout of `[AtomicU64; n]`, properly aligned and all zero, which is a
    // valid AtomicU64; the box takes it over and frees it with that layout.
    Some(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(p, n)) })
}

#[cfg(loom)]
fn zeroed_words(n: usize) -> Option<Box<[AtomicU64]>> {
    Some((0..n).map(|_| AtomicU64::new(0)).collect())
}

pub struct Ring {
    words: Box<[AtomicU64]>,
    stride: usize,
    /// Words before the first slot, so that it starts a cache line.
    offset: usize,
    mask: u64,
    slot_size: usize,
    /// The extension area: `ext_stride` words per slot.
    ext: Box<[AtomicU64]>,
    ext_stride: usize,
    /// The first sequence this ring holds (a durable topic reopened starts
    /// past the ids in its log); slots hold nothing older.
    base: u64,
}

#[inline]
fn published(seq: u64) -> u64 {
    2 * seq + 2
}
#[inline]
fn writing(seq: u64) -> u64 {
    2 * seq + 3
}

impl Ring {
    /// A ring of `capacity` (a power of two, checked by the caller's
    /// validation and asserted here) slots of `slot_size` bytes.
    pub fn new(capacity: usize, slot_size: usize) -> Ring {
        Ring::try_new(capacity, slot_size, 0).expect("memory for the ring")
    }

    /// As [`new`](Self::new), with an extension area of `ext_bytes` per
    /// slot; `None` when its memory cannot be allocated.
    pub fn try_new(capacity: usize, slot_size: usize, ext_bytes: usize) -> Option<Ring> {
        assert!(
            capacity.is_power_of_two(),
            "capacity must be a power of two"
        );
        // Whole cache lines per slot, from a line's start (see `LINE_WORDS`).
        let stride = (HEADER_WORDS + slot_size.div_ceil(8)).next_multiple_of(LINE_WORDS);
        let words = zeroed_words(capacity.checked_mul(stride)?.checked_add(LINE_WORDS - 1)?)?;
        let at = words.as_ptr() as usize;
        let offset = (at.next_multiple_of(LINE_WORDS * 8) - at) / std::mem::size_of::<AtomicU64>();
        let ext_stride = ext_bytes.div_ceil(8);
        let ext = zeroed_words(capacity.checked_mul(ext_stride)?)?;
        Some(Ring {
            words,
            stride,
            offset,
            mask: capacity as u64 - 1,
            slot_size,
            ext,
            ext_stride,
            base: 0,
        })
    }

    /// This ring, starting at sequence `base` rather than 0: the first
    /// lap's writes find their slots empty. Sequences below `base` are
    /// never `Ready`.
    pub fn starting_at(mut self, base: u64) -> Ring {
        self.base = base;
        self
    }

    /// The first sequence this ring holds.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// Bytes of extension each slot can hold.
    pub fn ext_capacity(&self) -> usize {
        self.ext_stride * 8
    }

    pub fn capacity(&self) -> u64 {
        self.mask + 1
    }

    pub fn slot_size(&self) -> usize {
        self.slot_size
    }

    /// Bytes held by the slots (the extension area, touched only by
    /// messages that use it, is not counted).
    pub fn footprint(&self) -> usize {
        self.words.len() * 8
    }

    /// Where `seq`'s slot starts in `words`.
    #[inline]
    fn slot_start(&self, seq: u64) -> usize {
        self.offset + (seq & self.mask) as usize * self.stride
    }

    #[inline]
    fn slot(&self, seq: u64) -> &[AtomicU64] {
        let base = self.slot_start(seq);
        // SAFETY: `seq & mask < capacity` and `offset < LINE_WORDS`, so
        // `base + stride <= capacity * stride + LINE_WORDS - 1`, the length
        // `try_new` gave `words` (checked there, never changed since).
        unsafe { self.words.get_unchecked(base..base + self.stride) }
    }

    /// The header words of `seq`'s slot (every slot has at least
    /// `HEADER_WORDS`). Read on every peek: no bounds check, see `slot`.
    #[inline]
    fn header(&self, seq: u64) -> &[AtomicU64; HEADER_WORDS] {
        let base = self.slot_start(seq);
        debug_assert!(HEADER_WORDS <= self.stride);
        // SAFETY: as in `slot`, `base + stride` is within `words`, and
        // `HEADER_WORDS <= stride` (`try_new` makes the stride hold the
        // header and the payload), so the header's words are in bounds and
        // form an array of `HEADER_WORDS` AtomicU64s.
        unsafe {
            &*self
                .words
                .as_ptr()
                .add(base)
                .cast::<[AtomicU64; HEADER_WORDS]>()
        }
    }

    /// Waits until the slot of `seq` holds stamp `prev` (the previous lap's
    /// sequence, published): only an ungated producer of that lap can still
    /// be writing it.
    #[cold]
    fn wait_for_stamp(stamp: &AtomicU64, prev: u64) {
        let mut spins = 0u32;
        // A stamp beyond `prev` would mean a later lap overtook this claim,
        // which claiming in order rules out.
        while stamp.load(Ordering::Acquire) != prev {
            spins += 1;
            if spins < 64 || cfg!(loom) {
                spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }

    #[inline]
    fn ext_slot(&self, seq: u64) -> &[AtomicU64] {
        let base = (seq & self.mask) as usize * self.ext_stride;
        &self.ext[base..base + self.ext_stride]
    }

    /// Writes `payload` (and `ext`, its extension, empty for none) as
    /// sequence `seq`, which the caller has claimed. Waits (briefly: only
    /// while an ungated producer of the previous lap finishes) for the slot
    /// to be free of the previous lap. `meta.len` and `meta.ext_len` are
    /// taken from `payload` and `ext`.
    #[inline]
    pub fn write(&self, seq: u64, meta: &SlotMeta, payload: &[u8], ext: &[u8]) {
        self.write_slot(seq, meta, payload, ext);
    }

    /// Writes `payloads[i]` as sequence `first + i` (all claimed by the
    /// caller), each with `meta` but for its id, which is its sequence, and
    /// its length; no extension. [`write`](Self::write) for a claimed run,
    /// in one loop: what is the same for every slot is worked out once.
    pub fn write_run<P: AsRef<[u8]>>(&self, first: u64, meta: &SlotMeta, payloads: &[P]) {
        let mut m = *meta;
        for (seq, p) in (first..).zip(payloads) {
            m.id = seq;
            self.write_slot(seq, &m, p.as_ref(), &[]);
        }
    }

    /// The body of [`write`](Self::write), inlined into it and into the
    /// loop of [`write_run`](Self::write_run).
    #[inline(always)]
    fn write_slot(&self, seq: u64, meta: &SlotMeta, payload: &[u8], ext: &[u8]) {
        debug_assert!(payload.len() <= self.slot_size);
        debug_assert!(ext.len() <= self.ext_capacity());
        // One index computation and bounds check for the header and body.
        let (h, body) = self.slot(seq).split_at(HEADER_WORDS);
        let h: &[AtomicU64; HEADER_WORDS] = h.try_into().expect("a slot starts with its header");
        let prev = if seq >= self.base + self.capacity() {
            published(seq - self.capacity())
        } else {
            0
        };
        if h[STAMP].load(Ordering::Acquire) != prev {
            Ring::wait_for_stamp(&h[STAMP], prev);
        }
        h[STAMP].store(writing(seq), Ordering::Relaxed);
        // Orders the writing stamp before the payload stores for seqlock readers.
        fence(Ordering::Release);
        h[ID].store(meta.id, Ordering::Relaxed);
        h[KEY].store(meta.key, Ordering::Relaxed);
        h[TIMESTAMP].store(meta.timestamp_ns as u64, Ordering::Relaxed);
        h[META].store(
            payload.len() as u64 | (meta.attempt_base as u64) << 32,
            Ordering::Relaxed,
        );
        h[EXT].store(
            ext.len() as u64 | (meta.flags as u64) << 32,
            Ordering::Relaxed,
        );
        h[EXPIRES].store(meta.expires_ns, Ordering::Relaxed);
        store_bytes(body, payload);
        if !ext.is_empty() {
            store_bytes(self.ext_slot(seq), ext);
        }
        h[STAMP].store(published(seq), Ordering::Release);
    }

    /// Is `seq` published in its slot? Acquire: a `Ready` answer makes the
    /// slot's contents visible to this thread.
    #[inline]
    pub fn peek(&self, seq: u64) -> Peek {
        let s = self.header(seq)[STAMP].load(Ordering::Acquire);
        if s == published(seq) {
            Peek::Ready
        } else if s > writing(seq) {
            Peek::Lapped
        } else {
            Peek::NotYet
        }
    }

    /// The metadata of `seq`. Only meaningful after `peek` answered `Ready`
    /// and while the slot cannot be overwritten (gated reader), or validated
    /// afterwards with `still_published` (lossy reader).
    #[inline]
    pub fn meta(&self, seq: u64) -> SlotMeta {
        let slot = self.header(seq);
        let m = slot[META].load(Ordering::Relaxed);
        let x = slot[EXT].load(Ordering::Relaxed);
        SlotMeta {
            id: slot[ID].load(Ordering::Relaxed),
            key: slot[KEY].load(Ordering::Relaxed),
            timestamp_ns: slot[TIMESTAMP].load(Ordering::Relaxed) as i64,
            len: (m & 0xffff_ffff) as u32,
            attempt_base: (m >> 32) as u32,
            ext_len: (x & 0xffff_ffff) as u32,
            flags: (x >> 32) as u32,
            expires_ns: slot[EXPIRES].load(Ordering::Relaxed),
        }
    }

    /// The publish timestamp of `seq`: the one word of
    /// [`meta`](Self::meta) an ack needs, under the same conditions.
    #[inline]
    pub fn timestamp(&self, seq: u64) -> i64 {
        self.header(seq)[TIMESTAMP].load(Ordering::Relaxed) as i64
    }

    /// Is `seq` a skip slot, or a message expired at monotonic time `now`?
    /// (The two words of [`meta`](Self::meta) that say so, under the same
    /// conditions.)
    #[inline]
    pub fn passed_over(&self, seq: u64, now: u64) -> bool {
        let h = self.header(seq);
        let flags = (h[EXT].load(Ordering::Relaxed) >> 32) as u32;
        let expires = h[EXPIRES].load(Ordering::Relaxed);
        flags & FLAG_SKIP != 0 || (expires != 0 && now >= expires)
    }

    /// Copies the payload of `seq`, then its extension, into `out` (cleared
    /// first) with atomic loads; safe against a concurrent overwrite, which
    /// `still_published` then detects. Returns the metadata read (its
    /// lengths clamped to what the slot can hold, so a torn read never
    /// overruns): `out` is `len` payload bytes followed by `ext_len` bytes.
    pub fn copy_out(&self, seq: u64, out: &mut Vec<u8>) -> SlotMeta {
        let mut meta = self.meta(seq);
        let len = (meta.len as usize).min(self.slot_size);
        let ext_len = (meta.ext_len as usize).min(self.ext_capacity());
        meta.len = len as u32;
        meta.ext_len = ext_len as u32;
        out.clear();
        load_bytes(&self.slot(seq)[HEADER_WORDS..], len, out);
        if ext_len > 0 {
            load_bytes(self.ext_slot(seq), ext_len, out);
        }
        meta
    }

    /// After a `copy_out`, true if no producer touched the slot meanwhile, so
    /// the copy is whole.
    pub fn still_published(&self, seq: u64) -> bool {
        fence(Ordering::Acquire);
        self.slot(seq)[STAMP].load(Ordering::Relaxed) == published(seq)
    }

    /// The payload of `seq`, borrowed in place.
    ///
    /// # Safety
    /// `seq` must be published (a `Ready` peek on this thread, or one ordered
    /// before this call) and must stay unoverwritten while the returned slice
    /// lives: the caller is a gated subscription that has not settled `seq`.
    #[cfg(not(loom))]
    #[inline(always)]
    pub unsafe fn payload(&self, seq: u64, len: usize) -> &[u8] {
        let body = &self.slot(seq)[HEADER_WORDS..];
        let len = len.min(self.slot_size);
        // SAFETY: the body has at least `slot_size.div_ceil(8)` words, so
        // `len` bytes from its start are in bounds; AtomicU64 has the layout
        // of u64, and no thread writes these words while the caller's
        // contract (published, unsettled) holds, so a plain read is race-free.
        unsafe { std::slice::from_raw_parts(body.as_ptr() as *const u8, len) }
    }

    /// Under loom the words are loom's atomics, which cannot be borrowed as
    /// bytes; the models exercise the ring through `copy_out` instead.
    ///
    /// # Safety
    /// As for the non-loom version.
    #[cfg(loom)]
    pub unsafe fn payload(&self, _seq: u64, _len: usize) -> &[u8] {
        unreachable!("the loom models read payloads with copy_out")
    }

    /// The extension of `seq`, borrowed in place.
    ///
    /// # Safety
    /// As for [`payload`](Self::payload).
    #[cfg(not(loom))]
    #[inline(always)]
    pub unsafe fn ext(&self, seq: u64, len: usize) -> &[u8] {
        if len == 0 {
            return &[];
        }
        let words = self.ext_slot(seq);
        let len = len.min(self.ext_capacity());
        // SAFETY: as for `payload`: `len` bytes lie within the slot's
        // `ext_stride` words, and the slot is published and pinned.
        unsafe { std::slice::from_raw_parts(words.as_ptr() as *const u8, len) }
    }

    /// # Safety
    /// As for the non-loom version.
    #[cfg(loom)]
    pub unsafe fn ext(&self, _seq: u64, _len: usize) -> &[u8] {
        unreachable!("the loom models read extensions with copy_out")
    }
}

/// Stores `bytes` into `words` (which are long enough) with relaxed atomic
/// stores, the last word zero-padded.
#[inline]
fn store_bytes(words: &[AtomicU64], bytes: &[u8]) {
    let full = bytes.len() / 8;
    // One check up front that `words` has room for every word and the tail.
    assert!(
        words.len() >= bytes.len().div_ceil(8),
        "a slot holds its message"
    );
    let src = bytes.as_ptr();
    for i in 0..full {
        // SAFETY: `i < full`, so bytes `8 i .. 8 i + 8` lie within `bytes`;
        // an unaligned read of them as a u64 is valid for any bit pattern.
        let v = unsafe { src.add(i * 8).cast::<u64>().read_unaligned() };
        // SAFETY: `i < full <= words.len()` (the assertion above).
        unsafe { words.get_unchecked(i) }.store(v, Ordering::Relaxed);
    }
    let tail = &bytes[full * 8..];
    if !tail.is_empty() {
        let mut last = [0u8; 8];
        last[..tail.len()].copy_from_slice(tail);
        words[full].store(u64::from_ne_bytes(last), Ordering::Relaxed);
    }
}

/// Appends the first `len` bytes of `words` to `out`, with atomic loads.
fn load_bytes(words: &[AtomicU64], len: usize, out: &mut Vec<u8>) {
    let start = out.len();
    for w in &words[..len.div_ceil(8)] {
        out.extend_from_slice(&w.load(Ordering::Relaxed).to_ne_bytes());
    }
    out.truncate(start + len);
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Every slot starts a cache line and no two slots share one, whatever
    /// the payload size; and each slot still holds its own message.
    #[test]
    fn slots_start_cache_lines_and_share_none() {
        for slot_size in [1, 8, 56, 57, 64, 65, 120, 200, 256, 4096] {
            let ring = Ring::new(16, slot_size);
            assert_eq!(ring.stride % LINE_WORDS, 0, "slot_size {slot_size}");
            assert!(ring.stride >= HEADER_WORDS + slot_size.div_ceil(8));
            for seq in 0..16 {
                let at = ring.header(seq).as_ptr() as usize;
                assert_eq!(at % 64, 0, "slot_size {slot_size}, slot {seq}");
            }
            for seq in 0..32u64 {
                let payload = vec![seq as u8; slot_size];
                let meta = SlotMeta {
                    id: seq,
                    key: seq * 3,
                    ..SlotMeta::default()
                };
                ring.write(seq, &meta, &payload, &[]);
            }
            for seq in 16..32u64 {
                assert_eq!(ring.peek(seq), Peek::Ready);
                let meta = ring.meta(seq);
                assert_eq!(
                    (meta.id, meta.key, meta.len as usize),
                    (seq, seq * 3, slot_size)
                );
                // SAFETY: published above and no writer is left.
                let data = unsafe { ring.payload(seq, slot_size) };
                assert!(
                    data.iter().all(|&b| b == seq as u8),
                    "slot {seq} was overwritten"
                );
            }
        }
    }
}
