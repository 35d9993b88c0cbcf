//! Time sources: wall-clock nanoseconds for message timestamps (what users
//! compare with their own clocks) and a monotonic clock for deadlines.

use std::time::Duration;

/// Nanoseconds since the Unix epoch (CLOCK_REALTIME).
pub(crate) fn wall_ns() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_REALTIME always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    #[allow(clippy::unnecessary_cast)] // time_t and c_long are i64 on LP64, not everywhere
    let ns = ts.tv_sec as i64 * 1_000_000_000 + ts.tv_nsec as i64;
    ns
}

fn read(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock ids used exist
    // on every Linux since 2.6.32.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Monotonic nanoseconds (CLOCK_MONOTONIC, ~20 ns a read); never 0, so 0
/// can mean "no deadline".
pub(crate) fn mono_ns() -> u64 {
    read(libc::CLOCK_MONOTONIC) + 1
}

/// The same clock at tick resolution (a few ms; ~4 ns a read), for ack
/// deadlines and other checks on the per-message path where a few
/// milliseconds of slack do not matter. Never ahead of `mono_ns`.
pub(crate) fn mono_coarse_ns() -> u64 {
    read(libc::CLOCK_MONOTONIC_COARSE) + 1
}

pub(crate) fn dur_ns(d: Duration) -> u64 {
    d.as_nanos().min(u64::MAX as u128 / 4) as u64
}

/// The monotonic deadline `timeout` from now; `None` waits for ever.
pub(crate) fn deadline(timeout: Option<Duration>) -> Option<u64> {
    timeout.map(|t| mono_ns().saturating_add(dur_ns(t)))
}
