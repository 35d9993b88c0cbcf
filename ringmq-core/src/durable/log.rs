//! A durable topic's log: its segment files, appending frames to the last
//! one, reading frames back by id, recovery when the log is opened, and
//! removing whole segments from the front (retention).
//!
//! Protocol and invariants:
//! - Frames are appended in increasing id order (ids may skip: a sequence
//!   used by no message has no frame). A segment's frames all have ids at
//!   or above its header's `first_id` and below the next segment's.
//! - Appends go to `pending` first; [`Log::flush`] writes them to the file
//!   (one `pwrite`), and only then do readers see them: a segment's `len`
//!   counts written bytes only. [`Log::sync`] makes written bytes durable.
//! - A segment is full when the next frame would take it past
//!   `segment_bytes` (a frame larger than that gets a segment of its own).
//!   Rolling to a new segment writes and fsyncs the old one first, so that
//!   only the last segment can ever end in a torn frame; a torn tail
//!   anywhere else is corruption.
//! - Recovery ([`Log::open`]) scans every segment (see `scan`): a torn tail
//!   of the last segment is cut off (and the cut fsynced); damage anywhere
//!   else is reported with its file and offset, and then the log is read
//!   only (appends answer an error), its readable frames being those before
//!   the damage, unless the caller asked to cut the log there.
//! - Readers (`read`) find a frame from a sparse index (every [`INDEX_EVERY`]th
//!   frame's id and offset, per segment) and read it with `pread` on the
//!   segment's file, outside the log's lock; a segment removed meanwhile
//!   stays readable through the open file.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::dir::sync_dir;
use super::frame::{
    decode, encode, encode_segment_header, encoded_len, FrameMeta, MAX_FRAME_BYTES,
    SEGMENT_HEADER_LEN,
};
use super::scan::{scan, Damage, ScanEnd};

pub use super::read::{ReadPos, StoredFrame};

/// One index entry per this many frames of a segment.
pub const INDEX_EVERY: u64 = 64;

/// Where a log was found damaged on open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Corruption {
    pub segment: PathBuf,
    pub offset: u64,
    pub damage: Damage,
}

impl std::fmt::Display for Corruption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} is damaged at byte {}: {:?}",
            self.segment.display(),
            self.offset,
            self.damage
        )
    }
}

/// What opening a log found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    pub segments: usize,
    pub frames: u64,
    /// Bytes of a torn tail cut off the last segment.
    pub torn_bytes: u64,
    /// Damage found before the end (the log is then read only, unless it
    /// was cut there: see `cut`).
    pub corruption: Option<Corruption>,
    /// Bytes removed because the caller asked to cut the log at damage.
    pub cut_bytes: u64,
}

pub(super) struct Segment {
    pub(super) first_id: u64,
    path: PathBuf,
    pub(super) file: Arc<File>,
    /// Bytes written (header and frames); readers read no further.
    pub(super) len: u64,
    frames: u64,
    last_id: Option<u64>,
    /// The newest frame's publish time (ns since the epoch), 0 if none.
    last_ts: i64,
    /// (id, offset) of every INDEX_EVERY-th frame, the first included.
    pub(super) index: Vec<(u64, u64)>,
}

pub struct Log {
    dir: PathBuf,
    segment_bytes: u64,
    pub(super) segments: Vec<Segment>,
    pending: Vec<u8>,
    /// Every id below this has been appended (written or pending).
    next_id: u64,
    read_only: Option<Corruption>,
    /// Opened by [`inspect`](Log::inspect): nothing on disk is changed.
    inspect: bool,
}

/// One segment of a log, as [`Log::segment_infos`] describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    pub path: PathBuf,
    /// The first id its header allows.
    pub first_id: u64,
    /// Bytes of its header and whole frames.
    pub bytes: u64,
    pub frames: u64,
    pub last_id: Option<u64>,
    /// The newest frame's publish time (ns since the epoch), 0 if none.
    pub last_timestamp_ns: i64,
}

fn segment_path(dir: &Path, first_id: u64) -> PathBuf {
    dir.join(format!("{first_id:020}.seg"))
}

fn io_err(path: &Path, what: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

impl Log {
    /// Opens the log in `dir` (created if needed, with a first segment
    /// starting at `start_id` if it holds none). `cut`: cut the log at
    /// damage found before its end instead of opening it read only.
    pub fn open(
        dir: &Path,
        segment_bytes: u64,
        start_id: u64,
        cut: bool,
    ) -> io::Result<(Log, Recovery)> {
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, "cannot create", e))?;
        Log::open_with(dir, segment_bytes, start_id, cut, false)
    }

    /// Opens the log in `dir` to read it only, changing nothing on disk
    /// (safe while a broker writes it): a torn tail is reported, not cut,
    /// and appends are refused. A missing directory is an empty log.
    pub fn inspect(dir: &Path) -> io::Result<(Log, Recovery)> {
        if !dir.is_dir() {
            return Ok((Log::empty(dir, true), Recovery::default()));
        }
        Log::open_with(dir, u64::MAX, 0, false, true)
    }

    fn empty(dir: &Path, inspect: bool) -> Log {
        Log {
            dir: dir.to_owned(),
            segment_bytes: u64::MAX,
            segments: Vec::new(),
            pending: Vec::new(),
            next_id: 0,
            read_only: None,
            inspect,
        }
    }

    fn open_with(
        dir: &Path,
        segment_bytes: u64,
        start_id: u64,
        cut: bool,
        inspect: bool,
    ) -> io::Result<(Log, Recovery)> {
        let mut firsts = Vec::new();
        for e in std::fs::read_dir(dir)? {
            let name = e?.file_name();
            let name = name.to_string_lossy();
            if let Some(stem) = name.strip_suffix(".seg") {
                if let Ok(id) = stem.parse::<u64>() {
                    firsts.push(id);
                }
            }
        }
        firsts.sort_unstable();
        let mut log = Log {
            dir: dir.to_owned(),
            segment_bytes: segment_bytes.max(SEGMENT_HEADER_LEN as u64 + 64),
            segments: Vec::new(),
            pending: Vec::new(),
            next_id: start_id,
            read_only: None,
            inspect,
        };
        let mut rec = Recovery::default();
        let count = firsts.len();
        for (i, first) in firsts.into_iter().enumerate() {
            let last = i + 1 == count;
            let path = segment_path(dir, first);
            if log.read_only.is_some() {
                if cut {
                    let n = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                    std::fs::remove_file(&path).map_err(|e| io_err(&path, "cannot remove", e))?;
                    rec.cut_bytes += n;
                }
                continue;
            }
            log.recover_segment(&path, first, last, cut, &mut rec)?;
        }
        rec.corruption = log.read_only.clone();
        if log.read_only.is_some() && cut {
            log.read_only = None;
            sync_dir(dir)?;
        }
        if log.segments.is_empty() && !inspect {
            let at = log.next_id;
            log.create_segment(at)?;
        }
        rec.segments = log.segments.len();
        rec.frames = log.segments.iter().map(|s| s.frames).sum();
        Ok((log, rec))
    }

    fn recover_segment(
        &mut self,
        path: &Path,
        first: u64,
        last: bool,
        cut: bool,
        rec: &mut Recovery,
    ) -> io::Result<()> {
        let bytes = std::fs::read(path).map_err(|e| io_err(path, "cannot read", e))?;
        if last && bytes.len() < SEGMENT_HEADER_LEN {
            // A segment whose creation was cut short (its header is written
            // and fsynced before any frame): nothing was appended to it.
            rec.torn_bytes += bytes.len() as u64;
            if self.inspect {
                return Ok(());
            }
            std::fs::remove_file(path).map_err(|e| io_err(path, "cannot remove", e))?;
            return sync_dir(&self.dir);
        }
        let report = scan(&bytes);
        let mut valid = report.valid_len as u64;
        let damage = match report.end {
            ScanEnd::Clean => None,
            ScanEnd::TornTail { offset } if last => {
                rec.torn_bytes += bytes.len() as u64 - offset as u64;
                None
            }
            ScanEnd::TornTail { offset } => {
                Some((offset, Damage::Frame(super::frame::FrameError::Incomplete)))
            }
            ScanEnd::Corrupt { offset, error } => Some((offset, error)),
        };
        let header_ok = report.header.is_ok_and(|h| h.first_id == first);
        if let Some((offset, damage)) = damage {
            self.read_only = Some(Corruption {
                segment: path.to_owned(),
                offset: offset as u64,
                damage,
            });
            if cut {
                rec.cut_bytes += bytes.len() as u64 - offset as u64;
            }
        } else if !header_ok {
            self.read_only = Some(Corruption {
                segment: path.to_owned(),
                offset: 0,
                damage: match report.header {
                    Err(e) => Damage::Header(e),
                    Ok(_) => Damage::IdOrder {
                        previous: None,
                        found: first,
                    },
                },
            });
            valid = 0;
        }
        if valid == 0 {
            if !self.inspect && (cut || self.read_only.is_none()) {
                std::fs::remove_file(path).map_err(|e| io_err(path, "cannot remove", e))?;
                rec.cut_bytes += bytes.len() as u64;
            }
            return Ok(());
        }
        let file = OpenOptions::new()
            .read(true)
            .write(!self.inspect)
            .open(path)
            .map_err(|e| io_err(path, "cannot open", e))?;
        let must_cut =
            !self.inspect && valid < bytes.len() as u64 && (self.read_only.is_none() || cut);
        if must_cut {
            file.set_len(valid)
                .map_err(|e| io_err(path, "cannot truncate", e))?;
            file.sync_all()
                .map_err(|e| io_err(path, "cannot fsync", e))?;
        }
        // The frames before `valid` are whole: index them.
        let mut seg = Segment {
            first_id: first,
            path: path.to_owned(),
            file: Arc::new(file),
            len: valid,
            frames: 0,
            last_id: None,
            last_ts: 0,
            index: Vec::new(),
        };
        let mut at = SEGMENT_HEADER_LEN;
        while (at as u64) < valid {
            let Ok((f, used)) = decode(&bytes[at..valid as usize]) else {
                break;
            };
            if seg.frames % INDEX_EVERY == 0 {
                seg.index.push((f.meta.id, at as u64));
            }
            seg.frames += 1;
            seg.last_id = Some(f.meta.id);
            seg.last_ts = f.meta.timestamp_ns;
            at += used;
        }
        if let Some(l) = seg.last_id {
            self.next_id = self.next_id.max(l + 1);
        }
        self.next_id = self.next_id.max(first);
        self.segments.push(seg);
        Ok(())
    }

    fn create_segment(&mut self, first_id: u64) -> io::Result<()> {
        let path = segment_path(&self.dir, first_id);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| io_err(&path, "cannot create", e))?;
        let header = encode_segment_header(first_id, crate::clock::realtime_ns());
        file.write_all_at(&header, 0)
            .map_err(|e| io_err(&path, "cannot write", e))?;
        file.sync_all()
            .map_err(|e| io_err(&path, "cannot fsync", e))?;
        sync_dir(&self.dir).map_err(|e| io_err(&self.dir, "cannot fsync", e))?;
        self.segments.push(Segment {
            first_id,
            path,
            file: Arc::new(file),
            len: SEGMENT_HEADER_LEN as u64,
            frames: 0,
            last_id: None,
            last_ts: 0,
            index: Vec::new(),
        });
        Ok(())
    }

    /// The damage that makes this log read only, if any.
    pub fn read_only(&self) -> Option<&Corruption> {
        self.read_only.as_ref()
    }

    /// Every id below this is in the log (or was skipped).
    pub fn next_id(&self) -> u64 {
        self.next_id
    }

    /// The first id the log still holds (after retention), or `next_id`.
    pub fn first_id(&self) -> u64 {
        self.segments
            .iter()
            .find_map(|s| s.index.first().map(|e| e.0))
            .unwrap_or(self.next_id)
    }

    /// Bytes of every segment, pending appends included.
    pub fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.len).sum::<u64>() + self.pending.len() as u64
    }

    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// The id of the newest frame, if any.
    pub fn last_id(&self) -> Option<u64> {
        self.segments.iter().rev().find_map(|s| s.last_id)
    }

    /// What each segment holds, oldest first.
    pub fn segment_infos(&self) -> Vec<SegmentInfo> {
        self.segments
            .iter()
            .map(|s| SegmentInfo {
                path: s.path.clone(),
                first_id: s.first_id,
                bytes: s.len,
                frames: s.frames,
                last_id: s.last_id,
                last_timestamp_ns: s.last_ts,
            })
            .collect()
    }

    /// Appends a frame (to `pending`; see [`flush`](Self::flush)). Its id
    /// must be at least `next_id`.
    pub fn append(&mut self, meta: &FrameMeta, ext: &[u8], payload: &[u8]) -> io::Result<()> {
        if let Some(c) = &self.read_only {
            return Err(io::Error::other(format!("the log is read only: {c}")));
        }
        if self.inspect || self.segments.is_empty() {
            return Err(io::Error::other("the log was opened to inspect it only"));
        }
        if meta.id < self.next_id {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "frame id {} is below the log's next id {}",
                    meta.id, self.next_id
                ),
            ));
        }
        let len = encoded_len(ext.len(), payload.len());
        if len > MAX_FRAME_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a frame of {len} bytes is over the limit"),
            ));
        }
        let active = self.segments.last().expect("a log has a segment");
        let used = active.len + self.pending.len() as u64;
        if active.frames > 0 && used + len as u64 > self.segment_bytes {
            self.roll(meta.id)?;
        }
        let active = self.segments.last_mut().expect("a log has a segment");
        let offset = active.len + self.pending.len() as u64;
        if active.frames % INDEX_EVERY == 0 {
            active.index.push((meta.id, offset));
        }
        active.frames += 1;
        active.last_id = Some(meta.id);
        active.last_ts = meta.timestamp_ns;
        encode(meta, ext, payload, &mut self.pending);
        self.next_id = meta.id + 1;
        Ok(())
    }

    /// Writes the pending frames to the last segment's file.
    pub fn flush(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let active = self.segments.last_mut().expect("a log has a segment");
        active
            .file
            .write_all_at(&self.pending, active.len)
            .map_err(|e| io_err(&active.path, "cannot write", e))?;
        active.len += self.pending.len() as u64;
        self.pending.clear();
        Ok(())
    }

    /// The last segment's file, to fsync outside the log's lock.
    pub fn active_file(&self) -> Arc<File> {
        self.segments
            .last()
            .expect("a log has a segment")
            .file
            .clone()
    }

    /// Flushes, then fsyncs the last segment.
    pub fn sync(&mut self) -> io::Result<()> {
        self.flush()?;
        let active = self.segments.last().expect("a log has a segment");
        active
            .file
            .sync_data()
            .map_err(|e| io_err(&active.path, "cannot fsync", e))
    }

    fn roll(&mut self, first_id: u64) -> io::Result<()> {
        self.sync()?;
        self.create_segment(first_id)
    }

    /// Removes whole segments from the front while `drop(first_id,
    /// last_id, bytes)` says so (never the last segment). Returns the
    /// frames removed.
    pub fn remove_front(
        &mut self,
        mut drop: impl FnMut(u64, Option<u64>, u64) -> bool,
    ) -> io::Result<u64> {
        let mut removed = 0;
        while self.segments.len() > 1 {
            let s = &self.segments[0];
            if !drop(s.first_id, s.last_id, s.len) {
                break;
            }
            std::fs::remove_file(&s.path).map_err(|e| io_err(&s.path, "cannot remove", e))?;
            removed += s.frames;
            self.segments.remove(0);
        }
        if removed > 0 {
            sync_dir(&self.dir)?;
        }
        Ok(removed)
    }
}
