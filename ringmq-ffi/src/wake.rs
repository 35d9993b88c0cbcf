//! Waiting on a pull subscription without blocking a thread in a poll (its
//! readiness descriptor, for epoll or libuv), and ending a blocked poll from
//! another thread.

use std::ffi::c_int;

use crate::boundary::{handle, non_null, run};
use crate::sub::ringmq_sub;
use crate::types::ringmq_status;

/// Gets the subscription's readiness file descriptor: readable when a poll
/// may take a message (or answer `RINGMQ_CLOSED`), for `epoll`, `poll(2)`,
/// libuv's `uv_poll_t` or any other event loop. When it is readable, call
/// `ringmq_sub_poll` / `ringmq_sub_poll_batch` with `timeout_ms` 0 until one
/// answers `RINGMQ_EMPTY`; that poll re-arms it, and the loop waits for it
/// again. It starts readable; it may be readable with nothing to take
/// (another consumer took it first), which costs one empty poll. Level- and
/// edge-triggered registrations both work.
///
/// The descriptor belongs to the subscription: never `read`, `write` or
/// `close` it (the library clears it itself); it stays valid until the
/// subscription is unsubscribed or its broker freed. Every call answers the
/// same descriptor. Linux only.
///
/// # Arguments
/// - `s`: a pull subscription.
/// - `fd_out`: receives the descriptor.
///
/// # Returns
/// `RINGMQ_OK`; `RINGMQ_INVALID_ARGUMENT` (NULL, a push subscription);
/// `RINGMQ_CLOSED` once unsubscribed or closed; `RINGMQ_IO` if the system
/// has no descriptor to give. `*fd_out` is written only on `RINGMQ_OK`.
///
/// # Safety
/// `s` is NULL or live; `fd_out` is NULL or writable. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn ringmq_sub_get_fd(
    s: *const ringmq_sub,
    fd_out: *mut c_int,
) -> ringmq_status {
    run("ringmq_sub_get_fd", || {
        // SAFETY: NULL or live, by this function's contract.
        let s = unsafe { handle(s, "s") }?;
        let out = non_null(fd_out, "fd_out")?;
        let fd = s.pull()?.readiness_fd()?;
        // SAFETY: writable by this function's contract.
        unsafe { out.as_ptr().write(fd) };
        Ok(())
    })
}

/// Ends a `ringmq_sub_poll` / `ringmq_sub_poll_batch` of this subscription
/// that is blocked now, or else the next one that would block, which then
/// answers `RINGMQ_INTERRUPTED` having taken nothing: how another thread
/// (a signal handler's helper, a shutdown path) stops a consumer without
/// closing the subscription or the broker. Wakes are counted: each ends one
/// poll, so with several threads blocked call it once per thread. A poll
/// that finds a message without waiting does not use up a wake.
///
/// # Arguments
/// - `s`: a pull subscription.
///
/// # Returns
/// `RINGMQ_OK`; `RINGMQ_INVALID_ARGUMENT` (NULL, a push subscription).
///
/// # Safety
/// `s` is NULL or live. Thread-safe (that is its point).
#[no_mangle]
pub unsafe extern "C" fn ringmq_sub_wake(s: *const ringmq_sub) -> ringmq_status {
    run("ringmq_sub_wake", || {
        // SAFETY: NULL or live, by this function's contract.
        let s = unsafe { handle(s, "s") }?;
        s.pull()?.wake();
        Ok(())
    })
}
