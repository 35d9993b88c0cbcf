//! What the module shows of the core's declarations: stats dicts built from
//! the core's tables, and the tables themselves (`*_STATS_FIELDS`,
//! `*_OPTIONS`, the enum spellings) for the tests that hold the stubs and
//! signatures to them.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use ringmq_core::surface::{OptionValue, OptionsTable, StatValue, StatsTable};
use ringmq_core::{
    BrokerOptions, Expired, Fsync, Overflow, PoolStats, StartAt, SubOptions, SubStats,
    TopicOptions, TopicStats,
};

/// A stats snapshot as a dict: its labels (`labels`, in the order of
/// `S::LABELS`), then every field of the table, then the text fields.
pub(crate) fn stats_dict<'py, S: StatsTable>(
    py: Python<'py>,
    labels: &[&str],
    s: &S,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (name, value) in S::LABELS.iter().zip(labels) {
        d.set_item(*name, *value)?;
    }
    for (f, v) in s.values() {
        match v {
            StatValue::U64(n) => d.set_item(f.name, n)?,
            StatValue::F64(x) => d.set_item(f.name, x)?,
        }
    }
    for (i, t) in S::TEXT.iter().enumerate() {
        d.set_item(t.name, s.text(i))?;
    }
    Ok(d)
}

/// Every key of a stats dict, in order.
fn keys<'py, S: StatsTable>(py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
    let names: Vec<&str> = S::LABELS
        .iter()
        .copied()
        .chain(S::FIELDS.iter().map(|f| f.name))
        .chain(S::TEXT.iter().map(|t| t.name))
        .collect();
    PyTuple::new(py, names)
}

/// Option name → default as Python takes it (seconds for durations; None
/// when worked out at run time).
fn defaults<'py, O: OptionsTable>(py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for f in O::FIELDS {
        match f.default {
            OptionValue::Int(n) => d.set_item(f.name, n)?,
            OptionValue::Millis(ms) => d.set_item(f.name, ms as f64 / 1e3)?,
            OptionValue::Bool(b) => d.set_item(f.name, b)?,
            OptionValue::Choice(s) => d.set_item(f.name, s)?,
            // No default has a value without a static form (`Given`).
            OptionValue::Computed(_) | OptionValue::Unset | OptionValue::Given => {
                d.set_item(f.name, py.None())?
            }
            OptionValue::Number(bits) => d.set_item(f.name, f64::from_bits(bits))?,
        }
    }
    Ok(d)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("TOPIC_STATS_FIELDS", keys::<TopicStats>(py)?)?;
    m.add("SUB_STATS_FIELDS", keys::<SubStats>(py)?)?;
    m.add("POOL_STATS_FIELDS", keys::<PoolStats>(py)?)?;
    m.add("BROKER_OPTIONS", defaults::<BrokerOptions>(py)?)?;
    m.add("TOPIC_OPTIONS", defaults::<TopicOptions>(py)?)?;
    m.add("SUB_OPTIONS", defaults::<SubOptions>(py)?)?;
    m.add("OVERFLOW_VALUES", PyTuple::new(py, Overflow::NAMES)?)?;
    m.add("START_VALUES", PyTuple::new(py, StartAt::NAMES)?)?;
    m.add("EXPIRED_VALUES", PyTuple::new(py, Expired::NAMES)?)?;
    m.add("FSYNC_VALUES", PyTuple::new(py, Fsync::NAMES)?)?;
    Ok(())
}
