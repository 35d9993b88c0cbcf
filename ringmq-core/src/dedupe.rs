//! A topic's de-duplication window (`Nats-Msg-Id` semantics).
//!
//! A publisher may tag a message with a msg id of 1..=[`MAX_MSG_ID_LEN`]
//! bytes (the caller validates the length; the window accepts any bytes).
//! Publishing again with an id the window still remembers stores nothing and
//! answers with the message id of the *first* publish. Ids are remembered for
//! a bounded time ([`DEFAULT_WINDOW_NS`] by default) and up to a bounded
//! count ([`DEFAULT_IDS_PER_SLOT`] times the topic's capacity by default);
//! when either bound is passed the oldest ids are forgotten first.
//!
//! **Boundary:** an id inserted at `t` is remembered while
//! `now < t + window_ns`: found at `t + window_ns - 1`, forgotten at
//! `t + window_ns`. Callers pass a monotonic clock; a call with a `now`
//! smaller than one seen before acts as at the largest `now` seen, so the
//! window's clock never goes back and insertion times stay in order.
//!
//! **Layout:** a `HashMap` (std's SipHash, which crafted ids cannot flood)
//! maps an id to its message id and insertion sequence number; a `VecDeque`
//! holds the ids in insertion order with their insertion time. Every call
//! pops the front while it is expired or more than `max_ids` are held, so
//! each id is pushed and popped once: amortised O(1) per call. A front whose
//! sequence number does not match the map's entry refers to an id already
//! gone and is dropped without touching the map. Both share the id bytes
//! (`Arc<[u8]>`, which keeps the window `Send`). Not thread-safe
//! (`&mut self`): the topic keeps it behind a mutex.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// What the map keeps per id: the first publish's message id and the
/// insertion sequence number that matches the deque's entry.
#[derive(Debug, Clone, Copy)]
struct Seen {
    id: u64,
    seq: u64,
}

/// One id in insertion order.
#[derive(Debug)]
struct Order {
    key: Arc<[u8]>,
    at_ns: u64,
    seq: u64,
}

/// The ids published within the window and the message ids they got.
#[derive(Debug)]
pub(crate) struct DedupeWindow {
    map: HashMap<Arc<[u8]>, Seen>,
    order: VecDeque<Order>,
    window_ns: u64,
    max_ids: usize,
    next_seq: u64,
    /// The largest `now` seen; the window's clock.
    now_ns: u64,
}

impl DedupeWindow {
    /// window_ns: how long an id is remembered (monotonic ns, > 0); max_ids:
    /// most ids remembered (>= 1). With 0 for either, nothing outlives the
    /// call that inserted it. Allocates nothing until the first insert.
    pub(crate) fn new(window_ns: u64, max_ids: usize) -> Self {
        DedupeWindow {
            map: HashMap::new(),
            order: VecDeque::new(),
            window_ns,
            max_ids,
            next_seq: 0,
            now_ns: 0,
        }
    }

    /// The message id first published with `msg_id`, if it is still
    /// remembered at `now_ns` (forgets expired ids first).
    pub(crate) fn lookup(&mut self, msg_id: &[u8], now_ns: u64) -> Option<u64> {
        self.evict(now_ns);
        self.map.get(msg_id).map(|seen| seen.id)
    }

    /// Remembers `msg_id` as message `id` published at `now_ns`. If it is
    /// already remembered (a racing publish got there first), keeps the first
    /// and returns `Err(first_id)`.
    pub(crate) fn insert(&mut self, msg_id: &[u8], id: u64, now_ns: u64) -> Result<(), u64> {
        self.evict(now_ns);
        if let Some(seen) = self.map.get(msg_id) {
            return Err(seen.id);
        }
        let key: Arc<[u8]> = Arc::from(msg_id);
        let seq = self.next_seq;
        self.next_seq = seq.wrapping_add(1);
        self.map.insert(Arc::clone(&key), Seen { id, seq });
        self.order.push_back(Order {
            key,
            at_ns: self.now_ns,
            seq,
        });
        self.evict(self.now_ns);
        Ok(())
    }

    /// Ids remembered now (after forgetting expired ones as of the last call).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Drops everything (topic close), and frees the memory.
    pub(crate) fn clear(&mut self) {
        self.map = HashMap::new();
        self.order = VecDeque::new();
    }

    /// Moves the clock to `now_ns` (never back) and forgets, oldest first,
    /// ids that are expired or beyond the count bound.
    fn evict(&mut self, now_ns: u64) {
        self.now_ns = self.now_ns.max(now_ns);
        while let Some(front) = self.order.front() {
            let live = matches!(self.map.get(&front.key), Some(s) if s.seq == front.seq);
            if live {
                let expired = self.now_ns - front.at_ns >= self.window_ns;
                if !expired && self.map.len() <= self.max_ids {
                    break;
                }
                self.map.remove(&front.key);
            }
            self.order.pop_front();
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::Config;

    #[test]
    fn first_publish_wins() {
        let mut w = DedupeWindow::new(100, 10);
        assert_eq!(w.lookup(b"order-1", 0), None);
        assert_eq!(w.insert(b"order-1", 7, 0), Ok(()));
        assert_eq!(w.lookup(b"order-1", 5), Some(7));
        assert_eq!(w.insert(b"order-1", 8, 6), Err(7));
        assert_eq!(w.lookup(b"order-1", 7), Some(7));
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn forgets_after_the_time_window() {
        let mut w = DedupeWindow::new(100, 10);
        w.insert(b"a", 1, 10).unwrap();
        w.insert(b"b", 2, 50).unwrap();
        assert_eq!(w.lookup(b"a", 120), None);
        assert_eq!(w.lookup(b"b", 120), Some(2));
        assert_eq!(w.len(), 1);
        assert_eq!(w.lookup(b"b", 1_000), None);
        assert_eq!(w.len(), 0);
        assert_eq!(w.insert(b"a", 3, 1_000), Ok(())); // a new message now
    }

    #[test]
    fn remembered_until_window_minus_one_forgotten_at_window() {
        let mut w = DedupeWindow::new(100, 10);
        w.insert(b"x", 1, 1_000).unwrap();
        assert_eq!(w.lookup(b"x", 1_099), Some(1));
        assert_eq!(w.insert(b"x", 2, 1_099), Err(1));
        assert_eq!(w.lookup(b"x", 1_100), None);
        let mut w = DedupeWindow::new(100, 10);
        w.insert(b"x", 1, 1_000).unwrap();
        assert_eq!(w.insert(b"x", 2, 1_100), Ok(()));
    }

    #[test]
    fn count_bound_evicts_oldest_first() {
        let mut w = DedupeWindow::new(u64::MAX, 3);
        for (i, key) in [&b"a"[..], b"b", b"c", b"d"].into_iter().enumerate() {
            w.insert(key, i as u64, 0).unwrap();
        }
        assert_eq!(w.len(), 3);
        assert_eq!(w.lookup(b"a", 0), None);
        assert_eq!(w.lookup(b"b", 0), Some(1));
        w.insert(b"e", 4, 0).unwrap();
        assert_eq!(w.lookup(b"b", 0), None);
        let kept = [b"c", b"d", b"e"].map(|k| w.lookup(k, 0));
        assert_eq!(kept, [Some(2), Some(3), Some(4)]);
    }

    #[test]
    fn prefixes_are_distinct() {
        let mut w = DedupeWindow::new(100, 10);
        w.insert(b"ab", 1, 0).unwrap();
        assert_eq!((w.lookup(b"a", 0), w.lookup(b"abc", 0)), (None, None));
        let keys = [&b"ab"[..], b"a", b"abc", b"ab\0"];
        for (id, key) in keys.into_iter().enumerate().skip(1) {
            assert_eq!(w.insert(key, id as u64 + 1, 0), Ok(()));
        }
        for (id, key) in keys.into_iter().enumerate() {
            assert_eq!(w.lookup(key, 0), Some(id as u64 + 1));
        }
    }

    #[test]
    fn allocates_nothing_until_first_insert() {
        let mut w = DedupeWindow::new(120_000_000_000, 4 * 1024);
        assert_eq!(w.lookup(b"a", 5), None);
        assert_eq!((w.map.capacity(), w.order.capacity()), (0, 0));
        w.insert(b"a", 1, 5).unwrap();
        assert!(w.map.capacity() > 0 && w.order.capacity() > 0);
        w.clear();
        assert_eq!((w.len(), w.map.capacity(), w.order.capacity()), (0, 0, 0));
        assert_eq!(w.lookup(b"a", 5), None);
    }

    #[test]
    fn time_going_back_acts_as_latest_time() {
        let mut w = DedupeWindow::new(100, 10);
        w.insert(b"a", 1, 1_000).unwrap();
        assert_eq!(w.lookup(b"a", 0), Some(1));
        w.insert(b"b", 2, 0).unwrap(); // inserted as at 1_000
        assert_eq!(w.lookup(b"b", 1_099), Some(2));
        assert_eq!(w.lookup(b"a", 1_100), None);
        assert_eq!(w.lookup(b"b", 5), None);
    }

    #[test]
    fn stale_front_is_dropped_without_touching_the_map() {
        let mut w = DedupeWindow::new(100, 1);
        w.insert(b"a", 1, 0).unwrap();
        let (key, at_ns, seq) = (Arc::from(&b"a"[..]), 0, 99);
        w.order.push_front(Order { key, at_ns, seq });
        assert_eq!(w.lookup(b"a", 99), Some(1));
        assert_eq!((w.len(), w.order.len()), (1, 1));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Lookup(Vec<u8>),
        Insert(Vec<u8>),
        Advance(u64),
        Rewind(u64),
        Clear,
    }

    fn op() -> impl Strategy<Value = Op> {
        // Two letters, 1..=3 long: many repeats, many prefixes.
        let key = prop::collection::vec(prop_oneof![Just(0u8), Just(b'a')], 1..=3);
        prop_oneof![
            6 => key.clone().prop_map(Op::Lookup),
            6 => key.prop_map(Op::Insert),
            4 => (0u64..=4).prop_map(Op::Advance),
            1 => (0u64..=4).prop_map(Op::Rewind),
            1 => Just(Op::Clear),
        ]
    }

    proptest! {
        #![proptest_config(Config { cases: 512, failure_persistence: None, ..Config::default() })]
        #[test]
        fn matches_reference_model(
            window in 1u64..=6,
            max_ids in 1usize..=4,
            ops in prop::collection::vec(op(), 1..=80),
        ) {
            let mut w = DedupeWindow::new(window, max_ids);
            // Model: (key, message id, time) in insertion order, searched
            // linearly; its clock moves on calls only and never back.
            let mut model: Vec<(Vec<u8>, u64, u64)> = Vec::new();
            let (mut now, mut clock, mut next_id) = (0u64, 0u64, 0u64);
            for op in ops {
                if let Op::Lookup(_) | Op::Insert(_) = op {
                    clock = clock.max(now);
                    model.retain(|e| clock - e.2 < window);
                }
                match op {
                    Op::Advance(d) => now += d,
                    Op::Rewind(d) => now = now.saturating_sub(d),
                    Op::Clear => {
                        w.clear();
                        model.clear();
                    }
                    Op::Lookup(k) => {
                        let found = model.iter().find(|e| e.0 == k).map(|e| e.1);
                        prop_assert_eq!(w.lookup(&k, now), found);
                    }
                    Op::Insert(k) => {
                        let found = model.iter().find(|e| e.0 == k).map(|e| e.1);
                        next_id += 1;
                        prop_assert_eq!(w.insert(&k, next_id, now), found.map_or(Ok(()), Err));
                        if found.is_none() {
                            model.push((k, next_id, clock));
                            if model.len() > max_ids {
                                model.remove(0);
                            }
                        }
                    }
                }
                prop_assert_eq!(w.len(), model.len());
                prop_assert_eq!(w.order.len(), model.len());
            }
        }
    }
}
