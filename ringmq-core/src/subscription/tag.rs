//! What a delivery tag encodes.
//!
//! A ring delivery's tag is its sequence number (below 2^63). A delivery
//! made from the retry store has the top bit set, the entry index in the
//! low 32 bits and the delivery's generation (31 bits) above it; every
//! delivery of an entry gets a new generation, so a stale tag is told from
//! the current one.

const STORE: u64 = 1 << 63;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tag {
    Ring(u64),
    Store { idx: u32, gen: u32 },
}

impl Tag {
    pub(super) fn decode(tag: u64) -> Tag {
        if tag & STORE == 0 {
            Tag::Ring(tag)
        } else {
            Tag::Store {
                idx: (tag & 0xffff_ffff) as u32,
                gen: ((tag >> 32) & 0x7fff_ffff) as u32,
            }
        }
    }

    pub(super) fn store(idx: u32, gen: u32) -> u64 {
        STORE | ((gen as u64 & 0x7fff_ffff) << 32) | idx as u64
    }

    pub(super) fn is_ring(tag: u64) -> bool {
        tag & STORE == 0
    }
}

/// The low 31 bits of a generation, as a tag carries it.
pub(super) fn gen_bits(gen: u32) -> u32 {
    gen & 0x7fff_ffff
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn tags_round_trip() {
        assert_eq!(Tag::decode(41), Tag::Ring(41));
        let t = Tag::store(7, 0xffff_fffe);
        assert!(!Tag::is_ring(t));
        assert_eq!(
            Tag::decode(t),
            Tag::Store {
                idx: 7,
                gen: 0x7fff_fffe
            }
        );
    }
}
