//! Messages v2: what headers, delayed messages and de-duplication ids cost.
//!
//! - `headers`: 1 producer -> 1 consumer through a pull subscription (as
//!   `ringmq-raw`), 64 B payloads published with `Topic::publish_opts`,
//!   with two small headers or none; the consumer reads the `tenant`
//!   header of every delivery and checks it.
//! - `delayed`: one thread schedules N messages with delays spread
//!   uniformly over 0..1 s, one consumer takes them as they fall due; RingMQ
//!   (`publish_opts` with a delay, its timing wheel) against a hand-written
//!   delay queue (a `BinaryHeap` behind a `Mutex` and a `Condvar`). The
//!   message count is fixed, not calibrated; the run's rate is the
//!   scheduling rate, and each run also records the time until the last
//!   message fired and the lateness of every message (fire time minus due
//!   time).
//! - `dedupe`: one thread publishing, no subscription: without `msg_id`,
//!   with a new 16 B `msg_id` each time, and with ids the window already
//!   holds (answered from the window, nothing stored).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use ringmq_core::{Broker, BrokerOptions, PublishOptions, SubOptions, Topic, TopicOptions};

use crate::msg::{make, now_ns, seq_of, stamp_of, Checker};
use crate::peers::{StartLine, CAPACITY};
use crate::rmq::{close, err, POLL_MAX, STALL};
use crate::{add, median, summarise, Case, Outcome, RunResult};

/// The scenarios of this module, in the order they are printed.
pub const NAMES: [&str; 3] = ["headers", "delayed", "dedupe"];

/// A W3C trace context header value (55 bytes).
pub const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const TENANT: &[u8] = b"acme";

/// Smallest ring of the delayed scenario's topic.
pub const DELAY_CAPACITY: usize = 65_536;
/// Delays are spread uniformly over `0..DELAY_SPREAD`.
pub const DELAY_SPREAD: Duration = Duration::from_secs(1);
/// Ids the duplicate case publishes first and then publishes again in turn.
const DUP_IDS: u64 = 1024;

fn topic_with(opts: TopicOptions) -> Result<(Broker, Topic), String> {
    let broker = Broker::new(BrokerOptions::default()).map_err(err)?;
    let topic = broker.create_topic("bench", opts).map_err(err)?;
    Ok((broker, topic))
}

fn opts64() -> TopicOptions {
    TopicOptions {
        capacity: CAPACITY,
        slot_size: 64,
        ..TopicOptions::default()
    }
}

/// 1 producer -> 1 consumer, 64 B, with the two headers or none; the
/// consumer reads `tenant` back from each delivery.
pub fn headers(n: u64, with_headers: bool) -> RunResult {
    let (broker, topic) = topic_with(opts64())?;
    let sub = topic
        .subscribe_pull("pull", SubOptions::default())
        .map_err(err)?;
    let hdrs: [(&str, &[u8]); 2] = [("traceparent", TRACEPARENT.as_bytes()), ("tenant", TENANT)];
    let opts = PublishOptions {
        headers: if with_headers { &hdrs } else { &[] },
        ..PublishOptions::default()
    };
    let want = with_headers.then_some(TENANT);
    let start = StartLine::new(2);
    let secs = thread::scope(|s| -> Result<f64, String> {
        let consumer = s.spawn(|| -> Result<(), String> {
            start.wait();
            let mut chk = Checker::new();
            let mut wrong = 0u64;
            let mut got = Vec::with_capacity(POLL_MAX);
            while chk.count < n {
                let k = sub
                    .poll_batch(POLL_MAX, Some(STALL), &mut got)
                    .map_err(err)?;
                if k == 0 {
                    return Err(format!(
                        "consumer got nothing for {STALL:?} after {} of {n} messages",
                        chk.count
                    ));
                }
                for d in &got {
                    chk.see(d.data());
                    if d.headers().get("tenant") != want {
                        wrong += 1;
                    }
                }
                sub.ack_all(&mut got).map_err(err)?;
            }
            chk.verdict(n)?;
            if wrong != 0 {
                return Err(format!("{wrong} messages had a wrong tenant header"));
            }
            Ok(())
        });
        let producer = s.spawn(|| -> Result<(), String> {
            start.wait();
            for i in 0..n {
                topic.publish_opts(&make::<64>(i, 0), &opts).map_err(err)?;
            }
            Ok(())
        });
        let t0 = start.go();
        consumer.join().map_err(|_| "consumer panicked")??;
        let secs = t0.elapsed().as_secs_f64();
        producer.join().map_err(|_| "producer panicked")??;
        Ok(secs)
    })?;
    drop(sub);
    close(broker)?;
    Ok(Outcome::Throughput { msgs: n, secs })
}

/// `n` delays in ns, uniform over `0..DELAY_SPREAD`, the same every run
/// (splitmix64 from a fixed seed).
fn delays(n: u64) -> Vec<u64> {
    let spread = DELAY_SPREAD.as_nanos() as u64;
    let mut x: u64 = 0x5eed_1234_abcd_0001;
    (0..n)
        .map(|_| {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            z % spread
        })
        .collect()
}

/// What a delayed run's two threads report: when the producer finished
/// scheduling and when the consumer got the last message, and each
/// message's lateness (ns, negative if early).
fn delayed_outcome(
    n: u64,
    t0: Instant,
    scheduled: Instant,
    fired: Instant,
    mut late: Vec<i64>,
) -> RunResult {
    late.sort_unstable();
    let q = |p: f64| {
        let rank = ((p * late.len() as f64).ceil() as usize).clamp(1, late.len());
        late[rank - 1] as f64 / 1e3
    };
    let mean = late.iter().map(|&l| l as f64).sum::<f64>() / late.len() as f64 / 1e3;
    let early = late.iter().take_while(|&&l| l < 0).count();
    let schedule_secs = scheduled.duration_since(t0).as_secs_f64();
    Ok(Outcome::Figures {
        msgs: n,
        secs: schedule_secs,
        figures: vec![
            ("schedule_s", schedule_secs),
            ("fire_all_s", fired.duration_since(t0).as_secs_f64()),
            ("lateness_mean_us", mean),
            ("lateness_p50_us", q(0.50)),
            ("lateness_p99_us", q(0.99)),
            ("lateness_max_us", q(1.0)),
            ("early", early as f64),
        ],
    })
}

/// Marks message `i` as received; an error if it is out of range or came
/// before.
fn see_once(seen: &mut [bool], i: u64) -> Result<(), String> {
    match seen.get_mut(i as usize) {
        Some(s) if !*s => {
            *s = true;
            Ok(())
        }
        Some(_) => Err(format!("message {i} arrived twice")),
        None => Err(format!("message {i} was never scheduled")),
    }
}

/// The delayed topic's ring: `RINGMQ_BENCH_DELAY_CAPACITY` if set, else the
/// next power of two of at least 2 n and [`DELAY_CAPACITY`]. Each delayed
/// message takes a sequence when published (a skip slot) and another when
/// it fires, so such a ring never fills; with a smaller one (65,536 for a
/// million messages) firing stalls for tens of seconds (docs/BENCHMARKS.md,
/// "Messages v2").
fn delay_capacity(n: u64) -> usize {
    std::env::var("RINGMQ_BENCH_DELAY_CAPACITY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| (2 * n as usize).next_power_of_two().max(DELAY_CAPACITY))
}

/// RingMQ: `n` messages published with a delay (bytes 16..24 of each hold
/// its due time), fired by the topic's wheel to one pull consumer.
pub fn delayed_ringmq(n: u64) -> RunResult {
    let (broker, topic) = topic_with(TopicOptions {
        capacity: delay_capacity(n),
        slot_size: 64,
        max_delayed: (n as usize).max(1_000_000),
        ..TopicOptions::default()
    })?;
    let sub = topic
        .subscribe_pull("due", SubOptions::default())
        .map_err(err)?;
    let delays = delays(n);
    let start = StartLine::new(2);
    let (t0, scheduled, fired, late) = thread::scope(|s| {
        let consumer = s.spawn(|| -> Result<(Instant, Vec<i64>), String> {
            start.wait();
            let mut seen = vec![false; n as usize];
            let mut late = Vec::with_capacity(n as usize);
            let mut got = Vec::with_capacity(POLL_MAX);
            while (late.len() as u64) < n {
                let k = sub
                    .poll_batch(POLL_MAX, Some(STALL), &mut got)
                    .map_err(err)?;
                if k == 0 {
                    return Err(format!(
                        "consumer got nothing for {STALL:?} after {} of {n} messages",
                        late.len()
                    ));
                }
                let now = now_ns() as i64;
                for d in &got {
                    see_once(&mut seen, seq_of(d.data()))?;
                    late.push(now - stamp_of(d.data()) as i64);
                }
                sub.ack_all(&mut got).map_err(err)?;
            }
            Ok((Instant::now(), late))
        });
        let producer = s.spawn(|| -> Result<Instant, String> {
            start.wait();
            for (i, &d) in delays.iter().enumerate() {
                let mut m = make::<64>(i as u64, 0);
                m[16..24].copy_from_slice(&(now_ns() + d).to_le_bytes());
                let o = PublishOptions {
                    delay: Some(Duration::from_nanos(d)),
                    ..PublishOptions::default()
                };
                topic.publish_opts(&m, &o).map_err(err)?;
            }
            Ok(Instant::now())
        });
        let t0 = start.go();
        let fired = consumer.join().map_err(|_| "consumer panicked")?;
        let scheduled = producer.join().map_err(|_| "producer panicked")??;
        let (fired, late) = fired?;
        Ok::<_, String>((t0, scheduled, fired, late))
    })?;
    drop(sub);
    close(broker)?;
    delayed_outcome(n, t0, scheduled, fired, late)
}

/// The peer: a delay queue as one would write it by hand, a binary heap of
/// (due, seq) behind a mutex, and a condition variable on which the
/// consumer sleeps until the earliest due time or a new earliest item.
struct DelayQueue {
    heap: Mutex<BinaryHeap<Reverse<(Instant, u64)>>>,
    cv: Condvar,
}

impl DelayQueue {
    fn with_capacity(n: usize) -> DelayQueue {
        DelayQueue {
            heap: Mutex::new(BinaryHeap::with_capacity(n)),
            cv: Condvar::new(),
        }
    }

    /// Schedules `seq` at `due`; wakes the consumer only when it becomes
    /// the earliest (the consumer sleeps until the earliest due time).
    fn schedule(&self, due: Instant, seq: u64) {
        let mut h = self.heap.lock().unwrap();
        let earliest = h.peek().is_none_or(|Reverse((t, _))| due < *t);
        h.push(Reverse((due, seq)));
        drop(h);
        if earliest {
            self.cv.notify_one();
        }
    }

    /// Waits until something is due, then pops up to `max` due items into
    /// `out`; false if the queue stayed empty for `STALL`.
    fn take_due(&self, max: usize, out: &mut Vec<(Instant, u64)>) -> bool {
        let mut h = self.heap.lock().unwrap();
        loop {
            let now = Instant::now();
            match h.peek() {
                Some(&Reverse((t, _))) if t <= now => {
                    while out.len() < max {
                        match h.peek() {
                            Some(&Reverse((t, seq))) if t <= now => {
                                h.pop();
                                out.push((t, seq));
                            }
                            _ => break,
                        }
                    }
                    return true;
                }
                Some(&Reverse((t, _))) => h = self.cv.wait_timeout(h, t - now).unwrap().0,
                None => {
                    let (g, r) = self.cv.wait_timeout(h, STALL).unwrap();
                    if r.timed_out() && g.is_empty() {
                        return false;
                    }
                    h = g;
                }
            }
        }
    }
}

/// The peer with the same delays as [`delayed_ringmq`].
pub fn delayed_heap(n: u64) -> RunResult {
    let q = DelayQueue::with_capacity(n as usize);
    let delays = delays(n);
    let start = StartLine::new(2);
    let (t0, scheduled, fired, late) = thread::scope(|s| {
        let consumer = s.spawn(|| -> Result<(Instant, Vec<i64>), String> {
            start.wait();
            let mut seen = vec![false; n as usize];
            let mut late = Vec::with_capacity(n as usize);
            let mut got = Vec::with_capacity(POLL_MAX);
            while (late.len() as u64) < n {
                if !q.take_due(POLL_MAX, &mut got) {
                    return Err(format!(
                        "consumer got nothing for {STALL:?} after {} of {n} messages",
                        late.len()
                    ));
                }
                let now = Instant::now();
                for (due, seq) in got.drain(..) {
                    see_once(&mut seen, seq)?;
                    late.push(now.duration_since(due).as_nanos() as i64);
                }
            }
            Ok((Instant::now(), late))
        });
        let producer = s.spawn(|| -> Instant {
            start.wait();
            for (i, &d) in delays.iter().enumerate() {
                q.schedule(Instant::now() + Duration::from_nanos(d), i as u64);
            }
            Instant::now()
        });
        let t0 = start.go();
        let fired = consumer.join().map_err(|_| "consumer panicked")?;
        let scheduled = producer.join().map_err(|_| "producer panicked")?;
        let (fired, late) = fired?;
        Ok::<_, String>((t0, scheduled, fired, late))
    })?;
    delayed_outcome(n, t0, scheduled, fired, late)
}

/// Which `msg_id` the dedupe scenario publishes with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdMode {
    None,
    /// A new id each publish.
    Unique,
    /// Ids the window holds already (answered from it, nothing stored).
    Duplicate,
}

/// A 16-byte id for `i`.
#[inline(always)]
fn msg_id(i: u64) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&i.to_le_bytes());
    b[8..].copy_from_slice(&i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
    b
}

/// One thread publishes `n` 64 B messages to a topic without subscriptions
/// (default options: `dedupe_window` 2 min, `dedupe_max` 4 x 1024).
pub fn dedupe(n: u64, mode: IdMode) -> RunResult {
    let (broker, topic) = topic_with(opts64())?;
    if mode == IdMode::Duplicate {
        for i in 0..DUP_IDS {
            let id = msg_id(i);
            let o = PublishOptions {
                msg_id: Some(&id),
                ..PublishOptions::default()
            };
            let got = topic.publish_opts(&make::<64>(i, 0), &o).map_err(err)?;
            if got != i {
                return Err(format!("first publish {i} got message id {got}"));
            }
        }
    }
    let t0 = Instant::now();
    let mut wrong = 0u64;
    for i in 0..n {
        let m = make::<64>(i, 0);
        match mode {
            IdMode::None => {
                topic
                    .publish_opts(&m, &PublishOptions::default())
                    .map_err(err)?;
            }
            IdMode::Unique => {
                let id = msg_id(i);
                let o = PublishOptions {
                    msg_id: Some(&id),
                    ..PublishOptions::default()
                };
                topic.publish_opts(&m, &o).map_err(err)?;
            }
            IdMode::Duplicate => {
                let first = i & (DUP_IDS - 1);
                let id = msg_id(first);
                let o = PublishOptions {
                    msg_id: Some(&id),
                    ..PublishOptions::default()
                };
                if topic.publish_opts(&m, &o).map_err(err)? != first {
                    wrong += 1;
                }
            }
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let st = topic.stats();
    let (published, duplicates) = match mode {
        IdMode::Duplicate => (DUP_IDS, n),
        _ => (n, 0),
    };
    if wrong != 0 || st.published != published || st.duplicates != duplicates {
        return Err(format!(
            "expected {published} stored and {duplicates} duplicates, got {} and {} ({wrong} wrong first ids)",
            st.published, st.duplicates
        ));
    }
    close(broker)?;
    Ok(Outcome::Throughput { msgs: n, secs })
}

/// Registers the three scenarios' cases (64 B payloads).
pub fn register(cases: &mut Vec<Case>, quick: bool) {
    let c = cases;
    let hd = if quick { 20_000 } else { 100_000 };
    add(c, "headers", 64, "ringmq-no-headers", hd, false, |n| {
        headers(n, false)
    });
    add(c, "headers", 64, "ringmq-headers", hd, false, |n| {
        headers(n, true)
    });
    // A fixed count: every run schedules the same N messages.
    let dl = if quick { 20_000 } else { 1_000_000 };
    add(c, "delayed", 64, "ringmq-delay", dl, false, delayed_ringmq);
    add(
        c,
        "delayed",
        64,
        "heap-delay-queue",
        dl,
        false,
        delayed_heap,
    );
    for case in c.iter_mut().filter(|k| k.scenario == "delayed") {
        case.fixed = true;
    }
    let dd = if quick { 20_000 } else { 200_000 };
    add(c, "dedupe", 64, "ringmq-no-id", dd, false, |n| {
        dedupe(n, IdMode::None)
    });
    add(c, "dedupe", 64, "ringmq-unique-id", dd, false, |n| {
        dedupe(n, IdMode::Unique)
    });
    add(c, "dedupe", 64, "ringmq-duplicate-id", dd, false, |n| {
        dedupe(n, IdMode::Duplicate)
    });
}

/// The median of a case's named per-run figure.
pub fn figure(c: &Case, name: &str) -> f64 {
    let v: Vec<f64> = c
        .figures
        .iter()
        .filter_map(|run| run.iter().find(|(k, _)| *k == name).map(|&(_, v)| v))
        .collect();
    median(&v)
}

fn find<'a>(cases: &'a [Case], scenario: &str, imp: &str) -> Option<&'a Case> {
    cases
        .iter()
        .find(|c| c.scenario == scenario && c.imp == imp && summarise(c).is_some())
}

fn rate(c: &Case) -> f64 {
    summarise(c).map_or(f64::NAN, |s| s.median)
}

/// The ratios this module reports, from the medians (for the table and
/// the JSON); empty where a case did not run.
pub fn ratios(cases: &[Case]) -> Vec<(&'static str, f64)> {
    let mut out = Vec::new();
    if let (Some(h), Some(none)) = (
        find(cases, "headers", "ringmq-headers"),
        find(cases, "headers", "ringmq-no-headers"),
    ) {
        out.push(("headers/none msgs_per_s", rate(h) / rate(none)));
    }
    if let (Some(r), Some(p)) = (
        find(cases, "delayed", "ringmq-delay"),
        find(cases, "delayed", "heap-delay-queue"),
    ) {
        out.push(("delayed ringmq/heap schedule_rate", rate(r) / rate(p)));
        for (f, name) in [
            ("fire_all_s", "delayed ringmq/heap fire_all_s"),
            ("lateness_mean_us", "delayed ringmq/heap lateness_mean"),
            ("lateness_p50_us", "delayed ringmq/heap lateness_p50"),
            ("lateness_p99_us", "delayed ringmq/heap lateness_p99"),
        ] {
            out.push((name, figure(r, f) / figure(p, f)));
        }
    }
    if let Some(none) = find(cases, "dedupe", "ringmq-no-id") {
        for (imp, name) in [
            ("ringmq-unique-id", "dedupe unique/none ns_per_publish"),
            (
                "ringmq-duplicate-id",
                "dedupe duplicate/none ns_per_publish",
            ),
        ] {
            if let Some(c) = find(cases, "dedupe", imp) {
                out.push((name, rate(none) / rate(c)));
            }
        }
    }
    out
}

fn failed(c: &Case) -> bool {
    if summarise(c).is_some() {
        return false;
    }
    println!(
        "  {:<22} FAILED: {}",
        c.imp,
        c.error.as_deref().unwrap_or("no result")
    );
    true
}

fn ms(us: f64) -> String {
    format!("{:.2}", us / 1e3)
}

/// Prints the tables of this module's scenarios that ran.
/// A scenario's table of rates: median, min-max and the cost of one
/// operation (1e9 / median), one row per implementation; `labels` and
/// `widths` are those of the rate and cost columns.
fn rate_table(cases: &[&Case], scenario: &str, labels: [&str; 2], widths: [usize; 2], runs: usize) {
    let [rw, cw] = widths;
    println!();
    println!("== {scenario}, 64 B: {}", crate::describe(scenario));
    println!(
        "  {:<22} {:>rw$} {:>17} {:>cw$}   (median of {runs})",
        "implementation", labels[0], "min-max", labels[1]
    );
    for c in cases {
        if failed(c) {
            continue;
        }
        let s = summarise(c).unwrap();
        println!(
            "  {:<22} {:>rw$} {:>17} {:>cw$.1}",
            c.imp,
            crate::fmt_rate(s.median),
            format!("{}-{}", crate::fmt_rate(s.min), crate::fmt_rate(s.max)),
            1e9 / s.median
        );
    }
}

pub fn print(cases: &[Case], runs: usize) {
    let of = |name: &str| -> Vec<&Case> { cases.iter().filter(|c| c.scenario == name).collect() };
    let ratios = ratios(cases);
    let ratio = |name: &str| {
        ratios
            .iter()
            .find(|(k, _)| *k == name)
            .map_or("-".to_owned(), |(_, v)| format!("{v:.2}"))
    };

    let hs = of("headers");
    if !hs.is_empty() {
        rate_table(&hs, "headers", ["M msgs/s", "ns/msg"], [10, 10], runs);
        println!(
            "  headers / none (msgs/s): {}",
            ratio("headers/none msgs_per_s")
        );
    }

    let ds = of("delayed");
    if !ds.is_empty() {
        println!();
        println!(
            "== delayed, 64 B: {} (N = {})",
            crate::describe("delayed"),
            ds[0].n
        );
        println!(
            "  {:<22} {:>12} {:>17} {:>10} {:>10} {:>10} {:>10} {:>10} {:>6}   (median of {runs})",
            "implementation",
            "sched M/s",
            "min-max",
            "fire all s",
            "late mean",
            "late p50",
            "late p99",
            "late max",
            "early"
        );
        for c in ds {
            if failed(c) {
                continue;
            }
            let s = summarise(c).unwrap();
            println!(
                "  {:<22} {:>12} {:>17} {:>10.3} {:>10} {:>10} {:>10} {:>10} {:>6}",
                c.imp,
                crate::fmt_rate(s.median),
                format!("{}-{}", crate::fmt_rate(s.min), crate::fmt_rate(s.max)),
                figure(c, "fire_all_s"),
                ms(figure(c, "lateness_mean_us")),
                ms(figure(c, "lateness_p50_us")),
                ms(figure(c, "lateness_p99_us")),
                ms(figure(c, "lateness_max_us")),
                figure(c, "early")
            );
        }
        println!("  (lateness: fire time minus due time, ms; early: messages fired before due)");
        println!(
            "  ringmq / heap: schedule rate {}, time to fire all {}, lateness mean {}, p50 {}, p99 {}",
            ratio("delayed ringmq/heap schedule_rate"),
            ratio("delayed ringmq/heap fire_all_s"),
            ratio("delayed ringmq/heap lateness_mean"),
            ratio("delayed ringmq/heap lateness_p50"),
            ratio("delayed ringmq/heap lateness_p99")
        );
    }

    let dd = of("dedupe");
    if !dd.is_empty() {
        rate_table(
            &dd,
            "dedupe",
            ["M publishes/s", "ns/publish"],
            [14, 12],
            runs,
        );
        println!(
            "  ns/publish vs no id: unique id {}, duplicate id {}",
            ratio("dedupe unique/none ns_per_publish"),
            ratio("dedupe duplicate/none ns_per_publish")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_are_spread_over_the_second() {
        let d = delays(100_000);
        let spread = DELAY_SPREAD.as_nanos() as u64;
        assert!(d.iter().all(|&x| x < spread));
        let mean = d.iter().sum::<u64>() as f64 / d.len() as f64;
        assert!((mean / spread as f64 - 0.5).abs() < 0.01, "{mean}");
        assert_eq!(d, delays(100_000));
    }

    #[test]
    fn traceparent_is_55_bytes() {
        assert_eq!(TRACEPARENT.len(), 55);
    }

    #[test]
    fn heap_queue_pops_in_due_order_and_not_early() {
        let q = DelayQueue::with_capacity(4);
        let t = Instant::now();
        for (ms, seq) in [(30, 0), (10, 1), (20, 2)] {
            q.schedule(t + Duration::from_millis(ms), seq);
        }
        let mut order = Vec::new();
        let mut got = Vec::new();
        while order.len() < 3 {
            assert!(q.take_due(8, &mut got));
            let now = Instant::now();
            for (due, seq) in got.drain(..) {
                assert!(due <= now);
                order.push(seq);
            }
        }
        assert_eq!(order, [1, 2, 0]);
    }
}
