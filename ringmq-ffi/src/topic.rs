//! Topic handles and publishing.

use std::ffi::{c_char, c_void};

use std::time::Duration;

use ringmq_core::{PublishOptions, Topic, TopicOptions, MAX_HEADER_BYTES_LIMIT};

use crate::boundary::{handle, invalid, name, non_null, run, timeout, Result};
use crate::broker::ringmq_broker;
use crate::sized;
use crate::stats::ringmq_topic_stats;
use crate::types::{
    ringmq_buf, ringmq_header, ringmq_publish_options, ringmq_status, ringmq_topic_options,
};

/// A handle on a topic. Opaque; from `ringmq_topic_create` or
/// `ringmq_topic_open`, released by `ringmq_topic_release` (which does not
/// delete the topic: it lives as long as its broker). Every function taking
/// one is thread-safe: any number of threads may publish through one handle.
pub struct ringmq_topic {
    pub(crate) inner: Topic,
}

/// Fills `o` with the default topic options, as this library's own header
/// declares the struct (`sizeof(ringmq_topic_options)` of this version). In C
/// and C++ the header's macro of the same name calls
/// `ringmq_topic_options_init(o, sizeof(ringmq_topic_options))` instead, with
/// the size of the struct the caller was compiled with; this function is for
/// callers that find the library's symbols by name.
///
/// # Arguments
/// - `o`: the struct to fill; NULL does nothing.
///
/// # Safety
/// `o` is NULL or points to a writable `ringmq_topic_options` of this library's
/// version.
#[no_mangle]
pub unsafe extern "C" fn ringmq_topic_options_default(o: *mut ringmq_topic_options) {
    crate::boundary::boundary("ringmq_topic_options_default", || {
        // SAFETY: NULL or a whole struct of this version, by this
        // function's contract.
        unsafe { sized::init(o, std::mem::size_of::<ringmq_topic_options>()) }
    })
}

/// Fills the first `struct_size` bytes at `o` with the default topic options
/// and sets `o->struct_size` to `struct_size`: the fields that fit get their
/// defaults, bytes past this library's struct (fields of a newer header) become
/// 0, nothing past `struct_size` bytes is written. What
/// `ringmq_topic_options_default(o)` calls with the size of the caller's
/// struct.
///
/// # Arguments
/// - `o`: the struct to fill; NULL does nothing.
/// - `struct_size`: its size, `sizeof(ringmq_topic_options)` as the caller's
///   header declares it.
///
/// # Safety
/// `o` is NULL or has `struct_size` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn ringmq_topic_options_init(
    o: *mut ringmq_topic_options,
    struct_size: usize,
) {
    crate::boundary::boundary("ringmq_topic_options_init", || {
        // SAFETY: NULL or `struct_size` writable bytes, by this function's
        // contract.
        unsafe { sized::init(o, struct_size) }
    })
}

fn boxed(t: Topic, out: std::ptr::NonNull<*mut ringmq_topic>) {
    let p = Box::into_raw(Box::new(ringmq_topic { inner: t }));
    // SAFETY: `out` was checked non-null and is writable by the exported
    // functions' contracts.
    unsafe { out.as_ptr().write(p) };
}

/// Creates topic `name` and its dead-letter topic `<name>.dlq`.
///
/// # Arguments
/// - `b`: the broker.
/// - `name`: 1 to 251 bytes of UTF-8 (255 with ".dlq"), NUL-terminated,
///   without control characters; copied.
/// - `o`: options filled by `ringmq_topic_options_default` and then
///   changed, or NULL for the defaults; read during the call only.
/// - `out`: receives a new topic handle; set to NULL on failure.
///
/// # Returns
/// `RINGMQ_OK`; `RINGMQ_EXISTS` if the topic or its dead-letter topic exists;
/// `RINGMQ_INVALID_ARGUMENT` for a NULL, bad name or bad option (a capacity
/// that is 0 or not a power of two, a bad `o->struct_size`, …);
/// `RINGMQ_CLOSED` after close.
///
/// # Safety
/// `b` is NULL or live; `name` is NULL or NUL-terminated; `o` is NULL or has
/// `o->struct_size` initialised bytes; `out` is NULL or writable. The caller
/// owns the handle and releases it with `ringmq_topic_release`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn ringmq_topic_create(
    b: *mut ringmq_broker,
    name: *const c_char,
    o: *const ringmq_topic_options,
    out: *mut *mut ringmq_topic,
) -> ringmq_status {
    run("ringmq_topic_create", || {
        let out = non_null(out, "out")?;
        // SAFETY: writable by this function's contract.
        unsafe { out.as_ptr().write(std::ptr::null_mut()) };
        // SAFETY: NULL or live, by this function's contract.
        let b = unsafe { handle(b, "b") }?;
        // SAFETY: NULL or NUL-terminated, by this function's contract.
        let name = unsafe { self::name(name, "topic") }?;
        // SAFETY: NULL or `struct_size` initialised bytes, by this
        // function's contract.
        let opts = match unsafe { sized::read(o) }? {
            Some(o) => o.to_core()?,
            None => TopicOptions::default(),
        };
        boxed(b.inner.create_topic(name, opts)?, out);
        Ok(())
    })
}

/// Opens the existing topic `name` (dead-letter topics `<name>.dlq`
/// included).
///
/// # Arguments
/// - `b`: the broker. `name`: the topic's name.
/// - `out`: receives a new topic handle; set to NULL on failure.
///
/// # Returns
/// `RINGMQ_OK`; `RINGMQ_NOT_FOUND`; `RINGMQ_INVALID_ARGUMENT` (NULL, bad
/// name); `RINGMQ_CLOSED` after close.
///
/// # Safety
/// As for `ringmq_topic_create`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn ringmq_topic_open(
    b: *mut ringmq_broker,
    name: *const c_char,
    out: *mut *mut ringmq_topic,
) -> ringmq_status {
    run("ringmq_topic_open", || {
        let out = non_null(out, "out")?;
        // SAFETY: writable by this function's contract.
        unsafe { out.as_ptr().write(std::ptr::null_mut()) };
        // SAFETY: NULL or live, by this function's contract.
        let b = unsafe { handle(b, "b") }?;
        // SAFETY: NULL or NUL-terminated, by this function's contract.
        let name = unsafe { self::name(name, "topic") }?;
        boxed(b.inner.topic(name)?, out);
        Ok(())
    })
}

/// Releases a topic handle. The topic itself lives on in its broker, and
/// subscriptions made through this handle stay valid.
///
/// # Arguments
/// - `t`: the handle, or NULL (nothing happens).
///
/// # Safety
/// `t` is NULL or live and not used by any other thread now or afterwards.
#[no_mangle]
pub unsafe extern "C" fn ringmq_topic_release(t: *mut ringmq_topic) {
    crate::boundary::boundary("ringmq_topic_release", || {
        if !t.is_null() {
            // SAFETY: created by Box::into_raw and not freed yet, by this
            // function's contract.
            drop(unsafe { Box::from_raw(t) });
        }
    })
}

/// Publishes one message: one copy of `len` bytes into the ring.
///
/// # Arguments
/// - `t`: the topic.
/// - `data`: the payload; may be NULL only when `len` is 0. Copied before
///   the call returns.
/// - `len`: at most the topic's `slot_size`.
/// - `key`: the message's key (for `ordered_by_key`), 0 if unused.
/// - `timeout_ms`: under `RINGMQ_OVERFLOW_BLOCK`, how long to wait for room:
///   -1 for ever, 0 not at all (a full topic answers `RINGMQ_TIMEOUT` at
///   once), else milliseconds. Ignored by the other policies.
/// - `out_id`: receives the message's id; may be NULL.
///
/// # Returns
/// `RINGMQ_OK`; `RINGMQ_TOO_LARGE`; `RINGMQ_FULL` (reject policy);
/// `RINGMQ_TIMEOUT` (block policy, still full); `RINGMQ_CLOSED`;
/// `RINGMQ_INVALID_ARGUMENT` (NULL `t`, NULL `data` with `len` > 0,
/// `timeout_ms` below -1).
///
/// # Safety
/// `t` is NULL or live; `data` is NULL or has `len` readable bytes; `out_id`
/// is NULL or writable. Thread-safe: any number of threads may publish at
/// once.
#[no_mangle]
pub unsafe extern "C" fn ringmq_topic_publish(
    t: *mut ringmq_topic,
    data: *const c_void,
    len: usize,
    key: u64,
    timeout_ms: i32,
    out_id: *mut u64,
) -> ringmq_status {
    // SAFETY: this function's contract is publish's.
    unsafe {
        publish(
            "ringmq_topic_publish",
            t,
            data,
            len,
            key,
            timeout_ms,
            out_id,
        )
    }
}

/// The body of `ringmq_topic_publish`, its errors named `func`.
///
/// # Safety
/// As for `ringmq_topic_publish`.
pub(crate) unsafe fn publish(
    func: &'static str,
    t: *mut ringmq_topic,
    data: *const c_void,
    len: usize,
    key: u64,
    timeout_ms: i32,
    out_id: *mut u64,
) -> ringmq_status {
    run(func, || {
        // SAFETY: NULL or live, by this function's contract.
        let t = unsafe { handle(t, "t") }?;
        // SAFETY: NULL or `len` readable bytes, by this function's contract.
        let data = unsafe { bytes(data.cast(), len, "data") }?;
        let id = t.inner.publish_with(data, key, timeout(timeout_ms)?)?;
        if !out_id.is_null() {
            // SAFETY: non-null and writable by this function's contract.
            unsafe { out_id.write(id) };
        }
        Ok(())
    })
}

/// Fills `o` with the default publish options: key 0, `timeout_ms` -1, no
/// headers, no msg_id, no delay, no ttl (what `ringmq_topic_publish` does), as
/// this library's own header declares the struct
/// (`sizeof(ringmq_publish_options)` of this version). In C and C++ the
/// header's macro of the same name calls `ringmq_publish_options_init(o,
/// sizeof(ringmq_publish_options))` instead, with the size of the struct the
/// caller was compiled with; this function is for callers that find the
/// library's symbols by name.
///
/// # Arguments
/// - `o`: the struct to fill; NULL does nothing.
///
/// # Safety
/// `o` is NULL or points to a writable `ringmq_publish_options` of this
/// library's version.
#[no_mangle]
pub unsafe extern "C" fn ringmq_publish_options_default(o: *mut ringmq_publish_options) {
    crate::boundary::boundary("ringmq_publish_options_default", || {
        // SAFETY: NULL or a whole struct of this version, by this
        // function's contract.
        unsafe { sized::init(o, std::mem::size_of::<ringmq_publish_options>()) }
    })
}

/// Fills the first `struct_size` bytes at `o` with the default publish options
/// and sets `o->struct_size` to `struct_size`: the fields that fit get their
/// defaults, bytes past this library's struct (fields of a newer header) become
/// 0, nothing past `struct_size` bytes is written. What
/// `ringmq_publish_options_default(o)` calls with the size of the caller's
/// struct.
///
/// # Arguments
/// - `o`: the struct to fill; NULL does nothing.
/// - `struct_size`: its size, `sizeof(ringmq_publish_options)` as the caller's
///   header declares it.
///
/// # Safety
/// `o` is NULL or has `struct_size` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn ringmq_publish_options_init(
    o: *mut ringmq_publish_options,
    struct_size: usize,
) {
    crate::boundary::boundary("ringmq_publish_options_init", || {
        // SAFETY: NULL or `struct_size` writable bytes, by this function's
        // contract.
        unsafe { sized::init(o, struct_size) }
    })
}

/// Headers converted on the stack up to this many; more take one
/// allocation per publish.
const STACK_HEADERS: usize = 16;

/// Most headers a publish can have: each takes at least 4 bytes of the
/// largest `max_header_bytes`. Checked before anything is allocated.
const MAX_HEADER_COUNT: usize = MAX_HEADER_BYTES_LIMIT / 4;

/// The C headers as the core's `(name, value)` pairs, each checked: no NULL
/// with a nonzero length, names UTF-8 (the core checks the rest).
///
/// # Safety
/// `headers` has `count` readable `ringmq_header`s (checked non-null here),
/// each pointing to readable bytes of its lengths.
unsafe fn c_headers<'a>(
    headers: *const ringmq_header,
    count: usize,
    out: &mut [(&'a str, &'a [u8])],
) -> Result<()> {
    if count == 0 {
        return Ok(());
    }
    let headers = non_null(headers, format_args!("headers (with header_count {count})"))?;
    // SAFETY: `count` readable headers by this function's contract.
    let all = unsafe { std::slice::from_raw_parts(headers.as_ptr(), count) };
    for (i, (h, slot)) in all.iter().zip(out.iter_mut()).enumerate() {
        // SAFETY: NULL or `name_len` readable bytes, by this function's
        // contract.
        let name = unsafe { bytes(h.name.cast(), h.name_len, format_args!("headers[{i}].name")) }?;
        let name = std::str::from_utf8(name).map_err(|e| {
            invalid(format!(
                "headers[{i}].name is not valid UTF-8 (bad byte at offset {})",
                e.valid_up_to()
            ))
        })?;
        // SAFETY: NULL or `value_len` readable bytes, by this function's
        // contract.
        let value = unsafe { bytes(h.value, h.value_len, format_args!("headers[{i}].value")) }?;
        *slot = (name, value);
    }
    Ok(())
}

/// The core's options from checked C options, the headers in `pairs`.
fn core_options<'a>(
    o: &ringmq_publish_options,
    pairs: &'a [(&'a str, &'a [u8])],
    msg_id: Option<&'a [u8]>,
) -> Result<PublishOptions<'a>> {
    let ms = |v: u64| (v != 0).then(|| Duration::from_millis(v));
    Ok(PublishOptions {
        key: o.key,
        timeout: timeout(o.timeout_ms)?,
        headers: pairs,
        msg_id,
        delay: ms(o.delay_ms),
        ttl: ms(o.ttl_ms),
        ..PublishOptions::default()
    })
}

/// Publishes one message with options: a key, a timeout, headers, a msg_id
/// for de-duplication, a delay and a time to live.
///
/// # Arguments
/// - `t`: the topic.
/// - `data`, `len`: the payload, as for `ringmq_topic_publish`.
/// - `o`: options (filled by `ringmq_publish_options_default`, then
///   changed), or NULL for the defaults (then this is `ringmq_topic_publish`
///   with key 0 and `timeout_ms` -1). Read during the call only.
/// - `out_id`: receives the message's id; may be NULL. For a msg_id already
///   published within the topic's `dedupe_window_ms`, nothing is stored and
///   this is the first message's id (counted as the topic's `duplicates`).
///
/// # Returns
/// `RINGMQ_OK`; `RINGMQ_TOO_LARGE` (payload over `slot_size`, headers over
/// `max_header_bytes`, a header name over 255 bytes, a msg_id over 128
/// bytes); `RINGMQ_FULL` (reject policy, or `max_delayed` delayed messages
/// wait already); `RINGMQ_TIMEOUT`; `RINGMQ_CLOSED`;
/// `RINGMQ_INVALID_ARGUMENT` (NULL `t`; a NULL pointer with a nonzero
/// length; a header name that is empty, not UTF-8 or has a control
/// character; `timeout_ms` below -1; a delay or ttl over the limit; a bad
/// `o->struct_size`). Nothing is published on failure.
///
/// # Safety
/// `t` is NULL or live; `data` is NULL or has `len` readable bytes; `o` is NULL
/// or has `o->struct_size` initialised bytes, its `headers` NULL or
/// `header_count` readable `ringmq_header`s each pointing to readable bytes of
/// its lengths, its `msg_id` NULL or `msg_id_len` readable bytes; `out_id` is
/// NULL or writable. Thread-safe. Without headers and msg_id it allocates
/// nothing (with up to 16 headers, nothing on the C side either).
#[no_mangle]
pub unsafe extern "C" fn ringmq_topic_publish_ex(
    t: *mut ringmq_topic,
    data: *const c_void,
    len: usize,
    o: *const ringmq_publish_options,
    out_id: *mut u64,
) -> ringmq_status {
    // SAFETY: this function's contract is publish_ex's.
    unsafe { publish_ex("ringmq_topic_publish_ex", t, data, len, o, out_id) }
}

/// The body of `ringmq_topic_publish_ex`, its errors named `func`.
///
/// # Safety
/// As for `ringmq_topic_publish_ex`.
pub(crate) unsafe fn publish_ex(
    func: &'static str,
    t: *mut ringmq_topic,
    data: *const c_void,
    len: usize,
    o: *const ringmq_publish_options,
    out_id: *mut u64,
) -> ringmq_status {
    run(func, || {
        // SAFETY: NULL or live, by this function's contract.
        let t = unsafe { handle(t, "t") }?;
        // SAFETY: NULL or `len` readable bytes, by this function's contract.
        let data = unsafe { bytes(data.cast(), len, "data") }?;
        // SAFETY: NULL or `struct_size` initialised bytes, by this
        // function's contract.
        let o = unsafe { sized::read(o) }?.unwrap_or_default();
        let msg_id = match o.msg_id_len {
            0 => None,
            // SAFETY: NULL or `msg_id_len` readable bytes, by this
            // function's contract.
            n => Some(unsafe { bytes(o.msg_id, n, "msg_id") }?),
        };
        let count = o.header_count;
        if count > MAX_HEADER_COUNT {
            return Err(ringmq_core::Error::new(
                ringmq_core::ErrorKind::TooLarge,
                format!(
                    "header_count {count} is over {MAX_HEADER_COUNT}: headers take at least \
                     4 bytes each, and max_header_bytes is at most {MAX_HEADER_BYTES_LIMIT}"
                ),
            ));
        }
        let mut stack: [(&str, &[u8]); STACK_HEADERS] = [("", &[]); STACK_HEADERS];
        let mut heap;
        let pairs: &mut [(&str, &[u8])] = if count <= STACK_HEADERS {
            &mut stack[..count]
        } else {
            heap = vec![("", &[][..]); count];
            &mut heap[..]
        };
        // SAFETY: `headers` is NULL or has `header_count` readable headers,
        // by this function's contract.
        unsafe { c_headers(o.headers, count, pairs) }?;
        let id = t
            .inner
            .publish_opts(data, &core_options(&o, pairs, msg_id)?)?;
        if !out_id.is_null() {
            // SAFETY: non-null and writable by this function's contract.
            unsafe { out_id.write(id) };
        }
        Ok(())
    })
}

/// `len` bytes at `data` as a slice; NULL is fine when `len` is 0.
///
/// # Safety
/// `data` is NULL or has `len` readable bytes that stay unchanged while the
/// slice lives.
pub(crate) unsafe fn bytes<'a>(
    data: *const u8,
    len: usize,
    what: impl std::fmt::Display,
) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    let data = non_null(data, format_args!("{what} (with len {len})"))?.as_ptr();
    if len > isize::MAX as usize {
        return Err(invalid(format!("{what} len {len} is not a valid size")));
    }
    // SAFETY: non-null, `len` readable bytes, by this function's contract.
    Ok(unsafe { std::slice::from_raw_parts(data, len) })
}

/// A `ringmq_buf` whose pointer and length were checked by `checked_bufs`.
#[repr(transparent)]
struct CheckedBuf(ringmq_buf);

impl AsRef<[u8]> for CheckedBuf {
    fn as_ref(&self) -> &[u8] {
        if self.0.len == 0 {
            return &[];
        }
        // SAFETY: a CheckedBuf exists only as a view made by `checked_bufs`,
        // which checked that `data` is non-null; the caller of
        // ringmq_topic_publish_batch promises `len` readable bytes at it for the
        // call, and the view does not outlive the call.
        unsafe { std::slice::from_raw_parts(self.0.data.cast::<u8>(), self.0.len) }
    }
}

/// Checks every buffer of a batch and views them as `CheckedBuf`s.
///
/// # Safety
/// `items` has `count` readable `ringmq_buf`s (checked non-null here).
unsafe fn checked_bufs<'a>(items: *const ringmq_buf, count: usize) -> Result<&'a [CheckedBuf]> {
    if count == 0 {
        return Ok(&[]);
    }
    let items = non_null(items, format_args!("items (with count {count})"))?.as_ptr();
    // SAFETY: `count` readable items by this function's contract.
    let bufs = unsafe { std::slice::from_raw_parts(items, count) };
    for (i, b) in bufs.iter().enumerate() {
        if b.data.is_null() && b.len > 0 {
            return Err(invalid(format!(
                "items[{i}].data is NULL with len {}",
                b.len
            )));
        }
        if b.len > isize::MAX as usize {
            return Err(invalid(format!(
                "items[{i}].len {} is not a valid size",
                b.len
            )));
        }
    }
    // SAFETY: CheckedBuf is repr(transparent) over ringmq_buf, so the slices
    // have the same layout.
    Ok(unsafe { std::slice::from_raw_parts(items.cast::<CheckedBuf>(), count) })
}

/// Publishes `count` messages in one claim: all or none. Their ids are
/// consecutive, from `*out_first_id`. All get the same `key`.
///
/// # Arguments
/// - `t`: the topic.
/// - `items`: `count` payloads (each copied before the call returns); may
///   be NULL only when `count` is 0.
/// - `count`: at most the topic's capacity.
/// - `key`, `timeout_ms`: as for `ringmq_topic_publish`.
/// - `out_first_id`: receives the first id; may be NULL.
///
/// # Returns
/// As `ringmq_topic_publish`; `RINGMQ_INVALID_ARGUMENT` also for a batch larger
/// than the capacity.
///
/// # Safety
/// `items` is NULL or has `count` readable `ringmq_buf`s, each pointing to
/// `len` readable bytes. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn ringmq_topic_publish_batch(
    t: *mut ringmq_topic,
    items: *const ringmq_buf,
    count: usize,
    key: u64,
    timeout_ms: i32,
    out_first_id: *mut u64,
) -> ringmq_status {
    // SAFETY: this function's contract is publish_batch's.
    unsafe {
        publish_batch(
            "ringmq_topic_publish_batch",
            t,
            items,
            count,
            key,
            timeout_ms,
            out_first_id,
        )
    }
}

/// The body of `ringmq_topic_publish_batch`, its errors named `func`.
///
/// # Safety
/// As for `ringmq_topic_publish_batch`.
pub(crate) unsafe fn publish_batch(
    func: &'static str,
    t: *mut ringmq_topic,
    items: *const ringmq_buf,
    count: usize,
    key: u64,
    timeout_ms: i32,
    out_first_id: *mut u64,
) -> ringmq_status {
    run(func, || {
        // SAFETY: NULL or live, by this function's contract.
        let t = unsafe { handle(t, "t") }?;
        // SAFETY: NULL or `count` readable items, by this function's contract.
        let items = unsafe { checked_bufs(items, count) }?;
        let ids = t.inner.publish_batch(items, key, timeout(timeout_ms)?)?;
        if !out_first_id.is_null() {
            // SAFETY: non-null and writable by this function's contract.
            unsafe { out_first_id.write(ids.start) };
        }
        Ok(())
    })
}

/// Reads the topic's counters.
///
/// # Arguments
/// - `t`: the topic. `out`: receives the counters.
///
/// # Returns
/// `RINGMQ_OK` or `RINGMQ_INVALID_ARGUMENT` (a NULL argument).
///
/// # Safety
/// `t` is NULL or live; `out` is NULL or writable. Thread-safe; it never
/// blocks publishers.
#[no_mangle]
pub unsafe extern "C" fn ringmq_topic_get_stats(
    t: *const ringmq_topic,
    out: *mut ringmq_topic_stats,
) -> ringmq_status {
    run("ringmq_topic_get_stats", || {
        // SAFETY: NULL or live, by this function's contract.
        let t = unsafe { handle(t, "t") }?;
        let out = non_null(out, "out")?;
        let s = ringmq_topic_stats::from(&t.inner.stats());
        // SAFETY: writable by this function's contract.
        unsafe { out.as_ptr().write(s) };
        Ok(())
    })
}
