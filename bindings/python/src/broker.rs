//! `Broker`: owns the engine instance; closing it (explicitly, by leaving a
//! `with` block, or when the last Python handle goes) stops its threads.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use ringmq_core::{
    Broker, BrokerOptions, CloseReport, Expired, Fsync, Interrupt, Overflow, TopicOptions,
};

use crate::args;
use crate::errors::IntoPyResult;
use crate::topic::PyTopic;

/// Drain of `close()` and of leaving a `with` block normally, in seconds.
const DEFAULT_DRAIN: f64 = 5.0;

/// What every handle of one broker shares.
pub(crate) struct Shared {
    pub broker: Broker,
    /// An exception a push handler let out (`SystemExit` or another
    /// `BaseException` that is not an `Exception`), raised by the next call
    /// of this broker that `raise_pending` guards.
    pending: Mutex<Option<PyErr>>,
    /// Each push subscription's handle as its own handler sees it (to stop
    /// itself); emptied at close so that no subscription keeps itself alive.
    own_handles: Mutex<Vec<Weak<crate::consumer::OwnHandle>>>,
}

impl Shared {
    pub(crate) fn new(broker: Broker) -> Shared {
        Shared {
            broker,
            pending: Mutex::new(None),
            own_handles: Mutex::new(Vec::new()),
        }
    }

    /// Keeps `e` for the next guarded call (the first one kept wins).
    pub(crate) fn set_pending(&self, e: PyErr) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if p.is_none() {
            *p = Some(e);
        }
    }

    /// Raises the exception a push handler let out, once.
    pub(crate) fn raise_pending(&self) -> PyResult<()> {
        match self
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    pub(crate) fn track(&self, h: &Arc<crate::consumer::OwnHandle>) {
        let mut v = self.own_handles.lock().unwrap_or_else(|e| e.into_inner());
        v.retain(|w| w.strong_count() > 0);
        v.push(Arc::downgrade(h));
    }

    /// Closes this handle of the broker (not holding the GIL): the broker
    /// itself when it is its last handle, which also lets go of the handles
    /// subscriptions keep of themselves.
    pub(crate) fn close(&self, drain: Duration) -> ringmq_core::Result<CloseReport> {
        self.close_with(drain, None)
    }

    /// As `close`, with the drain cut short when `interrupt` is set.
    pub(crate) fn close_with(
        &self,
        drain: Duration,
        interrupt: Option<&Interrupt>,
    ) -> ringmq_core::Result<CloseReport> {
        let r = match interrupt {
            Some(i) => self.broker.close_interruptible(drain, i),
            None => self.broker.close(drain),
        };
        if matches!(&r, Ok(report) if report.handles_left > 0) {
            // Only this handle was released: the engine and its push
            // subscriptions go on.
            return r;
        }
        let handles: Vec<_> =
            std::mem::take(&mut *self.own_handles.lock().unwrap_or_else(|e| e.into_inner()));
        for h in handles.iter().filter_map(Weak::upgrade) {
            h.forget();
        }
        r
    }

    pub(crate) fn metrics_text(&self) -> String {
        self.broker.metrics_text()
    }

    pub(crate) fn topic_handle(self: &Arc<Self>, topic: ringmq_core::Topic) -> PyTopic {
        PyTopic::new(topic, self.clone())
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // The last handle went: close without a drain. Pool threads may be
        // waiting to attach to run a handler, and closing joins them, so the
        // GIL must not be held meanwhile.
        let closed = Python::try_attach(|py| {
            py.detach(|| {
                let _ = self.close(Duration::ZERO);
            })
        });
        if closed.is_none() {
            let _ = self.close(Duration::ZERO);
        }
    }
}

/// A handle to an engine instance: topics and one worker pool. A broker
/// created with a `name` is shared by every thread of the process:
/// `Broker.open(name)` returns another handle to it.
#[pyclass(frozen, module = "ringmq", name = "Broker")]
pub struct PyBroker {
    shared: Arc<Shared>,
}

pub(crate) fn report_dict<'py>(py: Python<'py>, r: &CloseReport) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("undelivered", r.undelivered)?;
    d.set_item("in_flight", r.in_flight)?;
    d.set_item("waiting_retry", r.waiting_retry)?;
    d.set_item("timed_out", r.timed_out)?;
    let left = PyList::empty(py);
    for (topic, group, n) in &r.left {
        left.append(PyTuple::new(
            py,
            [
                topic.into_pyobject(py)?.into_any(),
                group.into_pyobject(py)?.into_any(),
                n.into_pyobject(py)?.into_any(),
            ],
        )?)?;
    }
    d.set_item("left", left)?;
    d.set_item("delayed", r.delayed)?;
    d.set_item("pinned", r.pinned)?;
    d.set_item("handles_left", r.handles_left)?;
    Ok(d)
}

impl PyBroker {
    fn with(broker: Broker) -> Self {
        let shared = Arc::new(Shared::new(broker));
        crate::register_live(&shared);
        PyBroker { shared }
    }

    /// The engine instance (for the NATS bridge).
    pub(crate) fn broker(&self) -> &Broker {
        &self.shared.broker
    }
}

/// A function of `ringmq._aio` (the asyncio side of the binding).
pub(crate) fn aio<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    py.import("ringmq._aio")?.getattr(name)
}

fn opt<'a, 'py>(o: &'a Option<Bound<'py, PyAny>>) -> Option<&'a Bound<'py, PyAny>> {
    o.as_ref().filter(|v| !v.is_none())
}

#[pymethods]
impl PyBroker {
    #[new]
    #[pyo3(signature = (*, workers_min=None, workers_max=None, idle_timeout=None, data_dir=None,
                        repair=None, name=None),
           text_signature = "(*, workers_min=None, workers_max=None, idle_timeout=None, \
                             data_dir=None, repair=False, name=None)")]
    fn new(
        py: Python<'_>,
        workers_min: Option<Bound<'_, PyAny>>,
        workers_max: Option<Bound<'_, PyAny>>,
        idle_timeout: Option<Bound<'_, PyAny>>,
        data_dir: Option<Bound<'_, PyAny>>,
        repair: Option<Bound<'_, PyAny>>,
        name: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let mut o = BrokerOptions::default();
        if let Some(v) = opt(&workers_min) {
            o.workers_min = args::uint(v, "workers_min", 1 << 20)? as usize;
        }
        if let Some(v) = opt(&workers_max) {
            o.workers_max = args::uint(v, "workers_max", 1 << 20)? as usize;
        } else {
            o.workers_max = o.workers_max.max(o.workers_min);
        }
        if let Some(v) = opt(&idle_timeout) {
            o.idle_timeout = args::finite_seconds(v, "idle_timeout")?;
        }
        if let Some(v) = opt(&data_dir) {
            o.data_dir = Some(args::path(v, "data_dir")?);
        }
        if let Some(v) = opt(&repair) {
            o.repair = args::flag(v, "repair")?;
        }
        if let Some(v) = opt(&name) {
            o.name = Some(args::name(v, "broker")?);
        }
        let broker = py.detach(|| Broker::new(o)).py_err()?;
        Ok(Self::with(broker))
    }

    /// Another handle to the broker created with `Broker(name=name)` in
    /// this process, from any thread. Raises `NotFound` when there is none,
    /// `Closed` while it closes. The broker closes when its last handle
    /// does (see docs/PYTHON.md).
    #[staticmethod]
    fn open(py: Python<'_>, name: Bound<'_, PyAny>) -> PyResult<Self> {
        let name = args::name(&name, "broker")?;
        let broker = py.detach(|| Broker::open(&name)).py_err()?;
        Ok(Self::with(broker))
    }

    /// Creates topic `name` and its dead-letter topic `<name>.dlq`.
    #[pyo3(signature = (name, capacity=None, slot_size=None, overflow=None, max_attempts=None,
                        backoff_base=None, backoff_max=None, ack_timeout=None, retry_capacity=None,
                        max_header_bytes=None, max_delayed=None, max_age=None, expired=None,
                        dedupe_window=None, dedupe_max=None, durable=None, fsync=None,
                        fsync_interval=None, segment_bytes=None, max_bytes=None),
           text_signature = "($self, name, capacity=1024, slot_size=256, overflow='block', \
                             max_attempts=4, backoff_base=0.1, backoff_max=10.0, ack_timeout=30.0, \
                             retry_capacity=0, max_header_bytes=1024, max_delayed=0, max_age=0.0, \
                             expired='dead_letter', dedupe_window=120.0, dedupe_max=0, \
                             durable=False, fsync='batch', fsync_interval=0.05, \
                             segment_bytes=67108864, max_bytes=0)")]
    #[allow(clippy::too_many_arguments)]
    fn create_topic(
        &self,
        py: Python<'_>,
        name: Bound<'_, PyAny>,
        capacity: Option<Bound<'_, PyAny>>,
        slot_size: Option<Bound<'_, PyAny>>,
        overflow: Option<Bound<'_, PyAny>>,
        max_attempts: Option<Bound<'_, PyAny>>,
        backoff_base: Option<Bound<'_, PyAny>>,
        backoff_max: Option<Bound<'_, PyAny>>,
        ack_timeout: Option<Bound<'_, PyAny>>,
        retry_capacity: Option<Bound<'_, PyAny>>,
        max_header_bytes: Option<Bound<'_, PyAny>>,
        max_delayed: Option<Bound<'_, PyAny>>,
        max_age: Option<Bound<'_, PyAny>>,
        expired: Option<Bound<'_, PyAny>>,
        dedupe_window: Option<Bound<'_, PyAny>>,
        dedupe_max: Option<Bound<'_, PyAny>>,
        durable: Option<Bound<'_, PyAny>>,
        fsync: Option<Bound<'_, PyAny>>,
        fsync_interval: Option<Bound<'_, PyAny>>,
        segment_bytes: Option<Bound<'_, PyAny>>,
        max_bytes: Option<Bound<'_, PyAny>>,
    ) -> PyResult<PyTopic> {
        let name = args::name(&name, "topic")?;
        let mut o = TopicOptions::default();
        if let Some(v) = opt(&capacity) {
            o.capacity = args::uint(v, "capacity", u32::MAX as u64)? as usize;
        }
        if let Some(v) = opt(&slot_size) {
            o.slot_size = args::uint(v, "slot_size", u32::MAX as u64)? as usize;
        }
        if let Some(v) = opt(&overflow) {
            o.overflow = args::choice(v, "overflow", Overflow::parse)?;
        }
        if let Some(v) = opt(&max_attempts) {
            o.max_attempts = args::uint(v, "max_attempts", u32::MAX as u64)? as u32;
        }
        if let Some(v) = opt(&backoff_base) {
            o.backoff_base = args::finite_seconds(v, "backoff_base")?;
        }
        if let Some(v) = opt(&backoff_max) {
            o.backoff_max = args::finite_seconds(v, "backoff_max")?;
        }
        if let Some(v) = opt(&ack_timeout) {
            o.ack_timeout = args::finite_seconds(v, "ack_timeout")?;
        }
        if let Some(v) = opt(&retry_capacity) {
            o.retry_capacity = args::uint(v, "retry_capacity", u32::MAX as u64)? as usize;
        }
        if let Some(v) = opt(&max_header_bytes) {
            o.max_header_bytes = args::uint(v, "max_header_bytes", u32::MAX as u64)? as usize;
        }
        if let Some(v) = opt(&max_delayed) {
            o.max_delayed = args::uint(v, "max_delayed", u32::MAX as u64)? as usize;
        }
        if let Some(v) = opt(&max_age) {
            o.max_age = args::finite_seconds(v, "max_age")?;
        }
        if let Some(v) = opt(&expired) {
            o.expired = args::choice(v, "expired", Expired::parse)?;
        }
        if let Some(v) = opt(&dedupe_window) {
            o.dedupe_window = args::finite_seconds(v, "dedupe_window")?;
        }
        if let Some(v) = opt(&dedupe_max) {
            o.dedupe_max = args::uint(v, "dedupe_max", u32::MAX as u64)? as usize;
        }
        if let Some(v) = opt(&durable) {
            o.durable = args::flag(v, "durable")?;
        }
        if let Some(v) = opt(&fsync) {
            o.fsync = args::choice(v, "fsync", Fsync::parse)?;
        }
        if let Some(v) = opt(&fsync_interval) {
            o.fsync_interval = args::finite_seconds(v, "fsync_interval")?;
        }
        if let Some(v) = opt(&segment_bytes) {
            o.segment_bytes = args::uint(v, "segment_bytes", u64::MAX)? as usize;
        }
        if let Some(v) = opt(&max_bytes) {
            o.max_bytes = args::uint(v, "max_bytes", u64::MAX)? as usize;
        }
        // Creating a durable topic writes its log files: not with the GIL.
        let broker = &self.shared.broker;
        let topic = py.detach(|| broker.create_topic(&name, o)).py_err()?;
        Ok(self.shared.topic_handle(topic))
    }

    /// The existing topic `name` (dead-letter topics included).
    fn topic(&self, name: Bound<'_, PyAny>) -> PyResult<PyTopic> {
        let name = args::name(&name, "topic")?;
        let topic = self.shared.broker.topic(&name).py_err()?;
        Ok(self.shared.topic_handle(topic))
    }

    /// Names of every topic, dead-letter topics included, sorted.
    fn topic_names(&self) -> Vec<String> {
        self.shared.broker.topic_names()
    }

    #[getter]
    fn closed(&self) -> bool {
        self.shared.broker.is_closed()
    }

    /// Stops publishes, lets consumers work through what is pending for up
    /// to `drain` seconds, stops every subscription and joins every thread.
    /// Idempotent: later calls return the first report. On a handle of a
    /// named broker that other handles still have open, it only releases
    /// this handle (the report's `handles_left` says how many remain). An
    /// exception a push handler let out (see docs/PYTHON.md) is raised here,
    /// after closing.
    #[pyo3(signature = (drain=None))]
    fn close<'py>(
        &self,
        py: Python<'py>,
        drain: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let drain = match opt(&drain) {
            Some(v) => args::finite_seconds(v, "drain")?,
            None => Duration::from_secs_f64(DEFAULT_DRAIN),
        };
        let shared = &self.shared;
        let report = py.detach(|| shared.close(drain)).py_err();
        self.shared.raise_pending()?;
        report_dict(py, &report?)
    }

    /// The awaitable form of `close` for asyncio: the close (and its drain)
    /// runs off the event loop, detached from the GIL, so the loop goes on
    /// running (coroutine handlers and asyncio consumers finish their work
    /// meanwhile). Cancelling the awaiting task cuts the drain short; the
    /// broker is then fully closed before `CancelledError` propagates.
    #[pyo3(signature = (drain=None))]
    fn aclose<'py>(
        slf: Bound<'py, Self>,
        drain: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let drain = match opt(&drain) {
            Some(v) => args::finite_seconds(v, "drain")?,
            None => Duration::from_secs_f64(DEFAULT_DRAIN),
        };
        aio(py, "aclose")?.call1((slf, drain.as_secs_f64()))
    }

    /// One close whose drain `interrupt` cuts short, detached from the GIL
    /// (`aclose` runs it on a thread of its own).
    fn _close_interruptible<'py>(
        &self,
        py: Python<'py>,
        drain: f64,
        interrupt: &Bound<'py, crate::signals::PyInterrupt>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let drain = Duration::try_from_secs_f64(drain)
            .map_err(|_| crate::errors::invalid(format!("drain {drain} is out of range")))?;
        let i = &interrupt.get().0;
        let shared = &self.shared;
        let report = py.detach(|| shared.close_with(drain, Some(i))).py_err();
        self.shared.raise_pending()?;
        report_dict(py, &report?)
    }

    fn __aenter__<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        aio(py, "ready")?.call1((slf,))
    }

    /// Closes as `__exit__` does (the default drain, none when the block
    /// raised), without blocking the event loop.
    #[pyo3(signature = (exc_type, exc, tb))]
    fn __aexit__<'py>(
        slf: Bound<'py, Self>,
        exc_type: Option<Bound<'py, PyAny>>,
        exc: Option<Bound<'py, PyAny>>,
        tb: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let _ = (exc, tb);
        let py = slf.py();
        let drain = if opt(&exc_type).is_some() {
            0.0
        } else {
            DEFAULT_DRAIN
        };
        aio(py, "aexit")?.call1((slf, drain))
    }

    /// Every topic, subscription and pool metric in the Prometheus text format.
    fn metrics_text(&self, py: Python<'_>) -> String {
        let shared = &self.shared;
        py.detach(|| shared.metrics_text())
    }

    fn pool_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        crate::surface::stats_dict(py, &[], &self.shared.broker.pool_stats())
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// Closes with the default drain, or without one when the block raised.
    #[pyo3(signature = (exc_type, exc, tb))]
    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: Option<Bound<'_, PyAny>>,
        exc: Option<Bound<'_, PyAny>>,
        tb: Option<Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let _ = (exc, tb);
        let drain = if opt(&exc_type).is_some() {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(DEFAULT_DRAIN)
        };
        let shared = &self.shared;
        let closed = py.detach(|| shared.close(drain)).py_err();
        self.shared.raise_pending()?;
        closed?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        let name = match self.shared.broker.name() {
            Some(n) => format!(" name={n:?}"),
            None => String::new(),
        };
        format!(
            "<ringmq.Broker{name} topics={} closed={}>",
            self.shared.broker.topic_names().len(),
            if self.shared.broker.is_closed() {
                "True"
            } else {
                "False"
            }
        )
    }
}
