//! CRC-32C (Castagnoli): reflected polynomial `0x82F63B78`, initial value
//! and final xor `0xFFFFFFFF`; the check value of `b"123456789"` is
//! `0xE3069283`.
//!
//! Two implementations compute the same function: a portable one with
//! slicing-by-8 tables (eight 256-entry tables built at compile time by a
//! `const fn`, eight input bytes per step), and on x86_64 one with the SSE4.2
//! `crc32` instruction. Which one runs is decided once, on the first call,
//! by runtime feature detection, and cached in a static. Under `--cfg loom`
//! only the portable one is built.

/// The reflected Castagnoli polynomial.
const POLY: u32 = 0x82F6_3B78;

/// `TABLES[0]` is the classic byte-at-a-time table; `TABLES[k][b]` is the
/// CRC contribution of byte `b` followed by `k` zero bytes.
static TABLES: [[u32; 256]; 8] = make_tables();

const fn make_tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ POLY } else { c >> 1 };
            bit += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut i = 0;
    while i < 256 {
        let mut k = 1;
        while k < 8 {
            let prev = t[k - 1][i];
            t[k][i] = (prev >> 8) ^ t[0][(prev & 0xFF) as usize];
            k += 1;
        }
        i += 1;
    }
    t
}

/// The CRC-32C of `data`.
pub fn crc32c(data: &[u8]) -> u32 {
    crc32c_append(0, data)
}

/// Continues `crc`, the CRC-32C of some bytes, over `data`: the CRC-32C of
/// those bytes followed by `data` (`crc32c_append(crc32c(a), b)` equals the
/// CRC-32C of `a` and `b` concatenated; `crc32c_append(0, b)` is
/// `crc32c(b)`).
pub fn crc32c_append(crc: u32, data: &[u8]) -> u32 {
    !update(!crc, data)
}

/// Runs the raw register (no initial or final inversion) over `data`.
fn update(state: u32, data: &[u8]) -> u32 {
    #[cfg(all(target_arch = "x86_64", not(loom)))]
    if hw::available() {
        // SAFETY: `hw::update` needs SSE4.2, and `available` answered true
        // only because runtime detection found SSE4.2 on this CPU.
        return unsafe { hw::update(state, data) };
    }
    update_portable(state, data)
}

/// The portable slicing-by-8 version of [`update`].
fn update_portable(mut state: u32, data: &[u8]) -> u32 {
    let t = &TABLES;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let lo = u32::from_le_bytes([c[0], c[1], c[2], c[3]]) ^ state;
        let hi = u32::from_le_bytes([c[4], c[5], c[6], c[7]]);
        state = t[7][(lo & 0xFF) as usize]
            ^ t[6][((lo >> 8) & 0xFF) as usize]
            ^ t[5][((lo >> 16) & 0xFF) as usize]
            ^ t[4][(lo >> 24) as usize]
            ^ t[3][(hi & 0xFF) as usize]
            ^ t[2][((hi >> 8) & 0xFF) as usize]
            ^ t[1][((hi >> 16) & 0xFF) as usize]
            ^ t[0][(hi >> 24) as usize];
    }
    for &b in chunks.remainder() {
        state = t[0][((state ^ u32::from(b)) & 0xFF) as usize] ^ (state >> 8);
    }
    state
}

#[cfg(all(target_arch = "x86_64", not(loom)))]
mod hw {
    use std::sync::atomic::{AtomicU8, Ordering};

    /// 0: not yet detected, 1: no SSE4.2, 2: SSE4.2.
    static DETECTED: AtomicU8 = AtomicU8::new(0);

    /// Does this CPU have SSE4.2? Detected on the first call, then cached
    /// (a race only detects twice, with the same answer).
    pub(super) fn available() -> bool {
        match DETECTED.load(Ordering::Relaxed) {
            0 => {
                let yes = std::arch::is_x86_feature_detected!("sse4.2");
                DETECTED.store(if yes { 2 } else { 1 }, Ordering::Relaxed);
                yes
            }
            v => v == 2,
        }
    }

    /// [`super::update`] with the `crc32` instruction, eight bytes a step.
    ///
    /// # Safety
    ///
    /// The CPU must support SSE4.2.
    #[target_feature(enable = "sse4.2")]
    pub(super) unsafe fn update(state: u32, data: &[u8]) -> u32 {
        use std::arch::x86_64::{_mm_crc32_u64, _mm_crc32_u8};
        let mut wide = u64::from(state);
        let mut chunks = data.chunks_exact(8);
        for c in &mut chunks {
            let word = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            wide = _mm_crc32_u64(wide, word);
        }
        // The instruction leaves the 32-bit CRC in the low half.
        let mut state = wide as u32;
        for &b in chunks.remainder() {
            state = _mm_crc32_u8(state, b);
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift64*), so the tests need no
    /// random crate and fail the same way every run.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn bytes(&mut self, n: usize) -> Vec<u8> {
            (0..n).map(|_| self.next() as u8).collect()
        }
    }

    #[test]
    fn durable_crc32c_known_vectors() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[0xFFu8; 32]), 0x62A8_AB43);
        let ascending: Vec<u8> = (0..32).collect();
        assert_eq!(crc32c(&ascending), 0x46DD_794E);
        assert_eq!(crc32c(b""), 0);
        assert_eq!(!update_portable(!0, b"123456789"), 0xE306_9283);
    }

    #[test]
    fn durable_crc32c_hardware_and_portable_agree() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for len in 0..=300 {
            for _ in 0..4 {
                let data = rng.bytes(len);
                let state = rng.next() as u32;
                let portable = update_portable(state, &data);
                assert_eq!(update(state, &data), portable, "len {len}");
                #[cfg(all(target_arch = "x86_64", not(loom)))]
                if hw::available() {
                    // SAFETY: SSE4.2 was detected on this CPU just above.
                    assert_eq!(unsafe { hw::update(state, &data) }, portable);
                }
            }
        }
    }

    #[test]
    fn durable_crc32c_append_equals_one_shot() {
        let mut rng = Rng(0x0123_4567_89AB_CDEF);
        for len in 0..=300 {
            let data = rng.bytes(len);
            let whole = crc32c(&data);
            for _ in 0..3 {
                let a = rng.next() as usize % (len + 1);
                let b = a + rng.next() as usize % (len - a + 1);
                let crc = crc32c_append(crc32c(&data[..a]), &data[a..b]);
                assert_eq!(
                    crc32c_append(crc, &data[b..]),
                    whole,
                    "len {len} cut {a} {b}"
                );
                let portable = !update_portable(!crc32c(&data[..a]), &data[a..]);
                assert_eq!(portable, whole);
            }
        }
    }
}
