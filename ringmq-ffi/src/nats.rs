//! The NATS JetStream bridge (cargo feature `nats`, on by default): starts a
//! `ringmq_nats::Bridge` on a broker from a JSON configuration, reads its
//! counters, stops and frees it. See docs/NATS.md for the configuration.

use std::ffi::{c_char, CStr};
use std::time::Duration;

use ringmq_core::{Error, ErrorKind};
use ringmq_nats::{Bridge, BridgeConfig, BridgeError};

use crate::boundary::{handle, invalid, non_null, run, Result};
use crate::broker::ringmq_broker;
use crate::types::ringmq_status;

/// A running bridge between a broker's topics and NATS JetStream. Opaque;
/// created by `ringmq_nats_bridge_start`, stopped and freed by
/// `ringmq_nats_bridge_stop`. `ringmq_nats_bridge_stats` may be called from
/// any thread at once; `ringmq_nats_bridge_stop` must be the last call.
pub struct ringmq_nats_bridge {
    inner: Bridge,
}

/// A snapshot of what a bridge did (`ringmq_nats_bridge_stats`). Not named
/// after that function, as a C type and a function cannot share a name.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct ringmq_nats_stats {
    /// Messages JetStream acknowledged (duplicates included) and the bridge
    /// then acked in RingMQ.
    pub exported: u64,
    /// Messages imported from JetStream into RingMQ (and then acked in
    /// JetStream).
    pub imported: u64,
    /// Messages taken from RingMQ and not yet settled.
    pub in_flight: u64,
    /// Times the connection to NATS was established again after a loss.
    pub reconnects: u64,
    /// Messages refused for good: exported ones JetStream refused (sent to
    /// RingMQ's dead-letter topic), imported ones RingMQ refused
    /// (terminated in JetStream).
    pub dead_lettered: u64,
    /// Connected to NATS now.
    pub connected: bool,
}

/// The bridge's error as the C API's: a bad configuration is
/// `InvalidArgument`, RingMQ's errors keep their kind, NATS refusing is `Io`,
/// and a runtime that could not be made is `Internal`.
fn core_error(e: BridgeError) -> Error {
    let kind = match &e {
        BridgeError::Config(_) => ErrorKind::InvalidArgument,
        BridgeError::RingMq(inner) => inner.kind(),
        BridgeError::Nats(_) => ErrorKind::Io,
        BridgeError::Runtime(_) => ErrorKind::Internal,
    };
    Error::new(kind, e.to_string())
}

/// A configuration text from C: not NULL, valid UTF-8.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string.
unsafe fn config_text<'a>(p: *const c_char) -> Result<&'a str> {
    let p = non_null(p, "config_json")?;
    // SAFETY: NUL-terminated by this function's contract, and not NULL.
    let text = unsafe { CStr::from_ptr(p.as_ptr()) };
    text.to_str().map_err(|e| {
        invalid(format!(
            "config_json is not valid UTF-8 (bad byte at offset {})",
            e.valid_up_to()
        ))
    })
}

/// Starts a bridge on a broker: for each export it copies a topic into a
/// JetStream subject, for each import a JetStream stream into a topic (see
/// docs/NATS.md). The NATS connection is made in the background: a server
/// not reachable yet is retried with backoff, and the call does not wait
/// for it.
///
/// # Arguments
/// - `b`: the broker; every export and import topic must exist in it.
/// - `config_json`: the configuration as JSON, for example
///   `{"id":"edge-1","servers":["nats://127.0.0.1:4222"],
///   "exports":[{"topic":"orders","group":"nats","subject":"orders.created",
///   "stream":"ORDERS"}]}`. Read during the call only.
/// - `out`: receives the bridge; set to NULL on failure.
///
/// # Returns
/// `RINGMQ_OK`; `RINGMQ_INVALID_ARGUMENT` for a NULL argument, a
/// configuration that is not UTF-8 or not valid (the last error names the
/// field and why) or a topic that does not exist; `RINGMQ_CLOSED` when the
/// broker is closed; `RINGMQ_IO` when NATS refused; nothing is started on
/// failure.
///
/// # Safety
/// `b` is a live broker; `config_json` is a NUL-terminated string; `out` is
/// writable. The caller owns the bridge and stops it with
/// `ringmq_nats_bridge_stop` before freeing the broker.
#[no_mangle]
pub unsafe extern "C" fn ringmq_nats_bridge_start(
    b: *mut ringmq_broker,
    config_json: *const c_char,
    out: *mut *mut ringmq_nats_bridge,
) -> ringmq_status {
    run("ringmq_nats_bridge_start", || {
        let out = non_null(out, "out")?;
        // SAFETY: writable by this function's contract.
        unsafe { out.as_ptr().write(std::ptr::null_mut()) };
        // SAFETY: NULL or live, by this function's contract.
        let broker = unsafe { handle(b.cast_const(), "b") }?;
        // SAFETY: NULL or NUL-terminated, by this function's contract.
        let text = unsafe { config_text(config_json) }?;
        let config = BridgeConfig::from_json(text).map_err(core_error)?;
        let bridge = Bridge::start(&broker.inner, config).map_err(core_error)?;
        let p = Box::into_raw(Box::new(ringmq_nats_bridge { inner: bridge }));
        // SAFETY: as above.
        unsafe { out.as_ptr().write(p) };
        Ok(())
    })
}

/// Reads a bridge's counters.
///
/// # Arguments
/// - `br`: the bridge.
/// - `out`: the struct to fill.
///
/// # Returns
/// `RINGMQ_OK`, or `RINGMQ_INVALID_ARGUMENT` for a NULL argument.
///
/// # Safety
/// `br` is a live bridge; `out` points to a writable
/// `ringmq_nats_stats`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn ringmq_nats_bridge_stats(
    br: *const ringmq_nats_bridge,
    out: *mut ringmq_nats_stats,
) -> ringmq_status {
    run("ringmq_nats_bridge_stats", || {
        let out = non_null(out, "out")?;
        // SAFETY: NULL or live, by this function's contract.
        let br = unsafe { handle(br, "br") }?;
        let s = br.inner.stats();
        let c = ringmq_nats_stats {
            exported: s.exported,
            imported: s.imported,
            in_flight: s.in_flight,
            reconnects: s.reconnects,
            dead_lettered: s.dead_lettered,
            connected: s.connected,
        };
        // SAFETY: non-null and writable by this function's contract.
        unsafe { out.as_ptr().write(c) };
        Ok(())
    })
}

/// Stops a bridge and frees it: takes nothing new from RingMQ, waits up to
/// `drain_ms` for JetStream's acks of the messages in flight (0: stops at
/// once) and acks those in RingMQ. What is still unacknowledged stays in
/// RingMQ and is delivered again later (to the next bridge reading that
/// group). The handle is freed whatever the answer.
///
/// # Arguments
/// - `br`: the bridge; NULL answers `RINGMQ_INVALID_ARGUMENT`.
/// - `drain_ms`: the longest wait for in-flight messages, in milliseconds.
///
/// # Returns
/// `RINGMQ_OK`, or `RINGMQ_INVALID_ARGUMENT` for NULL.
///
/// # Safety
/// `br` is NULL or a live bridge not used by any other thread during and
/// after the call.
#[no_mangle]
pub unsafe extern "C" fn ringmq_nats_bridge_stop(
    br: *mut ringmq_nats_bridge,
    drain_ms: u32,
) -> ringmq_status {
    run("ringmq_nats_bridge_stop", || {
        let br = non_null(br.cast_const(), "br")?;
        // SAFETY: a live handle made by Box::into_raw in
        // ringmq_nats_bridge_start, which the caller gives up here.
        let bridge = unsafe { Box::from_raw(br.as_ptr()) };
        bridge
            .inner
            .stop(Duration::from_millis(u64::from(drain_ms)))
            .map_err(core_error)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boundary::last_error_ptr;
    use std::ptr;

    fn last() -> String {
        // SAFETY: last_error_ptr returns a NUL-terminated string.
        unsafe { CStr::from_ptr(last_error_ptr()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn bad_arguments_are_refused_without_a_server() {
        let mut b: *mut ringmq_broker = ptr::null_mut();
        // SAFETY: valid pointers throughout; every handle is freed.
        unsafe {
            assert_eq!(
                crate::ringmq_broker_new(ptr::null(), &mut b),
                ringmq_status::RINGMQ_OK
            );
            let mut br: *mut ringmq_nats_bridge = ptr::dangling_mut();
            let st = ringmq_nats_bridge_start(b, c"{\"id\":".as_ptr(), &mut br);
            assert_eq!(st, ringmq_status::RINGMQ_INVALID_ARGUMENT);
            assert!(br.is_null());
            assert!(last().contains("bad JSON configuration"), "{}", last());
            let st = ringmq_nats_bridge_start(
                b,
                c"{\"id\":\"x\",\"servers\":[\"nats://127.0.0.1:1\"],\"exports\":[{\"topic\":\"nope\",\"group\":\"g\",\"subject\":\"s\"}]}".as_ptr(),
                &mut br,
            );
            assert_eq!(st, ringmq_status::RINGMQ_INVALID_ARGUMENT);
            assert!(last().contains("\"nope\" does not exist"), "{}", last());
            let st = ringmq_nats_bridge_start(b, c"\xff".as_ptr(), &mut br);
            assert_eq!(st, ringmq_status::RINGMQ_INVALID_ARGUMENT);
            assert!(last().contains("UTF-8"), "{}", last());
            let st = ringmq_nats_bridge_start(ptr::null_mut(), c"{}".as_ptr(), &mut br);
            assert_eq!(st, ringmq_status::RINGMQ_INVALID_ARGUMENT);
            assert_eq!(last(), "ringmq_nats_bridge_start: b is NULL");
            let st = ringmq_nats_bridge_start(b, ptr::null(), &mut br);
            assert_eq!(st, ringmq_status::RINGMQ_INVALID_ARGUMENT);
            let st = ringmq_nats_bridge_start(b, c"{}".as_ptr(), ptr::null_mut());
            assert_eq!(st, ringmq_status::RINGMQ_INVALID_ARGUMENT);
            let mut s = ringmq_nats_stats::default();
            let st = ringmq_nats_bridge_stats(ptr::null(), &mut s);
            assert_eq!(st, ringmq_status::RINGMQ_INVALID_ARGUMENT);
            let st = ringmq_nats_bridge_stop(ptr::null_mut(), 0);
            assert_eq!(st, ringmq_status::RINGMQ_INVALID_ARGUMENT);
            crate::ringmq_broker_free(b);
        }
    }

    #[test]
    fn a_bridge_to_an_unreachable_server_starts_and_stops() {
        let mut b: *mut ringmq_broker = ptr::null_mut();
        // SAFETY: valid pointers throughout; every handle is freed.
        unsafe {
            assert_eq!(
                crate::ringmq_broker_new(ptr::null(), &mut b),
                ringmq_status::RINGMQ_OK
            );
            let mut t: *mut crate::ringmq_topic = ptr::null_mut();
            let st = crate::ringmq_topic_create(b, c"orders".as_ptr(), ptr::null(), &mut t);
            assert_eq!(st, ringmq_status::RINGMQ_OK);
            let mut br: *mut ringmq_nats_bridge = ptr::null_mut();
            let st = ringmq_nats_bridge_start(
                b,
                c"{\"id\":\"x\",\"servers\":[\"nats://127.0.0.1:1\"],\"exports\":[{\"topic\":\"orders\",\"group\":\"g\",\"subject\":\"o\"}]}".as_ptr(),
                &mut br,
            );
            assert_eq!(st, ringmq_status::RINGMQ_OK, "{}", last());
            let mut s = ringmq_nats_stats::default();
            assert_eq!(
                ringmq_nats_bridge_stats(br, &mut s),
                ringmq_status::RINGMQ_OK
            );
            assert!(!s.connected);
            assert_eq!(ringmq_nats_bridge_stop(br, 0), ringmq_status::RINGMQ_OK);
            crate::ringmq_topic_release(t);
            crate::ringmq_broker_free(b);
        }
    }
}
