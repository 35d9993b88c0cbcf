//! Conversions between the engine's values and what JavaScript sees: error
//! reasons, durations, 64-bit integers in two halves, stats objects.

use std::time::Duration;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use ringmq_core as core;

/// An engine error as `"CODE: message"`; `index.js` turns the prefix into
/// the `code` property of the `Error` it throws.
pub fn coded(e: &core::Error) -> String {
    format!("{}: {}", e.kind().code(), e.message())
}

/// An engine error as a napi error (see [`coded`]).
pub fn fail(e: core::Error) -> Error {
    Error::from_reason(coded(&e))
}

/// Milliseconds (already checked by `index.js` to be finite and >= 0).
pub fn ms(v: f64) -> Duration {
    Duration::from_secs_f64(v.max(0.0) / 1e3)
}

/// A timeout in milliseconds; negative means no limit.
pub fn timeout(v: f64) -> Option<Duration> {
    (v >= 0.0).then(|| ms(v))
}

pub fn join(hi: u32, lo: u32) -> u64 {
    ((hi as u64) << 32) | lo as u64
}

#[napi(object)]
pub struct TopicOptionsJs {
    pub capacity: f64,
    pub slot_size: f64,
    pub overflow: String,
    pub max_attempts: u32,
    pub backoff_base_ms: f64,
    pub backoff_max_ms: f64,
    pub ack_timeout_ms: f64,
}

#[napi(object)]
pub struct TopicStatsJs {
    pub published: f64,
    pub rejected: f64,
    pub timed_out: f64,
    pub dropped: f64,
    pub depth: f64,
    pub capacity: f64,
    pub subscriptions: f64,
}

impl From<core::TopicStats> for TopicStatsJs {
    fn from(s: core::TopicStats) -> Self {
        TopicStatsJs {
            published: s.published as f64,
            rejected: s.rejected as f64,
            timed_out: s.timed_out as f64,
            dropped: s.dropped as f64,
            depth: s.depth as f64,
            capacity: s.capacity as f64,
            subscriptions: s.subscriptions as f64,
        }
    }
}

#[napi(object)]
pub struct SubStatsJs {
    pub delivered: f64,
    pub acked: f64,
    pub nacked: f64,
    pub retried: f64,
    pub dead_lettered: f64,
    pub dropped: f64,
    pub expired: f64,
    pub handler_panics: f64,
    pub in_flight: f64,
    pub waiting_retry: f64,
    pub lag: f64,
    pub latency_p50_ns: f64,
    pub latency_p99_ns: f64,
    pub latency_p999_ns: f64,
    pub latency_max_ns: f64,
    pub latency_count: f64,
    pub latency_sum_ns: f64,
    pub last_error: Option<String>,
}

impl From<core::SubStats> for SubStatsJs {
    fn from(s: core::SubStats) -> Self {
        SubStatsJs {
            delivered: s.delivered as f64,
            acked: s.acked as f64,
            nacked: s.nacked as f64,
            retried: s.retried as f64,
            dead_lettered: s.dead_lettered as f64,
            dropped: s.dropped as f64,
            expired: s.expired as f64,
            handler_panics: s.handler_panics as f64,
            in_flight: s.in_flight as f64,
            waiting_retry: s.waiting_retry as f64,
            lag: s.lag as f64,
            latency_p50_ns: s.latency_p50_ns as f64,
            latency_p99_ns: s.latency_p99_ns as f64,
            latency_p999_ns: s.latency_p999_ns as f64,
            latency_max_ns: s.latency_max_ns as f64,
            latency_count: s.latency_count as f64,
            latency_sum_ns: s.latency_sum_ns as f64,
            last_error: s.last_error,
        }
    }
}

#[napi(object)]
pub struct NamedSubStats {
    pub group: String,
    pub stats: SubStatsJs,
}

#[napi(object)]
pub struct PoolStatsJs {
    pub workers: f64,
    pub busy: f64,
    pub idle: f64,
    pub panics: f64,
    pub grown: f64,
    pub shrunk: f64,
    pub utilisation: f64,
    pub target: f64,
}

impl From<core::PoolStats> for PoolStatsJs {
    fn from(s: core::PoolStats) -> Self {
        PoolStatsJs {
            workers: s.workers as f64,
            busy: s.busy as f64,
            idle: s.idle as f64,
            panics: s.panics as f64,
            grown: s.grown as f64,
            shrunk: s.shrunk as f64,
            utilisation: s.utilisation,
            target: s.target as f64,
        }
    }
}

#[napi(object)]
pub struct LeftOver {
    pub topic: String,
    pub group: String,
    pub count: f64,
}

#[napi(object)]
pub struct CloseReportJs {
    pub undelivered: f64,
    pub in_flight: f64,
    pub waiting_retry: f64,
    pub timed_out: bool,
    pub left: Vec<LeftOver>,
}

impl From<core::CloseReport> for CloseReportJs {
    fn from(r: core::CloseReport) -> Self {
        CloseReportJs {
            undelivered: r.undelivered as f64,
            in_flight: r.in_flight as f64,
            waiting_retry: r.waiting_retry as f64,
            timed_out: r.timed_out,
            left: r
                .left
                .into_iter()
                .map(|(topic, group, count)| LeftOver {
                    topic,
                    group,
                    count: count as f64,
                })
                .collect(),
        }
    }
}
