//! The ring's memory as atomic words: allocated zeroed, and bytes stored
//! into and loaded out of them one word at a time (so that a lossy reader's
//! copy of a slot a producer overwrites is a race-free torn read, which its
//! seqlock check then rejects).

use crate::sync::{AtomicU64, Ordering};

/// `n` zeroed atomic words, allocated zeroed (calloc), so that the pages of
/// a large ring stay untouched, and cost no memory, until messages use them.
/// `None` when the memory cannot be had (an error for the caller, not an
/// abort).
#[cfg(not(loom))]
pub(super) fn zeroed_words(n: usize) -> Option<Box<[AtomicU64]>> {
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
pub(super) fn zeroed_words(n: usize) -> Option<Box<[AtomicU64]>> {
    Some((0..n).map(|_| AtomicU64::new(0)).collect())
}

/// The `N` words of `words` from `at`, as an array, without a bounds check
/// (the header and cold words, read on every peek and take).
///
/// # Safety
/// `at + N <= words.len()`.
#[inline(always)]
pub(super) unsafe fn words_at<const N: usize>(words: &[AtomicU64], at: usize) -> &[AtomicU64; N] {
    debug_assert!(at + N <= words.len());
    // SAFETY: the caller's contract puts words `at .. at + N` within the
    // slice, and `N` consecutive AtomicU64s are an `[AtomicU64; N]`.
    unsafe { &*words.as_ptr().add(at).cast::<[AtomicU64; N]>() }
}

/// Stores `bytes` into `words` (which are long enough) with relaxed atomic
/// stores, the last word zero-padded.
#[inline]
pub(super) fn store_bytes(words: &[AtomicU64], bytes: &[u8]) {
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
pub(super) fn load_bytes(words: &[AtomicU64], len: usize, out: &mut Vec<u8>) {
    let start = out.len();
    for w in &words[..len.div_ceil(8)] {
        out.extend_from_slice(&w.load(Ordering::Relaxed).to_ne_bytes());
    }
    out.truncate(start + len);
}
