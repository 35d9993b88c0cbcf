//! Reading a durable topic's log back: the first frame at or after an id,
//! found through each segment's sparse index and read with `pread`
//! outside the log's lock (see `log` for the protocol).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use super::frame::{decode, FrameMeta, FRAME_ALIGN, FRAME_HEADER_LEN, SEGMENT_HEADER_LEN};
use super::log::Log;

/// A frame read back: its fields, and `ext` then `payload` in `bytes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredFrame {
    pub meta: FrameMeta,
    pub ext_len: usize,
    pub bytes: Vec<u8>,
}

impl StoredFrame {
    pub fn ext(&self) -> &[u8] {
        &self.bytes[..self.ext_len]
    }
    pub fn payload(&self) -> &[u8] {
        &self.bytes[self.ext_len..]
    }
}

/// Where a reader is: the next frame's offset in the segment starting at
/// `first_id`, and the id it reads from.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReadPos {
    segment: u64,
    offset: u64,
    id: u64,
}

impl Log {
    /// Where the first frame with an id at or above `id` is (or would be).
    fn locate(&self, id: u64) -> Option<(usize, u64)> {
        let i = match self.segments.partition_point(|s| s.first_id <= id) {
            0 => 0,
            n => n - 1,
        };
        let s = self.segments.get(i)?;
        let j = s.index.partition_point(|e| e.0 <= id);
        let offset = if j == 0 {
            SEGMENT_HEADER_LEN as u64
        } else {
            s.index[j - 1].1
        };
        Some((i, offset))
    }

    /// Reads the first frame with an id at or above `id`, continuing from
    /// `pos` when it was left at `id`; `None` when no such frame has been
    /// written yet. Takes the log's lock only to find the file.
    pub fn read_from(
        log: &crate::sync::Mutex<Log>,
        id: u64,
        pos: &mut ReadPos,
        buf: &mut Vec<u8>,
    ) -> io::Result<Option<StoredFrame>> {
        loop {
            let (file, len, offset, next_segment) = {
                let l = log.lock().unwrap_or_else(|e| e.into_inner());
                let i = if pos.id == id && pos.offset > 0 {
                    l.segments.iter().position(|s| s.first_id == pos.segment)
                } else {
                    None
                };
                let (i, offset) = match i {
                    Some(i) => (i, pos.offset),
                    None => match l.locate(id) {
                        Some(found) => found,
                        None => return Ok(None),
                    },
                };
                let s = &l.segments[i];
                (
                    s.file.clone(),
                    s.len,
                    offset,
                    l.segments.get(i + 1).map(|n| n.first_id),
                )
            };
            let seg_first = {
                let l = log.lock().unwrap_or_else(|e| e.into_inner());
                l.segments
                    .iter()
                    .find(|s| Arc::ptr_eq(&s.file, &file))
                    .map(|s| s.first_id)
                    .unwrap_or(pos.segment)
            };
            let mut at = offset;
            loop {
                if at >= len {
                    break;
                }
                let frame = read_frame_at(&file, at, len, buf)?;
                let Some((meta, ext_len, used)) = frame else {
                    break;
                };
                at += used;
                if meta.id >= id {
                    *pos = ReadPos {
                        segment: seg_first,
                        offset: at,
                        id: meta.id + 1,
                    };
                    return Ok(Some(StoredFrame {
                        meta,
                        ext_len,
                        bytes: std::mem::take(buf),
                    }));
                }
            }
            // Nothing at or above `id` in this segment: the next one.
            match next_segment {
                Some(n) => {
                    *pos = ReadPos {
                        segment: n,
                        offset: SEGMENT_HEADER_LEN as u64,
                        id,
                    };
                }
                None => return Ok(None),
            }
        }
    }
}

/// Reads and checks the frame at `at` of `file` (whose first `len` bytes
/// are written); `buf` gets its ext then its payload. `None` if no whole
/// frame is there.
fn read_frame_at(
    file: &File,
    at: u64,
    len: u64,
    buf: &mut Vec<u8>,
) -> io::Result<Option<(FrameMeta, usize, u64)>> {
    let mut head = [0u8; FRAME_HEADER_LEN];
    if at + FRAME_HEADER_LEN as u64 > len {
        return Ok(None);
    }
    file.read_exact_at(&mut head, at)?;
    let body = u32::from_le_bytes([head[8], head[9], head[10], head[11]]) as u64;
    let total = (FRAME_HEADER_LEN as u64 + body).next_multiple_of(FRAME_ALIGN as u64);
    if at + total > len {
        return Ok(None);
    }
    let mut raw = vec![0u8; total as usize];
    file.read_exact_at(&mut raw, at)?;
    let (f, _) = decode(&raw).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame at byte {at} does not decode: {e:?}"),
        )
    })?;
    buf.clear();
    buf.extend_from_slice(f.ext);
    buf.extend_from_slice(f.payload);
    Ok(Some((f.meta, f.ext.len(), total)))
}
