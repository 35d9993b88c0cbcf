//! The ring: `capacity` pre-allocated slots, each a small header and
//! `slot_size` payload bytes, allocated once at creation.
//!
//! The headers lie apart from the payloads, in one allocation: first every
//! slot's header (four words, two slots a cache line), then every slot's
//! body (its payload, in whole cache lines from a line's start, so no line
//! holds parts of two bodies). A 64 B message so occupies a line and a half
//! (half a line of headers, a line of body), where a header in front of its
//! payload made it two. What only some messages carry, an id other than
//! their sequence, flags, an expiry and an extension's length, lies in a
//! second allocation (the cold words), written only for such a message and
//! read only when its header says it has them.
//!
//! Every header starts with a `stamp` that says which sequence it holds and
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

mod words;

use crate::sync::{fence, spin_loop, AtomicU64, Ordering};
use words::{load_bytes, store_bytes, words_at, zeroed_words};

/// A slot's header words: what every message has and every reader needs.
const STAMP: usize = 0;
const KEY: usize = 1;
const TIMESTAMP: usize = 2;
/// `len` in the low 31 bits, [`COLD`] at bit 31, the attempt base
/// (attempts before this topic, for dead letters) in the high 32.
const META: usize = 3;
const HEADER_WORDS: usize = 4;
/// In `META`: the slot's cold words hold this message's id, extension
/// length, flags and expiry. Without it they are the sequence, 0, 0 and 0.
/// (`len` is at most 2^24, see `options`, so bit 31 is free.)
const COLD: u64 = 1 << 31;
const LEN_MASK: u64 = COLD - 1;
/// A slot's cold words.
const ID: usize = 0;
/// `ext_len` in the low 32 bits, `flags` in the high 32.
const EXT: usize = 1;
/// `expires_ns`.
const EXPIRES: usize = 2;
/// Three words and a pad: two slots' cold words a line, none across two.
const COLD_WORDS: usize = 4;
/// Words in a cache line. Each body starts a line and fills whole lines, so
/// no line holds parts of two bodies: a producer writing the slot after the
/// one a consumer is reading does not take that line from it (64 B
/// messages measured 20-50 % faster between two threads so). Headers are
/// half a line: see `bodies_at`.
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

pub struct Ring {
    /// Every header, then every body; `offset` words of padding first.
    words: Box<[AtomicU64]>,
    /// Words of each body: whole lines.
    stride: usize,
    /// Words before the first header, so that it starts a cache line.
    offset: usize,
    /// Where the first body starts in `words` (a line's start).
    bodies_at: usize,
    /// The cold words: `COLD_WORDS` per slot, a separate allocation touched
    /// only by messages that have them.
    cold: Box<[AtomicU64]>,
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
        // Whole cache lines per body (see `LINE_WORDS`); the headers in
        // whole lines before them, so that the first body starts a line.
        let stride = slot_size.div_ceil(8).next_multiple_of(LINE_WORDS);
        let headers = capacity
            .checked_mul(HEADER_WORDS)?
            .next_multiple_of(LINE_WORDS);
        let words = zeroed_words(
            capacity
                .checked_mul(stride)?
                .checked_add(headers)?
                .checked_add(LINE_WORDS - 1)?,
        )?;
        let at = words.as_ptr() as usize;
        let offset = (at.next_multiple_of(LINE_WORDS * 8) - at) / std::mem::size_of::<AtomicU64>();
        let cold = zeroed_words(capacity.checked_mul(COLD_WORDS)?)?;
        let ext_stride = ext_bytes.div_ceil(8);
        let ext = zeroed_words(capacity.checked_mul(ext_stride)?)?;
        Some(Ring {
            words,
            stride,
            offset,
            bodies_at: offset + headers,
            cold,
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

    /// Bytes held by the slots' headers and bodies (the cold words and the
    /// extension area, touched only by messages that use them, are not
    /// counted).
    pub fn footprint(&self) -> usize {
        self.words.len() * 8
    }

    /// The body (payload words) of `seq`'s slot: `stride` words.
    #[inline]
    fn body(&self, seq: u64) -> &[AtomicU64] {
        let base = self.bodies_at + (seq & self.mask) as usize * self.stride;
        // SAFETY: `seq & mask < capacity` and `bodies_at = offset + headers`
        // with `offset < LINE_WORDS`, so `base + stride <= offset + headers
        // + capacity * stride`, within the length `try_new` gave `words`
        // (checked there, never changed since).
        unsafe { self.words.get_unchecked(base..base + self.stride) }
    }

    /// The header words of `seq`'s slot. Read on every peek: no bounds
    /// check, see `body`.
    #[inline]
    fn header(&self, seq: u64) -> &[AtomicU64; HEADER_WORDS] {
        let base = self.offset + (seq & self.mask) as usize * HEADER_WORDS;
        // SAFETY: `seq & mask < capacity`, so `base + HEADER_WORDS <=
        // offset + capacity * HEADER_WORDS <= bodies_at`, within `words`
        // (see `body`).
        unsafe { words_at(&self.words, base) }
    }

    /// The cold words of `seq`'s slot.
    #[inline]
    fn cold(&self, seq: u64) -> &[AtomicU64; COLD_WORDS] {
        let base = (seq & self.mask) as usize * COLD_WORDS;
        // SAFETY: `seq & mask < capacity` and `cold` has `capacity *
        // COLD_WORDS` words (`try_new`), so `base + COLD_WORDS` is in bounds.
        unsafe { words_at(&self.cold, base) }
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
        let h = self.header(seq);
        let body = self.body(seq);
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
        let cold = meta.id != seq || !ext.is_empty() || meta.flags != 0 || meta.expires_ns != 0;
        h[KEY].store(meta.key, Ordering::Relaxed);
        h[TIMESTAMP].store(meta.timestamp_ns as u64, Ordering::Relaxed);
        h[META].store(
            payload.len() as u64 | if cold { COLD } else { 0 } | (meta.attempt_base as u64) << 32,
            Ordering::Relaxed,
        );
        if cold {
            let c = self.cold(seq);
            c[ID].store(meta.id, Ordering::Relaxed);
            c[EXT].store(
                ext.len() as u64 | (meta.flags as u64) << 32,
                Ordering::Relaxed,
            );
            c[EXPIRES].store(meta.expires_ns, Ordering::Relaxed);
        }
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
        let h = self.header(seq);
        let m = h[META].load(Ordering::Relaxed);
        let mut meta = SlotMeta {
            id: seq,
            key: h[KEY].load(Ordering::Relaxed),
            timestamp_ns: h[TIMESTAMP].load(Ordering::Relaxed) as i64,
            len: (m & LEN_MASK) as u32,
            attempt_base: (m >> 32) as u32,
            ..SlotMeta::default()
        };
        if m & COLD != 0 {
            let c = self.cold(seq);
            let x = c[EXT].load(Ordering::Relaxed);
            meta.id = c[ID].load(Ordering::Relaxed);
            meta.ext_len = (x & 0xffff_ffff) as u32;
            meta.flags = (x >> 32) as u32;
            meta.expires_ns = c[EXPIRES].load(Ordering::Relaxed);
        }
        meta
    }

    /// The publish timestamp of `seq`: the one word of
    /// [`meta`](Self::meta) an ack needs, under the same conditions.
    #[inline]
    pub fn timestamp(&self, seq: u64) -> i64 {
        self.header(seq)[TIMESTAMP].load(Ordering::Relaxed) as i64
    }

    /// Is `seq` a skip slot, or a message expired at monotonic time `now`?
    /// (The words of [`meta`](Self::meta) that say so, under the same
    /// conditions: one, for a message without cold words.)
    #[inline]
    pub fn passed_over(&self, seq: u64, now: u64) -> bool {
        if self.header(seq)[META].load(Ordering::Relaxed) & COLD == 0 {
            return false;
        }
        let c = self.cold(seq);
        // The two fields, judged by `SlotMeta`'s own rules.
        let m = SlotMeta {
            flags: (c[EXT].load(Ordering::Relaxed) >> 32) as u32,
            expires_ns: c[EXPIRES].load(Ordering::Relaxed),
            ..SlotMeta::default()
        };
        m.is_skip() || m.expired_at(now)
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
        load_bytes(self.body(seq), len, out);
        if ext_len > 0 {
            load_bytes(self.ext_slot(seq), ext_len, out);
        }
        meta
    }

    /// After a `copy_out`, true if no producer touched the slot meanwhile, so
    /// the copy is whole.
    pub fn still_published(&self, seq: u64) -> bool {
        fence(Ordering::Acquire);
        self.header(seq)[STAMP].load(Ordering::Relaxed) == published(seq)
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
        let body = self.body(seq);
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

#[cfg(all(test, not(loom)))]
mod tests;
