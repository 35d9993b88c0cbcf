//! The exception classes: one per error kind of the engine (as the core's
//! `ErrorKind::python_class` names them), all under `ringmq.RingMQError`.
//! `Timeout` is also a `TimeoutError` and `InvalidArgument` also a
//! `ValueError` (`StorageError` an `OSError`), so callers that catch the built-in classes catch them too;
//! classes with two bases are beyond `create_exception!`, so every kind's
//! class is built with `type()` once, at import.

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyOSError, PyTimeoutError, PyValueError};
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

/// The class of each kind, indexed like `ErrorKind::ALL`.
static CLASSES: PyOnceLock<Vec<Py<PyType>>> = PyOnceLock::new();

/// The built-in class a kind's exception also derives from, if any.
fn builtin_base(py: Python<'_>, kind: ErrorKind) -> Option<(Bound<'_, PyType>, &'static str)> {
    match kind {
        ErrorKind::Timeout => Some((py.get_type::<PyTimeoutError>(), "TimeoutError")),
        ErrorKind::InvalidArgument => Some((py.get_type::<PyValueError>(), "ValueError")),
        ErrorKind::Io => Some((py.get_type::<PyOSError>(), "OSError")),
        _ => None,
    }
}

fn make_class(py: Python<'_>, kind: ErrorKind) -> PyResult<Py<PyType>> {
    let base = py.get_type::<RingMQError>();
    if kind.python_class() == "RingMQError" {
        return Ok(base.unbind());
    }
    let dict = PyDict::new(py);
    dict.set_item("__module__", "ringmq")?;
    let bases = match builtin_base(py, kind) {
        Some((second, name)) => {
            dict.set_item("__doc__", format!("{} (also a {name})", kind.help()))?;
            PyTuple::new(py, [base, second])?
        }
        None => {
            dict.set_item("__doc__", kind.help())?;
            PyTuple::new(py, [base])?
        }
    };
    let ty = py
        .get_type::<PyType>()
        .call1((kind.python_class(), bases, dict))?
        .cast_into::<PyType>()?;
    Ok(ty.unbind())
}

fn classes(py: Python<'_>) -> PyResult<&Vec<Py<PyType>>> {
    CLASSES.get_or_try_init(py, || {
        ErrorKind::ALL
            .into_iter()
            .map(|k| make_class(py, k))
            .collect()
    })
}

/// The class raised for `kind`.
pub(crate) fn class_of(py: Python<'_>, kind: ErrorKind) -> PyResult<&Bound<'_, PyType>> {
    let i = ErrorKind::ALL
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(ErrorKind::ALL.len() - 1);
    Ok(classes(py)?[i].bind(py))
}

/// Whether `e` is the exception of `kind`.
pub(crate) fn is_kind(py: Python<'_>, e: &PyErr, kind: ErrorKind) -> bool {
    class_of(py, kind).is_ok_and(|c| e.is_instance(py, c))
}

/// Registers every exception class on the module, and `ERROR_CLASSES`
/// (each kind's code → its class).
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("RingMQError", py.get_type::<RingMQError>())?;
    let by_code = PyDict::new(py);
    for kind in ErrorKind::ALL {
        let class = class_of(py, kind)?;
        by_code.set_item(kind.code(), class)?;
        if kind.python_class() != "RingMQError" {
            m.add(kind.python_class(), class)?;
        }
    }
    m.add("ERROR_CLASSES", by_code)?;
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
    raise(ErrorKind::InvalidArgument, message.into())
}

fn raise(kind: ErrorKind, message: String) -> PyErr {
    Python::attach(|py| from_type(class_of(py, kind), message))
}

/// The exception of an engine error.
pub(crate) fn to_py(e: Error) -> PyErr {
    raise(e.kind(), e.message().to_owned())
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
