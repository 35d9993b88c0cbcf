//! A readiness flag an event loop can wait on: a Linux timerfd.
//!
//! One file descriptor carries both ways a consumer's wait can end: a
//! notify makes it readable at once ([`ReadyFd::fire`]), and a due time (a
//! retry, an ack deadline, a delayed message) makes it readable when it
//! comes ([`ReadyFd::arm`] with a duration). `timerfd_settime` resets the
//! expiry count, so arming also clears the flag: nobody ever `read`s the
//! descriptor, and epoll, libuv or asyncio's `add_reader` see it readable
//! exactly while the count is non-zero.
//!
//! The engine keeps the flag correct with the wait queue's protocol (see
//! [`crate::wait::WaitQueue::watch`]): arming comes before listing the
//! descriptor with the queue, and listing before the re-check of the
//! condition, so a notify after the re-check fires it, and a change before
//! it is seen by the re-check (which then fires it itself).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use crate::error::{Error, Result};

pub(crate) struct ReadyFd(OwnedFd);

impl ReadyFd {
    /// A new descriptor, non-blocking and close-on-exec, not readable.
    pub(crate) fn new() -> Result<ReadyFd> {
        // SAFETY: plain system call; the result is checked before use.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            let e = io::Error::last_os_error();
            return Err(Error::io(format!(
                "readiness descriptor: timerfd_create: {e}"
            )));
        }
        // SAFETY: `fd` was just opened and is owned by nobody else.
        Ok(ReadyFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    pub(crate) fn raw(&self) -> RawFd {
        self.0.as_raw_fd()
    }

    /// Readable now, until the next [`arm`](Self::arm).
    pub(crate) fn fire(&self) {
        self.set(Some(Duration::from_nanos(1)));
    }

    /// Not readable until `after` has passed (`None`: until fired).
    pub(crate) fn arm(&self, after: Option<Duration>) {
        self.set(after.map(|d| d.max(Duration::from_nanos(1))));
    }

    fn set(&self, after: Option<Duration>) {
        // A zero value disarms the timer (and, as any setting does, clears
        // what it had counted); a zero interval makes it fire once.
        const ZERO: libc::timespec = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let spec = libc::itimerspec {
            it_interval: ZERO,
            it_value: after.map_or(ZERO, |d| libc::timespec {
                tv_sec: d.as_secs().min(i64::MAX as u64) as libc::time_t,
                tv_nsec: d.subsec_nanos() as libc::c_long,
            }),
        };
        // SAFETY: `self.0` is an open timerfd; `spec` is a valid itimerspec
        // and the old value is not asked for. It fails only for a bad
        // descriptor or value, neither of which can happen here.
        let rc = unsafe { libc::timerfd_settime(self.raw(), 0, &spec, std::ptr::null_mut()) };
        debug_assert_eq!(rc, 0, "timerfd_settime: {}", io::Error::last_os_error());
    }

    /// Is it readable now? (For tests.)
    #[cfg(test)]
    pub(crate) fn is_readable(&self) -> bool {
        let mut p = libc::pollfd {
            fd: self.raw(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, zero timeout.
        unsafe { libc::poll(&mut p, 1, 0) == 1 }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn fire_makes_it_readable_and_arm_clears_it() {
        let fd = ReadyFd::new().unwrap();
        assert!(!fd.is_readable());
        fd.fire();
        std::thread::sleep(Duration::from_millis(1));
        assert!(fd.is_readable());
        assert!(fd.is_readable(), "reading the state does not clear it");
        fd.arm(None);
        assert!(!fd.is_readable());
        fd.arm(Some(Duration::from_millis(20)));
        assert!(!fd.is_readable());
        std::thread::sleep(Duration::from_millis(60));
        assert!(fd.is_readable(), "the due time made it readable");
        fd.arm(Some(Duration::from_secs(3600)));
        assert!(!fd.is_readable());
    }
}
