//! `RawBatch`: the messages of one poll packed together, for throughput.
//!
//! `PullSubscription.poll_batch` builds a `Message` object and a `bytes`
//! per message under the GIL, which costs several times what the engine
//! spends on the message. `poll_raw` builds one `RawBatch` per poll
//! instead: every payload copied back to back into one `bytes`, and a
//! plain Rust record per message (id, key, timestamp, attempt, where its
//! payload is, its raw tag) that the by-index accessors read. Headers,
//! msg_ids and dead-letter notes are copied out at the poll too (so
//! nothing is read from the ring afterwards), but turned into Python
//! objects only when asked for.
//!
//! Settling: each message is held by its raw tag (as a pulled `Message`
//! is, see `consumer.rs`) and has its own settled flag (all of them under
//! one lock, so that `ack_all` marks a whole batch with one lock rather
//! than an atomic swap per message), so that each index settles at most
//! once, whichever call does it (`ack`, `nack`, `term`,
//! `requeue`, or `ack_all` for every index not settled yet). A batch
//! dropped with unsettled messages leaves them to the ack timer, which
//! redelivers them at their deadline; on a closed subscription (no timer)
//! they are let go of at once.

use std::sync::{Arc, Mutex, MutexGuard};

use pyo3::exceptions::PyIndexError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyType};
use ringmq_core::internals::decode_ext;
use ringmq_core::{PullSubscription, RawDelivery};

use crate::args;
use crate::consumer::{drop_unsettled, extras, reason_text, tag_settled};
use crate::errors::invalid;
use crate::DETACH_COPY;

/// What a batch keeps of one message.
struct Entry {
    tag: u64,
    id: u64,
    key: u64,
    timestamp_ns: i64,
    /// Its payload: `data[at..at + len]`.
    at: usize,
    len: usize,
    /// Its extension block (headers and msg_id): `exts[ext_at..ext_at + ext_len]`.
    ext_at: usize,
    ext_len: usize,
    attempt: u32,
    /// 0 for none, else 1 + its index in `notes`.
    note: u32,
}

/// The messages of one poll: payloads back to back in `data`, read by
/// index. Settle each with `ack(i)`, `nack(i)`, `term(i)`, or all that are
/// left with `ack_all()`.
#[pyclass(frozen, module = "ringmq", name = "RawBatch")]
pub struct PyRawBatch {
    /// The subscription handle that polled them (not the Python object, so
    /// that a kept batch does not keep the broker open).
    sub: Arc<PullSubscription>,
    data: Py<PyBytes>,
    entries: Box<[Entry]>,
    /// The extension blocks of the messages that have one, back to back.
    exts: Box<[u8]>,
    /// (reason, group) of the dead letters among them.
    notes: Box<[(String, String)]>,
    /// Which messages were settled, and how many were not.
    settled: Mutex<Settled>,
    /// `offsets` and `lengths`, built when first read.
    offsets: PyOnceLock<Py<PyAny>>,
    lengths: PyOnceLock<Py<PyAny>>,
}

struct Settled {
    /// Set by the one settle of each message.
    flags: Box<[bool]>,
    /// How many flags are clear.
    open: usize,
}

static MEMORYVIEW: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// A read-only sequence of `values` as unsigned 64-bit ints: a memoryview
/// of format "Q" over a `bytes` holding them.
fn u64_view<'py>(
    py: Python<'py>,
    values: impl ExactSizeIterator<Item = usize>,
) -> PyResult<Bound<'py, PyAny>> {
    let n = values.len();
    let bytes = PyBytes::new_with(py, n * 8, |buf| {
        for (chunk, v) in buf.chunks_exact_mut(8).zip(values) {
            chunk.copy_from_slice(&(v as u64).to_ne_bytes());
        }
        Ok(())
    })?;
    MEMORYVIEW
        .import(py, "builtins", "memoryview")?
        .call1((bytes,))?
        .call_method1("cast", ("Q",))
}

impl PyRawBatch {
    /// The batch of `got`, deliveries held by raw tag just taken by a poll
    /// of `sub`. If their payloads cannot be copied out (out of memory),
    /// they are given back at once (requeued: not counted as an attempt);
    /// if the batch object cannot be made, the batch is dropped unsettled,
    /// as any other (see the module doc).
    pub(crate) fn build(
        py: Python<'_>,
        sub: &Arc<PullSubscription>,
        got: &[RawDelivery],
    ) -> PyResult<Py<PyRawBatch>> {
        match Self::copy_out(py, sub, got) {
            Ok(batch) => Py::new(py, batch),
            Err(e) => {
                for d in got {
                    // SAFETY: the tag was taken by the poll and no batch
                    // holds it: this is its only settle; no `Delivery`
                    // with it exists.
                    let _ = unsafe { sub.requeue_tag(d.tag()) };
                }
                Err(e)
            }
        }
    }

    fn copy_out(
        py: Python<'_>,
        sub: &Arc<PullSubscription>,
        got: &[RawDelivery],
    ) -> PyResult<PyRawBatch> {
        let mut entries = Vec::with_capacity(got.len());
        let mut exts = Vec::new();
        let mut notes = Vec::new();
        let mut at = 0;
        for d in got {
            // SAFETY: just taken and not settled: its payload and extension
            // are pinned until its tag is settled (only this batch can,
            // once made) or its ack deadline passes, seconds away.
            let (len, ext) = unsafe { (d.data().len(), d.ext()) };
            let note = match (d.dead_letter_reason(), d.dead_letter_group()) {
                (Some(reason), Some(group)) => {
                    notes.push((reason.to_owned(), group.to_owned()));
                    notes.len() as u32
                }
                _ => 0,
            };
            entries.push(Entry {
                tag: d.tag(),
                id: d.id(),
                key: d.key(),
                timestamp_ns: d.timestamp_ns(),
                at,
                len,
                ext_at: exts.len(),
                ext_len: ext.len(),
                attempt: d.attempt(),
                note,
            });
            exts.extend_from_slice(ext);
            at += len;
        }
        let total = at;
        let fill = |buf: &mut [u8]| {
            let mut at = 0;
            for d in got {
                // SAFETY: as above: pinned until settled, and not settled yet.
                let data = unsafe { d.data() };
                buf[at..at + data.len()].copy_from_slice(data);
                at += data.len();
            }
        };
        let data = PyBytes::new_with(py, total, |buf| {
            if total < DETACH_COPY {
                fill(buf);
            } else {
                py.detach(|| fill(buf));
            }
            Ok(())
        })?;
        let n = entries.len();
        Ok(PyRawBatch {
            sub: sub.clone(),
            data: data.unbind(),
            entries: entries.into_boxed_slice(),
            exts: exts.into_boxed_slice(),
            notes: notes.into_boxed_slice(),
            settled: Mutex::new(Settled {
                flags: vec![false; n].into_boxed_slice(),
                open: n,
            }),
            offsets: PyOnceLock::new(),
            lengths: PyOnceLock::new(),
        })
    }

    /// The entry at index `i` (no negative indices: a settle by a
    /// miscounted index must fail, not settle another message).
    fn entry(&self, i: i64) -> PyResult<(usize, &Entry)> {
        usize::try_from(i)
            .ok()
            .and_then(|k| self.entries.get(k).map(|e| (k, e)))
            .ok_or_else(|| {
                PyIndexError::new_err(format!(
                    "RawBatch index {i} out of range: the batch has {} messages (0 to {})",
                    self.entries.len(),
                    self.entries.len() as i64 - 1
                ))
            })
    }

    fn flags(&self) -> MutexGuard<'_, Settled> {
        self.settled.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn already_settled(k: usize, e: &Entry) -> PyErr {
        invalid(format!(
            "message {} (RawBatch index {k}) was already settled",
            e.id
        ))
    }

    /// Takes the raw tag of message `i` for the one settle that may use it.
    fn take(&self, i: i64) -> PyResult<&Entry> {
        let (k, e) = self.entry(i)?;
        let mut s = self.flags();
        if s.flags[k] {
            return Err(Self::already_settled(k, e));
        }
        s.flags[k] = true;
        s.open -= 1;
        Ok(e)
    }

    fn ext(&self, e: &Entry) -> &[u8] {
        &self.exts[e.ext_at..e.ext_at + e.ext_len]
    }

    fn note(&self, e: &Entry) -> Option<&(String, String)> {
        (e.note as usize)
            .checked_sub(1)
            .and_then(|k| self.notes.get(k))
    }

    /// Acks every message not settled yet, in one settle; how many.
    pub(crate) fn ack_open(&self) -> PyResult<usize> {
        let tags: Vec<u64> = {
            let mut s = self.flags();
            if s.open == 0 {
                return Ok(0);
            }
            let tags = if s.open == s.flags.len() {
                self.entries.iter().map(|e| e.tag).collect()
            } else {
                unsettled(&self.entries, &s.flags).collect()
            };
            s.flags.fill(true);
            s.open = 0;
            tags
        };
        // SAFETY: each tag was taken once, by setting its settled flag
        // under the lock; no `Delivery` with it exists (taken by `poll_raw`).
        tag_settled(unsafe { self.sub.ack_tags(&tags) })?;
        Ok(tags.len())
    }
}

/// The tags of the entries whose settled flag is clear.
fn unsettled<'a>(entries: &'a [Entry], flags: &'a [bool]) -> impl Iterator<Item = u64> + 'a {
    entries
        .iter()
        .zip(flags)
        .filter(|(_, settled)| !**settled)
        .map(|(e, _)| e.tag)
}

impl Drop for PyRawBatch {
    fn drop(&mut self) {
        let s = self.settled.get_mut().unwrap_or_else(|e| e.into_inner());
        if s.open == 0 {
            return;
        }
        let open = unsettled(&self.entries, &s.flags);
        // SAFETY: taken by `poll_raw` (no `Delivery` with them exists) and
        // not settled (their flags are clear, and the batch is going away):
        // this is their only settle.
        unsafe { drop_unsettled(&self.sub, open) };
    }
}

#[pymethods]
impl PyRawBatch {
    /// Every payload, back to back (payload `i` is
    /// `data[offsets[i]:offsets[i] + lengths[i]]`).
    #[getter]
    fn data(&self, py: Python<'_>) -> Py<PyBytes> {
        self.data.clone_ref(py)
    }

    /// Where each payload starts in `data`: a read-only memoryview of
    /// unsigned 64-bit ints (format "Q").
    #[getter]
    fn offsets(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.offsets
            .get_or_try_init(py, || {
                u64_view(py, self.entries.iter().map(|e| e.at)).map(Bound::unbind)
            })
            .map(|v| v.clone_ref(py))
    }

    /// Each payload's length: a read-only memoryview of unsigned 64-bit
    /// ints (format "Q").
    #[getter]
    fn lengths(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.lengths
            .get_or_try_init(py, || {
                u64_view(py, self.entries.iter().map(|e| e.len)).map(Bound::unbind)
            })
            .map(|v| v.clone_ref(py))
    }

    fn id(&self, i: i64) -> PyResult<u64> {
        Ok(self.entry(i)?.1.id)
    }

    fn key(&self, i: i64) -> PyResult<u64> {
        Ok(self.entry(i)?.1.key)
    }

    /// 1 on the first delivery.
    fn attempt(&self, i: i64) -> PyResult<u32> {
        Ok(self.entry(i)?.1.attempt)
    }

    fn timestamp_ns(&self, i: i64) -> PyResult<i64> {
        Ok(self.entry(i)?.1.timestamp_ns)
    }

    /// The payload of message `i`, as a new `bytes`.
    fn payload<'py>(&self, py: Python<'py>, i: i64) -> PyResult<Bound<'py, PyBytes>> {
        let e = self.entry(i)?.1;
        let data = self.data.bind(py).as_bytes();
        Ok(PyBytes::new(py, &data[e.at..e.at + e.len]))
    }

    /// The headers of message `i`, as `Message.headers`: a new dict of str
    /// names to bytes values (empty for none).
    fn headers<'py>(&self, py: Python<'py>, i: i64) -> PyResult<Bound<'py, PyDict>> {
        let e = self.entry(i)?.1;
        let ext = self.ext(e);
        if ext.is_empty() {
            return Ok(PyDict::new(py));
        }
        let (_, headers) = decode_ext(ext);
        let (d, _) = extras(py, headers, None)?;
        Ok(match d {
            Some(d) => d.into_bound(py),
            None => PyDict::new(py),
        })
    }

    /// The msg_id message `i` was published with (bytes), or None.
    fn msg_id<'py>(&self, py: Python<'py>, i: i64) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let e = self.entry(i)?.1;
        let ext = self.ext(e);
        if ext.is_empty() {
            return Ok(None);
        }
        let (id, _) = decode_ext(ext);
        Ok(id.map(|id| PyBytes::new(py, id)))
    }

    /// For a message of a dead-letter topic: why the engine dead-lettered
    /// it (as `Message.error`); None for other messages.
    fn error(&self, i: i64) -> PyResult<Option<&str>> {
        let e = self.entry(i)?.1;
        Ok(self.note(e).map(|(reason, _)| reason.as_str()))
    }

    /// For a message of a dead-letter topic: the consumer group that gave
    /// up on it (as `Message.dead_letter_group`); None for other messages.
    fn dead_letter_group(&self, i: i64) -> PyResult<Option<&str>> {
        let e = self.entry(i)?.1;
        Ok(self.note(e).map(|(_, group)| group.as_str()))
    }

    /// True once message `i` was acked, nacked, requeued or termed.
    fn settled(&self, i: i64) -> PyResult<bool> {
        let (k, _) = self.entry(i)?;
        Ok(self.flags().flags[k])
    }

    /// Acks message `i`.
    fn ack(&self, i: i64) -> PyResult<()> {
        let e = self.take(i)?;
        // SAFETY: `take` hands the tag out once; no `Delivery` with it
        // exists (taken by `poll_raw`).
        tag_settled(unsafe { self.sub.ack_tag(e.tag) })
    }

    /// Nacks message `i`: redelivered after `delay` seconds (default: the
    /// topic's backoff), or dead-lettered after `max_attempts` deliveries.
    #[pyo3(signature = (i, delay=None, reason=None))]
    fn nack(
        &self,
        i: i64,
        delay: Option<&Bound<'_, PyAny>>,
        reason: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let delay = match delay.filter(|d| !d.is_none()) {
            Some(d) => Some(args::finite_seconds(d, "delay")?),
            None => None,
        };
        let reason = reason_text(reason)?;
        let e = self.take(i)?;
        // SAFETY: as in `ack`.
        tag_settled(unsafe {
            match reason {
                Some(r) => self.sub.nack_tag_with_reason(e.tag, delay, &r),
                None => self.sub.nack_tag(e.tag, delay),
            }
        })
    }

    /// Gives message `i` back to be delivered again at once, not counted as
    /// an attempt (as `Message.requeue`).
    fn requeue(&self, i: i64) -> PyResult<()> {
        let e = self.take(i)?;
        // SAFETY: as in `ack`.
        tag_settled(unsafe { self.sub.requeue_tag(e.tag) })
    }

    /// Sends message `i` straight to the dead-letter topic.
    #[pyo3(signature = (i, reason=None))]
    fn term(&self, i: i64, reason: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let reason = reason_text(reason)?;
        let e = self.take(i)?;
        // SAFETY: as in `ack`.
        tag_settled(unsafe {
            match reason {
                Some(r) => self.sub.term_tag_with_reason(e.tag, &r),
                None => self.sub.term_tag(e.tag),
            }
        })
    }

    /// Still working on message `i`: restarts its ack timer.
    fn in_progress(&self, i: i64) -> PyResult<()> {
        let (k, e) = self.entry(i)?;
        if self.flags().flags[k] {
            return Err(Self::already_settled(k, e));
        }
        tag_settled(self.sub.in_progress_tag(e.tag))
    }

    /// Acks every message not settled yet, in one call; returns how many.
    fn ack_all(&self) -> PyResult<usize> {
        self.ack_open()
    }

    fn __len__(&self) -> usize {
        self.entries.len()
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "<ringmq.RawBatch len={} bytes={} unsettled={}>",
            self.entries.len(),
            self.data.bind(py).as_bytes().len(),
            self.flags().open
        )
    }
}
