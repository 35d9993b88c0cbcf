//! The messages every case moves, and the checks every consumer makes so
//! that a broken queue cannot look fast.
//!
//! A message is a fixed-size byte array, copied into the queue by value: the
//! first 8 bytes hold the producer's sequence number (little endian), the
//! next 8 the producer's index, the next 8 a send timestamp where a case
//! measures latency. The rest is filler.

use std::sync::OnceLock;
use std::time::Instant;

/// Builds a message of `N` bytes (`N >= 24`).
#[inline(always)]
pub fn make<const N: usize>(seq: u64, producer: u64) -> [u8; N] {
    let mut m = [0u8; N];
    m[..8].copy_from_slice(&seq.to_le_bytes());
    m[8..16].copy_from_slice(&producer.to_le_bytes());
    m
}

#[inline(always)]
fn word(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

#[inline(always)]
pub fn seq_of(b: &[u8]) -> u64 {
    word(b, 0)
}

#[inline(always)]
pub fn producer_of(b: &[u8]) -> u64 {
    word(b, 8)
}

/// Writes the current time (see [`now_ns`]) into a message.
#[inline(always)]
pub fn stamp(b: &mut [u8]) {
    b[16..24].copy_from_slice(&now_ns().to_le_bytes());
}

#[inline(always)]
pub fn stamp_of(b: &[u8]) -> u64 {
    word(b, 16)
}

/// Nanoseconds since a process-wide base instant (monotonic).
#[inline(always)]
pub fn now_ns() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    BASE.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// Most producers any case uses.
pub const MAX_PRODUCERS: usize = 4;

/// Checks one consumer's stream: every message arrives once, and the
/// messages of each producer arrive in that producer's order.
#[derive(Debug, Clone)]
pub struct Checker {
    next: [u64; MAX_PRODUCERS],
    pub count: u64,
    bad: u64,
    first_bad: Option<(u64, u64, u64)>,
}

impl Default for Checker {
    fn default() -> Self {
        Checker::new()
    }
}

impl Checker {
    pub fn new() -> Checker {
        Checker {
            next: [0; MAX_PRODUCERS],
            count: 0,
            bad: 0,
            first_bad: None,
        }
    }

    #[inline(always)]
    pub fn see(&mut self, b: &[u8]) {
        let s = seq_of(b);
        let p = (producer_of(b) as usize).min(MAX_PRODUCERS - 1);
        if s != self.next[p] {
            self.bad += 1;
            if self.first_bad.is_none() {
                self.first_bad = Some((p as u64, self.next[p], s));
            }
        }
        self.next[p] = s + 1;
        self.count += 1;
    }

    /// Ok if exactly `expected` messages came, each producer's in order.
    pub fn verdict(&self, expected: u64) -> Result<(), String> {
        if self.count != expected {
            return Err(format!(
                "consumer received {} messages, expected {expected}",
                self.count
            ));
        }
        if let Some((p, want, got)) = self.first_bad {
            return Err(format!(
                "{} messages out of order; first: producer {p} expected seq {want}, got {got}",
                self.bad
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checker_accepts_ordered_streams_and_flags_gaps() {
        let mut c = Checker::new();
        for i in 0..10 {
            c.see(&make::<64>(i, 0));
            c.see(&make::<64>(i, 1));
        }
        assert_eq!(c.verdict(20), Ok(()));
        assert!(c.verdict(21).is_err());

        let mut c = Checker::new();
        c.see(&make::<64>(0, 0));
        c.see(&make::<64>(2, 0));
        let e = c.verdict(2).unwrap_err();
        assert!(e.contains("expected seq 1, got 2"), "{e}");
    }

    #[test]
    fn stamps_round_trip() {
        let mut m = make::<64>(5, 3);
        stamp(&mut m);
        assert_eq!((seq_of(&m), producer_of(&m)), (5, 3));
        assert!(stamp_of(&m) <= now_ns());
    }
}
