//! Reading a delivered message's headers, in place: no allocation, and a
//! header that is not there costs no allocation either.

use std::ffi::c_char;

use ringmq_core::internals::decode_ext;
use ringmq_core::Headers;

use crate::boundary::{boundary, non_null, set_last_error, set_last_error_args};
use crate::topic::bytes;
use crate::types::{ringmq_message, ringmq_status, EXT_VIEW};

/// The headers of a message filled by this library.
///
/// # Safety
/// `m` was filled by `ringmq_sub_poll`, `ringmq_sub_poll_batch` or a push
/// handler's call (or copied from one, or zeroed), and its data is still valid.
unsafe fn headers_of(m: &ringmq_message) -> Headers<'_> {
    if m.ext.is_null() || m.header_count == 0 {
        Headers::default()
    } else if m.ext_len == EXT_VIEW {
        // SAFETY: a push handler's message points to its `Headers` view,
        // which lives during the call, as the message does.
        unsafe { *m.ext.cast::<Headers<'_>>() }
    } else {
        // SAFETY: a pulled message points to its encoded block, pinned with
        // its payload while the delivery is unsettled.
        decode_ext(unsafe { std::slice::from_raw_parts(m.ext.cast::<u8>(), m.ext_len) }).1
    }
}

/// Writes `v` to `p` unless it is NULL.
///
/// # Safety
/// `p` is NULL or writable.
unsafe fn put<T>(p: *mut T, v: T) {
    if !p.is_null() {
        // SAFETY: non-null and writable by this function's contract.
        unsafe { p.write(v) };
    }
}

/// Records the last error from format arguments (no allocation once the
/// thread's buffer is large enough) and answers `status`.
fn fail(func: &str, status: ringmq_status, message: std::fmt::Arguments<'_>) -> ringmq_status {
    set_last_error_args(func, message);
    status
}

/// Reads header number `index` of a delivered message (0 is the first, in
/// publish order; names may repeat). Allocates nothing.
///
/// # Arguments
/// - `m`: the message, as filled by `ringmq_sub_poll`, `ringmq_sub_poll_batch`
///   or given to a push handler.
/// - `index`: below `m->header_count`.
/// - `name`, `name_len`: receive the name (UTF-8, not NUL-terminated) and
///   its length in bytes.
/// - `value`, `value_len`: receive the value (any bytes, not
///   NUL-terminated; a valid pointer also when empty) and its length.
///
/// Each output may be NULL when not wanted; outputs are left untouched on
/// failure. The name and value stay valid as long as the message's `data`
/// (pulled: until the delivery is settled; push: during the handler's
/// call).
///
/// # Returns
/// `RINGMQ_OK`; `RINGMQ_NOT_FOUND` for an index at or past
/// `header_count`; `RINGMQ_INVALID_ARGUMENT` for a NULL `m`.
///
/// # Safety
/// `m` is NULL or a message this library filled (or a copy of one), whose
/// data is still valid; each output is NULL or writable. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn ringmq_message_header(
    m: *const ringmq_message,
    index: u32,
    name: *mut *const c_char,
    name_len: *mut usize,
    value: *mut *const u8,
    value_len: *mut usize,
) -> ringmq_status {
    const FUNC: &str = "ringmq_message_header";
    boundary(FUNC, || {
        let Ok(m) = non_null(m, "m") else {
            set_last_error(FUNC, "m is NULL");
            return ringmq_status::RINGMQ_INVALID_ARGUMENT;
        };
        // SAFETY: non-null, and filled by this library with valid data, by
        // this function's contract.
        let m = unsafe { m.as_ref() };
        let found = if index < m.header_count {
            // SAFETY: as above.
            unsafe { headers_of(m) }.at(index as usize)
        } else {
            None
        };
        let Some((n, v)) = found else {
            let count = m.header_count;
            return fail(
                FUNC,
                ringmq_status::RINGMQ_NOT_FOUND,
                format_args!("no header at index {index}: the message has {count}"),
            );
        };
        // SAFETY: each output is NULL or writable, by this function's
        // contract.
        unsafe {
            put(name, n.as_ptr().cast());
            put(name_len, n.len());
            put(value, v.as_ptr());
            put(value_len, v.len());
        }
        ringmq_status::RINGMQ_OK
    })
}

/// Finds the first header of a delivered message named `name` (compared
/// byte for byte) and reads its value. Allocates nothing.
///
/// # Arguments
/// - `m`: the message, as for `ringmq_message_header`.
/// - `name`, `name_len`: the name, `name_len` bytes (not NUL-terminated;
///   `strlen` of a C string will do); NULL only when `name_len` is 0.
/// - `value`, `value_len`: receive the value and its length, as for
///   `ringmq_message_header`; each may be NULL when not wanted.
///
/// # Returns
/// `RINGMQ_OK`; `RINGMQ_NOT_FOUND` when no header has that name (also for a
/// name that is not UTF-8, which no header has); `RINGMQ_INVALID_ARGUMENT`
/// for a NULL `m`, or a NULL `name` with a nonzero `name_len`.
///
/// # Safety
/// As for `ringmq_message_header`; `name` is NULL or has `name_len`
/// readable bytes. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn ringmq_message_header_get(
    m: *const ringmq_message,
    name: *const c_char,
    name_len: usize,
    value: *mut *const u8,
    value_len: *mut usize,
) -> ringmq_status {
    const FUNC: &str = "ringmq_message_header_get";
    boundary(FUNC, || {
        let Ok(m) = non_null(m, "m") else {
            set_last_error(FUNC, "m is NULL");
            return ringmq_status::RINGMQ_INVALID_ARGUMENT;
        };
        // SAFETY: NULL or `name_len` readable bytes, by this function's
        // contract.
        let wanted = match unsafe { bytes(name.cast(), name_len, "name") } {
            Ok(n) => n,
            Err(e) => {
                set_last_error(FUNC, e.message());
                return ringmq_status::RINGMQ_INVALID_ARGUMENT;
            }
        };
        // SAFETY: non-null, and filled by this library with valid data, by
        // this function's contract.
        let m = unsafe { m.as_ref() };
        let found = match std::str::from_utf8(wanted) {
            // SAFETY: as above.
            Ok(w) => unsafe { headers_of(m) }.get(w),
            Err(_) => None,
        };
        let Some(v) = found else {
            return fail(
                FUNC,
                ringmq_status::RINGMQ_NOT_FOUND,
                format_args!("no header named \"{}\"", wanted.escape_ascii()),
            );
        };
        // SAFETY: each output is NULL or writable, by this function's
        // contract.
        unsafe {
            put(value, v.as_ptr());
            put(value_len, v.len());
        }
        ringmq_status::RINGMQ_OK
    })
}
