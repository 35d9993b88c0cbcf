//! Ctrl-C during a wait detached from the GIL, without waiting in slices.
//!
//! Python runs signal handlers on the main thread only, when it is back in
//! the interpreter; a C-level handler notes the signal and writes its number
//! to the "wakeup fd" (`signal.set_wakeup_fd`). A blocking call on the main
//! thread therefore waits in one core call with an [`Interrupt`], and arms a
//! watcher for its duration:
//! 1. it points the wakeup fd at a socket whose other end a process-wide
//!    watcher thread reads (started once), and lists its `Interrupt` as the
//!    one to end; the fd it replaced (asyncio's, for example) is kept and
//!    every byte the watcher reads is passed on to it;
//! 2. it runs the signal handlers once (`check_signals`), for a signal that
//!    came before the fd was ours;
//! 3. it waits, detached; a signal makes the watcher call `interrupt()`, and
//!    the core wait ends at once with `Interrupted`, having changed nothing;
//! 4. it puts the old wakeup fd back and, if interrupted, runs the handlers:
//!    `KeyboardInterrupt` (or whatever a handler raises) propagates; if they
//!    return, the wait resumes for what is left of its timeout.
//!
//! Other threads cannot run handlers, so they wait uninterruptibly as
//! before (`set_wakeup_fd` refuses them); on platforms without Unix sockets
//! every call waits uninterruptibly.

use std::time::{Duration, Instant};

use pyo3::prelude::*;
use ringmq_core::{Error, ErrorKind, Interrupt};

use crate::errors::to_py;

/// An [`Interrupt`] for Python code: the asyncio helpers (`_aio.py`) pass
/// one to `PullSubscription._wait` on an executor thread and interrupt it
/// when their task is cancelled, so no thread is left waiting.
#[pyclass(frozen, module = "ringmq", name = "_Interrupt")]
#[derive(Default)]
pub struct PyInterrupt(pub(crate) Interrupt);

#[pymethods]
impl PyInterrupt {
    #[new]
    fn new() -> Self {
        PyInterrupt::default()
    }

    /// Ends the wait using this handle (now, or as soon as it starts).
    fn interrupt(&self) {
        self.0.interrupt();
    }
}

/// Waits in `call(timeout, interrupt)`, detached, interruptible by signals
/// when on the main thread; `timeout` is what is left of `timeout`.
pub(crate) fn wait<R, F>(py: Python<'_>, timeout: Option<Duration>, call: F) -> PyResult<R>
where
    R: Send,
    F: Fn(Option<Duration>, &Interrupt) -> Result<R, Error> + Sync,
{
    let start = Instant::now();
    let interrupt = Interrupt::new();
    loop {
        let armed = watch::arm(py, &interrupt)?;
        let left = timeout.map(|t| t.saturating_sub(start.elapsed()));
        let r = match py.check_signals() {
            Ok(()) => Ok(py.detach(|| call(left, &interrupt))),
            Err(e) => Err(e),
        };
        watch::disarm(py, armed)?;
        match r? {
            Err(e) if e.kind() == ErrorKind::Interrupted => {
                interrupt.reset();
                py.check_signals()?;
            }
            r => return r.map_err(to_py),
        }
    }
}

#[cfg(unix)]
mod watch {
    use std::io::{Read, Write};
    use std::mem::ManuallyDrop;
    use std::os::fd::{AsRawFd, FromRawFd, RawFd};
    use std::os::unix::net::UnixStream;
    use std::sync::{Mutex, OnceLock};

    use pyo3::exceptions::PyValueError;
    use pyo3::prelude::*;
    use pyo3::types::PyDict;
    use ringmq_core::Interrupt;

    struct Watcher {
        /// The end Python's C-level signal handler writes to.
        write_end: UnixStream,
        /// The wait to end, and the wakeup fd it replaced (-1: none).
        armed: Mutex<(Option<Interrupt>, RawFd)>,
    }

    static WATCHER: OnceLock<Option<Watcher>> = OnceLock::new();

    fn watcher() -> Option<&'static Watcher> {
        WATCHER
            .get_or_init(|| {
                let (mut read_end, write_end) = UnixStream::pair().ok()?;
                write_end.set_nonblocking(true).ok()?;
                std::thread::Builder::new()
                    .name("ringmq-signals".into())
                    .spawn(move || {
                        let mut buf = [0u8; 64];
                        loop {
                            let n = match read_end.read(&mut buf) {
                                Ok(0) => return,
                                Ok(n) => n,
                                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                                Err(_) => return,
                            };
                            let Some(w) = WATCHER.get().and_then(Option::as_ref) else {
                                continue;
                            };
                            let armed = w.armed.lock().unwrap_or_else(|e| e.into_inner());
                            if let Some(i) = &armed.0 {
                                i.interrupt();
                            }
                            if armed.1 >= 0 {
                                // SAFETY: the fd was the wakeup fd until this
                                // wait armed, and is given back when it
                                // disarms (under this lock); it is borrowed,
                                // never closed here.
                                let f = ManuallyDrop::new(unsafe {
                                    std::fs::File::from_raw_fd(armed.1)
                                });
                                let _ = (&*f).write(&buf[..n]);
                            }
                        }
                    })
                    .ok()?;
                Some(Watcher {
                    write_end,
                    armed: Mutex::new((None, -1)),
                })
            })
            .as_ref()
    }

    /// The armed state: the wakeup fd to put back, or None when not armed.
    pub(super) type Armed = Option<RawFd>;

    fn set_wakeup_fd(py: Python<'_>, fd: RawFd) -> PyResult<RawFd> {
        let kw = PyDict::new(py);
        kw.set_item("warn_on_full_buffer", false)?;
        py.import("signal")?
            .call_method("set_wakeup_fd", (fd,), Some(&kw))?
            .extract()
    }

    pub(super) fn arm(py: Python<'_>, interrupt: &Interrupt) -> PyResult<Armed> {
        let Some(w) = watcher() else { return Ok(None) };
        let ours = w.write_end.as_raw_fd();
        let old = match set_wakeup_fd(py, ours) {
            Ok(old) => old,
            // Not the main thread (of the main interpreter).
            Err(e) if e.is_instance_of::<PyValueError>(py) => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut armed = w.armed.lock().unwrap_or_else(|e| e.into_inner());
        *armed = (Some(interrupt.clone()), if old == ours { -1 } else { old });
        Ok(Some(old))
    }

    pub(super) fn disarm(py: Python<'_>, armed: Armed) -> PyResult<()> {
        let (Some(old), Some(w)) = (armed, watcher()) else {
            return Ok(());
        };
        *w.armed.lock().unwrap_or_else(|e| e.into_inner()) = (None, -1);
        set_wakeup_fd(py, old).map(drop)
    }
}

#[cfg(not(unix))]
mod watch {
    use pyo3::prelude::*;
    use ringmq_core::Interrupt;

    pub(super) type Armed = ();

    pub(super) fn arm(_: Python<'_>, _: &Interrupt) -> PyResult<Armed> {
        Ok(())
    }

    pub(super) fn disarm(_: Python<'_>, _: Armed) -> PyResult<()> {
        Ok(())
    }
}
