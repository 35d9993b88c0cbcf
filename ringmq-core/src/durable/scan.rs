//! The recovery scan: how much of a segment is valid, and what follows it.
//!
//! [`scan`] reads a whole segment's bytes: the header, then frames one
//! after another from offset [`SEGMENT_HEADER_LEN`]. Frames are accepted
//! while they decode and their ids strictly increase (the first one's id at
//! least the header's `first_id`). `valid_len` is the length of the header
//! and of those frames; at `valid_len` the scan stops and classifies the
//! rest, `segment[valid_len..]`:
//!
//! 1. **Clean**: the rest is empty or all zero bytes (preallocated space; a
//!    zero magic means the data ends here).
//! 2. **Corrupt** `{ offset: valid_len, error }`: some later 8-aligned
//!    offset in the rest starts a frame that decodes (magic, lengths, CRC and
//!    padding check out), whatever its id; or the frame at `valid_len` itself
//!    decodes but its id is not above the previous one (or below the
//!    header's `first_id`). Valid data lies beyond the damage, so this is
//!    corruption in the middle: recovery must report it, not truncate.
//! 3. **TornTail** `{ offset: valid_len }`: otherwise. The rest is an
//!    incomplete frame, a frame whose CRC (or anything else) fails, or
//!    garbage, and no valid frame follows: an interrupted append. Recovery
//!    truncates the segment to `valid_len`.
//!
//! A bad segment header follows the same rule with `valid_len` 0 and no
//! frames: TornTail at 0 if no valid frame follows at offset 64 or later
//! (e.g. a segment cut short while being created), Corrupt at 0 if one does.
//!
//! The rule relies on appends being sequential and segments never being
//! reused without zeroing: bytes after the last complete append are zero or
//! pieces of the one append a crash interrupted, never an older frame.

use super::frame::{
    decode, decode_segment_header, FrameError, HeaderError, SegmentHeader, FRAME_ALIGN,
    MIN_FRAME_BYTES, SEGMENT_HEADER_LEN,
};

/// What [`scan`] found in a segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanReport {
    pub header: Result<SegmentHeader, HeaderError>,
    /// Valid frames, from the start, before `valid_len`.
    pub frames: u64,
    pub first_id: Option<u64>,
    pub last_id: Option<u64>,
    /// Bytes of the header and the valid frames (0 if the header is bad).
    pub valid_len: usize,
    pub end: ScanEnd,
}

/// How the valid part of a segment ends (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanEnd {
    /// The rest is empty or all zero bytes.
    Clean,
    /// The bytes from `offset` (= `valid_len`) are an interrupted append;
    /// truncate there.
    TornTail { offset: usize },
    /// The bytes at `offset` (= `valid_len`) are damaged and valid data
    /// follows them.
    Corrupt { offset: usize, error: Damage },
}

/// What is wrong at a Corrupt offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Damage {
    /// The segment header does not decode.
    Header(HeaderError),
    /// The bytes at the offset do not decode as a frame.
    Frame(FrameError),
    /// The frame decodes but its id is not above `previous` (the id of the
    /// frame before it), or, for the segment's first frame (`previous`
    /// None), is below the header's `first_id`.
    IdOrder { previous: Option<u64>, found: u64 },
}

/// Scans a whole segment's bytes (see the module docs for the rule). Takes
/// any bytes: never panics, and `valid_len <= segment.len()`.
pub fn scan(segment: &[u8]) -> ScanReport {
    let header = decode_segment_header(segment);
    let mut report = ScanReport {
        header,
        frames: 0,
        first_id: None,
        last_id: None,
        valid_len: 0,
        end: ScanEnd::Clean,
    };
    let first_id = match header {
        Ok(h) => h.first_id,
        Err(e) => {
            report.end = classify(segment, 0, SEGMENT_HEADER_LEN, Damage::Header(e));
            return report;
        }
    };
    let mut at = SEGMENT_HEADER_LEN;
    loop {
        let rest = &segment[at..];
        match decode(rest) {
            Ok((frame, used)) => {
                let id = frame.meta.id;
                let in_order = match report.last_id {
                    Some(prev) => id > prev,
                    None => id >= first_id,
                };
                if !in_order {
                    let error = Damage::IdOrder {
                        previous: report.last_id,
                        found: id,
                    };
                    report.end = ScanEnd::Corrupt { offset: at, error };
                    break;
                }
                report.frames += 1;
                report.first_id.get_or_insert(id);
                report.last_id = Some(id);
                at += used;
            }
            Err(e) => {
                report.end = classify(segment, at, at + FRAME_ALIGN, Damage::Frame(e));
                break;
            }
        }
    }
    report.valid_len = at;
    report
}

/// Classifies `segment[at..]`, where decoding failed with `error`: Clean if
/// all zero, Corrupt if a frame decodes at an 8-aligned offset from `from`
/// on, else TornTail.
fn classify(segment: &[u8], at: usize, from: usize, error: Damage) -> ScanEnd {
    let rest = &segment[at..];
    if rest.iter().all(|&b| b == 0) {
        return ScanEnd::Clean;
    }
    let mut p = from;
    while p.saturating_add(MIN_FRAME_BYTES) <= segment.len() {
        if decode(&segment[p..]).is_ok() {
            return ScanEnd::Corrupt { offset: at, error };
        }
        p += FRAME_ALIGN;
    }
    ScanEnd::TornTail { offset: at }
}

#[cfg(test)]
mod tests {
    use super::super::frame::{encode, encode_segment_header, FrameMeta};
    use super::*;

    fn segment(ids: &[u64]) -> (Vec<u8>, Vec<usize>) {
        let mut seg = encode_segment_header(10, 0).to_vec();
        let mut offsets = Vec::new();
        for &id in ids {
            offsets.push(seg.len());
            let meta = FrameMeta {
                id,
                ..FrameMeta::default()
            };
            encode(&meta, b"", &id.to_le_bytes()[..(id % 9) as usize], &mut seg);
        }
        (seg, offsets)
    }

    #[test]
    fn durable_scan_clean_zero_tail_and_id_order() {
        let (mut seg, _) = segment(&[10, 11, 15]);
        let r = scan(&seg);
        assert_eq!((r.frames, r.first_id, r.last_id), (3, Some(10), Some(15)));
        assert_eq!((r.valid_len, r.end), (seg.len(), ScanEnd::Clean));
        let len = seg.len();
        seg.resize(len + 4096, 0);
        assert_eq!(scan(&seg).valid_len, len);
        assert_eq!(scan(&seg).end, ScanEnd::Clean);

        let (seg, offsets2) = segment(&[10, 12, 12, 13]);
        let r = scan(&seg);
        let error = Damage::IdOrder {
            previous: Some(12),
            found: 12,
        };
        assert_eq!(
            r.end,
            ScanEnd::Corrupt {
                offset: offsets2[2],
                error
            }
        );
        assert_eq!((r.frames, r.valid_len), (2, offsets2[2]));

        let (seg, _) = segment(&[9]);
        let error = Damage::IdOrder {
            previous: None,
            found: 9,
        };
        assert_eq!(scan(&seg).end, ScanEnd::Corrupt { offset: 64, error });
    }

    #[test]
    fn durable_scan_bad_header() {
        assert_eq!(scan(&[]).end, ScanEnd::Clean);
        assert_eq!(scan(&[0; 100]).end, ScanEnd::Clean);
        assert_eq!(scan(&[1; 10]).end, ScanEnd::TornTail { offset: 0 });
        let (mut seg, _) = segment(&[10, 11]);
        seg[20] ^= 1;
        let r = scan(&seg);
        assert!(matches!(
            r.end,
            ScanEnd::Corrupt {
                offset: 0,
                error: Damage::Header(_)
            }
        ));
        assert_eq!((r.frames, r.valid_len), (0, 0));
    }
}
