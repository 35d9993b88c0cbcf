//! `Topic`: publishing, subscribing, stats.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyString};
use ringmq_core::{Error, ErrorKind, Interrupt, PublishOptions, StartAt, SubOptions, Topic};

use crate::args::{self, Payload};
use crate::broker::Shared;
use crate::consumer::{self, PyPullSubscription, PyPushSubscription};
use crate::errors::{invalid, to_py, IntoPyResult};
use crate::surface::stats_dict;
use crate::DETACH_COPY;

/// A named ring of slots with its subscriptions.
#[pyclass(frozen, module = "ringmq", name = "Topic")]
pub struct PyTopic {
    topic: Topic,
    shared: Arc<Shared>,
}

impl PyTopic {
    pub(crate) fn new(topic: Topic, shared: Arc<Shared>) -> PyTopic {
        PyTopic { topic, shared }
    }

    /// Runs a publish call that takes a timeout: first once without waiting
    /// while holding the GIL (unless `detach_first`), then in one wait
    /// detached from the GIL that Ctrl-C interrupts (`signals::wait`).
    /// `call(timeout, interrupt)`.
    fn with_waits<R, F>(
        &self,
        py: Python<'_>,
        timeout: Option<Duration>,
        detach_first: bool,
        call: F,
    ) -> PyResult<R>
    where
        R: Send,
        F: Fn(Option<Duration>, &Interrupt) -> Result<R, Error> + Sync,
    {
        if timeout == Some(Duration::ZERO) && !detach_first {
            // A zero timeout never waits (nor looks at the interrupt).
            return call(timeout, tried_once()).map_err(to_py);
        }
        if !detach_first {
            // An interrupt that is already set turns the wait a full ring
            // would start into an `Interrupted` answer that counts nothing.
            match call(None, tried_once()) {
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                r => return r.map_err(to_py),
            }
        }
        crate::signals::wait(py, timeout, call)
    }
}

/// An interrupt that is always set: a publish with it tries once.
fn tried_once() -> &'static Interrupt {
    static SET: OnceLock<Interrupt> = OnceLock::new();
    SET.get_or_init(|| {
        let i = Interrupt::new();
        i.interrupt();
        i
    })
}

/// The event loop a push subscription's awaitable handlers run on: the one
/// running when `subscribe()` is called. A coroutine function needs one.
fn handlers_loop(
    py: Python<'_>,
    handler: &Bound<'_, PyAny>,
) -> PyResult<Option<consumer::LoopHandlers>> {
    let running = py.import("asyncio")?.call_method0("_get_running_loop")?;
    let coroutine = crate::broker::aio(py, "is_coroutine_handler")?
        .call1((handler,))?
        .is_truthy()?;
    if running.is_none() {
        if coroutine {
            return Err(invalid(
                "the handler is a coroutine function, and no event loop is running: call \
                 subscribe() from a coroutine, so that the handler runs on that event loop",
            ));
        }
        return Ok(None);
    }
    Ok(Some(consumer::LoopHandlers {
        event_loop: running.unbind(),
        coroutine,
    }))
}

/// The first try of an awaitable publish, without waiting: `Some` with its
/// answer (an id, ids, or the error it raised), `None` when the ring is
/// full under overflow="block" and `timeout` allows a wait.
fn first_try<R>(
    timeout: Option<Duration>,
    detach: bool,
    py: Python<'_>,
    call: impl Fn(Option<Duration>, &Interrupt) -> Result<R, Error> + Sync,
) -> Option<Result<R, Error>>
where
    R: Send,
{
    let zero = timeout == Some(Duration::ZERO);
    let t = if zero { timeout } else { None };
    let r = if detach {
        py.detach(|| call(t, tried_once()))
    } else {
        call(t, tried_once())
    };
    match r {
        Err(e) if e.kind() == ErrorKind::Interrupted && !zero => None,
        r => Some(r),
    }
}

/// An awaitable that answers `r` at once.
fn settled<'py, R>(py: Python<'py>, r: Result<R, Error>) -> PyResult<Bound<'py, PyAny>>
where
    R: IntoPyObject<'py>,
{
    match r {
        Ok(v) => crate::broker::aio(py, "ready")?.call1((v,)),
        Err(e) => crate::broker::aio(py, "failed")?.call1((to_py(e).into_value(py),)),
    }
}

/// A publish to wait for off the event loop, with its own copy of what it
/// publishes (`ringmq._aio.publish_wait` runs `_wait` on a thread of its
/// own).
#[pyclass(frozen, module = "ringmq", name = "_PendingPublish")]
pub struct PyPendingPublish {
    topic: Topic,
    job: Job,
}

/// What a publish may carry beyond its payload and key (headers, msg_id,
/// delay, ttl), checked and owned: `None` for a plain publish.
#[derive(Clone)]
struct Extras {
    headers: Vec<(String, Vec<u8>)>,
    msg_id: Option<Vec<u8>>,
    delay: Option<Duration>,
    ttl: Option<Duration>,
}

impl Extras {
    fn parse(
        headers: Option<&Bound<'_, PyAny>>,
        msg_id: Option<&Bound<'_, PyAny>>,
        delay: Option<&Bound<'_, PyAny>>,
        ttl: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Option<Extras>> {
        if headers.is_none() && msg_id.is_none() && delay.is_none() && ttl.is_none() {
            return Ok(None);
        }
        Ok(Some(Extras {
            headers: args::headers(headers)?,
            msg_id: args::msg_id(msg_id)?,
            delay: args::span(delay, "delay")?,
            ttl: args::span(ttl, "ttl")?,
        }))
    }
}

/// One publish, with or without extras, under an interrupt.
fn publish_one(
    topic: &Topic,
    data: &[u8],
    key: u64,
    extras: Option<&Extras>,
    timeout: Option<Duration>,
    interrupt: &Interrupt,
) -> Result<u64, Error> {
    let Some(x) = extras else {
        return topic.publish_interruptible(data, key, timeout, interrupt);
    };
    let pairs: Vec<(&str, &[u8])> = x
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_slice()))
        .collect();
    let o = PublishOptions {
        key,
        timeout,
        headers: &pairs,
        msg_id: x.msg_id.as_deref(),
        delay: x.delay,
        ttl: x.ttl,
        ..PublishOptions::default()
    };
    topic.publish_opts_interruptible(data, &o, interrupt)
}

enum Job {
    One {
        data: Vec<u8>,
        key: u64,
        extras: Option<Extras>,
    },
    Many {
        items: Vec<Vec<u8>>,
        key: u64,
    },
}

#[pymethods]
impl PyPendingPublish {
    /// Publishes, waiting up to `timeout` seconds for room, detached from
    /// the GIL; `interrupt` ends the wait (`Interrupted`, nothing published).
    fn _wait<'py>(
        &self,
        py: Python<'py>,
        timeout: Option<f64>,
        interrupt: &Bound<'py, crate::signals::PyInterrupt>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let timeout = match timeout {
            Some(t) => Some(
                Duration::try_from_secs_f64(t)
                    .map_err(|_| invalid(format!("timeout {t} is out of range")))?,
            ),
            None => None,
        };
        let i = &interrupt.get().0;
        let topic = &self.topic;
        match &self.job {
            Job::One { data, key, extras } => {
                let id = py
                    .detach(|| publish_one(topic, data, *key, extras.as_ref(), timeout, i))
                    .py_err()?;
                Ok(id.into_pyobject(py)?.into_any())
            }
            Job::Many { items, key } => {
                let slices: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
                let ids = py
                    .detach(|| topic.publish_batch_interruptible(&slices, *key, timeout, i))
                    .py_err()?;
                Ok(PyList::new(py, ids)?.into_any())
            }
        }
    }
}

/// The items of a `publish_many` call, as a list (an iterable is collected;
/// one bytes-like object or str is refused).
fn many_items<'py>(py: Python<'py>, items: &Bound<'py, PyAny>) -> PyResult<Vec<Bound<'py, PyAny>>> {
    let list;
    let seq = if let Ok(l) = items.cast::<PyList>() {
        l
    } else if items.is_instance_of::<PyBytes>()
        || items.is_instance_of::<PyByteArray>()
        || items.is_instance_of::<PyString>()
    {
        return Err(PyTypeError::new_err(format!(
            "publish_many takes a list of bytes-like objects, not one {}",
            items.get_type().name()?
        )));
    } else {
        let iter = items.try_iter().map_err(|_| {
            PyTypeError::new_err(format!(
                "publish_many takes a list of bytes-like objects, not {}",
                items
                    .get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            ))
        })?;
        list = PyList::new(py, iter.collect::<PyResult<Vec<_>>>()?)?;
        &list
    };
    let mut held = Vec::with_capacity(seq.len());
    for item in seq.iter() {
        held.push(item);
    }
    Ok(held)
}

/// The payloads of `held` (a clear error naming the first bad item).
fn many_payloads<'a>(py: Python<'_>, held: &'a [Bound<'_, PyAny>]) -> PyResult<Vec<Payload<'a>>> {
    let mut payloads: Vec<Payload<'_>> = Vec::with_capacity(held.len());
    for (i, item) in held.iter().enumerate() {
        let p = args::payload(item)
            .map_err(|e| PyTypeError::new_err(format!("publish_many item {i}: {}", e.value(py))))?;
        payloads.push(p);
    }
    Ok(payloads)
}

/// The messages of a packed publish: `data` cut by `lengths`, which must
/// account for every byte of it, each no longer than the topic's slot.
fn packed_slices<'a>(topic: &Topic, data: &'a [u8], lengths: &[usize]) -> PyResult<Vec<&'a [u8]>> {
    if lengths.is_empty() {
        return Err(invalid(
            "publish_packed needs at least one message: lengths is empty",
        ));
    }
    let slot_size = topic.options().slot_size;
    let mut slices = Vec::with_capacity(lengths.len());
    let mut at = 0usize;
    for (i, &len) in lengths.iter().enumerate() {
        if len > slot_size {
            return Err(to_py(Error::new(
                ErrorKind::TooLarge,
                format!(
                    "publish_packed: message {i} of {len} bytes is larger than slot_size \
                     {slot_size} of topic {:?}",
                    topic.name()
                ),
            )));
        }
        let end = at + len;
        if end > data.len() {
            return Err(invalid(format!(
                "publish_packed: the lengths run past the end of data ({} bytes): \
                 message {i} would end at byte {end}",
                data.len()
            )));
        }
        slices.push(&data[at..end]);
        at = end;
    }
    if at != data.len() {
        return Err(invalid(format!(
            "publish_packed: the lengths add up to {at} bytes but data has {}: every byte \
             of data must belong to a message",
            data.len()
        )));
    }
    Ok(slices)
}

/// The subscription options a call takes as keyword arguments (`None` for
/// each one left out).
#[derive(Default)]
struct SubArgs<'a, 'py> {
    concurrency: Option<&'a Bound<'py, PyAny>>,
    ordered_by_key: Option<&'a Bound<'py, PyAny>>,
    lossy: Option<&'a Bound<'py, PyAny>>,
    start: Option<&'a Bound<'py, PyAny>>,
    max_in_flight_per_key: Option<&'a Bound<'py, PyAny>>,
    rate_limit: Option<&'a Bound<'py, PyAny>>,
    rate_burst: Option<&'a Bound<'py, PyAny>>,
    start_at_id: Option<&'a Bound<'py, PyAny>>,
    start_at_time: Option<&'a Bound<'py, PyAny>>,
}

fn given<'a, 'py>(v: Option<&'a Bound<'py, PyAny>>) -> Option<&'a Bound<'py, PyAny>> {
    v.filter(|v| !v.is_none())
}

impl SubArgs<'_, '_> {
    fn options(&self) -> PyResult<SubOptions> {
        let mut o = SubOptions::default();
        if let Some(v) = given(self.concurrency) {
            o.concurrency = args::uint(v, "concurrency", 65_536)? as usize;
        }
        if let Some(v) = given(self.ordered_by_key) {
            o.ordered_by_key = args::flag(v, "ordered_by_key")?;
        }
        if let Some(v) = given(self.lossy) {
            o.lossy = args::flag(v, "lossy")?;
        }
        if let Some(v) = given(self.start) {
            o.start = args::choice(v, "start", StartAt::parse)?;
        }
        if let Some(v) = given(self.max_in_flight_per_key) {
            o.max_in_flight_per_key =
                args::uint(v, "max_in_flight_per_key", u32::MAX as u64)? as u32;
        }
        if let Some(v) = given(self.rate_limit) {
            o.rate_limit = Some(args::rate(v, "rate_limit")?);
        }
        if let Some(v) = given(self.rate_burst) {
            o.rate_burst = args::uint(v, "rate_burst", u32::MAX as u64)? as u32;
        }
        if let Some(v) = given(self.start_at_id) {
            o.start_at_id = Some(args::uint(v, "start_at_id", u64::MAX)?);
        }
        if let Some(v) = given(self.start_at_time) {
            o.start_at_time = Some(args::time(v, "start_at_time")?);
        }
        Ok(o)
    }
}

#[pymethods]
impl PyTopic {
    #[getter]
    fn name(&self) -> &str {
        self.topic.name()
    }

    #[getter]
    fn capacity(&self) -> usize {
        self.topic.options().capacity
    }

    #[getter]
    fn slot_size(&self) -> usize {
        self.topic.options().slot_size
    }

    #[getter]
    fn overflow(&self) -> &'static str {
        self.topic.options().overflow.as_str()
    }

    #[getter]
    fn max_attempts(&self) -> u32 {
        self.topic.options().max_attempts
    }

    #[getter]
    fn ack_timeout(&self) -> f64 {
        self.topic.options().ack_timeout.as_secs_f64()
    }

    /// The dead-letter topic `<name>.dlq`, or None for a dead-letter topic.
    #[getter]
    fn dead_letter_topic(&self) -> Option<PyTopic> {
        self.topic
            .dead_letter_topic()
            .map(|t| self.shared.topic_handle(t))
    }

    /// Publishes one message; returns its id (for a `msg_id` seen within
    /// the topic's `dedupe_window`: the first publish's id, storing nothing).
    #[pyo3(signature = (data, key=None, timeout=None, *, headers=None, msg_id=None, delay=None, ttl=None),
           text_signature = "($self, data, key=0, timeout=None, *, headers=None, msg_id=None, delay=None, ttl=None)")]
    #[allow(clippy::too_many_arguments)]
    fn publish(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        key: Option<&Bound<'_, PyAny>>,
        timeout: Option<&Bound<'_, PyAny>>,
        headers: Option<&Bound<'_, PyAny>>,
        msg_id: Option<&Bound<'_, PyAny>>,
        delay: Option<&Bound<'_, PyAny>>,
        ttl: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<u64> {
        self.shared.raise_pending()?;
        let payload = args::payload(data)?;
        let key = args::key(key)?;
        let timeout = args::timeout(timeout)?;
        let bytes = payload.as_slice();
        let topic = &self.topic;
        let detach = bytes.len() >= DETACH_COPY;
        let extras = Extras::parse(headers, msg_id, delay, ttl)?;
        let extras = extras.as_ref();
        self.with_waits(py, timeout, detach, |t, i| {
            publish_one(topic, bytes, key, extras, t, i)
        })
    }

    /// Publishes every item of `items` in one claim (all or nothing);
    /// returns their ids.
    #[pyo3(signature = (items, key=None, timeout=None), text_signature = "($self, items, key=0, timeout=None)")]
    fn publish_many<'py>(
        &self,
        py: Python<'py>,
        items: &Bound<'py, PyAny>,
        key: Option<&Bound<'py, PyAny>>,
        timeout: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        self.shared.raise_pending()?;
        let key = args::key(key)?;
        let timeout = args::timeout(timeout)?;
        let held = many_items(py, items)?;
        let n = held.len();
        let payloads = many_payloads(py, &held)?;
        let total: usize = payloads.iter().map(|p| p.as_slice().len()).sum();
        debug_assert_eq!(payloads.len(), n);
        let slices: Vec<&[u8]> = payloads.iter().map(Payload::as_slice).collect();
        let topic = &self.topic;
        let ids = self.with_waits(py, timeout, total >= DETACH_COPY, |t, i| {
            topic.publish_batch_interruptible(&slices, key, t, i)
        })?;
        PyList::new(py, ids)
    }

    /// Publishes `len(lengths)` messages laid back to back in `data` (a
    /// bytes-like object), message `i` being the next `lengths[i]` bytes,
    /// in one claim (all or nothing); returns the first id (the others
    /// follow it). No object per message is made: for throughput, as
    /// `publish_many` without its list of payloads.
    #[pyo3(signature = (data, lengths, key=None, timeout=None), text_signature = "($self, data, lengths, key=0, timeout=None)")]
    fn publish_packed(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        lengths: &Bound<'_, PyAny>,
        key: Option<&Bound<'_, PyAny>>,
        timeout: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<u64> {
        self.shared.raise_pending()?;
        let payload = args::payload(data)?;
        let lengths = args::lengths(lengths)?;
        let key = args::key(key)?;
        let timeout = args::timeout(timeout)?;
        let bytes = payload.as_slice();
        let slices = packed_slices(&self.topic, bytes, &lengths)?;
        let topic = &self.topic;
        let ids = self.with_waits(py, timeout, bytes.len() >= DETACH_COPY, |t, i| {
            topic.publish_batch_interruptible(&slices, key, t, i)
        })?;
        Ok(ids.start)
    }

    /// The awaitable form of `publish` for asyncio. It first publishes
    /// without waiting, on the caller's thread; only when the ring is full
    /// under overflow="block" does it wait for room, off the event loop, and
    /// cancelling the awaiting task then ends the wait, publishing nothing.
    /// Bad arguments raise here; the publish's own errors (`Full`,
    /// `Timeout`, `TooLarge`, `Closed`) are raised by the await.
    #[pyo3(signature = (data, key=None, timeout=None, *, headers=None, msg_id=None, delay=None, ttl=None),
           text_signature = "($self, data, key=0, timeout=None, *, headers=None, msg_id=None, delay=None, ttl=None)")]
    #[allow(clippy::too_many_arguments)]
    fn publish_async<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
        key: Option<&Bound<'py, PyAny>>,
        timeout: Option<&Bound<'py, PyAny>>,
        headers: Option<&Bound<'py, PyAny>>,
        msg_id: Option<&Bound<'py, PyAny>>,
        delay: Option<&Bound<'py, PyAny>>,
        ttl: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.shared.raise_pending()?;
        let payload = args::payload(data)?;
        let key = args::key(key)?;
        let timeout = args::timeout(timeout)?;
        let extras = Extras::parse(headers, msg_id, delay, ttl)?;
        let bytes = payload.as_slice();
        let topic = &self.topic;
        let first = first_try(timeout, bytes.len() >= DETACH_COPY, py, |t, i| {
            publish_one(topic, bytes, key, extras.as_ref(), t, i)
        });
        if let Some(r) = first {
            return settled(py, r);
        }
        let pending = PyPendingPublish {
            topic: self.topic.clone(),
            job: Job::One {
                data: bytes.to_vec(),
                key,
                extras,
            },
        };
        crate::broker::aio(py, "publish_wait")?.call1((pending, timeout.map(|d| d.as_secs_f64())))
    }

    /// The awaitable form of `publish_many` (all or nothing), waiting for
    /// room as `publish_async` does.
    #[pyo3(signature = (items, key=None, timeout=None), text_signature = "($self, items, key=0, timeout=None)")]
    fn publish_many_async<'py>(
        &self,
        py: Python<'py>,
        items: &Bound<'py, PyAny>,
        key: Option<&Bound<'py, PyAny>>,
        timeout: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.shared.raise_pending()?;
        let key = args::key(key)?;
        let timeout = args::timeout(timeout)?;
        let held = many_items(py, items)?;
        let payloads = many_payloads(py, &held)?;
        let slices: Vec<&[u8]> = payloads.iter().map(Payload::as_slice).collect();
        let total: usize = slices.iter().map(|s| s.len()).sum();
        let topic = &self.topic;
        let first = first_try(timeout, total >= DETACH_COPY, py, |t, i| {
            topic.publish_batch_interruptible(&slices, key, t, i)
        });
        if let Some(r) = first {
            return settled(py, r.map(|ids| ids.collect::<Vec<u64>>()));
        }
        let pending = PyPendingPublish {
            topic: self.topic.clone(),
            job: Job::Many {
                items: slices.iter().map(|s| s.to_vec()).collect(),
                key,
            },
        };
        crate::broker::aio(py, "publish_wait")?.call1((pending, timeout.map(|d| d.as_secs_f64())))
    }

    /// Creates a push subscription: `handler(msg)` runs on the broker's pool
    /// for each message; returning acks, raising nacks.
    #[pyo3(signature = (group, handler, concurrency=None, ordered_by_key=None, lossy=None, start=None,
                        max_in_flight_per_key=None, rate_limit=None, rate_burst=None, start_at_id=None,
                        start_at_time=None),
           text_signature = "($self, group, handler, concurrency=1, ordered_by_key=False, lossy=False, \
                             start='latest', max_in_flight_per_key=0, rate_limit=None, rate_burst=0, \
                             start_at_id=None, start_at_time=None)")]
    #[allow(clippy::too_many_arguments)]
    fn subscribe(
        &self,
        py: Python<'_>,
        group: &Bound<'_, PyAny>,
        handler: &Bound<'_, PyAny>,
        concurrency: Option<&Bound<'_, PyAny>>,
        ordered_by_key: Option<&Bound<'_, PyAny>>,
        lossy: Option<&Bound<'_, PyAny>>,
        start: Option<&Bound<'_, PyAny>>,
        max_in_flight_per_key: Option<&Bound<'_, PyAny>>,
        rate_limit: Option<&Bound<'_, PyAny>>,
        rate_burst: Option<&Bound<'_, PyAny>>,
        start_at_id: Option<&Bound<'_, PyAny>>,
        start_at_time: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyPushSubscription> {
        let group = args::name(group, "group")?;
        if !handler.is_callable() {
            return Err(PyTypeError::new_err(format!(
                "handler must be callable, not {}",
                handler.get_type().name()?
            )));
        }
        let opts = SubArgs {
            concurrency,
            ordered_by_key,
            lossy,
            start,
            max_in_flight_per_key,
            rate_limit,
            rate_burst,
            start_at_id,
            start_at_time,
        }
        .options()?;
        let on_loop = handlers_loop(py, handler)?;
        consumer::subscribe_push(
            py,
            &self.topic,
            &group,
            opts,
            handler.clone().unbind(),
            self.shared.clone(),
            on_loop,
        )
    }

    /// Creates a pull subscription (consumer group) named `group`.
    #[pyo3(signature = (group, lossy=None, start=None, max_in_flight_per_key=None, rate_limit=None,
                        rate_burst=None, start_at_id=None, start_at_time=None),
           text_signature = "($self, group, lossy=False, start='latest', max_in_flight_per_key=0, \
                             rate_limit=None, rate_burst=0, start_at_id=None, start_at_time=None)")]
    #[allow(clippy::too_many_arguments)]
    fn pull(
        &self,
        group: &Bound<'_, PyAny>,
        lossy: Option<&Bound<'_, PyAny>>,
        start: Option<&Bound<'_, PyAny>>,
        max_in_flight_per_key: Option<&Bound<'_, PyAny>>,
        rate_limit: Option<&Bound<'_, PyAny>>,
        rate_burst: Option<&Bound<'_, PyAny>>,
        start_at_id: Option<&Bound<'_, PyAny>>,
        start_at_time: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyPullSubscription> {
        let group = args::name(group, "group")?;
        let opts = SubArgs {
            lossy,
            start,
            max_in_flight_per_key,
            rate_limit,
            rate_burst,
            start_at_id,
            start_at_time,
            ..SubArgs::default()
        }
        .options()?;
        let sub = self.topic.subscribe_pull(&group, opts).py_err()?;
        Ok(PyPullSubscription::new(sub, self.shared.clone()))
    }

    /// The existing pull subscription `group`, for another consumer of it.
    fn pull_subscription(&self, group: &Bound<'_, PyAny>) -> PyResult<PyPullSubscription> {
        let group = args::name(group, "group")?;
        let sub = self.topic.pull_subscription(&group).py_err()?;
        Ok(PyPullSubscription::new(sub, self.shared.clone()))
    }

    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        stats_dict(py, &[self.topic.name()], &self.topic.stats())
    }

    /// Stats of every subscription, by group name.
    fn subscription_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (group, s) in self.topic.subscription_stats() {
            let sd = stats_dict(py, &[self.topic.name(), &group], &s)?;
            d.set_item(group, sd)?;
        }
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let o = self.topic.options();
        format!(
            "<ringmq.Topic {:?} capacity={} slot_size={} overflow={:?}>",
            self.topic.name(),
            o.capacity,
            o.slot_size,
            o.overflow.as_str()
        )
    }
}
