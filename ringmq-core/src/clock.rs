//! Time sources: wall-clock nanoseconds for message timestamps (what users
//! compare with their own clocks) and a monotonic clock for deadlines.
//!
//! # Virtual time for tests
//!
//! Every deadline of the engine (ack timeouts, retry due times, poll and
//! publish timeouts, the pool's idle timer, close's drain) is read from
//! [`mono_ns`] or [`mono_coarse_ns`]. Both add a process-global offset,
//! [`OFFSET`], to the kernel's clock, and [`advance`] (exposed as
//! `ringmq_core::internals::clock::advance`, hidden from the docs) moves it
//! forward, so a test can make an hour of ack timers and backoffs pass in no
//! time. It costs one relaxed atomic load per read and is 0 unless a test
//! moves it.
//!
//! - Both clocks add the same offset, which only grows, so each stays
//!   monotonic and the coarse clock is still never ahead of the fine one (a
//!   thread's later load of the offset never sees an older value).
//! - Only time as the engine reads it jumps. A thread already asleep (a poll
//!   or publish waiting with a timeout, a condition-variable sleep) sleeps on
//!   for its real duration and sees the jump when it next looks at the clock.
//!   A test driving the engine with virtual time should use zero or tiny
//!   timeouts and advance the clock instead of waiting.
//! - Real time keeps running underneath: virtual time is real time plus the
//!   offset, not a frozen clock.
//! - The offset is global to the process, so tests that advance it must not
//!   share a process with tests that time real waits (each integration test
//!   file is a process of its own).
//! - [`wall_ns`] (publish timestamps) is not affected.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Nanoseconds added to both monotonic clocks; only grows (see the module
/// docs). A std atomic even under loom: it is not part of any model.
static OFFSET: AtomicU64 = AtomicU64::new(0);

/// Moves the engine's monotonic time forward by `by`, for tests (see the
/// module docs): ack timers, retry due times and timeouts that `by` carries
/// past their deadline are noticed at their next check.
///
/// # Panics
/// If the total offset would pass `u64::MAX / 4` ns (about 146 years), where
/// deadlines computed from it could overflow.
pub fn advance(by: Duration) {
    let by = dur_ns(by);
    OFFSET
        .fetch_update(Relaxed, Relaxed, |off| {
            off.checked_add(by).filter(|&o| o <= u64::MAX / 4)
        })
        .expect("virtual clock offset past u64::MAX / 4 ns");
}

/// How far [`advance`] has moved the monotonic clocks in total.
pub fn offset() -> Duration {
    Duration::from_nanos(OFFSET.load(Relaxed))
}

/// Nanoseconds since the Unix epoch: the publish timestamp of every message.
/// Read from the TSC when the kernel itself keeps time with it (see
/// [`tsc`]), else from CLOCK_REALTIME.
#[inline]
pub(crate) fn wall_ns() -> i64 {
    #[cfg(all(target_arch = "x86_64", target_os = "linux", not(loom), not(miri)))]
    {
        tsc::wall_ns()
    }
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux", not(loom), not(miri))))]
    {
        realtime_ns()
    }
}

/// CLOCK_REALTIME, in nanoseconds since the Unix epoch.
pub(crate) fn realtime_ns() -> i64 {
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

/// Monotonic nanoseconds (CLOCK_MONOTONIC, ~20 ns a read, plus the virtual
/// offset); never 0, so 0 can mean "no deadline".
pub fn mono_ns() -> u64 {
    let off = OFFSET.load(Relaxed);
    read(libc::CLOCK_MONOTONIC) + 1 + off
}

/// The same clock at tick resolution (a few ms; ~4 ns a read), for ack
/// deadlines and other checks on the per-message path where a few
/// milliseconds of slack do not matter. Never ahead of `mono_ns`.
pub fn mono_coarse_ns() -> u64 {
    let off = OFFSET.load(Relaxed);
    read(libc::CLOCK_MONOTONIC_COARSE) + 1 + off
}

pub(crate) fn dur_ns(d: Duration) -> u64 {
    d.as_nanos().min(u64::MAX as u128 / 4) as u64
}

/// The monotonic deadline `timeout` from now; `None` waits for ever.
pub(crate) fn deadline(timeout: Option<Duration>) -> Option<u64> {
    timeout.map(|t| mono_ns().saturating_add(dur_ns(t)))
}

/// A wall clock from the time-stamp counter, for the per-message timestamp.
///
/// `clock_gettime` costs 25-35 ns here, a third of a publish. The vDSO reads
/// the TSC too, but serialised and through the kernel's conversion; this
/// extrapolates from an anchor `(base_tsc, base_ns)` at a rate measured
/// against CLOCK_REALTIME over at least `MIN_SPAN` ticks, and re-anchors
/// every `REFRESH` ticks (a few tens of ms), so the error stays within tens
/// of nanoseconds and a clock step is followed within one refresh.
///
/// It is used only where the kernel's own clocksource is `tsc` (so the TSC is
/// invariant and synchronised across CPUs); elsewhere it falls back to
/// `clock_gettime`. Anchor and rate are published with a seqlock.
#[cfg(all(target_arch = "x86_64", target_os = "linux", not(loom), not(miri)))]
mod tsc {
    use std::sync::atomic::{fence, AtomicU64, AtomicU8, Ordering::*};

    const REFRESH: u64 = 1 << 26;
    const MIN_SPAN: u64 = 1 << 24;
    /// The most ticks a read of the real clock may take and still anchor:
    /// about 3 us at 3 GHz, a hundred times what the read takes.
    const ANCHOR_WINDOW: u64 = 1 << 13;

    static USABLE: AtomicU8 = AtomicU8::new(0);
    static SEQ: AtomicU64 = AtomicU64::new(0);
    static BASE_TSC: AtomicU64 = AtomicU64::new(0);
    static BASE_NS: AtomicU64 = AtomicU64::new(0);
    /// Nanoseconds per tick in 32.32 fixed point; 0 until measured.
    static MULT: AtomicU64 = AtomicU64::new(0);

    /// Does the kernel keep time with the TSC? Read from sysfs once.
    #[cold]
    #[inline(never)]
    fn check_usable() -> bool {
        let ok = std::fs::read_to_string(
            "/sys/devices/system/clocksource/clocksource0/current_clocksource",
        )
        .is_ok_and(|s| s.trim() == "tsc");
        USABLE.store(if ok { 1 } else { 2 }, Relaxed);
        ok
    }

    #[inline]
    fn rdtsc() -> u64 {
        // SAFETY: RDTSC exists on every x86_64 CPU and has no memory effects.
        unsafe { core::arch::x86_64::_rdtsc() }
    }

    /// The fast path is a leaf of a few loads and a multiply, inlined into
    /// every publish; the first use, a re-anchoring and the fallback are
    /// out of line (they would otherwise make it save and restore registers
    /// on every call).
    #[inline]
    pub(crate) fn wall_ns() -> i64 {
        if USABLE.load(Relaxed) != 1 {
            return not_known_usable();
        }
        let tsc = rdtsc();
        let seq = SEQ.load(Acquire);
        if seq & 1 == 0 {
            let (bt, bn, mult) = (
                BASE_TSC.load(Relaxed),
                BASE_NS.load(Relaxed),
                MULT.load(Relaxed),
            );
            fence(Acquire);
            let d = tsc.wrapping_sub(bt);
            if SEQ.load(Relaxed) == seq && mult != 0 && d < REFRESH {
                return bn as i64 + ((d as u128 * mult as u128) >> 32) as i64;
            }
        }
        anchor()
    }

    /// `wall_ns` before the TSC is known usable, or where it is not.
    #[cold]
    #[inline(never)]
    fn not_known_usable() -> i64 {
        if USABLE.load(Relaxed) == 2 || !check_usable() {
            return super::realtime_ns();
        }
        wall_ns()
    }

    /// `wall_ns` without a current anchor: reads the real clock and
    /// re-anchors.
    #[cold]
    #[inline(never)]
    fn anchor() -> i64 {
        anchor_with(super::realtime_ns).0
    }

    /// Reads the real clock with `read` between two reads of the counter,
    /// and anchors at the middle of them, unless the read took more than
    /// `ANCHOR_WINDOW` ticks: a thread preempted there would anchor the
    /// counter to a time read later than it, and every timestamp until the
    /// next anchor (and the rate measured from it) would be off by as much.
    /// Such a read is returned, not anchored on. Also answers whether it
    /// anchored (or tried to: a concurrent refresh may win).
    fn anchor_with(read: impl FnOnce() -> i64) -> (i64, bool) {
        let before = rdtsc();
        let now = read();
        let took = rdtsc().wrapping_sub(before);
        if took > ANCHOR_WINDOW {
            return (now, false);
        }
        refresh(before + took / 2, now);
        (now, true)
    }

    /// Re-anchors at `(tsc, now)`, measuring the rate over the span since
    /// the last anchor when it is long enough. One thread at a time.
    #[cold]
    fn refresh(tsc: u64, now: i64) {
        let seq = SEQ.load(Relaxed);
        if seq & 1 == 1
            || SEQ
                .compare_exchange(seq, seq + 1, Acquire, Relaxed)
                .is_err()
        {
            return;
        }
        fence(Release);
        let (bt, bn) = (BASE_TSC.load(Relaxed), BASE_NS.load(Relaxed) as i64);
        let span = tsc.wrapping_sub(bt);
        if bt == 0 || span > 64 * REFRESH || now <= bn {
            // First use, or a clock step or a TSC jump: start measuring again.
            MULT.store(0, Relaxed);
            BASE_TSC.store(tsc, Relaxed);
            BASE_NS.store(now as u64, Relaxed);
        } else if span >= MIN_SPAN {
            let mult = (((now - bn) as u128) << 32) / span as u128;
            MULT.store(mult as u64, Relaxed);
            BASE_TSC.store(tsc, Relaxed);
            BASE_NS.store(now as u64, Relaxed);
        }
        SEQ.store(seq + 2, Release);
    }

    #[cfg(test)]
    mod tests {
        /// A read of the real clock that took long (here a sleep of 1 ms
        /// stands for a preemption between the counter and the clock) is
        /// never anchored on.
        #[test]
        fn a_slow_read_of_the_real_clock_is_not_an_anchor() {
            let (now, anchored) = super::anchor_with(|| {
                std::thread::sleep(std::time::Duration::from_millis(1));
                super::super::realtime_ns()
            });
            assert!(!anchored, "a read that took 1 ms became an anchor");
            assert!(now > 0);
        }

        #[test]
        fn follows_the_realtime_clock_closely() {
            let mut worst = 0i64;
            let t0 = std::time::Instant::now();
            while t0.elapsed() < std::time::Duration::from_millis(300) {
                let a = super::super::realtime_ns();
                let t = super::wall_ns();
                let b = super::super::realtime_ns();
                // Between two readings of the real clock, give or take
                // 100 us (the bound holds on a loaded 2-core machine, where a
                // recalibration can come late; idle, it stays within 1 us).
                let off = if t < a {
                    a - t
                } else if t > b {
                    t - b
                } else {
                    0
                };
                worst = worst.max(off);
                std::thread::sleep(std::time::Duration::from_micros(50));
            }
            assert!(
                worst < 100_000,
                "TSC clock strayed {worst} ns from CLOCK_REALTIME"
            );
        }
    }
}
