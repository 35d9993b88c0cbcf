//! Memory and start-up: what a broker with one 1024 x 256 B topic adds to a
//! process's resident memory, and how long creating them takes.
//!
//! Memory is read in a fresh child process (this binary run with
//! `--memory-probe`), so the benchmarks' own allocations and the allocator's
//! caches do not blur it.

use std::process::Command;
use std::time::{Duration, Instant};

use ringmq_core::{Broker, BrokerOptions, SubOptions, TopicOptions};

use crate::median;

pub const PROBE_FLAG: &str = "--memory-probe";

/// Resident memory of this process in KiB (VmRSS of /proc/self/status).
pub fn vm_rss_kib() -> Result<u64, String> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("reading /proc/self/status: {e}"))?;
    parse_vm_rss(&status).ok_or_else(|| "no VmRSS line in /proc/self/status".to_owned())
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Memory {
    /// RSS before the broker, KiB.
    pub base_kib: u64,
    /// Added by creating the broker and the topic (its dead-letter topic too).
    pub created_kib: u64,
    /// Added once one lap of 1024 messages has gone through (every slot written).
    pub after_lap_kib: u64,
    /// The topic's slot memory as the topic reports it.
    pub ring_bytes: u64,
}

/// Runs in the child: measures and prints one line for the parent.
pub fn memory_probe_child() -> Result<(), String> {
    let err = |e: ringmq_core::Error| format!("{e:?}");
    // Let the runtime's own lazy set-up (stdout, thread-locals) happen first.
    let payload = [7u8; 256];
    let base = vm_rss_kib()?;
    let broker = Broker::new(BrokerOptions::default()).map_err(err)?;
    let topic = broker
        .create_topic("probe", TopicOptions::default())
        .map_err(err)?;
    let created = vm_rss_kib()?;
    let sub = topic
        .subscribe_pull("probe", SubOptions::default())
        .map_err(err)?;
    let mut got = Vec::with_capacity(1024);
    for _ in 0..4 {
        for _ in 0..256 {
            topic.publish(&payload).map_err(err)?;
        }
        let mut seen = 0;
        while seen < 256 {
            seen += sub
                .poll_batch(1024, Some(Duration::from_secs(5)), &mut got)
                .map_err(err)?;
            sub.ack_all(&mut got).map_err(err)?;
        }
    }
    let lap = vm_rss_kib()?;
    println!(
        "base_kib={base} created_kib={} after_lap_kib={} ring_bytes={}",
        created.saturating_sub(base),
        lap.saturating_sub(base),
        topic.ring_bytes()
    );
    drop(sub);
    broker.close(Duration::from_secs(1)).map_err(err)?;
    Ok(())
}

/// Runs the child and parses its line.
pub fn measure_memory() -> Result<Memory, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let out = Command::new(exe)
        .arg(PROBE_FLAG)
        .output()
        .map_err(|e| format!("running the memory probe: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "memory probe failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    parse_probe(&String::from_utf8_lossy(&out.stdout))
}

fn parse_probe(line: &str) -> Result<Memory, String> {
    let field = |name: &str| -> Result<u64, String> {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .ok_or_else(|| format!("memory probe output {line:?} has no {name}"))?
            .parse()
            .map_err(|e| format!("memory probe {name}: {e}"))
    };
    Ok(Memory {
        base_kib: field("base_kib")?,
        created_kib: field("created_kib")?,
        after_lap_kib: field("after_lap_kib")?,
        ring_bytes: field("ring_bytes")?,
    })
}

#[derive(Debug, Clone, Copy)]
pub struct Startup {
    pub iterations: usize,
    /// BrokerOptions::default + Broker::new + create_topic (1024 x 256 B),
    /// median and 90th percentile, ns.
    pub create_median_ns: f64,
    pub create_p90_ns: f64,
    /// BrokerOptions::default() alone (it asks the OS for the CPU count), median, ns.
    pub options_median_ns: f64,
    /// Broker::new alone, median, ns.
    pub broker_median_ns: f64,
    /// create_topic alone, median, ns.
    pub topic_median_ns: f64,
    /// close of that broker (joins its pool), median, ns.
    pub close_median_ns: f64,
}

pub fn measure_startup(iterations: usize) -> Result<Startup, String> {
    let err = |e: ringmq_core::Error| format!("{e:?}");
    let mut create = Vec::with_capacity(iterations);
    let mut options = Vec::with_capacity(iterations);
    let mut broker_only = Vec::with_capacity(iterations);
    let mut topic_only = Vec::with_capacity(iterations);
    let mut closing = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let t0 = Instant::now();
        let opts = BrokerOptions::default();
        let t_opts = Instant::now();
        let broker = Broker::new(opts).map_err(err)?;
        let t1 = Instant::now();
        let topic = broker
            .create_topic("startup", TopicOptions::default())
            .map_err(err)?;
        let t2 = Instant::now();
        std::hint::black_box(&topic);
        drop(topic);
        broker.close(Duration::ZERO).map_err(err)?;
        let t3 = Instant::now();
        create.push((t2 - t0).as_nanos() as f64);
        options.push((t_opts - t0).as_nanos() as f64);
        broker_only.push((t1 - t_opts).as_nanos() as f64);
        topic_only.push((t2 - t1).as_nanos() as f64);
        closing.push((t3 - t2).as_nanos() as f64);
    }
    let mut sorted = create.clone();
    sorted.sort_by(f64::total_cmp);
    Ok(Startup {
        iterations,
        create_median_ns: median(&create),
        create_p90_ns: sorted[(sorted.len() * 9 / 10).min(sorted.len() - 1)],
        options_median_ns: median(&options),
        broker_median_ns: median(&broker_only),
        topic_median_ns: median(&topic_only),
        close_median_ns: median(&closing),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_probe_lines() {
        let status = "Name:\tx\nVmPeak:\t  9 kB\nVmRSS:\t    1234 kB\nVmData: 5 kB\n";
        assert_eq!(parse_vm_rss(status), Some(1234));
        assert_eq!(parse_vm_rss("Name: x\n"), None);
        let m = parse_probe("base_kib=10 created_kib=20 after_lap_kib=300 ring_bytes=262144\n")
            .unwrap();
        assert_eq!(
            m,
            Memory {
                base_kib: 10,
                created_kib: 20,
                after_lap_kib: 300,
                ring_bytes: 262144
            }
        );
        assert!(parse_probe("created_kib=x").is_err());
    }

    #[test]
    fn rss_of_this_process_is_positive() {
        assert!(vm_rss_kib().unwrap() > 0);
    }
}
