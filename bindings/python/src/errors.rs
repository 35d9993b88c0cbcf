//! The exception classes: one per error kind of the engine, all under
//! `ringmq.RingMQError`. `Timeout` is also a `TimeoutError` and
//! `InvalidArgument` also a `ValueError`, so callers that catch the built-in
//! classes catch them too; those two need two bases, which
//! `create_exception!` cannot express, so they are built with `type()` once
//! at import.

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyTimeoutError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};
use ringmq_core::{Error, ErrorKind};

create_exception!(
    ringmq,
    RingMQError,
    PyException,
    "Base class of every RingMQ error."
);
create_exception!(
    ringmq,
    Full,
    RingMQError,
    "The topic is full and its overflow policy is \"reject\"."
);
create_exception!(
    ringmq,
    TooLarge,
    RingMQError,
    "The payload is larger than the topic's slot_size."
);
create_exception!(
    ringmq,
    NotFound,
    RingMQError,
    "No topic or subscription of that name."
);
create_exception!(
    ringmq,
    Exists,
    RingMQError,
    "A topic or subscription of that name already exists."
);
create_exception!(
    ringmq,
    Closed,
    RingMQError,
    "The broker, topic or subscription is closed."
);

static TIMEOUT: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static INVALID_ARGUMENT: PyOnceLock<Py<PyType>> = PyOnceLock::new();

fn two_base_exception<'py>(
    py: Python<'py>,
    name: &str,
    doc: &str,
    second: Bound<'py, PyType>,
) -> PyResult<Py<PyType>> {
    let dict = PyDict::new(py);
    dict.set_item("__module__", "ringmq")?;
    dict.set_item("__doc__", doc)?;
    let bases = PyTuple::new(py, [py.get_type::<RingMQError>(), second])?;
    let ty = py
        .get_type::<PyType>()
        .call1((name, bases, dict))?
        .cast_into::<PyType>()?;
    Ok(ty.unbind())
}

pub(crate) fn timeout_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    TIMEOUT
        .get_or_try_init(py, || {
            two_base_exception(
                py,
                "Timeout",
                "A blocking call ran out of time (also a TimeoutError).",
                py.get_type::<PyTimeoutError>(),
            )
        })
        .map(|t| t.bind(py))
}

pub(crate) fn invalid_argument_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    INVALID_ARGUMENT
        .get_or_try_init(py, || {
            two_base_exception(
                py,
                "InvalidArgument",
                "A value the call cannot accept (also a ValueError).",
                py.get_type::<PyValueError>(),
            )
        })
        .map(|t| t.bind(py))
}

/// Registers every exception class on the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("RingMQError", py.get_type::<RingMQError>())?;
    m.add("Full", py.get_type::<Full>())?;
    m.add("Timeout", timeout_type(py)?)?;
    m.add("TooLarge", py.get_type::<TooLarge>())?;
    m.add("NotFound", py.get_type::<NotFound>())?;
    m.add("Exists", py.get_type::<Exists>())?;
    m.add("Closed", py.get_type::<Closed>())?;
    m.add("InvalidArgument", invalid_argument_type(py)?)?;
    Ok(())
}

fn from_type(ty: PyResult<&Bound<'_, PyType>>, message: String) -> PyErr {
    match ty {
        Ok(ty) => PyErr::from_type(ty.clone(), message),
        Err(e) => e,
    }
}

/// An `InvalidArgument` with `message`.
pub(crate) fn invalid(message: impl Into<String>) -> PyErr {
    Python::attach(|py| from_type(invalid_argument_type(py), message.into()))
}

/// The exception of an engine error.
pub(crate) fn to_py(e: Error) -> PyErr {
    let message = e.message().to_owned();
    match e.kind() {
        ErrorKind::InvalidArgument => invalid(message),
        ErrorKind::Timeout => Python::attach(|py| from_type(timeout_type(py), message)),
        ErrorKind::Full => Full::new_err(message),
        ErrorKind::TooLarge => TooLarge::new_err(message),
        ErrorKind::NotFound => NotFound::new_err(message),
        ErrorKind::Exists => Exists::new_err(message),
        ErrorKind::Closed => Closed::new_err(message),
        ErrorKind::Empty | ErrorKind::Internal => RingMQError::new_err(message),
    }
}

/// `?` on engine results inside binding code.
pub(crate) trait IntoPyResult<T> {
    fn py_err(self) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for Result<T, Error> {
    fn py_err(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}
