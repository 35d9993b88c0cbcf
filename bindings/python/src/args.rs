//! Checking Python arguments: every bad value raises before anything changes,
//! with a message that names the argument and the value.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple,
};

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

/// A point in time: seconds since the Unix epoch (an int or a float, as
/// `time.time()` answers), or a `datetime.datetime` (aware or naive,
/// converted by its `.timestamp()`). Before 1970, NaN and infinity raise
/// `InvalidArgument`.
pub(crate) fn time(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<SystemTime> {
    let secs: f64 = if obj.is_instance_of::<PyBool>() {
        return Err(time_type_error(obj, name));
    } else if obj.is_instance_of::<PyFloat>() || obj.is_instance_of::<PyInt>() {
        obj.extract()
            .map_err(|_| invalid(format!("{name} {} is too far in the future", repr(obj))))?
    } else {
        let datetime = obj.py().import("datetime")?.getattr("datetime")?;
        if !obj.is_instance(&datetime)? {
            return Err(time_type_error(obj, name));
        }
        obj.call_method0("timestamp")?.extract()?
    };
    if secs.is_nan() || secs < 0.0 {
        return Err(invalid(format!(
            "{name} {} is not a time since 1970 (seconds since the Unix epoch)",
            repr(obj)
        )));
    }
    Duration::try_from_secs_f64(secs)
        .ok()
        .and_then(|d| UNIX_EPOCH.checked_add(d))
        .ok_or_else(|| invalid(format!("{name} {} is too far in the future", repr(obj))))
}

fn time_type_error(obj: &Bound<'_, PyAny>, name: &str) -> PyErr {
    PyTypeError::new_err(format!(
        "{name} must be seconds since the Unix epoch (a float or an int) or a datetime, not {}",
        type_name(obj)
    ))
}

fn repr(obj: &Bound<'_, PyAny>) -> String {
    obj.repr().map(|s| s.to_string()).unwrap_or_default()
}

/// A delay or a ttl of a publish, in seconds: a finite non-negative
/// number; `None` (or absent) for none.
pub(crate) fn span(obj: Option<&Bound<'_, PyAny>>, name: &str) -> PyResult<Option<Duration>> {
    match obj.filter(|o| !o.is_none()) {
        None => Ok(None),
        Some(o) => match seconds(o, name)? {
            Some(d) => Ok(Some(d)),
            None => Err(invalid(format!(
                "{name} must be a finite number of seconds"
            ))),
        },
    }
}

/// Bytes given as bytes-like or str (encoded UTF-8), copied.
fn bytes_or_str(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<u8>> {
    if let Ok(s) = obj.cast::<PyString>() {
        return s
            .to_cow()
            .map(|s| s.as_bytes().to_vec())
            .map_err(|_| invalid(format!("{what} is not valid UTF-8 (lone surrogates)")));
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    if obj.is_instance_of::<PyInt>() {
        return Err(PyTypeError::new_err(format!(
            "{what} must be bytes or str, not {}",
            type_name(obj)
        )));
    }
    match payload_slow(obj) {
        Ok(p) => Ok(p.as_slice().to_vec()),
        Err(_) => Err(PyTypeError::new_err(format!(
            "{what} must be bytes or str, not {}",
            type_name(obj)
        ))),
    }
}

/// A msg_id: bytes or str (UTF-8); `None` (or absent) for none.
pub(crate) fn msg_id(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Vec<u8>>> {
    match obj.filter(|o| !o.is_none()) {
        None => Ok(None),
        Some(o) => bytes_or_str(o, "msg_id").map(Some),
    }
}

/// Headers: a dict, or an iterable of `(name, value)` pairs, of str names
/// and bytes or str values (str encoded UTF-8), in order; `None` (or
/// absent) for none.
pub(crate) fn headers(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<(String, Vec<u8>)>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(Vec::new());
    };
    let pair = |name: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>| -> PyResult<(String, Vec<u8>)> {
        let name = match name.cast::<PyString>() {
            Ok(n) => n
                .to_cow()
                .map_err(|_| invalid("a header name is not valid UTF-8 (lone surrogates)"))?
                .into_owned(),
            Err(_) => {
                return Err(PyTypeError::new_err(format!(
                    "header names must be str, not {}",
                    type_name(name)
                )))
            }
        };
        let value = bytes_or_str(value, &format!("the value of header {name:?}"))?;
        Ok((name, value))
    };
    if let Ok(d) = obj.cast::<PyDict>() {
        return d.iter().map(|(k, v)| pair(&k, &v)).collect();
    }
    if obj.is_instance_of::<PyString>() || obj.is_instance_of::<PyBytes>() {
        return Err(PyTypeError::new_err(format!(
            "headers must be a dict or a list of (name, value) pairs, not {}",
            type_name(obj)
        )));
    }
    let iter = obj.try_iter().map_err(|_| {
        PyTypeError::new_err(format!(
            "headers must be a dict or a list of (name, value) pairs, not {}",
            type_name(obj)
        ))
    })?;
    let mut out = Vec::new();
    for (i, item) in iter.enumerate() {
        let item = item?;
        let bad = || {
            PyTypeError::new_err(format!(
                "headers item {i} must be a (name, value) pair, not {}",
                type_name(&item)
            ))
        };
        if item.is_instance_of::<PyString>() || item.is_instance_of::<PyBytes>() {
            return Err(bad());
        }
        let (name, value): (Bound<'_, PyAny>, Bound<'_, PyAny>) =
            item.extract().map_err(|_| bad())?;
        out.push(pair(&name, &value)?);
    }
    Ok(out)
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

/// A file system path: a str or an `os.PathLike` (whose `os.fspath` is a
/// str or bytes). An empty one is bad input.
pub(crate) fn path(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<std::path::PathBuf> {
    let wrong_type = || {
        PyTypeError::new_err(format!(
            "{name} must be a str or an os.PathLike, not {}",
            type_name(obj)
        ))
    };
    let fs = if obj.is_instance_of::<PyString>() {
        obj.clone()
    } else if obj.is_instance_of::<PyBytes>() || !obj.hasattr("__fspath__")? {
        return Err(wrong_type());
    } else {
        obj.py().import("os")?.call_method1("fspath", (obj,))?
    };
    let p = if let Ok(s) = fs.cast::<PyString>() {
        let s = s
            .to_cow()
            .map_err(|_| invalid(format!("{name} is not valid UTF-8 (lone surrogates)")))?;
        std::path::PathBuf::from(s.as_ref())
    } else if let Ok(b) = fs.cast::<PyBytes>() {
        bytes_path(b.as_bytes(), name)?
    } else {
        return Err(wrong_type());
    };
    if p.as_os_str().is_empty() {
        return Err(invalid(format!("{name} is an empty path")));
    }
    Ok(p)
}

#[cfg(unix)]
fn bytes_path(b: &[u8], _name: &str) -> PyResult<std::path::PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    Ok(std::path::PathBuf::from(std::ffi::OsStr::from_bytes(b)))
}

#[cfg(not(unix))]
fn bytes_path(b: &[u8], name: &str) -> PyResult<std::path::PathBuf> {
    std::str::from_utf8(b)
        .map(std::path::PathBuf::from)
        .map_err(|_| invalid(format!("{name} is not valid UTF-8")))
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

/// One length of a packed publish: a non-negative int.
#[inline]
fn one_length(item: &Bound<'_, PyAny>, i: usize) -> PyResult<usize> {
    // An exact int (not a bool, nor another subclass) needs no type checks.
    if item.is_exact_instance_of::<PyInt>() {
        if let Ok(v) = item.extract::<u64>() {
            if let Ok(v) = usize::try_from(v) {
                return Ok(v);
            }
        }
    }
    one_length_slow(item, i)
}

#[cold]
fn one_length_slow(item: &Bound<'_, PyAny>, i: usize) -> PyResult<usize> {
    if item.is_instance_of::<PyBool>() || !item.is_instance_of::<PyInt>() {
        return Err(PyTypeError::new_err(format!(
            "lengths[{i}] must be an int, not {}",
            type_name(item)
        )));
    }
    match item.extract::<u64>() {
        Ok(v) => usize::try_from(v)
            .map_err(|_| invalid(format!("lengths[{i}] {v} is too large for this machine"))),
        Err(_) => Err(invalid(format!(
            "lengths[{i}] is {}: a length must be between 0 and 2**64 - 1",
            repr(item)
        ))),
    }
}

/// The lengths of a packed publish: a list (or any iterable) of ints, or an
/// object with the buffer protocol holding integers of one C type (an
/// `array.array` such as `array('I')`, a memoryview cast to ints), read in
/// one copy of its bytes rather than one int object per length.
pub(crate) fn lengths(obj: &Bound<'_, PyAny>) -> PyResult<Vec<usize>> {
    if let Ok(list) = obj.cast::<PyList>() {
        let mut out = Vec::with_capacity(list.len());
        for (i, item) in list.iter().enumerate() {
            out.push(one_length(&item, i)?);
        }
        return Ok(out);
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        let mut out = Vec::with_capacity(t.len());
        for (i, item) in t.iter().enumerate() {
            out.push(one_length(&item, i)?);
        }
        return Ok(out);
    }
    let not_lengths = || {
        PyTypeError::new_err(format!(
            "lengths must be a list of ints (or an array of ints), not {}",
            type_name(obj)
        ))
    };
    // bytes and str are sequences too, but never meant as lengths.
    if obj.is_instance_of::<PyBytes>()
        || obj.is_instance_of::<PyByteArray>()
        || obj.is_instance_of::<PyString>()
    {
        return Err(not_lengths());
    }
    let py = obj.py();
    if let Ok(view) = py.import("builtins")?.getattr("memoryview")?.call1((obj,)) {
        return int_buffer(&view, obj);
    }
    let iter = obj.try_iter().map_err(|_| not_lengths())?;
    let mut out = Vec::new();
    for (i, item) in iter.enumerate() {
        out.push(one_length(&item?, i)?);
    }
    Ok(out)
}

/// The ints of a one-dimensional buffer (`view`, a memoryview of `obj`) of
/// a native integer format.
fn int_buffer(view: &Bound<'_, PyAny>, obj: &Bound<'_, PyAny>) -> PyResult<Vec<usize>> {
    let format: String = view.getattr("format")?.extract()?;
    let ndim: usize = view.getattr("ndim")?.extract()?;
    let itemsize: usize = view.getattr("itemsize")?.extract()?;
    let code = format.strip_prefix('@').unwrap_or(&format);
    let signed = match code {
        "B" | "H" | "I" | "L" | "Q" | "N" => false,
        "b" | "h" | "i" | "l" | "q" | "n" => true,
        _ => {
            return Err(PyTypeError::new_err(format!(
                "lengths must hold integers (a buffer of format 'I', 'L', 'Q', ...), \
                 not format {format:?} ({})",
                type_name(obj)
            )))
        }
    };
    if ndim != 1 || !matches!(itemsize, 1 | 2 | 4 | 8) {
        return Err(PyTypeError::new_err(format!(
            "lengths must be a one-dimensional buffer of integers, not {} with ndim {ndim}",
            type_name(obj)
        )));
    }
    let raw = view.call_method0("tobytes")?;
    let raw = raw.cast::<PyBytes>()?.as_bytes();
    let mut out = Vec::with_capacity(raw.len() / itemsize);
    for (i, b) in raw.chunks_exact(itemsize).enumerate() {
        let mut le = [0u8; 8];
        // Widen the native-endian item to 64 bits, sign-extending a
        // negative one so that it is caught below.
        let negative = signed
            && if cfg!(target_endian = "little") {
                b[itemsize - 1] & 0x80 != 0
            } else {
                b[0] & 0x80 != 0
            };
        if negative {
            let v = match itemsize {
                1 => i64::from(b[0] as i8),
                2 => i64::from(i16::from_ne_bytes([b[0], b[1]])),
                4 => i64::from(i32::from_ne_bytes([b[0], b[1], b[2], b[3]])),
                _ => i64::from_ne_bytes(b.try_into().unwrap_or([0; 8])),
            };
            return Err(invalid(format!(
                "lengths[{i}] is {v}: a length must not be negative"
            )));
        }
        if cfg!(target_endian = "little") {
            le[..itemsize].copy_from_slice(b);
        } else {
            for (k, byte) in b.iter().rev().enumerate() {
                le[k] = *byte;
            }
        }
        let v = u64::from_le_bytes(le);
        out.push(
            usize::try_from(v)
                .map_err(|_| invalid(format!("lengths[{i}] {v} is too large for this machine")))?,
        );
    }
    Ok(out)
}
