//! Benchmark of the NATS bridge against plain async-nats clients doing the
//! same work, on a real nats-server with JetStream.
//!
//! ```text
//! RINGMQ_NATS_URL=nats://127.0.0.1:4222 \
//!   cargo run --release -p ringmq-nats --example bench -- [--quick] [--runs N] [--messages N] [--json PATH] [--url URL]
//! ```
//!
//! Three cases, each run bridge and plain interleaved (the order swapped on
//! every other run), medians over the runs:
//!
//! 1. export throughput: N messages (64 B, 16 keys) published into a RingMQ
//!    topic and exported to a fresh stream, from the first publish until
//!    the stream holds N; against a JetStream publisher keeping up to
//!    `max_in_flight` publishes in flight and awaiting acks in order;
//! 2. publish -> JetStream ack latency at a fixed rate (the export group's
//!    publish-to-ack latency, the bridge acking in RingMQ after JetStream's
//!    ack; against the plain publisher's publish -> ack time);
//! 3. import throughput: a stream pre-filled with N messages read into a
//!    RingMQ topic until a local pull subscription received and acked all
//!    N; against a plain pull consumer fetching and acking with the same
//!    batch size.
//!
//! Every case checks its counts: N distinct messages, none missing, none
//! twice.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer::pull, stream};
use async_nats::HeaderMap;
use futures_util::StreamExt;
use ringmq_core::{Broker, BrokerOptions, StartAt, SubOptions, Topic, TopicOptions};
use ringmq_nats::{Bridge, BridgeConfig, ExportConfig, ImportConfig};
use ringmq_nats::{DEFAULT_BATCH, DEFAULT_MAX_IN_FLIGHT};
use serde_json::json;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const PAYLOAD: usize = 64;
const KEYS: u64 = 16;
const BRIDGE_ID: &str = "bench";
/// Longest any one measurement may take before the run fails.
const LIMIT: Duration = Duration::from_secs(120);

struct Opts {
    url: String,
    runs: usize,
    quick: bool,
    json: Option<String>,
    /// Messages of the throughput cases.
    n: usize,
    /// Rate and length of the latency case.
    rate: u64,
    latency_msgs: usize,
}

fn parse_args() -> Res<Opts> {
    let mut url = std::env::var("RINGMQ_NATS_URL").unwrap_or_default();
    let mut runs = None;
    let mut quick = false;
    let mut json = None;
    let mut n = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--url" => url = value("--url")?,
            "--runs" => runs = Some(value("--runs")?.parse()?),
            "--json" => json = Some(value("--json")?),
            "--messages" => n = Some(value("--messages")?.parse()?),
            "--quick" => quick = true,
            "-h" | "--help" => {
                println!(
                    "usage: bench [--quick] [--runs N] [--messages N] [--json PATH] [--url URL]\n\
                     (the URL defaults to RINGMQ_NATS_URL)"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (see --help)").into()),
        }
    }
    if url.is_empty() {
        return Err("no NATS URL: set RINGMQ_NATS_URL or pass --url".into());
    }
    let runs = runs.unwrap_or(if quick { 3 } else { 5 });
    if runs == 0 {
        return Err("--runs must be at least 1".into());
    }
    let rate = 2_000;
    Ok(Opts {
        url,
        runs,
        quick,
        json,
        n: n.unwrap_or(if quick { 5_000 } else { 50_000 }),
        rate,
        latency_msgs: if quick { 1_500 } else { 6_000 },
    })
}

fn payload(i: usize) -> Vec<u8> {
    let mut p = vec![b'x'; PAYLOAD];
    let s = format!("{i:016}");
    p[..16].copy_from_slice(s.as_bytes());
    p
}

fn broker() -> Res<Broker> {
    Ok(Broker::new(BrokerOptions {
        workers_max: 2,
        ..Default::default()
    })?)
}

fn topic(mq: &Broker, name: &str, capacity: usize) -> Res<Topic> {
    Ok(mq.create_topic(
        name,
        TopicOptions {
            capacity,
            ..Default::default()
        },
    )?)
}

/// The headers the bridge puts on an exported message, for the plain
/// publisher to send the same bytes.
fn export_headers(topic: &str, i: usize) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("Nats-Msg-Id", format!("{BRIDGE_ID}/{topic}/{}", i + 1));
    h.insert("RingMQ-Key", (i as u64 % KEYS).to_string());
    h.insert("RingMQ-Id", (i + 1).to_string());
    h
}

async fn create_stream(js: &jetstream::Context, name: &str, subject: &str) -> Res<()> {
    js.create_stream(stream::Config {
        name: name.into(),
        subjects: vec![subject.into()],
        ..Default::default()
    })
    .await?;
    Ok(())
}

async fn stream_messages(js: &jetstream::Context, name: &str) -> Res<u64> {
    let mut s = js.get_stream(name).await?;
    Ok(s.info().await?.state.messages)
}

/// Polls the stream's info until it holds `n` messages; the time it did.
async fn wait_stream(js: &jetstream::Context, name: &str, n: u64, start: Instant) -> Res<Instant> {
    let mut s = js.get_stream(name).await?;
    loop {
        let got = s.info().await?.state.messages;
        if got >= n {
            if got > n {
                return Err(format!("stream {name} holds {got} of {n} messages").into());
            }
            return Ok(Instant::now());
        }
        if start.elapsed() > LIMIT {
            return Err(format!("stream {name}: only {got} of {n} messages in time").into());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn bridge_config(url: &str) -> BridgeConfig {
    let mut c = BridgeConfig::new(BRIDGE_ID, vec![url.to_owned()]);
    c.reconnect_min = Duration::from_millis(50);
    c.reconnect_max = Duration::from_millis(500);
    c
}

fn export_config(topic: &str, subject: &str, stream: &str) -> ExportConfig {
    ExportConfig {
        topic: topic.into(),
        group: "nats".into(),
        subject: subject.into(),
        stream: Some(stream.into()),
        max_in_flight: DEFAULT_MAX_IN_FLIGHT,
    }
}

/// Starts a bridge exporting a fresh topic to a fresh stream, waiting
/// until the bridge made the stream.
async fn export_bridge(
    js: &jetstream::Context,
    url: &str,
    name: &str,
    capacity: usize,
) -> Res<(Broker, Topic, Running)> {
    let mq = broker()?;
    let t = topic(&mq, name, capacity)?;
    let mut c = bridge_config(url);
    c.exports.push(export_config(name, &subject(name), name));
    let bridge = Running::start(&mq, c)?;
    let start = Instant::now();
    while js.get_stream(name).await.is_err() {
        if start.elapsed() > LIMIT {
            return Err(format!("the bridge did not create stream {name}").into());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok((mq, t, bridge))
}

fn subject(name: &str) -> String {
    format!("bench.{name}")
}

/// A bridge runs its own runtime, so it starts, stops and drops off the
/// benchmark's runtime threads.
struct Running(Option<Bridge>);

impl Running {
    fn start(mq: &Broker, c: BridgeConfig) -> Res<Running> {
        let mq = mq.clone();
        let b = std::thread::spawn(move || Bridge::start(&mq, c))
            .join()
            .map_err(|_| "bridge start panicked")??;
        Ok(Running(Some(b)))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(b) = self.0.take() {
            let _ = std::thread::spawn(move || drop(b)).join();
        }
    }
}

fn stop_bridge(mut bridge: Running, exported: u64, imported: u64) -> Res<()> {
    let b = bridge.0.take().ok_or("bridge stopped twice")?;
    let s = std::thread::spawn(move || b.stop(Duration::from_secs(5)))
        .join()
        .map_err(|_| "bridge stop panicked")??;
    if s.exported != exported || s.imported != imported || s.dead_lettered != 0 {
        return Err(format!(
            "bridge stats: exported {} imported {} dead-lettered {} (expected {exported}, {imported}, 0); last error {:?}",
            s.exported, s.imported, s.dead_lettered, s.last_error
        )
        .into());
    }
    Ok(())
}

/// Case 1, bridge: msgs/s.
async fn export_via_bridge(js: &jetstream::Context, url: &str, name: &str, n: usize) -> Res<f64> {
    let (_mq, t, bridge) = export_bridge(js, url, name, 4096).await?;
    let data: Vec<Vec<u8>> = (0..n).map(payload).collect();
    let start = Instant::now();
    let publisher = std::thread::spawn(move || -> Res<()> {
        for (i, p) in data.iter().enumerate() {
            t.publish_with(p, i as u64 % KEYS, None)?;
        }
        Ok(())
    });
    let done = wait_stream(js, name, n as u64, start).await?;
    publisher.join().map_err(|_| "publisher panicked")??;
    let secs = (done - start).as_secs_f64();
    stop_bridge(bridge, n as u64, 0)?;
    check_export(js, name, n).await?;
    js.delete_stream(name).await?;
    Ok(n as f64 / secs)
}

/// Case 1, plain: msgs/s.
async fn export_plain(js: &jetstream::Context, name: &str, n: usize) -> Res<f64> {
    create_stream(js, name, &subject(name)).await?;
    let subj = subject(name);
    let data: Vec<(HeaderMap, Vec<u8>)> = (0..n)
        .map(|i| (export_headers(name, i), payload(i)))
        .collect();
    let start = Instant::now();
    // The same stream-info polling as during the bridge's run, so the
    // server answers as many requests in both.
    let poller = {
        let (js, name) = (js.clone(), name.to_owned());
        tokio::spawn(async move { wait_stream(&js, &name, n as u64, start).await })
    };
    let mut pending = VecDeque::with_capacity(DEFAULT_MAX_IN_FLIGHT);
    for (h, p) in data {
        if pending.len() >= DEFAULT_MAX_IN_FLIGHT {
            let ack: jetstream::context::PublishAckFuture = pending.pop_front().expect("front");
            ack.await?;
        }
        pending.push_back(js.publish_with_headers(subj.clone(), h, p.into()).await?);
    }
    for ack in pending {
        ack.await?;
    }
    let done = poller.await??;
    let secs = (done - start).as_secs_f64();
    check_export(js, name, n).await?;
    js.delete_stream(name).await?;
    Ok(n as f64 / secs)
}

/// The stream holds exactly `n` messages, one per publish.
async fn check_export(js: &jetstream::Context, name: &str, n: usize) -> Res<()> {
    let mut s = js.get_stream(name).await?;
    let state = s.info().await?.state.clone();
    if state.messages != n as u64 || state.last_sequence != n as u64 {
        return Err(format!(
            "stream {name}: {} messages, last sequence {} (expected {n})",
            state.messages, state.last_sequence
        )
        .into());
    }
    Ok(())
}

/// Publish times `i * 1/rate` from `start`.
fn schedule(start: tokio::time::Instant, rate: u64, i: usize) -> tokio::time::Instant {
    start + Duration::from_nanos(i as u64 * 1_000_000_000 / rate)
}

/// Latency figures: (p50, p99) in microseconds.
type Lat = (f64, f64);

/// Case 2, bridge: the export group's publish-to-ack latency.
async fn latency_via_bridge(
    js: &jetstream::Context,
    url: &str,
    name: &str,
    m: usize,
    rate: u64,
) -> Res<Lat> {
    let (_mq, t, bridge) = export_bridge(js, url, name, 4096).await?;
    let group = t.pull_subscription("nats")?;
    let p = payload(0);
    let start = tokio::time::Instant::now();
    for i in 0..m {
        tokio::time::sleep_until(schedule(start, rate, i)).await;
        t.publish_with(&p, i as u64 % KEYS, None)?;
    }
    let begin = Instant::now();
    while group.stats().acked < m as u64 {
        if begin.elapsed() > LIMIT {
            return Err(format!("only {} of {m} acked", group.stats().acked).into());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let s = group.stats();
    if s.latency_count != m as u64 {
        return Err(format!("{} latencies measured of {m}", s.latency_count).into());
    }
    drop(group);
    stop_bridge(bridge, m as u64, 0)?;
    check_export(js, name, m).await?;
    js.delete_stream(name).await?;
    Ok((s.latency_p50_ns as f64 / 1e3, s.latency_p99_ns as f64 / 1e3))
}

/// Case 2, plain: each publish's time until its ack.
async fn latency_plain(js: &jetstream::Context, name: &str, m: usize, rate: u64) -> Res<Lat> {
    create_stream(js, name, &subject(name)).await?;
    let subj = subject(name);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(Instant, jetstream::context::PublishAckFuture)>(
        DEFAULT_MAX_IN_FLIGHT,
    );
    let acker = tokio::spawn(async move {
        let mut lat = Vec::new();
        while let Some((t0, ack)) = rx.recv().await {
            ack.await?;
            lat.push(t0.elapsed());
        }
        Res::Ok(lat)
    });
    let p = payload(0);
    let start = tokio::time::Instant::now();
    for i in 0..m {
        tokio::time::sleep_until(schedule(start, rate, i)).await;
        let t0 = Instant::now();
        let ack = js
            .publish_with_headers(subj.clone(), export_headers(name, i), p.clone().into())
            .await?;
        tx.send((t0, ack)).await.map_err(|_| "acker gone")?;
    }
    drop(tx);
    let mut lat = acker.await??;
    if lat.len() != m {
        return Err(format!("{} acks of {m}", lat.len()).into());
    }
    check_export(js, name, m).await?;
    js.delete_stream(name).await?;
    lat.sort();
    let q = |f: f64| lat[((lat.len() as f64 * f) as usize).min(lat.len() - 1)];
    Ok((q(0.50).as_secs_f64() * 1e6, q(0.99).as_secs_f64() * 1e6))
}

/// Fills a fresh stream with `n` messages for the import case.
async fn prefill(js: &jetstream::Context, name: &str, n: usize) -> Res<()> {
    create_stream(js, name, &subject(name)).await?;
    let subj = subject(name);
    let mut pending = VecDeque::new();
    for i in 0..n {
        if pending.len() >= 1024 {
            let ack: jetstream::context::PublishAckFuture = pending.pop_front().expect("front");
            ack.await?;
        }
        let mut h = HeaderMap::new();
        h.insert("RingMQ-Key", (i as u64 % KEYS).to_string());
        pending.push_back(
            js.publish_with_headers(subj.clone(), h, payload(i).into())
                .await?,
        );
    }
    for ack in pending {
        ack.await?;
    }
    let got = stream_messages(js, name).await?;
    if got != n as u64 {
        return Err(format!("prefilled stream {name} holds {got} of {n}").into());
    }
    Ok(())
}

/// Case 3, bridge: msgs/s until a local pull subscription of the imported
/// topic received and acked all `n`.
fn import_via_bridge(url: &str, stream: &str, n: usize) -> Res<f64> {
    let mq = broker()?;
    let name = format!("{stream}-in");
    let t = topic(&mq, &name, 4096)?;
    let sub = t.subscribe_pull(
        "local",
        SubOptions {
            start: StartAt::Earliest,
            ..Default::default()
        },
    )?;
    let mut c = bridge_config(url);
    c.imports.push(ImportConfig {
        stream: stream.into(),
        consumer: "ringmq".into(),
        filter_subject: None,
        topic: name,
        group: "local".into(),
        batch: DEFAULT_BATCH,
    });
    let start = Instant::now();
    let bridge = Running::start(&mq, c)?;
    let mut seen = HashSet::with_capacity(n);
    let mut batch = Vec::new();
    while seen.len() < n {
        if start.elapsed() > LIMIT {
            return Err(format!("imported {} of {n} in time", seen.len()).into());
        }
        sub.poll_batch(256, Some(Duration::from_millis(50)), &mut batch)?;
        for d in &batch {
            let id = d.msg_id().ok_or("an imported message without msg_id")?;
            if !seen.insert(id.to_vec()) {
                return Err(format!("{} imported twice", String::from_utf8_lossy(id)).into());
            }
        }
        sub.ack_all(&mut batch)?;
    }
    let secs = start.elapsed().as_secs_f64();
    stop_bridge(bridge, 0, n as u64)?;
    // Nothing more than the n.
    if sub.poll_batch(16, Some(Duration::ZERO), &mut batch)? != 0 {
        return Err("more messages imported than the stream holds".into());
    }
    Ok(n as f64 / secs)
}

/// Case 3, plain: msgs/s of a pull consumer fetching `DEFAULT_BATCH` at a
/// time and acking each message.
async fn import_plain(js: &jetstream::Context, stream: &str, n: usize) -> Res<f64> {
    let start = Instant::now();
    let s = js.get_stream(stream).await?;
    let consumer = s
        .get_or_create_consumer(
            "plain",
            pull::Config {
                durable_name: Some("plain".into()),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                max_ack_pending: DEFAULT_BATCH as i64,
                ..Default::default()
            },
        )
        .await?;
    let mut seen = HashSet::with_capacity(n);
    while seen.len() < n {
        if start.elapsed() > LIMIT {
            return Err(format!("fetched {} of {n} in time", seen.len()).into());
        }
        let mut batch = consumer
            .fetch()
            .max_messages(DEFAULT_BATCH)
            .expires(Duration::from_secs(1))
            .messages()
            .await?;
        while let Some(m) = batch.next().await {
            let m = m?;
            let seq = m.info()?.stream_sequence;
            if !seen.insert(seq) {
                return Err(format!("sequence {seq} fetched twice").into());
            }
            m.ack().await?;
        }
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let k = s.len();
    if k % 2 == 1 {
        s[k / 2]
    } else {
        (s[k / 2 - 1] + s[k / 2]) / 2.0
    }
}

#[derive(Default)]
struct Samples {
    export_bridge: Vec<f64>,
    export_plain: Vec<f64>,
    lat_bridge_p50: Vec<f64>,
    lat_bridge_p99: Vec<f64>,
    lat_plain_p50: Vec<f64>,
    lat_plain_p99: Vec<f64>,
    import_bridge: Vec<f64>,
    import_plain: Vec<f64>,
}

async fn one_run(o: &Opts, js: &jetstream::Context, run: usize, s: &mut Samples) -> Res<()> {
    let tag = format!("BENCH-{}-{run}", std::process::id());
    let bridge_first = run.is_multiple_of(2);
    for turn in 0..2 {
        if (turn == 0) == bridge_first {
            let v = export_via_bridge(js, &o.url, &format!("{tag}-exb"), o.n).await?;
            s.export_bridge.push(v);
        } else {
            let v = export_plain(js, &format!("{tag}-exp"), o.n).await?;
            s.export_plain.push(v);
        }
    }
    for turn in 0..2 {
        if (turn == 0) == bridge_first {
            let (p50, p99) =
                latency_via_bridge(js, &o.url, &format!("{tag}-latb"), o.latency_msgs, o.rate)
                    .await?;
            s.lat_bridge_p50.push(p50);
            s.lat_bridge_p99.push(p99);
        } else {
            let (p50, p99) =
                latency_plain(js, &format!("{tag}-latp"), o.latency_msgs, o.rate).await?;
            s.lat_plain_p50.push(p50);
            s.lat_plain_p99.push(p99);
        }
    }
    let stream = format!("{tag}-imp");
    prefill(js, &stream, o.n).await?;
    for turn in 0..2 {
        if (turn == 0) == bridge_first {
            let (url, st, n) = (o.url.clone(), stream.clone(), o.n);
            let v = tokio::task::spawn_blocking(move || import_via_bridge(&url, &st, n)).await??;
            s.import_bridge.push(v);
        } else {
            s.import_plain.push(import_plain(js, &stream, o.n).await?);
        }
    }
    js.delete_stream(&stream).await?;
    println!(
        "run {}: export {:.0} vs {:.0} msg/s; latency p50 {:.0} vs {:.0} us, p99 {:.0} vs {:.0} us; import {:.0} vs {:.0} msg/s (bridge vs plain)",
        run + 1,
        s.export_bridge[run],
        s.export_plain[run],
        s.lat_bridge_p50[run],
        s.lat_plain_p50[run],
        s.lat_bridge_p99[run],
        s.lat_plain_p99[run],
        s.import_bridge[run],
        s.import_plain[run],
    );
    Ok(())
}

async fn bench(o: Opts) -> Res<()> {
    let client = async_nats::connect(&o.url).await?;
    let js = jetstream::new(client);
    println!(
        "NATS bridge benchmark: {} runs, {} messages of {PAYLOAD} B over {KEYS} keys, latency at {} msg/s x {}; max_in_flight {DEFAULT_MAX_IN_FLIGHT}, import batch {DEFAULT_BATCH}",
        o.runs, o.n, o.rate, o.latency_msgs
    );
    let mut s = Samples::default();
    let wall = Instant::now();
    for run in 0..o.runs {
        one_run(&o, &js, run, &mut s).await?;
    }
    let m = |v: &[f64]| median(v);
    // Runs are paired (bridge and plain back to back), so the median of the
    // per-run ratios is shown beside the ratio of the medians.
    let paired = |b: &[f64], p: &[f64]| {
        let r: Vec<f64> = b.iter().zip(p).map(|(b, p)| b / p).collect();
        median(&r)
    };
    let (eb, ep) = (m(&s.export_bridge), m(&s.export_plain));
    let (lb50, lp50) = (m(&s.lat_bridge_p50), m(&s.lat_plain_p50));
    let (lb99, lp99) = (m(&s.lat_bridge_p99), m(&s.lat_plain_p99));
    let (ib, ip) = (m(&s.import_bridge), m(&s.import_plain));
    let er = paired(&s.export_bridge, &s.export_plain);
    let l50r = paired(&s.lat_bridge_p50, &s.lat_plain_p50);
    let l99r = paired(&s.lat_bridge_p99, &s.lat_plain_p99);
    let ir = paired(&s.import_bridge, &s.import_plain);
    println!(
        "medians of {} runs: bridge / plain = ratio of medians (median of per-run ratios)",
        o.runs
    );
    println!(
        "  export throughput  {eb:>9.0} / {ep:>9.0} msg/s = {:.2}x ({er:.2}x; target >= 0.90x: {})",
        eb / ep,
        if eb / ep >= 0.9 { "met" } else { "NOT met" }
    );
    println!(
        "  latency p50        {lb50:>9.0} / {lp50:>9.0} us    = {:.2}x ({l50r:.2}x)",
        lb50 / lp50
    );
    println!(
        "  latency p99        {lb99:>9.0} / {lp99:>9.0} us    = {:.2}x ({l99r:.2}x)",
        lb99 / lp99
    );
    println!(
        "  import throughput  {ib:>9.0} / {ip:>9.0} msg/s = {:.2}x ({ir:.2}x)",
        ib / ip
    );
    println!("({:.1} s)", wall.elapsed().as_secs_f64());
    if let Some(path) = &o.json {
        let out = json!({
            "runs": o.runs,
            "quick": o.quick,
            "messages": o.n,
            "payload_bytes": PAYLOAD,
            "keys": KEYS,
            "max_in_flight": DEFAULT_MAX_IN_FLIGHT,
            "import_batch": DEFAULT_BATCH,
            "latency_rate": o.rate,
            "latency_messages": o.latency_msgs,
            "export_msgs_per_s": {"bridge": eb, "plain": ep, "ratio": eb / ep, "ratio_of_runs": er, "runs_bridge": s.export_bridge, "runs_plain": s.export_plain},
            "latency_p50_us": {"bridge": lb50, "plain": lp50, "ratio": lb50 / lp50, "ratio_of_runs": l50r, "runs_bridge": s.lat_bridge_p50, "runs_plain": s.lat_plain_p50},
            "latency_p99_us": {"bridge": lb99, "plain": lp99, "ratio": lb99 / lp99, "ratio_of_runs": l99r, "runs_bridge": s.lat_bridge_p99, "runs_plain": s.lat_plain_p99},
            "import_msgs_per_s": {"bridge": ib, "plain": ip, "ratio": ib / ip, "ratio_of_runs": ir, "runs_bridge": s.import_bridge, "runs_plain": s.import_plain},
        });
        std::fs::write(path, serde_json::to_string_pretty(&out)? + "\n")?;
        println!("wrote {path}");
    }
    Ok(())
}

fn main() {
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("bench: {e}");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    if let Err(e) = rt.block_on(bench(o)) {
        eprintln!("bench: {e}");
        std::process::exit(1);
    }
}
