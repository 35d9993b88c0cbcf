//! loom model tests of the lock-free protocols: claim/publish/gating of the
//! ring, the seqlock of lossy readers, and concurrent watermark advances.
//! Run with `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test
//! --release -p ringmq-core --test loom`.
#![cfg(loom)]

use loom::sync::atomic::{AtomicU64, Ordering};
use loom::sync::Arc;
use loom::thread;
use ringmq_core::internals::{advance_gate, ClaimError, Peek, Ring, Sequencer, SlotMeta};

fn meta(id: u64) -> SlotMeta {
    SlotMeta {
        id,
        key: id,
        timestamp_ns: 0,
        len: 8,
        attempt_base: 0,
    }
}

/// One gated consumer; a ring of 2 slots; `producers` threads publish
/// `per_producer` messages each. The consumer sees every sequence once with
/// its own payload, and no producer overwrites a slot before it is settled.
fn gated_model(producers: u64, per_producer: u64) {
    let total = producers * per_producer;
    let ring = Arc::new(Ring::new(2, 8));
    let seq = Arc::new(Sequencer::new(2));
    let (gate, start) = seq.register(false).unwrap();
    assert_eq!(start, 0);
    let hs: Vec<_> = (0..producers)
        .map(|_| {
            let (ring, seq) = (ring.clone(), seq.clone());
            thread::spawn(move || {
                for _ in 0..per_producer {
                    let s = loop {
                        match seq.try_claim(1, true) {
                            Ok(s) => break s,
                            Err(ClaimError::Full) => thread::yield_now(),
                        }
                    };
                    ring.write(s, &meta(s), &(s * 10).to_le_bytes());
                }
            })
        })
        .collect();
    let mut buf = Vec::new();
    for s in 0..total {
        while ring.peek(s) != Peek::Ready {
            thread::yield_now();
        }
        let m = ring.copy_out(s, &mut buf);
        assert_eq!(m.id, s);
        assert_eq!(buf, (s * 10).to_le_bytes());
        assert!(ring.still_published(s), "overwritten before it was settled");
        seq.advance(gate, s + 1);
    }
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(seq.claimed(), total);
}

/// Gating: one producer laps a 2-slot ring and must wait for the consumer.
#[test]
fn gated_producer_never_overwrites_unsettled_slots() {
    loom::model(|| gated_model(1, 3));
}

/// Multi-producer claim: two producers race for the slots of one lap.
#[test]
fn two_producers_claim_distinct_slots() {
    loom::model(|| gated_model(2, 1));
}

/// A lossy reader racing an ungated producer either gets a whole message or
/// learns that it was overwritten; it never accepts a torn one.
#[test]
fn seqlock_reader_never_accepts_a_torn_message() {
    loom::model(|| {
        let ring = Arc::new(Ring::new(1, 16));
        ring.write(0, &meta(0), &[0xAA; 16]);
        let writer = {
            let ring = ring.clone();
            thread::spawn(move || ring.write(1, &meta(1), &[0xBB; 16]))
        };
        let mut buf = Vec::new();
        if ring.peek(0) == Peek::Ready {
            ring.copy_out(0, &mut buf);
            if ring.still_published(0) {
                assert_eq!(buf, [0xAA; 16]);
            }
        }
        writer.join().unwrap();
        assert_eq!(ring.peek(0), Peek::Lapped);
        assert_eq!(ring.peek(1), Peek::Ready);
    });
}

/// Two consumers settle sequences 0 and 1 in either order; however they
/// interleave, the watermark ends at 2 (neither stops short).
#[test]
fn concurrent_settlers_never_strand_the_watermark() {
    loom::model(|| {
        let gate = Arc::new(AtomicU64::new(0));
        let settled: Arc<[AtomicU64; 2]> = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
        let hs: Vec<_> = (0..2u64)
            .map(|i| {
                let (gate, settled) = (gate.clone(), settled.clone());
                thread::spawn(move || {
                    settled[i as usize].store(1, Ordering::SeqCst);
                    advance_gate(&gate, |w| {
                        w < 2 && settled[w as usize].load(Ordering::SeqCst) == 1
                    });
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(gate.load(Ordering::SeqCst), 2);
    });
}

/// A subscription registering while a producer claims: the producer never
/// claims past the new gate plus the capacity.
#[test]
fn registering_a_gate_races_claims_safely() {
    loom::model(|| {
        let seq = Arc::new(Sequencer::new(2));
        let producer = {
            let seq = seq.clone();
            thread::spawn(move || {
                let mut got = 0;
                for _ in 0..3 {
                    if seq.try_claim(1, true).is_ok() {
                        got += 1;
                    }
                }
                got
            })
        };
        let (gate, start) = seq.register(false).unwrap();
        let got = producer.join().unwrap();
        // Nothing was settled, so claims stop at start + capacity.
        assert!(
            seq.claimed() <= start + 2,
            "claimed {} start {start}",
            seq.claimed()
        );
        assert!(got >= 2);
        assert_eq!(seq.gate_value(gate), start);
    });
}
