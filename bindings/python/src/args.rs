//! Checking Python arguments: every bad value raises before anything changes,
//! with a message that names the argument and the value.

use std::time::Duration;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyFloat, PyInt, PyString};

use crate::errors::invalid;

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".to_owned())
}

/// A non-negative integer argument no larger than `max`.
pub(crate) fn uint(obj: &Bound<'_, PyAny>, name: &str, max: u64) -> PyResult<u64> {
    if obj.is_instance_of::<PyBool>() || !obj.is_instance_of::<PyInt>() {
        return Err(PyTypeError::new_err(format!(
            "{name} must be an int, not {}",
            type_name(obj)
        )));
    }
    match obj.extract::<u64>() {
        Ok(v) if v <= max => Ok(v),
        _ => Err(invalid(format!(
            "{name} {} is not between 0 and {max}",
            obj.str().map(|s| s.to_string()).unwrap_or_default()
        ))),
    }
}

/// A message key: an int in 0..2**64. `None` is 0.
#[inline]
pub(crate) fn key(obj: Option<&Bound<'_, PyAny>>) -> PyResult<u64> {
    match obj {
        None => Ok(0),
        Some(k) => match k.extract::<u64>() {
            Ok(v) if !k.is_instance_of::<PyBool>() => Ok(v),
            _ => uint(k, "key", u64::MAX),
        },
    }
}

/// A duration in seconds: a finite or infinite non-negative number.
/// `Ok(None)` means "for ever" (`inf`).
pub(crate) fn seconds(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Option<Duration>> {
    if obj.is_instance_of::<PyBool>()
        || !(obj.is_instance_of::<PyFloat>() || obj.is_instance_of::<PyInt>())
    {
        return Err(PyTypeError::new_err(format!(
            "{name} must be a number of seconds, not {}",
            type_name(obj)
        )));
    }
    let v: f64 = obj.extract()?;
    if v.is_nan() || v < 0.0 {
        return Err(invalid(format!(
            "{name} {v} must be a non-negative number of seconds"
        )));
    }
    if v.is_infinite() {
        return Ok(None);
    }
    Ok(Some(
        Duration::try_from_secs_f64(v).unwrap_or(Duration::from_secs(u64::MAX / 4)),
    ))
}

/// An optional timeout: `None` waits for ever, `0` tries once.
#[inline]
pub(crate) fn timeout(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Duration>> {
    match obj {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) => seconds(o, "timeout"),
    }
}

/// A duration that must be finite.
pub(crate) fn finite_seconds(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Duration> {
    seconds(obj, name)?.ok_or_else(|| invalid(format!("{name} must be finite")))
}

/// A rate in messages per second: a number (the core checks its range,
/// so that 0, a negative number and NaN raise `InvalidArgument` there).
pub(crate) fn rate(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<f64> {
    if obj.is_instance_of::<PyBool>()
        || !(obj.is_instance_of::<PyFloat>() || obj.is_instance_of::<PyInt>())
    {
        return Err(PyTypeError::new_err(format!(
            "{name} must be a number of messages per second or None, not {}",
            type_name(obj)
        )));
    }
    obj.extract()
}

/// A name: a str.
pub(crate) fn name(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<String> {
    if !obj.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(format!(
            "{what} name must be a str, not {}",
            type_name(obj)
        )));
    }
    obj.extract::<String>()
        .map_err(|_| invalid(format!("{what} name is not valid UTF-8 (lone surrogates)")))
}

/// A bool flag (no truthiness of arbitrary objects: a typo such as passing a
/// string is a mistake worth reporting).
pub(crate) fn flag(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<bool> {
    obj.cast::<PyBool>()
        .map(|b| b.is_true())
        .map_err(|_| PyTypeError::new_err(format!("{name} must be a bool, not {}", type_name(obj))))
}

/// A string choice, spelled and checked by the core's `parse` (which names
/// the spellings it knows).
pub(crate) fn choice<T>(
    obj: &Bound<'_, PyAny>,
    name: &str,
    parse: fn(&str) -> Result<T, ringmq_core::Error>,
) -> PyResult<T> {
    let s = obj.cast::<PyString>().map_err(|_| {
        PyTypeError::new_err(format!("{name} must be a str, not {}", type_name(obj)))
    })?;
    parse(&s.to_string()).map_err(crate::errors::to_py)
}

/// A payload: borrowed from an immutable `bytes` (readable without the GIL:
/// the caller's reference keeps it alive and nobody can change it), or copied
/// from any other bytes-like object (`bytearray`, `memoryview`, `array`, ...),
/// whose contents another thread could change or resize once the GIL is
/// released.
pub(crate) enum Payload<'a> {
    Borrowed(&'a [u8]),
    Owned(Vec<u8>),
}

impl Payload<'_> {
    #[inline]
    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            Payload::Borrowed(b) => b,
            Payload::Owned(v) => v,
        }
    }
}

#[inline]
pub(crate) fn payload<'a>(obj: &'a Bound<'_, PyAny>) -> PyResult<Payload<'a>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(Payload::Borrowed(b.as_bytes()));
    }
    payload_slow(obj)
}

#[cold]
fn payload_slow<'a>(obj: &'a Bound<'_, PyAny>) -> PyResult<Payload<'a>> {
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(Payload::Owned(b.to_vec()));
    }
    if obj.is_instance_of::<PyString>() || obj.is_instance_of::<PyInt>() {
        return Err(PyTypeError::new_err(format!(
            "data must be a bytes-like object, not {} (encode a str first)",
            type_name(obj)
        )));
    }
    // Any other object with the buffer protocol. The limited API of the
    // oldest supported CPython has no buffer calls, so go through memoryview,
    // which raises TypeError for objects without the protocol.
    let py = obj.py();
    let view = py
        .import("builtins")?
        .getattr("memoryview")?
        .call1((obj,))
        .map_err(|_| {
            PyTypeError::new_err(format!(
                "data must be a bytes-like object, not {}",
                type_name(obj)
            ))
        })?;
    let bytes = view.call_method0("tobytes")?;
    let bytes = bytes.cast::<PyBytes>()?;
    Ok(Payload::Owned(bytes.as_bytes().to_vec()))
}
