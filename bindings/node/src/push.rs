//! Push subscriptions: JS handlers called on the JS thread.
//!
//! The engine's pool runs an asynchronous core handler (`subscribe_async`)
//! that copies the message, files its `Completion` in this subscription's
//! table under a token, and queues a call of the JS `dispatch` function
//! through a weak `ThreadsafeFunction` in non-blocking mode (the queue is
//! unbounded, so a pool worker never waits for the JS thread). `dispatch`
//! runs the user's handler and reports the outcome with `complete(token,
//! error)`, which settles the message in the engine. The core's concurrency
//! bound counts a message until it is completed, so `concurrency` bounds the
//! handlers in progress, async ones included.

use std::sync::{Arc, Mutex};

use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use ringmq_core as core;

use crate::convert::{fail, SubStatsJs};

/// `(token, id, keyHi, keyLo, tsHi, tsLo, attempt, data)`.
pub type DispatchArgs = FnArgs<(u32, f64, u32, u32, u32, u32, u32, Buffer)>;

/// What a pool worker sends to the JS thread for one message.
pub struct PushCall {
    token: u32,
    id: u64,
    key: u64,
    timestamp_ns: i64,
    attempt: u32,
    data: Vec<u8>,
}

type Dispatch = ThreadsafeFunction<PushCall, (), DispatchArgs, Status, false, true>;

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
    topic: &core::Topic,
    group: &str,
    opts: core::SubOptions,
    dispatch: Function<'_, DispatchArgs, ()>,
) -> Result<NativePush> {
    let tsfn: Dispatch = dispatch
        .build_threadsafe_function::<PushCall>()
        .weak::<true>()
        .callee_handled::<false>()
        .build_callback(|ctx| {
            let c = ctx.value;
            let ts = c.timestamp_ns as u64;
            Ok(FnArgs::from((
                c.token,
                c.id as f64,
                (c.key >> 32) as u32,
                c.key as u32,
                (ts >> 32) as u32,
                ts as u32,
                c.attempt,
                Buffer::from(c.data),
            )))
        })?;
    let table: SharedTable = Arc::default();
    let for_handler = table.clone();
    let handler = move |m: &core::Message<'_>, done: core::Completion| {
        let token = lock(&for_handler).insert(done);
        let call = PushCall {
            token,
            id: m.id,
            key: m.key,
            timestamp_ns: m.timestamp_ns,
            attempt: m.attempt,
            data: m.data.to_vec(),
        };
        if tsfn.call(call, ThreadsafeFunctionCallMode::NonBlocking) != Status::Ok {
            // The JS side is gone or closing: dropping the completion nacks.
            drop(lock(&for_handler).remove(token));
        }
    };
    let sub = topic.subscribe_async(group, opts, handler).map_err(fail)?;
    Ok(NativePush { sub, table })
}

#[napi]
pub struct NativePush {
    sub: core::PushSubscription,
    table: SharedTable,
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

    /// Reports a handler's outcome: no error acks, an error text nacks.
    /// False if the token is unknown (already completed).
    #[napi]
    pub fn complete(&self, token: u32, error: Option<String>) -> bool {
        let Some(done) = lock(&self.table).remove(token) else {
            return false;
        };
        done.complete(match error {
            None => Ok(()),
            Some(e) => Err(core::HandlerError(e)),
        });
        true
    }

    #[napi]
    pub fn stats(&self) -> SubStatsJs {
        self.sub.stats().into()
    }

    /// Stops the subscription on a thread of its own: it waits for the
    /// handlers in progress, which need the JS thread to finish.
    #[napi(ts_return_type = "Promise<string | null>")]
    pub fn unsubscribe<'env>(&self, env: &'env Env) -> Result<Object<'env>> {
        let (deferred, promise) = env.create_deferred()?;
        let sub = self.sub.clone();
        std::thread::Builder::new()
            .name("ringmq-unsubscribe".into())
            .spawn(move || {
                let r = sub.unsubscribe();
                deferred.resolve(move |_env| Ok(r.err().map(|e| crate::convert::coded(&e))));
            })
            .map_err(|e| Error::from_reason(format!("INTERNAL: cannot start a thread: {e}")))?;
        Ok(promise)
    }
}
