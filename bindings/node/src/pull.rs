//! Pull subscriptions.
//!
//! `take` hands JS what is ready without waiting; `wait` blocks a libuv pool
//! thread until something arrives (or the timeout), puts the deliveries in
//! the subscription's stash and resolves to their number, after which JS
//! calls `take` again. Handing a delivery to JS copies its payload into the
//! batch's `Buffer` and turns it into its raw tag (`Delivery::into_raw`); JS
//! settles it by tag, once (each `Message` keeps a settled flag).
//!
//! `take` writes into the caller's header array, as 64-bit floats:
//! `[count, then per message: id, keyHi, keyLo, tsHi, tsLo, attempt, tagHi,
//! tagLo, len]`, and returns one `Buffer` holding the payloads back to back.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;
use ringmq_core as core;

use crate::convert::{coded, fail, join, timeout, SubStatsJs};

/// Header fields per message (see the module docs).
pub const FIELDS: usize = 9;

type Stash = Arc<Mutex<VecDeque<core::Delivery>>>;

#[napi]
pub struct NativePull {
    sub: core::PullSubscription,
    stash: Stash,
    batch: Vec<core::Delivery>,
}

impl NativePull {
    pub fn new(sub: core::PullSubscription) -> Self {
        NativePull {
            sub,
            stash: Arc::new(Mutex::new(VecDeque::new())),
            batch: Vec::new(),
        }
    }
}

fn lock(stash: &Stash) -> std::sync::MutexGuard<'_, VecDeque<core::Delivery>> {
    stash.lock().unwrap_or_else(|e| e.into_inner())
}

#[napi]
impl NativePull {
    #[napi(getter)]
    pub fn group(&self) -> String {
        self.sub.group().to_owned()
    }

    /// Takes up to `max` ready deliveries without waiting; see the module
    /// docs for `hdr`. Returns the payloads, or null when none was ready.
    #[napi(
        ts_args_type = "hdr: Uint8Array, max: number",
        ts_return_type = "Buffer | null"
    )]
    pub fn take<'env>(
        &mut self,
        env: &'env Env,
        mut hdr: BufferSlice,
        max: u32,
    ) -> Result<Option<Unknown<'env>>> {
        let max = (max as usize).min((hdr.len() / 8).saturating_sub(1) / FIELDS);
        if max == 0 {
            return Err(Error::from_reason(
                "INVALID_ARGUMENT: take needs room for at least one message",
            ));
        }
        self.batch.clear();
        {
            let mut stash = lock(&self.stash);
            while self.batch.len() < max {
                match stash.pop_front() {
                    Some(d) => self.batch.push(d),
                    None => break,
                }
            }
        }
        if self.batch.len() < max {
            let want = max - self.batch.len();
            let r = self
                .sub
                .poll_batch(want, Some(Duration::ZERO), &mut self.batch);
            if let Err(e) = r {
                if self.batch.is_empty() {
                    return Err(fail(e));
                }
            }
        }
        if self.batch.is_empty() {
            return Ok(None);
        }
        let total: usize = self.batch.iter().map(|d| d.data().len()).sum();
        let mut data_ptr: *mut std::ffi::c_void = std::ptr::null_mut();
        let mut value: sys::napi_value = std::ptr::null_mut();
        // SAFETY: a plain N-API call on the JS thread with valid out-pointers.
        let status =
            unsafe { sys::napi_create_buffer(env.raw(), total, &mut data_ptr, &mut value) };
        if status != sys::Status::napi_ok {
            // The deliveries go back to the engine unsettled (redelivered).
            self.batch.clear();
            return Err(Error::from_reason(
                "INTERNAL: cannot allocate a Buffer for the payloads",
            ));
        }
        let out: &mut [u8] = if total == 0 {
            &mut []
        } else {
            // SAFETY: napi_create_buffer returned `total` writable bytes at
            // `data_ptr`, owned by the new Buffer that `value` keeps alive.
            unsafe { std::slice::from_raw_parts_mut(data_ptr.cast::<u8>(), total) }
        };
        let hdr: &mut [u8] = &mut hdr;
        let mut put = |i: usize, v: f64| hdr[i * 8..i * 8 + 8].copy_from_slice(&v.to_ne_bytes());
        put(0, self.batch.len() as f64);
        let mut at = 0;
        for (i, d) in self.batch.drain(..).enumerate() {
            let bytes = d.data();
            out[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
            let key = d.key();
            let ts = d.timestamp_ns() as u64;
            let base = 1 + i * FIELDS;
            put(base, d.id() as f64);
            put(base + 1, (key >> 32) as f64);
            put(base + 2, (key & 0xffff_ffff) as f64);
            put(base + 3, (ts >> 32) as f64);
            put(base + 4, (ts & 0xffff_ffff) as f64);
            put(base + 5, d.attempt() as f64);
            put(base + 8, bytes.len() as f64);
            let (tag, _, _) = d.into_raw();
            put(base + 6, (tag >> 32) as f64);
            put(base + 7, (tag & 0xffff_ffff) as f64);
        }
        // SAFETY: `value` is the Buffer just created in this env.
        Ok(Some(unsafe { Unknown::from_napi_value(env.raw(), value)? }))
    }

    /// Waits on the libuv pool up to `timeout_ms` (negative: for ever) for
    /// up to `max` deliveries and stashes them for `take`. Resolves to their
    /// number (0 on timeout), or to a `"CODE: message"` string.
    #[napi(ts_return_type = "Promise<number | string>")]
    pub fn wait(&self, max: u32, timeout_ms: f64) -> AsyncTask<WaitTask> {
        AsyncTask::new(WaitTask {
            sub: self.sub.clone(),
            stash: self.stash.clone(),
            max: max.max(1) as usize,
            timeout: timeout(timeout_ms),
        })
    }

    #[napi]
    pub fn ack(&self, tag_hi: u32, tag_lo: u32) -> Result<()> {
        // SAFETY: tags reach JS only through `into_raw`, so no `Delivery`
        // value with this tag exists; JS settles each tag at most once.
        unsafe { self.sub.ack_tag(join(tag_hi, tag_lo)) }.map_err(fail)
    }

    /// Acks `count` tags given as (hi, lo) pairs; tries them all and throws
    /// the first failure.
    #[napi(ts_args_type = "tags: Float64Array, count: number")]
    pub fn ack_many(&self, tags: Float64ArraySlice, count: u32) -> Result<()> {
        let tags: &[f64] = &tags;
        let n = (count as usize).min(tags.len() / 2);
        let mut first = Ok(());
        for i in 0..n {
            let tag = join(tags[2 * i] as u32, tags[2 * i + 1] as u32);
            // SAFETY: as for `ack`.
            let r = unsafe { self.sub.ack_tag(tag) };
            if first.is_ok() {
                first = r;
            }
        }
        first.map_err(fail)
    }

    /// Nacks; `delay_ms` negative means the topic's backoff.
    #[napi]
    pub fn nack(&self, tag_hi: u32, tag_lo: u32, delay_ms: f64) -> Result<()> {
        // SAFETY: as for `ack`.
        unsafe { self.sub.nack_tag(join(tag_hi, tag_lo), timeout(delay_ms)) }.map_err(fail)
    }

    #[napi]
    pub fn term(&self, tag_hi: u32, tag_lo: u32) -> Result<()> {
        // SAFETY: as for `ack`.
        unsafe { self.sub.term_tag(join(tag_hi, tag_lo)) }.map_err(fail)
    }

    #[napi]
    pub fn in_progress(&self, tag_hi: u32, tag_lo: u32) -> Result<()> {
        self.sub.in_progress_tag(join(tag_hi, tag_lo)).map_err(fail)
    }

    #[napi]
    pub fn stats(&self) -> SubStatsJs {
        self.sub.stats().into()
    }

    /// Removes the subscription; what it had stashed goes back unsettled.
    #[napi]
    pub fn unsubscribe(&self) -> Result<()> {
        let r = self.sub.unsubscribe();
        lock(&self.stash).clear();
        r.map_err(fail)
    }
}

/// A poll that waits, off the JS thread.
pub struct WaitTask {
    sub: core::PullSubscription,
    stash: Stash,
    max: usize,
    timeout: Option<Duration>,
}

impl Task for WaitTask {
    type Output = std::result::Result<usize, core::Error>;
    type JsValue = Either<u32, String>;

    fn compute(&mut self) -> Result<Self::Output> {
        let mut got = Vec::new();
        let r = self.sub.poll_batch(self.max, self.timeout, &mut got);
        let n = got.len();
        lock(&self.stash).extend(got);
        Ok(match r {
            Err(e) if n == 0 => Err(e),
            _ => Ok(n),
        })
    }

    fn resolve(&mut self, _env: Env, output: Self::Output) -> Result<Self::JsValue> {
        Ok(match output {
            Ok(n) => Either::A(n as u32),
            Err(e) => Either::B(coded(&e)),
        })
    }
}
