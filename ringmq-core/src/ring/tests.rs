//! The ring's layout and its cold words.

use super::*;

/// Every body starts a cache line and no two bodies share one, whatever
/// the payload size; headers are half a line each, all before the
/// bodies; and each slot still holds its own message.
#[test]
fn bodies_start_cache_lines_and_share_none() {
    for slot_size in [1, 8, 56, 57, 64, 65, 120, 200, 256, 4096] {
        for capacity in [1, 2, 16] {
            let ring = Ring::new(capacity, slot_size);
            let cap = capacity as u64;
            assert_eq!(ring.stride % LINE_WORDS, 0, "slot_size {slot_size}");
            assert!(ring.stride * 8 >= slot_size);
            assert!(
                ring.stride * 8 < slot_size + 64,
                "no more than one line's slack"
            );
            let first_body = ring.body(0).as_ptr() as usize;
            for seq in 0..cap {
                let h = ring.header(seq).as_ptr() as usize;
                let b = ring.body(seq).as_ptr() as usize;
                assert_eq!(b % 64, 0, "slot_size {slot_size}, slot {seq}");
                assert_eq!(h % 32, 0, "a header never spans two lines");
                assert!(h + HEADER_WORDS * 8 <= first_body, "headers before bodies");
                assert_eq!(b - first_body, seq as usize * ring.stride * 8);
            }
            assert_eq!(
                ring.footprint(),
                (capacity * HEADER_WORDS).next_multiple_of(LINE_WORDS) * 8
                    + capacity * ring.stride * 8
                    + (LINE_WORDS - 1) * 8
            );
            for seq in 0..2 * cap {
                let payload = vec![seq as u8; slot_size];
                let meta = SlotMeta {
                    id: seq,
                    key: seq * 3,
                    ..SlotMeta::default()
                };
                ring.write(seq, &meta, &payload, &[]);
            }
            for seq in cap..2 * cap {
                assert_eq!(ring.peek(seq), Peek::Ready);
                let meta = ring.meta(seq);
                assert_eq!(
                    (meta.id, meta.key, meta.len as usize),
                    (seq, seq * 3, slot_size)
                );
                // SAFETY: published above and no writer is left.
                let data = unsafe { ring.payload(seq, slot_size) };
                assert!(
                    data.iter().all(|&b| b == seq as u8),
                    "slot {seq} was overwritten"
                );
            }
        }
    }
}

/// A message whose id is its sequence, with no extension, flags or
/// expiry, never writes the cold words; one with any of them reads them
/// all back; and the next lap's plain message in that slot reads as
/// plain again (its header says the cold words are not its own).
#[test]
fn cold_words_are_written_and_read_only_for_messages_that_have_them() {
    let ring = Ring::try_new(4, 16, 16).unwrap();
    let untouched = |ring: &Ring| ring.cold.iter().all(|w| w.load(Ordering::Relaxed) == 0);
    let plain = |seq| SlotMeta {
        id: seq,
        key: 7,
        timestamp_ns: 11,
        attempt_base: 2,
        ..SlotMeta::default()
    };
    for seq in 0..4 {
        ring.write(seq, &plain(seq), b"plain", &[]);
        assert!(!ring.passed_over(seq, u64::MAX));
    }
    assert!(untouched(&ring), "plain messages touched the cold words");
    let colds = [
        SlotMeta { id: 99, ..plain(4) },
        SlotMeta {
            flags: FLAG_SKIP,
            ..plain(5)
        },
        SlotMeta {
            expires_ns: 500,
            ..plain(6)
        },
        plain(7),
    ];
    for (seq, m) in (4..).zip(&colds) {
        let ext: &[u8] = if seq == 7 { b"ext!" } else { &[] };
        ring.write(seq, m, b"cold", ext);
    }
    for (seq, m) in (4..).zip(&colds) {
        let got = ring.meta(seq);
        let ext_len = if seq == 7 { 4 } else { 0 };
        assert_eq!(
            got,
            SlotMeta {
                len: 4,
                ext_len,
                ..*m
            },
            "seq {seq}"
        );
        let mut out = Vec::new();
        assert_eq!(ring.copy_out(seq, &mut out), got);
        assert!(ring.still_published(seq));
        let want: &[u8] = if seq == 7 { b"coldext!" } else { b"cold" };
        assert_eq!(out, want);
    }
    assert!(ring.passed_over(5, 0), "a skip slot");
    assert!(
        !ring.passed_over(6, 499) && ring.passed_over(6, 500),
        "expiry"
    );
    assert!(!ring.passed_over(4, u64::MAX) && !ring.passed_over(7, u64::MAX));
    // The next lap: plain again, though the cold words still hold the
    // previous lap's.
    for seq in 8..12 {
        ring.write(seq, &plain(seq), b"again", &[]);
        assert_eq!(
            ring.meta(seq),
            SlotMeta {
                len: 5,
                ..plain(seq)
            }
        );
        assert!(!ring.passed_over(seq, u64::MAX));
    }
}
