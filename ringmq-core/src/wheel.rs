//! A hierarchical timing wheel: the delayed messages of a topic, held outside
//! the ring until they are due.
//!
//! Time counts in ticks of `tick_ns`. There are 6 levels of 64 slots; a slot
//! of level `l` covers 64^l ticks, so the levels span an epoch of 2^36 ticks
//! (795 days at 1 ms). An item due at tick `t` goes on the level of the
//! highest base-64 digit in which `t` differs from the wheel's tick
//! `elapsed`, in the slot named by that digit of `t`, or in level 0's current
//! slot when `t` is `elapsed` or past. So all items lie ahead of `elapsed`, a
//! level's slots are in time order and a lower level's items are all due
//! before a higher one's: the next slot to visit is the lowest set bit of the
//! lowest non-empty level's occupancy bitmap.
//!
//! Cascade: advancing visits the occupied slots in time order up to the new
//! tick. A level-0 slot fires; a higher slot is emptied and its items placed
//! again relative to its start, which puts them on lower levels. An item
//! moves down at most once per level: insert and fire are O(1) amortised.
//!
//! Overflow: items due in a later epoch than `elapsed` wait in a list that
//! keeps its minimum due time. Once the levels are empty and time reaches
//! that minimum's epoch, the list is placed again (later epochs stay in it).
//!
//! Never early, never a tick late: a level-0 slot's items share a tick, not a
//! due time. Firing a slot sorts it by (due, insertion sequence) in a reused
//! scratch vector, relinks it in that order and pops items while
//! `due <= now`; an advance inside a tick fires the tick's due items and
//! keeps the rest, sorted, for later. Each slot keeps its minimum due time,
//! which makes [`TimingWheel::next_due`] exact and lets an advance skip a
//! slot with nothing due.
//!
//! Items live in a slab (a `Vec` of nodes and a free list), linked into the
//! slot lists by index: once the slab and the scratch vector have grown to
//! the most items held, insert and fire allocate nothing. An empty wheel
//! allocates nothing; its slot tables (about 5 KiB) are inline.

use std::mem;

const BITS: u32 = 6;
const SLOTS: usize = 1 << BITS;
const LEVELS: usize = 6;
/// log2 of the ticks one epoch (all the levels) covers.
const EPOCH_BITS: u32 = BITS * LEVELS as u32;
/// The end of a list; also the index the slab never reaches.
const NIL: u32 = u32::MAX;

struct Node<T> {
    due: u64,
    seq: u64,
    /// The next node of the node's slot list, or of the free list.
    next: u32,
    /// `Some` while the node is held, `None` on the free list.
    item: Option<T>,
}

struct Level {
    heads: [u32; SLOTS],
    /// The minimum due time of each slot's items; `u64::MAX` when empty.
    mins: [u64; SLOTS],
    /// Bit `s` is set when slot `s` holds items.
    occupied: u64,
}

impl Level {
    const EMPTY: Level = Level {
        heads: [NIL; SLOTS],
        mins: [u64::MAX; SLOTS],
        occupied: 0,
    };
}

/// A hierarchical timing wheel of items of type `T` (see the module docs).
pub(crate) struct TimingWheel<T> {
    tick_ns: u64,
    /// The wheel's time: the last `now_ns` given to `new` or `advance`.
    now: u64,
    /// The tick items are placed relative to: `now / tick_ns` between calls.
    elapsed: u64,
    levels: [Level; LEVELS],
    /// Bit `s`: level 0's slot `s` is in (due, seq) order.
    sorted: u64,
    /// The overflow list and its minimum due time (`u64::MAX` when empty).
    overflow: u32,
    overflow_min: u64,
    slab: Vec<Node<T>>,
    free: u32,
    len: usize,
    /// The next insertion sequence number (ties fire in its order).
    seq: u64,
    /// (due, seq, node) of the slot being sorted.
    scratch: Vec<(u64, u64, u32)>,
}

impl<T> TimingWheel<T> {
    /// `tick_ns`: the width of a level-0 slot (the engine will use 1 ms);
    /// `now_ns`: the current monotonic time. Allocates nothing.
    pub(crate) fn new(tick_ns: u64, now_ns: u64) -> Self {
        assert!(tick_ns > 0, "a timing wheel's tick must be positive");
        Self {
            tick_ns,
            now: now_ns,
            elapsed: now_ns / tick_ns,
            levels: [Level::EMPTY; LEVELS],
            sorted: 0,
            overflow: NIL,
            overflow_min: u64::MAX,
            slab: Vec::new(),
            free: NIL,
            len: 0,
            seq: 0,
            scratch: Vec::new(),
        }
    }

    /// Schedules `item` for `due_ns` (monotonic ns). A due time at or before
    /// the wheel's current time fires on the next advance. Due times beyond
    /// the current epoch wait in the overflow list (never lost, never early).
    pub(crate) fn insert(&mut self, due_ns: u64, item: T) {
        let node = Node {
            due: due_ns,
            seq: self.seq,
            next: NIL,
            item: Some(item),
        };
        self.seq += 1;
        let i = match self.free {
            NIL => {
                assert!(
                    self.slab.len() < NIL as usize,
                    "too many items in a timing wheel"
                );
                self.slab.push(node);
                self.slab.len() as u32 - 1
            }
            i => {
                self.free = self.slab[i as usize].next;
                self.slab[i as usize] = node;
                i
            }
        };
        self.len += 1;
        self.place(i);
    }

    /// Items held.
    #[cfg_attr(any(not(test), loom), allow(dead_code))] // the topic counts its own
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[cfg_attr(any(not(test), loom), allow(dead_code))]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The earliest due time of the items held (None when empty), which is
    /// also the earliest time at which `advance` fires something. It may be
    /// before the wheel's time (an item scheduled in the past). O(levels).
    pub(crate) fn next_due(&self) -> Option<u64> {
        let (level, slot, _) = self.next_slot()?;
        Some(match self.levels.get(level) {
            Some(l) => l.mins[slot],
            None => self.overflow_min,
        })
    }

    /// Moves the wheel's time to `now_ns` and calls `fire(due_ns, item)` for
    /// every item due at or before `now_ns`, in (due, insertion) order;
    /// cascades higher levels down as needed. `now_ns` before the wheel's
    /// time is a no-op. If `fire` panics, the items not yet fired stay held.
    pub(crate) fn advance(&mut self, now_ns: u64, mut fire: impl FnMut(u64, T)) {
        if now_ns < self.now {
            return;
        }
        self.now = now_ns;
        let target = now_ns / self.tick_ns;
        while let Some((level, slot, tick)) = self.next_slot() {
            if tick > target {
                break;
            }
            self.elapsed = tick;
            if level == 0 {
                // This empties a slot before the target tick; at the target
                // tick the items due after `now_ns` stay (and the slot next).
                self.fire_slot(slot, now_ns, &mut fire);
                if tick == target {
                    break;
                }
            } else if level == LEVELS {
                self.overflow_min = u64::MAX;
                let list = mem::replace(&mut self.overflow, NIL);
                self.place_list(list);
            } else {
                let l = &mut self.levels[level];
                l.occupied &= !(1 << slot);
                l.mins[slot] = u64::MAX;
                let list = mem::replace(&mut l.heads[slot], NIL);
                self.place_list(list);
            }
        }
        // Every occupied slot starts after `target`, so placements stay valid.
        self.elapsed = target;
    }

    /// Removes and returns every item, in no particular order (for closing).
    /// The slab keeps its capacity.
    pub(crate) fn drain(&mut self) -> Vec<(u64, T)> {
        let out = self
            .slab
            .drain(..)
            .filter_map(|n| Some((n.due, n.item?)))
            .collect();
        let (slab, scratch) = (mem::take(&mut self.slab), mem::take(&mut self.scratch));
        *self = Self {
            slab,
            scratch,
            ..Self::new(self.tick_ns, self.now)
        };
        out
    }

    /// The next slot to visit as (level, slot, first tick); level `LEVELS`
    /// stands for the overflow list and the first tick of its minimum's
    /// epoch, and comes only when the levels are empty.
    fn next_slot(&self) -> Option<(usize, usize, u64)> {
        for (level, l) in self.levels.iter().enumerate() {
            if l.occupied != 0 {
                let slot = l.occupied.trailing_zeros() as usize;
                let shift = BITS * level as u32;
                let base = self.elapsed >> (shift + BITS) << (shift + BITS);
                return Some((level, slot, base | (slot as u64) << shift));
            }
        }
        (self.overflow != NIL).then(|| {
            let epoch = (self.overflow_min / self.tick_ns) >> EPOCH_BITS;
            (LEVELS, 0, epoch << EPOCH_BITS)
        })
    }

    /// Links node `i` into the list its due time belongs to, relative to
    /// `elapsed`.
    fn place(&mut self, i: u32) {
        let due = self.slab[i as usize].due;
        let tick = (due / self.tick_ns).max(self.elapsed);
        let diff = tick ^ self.elapsed;
        let level = match diff {
            0 => 0,
            _ => ((63 - diff.leading_zeros()) / BITS) as usize,
        };
        let head = if let Some(l) = self.levels.get_mut(level) {
            let slot = (tick >> (BITS * level as u32)) as usize & (SLOTS - 1);
            l.occupied |= 1 << slot;
            l.mins[slot] = l.mins[slot].min(due);
            if level == 0 {
                self.sorted &= !(1 << slot);
            }
            &mut l.heads[slot]
        } else {
            self.overflow_min = self.overflow_min.min(due);
            &mut self.overflow
        };
        self.slab[i as usize].next = *head;
        *head = i;
    }

    fn place_list(&mut self, mut i: u32) {
        while i != NIL {
            let next = self.slab[i as usize].next;
            self.place(i);
            i = next;
        }
    }

    /// Fires, in (due, seq) order, the items of level 0's `slot` due at or
    /// before `now`, sorting the slot first unless it is known sorted.
    fn fire_slot(&mut self, slot: usize, now: u64, fire: &mut impl FnMut(u64, T)) {
        let bit = 1u64 << slot;
        if self.levels[0].mins[slot] > now {
            return;
        }
        if self.sorted & bit == 0 {
            self.scratch.clear();
            let mut i = self.levels[0].heads[slot];
            while i != NIL {
                let n = &self.slab[i as usize];
                self.scratch.push((n.due, n.seq, i));
                i = n.next;
            }
            self.scratch.sort_unstable();
            let mut head = NIL;
            for &(_, _, i) in self.scratch.iter().rev() {
                self.slab[i as usize].next = head;
                head = i;
            }
            self.levels[0].heads[slot] = head;
            self.sorted |= bit;
        }
        let l = &mut self.levels[0];
        while l.occupied & bit != 0 && l.mins[slot] <= now {
            let i = l.heads[slot];
            let n = &mut self.slab[i as usize];
            let (due, next) = (n.due, n.next);
            let item = n.item.take().expect("a listed node holds an item");
            n.next = self.free;
            self.free = i;
            self.len -= 1;
            l.heads[slot] = next;
            if next == NIL {
                l.occupied &= !bit;
                l.mins[slot] = u64::MAX;
            } else {
                l.mins[slot] = self.slab[next as usize].due;
            }
            // The wheel is consistent here, should `fire` panic.
            fire(due, item);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::retry::splitmix;
    use proptest::prelude::*;
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    const MS: u64 = 1_000_000;

    /// A wheel holding item `i` due at `dues[i]` for each `i`.
    fn wheel(tick: u64, now: u64, dues: &[u64]) -> TimingWheel<u64> {
        let mut w = TimingWheel::new(tick, now);
        (0..).zip(dues).for_each(|(i, &d)| w.insert(d, i));
        w
    }

    fn fired(w: &mut TimingWheel<u64>, now: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        w.advance(now, |due, x| out.push((due, x)));
        out
    }

    #[test]
    fn same_tick_fires_by_due_then_insertion_order() {
        let mut w = wheel(MS, 0, &[900_000, 300_000, 900_000, 100_000, 300_000]);
        assert_eq!((w.len(), w.next_due()), (5, Some(100_000)));
        assert_eq!(fired(&mut w, 99_999), []);
        assert_eq!(fired(&mut w, 299_999), [(100_000, 3)]);
        w.insert(300_000, 5);
        w.insert(200_000, 6);
        assert_eq!(
            fired(&mut w, 300_000),
            [(200_000, 6), (300_000, 1), (300_000, 4), (300_000, 5)]
        );
        assert_eq!(w.next_due(), Some(900_000));
        assert_eq!(fired(&mut w, MS), [(900_000, 0), (900_000, 2)]);
        assert!(w.is_empty());
        assert_eq!(w.next_due(), None);
    }

    #[test]
    fn tick_and_level_boundaries_are_exact() {
        // Around the starts of level-0, 1, 2 and 5 slots, inserted last first.
        let ticks = [1, 64, 4096, 1 << 30].iter().rev();
        let dues: Vec<u64> = ticks
            .flat_map(|t| [t * MS + 1, t * MS, t * MS - 1])
            .collect();
        let mut w = wheel(MS, 0, &dues);
        for (i, &d) in dues.iter().enumerate().rev() {
            assert_eq!(w.next_due(), Some(d));
            assert_eq!(fired(&mut w, d - 1), []);
            assert_eq!(fired(&mut w, d), [(d, i as u64)], "due {d}");
        }
        assert!(w.is_empty());
    }

    #[test]
    fn past_items_fire_on_the_next_advance_in_due_order() {
        let now = 10 * MS + 5;
        let mut w = wheel(MS, now, &[3 * MS, now, 0, now - 1, now + 1, 7 * MS]);
        assert_eq!(w.next_due(), Some(0));
        assert_eq!(fired(&mut w, now - 2), [], "an earlier time is a no-op");
        assert_eq!(w.len(), 6);
        let expect = [(0, 2), (3 * MS, 0), (7 * MS, 5), (now - 1, 3), (now, 1)];
        assert_eq!(fired(&mut w, now), expect);
        assert_eq!(fired(&mut w, now + 1), [(now + 1, 4)]);
    }

    #[test]
    fn far_future_items_wait_in_overflow_and_fire_exactly_when_due() {
        let (e, m) = (MS << EPOCH_BITS, u64::MAX); // epoch 1 starts 3 ms ahead
        let dues = [m, m - 1, 40 * e, 3 * e + 7, 3 * e + 7, e + 1, e];
        let mut w = wheel(MS, e - 3 * MS, &dues);
        assert_eq!(w.levels.iter().map(|l| l.occupied).sum::<u64>(), 0);
        assert_ne!(w.overflow, NIL);
        let mut fires = Vec::new();
        for (i, &d) in dues.iter().enumerate().rev() {
            if dues.get(i + 1) == Some(&d) {
                continue; // fired with the one before
            }
            assert_eq!(w.next_due(), Some(d));
            assert_eq!(fired(&mut w, d - 1), [], "due {d}");
            fires.extend(fired(&mut w, d));
        }
        let mut expect: Vec<_> = dues.iter().copied().zip(0..).collect();
        expect.sort_unstable();
        assert_eq!(fires, expect);
        assert!(w.is_empty());
    }

    #[test]
    fn drain_returns_everything_and_the_wheel_is_reusable() {
        let mut w = wheel(1, 1_000, &[0, 1_000, 1_001, 70_000, 1 << 40, 1 << 50]);
        assert_eq!(fired(&mut w, 1_000), [(0, 0), (1_000, 1)]);
        let mut left = w.drain();
        left.sort_unstable();
        assert_eq!(left, [(1_001, 2), (70_000, 3), (1 << 40, 4), (1 << 50, 5)]);
        assert!(w.is_empty() && w.next_due().is_none());
        assert_eq!(fired(&mut w, u64::MAX), []);
        w.insert(5, 9);
        assert_eq!(fired(&mut w, u64::MAX), [(5, 9)]);
    }

    #[test]
    fn steady_state_reuses_the_slab() {
        let mut w = TimingWheel::new(MS, 0);
        let (mut now, mut seen, mut caps) = (0, 0u64, None);
        for step in 0..3_000u64 {
            for k in 0..20 {
                let r = splitmix(step * 20 + k);
                w.insert(now + r % (200 * MS), r);
            }
            now += MS / 2 + splitmix(step) % MS;
            w.advance(now, |d, _| {
                assert!(d <= now);
                seen += 1;
            });
            if step == 1_000 {
                caps = Some((w.slab.capacity(), w.scratch.capacity()));
            }
        }
        assert!(seen > 50_000);
        assert_eq!(caps, Some((w.slab.capacity(), w.scratch.capacity())));
    }

    #[test]
    fn many_items_over_ten_seconds_in_1ms_steps() {
        let n = 1_000_000u64;
        let start = 987_654_321_u64;
        let mut w = TimingWheel::new(MS, start);
        for i in 0..n {
            w.insert(start + splitmix(i) % (10_000 * MS), i);
        }
        assert_eq!(w.len() as u64, n);
        let (mut count, mut last, mut prev_now) = (0u64, (0, 0), start);
        for ms in 1..=10_001 {
            let now = start + ms * MS;
            w.advance(now, |due, i| {
                assert!(prev_now < due && due <= now, "{i}: {due} at {now}");
                assert!((due, i) > last, "{i}: {due} after {last:?}");
                last = (due, i);
                count += 1;
            });
            prev_now = now;
        }
        assert_eq!(count, n);
        assert!(w.is_empty());
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// Insert at the model's time plus (or minus, when negative) this.
        Insert(i64),
        /// Advance by this (backwards, a no-op, when negative).
        Advance(i64),
    }

    /// Offsets spread over magnitudes from 0 to 2^45 ns.
    fn offset() -> impl Strategy<Value = i64> {
        (0u32..46, any::<u64>()).prop_map(|(bits, r)| (r & ((1u64 << bits) - 1)) as i64)
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            5 => offset().prop_map(Op::Insert),
            1 => offset().prop_map(|o| Op::Insert(-o)),
            3 => offset().prop_map(Op::Advance),
            1 => (0i64..3).prop_map(|o| Op::Advance(-o)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 300,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn fires_like_a_heap_model(
            tick in prop_oneof![Just(1u64), Just(3), Just(1_000), Just(MS)],
            start in prop_oneof![
                Just(0u64), 0u64..1 << 40, Just((1 << 36) - 2), Just(u64::MAX - (1 << 46))
            ],
            ops in prop::collection::vec(op(), 1..150),
        ) {
            let mut w = TimingWheel::new(tick, start);
            let mut heap = BinaryHeap::new();
            let (mut now, mut seq) = (start, 0u64);
            for op in ops {
                match op {
                    Op::Insert(o) => {
                        let due = now.saturating_add_signed(o);
                        w.insert(due, seq);
                        heap.push(Reverse((due, seq)));
                        seq += 1;
                    }
                    Op::Advance(o) => {
                        let to = now.saturating_add_signed(o);
                        let mut expect = Vec::new();
                        while to >= now && heap.peek().is_some_and(|Reverse((d, _))| *d <= to) {
                            expect.push(heap.pop().unwrap().0);
                        }
                        now = now.max(to);
                        prop_assert_eq!(fired(&mut w, to), expect, "advance to {}", to);
                    }
                }
                prop_assert_eq!(w.len(), heap.len());
                prop_assert_eq!(w.next_due(), heap.peek().map(|Reverse((d, _))| *d));
            }
        }
    }
}
