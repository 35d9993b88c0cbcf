//! `ringmq.nats.Bridge`: the NATS JetStream bridge of `ringmq-nats`. The
//! keyword arguments become the bridge's JSON configuration (the exports'
//! and imports' dicts as they are, durations from seconds to milliseconds),
//! so that the configuration is checked, field by field, in one place.

use std::sync::Mutex;
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use ringmq_core::ErrorKind;
use ringmq_nats::{Bridge, BridgeConfig, BridgeError, BridgeStats};

use crate::args;
use crate::broker::PyBroker;
use crate::errors::{class_of, to_py};

/// Drain of `stop()` and of leaving a `with` block normally, in seconds.
const DEFAULT_DRAIN: f64 = 1.0;

/// The exception of a bridge error: a bad configuration is
/// `InvalidArgument` (a `ValueError`), RingMQ's errors keep their class,
/// NATS refusing is a `StorageError` (an `OSError`).
fn bridge_err(e: BridgeError) -> PyErr {
    let kind = match &e {
        BridgeError::Config(_) => ErrorKind::InvalidArgument,
        BridgeError::RingMq(inner) => return to_py(inner.clone()),
        BridgeError::Nats(_) => ErrorKind::Io,
        BridgeError::Runtime(_) => ErrorKind::Internal,
    };
    Python::attach(|py| match class_of(py, kind) {
        Ok(ty) => PyErr::from_type(ty.clone(), e.to_string()),
        Err(err) => err,
    })
}

fn stats_dict<'py>(py: Python<'py>, s: &BridgeStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("exported", s.exported)?;
    d.set_item("imported", s.imported)?;
    d.set_item("in_flight", s.in_flight)?;
    d.set_item("reconnects", s.reconnects)?;
    d.set_item("dead_lettered", s.dead_lettered)?;
    d.set_item("connected", s.connected)?;
    d.set_item("last_error", s.last_error.as_deref())?;
    Ok(d)
}

/// A duration argument in seconds as the configuration's milliseconds.
fn millis(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<u64> {
    let d = args::finite_seconds(obj, name)?;
    Ok(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

enum State {
    /// Boxed: a bridge is far larger than its stats.
    Running(Box<Bridge>),
    Stopped(BridgeStats),
}

/// A running bridge between a broker's topics and NATS JetStream.
#[pyclass(frozen, module = "ringmq.nats", name = "NatsBridge")]
pub struct PyNatsBridge {
    /// Keeps the broker open while the bridge runs.
    broker: Py<PyBroker>,
    state: Mutex<State>,
}

#[pymethods]
impl PyNatsBridge {
    #[new]
    #[pyo3(signature = (broker, *, id, servers, exports=None, imports=None, reconnect_min=None,
                        reconnect_max=None),
           text_signature = "(broker, *, id, servers, exports=(), imports=(), \
                             reconnect_min=0.1, reconnect_max=5.0)")]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        broker: Py<PyBroker>,
        id: &str,
        servers: Bound<'_, PyAny>,
        exports: Option<Bound<'_, PyAny>>,
        imports: Option<Bound<'_, PyAny>>,
        reconnect_min: Option<Bound<'_, PyAny>>,
        reconnect_max: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let config = PyDict::new(py);
        config.set_item("id", id)?;
        let servers = if servers.is_instance_of::<PyString>() {
            PyList::new(py, [servers])?
        } else {
            PyList::new(py, servers.try_iter()?.collect::<PyResult<Vec<_>>>()?)?
        };
        config.set_item("servers", servers)?;
        for (name, v) in [("exports", &exports), ("imports", &imports)] {
            if let Some(v) = v.as_ref().filter(|v| !v.is_none()) {
                let items = v.try_iter()?.collect::<PyResult<Vec<_>>>()?;
                config.set_item(name, PyList::new(py, items)?)?;
            }
        }
        for (name, v) in [
            ("reconnect_min", &reconnect_min),
            ("reconnect_max", &reconnect_max),
        ] {
            if let Some(v) = v.as_ref().filter(|v| !v.is_none()) {
                config.set_item(name, millis(v, name)?)?;
            }
        }
        let text: String = py
            .import("json")?
            .call_method1("dumps", (config,))?
            .extract()?;
        let config = BridgeConfig::from_json(&text).map_err(bridge_err)?;
        let bridge = {
            let core = broker.get().broker();
            py.detach(|| Bridge::start(core, config))
                .map_err(bridge_err)?
        };
        Ok(PyNatsBridge {
            broker,
            state: Mutex::new(State::Running(Box::new(bridge))),
        })
    }

    /// What the bridge did so far (after `stop()`: its final counters).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = match &*self.state.lock().unwrap_or_else(|e| e.into_inner()) {
            State::Running(b) => b.stats(),
            State::Stopped(s) => s.clone(),
        };
        stats_dict(py, &s)
    }

    /// Whether `stop()` was called.
    #[getter]
    fn stopped(&self) -> bool {
        matches!(
            &*self.state.lock().unwrap_or_else(|e| e.into_inner()),
            State::Stopped(_)
        )
    }

    /// Stops: takes nothing new from RingMQ and waits up to `drain` seconds
    /// for JetStream's acks of what is in flight (the GIL released). Returns
    /// the final stats; a second call returns them again.
    #[pyo3(signature = (drain=None), text_signature = "($self, drain=1.0)")]
    fn stop<'py>(
        &self,
        py: Python<'py>,
        drain: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let drain = match drain.filter(|d| !d.is_none()) {
            Some(d) => args::finite_seconds(&d, "drain")?,
            None => Duration::from_secs_f64(DEFAULT_DRAIN),
        };
        self.stop_for(py, drain)
    }

    /// The broker the bridge runs on.
    #[getter]
    fn broker(&self, py: Python<'_>) -> Py<PyBroker> {
        self.broker.clone_ref(py)
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// Stops with the default drain, or without one when the block raised.
    #[pyo3(signature = (exc_type, exc, tb))]
    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: Option<Bound<'_, PyAny>>,
        exc: Option<Bound<'_, PyAny>>,
        tb: Option<Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let _ = (exc, tb);
        let drain = if exc_type.is_some_and(|t| !t.is_none()) {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(DEFAULT_DRAIN)
        };
        self.stop_for(py, drain)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        match &*self.state.lock().unwrap_or_else(|e| e.into_inner()) {
            State::Running(b) => {
                let s = b.stats();
                format!(
                    "<ringmq.nats.Bridge running, {} exported, {} imported{}>",
                    s.exported,
                    s.imported,
                    if s.connected { "" } else { ", not connected" }
                )
            }
            State::Stopped(s) => format!(
                "<ringmq.nats.Bridge stopped, {} exported, {} imported>",
                s.exported, s.imported
            ),
        }
    }
}

impl PyNatsBridge {
    fn stop_for<'py>(&self, py: Python<'py>, drain: Duration) -> PyResult<Bound<'py, PyDict>> {
        let running = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if let State::Running(b) = &*state {
                // Stats read while it stops show the last counters.
                let last = b.stats();
                match std::mem::replace(&mut *state, State::Stopped(last)) {
                    State::Running(b) => Some(b),
                    State::Stopped(_) => None,
                }
            } else {
                None
            }
        };
        if let Some(bridge) = running {
            let done = py.detach(|| (*bridge).stop(drain)).map_err(bridge_err)?;
            *self.state.lock().unwrap_or_else(|e| e.into_inner()) = State::Stopped(done);
        }
        self.stats(py)
    }
}

/// A bridge collected unstopped stops without a drain on a thread of its
/// own, so that the GIL is not held for the few seconds stopping can take.
impl Drop for PyNatsBridge {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        if let State::Running(_) = state {
            if let State::Running(bridge) =
                std::mem::replace(state, State::Stopped(BridgeStats::default()))
            {
                // If no thread can be started, the closure (and the bridge)
                // is dropped here instead.
                let _ = std::thread::Builder::new()
                    .name("ringmq-nats-drop".into())
                    .spawn(move || drop(bridge));
            }
        }
    }
}
