//! Library-wide calls and the broker handle.

use std::ffi::{c_char, c_void};
use std::ptr::NonNull;
use std::time::Duration;

use ringmq_core::{Broker, BrokerOptions, HandlerFailure};

use crate::boundary::{boundary, handle, invalid, last_error_ptr, non_null, run, Result};
use crate::sized;
use crate::stats::ringmq_pool_stats;
use crate::types::{ringmq_broker_options, ringmq_error_callback, ringmq_status, ringmq_status_in};

/// A broker: one engine instance with its topics and worker pool. Opaque;
/// created by `ringmq_broker_new`, freed by `ringmq_broker_free`. Every
/// function taking one is thread-safe.
pub struct ringmq_broker {
    pub(crate) inner: Broker,
}

/// A short static description of a status.
///
/// # Arguments
/// - `s`: any value; unknown ones are described as such.
///
/// # Returns
/// A static NUL-terminated string (never NULL, never to be freed).
///
/// # Safety
/// Always safe; thread-safe.
#[no_mangle]
pub extern "C" fn ringmq_status_str(s: ringmq_status_in) -> *const c_char {
    boundary("ringmq_status_str", || {
        let text = match s {
            0 => c"ok",
            1 => c"invalid argument",
            2 => c"full",
            3 => c"timed out",
            4 => c"too large",
            5 => c"not found",
            6 => c"already exists",
            7 => c"closed",
            8 => c"empty",
            9 => c"internal error",
            10 => c"interrupted",
            11 => c"i/o error",
            _ => c"unknown status",
        };
        text.as_ptr()
    })
}

/// The detailed message of the last call that failed on this thread,
/// starting with the name of that call, for example
/// `ringmq_topic_open: no topic "orders"`.
///
/// # Returns
/// A NUL-terminated string owned by the library: "" if no call has failed
/// on this thread yet. It stays valid until the next failing call on this
/// thread; copy it to keep it. Successful calls do not change it.
///
/// # Safety
/// Always safe; each thread has its own.
#[no_mangle]
pub extern "C" fn ringmq_last_error() -> *const c_char {
    boundary("ringmq_last_error", last_error_ptr)
}

/// The library's version, `"MAJOR.MINOR.PATCH"`, as in the header's
/// `RINGMQ_VERSION_*` macros when header and library match.
///
/// # Returns
/// A static NUL-terminated string.
///
/// # Safety
/// Always safe; thread-safe.
#[no_mangle]
pub extern "C" fn ringmq_version() -> *const c_char {
    boundary("ringmq_version", || {
        concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
    })
}

/// Fills `o` with the default broker options, as this library's own header
/// declares the struct (`sizeof(ringmq_broker_options)` of this version).
/// In C and C++ the header's macro of the same name calls
/// `ringmq_broker_options_init(o, sizeof(ringmq_broker_options))` instead,
/// with the size of the struct the caller was compiled with; this function
/// is for callers that find the library's symbols by name.
///
/// # Arguments
/// - `o`: the struct to fill; NULL does nothing.
///
/// # Safety
/// `o` is NULL or points to a writable `ringmq_broker_options` of this
/// library's version.
#[no_mangle]
pub unsafe extern "C" fn ringmq_broker_options_default(o: *mut ringmq_broker_options) {
    boundary("ringmq_broker_options_default", || {
        // SAFETY: NULL or a whole struct of this version, by this
        // function's contract.
        unsafe { sized::init(o, std::mem::size_of::<ringmq_broker_options>()) }
    })
}

/// Fills the first `struct_size` bytes at `o` with the default broker
/// options and sets `o->struct_size` to `struct_size`: the fields that fit
/// get their defaults, bytes past this library's struct (fields of a newer
/// header) become 0, nothing past `struct_size` bytes is written. What
/// `ringmq_broker_options_default(o)` calls with the size of the caller's
/// struct.
///
/// # Arguments
/// - `o`: the struct to fill; NULL does nothing.
/// - `struct_size`: its size, `sizeof(ringmq_broker_options)` as the
///   caller's header declares it.
///
/// # Safety
/// `o` is NULL or has `struct_size` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn ringmq_broker_options_init(
    o: *mut ringmq_broker_options,
    struct_size: usize,
) {
    boundary("ringmq_broker_options_init", || {
        // SAFETY: NULL or `struct_size` writable bytes, by this function's
        // contract.
        unsafe { sized::init(o, struct_size) }
    })
}

/// Creates a broker.
///
/// # Arguments
/// - `o`: options filled by `ringmq_broker_options_default` and then
///   changed, or NULL for the defaults. Read during the call only.
/// - `out`: receives the new broker; set to NULL on failure.
///
/// # Returns
/// `RINGMQ_OK`, or `RINGMQ_INVALID_ARGUMENT` (NULL `out`, bad options, a
/// bad `o->struct_size`).
///
/// # Safety
/// `o` is NULL or points to an initialised `ringmq_broker_options` of
/// `o->struct_size` bytes (whose `data_dir` is NULL or a NUL-terminated
/// string); `out` is writable. The caller owns the broker and frees it with
/// `ringmq_broker_free`.
#[no_mangle]
pub unsafe extern "C" fn ringmq_broker_new(
    o: *const ringmq_broker_options,
    out: *mut *mut ringmq_broker,
) -> ringmq_status {
    run("ringmq_broker_new", || {
        let out = non_null(out, "out")?;
        // SAFETY: writable by this function's contract.
        unsafe { out.as_ptr().write(std::ptr::null_mut()) };
        // SAFETY: NULL or `struct_size` initialised bytes, by this
        // function's contract.
        let opts = match unsafe { sized::read(o) }? {
            // SAFETY: its data_dir is NULL or NUL-terminated, by this
            // function's contract.
            Some(o) => unsafe { o.to_core() }?,
            None => BrokerOptions::default(),
        };
        let b = Box::new(ringmq_broker {
            inner: Broker::new(opts)?,
        });
        // SAFETY: as above.
        unsafe { out.as_ptr().write(Box::into_raw(b)) };
        Ok(())
    })
}

/// Opens another handle to the broker created with `name`
/// (`ringmq_broker_options.name`) in this process, by C or by the Python or
/// Node bindings: the same topics, subscriptions and pool. The engine stops
/// when its last handle is closed (that close drains) or freed; closing one
/// handle of several releases only that handle, at once.
///
/// # Arguments
/// - `name`: the broker's name.
/// - `out`: receives the handle; set to NULL on failure.
///
/// # Returns
/// `RINGMQ_OK`; `RINGMQ_NOT_FOUND` when no broker has that name;
/// `RINGMQ_CLOSED` while it closes, or in a process made by `fork()` from
/// the one that created it; `RINGMQ_INVALID_ARGUMENT` for a NULL or bad
/// name or a NULL `out`.
///
/// # Safety
/// `name` is NULL or NUL-terminated; `out` is writable. The caller frees the
/// handle with `ringmq_broker_free`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn ringmq_broker_open(
    name: *const c_char,
    out: *mut *mut ringmq_broker,
) -> ringmq_status {
    run("ringmq_broker_open", || {
        let out = non_null(out, "out")?;
        // SAFETY: writable by this function's contract.
        unsafe { out.as_ptr().write(std::ptr::null_mut()) };
        // SAFETY: NULL or NUL-terminated, by this function's contract.
        let name = unsafe { crate::boundary::name(name, "broker") }?;
        let b = Box::new(ringmq_broker {
            inner: Broker::open(name)?,
        });
        // SAFETY: as above.
        unsafe { out.as_ptr().write(Box::into_raw(b)) };
        Ok(())
    })
}

/// Closes the broker: publishes fail with `RINGMQ_CLOSED` from now on,
/// consumers and handlers work through what is pending for up to
/// `drain_timeout_ms`, then every subscription stops and every thread the
/// broker started is joined. Idempotent. On a named broker with other open
/// handles (`ringmq_broker_open`), it closes only this handle, at once; the
/// last handle's close drains and stops the engine. The handle stays valid (calls on
/// it and on its topics and subscriptions answer `RINGMQ_CLOSED`) until
/// `ringmq_broker_free`.
///
/// # Arguments
/// - `b`: the broker.
/// - `drain_timeout_ms`: how long pending messages may take; 0 stops now.
///
/// # Returns
/// `RINGMQ_OK` (also when the drain ended by its timeout), or
/// `RINGMQ_INVALID_ARGUMENT` for a NULL `b`.
///
/// # Safety
/// `b` is NULL or a live broker. Thread-safe, but must not be called from a
/// push handler (it waits for the handlers to finish).
#[no_mangle]
pub unsafe extern "C" fn ringmq_broker_close(
    b: *mut ringmq_broker,
    drain_timeout_ms: u32,
) -> ringmq_status {
    run("ringmq_broker_close", || {
        // SAFETY: NULL or live, by this function's contract.
        let b = unsafe { handle(b, "b") }?;
        b.inner
            .close(Duration::from_millis(drain_timeout_ms.into()))?;
        Ok(())
    })
}

/// Closes the broker without a drain (if not closed yet) and frees the
/// handle. Topic and subscription handles stay valid to release or
/// unsubscribe (their other calls answer `RINGMQ_CLOSED`).
///
/// # Arguments
/// - `b`: the broker, or NULL (nothing happens).
///
/// # Safety
/// `b` is NULL or a live broker, not used by any other thread now or after
/// this call; it must not be called from a push handler.
#[no_mangle]
pub unsafe extern "C" fn ringmq_broker_free(b: *mut ringmq_broker) {
    boundary("ringmq_broker_free", || {
        if !b.is_null() {
            // SAFETY: created by Box::into_raw in ringmq_broker_new and not
            // freed yet, by this function's contract.
            drop(unsafe { Box::from_raw(b) });
        }
    })
}

/// Renders every topic, subscription and pool metric in the Prometheus text
/// exposition format.
///
/// # Arguments
/// - `b`: the broker.
/// - `buf`: receives the NUL-terminated text; may be NULL when `cap` is 0
///   (to ask for the size).
/// - `cap`: bytes available at `buf`.
/// - `needed`: receives the size of the text including its NUL, always
///   (also when `buf` is too small).
///
/// # Returns
/// `RINGMQ_OK` when the text fit; `RINGMQ_TOO_LARGE` when `cap` is smaller
/// than `*needed` (`buf` is then left untouched: call again with a buffer of
/// `*needed` bytes; the text may grow in between); `RINGMQ_INVALID_ARGUMENT`
/// for a NULL `b`, a NULL `needed`, or a NULL `buf` with a non-zero `cap`.
///
/// # Safety
/// `buf` is NULL or has `cap` writable bytes; `needed` is writable.
/// Thread-safe; it never blocks publishers.
#[no_mangle]
pub unsafe extern "C" fn ringmq_broker_metrics_text(
    b: *const ringmq_broker,
    buf: *mut c_char,
    cap: usize,
    needed: *mut usize,
) -> ringmq_status {
    // SAFETY: this function's contract is metrics_text's.
    unsafe { metrics_text("ringmq_broker_metrics_text", b, buf, cap, needed) }
}

/// The body of `ringmq_broker_metrics_text`, its errors named `func`.
///
/// # Safety
/// As for `ringmq_broker_metrics_text`.
pub(crate) unsafe fn metrics_text(
    func: &'static str,
    b: *const ringmq_broker,
    buf: *mut c_char,
    cap: usize,
    needed: *mut usize,
) -> ringmq_status {
    run(func, || {
        // SAFETY: NULL or live, by this function's contract.
        let b = unsafe { handle(b, "b") }?;
        let needed = non_null(needed, "needed")?;
        if buf.is_null() && cap > 0 {
            return Err(invalid(format!("buf is NULL but cap is {cap}")));
        }
        let text = b.inner.metrics_text();
        // SAFETY: `buf` is NULL only with cap 0, else has `cap` writable
        // bytes; `needed` is writable; by this function's contract.
        unsafe { copy_text("metrics text", &text, buf, cap, needed) }
    })
}

/// The buffer protocol of `ringmq_broker_metrics_text` and
/// `ringmq_sub_why_idle`:
/// `*needed` is always the text's size with its NUL; the text and its NUL
/// are copied only when they fit, else `TooLarge` and `buf` is untouched.
///
/// # Safety
/// `buf` has `cap` writable bytes (it is only written when `cap` is enough,
/// so NULL is fine with `cap` 0), not overlapping `text`.
pub(crate) unsafe fn copy_text(
    what: &str,
    text: &str,
    buf: *mut c_char,
    cap: usize,
    needed: NonNull<usize>,
) -> Result<()> {
    let size = text.len() + 1;
    // SAFETY: writable by this function's contract.
    unsafe { needed.as_ptr().write(size) };
    if cap < size {
        return Err(ringmq_core::Error::new(
            ringmq_core::ErrorKind::TooLarge,
            format!("the {what} needs {size} bytes; buf has {cap}"),
        ));
    }
    let buf = buf.cast::<u8>();
    // SAFETY: buf has cap >= size writable bytes, and it does not overlap
    // `text` (a string of the library's), by this function's contract.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), buf, text.len());
        buf.add(text.len()).write(0);
    }
    Ok(())
}

/// Reads the worker pool's counters.
///
/// # Arguments
/// - `b`: the broker. `out`: receives the counters.
///
/// # Returns
/// `RINGMQ_OK` or `RINGMQ_INVALID_ARGUMENT` (a NULL argument).
///
/// # Safety
/// `b` is NULL or live; `out` is NULL or writable. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn ringmq_broker_get_pool_stats(
    b: *const ringmq_broker,
    out: *mut ringmq_pool_stats,
) -> ringmq_status {
    run("ringmq_broker_get_pool_stats", || {
        // SAFETY: NULL or live, by this function's contract.
        let b = unsafe { handle(b, "b") }?;
        let out = non_null(out, "out")?;
        let s = ringmq_pool_stats::from(&b.inner.pool_stats());
        // SAFETY: writable by this function's contract.
        unsafe { out.as_ptr().write(s) };
        Ok(())
    })
}

/// A C error callback and its user data, called from pool threads.
struct CErrorCallback {
    f: unsafe extern "C" fn(
        *const c_char,
        *const c_char,
        u64,
        u32,
        *const c_char,
        bool,
        *mut c_void,
    ),
    user_data: *mut c_void,
}

// SAFETY: the caller of ringmq_broker_set_error_callback promises (see its
// Safety section) that the callback may be called with `user_data` from any
// pool thread, several at once. This struct only carries the pointer there.
unsafe impl Send for CErrorCallback {}
// SAFETY: as for Send; calls through `&CErrorCallback` only copy the pointer.
unsafe impl Sync for CErrorCallback {}

impl CErrorCallback {
    fn call(&self, fail: &HandlerFailure<'_>) {
        // "topic\0group\0error\0", built per failure (a failure may
        // allocate; messages that succeed never come here). Names hold no
        // NUL; one in the error text would cut it short, so it shows as '?'.
        let error = fail.error.text();
        let mut texts = Vec::with_capacity(fail.topic.len() + fail.group.len() + error.len() + 3);
        for s in [fail.topic, fail.group, error] {
            texts.extend(s.bytes().map(|b| if b == 0 { b'?' } else { b }));
            texts.push(0);
        }
        let topic = texts.as_ptr();
        // SAFETY: both offsets lie inside `texts` (each part ends in a NUL).
        let (group, error) = unsafe {
            let group = topic.add(fail.topic.len() + 1);
            (group, group.add(fail.group.len() + 1))
        };
        // SAFETY: `f` is a non-null function of the ringmq_error_callback
        // type; the strings are NUL-terminated and live during the call; the
        // user-data contract is the caller's (see the Send impl).
        unsafe {
            (self.f)(
                topic.cast(),
                group.cast(),
                fail.id,
                fail.attempt,
                error.cast(),
                fail.dead_lettered,
                self.user_data,
            )
        };
    }
}

/// Sets the function called on every failure of a push handler of this
/// broker (a nack, a term, a retry-after or any other non-ack return): the
/// topic, the consumer group, the message's id and attempt, the failure's
/// text and whether the message was dead-lettered (`true`: a term, or its
/// last attempt) or will be retried (`false`). It runs on the handler's
/// pool thread after the failure is settled, possibly on several threads
/// at once; see `ringmq_error_callback`. Replaces any callback set before.
///
/// # Arguments
/// - `b`: the broker.
/// - `cb`: the callback, or NULL to remove it.
/// - `user_data`: passed to every call of `cb`; may be NULL.
///
/// # Returns
/// `RINGMQ_OK`, or `RINGMQ_INVALID_ARGUMENT` for a NULL `b`.
///
/// # Safety
/// `b` is NULL or live. `cb` must be safe to call from any pool thread,
/// several at once, and must not unwind or `longjmp` out. `user_data` must
/// stay valid until this callback is replaced or removed and the calls of
/// it already running have returned (a failure reported as this call
/// returns may still reach the old callback), or until
/// `ringmq_broker_close` or `ringmq_broker_free` has returned. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn ringmq_broker_set_error_callback(
    b: *mut ringmq_broker,
    cb: ringmq_error_callback,
    user_data: *mut c_void,
) -> ringmq_status {
    run("ringmq_broker_set_error_callback", || {
        // SAFETY: NULL or live, by this function's contract.
        let b = unsafe { handle(b, "b") }?;
        match cb {
            Some(f) => {
                let cb = CErrorCallback { f, user_data };
                b.inner.on_handler_failure(move |fail| cb.call(fail));
            }
            None => b.inner.clear_handler_failure_hook(),
        }
        Ok(())
    })
}
