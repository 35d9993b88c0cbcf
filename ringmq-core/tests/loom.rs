//! loom model tests of the lock-free protocols: claim/publish/gating of the
//! ring, the seqlock of lossy readers (cold words included), concurrent
//! watermark advances, the per-slot delivery states of a gated subscription
//! (ack, nack, term, in_progress, release and the ack timer racing on one
//! delivery), and the registration of a push subscription.
//! Run with `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test
//! --release -p ringmq-core --test loom`.
#![cfg(loom)]

use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;
use ringmq_core::internals::{
    advance_gate, ClaimError, Peek, Reaped, Ring, Sequencer, SlotMeta, SlotStates,
};

fn meta(id: u64) -> SlotMeta {
    SlotMeta {
        id,
        key: id,
        timestamp_ns: 0,
        len: 8,
        ..SlotMeta::default()
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
                    ring.write(s, &meta(s), &(s * 10).to_le_bytes(), &[]);
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
        ring.write(0, &meta(0), &[0xAA; 16], &[]);
        let writer = {
            let ring = ring.clone();
            thread::spawn(move || ring.write(1, &meta(1), &[0xBB; 16], &[]))
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

/// As above, where one lap's message has cold words (an id other than its
/// sequence, flags and an expiry) and the other's has none, either way
/// round: an accepted copy has all of its own message's metadata, never a
/// mix of the two laps' (the header's cold bit and the cold words are
/// written between the stamps, like the payload); and a reader that sees
/// the second lap published reads all of its metadata.
#[test]
fn seqlock_reader_never_mixes_two_laps_cold_words() {
    fn cold(id: u64) -> SlotMeta {
        SlotMeta {
            id: 90 + id,
            flags: 8,
            expires_ns: 500 + id,
            ..meta(id)
        }
    }
    for cold_first in [true, false] {
        loom::model(move || {
            let (first, second) = if cold_first {
                (cold(0), meta(1))
            } else {
                (meta(0), cold(1))
            };
            let ring = Arc::new(Ring::new(1, 8));
            ring.write(0, &first, &[0xAA; 8], &[]);
            let writer = {
                let ring = ring.clone();
                thread::spawn(move || ring.write(1, &second, &[0xBB; 8], &[]))
            };
            let mut buf = Vec::new();
            if ring.peek(0) == Peek::Ready {
                let got = ring.copy_out(0, &mut buf);
                if ring.still_published(0) {
                    assert_eq!((got, buf.as_slice()), (first, &[0xAA; 8][..]));
                }
            }
            // A reader that sees the second lap published sees all of it.
            if ring.peek(1) == Peek::Ready {
                assert_eq!(ring.meta(1), second);
            }
            writer.join().unwrap();
            assert_eq!(ring.meta(1), second);
        });
    }
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

/// One settler settles sequence 0, another a run of two (1 and 2), as a
/// batch of acks does; the gate takes a run found settled in one swap, and
/// however the two interleave it ends at 3 and never passes an unsettled
/// sequence.
#[test]
fn a_settled_run_moves_the_watermark_in_one_step_without_stranding_it() {
    loom::model(|| {
        let gate = Arc::new(AtomicU64::new(0));
        let settled: Arc<[AtomicU64; 3]> =
            Arc::new([AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)]);
        let runs: [&[u64]; 2] = [&[0], &[1, 2]];
        let hs: Vec<_> = runs
            .into_iter()
            .map(|run| {
                let (gate, settled) = (gate.clone(), settled.clone());
                thread::spawn(move || {
                    for &i in run {
                        settled[i as usize].store(1, Ordering::SeqCst);
                    }
                    advance_gate(&gate, |w| {
                        w < 3 && settled[w as usize].load(Ordering::SeqCst) == 1
                    });
                    // Never past a sequence not yet settled.
                    let g = gate.load(Ordering::SeqCst);
                    for w in 0..g {
                        assert_eq!(settled[w as usize].load(Ordering::SeqCst), 1);
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(gate.load(Ordering::SeqCst), 3);
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

/// A second subscription registering at a new entry of the gates while a
/// producer claims and the first subscription settles everything claimed:
/// once registered, the second gate alone holds the producer, which never
/// claims past its start plus the capacity.
#[test]
fn a_gate_at_a_new_index_holds_producers_while_another_moves_on() {
    // A registration preempted between its steps, a producer preempted
    // between its claims, and the settler: three preemptions.
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(3);
    model.check(|| {
        let seq = Arc::new(Sequencer::new(2));
        let (first, _) = seq.register(false).unwrap();
        let producer = {
            let seq = seq.clone();
            thread::spawn(move || {
                for _ in 0..3 {
                    let _ = seq.try_claim(1, true);
                }
            })
        };
        let settler = {
            let seq = seq.clone();
            thread::spawn(move || seq.advance(first, seq.claimed()))
        };
        let (second, start) = seq.register(false).unwrap();
        producer.join().unwrap();
        settler.join().unwrap();
        assert_eq!(second, 1);
        assert!(
            seq.claimed() <= start + 2,
            "claimed {} past the new gate {start} plus the capacity",
            seq.claimed()
        );
    });
}

// ---------------------------------------------------------------------------
// The slot-state machine of a gated subscription (subscription/slots.rs),
// driven the way subscription/settle.rs and subscription/timer.rs drive it.
// ---------------------------------------------------------------------------

/// The ack deadline of every delivery in these models.
const DEADLINE: u64 = 10;
/// When the ack timer scans: the deadline has passed.
const DUE: u64 = DEADLINE;
/// The deadline an in_progress sets: after `DUE`.
const EXTENDED: u64 = 2 * DEADLINE;

/// What a delivery's holder, another thread with its raw tag, or the ack
/// timer does to one delivered sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Ack,
    Nack,
    Term,
    InProgress,
    /// The holder drops the delivery unsettled.
    Release,
    /// One scan of the ack timer at `DUE`.
    Timer,
}

/// What an `Op` ended in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// Took the delivery out of DELIVERED: the one settling transition that
    /// wins (ack, nack, term and the timer answer Ok / reap it).
    Won,
    /// The timer found the delivery abandoned, copied it out and settled it.
    ReapedAbandoned,
    /// Found the delivery expired, let go of its slot and settled it (the
    /// API's "expired and redelivered" error).
    LetGo,
    /// in_progress restarted the ack timer.
    Extended,
    /// Nothing to do: "unknown or already settled", or a timer scan that
    /// found nothing due.
    Refused,
}

/// One gated subscription's slot states on a ring of 2 slots, with its
/// watermark, and what the models check against them: who reads each slot
/// in place, how often a delivery was copied out, whether a closed
/// subscription has released its gate (after which producers may overwrite
/// any slot).
struct Sub {
    slots: SlotStates,
    gate: AtomicU64,
    /// The first sequence the model tracks (earlier ones were settled and
    /// their slots reused before it started).
    first: u64,
    /// Per slot: threads reading the payload in place (a holder until its
    /// settling call; a copy-out while it runs).
    readers: [AtomicUsize; 2],
    /// Per slot: copy-outs (nack, term, timer) of its delivery.
    copies: [AtomicUsize; 2],
    gate_released: AtomicBool,
}

impl Sub {
    /// Sequences below `settled` were delivered, acked and passed by the
    /// watermark; `delivered` are then delivered and unsettled.
    fn new(settled: u64, delivered: std::ops::Range<u64>) -> Sub {
        let slots = SlotStates::new(2);
        for s in 0..settled {
            slots.deliver(s, DEADLINE, false);
            assert!(slots.try_ack(s));
        }
        for s in delivered {
            slots.deliver(s, DEADLINE, false);
        }
        Sub {
            slots,
            gate: AtomicU64::new(settled),
            first: settled,
            readers: [AtomicUsize::new(0), AtomicUsize::new(0)],
            copies: [AtomicUsize::new(0), AtomicUsize::new(0)],
            gate_released: AtomicBool::new(false),
        }
    }

    fn slot(seq: u64) -> usize {
        (seq & 1) as usize
    }

    /// A read of `seq`'s payload in place, by a thread entitled to it.
    fn read(&self, seq: u64) {
        assert!(self.slots.pins(seq), "read of {seq} from an unpinned slot");
        assert!(
            !self.gate_released.load(Ordering::SeqCst),
            "read of {seq} after the gate was released"
        );
    }

    /// The holder of `seq` reads it in place until its settling call.
    fn start_reading(&self, seq: u64) {
        self.readers[Self::slot(seq)].fetch_add(1, Ordering::SeqCst);
    }

    fn stop_reading(&self, seq: u64) {
        self.read(seq);
        self.readers[Self::slot(seq)].fetch_sub(1, Ordering::SeqCst);
    }

    /// Copies `seq` out of the ring (into the retry store): an in-place read.
    fn copy_out(&self, seq: u64) {
        let i = Self::slot(seq);
        self.readers[i].fetch_add(1, Ordering::SeqCst);
        self.read(seq);
        self.copies[i].fetch_add(1, Ordering::SeqCst);
        self.read(seq);
        self.readers[i].fetch_sub(1, Ordering::SeqCst);
    }

    /// Checked by whoever made `seq` SETTLED: nobody still reads it.
    fn just_settled(&self, seq: u64) {
        assert_eq!(
            self.readers[Self::slot(seq)].load(Ordering::SeqCst),
            0,
            "{seq} settled while read in place"
        );
    }

    /// `SubCore::settle_slot`: the owner of a BUSY state settles it.
    fn settle(&self, seq: u64) {
        self.slots.settle(seq);
        self.just_settled(seq);
        self.advance();
    }

    /// `SubCore::advance`; the watermark never passes an unsettled sequence.
    fn advance(&self) {
        advance_gate(&self.gate, |w| self.slots.is_settled(w));
        for w in self.first..self.gate.load(Ordering::SeqCst) {
            assert!(self.slots.is_settled(w), "watermark passed unsettled {w}");
        }
    }

    /// settle.rs's `not_delivered`: an expired delivery's holder lets go.
    fn not_delivered(&self, seq: u64) -> Outcome {
        if self.slots.try_let_go_expired(seq) {
            self.settle(seq);
            Outcome::LetGo
        } else {
            Outcome::Refused
        }
    }

    /// One scan of the ack timer over `seq` at `now` (timer.rs's `reap`).
    fn reap(&self, seq: u64, now: u64) -> Outcome {
        match self.slots.try_reap(seq, now) {
            None => Outcome::Refused,
            Some(Reaped::Held) => {
                self.copy_out(seq);
                self.slots.mark_expired(seq);
                Outcome::Won
            }
            Some(Reaped::Abandoned) => {
                self.copy_out(seq);
                self.settle(seq);
                Outcome::ReapedAbandoned
            }
            Some(Reaped::Lapsed) => unreachable!("these models hold no raw tags"),
        }
    }

    /// `op` on `seq`, as settle.rs's `settle_ring` (or the timer) does it.
    fn run(&self, seq: u64, op: Op) -> Outcome {
        match op {
            Op::Ack => {
                if !self.slots.try_ack(seq) {
                    return self.not_delivered(seq);
                }
                self.just_settled(seq);
                self.advance();
                Outcome::Won
            }
            Op::Nack | Op::Term => {
                if !self.slots.try_take(seq) {
                    return self.not_delivered(seq);
                }
                self.copy_out(seq);
                self.settle(seq);
                Outcome::Won
            }
            Op::InProgress => {
                if self.slots.extend(seq, EXTENDED) {
                    Outcome::Extended
                } else {
                    Outcome::Refused
                }
            }
            Op::Release => {
                if self.slots.try_abandon(seq) {
                    Outcome::Won
                } else if self.slots.try_let_go_expired(seq) {
                    self.settle(seq);
                    Outcome::LetGo
                } else {
                    Outcome::Refused
                }
            }
            Op::Timer => self.reap(seq, DUE),
        }
    }

    /// The holder of `seq`: reads it in place between its calls, and stops
    /// reading before the last one (which settles or drops it).
    fn hold(&self, seq: u64, ops: &[Op]) -> Vec<(Op, Outcome)> {
        let mut out = Vec::new();
        for (i, &op) in ops.iter().enumerate() {
            if i + 1 == ops.len() {
                self.stop_reading(seq);
            } else {
                self.read(seq);
            }
            out.push((op, self.run(seq, op)));
        }
        out
    }

    /// `SubCore::try_release_gate` of a closed subscription.
    fn try_release_gate(&self, window: std::ops::Range<u64>) {
        for s in window.clone() {
            self.slots.try_settle_abandoned(s);
        }
        if !window.clone().any(|s| self.slots.pins(s)) {
            self.gate_released.store(true, Ordering::SeqCst);
            for s in window {
                assert_eq!(
                    self.readers[Self::slot(s)].load(Ordering::SeqCst),
                    0,
                    "gate released while {s} is read in place"
                );
            }
        }
    }
}

/// The sequence the race models deliver: slot 0's second lap on a 2-slot
/// ring, so slot 0 held sequence 0 before (a stale tag must not match).
const SEQ: u64 = 2;

/// Races `holder` (reading `SEQ` in place until its last call) against one
/// thread per entry of `others` (raw-tag callers that read nothing in place,
/// or timer scans), then lets the ack timer scan once more, as it would
/// later. Exactly one transition out of DELIVERED wins; the others are
/// refused, or let go of an expired slot; the message is copied out once
/// unless acked; the slot ends SETTLED and the watermark past it.
///
/// At most one thread of a model may end up waiting out another's BUSY
/// state (in `try_let_go_expired`): two waiters that yield to each other
/// form a path loom explores without end. Hence at most two settlers without
/// the timer, and one with it.
fn race(holder: &'static [Op], others: &'static [Op]) {
    loom::model(move || {
        let sub = Arc::new(Sub::new(SEQ, SEQ..SEQ + 1));
        if !holder.is_empty() {
            sub.start_reading(SEQ);
        }
        let hs: Vec<_> = others
            .iter()
            .map(|&op| {
                let sub = sub.clone();
                thread::spawn(move || vec![(op, sub.run(SEQ, op))])
            })
            .collect();
        let mut outcomes = sub.hold(SEQ, holder);
        for h in hs {
            outcomes.extend(h.join().unwrap());
        }
        outcomes.push((Op::Timer, sub.reap(SEQ, u64::MAX)));

        let count = |o: Outcome| outcomes.iter().filter(|x| x.1 == o).count();
        assert_eq!(count(Outcome::Won), 1, "one transition wins: {outcomes:?}");
        let acked = outcomes.contains(&(Op::Ack, Outcome::Won));
        let expired = outcomes.contains(&(Op::Timer, Outcome::Won));
        assert_eq!(
            count(Outcome::LetGo),
            expired as usize,
            "an expired slot is let go of once: {outcomes:?}"
        );
        assert_eq!(
            sub.copies[Sub::slot(SEQ)].load(Ordering::SeqCst),
            !acked as usize,
            "copied out once unless acked: {outcomes:?}"
        );
        assert!(sub.slots.is_settled(SEQ) && !sub.slots.pins(SEQ));
        assert_eq!(sub.gate.load(Ordering::SeqCst), SEQ + 1, "{outcomes:?}");
    });
}

/// The holder acks while the ack timer fires and another thread (a raw
/// tag's in_progress) extends the deadline.
#[test]
fn ack_races_the_timer_and_an_extension() {
    race(&[Op::Ack], &[Op::Timer, Op::InProgress]);
}

/// The holder nacks while two scans of the ack timer (two pollers) race.
#[test]
fn nack_races_two_timer_scans() {
    race(&[Op::Nack], &[Op::Timer, Op::Timer]);
}

/// The holder extends, then terms, while the timer fires.
#[test]
fn in_progress_then_term_races_the_timer() {
    race(&[Op::InProgress, Op::Term], &[Op::Timer]);
}

/// The holder drops the delivery while the timer fires and the deadline is
/// extended: the timer copies an abandoned delivery out and settles it, or
/// the holder lets go of an expired one.
#[test]
fn drop_races_the_timer_and_an_extension() {
    race(&[Op::Release], &[Op::Timer, Op::InProgress]);
}

/// Raw tags settled from three threads at once: an ack and a nack race
/// while a third thread extends the deadline.
#[test]
fn raw_ack_and_nack_race_an_extension() {
    race(&[], &[Op::Ack, Op::Nack, Op::InProgress]);
}

/// Raw tags: a term and a release race while the deadline is extended.
#[test]
fn raw_term_and_release_race_an_extension() {
    race(&[], &[Op::Term, Op::Release, Op::InProgress]);
}

/// The timer expires a held delivery (copying it out) while its holder
/// settles it. If the timer wins, the holder's settle fails and it must let
/// go of the slot, waiting out the timer's BUSY state: the slot then ends
/// SETTLED and the watermark moves, with no later timer scan to help (a
/// settle that met BUSY and gave up left the slot pinned for good).
#[test]
fn the_timer_expiring_a_held_delivery_never_strands_it() {
    for ops in [
        &[Op::Ack][..],
        &[Op::Nack],
        &[Op::Term],
        &[Op::InProgress, Op::Ack],
    ] {
        loom::model(move || {
            let sub = Arc::new(Sub::new(SEQ, SEQ..SEQ + 1));
            sub.start_reading(SEQ);
            let timer = {
                let sub = sub.clone();
                thread::spawn(move || sub.run(SEQ, Op::Timer))
            };
            let held = sub.hold(SEQ, ops);
            let timer = timer.join().unwrap();
            let last = held.last().unwrap().1;
            match timer {
                Outcome::Won => assert_eq!(last, Outcome::LetGo, "{held:?}"),
                _ => assert_eq!(last, Outcome::Won, "{held:?} {timer:?}"),
            }
            assert!(sub.slots.is_settled(SEQ) && !sub.slots.pins(SEQ));
            assert_eq!(sub.gate.load(Ordering::SeqCst), SEQ + 1);
        });
    }
}

/// Sequences 0 and 1 of a 2-slot ring settled out of order by two threads
/// (one acks 1, the other nacks 0), each advancing the watermark: it never
/// passes an unsettled sequence and ends at 2.
#[test]
fn out_of_order_settles_advance_the_watermark_to_the_end() {
    loom::model(|| {
        let sub = Arc::new(Sub::new(0, 0..2));
        let acker = {
            let sub = sub.clone();
            thread::spawn(move || sub.run(1, Op::Ack))
        };
        assert_eq!(sub.run(0, Op::Nack), Outcome::Won);
        assert_eq!(acker.join().unwrap(), Outcome::Won);
        assert_eq!(sub.gate.load(Ordering::SeqCst), 2);
    });
}

/// A closed subscription releases its gate (letting producers overwrite its
/// slots) only once no delivery pins a slot: the holder acks after the
/// close, racing the timer, and then tries to release the gate as
/// settle.rs does; no copy-out or in-place read happens after the release.
#[test]
fn a_closed_subscription_releases_its_gate_after_the_last_read() {
    loom::model(|| {
        let sub = Arc::new(Sub::new(SEQ, SEQ..SEQ + 1));
        sub.start_reading(SEQ);
        let timer = {
            let sub = sub.clone();
            thread::spawn(move || sub.run(SEQ, Op::Timer))
        };
        sub.hold(SEQ, &[Op::Ack]);
        sub.try_release_gate(SEQ..SEQ + 1);
        timer.join().unwrap();
        assert!(sub.gate_released.load(Ordering::SeqCst));
    });
}

/// As above, but the holder drops the delivery after the close, while a
/// timer scan (a poll that began before the close) runs. ABANDONED does not
/// pin the slot, so the holder's release finds nothing pinned and releases
/// the gate; the scan can still take the abandoned slot (ABANDONED -> BUSY)
/// and copy it out of a ring producers may now overwrite, into the retry
/// store (and on to the dead-letter topic at `max_attempts` 1) — unless the
/// close settles abandoned slots first (ABANDONED -> SETTLED, racing the
/// scan's ABANDONED -> BUSY), as it does.
#[test]
fn a_closed_subscription_never_frees_a_slot_the_timer_may_copy() {
    loom::model(|| {
        let sub = Arc::new(Sub::new(SEQ, SEQ..SEQ + 1));
        sub.start_reading(SEQ);
        let timer = {
            let sub = sub.clone();
            thread::spawn(move || sub.run(SEQ, Op::Timer))
        };
        sub.hold(SEQ, &[Op::Release]);
        sub.try_release_gate(SEQ..SEQ + 1);
        timer.join().unwrap();
    });
}

/// How a subscription becomes visible, checked on a stand-in rather than on
/// the engine's code: a real topic starts threads loom cannot run, so this
/// model mirrors the protocol of `TopicCore::add_subscription` and
/// `Topic::pull_subscription` (both in `src/topic/registry.rs`) instead of
/// calling them. The stand-in registry is a mutex over (group, kind): an
/// entry is pushed, under the lock, with its kind already fixed, and a
/// lookup reports the kind it finds (the real `pull_subscription` refuses a
/// push entry). One thread registers group "g" for push while another
/// registers it for pull (the second one gets "exists"), and a third looks
/// "g" up twice: it is pullable only if the pull registration won, and
/// never changes kind once seen. A change to the registry's locking must be
/// made here too; this test cannot notice it.
#[test]
fn a_push_subscription_is_never_pullable() {
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Kind {
        Pull,
        Push,
    }
    type Registry = Mutex<Vec<(String, Kind)>>;
    fn register(reg: &Registry, group: &str, kind: Kind) -> bool {
        let mut subs = reg.lock().unwrap();
        if subs.iter().any(|(g, _)| g == group) {
            return false;
        }
        subs.push((group.to_owned(), kind));
        true
    }
    fn lookup(reg: &Registry, group: &str) -> Option<Kind> {
        let subs = reg.lock().unwrap();
        subs.iter().find(|(g, _)| g == group).map(|&(_, k)| k)
    }
    loom::model(|| {
        let reg = Arc::new(Registry::new(Vec::new()));
        let registrars: Vec<_> = [Kind::Push, Kind::Pull]
            .into_iter()
            .map(|kind| {
                let reg = reg.clone();
                thread::spawn(move || register(&reg, "g", kind).then_some(kind))
            })
            .collect();
        let first = lookup(&reg, "g");
        let second = lookup(&reg, "g");
        let won: Vec<Kind> = registrars
            .into_iter()
            .filter_map(|h| h.join().unwrap())
            .collect();
        assert_eq!(won.len(), 1, "one registration of a group wins");
        for seen in [first, second].into_iter().flatten() {
            assert_eq!(seen, won[0], "seen as {seen:?}, registered as {won:?}");
        }
        if first.is_some() {
            assert_eq!(second, first);
        }
    });
}
