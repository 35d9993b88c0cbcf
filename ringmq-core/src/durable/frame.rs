//! One message as an on-disk frame, and the header that starts a segment.
//!
//! # Frame layout
//!
//! Integers little-endian; offsets from the frame's start:
//!
//! ```text
//!  0  u32  magic          FRAME_MAGIC, the bytes "RMQF"
//!  4  u8   version        FRAME_VERSION (1)
//!  5  u8   flags          the message's flags, stored as given
//!  6  u16  reserved       0
//!  8  u32  body_len       bytes from offset 12 up to and including the CRC
//! 12  u64  id
//! 20  u64  key
//! 28  i64  timestamp_ns
//! 36  u32  attempt
//! 40  u32  ext_len        bytes of the ext block (headers and msg_id)
//! 44  u32  payload_len
//! 48  u64  expires_ns     0 for never
//! 56       ext            ext_len bytes, as `headers::encode` writes them
//!          payload        payload_len bytes
//!     u32  crc32c         CRC-32C of every byte from the magic to the end
//!                         of the payload
//!          padding        0 to 7 zero bytes
//! ```
//!
//! so `body_len = 48 + ext_len + payload_len`. Every frame is padded with
//! zero bytes to a multiple of [`FRAME_ALIGN`] (8): the padding is *not*
//! counted in `body_len` nor covered by the CRC, but it is part of the frame
//! ([`encoded_len`] and the bytes [`decode`] consumes include it), and
//! [`decode`] rejects a frame whose padding or reserved field is not zero.
//! The smallest frame is 64 bytes, the largest [`MAX_FRAME_BYTES`].
//!
//! # Segment header
//!
//! A segment starts with [`SEGMENT_HEADER_LEN`] (64) bytes, then its frames
//! (which therefore all start at a multiple of 8):
//!
//! ```text
//!  0  u32  magic          SEGMENT_MAGIC, the bytes "RMQS"
//!  4  u16  version        SEGMENT_VERSION (1)
//!  6  u16  reserved       0
//!  8  u64  first_id       no frame of the segment has a smaller id
//! 16  i64  created_ns     creation time, ns since the Unix epoch
//! 24       reserved       36 zero bytes
//! 60  u32  crc32c         CRC-32C of bytes 0..60
//! ```

use super::crc32c::crc32c;

/// A frame's first four bytes: "RMQF" (every byte nonzero, so a frame never
/// starts with a zero byte).
pub const FRAME_MAGIC: u32 = u32::from_le_bytes(*b"RMQF");
/// The frame format version this code writes and reads.
pub const FRAME_VERSION: u8 = 1;
/// Bytes before the body: magic, version, flags, reserved, body_len.
pub const FRAME_HEADER_LEN: usize = 12;
/// Frames start and end on multiples of this.
pub const FRAME_ALIGN: usize = 8;
/// The largest frame, padding included; a longer `body_len` is
/// [`FrameError::BadLength`].
pub const MAX_FRAME_BYTES: usize = 1 << 31;
/// The smallest frame (no ext, no payload), padding included.
pub const MIN_FRAME_BYTES: usize = pad(FRAME_HEADER_LEN + FIXED_LEN + CRC_LEN);

/// A segment's first four bytes: "RMQS".
pub const SEGMENT_MAGIC: u32 = u32::from_le_bytes(*b"RMQS");
/// The segment format version this code writes and reads.
pub const SEGMENT_VERSION: u16 = 1;
/// Bytes of a segment header.
pub const SEGMENT_HEADER_LEN: usize = 64;

/// Bytes of the body's fixed fields, id to expires_ns.
const FIXED_LEN: usize = 44;
const CRC_LEN: usize = 4;
/// Where the segment header's CRC is.
const SEG_CRC_AT: usize = SEGMENT_HEADER_LEN - CRC_LEN;

const fn pad(n: usize) -> usize {
    (n + FRAME_ALIGN - 1) & !(FRAME_ALIGN - 1)
}

/// A message's fields other than its ext block and payload.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameMeta {
    pub id: u64,
    pub key: u64,
    pub timestamp_ns: i64,
    pub attempt: u32,
    /// Monotonic expiry time, 0 for never.
    pub expires_ns: u64,
    pub flags: u8,
}

/// A decoded frame; ext and payload borrow the decoded buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    pub meta: FrameMeta,
    pub ext: &'a [u8],
    pub payload: &'a [u8],
}

/// Why bytes are not a valid frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The bytes end inside the frame (everything present is plausible): a
    /// torn-tail candidate.
    Incomplete,
    /// The first bytes are not [`FRAME_MAGIC`] (or a prefix of it).
    BadMagic,
    /// An unknown format version.
    BadVersion(u8),
    /// `body_len` too small or over [`MAX_FRAME_BYTES`], or not equal to
    /// what ext_len and payload_len add up to.
    BadLength,
    /// The CRC stored in the frame (`expected`) differs from the CRC of the
    /// bytes (`found`).
    BadCrc { expected: u32, found: u32 },
    /// The reserved field or the padding is not zero.
    NonZeroReserved,
}

/// Bytes [`encode`] writes for a frame with these lengths, padding included
/// (saturates instead of overflowing for absurd lengths).
pub fn encoded_len(ext_len: usize, payload_len: usize) -> usize {
    let raw = (FRAME_HEADER_LEN + FIXED_LEN + CRC_LEN)
        .saturating_add(ext_len)
        .saturating_add(payload_len);
    raw.checked_add(FRAME_ALIGN - 1)
        .map_or(usize::MAX, |n| n & !(FRAME_ALIGN - 1))
}

/// Appends the frame of a message to `out` (reserving its
/// [`encoded_len`] once; nothing else is allocated).
///
/// Panics if the frame would exceed [`MAX_FRAME_BYTES`]: the writer checks
/// message sizes against much smaller limits first.
pub fn encode(meta: &FrameMeta, ext: &[u8], payload: &[u8], out: &mut Vec<u8>) {
    let total = encoded_len(ext.len(), payload.len());
    assert!(
        total <= MAX_FRAME_BYTES,
        "frame of {total} bytes is over MAX_FRAME_BYTES"
    );
    // Both fit in u32 since the whole frame is at most 2^31 bytes.
    let body_len = (FIXED_LEN + ext.len() + payload.len() + CRC_LEN) as u32;
    out.reserve(total);
    let start = out.len();
    out.extend_from_slice(&FRAME_MAGIC.to_le_bytes());
    out.extend_from_slice(&[FRAME_VERSION, meta.flags, 0, 0]);
    out.extend_from_slice(&body_len.to_le_bytes());
    out.extend_from_slice(&meta.id.to_le_bytes());
    out.extend_from_slice(&meta.key.to_le_bytes());
    out.extend_from_slice(&meta.timestamp_ns.to_le_bytes());
    out.extend_from_slice(&meta.attempt.to_le_bytes());
    out.extend_from_slice(&(ext.len() as u32).to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&meta.expires_ns.to_le_bytes());
    out.extend_from_slice(ext);
    out.extend_from_slice(payload);
    let crc = crc32c(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
    out.resize(start + total, 0);
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

/// Decodes the frame at the start of `buf`, answering it and the bytes it
/// takes (padding included). Takes any bytes: never panics, never reads
/// outside `buf`. Checks, in order: the magic (a `buf` shorter than 4 bytes
/// must be a prefix of it), version, reserved field, `body_len` bounds, that
/// `buf` holds the fixed fields, that the lengths agree, that `buf` holds the
/// whole frame, the CRC and the padding.
pub fn decode(buf: &[u8]) -> Result<(Frame<'_>, usize), FrameError> {
    let magic = FRAME_MAGIC.to_le_bytes();
    let n = buf.len().min(magic.len());
    if buf[..n] != magic[..n] {
        return Err(FrameError::BadMagic);
    }
    if buf.len() < FRAME_HEADER_LEN {
        return Err(FrameError::Incomplete);
    }
    if buf[4] != FRAME_VERSION {
        return Err(FrameError::BadVersion(buf[4]));
    }
    if buf[6] != 0 || buf[7] != 0 {
        return Err(FrameError::NonZeroReserved);
    }
    let body_len = u32_at(buf, 8) as usize;
    if body_len < FIXED_LEN + CRC_LEN || pad(FRAME_HEADER_LEN + body_len) > MAX_FRAME_BYTES {
        return Err(FrameError::BadLength);
    }
    if buf.len() < FRAME_HEADER_LEN + FIXED_LEN {
        return Err(FrameError::Incomplete);
    }
    let f = FRAME_HEADER_LEN;
    let ext_len = u32_at(buf, f + 28) as usize;
    let payload_len = u32_at(buf, f + 32) as usize;
    // Computed in u64: two u32 lengths cannot overflow it.
    if (FIXED_LEN + CRC_LEN) as u64 + ext_len as u64 + payload_len as u64 != body_len as u64 {
        return Err(FrameError::BadLength);
    }
    let total = pad(FRAME_HEADER_LEN + body_len);
    if buf.len() < total {
        return Err(FrameError::Incomplete);
    }
    let crc_at = FRAME_HEADER_LEN + body_len - CRC_LEN;
    let expected = u32_at(buf, crc_at);
    let found = crc32c(&buf[..crc_at]);
    if expected != found {
        return Err(FrameError::BadCrc { expected, found });
    }
    if buf[crc_at + CRC_LEN..total].iter().any(|&b| b != 0) {
        return Err(FrameError::NonZeroReserved);
    }
    let meta = FrameMeta {
        id: u64_at(buf, f),
        key: u64_at(buf, f + 8),
        timestamp_ns: u64_at(buf, f + 16) as i64,
        attempt: u32_at(buf, f + 24),
        expires_ns: u64_at(buf, f + 36),
        flags: buf[5],
    };
    let ext_at = FRAME_HEADER_LEN + FIXED_LEN;
    let ext = &buf[ext_at..ext_at + ext_len];
    let payload = &buf[ext_at + ext_len..crc_at];
    Ok((Frame { meta, ext, payload }, total))
}

/// What a segment header holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    pub version: u16,
    /// No frame of the segment has a smaller id.
    pub first_id: u64,
    /// Creation time, ns since the Unix epoch (informative only).
    pub created_ns: i64,
}

/// Why bytes are not a valid segment header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// Fewer than [`SEGMENT_HEADER_LEN`] bytes.
    Incomplete,
    BadMagic,
    BadVersion(u16),
    /// As in [`FrameError::BadCrc`]: stored `expected`, computed `found`.
    BadCrc {
        expected: u32,
        found: u32,
    },
    NonZeroReserved,
}

/// The 64 bytes of the header of a segment whose first id is `first_id`,
/// created at `created_ns` (ns since the Unix epoch).
pub fn encode_segment_header(first_id: u64, created_ns: i64) -> [u8; SEGMENT_HEADER_LEN] {
    let mut h = [0u8; SEGMENT_HEADER_LEN];
    h[0..4].copy_from_slice(&SEGMENT_MAGIC.to_le_bytes());
    h[4..6].copy_from_slice(&SEGMENT_VERSION.to_le_bytes());
    h[8..16].copy_from_slice(&first_id.to_le_bytes());
    h[16..24].copy_from_slice(&created_ns.to_le_bytes());
    let crc = crc32c(&h[..SEG_CRC_AT]);
    h[SEG_CRC_AT..].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Decodes the segment header at the start of `buf` (any bytes; never
/// panics). Checks the length, magic, version, CRC and reserved bytes.
pub fn decode_segment_header(buf: &[u8]) -> Result<SegmentHeader, HeaderError> {
    let Some(h) = buf.get(..SEGMENT_HEADER_LEN) else {
        return Err(HeaderError::Incomplete);
    };
    if u32_at(h, 0) != SEGMENT_MAGIC {
        return Err(HeaderError::BadMagic);
    }
    let version = u16::from_le_bytes([h[4], h[5]]);
    if version != SEGMENT_VERSION {
        return Err(HeaderError::BadVersion(version));
    }
    let expected = u32_at(h, SEG_CRC_AT);
    let found = crc32c(&h[..SEG_CRC_AT]);
    if expected != found {
        return Err(HeaderError::BadCrc { expected, found });
    }
    if h[6..8].iter().chain(&h[24..SEG_CRC_AT]).any(|&b| b != 0) {
        return Err(HeaderError::NonZeroReserved);
    }
    Ok(SegmentHeader {
        version,
        first_id: u64_at(h, 8),
        created_ns: u64_at(h, 16) as i64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::headers;

    #[test]
    fn durable_frame_round_trip_with_real_headers_block() {
        let hdrs: &[(&str, &[u8])] = &[("traceparent", b"00-abc-def-01"), ("k", b"")];
        let msg_id: Option<&[u8]> = Some(b"order-17");
        let len = headers::validate(hdrs, msg_id, 1024).unwrap();
        let mut ext = vec![0u8; len];
        assert_eq!(headers::encode(hdrs, msg_id, &mut ext), len);
        let meta = FrameMeta {
            id: 42,
            key: 7,
            timestamp_ns: -5,
            attempt: 3,
            expires_ns: 99,
            flags: 0xA5,
        };
        let mut out = vec![1, 2, 3]; // encode appends
        encode(&meta, &ext, b"payload", &mut out);
        assert_eq!(out.len(), 3 + encoded_len(len, 7));
        assert_eq!(out.len() % FRAME_ALIGN, 3);
        let (frame, used) = decode(&out[3..]).unwrap();
        assert_eq!(used, out.len() - 3);
        assert_eq!(
            (frame.meta, frame.ext, frame.payload),
            (meta, &ext[..], &b"payload"[..])
        );
        let (id, decoded) = headers::decode(frame.ext);
        assert_eq!(id, msg_id);
        assert_eq!(decoded.iter().count(), 2);
    }

    #[test]
    fn durable_frame_sizes() {
        assert_eq!(MIN_FRAME_BYTES, 64);
        assert_eq!(encoded_len(0, 0), 64);
        assert_eq!(encoded_len(1, 0), 64);
        assert_eq!(encoded_len(4, 1), 72);
        assert_eq!(encoded_len(usize::MAX, 1), usize::MAX);
        let h = encode_segment_header(5, 6);
        let want = SegmentHeader {
            version: 1,
            first_id: 5,
            created_ns: 6,
        };
        assert_eq!(decode_segment_header(&h), Ok(want));
        assert_eq!(
            decode_segment_header(&h[..63]),
            Err(HeaderError::Incomplete)
        );
    }
}
