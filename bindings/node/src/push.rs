//! Push subscriptions: JS handlers called on the JS thread.
//!
//! The engine's pool runs an asynchronous core handler (`subscribe_async`)
//! that files the message's `Completion` in this subscription's table under
//! a token and copies the message into the subscription's pending batch;
//! the first message of a batch queues a call of the JS `dispatch` function
//! through a weak `ThreadsafeFunction` in non-blocking mode (so a pool
//! worker never waits for the JS thread), and that call hands over the
//! whole batch. `dispatch` runs the user's handler on each message and
//! reports each outcome with `complete(token, error)`, which settles the
//! message in the engine. The core's concurrency
//! bound counts a message until it is completed, so `concurrency` bounds the
//! handlers in progress, async ones included.

use std::sync::{Arc, Mutex};

use napi::bindgen_prelude::*;
use napi::threadsafe_function::{
    ThreadsafeFunction, ThreadsafeFunctionCallMode, ThreadsafeFunctionHandle,
};
use napi_derive::napi;
use ringmq_core as core;

use crate::layout::push as meta;
use crate::surface::{fail, fail_with, stats_object};

/// `(meta, data, count, notes)`: per message `layout::push::STRIDE` numbers
/// in `meta`, the payloads back to back in `data`, and the dead-letter notes
/// of the batch (reason, group, reason, group, …; null when none has one).
/// and the batch's headers and msg_ids: names, value lengths, bytes (all
/// three null when no message has any; see `layout`).
pub type DispatchArgs = FnArgs<(
    Float64Array,
    Buffer,
    u32,
    Option<Vec<String>>,
    Option<Vec<String>>,
    Option<Float64Array>,
    Option<Buffer>,
)>;

/// Messages copied by pool workers and not yet handed to JS. A worker
/// appends; the first append after a hand-over queues one call of the
/// thread-safe function, which hands over everything gathered by then, so
/// a burst costs one wake-up of the JS thread, not one per message.
#[derive(Default)]
struct Pending {
    meta: Vec<f64>,
    bytes: Vec<u8>,
    /// Reason and group of each message with a dead-letter note.
    notes: Vec<String>,
    /// Header names, value lengths, and msg_ids and values (see `layout`).
    ext_names: Vec<String>,
    ext_lens: Vec<f64>,
    ext_bytes: Vec<u8>,
    count: u32,
    scheduled: bool,
}

type SharedPending = Arc<Mutex<Pending>>;

fn lock_pending(p: &SharedPending) -> std::sync::MutexGuard<'_, Pending> {
    p.lock().unwrap_or_else(|e| e.into_inner())
}

type Dispatch = ThreadsafeFunction<(), (), DispatchArgs, Status, false, true>;

/// Completions waiting for their JS handler, by token.
#[derive(Default)]
pub struct Table {
    slots: Vec<Option<core::Completion>>,
    free: Vec<u32>,
}

pub type SharedTable = Arc<Mutex<Table>>;

fn lock(t: &SharedTable) -> std::sync::MutexGuard<'_, Table> {
    t.lock().unwrap_or_else(|e| e.into_inner())
}

impl Table {
    fn insert(&mut self, c: core::Completion) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(c);
                i
            }
            None => {
                self.slots.push(Some(c));
                (self.slots.len() - 1) as u32
            }
        }
    }

    fn remove(&mut self, token: u32) -> Option<core::Completion> {
        let c = self.slots.get_mut(token as usize)?.take()?;
        self.free.push(token);
        Some(c)
    }
}

/// The completion filed under `token`, if still there.
pub fn take_completion(table: &SharedTable, token: u32) -> Option<core::Completion> {
    lock(table).remove(token)
}

pub fn subscribe(
    env: &Env,
    topic: &core::Topic,
    group: &str,
    opts: core::SubOptions,
    dispatch: Function<'_, DispatchArgs, ()>,
) -> Result<NativePush> {
    let pending: SharedPending = Arc::default();
    let for_js = pending.clone();
    let tsfn: Dispatch = dispatch
        .build_threadsafe_function::<()>()
        .weak::<true>()
        .callee_handled::<false>()
        .build_callback(move |_ctx| {
            let (meta, bytes, count, notes, names, lens, ext) = {
                let mut p = lock_pending(&for_js);
                p.scheduled = false;
                let count = std::mem::take(&mut p.count);
                (
                    std::mem::take(&mut p.meta),
                    std::mem::take(&mut p.bytes),
                    count,
                    std::mem::take(&mut p.notes),
                    std::mem::take(&mut p.ext_names),
                    std::mem::take(&mut p.ext_lens),
                    std::mem::take(&mut p.ext_bytes),
                )
            };
            let has_ext = !names.is_empty() || !ext.is_empty();
            Ok(FnArgs::from((
                Float64Array::new(meta),
                Buffer::from(bytes),
                count,
                (!notes.is_empty()).then_some(notes),
                has_ext.then_some(names),
                has_ext.then(|| Float64Array::new(lens)),
                has_ext.then(|| Buffer::from(ext)),
            )))
        })?;
    let keep = tsfn.handle.clone();
    let table: SharedTable = Arc::default();
    let for_handler = table.clone();
    let handler = move |m: &core::Message<'_>, done: core::Completion| {
        let token = lock(&for_handler).insert(done);
        let ts = m.timestamp_ns as u64;
        let signal = {
            let mut p = lock_pending(&pending);
            let at = p.meta.len();
            p.meta.resize(at + meta::STRIDE, 0.0);
            let rec = &mut p.meta[at..];
            rec[meta::TOKEN] = token as f64;
            rec[meta::ID] = m.id as f64;
            rec[meta::KEY_HI] = (m.key >> 32) as f64;
            rec[meta::KEY_LO] = (m.key & 0xffff_ffff) as f64;
            rec[meta::TS_HI] = (ts >> 32) as f64;
            rec[meta::TS_LO] = (ts & 0xffff_ffff) as f64;
            rec[meta::ATTEMPT] = m.attempt as f64;
            rec[meta::LEN] = m.data.len() as f64;
            if let (Some(reason), Some(group)) = (m.dead_letter_reason, m.dead_letter_group) {
                p.notes.push(reason.to_owned());
                p.notes.push(group.to_owned());
                let k = p.notes.len() / 2;
                p.meta[at + meta::NOTE] = k as f64;
            }
            p.bytes.extend_from_slice(m.data);
            if let Some(id) = m.msg_id {
                p.meta[at + meta::MSG_ID] = (id.len() + 1) as f64;
                p.ext_bytes.extend_from_slice(id);
            }
            if !m.headers.is_empty() {
                p.meta[at + meta::HEADERS] = m.headers.len() as f64;
                for (name, value) in m.headers.iter() {
                    p.ext_names.push(name.to_owned());
                    p.ext_lens.push(value.len() as f64);
                    p.ext_bytes.extend_from_slice(value);
                }
            }
            p.count += 1;
            !std::mem::replace(&mut p.scheduled, true)
        };
        if signal && tsfn.call((), ThreadsafeFunctionCallMode::NonBlocking) != Status::Ok {
            // The JS side is gone or closing: drop what waits; dropping the
            // completions nacks.
            let tokens: Vec<u32> = {
                let mut p = lock_pending(&pending);
                p.scheduled = false;
                p.count = 0;
                p.bytes.clear();
                p.notes.clear();
                p.ext_names.clear();
                p.ext_lens.clear();
                p.ext_bytes.clear();
                let all = std::mem::take(&mut p.meta);
                all.chunks(meta::STRIDE)
                    .map(|c| c[meta::TOKEN] as u32)
                    .collect()
            };
            let mut t = lock(&for_handler);
            for token in tokens {
                drop(t.remove(token));
            }
        }
    };
    let sub = topic
        .subscribe_async(group, opts, handler)
        .map_err(|e| fail(env, e))?;
    Ok(NativePush {
        sub,
        table,
        tsfn: keep,
    })
}

#[napi]
pub struct NativePush {
    sub: core::PushSubscription,
    table: SharedTable,
    /// The thread-safe function's handle, kept so it stays valid for
    /// `set_ref` as long as this object lives.
    tsfn: Arc<ThreadsafeFunctionHandle>,
}

impl NativePush {
    /// The engine's handle of this subscription.
    pub(crate) fn core_sub(&self) -> core::PushSubscription {
        self.sub.clone()
    }
}

#[napi]
impl NativePush {
    #[napi(getter)]
    pub fn group(&self) -> String {
        self.sub.group().to_owned()
    }

    /// The per-message function of this subscription (see `fast.rs`).
    #[napi(ts_return_type = "{ complete: Function }")]
    pub fn bind<'env>(&self, env: &'env Env) -> Result<Object<'env>> {
        crate::fast::bind_push(
            env,
            crate::fast::PushHandle {
                table: self.table.clone(),
            },
        )
    }

    /// Whether the thread-safe function keeps the event loop alive: JS
    /// turns it on when it publishes to the topic and off when the
    /// subscription has nothing left to do, so pending work is handled
    /// before the process exits, and an idle subscription never holds it.
    #[napi]
    pub fn set_ref(&self, env: &Env, on: bool) -> Result<()> {
        self.tsfn.with_read_aborted(|aborted| {
            if aborted {
                return Ok(());
            }
            let raw = self.tsfn.get_raw();
            // SAFETY: a live (not aborted) thread-safe function, on the JS
            // thread of its env.
            let status = unsafe {
                if on {
                    napi::sys::napi_ref_threadsafe_function(env.raw(), raw)
                } else {
                    napi::sys::napi_unref_threadsafe_function(env.raw(), raw)
                }
            };
            if status == napi::sys::Status::napi_ok {
                Ok(())
            } else {
                Err(fail_with(
                    env,
                    core::ErrorKind::Internal,
                    "cannot ref the dispatcher",
                ))
            }
        })
    }

    /// Messages of this subscription not yet handled to the end: not yet
    /// delivered, in a handler, or waiting for a retry.
    #[napi]
    pub fn busy(&self) -> bool {
        self.sub.outstanding() > 0
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

    /// Stops the subscription on a thread of its own, as it waits for the
    /// engine's handler calls in progress (which only file a completion and
    /// queue a call to JS). It does not wait for completions still owed by
    /// JS handlers: those may arrive later and settle nothing, so an async
    /// handler may await its own subscription's unsubscribe. JS calls no
    /// handler of a batch that reaches it after unsubscribe was called.
    /// Rejects with the engine's error (`CLOSED` after close).
    #[napi(ts_return_type = "Promise<void>")]
    pub fn unsubscribe<'env>(&self, env: &'env Env) -> Result<Object<'env>> {
        let (deferred, promise) = env.create_deferred()?;
        let sub = self.sub.clone();
        std::thread::Builder::new()
            .name("ringmq-unsubscribe".into())
            .spawn(move || {
                let r = sub.unsubscribe();
                deferred.resolve(move |env| r.map_err(|e| fail(&env, e)));
            })
            .map_err(|e| {
                fail_with(
                    env,
                    core::ErrorKind::Internal,
                    &format!("cannot start a thread: {e}"),
                )
            })?;
        Ok(promise)
    }
}
