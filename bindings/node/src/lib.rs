//! The native half of the `ringmq` npm package.
//!
//! This layer only translates: the semantics live in `ringmq-core`, and the
//! JavaScript half (`index.js`) checks arguments, builds `Message` objects and
//! turns the `"CODE: message"` reasons of native errors into `Error`s with a
//! `code` property.
//!
//! Three rules keep the event loop healthy:
//! - nothing here waits on the JS thread: publishes try once, polls take what
//!   is ready, and every wait (`wait`, `publishWait`) is an `AsyncTask` on the
//!   libuv pool; `close` and push `unsubscribe` run on a thread of their own
//!   (they may wait for handlers that need the JS thread);
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
mod pull;
mod push;

use std::time::Duration;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use ringmq_core as core;

pub use convert::*;
pub use pull::NativePull;
pub use push::NativePush;

/// The engine instance behind a JS `Broker`.
#[napi]
pub struct NativeBroker {
    inner: core::Broker,
}

#[napi(object)]
pub struct BrokerOpts {
    pub workers_min: Option<u32>,
    pub workers_max: Option<u32>,
    pub idle_timeout_ms: Option<f64>,
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
}

#[napi]
impl NativeBroker {
    #[napi(constructor)]
    pub fn new(opts: BrokerOpts) -> Result<Self> {
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
        let inner = core::Broker::new(o).map_err(fail)?;
        Ok(NativeBroker { inner })
    }

    #[napi]
    pub fn create_topic(&self, name: String, opts: TopicOpts) -> Result<NativeTopic> {
        let mut o = core::TopicOptions::default();
        if let Some(v) = opts.capacity {
            o.capacity = v as usize;
        }
        if let Some(v) = opts.slot_size {
            o.slot_size = v as usize;
        }
        if let Some(v) = opts.overflow {
            o.overflow = core::Overflow::parse(&v).map_err(fail)?;
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
        let inner = self.inner.create_topic(&name, o).map_err(fail)?;
        Ok(NativeTopic { inner })
    }

    #[napi]
    pub fn topic(&self, name: String) -> Result<NativeTopic> {
        let inner = self.inner.topic(&name).map_err(fail)?;
        Ok(NativeTopic { inner })
    }

    #[napi]
    pub fn topic_names(&self) -> Vec<String> {
        self.inner.topic_names()
    }

    #[napi]
    pub fn metrics_text(&self) -> String {
        self.inner.metrics_text()
    }

    #[napi]
    pub fn pool_stats(&self) -> PoolStatsJs {
        self.inner.pool_stats().into()
    }

    #[napi]
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Drains and closes on a thread of its own: the drain waits for push
    /// handlers that run on the JS thread, and a pool thread could be taken
    /// by pending polls.
    #[napi(ts_return_type = "Promise<CloseReportJs>")]
    pub fn close<'env>(&self, env: &'env Env, drain_ms: f64) -> Result<Object<'env>> {
        let (deferred, promise) = env.create_deferred()?;
        let broker = self.inner.clone();
        let drain = ms(drain_ms);
        std::thread::Builder::new()
            .name("ringmq-close".into())
            .spawn(move || {
                let report = broker.close(drain);
                deferred.resolve(move |_env| match report {
                    Ok(r) => Ok(CloseReportJs::from(r)),
                    Err(e) => Err(fail(e)),
                });
            })
            .map_err(|e| Error::from_reason(format!("INTERNAL: cannot start a thread: {e}")))?;
        Ok(promise)
    }
}

/// A topic handle.
#[napi]
pub struct NativeTopic {
    inner: core::Topic,
}

#[napi(object)]
pub struct SubOpts {
    pub concurrency: Option<u32>,
    pub ordered_by_key: Option<bool>,
    pub lossy: Option<bool>,
    pub start: Option<String>,
}

fn sub_options(opts: SubOpts) -> Result<core::SubOptions> {
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
    match opts.start.as_deref() {
        None | Some("latest") => o.start = core::StartAt::Latest,
        Some("earliest") => o.start = core::StartAt::Earliest,
        Some(other) => {
            return Err(Error::from_reason(format!(
                "INVALID_ARGUMENT: start {other:?} is not one of \"latest\", \"earliest\""
            )))
        }
    }
    Ok(o)
}

#[napi]
impl NativeTopic {
    #[napi(getter)]
    pub fn name(&self) -> String {
        self.inner.name().to_owned()
    }

    #[napi]
    pub fn options(&self) -> TopicOptionsJs {
        let o = self.inner.options();
        TopicOptionsJs {
            capacity: o.capacity as f64,
            slot_size: o.slot_size as f64,
            overflow: o.overflow.as_str().to_owned(),
            max_attempts: o.max_attempts,
            backoff_base_ms: o.backoff_base.as_secs_f64() * 1e3,
            backoff_max_ms: o.backoff_max.as_secs_f64() * 1e3,
            ack_timeout_ms: o.ack_timeout.as_secs_f64() * 1e3,
        }
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
    pub fn publish_split(&self, data: BufferSlice, key_hi: u32, key_lo: u32) -> Result<f64> {
        self.inner
            .publish_with(&data, join(key_hi, key_lo), Some(Duration::ZERO))
            .map(|id| id as f64)
            .map_err(fail)
    }

    /// Waits on the libuv pool for room, up to `timeout_ms` (negative: for
    /// ever), then publishes `items` (copied first) in one claim; resolves
    /// to the first id, or to a `"CODE: message"` string on failure.
    #[napi(ts_return_type = "Promise<number | string>")]
    pub fn publish_wait(
        &self,
        items: Array,
        key_hi: u32,
        key_lo: u32,
        timeout_ms: f64,
    ) -> Result<AsyncTask<PublishTask>> {
        let slices = collect_slices(&items)?;
        let owned: Vec<Vec<u8>> = slices.iter().map(|s| s.to_vec()).collect();
        Ok(AsyncTask::new(PublishTask {
            topic: self.inner.clone(),
            items: owned,
            key: join(key_hi, key_lo),
            timeout: timeout(timeout_ms),
        }))
    }

    #[napi]
    pub fn subscribe_pull(&self, group: String, opts: SubOpts) -> Result<NativePull> {
        let sub = self
            .inner
            .subscribe_pull(&group, sub_options(opts)?)
            .map_err(fail)?;
        Ok(NativePull::new(sub))
    }

    #[napi]
    pub fn pull_subscription(&self, group: String) -> Result<NativePull> {
        let sub = self.inner.pull_subscription(&group).map_err(fail)?;
        Ok(NativePull::new(sub))
    }

    #[napi(
        ts_args_type = "group: string, opts: SubOpts, dispatch: (meta: Float64Array, data: Buffer, count: number) => void"
    )]
    pub fn subscribe(
        &self,
        group: String,
        opts: SubOpts,
        dispatch: Function<'_, push::DispatchArgs, ()>,
    ) -> Result<NativePush> {
        push::subscribe(&self.inner, &group, sub_options(opts)?, dispatch)
    }

    #[napi]
    pub fn dead_letter_topic(&self) -> Option<NativeTopic> {
        self.inner
            .dead_letter_topic()
            .map(|inner| NativeTopic { inner })
    }

    #[napi]
    pub fn stats(&self) -> TopicStatsJs {
        self.inner.stats().into()
    }

    #[napi]
    pub fn subscription_stats(&self) -> Vec<NamedSubStats> {
        self.inner
            .subscription_stats()
            .into_iter()
            .map(|(group, s)| NamedSubStats {
                group,
                stats: s.into(),
            })
            .collect()
    }
}

fn collect_slices<'a>(items: &'a Array) -> Result<Vec<BufferSlice<'a>>> {
    let n = items.len();
    let mut slices = Vec::with_capacity(n as usize);
    for i in 0..n {
        match items.get::<BufferSlice>(i)? {
            Some(s) => slices.push(s),
            None => {
                return Err(Error::from_reason(format!(
                    "INVALID_ARGUMENT: item {i} is not a Buffer or Uint8Array"
                )))
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
}

impl Task for PublishTask {
    type Output = std::result::Result<u64, core::Error>;
    type JsValue = Either<f64, String>;

    fn compute(&mut self) -> Result<Self::Output> {
        Ok(if self.items.len() == 1 {
            self.topic
                .publish_with(&self.items[0], self.key, self.timeout)
        } else {
            self.topic
                .publish_batch(&self.items, self.key, self.timeout)
                .map(|r| r.start)
        })
    }

    fn resolve(&mut self, _env: Env, output: Self::Output) -> Result<Self::JsValue> {
        Ok(match output {
            Ok(id) => Either::A(id as f64),
            Err(e) => Either::B(coded(&e)),
        })
    }
}

/// The crate version, as in Cargo.toml.
#[napi]
pub fn version() -> String {
    core::VERSION.to_owned()
}
