//! The durable log's frame format and recovery scan, through
//! `ringmq_core::internals`: round trips, a power-cut simulation (segments
//! of random frames cut at every byte offset and with bytes of their last
//! or a middle frame garbled) and a fuzz of `decode` and `scan` on
//! arbitrary and on mutated bytes.
//!
//! Runs:
//! - `cargo test -p ringmq-core --test durable_frames`: the short run
//!   (`RINGMQ_FRAME_CASES` unset: 256 cases per property, a few seconds in a
//!   debug build).
//! - `RINGMQ_FRAME_CASES=5000 cargo test --release -p ringmq-core --test
//!   durable_frames`: the long run.
//!
//! Failures are not persisted to files; proptest prints the minimal case.

use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use ringmq_core::internals::{
    decode, decode_segment_header, encode, encode_segment_header, encoded_len, scan, Damage,
    FrameError, FrameMeta, ScanEnd, MAX_FRAME_BYTES, SEGMENT_HEADER_LEN,
};

fn cases() -> u32 {
    std::env::var("RINGMQ_FRAME_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(256)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// One message to frame: meta (id filled in later), ext, payload.
type Msg = (FrameMeta, Vec<u8>, Vec<u8>);

fn msg() -> impl Strategy<Value = Msg> {
    let meta = (
        any::<u64>(),
        any::<i64>(),
        any::<u32>(),
        any::<u64>(),
        any::<u8>(),
    )
        .prop_map(
            |(key, timestamp_ns, attempt, expires_ns, flags)| FrameMeta {
                id: 0,
                key,
                timestamp_ns,
                attempt,
                expires_ns,
                flags,
            },
        );
    let ext = prop::collection::vec(any::<u8>(), 0..40);
    (meta, ext, prop::collection::vec(any::<u8>(), 0..150))
}

/// A segment of `msgs` with increasing ids (gaps 1..=3) from `first_id`:
/// its bytes, each frame's offset and id.
fn build(first_id: u64, gaps: &[u64], msgs: &mut [Msg]) -> (Vec<u8>, Vec<usize>, Vec<u64>) {
    let mut seg = encode_segment_header(first_id, 1_700_000_000_000_000_000).to_vec();
    let (mut offsets, mut ids) = (Vec::new(), Vec::new());
    let mut id = first_id;
    for ((meta, ext, payload), gap) in msgs.iter_mut().zip(gaps) {
        meta.id = id;
        offsets.push(seg.len());
        ids.push(id);
        encode(meta, ext, payload, &mut seg);
        id += gap;
    }
    (seg, offsets, ids)
}

fn segment() -> impl Strategy<Value = (Vec<u8>, Vec<usize>, Vec<u64>)> {
    let msgs = prop::collection::vec(msg(), 1..8);
    let gaps = prop::collection::vec(1u64..=3, 8);
    (0u64..1 << 40, gaps, msgs).prop_map(|(first, gaps, mut msgs)| build(first, &gaps, &mut msgs))
}

/// The frame count and last id `scan` must answer for a segment whose
/// frames at `offsets` (ids `ids`) are intact exactly before `damage_at`.
fn expect(offsets: &[usize], ids: &[u64], damage_at: usize) -> (u64, Option<u64>) {
    let k = offsets.iter().take_while(|&&o| o < damage_at).count();
    (k as u64, k.checked_sub(1).map(|i| ids[i]))
}

/// Re-encodes every frame in `seg[64..valid_len]` and checks it gives back
/// the same bytes.
fn reencodes(seg: &[u8], valid_len: usize) {
    let mut at = SEGMENT_HEADER_LEN.min(valid_len);
    while at < valid_len {
        let (f, used) = decode(&seg[at..valid_len]).expect("scan accepted it");
        let mut again = Vec::new();
        encode(&f.meta, f.ext, f.payload, &mut again);
        assert_eq!(&again[..], &seg[at..at + used]);
        at += used;
    }
}

#[test]
fn durable_round_trips() {
    let big_ext = vec![0xEE; 65_535 + 132];
    let big_payload: Vec<u8> = (0..4 << 20).map(|i| (i * 7) as u8).collect();
    let meta = FrameMeta {
        id: u64::MAX,
        key: u64::MAX,
        timestamp_ns: i64::MIN,
        attempt: u32::MAX,
        expires_ns: u64::MAX,
        flags: u8::MAX,
    };
    let cases: [(&[u8], &[u8]); 5] = [
        (b"", b""),
        (b"", b"x"),
        (b"\x01\x00\x00\x00", b""),
        (&big_ext, b"p"),
        (&big_ext, &big_payload),
    ];
    for (ext, payload) in cases {
        let mut out = Vec::new();
        encode(&meta, ext, payload, &mut out);
        assert_eq!(out.len(), encoded_len(ext.len(), payload.len()));
        assert_eq!(out.len() % 8, 0);
        let (f, used) = decode(&out).unwrap();
        assert_eq!(
            (f.meta, f.ext, f.payload, used),
            (meta, ext, payload, out.len())
        );
        // Any strict prefix is Incomplete: a torn tail, never an error.
        for cut in [0, 1, 3, 4, 11, 12, 55, 56, out.len() - 1] {
            assert_eq!(
                decode(&out[..cut]),
                Err(FrameError::Incomplete),
                "cut {cut}"
            );
        }
    }
}

#[test]
fn durable_decode_rejects() {
    let mut good = Vec::new();
    encode(
        &FrameMeta {
            id: 1,
            ..FrameMeta::default()
        },
        b"ab",
        b"cde",
        &mut good,
    );
    let with = |at: usize, v: u8| {
        let mut b = good.clone();
        b[at] = v;
        decode(&b).map(|(_, n)| n)
    };
    assert_eq!(with(0, b'X'), Err(FrameError::BadMagic));
    assert_eq!(decode(b"RMX"), Err(FrameError::BadMagic));
    assert_eq!(with(4, 2), Err(FrameError::BadVersion(2)));
    assert_eq!(with(6, 1), Err(FrameError::NonZeroReserved));
    assert_eq!(with(8, 0), Err(FrameError::BadLength));
    assert_eq!(with(11, 0x80), Err(FrameError::BadLength)); // over 2^31
    assert_eq!(with(40, 3), Err(FrameError::BadLength)); // ext_len disagrees
    assert!(matches!(with(60, b'z'), Err(FrameError::BadCrc { .. })));
    assert_eq!(with(good.len() - 1, 1), Err(FrameError::NonZeroReserved));
    assert_eq!(with(9, 0xFF), Err(FrameError::BadLength)); // lengths disagree
    let mut head = good[..20].to_vec();
    head[9] = 0xFF; // plausible so far, and longer than the bytes
    assert_eq!(decode(&head), Err(FrameError::Incomplete));
    assert_eq!(encoded_len(MAX_FRAME_BYTES, 0), MAX_FRAME_BYTES + 64);
    let mut h = encode_segment_header(3, 4);
    h[30] = 1;
    assert!(decode_segment_header(&h).is_err());
}

proptest! {
    #![proptest_config(config())]

    /// Cutting a segment anywhere keeps exactly the whole frames before the
    /// cut; the end is Clean at a frame boundary and TornTail elsewhere.
    #[test]
    fn durable_power_cut_every_offset((seg, offsets, ids) in segment()) {
        let ends: Vec<usize> = offsets.iter().skip(1).copied().chain([seg.len()]).collect();
        for cut in 0..=seg.len() {
            let r = scan(&seg[..cut]);
            if cut < SEGMENT_HEADER_LEN {
                prop_assert_eq!((r.frames, r.valid_len), (0, 0));
                let want = if cut == 0 { ScanEnd::Clean } else { ScanEnd::TornTail { offset: 0 } };
                prop_assert_eq!(r.end, want);
                continue;
            }
            let k = ends.iter().take_while(|&&e| e <= cut).count();
            let valid = if k == 0 { SEGMENT_HEADER_LEN } else { ends[k - 1] };
            prop_assert_eq!(r.frames, k as u64);
            prop_assert_eq!(r.last_id, k.checked_sub(1).map(|i| ids[i]));
            prop_assert_eq!(r.first_id, (k > 0).then(|| ids[0]));
            prop_assert_eq!(r.valid_len, valid);
            let want = if cut == valid { ScanEnd::Clean } else { ScanEnd::TornTail { offset: valid } };
            prop_assert_eq!(r.end, want, "cut {}", cut);
        }
    }

    /// Garbling bytes of the last frame (and maybe cutting inside it, or
    /// appending zeros) leaves the frames before it and a TornTail.
    #[test]
    fn durable_power_cut_garbled_last_frame(
        (seg, offsets, ids) in segment(),
        hits in prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
        cut in any::<prop::sample::Index>(),
        zeros in 0usize..100,
    ) {
        let last = *offsets.last().unwrap();
        let mut bad = seg.clone();
        for (at, x) in &hits {
            bad[last + at.index(seg.len() - last)] ^= x;
        }
        let mut cut_to = last + 1 + cut.index(seg.len() - last);
        if cut_to == seg.len() && zeros > 0 {
            bad.resize(seg.len() + zeros, 0);
            cut_to = bad.len();
        }
        let r = scan(&bad[..cut_to]);
        let (frames, last_id) = expect(&offsets, &ids, last);
        prop_assert_eq!((r.frames, r.last_id, r.valid_len), (frames, last_id, last));
        prop_assert_eq!(r.end, ScanEnd::TornTail { offset: last });
    }

    /// Garbling a byte of a middle frame is Corrupt at that frame.
    #[test]
    fn durable_garbled_middle_frame_is_corrupt(
        (seg, offsets, ids) in segment(),
        which in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        x in 1u8..=255,
        cut in any::<prop::sample::Index>(),
    ) {
        prop_assume!(offsets.len() >= 2);
        let k = which.index(offsets.len() - 1);
        let (start, end) = (offsets[k], offsets[k + 1]);
        let mut bad = seg.clone();
        bad[start + at.index(end - start)] ^= x;
        // Any cut that keeps the next frame whole.
        let keep = offsets.get(k + 2).copied().unwrap_or(seg.len());
        let len = keep + cut.index(seg.len() - keep + 1);
        let r = scan(&bad[..len]);
        let (frames, last_id) = expect(&offsets, &ids, start);
        prop_assert_eq!((r.frames, r.last_id, r.valid_len), (frames, last_id, start));
        let corrupt_here = matches!(r.end, ScanEnd::Corrupt { offset, error: Damage::Frame(_) } if offset == start);
        prop_assert!(corrupt_here, "{:?}", r.end);
    }

    /// decode and scan take any bytes: no panic, valid_len within the
    /// input, accepted frames re-encode to the same bytes.
    #[test]
    fn durable_fuzz_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        if let Ok((f, used)) = decode(&bytes) {
            prop_assert!(used <= bytes.len());
            let mut again = Vec::new();
            encode(&f.meta, f.ext, f.payload, &mut again);
            prop_assert_eq!(&again[..], &bytes[..used]);
        }
        for seg in [bytes.clone(), [&encode_segment_header(0, 0)[..], &bytes].concat()] {
            let r = scan(&seg);
            prop_assert!(r.valid_len <= seg.len());
            reencodes(&seg, r.valid_len);
        }
    }

    /// Valid segments with random bytes overwritten anywhere: same
    /// properties, and the valid prefix is a prefix of the original frames.
    #[test]
    fn durable_fuzz_mutated_segments(
        (seg, offsets, _ids) in segment(),
        hits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bad = seg.clone();
        for (at, v) in &hits {
            let i = at.index(bad.len());
            bad[i] = *v;
        }
        bad.truncate(cut.index(bad.len() + 1));
        let r = scan(&bad);
        prop_assert!(r.valid_len <= bad.len());
        reencodes(&bad, r.valid_len);
        if r.valid_len > SEGMENT_HEADER_LEN {
            prop_assert!(offsets.contains(&r.valid_len) || r.valid_len == seg.len());
        }
        if let Ok((_, used)) = decode(&bad[SEGMENT_HEADER_LEN.min(bad.len())..]) {
            prop_assert!(used <= bad.len());
        }
    }
}
