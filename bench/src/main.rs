//! RingMQ against peer queues, in one run on one machine.
//!
//! ```text
//! cargo run --release -p ringmq-bench -- [--quick] [--runs N] [--json PATH]
//!     [--png PATH] [--scenario NAME] [--only TEXT]
//! ```
//!
//! Every case (a scenario, a payload size and an implementation) first runs
//! once to warm up and to pick a message count that lasts about a quarter of
//! a second; then run r of every case is made before run r+1 of any, so
//! that a machine flipping between a fast and a slow state for minutes at a
//! time hurts every case alike, and each figure is the median of the runs.

mod chart;
mod durable;
mod msg;
mod peers;
mod probe;
mod rmq;
mod v2;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::*};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use peers::{CrossbeamArrayQueue, CrossbeamChannel, DisruptorWait, Flume, Rtrb, StdSyncChannel};

/// What one run of a case measured.
pub enum Outcome {
    Throughput {
        msgs: u64,
        secs: f64,
    },
    /// Nanoseconds per message or round trip.
    Latency {
        samples: Vec<u64>,
    },
    /// Throughput (`msgs` in `secs`) and further named figures of the run.
    Figures {
        msgs: u64,
        secs: f64,
        figures: Vec<(&'static str, f64)>,
    },
}

pub type RunResult = Result<Outcome, String>;

type RunFn = Box<dyn Fn(u64) -> RunResult>;

struct Case {
    scenario: &'static str,
    payload: usize,
    imp: String,
    /// Messages of the warm-up run; for latency cases, of every run.
    base_n: u64,
    latency: bool,
    /// Every run moves `base_n` messages (no calibration).
    fixed: bool,
    run: RunFn,
    n: u64,
    rates: Vec<f64>,
    /// Per run: the named figures of an `Outcome::Figures`.
    figures: Vec<Vec<(&'static str, f64)>>,
    /// Per run: p50, p99, p99.9 (ns).
    pcts: Vec<[f64; 3]>,
    error: Option<String>,
}

struct Scenario {
    name: &'static str,
    what: &'static str,
}

const SCENARIOS: &[Scenario] = &[
    Scenario { name: "1p1c", what: "1 producer -> 1 consumer" },
    Scenario { name: "2p1c", what: "2 producers -> 1 consumer" },
    Scenario { name: "fanout", what: "1 producer -> 2 consumers, each sees every message" },
    Scenario { name: "batch", what: "1 -> 1, published in batches of 64, consumed in batches" },
    Scenario { name: "pingpong", what: "round trip through two queues (latency)" },
    Scenario { name: "push-latency-1k", what: "publish -> handler latency at a steady 1,000 msg/s" },
    Scenario { name: "push-latency-sat", what: "publish -> handler latency at saturation (ring full)" },
    Scenario { name: "push-subs", what: "push throughput with 1, 2 and 4 subscriptions (msgs published/s; each subscription handles all)" },
    Scenario { name: "headers", what: "publish + poll + ack, 1 -> 1, two headers (traceparent 55 B, tenant 4 B) read back by the consumer, vs none" },
    Scenario { name: "delayed", what: "delays uniform over 0..1 s, 1 thread schedules, 1 consumer takes them when due (rate: scheduling)" },
    Scenario { name: "dedupe", what: "publish only, 1 thread, no subscription: no msg_id, a new 16 B msg_id, an id already in the window" },
    Scenario { name: "durable", what: "publish only to a durable topic (no subscription) per fsync policy, vs the same frames appended by hand and SQLite WAL" },
    Scenario { name: "durable_latency", what: "durable topic, 1 publisher at a steady rate, 1 pull consumer: ack time minus publish start" },
    Scenario { name: "durable_recovery", what: "Broker::new on a data dir holding one large log written with fsync never" },
    Scenario { name: "durable_rss", what: "RSS added by a broker + durable topic (interval) with a consumer keeping up" },
];

#[derive(Debug)]
struct Options {
    quick: bool,
    runs: usize,
    json: PathBuf,
    png: PathBuf,
    scenario: Option<String>,
    /// Only implementations whose name contains this.
    only: Option<String>,
}

const USAGE: &str =
    "usage: ringmq-bench [--quick] [--runs N] [--json PATH] [--png PATH] [--scenario NAME]
  --quick          short runs (3 runs unless --runs), for CI
  --runs N         runs per case, at least 1 (default 5, quick 3)
  --json PATH      results as JSON (default bench/results/latest.json)
  --png PATH       bar chart (default bench/results/latest.png)
  --scenario NAME  only this scenario; one of: 1p1c 2p1c fanout batch pingpong
                   push-latency-1k push-latency-sat push-subs headers delayed
                   dedupe durable durable_latency durable_recovery
                   durable_rss memory startup
  --only TEXT      only implementations whose name contains TEXT (for profiling)";

fn parse_args(args: &[String]) -> Result<Options, String> {
    let results = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("results");
    let mut o = Options {
        quick: false,
        runs: 0,
        json: results.join("latest.json"),
        png: results.join("latest.png"),
        scenario: None,
        only: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match a.as_str() {
            "--quick" => o.quick = true,
            "--runs" => {
                let v = value("--runs")?;
                o.runs =
                    v.parse().ok().filter(|&r| r >= 1).ok_or_else(|| {
                        format!("--runs {v:?} is not a whole number of at least 1")
                    })?;
            }
            "--json" => o.json = value("--json")?.into(),
            "--png" => o.png = value("--png")?.into(),
            "--scenario" => {
                let v = value("--scenario")?;
                let known =
                    SCENARIOS.iter().any(|s| s.name == v) || v == "memory" || v == "startup";
                if !known {
                    return Err(format!("unknown scenario {v:?}"));
                }
                o.scenario = Some(v);
            }
            "--only" => o.only = Some(value("--only")?),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if o.runs == 0 {
        o.runs = if o.quick { 3 } else { 5 };
    }
    Ok(o)
}

fn add(
    cases: &mut Vec<Case>,
    scenario: &'static str,
    payload: usize,
    imp: &str,
    base_n: u64,
    latency: bool,
    run: impl Fn(u64) -> RunResult + 'static,
) {
    cases.push(Case {
        scenario,
        payload,
        imp: imp.to_owned(),
        base_n,
        latency,
        fixed: false,
        run: Box::new(run),
        n: base_n,
        rates: Vec::new(),
        figures: Vec::new(),
        pcts: Vec::new(),
        error: None,
    });
}

/// Round trips, untimed for the first tenth of a run: a
/// pingpong case's `run(n)` makes `n + n / WARM_UP` round trips and
/// returns a sample for each, in order, of which the first `n / WARM_UP`
/// are dropped. Each run starts a new pair of threads, and in its first
/// milliseconds the scheduler may keep both on one CPU, where every hop
/// is a context switch (tens of microseconds); those round trips were up
/// to 5 % of a run's 20,000, so the p99 was the scheduler's and not the
/// queue's. Dropped alike for every implementation.
const WARM_UP: u64 = 10;

fn add_round_trips(
    c: &mut Vec<Case>,
    payload: usize,
    imp: &str,
    base_n: u64,
    run: impl Fn(u64) -> RunResult + 'static,
) {
    add(c, "pingpong", payload, imp, base_n, true, move |n| {
        let warm = n / WARM_UP;
        match run(n + warm)? {
            Outcome::Latency { mut samples } => {
                samples.drain(..(warm as usize).min(samples.len()));
                Ok(Outcome::Latency { samples })
            }
            other => Ok(other),
        }
    });
}

fn register<const N: usize>(cases: &mut Vec<Case>, quick: bool) {
    use peers::{disruptor_multi, disruptor_single, fan_out, many_to_one, ping_pong, rtrb_batch};
    // Warm-up sizes; a collapsed spinning queue can run at 0.1 M/s.
    let tp = if quick { 20_000 } else { 100_000 };
    let c = cases;
    add(c, "1p1c", N, "ringmq-raw", tp, false, |n| {
        rmq::raw::<N>(n, 1, 1, false)
    });
    add(c, "1p1c", N, "ringmq-consume", tp, false, |n| {
        rmq::pull::<N>(n, 1, 1, false, rmq::Take::Consume)
    });
    add(c, "1p1c", N, "ringmq-poll", tp, false, |n| {
        rmq::pull::<N>(n, 1, 1, false, rmq::Take::PollAck)
    });
    add(c, "1p1c", N, "ringmq-push", tp, false, |n| {
        rmq::push::<N>(n, 1, 1)
    });
    add(c, "1p1c", N, "disruptor-busyspin", tp, false, |n| {
        disruptor_single::<N>(n, 1, 1, DisruptorWait::BusySpin)
    });
    // The disruptor moving as many bytes a message as RingMQ does (events
    // the size of RingMQ's slot for this payload): the share of the gap
    // that is the slot's layout rather than the code that fills it.
    add(
        c,
        "1p1c",
        N,
        "disruptor-slot-sized",
        tp,
        false,
        |n| match rmq::slot_bytes(N) {
            96 => disruptor_single::<96>(n, 1, 1, DisruptorWait::BusySpin),
            288 => disruptor_single::<288>(n, 1, 1, DisruptorWait::BusySpin),
            b => Err(format!("no slot-sized disruptor case for {b}-byte slots")),
        },
    );
    add(c, "1p1c", N, "rtrb", tp, false, |n| {
        many_to_one::<Rtrb, N>(n, 1)
    });
    add(c, "1p1c", N, "crossbeam-arrayqueue", tp, false, |n| {
        many_to_one::<CrossbeamArrayQueue, N>(n, 1)
    });
    add(c, "1p1c", N, "crossbeam-channel", tp, false, |n| {
        many_to_one::<CrossbeamChannel, N>(n, 1)
    });
    add(c, "1p1c", N, "std-sync-channel", tp, false, |n| {
        many_to_one::<StdSyncChannel, N>(n, 1)
    });
    add(c, "1p1c", N, "flume", tp, false, |n| {
        many_to_one::<Flume, N>(n, 1)
    });

    add(c, "2p1c", N, "ringmq-raw", tp, false, |n| {
        rmq::raw::<N>(n, 2, 1, false)
    });
    add(c, "2p1c", N, "ringmq-push", tp, false, |n| {
        rmq::push::<N>(n, 2, 1)
    });
    add(c, "2p1c", N, "disruptor-busyspin", tp, false, |n| {
        disruptor_multi::<N>(n, 2)
    });
    add(c, "2p1c", N, "crossbeam-arrayqueue", tp, false, |n| {
        many_to_one::<CrossbeamArrayQueue, N>(n, 2)
    });
    add(c, "2p1c", N, "crossbeam-channel", tp, false, |n| {
        many_to_one::<CrossbeamChannel, N>(n, 2)
    });
    add(c, "2p1c", N, "std-sync-channel", tp, false, |n| {
        many_to_one::<StdSyncChannel, N>(n, 2)
    });
    add(c, "2p1c", N, "flume", tp, false, |n| {
        many_to_one::<Flume, N>(n, 2)
    });

    let fo = if quick { 5_000 } else { 20_000 };
    add(c, "fanout", N, "ringmq-raw", fo, false, |n| {
        rmq::raw::<N>(n, 1, 2, false)
    });
    add(c, "fanout", N, "ringmq-push", fo, false, |n| {
        rmq::push::<N>(n, 1, 2)
    });
    add(c, "fanout", N, "disruptor-busyspin", fo, false, |n| {
        disruptor_single::<N>(n, 2, 1, DisruptorWait::BusySpin)
    });
    add(c, "fanout", N, "disruptor-sleep", fo, false, |n| {
        disruptor_single::<N>(n, 2, 1, DisruptorWait::Sleep)
    });
    add(c, "fanout", N, "rtrb", fo, false, |n| {
        fan_out::<Rtrb, N>(n, 2)
    });
    add(c, "fanout", N, "crossbeam-arrayqueue", fo, false, |n| {
        fan_out::<CrossbeamArrayQueue, N>(n, 2)
    });
    add(c, "fanout", N, "crossbeam-channel", fo, false, |n| {
        fan_out::<CrossbeamChannel, N>(n, 2)
    });
    add(c, "fanout", N, "std-sync-channel", fo, false, |n| {
        fan_out::<StdSyncChannel, N>(n, 2)
    });
    add(c, "fanout", N, "flume", fo, false, |n| {
        fan_out::<Flume, N>(n, 2)
    });

    add(c, "batch", N, "ringmq-raw", tp, false, |n| {
        rmq::raw::<N>(n, 1, 1, true)
    });
    add(c, "batch", N, "ringmq-consume", tp, false, |n| {
        rmq::pull::<N>(n, 1, 1, true, rmq::Take::Consume)
    });
    add(c, "batch", N, "disruptor-busyspin", tp, false, |n| {
        disruptor_single::<N>(n, 1, rmq::BATCH, DisruptorWait::BusySpin)
    });
    add(c, "batch", N, "rtrb", tp, false, |n| {
        rtrb_batch::<N>(n, rmq::BATCH)
    });

    let rt = if quick { 2_000 } else { 20_000 };
    add_round_trips(c, N, "ringmq-raw", rt, rmq::ping_pong::<N>);
    add_round_trips(
        c,
        N,
        "disruptor-busyspin",
        rt,
        peers::disruptor_ping_pong::<N>,
    );
    add_round_trips(c, N, "rtrb", rt, ping_pong::<Rtrb, N>);
    add_round_trips(
        c,
        N,
        "crossbeam-arrayqueue",
        rt,
        ping_pong::<CrossbeamArrayQueue, N>,
    );
    add_round_trips(
        c,
        N,
        "crossbeam-channel",
        rt,
        ping_pong::<CrossbeamChannel, N>,
    );
    add_round_trips(c, N, "std-sync-channel", rt, ping_pong::<StdSyncChannel, N>);
    add_round_trips(c, N, "flume", rt, ping_pong::<Flume, N>);
}

fn register_push(cases: &mut Vec<Case>, quick: bool) {
    use peers::send_to_receiver_latency;
    let steady = if quick { 300 } else { 2_000 };
    let sat = if quick { 20_000 } else { 200_000 };
    let c = cases;
    add(c, "push-latency-1k", 64, "ringmq-push", steady, true, |n| {
        rmq::push_latency(n, Some(1_000))
    });
    add(
        c,
        "push-latency-1k",
        64,
        "crossbeam-channel",
        steady,
        true,
        |n| send_to_receiver_latency::<CrossbeamChannel>(n, Some(1_000)),
    );
    add(c, "push-latency-sat", 64, "ringmq-push", sat, true, |n| {
        rmq::push_latency(n, None)
    });
    add(
        c,
        "push-latency-sat",
        64,
        "crossbeam-channel",
        sat,
        true,
        |n| send_to_receiver_latency::<CrossbeamChannel>(n, None),
    );
    for subs in [1, 2, 4] {
        add(
            c,
            "push-subs",
            64,
            &format!("ringmq-push x{subs}"),
            if quick { 10_000 } else { 50_000 },
            false,
            move |n| rmq::push::<64>(n, 1, subs),
        );
    }
}

pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    }
}

/// The `q` quantile (0..=1) of sorted samples, nearest rank.
fn quantile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64
}

/// Ends the process if a case runs far longer than it should (a lost
/// message would otherwise hang a consumer for ever).
struct Watchdog {
    deadline_ms: Arc<AtomicU64>,
    what: Arc<Mutex<String>>,
    t0: Instant,
}

impl Watchdog {
    fn start() -> Watchdog {
        let w = Watchdog {
            deadline_ms: Arc::new(AtomicU64::new(u64::MAX)),
            what: Arc::new(Mutex::new(String::new())),
            t0: Instant::now(),
        };
        let (d, what, t0) = (w.deadline_ms.clone(), w.what.clone(), w.t0);
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(200));
            if t0.elapsed().as_millis() as u64 > d.load(Acquire) {
                eprintln!(
                    "\nerror: {} did not finish within its time limit (a consumer is stuck)",
                    what.lock().unwrap()
                );
                std::process::exit(3);
            }
        });
        w
    }

    fn arm(&self, what: String, limit: Duration) {
        *self.what.lock().unwrap() = what;
        let at = self.t0.elapsed() + limit;
        self.deadline_ms.store(at.as_millis() as u64, Release);
    }

    fn disarm(&self) {
        self.deadline_ms.store(u64::MAX, Release);
    }
}

fn run_case(case: &mut Case, n: u64, record: bool, dog: &Watchdog, label: String) {
    dog.arm(label.clone(), Duration::from_secs(120));
    let t0 = Instant::now();
    let r = (case.run)(n);
    dog.disarm();
    let took = t0.elapsed();
    if !case.latency && !case.fixed && took > Duration::from_secs(2) {
        // Runs aim at a quarter of a second: say where the time went.
        eprintln!(
            "\nnote: {label} took {:.1} s for {n} messages",
            took.as_secs_f64()
        );
    }
    match r {
        Ok(Outcome::Throughput { msgs, secs }) => {
            if record {
                case.rates.push(msgs as f64 / secs);
            } else if !case.fixed {
                case.n = calibrated(case.base_n, msgs, secs);
            }
        }
        Ok(Outcome::Figures {
            msgs,
            secs,
            figures,
        }) => {
            if record {
                case.rates.push(msgs as f64 / secs);
                case.figures.push(figures);
            } else if !case.fixed {
                case.n = calibrated(case.base_n, msgs, secs);
            }
        }
        Ok(Outcome::Latency { mut samples }) => {
            samples.sort_unstable();
            if record {
                case.pcts.push([
                    quantile(&samples, 0.50),
                    quantile(&samples, 0.99),
                    quantile(&samples, 0.999),
                ]);
            }
        }
        Err(e) => case.error = Some(e),
    }
}

static TARGET_SECS: Mutex<f64> = Mutex::new(0.25);

fn calibrated(base: u64, msgs: u64, secs: f64) -> u64 {
    let target = *TARGET_SECS.lock().unwrap();
    let rate = msgs as f64 / secs.max(1e-6);
    ((rate * target) as u64)
        .clamp(base / 5, 50_000_000)
        .max(1024)
}

fn machine() -> BTreeMap<&'static str, String> {
    let mut m = BTreeMap::new();
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    m.insert("nproc", nproc.to_string());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    m.insert("cpu", cpu);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into());
    m.insert("kernel", kernel);
    m.insert("loadavg_at_start", loadavg());
    m
}

/// The 1-, 5- and 15-minute load averages: other work on the machine is
/// what most often turns a spinning queue's figures upside down.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn fmt_rate(r: f64) -> String {
    format!("{:.2}", r / 1e6)
}

fn fmt_us(ns: f64) -> String {
    if ns < 10_000.0 {
        format!("{:.2}", ns / 1e3)
    } else {
        format!("{:.0}", ns / 1e3)
    }
}

struct Summary {
    /// Throughput: median msgs/s; latency: medians of p50, p99, p99.9 (ns).
    median: f64,
    min: f64,
    max: f64,
    pcts: [f64; 3],
}

fn summarise(c: &Case) -> Option<Summary> {
    if c.error.is_some() {
        return None;
    }
    if c.latency {
        if c.pcts.is_empty() {
            return None;
        }
        let col = |i: usize| median(&c.pcts.iter().map(|p| p[i]).collect::<Vec<_>>());
        let pcts = [col(0), col(1), col(2)];
        Some(Summary {
            median: pcts[1],
            min: f64::NAN,
            max: f64::NAN,
            pcts,
        })
    } else {
        if c.rates.is_empty() {
            return None;
        }
        let min = c.rates.iter().copied().fold(f64::INFINITY, f64::min);
        let max = c.rates.iter().copied().fold(0.0, f64::max);
        Some(Summary {
            median: median(&c.rates),
            min,
            max,
            pcts: [f64::NAN; 3],
        })
    }
}

fn groups(cases: &[Case]) -> Vec<(&'static str, usize, Vec<usize>)> {
    let mut out: Vec<(&'static str, usize, Vec<usize>)> = Vec::new();
    for s in SCENARIOS {
        for payload in [64, 256] {
            let idx: Vec<usize> = (0..cases.len())
                .filter(|&i| cases[i].scenario == s.name && cases[i].payload == payload)
                .collect();
            if !idx.is_empty() {
                out.push((s.name, payload, idx));
            }
        }
    }
    out
}

fn describe(name: &str) -> &'static str {
    SCENARIOS
        .iter()
        .find(|s| s.name == name)
        .map_or("", |s| s.what)
}

fn print_table(cases: &[Case], runs: usize) {
    for (scenario, payload, idx) in groups(cases) {
        if v2::NAMES.contains(&scenario) || durable::NAMES.contains(&scenario) {
            continue;
        }
        let latency = cases[idx[0]].latency;
        let refs: Vec<usize> = idx
            .iter()
            .copied()
            .filter(|&i| cases[i].imp.starts_with("ringmq"))
            .collect();
        println!();
        println!("== {scenario}, {payload} B: {}", describe(scenario));
        if latency {
            print!(
                "  {:<22} {:>10} {:>10} {:>10}",
                "implementation", "p50 us", "p99 us", "p99.9 us"
            );
            for &r in &refs {
                print!("  {:>22}", format!("p50/p99 vs {}", cases[r].imp));
            }
        } else {
            print!(
                "  {:<22} {:>10} {:>17}",
                "implementation", "M msgs/s", "min-max"
            );
            for &r in &refs {
                print!("  {:>18}", format!("{} x", cases[r].imp));
            }
        }
        println!("   (median of {runs})");
        for &i in &idx {
            let c = &cases[i];
            let Some(s) = summarise(c) else {
                println!(
                    "  {:<22} FAILED: {}",
                    c.imp,
                    c.error.as_deref().unwrap_or("no result")
                );
                continue;
            };
            if latency {
                print!(
                    "  {:<22} {:>10} {:>10} {:>10}",
                    c.imp,
                    fmt_us(s.pcts[0]),
                    fmt_us(s.pcts[1]),
                    fmt_us(s.pcts[2])
                );
                for &r in &refs {
                    // Above 1: RingMQ's latency is lower than this peer's.
                    let cell = summarise(&cases[r]).map_or("-".to_owned(), |rs| {
                        format!(
                            "{:.2} / {:.2}",
                            s.pcts[0] / rs.pcts[0],
                            s.pcts[1] / rs.pcts[1]
                        )
                    });
                    print!("  {cell:>22}");
                }
            } else {
                print!(
                    "  {:<22} {:>10} {:>17}",
                    c.imp,
                    fmt_rate(s.median),
                    format!("{}-{}", fmt_rate(s.min), fmt_rate(s.max))
                );
                for &r in &refs {
                    let cell = summarise(&cases[r])
                        .map_or("-".to_owned(), |rs| format!("{:.2}", rs.median / s.median));
                    print!("  {cell:>18}");
                }
            }
            println!();
        }
    }
}

fn case_json(c: &Case) -> serde_json::Value {
    let mut v = serde_json::json!({
        "scenario": c.scenario,
        "payload_bytes": c.payload,
        "implementation": c.imp,
        "messages_per_run": c.n,
    });
    if let Some(e) = &c.error {
        v["error"] = e.clone().into();
    }
    if let Some(s) = summarise(c) {
        if c.latency {
            v["unit"] = "ns".into();
            v["p50_ns"] = s.pcts[0].into();
            v["p99_ns"] = s.pcts[1].into();
            v["p999_ns"] = s.pcts[2].into();
            v["runs_p50_p99_p999_ns"] = serde_json::json!(c.pcts);
        } else {
            v["unit"] = "msgs/s".into();
            v["median"] = s.median.into();
            v["min"] = s.min.into();
            v["max"] = s.max.into();
            v["runs"] = serde_json::json!(c.rates);
            if !c.figures.is_empty() {
                let names = c.figures[0].iter().map(|&(k, _)| k);
                let medians: serde_json::Map<String, serde_json::Value> = names
                    .map(|k| (k.to_owned(), v2::figure(c, k).into()))
                    .collect();
                v["figures"] = medians.into();
                v["runs_figures"] = c
                    .figures
                    .iter()
                    .map(|run| {
                        run.iter()
                            .map(|&(k, x)| (k.to_owned(), x.into()))
                            .collect::<serde_json::Map<_, _>>()
                    })
                    .collect::<Vec<_>>()
                    .into();
            }
        }
    }
    v
}

fn chart_blocks(cases: &[Case]) -> Vec<chart::Block> {
    let mut blocks = Vec::new();
    for (scenario, payload, idx) in groups(cases) {
        let latency = cases[idx[0]].latency;
        let unit = if latency {
            "p99, us (shorter is better)"
        } else {
            "M msgs/s"
        };
        let mut bars = Vec::new();
        for &i in &idx {
            let c = &cases[i];
            let Some(s) = summarise(c) else { continue };
            let text = if latency {
                format!("p50 {} / p99 {} us", fmt_us(s.pcts[0]), fmt_us(s.pcts[1]))
            } else {
                format!("{} M/s", fmt_rate(s.median))
            };
            bars.push(chart::Bar {
                label: c.imp.clone(),
                value: if latency { s.pcts[1] } else { s.median },
                text,
                is_ringmq: c.imp.starts_with("ringmq"),
            });
        }
        blocks.push(chart::Block {
            title: format!("{scenario}, {payload} B: {} [{unit}]", describe(scenario)),
            bars,
        });
    }
    blocks
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(probe::PROBE_FLAG) {
        if let Err(e) = probe::memory_probe_child() {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
        return;
    }
    let opts = match parse_args(&args) {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("error: {e}");
            }
            eprintln!("{USAGE}");
            std::process::exit(if e.is_empty() { 0 } else { 2 });
        }
    };
    if let Err(e) = run(&opts) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// One progress line on stderr: rewritten in place on a terminal, one line
/// each otherwise (CI logs).
fn progress(line: &str) {
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[K{line}");
    } else {
        eprintln!("{line}");
    }
}

fn wanted(opts: &Options, name: &str) -> bool {
    opts.scenario.as_deref().is_none_or(|s| s == name)
}

fn run(opts: &Options) -> Result<(), String> {
    *TARGET_SECS.lock().unwrap() = if opts.quick { 0.03 } else { 0.25 };
    let mach = machine();
    eprintln!(
        "machine: {} cpus, {}, kernel {}; {} runs per case{}",
        mach["nproc"],
        mach["cpu"],
        mach["kernel"],
        opts.runs,
        if opts.quick { " (quick)" } else { "" }
    );
    let started = Instant::now();

    let memory = if wanted(opts, "memory") {
        eprintln!("memory: broker + one 1024 x 256 B topic, in a fresh process");
        Some(probe::measure_memory()?)
    } else {
        None
    };
    let startup = if wanted(opts, "startup") {
        let iters = if opts.quick { 50 } else { 500 };
        eprintln!("start-up: broker + topic creation, {iters} times");
        Some(probe::measure_startup(iters)?)
    } else {
        None
    };

    let mut cases = Vec::new();
    register::<64>(&mut cases, opts.quick);
    register::<256>(&mut cases, opts.quick);
    register_push(&mut cases, opts.quick);
    v2::register(&mut cases, opts.quick);
    durable::register(&mut cases, opts.quick);
    cases.retain(|c| {
        wanted(opts, c.scenario) && opts.only.as_deref().is_none_or(|o| c.imp.contains(o))
    });

    let dog = Watchdog::start();
    let total = cases.len();
    for (k, c) in cases.iter_mut().enumerate() {
        if c.latency {
            continue;
        }
        progress(&format!(
            "warm-up {}/{total}: {} {} B {}",
            k + 1,
            c.scenario,
            c.payload,
            c.imp
        ));
        let label = format!("warm-up of {} {} B {}", c.scenario, c.payload, c.imp);
        let n = c.base_n;
        run_case(c, n, false, &dog, label);
    }
    for r in 0..opts.runs {
        for (k, c) in cases.iter_mut().enumerate() {
            if c.error.is_some() {
                continue;
            }
            progress(&format!(
                "run {}/{} case {}/{total}: {} {} B {}",
                r + 1,
                opts.runs,
                k + 1,
                c.scenario,
                c.payload,
                c.imp
            ));
            let label = format!("run {} of {} {} B {}", r + 1, c.scenario, c.payload, c.imp);
            let n = c.n;
            run_case(c, n, true, &dog, label);
        }
    }
    progress(&format!("done in {:.1} s", started.elapsed().as_secs_f64()));
    eprintln!();

    let load_end = loadavg();
    println!(
        "RingMQ against peers: capacity 1024, medians of {} interleaved runs; {} cpus, {}, kernel {}; load average {} at start, {} at end",
        opts.runs, mach["nproc"], mach["cpu"], mach["kernel"], mach["loadavg_at_start"], load_end
    );
    println!("Throughput: the 'x' columns are RingMQ's rate divided by the row's (above 1: RingMQ is faster).");
    println!("Latency: the columns are the row's p50 and p99 divided by RingMQ's (above 1: RingMQ is faster).");
    print_table(&cases, opts.runs);
    v2::print(&cases, opts.runs);
    durable::print(&cases, opts.runs);
    if let Some(m) = &memory {
        println!();
        println!(
            "== memory: broker + one 1024 x 256 B topic: +{} KiB RSS after creation, +{} KiB after one lap of the ring (target < 2048 KiB); slots {} KiB",
            m.created_kib,
            m.after_lap_kib,
            m.ring_bytes / 1024
        );
    }
    if let Some(s) = &startup {
        println!(
            "== start-up: broker + topic creation median {} us, p90 {} us (target < 1000 us); of which BrokerOptions::default {} us, Broker::new {} us, create_topic {} us; close {} us ({} times)",
            fmt_us(s.create_median_ns),
            fmt_us(s.create_p90_ns),
            fmt_us(s.options_median_ns),
            fmt_us(s.broker_median_ns),
            fmt_us(s.topic_median_ns),
            fmt_us(s.close_median_ns),
            s.iterations
        );
    }

    let json = serde_json::json!({
        "machine": mach,
        "loadavg_at_end": load_end,
        "runs": opts.runs,
        "quick": opts.quick,
        "capacity": peers::CAPACITY,
        "scenarios": SCENARIOS.iter().map(|s| serde_json::json!({"name": s.name, "what": s.what})).collect::<Vec<_>>(),
        "cases": cases.iter().map(case_json).collect::<Vec<_>>(),
        "messages_v2_ratios": v2::ratios(&cases)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.into()))
            .collect::<serde_json::Map<String, serde_json::Value>>(),
        "durable_ratios": durable::ratios(&cases)
            .into_iter()
            .map(|(k, v)| (k, v.into()))
            .collect::<serde_json::Map<String, serde_json::Value>>(),
        "memory": memory.map(|m| serde_json::json!({
            "base_kib": m.base_kib,
            "added_after_creation_kib": m.created_kib,
            "added_after_one_lap_kib": m.after_lap_kib,
            "ring_bytes": m.ring_bytes,
        })),
        "startup": startup.map(|s| serde_json::json!({
            "iterations": s.iterations,
            "broker_and_topic_median_ns": s.create_median_ns,
            "broker_and_topic_p90_ns": s.create_p90_ns,
            "broker_options_default_median_ns": s.options_median_ns,
            "broker_new_median_ns": s.broker_median_ns,
            "create_topic_median_ns": s.topic_median_ns,
            "close_median_ns": s.close_median_ns,
        })),
    });
    for p in [&opts.json, &opts.png] {
        if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        }
    }
    let text = serde_json::to_string_pretty(&json).map_err(|e| e.to_string())?;
    std::fs::write(&opts.json, text + "\n")
        .map_err(|e| format!("writing {}: {e}", opts.json.display()))?;
    let blocks = chart_blocks(&cases);
    if !blocks.is_empty() {
        let title = format!(
            "RingMQ (red) vs peers (blue), capacity 1024, medians of {} runs; {} cpus, {}",
            opts.runs, mach["nproc"], mach["cpu"]
        );
        let with_text = chart::draw(&opts.png, &title, &blocks)?;
        if !with_text {
            eprintln!("warning: no TrueType font found (install fonts-dejavu-core or set RINGMQ_BENCH_FONT); the chart has no text");
        }
    }
    eprintln!("wrote {} and {}", opts.json.display(), opts.png.display());

    let failed: Vec<String> = cases
        .iter()
        .filter_map(|c| {
            c.error
                .as_ref()
                .map(|e| format!("{} {} B {}: {e}", c.scenario, c.payload, c.imp))
        })
        .collect();
    if !failed.is_empty() {
        return Err(format!(
            "{} case(s) failed:\n  {}",
            failed.len(),
            failed.join("\n  ")
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_quantiles() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
        let s: Vec<u64> = (1..=1000).collect();
        assert_eq!(quantile(&s, 0.5), 500.0);
        assert_eq!(quantile(&s, 0.99), 990.0);
        assert_eq!(quantile(&s, 0.999), 999.0);
        assert_eq!(quantile(&[7], 0.999), 7.0);
    }

    /// The slot-sized disruptor case carries events exactly as large as
    /// the ring memory a message occupies in RingMQ.
    #[test]
    fn slot_sized_events_match_the_ring() {
        let broker = ringmq_core::Broker::new(ringmq_core::BrokerOptions::default()).unwrap();
        for payload in [64, 256] {
            let topic = broker
                .create_topic(
                    &format!("t{payload}"),
                    ringmq_core::TopicOptions {
                        capacity: 1024,
                        slot_size: payload,
                        ..Default::default()
                    },
                )
                .unwrap();
            // The ring's words have one cache line of slack for alignment.
            let per_slot = (topic.ring_bytes() - 56) / 1024;
            assert_eq!(per_slot, rmq::slot_bytes(payload), "payload {payload}");
        }
        assert_eq!((rmq::slot_bytes(64), rmq::slot_bytes(256)), (96, 288));
    }

    #[test]
    fn arguments_are_checked() {
        let a = |s: &[&str]| parse_args(&s.iter().map(|x| x.to_string()).collect::<Vec<_>>());
        assert_eq!(a(&[]).unwrap().runs, 5);
        assert_eq!(a(&["--quick"]).unwrap().runs, 3);
        assert_eq!(a(&["--quick", "--runs", "7"]).unwrap().runs, 7);
        assert!(a(&["--runs", "0"]).unwrap_err().contains("at least 1"));
        assert!(a(&["--runs"]).unwrap_err().contains("needs a value"));
        assert!(a(&["--scenario", "nope"])
            .unwrap_err()
            .contains("unknown scenario"));
        assert!(a(&["--bogus"]).unwrap_err().contains("unknown argument"));
        assert_eq!(
            a(&["--scenario", "fanout"]).unwrap().scenario.as_deref(),
            Some("fanout")
        );
        for name in v2::NAMES.iter().chain(&durable::NAMES).copied() {
            assert_eq!(
                a(&["--scenario", name]).unwrap().scenario.as_deref(),
                Some(name)
            );
        }
    }

    #[test]
    fn every_case_checks_what_it_receives_on_a_short_run() {
        // Each implementation moves a few thousand messages through its
        // checking consumer(s); a lost or reordered message fails the case.
        let mut cases = Vec::new();
        register::<64>(&mut cases, true);
        register_push(&mut cases, true);
        v2::register(&mut cases, true);
        durable::register(&mut cases, true);
        for name in v2::NAMES.iter().chain(&durable::NAMES).copied() {
            assert!(SCENARIOS.iter().any(|s| s.name == name), "{name}");
            assert!(cases.iter().any(|c| c.scenario == name), "{name}");
        }
        for c in &cases {
            let n = match c.scenario {
                "push-latency-1k" => 20,
                "pingpong" => 500,
                "durable_latency" => 20,
                _ => 4_096,
            };
            match (c.run)(n) {
                Ok(Outcome::Throughput { msgs, secs }) => {
                    assert!(msgs > 0 && secs > 0.0, "{} {}", c.scenario, c.imp)
                }
                Ok(Outcome::Figures {
                    msgs,
                    secs,
                    figures,
                }) => {
                    assert!(msgs > 0 && secs > 0.0, "{} {}", c.scenario, c.imp);
                    assert!(figures.iter().all(|(_, v)| v.is_finite()), "{figures:?}");
                }
                Ok(Outcome::Latency { samples }) => {
                    assert_eq!(samples.len() as u64, n, "{} {}", c.scenario, c.imp)
                }
                Err(e) => panic!("{} {}: {e}", c.scenario, c.imp),
            }
        }
    }
}
