//! A model-based property test of pull subscriptions: random sequences of
//! publishes, polls, settles (ack, nack with or without a delay, term,
//! in_progress, dropping a delivery unsettled, settling a tag already
//! settled), subscribe and unsubscribe, broker close and clock advances run
//! against the engine and against a plain reference model, [`Model`], and
//! after every step both must agree on the step's result, every counter of
//! every subscription and of the topic, and the dead letters that step
//! produced (id, key, payload, attempt count).
//!
//! Time is virtual: the engine's monotonic clock is moved forward with
//! `ringmq_core::internals::clock::advance`, in whole units `U` (10 s), and
//! every poll uses a zero timeout. Ack timeouts are `k·U + U/2`, so whether a
//! delivery has expired at a given virtual time never depends on the few
//! microseconds of real time that pass between steps. Real time still runs
//! underneath virtual time; the model allows for up to `SLACK` (`U/4`) of it
//! within one case and a case that takes longer says so when it fails.
//!
//! Where the engine is free to choose, the model allows every permitted
//! outcome instead of guessing one: a retry falls due somewhere in
//! `[d/2, d]` after its backoff `d` (jitter), or exactly `d` after a nack
//! with a delay, give or take the clock's resolution; a poll may hand out
//! any retry that may be due or the next ring message; and a poll that
//! hands out a retry may or may not first notice other retries' expired
//! ack timers. The model keeps the set of its states that are consistent
//! with everything the engine answered so far ([`Model::step`] returns
//! every outcome, the test keeps those the engine's answers match).
//!
//! Runs:
//! - `cargo test -p ringmq-core --test model`: the short run (default
//!   `CASES` cases of up to `MAX_OPS` steps, a new random seed each run).
//! - `RINGMQ_MODEL_CASES=100000 cargo test --release -p ringmq-core --test
//!   model`: the long run.
//! - `RINGMQ_MODEL_SEED=<n>` replays a run: a failure prints its seed, the
//!   shrunk failing case (options and steps) and what each side said.
//!   `RINGMQ_MODEL_OPS=<n>` changes the longest sequence.
//!
//! Stale settles are generated freely: a settle of a tag that is no longer
//! current (expired and redelivered, or already settled) must answer an
//! error and change nothing but its own holder's hold; `in_progress` on one
//! changes nothing at all.
//!
//! This file holds a single test on purpose: the virtual clock is global to
//! the process, so another test advancing it at the same time would move
//! this one's deadlines.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestError, TestRunner};
use ringmq_core::internals::clock;
use ringmq_core::{
    Broker, BrokerOptions, CloseReport, Delivery, ErrorKind, Overflow, PullSubscription,
    SubOptions, SubStats, Topic, TopicOptions, TopicStats,
};

/// One unit of virtual time, in nanoseconds.
const U: u64 = 10_000_000_000;
/// Real time a case may take, over which the timing rules below still hold.
const SLACK: u64 = U / 4;
const SLOT_SIZE: usize = 16;
/// Subscriptions a case may create in all (unsubscribed ones included).
const MAX_SUBS: usize = 4;
/// Model states kept at once before the test gives up as ambiguous.
const MAX_STATES: usize = 20_000;
const CASES: u32 = 300;
const MAX_OPS: usize = 80;
const TOPIC: &str = "t";

/// The payload of message `id`: lengths 0..=SLOT_SIZE, bytes that differ.
fn payload(id: u64) -> Vec<u8> {
    let len = ((id * 7 + 3) % (SLOT_SIZE as u64 + 1)) as usize;
    (0..len)
        .map(|i| (id as u8).wrapping_mul(37).wrapping_add(i as u8))
        .collect()
}

fn group(name: usize) -> String {
    format!("g{name}")
}

// ---------------------------------------------------------------- the case

/// A topic's options and its initial subscriptions.
#[derive(Clone, Debug)]
struct Setup {
    capacity: u64,
    max_attempts: u32,
    backoff_base: u64,
    backoff_max: u64,
    ack_timeout: u64,
    /// 0: the topic's capacity.
    retry_capacity: usize,
    reject: bool,
    subs: usize,
}

impl Setup {
    fn credits(&self) -> usize {
        if self.retry_capacity == 0 {
            self.capacity as usize
        } else {
            self.retry_capacity
        }
    }

    fn topic_options(&self) -> TopicOptions {
        TopicOptions {
            capacity: self.capacity as usize,
            slot_size: SLOT_SIZE,
            overflow: if self.reject {
                Overflow::Reject
            } else {
                Overflow::Block
            },
            max_attempts: self.max_attempts,
            backoff_base: Duration::from_nanos(self.backoff_base),
            backoff_max: Duration::from_nanos(self.backoff_max),
            ack_timeout: Duration::from_nanos(self.ack_timeout),
            retry_capacity: self.retry_capacity,
            ..TopicOptions::default()
        }
    }
}

/// A nack's delay: the topic's backoff, or so many nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Delay {
    Backoff,
    Ns(u64),
}

impl Delay {
    fn duration(self) -> Option<Duration> {
        match self {
            Delay::Backoff => None,
            Delay::Ns(n) => Some(Duration::from_nanos(n)),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum How {
    Ack,
    Nack(Delay),
    Term,
    InProgress,
    Drop,
}

/// A generated step. Indices pick among what exists when the step runs
/// (modulo its count), so any sequence is valid and shrinks well.
#[derive(Clone, Debug)]
enum Op {
    Publish {
        key: u64,
    },
    Poll {
        sub: usize,
    },
    /// Settle (or drop) a delivery that is held.
    Settle {
        h: usize,
        how: How,
    },
    /// Settle by tag a delivery that was already settled.
    Stale {
        t: usize,
        how: How,
    },
    Subscribe {
        name: usize,
    },
    Unsubscribe {
        sub: usize,
    },
    Advance {
        units: u64,
    },
    Close,
}

type Hid = u64;

/// A step made concrete: what both sides run.
#[derive(Clone, Debug)]
enum Act {
    /// Nothing to act on (no delivery held, no tag settled, too many subs).
    Skip,
    Publish {
        key: u64,
    },
    Poll {
        sub: usize,
    },
    Settle {
        hid: Hid,
        how: How,
    },
    Stale {
        sub: usize,
        tag: u64,
        how: How,
    },
    Subscribe {
        name: usize,
    },
    Unsubscribe {
        sub: usize,
    },
    Advance {
        units: u64,
    },
    Close,
}

// ------------------------------------------------------- what is compared

#[derive(Clone, Debug, PartialEq, Eq)]
enum Res {
    Unit,
    Ok,
    Err(ErrorKind),
    Published(u64),
    /// id, key, attempt, payload.
    Polled(Option<(u64, u64, u32, Vec<u8>)>),
    Closed(ReportObs),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct ReportObs {
    undelivered: u64,
    in_flight: u64,
    waiting_retry: u64,
    timed_out: bool,
    left: Vec<(String, String, u64)>,
}

impl From<CloseReport> for ReportObs {
    fn from(r: CloseReport) -> Self {
        let mut left = r.left;
        left.sort();
        ReportObs {
            undelivered: r.undelivered,
            in_flight: r.in_flight,
            waiting_retry: r.waiting_retry,
            timed_out: r.timed_out,
            left,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
struct Counts {
    delivered: u64,
    acked: u64,
    nacked: u64,
    retried: u64,
    dead_lettered: u64,
    termed: u64,
    expired: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct SubObs {
    counts: Counts,
    in_flight: u64,
    waiting_retry: u64,
    lag: u64,
    dropped: u64,
}

impl From<SubStats> for SubObs {
    fn from(s: SubStats) -> Self {
        SubObs {
            counts: Counts {
                delivered: s.delivered,
                acked: s.acked,
                nacked: s.nacked,
                retried: s.retried,
                dead_lettered: s.dead_lettered,
                termed: s.termed,
                expired: s.expired,
            },
            in_flight: s.in_flight,
            waiting_retry: s.waiting_retry,
            lag: s.lag,
            dropped: s.dropped,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct TopicObs {
    published: u64,
    rejected: u64,
    timed_out: u64,
    dropped: u64,
    depth: u64,
    subscriptions: u64,
    /// Groups listed by `subscription_stats`, sorted.
    groups: Vec<String>,
}

impl TopicObs {
    fn of(s: TopicStats, mut groups: Vec<String>) -> Self {
        groups.sort();
        TopicObs {
            published: s.published,
            rejected: s.rejected,
            timed_out: s.timed_out,
            dropped: s.dropped,
            depth: s.depth,
            subscriptions: s.subscriptions,
            groups,
        }
    }
}

/// A dead letter: id, key, payload, attempt of its first DLQ delivery.
type Dead = (u64, u64, Vec<u8>, u32);

/// Everything compared after a step.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Obs {
    res: Res,
    subs: Vec<SubObs>,
    topic: TopicObs,
    /// The step's dead letters, sorted (one step may make several).
    dead: Vec<Dead>,
    dlq_published: u64,
}

impl Obs {
    /// The fields where `self` and `other` differ, for a failure report.
    fn diff(&self, other: &Obs) -> String {
        let mut out = String::new();
        if self.res != other.res {
            let _ = writeln!(out, "    result: {:?} vs {:?}", self.res, other.res);
        }
        for (i, (a, b)) in self.subs.iter().zip(&other.subs).enumerate() {
            if a != b {
                let _ = writeln!(out, "    sub #{i}: {a:?}\n       vs  {b:?}");
            }
        }
        if self.subs.len() != other.subs.len() {
            let _ = writeln!(out, "    subs: {} vs {}", self.subs.len(), other.subs.len());
        }
        if self.topic != other.topic {
            let _ = writeln!(
                out,
                "    topic: {:?}\n       vs  {:?}",
                self.topic, other.topic
            );
        }
        if self.dead != other.dead || self.dlq_published != other.dlq_published {
            let _ = writeln!(
                out,
                "    dead letters: {:?} (dlq published {})\n              vs  {:?} (dlq published {})",
                self.dead, self.dlq_published, other.dead, other.dlq_published
            );
        }
        out
    }
}

// ------------------------------------------------------------ the model

/// A ring message a subscription has taken, until its watermark passes it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum RingSt {
    /// Held by delivery `hid`.
    Delivered {
        deadline: u64,
        hid: Hid,
    },
    /// Its delivery was dropped unsettled; the ack timer will fire.
    Abandoned {
        deadline: u64,
    },
    /// Redelivered (from a copy) after its ack timer fired; the old holder
    /// still pins the slot.
    Expired {
        hid: Hid,
    },
    Settled,
}

/// A message outside the ring, in the subscription's retry store.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum StoreSt {
    /// Due `lo..=hi` ns after `since` (virtual time).
    Waiting {
        since: u64,
        lo: u64,
        hi: u64,
    },
    InFlight {
        deadline: u64,
        hid: Hid,
    },
    /// Dead-lettering failed (the broker closed); kept.
    ToDeadLetter,
    /// Finished, kept only while some old delivery still holds it.
    Done,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Entry {
    id: u64,
    /// Deliveries made so far.
    attempts: u32,
    st: StoreSt,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct MSub {
    name: usize,
    /// In the topic's list (not unsubscribed).
    listed: bool,
    /// Unsubscribed, or the broker closed.
    closed: bool,
    /// Next ring sequence to deliver.
    next: u64,
    /// Lowest sequence not settled.
    wm: u64,
    /// States of sequences `wm..next`.
    ring: BTreeMap<u64, RingSt>,
    store: BTreeMap<u64, Entry>,
    n: Counts,
    /// Dropped deliveries a closed subscription settled itself: their slots
    /// are free, but they were never settled by a consumer, so they stay in
    /// flight by the counters.
    given_up: u64,
}

/// What a delivery handle refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Held {
    Ring { sub: usize, seq: u64 },
    Store { sub: usize, uid: u64 },
}

impl Held {
    fn sub(self) -> usize {
        match self {
            Held::Ring { sub, .. } | Held::Store { sub, .. } => sub,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Due {
    No,
    Maybe,
    Yes,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Model {
    /// Virtual time, ns since the case began.
    now: u64,
    closed: bool,
    /// Keys of the published messages, by id (= sequence).
    keys: Vec<u64>,
    rejected: u64,
    timed_out: u64,
    subs: Vec<MSub>,
    /// Deliveries the test holds.
    held: BTreeMap<Hid, Held>,
    next_hid: Hid,
    next_uid: u64,
    dlq_published: u64,
    /// This step's dead letters.
    dead: Vec<Dead>,
    report: Option<ReportObs>,
}

impl MSub {
    fn new(name: usize, at: u64) -> MSub {
        MSub {
            name,
            listed: true,
            closed: false,
            next: at,
            wm: at,
            ring: BTreeMap::new(),
            store: BTreeMap::new(),
            n: Counts::default(),
            given_up: 0,
        }
    }

    /// A delivery pins its slot: Delivered and Expired ones.
    fn pinned(&self) -> bool {
        self.ring
            .values()
            .any(|r| matches!(r, RingSt::Delivered { .. } | RingSt::Expired { .. }))
    }

    /// The watermark that holds producers back, if it still does: a closed
    /// subscription lets go once no delivery pins a slot.
    fn gate(&self) -> Option<u64> {
        if self.closed && !self.pinned() {
            None
        } else {
            Some(self.wm)
        }
    }

    /// Store credits in use: ring deliveries not yet settled or expired,
    /// and every store entry.
    fn credits_used(&self) -> usize {
        self.ring
            .values()
            .filter(|r| matches!(r, RingSt::Delivered { .. } | RingSt::Abandoned { .. }))
            .count()
            + self.store.len()
    }

    fn in_flight(&self) -> u64 {
        let ring = self
            .ring
            .values()
            .filter(|r| matches!(r, RingSt::Delivered { .. } | RingSt::Abandoned { .. }))
            .count();
        let store = self
            .store
            .values()
            .filter(|e| matches!(e.st, StoreSt::InFlight { .. }))
            .count();
        (ring + store) as u64 + self.given_up
    }

    fn waiting(&self) -> u64 {
        self.store
            .values()
            // A message waiting for room in the dead-letter topic is still
            // owed, and counts as waiting like a retry.
            .filter(|e| matches!(e.st, StoreSt::Waiting { .. } | StoreSt::ToDeadLetter))
            .count() as u64
    }
}

impl Model {
    fn new(setup: &Setup) -> Model {
        Model {
            now: 0,
            closed: false,
            keys: Vec::new(),
            rejected: 0,
            timed_out: 0,
            subs: (0..setup.subs).map(|n| MSub::new(n, 0)).collect(),
            held: BTreeMap::new(),
            next_hid: 0,
            next_uid: 0,
            dlq_published: 0,
            dead: Vec::new(),
            report: None,
        }
    }

    fn claimed(&self) -> u64 {
        self.keys.len() as u64
    }

    fn min_gate(&self) -> u64 {
        self.subs
            .iter()
            .filter_map(MSub::gate)
            .min()
            .unwrap_or(self.claimed())
    }

    fn lag(&self, s: usize) -> u64 {
        let sub = &self.subs[s];
        if sub.closed {
            0
        } else {
            self.claimed() - sub.next
        }
    }

    fn due(&self, since: u64, lo: u64, hi: u64) -> Due {
        let el = self.now - since;
        if el >= hi + SLACK {
            Due::Yes
        } else if el + SLACK <= lo {
            Due::No
        } else {
            Due::Maybe
        }
    }

    /// Moves the watermark over settled sequences and forgets finished
    /// store entries nobody holds.
    fn tidy(&mut self, s: usize) {
        if self.subs[s].closed {
            // A closed subscription settles its dropped deliveries itself
            // (they will never come back to it).
            let sub = &mut self.subs[s];
            for r in sub.ring.values_mut() {
                if matches!(r, RingSt::Abandoned { .. }) {
                    *r = RingSt::Settled;
                    sub.given_up += 1;
                }
            }
        }
        let held: HashSet<u64> = self
            .held
            .values()
            .filter_map(|h| match *h {
                Held::Store { sub, uid } if sub == s => Some(uid),
                _ => None,
            })
            .collect();
        let sub = &mut self.subs[s];
        while sub.wm < sub.next && sub.ring.get(&sub.wm) == Some(&RingSt::Settled) {
            sub.ring.remove(&sub.wm);
            sub.wm += 1;
        }
        sub.store
            .retain(|uid, e| e.st != StoreSt::Done || held.contains(uid));
    }

    fn dead_letter(&mut self, s: usize, uid: u64) {
        if self.closed {
            // The dead-letter topic is shut: the message stays in the store.
            self.subs[s].store.get_mut(&uid).unwrap().st = StoreSt::ToDeadLetter;
            return;
        }
        let e = self.subs[s].store.get_mut(&uid).unwrap();
        e.st = StoreSt::Done;
        let (id, attempts) = (e.id, e.attempts);
        self.subs[s].n.dead_lettered += 1;
        self.dlq_published += 1;
        self.dead
            .push((id, self.keys[id as usize], payload(id), attempts));
    }

    /// After a failed delivery of entry `uid`: wait for the next attempt, or
    /// dead-letter it when it has had `max_attempts` deliveries.
    fn retry_or_dead(&mut self, setup: &Setup, s: usize, uid: u64, delay: Delay) {
        let attempts = self.subs[s].store[&uid].attempts;
        if attempts >= setup.max_attempts {
            self.dead_letter(s, uid);
            return;
        }
        let (lo, hi) = match delay {
            Delay::Ns(d) => (d, d),
            Delay::Backoff => {
                let d = (setup.backoff_base << (attempts - 1)).min(setup.backoff_max);
                (d / 2, d)
            }
        };
        let now = self.now;
        let sub = &mut self.subs[s];
        sub.store.get_mut(&uid).unwrap().st = StoreSt::Waiting { since: now, lo, hi };
        sub.n.retried += 1;
    }

    /// A ring message leaves the ring after its first delivery failed.
    fn park_from_ring(&mut self, setup: &Setup, s: usize, seq: u64, delay: Delay) {
        let uid = self.new_entry(s, seq, StoreSt::Done);
        self.retry_or_dead(setup, s, uid, delay);
    }

    fn new_entry(&mut self, s: usize, id: u64, st: StoreSt) -> u64 {
        let uid = self.next_uid;
        self.next_uid += 1;
        self.subs[s].store.insert(
            uid,
            Entry {
                id,
                attempts: 1,
                st,
            },
        );
        uid
    }

    /// The ack timer of ring deliveries, run by every poll.
    fn reap_ring(&mut self, setup: &Setup, s: usize) {
        let now = self.now;
        let due: Vec<(u64, RingSt)> = self.subs[s]
            .ring
            .iter()
            .filter(|(_, r)| match r {
                RingSt::Delivered { deadline, .. } | RingSt::Abandoned { deadline } => {
                    *deadline <= now
                }
                _ => false,
            })
            .map(|(q, r)| (*q, r.clone()))
            .collect();
        for (seq, r) in due {
            self.subs[s].n.expired += 1;
            self.park_from_ring(setup, s, seq, Delay::Backoff);
            let next = match r {
                RingSt::Delivered { hid, .. } => RingSt::Expired { hid },
                _ => RingSt::Settled,
            };
            self.subs[s].ring.insert(seq, next);
        }
        self.tidy(s);
    }

    fn expire_store(&mut self, setup: &Setup, s: usize, uid: u64) {
        self.subs[s].n.expired += 1;
        self.retry_or_dead(setup, s, uid, Delay::Backoff);
    }

    fn deliver_ring(&mut self, setup: &Setup, s: usize) -> Res {
        let hid = self.next_hid;
        self.next_hid += 1;
        let deadline = self.now + setup.ack_timeout;
        let sub = &mut self.subs[s];
        let seq = sub.next;
        sub.next += 1;
        sub.ring.insert(seq, RingSt::Delivered { deadline, hid });
        sub.n.delivered += 1;
        self.held.insert(hid, Held::Ring { sub: s, seq });
        Res::Polled(Some((seq, self.keys[seq as usize], 1, payload(seq))))
    }

    fn deliver_store(&mut self, setup: &Setup, s: usize, uid: u64) -> Res {
        let hid = self.next_hid;
        self.next_hid += 1;
        let deadline = self.now + setup.ack_timeout;
        let sub = &mut self.subs[s];
        let e = sub.store.get_mut(&uid).unwrap();
        e.attempts += 1;
        e.st = StoreSt::InFlight { deadline, hid };
        let (id, attempt) = (e.id, e.attempts);
        sub.n.delivered += 1;
        self.held.insert(hid, Held::Store { sub: s, uid });
        Res::Polled(Some((id, self.keys[id as usize], attempt, payload(id))))
    }

    /// Every outcome a poll may have.
    fn poll(&self, setup: &Setup, s: usize) -> Vec<(Model, Res)> {
        if self.subs[s].closed {
            return vec![(self.clone(), Res::Err(ErrorKind::Closed))];
        }
        let mut base = self.clone();
        base.reap_ring(setup, s);
        let now = base.now;
        let expiring: Vec<u64> = base.subs[s]
            .store
            .iter()
            .filter(|(_, e)| matches!(e.st, StoreSt::InFlight { deadline, .. } if deadline <= now))
            .map(|(u, _)| *u)
            .collect();
        let mut out = Vec::new();
        // A retry handed out: the poll may have stopped before noticing some
        // (or all) of the other expired store deliveries.
        for mask in 0u32..(1 << expiring.len()) {
            let mut m = base.clone();
            for (i, uid) in expiring.iter().enumerate() {
                if mask & (1 << i) != 0 {
                    m.expire_store(setup, s, *uid);
                }
            }
            let candidates: Vec<u64> = m.subs[s]
                .store
                .iter()
                .filter(|(_, e)| match e.st {
                    StoreSt::Waiting { since, lo, hi } => m.due(since, lo, hi) != Due::No,
                    _ => false,
                })
                .map(|(u, _)| *u)
                .collect();
            for uid in candidates {
                let mut m2 = m.clone();
                let r = m2.deliver_store(setup, s, uid);
                m2.tidy(s);
                out.push((m2, r));
            }
        }
        // No retry handed out: every expired store delivery was noticed.
        let mut m = base;
        for uid in &expiring {
            m.expire_store(setup, s, *uid);
        }
        m.tidy(s);
        let sub = &m.subs[s];
        let ring_ready = sub.next < m.claimed() && sub.credits_used() < setup.credits();
        let retry_due = sub.store.values().any(|e| match e.st {
            StoreSt::Waiting { since, lo, hi } => m.due(since, lo, hi) == Due::Yes,
            _ => false,
        });
        if ring_ready {
            let r = m.deliver_ring(setup, s);
            out.push((m, r));
        } else if !retry_due {
            out.push((m, Res::Polled(None)));
        }
        out
    }

    fn settle(&self, setup: &Setup, hid: Hid, how: How) -> (Model, Res) {
        if self.subs[self.held[&hid].sub()].closed && how != How::Drop {
            // A closed subscription takes no settle: the holder only lets
            // go (in_progress changes nothing at all).
            if how == How::InProgress {
                return (self.clone(), Res::Err(ErrorKind::Closed));
            }
            let (m, _) = self.settle(setup, hid, How::Drop);
            return (m, Res::Err(ErrorKind::Closed));
        }
        let mut m = self.clone();
        let held = m.held[&hid];
        if how != How::InProgress {
            m.held.remove(&hid);
        }
        let now = m.now;
        let r = match held {
            Held::Ring { sub: s, seq } => match m.subs[s].ring[&seq].clone() {
                RingSt::Delivered { .. } => {
                    let ring = &mut m.subs[s].ring;
                    match how {
                        How::Ack => {
                            ring.insert(seq, RingSt::Settled);
                            m.subs[s].n.acked += 1;
                        }
                        How::Nack(delay) => {
                            m.subs[s].n.nacked += 1;
                            m.park_from_ring(setup, s, seq, delay);
                            m.subs[s].ring.insert(seq, RingSt::Settled);
                        }
                        How::Term => {
                            m.subs[s].n.termed += 1;
                            let uid = m.new_entry(s, seq, StoreSt::Done);
                            m.dead_letter(s, uid);
                            m.subs[s].ring.insert(seq, RingSt::Settled);
                        }
                        How::InProgress => {
                            let deadline = now + setup.ack_timeout;
                            ring.insert(seq, RingSt::Delivered { deadline, hid });
                        }
                        How::Drop => {
                            let RingSt::Delivered { deadline, .. } = ring[&seq] else {
                                unreachable!()
                            };
                            ring.insert(seq, RingSt::Abandoned { deadline });
                        }
                    }
                    Res::Ok
                }
                RingSt::Expired { .. } => {
                    // The holder of an expired delivery lets go of its slot.
                    if how != How::InProgress {
                        m.subs[s].ring.insert(seq, RingSt::Settled);
                    }
                    Res::Err(ErrorKind::InvalidArgument)
                }
                other => panic!("model: delivery {hid} held on ring state {other:?}"),
            },
            Held::Store { sub: s, uid } => {
                let current = matches!(
                    m.subs[s].store[&uid].st,
                    StoreSt::InFlight { hid: h, .. } if h == hid
                );
                if !current {
                    Res::Err(ErrorKind::InvalidArgument)
                } else {
                    match how {
                        How::Ack => {
                            m.subs[s].store.get_mut(&uid).unwrap().st = StoreSt::Done;
                            m.subs[s].n.acked += 1;
                        }
                        How::Nack(delay) => {
                            m.subs[s].n.nacked += 1;
                            m.retry_or_dead(setup, s, uid, delay);
                        }
                        How::Term => {
                            m.subs[s].n.termed += 1;
                            m.dead_letter(s, uid);
                        }
                        How::InProgress => {
                            let deadline = now + setup.ack_timeout;
                            m.subs[s].store.get_mut(&uid).unwrap().st =
                                StoreSt::InFlight { deadline, hid };
                        }
                        How::Drop => {}
                    }
                    Res::Ok
                }
            }
        };
        let s = held.sub();
        m.tidy(s);
        let r = match (how, r) {
            (How::Drop, _) => Res::Unit,
            (_, Res::Ok) if m.subs[s].closed => Res::Err(ErrorKind::Closed),
            (_, r) => r,
        };
        (m, r)
    }

    fn close_report(&self) -> ReportObs {
        let mut r = ReportObs {
            undelivered: 0,
            in_flight: 0,
            waiting_retry: 0,
            timed_out: false,
            left: Vec::new(),
        };
        for (i, s) in self.subs.iter().enumerate().filter(|(_, s)| s.listed) {
            let (lag, fl, w) = (self.lag(i), s.in_flight(), s.waiting());
            r.undelivered += lag + fl + w;
            r.in_flight += fl;
            r.waiting_retry += w;
            if lag + fl + w > 0 {
                r.left.push((TOPIC.to_owned(), group(s.name), lag + fl + w));
            }
        }
        r.timed_out = r.undelivered > 0;
        r.left.sort();
        r
    }

    /// Every outcome of `act`, with the result each gives.
    fn step(&self, setup: &Setup, act: &Act) -> Vec<(Model, Res)> {
        let mut m = self.clone();
        m.dead.clear();
        let one = |m: Model, r: Res| vec![(m, r)];
        match *act {
            Act::Skip => one(m, Res::Unit),
            Act::Publish { key } => {
                if m.closed {
                    return one(m, Res::Err(ErrorKind::Closed));
                }
                if m.claimed() < m.min_gate() + setup.capacity {
                    m.keys.push(key);
                    let id = m.claimed() - 1;
                    one(m, Res::Published(id))
                } else if setup.reject {
                    m.rejected += 1;
                    one(m, Res::Err(ErrorKind::Full))
                } else {
                    m.timed_out += 1;
                    one(m, Res::Err(ErrorKind::Timeout))
                }
            }
            Act::Poll { sub } => m.poll(setup, sub),
            Act::Settle { hid, how } => {
                let (m, r) = m.settle(setup, hid, how);
                one(m, r)
            }
            // A settled tag is unknown; to a closed subscription, every
            // settle answers Closed first.
            Act::Stale { sub, .. } if m.subs[sub].closed => one(m, Res::Err(ErrorKind::Closed)),
            Act::Stale { .. } => one(m, Res::Err(ErrorKind::InvalidArgument)),
            Act::Subscribe { name } => {
                if m.closed {
                    return one(m, Res::Err(ErrorKind::Closed));
                }
                if m.subs.iter().any(|s| s.listed && s.name == name) {
                    return one(m, Res::Err(ErrorKind::Exists));
                }
                let at = m.claimed();
                m.subs.push(MSub::new(name, at));
                one(m, Res::Ok)
            }
            Act::Unsubscribe { sub } => {
                let closed = m.closed;
                let s = &mut m.subs[sub];
                // After the broker closed, unsubscribe answers Closed and
                // changes nothing.
                if !s.listed || closed {
                    return one(m, Res::Err(ErrorKind::Closed));
                }
                s.listed = false;
                s.closed = true;
                m.tidy(sub);
                one(m, Res::Ok)
            }
            Act::Advance { units } => {
                m.now += units * U;
                one(m, Res::Unit)
            }
            Act::Close => {
                if m.report.is_none() {
                    m.report = Some(m.close_report());
                    m.closed = true;
                    // The closed topic lets go of its subscriptions.
                    for s in &mut m.subs {
                        s.closed = true;
                        s.listed = false;
                    }
                    for s in 0..m.subs.len() {
                        m.tidy(s);
                    }
                }
                let r = m.report.clone().unwrap();
                one(m, Res::Closed(r))
            }
        }
    }

    fn observe(&self, res: Res) -> Obs {
        let claimed = self.claimed();
        Obs {
            res,
            subs: self
                .subs
                .iter()
                .enumerate()
                .map(|(i, s)| SubObs {
                    counts: s.n.clone(),
                    in_flight: s.in_flight(),
                    waiting_retry: s.waiting(),
                    lag: self.lag(i),
                    dropped: 0,
                })
                .collect(),
            topic: TopicObs {
                published: claimed,
                rejected: self.rejected,
                timed_out: self.timed_out,
                dropped: 0,
                depth: claimed - self.min_gate(),
                subscriptions: self.subs.iter().filter(|s| s.listed).count() as u64,
                groups: {
                    let mut g: Vec<String> = self
                        .subs
                        .iter()
                        .filter(|s| s.listed)
                        .map(|s| group(s.name))
                        .collect();
                    g.sort();
                    g
                },
            },
            dead: {
                let mut d = self.dead.clone();
                d.sort();
                d
            },
            dlq_published: self.dlq_published,
        }
    }
}

// ----------------------------------------------------------- the engine

struct Engine {
    broker: Broker,
    topic: Topic,
    dlq: Topic,
    dead_sub: PullSubscription,
    subs: Vec<PullSubscription>,
    /// Deliveries held, with the model's handle ids and their subscription.
    live: Vec<(Hid, usize, Delivery)>,
    /// Tags of deliveries settled by value, with their subscription and,
    /// for a delivery from the retry store, the model's entry.
    settled: Vec<(usize, u64, Option<u64>)>,
}

impl Engine {
    fn new(setup: &Setup) -> Engine {
        let broker = Broker::new(BrokerOptions {
            workers_min: 0,
            workers_max: 1,
            ..BrokerOptions::default()
        })
        .unwrap();
        let topic = broker.create_topic(TOPIC, setup.topic_options()).unwrap();
        let dlq = topic.dead_letter_topic().unwrap();
        let dead_sub = dlq.subscribe_pull("dead", SubOptions::default()).unwrap();
        let subs = (0..setup.subs)
            .map(|n| {
                topic
                    .subscribe_pull(&group(n), SubOptions::default())
                    .unwrap()
            })
            .collect();
        Engine {
            broker,
            topic,
            dlq,
            dead_sub,
            subs,
            live: Vec::new(),
            settled: Vec::new(),
        }
    }

    /// Makes a generated step concrete.
    fn resolve(&self, op: &Op) -> Act {
        match *op {
            Op::Publish { key } => Act::Publish { key },
            Op::Poll { sub } => Act::Poll {
                sub: sub % self.subs.len(),
            },
            Op::Settle { h, how } if !self.live.is_empty() => Act::Settle {
                hid: self.live[h % self.live.len()].0,
                how,
            },
            Op::Stale { t, how } if !self.settled.is_empty() => {
                let (sub, tag, _) = self.settled[t % self.settled.len()];
                Act::Stale { sub, tag, how }
            }
            Op::Subscribe { name } if self.subs.len() < MAX_SUBS => Act::Subscribe { name },
            Op::Unsubscribe { sub } => Act::Unsubscribe {
                sub: sub % self.subs.len(),
            },
            Op::Advance { units } => Act::Advance { units },
            Op::Close => Act::Close,
            Op::Settle { .. } | Op::Stale { .. } | Op::Subscribe { .. } => Act::Skip,
        }
    }

    fn apply(&mut self, act: &Act, model: &Model) -> Res {
        let next_hid = model.next_hid;
        let unit = |r: ringmq_core::Result<()>| match r {
            Ok(()) => Res::Ok,
            Err(e) => Res::Err(e.kind()),
        };
        match *act {
            Act::Skip => Res::Unit,
            Act::Publish { key } => {
                match self.topic.publish_with(
                    &payload(self.topic.stats().published),
                    key,
                    Some(Duration::ZERO),
                ) {
                    Ok(id) => Res::Published(id),
                    Err(e) => Res::Err(e.kind()),
                }
            }
            Act::Poll { sub } => match self.subs[sub].poll(Some(Duration::ZERO)) {
                Ok(Some(d)) => {
                    let r = Res::Polled(Some((d.id(), d.key(), d.attempt(), d.data().to_vec())));
                    self.live.push((next_hid, sub, d));
                    r
                }
                Ok(None) => Res::Polled(None),
                Err(e) => Res::Err(e.kind()),
            },
            Act::Settle { hid, how } => {
                let i = self.live.iter().position(|(h, ..)| *h == hid).unwrap();
                if how == How::InProgress {
                    return unit(self.live[i].2.in_progress());
                }
                let (_, sub, d) = self.live.swap_remove(i);
                let tag = d.tag();
                let r = match how {
                    How::Ack => d.ack(),
                    How::Nack(delay) => d.nack(delay.duration()),
                    How::Term => d.term(),
                    How::Drop | How::InProgress => {
                        drop(d);
                        return Res::Unit;
                    }
                };
                let uid = match model.held.get(&hid) {
                    Some(Held::Store { uid, .. }) => Some(*uid),
                    _ => None,
                };
                self.settled.push((sub, tag, uid));
                unit(r)
            }
            Act::Stale { sub, tag, how } => {
                let s = &self.subs[sub];
                // SAFETY: `tag` belongs to a delivery settled by value, so no
                // `Delivery` with it exists; tags are never reused.
                unsafe {
                    unit(match how {
                        How::Ack => s.ack_tag(tag),
                        How::Nack(d) => s.nack_tag(tag, d.duration()),
                        How::Term => s.term_tag(tag),
                        How::InProgress | How::Drop => s.in_progress_tag(tag),
                    })
                }
            }
            Act::Subscribe { name } => {
                match self
                    .topic
                    .subscribe_pull(&group(name), SubOptions::default())
                {
                    Ok(s) => {
                        self.subs.push(s);
                        Res::Ok
                    }
                    Err(e) => Res::Err(e.kind()),
                }
            }
            Act::Unsubscribe { sub } => unit(self.subs[sub].unsubscribe()),
            Act::Advance { units } => {
                clock::advance(Duration::from_nanos(units * U));
                Res::Unit
            }
            Act::Close => Res::Closed(self.broker.close(Duration::ZERO).unwrap().into()),
        }
    }
}

impl Engine {
    /// Drains the dead-letter topic and reads every counter.
    fn observe(&mut self, res: Res) -> Result<Obs, String> {
        let mut dead = Vec::new();
        if !self.broker.is_closed() {
            loop {
                match self.dead_sub.poll(Some(Duration::ZERO)) {
                    Ok(Some(d)) => {
                        dead.push((d.id(), d.key(), d.data().to_vec(), d.attempt()));
                        d.ack()
                            .map_err(|e| format!("acking a dead letter: {e:?}"))?;
                    }
                    Ok(None) => break,
                    Err(e) => return Err(format!("polling the dead-letter topic: {e:?}")),
                }
            }
        }
        dead.sort();
        // Held payloads stay put until settled.
        for (hid, _, d) in &self.live {
            if d.data() != payload(d.id()) {
                return Err(format!(
                    "delivery {hid} (id {}, attempt {}) now reads {:?}, not its payload {:?}",
                    d.id(),
                    d.attempt(),
                    d.data(),
                    payload(d.id())
                ));
            }
        }
        let groups = self
            .topic
            .subscription_stats()
            .into_iter()
            .map(|(g, _)| g)
            .collect();
        Ok(Obs {
            res,
            subs: self.subs.iter().map(|s| s.stats().into()).collect(),
            topic: TopicObs::of(self.topic.stats(), groups),
            dead,
            dlq_published: self.dlq.stats().published,
        })
    }
}

// -------------------------------------------------------------- running

/// What the cases reached, printed after a run to show the generator's reach.
static TALLY: std::sync::Mutex<BTreeMap<&'static str, u64>> =
    std::sync::Mutex::new(BTreeMap::new());

fn tally(act: &Act, obs: &Obs, states: usize) {
    let mut t = TALLY.lock().unwrap_or_else(|e| e.into_inner());
    let mut add = |k: &'static str, n: u64| *t.entry(k).or_insert(0) += n;
    add(
        match (act, &obs.res) {
            (Act::Skip, _) => "skipped step",
            (_, Res::Published(_)) => "published",
            (_, Res::Polled(Some((.., 1, _)))) => "first delivery",
            (_, Res::Polled(Some(_))) => "redelivery",
            (_, Res::Polled(None)) => "empty poll",
            (_, Res::Err(ErrorKind::Full)) => "publish Full",
            (_, Res::Err(ErrorKind::Timeout)) => "publish Timeout",
            (Act::Stale { .. }, Res::Err(_)) => "stale tag rejected",
            (_, Res::Err(ErrorKind::InvalidArgument)) => "settle of an expired delivery rejected",
            (_, Res::Err(ErrorKind::Closed)) => "Closed",
            (_, Res::Err(ErrorKind::Exists)) => "subscribe Exists",
            (Act::Settle { .. }, Res::Ok) => "settled",
            (_, Res::Closed(r)) if r.timed_out => "close leaving work",
            _ => "other",
        },
        1,
    );
    add("dead letters", obs.dead.len() as u64);
    if obs.dead.iter().any(|d| d.3 > 1) {
        add("steps dead-lettering after retries", 1);
    }
    if states > 1 {
        add("steps with several model states", 1);
    }
    let most = t.entry("most model states at once").or_insert(0);
    *most = (*most).max(states as u64);
}

/// Runs one case; on a disagreement, says where and what each side said.
fn run_case(setup: &Setup, ops: &[Op]) -> Result<(), String> {
    let start = Instant::now();
    let mut engine = Engine::new(setup);
    let mut states = vec![Model::new(setup)];
    let mut trace = String::new();
    for (i, op) in ops.iter().enumerate() {
        let act = engine.resolve(op);
        let res = engine.apply(&act, &states[0]);
        let _ = writeln!(trace, "  {i:>3}: {act:?} -> {res:?}");
        let obs = engine
            .observe(res)
            .map_err(|e| format!("{trace}  engine: {e}"))?;
        let mut seen = HashSet::new();
        let mut next = Vec::new();
        let mut rejected = Vec::new();
        for m in &states {
            for (m2, r) in m.step(setup, &act) {
                let o = m2.observe(r);
                if o == obs {
                    if seen.insert(m2.clone()) {
                        next.push(m2);
                    }
                } else if rejected.len() < 3 && !rejected.contains(&o) {
                    rejected.push(o);
                }
            }
        }
        if next.is_empty() {
            let mut msg = format!("the engine and the model disagree at step {i}:\n{trace}");
            for o in &rejected {
                let _ = write!(msg, "  engine vs a model outcome:\n{}", obs.diff(o));
            }
            let real = start.elapsed();
            if real > Duration::from_nanos(SLACK) {
                let _ = write!(
                    msg,
                    "  NOTE: the case took {real:?} of real time, over the {:?} the timing \
                     rules allow for; the disagreement may come from that",
                    Duration::from_nanos(SLACK)
                );
            }
            return Err(msg);
        }
        if next.len() > MAX_STATES {
            return Err(format!(
                "{trace}  the model has {} states consistent with the engine: too ambiguous",
                next.len()
            ));
        }
        tally(&act, &obs, next.len());
        states = next;
    }
    Ok(())
}

fn delay_strategy() -> impl Strategy<Value = Delay> {
    prop_oneof![
        3 => Just(Delay::Backoff),
        1 => Just(Delay::Ns(0)),
        1 => Just(Delay::Ns(U / 2)),
        1 => Just(Delay::Ns(U)),
        1 => Just(Delay::Ns(3 * U / 2)),
    ]
}

fn how_strategy() -> impl Strategy<Value = How> {
    prop_oneof![
        4 => Just(How::Ack),
        3 => delay_strategy().prop_map(How::Nack),
        1 => Just(How::Term),
        1 => Just(How::InProgress),
        2 => Just(How::Drop),
    ]
}

fn stale_strategy() -> impl Strategy<Value = How> {
    prop_oneof![
        Just(How::Ack),
        delay_strategy().prop_map(How::Nack),
        Just(How::Term),
        Just(How::InProgress),
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        40 => (0u64..4).prop_map(|key| Op::Publish { key }),
        50 => (0usize..4).prop_map(|sub| Op::Poll { sub }),
        45 => (0usize..8, how_strategy()).prop_map(|(h, how)| Op::Settle { h, how }),
        6 => (0usize..8, stale_strategy()).prop_map(|(t, how)| Op::Stale { t, how }),
        4 => (0usize..3).prop_map(|name| Op::Subscribe { name }),
        2 => (0usize..4).prop_map(|sub| Op::Unsubscribe { sub }),
        24 => (1u64..=4).prop_map(|units| Op::Advance { units }),
        1 => Just(Op::Close),
    ]
}

fn setup_strategy() -> impl Strategy<Value = Setup> {
    (
        prop_oneof![Just(4u64), Just(8)],
        1u32..=3,
        // Backoffs of 0.75 or 1.25 units put few of a retry's due-window
        // ends on a unit boundary, where the model must allow both sides.
        prop_oneof![Just(3 * U / 4), Just(5 * U / 4)],
        0usize..3,
        1u64..=3,
        0usize..4,
        any::<bool>(),
        1usize..=2,
    )
        .prop_map(
            |(capacity, max_attempts, base, max, ack, rc, reject, subs)| Setup {
                capacity,
                max_attempts,
                backoff_base: base,
                backoff_max: [base, 2 * base, 11 * U / 4][max],
                ack_timeout: ack * U + U / 2,
                retry_capacity: [0, 1, 2, capacity as usize / 2][rc],
                reject,
                subs,
            },
        )
}

fn env<T: std::str::FromStr>(name: &str) -> Option<T> {
    let v = std::env::var(name).ok()?;
    Some(
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a valid number")),
    )
}

/// A seed for this run: the one asked for, or a new one.
fn seed() -> u64 {
    env("RINGMQ_MODEL_SEED").unwrap_or_else(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos(),
        );
        h.finish()
    })
}

/// Hand-written sequences that reach the paths random ones reach rarely,
/// checked the same way.
fn scenarios() -> Vec<(&'static str, Setup, Vec<Op>)> {
    use Op::*;
    let setup = Setup {
        capacity: 4,
        max_attempts: 2,
        backoff_base: 3 * U / 4,
        backoff_max: 3 * U / 2,
        ack_timeout: U + U / 2,
        retry_capacity: 0,
        reject: false,
        subs: 1,
    };
    let settle = |how| Settle { h: 0, how };
    vec![
        (
            "a nacked message is retried once, then dead-lettered with both attempts",
            setup.clone(),
            vec![
                Publish { key: 3 },
                Poll { sub: 0 },
                settle(How::Nack(Delay::Backoff)),
                Poll { sub: 0 },
                Advance { units: 1 },
                Poll { sub: 0 },
                settle(How::Nack(Delay::Backoff)),
                Poll { sub: 0 },
            ],
        ),
        (
            "a full ring times a publish out until the slowest subscription acks",
            Setup {
                subs: 2,
                ..setup.clone()
            },
            vec![
                Publish { key: 0 },
                Publish { key: 1 },
                Publish { key: 2 },
                Publish { key: 3 },
                Publish { key: 4 },
                Poll { sub: 0 },
                settle(How::Ack),
                Publish { key: 5 },
                Poll { sub: 1 },
                settle(How::Ack),
                Publish { key: 6 },
                Stale {
                    t: 0,
                    how: How::Ack,
                },
            ],
        ),
        (
            "an unsettled delivery expires, is retried, and its old holder learns it",
            setup.clone(),
            vec![
                Publish { key: 1 },
                Poll { sub: 0 },
                Advance { units: 2 },
                Poll { sub: 0 },
                Advance { units: 2 },
                Poll { sub: 0 },
                Settle {
                    h: 0,
                    how: How::Ack,
                },
                Settle {
                    h: 0,
                    how: How::Ack,
                },
            ],
        ),
        (
            "in_progress keeps a delivery; dropping one leaves it to the ack timer",
            Setup {
                max_attempts: 3,
                ..setup.clone()
            },
            vec![
                Publish { key: 1 },
                Publish { key: 2 },
                Poll { sub: 0 },
                Poll { sub: 0 },
                Advance { units: 1 },
                Settle {
                    h: 0,
                    how: How::InProgress,
                },
                Settle {
                    h: 1,
                    how: How::Drop,
                },
                Advance { units: 1 },
                Poll { sub: 0 },
                Settle {
                    h: 0,
                    how: How::Term,
                },
                Advance { units: 2 },
                Poll { sub: 0 },
                Poll { sub: 0 },
            ],
        ),
        (
            "unsubscribing with a delivery held, then closing",
            Setup { subs: 2, ..setup },
            vec![
                Publish { key: 1 },
                Poll { sub: 0 },
                Unsubscribe { sub: 0 },
                Publish { key: 2 },
                Subscribe { name: 0 },
                Settle {
                    h: 0,
                    how: How::Nack(Delay::Ns(0)),
                },
                Unsubscribe { sub: 0 },
                Publish { key: 3 },
                Close,
                Publish { key: 4 },
                Poll { sub: 1 },
                Close,
            ],
        ),
    ]
}

#[test]
fn engine_agrees_with_the_model() {
    // The virtual clock moves both monotonic clocks, keeping coarse <= fine.
    let before = clock::mono_ns();
    clock::advance(Duration::from_nanos(U));
    let (coarse, fine) = (clock::mono_coarse_ns(), clock::mono_ns());
    assert!(fine - before >= U && coarse <= fine && coarse + U > fine);

    for (what, setup, ops) in scenarios() {
        if let Err(e) = run_case(&setup, &ops) {
            panic!("scenario \"{what}\" failed\n{setup:?}\n{e}");
        }
    }

    let seed = seed();
    let cases = env("RINGMQ_MODEL_CASES").unwrap_or(CASES);
    let max_ops = env("RINGMQ_MODEL_OPS").unwrap_or(MAX_OPS);
    let config = Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        max_shrink_iters: 20_000,
        ..Config::default()
    };
    let started = Instant::now();
    let mut runner = TestRunner::new(config);
    let strategy = (
        setup_strategy(),
        prop::collection::vec(op_strategy(), 1..=max_ops),
    );
    let result = runner.run(&strategy, |(setup, ops)| {
        run_case(&setup, &ops).map_err(TestCaseError::fail)
    });
    match result {
        Ok(()) => eprintln!(
            "model test: {cases} cases of up to {max_ops} steps agreed in {:?} \
             (RINGMQ_MODEL_SEED={seed}); they reached: {:?}",
            started.elapsed(),
            TALLY.lock().unwrap_or_else(|e| e.into_inner())
        ),
        Err(TestError::Fail(why, (setup, ops))) => panic!(
            "model test failed; replay with RINGMQ_MODEL_SEED={seed} RINGMQ_MODEL_CASES={cases} \
             RINGMQ_MODEL_OPS={max_ops}\nshrunk case: {setup:?}\nsteps: {ops:?}\n{why}"
        ),
        Err(e) => panic!("model test aborted (RINGMQ_MODEL_SEED={seed}): {e}"),
    }
}
