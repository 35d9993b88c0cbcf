//! RingMQ's main demo: a vehicle-telemetry gateway.
//!
//! Producer threads (vehicles) publish telemetry records into one topic.
//! Push handlers on the broker's worker pool process them: `store` writes
//! each record to a (simulated) time-series database that fails now and then,
//! so the retries with backoff are visible; `alerts` checks thresholds in
//! per-vehicle order (ordered_by_key). One poison record can never be parsed:
//! after max_attempts it lands in `telemetry.dlq`, where a pull subscription
//! reads it. A lossy `dashboard` subscription samples the stream without ever
//! slowing the producers. A live line shows progress; a summary table ends it.
//!
//! `cargo run --release -p ringmq-examples --bin telemetry -- --help`

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringmq_core::{
    Broker, BrokerOptions, HandlerError, Message, StartAt, SubOptions, TopicOptions,
};

struct Args {
    duration: Duration,
    rate: u64,
    producers: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        duration: Duration::from_secs(5),
        rate: 200_000,
        producers: 4,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| -> Result<f64, String> {
            it.next()
                .ok_or(format!("{name} needs a value"))?
                .parse::<f64>()
                .map_err(|e| format!("{name}: {e}"))
        };
        match a.as_str() {
            "--duration" => args.duration = Duration::from_secs_f64(value("--duration")?.max(0.1)),
            "--rate" => args.rate = value("--rate")?.max(1.0) as u64,
            "--producers" => args.producers = value("--producers")?.clamp(1.0, 64.0) as u64,
            "-h" | "--help" => {
                println!(
                    "telemetry [--duration SECONDS (5)] [--rate MSGS_PER_S total (200000)] [--producers N (4)]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(args)
}

/// A telemetry record: vehicle, sequence, speed (km/h x10), battery (%),
/// and a checksum byte that the poison record gets wrong.
const RECORD: usize = 32;

fn record(vehicle: u64, n: u64, poison: bool) -> [u8; RECORD] {
    let mut r = [0u8; RECORD];
    r[..8].copy_from_slice(&vehicle.to_le_bytes());
    r[8..16].copy_from_slice(&n.to_le_bytes());
    let speed = ((n * 37 + vehicle * 11) % 1300) as u16;
    r[16..18].copy_from_slice(&speed.to_le_bytes());
    r[18] = (100 - (n / 1000 + vehicle) % 90) as u8;
    let sum = r[..31].iter().fold(0u8, |a, b| a.wrapping_add(*b));
    r[31] = if poison { sum ^ 0xff } else { sum };
    r
}

fn parse(m: &Message<'_>) -> Result<(u64, u64, u16, u8), HandlerError> {
    let d = m.data;
    if d.len() != RECORD {
        return Err(format!("record of {} bytes", d.len()).into());
    }
    let sum = d[..31].iter().fold(0u8, |a, b| a.wrapping_add(*b));
    if sum != d[31] {
        return Err(format!("bad checksum in record {}", m.id).into());
    }
    Ok((
        u64::from_le_bytes(d[..8].try_into().unwrap()),
        u64::from_le_bytes(d[8..16].try_into().unwrap()),
        u16::from_le_bytes(d[16..18].try_into().unwrap()),
        d[18],
    ))
}

fn ms(ns: u64) -> String {
    format!("{:.3} ms", ns as f64 / 1e6)
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("telemetry: {e}");
            std::process::exit(2);
        }
    };
    let mq = Broker::new(BrokerOptions {
        workers_min: 1,
        workers_max: 4,
        idle_timeout: Duration::from_secs(2),
        ..BrokerOptions::default()
    })
    .expect("broker");
    let topic = mq
        .create_topic(
            "telemetry",
            TopicOptions {
                capacity: 4096,
                slot_size: 64,
                max_attempts: 4,
                backoff_base: Duration::from_millis(5),
                backoff_max: Duration::from_millis(100),
                ..TopicOptions::default()
            },
        )
        .expect("topic");
    let dlq = mq
        .topic("telemetry.dlq")
        .expect("dead-letter topic")
        .subscribe_pull("ops", SubOptions::default())
        .expect("dlq subscription");

    // store: a flaky database — every 500th write fails on its first try.
    let store = topic
        .subscribe(
            "store",
            SubOptions {
                concurrency: 2,
                ..SubOptions::default()
            },
            |m| {
                let (_vehicle, n, _speed, _battery) = parse(m)?;
                if n % 500 == 499 && m.attempt == 1 {
                    return Err("database timeout".into());
                }
                Ok(())
            },
        )
        .expect("store subscription");
    // alerts: per-vehicle order, counts overspeed events.
    let overspeed = Arc::new(AtomicU64::new(0));
    let o2 = overspeed.clone();
    let alerts = topic
        .subscribe(
            "alerts",
            SubOptions {
                concurrency: 2,
                ordered_by_key: true,
                ..SubOptions::default()
            },
            move |m| {
                let (_, _, speed, _) = parse(m)?;
                if speed > 1200 {
                    o2.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            },
        )
        .expect("alerts subscription");
    // dashboard: lossy, samples the stream, never slows producers.
    let dashboard = topic
        .subscribe_pull(
            "dashboard",
            SubOptions {
                lossy: true,
                start: StartAt::Latest,
                ..SubOptions::default()
            },
        )
        .expect("dashboard");

    println!(
        "RingMQ telemetry gateway: {} producers, {} msg/s for {:?}, pool of 1..4 workers",
        args.producers, args.rate, args.duration
    );
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let per_producer = (args.rate / args.producers).max(1);
    let producers: Vec<_> = (0..args.producers)
        .map(|v| {
            let (topic, stop) = (topic.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                if v == 0 {
                    // Vehicle 0's first record is the poison one, published
                    // at once so that any duration, rate and producer count
                    // finds it in the dead-letter topic.
                    topic
                        .publish_with(&record(v, n, true), v, Some(Duration::from_secs(5)))
                        .expect("publish");
                    n += 1;
                }
                let t0 = Instant::now();
                let mut batch = Vec::with_capacity(64);
                while !stop.load(Ordering::Relaxed) {
                    // Pace to the rate in small batches.
                    let due =
                        (v == 0) as u64 + (t0.elapsed().as_secs_f64() * per_producer as f64) as u64;
                    if n >= due {
                        std::thread::sleep(Duration::from_micros(200));
                        continue;
                    }
                    batch.clear();
                    while batch.len() < 64 && n < due {
                        batch.push(record(v, n, false));
                        n += 1;
                    }
                    topic
                        .publish_batch(&batch, v, Some(Duration::from_secs(5)))
                        .expect("publish");
                }
                n
            })
        })
        .collect();

    // Live progress, and the dashboard's sample.
    let mut last = (Instant::now(), 0u64);
    let mut sampled = 0u64;
    let mut out = std::io::stdout();
    while started.elapsed() < args.duration {
        std::thread::sleep(Duration::from_millis(250));
        while let Ok(Some(d)) = dashboard.poll(Some(Duration::ZERO)) {
            sampled += 1;
            let _ = d.ack();
        }
        let ts = topic.stats();
        let ss = store.stats();
        let rate = (ts.published - last.1) as f64 / last.0.elapsed().as_secs_f64();
        last = (Instant::now(), ts.published);
        let ps = mq.pool_stats();
        let _ = write!(
            out,
            "\r{:>5.1}s  published {:>9}  stored {:>9}  {:>9.0} msg/s  lag {:>5}  retried {:>4}  dead {}  workers {}   ",
            started.elapsed().as_secs_f64(),
            ts.published,
            ss.acked,
            rate,
            ss.lag + ss.in_flight,
            ss.retried,
            ss.dead_lettered,
            ps.workers
        );
        let _ = out.flush();
    }
    stop.store(true, Ordering::Relaxed);
    let published: u64 = producers.into_iter().map(|h| h.join().unwrap()).sum();
    println!();

    // Both handlers gave up on the poison record: one dead letter each.
    let mut dead = 0;
    while let Some(d) = dlq
        .poll(Some(Duration::from_secs(if dead < 2 { 5 } else { 0 })))
        .expect("dlq poll")
    {
        println!(
            "dead letter: subscription {:?} gave up on record id {} from vehicle {} after {} attempts ({} bytes): {}",
            d.dead_letter_group().unwrap_or("?"),
            d.id(),
            d.key(),
            d.attempt(),
            d.data().len(),
            d.dead_letter_reason().unwrap_or("no reason kept")
        );
        d.ack().expect("ack dead letter");
        dead += 1;
    }
    dashboard.unsubscribe().expect("unsubscribe dashboard");
    dlq.unsubscribe().expect("unsubscribe ops");
    let elapsed = started.elapsed();
    let store_stats = store.stats();
    let alert_stats = alerts.stats();
    let report = mq.close(Duration::from_secs(10)).expect("close");
    println!();
    println!("{:<22} {:>12} {:>12}", "", "store", "alerts");
    for (name, a, b) in [
        ("delivered", store_stats.delivered, alert_stats.delivered),
        ("acked", store_stats.acked, alert_stats.acked),
        ("retried", store_stats.retried, alert_stats.retried),
        (
            "dead-lettered",
            store_stats.dead_lettered,
            alert_stats.dead_lettered,
        ),
    ] {
        println!("{name:<22} {a:>12} {b:>12}");
    }
    for (name, a, b) in [
        (
            "publish->ack p50",
            store_stats.latency_p50_ns,
            alert_stats.latency_p50_ns,
        ),
        (
            "publish->ack p99",
            store_stats.latency_p99_ns,
            alert_stats.latency_p99_ns,
        ),
        (
            "publish->ack p999",
            store_stats.latency_p999_ns,
            alert_stats.latency_p999_ns,
        ),
    ] {
        println!("{name:<22} {:>12} {:>12}", ms(a), ms(b));
    }
    println!();
    println!("published             {published}");
    println!(
        "throughput            {:.0} msg/s published",
        published as f64 / elapsed.as_secs_f64()
    );
    println!(
        "overspeed alerts      {}",
        overspeed.load(Ordering::Relaxed)
    );
    println!("dashboard sampled     {sampled} (lossy)");
    println!(
        "close                 {} left undelivered{}",
        report.undelivered,
        if report.timed_out {
            " (drain timed out)"
        } else {
            ""
        }
    );
    if dead != 2 || store_stats.dead_lettered != 1 || alert_stats.dead_lettered != 1 {
        eprintln!("telemetry: expected the poison record in the dead-letter topic");
        std::process::exit(1);
    }
}
