//! Interrupting a wait from another thread.
//!
//! An [`Interrupt`] is a sticky flag plus the list of wait queues that
//! waiters holding it are parked on (or about to park on).
//!
//! Protocol. A waiter, before its first check of its condition, registers
//! its queue in the interrupt's list (under the interrupt's mutex), then
//! waits as [`crate::wait`] describes with "the flag is set" added to its
//! condition, and unregisters (under the same mutex) before its wait
//! returns. `interrupt()` stores the flag (SeqCst), then, holding the
//! interrupt's mutex, notifies every registered queue. Either the
//! interrupter's lock comes after the waiter's registration, and it notifies
//! the waiter's queue after storing the flag, which is the notify side of the
//! wait queue's own protocol (so the wake is not lost); or it comes before,
//! and the mutex orders the flag store before the waiter's first check, which
//! sees it. A registered queue pointer stays valid while it is listed: the
//! waiter borrows the queue for the whole wait and unlists it, under the
//! mutex that `interrupt()` holds while it notifies, before the borrow ends.
//! Lock order: the interrupt's mutex, then a queue's; a waiter never takes
//! the interrupt's mutex while it holds its queue's.
//!
//! The flag stays set until [`Interrupt::reset`]: an interrupt that comes
//! before a wait starts ends that wait at once. Only waits look at it: a call
//! that completes without waiting completes as usual.

use std::sync::Arc;

use crate::sync::{AtomicBool, Mutex, Ordering::SeqCst};
use crate::wait::WaitQueue;

/// A queue a waiter is parked on, listed while the waiter borrows it.
struct Listed(*const WaitQueue);

// SAFETY: the pointer is only dereferenced (as a shared reference to a
// `Sync` queue) while it is listed, and the waiter keeps the queue alive
// until it unlists it (see the module's protocol).
unsafe impl Send for Listed {}

#[derive(Default)]
struct Inner {
    set: AtomicBool,
    queues: Mutex<Vec<Listed>>,
}

/// A handle that ends the waits it is passed to: cheap to clone (clones share
/// the flag), `Send + Sync`, and `interrupt()` may be called from any thread.
///
/// A wait that is interrupted answers
/// [`ErrorKind::Interrupted`](crate::ErrorKind::Interrupted) within a wake-up's latency and changes
/// nothing: a publish claims no slot and counts no timeout, a poll takes no
/// message.
#[derive(Clone, Default)]
pub struct Interrupt {
    inner: Arc<Inner>,
}

impl Interrupt {
    pub fn new() -> Interrupt {
        Interrupt::default()
    }

    /// Ends every wait using this handle, now and until [`reset`](Self::reset).
    pub fn interrupt(&self) {
        self.inner.set.store(true, SeqCst);
        let queues = self.inner.queues.lock().unwrap_or_else(|e| e.into_inner());
        for q in queues.iter() {
            // SAFETY: listed, so the waiter still borrows the queue; it
            // cannot unlist it while this mutex is held.
            unsafe { &*q.0 }.notify();
        }
    }

    /// Clears the flag, so that later waits wait again.
    pub fn reset(&self) {
        self.inner.set.store(false, SeqCst);
    }

    pub fn is_interrupted(&self) -> bool {
        self.inner.set.load(SeqCst)
    }

    /// Lists `queue` as one a waiter is about to park on.
    pub(crate) fn enlist(&self, queue: &WaitQueue) {
        self.inner
            .queues
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Listed(queue));
    }

    /// Unlists one entry for `queue` (the waiter's own).
    pub(crate) fn unlist(&self, queue: &WaitQueue) {
        let mut queues = self.inner.queues.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = queues.iter().position(|q| std::ptr::eq(q.0, queue)) {
            queues.swap_remove(i);
        }
    }
}

impl std::fmt::Debug for Interrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interrupt")
            .field("interrupted", &self.is_interrupted())
            .finish()
    }
}
