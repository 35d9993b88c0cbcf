//! The native half of the `ringmq` npm package.
//!
//! This layer only translates: the semantics live in `ringmq-core`, and the
//! JavaScript half (`index.js`) checks arguments and builds `Message`
//! objects. Engine errors leave here as `Error`s whose `code` is already set
//! (`surface.rs`); the tables of fields, options, spellings and typed-array
//! layouts come from the core and `layout.rs` through `surface()`.
//!
//! Four rules keep the event loop healthy:
//! - nothing here waits on the JS thread: publishes try once, polls take what
//!   is ready, and every wait (`wait`, `publishWait`) is an `AsyncTask` on the
//!   libuv pool; `close` and push `unsubscribe` run on a thread of their own
//!   (they may wait for handlers that need the JS thread);
//! - a wait given a `NativeInterrupt` (what an `AbortSignal`'s abort sets in
//!   `index.js`) ends when it is set, having changed nothing, and a close
//!   given one cuts its drain short (`interrupt.rs`);
//! - push handlers are called on the JS thread, in batches, through an
//!   unreferenced `ThreadsafeFunction` that JS references only while its
//!   subscription has work, so an idle subscription never keeps the process
//!   alive; their completion goes back to the engine through the core's
//!   `Completion`, kept in a table under a token until JS reports it;
//! - payloads cross once: publish reads the caller's bytes in place, polls
//!   copy the payloads of a batch into one pool Buffer.
//!
//! The per-message calls are plain N-API functions (`fast.rs`).
#![warn(unsafe_op_in_unsafe_fn)]

mod convert;
mod fast;
mod interrupt;
mod layout;
mod nats;
mod pull;
mod push;
mod surface;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use ringmq_core as core;

pub use convert::*;
pub use interrupt::NativeInterrupt;
pub use nats::NativeNatsBridge;
pub use pull::NativePull;
pub use push::NativePush;
pub use surface::surface;

use surface::{fail, fail_with, options_object, stats_object};

/// A handle to the engine instance behind a JS `Broker`. A broker created
/// with a name is registered process-wide, and the addon is loaded once per
/// process, so `NativeBroker.open(name)` in any `worker_threads` worker
/// (each with its own env and JS objects) gives a handle to the same
/// engine; the engine stops when its last handle is closed or finalized.
#[napi]
pub struct NativeBroker {
    inner: core::Broker,
    /// For a named broker: the push subscriptions made through this handle.
    /// Their handlers run on this env's JS thread, so they are unsubscribed
    /// when this handle is released while the engine goes on (a close of
    /// one handle of several, or the env's exit: a worker ending).
    own: Option<Arc<OwnSubs>>,
}

/// Push subscriptions made through one handle of a named broker.
#[derive(Default)]
pub struct OwnSubs(Mutex<Vec<core::PushSubscription>>);

impl OwnSubs {
    fn add(&self, sub: core::PushSubscription) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(sub);
    }

    /// Unsubscribes them all (those unsubscribed already answer `Closed`).
    fn unsubscribe_all(&self) {
        let subs = std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()));
        for s in subs {
            let _ = s.unsubscribe();
        }
    }
}

impl NativeBroker {
    /// Wraps a handle; a named broker's gets its push subscriptions
    /// unsubscribed when this env exits.
    fn wrap(env: &Env, inner: core::Broker) -> Result<Self> {
        let own = match inner.name() {
            None => None,
            Some(_) => {
                let own = Arc::new(OwnSubs::default());
                env.add_env_cleanup_hook(own.clone(), |own| own.unsubscribe_all())?;
                Some(own)
            }
        };
        Ok(NativeBroker { inner, own })
    }

    fn topic_handle(&self, inner: core::Topic) -> NativeTopic {
        NativeTopic {
            inner,
            own: self.own.clone(),
        }
    }
}

#[napi(object)]
pub struct BrokerOpts {
    pub workers_min: Option<u32>,
    pub workers_max: Option<u32>,
    pub idle_timeout_ms: Option<f64>,
    /// A path (checked by `index.js` to be a non-empty string).
    pub data_dir: Option<String>,
    pub repair: Option<bool>,
    /// Registers the broker process-wide under this name (`Broker.open`).
    pub name: Option<String>,
}

#[napi(object)]
pub struct TopicOpts {
    pub capacity: Option<f64>,
    pub slot_size: Option<f64>,
    pub overflow: Option<String>,
    pub max_attempts: Option<u32>,
    pub backoff_base_ms: Option<f64>,
    pub backoff_max_ms: Option<f64>,
    pub ack_timeout_ms: Option<f64>,
    pub retry_capacity: Option<f64>,
    pub max_header_bytes: Option<f64>,
    pub max_delayed: Option<f64>,
    pub max_age_ms: Option<f64>,
    pub expired: Option<String>,
    pub dedupe_window_ms: Option<f64>,
    pub dedupe_max: Option<f64>,
    pub durable: Option<bool>,
    pub fsync: Option<String>,
    pub fsync_interval_ms: Option<f64>,
    pub segment_bytes: Option<f64>,
    pub max_bytes: Option<f64>,
}

#[napi]
impl NativeBroker {
    #[napi(constructor)]
    pub fn new(env: &Env, opts: BrokerOpts) -> Result<Self> {
        let mut o = core::BrokerOptions::default();
        if let Some(v) = opts.workers_min {
            o.workers_min = v as usize;
        }
        if let Some(v) = opts.workers_max {
            o.workers_max = v as usize;
        }
        if let Some(v) = opts.idle_timeout_ms {
            o.idle_timeout = ms(v);
        }
        if let Some(v) = opts.data_dir {
            o.data_dir = Some(v.into());
        }
        if let Some(v) = opts.repair {
            o.repair = v;
        }
        o.name = opts.name;
        let inner = core::Broker::new(o).map_err(|e| fail(env, e))?;
        NativeBroker::wrap(env, inner)
    }

    /// Another handle to the broker created with `name` in this process
    /// (by this thread or any worker).
    #[napi(factory)]
    pub fn open(env: &Env, name: String) -> Result<Self> {
        let inner = core::Broker::open(&name).map_err(|e| fail(env, e))?;
        NativeBroker::wrap(env, inner)
    }

    /// The name it is registered under, if any.
    #[napi(getter)]
    pub fn name(&self) -> Option<String> {
        self.inner.name().map(str::to_owned)
    }

    /// Open handles of the engine, in every thread (0 once it is closing).
    #[napi]
    pub fn handles(&self) -> u32 {
        self.inner.handles() as u32
    }

    #[napi]
    pub fn create_topic(&self, env: &Env, name: String, opts: TopicOpts) -> Result<NativeTopic> {
        let mut o = core::TopicOptions::default();
        if let Some(v) = opts.capacity {
            o.capacity = v as usize;
        }
        if let Some(v) = opts.slot_size {
            o.slot_size = v as usize;
        }
        if let Some(v) = opts.overflow {
            o.overflow = core::Overflow::parse(&v).map_err(|e| fail(env, e))?;
        }
        if let Some(v) = opts.max_attempts {
            o.max_attempts = v;
        }
        if let Some(v) = opts.backoff_base_ms {
            o.backoff_base = ms(v);
        }
        if let Some(v) = opts.backoff_max_ms {
            o.backoff_max = ms(v);
        }
        if let Some(v) = opts.ack_timeout_ms {
            o.ack_timeout = ms(v);
        }
        if let Some(v) = opts.retry_capacity {
            o.retry_capacity = v as usize;
        }
        if let Some(v) = opts.max_header_bytes {
            o.max_header_bytes = v as usize;
        }
        if let Some(v) = opts.max_delayed {
            o.max_delayed = v as usize;
        }
        if let Some(v) = opts.max_age_ms {
            o.max_age = ms(v);
        }
        if let Some(v) = opts.expired {
            o.expired = core::Expired::parse(&v).map_err(|e| fail(env, e))?;
        }
        if let Some(v) = opts.dedupe_window_ms {
            o.dedupe_window = ms(v);
        }
        if let Some(v) = opts.dedupe_max {
            o.dedupe_max = v as usize;
        }
        if let Some(v) = opts.durable {
            o.durable = v;
        }
        if let Some(v) = opts.fsync {
            o.fsync = core::Fsync::parse(&v).map_err(|e| fail(env, e))?;
        }
        if let Some(v) = opts.fsync_interval_ms {
            o.fsync_interval = ms(v);
        }
        if let Some(v) = opts.segment_bytes {
            o.segment_bytes = v as usize;
        }
        if let Some(v) = opts.max_bytes {
            o.max_bytes = v as usize;
        }
        let inner = self
            .inner
            .create_topic(&name, o)
            .map_err(|e| fail(env, e))?;
        Ok(self.topic_handle(inner))
    }

    #[napi]
    pub fn topic(&self, env: &Env, name: String) -> Result<NativeTopic> {
        let inner = self.inner.topic(&name).map_err(|e| fail(env, e))?;
        Ok(self.topic_handle(inner))
    }

    #[napi]
    pub fn topic_names(&self) -> Vec<String> {
        self.inner.topic_names()
    }

    #[napi]
    pub fn metrics_text(&self) -> String {
        self.inner.metrics_text()
    }

    #[napi(ts_return_type = "PoolStats")]
    pub fn pool_stats<'env>(&self, env: &'env Env) -> Result<Object<'env>> {
        stats_object(env, &self.inner.pool_stats())
    }

    #[napi]
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Drains and closes on a thread of its own: the drain waits for push
    /// handlers that run on the JS thread, and a pool thread could be taken
    /// by pending polls. An `interrupt` cuts the drain short when set (the
    /// broker still closes fully; the report says `timedOut`).
    #[napi(ts_return_type = "Promise<CloseReportJs>")]
    pub fn close<'env>(
        &self,
        env: &'env Env,
        drain_ms: f64,
        interrupt: Option<ClassInstance<'_, NativeInterrupt>>,
    ) -> Result<Object<'env>> {
        let (deferred, promise) = env.create_deferred()?;
        let broker = self.inner.clone();
        let own = self.own.clone();
        let drain = ms(drain_ms);
        let interrupt = interrupt::of(interrupt);
        std::thread::Builder::new()
            .name("ringmq-close".into())
            .spawn(move || {
                let report = match &interrupt {
                    None => broker.close(drain),
                    Some(i) => broker.close_interruptible(drain, i),
                };
                if let (Ok(r), Some(own)) = (&report, own) {
                    if r.handles_left > 0 {
                        // Only this handle was released: the engine goes on,
                        // without the handlers of this thread.
                        own.unsubscribe_all();
                    }
                }
                deferred.resolve(move |env| match report {
                    Ok(r) => Ok(CloseReportJs::from(r)),
                    Err(e) => Err(fail(&env, e)),
                });
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

/// A topic handle.
#[napi]
pub struct NativeTopic {
    inner: core::Topic,
    /// The push subscriptions of the broker handle it came from (named
    /// brokers only).
    own: Option<Arc<OwnSubs>>,
}

#[napi(object)]
pub struct SubOpts {
    pub concurrency: Option<u32>,
    pub ordered_by_key: Option<bool>,
    pub lossy: Option<bool>,
    pub start: Option<String>,
    pub max_in_flight_per_key: Option<u32>,
    /// Messages per second; left out for no limit.
    pub rate_limit: Option<f64>,
    pub rate_burst: Option<u32>,
    /// The id's two halves (`index.js` splits a number or a bigint).
    pub start_at_id_hi: Option<u32>,
    pub start_at_id_lo: Option<u32>,
    /// Milliseconds since the Unix epoch (checked by `index.js` to be
    /// finite and >= 0; a Date is given as its `getTime()`).
    pub start_at_time_ms: Option<f64>,
}

fn sub_options(env: &Env, opts: SubOpts) -> Result<core::SubOptions> {
    let mut o = core::SubOptions::default();
    if let Some(v) = opts.concurrency {
        o.concurrency = v as usize;
    }
    if let Some(v) = opts.ordered_by_key {
        o.ordered_by_key = v;
    }
    if let Some(v) = opts.lossy {
        o.lossy = v;
    }
    if let Some(v) = opts.start {
        o.start = core::StartAt::parse(&v).map_err(|e| fail(env, e))?;
    }
    if let Some(v) = opts.max_in_flight_per_key {
        o.max_in_flight_per_key = v;
    }
    // A number is handed over as it is: the core rejects 0, negatives and
    // non-finite rates (INVALID_ARGUMENT).
    o.rate_limit = opts.rate_limit;
    if let Some(v) = opts.rate_burst {
        o.rate_burst = v;
    }
    if let (Some(hi), Some(lo)) = (opts.start_at_id_hi, opts.start_at_id_lo) {
        o.start_at_id = Some(join(hi, lo));
    }
    if let Some(v) = opts.start_at_time_ms {
        let t = Duration::try_from_secs_f64(v / 1e3)
            .ok()
            .and_then(|d| std::time::UNIX_EPOCH.checked_add(d))
            .ok_or_else(|| {
                fail_with(
                    env,
                    core::ErrorKind::InvalidArgument,
                    &format!("startAtTime {v} is not a time since 1970 in milliseconds"),
                )
            })?;
        o.start_at_time = Some(t);
    }
    Ok(o)
}

#[napi]
impl NativeTopic {
    #[napi(getter)]
    pub fn name(&self) -> String {
        self.inner.name().to_owned()
    }

    #[napi(ts_return_type = "TopicOptionsResolved")]
    pub fn options<'env>(&self, env: &'env Env) -> Result<Object<'env>> {
        options_object(env, self.inner.options())
    }

    /// The per-message functions of this topic (see `fast.rs`).
    #[napi(
        ts_return_type = "{ publish: Function, publishMany: Function, publishPacked: Function }"
    )]
    pub fn bind<'env>(&self, env: &'env Env) -> Result<Object<'env>> {
        fast::bind_topic(
            env,
            fast::TopicHandle {
                topic: self.inner.clone(),
                try_once: match self.inner.options().overflow {
                    core::Overflow::Block => Some(Duration::ZERO),
                    _ => None,
                },
            },
        )
    }

    /// As `publish`, with a 64-bit key in two halves.
    #[napi]
    pub fn publish_split(
        &self,
        env: &Env,
        data: BufferSlice,
        key_hi: u32,
        key_lo: u32,
    ) -> Result<f64> {
        self.inner
            .publish_with(&data, join(key_hi, key_lo), Some(Duration::ZERO))
            .map(|id| id as f64)
            .map_err(|e| fail(env, e))
    }

    /// As `publish`, with what a message may carry besides its payload:
    /// `headers` as names and values (two arrays of the same length),
    /// `msg_id` for de-duplication, and `delay_ms` and `ttl_ms` (negative:
    /// none). Never waits for room. The id (the first publish's id for a
    /// duplicate msg_id).
    #[allow(clippy::too_many_arguments)]
    #[napi]
    pub fn publish_opts(
        &self,
        env: &Env,
        data: BufferSlice,
        key_hi: u32,
        key_lo: u32,
        names: Vec<String>,
        values: Array,
        msg_id: Option<BufferSlice>,
        delay_ms: f64,
        ttl_ms: f64,
    ) -> Result<f64> {
        let values = collect_slices(env, &values)?;
        if values.len() != names.len() {
            return Err(fail_with(
                env,
                core::ErrorKind::InvalidArgument,
                "headers: as many values as names are needed",
            ));
        }
        let headers: Vec<(&str, &[u8])> = names
            .iter()
            .zip(values.iter())
            .map(|(n, v)| (n.as_str(), &v[..]))
            .collect();
        let opts = core::PublishOptions {
            key: join(key_hi, key_lo),
            timeout: Some(Duration::ZERO),
            headers: &headers,
            msg_id: msg_id.as_deref(),
            delay: timeout(delay_ms),
            ttl: timeout(ttl_ms),
            ..core::PublishOptions::default()
        };
        self.inner
            .publish_opts(&data, &opts)
            .map(|id| id as f64)
            .map_err(|e| fail(env, e))
    }

    /// Waits on the libuv pool for room, up to `timeout_ms` (negative: for
    /// ever), then publishes `items` (copied first) in one claim; resolves
    /// to the first id, or rejects with the engine's error. With an
    /// `interrupt`, rejects with `INTERRUPTED` once it is set during the
    /// wait, having published nothing (a publish that found room first
    /// resolves).
    #[napi(ts_return_type = "Promise<number>")]
    pub fn publish_wait(
        &self,
        env: &Env,
        items: Array,
        key_hi: u32,
        key_lo: u32,
        timeout_ms: f64,
        interrupt: Option<ClassInstance<'_, NativeInterrupt>>,
    ) -> Result<AsyncTask<PublishTask>> {
        let slices = collect_slices(env, &items)?;
        let owned: Vec<Vec<u8>> = slices.iter().map(|s| s.to_vec()).collect();
        Ok(AsyncTask::new(PublishTask {
            topic: self.inner.clone(),
            items: owned,
            key: join(key_hi, key_lo),
            timeout: timeout(timeout_ms),
            interrupt: interrupt::of(interrupt),
        }))
    }

    #[napi]
    pub fn subscribe_pull(&self, env: &Env, group: String, opts: SubOpts) -> Result<NativePull> {
        let sub = self
            .inner
            .subscribe_pull(&group, sub_options(env, opts)?)
            .map_err(|e| fail(env, e))?;
        Ok(NativePull::new(sub))
    }

    #[napi]
    pub fn pull_subscription(&self, env: &Env, group: String) -> Result<NativePull> {
        let sub = self
            .inner
            .pull_subscription(&group)
            .map_err(|e| fail(env, e))?;
        Ok(NativePull::new(sub))
    }

    #[napi(
        ts_args_type = "group: string, opts: SubOpts, dispatch: (meta: Float64Array, data: Buffer, count: number) => void"
    )]
    pub fn subscribe(
        &self,
        env: &Env,
        group: String,
        opts: SubOpts,
        dispatch: Function<'_, push::DispatchArgs, ()>,
    ) -> Result<NativePush> {
        let sub = push::subscribe(env, &self.inner, &group, sub_options(env, opts)?, dispatch)?;
        if let Some(own) = &self.own {
            own.add(sub.core_sub());
        }
        Ok(sub)
    }

    #[napi]
    pub fn dead_letter_topic(&self) -> Option<NativeTopic> {
        self.inner.dead_letter_topic().map(|inner| NativeTopic {
            inner,
            own: self.own.clone(),
        })
    }

    #[napi(ts_return_type = "TopicStats")]
    pub fn stats<'env>(&self, env: &'env Env) -> Result<Object<'env>> {
        stats_object(env, &self.inner.stats())
    }

    /// `[{ group, stats }]` for every subscription.
    #[napi(ts_return_type = "Array<{ group: string, stats: SubStats }>")]
    pub fn subscription_stats<'env>(&self, env: &'env Env) -> Result<Array<'env>> {
        let all = self.inner.subscription_stats();
        let mut out = env.create_array(all.len() as u32)?;
        for (i, (group, s)) in all.into_iter().enumerate() {
            let mut entry = Object::new(env)?;
            entry.set_named_property("group", group)?;
            entry.set_named_property("stats", stats_object(env, &s)?)?;
            out.set(i as u32, entry)?;
        }
        Ok(out)
    }
}

fn collect_slices<'a>(env: &Env, items: &'a Array) -> Result<Vec<BufferSlice<'a>>> {
    let n = items.len();
    let mut slices = Vec::with_capacity(n as usize);
    for i in 0..n {
        match items.get::<BufferSlice>(i)? {
            Some(s) => slices.push(s),
            None => {
                return Err(fail_with(
                    env,
                    core::ErrorKind::InvalidArgument,
                    &format!("item {i} is not a Buffer or Uint8Array"),
                ))
            }
        }
    }
    Ok(slices)
}

/// A publish that may wait for room, off the JS thread.
pub struct PublishTask {
    topic: core::Topic,
    items: Vec<Vec<u8>>,
    key: u64,
    timeout: Option<Duration>,
    interrupt: Option<core::Interrupt>,
}

impl Task for PublishTask {
    type Output = std::result::Result<u64, core::Error>;
    type JsValue = f64;

    fn compute(&mut self) -> Result<Self::Output> {
        let (topic, key, timeout) = (&self.topic, self.key, self.timeout);
        Ok(match (&self.interrupt, self.items.len()) {
            (None, 1) => topic.publish_with(&self.items[0], key, timeout),
            (None, _) => topic
                .publish_batch(&self.items, key, timeout)
                .map(|r| r.start),
            (Some(i), 1) => topic.publish_interruptible(&self.items[0], key, timeout, i),
            (Some(i), _) => topic
                .publish_batch_interruptible(&self.items, key, timeout, i)
                .map(|r| r.start),
        })
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> Result<Self::JsValue> {
        output.map(|id| id as f64).map_err(|e| fail(&env, e))
    }
}

/// The crate version, as in Cargo.toml.
#[napi]
pub fn version() -> String {
    core::VERSION.to_owned()
}
