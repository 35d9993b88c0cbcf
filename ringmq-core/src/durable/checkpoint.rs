//! A durable subscription's checkpoint: where it is in its topic, so that
//! after a restart or a crash it is handed every message it had not
//! finished with, and none it had.
//!
//! What is kept: the cursor (every id below it was taken from the topic),
//! the messages taken and not finished (in flight, waiting for a retry or
//! for the dead-letter topic, parked for their key) with their delivery
//! counts and, for one waiting for a retry, when it is due (wall clock),
//! and whether the subscription was paused. Everything below the
//! cursor and not listed was acked, termed or dead-lettered: done.
//!
//! Layout (little-endian), written crash-safely (a temporary file renamed
//! over the old one):
//!
//! ```text
//!  0  u32  magic     "RMQC"
//!  4  u16  version   1
//!  6  u16  reserved  0
//!  8  u64  cursor
//! 16  u32  flags     bit 0: paused
//! 20  u32  count     entries
//! 24  u32  group_len
//! 28       group     UTF-8
//!          entries   count x (u64 id, u32 attempts, u32 0, i64 due_ns)
//!                    due_ns: when a retry is due, ns since the epoch; 0
//!                    for at once
//!     u32  crc32c    of every byte before it
//! ```

use std::path::{Path, PathBuf};

use super::crc32c::crc32c;
use super::dir::{file_name, write_atomically};
use crate::error::{Error, Result};

const MAGIC: u32 = u32::from_le_bytes(*b"RMQC");
const VERSION: u16 = 1;

/// A subscription's position (see the module docs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Checkpoint {
    pub group: String,
    pub cursor: u64,
    pub paused: bool,
    /// Every message taken and not finished, sorted by id.
    pub entries: Vec<Unfinished>,
}

/// A message a checkpoint lists as taken and not finished.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Unfinished {
    pub id: u64,
    /// Deliveries so far.
    pub attempts: u32,
    /// When its retry is due, ns since the epoch; 0 for at once.
    pub due_ns: i64,
}

const ENTRY_LEN: usize = 24;

impl Checkpoint {
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(32 + self.group.len() + ENTRY_LEN * self.entries.len());
        b.extend_from_slice(&MAGIC.to_le_bytes());
        b.extend_from_slice(&VERSION.to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes());
        b.extend_from_slice(&self.cursor.to_le_bytes());
        b.extend_from_slice(&(self.paused as u32).to_le_bytes());
        b.extend_from_slice(&(self.entries.len() as u32).to_le_bytes());
        b.extend_from_slice(&(self.group.len() as u32).to_le_bytes());
        b.extend_from_slice(self.group.as_bytes());
        for e in &self.entries {
            b.extend_from_slice(&e.id.to_le_bytes());
            b.extend_from_slice(&e.attempts.to_le_bytes());
            b.extend_from_slice(&0u32.to_le_bytes());
            b.extend_from_slice(&e.due_ns.to_le_bytes());
        }
        let crc = crc32c(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes a checkpoint; `None` for anything that is not one whole
    /// (never panics).
    pub fn decode(b: &[u8]) -> Option<Checkpoint> {
        if b.len() < 32 {
            return None;
        }
        let (body, crc) = b.split_at(b.len() - 4);
        if crc32c(body) != u32::from_le_bytes(crc.try_into().ok()?) {
            return None;
        }
        let u32_at = |at: usize| -> Option<u32> {
            Some(u32::from_le_bytes(body.get(at..at + 4)?.try_into().ok()?))
        };
        let u64_at = |at: usize| -> Option<u64> {
            Some(u64::from_le_bytes(body.get(at..at + 8)?.try_into().ok()?))
        };
        if u32_at(0)? != MAGIC || u16::from_le_bytes([body[4], body[5]]) != VERSION {
            return None;
        }
        let cursor = u64_at(8)?;
        let paused = u32_at(16)? & 1 == 1;
        let count = u32_at(20)? as usize;
        let glen = u32_at(24)? as usize;
        let group = std::str::from_utf8(body.get(28..28usize.checked_add(glen)?)?).ok()?;
        let mut at = 28 + glen;
        if body.len() != at.checked_add(count.checked_mul(ENTRY_LEN)?)? {
            return None;
        }
        let mut entries = Vec::with_capacity(count);
        for _ in 0..count {
            entries.push(Unfinished {
                id: u64_at(at)?,
                attempts: u32_at(at + 8)?,
                due_ns: u64_at(at + 16)? as i64,
            });
            at += ENTRY_LEN;
        }
        Some(Checkpoint {
            group: group.to_owned(),
            cursor,
            paused,
            entries,
        })
    }
}

/// Where group `group`'s checkpoint lives in topic directory `dir`.
pub fn path(dir: &Path, group: &str) -> PathBuf {
    dir.join("subs").join(format!("{}.ckpt", file_name(group)))
}

/// Writes `c` crash-safely into topic directory `dir`.
pub fn write(dir: &Path, c: &Checkpoint) -> Result<()> {
    let p = path(dir, &c.group);
    let subs = dir.join("subs");
    std::fs::create_dir_all(&subs)
        .map_err(|e| Error::io(format!("cannot create {}: {e}", subs.display())))?;
    write_atomically(&p, &c.encode())
        .map_err(|e| Error::io(format!("cannot write {}: {e}", p.display())))
}

/// Group `group`'s checkpoint in topic directory `dir`, if it has one; a
/// damaged file is an error naming it.
pub fn read(dir: &Path, group: &str) -> Result<Option<Checkpoint>> {
    let p = path(dir, group);
    match std::fs::read(&p) {
        Ok(b) => match Checkpoint::decode(&b) {
            Some(c) if c.group == group => Ok(Some(c)),
            _ => Err(Error::io(format!(
                "checkpoint {} is damaged (remove it to start the group afresh)",
                p.display()
            ))),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format!("cannot read {}: {e}", p.display()))),
    }
}

/// Every checkpoint in topic directory `dir` (for tools), sorted by group.
pub fn read_all(dir: &Path) -> Result<Vec<Checkpoint>> {
    let subs = dir.join("subs");
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(&subs) else {
        return Ok(out);
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "ckpt") {
            let b = std::fs::read(&p)
                .map_err(|e| Error::io(format!("cannot read {}: {e}", p.display())))?;
            match Checkpoint::decode(&b) {
                Some(c) => out.push(c),
                None => return Err(Error::io(format!("checkpoint {} is damaged", p.display()))),
            }
        }
    }
    out.sort_by(|a, b| a.group.cmp(&b.group));
    Ok(out)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_any_damage() {
        let c = Checkpoint {
            group: "billing é".into(),
            cursor: 12_345,
            paused: true,
            entries: vec![
                Unfinished {
                    id: 7,
                    attempts: 1,
                    due_ns: 0,
                },
                Unfinished {
                    id: 9,
                    attempts: 3,
                    due_ns: 1_800_000_000_000_000_000,
                },
            ],
        };
        let b = c.encode();
        assert_eq!(Checkpoint::decode(&b), Some(c.clone()));
        for cut in 0..b.len() {
            assert_eq!(Checkpoint::decode(&b[..cut]), None, "cut at {cut}");
        }
        for i in 0..b.len() {
            let mut d = b.clone();
            d[i] ^= 0x10;
            assert_eq!(Checkpoint::decode(&d), None, "flip at {i}");
        }
    }
}
