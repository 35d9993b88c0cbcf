//! The durable log's files: appends read back by id across segments,
//! recovery on reopen (the next id, a torn tail cut, damage in the middle
//! reported and the log read only, or cut on request), retention from the
//! front.

mod common;

use std::sync::Mutex;

use common::TempDir;

use ringmq_core::internals::{FrameMeta, Log, ReadPos, SEGMENT_HEADER_LEN};

fn meta(id: u64) -> FrameMeta {
    FrameMeta {
        id,
        key: id % 7,
        timestamp_ns: 1_700_000_000_000_000_000 + id as i64,
        attempt: 1,
        expires_ns: 0,
        flags: 0,
    }
}

fn payload(id: u64) -> Vec<u8> {
    format!("message {id} ")
        .repeat((id % 5 + 1) as usize)
        .into_bytes()
}

/// Appends ids `ids` (ext "h" + id for even ids), flushing at the end.
fn append_all(log: &mut Log, ids: impl IntoIterator<Item = u64>) {
    for id in ids {
        let ext = if id % 2 == 0 {
            format!("h{id}").into_bytes()
        } else {
            Vec::new()
        };
        log.append(&meta(id), &ext, &payload(id)).unwrap();
    }
    log.flush().unwrap();
}

/// Every frame from `from`, in order, as (id, payload).
fn read_all(log: &Mutex<Log>, from: u64) -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pos = ReadPos::default();
    let mut buf = Vec::new();
    let mut id = from;
    while let Some(f) = Log::read_from(log, id, &mut pos, &mut buf).unwrap() {
        assert!(f.meta.id >= id);
        if f.meta.id % 2 == 0 {
            assert_eq!(f.ext(), format!("h{}", f.meta.id).as_bytes());
        }
        out.push((f.meta.id, f.payload().to_vec()));
        id = f.meta.id + 1;
    }
    out
}

#[test]
fn appends_read_back_by_id_across_segments_and_after_reopen() {
    let d = TempDir::new("rw");
    let (mut log, rec) = Log::open(d.path(), 4096, 10, false).unwrap();
    assert_eq!(rec.frames, 0);
    assert_eq!(log.next_id(), 10);
    // Ids skip (a sequence no message used has no frame).
    let ids: Vec<u64> = (10..2000).filter(|i| i % 13 != 0).collect();
    append_all(&mut log, ids.iter().copied());
    assert!(log.segment_count() > 5, "{} segments", log.segment_count());
    assert_eq!(log.next_id(), 2000);
    let log = Mutex::new(log);
    let got = read_all(&log, 0);
    assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), ids);
    assert!(got.iter().all(|(id, p)| *p == payload(*id)));
    // From a skipped id: the next one.
    let mut pos = ReadPos::default();
    let mut buf = Vec::new();
    let f = Log::read_from(&log, 26, &mut pos, &mut buf)
        .unwrap()
        .unwrap();
    assert_eq!(f.meta.id, 27);
    assert!(
        Log::read_from(&log, 2000, &mut ReadPos::default(), &mut buf)
            .unwrap()
            .is_none()
    );
    drop(log);

    let (log, rec) = Log::open(d.path(), 4096, 0, false).unwrap();
    assert_eq!(rec.frames, ids.len() as u64);
    assert_eq!(rec.torn_bytes, 0);
    assert!(rec.corruption.is_none());
    assert_eq!(log.next_id(), 2000);
    assert_eq!(log.first_id(), 10);
    let log = Mutex::new(log);
    assert_eq!(read_all(&log, 500).first().unwrap().0, 500);
    assert_eq!(read_all(&log, 0).len(), ids.len());
}

#[test]
fn pending_frames_are_not_read_until_flushed() {
    let d = TempDir::new("pending");
    let (mut log, _) = Log::open(d.path(), 1 << 20, 0, false).unwrap();
    log.append(&meta(0), b"h0", b"a").unwrap();
    let log = Mutex::new(log);
    let mut buf = Vec::new();
    assert!(Log::read_from(&log, 0, &mut ReadPos::default(), &mut buf)
        .unwrap()
        .is_none());
    log.lock().unwrap().flush().unwrap();
    assert!(Log::read_from(&log, 0, &mut ReadPos::default(), &mut buf)
        .unwrap()
        .is_some());
    // An id below the next one is refused and changes nothing.
    let err = log.lock().unwrap().append(&meta(0), &[], b"b").unwrap_err();
    assert!(err.to_string().contains("below"), "{err}");
    assert_eq!(read_all(&log, 0).len(), 1);
}

#[test]
fn a_torn_tail_is_cut_at_every_offset_of_the_last_frame() {
    let d = TempDir::new("torn");
    let (mut log, _) = Log::open(d.path(), 1 << 20, 0, false).unwrap();
    append_all(&mut log, 0..20);
    drop(log);
    let seg = common::segment_files(d.path()).pop().unwrap();
    let whole = std::fs::read(&seg).unwrap();
    // Where the last frame starts: reopen with 19 frames to find out.
    let (mut log, _) = Log::open(d.path(), 1 << 20, 0, false).unwrap();
    log.append(&meta(20), &[], b"last one").unwrap();
    log.flush().unwrap();
    drop(log);
    let longer = std::fs::read(&seg).unwrap();
    for cut in whole.len()..longer.len() {
        std::fs::write(&seg, &longer[..cut]).unwrap();
        let (log, rec) = Log::open(d.path(), 1 << 20, 0, false).unwrap();
        assert_eq!(rec.frames, 20, "cut at {cut}");
        assert_eq!(rec.torn_bytes, (cut - whole.len()) as u64);
        assert!(rec.corruption.is_none());
        assert_eq!(log.next_id(), 20);
        assert_eq!(std::fs::metadata(&seg).unwrap().len(), whole.len() as u64);
        drop(log);
    }
    // And appending after a cut works and reads back.
    let (mut log, _) = Log::open(d.path(), 1 << 20, 0, false).unwrap();
    append_all(&mut log, 20..25);
    let log = Mutex::new(log);
    assert_eq!(read_all(&log, 0).len(), 25);
}

#[test]
fn damage_in_the_middle_makes_the_log_read_only_or_is_cut_on_request() {
    let d = TempDir::new("mid");
    let (mut log, _) = Log::open(d.path(), 2048, 0, false).unwrap();
    append_all(&mut log, 0..200);
    drop(log);
    let segs = common::segment_files(d.path());
    assert!(segs.len() >= 3);
    // Garble a byte in the second segment's first frame body.
    let victim = &segs[1];
    let mut bytes = std::fs::read(victim).unwrap();
    bytes[SEGMENT_HEADER_LEN + 20] ^= 0x55;
    std::fs::write(victim, &bytes).unwrap();

    let (mut log, rec) = Log::open(d.path(), 2048, 0, false).unwrap();
    let c = rec.corruption.clone().expect("damage reported");
    assert_eq!(&c.segment, victim);
    assert_eq!(c.offset, SEGMENT_HEADER_LEN as u64);
    assert!(log.read_only().is_some());
    let err = log.append(&meta(500), &[], b"x").unwrap_err();
    assert!(err.to_string().contains("read only"), "{err}");
    // Nothing was removed: the files are as they were.
    assert_eq!(common::segment_files(d.path()), segs);
    let first_seg_frames = {
        let log = Mutex::new(log);
        let got = read_all(&log, 0);
        assert!(!got.is_empty());
        // Only frames before the damage are readable.
        let last = got.last().unwrap().0;
        assert!(got.iter().enumerate().all(|(i, g)| g.0 == i as u64));
        last + 1
    };

    // Asked to cut: the log ends before the damage and takes appends.
    let (mut log, rec) = Log::open(d.path(), 2048, 0, true).unwrap();
    assert!(rec.corruption.is_some());
    assert!(rec.cut_bytes > 0);
    assert!(log.read_only().is_none());
    assert_eq!(log.next_id(), first_seg_frames);
    append_all(&mut log, [first_seg_frames + 100]);
    let log = Mutex::new(log);
    let got = read_all(&log, 0);
    assert_eq!(got.len() as u64, first_seg_frames + 1);
}

#[test]
fn retention_removes_whole_segments_from_the_front_never_the_last() {
    let d = TempDir::new("ret");
    let (mut log, _) = Log::open(d.path(), 2048, 0, false).unwrap();
    append_all(&mut log, 0..300);
    let before = log.segment_count();
    let removed = log
        .remove_front(|_, last, _| last.is_some_and(|l| l < 100))
        .unwrap();
    assert!(removed > 0 && removed <= 100, "removed {removed}");
    assert!(log.segment_count() < before);
    let first = log.first_id();
    assert!(first > 0 && first <= 100);
    assert_eq!(common::segment_files(d.path()).len(), log.segment_count());
    let removed_all = log.remove_front(|_, _, _| true).unwrap();
    assert!(removed_all > 0);
    assert_eq!(log.segment_count(), 1);
    let log = Mutex::new(log);
    let got = read_all(&log, 0);
    assert_eq!(got.last().unwrap().0, 299);
    assert_eq!(got.first().unwrap().0, log.lock().unwrap().first_id());
}

#[test]
fn a_segment_cut_short_at_creation_is_removed() {
    let d = TempDir::new("create");
    let (mut log, _) = Log::open(d.path(), 1 << 20, 0, false).unwrap();
    append_all(&mut log, 0..3);
    drop(log);
    // A crash while creating the next segment left part of its header.
    let next = d.path().join(format!("{:020}.seg", 3));
    std::fs::write(&next, b"RMQS\x01").unwrap();
    let (log, rec) = Log::open(d.path(), 1 << 20, 0, false).unwrap();
    assert!(rec.corruption.is_none(), "{:?}", rec.corruption);
    assert_eq!(log.next_id(), 3);
    assert!(!next.exists());
}
