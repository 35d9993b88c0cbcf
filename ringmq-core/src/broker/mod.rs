//! The broker: the registry of topics, the worker pool, and close.
//!
//! Handles: `Broker::new` returns one handle to a new engine; a named
//! broker's `Broker::open` returns another (see `registry`). Clones of a
//! handle are the same handle. `close` (or dropping the last clone)
//! releases its handle; the engine drains and stops when its last handle is
//! released, and only then (an engine has one handle unless it is named and
//! opened, so an unnamed broker closes as it always did).

mod close;

pub use close::CloseReport;
use close::CloseState;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use std::path::PathBuf;

use crate::durable::conf;
use crate::durable::dir::DataDir;
use crate::durable::log::Log;
use crate::error::{Error, ErrorKind, Result};
use crate::fork::Origin;
use crate::handler::HandlerFailure;
use crate::interrupt::Interrupt;
use crate::options::{validate_name, BrokerOptions, TopicOptions};
use crate::pool::Pool;
use crate::registry::{self, Handle};
use crate::stats::PoolStats;
use crate::sync::{AtomicBool, AtomicUsize, Condvar, Mutex, Ordering::*};
use crate::topic::{Topic, TopicCore};

/// Appends Prometheus text to `metrics_text` (see
/// [`Broker::add_metrics_source`]).
pub type MetricsSource = Arc<dyn Fn(&mut String) + Send + Sync>;

pub(crate) struct BrokerCore {
    /// The name it is registered under process-wide (`BrokerOptions::name`).
    name: Option<String>,
    /// Open handles (see the module's docs); 0 once the last is released,
    /// after which no handle is handed out again.
    handles: AtomicUsize,
    topics: Mutex<BTreeMap<String, Arc<TopicCore>>>,
    /// The data directory (locked while the broker is open), if any.
    data_dir: Mutex<Option<DataDir>>,
    /// Cut damaged durable logs on recovery (`BrokerOptions::repair`).
    repair: bool,
    /// Extra Prometheus text appended by `metrics_text` (bridges' stats).
    metrics_sources: Mutex<Vec<(String, MetricsSource)>>,
    /// Durable topics recovered from the data directory that no
    /// `create_topic` has asked for yet (one that does, with the same
    /// options, gets the recovered topic).
    recovered: Mutex<BTreeMap<String, String>>,
    pub pool: Arc<Pool>,
    closed: AtomicBool,
    /// The process the broker was created in (see `fork`).
    origin: Origin,
    close_state: Mutex<CloseState>,
    /// Signalled when a close finishes.
    close_done: Condvar,
}

/// A handle to one engine instance. Cheap to clone (clones are the same
/// handle), thread-safe. A broker created with a name is shared by every
/// thread of the process: [`Broker::open`] returns another handle to it.
/// The engine stops when its last handle is closed (with that close's
/// drain) or dropped (without a drain).
#[derive(Clone)]
pub struct Broker {
    core: Arc<BrokerCore>,
    handle: Arc<Handle>,
}

impl Broker {
    /// Creates an engine and returns its first handle. With
    /// `BrokerOptions::name`, the broker is registered process-wide under
    /// that name until it stops (a name in use answers `Exists`, changing
    /// nothing).
    pub fn new(opts: BrokerOptions) -> Result<Broker> {
        opts.validate()?;
        let reservation = match &opts.name {
            Some(name) => Some(registry::reserve(name)?),
            None => None,
        };
        let name = opts.name.clone();
        let data_dir = match &opts.data_dir {
            Some(p) => Some(DataDir::open(p)?),
            None => None,
        };
        let repair = opts.repair;
        let core = Arc::new(BrokerCore {
            name,
            handles: AtomicUsize::new(1),
            topics: Mutex::new(BTreeMap::new()),
            data_dir: Mutex::new(data_dir),
            repair,
            recovered: Mutex::new(BTreeMap::new()),
            metrics_sources: Mutex::new(Vec::new()),
            pool: Pool::new(opts),
            closed: AtomicBool::new(false),
            origin: Origin::here(),
            close_state: Mutex::new(CloseState::Open),
            close_done: Condvar::new(),
        });
        let broker = Broker::handle(core);
        broker.recover()?;
        if let Some(r) = reservation {
            r.fill(&broker.core);
        }
        Ok(broker)
    }

    fn handle(core: Arc<BrokerCore>) -> Broker {
        Broker {
            handle: Arc::new(Handle::new(core.clone())),
            core,
        }
    }

    /// Another handle to the broker created with `BrokerOptions::name` =
    /// `name` in this process, from any thread. Answers `NotFound` when
    /// there is none (yet), `Closed` while it stops (its last handle was
    /// closed) and in a process made by `fork()` for a broker of the parent,
    /// `InvalidArgument` for a name that no broker could have.
    ///
    /// The handle is released by `close` or by dropping it, as the first
    /// one: the engine stops when the last is.
    pub fn open(name: &str) -> Result<Broker> {
        validate_name("broker", name)?;
        Ok(Broker::handle(registry::open(name)?))
    }

    /// The name the broker is registered under, if it was created with one.
    pub fn name(&self) -> Option<&str> {
        self.core.name.as_deref()
    }

    /// Opens every durable topic found in the data directory.
    fn recover(&self) -> Result<()> {
        let dirs = {
            let dd = self.core.data_dir.lock().unwrap_or_else(|e| e.into_inner());
            match dd.as_ref() {
                None => return Ok(()),
                Some(d) => d
                    .topic_dirs()
                    .map_err(|e| Error::io(format!("cannot list {}: {e}", d.root().display())))?,
            }
        };
        for dir in dirs {
            let (name, opts) = conf::read(&dir)?;
            let text = conf::encode(&name, &opts);
            self.make_topic(&name, opts)?;
            self.core
                .recovered
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(name, text);
        }
        Ok(())
    }

    fn check_open(&self) -> Result<()> {
        self.core.origin.check()?;
        if self.core.closed.load(Acquire) {
            return Err(Error::closed("broker"));
        }
        if self.handle.is_released() {
            return Err(Error::closed(
                "broker handle (the broker goes on for its other handles; Broker.open gives a new one)",
            ));
        }
        Ok(())
    }

    /// Creates topic `name` and its dead-letter topic `<name>.dlq`. A
    /// durable topic recovered from the data directory is returned as it
    /// is if `opts` are the options it was created with (else `Exists`).
    pub fn create_topic(&self, name: &str, opts: TopicOptions) -> Result<Topic> {
        self.check_open()?;
        validate_name("topic", name)?;
        opts.validate()?;
        {
            let mut rec = self
                .core
                .recovered
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some(text) = rec.get(name) {
                if *text != conf::encode(name, &opts) {
                    return Err(Error::new(
                        ErrorKind::Exists,
                        format!(
                            "topic {name:?} was recovered from data_dir with other options \
                             (create it with the options it was created with, or use topic())"
                        ),
                    ));
                }
                rec.remove(name);
                drop(rec);
                return self.topic(name);
            }
        }
        self.make_topic(name, opts)
    }

    /// Makes topic `name` and its dead-letter topic, durable ones with
    /// their logs (created, or recovered when they exist).
    fn make_topic(&self, name: &str, opts: TopicOptions) -> Result<Topic> {
        let dlq_name = format!("{name}.dlq");
        if dlq_name.len() > crate::MAX_NAME_LEN {
            return Err(Error::invalid(format!(
                "topic name is {} bytes long; with \".dlq\" its dead-letter topic's would be over the limit of {}",
                name.len(),
                crate::MAX_NAME_LEN
            )));
        }
        let mut topics = self.core.topics.lock().unwrap_or_else(|e| e.into_inner());
        // Checked again under the map's lock: a close sets `closed` before
        // it takes its list of topics under this lock, so a topic made now
        // is either refused or on that list (and shut down with the rest;
        // one added after it would never be).
        if self.core.closed.load(Acquire) {
            return Err(Error::closed("broker"));
        }
        for n in [name, dlq_name.as_str()] {
            if topics.contains_key(n) {
                return Err(Error::new(
                    ErrorKind::Exists,
                    format!("topic {n:?} already exists"),
                ));
            }
        }
        let (logs, dir) = if opts.durable {
            let dd = self.core.data_dir.lock().unwrap_or_else(|e| e.into_inner());
            let Some(d) = dd.as_ref() else {
                return Err(Error::invalid(format!(
                    "topic {name:?} is durable, but the broker has no data_dir"
                )));
            };
            let dir = d.topic_dir(name);
            let main = self.open_log(&dir, &opts)?;
            let dlq = self.open_log(&dir.join("dlq"), &opts)?;
            (Some((main, dlq)), Some(dir))
        } else {
            (None, None)
        };
        let (main_log, dlq_log) = match logs {
            Some((m, d)) => (Some(m), Some(d)),
            None => (None, None),
        };
        let dlq_opts = TopicOptions {
            overflow: crate::Overflow::Block,
            ..opts.clone()
        };
        let pool = self.core.pool.clone();
        let dlq = Arc::new(TopicCore::new(
            &dlq_name,
            dlq_opts,
            None,
            true,
            pool.clone(),
            self.core.origin,
            dlq_log,
        )?);
        let topic = Arc::new(TopicCore::new(
            name,
            opts.clone(),
            Some(dlq.clone()),
            false,
            pool,
            self.core.origin,
            main_log,
        )?);
        if let Some(dir) = &dir {
            // Written last: a directory without it is not a topic yet.
            conf::write(dir, name, &opts)?;
        }
        dlq.start()?;
        if let Err(e) = topic.start() {
            dlq.shut_down();
            return Err(e);
        }
        topics.insert(dlq_name, dlq);
        topics.insert(name.to_owned(), topic.clone());
        Ok(Topic { core: topic })
    }

    /// Opens (or creates) the log in `dir` for a topic with `opts`.
    fn open_log(&self, dir: &std::path::Path, opts: &TopicOptions) -> Result<(Log, PathBuf)> {
        let (log, _recovery) = Log::open(dir, opts.segment_bytes as u64, 0, self.core.repair)
            .map_err(|e| Error::io(format!("cannot open the log in {}: {e}", dir.display())))?;
        Ok((log, dir.to_owned()))
    }

    /// The existing topic `name` (dead-letter topics included).
    pub fn topic(&self, name: &str) -> Result<Topic> {
        self.check_open()?;
        validate_name("topic", name)?;
        let topics = self.core.topics.lock().unwrap_or_else(|e| e.into_inner());
        topics
            .get(name)
            .map(|t| Topic { core: t.clone() })
            .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("no topic {name:?}")))
    }

    /// Names of every topic, dead-letter topics included, sorted.
    pub fn topic_names(&self) -> Vec<String> {
        self.core
            .topics
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect()
    }

    pub(crate) fn topic_cores(&self) -> Vec<Arc<TopicCore>> {
        self.core.topic_cores()
    }

    /// Whether this handle was closed, or the engine stopped.
    pub fn is_closed(&self) -> bool {
        self.core.closed.load(Acquire) || self.handle.is_released()
    }

    /// Open handles of the engine (0 once it is closing or closed).
    pub fn handles(&self) -> usize {
        self.core.handles()
    }

    /// Releases this handle (and its clones). When it is the engine's last
    /// open handle, which it always is for a broker without a name: stops
    /// publishes (`Closed`), lets consumers and handlers work through what
    /// is pending for up to `drain`, then stops every subscription and
    /// joins every thread the broker started. Idempotent: later calls return
    /// the first report.
    ///
    /// When other handles of a named broker are open, it only releases this
    /// one, at once (`drain` is not used): calls through it answer `Closed`
    /// from then on, while the engine, its topics and subscriptions (those
    /// taken through this handle included) go on; the report has
    /// `handles_left` > 0 and nothing else.
    ///
    /// From a push handler (a pool thread) close does not drain, since the
    /// calling handler's own message is outstanding until it returns: it
    /// stops intake, closes every subscription, joins every other pool
    /// thread and returns; the calling worker exits when its handler
    /// returns. A close from a handler while another close runs answers
    /// `Closed` at once (the other close may be joining that very thread).
    pub fn close(&self, drain: Duration) -> Result<CloseReport> {
        self.close_with(drain, None)
    }

    /// As [`close`](Self::close), with the drain also cut short when
    /// `interrupt` is set (before or during it): the broker then closes as
    /// if the drain had run out of time (`timed_out` is true in the report)
    /// and nothing left is lost silently (the report counts it). An
    /// interrupt never leaves the broker half closed: the call still stops
    /// every subscription and joins every thread before it returns.
    pub fn close_interruptible(
        &self,
        drain: Duration,
        interrupt: &Interrupt,
    ) -> Result<CloseReport> {
        self.close_with(drain, Some(interrupt))
    }

    fn close_with(&self, drain: Duration, interrupt: Option<&Interrupt>) -> Result<CloseReport> {
        // In a forked child, the locks and threads are the parent's.
        self.core.origin.check()?;
        match self.handle.release() {
            None => self.core.close(drain, interrupt),
            Some(released) => Ok(released),
        }
    }

    /// Calls `hook` on every failure of a handler of this broker (push
    /// handlers and `consume` callbacks): the error, the message's id, key
    /// and attempt, and whether it will be retried or dead-lettered. It runs
    /// on the handler's thread, after the failure is settled; a panic in it
    /// is caught. Replaces any earlier hook.
    pub fn on_handler_failure<F>(&self, hook: F)
    where
        F: Fn(&HandlerFailure<'_>) + Send + Sync + 'static,
    {
        self.core.pool.set_failure_hook(Some(Arc::new(hook)));
    }

    /// Removes the failure hook.
    pub fn clear_handler_failure_hook(&self) {
        self.core.pool.set_failure_hook(None);
    }

    pub fn pool_stats(&self) -> PoolStats {
        self.core.pool.stats()
    }

    /// Every topic, subscription and pool metric in the Prometheus text
    /// exposition format.
    pub fn metrics_text(&self) -> String {
        if self.core.origin.forked() {
            return String::new();
        }
        let mut text = crate::metrics::render(&self.topic_cores(), &self.core.pool.stats());
        let sources = self
            .core
            .metrics_sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for (_, source) in sources {
            source(&mut text);
        }
        text
    }

    /// Adds (or replaces) metrics source `name`: `metrics_text` calls it to
    /// append its own Prometheus text (for example a bridge's stats). It
    /// must append whole, valid families (`# HELP`, `# TYPE`, samples).
    pub fn add_metrics_source(&self, name: &str, source: MetricsSource) {
        let mut s = self
            .core
            .metrics_sources
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        s.retain(|(n, _)| n != name);
        s.push((name.to_owned(), source));
    }

    /// Removes metrics source `name`, if there is one.
    pub fn remove_metrics_source(&self, name: &str) {
        self.core
            .metrics_sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(n, _)| n != name);
    }
}

impl BrokerCore {
    pub(crate) fn handles(&self) -> usize {
        self.handles.load(Acquire)
    }

    /// Counts one handle less; the handles left.
    pub(crate) fn release_handle(&self) -> usize {
        self.handles.fetch_sub(1, AcqRel) - 1
    }

    /// Is this a process made by `fork()` from the broker's?
    pub(crate) fn forked(&self) -> bool {
        self.origin.forked()
    }

    /// Counts one more handle, unless the last was released already (the
    /// engine is closing: no handle is handed out again).
    pub(crate) fn acquire_handle(&self) -> bool {
        let mut n = self.handles.load(Acquire);
        loop {
            if n == 0 || self.closed.load(Acquire) {
                return false;
            }
            match self
                .handles
                .compare_exchange_weak(n, n + 1, AcqRel, Acquire)
            {
                Ok(_) => return true,
                Err(now) => n = now,
            }
        }
    }

    fn topic_cores(&self) -> Vec<Arc<TopicCore>> {
        self.topics
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("name", &self.name())
            .field("topics", &self.topic_names())
            .field("closed", &self.is_closed())
            .finish()
    }
}
