//! A bridge between RingMQ and NATS JetStream.
//!
//! [`Bridge::start`] reads a [`BridgeConfig`] and, for each export, reads a
//! RingMQ topic with a pull subscription and publishes every message to a
//! JetStream subject, acking it in RingMQ only once JetStream acknowledged
//! it. Each message carries `Nats-Msg-Id: <bridge id>/<topic>/<message id>`,
//! so a message published again after a crash or a reconnect is dropped by
//! JetStream as a duplicate. For each import, it reads a JetStream stream
//! with a durable pull consumer and publishes every message into a RingMQ
//! topic, and settles it in JetStream as the topic's group settles it here
//! (ack, nak with a delay, in progress, term): JetStream owns the retries.
//! The bridge runs on its own small tokio runtime: callers need no async
//! code. Its stats are also in the broker's `metrics_text`. See
//! docs/NATS.md.
//!
//! ```no_run
//! use ringmq_core::{Broker, BrokerOptions, TopicOptions};
//! use ringmq_nats::{Bridge, BridgeConfig, ExportConfig};
//! use std::time::Duration;
//!
//! let mq = Broker::new(BrokerOptions::default()).unwrap();
//! mq.create_topic("orders", TopicOptions::default()).unwrap();
//! let mut config = BridgeConfig::new("edge-1", vec!["nats://127.0.0.1:4222".into()]);
//! config.exports.push(ExportConfig {
//!     topic: "orders".into(),
//!     group: "nats".into(),
//!     subject: "orders.created".into(),
//!     stream: Some("ORDERS".into()),
//!     max_in_flight: 256,
//! });
//! let bridge = Bridge::start(&mq, config).unwrap();
//! // ... publish into "orders" ...
//! let stats = bridge.stop(Duration::from_secs(5)).unwrap();
//! println!("exported {}", stats.exported);
//! ```

#![warn(missing_docs)]

mod config;
mod export;
mod import;

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ringmq_core::{Broker, ErrorKind, PullSubscription, Relay, Settled, StartAt, SubOptions};
use tokio::sync::watch;

pub use config::{
    BridgeConfig, ExportConfig, ImportConfig, DEFAULT_BATCH, DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_RECONNECT_MAX, DEFAULT_RECONNECT_MIN,
};

/// Why the bridge could not do something.
#[derive(Debug)]
pub enum BridgeError {
    /// The configuration is wrong (the text says which field and why);
    /// nothing was started or changed.
    Config(String),
    /// RingMQ refused something (a topic missing, a subscription of the
    /// wrong kind, the broker closed).
    RingMq(ringmq_core::Error),
    /// NATS refused something or could not be reached.
    Nats(String),
    /// The bridge's runtime could not be made or was stopped already.
    Runtime(String),
}

impl fmt::Display for BridgeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BridgeError::Config(m) => write!(f, "bad bridge configuration: {m}"),
            BridgeError::RingMq(e) => write!(f, "RingMQ: {e}"),
            BridgeError::Nats(m) => write!(f, "NATS: {m}"),
            BridgeError::Runtime(m) => write!(f, "bridge runtime: {m}"),
        }
    }
}

impl std::error::Error for BridgeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BridgeError::RingMq(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ringmq_core::Error> for BridgeError {
    fn from(e: ringmq_core::Error) -> Self {
        BridgeError::RingMq(e)
    }
}

/// A snapshot of what the bridge did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BridgeStats {
    /// Messages JetStream acknowledged (duplicates included) and the bridge
    /// then acked in RingMQ.
    pub exported: u64,
    /// JetStream deliveries published into RingMQ (a message JetStream
    /// delivers again after a nack counts again).
    pub imported: u64,
    /// Messages taken from RingMQ and not yet settled (published and
    /// waiting for JetStream's ack, or waiting to be published again), plus
    /// imported messages not yet settled in RingMQ (unacked in JetStream).
    pub in_flight: u64,
    /// Times the connection to NATS was established again after a loss.
    pub reconnects: u64,
    /// Exported messages JetStream refused for good, sent to RingMQ's
    /// dead-letter topic with JetStream's error as the reason; and imported
    /// messages terminated in JetStream (RingMQ refused them, or its group
    /// dead-lettered or dropped them).
    pub dead_lettered: u64,
    /// The last error seen (NATS or RingMQ), if any.
    pub last_error: Option<String>,
    /// Connected to NATS now.
    pub connected: bool,
}

/// Counters shared by the bridge's tasks.
#[derive(Default)]
pub(crate) struct Shared {
    pub(crate) exported: AtomicU64,
    pub(crate) imported: AtomicU64,
    pub(crate) in_flight: AtomicU64,
    pub(crate) reconnects: AtomicU64,
    pub(crate) dead_lettered: AtomicU64,
    pub(crate) connected: AtomicBool,
    /// Ever connected (the first connection is not a reconnect).
    pub(crate) was_connected: AtomicBool,
    pub(crate) last_error: Mutex<Option<String>>,
}

impl Shared {
    pub(crate) fn error(&self, e: impl Into<String>) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.into());
    }

    fn snapshot(&self) -> BridgeStats {
        BridgeStats {
            exported: self.exported.load(Relaxed),
            imported: self.imported.load(Relaxed),
            in_flight: self.in_flight.load(Relaxed),
            reconnects: self.reconnects.load(Relaxed),
            dead_lettered: self.dead_lettered.load(Relaxed),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            connected: self.connected.load(Relaxed),
        }
    }
}

/// What the bridge's tasks are told to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Run,
    /// Take nothing new; wait for acks of what is in flight until then.
    Drain(Instant),
    /// Stop at once; unsettled messages stay in RingMQ.
    Now,
}

/// A running bridge. Stop it with [`stop`](Self::stop); dropping it stops
/// without draining.
pub struct Bridge {
    runtime: Option<tokio::runtime::Runtime>,
    shared: Arc<Shared>,
    mode: watch::Sender<Mode>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    client: Option<async_nats::Client>,
    broker: Broker,
    /// The bridge's metrics source in the broker's `metrics_text`.
    metrics_name: String,
}

impl fmt::Debug for Bridge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bridge")
            .field("stats", &self.stats())
            .finish()
    }
}

impl Bridge {
    /// Checks `config`, finds or creates the RingMQ subscriptions, connects
    /// to NATS (in the background: a server not reachable yet is retried
    /// with backoff, and nothing is taken from RingMQ meanwhile) and starts
    /// the exports. A bad configuration, a missing topic or an export group
    /// that is a push subscription changes nothing and is the error.
    ///
    /// A new export group starts at the oldest message still in its topic
    /// (`StartAt::Earliest`); an existing one (a durable topic's group after
    /// a restart, or one left by an earlier bridge) resumes where it was.
    ///
    /// Each import's topic must exist too; its `group` is made sure of (a
    /// pull subscription created if missing, starting at the oldest message),
    /// so imported messages are kept for that group from the first one, and
    /// its settles are relayed to JetStream (`Topic::relay_settles`): the
    /// group no longer retries by itself, also after the bridge stops. The
    /// group may also be an existing push subscription: its handlers then
    /// settle the imported messages (an `ordered_by_key` one retries a
    /// failed message in place, keeping JetStream's copy in progress, until
    /// the topic's `max_attempts`, then dead-letters it: `Term`).
    ///
    /// The bridge's stats are added to `broker.metrics_text()` (source
    /// `ringmq_nats_<id>`, label `bridge="<id>"`) until it stops.
    pub fn start(broker: &Broker, config: BridgeConfig) -> Result<Bridge, BridgeError> {
        config.validate()?;
        // Every topic first, so that a missing one changes nothing.
        let topic = |what: &str, name: &str| {
            broker.topic(name).map_err(|err| {
                if err.kind() == ErrorKind::NotFound {
                    BridgeError::Config(format!("{what} topic {name:?} does not exist"))
                } else {
                    BridgeError::RingMq(err)
                }
            })
        };
        let topics = config
            .exports
            .iter()
            .map(|e| topic("export", &e.topic))
            .collect::<Result<Vec<_>, _>>()?;
        let import_topics = config
            .imports
            .iter()
            .map(|m| topic("import", &m.topic))
            .collect::<Result<Vec<_>, _>>()?;
        let mut subs: Vec<PullSubscription> = Vec::new();
        let mut created: Vec<PullSubscription> = Vec::new();
        let undo = |created: &[PullSubscription]| {
            for s in created {
                let _ = s.unsubscribe();
            }
        };
        // An export reads its group: a pull subscription, found or created.
        // An import's group only settles what the import publishes: found
        // (a pull subscription, or a push one whose handlers then settle the
        // imported messages) or created as a pull subscription.
        let groups = config
            .exports
            .iter()
            .map(|e| (&e.group, true))
            .zip(&topics)
            .chain(
                config
                    .imports
                    .iter()
                    .map(|m| (&m.group, false))
                    .zip(&import_topics),
            );
        for ((group, export), t) in groups {
            let found = match t.pull_subscription(group) {
                Ok(s) => Ok(Some(s)),
                Err(err) if err.kind() == ErrorKind::NotFound => {
                    let opts = SubOptions {
                        start: StartAt::Earliest,
                        ..SubOptions::default()
                    };
                    t.subscribe_pull(group, opts)
                        .inspect(|s| created.push(s.clone()))
                        .map(Some)
                }
                // A push subscription (the only other kind found by name).
                Err(_) if !export && t.subscription_stats().iter().any(|(g, _)| g == group) => {
                    Ok(None)
                }
                Err(err) => Err(err),
            };
            match found {
                Ok(Some(s)) if export => subs.push(s),
                Ok(_) => {}
                Err(err) => {
                    undo(&created);
                    return Err(err.into());
                }
            }
        }

        let runtime = match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .max_blocking_threads(config.exports.len() + config.imports.len() + 2)
            .thread_name("ringmq-nats")
            .enable_all()
            .build()
        {
            Ok(r) => r,
            Err(e) => {
                undo(&created);
                return Err(BridgeError::Runtime(e.to_string()));
            }
        };
        let shared = Arc::new(Shared::default());
        let (conn_tx, conn_rx) = watch::channel(false);
        let client = match runtime.block_on(connect(&config, shared.clone(), conn_tx)) {
            Ok(c) => c,
            Err(e) => {
                undo(&created);
                return Err(e);
            }
        };
        let (mode_tx, mode_rx) = watch::channel(Mode::Run);
        // The JetStream context spawns its acker on the runtime.
        let js = {
            let _in_runtime = runtime.enter();
            async_nats::jetstream::new(client.clone())
        };
        let mut tasks = Vec::new();
        for (e, sub) in config.exports.iter().zip(subs) {
            let task = export::Export {
                bridge_id: config.id.clone(),
                cfg: e.clone(),
                sub,
                js: js.clone(),
                shared: shared.clone(),
                mode: mode_rx.clone(),
                connected: conn_rx.clone(),
                reconnect_min: config.reconnect_min,
                reconnect_max: config.reconnect_max,
            };
            tasks.push(runtime.spawn(task.run()));
        }
        let mut relayed: Vec<(ringmq_core::Topic, String)> = Vec::new();
        for (m, topic) in config.imports.iter().zip(import_topics) {
            let (ev_tx, events) = tokio::sync::mpsc::unbounded_channel();
            // Runs on the settling thread: only a send on a channel.
            let relay: Relay = Arc::new(move |s: &Settled| {
                let _ = ev_tx.send((s.id, s.outcome.clone()));
            });
            if let Err(e) = topic.relay_settles(&m.group, relay) {
                for (t, group) in &relayed {
                    t.stop_relaying(group);
                }
                undo(&created);
                for t in &tasks {
                    t.abort();
                }
                return Err(e.into());
            }
            relayed.push((topic.clone(), m.group.clone()));
            let task = import::Import {
                cfg: m.clone(),
                topic,
                js: js.clone(),
                shared: shared.clone(),
                mode: mode_rx.clone(),
                connected: conn_rx.clone(),
                reconnect_min: config.reconnect_min,
                reconnect_max: config.reconnect_max,
                events,
            };
            tasks.push(runtime.spawn(task.run()));
        }
        let metrics_name = metrics_source_name(&config.id);
        broker.add_metrics_source(&metrics_name, metrics_source(&config.id, shared.clone()));
        Ok(Bridge {
            runtime: Some(runtime),
            shared,
            mode: mode_tx,
            tasks,
            client: Some(client),
            broker: broker.clone(),
            metrics_name,
        })
    }

    /// What the bridge did so far.
    pub fn stats(&self) -> BridgeStats {
        self.shared.snapshot()
    }

    /// Stops: takes nothing new from RingMQ, waits up to `drain` for
    /// JetStream's acks of the messages in flight and acks those in RingMQ.
    /// Whatever is still unacknowledged stays in RingMQ (redelivered to the
    /// group after the topic's `ack_timeout`, or on the next start of a
    /// durable topic's broker). Returns the final stats.
    pub fn stop(mut self, drain: Duration) -> Result<BridgeStats, BridgeError> {
        self.shutdown(drain);
        Ok(self.shared.snapshot())
    }

    fn shutdown(&mut self, drain: Duration) {
        let Some(runtime) = self.runtime.take() else {
            return;
        };
        self.broker.remove_metrics_source(&self.metrics_name);
        let deadline = Instant::now() + drain;
        let _ = self.mode.send(if drain.is_zero() {
            Mode::Now
        } else {
            Mode::Drain(deadline)
        });
        let tasks = std::mem::take(&mut self.tasks);
        runtime.block_on(async {
            for t in tasks {
                // A task stops by itself by the deadline; the margin covers a
                // poll in progress.
                let left =
                    deadline.saturating_duration_since(Instant::now()) + Duration::from_secs(1);
                let abort = t.abort_handle();
                if tokio::time::timeout(left, t).await.is_err() {
                    abort.abort();
                }
            }
            if let Some(c) = self.client.take() {
                let _ = tokio::time::timeout(Duration::from_secs(1), c.drain()).await;
            }
        });
        self.shared.connected.store(false, Relaxed);
        runtime.shutdown_timeout(Duration::from_secs(1));
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.shutdown(Duration::ZERO);
    }
}

/// The name of a bridge's metrics source: `ringmq_nats_` and its id with
/// every character other than a letter, a digit or `_` made `_`.
fn metrics_source_name(id: &str) -> String {
    let clean: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("ringmq_nats_{clean}")
}

/// Appends the bridge's stats to the broker's Prometheus text, labelled
/// with `bridge="<id>"`.
fn metrics_source(id: &str, shared: Arc<Shared>) -> ringmq_core::MetricsSource {
    let label = id.replace('\\', "\\\\").replace('"', "\\\"");
    Arc::new(move |out: &mut String| {
        use std::fmt::Write;
        let s = shared.snapshot();
        let families: [(&str, &str, &str, u64); 6] = [
            (
                "ringmq_nats_exported_total",
                "counter",
                "Messages exported to JetStream and acked in RingMQ.",
                s.exported,
            ),
            (
                "ringmq_nats_imported_total",
                "counter",
                "Messages imported from JetStream into RingMQ.",
                s.imported,
            ),
            (
                "ringmq_nats_in_flight",
                "gauge",
                "Messages taken from one side and not yet settled on the other.",
                s.in_flight,
            ),
            (
                "ringmq_nats_reconnects_total",
                "counter",
                "Times the connection to NATS was established again after a loss.",
                s.reconnects,
            ),
            (
                "ringmq_nats_dead_lettered_total",
                "counter",
                "Messages dead-lettered in RingMQ or terminated in JetStream.",
                s.dead_lettered,
            ),
            (
                "ringmq_nats_connected",
                "gauge",
                "1 while connected to NATS, else 0.",
                u64::from(s.connected),
            ),
        ];
        for (name, kind, help, v) in families {
            let sample = format!("{name}{{bridge=\"{label}\"}} {v}\n");
            // Another bridge of this broker wrote the family already: its
            // samples must stay in one group.
            let header = format!("# TYPE {name} {kind}\n");
            if let Some(at) = out.find(&header) {
                let mut end = at + header.len();
                while out[end..].starts_with(&format!("{name}{{")) {
                    end += out[end..].find('\n').map_or(out.len() - end, |n| n + 1);
                }
                out.insert_str(end, &sample);
                continue;
            }
            let _ = writeln!(out, "# HELP {name} {help}");
            out.push_str(&header);
            out.push_str(&sample);
        }
    })
}

/// Backoff delay of attempt `n` (0-based): `min` doubled `n` times, at most
/// `max`.
pub(crate) fn backoff(min: Duration, max: Duration, n: usize) -> Duration {
    let factor = 1u32 << n.min(20);
    min.saturating_mul(factor).min(max)
}

/// Connects in the background (retrying with the configured backoff),
/// tracking connection state in `shared` and `conn`.
async fn connect(
    config: &BridgeConfig,
    shared: Arc<Shared>,
    conn: watch::Sender<bool>,
) -> Result<async_nats::Client, BridgeError> {
    let (min, max) = (config.reconnect_min, config.reconnect_max);
    let conn = Arc::new(conn);
    let events = shared.clone();
    let opts = async_nats::ConnectOptions::new()
        .name(format!("ringmq-nats {}", config.id))
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connection_timeout(Duration::from_secs(2))
        .reconnect_delay_callback(move |attempts| {
            if attempts == 0 {
                Duration::ZERO
            } else {
                backoff(min, max, attempts.saturating_sub(1))
            }
        })
        .event_callback(move |event| {
            let shared = events.clone();
            let conn = conn.clone();
            async move {
                match event {
                    async_nats::Event::Connected => {
                        if shared.was_connected.swap(true, Relaxed) {
                            shared.reconnects.fetch_add(1, Relaxed);
                        }
                        shared.connected.store(true, Relaxed);
                        let _ = conn.send(true);
                    }
                    async_nats::Event::Disconnected | async_nats::Event::Closed => {
                        shared.connected.store(false, Relaxed);
                        shared.error(format!("NATS: {event}"));
                        let _ = conn.send(false);
                    }
                    async_nats::Event::ServerError(e) => shared.error(format!("NATS server: {e}")),
                    async_nats::Event::ClientError(e) => shared.error(format!("NATS client: {e}")),
                    _ => {}
                }
            }
        });
    let servers: Vec<async_nats::ServerAddr> = config
        .servers
        .iter()
        .map(|s| {
            s.parse()
                .map_err(|e| BridgeError::Config(format!("server {s:?}: {e}")))
        })
        .collect::<Result<_, _>>()?;
    opts.connect(servers)
        .await
        .map_err(|e| BridgeError::Nats(e.to_string()))
}
