//! `ringmq._ringmq`: the Python binding of RingMQ's engine.
//!
//! The engine's semantics live in `ringmq-core`; this crate translates
//! arguments, results and errors, and decides where the GIL is held:
//! - every call that may wait first tries once without waiting, holding the
//!   GIL (a hand-off of the GIL costs more than a short publish or poll), and
//!   only then waits detached from the GIL, in one core wait that a signal
//!   (Ctrl-C) interrupts (`signals.rs`);
//! - push handlers run on the broker's pool threads and attach to the
//!   interpreter only while the Python handler runs;
//! - large payloads are copied detached from the GIL.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use pyo3::prelude::*;

mod args;
mod broker;
mod consumer;
mod errors;
mod nats;
mod raw;
mod signals;
mod surface;
mod topic;

/// Payloads at least this long are copied detached from the GIL; below it,
/// releasing and retaking the GIL costs more than the copy.
pub(crate) const DETACH_COPY: usize = 64 * 1024;

/// Every live broker, so that `_close_all` (run at interpreter exit) can stop
/// their threads before the interpreter goes away under a running handler.
static LIVE: Mutex<Vec<Weak<broker::Shared>>> = Mutex::new(Vec::new());

pub(crate) fn register_live(shared: &Arc<broker::Shared>) {
    let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
    live.retain(|w| w.strong_count() > 0);
    live.push(Arc::downgrade(shared));
}

/// Closes every live broker without a drain (registered with `atexit`).
#[pyfunction]
fn _close_all(py: Python<'_>) {
    let live: Vec<Arc<broker::Shared>> = LIVE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter_map(Weak::upgrade)
        .collect();
    py.detach(|| {
        for b in &live {
            let _ = b.close(Duration::ZERO);
        }
    });
}

#[pymodule]
fn _ringmq(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("ENGINE_VERSION", ringmq_core::VERSION)?;
    errors::register(m)?;
    surface::register(m)?;
    m.add_class::<broker::PyBroker>()?;
    m.add_class::<topic::PyTopic>()?;
    m.add_class::<consumer::PyPushSubscription>()?;
    m.add_class::<consumer::PyPullSubscription>()?;
    m.add_class::<consumer::PyMessage>()?;
    m.add_class::<raw::PyRawBatch>()?;
    m.add_class::<signals::PyInterrupt>()?;
    m.add_class::<topic::PyPendingPublish>()?;
    m.add_class::<consumer::PyCompletion>()?;
    m.add_class::<nats::PyNatsBridge>()?;
    m.add_function(wrap_pyfunction!(_close_all, m)?)?;
    Ok(())
}
