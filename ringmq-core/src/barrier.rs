//! Asymmetric memory barriers for the wait queues.
//!
//! A thread about to park and a thread that publishes form a store-load
//! (Dekker) pattern: the waiter stores "I wait" then loads the condition;
//! the notifier stores the condition then loads "anyone waiting?". Each side
//! needs a full barrier between its store and its load, or both can miss.
//! Publishing happens per message and parking rarely, so the barrier is made
//! asymmetric (as in userspace RCU and folly's `asymmetricHeavyBarrier`):
//! the notifier pays only a compiler barrier, and the waiter, just before it
//! parks, calls `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`, which makes
//! every running thread of the process execute a full barrier. Either the
//! notifier's store is then visible to the waiter's check, or the notifier's
//! load comes after that barrier and sees the waiter.
//!
//! Where membarrier is not available (other systems, old kernels, seccomp),
//! and under loom, both sides use a SeqCst fence, as before.

use std::sync::atomic::{compiler_fence, AtomicU8, Ordering};
use std::sync::Once;

use crate::sync::fence;

const UNKNOWN: u8 = 0;
const ASYMMETRIC: u8 = 1;
const SYMMETRIC: u8 = 2;

static MODE: AtomicU8 = AtomicU8::new(UNKNOWN);
static INIT: Once = Once::new();

#[cfg(all(target_os = "linux", not(loom)))]
fn register() -> bool {
    const QUERY: libc::c_int = 0;
    const PRIVATE_EXPEDITED: libc::c_int = 1 << 3;
    const REGISTER_PRIVATE_EXPEDITED: libc::c_int = 1 << 4;
    // SAFETY: membarrier takes (cmd, flags, cpu_id) integers and touches no
    // memory of ours; an unsupported command fails with an error code.
    let supported = unsafe { libc::syscall(libc::SYS_membarrier, QUERY, 0, 0) };
    if supported < 0 || supported & PRIVATE_EXPEDITED as libc::c_long == 0 {
        return false;
    }
    // SAFETY: as above.
    let r = unsafe { libc::syscall(libc::SYS_membarrier, REGISTER_PRIVATE_EXPEDITED, 0, 0) };
    r == 0
}

#[cfg(not(all(target_os = "linux", not(loom))))]
fn register() -> bool {
    false
}

/// Decides the mode once per process. Called when a wait queue is created,
/// so the decision happens before any thread can use that queue.
pub(crate) fn init() {
    INIT.call_once(|| {
        let mode = if register() { ASYMMETRIC } else { SYMMETRIC };
        MODE.store(mode, Ordering::Release);
    });
}

/// In a child after fork (see `fork`): membarrier registration is not
/// inherited, so the child registers again or falls back to fences. Only
/// the forking thread exists there, so nothing races this store.
#[cfg(not(loom))]
pub(crate) fn after_fork() {
    if MODE.load(Ordering::Relaxed) == ASYMMETRIC && !register() {
        MODE.store(SYMMETRIC, Ordering::Release);
    }
}

#[inline]
fn asymmetric() -> bool {
    MODE.load(Ordering::Acquire) == ASYMMETRIC
}

/// The notifier's side: between making a change visible and loading
/// whether anyone waits.
#[inline]
pub(crate) fn light() {
    if asymmetric() {
        compiler_fence(Ordering::SeqCst);
    } else {
        fence(Ordering::SeqCst);
    }
}

/// The waiter's side: between announcing itself and checking its condition.
pub(crate) fn heavy() {
    #[cfg(all(target_os = "linux", not(loom)))]
    if asymmetric() {
        const PRIVATE_EXPEDITED: libc::c_int = 1 << 3;
        // SAFETY: as in `register`; registration succeeded, so this command
        // is allowed and cannot fail for a reason of ours.
        let r = unsafe { libc::syscall(libc::SYS_membarrier, PRIVATE_EXPEDITED, 0, 0) };
        if r == 0 {
            return;
        }
    }
    fence(Ordering::SeqCst);
}

/// Which barrier the notifiers of this process pay (for the docs and tests).
pub fn is_asymmetric() -> bool {
    init();
    asymmetric()
}
