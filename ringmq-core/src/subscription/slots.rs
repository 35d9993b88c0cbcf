//! The delivery state of each ring slot, for one gated subscription.
//!
//! Each slot of the ring has one state word per gated subscription,
//! `(seq + 1) << 3 | tag`, and the ack deadline of its delivery:
//!
//! | tag       | meaning                                                   |
//! |-----------|-----------------------------------------------------------|
//! | DELIVERED | handed to a consumer that holds it (the slot is pinned)   |
//! | RAW       | DELIVERED, held by raw tag (the C API): pinned only until |
//! |           | its ack deadline                                          |
//! | ABANDONED | its holder dropped it unsettled; the ack timer will fire  |
//! | EXPIRED   | redelivered from a copy; the old holder still pins it     |
//! | BUSY      | someone is copying it out (nack, term, expiry)            |
//! | SETTLED   | done for this subscription                                |
//! | LAPSED    | a raw holder's delivery expired: settled for the ring, and |
//! |           | the holder's settle is refused as expired                 |
//!
//! Transitions (every one out of DELIVERED is a compare-and-swap, so ack,
//! nack, term, release and the ack timer race safely and exactly one wins):
//!
//! ```text
//! claim ─▶ DELIVERED ──ack──────────────────────────────▶ SETTLED
//!              │ ├──nack/term──▶ BUSY ──copied out────────▶ SETTLED
//!              │ ├──release────▶ ABANDONED ─timer─▶ BUSY ─▶ SETTLED
//!              │ └──timer──────▶ BUSY ──copied out──▶ EXPIRED
//!              │                                      │ holder lets go
//!              │                                      ▼
//!              └───────────────────────────────────── BUSY ─▶ SETTLED
//! ```
//!
//! A closed subscription settles its ABANDONED slots itself (ABANDONED ->
//! SETTLED, a swap the timer's ABANDONED -> BUSY races) before it gives up
//! its gate, so a timer scan still running can never copy out a slot that
//! producers may already overwrite.
//!
//! A delivery turned into a raw tag (`Delivery::into_raw`, the C API) is
//! RAW: it behaves as DELIVERED, except that the ack timer treats it as
//! abandoned (copies the message out and frees the slot), so a consumer
//! that forgets a tag never holds producers back past the ack timeout; its
//! payload is valid only until then (the C header says so), and its later
//! settle finds LAPSED and is refused as expired.
//!
//! `pinned` counts the EXPIRED words: deliveries past their ack deadline
//! whose slot a live holder (a `Delivery`) still pins. It is raised before
//! the word becomes EXPIRED and lowered only by the holder's EXPIRED -> BUSY,
//! so it never reads below the number of such words.
//!
//! Invariants: a slot is pinned (its payload may be read in place) while
//! its word is DELIVERED, RAW, EXPIRED or BUSY for the sequence it holds; only the
//! thread that moved a word to BUSY moves it on; SETTLED is final for a
//! sequence. A sequence number is used once, so a stale tag never matches a
//! later lap's word. All swaps and the settle store are SeqCst, so two
//! settlers that advance the watermark never both stop short (each sees the
//! other's settle, or the other sees its own).

use crate::sync::{spin_loop, AtomicU64, Ordering::*};

const DELIVERED: u64 = 1;
const ABANDONED: u64 = 2;
const EXPIRED: u64 = 3;
const BUSY: u64 = 4;
const RAW: u64 = 5;
const LAPSED: u64 = 6;
const SETTLED: u64 = 7;

#[inline]
fn enc(seq: u64, tag: u64) -> u64 {
    (seq + 1) << 3 | tag
}

struct SlotState {
    word: AtomicU64,
    deadline: AtomicU64,
}

/// What the ack timer found when it took a slot past its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaped {
    /// Its holder still has it: the slot must stay pinned (EXPIRED) once the
    /// message is copied out, until the holder lets go.
    Held,
    /// Its holder had dropped it: the slot settles once copied out.
    Abandoned,
    /// Its holder holds a raw tag, whose payload is valid only until the
    /// ack deadline: the slot lapses (is freed) once copied out.
    Lapsed,
}

/// The delivery states of one subscription's view of a ring.
pub struct SlotStates {
    slots: Box<[SlotState]>,
    mask: u64,
    /// EXPIRED words (see the module doc).
    pinned: AtomicU64,
}

impl SlotStates {
    /// States for a ring of `capacity` slots (a power of two); 0 for an
    /// ungated subscription, which tracks nothing here.
    pub fn new(capacity: usize) -> SlotStates {
        SlotStates::try_new(capacity).expect("memory for the slot states")
    }

    /// As [`new`](Self::new); `None` when the memory cannot be had.
    pub fn try_new(capacity: usize) -> Option<SlotStates> {
        assert!(capacity == 0 || capacity.is_power_of_two());
        let mut slots = Vec::new();
        slots.try_reserve_exact(capacity).ok()?;
        slots.extend((0..capacity).map(|_| SlotState {
            word: AtomicU64::new(0),
            deadline: AtomicU64::new(0),
        }));
        Some(SlotStates {
            slots: slots.into_boxed_slice(),
            mask: (capacity as u64).wrapping_sub(1),
            pinned: AtomicU64::new(0),
        })
    }

    fn slot(&self, seq: u64) -> &SlotState {
        &self.slots[(seq & self.mask) as usize]
    }

    fn cas(&self, seq: u64, from: u64, to: u64) -> bool {
        self.slot(seq)
            .word
            .compare_exchange(enc(seq, from), enc(seq, to), SeqCst, Acquire)
            .is_ok()
    }

    /// Marks a claimed sequence DELIVERED (RAW when `raw`: taken straight
    /// as a raw tag) with its ack deadline.
    pub fn deliver(&self, seq: u64, deadline: u64, raw: bool) {
        let s = self.slot(seq);
        s.deadline.store(deadline, Relaxed);
        s.word
            .store(enc(seq, if raw { RAW } else { DELIVERED }), Release);
    }

    /// Swaps DELIVERED or RAW (whichever it is) to `to`: one swap, from the
    /// state a load found (a swap that fails costs as much as one that
    /// succeeds, so trying both would cost a raw tag's every settle twice).
    /// Only its holder turns DELIVERED into RAW, so a holder's settle never
    /// races that change; a failed swap means someone else (the ack timer)
    /// took the delivery, as before.
    #[inline(always)]
    fn take_delivered(&self, seq: u64, to: u64) -> bool {
        let word = &self.slot(seq).word;
        let w = word.load(Acquire);
        if w != enc(seq, DELIVERED) && w != enc(seq, RAW) {
            return false;
        }
        word.compare_exchange(w, enc(seq, to), SeqCst, Acquire)
            .is_ok()
    }

    /// The ack: DELIVERED (or RAW) -> SETTLED. False if it was neither.
    #[inline(always)]
    pub fn try_ack(&self, seq: u64) -> bool {
        self.take_delivered(seq, SETTLED)
    }

    /// A nack or term takes the delivery to copy it out: -> BUSY.
    pub fn try_take(&self, seq: u64) -> bool {
        self.take_delivered(seq, BUSY)
    }

    /// The holder drops it unsettled: -> ABANDONED.
    pub fn try_abandon(&self, seq: u64) -> bool {
        self.take_delivered(seq, ABANDONED)
    }

    /// The holder turned the delivery into a raw tag: DELIVERED -> RAW.
    /// False if it is not DELIVERED (the ack timer took it: it expired).
    pub fn mark_raw(&self, seq: u64) -> bool {
        self.cas(seq, DELIVERED, RAW)
    }

    /// Is `seq` DELIVERED or RAW (held, not yet expired)?
    pub fn is_delivered(&self, seq: u64) -> bool {
        let w = self.slot(seq).word.load(Acquire);
        w == enc(seq, DELIVERED) || w == enc(seq, RAW)
    }

    /// Restarts the ack timer of a held sequence; false if it is not held.
    pub fn extend(&self, seq: u64, deadline: u64) -> bool {
        if !self.is_delivered(seq) {
            return false;
        }
        self.slot(seq).deadline.store(deadline, Relaxed);
        // The timer may have taken it meanwhile; then the extension is late.
        self.is_delivered(seq)
    }

    /// The old holder of an expired delivery lets go: EXPIRED -> BUSY, after
    /// waiting out a BUSY state (a settle that failed against DELIVERED may
    /// have met the timer copying the message out; the holder never sees its
    /// own BUSY, and the timer ends in EXPIRED, which the holder must then
    /// take, or the slot would stay pinned for good). The caller settles.
    pub fn try_let_go_expired(&self, seq: u64) -> bool {
        let s = self.slot(seq);
        let mut spins = 0u32;
        while s.word.load(Acquire) == enc(seq, BUSY) {
            spins += 1;
            if spins < 64 {
                spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        if !self.cas(seq, EXPIRED, BUSY) {
            return false;
        }
        self.pinned.fetch_sub(1, SeqCst);
        true
    }

    /// Did a raw holder's delivery of `seq` lapse (expire, its slot freed)?
    /// The first such holder's settle learns so (LAPSED -> SETTLED), once.
    pub fn try_take_lapsed(&self, seq: u64) -> bool {
        self.cas(seq, LAPSED, SETTLED)
    }

    /// A closed subscription gives up a dropped delivery for good:
    /// ABANDONED -> SETTLED. False if the timer took it first (then its
    /// copy-out owns the slot until it settles).
    pub fn try_settle_abandoned(&self, seq: u64) -> bool {
        self.cas(seq, ABANDONED, SETTLED)
    }

    /// The ack timer takes `seq` if it is past its deadline: DELIVERED or
    /// ABANDONED -> BUSY.
    pub fn try_reap(&self, seq: u64, now: u64) -> Option<Reaped> {
        let s = self.slot(seq);
        let w = s.word.load(Acquire);
        let (tag, reaped) = if w == enc(seq, DELIVERED) {
            (DELIVERED, Reaped::Held)
        } else if w == enc(seq, RAW) {
            (RAW, Reaped::Lapsed)
        } else if w == enc(seq, ABANDONED) {
            (ABANDONED, Reaped::Abandoned)
        } else {
            return None;
        };
        if s.deadline.load(Relaxed) > now || !self.cas(seq, tag, BUSY) {
            return None;
        }
        Some(reaped)
    }

    /// After the timer copied a raw holder's delivery out: BUSY -> LAPSED,
    /// which frees the slot like SETTLED.
    pub fn mark_lapsed(&self, seq: u64) {
        self.slot(seq).word.store(enc(seq, LAPSED), SeqCst);
    }

    /// After the timer copied a held delivery out: BUSY -> EXPIRED.
    pub fn mark_expired(&self, seq: u64) {
        // Counted first: the holder can let go (and uncount) only after
        // the store below.
        self.pinned.fetch_add(1, SeqCst);
        self.slot(seq).word.store(enc(seq, EXPIRED), SeqCst);
    }

    /// Deliveries past their ack deadline whose slot a live holder still
    /// pins (EXPIRED).
    pub fn pinned(&self) -> u64 {
        self.pinned.load(Relaxed)
    }

    /// The owner of a BUSY state is done with the slot: -> SETTLED.
    pub fn settle(&self, seq: u64) {
        self.slot(seq).word.store(enc(seq, SETTLED), SeqCst);
    }

    /// Is `seq` done for the ring, SETTLED or LAPSED (read by the
    /// watermark advance)?
    pub fn is_settled(&self, seq: u64) -> bool {
        let w = self.slot(seq).word.load(SeqCst);
        w == enc(seq, SETTLED) || w == enc(seq, LAPSED)
    }

    /// Does `seq` still pin its slot (a holder may read it in place)?
    pub fn pins(&self, seq: u64) -> bool {
        let w = self.slot(seq).word.load(Acquire);
        w == enc(seq, DELIVERED)
            || w == enc(seq, RAW)
            || w == enc(seq, EXPIRED)
            || w == enc(seq, BUSY)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn exactly_one_transition_out_of_delivered_wins() {
        let s = SlotStates::new(2);
        s.deliver(5, 100, false);
        assert!(s.try_ack(5));
        assert!(!s.try_take(5) && !s.try_abandon(5) && !s.try_ack(5));
        assert_eq!(s.try_reap(5, 1000), None);
        assert!(s.is_settled(5) && !s.pins(5));
    }

    #[test]
    fn a_stale_tag_never_matches_the_next_lap() {
        let s = SlotStates::new(2);
        s.deliver(3, 100, false);
        assert!(!s.try_ack(1), "sequence 1 shares the slot but is not 3");
        assert!(s.pins(3));
    }

    #[test]
    fn a_raw_holders_delivery_lapses_at_its_deadline_and_frees_the_slot() {
        let s = SlotStates::new(4);
        s.deliver(1, 100, false);
        s.mark_raw(1);
        assert!(s.is_delivered(1) && s.pins(1));
        assert_eq!(s.try_reap(1, 100), Some(Reaped::Lapsed));
        s.mark_lapsed(1);
        assert!(s.is_settled(1) && !s.pins(1), "the slot is free");
        assert!(!s.try_ack(1) && !s.try_let_go_expired(1));
        assert!(s.try_take_lapsed(1), "the late settle learns it expired");
        assert!(!s.try_take_lapsed(1), "once");
        s.deliver(2, 100, false);
        s.mark_raw(2);
        assert!(
            s.try_ack(2),
            "acked in time, a raw delivery settles as usual"
        );
    }

    #[test]
    fn the_timer_expires_a_held_delivery_and_the_holder_lets_go() {
        let s = SlotStates::new(4);
        s.deliver(2, 100, false);
        assert_eq!(s.try_reap(2, 99), None, "not yet due");
        assert!(s.extend(2, 200));
        assert_eq!(s.try_reap(2, 150), None, "extended");
        assert_eq!(s.try_reap(2, 200), Some(Reaped::Held));
        s.mark_expired(2);
        assert!(s.pins(2) && !s.try_ack(2));
        assert_eq!(s.pinned(), 1, "past its deadline, still held");
        assert!(s.try_let_go_expired(2));
        assert_eq!(s.pinned(), 0);
        s.settle(2);
        assert!(s.is_settled(2));
        assert!(!s.try_let_go_expired(2), "once");
        assert_eq!(s.pinned(), 0);
    }
}
