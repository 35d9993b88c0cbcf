//! Power-cut simulation on a whole log directory: the directory as it
//! could be found after the power failed at any moment of its writing
//! (every segment before the last whole, the last one cut at a random byte,
//! and what follows the cut left as zeros, as random junk, or as a garbled
//! copy of what was being written), opened by recovery, which must accept
//! exactly the frames written whole before the cut, all readable, and go
//! on appending after them.
//!
//! `RINGMQ_POWER_CUTS` trials (default 300); the long run is
//! `RINGMQ_POWER_CUTS=10000 cargo test --release -p ringmq-core --test
//! power_cut`. `RINGMQ_SEED` replays a run.

mod common;

use std::sync::Mutex;

use common::{seed, Rng, TempDir};
use ringmq_core::storage::{FrameMeta, Log, ReadPos};

/// One appended frame: its id, and where its bytes end in its segment.
struct Written {
    id: u64,
    segment: usize,
    end: u64,
}

fn meta(id: u64) -> FrameMeta {
    FrameMeta {
        id,
        key: id * 3,
        timestamp_ns: id as i64,
        attempt: (id % 4) as u32,
        expires_ns: 0,
        flags: 0,
    }
}

fn body(id: u64, rng_len: u64) -> Vec<u8> {
    (0..rng_len)
        .map(|i| (id as u8).wrapping_add(i as u8))
        .collect()
}

#[test]
fn recovery_accepts_exactly_the_frames_written_whole() {
    let trials: u64 = std::env::var("RINGMQ_POWER_CUTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let mut rng = Rng(seed());
    // The log as it was when the power failed: frames of random sizes
    // across a few segments, ids with gaps.
    let src = TempDir::new("power-src");
    let (mut log, _) = Log::open(src.path(), 4096, 0, false).unwrap();
    let mut written = Vec::new();
    let mut lens = std::collections::HashMap::new();
    let mut id = 0;
    for _ in 0..300 {
        id += 1 + rng.below(3);
        let len = rng.below(400);
        let ext = if id % 5 == 0 {
            b"hdr".to_vec()
        } else {
            Vec::new()
        };
        log.append(&meta(id), &ext, &body(id, len)).unwrap();
        log.flush().unwrap();
        lens.insert(id, (ext, len));
        let segs = common::segment_files(src.path());
        let seg = segs.len() - 1;
        let end = std::fs::metadata(&segs[seg]).unwrap().len();
        written.push(Written {
            id,
            segment: seg,
            end,
        });
    }
    drop(log);
    let segs = common::segment_files(src.path());
    let images: Vec<Vec<u8>> = segs.iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert!(images.len() >= 5, "{} segments", images.len());

    for trial in 0..trials {
        // The moment of the cut: inside the writing of a random frame.
        let victim = rng.below(written.len() as u64) as usize;
        let seg = written[victim].segment;
        let start = if victim > 0 && written[victim - 1].segment == seg {
            written[victim - 1].end
        } else {
            64 // the segment header
        };
        let end = written[victim].end;
        let cut = start + rng.below(end - start + 1);
        let dir = TempDir::new("power-cut");
        for (i, img) in images.iter().enumerate().take(seg) {
            std::fs::write(dir.path().join(segs[i].file_name().unwrap()), img).unwrap();
        }
        let mut last = images[seg][..cut as usize].to_vec();
        // What the disk holds past the cut.
        let tail = rng.below(3);
        let extra = rng.below(300) as usize;
        match tail {
            0 => last.extend(std::iter::repeat_n(0u8, extra)),
            1 => last.extend((0..extra).map(|_| rng.next() as u8 | 1)),
            _ => {
                // A garbled copy of the frame being written.
                let mut rest = images[seg][cut as usize..end as usize].to_vec();
                if !rest.is_empty() {
                    let i = rng.below(rest.len() as u64) as usize;
                    rest[i] ^= 1 + rng.below(255) as u8;
                }
                last.extend(rest);
            }
        }
        std::fs::write(dir.path().join(segs[seg].file_name().unwrap()), &last).unwrap();

        // Whole: every frame before the victim, and the victim itself if
        // the cut left it whole and nothing garbled it.
        // A frame is padded with zeros to a multiple of 8: cut in its
        // padding and followed by zeros, it is whole again.
        let (ext, len) = &lens[&written[victim].id];
        let raw_end = start + 60 + ext.len() as u64 + len;
        let whole_victim = cut == end || (tail == 0 && cut >= raw_end && cut + extra as u64 >= end);
        let want: Vec<u64> = written[..victim + whole_victim as usize]
            .iter()
            .map(|w| w.id)
            .collect();
        let (log, rec) = Log::open(dir.path(), 4096, 0, false)
            .unwrap_or_else(|e| panic!("trial {trial}: recovery failed: {e}"));
        assert!(
            rec.corruption.is_none(),
            "trial {trial}: a cut tail taken for damage: {:?}",
            rec.corruption
        );
        // The next id: past the last whole frame, and at least the first id
        // of the last segment (its header survived).
        let seg_first = match seg {
            0 => 0,
            _ => written
                .iter()
                .find(|w| w.segment == seg)
                .map_or(0, |w| w.id),
        };
        let expect_next = want.last().map_or(0, |l| l + 1).max(seg_first);
        assert_eq!(
            log.next_id(),
            expect_next,
            "trial {trial}: victim {} (id {}), cut {cut} in {start}..{end}, tail {tail}, seg {seg}",
            victim,
            written[victim].id
        );
        let log = Mutex::new(log);
        let mut got = Vec::new();
        let mut pos = ReadPos::default();
        let mut next = 0;
        while let Some(f) = Log::read_from(&log, next, &mut pos, &mut Vec::new()).unwrap() {
            let (ext, len) = &lens[&f.meta.id];
            assert_eq!(f.ext(), &ext[..], "trial {trial}");
            assert_eq!(f.payload(), &body(f.meta.id, *len)[..], "trial {trial}");
            assert_eq!(f.meta, meta(f.meta.id), "trial {trial}");
            got.push(f.meta.id);
            next = f.meta.id + 1;
        }
        assert_eq!(
            got, want,
            "trial {trial}: cut at byte {cut} of segment {seg}, tail kind {tail}"
        );
        // And the log goes on after them.
        let mut log = log.into_inner().unwrap();
        log.append(&meta(100_000), b"", b"after").unwrap();
        log.sync().unwrap();
        drop(log);
        let (log, rec) = Log::open(dir.path(), 4096, 0, false).unwrap();
        assert!(
            rec.corruption.is_none() && rec.torn_bytes == 0,
            "trial {trial}"
        );
        assert_eq!(log.next_id(), 100_001);
    }
}
