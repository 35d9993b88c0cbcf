//! Consumers: pull subscriptions (poll, iteration, asyncio), push
//! subscriptions (a Python handler on the pool), and the messages they get.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use pyo3::exceptions::{PyException, PyKeyboardInterrupt};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList, PyType};
use ringmq_core::internals::decode_ext;
use ringmq_core::{
    Completion, ErrorKind, HandlerError, Headers, Message, PullSubscription, PushSubscription,
    RawDelivery, SubOptions, Topic,
};

use crate::args;
use crate::broker::Shared;
use crate::errors::{invalid, IntoPyResult};
use crate::raw::PyRawBatch;
use crate::surface::stats_dict;
use crate::DETACH_COPY;

/// A copy of a payload as `bytes`; long payloads are copied detached.
fn bytes_of<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
    if data.len() < DETACH_COPY {
        return Ok(PyBytes::new(py, data));
    }
    PyBytes::new_with(py, data.len(), |buf| {
        py.detach(|| buf.copy_from_slice(data));
        Ok(())
    })
}

/// A delivered message. Pulled messages are settled with `ack`, `nack` or
/// `term`; a push handler's message is settled by the handler's outcome.
#[pyclass(frozen, module = "ringmq", name = "Message")]
pub struct PyMessage {
    #[pyo3(get)]
    id: u64,
    #[pyo3(get)]
    key: u64,
    #[pyo3(get)]
    attempt: u32,
    #[pyo3(get)]
    timestamp_ns: i64,
    data: Py<PyBytes>,
    /// The headers as a dict; `None` when the message has none (the getter
    /// then answers a new empty dict), so that a message without headers
    /// builds no dict.
    headers: Option<Py<PyDict>>,
    /// The msg_id it was published with, if any.
    msg_id: Option<Py<PyBytes>>,
    /// How to settle it: `None` for a push handler's message.
    settle: Option<Settle>,
    /// For a message of a dead-letter topic: why it got there, as the
    /// engine recorded it.
    error: Option<String>,
    /// For a message of a dead-letter topic: the group that gave up on it.
    dead_letter_group: Option<String>,
}

/// A pulled message's hold on its delivery: its subscription and raw tag.
///
/// The message keeps copies of everything it shows, so it holds the
/// delivery by raw tag (`PullSubscription::poll_raw`, as `Delivery::into_raw`)
/// rather than as a `Delivery`:
/// a raw tag pins its ring slot only until the ack deadline, when the
/// core's ack timer takes the message back (and redelivers it), so a kept,
/// unsettled message never holds producers back past its ack timeout. Its
/// later settle is then refused as expired.
struct Settle {
    /// The subscription handle of the `PullSubscription` object that
    /// polled it (shared, so that `ack_all` knows its own messages; not the
    /// Python object, so that a kept message does not keep the broker open).
    sub: Arc<PullSubscription>,
    tag: u64,
    /// Set by the one settle (ack, nack or term) that uses the tag.
    settled: AtomicBool,
}

impl Settle {
    fn sub(&self) -> &PullSubscription {
        &self.sub
    }
}

/// The result of settling a message's raw tag, as Python sees it.
///
/// A message settles its tag at most once, so the core can only find the
/// tag unknown when its ack timer took the delivery back: a lapsed raw
/// delivery's slot is freed, and once producers have reused it the core no
/// longer tells "expired" from "unknown". Answer what happened.
pub(crate) fn tag_settled(r: ringmq_core::Result<()>) -> PyResult<()> {
    match r {
        Err(e)
            if e.kind() == ErrorKind::InvalidArgument
                && e.message().ends_with(" is unknown or already settled") =>
        {
            let text = e.message().replace(
                " is unknown or already settled",
                " expired (not settled within ack_timeout) and was redelivered",
            );
            Err(crate::errors::to_py(ringmq_core::Error::new(
                ErrorKind::InvalidArgument,
                text,
            )))
        }
        r => r.py_err(),
    }
}

impl Drop for Settle {
    fn drop(&mut self) {
        if self.settled.load(Ordering::Acquire) {
            return;
        }
        // SAFETY: no `Delivery` with this tag exists (it was taken as a
        // raw tag, see `PyMessage::pulled`), and this is the tag's only
        // settle (it was not settled, and the message is going away).
        unsafe { drop_unsettled(self.sub(), [self.tag]) };
    }
}

/// Raw tags dropped unsettled (a `Message` or `RawBatch` going away). On an
/// open subscription the ack timer redelivers them at their deadline, as
/// it does a dropped `Delivery`. A closed one redelivers nothing and runs
/// no timer: let go of their slots now, so that they do not hold producers
/// back (a settle of a closed subscription only lets go of the delivery).
///
/// # Safety
/// Each tag was taken as a raw tag (no `Delivery` with it exists) and is
/// not settled, and this is its only settle.
pub(crate) unsafe fn drop_unsettled(sub: &PullSubscription, tags: impl IntoIterator<Item = u64>) {
    if !sub.why_idle().contains(&ringmq_core::IdleReason::Closed) {
        return;
    }
    for tag in tags {
        // SAFETY: by the caller's promise.
        let _ = unsafe { sub.nack_tag(tag, None) };
    }
}

/// The headers of a message as a dict (the last of repeated names wins), or
/// `None` for none; its msg_id as bytes.
#[allow(clippy::type_complexity)]
pub(crate) fn extras(
    py: Python<'_>,
    headers: Headers<'_>,
    msg_id: Option<&[u8]>,
) -> PyResult<(Option<Py<PyDict>>, Option<Py<PyBytes>>)> {
    let msg_id = msg_id.map(|id| PyBytes::new(py, id).unbind());
    if headers.is_empty() {
        return Ok((None, msg_id));
    }
    let d = PyDict::new(py);
    for (name, value) in headers.iter() {
        d.set_item(name, PyBytes::new(py, value))?;
    }
    Ok((Some(d.unbind()), msg_id))
}

impl PyMessage {
    /// A pulled message: everything it shows is copied out of `d`, a
    /// delivery held by raw tag (see `Settle`), right after the poll that
    /// took it.
    fn pulled(
        py: Python<'_>,
        sub: &Arc<PullSubscription>,
        d: &RawDelivery,
    ) -> PyResult<Py<PyMessage>> {
        // SAFETY: just taken and not settled: its payload and extension are
        // pinned until its tag is settled (only this message can, later) or
        // its ack deadline passes, seconds away.
        let (data, ext) = unsafe { (d.data(), d.ext()) };
        let data = bytes_of(py, data)?.unbind();
        let (headers, msg_id) = if ext.is_empty() {
            (None, None)
        } else {
            let (id, h) = decode_ext(ext);
            extras(py, h, id)?
        };
        Py::new(
            py,
            PyMessage {
                error: d.dead_letter_reason().map(str::to_owned),
                dead_letter_group: d.dead_letter_group().map(str::to_owned),
                id: d.id(),
                key: d.key(),
                attempt: d.attempt(),
                timestamp_ns: d.timestamp_ns(),
                data,
                headers,
                msg_id,
                settle: Some(Settle {
                    sub: sub.clone(),
                    tag: d.tag(),
                    settled: AtomicBool::new(false),
                }),
            },
        )
    }

    /// The messages of a poll.
    fn all_pulled<'py>(
        py: Python<'py>,
        sub: &Arc<PullSubscription>,
        got: &[RawDelivery],
    ) -> PyResult<Bound<'py, PyList>> {
        let messages = got
            .iter()
            .map(|d| PyMessage::pulled(py, sub, d))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, messages)
    }

    fn pushed(py: Python<'_>, m: &Message<'_>) -> PyResult<Py<PyMessage>> {
        let (headers, msg_id) = if m.headers.is_empty() && m.msg_id.is_none() {
            (None, None)
        } else {
            extras(py, m.headers, m.msg_id)?
        };
        Py::new(
            py,
            PyMessage {
                error: m.dead_letter_reason.map(str::to_owned),
                dead_letter_group: m.dead_letter_group.map(str::to_owned),
                id: m.id,
                key: m.key,
                attempt: m.attempt,
                timestamp_ns: m.timestamp_ns,
                data: bytes_of(py, m.data)?.unbind(),
                headers,
                msg_id,
                settle: None,
            },
        )
    }

    fn hold(&self) -> PyResult<&Settle> {
        self.settle.as_ref().ok_or_else(|| {
            invalid(
                "a push handler's message is settled by the handler: return to ack, raise to nack",
            )
        })
    }

    fn already_settled(&self) -> PyErr {
        invalid(format!("message {} was already settled", self.id))
    }

    /// Takes the raw tag for the one settle that may use it.
    fn take(&self) -> PyResult<&Settle> {
        let s = self.hold()?;
        if s.settled.swap(true, Ordering::AcqRel) {
            return Err(self.already_settled());
        }
        Ok(s)
    }
}

pub(crate) fn reason_text(reason: Option<&Bound<'_, PyAny>>) -> PyResult<Option<String>> {
    match reason {
        None => Ok(None),
        Some(r) if r.is_none() => Ok(None),
        Some(r) => Ok(Some(r.str()?.to_string())),
    }
}

#[pymethods]
impl PyMessage {
    /// The payload, as bytes.
    #[getter]
    fn data(&self, py: Python<'_>) -> Py<PyBytes> {
        self.data.clone_ref(py)
    }

    /// The headers it was published with, as a dict of str names to bytes
    /// values (empty for none). A name given more than once keeps only its
    /// last value here. The same dict is answered each time.
    #[getter]
    fn headers<'py>(&self, py: Python<'py>) -> Bound<'py, PyDict> {
        match &self.headers {
            Some(d) => d.bind(py).clone(),
            None => PyDict::new(py),
        }
    }

    /// The msg_id it was published with (bytes), or None.
    #[getter]
    fn msg_id(&self, py: Python<'_>) -> Option<Py<PyBytes>> {
        self.msg_id.as_ref().map(|b| b.clone_ref(py))
    }

    /// For a message of a dead-letter topic: the failure that sent it there,
    /// as the engine recorded it: a nack's or term's reason (or "nacked",
    /// "termed", "ack timeout"), a handler's exception as `Type: text`, and
    /// "failed N deliveries (max_attempts M): " before the last failure when
    /// the message ran out of attempts. None for other messages.
    #[getter]
    fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// For a message of a dead-letter topic: the consumer group of the
    /// original topic that dead-lettered it. None for other messages.
    #[getter]
    fn dead_letter_group(&self) -> Option<&str> {
        self.dead_letter_group.as_deref()
    }

    /// True once acked, nacked or termed (always False for push messages).
    #[getter]
    fn settled(&self) -> bool {
        match &self.settle {
            Some(s) => s.settled.load(Ordering::Acquire),
            None => false,
        }
    }

    /// Done: the message will not be delivered again to this subscription.
    fn ack(&self) -> PyResult<()> {
        let s = self.take()?;
        // SAFETY: `take` hands the tag out once; no `Delivery` with it
        // exists (it was taken as a raw tag, see `pulled`).
        tag_settled(unsafe { s.sub().ack_tag(s.tag) })
    }

    /// Failed: redelivered after `delay` seconds (default: the topic's
    /// backoff), or dead-lettered after `max_attempts` deliveries.
    #[pyo3(signature = (delay=None, reason=None))]
    fn nack(
        &self,
        delay: Option<&Bound<'_, PyAny>>,
        reason: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let delay = match delay.filter(|d| !d.is_none()) {
            Some(d) => Some(args::finite_seconds(d, "delay")?),
            None => None,
        };
        let reason = reason_text(reason)?;
        let s = self.take()?;
        // SAFETY: as in `ack`.
        tag_settled(unsafe {
            match reason {
                Some(r) => s.sub().nack_tag_with_reason(s.tag, delay, &r),
                None => s.sub().nack_tag(s.tag, delay),
            }
        })
    }

    /// Not handled, and not a failure: back to be delivered again at once
    /// (to any consumer of the subscription), not counted as an attempt,
    /// so requeues never dead-letter it. For a consumer that took a message
    /// it will not handle (a cancelled task, a shutdown); a failure is a
    /// nack. The stats count it among the nacks.
    fn requeue(&self) -> PyResult<()> {
        let s = self.take()?;
        // SAFETY: as in `ack`.
        tag_settled(unsafe { s.sub().requeue_tag(s.tag) })
    }

    /// Poison: straight to the dead-letter topic.
    #[pyo3(signature = (reason=None))]
    fn term(&self, reason: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let reason = reason_text(reason)?;
        let s = self.take()?;
        // SAFETY: as in `ack`.
        tag_settled(unsafe {
            match reason {
                Some(r) => s.sub().term_tag_with_reason(s.tag, &r),
                None => s.sub().term_tag(s.tag),
            }
        })
    }

    /// Still working on it: restarts the ack timer.
    fn in_progress(&self) -> PyResult<()> {
        let s = self.hold()?;
        if s.settled.load(Ordering::Acquire) {
            return Err(self.already_settled());
        }
        tag_settled(s.sub().in_progress_tag(s.tag))
    }

    fn __len__(&self, py: Python<'_>) -> usize {
        self.data.bind(py).as_bytes().len()
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "<ringmq.Message id={} key={} attempt={} len={}>",
            self.id,
            self.key,
            self.attempt,
            self.data.bind(py).as_bytes().len()
        )
    }
}

/// A pull subscription: poll and settle. Thread-safe; several threads polling
/// one subscription are competing consumers.
#[pyclass(frozen, module = "ringmq", name = "PullSubscription")]
pub struct PyPullSubscription {
    sub: Arc<PullSubscription>,
    shared: Arc<Shared>,
}

impl PyPullSubscription {
    pub(crate) fn new(sub: PullSubscription, shared: Arc<Shared>) -> Self {
        PyPullSubscription {
            sub: Arc::new(sub),
            shared,
        }
    }

    /// Polls for one message: see `take`.
    fn poll_one(&self, py: Python<'_>, timeout: Option<Duration>) -> PyResult<Option<RawDelivery>> {
        Ok(self.take(py, 1, timeout)?.into_iter().next())
    }

    /// `take` with `max` and `timeout` as Python gave them.
    fn take_raw(
        &self,
        py: Python<'_>,
        max: &Bound<'_, PyAny>,
        timeout: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Vec<RawDelivery>> {
        let max = args::uint(max, "max", 1 << 24)? as usize;
        if max == 0 {
            return Err(invalid("max 0 must be at least 1"));
        }
        self.take(py, max, args::timeout(timeout)?)
    }

    /// Takes up to `max` deliveries as raw tags (empty on timeout): see
    /// `take_waiting`; its waits are detached from the GIL, and Ctrl-C
    /// interrupts them.
    fn take(
        &self,
        py: Python<'_>,
        max: usize,
        timeout: Option<Duration>,
    ) -> PyResult<Vec<RawDelivery>> {
        self.shared.raise_pending()?;
        let sub = &self.sub;
        take_waiting(sub, max, timeout, |left| {
            crate::signals::wait(py, left, |t, i| sub.wait_ready(t, Some(i)))
        })
    }
}

/// Takes up to `max` deliveries as raw tags with the GIL held, and, while
/// none is there and `timeout` allows, waits with `wait(time left)` (which
/// lets the GIL go) for the subscription to be ready, then takes again.
/// Only the wait lets the GIL go, never the time between a take and the
/// copy of what it took, which the caller makes under the same hold: a
/// raw tag pins its payload only until its ack deadline, and getting the
/// GIL back after a wait can take any time.
fn take_waiting(
    sub: &PullSubscription,
    max: usize,
    timeout: Option<Duration>,
    mut wait: impl FnMut(Option<Duration>) -> PyResult<bool>,
) -> PyResult<Vec<RawDelivery>> {
    let start = Instant::now();
    let mut got = Vec::with_capacity(max.min(4096));
    // Set when a wait timed out: the take after it is the last look, as a
    // poll takes once more at its deadline.
    let mut last = false;
    loop {
        sub.poll_raw(max, Some(Duration::ZERO), None, &mut got)
            .py_err()?;
        let left = timeout.map(|t| t.saturating_sub(start.elapsed()));
        if !got.is_empty() || last || left == Some(Duration::ZERO) {
            return Ok(got);
        }
        last = !wait(left)?;
    }
}

#[pymethods]
impl PyPullSubscription {
    #[getter]
    fn group(&self) -> &str {
        self.sub.group()
    }

    #[getter]
    fn topic(&self) -> &str {
        self.sub.topic_name()
    }

    /// Waits up to `timeout` seconds (None: for ever, 0: not at all) for one
    /// message; None when nothing arrived in time.
    #[pyo3(signature = (timeout=None))]
    fn poll(
        &self,
        py: Python<'_>,
        timeout: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Option<Py<PyMessage>>> {
        let timeout = args::timeout(timeout)?;
        match self.poll_one(py, timeout)? {
            Some(d) => Ok(Some(PyMessage::pulled(py, &self.sub, &d)?)),
            None => Ok(None),
        }
    }

    /// Waits up to `timeout` seconds for at least one message and returns up
    /// to `max` (an empty list when nothing arrived in time).
    #[pyo3(signature = (max, timeout=None))]
    fn poll_batch<'py>(
        &self,
        py: Python<'py>,
        max: &Bound<'py, PyAny>,
        timeout: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let got = self.take_raw(py, max, timeout)?;
        PyMessage::all_pulled(py, &self.sub, &got)
    }

    /// As `poll_batch`, but the messages come packed in one `RawBatch`
    /// (empty when nothing arrived in time): one `bytes` of payloads and
    /// per-message fields read by index, no object per message.
    #[pyo3(signature = (max, timeout=None))]
    fn poll_raw(
        &self,
        py: Python<'_>,
        max: &Bound<'_, PyAny>,
        timeout: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyRawBatch>> {
        let got = self.take_raw(py, max, timeout)?;
        PyRawBatch::build(py, &self.sub, &got)
    }

    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// Blocks until the next message; the iteration ends when the
    /// subscription or its broker is closed.
    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyMessage>>> {
        match self.poll_one(py, None) {
            Ok(Some(d)) => Ok(Some(PyMessage::pulled(py, &self.sub, &d)?)),
            Ok(None) => Ok(None),
            Err(e) if crate::errors::is_kind(py, &e, ErrorKind::Closed) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// One wait for up to `max` messages that `interrupt` ends (raising
    /// `Interrupted`), detached from the GIL: the asyncio helpers run it on
    /// an executor thread.
    #[pyo3(signature = (max, timeout, interrupt))]
    fn _wait<'py>(
        &self,
        py: Python<'py>,
        max: usize,
        timeout: Option<&Bound<'py, PyAny>>,
        interrupt: &Bound<'py, crate::signals::PyInterrupt>,
    ) -> PyResult<Bound<'py, PyList>> {
        let timeout = args::timeout(timeout)?;
        let i = &interrupt.get().0;
        let sub = &self.sub;
        let got = take_waiting(sub, max.max(1), timeout, |left| {
            py.detach(|| sub.wait_ready(left, Some(i))).py_err()
        })?;
        PyMessage::all_pulled(py, &self.sub, &got)
    }

    /// The subscription's readiness descriptor for the asyncio waits
    /// (`loop.add_reader`): readable when a poll may take something or
    /// answer `Closed`; None where there is none (the waits then use a
    /// thread). Owned by the subscription: never read nor closed.
    fn _readiness_fd(&self) -> PyResult<Option<i64>> {
        #[cfg(unix)]
        {
            match self.sub.readiness_fd() {
                Ok(fd) => Ok(Some(i64::from(fd))),
                Err(e) if e.kind() == ErrorKind::Closed => Err(crate::errors::to_py(e)),
                Err(_) => Ok(None),
            }
        }
        #[cfg(not(unix))]
        {
            Ok(None)
        }
    }

    /// An awaitable poll for asyncio: never blocks the event loop.
    #[pyo3(signature = (timeout=None))]
    fn poll_async<'py>(
        slf: Bound<'py, Self>,
        timeout: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let t = args::timeout(timeout)?;
        crate::broker::aio(py, "poll")?.call1((slf, t.map(|d| d.as_secs_f64())))
    }

    /// An awaitable poll_batch for asyncio.
    #[pyo3(signature = (max, timeout=None))]
    fn poll_batch_async<'py>(
        slf: Bound<'py, Self>,
        max: &Bound<'py, PyAny>,
        timeout: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let n = args::uint(max, "max", 1 << 24)?;
        if n == 0 {
            return Err(invalid("max 0 must be at least 1"));
        }
        let t = args::timeout(timeout)?;
        crate::broker::aio(py, "poll_batch")?.call1((slf, n, t.map(|d| d.as_secs_f64())))
    }

    /// An asynchronous iterator for `async for`; it ends when the
    /// subscription or its broker is closed.
    fn aiter<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        crate::broker::aio(py, "AsyncMessages")?.call1((slf,))
    }

    /// `async for msg in pull:` (as `aiter()`).
    fn __aiter__<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        Self::aiter(slf)
    }

    /// Acks every message of `messages` (as `poll_batch` returns them) in
    /// one call; returns how many it acked. Raises on the first item that is
    /// not a pulled message or was already settled, after acking the ones
    /// before it. Given a `RawBatch`, acks its messages not settled yet
    /// (as `RawBatch.ack_all()`).
    fn ack_all(&self, messages: &Bound<'_, PyAny>) -> PyResult<usize> {
        if let Ok(batch) = messages.cast::<PyRawBatch>() {
            // A RawBatch acks its own open messages (by its own subscription).
            return batch.get().ack_open();
        }
        // Tags of this subscription object's messages, acked together at the
        // end; a message of another subscription is acked by its own at once.
        let mut batch: Vec<u64> = Vec::new();
        let mut others = 0;
        let mut other_failed = Ok(());
        let mut each = |item: &Bound<'_, PyAny>, batch: &mut Vec<u64>| -> PyResult<()> {
            let m = item.cast::<PyMessage>().map_err(|_| {
                pyo3::exceptions::PyTypeError::new_err(format!(
                    "ack_all takes Message objects, not {}",
                    item.get_type()
                        .name()
                        .map(|n| n.to_string())
                        .unwrap_or_default()
                ))
            })?;
            let s = m.get().take()?;
            if Arc::ptr_eq(&s.sub, &self.sub) {
                batch.push(s.tag);
            } else {
                others += 1;
                // SAFETY: `take` hands the tag out once; no `Delivery` with
                // it exists (see `PyMessage::pulled`).
                let r = tag_settled(unsafe { s.sub().ack_tag(s.tag) });
                if other_failed.is_ok() {
                    other_failed = r;
                }
            }
            Ok(())
        };
        let mut failed = Ok(());
        if let Ok(list) = messages.cast::<PyList>() {
            batch.reserve(list.len());
            for item in list.iter() {
                failed = each(&item, &mut batch);
                if failed.is_err() {
                    break;
                }
            }
        } else {
            for item in messages.try_iter()? {
                failed = item.and_then(|item| each(&item, &mut batch));
                if failed.is_err() {
                    break;
                }
            }
        }
        // One settle of the batch: one clock read, one update of the
        // counters and of the ring's watermark.
        let n = batch.len() + others;
        // SAFETY: every tag was taken once from its message (see `each`).
        let acked = tag_settled(unsafe { self.sub.ack_tags(&batch) });
        failed?;
        other_failed?;
        acked?;
        Ok(n)
    }

    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        stats_dict(
            py,
            &[self.sub.topic_name(), self.sub.group()],
            &self.sub.stats(),
        )
    }

    /// Stops taking new messages (the lag grows); deliveries in flight and
    /// retries go on. Raises Closed once unsubscribed or closed.
    fn pause(&self) -> PyResult<()> {
        self.sub.pause().py_err()
    }

    /// Takes new messages again after `pause()`.
    fn resume(&self) -> PyResult<()> {
        self.sub.resume().py_err()
    }

    /// True while paused.
    #[getter]
    fn paused(&self) -> bool {
        self.sub.is_paused()
    }

    /// Why nothing would be delivered now, one text per reason (empty when
    /// a message is there and nothing holds it back), such as "paused".
    fn why_idle(&self) -> Vec<String> {
        self.sub
            .why_idle()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    /// Removes the subscription from its topic.
    fn unsubscribe(&self) -> PyResult<()> {
        self.sub.unsubscribe().py_err()
    }

    fn __repr__(&self) -> String {
        format!(
            "<ringmq.PullSubscription {:?} on {:?}>",
            self.sub.group(),
            self.sub.topic_name()
        )
    }
}

/// A push subscription's handle.
#[pyclass(frozen, module = "ringmq", name = "PushSubscription")]
pub struct PyPushSubscription {
    sub: PushSubscription,
    topic: String,
    own: Arc<OwnHandle>,
    _shared: Arc<Shared>,
}

/// The text kept for a failed handler: `ExceptionType: message`.
fn failure_text(py: Python<'_>, e: &PyErr) -> String {
    let ty = e
        .get_type(py)
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "Exception".to_owned());
    let msg = e.value(py).str().map(|s| s.to_string()).unwrap_or_default();
    if msg.is_empty() {
        ty
    } else {
        format!("{ty}: {msg}")
    }
}

/// How a handler call ended.
enum Outcome {
    /// Returned: ack.
    Done,
    /// Raised an `Exception` (or returned an awaitable): nack, counted as a
    /// failure.
    Failed(String),
    /// Raised `ringmq.Retry`: retry after its delay.
    Retry(Duration, String),
    /// Raised `ringmq.Term`: straight to the dead-letter topic.
    Term(String),
    /// Raised a `BaseException` that is not an `Exception`
    /// (`KeyboardInterrupt`, `SystemExit`, ...): the subscription stops and
    /// the exception goes to the main program.
    Stop(PyErr),
}

impl Outcome {
    /// The result the engine gets.
    fn result(self) -> Result<(), HandlerError> {
        match self {
            Outcome::Done => Ok(()),
            Outcome::Failed(text) => Err(HandlerError::new(text)),
            Outcome::Retry(delay, text) => Err(HandlerError::retry_after_with_reason(delay, text)),
            Outcome::Term(reason) => Err(HandlerError::term(reason)),
            Outcome::Stop(_) => unreachable!("a stop is handled before"),
        }
    }
}

static RETRY: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static TERM: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static LOGGER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The outcome a handler chose by raising `ringmq.Retry` or `ringmq.Term`,
/// if it raised one of them.
fn chosen_outcome(py: Python<'_>, e: &PyErr) -> Option<Outcome> {
    let value = e.value(py);
    let reason = |value: &Bound<'_, PyAny>| -> Option<String> {
        value
            .getattr("reason")
            .ok()
            .filter(|r| !r.is_none())
            .and_then(|r| r.str().ok())
            .map(|r| r.to_string())
    };
    if let Ok(retry) = RETRY.import(py, "ringmq._outcomes", "Retry") {
        if value.is_instance(retry).unwrap_or(false) {
            let delay = value
                .getattr("delay")
                .and_then(|d| d.extract::<f64>())
                .ok()
                .and_then(|d| Duration::try_from_secs_f64(d).ok())?;
            let text = reason(value).unwrap_or_else(|| format!("retry after {delay:?}"));
            return Some(Outcome::Retry(delay, text));
        }
    }
    if let Ok(term) = TERM.import(py, "ringmq._outcomes", "Term") {
        if value.is_instance(term).unwrap_or(false) {
            return Some(Outcome::Term(
                reason(value).unwrap_or_else(|| "termed".to_owned()),
            ));
        }
    }
    None
}

/// Logs a handler's exception, with its traceback, at ERROR on the
/// `ringmq` logger. A failure to log is reported as unraisable.
fn log_failure(py: Python<'_>, topic: &str, group: &str, (id, attempt): (u64, u32), e: &PyErr) {
    let logged = (|| -> PyResult<()> {
        let logger = LOGGER.get_or_try_init(py, || {
            py.import("logging")?
                .call_method1("getLogger", ("ringmq",))
                .map(Bound::unbind)
        })?;
        let logger = logger.bind(py);
        if !logger.call_method1("isEnabledFor", (40,))?.is_truthy()? {
            return Ok(());
        }
        let exc_info = (e.get_type(py), e.value(py), e.traceback(py));
        let kwargs = PyDict::new(py);
        kwargs.set_item("exc_info", exc_info)?;
        logger.call_method(
            "error",
            (
                "handler of group %r on topic %r failed on message %d (attempt %d)",
                group,
                topic,
                id,
                attempt,
            ),
            Some(&kwargs),
        )?;
        Ok(())
    })();
    if let Err(err) = logged {
        err.write_unraisable(py, None);
    }
}

/// The outcome of a handler that raised `e`: an `Exception` is a failure
/// (or the outcome it chose with `ringmq.Retry` / `ringmq.Term`), logged; any
/// other `BaseException` stops the subscription.
fn outcome_of_error(
    py: Python<'_>,
    e: PyErr,
    topic: &str,
    group: &str,
    (id, attempt): (u64, u32),
) -> Outcome {
    if !e.is_instance_of::<PyException>(py) {
        return Outcome::Stop(e);
    }
    if let Some(chosen) = chosen_outcome(py, &e) {
        return chosen;
    }
    log_failure(py, topic, group, (id, attempt), &e);
    Outcome::Failed(failure_text(py, &e))
}

fn call_handler(
    py: Python<'_>,
    handler: &Py<PyAny>,
    m: &Message<'_>,
    topic: &str,
    group: &str,
) -> Outcome {
    let msg = match PyMessage::pushed(py, m) {
        Ok(msg) => msg,
        Err(e) => return Outcome::Failed(failure_text(py, &e)),
    };
    match handler.call1(py, (msg,)) {
        Ok(r) if r.is_none(py) => Outcome::Done,
        Ok(r) => {
            let r = r.bind(py);
            if r.hasattr("__await__").unwrap_or(false) {
                // Close a coroutine so it does not warn that it was never awaited.
                let _ = r.call_method0("close");
                return Outcome::Failed(
                    "the handler returned an awaitable, but no event loop was running when \
                     subscribe() was called: subscribe from a coroutine so that awaitable \
                     handlers run on its event loop"
                        .to_owned(),
                );
            }
            Outcome::Done
        }
        Err(e) => outcome_of_error(py, e, topic, group, (m.id, m.attempt)),
    }
}

/// A push subscription's handle for its own handler, so that a handler
/// that lets a `BaseException` out can stop its subscription. It is let go
/// of once used, on unsubscribe and at close, as it keeps the subscription
/// (and so itself) alive.
pub(crate) struct OwnHandle(Mutex<Option<PushSubscription>>);

impl OwnHandle {
    pub(crate) fn forget(&self) {
        let sub = self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(sub);
    }

    fn take(&self) -> Option<PushSubscription> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// Interrupts the main thread as Ctrl-C does: a SIGINT sent to it, which
/// also ends a `time.sleep` or a wait of this module there. False (nothing
/// done) when SIGINT has no Python handler (ignored, or not Python's).
fn interrupt_main(py: Python<'_>) -> PyResult<bool> {
    let signal = py.import("signal")?;
    let sigint = signal.getattr("SIGINT")?;
    if !signal.call_method1("getsignal", (&sigint,))?.is_callable() {
        return Ok(false);
    }
    if signal.hasattr("pthread_kill")? {
        let main = py
            .import("threading")?
            .call_method0("main_thread")?
            .getattr("ident")?;
        signal.call_method1("pthread_kill", (main, sigint))?;
    } else {
        py.import("_thread")?.call_method0("interrupt_main")?;
    }
    Ok(true)
}

/// A handler let `e` out: stops the subscription, then hands `e` to the
/// main program. A `KeyboardInterrupt` interrupts the main thread as Ctrl-C
/// would; any other exception is kept and raised by the broker's next
/// guarded call. The message's nack then reaches a closed subscription and
/// changes nothing: it is not counted as a failure nor dead-lettered.
fn stop(py: Python<'_>, own: &OwnHandle, shared: &Weak<Shared>, e: PyErr) {
    if let Some(sub) = own.take() {
        // Other handler calls of this subscription may need the GIL to end.
        py.detach(|| {
            let _ = sub.unsubscribe();
        });
    }
    if e.is_instance_of::<PyKeyboardInterrupt>(py) && interrupt_main(py).unwrap_or(false) {
        return;
    }
    match shared.upgrade() {
        Some(shared) => shared.set_pending(e),
        // No handle of the broker is left to raise it from.
        None => e.write_unraisable(py, None),
    }
}

thread_local! {
    static THREAD_STATE_KEPT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Gives this pool thread a Python thread state that lives as long as the
/// thread, so that attaching for each handler call only takes the GIL rather
/// than creating and destroying a thread state every time (several times
/// slower). The state is released with the interpreter's others at exit.
fn keep_thread_state() {
    THREAD_STATE_KEPT.with(|kept| {
        if kept.get() {
            return;
        }
        kept.set(true);
        // SAFETY: `Py_IsInitialized` may be called at any time. When the
        // interpreter is up, `PyGILState_Ensure` attaches this thread (which
        // holds no GIL: pool threads run no Python code outside of these
        // calls) and its state is never released, so it stays registered for
        // the thread; `PyEval_SaveThread` then releases the GIL taken by
        // `Ensure`, leaving the thread detached as it was.
        unsafe {
            if pyo3::ffi::Py_IsInitialized() != 0 {
                let _ = pyo3::ffi::PyGILState_Ensure();
                pyo3::ffi::PyEval_SaveThread();
            }
        }
    });
}

/// The event loop a push subscription made from a coroutine captured: its
/// awaitable handlers run there.
pub(crate) struct LoopHandlers {
    /// The running loop when `subscribe()` was called.
    pub event_loop: Py<PyAny>,
    /// The handler is a coroutine function: it is called on the loop's
    /// thread (calling it on a pool thread would make a coroutine that a
    /// closed loop could leave never awaited).
    pub coroutine: bool,
}

/// What a pool thread needs to hand a message to an awaitable handler.
struct AsyncPush {
    handler: Py<PyAny>,
    event_loop: Py<PyAny>,
    coroutine: bool,
    /// `ringmq._aio.start_handler` and `ringmq._aio.run_handler`.
    start: Py<PyAny>,
    run: Py<PyAny>,
    topic: String,
    group: String,
    own: Arc<OwnHandle>,
    shared: Weak<Shared>,
    /// The completions handed to the loop and not yet completed, so that
    /// once the loop is found closed (a task of a closed loop never runs
    /// again) they are all nacked, not only the next message's.
    pending: Mutex<Pending>,
}

type Slot = Arc<Mutex<Option<Completion>>>;

#[derive(Default)]
struct Pending {
    slots: Vec<Weak<Mutex<Option<Completion>>>>,
    /// Length at which the completed slots are swept out.
    sweep_at: usize,
}

impl AsyncPush {
    /// `done` as the loop's coroutine holds it, tracked until completed;
    /// None if it could not be made (`done` then nacks as it drops).
    fn completion(
        &self,
        py: Python<'_>,
        m: &Message<'_>,
        done: Completion,
    ) -> Option<Py<PyCompletion>> {
        let slot: Slot = Arc::new(Mutex::new(Some(done)));
        self.track(&slot);
        let completion = PyCompletion {
            done: slot,
            id: m.id,
            attempt: m.attempt,
            topic: self.topic.clone(),
            group: self.group.clone(),
            own: self.own.clone(),
        };
        Py::new(py, completion).ok()
    }

    fn track(&self, slot: &Slot) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if p.slots.len() >= p.sweep_at {
            p.slots.retain(|w| w.strong_count() > 0);
            p.sweep_at = (p.slots.len() * 2).max(64);
        }
        p.slots.push(Arc::downgrade(slot));
    }

    /// The loop is closed: nacks every completion it still holds.
    fn release_all(&self) {
        let slots =
            std::mem::take(&mut self.pending.lock().unwrap_or_else(|e| e.into_inner()).slots);
        for slot in slots.iter().filter_map(Weak::upgrade) {
            let done = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(done) = done {
                done.complete(Err(HandlerError::new(LOOP_CLOSED)));
            }
        }
    }
}

/// A message's completion, as the coroutine that handles it on the event
/// loop holds it (`ringmq._aio.run_handler` completes it). Dropped without
/// a completion (a task destroyed with its loop), it nacks.
#[pyclass(frozen, module = "ringmq", name = "_Completion")]
pub struct PyCompletion {
    done: Slot,
    id: u64,
    attempt: u32,
    topic: String,
    group: String,
    own: Arc<OwnHandle>,
}

impl PyCompletion {
    fn complete(&self, r: Result<(), HandlerError>) {
        let done = self.done.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(done) = done {
            done.complete(r);
        }
    }

    /// Settles by `outcome`. A stop unsubscribes first (so that the nack
    /// reaches a closed subscription and counts nothing), and answers true:
    /// on the event loop, the exception goes on to the loop's runner
    /// (asyncio lets KeyboardInterrupt and SystemExit out of the loop).
    fn settle(&self, py: Python<'_>, outcome: Outcome) -> bool {
        match outcome {
            Outcome::Stop(e) => {
                let text = failure_text(py, &e);
                if let Some(sub) = self.own.take() {
                    py.detach(|| {
                        let _ = sub.unsubscribe();
                    });
                }
                self.complete(Err(HandlerError::new(text)));
                true
            }
            outcome => {
                self.complete(outcome.result());
                false
            }
        }
    }
}

#[pymethods]
impl PyCompletion {
    /// The handler returned: ack.
    fn _ack(&self) {
        self.complete(Ok(()));
    }

    /// The handler raised `exc`: settles as a sync handler's exception
    /// would. True when the exception must propagate (a `BaseException`
    /// that is not an `Exception`: the subscription was stopped).
    fn _fail(&self, py: Python<'_>, exc: Bound<'_, PyAny>) -> bool {
        let e = PyErr::from_value(exc);
        let outcome = outcome_of_error(py, e, &self.topic, &self.group, (self.id, self.attempt));
        self.settle(py, outcome)
    }

    /// The handler did not finish (cancelled, or its loop closed): nack.
    fn _release(&self, reason: &str) {
        self.complete(Err(HandlerError::new(reason)));
    }
}

const LOOP_CLOSED: &str = "the event loop of this subscription (running when subscribe() was \
                           called) is closed: the handler could not run";

/// On a pool thread: hands `m` to an awaitable handler on its event loop
/// and returns at once; the loop completes `done`.
fn dispatch_async(py: Python<'_>, a: &AsyncPush, m: &Message<'_>, done: Completion) {
    let msg = match PyMessage::pushed(py, m) {
        Ok(msg) => msg,
        Err(e) => {
            done.complete(Err(HandlerError::new(failure_text(py, &e))));
            return;
        }
    };
    let lp = a.event_loop.bind(py);
    if a.coroutine {
        let Some(pc) = a.completion(py, m, done) else {
            return;
        };
        let scheduled = lp.call_method1(
            "call_soon_threadsafe",
            (a.start.clone_ref(py), a.handler.clone_ref(py), msg, pc),
        );
        if scheduled.is_err() {
            a.release_all();
        }
        return;
    }
    // A plain function: called here, as on the synchronous path; only an
    // awaitable it returns goes to the loop.
    match a.handler.call1(py, (msg,)) {
        Ok(r) if r.bind(py).hasattr("__await__").unwrap_or(false) => {
            let Some(pc) = a.completion(py, m, done) else {
                let _ = r.bind(py).call_method0("close");
                return;
            };
            let scheduled = lp.call_method1(
                "call_soon_threadsafe",
                (a.run.clone_ref(py), r.clone_ref(py), pc),
            );
            if scheduled.is_err() {
                // Close a coroutine so it does not warn that it was never awaited.
                let _ = r.bind(py).call_method0("close");
                a.release_all();
            }
        }
        Ok(_) => done.complete(Ok(())),
        Err(e) => match outcome_of_error(py, e, &a.topic, &a.group, (m.id, m.attempt)) {
            Outcome::Stop(e) => {
                let text = failure_text(py, &e);
                stop(py, &a.own, &a.shared, e);
                done.complete(Err(HandlerError::new(text)));
            }
            outcome => done.complete(outcome.result()),
        },
    }
}

pub(crate) fn subscribe_push(
    py: Python<'_>,
    topic: &Topic,
    group: &str,
    opts: SubOptions,
    handler: Py<PyAny>,
    shared: Arc<Shared>,
    on_loop: Option<LoopHandlers>,
) -> PyResult<PyPushSubscription> {
    let own = Arc::new(OwnHandle(Mutex::new(None)));
    let weak = Arc::downgrade(&shared);
    let own_in_handler = own.clone();
    let (topic_name, group_name) = (topic.name().to_owned(), group.to_owned());
    let sub = match on_loop {
        Some(l) => {
            let aio = py.import("ringmq._aio")?;
            let start = aio.getattr("start_handler")?.unbind();
            let run = aio.getattr("run_handler")?.unbind();
            let a = AsyncPush {
                handler,
                event_loop: l.event_loop,
                coroutine: l.coroutine,
                start,
                run,
                topic: topic_name,
                group: group_name,
                own: own_in_handler,
                shared: weak,
                pending: Mutex::new(Pending::default()),
            };
            topic.subscribe_async(group, opts, move |m: &Message<'_>, done: Completion| {
                keep_thread_state();
                // Not attached (interpreter shutting down): `done` goes with
                // the closure, a nack.
                let _ = Python::try_attach(|py| dispatch_async(py, &a, m, done));
            })
        }
        None => topic.subscribe(group, opts, move |m: &Message<'_>| {
            keep_thread_state();
            Python::try_attach(
                |py| match call_handler(py, &handler, m, &topic_name, &group_name) {
                    Outcome::Stop(e) => {
                        let text = failure_text(py, &e);
                        stop(py, &own_in_handler, &weak, e);
                        Err(HandlerError::new(text))
                    }
                    outcome => outcome.result(),
                },
            )
            .unwrap_or_else(|| {
                Err(HandlerError::new(
                    "the Python interpreter is not available (shutting down)",
                ))
            })
        }),
    }
    .py_err()?;
    // No handler call can attach before this thread lets go of the GIL, so
    // the handle is in place before any Python handler runs.
    *own.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(sub.clone());
    shared.track(&own);
    Ok(PyPushSubscription {
        sub,
        topic: topic.name().to_owned(),
        own,
        _shared: shared,
    })
}

#[pymethods]
impl PyPushSubscription {
    #[getter]
    fn group(&self) -> &str {
        self.sub.group()
    }

    #[getter]
    fn topic(&self) -> &str {
        &self.topic
    }

    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        stats_dict(py, &[&self.topic, self.sub.group()], &self.sub.stats())
    }

    /// Stops handing new messages to the handler (the lag grows); handlers running and
    /// retries go on. Raises Closed once unsubscribed or closed.
    fn pause(&self) -> PyResult<()> {
        self.sub.pause().py_err()
    }

    /// Takes new messages again after `pause()`.
    fn resume(&self) -> PyResult<()> {
        self.sub.resume().py_err()
    }

    /// True while paused.
    #[getter]
    fn paused(&self) -> bool {
        self.sub.is_paused()
    }

    /// Why nothing would be delivered now, one text per reason (empty when
    /// a message is there and nothing holds it back), such as "paused".
    fn why_idle(&self) -> Vec<String> {
        self.sub
            .why_idle()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    /// Stops the handlers (those running finish first, but the caller's
    /// own when a handler unsubscribes its own subscription) and removes the
    /// subscription; no handler call starts after it returns.
    fn unsubscribe(&self, py: Python<'_>) -> PyResult<()> {
        let sub = &self.sub;
        let r = py.detach(|| sub.unsubscribe()).py_err();
        self.own.forget();
        r
    }

    fn __repr__(&self) -> String {
        format!(
            "<ringmq.PushSubscription {:?} on {:?}>",
            self.sub.group(),
            self.topic
        )
    }
}
