//! Pull subscriptions.
//!
//! Takes (in `fast.rs`) hand JS what is ready without waiting; `wait`
//! blocks a libuv pool thread until something arrives (or the timeout),
//! puts the deliveries in the subscription's stash and resolves to their
//! number, after which JS takes again (the stash first). Handing a delivery
//! to JS copies its payload out and turns it into its raw tag
//! (`Delivery::into_raw`); JS settles it by tag, once (each `Message` and
//! `RawBatch` keeps settled flags).
//!
//! A take describes its messages in the handle's header, as 64-bit floats
//! laid out as `layout::pull` says, with the payloads back to back in a
//! Buffer.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use ringmq_core as core;

use crate::convert::{join, timeout};
use crate::interrupt::{self, NativeInterrupt};
use crate::surface::{fail, fail_with, stats_object};

pub type Stash = Arc<Mutex<VecDeque<core::Delivery>>>;

#[napi]
pub struct NativePull {
    sub: core::PullSubscription,
    stash: Stash,
}

impl NativePull {
    pub fn new(sub: core::PullSubscription) -> Self {
        NativePull {
            sub,
            stash: Arc::new(Mutex::new(VecDeque::new())),
        }
    }
}

pub fn lock(stash: &Stash) -> std::sync::MutexGuard<'_, VecDeque<core::Delivery>> {
    stash.lock().unwrap_or_else(|e| e.into_inner())
}

#[napi]
impl NativePull {
    #[napi(getter)]
    pub fn group(&self) -> String {
        self.sub.group().to_owned()
    }

    /// The per-message functions of this subscription (see `fast.rs`).
    #[napi(
        ts_return_type = "{ hdr: Float64Array, take: Function, takeInto: Function, ack: Function, ackMany: Function, note: Function }"
    )]
    pub fn bind<'env>(&self, env: &'env Env) -> Result<Object<'env>> {
        crate::fast::bind_pull(
            env,
            crate::fast::PullHandle::new(self.sub.clone(), self.stash.clone()),
        )
    }

    /// Waits on the libuv pool up to `timeout_ms` (negative: for ever) for
    /// up to `max` deliveries and stashes them for `take`. Resolves to their
    /// number (0 on timeout), or rejects with the engine's error; with an
    /// `interrupt`, rejects with `INTERRUPTED` once it is set, having
    /// stashed nothing (see `WaitTask`).
    #[napi(ts_return_type = "Promise<number>")]
    pub fn wait(
        &self,
        max: u32,
        timeout_ms: f64,
        interrupt: Option<ClassInstance<'_, NativeInterrupt>>,
    ) -> AsyncTask<WaitTask> {
        AsyncTask::new(WaitTask {
            sub: self.sub.clone(),
            stash: self.stash.clone(),
            max: max.max(1) as usize,
            timeout: timeout(timeout_ms),
            interrupt: interrupt::of(interrupt),
            got: Vec::new(),
        })
    }

    /// Nacks; `delay_ms` negative means the topic's backoff.
    #[napi]
    pub fn nack(&self, env: &Env, tag_hi: u32, tag_lo: u32, delay_ms: f64) -> Result<()> {
        // SAFETY: as for `ack`.
        unsafe { self.sub.nack_tag(join(tag_hi, tag_lo), timeout(delay_ms)) }
            .map_err(|e| fail(env, e))
    }

    /// Gives a message that an aborted poll took back for redelivery at
    /// once, as `WaitTask` does with what it took as the abort came (a
    /// requeue: the engine does not count it as an attempt).
    #[napi]
    pub fn release(&self, env: &Env, tag_hi: u32, tag_lo: u32) -> Result<()> {
        // SAFETY: as for `ack`.
        unsafe { self.sub.requeue_tag(join(tag_hi, tag_lo)) }.map_err(|e| fail(env, e))
    }

    #[napi]
    pub fn term(&self, env: &Env, tag_hi: u32, tag_lo: u32) -> Result<()> {
        // SAFETY: as for `ack`.
        unsafe { self.sub.term_tag(join(tag_hi, tag_lo)) }.map_err(|e| fail(env, e))
    }

    #[napi]
    pub fn in_progress(&self, env: &Env, tag_hi: u32, tag_lo: u32) -> Result<()> {
        self.sub
            .in_progress_tag(join(tag_hi, tag_lo))
            .map_err(|e| fail(env, e))
    }

    /// Stops taking new messages (their lag grows); what is in flight and
    /// retries go on. Throws `CLOSED` once unsubscribed or closed.
    #[napi]
    pub fn pause(&self, env: &Env) -> Result<()> {
        self.sub.pause().map_err(|e| fail(env, e))
    }

    /// Takes new messages again after `pause`.
    #[napi]
    pub fn resume(&self, env: &Env) -> Result<()> {
        self.sub.resume().map_err(|e| fail(env, e))
    }

    #[napi]
    pub fn is_paused(&self) -> bool {
        self.sub.is_paused()
    }

    /// Why nothing is handed over now, as texts ('paused', …); empty when
    /// something would be.
    #[napi]
    pub fn why_idle(&self) -> Vec<String> {
        self.sub.why_idle().iter().map(|r| r.to_string()).collect()
    }

    #[napi(ts_return_type = "SubStats")]
    pub fn stats<'env>(&self, env: &'env Env) -> Result<Object<'env>> {
        stats_object(env, &self.sub.stats())
    }

    /// Removes the subscription; what it had stashed goes back unsettled.
    #[napi]
    pub fn unsubscribe(&self, env: &Env) -> Result<()> {
        let r = self.sub.unsubscribe();
        lock(&self.stash).clear();
        r.map_err(|e| fail(env, e))
    }
}

/// A poll that waits, off the JS thread.
///
/// With an interrupt (a call with an `AbortSignal`), what the wait took is
/// kept in the task until `resolve`, on the JS thread, where the signal's
/// abort listener also runs: if the interrupt is set by then, the abort came
/// while the engine was handing the deliveries over, and they are released
/// for redelivery at once (requeued, not counted as an attempt) instead of
/// stashed, so an aborted poll takes nothing. Else they go to the stash,
/// and the call that waited takes them.
pub struct WaitTask {
    sub: core::PullSubscription,
    stash: Stash,
    max: usize,
    timeout: Option<Duration>,
    interrupt: Option<core::Interrupt>,
    got: Vec<core::Delivery>,
}

impl Task for WaitTask {
    type Output = std::result::Result<usize, core::Error>;
    type JsValue = u32;

    fn compute(&mut self) -> Result<Self::Output> {
        let mut got = Vec::new();
        let r = match &self.interrupt {
            None => self.sub.poll_batch(self.max, self.timeout, &mut got),
            Some(i) => self
                .sub
                .poll_batch_interruptible(self.max, self.timeout, i, &mut got),
        };
        let n = got.len();
        if self.interrupt.is_some() {
            self.got = got;
        } else {
            lock(&self.stash).extend(got);
        }
        Ok(match r {
            Err(e) if n == 0 => Err(e),
            _ => Ok(n),
        })
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> Result<Self::JsValue> {
        let got = std::mem::take(&mut self.got);
        if let Some(i) = &self.interrupt {
            if i.is_interrupted() && !got.is_empty() {
                for d in got {
                    // A subscription closed meanwhile refuses: the dropped
                    // delivery is let go as any unsettled one is.
                    let _ = d.requeue();
                }
                return Err(fail_with(
                    &env,
                    core::ErrorKind::Interrupted,
                    &format!(
                        "poll of subscription {:?} was interrupted",
                        self.sub.group()
                    ),
                ));
            }
            lock(&self.stash).extend(got);
        }
        output.map(|n| n as u32).map_err(|e| fail(&env, e))
    }
}
