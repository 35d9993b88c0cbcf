//! Durable topics: what writing every message to a log costs, per fsync
//! policy, against the same bytes appended by hand and against SQLite.
//!
//! - `durable`: publish throughput of 64 B messages to a durable topic with
//!   no subscription (publish only), per policy: 1 publisher thread for
//!   `always`, `interval` and `never`, 4 for `batch` (so that group commit
//!   has publishes to group). Peers, same policy, same threads:
//!   - `hand-append`: the frames RingMQ writes (`internals::encode`), one
//!     `write_all` each to a file opened for append; `always`: an fdatasync
//!     after each; `batch`: the publishers hand their frames to one writer
//!     thread that writes all it drained, fdatasyncs once and then releases
//!     the publishers of that batch (the machine's group-commit limit);
//!     `interval`: a second thread fdatasyncs every 50 ms; `never`: no sync.
//!   - `sqlite`: SQLite (bundled) in WAL mode, table (id INTEGER PRIMARY
//!     KEY, key INTEGER, payload BLOB), one INSERT per message in autocommit
//!     on one connection behind a mutex; `synchronous` FULL for `always`,
//!     NORMAL for `batch` and `interval` (in WAL mode NORMAL syncs only at
//!     checkpoints: a commit is not durable when it returns), OFF for
//!     `never`.
//!
//!   `always` and `batch` are fsync-bound: each of their runs lasts a fixed
//!   time (publishers stop at a deadline) instead of a message count.
//! - `durable_latency`: one publisher at a steady rate, one pull consumer
//!   that acks; `ack` cases sample ack time minus publish start, `return`
//!   cases the time the publish call took (it waits for the fsync under
//!   `always` and `batch`; the consumer may see a message before that).
//!   Reference: the hand-append write + fdatasync of one frame at the same
//!   rate.
//! - `durable_recovery`: a log of about 1 GiB (64 MiB quick) written with
//!   `never`, the broker closed, then `Broker::new` on the directory timed
//!   (it scans and indexes every segment; the files are in the page cache).
//! - `durable_rss`: resident memory added by a broker + durable topic
//!   (`interval`) after 100,000 messages with a consumer keeping up.
//!
//! Each run has its own data directory under the system temp dir, removed
//! after.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use ringmq_core::internals::{encode, encode_segment_header, encoded_len, FrameMeta};
use ringmq_core::{Broker, BrokerOptions, Fsync, SubOptions, TopicOptions};

use crate::msg::{make, now_ns, stamp, stamp_of};
use crate::peers::{pace, StartLine};
use crate::rmq::{err, POLL_MAX, STALL};
use crate::{add, median, summarise, Case, Outcome, RunResult};

/// The scenarios of this module, in the order they are printed.
pub const NAMES: [&str; 4] = [
    "durable",
    "durable_latency",
    "durable_recovery",
    "durable_rss",
];

/// Payload bytes of every message here.
const PAYLOAD: usize = 64;
/// The hand-appended interval policy's period (RingMQ's default).
const INTERVAL: Duration = Duration::from_millis(50);

/// Publisher threads of a policy's throughput cases.
pub fn publishers(f: Fsync) -> usize {
    if f == Fsync::Batch {
        4
    } else {
        1
    }
}

/// Does a publish under `f` wait for its fsync (an fsync-bound case)?
fn waits(f: Fsync) -> bool {
    matches!(f, Fsync::Always | Fsync::Batch)
}

fn name(f: Fsync) -> &'static str {
    f.as_str()
}

/// A fresh directory under the system temp dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(what: &str) -> Result<Scratch, String> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "ringmq-bench-{what}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).map_err(|e| format!("creating {}: {e}", p.display()))?;
        Ok(Scratch(p))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn io(what: &str) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

fn open_broker(dir: &Path) -> Result<Broker, String> {
    Broker::new(BrokerOptions {
        data_dir: Some(dir.to_owned()),
        ..BrokerOptions::default()
    })
    .map_err(err)
}

fn durable_opts(fsync: Fsync) -> TopicOptions {
    TopicOptions {
        capacity: 1024,
        slot_size: PAYLOAD,
        durable: true,
        fsync,
        fsync_interval: INTERVAL,
        ..TopicOptions::default()
    }
}

fn close(broker: Broker) -> Result<(), String> {
    broker.close(Duration::from_secs(10)).map_err(err)?;
    Ok(())
}

/// How long a run of an fsync-bound case lasts.
fn timed_secs(quick: bool) -> Duration {
    if quick {
        Duration::from_millis(120)
    } else {
        Duration::from_millis(1500)
    }
}

/// The message count of a run: `n`, or unbounded until `deadline` for the
/// fsync-bound policies.
#[derive(Clone, Copy)]
pub struct Budget {
    n: u64,
    deadline: Option<Duration>,
}

impl Budget {
    fn of(n: u64, fsync: Fsync, quick: bool) -> Budget {
        Budget {
            n,
            deadline: waits(fsync).then(|| timed_secs(quick)),
        }
    }

    /// Per publisher thread: messages to publish (`u64::MAX` if timed).
    fn per_thread(&self, threads: usize) -> u64 {
        match self.deadline {
            Some(_) => u64::MAX,
            None => self.n / threads as u64,
        }
    }

    fn over(&self, t0: Instant) -> bool {
        self.deadline.is_some_and(|d| t0.elapsed() >= d)
    }
}

/// Runs `threads` publishers, each calling `one(thread, i)` until its
/// budget ends; returns the messages published and the seconds taken.
fn drive<F>(threads: usize, budget: Budget, one: F) -> Result<(u64, f64), String>
where
    F: Fn(usize, u64) -> Result<(), String> + Sync,
{
    let start = StartLine::new(threads);
    let per = budget.per_thread(threads);
    thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                let (start, one) = (&start, &one);
                s.spawn(move || -> Result<u64, String> {
                    start.wait();
                    let t0 = Instant::now();
                    let mut i = 0;
                    while i < per && !budget.over(t0) {
                        one(t, i)?;
                        i += 1;
                    }
                    Ok(i)
                })
            })
            .collect();
        let t0 = start.go();
        let mut msgs = 0;
        for h in hs {
            msgs += h.join().map_err(|_| "publisher panicked")??;
        }
        Ok((msgs, t0.elapsed().as_secs_f64()))
    })
}

/// RingMQ: publish only to a durable topic, no subscription.
pub fn ringmq_throughput(budget: Budget, fsync: Fsync) -> RunResult {
    let dir = Scratch::new("rmq")?;
    let broker = open_broker(dir.path())?;
    let topic = broker
        .create_topic("bench", durable_opts(fsync))
        .map_err(err)?;
    let (msgs, secs) = drive(publishers(fsync), budget, |t, i| {
        topic
            .publish(&make::<PAYLOAD>(i, t as u64))
            .map(drop)
            .map_err(err)
    })?;
    let published = topic.stats().published;
    drop(topic);
    close(broker)?;
    if published != msgs {
        return Err(format!("published {msgs}, the topic counted {published}"));
    }
    Ok(Outcome::Throughput { msgs, secs })
}

fn wall_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// One frame as RingMQ's log holds it (no headers, no msg_id).
fn frame(id: u64, payload: &[u8], out: &mut Vec<u8>) {
    let meta = FrameMeta {
        id,
        key: 0,
        timestamp_ns: wall_ns(),
        attempt: 0,
        expires_ns: 0,
        flags: 0,
    };
    encode(&meta, &[], payload, out);
}

/// A new log file with its segment header, for appending.
fn hand_file(dir: &Path) -> Result<File, String> {
    let p = dir.join("00000000000000000000.log");
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&p)
        .map_err(io("opening the hand-append file"))?;
    f.write_all(&encode_segment_header(0, wall_ns()))
        .map_err(io("writing the segment header"))?;
    f.sync_all().map_err(io("fsync"))?;
    Ok(f)
}

/// The peer: the same frames appended by hand with the same policy.
pub fn hand_throughput(budget: Budget, fsync: Fsync) -> RunResult {
    let dir = Scratch::new("hand")?;
    let file = hand_file(dir.path())?;
    let threads = publishers(fsync);
    let ids = AtomicU64::new(0);
    let (msgs, secs) = match fsync {
        Fsync::Always | Fsync::Never => {
            let f = Mutex::new((file, Vec::with_capacity(256)));
            drive(threads, budget, |t, i| {
                let mut g = f.lock().unwrap();
                let (file, buf) = &mut *g;
                buf.clear();
                frame(
                    ids.fetch_add(1, Relaxed),
                    &make::<PAYLOAD>(i, t as u64),
                    buf,
                );
                file.write_all(buf).map_err(io("write"))?;
                if fsync == Fsync::Always {
                    file.sync_data().map_err(io("fdatasync"))?;
                }
                Ok(())
            })?
        }
        Fsync::Interval => {
            let syncer = file.try_clone().map_err(io("dup"))?;
            let stop = AtomicBool::new(false);
            let f = Mutex::new((file, Vec::with_capacity(256)));
            thread::scope(|s| {
                s.spawn(|| {
                    while !stop.load(Acquire) {
                        thread::sleep(INTERVAL);
                        let _ = syncer.sync_data();
                    }
                });
                let r = drive(threads, budget, |t, i| {
                    let mut g = f.lock().unwrap();
                    let (file, buf) = &mut *g;
                    buf.clear();
                    frame(
                        ids.fetch_add(1, Relaxed),
                        &make::<PAYLOAD>(i, t as u64),
                        buf,
                    );
                    file.write_all(buf).map_err(io("write"))
                });
                stop.store(true, Release);
                r
            })?
        }
        Fsync::Batch => hand_group_commit(file, threads, budget)?,
    };
    Ok(Outcome::Throughput { msgs, secs })
}

/// Batch by hand: publishers send frames to one writer thread, which
/// writes everything it drained, fdatasyncs once and releases the
/// publishers of that batch.
fn hand_group_commit(mut file: File, threads: usize, budget: Budget) -> Result<(u64, f64), String> {
    let (tx, rx) = crossbeam_channel::unbounded::<(Vec<u8>, usize)>();
    let dones: Vec<_> = (0..threads)
        .map(|_| crossbeam_channel::bounded::<Result<(), String>>(1))
        .collect();
    let replies: Vec<_> = dones.iter().map(|(s, _)| s.clone()).collect();
    thread::scope(|s| {
        let writer = s.spawn(move || -> Result<(), String> {
            let mut batch = Vec::new();
            let mut who = Vec::new();
            while let Ok(first) = rx.recv() {
                batch.clear();
                who.clear();
                batch.extend_from_slice(&first.0);
                who.push(first.1);
                while let Ok((f, t)) = rx.try_recv() {
                    batch.extend_from_slice(&f);
                    who.push(t);
                }
                let r = file
                    .write_all(&batch)
                    .and_then(|()| file.sync_data())
                    .map_err(io("write + fdatasync"));
                for &t in &who {
                    let _ = replies[t].send(r.clone());
                }
                r?;
            }
            Ok(())
        });
        let ids = AtomicU64::new(0);
        let r = drive(threads, budget, |t, i| {
            let mut buf = Vec::with_capacity(128);
            frame(
                ids.fetch_add(1, Relaxed),
                &make::<PAYLOAD>(i, t as u64),
                &mut buf,
            );
            tx.send((buf, t)).map_err(|_| "writer gone".to_owned())?;
            dones[t].1.recv().map_err(|_| "writer gone".to_owned())?
        });
        drop(tx);
        writer.join().map_err(|_| "writer panicked")??;
        r
    })
}

fn sq(e: rusqlite::Error) -> String {
    format!("sqlite: {e}")
}

/// The peer: SQLite in WAL mode, one INSERT per message in autocommit.
pub fn sqlite_throughput(budget: Budget, fsync: Fsync) -> RunResult {
    let dir = Scratch::new("sqlite")?;
    let conn = rusqlite::Connection::open(dir.path().join("bench.db")).map_err(sq)?;
    let sync = match fsync {
        Fsync::Always => "FULL",
        Fsync::Batch | Fsync::Interval => "NORMAL",
        Fsync::Never => "OFF",
    };
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(sq)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(format!("sqlite journal_mode is {mode}, not wal"));
    }
    conn.execute_batch(&format!(
        "PRAGMA synchronous={sync};
         CREATE TABLE msgs (id INTEGER PRIMARY KEY, key INTEGER, payload BLOB);"
    ))
    .map_err(sq)?;
    let conn = Mutex::new(conn);
    let (msgs, secs) = drive(publishers(fsync), budget, |t, i| {
        let c = conn.lock().unwrap();
        let mut st = c
            .prepare_cached("INSERT INTO msgs (key, payload) VALUES (?1, ?2)")
            .map_err(sq)?;
        st.execute(rusqlite::params![
            t as i64,
            &make::<PAYLOAD>(i, t as u64)[..]
        ])
        .map_err(sq)?;
        Ok(())
    })?;
    let rows: i64 = conn
        .lock()
        .unwrap()
        .query_row("SELECT count(*) FROM msgs", [], |r| r.get(0))
        .map_err(sq)?;
    if rows as u64 != msgs {
        return Err(format!("inserted {msgs}, the table has {rows}"));
    }
    Ok(Outcome::Throughput { msgs, secs })
}

/// Which time a latency sample ends at.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// The consumer's ack of the message.
    Ack,
    /// The return of the publish (after its fsync under always and batch).
    Return,
}

/// Publish-to-ack latency: one publisher at `rate`, one pull consumer that
/// acks each message and records ack time minus publish start (or, for
/// `Until::Return`, the publisher records when its publish returned).
pub fn ringmq_latency(n: u64, fsync: Fsync, rate: u64, until: Until) -> RunResult {
    let dir = Scratch::new("lat")?;
    let broker = open_broker(dir.path())?;
    let topic = broker
        .create_topic("bench", durable_opts(fsync))
        .map_err(err)?;
    let sub = topic
        .subscribe_pull("acks", SubOptions::default())
        .map_err(err)?;
    let start = StartLine::new(2);
    let samples = thread::scope(|s| {
        let consumer = s.spawn(|| -> Result<Vec<u64>, String> {
            start.wait();
            let mut lat = Vec::with_capacity(n as usize);
            let mut got = Vec::with_capacity(POLL_MAX);
            while (lat.len() as u64) < n {
                let k = sub
                    .poll_batch(POLL_MAX, Some(STALL), &mut got)
                    .map_err(err)?;
                if k == 0 {
                    return Err(format!(
                        "consumer got nothing for {STALL:?} after {} of {n}",
                        lat.len()
                    ));
                }
                let stamps: Vec<u64> = got.iter().map(|d| stamp_of(d.data())).collect();
                sub.ack_all(&mut got).map_err(err)?;
                let now = now_ns();
                lat.extend(stamps.iter().map(|&t| now.saturating_sub(t)));
            }
            Ok(lat)
        });
        let producer = s.spawn(|| -> Result<Vec<u64>, String> {
            start.wait();
            let mut lat = Vec::with_capacity(n as usize);
            let t0 = Instant::now();
            for i in 0..n {
                pace(t0, i, rate);
                let mut m = make::<PAYLOAD>(i, 0);
                stamp(&mut m);
                topic.publish(&m).map_err(err)?;
                lat.push(now_ns() - stamp_of(&m));
            }
            Ok(lat)
        });
        start.go();
        let acked = consumer.join().map_err(|_| "consumer panicked")??;
        let returned = producer.join().map_err(|_| "producer panicked")??;
        Ok::<_, String>(match until {
            Until::Ack => acked,
            Until::Return => returned,
        })
    })?;
    drop(sub);
    drop(topic);
    close(broker)?;
    Ok(Outcome::Latency { samples })
}

/// The reference: write + fdatasync of one frame at `rate`, timed from the
/// start of the write to the end of the sync.
pub fn hand_latency(n: u64, rate: u64) -> RunResult {
    let dir = Scratch::new("hand-lat")?;
    let mut file = hand_file(dir.path())?;
    let mut buf = Vec::with_capacity(256);
    let mut samples = Vec::with_capacity(n as usize);
    let t0 = Instant::now();
    for i in 0..n {
        pace(t0, i, rate);
        let a = now_ns();
        buf.clear();
        frame(i, &make::<PAYLOAD>(i, 0), &mut buf);
        file.write_all(&buf).map_err(io("write"))?;
        file.sync_data().map_err(io("fdatasync"))?;
        samples.push(now_ns() - a);
    }
    Ok(Outcome::Latency { samples })
}

/// Bytes of one 64 B message's frame in the log.
pub fn frame_bytes() -> usize {
    encoded_len(0, PAYLOAD)
}

/// Writes `n` messages with `never`, closes, and times `Broker::new` on
/// the directory (and the close after it, reported apart).
pub fn recovery(n: u64) -> RunResult {
    let dir = Scratch::new("recovery")?;
    let broker = open_broker(dir.path())?;
    let topic = broker
        .create_topic("bench", durable_opts(Fsync::Never))
        .map_err(err)?;
    let t0 = Instant::now();
    let mut batch: Vec<[u8; PAYLOAD]> = Vec::with_capacity(256);
    let mut i = 0;
    while i < n {
        batch.clear();
        let k = (n - i).min(256);
        batch.extend((i..i + k).map(|j| make::<PAYLOAD>(j, 0)));
        topic.publish_batch(&batch, 0, None).map_err(err)?;
        i += k;
    }
    let write_secs = t0.elapsed().as_secs_f64();
    drop(topic);
    close(broker)?;
    let bytes = dir_bytes(dir.path())?;

    let t1 = Instant::now();
    let broker = open_broker(dir.path())?;
    let secs = t1.elapsed().as_secs_f64();
    let topic = broker.topic("bench").map_err(err)?;
    let next = topic.publish(b"after").map_err(err)?;
    drop(topic);
    close(broker)?;
    if next != n {
        return Err(format!("recovered log ends at id {next}, expected {n}"));
    }
    let gib = bytes as f64 / (1u64 << 30) as f64;
    Ok(Outcome::Figures {
        msgs: n,
        secs,
        figures: vec![
            ("recovery_s", secs),
            ("log_gib", gib),
            ("gib_per_s", gib / secs),
            ("write_s", write_secs),
        ],
    })
}

fn dir_bytes(p: &Path) -> Result<u64, String> {
    let mut total = 0;
    for e in std::fs::read_dir(p).map_err(io("reading the data dir"))? {
        let e = e.map_err(io("reading the data dir"))?;
        let m = e.metadata().map_err(io("stat"))?;
        total += if m.is_dir() {
            dir_bytes(&e.path())?
        } else {
            m.len()
        };
    }
    Ok(total)
}

/// Resident memory added by a broker + durable topic (`interval`) and `n`
/// messages published with a consumer keeping up.
pub fn rss(n: u64) -> RunResult {
    let dir = Scratch::new("rss")?;
    let before = crate::probe::vm_rss_kib()?;
    let broker = open_broker(dir.path())?;
    let topic = broker
        .create_topic("bench", durable_opts(Fsync::Interval))
        .map_err(err)?;
    let sub = topic
        .subscribe_pull("reader", SubOptions::default())
        .map_err(err)?;
    let created = crate::probe::vm_rss_kib()?;
    let t0 = Instant::now();
    let secs = thread::scope(|s| {
        let consumer = s.spawn(|| -> Result<(), String> {
            let mut seen = 0;
            let mut got = Vec::with_capacity(POLL_MAX);
            while seen < n {
                let k = sub
                    .poll_batch(POLL_MAX, Some(STALL), &mut got)
                    .map_err(err)?;
                if k == 0 {
                    return Err(format!("consumer stalled after {seen} of {n}"));
                }
                seen += k as u64;
                sub.ack_all(&mut got).map_err(err)?;
            }
            Ok(())
        });
        for i in 0..n {
            topic.publish(&make::<PAYLOAD>(i, 0)).map_err(err)?;
        }
        consumer.join().map_err(|_| "consumer panicked")??;
        Ok::<_, String>(t0.elapsed().as_secs_f64())
    })?;
    let after = crate::probe::vm_rss_kib()?;
    drop(sub);
    drop(topic);
    close(broker)?;
    Ok(Outcome::Figures {
        msgs: n,
        secs,
        figures: vec![
            ("rss_created_kib", created.saturating_sub(before) as f64),
            ("rss_after_kib", after.saturating_sub(before) as f64),
        ],
    })
}

/// Latency runs' rate and sample count per policy.
fn latency_plan(f: Fsync, quick: bool) -> (u64, u64) {
    let rate = if f == Fsync::Always { 200 } else { 2_000 };
    let secs = if quick { 0.1 } else { 3.0 };
    (rate, ((rate as f64 * secs) as u64).max(20))
}

/// The recovery scenario's message count: about 1 GiB of log (64 MiB quick).
fn recovery_n(quick: bool) -> u64 {
    let bytes: u64 = if quick { 64 << 20 } else { 1 << 30 };
    bytes / frame_bytes() as u64
}

/// Registers this module's cases.
pub fn register(cases: &mut Vec<Case>, quick: bool) {
    let c = cases;
    let tp = if quick { 20_000 } else { 100_000 };
    for f in Fsync::ALL {
        let b = move |n| Budget::of(n, f, quick);
        let p = name(f);
        add(
            c,
            "durable",
            64,
            &format!("ringmq {p}"),
            tp,
            false,
            move |n| ringmq_throughput(b(n), f),
        );
        add(
            c,
            "durable",
            64,
            &format!("hand-append {p}"),
            tp,
            false,
            move |n| hand_throughput(b(n), f),
        );
        add(
            c,
            "durable",
            64,
            &format!("sqlite {p}"),
            tp,
            false,
            move |n| sqlite_throughput(b(n), f),
        );
        if waits(f) {
            for case in c.iter_mut().rev().take(3) {
                case.fixed = true;
            }
        }
    }
    for f in Fsync::ALL {
        let (rate, n) = latency_plan(f, quick);
        for (until, what) in [(Until::Ack, "ack"), (Until::Return, "return")] {
            add(
                c,
                "durable_latency",
                64,
                &format!("ringmq {what} {}", name(f)),
                n,
                true,
                move |n| ringmq_latency(n, f, rate, until),
            );
        }
    }
    let (rate, n) = latency_plan(Fsync::Batch, quick);
    add(
        c,
        "durable_latency",
        64,
        "hand-append fdatasync",
        n,
        true,
        move |n| hand_latency(n, rate),
    );
    add(
        c,
        "durable_recovery",
        64,
        "ringmq never",
        recovery_n(quick),
        false,
        recovery,
    );
    let rn = 100_000;
    add(c, "durable_rss", 64, "ringmq interval", rn, false, rss);
    for case in c
        .iter_mut()
        .filter(|k| k.scenario == "durable_recovery" || k.scenario == "durable_rss")
    {
        case.fixed = true;
    }
}

fn find<'a>(cases: &'a [Case], scenario: &str, imp: &str) -> Option<&'a Case> {
    cases
        .iter()
        .find(|c| c.scenario == scenario && c.imp == imp && summarise(c).is_some())
}

fn rate(c: &Case) -> f64 {
    summarise(c).map_or(f64::NAN, |s| s.median)
}

/// The ratios this module reports, from the medians (for the table and the
/// JSON); empty where a case did not run.
pub fn ratios(cases: &[Case]) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    for f in Fsync::ALL {
        let p = name(f);
        let Some(r) = find(cases, "durable", &format!("ringmq {p}")) else {
            continue;
        };
        for peer in ["hand-append", "sqlite"] {
            if let Some(c) = find(cases, "durable", &format!("{peer} {p}")) {
                out.push((format!("{p} ringmq/{peer}"), rate(r) / rate(c)));
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
        "  {:<24} FAILED: {}",
        c.imp,
        c.error.as_deref().unwrap_or("no result")
    );
    true
}

fn fmt_k(r: f64) -> String {
    if r >= 100_000.0 {
        format!("{:.2} M", r / 1e6)
    } else {
        format!("{:.1} k", r / 1e3)
    }
}

/// Prints the tables of this module's scenarios that ran.
pub fn print(cases: &[Case], runs: usize) {
    let of = |name: &str| -> Vec<&Case> { cases.iter().filter(|c| c.scenario == name).collect() };
    let ratios = ratios(cases);
    let ratio = |k: &str| {
        ratios
            .iter()
            .find(|(n, _)| n == k)
            .map_or("-".to_owned(), |(_, v)| format!("{v:.2}"))
    };

    let tp = of("durable");
    if !tp.is_empty() {
        println!();
        println!("== durable, 64 B: {}", crate::describe("durable"));
        println!(
            "  {:<24} {:>8} {:>12} {:>21} {:>10}   (median of {runs})",
            "implementation", "threads", "msgs/s", "min-max", "us/msg"
        );
        for c in &tp {
            if failed(c) {
                continue;
            }
            let s = summarise(c).unwrap();
            let f = Fsync::parse(c.imp.rsplit(' ').next().unwrap_or("")).unwrap_or(Fsync::Never);
            println!(
                "  {:<24} {:>8} {:>12} {:>21} {:>10.2}",
                c.imp,
                publishers(f),
                fmt_k(s.median),
                format!("{}-{}", fmt_k(s.min), fmt_k(s.max)),
                1e6 / s.median
            );
        }
        for f in Fsync::ALL {
            let p = name(f);
            println!(
                "  {p:<9} ringmq / hand-append {:>6} (target >= 0.8)   ringmq / sqlite {:>8} (target >= 10)",
                ratio(&format!("{p} ringmq/hand-append")),
                ratio(&format!("{p} ringmq/sqlite"))
            );
        }
    }

    let lat = of("durable_latency");
    if !lat.is_empty() {
        println!();
        println!(
            "== durable_latency, 64 B: {}",
            crate::describe("durable_latency")
        );
        println!(
            "  {:<24} {:>10} {:>10} {:>10} {:>10}   (median of {runs})",
            "implementation", "msgs/s", "p50 us", "p99 us", "p99.9 us"
        );
        for c in &lat {
            if failed(c) {
                continue;
            }
            let s = summarise(c).unwrap();
            let f = Fsync::parse(c.imp.rsplit(' ').next().unwrap_or("")).unwrap_or(Fsync::Batch);
            println!(
                "  {:<24} {:>10} {:>10} {:>10} {:>10}",
                c.imp,
                latency_plan(f, false).0,
                crate::fmt_us(s.pcts[0]),
                crate::fmt_us(s.pcts[1]),
                crate::fmt_us(s.pcts[2])
            );
        }
    }

    for c in of("durable_recovery") {
        println!();
        if failed(c) {
            continue;
        }
        println!(
            "== durable_recovery: {} ({} messages): log {:.3} GiB written in {:.2} s; Broker::new {:.3} s = {:.2} GiB/s, {} msgs/s (medians of {runs})",
            crate::describe("durable_recovery"),
            c.n,
            figure(c, "log_gib"),
            figure(c, "write_s"),
            figure(c, "recovery_s"),
            figure(c, "gib_per_s"),
            fmt_k(rate(c))
        );
    }
    for c in of("durable_rss") {
        println!();
        if failed(c) {
            continue;
        }
        println!(
            "== durable_rss: {} ({} messages): +{:.0} KiB RSS after creation, +{:.0} KiB after the messages (medians of {runs})",
            crate::describe("durable_rss"),
            c.n,
            figure(c, "rss_created_kib"),
            figure(c, "rss_after_kib")
        );
    }
}

fn figure(c: &Case, name: &str) -> f64 {
    let v: Vec<f64> = c
        .figures
        .iter()
        .filter_map(|run| run.iter().find(|(k, _)| *k == name).map(|&(_, v)| v))
        .collect();
    median(&v)
}
