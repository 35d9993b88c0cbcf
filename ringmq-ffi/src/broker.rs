//! Library-wide calls and the broker handle.

use std::ffi::c_char;
use std::time::Duration;

use ringmq_core::{Broker, BrokerOptions};

use crate::boundary::{boundary, handle, invalid, last_error_ptr, non_null, optional, run};
use crate::stats::ringmq_pool_stats;
use crate::types::{ringmq_broker_options, ringmq_status, ringmq_status_in};

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

/// Fills `o` with the default broker options.
///
/// # Arguments
/// - `o`: the struct to fill; NULL does nothing.
///
/// # Safety
/// `o` is NULL or points to a writable `ringmq_broker_options`.
#[no_mangle]
pub unsafe extern "C" fn ringmq_broker_options_default(o: *mut ringmq_broker_options) {
    boundary("ringmq_broker_options_default", || {
        if let Ok(o) = non_null(o, "o") {
            let d = ringmq_broker_options::from(&BrokerOptions::default());
            // SAFETY: non-null and writable by this function's contract.
            unsafe { o.as_ptr().write(d) };
        }
    })
}

/// Creates a broker.
///
/// # Arguments
/// - `o`: options, or NULL for the defaults. Read during the call only.
/// - `out`: receives the new broker; set to NULL on failure.
///
/// # Returns
/// `RINGMQ_OK`, or `RINGMQ_INVALID_ARGUMENT` (NULL `out`, bad options).
///
/// # Safety
/// `o` is NULL or points to an initialised `ringmq_broker_options`; `out` is
/// writable. The caller owns the broker and frees it with
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
        // SAFETY: NULL or initialised, by this function's contract.
        let opts = match unsafe { optional(o) } {
            Some(o) => o.to_core(),
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

/// Closes the broker: publishes fail with `RINGMQ_CLOSED` from now on,
/// consumers and handlers work through what is pending for up to
/// `drain_timeout_ms`, then every subscription stops and every thread the
/// broker started is joined. Idempotent. The handle stays valid (calls on
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
pub unsafe extern "C" fn ringmq_metrics_text(
    b: *const ringmq_broker,
    buf: *mut c_char,
    cap: usize,
    needed: *mut usize,
) -> ringmq_status {
    run("ringmq_metrics_text", || {
        // SAFETY: NULL or live, by this function's contract.
        let b = unsafe { handle(b, "b") }?;
        let needed = non_null(needed, "needed")?;
        if buf.is_null() && cap > 0 {
            return Err(invalid(format!("buf is NULL but cap is {cap}")));
        }
        let text = b.inner.metrics_text();
        let size = text.len() + 1;
        // SAFETY: writable by this function's contract.
        unsafe { needed.as_ptr().write(size) };
        if cap < size {
            return Err(ringmq_core::Error::new(
                ringmq_core::ErrorKind::TooLarge,
                format!("the metrics text needs {size} bytes; buf has {cap}"),
            ));
        }
        let buf = buf.cast::<u8>();
        // SAFETY: buf has cap >= size writable bytes, and a fresh String
        // cannot overlap the caller's buffer.
        unsafe {
            std::ptr::copy_nonoverlapping(text.as_ptr(), buf, text.len());
            buf.add(text.len()).write(0);
        }
        Ok(())
    })
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
