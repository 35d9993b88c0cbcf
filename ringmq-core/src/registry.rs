//! The process-wide registry of named brokers, and the handles that share
//! one engine.
//!
//! A broker created with `BrokerOptions::name` is entered here under that
//! name; [`Broker::open`](crate::Broker::open) looks it up from any thread
//! (in the bindings: any Node `worker_threads` worker or Python thread, as
//! the native library is loaded once per process) and returns a new handle
//! to the same engine. The entry goes when the engine has stopped (its last
//! handle closed or dropped), so that the name may be taken again.
//!
//! Creating a named broker first reserves the name (a second creation, or
//! a concurrent one, answers `Exists` before doing anything), then builds
//! the engine, then fills the entry: an `open` in between answers
//! `NotFound` (the broker does not exist yet), never waits.
//!
//! Fork: the registry belongs to the process that made it. A child made by
//! `fork()` gets a fresh, empty registry the first time it looks (the
//! parent's lock may be held for good there, by a thread the child does not
//! have), so a parent's broker is never handed out in a child; `open` of a
//! name the parent had answers the same `Closed` ("created in the parent
//! process") as any use of the parent's broker, or `NotFound` when the
//! parent's registry cannot be read without waiting. Registries are never
//! freed: one per process generation, a few words each.
//!
//! Handles: `Broker::new` and each `Broker::open` make one [`Handle`];
//! clones of a `Broker` share it. The engine counts its open handles;
//! releasing one (`close`, or dropping its last clone) counts it off, and
//! the release that leaves none closes the engine. Once the count is 0 no
//! handle is handed out again, so "last" is decided once.

use std::collections::HashMap;
// std types: a static, and no protocol for loom to model.
use std::sync::atomic::{AtomicPtr, Ordering::*};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use crate::broker::{BrokerCore, CloseReport};
use crate::error::{Error, ErrorKind, Result};
use crate::fork::Origin;
use crate::options::validate_name;

enum Slot {
    /// Taken by a `Broker::new` that is building the engine.
    Reserved,
    /// A running engine (a dead `Weak` is a free name).
    Live(Weak<BrokerCore>),
}

struct Registry {
    /// The process (generation) this registry belongs to.
    origin: Origin,
    names: Mutex<HashMap<String, Slot>>,
    /// The registry of the process this one was forked from, read only
    /// with `try_lock` (for the message of `open`).
    parent: Option<&'static Registry>,
}

static CURRENT: AtomicPtr<Registry> = AtomicPtr::new(std::ptr::null_mut());

/// This process's registry, made on first use (and again in a forked child).
fn registry() -> &'static Registry {
    loop {
        let p = CURRENT.load(Acquire);
        // SAFETY: CURRENT is null or a leaked `Box<Registry>`, never freed.
        let cur: Option<&'static Registry> = unsafe { p.as_ref() };
        if let Some(r) = cur {
            if !r.origin.forked() {
                return r;
            }
        }
        let fresh = Box::into_raw(Box::new(Registry {
            origin: Origin::here(),
            names: Mutex::new(HashMap::new()),
            parent: cur,
        }));
        match CURRENT.compare_exchange(p, fresh, AcqRel, Acquire) {
            // SAFETY: just leaked; from now on only ever read.
            Ok(_) => return unsafe { &*fresh },
            // Another thread installed one first: use that (checked again).
            // SAFETY: `fresh` was never published.
            Err(_) => drop(unsafe { Box::from_raw(fresh) }),
        }
    }
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot>> {
        self.names.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A name taken for a broker being created: filled with the engine once
/// it is built, or given back when dropped unfilled (the creation failed).
pub(crate) struct Reservation {
    name: String,
    registry: &'static Registry,
    filled: bool,
}

/// Takes `name` for a new broker, or answers `InvalidArgument` (a name no
/// broker may have) or `Exists`, changing nothing.
pub(crate) fn reserve(name: &str) -> Result<Reservation> {
    validate_name("broker", name)?;
    let registry = registry();
    let mut names = registry.lock();
    match names.get(name) {
        Some(Slot::Reserved) => {
            return Err(Error::new(
                ErrorKind::Exists,
                format!("a broker named {name:?} is being created by another thread"),
            ))
        }
        Some(Slot::Live(w)) => {
            if let Some(core) = w.upgrade() {
                let why = if core.handles() == 0 {
                    "is closing; the name is free once it has stopped"
                } else {
                    "already exists in this process (open it with Broker.open, \
                     or close every handle of it first)"
                };
                return Err(Error::new(
                    ErrorKind::Exists,
                    format!("a broker named {name:?} {why}"),
                ));
            }
        }
        None => {}
    }
    names.insert(name.to_owned(), Slot::Reserved);
    Ok(Reservation {
        name: name.to_owned(),
        registry,
        filled: false,
    })
}

impl Reservation {
    /// Enters the built engine under the reserved name.
    pub(crate) fn fill(mut self, core: &Arc<BrokerCore>) {
        self.registry
            .lock()
            .insert(self.name.clone(), Slot::Live(Arc::downgrade(core)));
        self.filled = true;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.filled && !self.registry.origin.forked() {
            let mut names = self.registry.lock();
            if matches!(names.get(&self.name), Some(Slot::Reserved)) {
                names.remove(&self.name);
            }
        }
    }
}

/// The engine registered as `name`, with one more handle counted, or why
/// not: `NotFound`, or `Closed` while it stops or when it was the parent
/// process's.
pub(crate) fn open(name: &str) -> Result<Arc<BrokerCore>> {
    let registry = registry();
    let found = match registry.lock().get(name) {
        Some(Slot::Live(w)) => w.upgrade(),
        _ => None,
    };
    if let Some(core) = found {
        if core.acquire_handle() {
            return Ok(core);
        }
        return Err(Error::new(
            ErrorKind::Closed,
            format!(
                "broker {name:?} is closing (its last handle was closed); \
                 a new broker may take the name once it has stopped"
            ),
        ));
    }
    if let Some(parent) = registry.parent {
        // Never wait here: a thread of the parent may have held the lock at
        // the fork, and it does not exist in this process.
        if let Ok(names) = parent.names.try_lock() {
            if matches!(names.get(name), Some(Slot::Live(_))) {
                return Err(Error::new(
                    ErrorKind::Closed,
                    format!(
                        "broker {name:?} was created in the parent process; a process made \
                         by fork() cannot use it: create a new broker there"
                    ),
                ));
            }
        }
    }
    Err(Error::new(
        ErrorKind::NotFound,
        format!("no broker named {name:?} in this process"),
    ))
}

/// Frees `name` if it is still `core`'s (called once the engine stopped).
pub(crate) fn remove(name: &str, core: &BrokerCore) {
    let registry = registry();
    let mut names = registry.lock();
    if let Some(Slot::Live(w)) = names.get(name) {
        if std::ptr::eq(w.as_ptr(), core) || w.strong_count() == 0 {
            names.remove(name);
        }
    }
}

/// One handle of an engine (shared by the clones of a `Broker`): released
/// by `close` or by dropping its last clone.
pub(crate) struct Handle {
    core: Arc<BrokerCore>,
    state: crate::sync::Mutex<HandleState>,
}

enum HandleState {
    Open,
    /// Released while other handles stayed open: what its close answered.
    Released(CloseReport),
    /// Released as the last handle: the engine's close answers.
    Last,
}

impl Handle {
    /// A handle already counted by `core`.
    pub(crate) fn new(core: Arc<BrokerCore>) -> Handle {
        Handle {
            core,
            state: crate::sync::Mutex::new(HandleState::Open),
        }
    }

    fn state(&self) -> crate::sync::MutexGuard<'_, HandleState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Releases this handle: `None` if it was the engine's last (the
    /// caller then closes the engine), else the report to answer.
    pub(crate) fn release(&self) -> Option<CloseReport> {
        let mut st = self.state();
        match &*st {
            HandleState::Released(r) => Some(r.clone()),
            HandleState::Last => None,
            HandleState::Open => {
                let left = self.core.release_handle();
                if left == 0 {
                    *st = HandleState::Last;
                    None
                } else {
                    let r = CloseReport {
                        handles_left: left as u64,
                        ..CloseReport::default()
                    };
                    *st = HandleState::Released(r.clone());
                    Some(r)
                }
            }
        }
    }

    pub(crate) fn is_released(&self) -> bool {
        !matches!(*self.state(), HandleState::Open)
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if self.core.forked() {
            // The parent's threads do not exist here and its locks may be
            // held for good: leak the broker rather than touch them.
            std::mem::forget(self.core.clone());
            return;
        }
        if self.release().is_none() {
            let _ = self.core.close(Duration::ZERO, None);
        }
    }
}
