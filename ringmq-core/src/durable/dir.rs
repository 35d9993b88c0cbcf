//! A broker's data directory: its layout, the lock that keeps a second
//! broker (in this process or another) from opening it, and writing small
//! files so that a crash leaves either the old or the new version.
//!
//! Layout:
//!
//! ```text
//! DIR/LOCK                      held (flock, exclusive) while a broker is open
//! DIR/topics/<topic>/topic.conf the topic's name and options, key = value lines
//! DIR/topics/<topic>/<id>.seg   segments, <id> the first id, 20 digits
//! DIR/topics/<topic>/subs/<group>.ckpt   a subscription's checkpoint
//! ```
//!
//! `<topic>` and `<group>` are the names with every byte outside
//! `[A-Za-z0-9_-]` written as `%XX` (so `.`, `/` and `..` never reach the
//! file system as themselves); a name whose escaped form is longer than
//! [`MAX_FILE_NAME`] keeps its first part and ends in `~` and a CRC of the
//! whole name. The real name is in `topic.conf` (or the checkpoint), which
//! is what recovery reads.
//!
//! The lock is an advisory `flock` on `LOCK`, so it ends with the process
//! that holds it, however that process ends: a crashed broker never leaves
//! a stale lock behind.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::crc32c::crc32c;
use crate::error::{Error, ErrorKind, Result};

/// Longest file or directory name made from a topic or group name.
pub const MAX_FILE_NAME: usize = 200;

pub(crate) struct DataDir {
    root: PathBuf,
    /// Held (locked) for as long as the broker lives.
    _lock: File,
}

impl DataDir {
    /// Opens (creating if needed) the data directory `root` and takes its
    /// lock; a directory in use answers `Exists`, naming it.
    pub(crate) fn open(root: &Path) -> Result<DataDir> {
        let io = |what: &str, e: io::Error| Error::io(format!("{what} {}: {e}", root.display()));
        std::fs::create_dir_all(root.join("topics"))
            .map_err(|e| io("cannot create data_dir", e))?;
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(root.join("LOCK"))
            .map_err(|e| io("cannot open the lock file of data_dir", e))?;
        if let Err(e) = try_lock(&lock) {
            if e.kind() == io::ErrorKind::WouldBlock {
                return Err(Error::new(
                    ErrorKind::Exists,
                    format!(
                        "data_dir {} is in use by another broker (its LOCK file is held)",
                        root.display()
                    ),
                ));
            }
            return Err(io("cannot lock data_dir", e));
        }
        Ok(DataDir {
            root: root.to_owned(),
            _lock: lock,
        })
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of topic `name` (not created here).
    pub(crate) fn topic_dir(&self, name: &str) -> PathBuf {
        self.root.join("topics").join(file_name(name))
    }

    /// Every topic directory that has a `topic.conf`, sorted.
    pub(crate) fn topic_dirs(&self) -> io::Result<Vec<PathBuf>> {
        topic_dirs(&self.root)
    }
}

/// Every topic directory under data directory `root` that has a
/// `topic.conf`, sorted (also for tools that read a directory in use).
pub fn topic_dirs(root: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(root.join("topics"))? {
        let p = e?.path();
        if p.join("topic.conf").is_file() {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

/// Takes an exclusive `flock` on `file` without waiting.
fn try_lock(file: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock takes a file descriptor and flags only; the descriptor
    // is open for as long as `file` is borrowed.
    let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `name` as a file name (see the module docs).
pub fn file_name(name: &str) -> String {
    let mut s = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    if s.len() > MAX_FILE_NAME {
        // Escapes are ASCII, so any cut is on a char boundary.
        s.truncate(MAX_FILE_NAME - 9);
        s.push_str(&format!("~{:08x}", crc32c(name.as_bytes())));
    }
    s
}

/// Writes `bytes` to `path` so that a crash leaves the old file or the new
/// one whole: a temporary file beside it, fsynced, renamed over it, and the
/// directory fsynced.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp_name = path.file_name().unwrap_or_default().to_owned();
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    sync_dir(dir)
}

/// Fsyncs directory `dir`, so that files created, renamed or removed in it
/// survive a power cut.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_safe_and_distinct() {
        assert_eq!(file_name("orders"), "orders");
        assert_eq!(file_name("a.b/c"), "a%2Eb%2Fc");
        assert_eq!(file_name(".."), "%2E%2E");
        assert_eq!(file_name("é"), "%C3%A9");
        let long = "x".repeat(255);
        let f = file_name(&long);
        assert!(f.len() <= MAX_FILE_NAME);
        assert_ne!(f, file_name(&"x".repeat(254)));
    }
}
