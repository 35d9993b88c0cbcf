//! Fork safety: a broker belongs to the process that created it.
//!
//! A child made by `fork()` has a copy of the parent's memory but only the
//! forking thread: the pool's workers are gone, and any lock another thread
//! held at that moment stays locked for good. Using the parent's broker
//! there could only hang or crash, so it is refused: a handler registered
//! with `pthread_atfork` bumps a process-wide generation in the child, every
//! broker remembers the generation it was created in, and every entry point
//! that could wait, lock or join answers `Closed` ("created in the parent
//! process") in a child before touching anything. Dropping or freeing the
//! parent's broker in the child leaks it instead of joining threads that do
//! not exist there. A child creates brokers of its own as usual; the handler
//! also re-decides the wait queues' barrier mode there (see `barrier`),
//! since membarrier registration is not inherited across fork.

use std::sync::Once;

use crate::error::{Error, Result};
// std atomics: a static, and no protocol for loom to model.
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Bumped in every child process, once per fork.
static GENERATION: AtomicU64 = AtomicU64::new(0);
static INSTALL: Once = Once::new();

#[cfg(all(unix, not(loom)))]
extern "C" fn in_child() {
    // Only async-signal-safe work here: an atomic add and a syscall.
    GENERATION.fetch_add(1, Relaxed);
    crate::barrier::after_fork();
}

fn install() {
    INSTALL.call_once(|| {
        #[cfg(all(unix, not(loom)))]
        // SAFETY: registers a plain function with no captured state; the
        // handler does only async-signal-safe work.
        unsafe {
            libc::pthread_atfork(None, None, Some(in_child));
        }
    });
}

/// The process a broker (and its topics) was created in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Origin(u64);

impl Origin {
    pub(crate) fn here() -> Origin {
        install();
        Origin(GENERATION.load(Relaxed))
    }

    /// Is this a child process of the one that created the broker?
    #[inline]
    pub(crate) fn forked(self) -> bool {
        GENERATION.load(Relaxed) != self.0
    }

    pub(crate) fn check(self) -> Result<()> {
        if self.forked() {
            return Err(Error::closed(
                "broker (it was created in the parent process; a process made by fork() cannot use it: create a new broker there)",
            ));
        }
        Ok(())
    }
}
