//! Pull subscriptions.
//!
//! Takes (in `fast.rs`) hand JS what is ready without waiting; `wait`
//! blocks a libuv pool thread until something arrives (or the timeout),
//! puts what it took in the subscription's stash and resolves to their
//! number, after which JS takes again (the stash first). Every take is a
//! `PullSubscription::poll_raw`: a delivery is held by its raw tag from the
//! moment it is taken, and JS settles it by tag, once (each `Message` and
//! `RawBatch` keeps settled flags).
//!
//! A raw tag pins its payload only until it is settled or its ack deadline
//! passes; after that the ring slot may be reused. So a payload is read
//! only in the call that took it: a synchronous take copies it into JS
//! memory before it returns, and a wait copies it into the stash's own
//! bytes on the pool thread, right after `poll_raw` returns, before anything
//! else. The stash holds copies and tags, never a pointer into the ring:
//! however long it waits for the JS thread, what it hands over is what was
//! taken (a settle after the deadline is then refused as expired, and the
//! message was redelivered meanwhile).
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

/// A taken message whose payload and extension were copied out of the
/// ring: its fields, its raw tag, and where its bytes are in the
/// `Copied::bytes` that holds it.
pub struct Held {
    pub tag: u64,
    pub id: u64,
    pub key: u64,
    pub timestamp_ns: i64,
    pub attempt: u32,
    /// The payload at `at`, then the extension block (headers and msg_id).
    pub at: usize,
    pub len: usize,
    pub ext_len: usize,
    /// A dead letter's reason and group (only messages of dead-letter
    /// topics have one).
    pub note: Option<(String, String)>,
}

impl Held {
    pub fn data<'a>(&self, bytes: &'a [u8]) -> &'a [u8] {
        &bytes[self.at..self.at + self.len]
    }

    pub fn ext<'a>(&self, bytes: &'a [u8]) -> &'a [u8] {
        let from = self.at + self.len;
        &bytes[from..from + self.ext_len]
    }
}

/// One message as a take describes it, or as a wait copies it in: its
/// fields, its tag and its bytes.
#[derive(Clone, Copy)]
pub struct Record<'a> {
    pub tag: u64,
    pub id: u64,
    pub key: u64,
    pub timestamp_ns: i64,
    pub attempt: u32,
    pub data: &'a [u8],
    pub ext: &'a [u8],
    pub note: Option<(&'a str, &'a str)>,
}

impl<'a> Record<'a> {
    pub fn held(h: &'a Held, bytes: &'a [u8]) -> Record<'a> {
        Record {
            tag: h.tag,
            id: h.id,
            key: h.key,
            timestamp_ns: h.timestamp_ns,
            attempt: h.attempt,
            data: h.data(bytes),
            ext: h.ext(bytes),
            note: h.note.as_ref().map(|(r, g)| (r.as_str(), g.as_str())),
        }
    }

    /// # Safety
    /// As for `RawDelivery::data`: just taken by `poll_raw` and not settled,
    /// so pinned.
    pub unsafe fn raw(d: &'a core::RawDelivery) -> Record<'a> {
        Record {
            tag: d.tag(),
            id: d.id(),
            key: d.key(),
            timestamp_ns: d.timestamp_ns(),
            attempt: d.attempt(),
            // SAFETY: pinned, by the caller's promise.
            data: unsafe { d.data() },
            // SAFETY: as above.
            ext: unsafe { d.ext() },
            note: d.dead_letter_reason().zip(d.dead_letter_group()),
        }
    }
}

/// Taken messages copied out, oldest first: what a wait took until the JS
/// thread takes it. The bytes are reused: emptied with the last message,
/// they keep their capacity, so a steady flow of waits allocates nothing.
#[derive(Default)]
pub struct Copied {
    pub items: VecDeque<Held>,
    pub bytes: Vec<u8>,
}

impl Copied {
    /// Copies `r` in, after what is there.
    pub fn push(&mut self, r: Record<'_>) {
        let at = self.bytes.len();
        self.bytes.extend_from_slice(r.data);
        self.bytes.extend_from_slice(r.ext);
        self.items.push_back(Held {
            tag: r.tag,
            id: r.id,
            key: r.key,
            timestamp_ns: r.timestamp_ns,
            attempt: r.attempt,
            at,
            len: r.data.len(),
            ext_len: r.ext.len(),
            note: r
                .note
                .map(|(reason, group)| (reason.to_owned(), group.to_owned())),
        });
    }

    /// Moves everything of `other` in, after what is there.
    pub fn append(&mut self, other: &mut Copied) {
        if self.items.is_empty() {
            // Nothing here: swap, keeping both allocations.
            self.bytes.clear();
            std::mem::swap(self, other);
            return;
        }
        let shift = self.bytes.len();
        self.bytes.extend_from_slice(&other.bytes);
        self.items.extend(other.items.drain(..).map(|mut h| {
            h.at += shift;
            h
        }));
        other.bytes.clear();
    }

    /// Drops the first `n` messages (handed over); the bytes are emptied
    /// with the last one.
    pub fn consume(&mut self, n: usize) {
        self.items.drain(..n.min(self.items.len()));
        if self.items.is_empty() {
            self.bytes.clear();
        }
    }

    /// Gives every message back to `sub` for redelivery at once (a
    /// requeue, not counted as an attempt), emptying this. On a closed
    /// subscription this lets go of them, as dropping an unsettled
    /// delivery does.
    pub fn give_back(&mut self, sub: &core::PullSubscription) {
        for h in self.items.drain(..) {
            // SAFETY: the tag came from `poll_raw`, so no `Delivery` with
            // it exists, and it is settled only here (it never reached JS).
            // A refusal (expired, closed) leaves nothing to do.
            let _ = unsafe { sub.requeue_tag(h.tag) };
        }
        self.bytes.clear();
    }
}

pub type Stash = Arc<Mutex<Copied>>;

#[napi]
pub struct NativePull {
    sub: core::PullSubscription,
    stash: Stash,
}

impl NativePull {
    pub fn new(sub: core::PullSubscription) -> Self {
        NativePull {
            sub,
            stash: Arc::new(Mutex::new(Copied::default())),
        }
    }
}

pub fn lock(stash: &Stash) -> std::sync::MutexGuard<'_, Copied> {
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
    /// up to `max` deliveries (at most what one take hands over; the take
    /// that follows takes the rest of what is ready) and stashes copies of
    /// them for `take`. Resolves to their number (0 on timeout), or rejects
    /// with the engine's error; with an `interrupt`, rejects with
    /// `INTERRUPTED` once it is set, having stashed nothing (see
    /// `WaitTask`).
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
            max: (max as usize).clamp(1, crate::layout::HEADER_MESSAGES),
            timeout: timeout(timeout_ms),
            interrupt: interrupt::of(interrupt),
            got: Copied::default(),
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

    /// Removes the subscription; what it had stashed is let go unsettled.
    #[napi]
    pub fn unsubscribe(&self, env: &Env) -> Result<()> {
        let r = self.sub.unsubscribe();
        lock(&self.stash).give_back(&self.sub);
        r.map_err(|e| fail(env, e))
    }
}

/// A poll that waits, off the JS thread.
///
/// It takes with `poll_raw` and copies what it took at once, on the pool
/// thread, while the tags surely pin their payloads (see the module docs).
/// With an interrupt (a call with an `AbortSignal`), the copies are kept in
/// the task until `resolve`, on the JS thread, where the signal's abort
/// listener also runs: if the interrupt is set by then, the abort came
/// while the engine was handing the deliveries over, and they are given
/// back for redelivery at once (requeued, not counted as an attempt)
/// instead of stashed, so an aborted poll takes nothing. Else they go to
/// the stash, and the call that waited takes them.
pub struct WaitTask {
    sub: core::PullSubscription,
    stash: Stash,
    max: usize,
    timeout: Option<Duration>,
    interrupt: Option<core::Interrupt>,
    got: Copied,
}

impl Task for WaitTask {
    type Output = std::result::Result<usize, core::Error>;
    type JsValue = u32;

    fn compute(&mut self) -> Result<Self::Output> {
        let mut raw = Vec::new();
        let r = self
            .sub
            .poll_raw(self.max, self.timeout, self.interrupt.as_ref(), &mut raw);
        let n = raw.len();
        if n > 0 {
            let mut into_stash;
            let to: &mut Copied = if self.interrupt.is_some() {
                &mut self.got
            } else {
                into_stash = lock(&self.stash);
                &mut into_stash
            };
            for d in &raw {
                // SAFETY: taken by the `poll_raw` that just returned, and
                // not settled: the copy is the first thing done with it.
                to.push(unsafe { Record::raw(d) });
            }
        }
        Ok(match r {
            Err(e) if n == 0 => Err(e),
            _ => Ok(n),
        })
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> Result<Self::JsValue> {
        if let Some(i) = &self.interrupt {
            if i.is_interrupted() && !self.got.items.is_empty() {
                // A subscription closed meanwhile refuses: the deliveries
                // are let go as any unsettled one is.
                self.got.give_back(&self.sub);
                return Err(fail_with(
                    &env,
                    core::ErrorKind::Interrupted,
                    &format!(
                        "poll of subscription {:?} was interrupted",
                        self.sub.group()
                    ),
                ));
            }
            lock(&self.stash).append(&mut self.got);
        }
        output.map(|n| n as u32).map_err(|e| fail(&env, e))
    }
}
