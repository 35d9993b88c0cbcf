//! Closing the engine: stop intake, drain for up to the deadline (or
//! until interrupted), report what is left, stop every subscription and
//! join the pool's threads. The first `close` does the work; a later one
//! waits for its report.

use std::time::Duration;

use super::BrokerCore;
use crate::clock::{deadline, mono_ns};
use crate::error::{Error, Result};
use crate::interrupt::Interrupt;
use crate::pool::Pool;
use crate::registry;
use crate::sync::Ordering::*;

/// What `close` left undone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CloseReport {
    /// Messages no subscription had finished with when the drain ended:
    /// undelivered, in flight, or waiting for a retry (summed over
    /// subscriptions).
    pub undelivered: u64,
    /// Of those, deliveries handed out and not settled.
    pub in_flight: u64,
    /// Of those, messages waiting for a retry.
    pub waiting_retry: u64,
    /// True if the drain ended by its timeout rather than by running dry.
    pub timed_out: bool,
    /// Per `(topic, group)`: what that subscription left.
    pub left: Vec<(String, String, u64)>,
    /// Delayed messages whose due time had not come (the drain does not
    /// wait for them); they are dropped with their topics.
    pub delayed: u64,
    /// Deliveries past their ack timeout whose ring slot a live holder (a
    /// `Delivery` not yet dropped) still pinned (summed over subscriptions;
    /// part of what their `expired` counted, not of `in_flight`).
    pub pinned: u64,
    /// Handles of the broker still open after this close: 0 when this close
    /// stopped the engine (the fields above say what it left); more when it
    /// only released its own handle of a broker shared by name (see
    /// [`Broker::open`]), which goes on, and the fields above are all zero.
    pub handles_left: u64,
}

/// Who closes: the first `close` does the work; a later one waits for its
/// report (or, on a pool thread, which the first may be joining, answers
/// at once).
pub(super) enum CloseState {
    Open,
    Closing,
    Closed(CloseReport),
}

impl BrokerCore {
    pub(crate) fn close(
        &self,
        drain: Duration,
        interrupt: Option<&Interrupt>,
    ) -> Result<CloseReport> {
        // In a forked child, the locks and threads below are the parent's.
        self.origin.check()?;
        let on_pool = Pool::on_worker_thread();
        {
            let mut st = self.close_state.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                match &*st {
                    CloseState::Closed(r) => return Ok(r.clone()),
                    CloseState::Closing if on_pool => {
                        return Err(Error::closed(
                            "broker (being closed by another call, which may be waiting for this handler to return)",
                        ))
                    }
                    CloseState::Closing => {
                        st = self.close_done.wait(st).unwrap_or_else(|e| e.into_inner());
                    }
                    CloseState::Open => break,
                }
            }
            *st = CloseState::Closing;
        }
        let report = self.shut(if on_pool { Duration::ZERO } else { drain }, interrupt);
        // Stopped: the name may be taken again.
        if let Some(name) = &self.name {
            registry::remove(name, self);
        }
        *self.close_state.lock().unwrap_or_else(|e| e.into_inner()) =
            CloseState::Closed(report.clone());
        self.close_done.notify_all();
        Ok(report)
    }

    /// Stops intake, drains for up to `drain`, reports what is left, stops
    /// every subscription and joins the pool's threads.
    fn shut(&self, drain: Duration, interrupt: Option<&Interrupt>) -> CloseReport {
        self.closed.store(true, Release);
        let topics = self.topic_cores();
        for t in &topics {
            t.close_publishing();
        }
        let dl = deadline(Some(drain)).unwrap_or(u64::MAX);
        let outstanding = || -> u64 {
            topics
                .iter()
                .flat_map(|t| t.subs_snapshot())
                .map(|s| s.drain_outstanding())
                .sum()
        };
        let mut timed_out = false;
        while outstanding() > 0 {
            if mono_ns() >= dl || interrupt.is_some_and(|i| i.is_interrupted()) {
                timed_out = true;
                break;
            }
            // Pool workers and pull consumers do the work; wake the pool in
            // case retries are due.
            self.pool.notify_work();
            std::thread::sleep(Duration::from_micros(500));
        }
        let mut report = CloseReport {
            timed_out,
            ..CloseReport::default()
        };
        for t in &topics {
            for s in t.subs_snapshot() {
                let st = s.stats_snapshot(false);
                let left = st.lag + st.in_flight + st.waiting_retry;
                report.undelivered += left;
                report.in_flight += st.in_flight;
                report.waiting_retry += st.waiting_retry;
                report.pinned += st.pinned;
                if left > 0 {
                    report.left.push((t.name.clone(), s.group.clone(), left));
                }
            }
        }
        for t in &topics {
            report.delayed += t.drop_delayed();
            t.shut_down();
        }
        self.pool.shutdown();
        // Another broker may open the data directory now.
        self.data_dir
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        report
    }
}
