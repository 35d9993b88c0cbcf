//! Conversions between the engine's values and what JavaScript sees:
//! durations, 64-bit integers in two halves, the close report. (Errors,
//! stats and options objects follow the core's tables: `surface.rs`.)

use std::time::Duration;

use napi_derive::napi;
use ringmq_core as core;

/// Milliseconds (already checked by `index.js` to be finite and >= 0).
/// A value too large for a `Duration` saturates (the engine refuses an
/// option over its limit with `INVALID_ARGUMENT`) instead of panicking,
/// which would abort the process.
pub fn ms(v: f64) -> Duration {
    Duration::try_from_secs_f64(v.max(0.0) / 1e3).unwrap_or(Duration::MAX)
}

/// A timeout in milliseconds; negative means no limit.
pub fn timeout(v: f64) -> Option<Duration> {
    (v >= 0.0).then(|| ms(v))
}

pub fn join(hi: u32, lo: u32) -> u64 {
    ((hi as u64) << 32) | lo as u64
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
    /// Delayed messages not yet due, dropped with their topics.
    pub delayed: f64,
    /// Expired deliveries whose slot a live holder still pinned.
    pub pinned: f64,
    /// Handles still open after this close (0: it stopped the engine).
    pub handles_left: f64,
}

impl From<core::CloseReport> for CloseReportJs {
    fn from(r: core::CloseReport) -> Self {
        CloseReportJs {
            undelivered: r.undelivered as f64,
            in_flight: r.in_flight as f64,
            waiting_retry: r.waiting_retry as f64,
            timed_out: r.timed_out,
            delayed: r.delayed as f64,
            pinned: r.pinned as f64,
            left: r
                .left
                .into_iter()
                .map(|(topic, group, count)| LeftOver {
                    topic,
                    group,
                    count: count as f64,
                })
                .collect(),
            handles_left: r.handles_left as f64,
        }
    }
}
