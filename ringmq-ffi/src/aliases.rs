//! The names the C API had before the `ringmq_<object>_<verb>` rule, each
//! a thin forward to the function that now has the name (its errors still
//! name the function called, as `ringmq_last_error()` promises).
//!
//! Two kinds, listed in `include/ringmq.abi`:
//! - the names DESIGN/1.0 gave (`ringmq_publish`, `ringmq_poll`, …): stable
//!   aliases, kept for as long as that contract stands;
//! - names added after it and renamed before any release
//!   (`ringmq_publish_ex`, …): deprecated, so the header marks them
//!   `RINGMQ_DEPRECATED` (a compiler warning under `RINGMQ_WARN_DEPRECATED`);
//!   kept for at least one major version after the one that deprecated
//!   them.
//!
//! cbindgen declares these after the functions they forward to (this module
//! is the last in lib.rs).
#![allow(clippy::too_many_arguments)]

use std::ffi::{c_char, c_void};

use crate::broker::ringmq_broker;
use crate::sub::ringmq_sub;
use crate::topic::ringmq_topic;
use crate::types::*;

/// Same as `ringmq_topic_publish`; kept as the name DESIGN/1.0 used.
///
/// # Safety
/// As for `ringmq_topic_publish`.
#[no_mangle]
pub unsafe extern "C" fn ringmq_publish(
    t: *mut ringmq_topic,
    data: *const c_void,
    len: usize,
    key: u64,
    timeout_ms: i32,
    out_id: *mut u64,
) -> ringmq_status {
    // SAFETY: this function's contract is ringmq_topic_publish's.
    unsafe { crate::topic::publish("ringmq_publish", t, data, len, key, timeout_ms, out_id) }
}

/// Same as `ringmq_topic_publish_ex`: its name before the
/// `ringmq_<object>_<verb>` rule, deprecated (kept for at least one major
/// version; see docs/C.md).
///
/// # Safety
/// As for `ringmq_topic_publish_ex`.
#[no_mangle]
#[deprecated(note = "renamed ringmq_topic_publish_ex")]
pub unsafe extern "C" fn ringmq_publish_ex(
    t: *mut ringmq_topic,
    data: *const c_void,
    len: usize,
    o: *const ringmq_publish_options,
    out_id: *mut u64,
) -> ringmq_status {
    // SAFETY: this function's contract is ringmq_topic_publish_ex's.
    unsafe { crate::topic::publish_ex("ringmq_publish_ex", t, data, len, o, out_id) }
}

/// Same as `ringmq_topic_publish_batch`: its name before the
/// `ringmq_<object>_<verb>` rule, deprecated (kept for at least one major
/// version; see docs/C.md).
///
/// # Safety
/// As for `ringmq_topic_publish_batch`.
#[no_mangle]
#[deprecated(note = "renamed ringmq_topic_publish_batch")]
pub unsafe extern "C" fn ringmq_publish_batch(
    t: *mut ringmq_topic,
    items: *const ringmq_buf,
    count: usize,
    key: u64,
    timeout_ms: i32,
    out_first_id: *mut u64,
) -> ringmq_status {
    // SAFETY: this function's contract is ringmq_topic_publish_batch's.
    unsafe {
        crate::topic::publish_batch(
            "ringmq_publish_batch",
            t,
            items,
            count,
            key,
            timeout_ms,
            out_first_id,
        )
    }
}

/// Same as `ringmq_topic_subscribe`; kept as the name DESIGN/1.0 used.
///
/// # Safety
/// As for `ringmq_topic_subscribe`.
#[no_mangle]
pub unsafe extern "C" fn ringmq_subscribe(
    t: *mut ringmq_topic,
    group: *const c_char,
    h: ringmq_handler,
    user_data: *mut c_void,
    o: *const ringmq_sub_options,
    out: *mut *mut ringmq_sub,
) -> ringmq_status {
    // SAFETY: this function's contract is ringmq_topic_subscribe's.
    unsafe { crate::sub::subscribe("ringmq_subscribe", t, group, h, user_data, o, out) }
}

/// Same as `ringmq_topic_subscribe_ex`: its name before the
/// `ringmq_<object>_<verb>` rule, deprecated (kept for at least one major
/// version; see docs/C.md).
///
/// # Safety
/// As for `ringmq_topic_subscribe_ex`.
#[no_mangle]
#[deprecated(note = "renamed ringmq_topic_subscribe_ex")]
pub unsafe extern "C" fn ringmq_subscribe_ex(
    t: *mut ringmq_topic,
    group: *const c_char,
    h: ringmq_handler_ex,
    user_data: *mut c_void,
    o: *const ringmq_sub_options,
    out: *mut *mut ringmq_sub,
) -> ringmq_status {
    // SAFETY: this function's contract is ringmq_topic_subscribe_ex's.
    unsafe { crate::sub::subscribe_ex("ringmq_subscribe_ex", t, group, h, user_data, o, out) }
}

/// Same as `ringmq_topic_subscribe_pull`; kept as the name DESIGN/1.0 used.
///
/// # Safety
/// As for `ringmq_topic_subscribe_pull`.
#[no_mangle]
pub unsafe extern "C" fn ringmq_subscribe_pull(
    t: *mut ringmq_topic,
    group: *const c_char,
    o: *const ringmq_sub_options,
    out: *mut *mut ringmq_sub,
) -> ringmq_status {
    // SAFETY: this function's contract is ringmq_topic_subscribe_pull's.
    unsafe { crate::sub::subscribe_pull("ringmq_subscribe_pull", t, group, o, out) }
}

/// Same as `ringmq_sub_poll`; kept as the name DESIGN/1.0 used.
///
/// # Safety
/// As for `ringmq_sub_poll`.
#[no_mangle]
pub unsafe extern "C" fn ringmq_poll(
    s: *mut ringmq_sub,
    timeout_ms: i32,
    out: *mut ringmq_message,
) -> ringmq_status {
    // SAFETY: this function's contract is ringmq_sub_poll's.
    unsafe { crate::sub::poll("ringmq_poll", s, timeout_ms, out) }
}

/// Same as `ringmq_sub_poll_batch`: its name before the
/// `ringmq_<object>_<verb>` rule, deprecated (kept for at least one major
/// version; see docs/C.md).
///
/// # Safety
/// As for `ringmq_sub_poll_batch`.
#[no_mangle]
#[deprecated(note = "renamed ringmq_sub_poll_batch")]
pub unsafe extern "C" fn ringmq_poll_batch(
    s: *mut ringmq_sub,
    max: usize,
    timeout_ms: i32,
    out: *mut ringmq_message,
    out_count: *mut usize,
) -> ringmq_status {
    // SAFETY: this function's contract is ringmq_sub_poll_batch's.
    unsafe { crate::sub::poll_batch("ringmq_poll_batch", s, max, timeout_ms, out, out_count) }
}

/// Same as `ringmq_sub_ack`; kept as the name DESIGN/1.0 used.
///
/// # Safety
/// As for `ringmq_sub_ack`.
#[no_mangle]
pub unsafe extern "C" fn ringmq_ack(s: *mut ringmq_sub, delivery_tag: u64) -> ringmq_status {
    // SAFETY: this function's contract is ringmq_sub_ack's.
    unsafe { crate::sub::ack("ringmq_ack", s, delivery_tag) }
}

/// Same as `ringmq_sub_ack_batch`: its name before the `ringmq_<object>_<verb>`
/// rule, deprecated (kept for at least one major version; see docs/C.md).
///
/// # Safety
/// As for `ringmq_sub_ack_batch`.
#[no_mangle]
#[deprecated(note = "renamed ringmq_sub_ack_batch")]
pub unsafe extern "C" fn ringmq_ack_batch(
    s: *mut ringmq_sub,
    tags: *const u64,
    count: usize,
) -> ringmq_status {
    // SAFETY: this function's contract is ringmq_sub_ack_batch's.
    unsafe { crate::sub::ack_batch("ringmq_ack_batch", s, tags, count) }
}

/// Same as `ringmq_sub_nack`; kept as the name DESIGN/1.0 used.
///
/// # Safety
/// As for `ringmq_sub_nack`.
#[no_mangle]
pub unsafe extern "C" fn ringmq_nack(
    s: *mut ringmq_sub,
    delivery_tag: u64,
    delay_ms: u32,
) -> ringmq_status {
    // SAFETY: this function's contract is ringmq_sub_nack's.
    unsafe { crate::sub::nack("ringmq_nack", s, delivery_tag, delay_ms) }
}

/// Same as `ringmq_sub_term`; kept as the name DESIGN/1.0 used.
///
/// # Safety
/// As for `ringmq_sub_term`.
#[no_mangle]
pub unsafe extern "C" fn ringmq_term(s: *mut ringmq_sub, delivery_tag: u64) -> ringmq_status {
    // SAFETY: this function's contract is ringmq_sub_term's.
    unsafe { crate::sub::term("ringmq_term", s, delivery_tag) }
}

/// Same as `ringmq_sub_in_progress`; kept as the name DESIGN/1.0 used.
///
/// # Safety
/// As for `ringmq_sub_in_progress`.
#[no_mangle]
pub unsafe extern "C" fn ringmq_in_progress(
    s: *mut ringmq_sub,
    delivery_tag: u64,
) -> ringmq_status {
    // SAFETY: this function's contract is ringmq_sub_in_progress's.
    unsafe { crate::sub::in_progress("ringmq_in_progress", s, delivery_tag) }
}

/// Same as `ringmq_sub_unsubscribe`; kept as the name DESIGN/1.0 used.
///
/// # Safety
/// As for `ringmq_sub_unsubscribe`.
#[no_mangle]
pub unsafe extern "C" fn ringmq_unsubscribe(s: *mut ringmq_sub) -> ringmq_status {
    // SAFETY: this function's contract is ringmq_sub_unsubscribe's.
    unsafe { crate::sub::unsubscribe("ringmq_unsubscribe", s) }
}

/// Same as `ringmq_broker_metrics_text`; kept as the name DESIGN/1.0 used.
///
/// # Safety
/// As for `ringmq_broker_metrics_text`.
#[no_mangle]
pub unsafe extern "C" fn ringmq_metrics_text(
    b: *const ringmq_broker,
    buf: *mut c_char,
    cap: usize,
    needed: *mut usize,
) -> ringmq_status {
    // SAFETY: this function's contract is ringmq_broker_metrics_text's.
    unsafe { crate::broker::metrics_text("ringmq_metrics_text", b, buf, cap, needed) }
}
