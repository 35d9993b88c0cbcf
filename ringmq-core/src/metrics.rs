//! Prometheus text exposition (version 0.0.4) of every topic, subscription
//! and pool metric. Label values are escaped as the format requires.

use std::fmt::Write;
use std::sync::Arc;

use crate::pool::PoolStats;
use crate::topic::TopicCore;

fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    /// (name suffix such as `_count`, labels, value)
    samples: Vec<(&'static str, String, String)>,
}

impl Family {
    fn new(name: &'static str, kind: &'static str, help: &'static str) -> Family {
        Family {
            name,
            kind,
            help,
            samples: Vec::new(),
        }
    }
    fn add(&mut self, labels: String, value: impl ToString) {
        self.samples.push(("", labels, value.to_string()));
    }
    fn render(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} {}", self.name, self.kind);
        for (suffix, labels, value) in &self.samples {
            if labels.is_empty() {
                let _ = writeln!(out, "{}{suffix} {value}", self.name);
            } else {
                let _ = writeln!(out, "{}{suffix}{{{labels}}} {value}", self.name);
            }
        }
    }
}

pub(crate) fn render(topics: &[Arc<TopicCore>], pool: &PoolStats) -> String {
    let mut published = Family::new(
        "ringmq_topic_published_total",
        "counter",
        "Messages accepted into the topic's ring.",
    );
    let mut rejected = Family::new(
        "ringmq_topic_rejected_total",
        "counter",
        "Publishes refused because the ring was full.",
    );
    let mut timed_out = Family::new(
        "ringmq_topic_timed_out_total",
        "counter",
        "Publishes that gave up waiting for room.",
    );
    let mut dropped = Family::new(
        "ringmq_topic_dropped_total",
        "counter",
        "Messages overwritten or skipped before a lossy subscription consumed them.",
    );
    let mut depth = Family::new(
        "ringmq_topic_depth",
        "gauge",
        "Messages in the ring not yet settled by the slowest subscription.",
    );
    let mut capacity = Family::new(
        "ringmq_topic_capacity",
        "gauge",
        "Slots in the topic's ring.",
    );
    let mut delivered = Family::new(
        "ringmq_subscription_delivered_total",
        "counter",
        "Deliveries handed to consumers, each attempt counted.",
    );
    let mut acked = Family::new(
        "ringmq_subscription_acked_total",
        "counter",
        "Messages acknowledged.",
    );
    let mut nacked = Family::new(
        "ringmq_subscription_nacked_total",
        "counter",
        "Negative acknowledgements, handler errors and panics.",
    );
    let mut retried = Family::new(
        "ringmq_subscription_retried_total",
        "counter",
        "Messages scheduled for another attempt.",
    );
    let mut dead = Family::new(
        "ringmq_subscription_dead_lettered_total",
        "counter",
        "Messages moved to the dead-letter topic.",
    );
    let mut sub_dropped = Family::new(
        "ringmq_subscription_dropped_total",
        "counter",
        "Messages a lossy subscription skipped.",
    );
    let mut expired = Family::new(
        "ringmq_subscription_expired_total",
        "counter",
        "Deliveries not settled within ack_timeout.",
    );
    let mut in_flight = Family::new(
        "ringmq_subscription_in_flight",
        "gauge",
        "Deliveries handed out and not yet settled.",
    );
    let mut waiting = Family::new(
        "ringmq_subscription_waiting_retry",
        "gauge",
        "Messages waiting outside the ring for a retry.",
    );
    let mut lag = Family::new(
        "ringmq_subscription_lag",
        "gauge",
        "Messages published but not yet delivered to the subscription.",
    );
    let mut latency = Family::new(
        "ringmq_subscription_latency_seconds",
        "summary",
        "Time from publish to ack.",
    );
    for t in topics {
        let tl = format!("topic=\"{}\"", escape(&t.name));
        let s = t.stats();
        published.add(tl.clone(), s.published);
        rejected.add(tl.clone(), s.rejected);
        timed_out.add(tl.clone(), s.timed_out);
        dropped.add(tl.clone(), s.dropped);
        depth.add(tl.clone(), s.depth);
        capacity.add(tl.clone(), s.capacity);
        for sub in t.subs_snapshot() {
            let l = format!("{tl},group=\"{}\"", escape(&sub.group));
            let st = sub.stats_snapshot(false);
            delivered.add(l.clone(), st.delivered);
            acked.add(l.clone(), st.acked);
            nacked.add(l.clone(), st.nacked);
            retried.add(l.clone(), st.retried);
            dead.add(l.clone(), st.dead_lettered);
            sub_dropped.add(l.clone(), st.dropped);
            expired.add(l.clone(), st.expired);
            in_flight.add(l.clone(), st.in_flight);
            waiting.add(l.clone(), st.waiting_retry);
            lag.add(l.clone(), st.lag);
            for (q, v) in [
                ("0.5", st.latency_p50_ns),
                ("0.99", st.latency_p99_ns),
                ("0.999", st.latency_p999_ns),
                ("1", st.latency_max_ns),
            ] {
                latency.add(format!("{l},quantile=\"{q}\""), v as f64 / 1e9);
            }
            let sum_s = st.latency_sum_ns as f64 / 1e9;
            latency
                .samples
                .push(("_sum", l.clone(), format!("{sum_s}")));
            latency
                .samples
                .push(("_count", l, st.latency_count.to_string()));
        }
    }
    let mut out = String::with_capacity(4096);
    for f in [
        &published,
        &rejected,
        &timed_out,
        &dropped,
        &depth,
        &capacity,
        &delivered,
        &acked,
        &nacked,
        &retried,
        &dead,
        &sub_dropped,
        &expired,
        &in_flight,
        &waiting,
        &lag,
        &latency,
    ] {
        f.render(&mut out);
    }
    let mut pool_families = [
        Family::new("ringmq_pool_workers", "gauge", "Worker threads alive."),
        Family::new("ringmq_pool_busy", "gauge", "Workers running handlers."),
        Family::new("ringmq_pool_idle", "gauge", "Workers waiting for work."),
        Family::new(
            "ringmq_pool_panics_total",
            "counter",
            "Handler panics caught.",
        ),
        Family::new(
            "ringmq_pool_grown_total",
            "counter",
            "Workers started by the load curve.",
        ),
        Family::new(
            "ringmq_pool_shrunk_total",
            "counter",
            "Workers that left after idle_timeout.",
        ),
    ];
    for (f, v) in pool_families.iter_mut().zip([
        pool.workers,
        pool.busy,
        pool.idle,
        pool.panics,
        pool.grown,
        pool.shrunk,
    ]) {
        f.add(String::new(), v);
        f.render(&mut out);
    }
    out
}
