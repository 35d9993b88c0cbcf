//! The per-message calls (publish, publishMany, take, ack, ackMany,
//! complete) as plain N-API functions.
//!
//! napi-rs wraps every class method in borrow bookkeeping (a global map,
//! allocations) that costs a few hundred nanoseconds a call, more than the
//! engine's whole publish. These functions skip it: each is created by a
//! class's `bind()` with its object's handle as the function's data (an
//! `Rc` released by a finalizer when the function is collected), so a call
//! needs no handle argument and no type check, and it reads its arguments
//! with single N-API calls. A pull subscription's header array (see
//! `pull.rs`) is memory of the handle, shared with JS as an external
//! ArrayBuffer, so takes do not pass it either. Every body runs under
//! `catch_unwind`: a panic becomes an `INTERNAL` error and never unwinds
//! into Node. Failures are thrown as `Error`s whose `code` N-API sets from
//! the engine's error kind.

use std::cell::{RefCell, UnsafeCell};
use std::ffi::{c_void, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::rc::Rc;
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi::sys;
use ringmq_core as core;

use crate::convert::join;
use crate::layout::{self, pull as hdr_at};
use crate::pull::{Copied, Record, Stash};
use crate::push::SharedTable;

type Res<T> = std::result::Result<T, core::Error>;

fn invalid(message: impl Into<String>) -> core::Error {
    core::Error::new(core::ErrorKind::InvalidArgument, message)
}

fn internal(message: impl Into<String>) -> core::Error {
    core::Error::new(core::ErrorKind::Internal, message)
}

pub struct TopicHandle {
    pub topic: core::Topic,
    /// The timeout of a publish that never waits: zero under `block`; none
    /// otherwise (the policy never waits, and none reads no clock).
    pub try_once: Option<Duration>,
}

pub struct PullHandle {
    pub sub: core::PullSubscription,
    pub stash: Stash,
    /// Reused for every take (handles live on the JS thread only).
    pub raw: RefCell<Vec<core::RawDelivery>>,
    /// The header of the last take, read by JS through a Float64Array.
    pub hdr: UnsafeCell<Box<[f64]>>,
    /// Reused by ackMany.
    pub tags: RefCell<Vec<u64>>,
    /// The dead-letter notes (reason, group) of the last take's messages
    /// that have one, for `note(k)`.
    pub notes: RefCell<Vec<(String, String)>>,
    /// The extension blocks (headers and msg_id) of the last take's
    /// messages that have one, back to back, for `ext(at, len)`.
    pub exts: RefCell<Vec<u8>>,
}

impl PullHandle {
    pub fn new(sub: core::PullSubscription, stash: Stash) -> Self {
        PullHandle {
            sub,
            stash,
            raw: RefCell::new(Vec::with_capacity(layout::HEADER_MESSAGES)),
            hdr: UnsafeCell::new(vec![0.0; layout::HEADER_LEN].into_boxed_slice()),
            tags: RefCell::new(Vec::new()),
            notes: RefCell::new(Vec::new()),
            exts: RefCell::new(Vec::new()),
        }
    }
}

pub struct PushHandle {
    pub table: SharedTable,
}

unsafe extern "C" fn release<T>(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: `data` is one count of an `Rc<T>` leaked by `bind::<T>` or
    // `header_view`, released once, by this finalizer, on the JS thread.
    drop(unsafe { Rc::from_raw(data.cast::<T>().cast_const()) });
}

unsafe extern "C" fn release_hint<T>(env: sys::napi_env, _data: *mut c_void, hint: *mut c_void) {
    // SAFETY: as for `release`: the hint is the leaked count.
    unsafe { release::<T>(env, hint, ptr::null_mut()) }
}

fn ok(status: sys::napi_status, what: &str) -> Res<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(invalid(what))
    }
}

/// One callback's arguments. `'a` is the callback's duration: what the
/// accessors return borrows from JS values the caller holds until it returns.
struct Call<'a> {
    _during: std::marker::PhantomData<&'a ()>,
    env: sys::napi_env,
    data: *mut c_void,
    argv: [sys::napi_value; 5],
    argc: usize,
}

impl<'a> Call<'a> {
    /// # Safety
    /// `env` and `info` are those of the running callback.
    unsafe fn new(env: sys::napi_env, info: sys::napi_callback_info) -> Res<Call<'a>> {
        let mut c = Call {
            _during: std::marker::PhantomData,
            env,
            data: ptr::null_mut(),
            argv: [ptr::null_mut(); 5],
            argc: 5,
        };
        // SAFETY: argv has room for argc values.
        let status = unsafe {
            sys::napi_get_cb_info(
                env,
                info,
                &mut c.argc,
                c.argv.as_mut_ptr(),
                ptr::null_mut(),
                &mut c.data,
            )
        };
        ok(status, "cannot read the arguments")?;
        Ok(c)
    }

    fn arg(&self, i: usize) -> Res<sys::napi_value> {
        if i < self.argc.min(5) {
            Ok(self.argv[i])
        } else {
            Err(invalid(format!("argument {i} is missing")))
        }
    }

    /// The handle this function was bound to.
    ///
    /// # Safety
    /// The function was created by `bind::<T>`.
    unsafe fn bound<T>(&self) -> &'a T {
        // SAFETY: `bind::<T>` set the data to a counted `Rc<T>`, released
        // only when the function is collected, so not during a call of it.
        unsafe { &*self.data.cast::<T>().cast_const() }
    }

    fn f64(&self, i: usize) -> Res<f64> {
        let mut v = 0.0;
        // SAFETY: plain N-API call with a valid out-pointer.
        let status = unsafe { sys::napi_get_value_double(self.env, self.arg(i)?, &mut v) };
        ok(status, "expected a number")?;
        Ok(v)
    }

    fn u32(&self, i: usize) -> Res<u32> {
        let mut v = 0;
        // SAFETY: plain N-API call with a valid out-pointer.
        let status = unsafe { sys::napi_get_value_uint32(self.env, self.arg(i)?, &mut v) };
        ok(status, "expected a number")?;
        Ok(v)
    }

    /// The bytes of a Buffer or Uint8Array value, valid during the call.
    fn bytes_of(&self, v: sys::napi_value) -> Res<&'a mut [u8]> {
        let mut data = ptr::null_mut();
        let mut len = 0usize;
        // SAFETY: plain N-API call with valid out-pointers.
        let status = unsafe { sys::napi_get_buffer_info(self.env, v, &mut data, &mut len) };
        ok(status, "expected a Buffer or Uint8Array")?;
        if len == 0 || data.is_null() {
            return Ok(&mut []);
        }
        // SAFETY: N-API reports `len` bytes at `data`, kept alive by the
        // value, which the caller holds for the duration of the call.
        Ok(unsafe { std::slice::from_raw_parts_mut(data.cast::<u8>(), len) })
    }

    fn bytes(&self, i: usize) -> Res<&'a mut [u8]> {
        self.bytes_of(self.arg(i)?)
    }

    fn number(&self, v: f64) -> Res<sys::napi_value> {
        let mut out = ptr::null_mut();
        // SAFETY: plain N-API call with a valid out-pointer.
        let status = unsafe { sys::napi_create_double(self.env, v, &mut out) };
        ok(status, "cannot create a number")?;
        Ok(out)
    }

    fn undefined(&self) -> Res<sys::napi_value> {
        let mut out = ptr::null_mut();
        // SAFETY: plain N-API call with a valid out-pointer.
        let status = unsafe { sys::napi_get_undefined(self.env, &mut out) };
        ok(status, "cannot get undefined")?;
        Ok(out)
    }

    fn null(&self) -> Res<sys::napi_value> {
        let mut out = ptr::null_mut();
        // SAFETY: plain N-API call with a valid out-pointer.
        let status = unsafe { sys::napi_get_null(self.env, &mut out) };
        ok(status, "cannot get null")?;
        Ok(out)
    }
}

/// Runs a callback body: errors and panics become thrown `Error`s with
/// their `code`.
///
/// # Safety
/// `env` and `info` are those of a running function made by `bind::<T>`.
unsafe fn guard<T>(
    env: sys::napi_env,
    info: sys::napi_callback_info,
    body: fn(&T, &Call<'_>) -> Res<sys::napi_value>,
) -> sys::napi_value {
    let r = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: env and info are those of the running callback.
        let call = unsafe { Call::new(env, info) }?;
        // SAFETY: the function was made by `bind::<T>` (the caller's word).
        let h = unsafe { call.bound::<T>() };
        body(h, &call)
    }));
    let e = match r {
        Ok(Ok(v)) => return v,
        Ok(Err(e)) => e,
        Err(_) => internal("a panic in the ringmq addon"),
    };
    let code = CString::new(e.kind().code()).unwrap_or_default();
    let text = CString::new(e.message().replace('\0', " ")).unwrap_or_default();
    // SAFETY: plain N-API call (it sets the Error's `code` property); a null
    // return signals the pending exception.
    unsafe { sys::napi_throw_error(env, code.as_ptr(), text.as_ptr()) };
    ptr::null_mut()
}

/// `publish(topic, data, key)`: one message, never waiting; the id.
fn publish(h: &TopicHandle, c: &Call<'_>) -> Res<sys::napi_value> {
    let data = c.bytes(0)?;
    let key = c.f64(1)?;
    let id = h.topic.publish_with(data, key as u64, h.try_once)?;
    c.number(id as f64)
}

/// `publishMany(items, keyHi, keyLo)`: one claim; the first id.
fn publish_many(h: &TopicHandle, c: &Call<'_>) -> Res<sys::napi_value> {
    let items = c.arg(0)?;
    let key = join(c.u32(1)?, c.u32(2)?);
    let mut n = 0u32;
    // SAFETY: plain N-API call with a valid out-pointer.
    let status = unsafe { sys::napi_get_array_length(c.env, items, &mut n) };
    ok(status, "publishMany needs an array")?;
    let mut slices: Vec<&[u8]> = Vec::with_capacity(n as usize);
    for i in 0..n {
        let mut v = ptr::null_mut();
        // SAFETY: plain N-API call with a valid out-pointer.
        let status = unsafe { sys::napi_get_element(c.env, items, i, &mut v) };
        ok(status, "cannot read an item")?;
        let b = c
            .bytes_of(v)
            .map_err(|_| invalid(format!("item {i} is not a Buffer or Uint8Array")))?;
        slices.push(b);
    }
    let r = h.topic.publish_batch(&slices, key, h.try_once)?;
    c.number(r.start as f64)
}

/// `publishPacked(stage, lens, count, keyHi, keyLo)`: `count` payloads
/// laid back to back in `stage` (a Buffer), their lengths in `lens` (a
/// Uint32Array); one claim; the first id. JS copies the items into its
/// staging Buffer faster than N-API reads them one by one.
fn publish_packed(h: &TopicHandle, c: &Call<'_>) -> Res<sys::napi_value> {
    let stage: &[u8] = c.bytes(0)?;
    let lens = c.arg(1)?;
    let count = c.u32(2)? as usize;
    let key = join(c.u32(3)?, c.u32(4)?);
    let mut kind = 0;
    let mut len = 0usize;
    let mut data = ptr::null_mut();
    // SAFETY: plain N-API call with valid out-pointers.
    let status = unsafe {
        sys::napi_get_typedarray_info(
            c.env,
            lens,
            &mut kind,
            &mut len,
            &mut data,
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    ok(status, "publishPacked needs a Uint32Array")?;
    if kind != sys::TypedarrayType::uint32_array || count > len {
        return Err(invalid("publishPacked needs a Uint32Array of the lengths"));
    }
    let lens: &[u32] = if count == 0 || data.is_null() {
        &[]
    } else {
        // SAFETY: a Uint32Array of `len` >= `count` elements at `data`
        // (aligned, as every Uint32Array), alive during the call.
        unsafe { std::slice::from_raw_parts(data.cast::<u32>(), count) }
    };
    let mut slices: Vec<&[u8]> = Vec::with_capacity(count);
    let mut at = 0usize;
    for &l in lens {
        let end = at + l as usize;
        if end > stage.len() {
            return Err(invalid("the lengths run past the staging Buffer"));
        }
        slices.push(&stage[at..end]);
        at = end;
    }
    let r = h.topic.publish_batch(&slices, key, h.try_once)?;
    c.number(r.start as f64)
}

/// What one take hands over: first what the stash holds (the oldest),
/// then deliveries taken now, raw.
struct Taken<'h> {
    stash: std::sync::MutexGuard<'h, Copied>,
    /// How many of the stash's messages (from its front) this take hands.
    from_stash: usize,
    raw: std::cell::RefMut<'h, Vec<core::RawDelivery>>,
}

impl Taken<'_> {
    fn len(&self) -> usize {
        self.from_stash + self.raw.len()
    }

    fn payload_bytes(&self) -> usize {
        let stashed: usize = self
            .stash
            .items
            .iter()
            .take(self.from_stash)
            .map(|h| h.len)
            .sum();
        // SAFETY: taken by this take's `poll_raw`, not settled yet.
        let taken: usize = self.raw.iter().map(|d| unsafe { d.data() }.len()).sum();
        stashed + taken
    }
}

/// Takes up to `max` ready messages for the handle without waiting: the
/// stash's first, then from the subscription with `poll_raw`. The stash
/// stays locked until the take has handed them over (a wait that ends
/// meanwhile appends after them).
fn take_ready(h: &PullHandle, max: usize) -> Res<Taken<'_>> {
    let mut raw = h
        .raw
        .try_borrow_mut()
        .map_err(|_| internal("take re-entered"))?;
    raw.clear();
    let stash = crate::pull::lock(&h.stash);
    let from_stash = stash.items.len().min(max);
    if from_stash < max {
        if let Err(e) = h
            .sub
            .poll_raw(max - from_stash, Some(Duration::ZERO), None, &mut raw)
        {
            if from_stash == 0 && raw.is_empty() {
                return Err(e);
            }
        }
    }
    Ok(Taken {
        stash,
        from_stash,
        raw,
    })
}

/// Copies the payloads of `taken` back to back into `out` and describes
/// them in `hdr` (as `layout::pull` lays it out), handing each message to
/// JS by its raw tag. What does not fit in `out` stays in the stash, or is
/// copied into it (the raw deliveries taken now), in order.
fn hand_over(h: &PullHandle, taken: &mut Taken<'_>, out: &mut [u8]) -> usize {
    // SAFETY: the header is written only here, on the JS thread, and JS
    // reads it only between calls; no other reference to it is live.
    let hdr: &mut [f64] = unsafe { &mut *h.hdr.get() };
    let mut notes = h.notes.borrow_mut();
    if !notes.is_empty() {
        notes.clear();
    }
    let mut exts = h.exts.borrow_mut();
    if !exts.is_empty() {
        exts.clear();
    }
    let mut w = Writer {
        hdr,
        notes: &mut notes,
        exts: &mut exts,
        out,
        at: 0,
        n: 0,
    };
    let stash = &mut *taken.stash;
    let mut handed = 0;
    let mut full = false;
    for held in stash.items.iter().take(taken.from_stash) {
        if !w.put(Record::held(held, &stash.bytes)) {
            full = true;
            break;
        }
        handed += 1;
    }
    stash.consume(handed);
    for d in taken.raw.iter() {
        // SAFETY: taken by this take's `poll_raw` and not settled: this is
        // the call that took it.
        let r = unsafe { Record::raw(d) };
        if full || !w.put(r) {
            full = true;
            // Kept for the next take, as a wait's are.
            stash.push(r);
        }
    }
    taken.raw.clear();
    w.hdr[layout::HEADER_COUNT] = w.n as f64;
    w.n
}

/// Writes the records of one take: payloads into `out`, fields into `hdr`.
struct Writer<'w> {
    hdr: &'w mut [f64],
    notes: &'w mut Vec<(String, String)>,
    exts: &'w mut Vec<u8>,
    out: &'w mut [u8],
    at: usize,
    n: usize,
}

impl Writer<'_> {
    /// Writes `r` as the next record; false (nothing written) if its
    /// payload does not fit in `out`.
    fn put(&mut self, r: Record<'_>) -> bool {
        let bytes = r.data;
        if self.at + bytes.len() > self.out.len() {
            return false;
        }
        self.out[self.at..self.at + bytes.len()].copy_from_slice(bytes);
        self.at += bytes.len();
        let key = r.key;
        let ts = r.timestamp_ns as u64;
        let base = layout::HEADER_FIRST + self.n * hdr_at::STRIDE;
        let hdr = &mut *self.hdr;
        hdr[base + hdr_at::ID] = r.id as f64;
        hdr[base + hdr_at::KEY_HI] = (key >> 32) as f64;
        hdr[base + hdr_at::KEY_LO] = (key & 0xffff_ffff) as f64;
        hdr[base + hdr_at::TS_HI] = (ts >> 32) as f64;
        hdr[base + hdr_at::TS_LO] = (ts & 0xffff_ffff) as f64;
        hdr[base + hdr_at::ATTEMPT] = r.attempt as f64;
        hdr[base + hdr_at::LEN] = bytes.len() as f64;
        let note = match r.note {
            Some((reason, group)) => {
                self.notes.push((reason.to_owned(), group.to_owned()));
                self.notes.len()
            }
            None => 0,
        };
        hdr[base + hdr_at::NOTE] = note as f64;
        hdr[base + hdr_at::EXT_AT] = self.exts.len() as f64;
        hdr[base + hdr_at::EXT_LEN] = r.ext.len() as f64;
        if !r.ext.is_empty() {
            self.exts.extend_from_slice(r.ext);
        }
        hdr[base + hdr_at::TAG_HI] = (r.tag >> 32) as f64;
        hdr[base + hdr_at::TAG_LO] = (r.tag & 0xffff_ffff) as f64;
        self.n += 1;
        true
    }
}

fn header_room(max: u32) -> Res<usize> {
    let max = (max as usize).min(layout::HEADER_MESSAGES);
    if max == 0 {
        return Err(invalid("take needs room for at least one message"));
    }
    Ok(max)
}

/// `take(max)`: what is ready, without waiting, in one new Buffer (or
/// null); for payloads too large for `takeInto`'s pool.
fn take(h: &PullHandle, c: &Call<'_>) -> Res<sys::napi_value> {
    let max = header_room(c.u32(0)?)?;
    let mut taken = take_ready(h, max)?;
    if taken.len() == 0 {
        return c.null();
    }
    let total = taken.payload_bytes();
    let mut data_ptr: *mut c_void = ptr::null_mut();
    let mut value = ptr::null_mut();
    // SAFETY: plain N-API call with valid out-pointers.
    let status = unsafe { sys::napi_create_buffer(c.env, total, &mut data_ptr, &mut value) };
    if status != sys::Status::napi_ok {
        // Nothing handed over: what was taken goes back for redelivery.
        let tags = taken
            .stash
            .items
            .iter()
            .take(taken.from_stash)
            .map(|d| d.tag);
        let tags: Vec<u64> = tags.chain(taken.raw.iter().map(|d| d.tag())).collect();
        let from_stash = taken.from_stash;
        taken.stash.consume(from_stash);
        taken.raw.clear();
        for tag in tags {
            // SAFETY: taken raw (by a wait or this call), never handed to
            // JS, so settled only here; a refusal leaves nothing to do.
            let _ = unsafe { h.sub.requeue_tag(tag) };
        }
        return Err(internal("cannot allocate a Buffer for the payloads"));
    }
    let out: &mut [u8] = if total == 0 || data_ptr.is_null() {
        &mut []
    } else {
        // SAFETY: napi_create_buffer returned `total` writable bytes at
        // `data_ptr`, owned by the new Buffer that `value` keeps alive.
        unsafe { std::slice::from_raw_parts_mut(data_ptr.cast::<u8>(), total) }
    };
    hand_over(h, &mut taken, out);
    Ok(value)
}

/// `takeInto(max, pool, offset)`: what is ready, without waiting, copied
/// into `pool` from `offset` on (a Buffer the JS side carves message views
/// from, as Node's own Buffer pool); the count.
fn take_into(h: &PullHandle, c: &Call<'_>) -> Res<sys::napi_value> {
    let max = header_room(c.u32(0)?)?;
    let pool = c.bytes(1)?;
    let off = c.u32(2)? as usize;
    if off > pool.len() {
        return Err(invalid("offset is past the end of the pool"));
    }
    let mut taken = take_ready(h, max)?;
    let n = if taken.len() == 0 {
        0
    } else {
        hand_over(h, &mut taken, &mut pool[off..])
    };
    c.number(n as f64)
}

/// `note(k)`: `[reason, group]` of the last take's `k`-th dead-letter note
/// (see `layout`).
fn note(h: &PullHandle, c: &Call<'_>) -> Res<sys::napi_value> {
    let k = c.u32(0)? as usize;
    let notes = h.notes.borrow();
    let (reason, group) = notes
        .get(k)
        .ok_or_else(|| invalid(format!("no dead-letter note {k} in the last take")))?;
    let mut arr = ptr::null_mut();
    // SAFETY: plain N-API call with a valid out-pointer.
    let status = unsafe { sys::napi_create_array_with_length(c.env, 2, &mut arr) };
    ok(status, "cannot create an array")?;
    for (i, s) in [reason, group].into_iter().enumerate() {
        let mut v = ptr::null_mut();
        let len = s.len() as isize;
        // SAFETY: `s` is `len` bytes of UTF-8, read during the call.
        let status = unsafe { sys::napi_create_string_utf8(c.env, s.as_ptr().cast(), len, &mut v) };
        ok(status, "cannot create a string")?;
        // SAFETY: plain N-API call on the array made above.
        let status = unsafe { sys::napi_set_element(c.env, arr, i as u32, v) };
        ok(status, "cannot fill an array")?;
    }
    Ok(arr)
}

/// `[msgId | null, name, value, name, value, …]`: an extension block
/// decoded, the msg_id and the values as new Buffers, the names as strings,
/// in publish order.
///
/// # Safety
/// `env` is the env of the running call, on the JS thread.
pub unsafe fn ext_value(env: sys::napi_env, block: &[u8]) -> Res<sys::napi_value> {
    let (id, headers) = core::internals::decode_ext(block);
    let buffer = |bytes: &[u8]| -> Res<sys::napi_value> {
        let mut v = ptr::null_mut();
        let mut data = ptr::null_mut();
        // SAFETY: N-API copies `bytes` (valid during the call) into a new Buffer.
        let status = unsafe {
            sys::napi_create_buffer_copy(env, bytes.len(), bytes.as_ptr().cast(), &mut data, &mut v)
        };
        ok(status, "cannot create a Buffer")?;
        Ok(v)
    };
    let mut arr = ptr::null_mut();
    // SAFETY: plain N-API call with a valid out-pointer.
    let status =
        unsafe { sys::napi_create_array_with_length(env, 1 + 2 * headers.len(), &mut arr) };
    ok(status, "cannot create an array")?;
    let first = match id {
        Some(id) => buffer(id)?,
        None => {
            let mut v = ptr::null_mut();
            // SAFETY: plain N-API call with a valid out-pointer.
            let status = unsafe { sys::napi_get_null(env, &mut v) };
            ok(status, "cannot get null")?;
            v
        }
    };
    // SAFETY: plain N-API call on the array made above.
    let status = unsafe { sys::napi_set_element(env, arr, 0, first) };
    ok(status, "cannot fill an array")?;
    for (i, (name, value)) in headers.iter().enumerate() {
        let mut n = ptr::null_mut();
        // SAFETY: `name` is UTF-8 of the given length, read during the call.
        let status = unsafe {
            sys::napi_create_string_utf8(env, name.as_ptr().cast(), name.len() as isize, &mut n)
        };
        ok(status, "cannot create a string")?;
        let v = buffer(value)?;
        let at = 1 + 2 * i as u32;
        // SAFETY: plain N-API calls on the array made above.
        unsafe {
            ok(
                sys::napi_set_element(env, arr, at, n),
                "cannot fill an array",
            )?;
            ok(
                sys::napi_set_element(env, arr, at + 1, v),
                "cannot fill an array",
            )?;
        }
    }
    Ok(arr)
}

/// `ext(at, len)`: the headers and msg_id of a message of the last take
/// (its record's `EXT_AT` and `EXT_LEN`), as [`ext_value`] gives them.
fn ext(h: &PullHandle, c: &Call<'_>) -> Res<sys::napi_value> {
    let at = c.u32(0)? as usize;
    let len = c.u32(1)? as usize;
    let exts = h.exts.borrow();
    let block = exts
        .get(at..at.saturating_add(len))
        .ok_or_else(|| invalid("no such extension in the last take"))?;
    // SAFETY: the running call's env.
    unsafe { ext_value(c.env, block) }
}

/// `ack(tagHi, tagLo)`.
fn ack(h: &PullHandle, c: &Call<'_>) -> Res<sys::napi_value> {
    let tag = join(c.u32(0)?, c.u32(1)?);
    // SAFETY: tags reach JS only from `poll_raw` (a take's or a wait's),
    // so no `Delivery` value with this tag exists; JS settles each tag at
    // most once (a `Message` keeps a settled flag).
    unsafe { h.sub.ack_tag(tag) }?;
    c.undefined()
}

/// `ackMany(tags, count)`: tags as (hi, lo) pairs in a Float64Array;
/// tries them all, throws the first failure.
fn ack_many(h: &PullHandle, c: &Call<'_>) -> Res<sys::napi_value> {
    let tags = c.arg(0)?;
    let count = c.u32(1)? as usize;
    let mut kind = 0;
    let mut len = 0usize;
    let mut data = ptr::null_mut();
    // SAFETY: plain N-API call with valid out-pointers.
    let status = unsafe {
        sys::napi_get_typedarray_info(
            c.env,
            tags,
            &mut kind,
            &mut len,
            &mut data,
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    ok(status, "ackMany needs a Float64Array")?;
    if kind != sys::TypedarrayType::float64_array {
        return Err(invalid("ackMany needs a Float64Array"));
    }
    let tags: &[f64] = if len == 0 || data.is_null() {
        &[]
    } else {
        // SAFETY: a Float64Array of `len` elements at `data` (aligned, as
        // every Float64Array), alive during the call.
        unsafe { std::slice::from_raw_parts(data.cast::<f64>(), len) }
    };
    let n = count.min(tags.len() / 2);
    let mut raw = h
        .tags
        .try_borrow_mut()
        .map_err(|_| internal("ackMany re-entered"))?;
    raw.clear();
    raw.extend((0..n).map(|i| join(tags[2 * i] as u32, tags[2 * i + 1] as u32)));
    // SAFETY: as for `ack`, for every tag.
    unsafe { h.sub.ack_tags(&raw) }?;
    c.undefined()
}

/// `complete(token, error, kind?, delayMs?)`: a handler's outcome (error
/// null: ack; else its text, and what should follow: see below).
fn complete(h: &PushHandle, c: &Call<'_>) -> Res<sys::napi_value> {
    let token = c.u32(0)?;
    let e = c.arg(1)?;
    let mut t = 0;
    // SAFETY: plain N-API call with a valid out-pointer.
    ok(unsafe { sys::napi_typeof(c.env, e, &mut t) }, "bad error")?;
    let result = if t == sys::ValueType::napi_string {
        let mut len = 0usize;
        // SAFETY: a length query (null buffer), then a copy into a buffer
        // of len + 1 bytes, as N-API documents.
        let text = unsafe {
            ok(
                sys::napi_get_value_string_utf8(c.env, e, ptr::null_mut(), 0, &mut len),
                "bad error text",
            )?;
            let mut buf = vec![0u8; len + 1];
            ok(
                sys::napi_get_value_string_utf8(
                    c.env,
                    e,
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    &mut len,
                ),
                "bad error text",
            )?;
            buf.truncate(len);
            String::from_utf8_lossy(&buf).into_owned()
        };
        // The outcome JS asks for: 0 a plain failure (the backoff), 1 a
        // retry after `delay` ms (Retry), 2 straight to the dead letters
        // (Term).
        let kind = if c.argc > 2 { c.u32(2)? } else { 0 };
        Err(match kind {
            1 => core::HandlerError::retry_after_with_reason(crate::convert::ms(c.f64(3)?), text),
            2 => core::HandlerError::term(text),
            _ => core::HandlerError::new(text),
        })
    } else {
        Ok(())
    };
    let done = crate::push::take_completion(&h.table, token);
    let mut out = ptr::null_mut();
    // SAFETY: plain N-API call with a valid out-pointer.
    let status = unsafe { sys::napi_get_boolean(c.env, done.is_some(), &mut out) };
    ok(status, "cannot create a boolean")?;
    if let Some(done) = done {
        done.complete(result);
    }
    Ok(out)
}

macro_rules! callback {
    ($name:ident, $handle:ty, $body:ident) => {
        unsafe extern "C" fn $name(
            env: sys::napi_env,
            info: sys::napi_callback_info,
        ) -> sys::napi_value {
            // SAFETY: Node calls this with its env and info, and `bind`
            // made the function with an `Rc<$handle>` as its data.
            unsafe { guard::<$handle>(env, info, $body) }
        }
    };
}

callback!(cb_publish, TopicHandle, publish);
callback!(cb_publish_many, TopicHandle, publish_many);
callback!(cb_publish_packed, TopicHandle, publish_packed);
callback!(cb_take, PullHandle, take);
callback!(cb_take_into, PullHandle, take_into);
callback!(cb_ack, PullHandle, ack);
callback!(cb_ack_many, PullHandle, ack_many);
callback!(cb_note, PullHandle, note);
callback!(cb_ext, PullHandle, ext);
callback!(cb_complete, PushHandle, complete);

type RawCallback = unsafe extern "C" fn(sys::napi_env, sys::napi_callback_info) -> sys::napi_value;

fn check(env: &Env, status: sys::napi_status) -> Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(cannot(env, "cannot create a function"))
    }
}

fn cannot(env: &Env, what: &str) -> Error {
    crate::surface::fail_with(env, core::ErrorKind::Internal, what)
}

/// An object of functions bound to `handle` (see the module docs).
///
/// # Safety
/// Each callback must expect an `Rc<T>` as its data.
unsafe fn bind<'env, T: 'static>(
    env: &'env Env,
    handle: Rc<T>,
    fns: &[(&std::ffi::CStr, RawCallback)],
) -> Result<Object<'env>> {
    let raw = env.raw();
    let mut obj = ptr::null_mut();
    // SAFETY: plain N-API calls on the JS thread with valid out-pointers;
    // each function gets its own count of `handle`, released by the
    // finalizer added to that function (or at once if that fails).
    unsafe {
        check(env, sys::napi_create_object(raw, &mut obj))?;
        for (name, cb) in fns {
            let data = Rc::into_raw(handle.clone()).cast_mut().cast::<c_void>();
            let mut f = ptr::null_mut();
            let made = sys::napi_create_function(
                raw,
                name.as_ptr(),
                name.to_bytes().len() as isize,
                Some(*cb),
                data,
                &mut f,
            );
            if made != sys::Status::napi_ok
                || sys::napi_add_finalizer(
                    raw,
                    f,
                    data,
                    Some(release::<T>),
                    ptr::null_mut(),
                    ptr::null_mut(),
                ) != sys::Status::napi_ok
            {
                release::<T>(raw, data, ptr::null_mut());
                return Err(cannot(env, "cannot create a function"));
            }
            check(
                env,
                sys::napi_set_named_property(raw, obj, name.as_ptr(), f),
            )?;
        }
        Object::from_napi_value(raw, obj)
    }
}

pub fn bind_topic(env: &Env, h: TopicHandle) -> Result<Object<'_>> {
    // SAFETY: these callbacks take a TopicHandle.
    unsafe {
        bind(
            env,
            Rc::new(h),
            &[
                (c"publish", cb_publish as RawCallback),
                (c"publishMany", cb_publish_many),
                (c"publishPacked", cb_publish_packed),
            ],
        )
    }
}

pub fn bind_push(env: &Env, h: PushHandle) -> Result<Object<'_>> {
    // SAFETY: this callback takes a PushHandle.
    unsafe {
        bind(
            env,
            Rc::new(h),
            &[(c"complete", cb_complete as RawCallback)],
        )
    }
}

/// The functions of a pull subscription, plus `hdr`: the header of the
/// last take as a Float64Array over the handle's memory.
pub fn bind_pull(env: &Env, h: PullHandle) -> Result<Object<'_>> {
    let h = Rc::new(h);
    // SAFETY: these callbacks take a PullHandle.
    let mut obj = unsafe {
        bind(
            env,
            h.clone(),
            &[
                (c"take", cb_take as RawCallback),
                (c"takeInto", cb_take_into),
                (c"ack", cb_ack),
                (c"ackMany", cb_ack_many),
                (c"note", cb_note),
                (c"ext", cb_ext),
            ],
        )
    }?;
    // SAFETY: the header lives in the handle, which the ArrayBuffer keeps
    // alive through its own count (released by its finalizer); it is only
    // written by takes on the JS thread.
    let hdr = unsafe {
        let raw = env.raw();
        let (ptr_, len) = {
            let hdr = &mut *h.hdr.get();
            (hdr.as_mut_ptr(), hdr.len())
        };
        let hint = Rc::into_raw(h.clone()).cast_mut().cast::<c_void>();
        let mut ab = ptr::null_mut();
        if sys::napi_create_external_arraybuffer(
            raw,
            ptr_.cast(),
            len * 8,
            Some(release_hint::<PullHandle>),
            hint,
            &mut ab,
        ) != sys::Status::napi_ok
        {
            release::<PullHandle>(raw, hint, ptr::null_mut());
            return Err(cannot(env, "cannot share the header"));
        }
        let mut arr = ptr::null_mut();
        check(
            env,
            sys::napi_create_typedarray(
                raw,
                sys::TypedarrayType::float64_array,
                len,
                ab,
                0,
                &mut arr,
            ),
        )?;
        Unknown::from_napi_value(raw, arr)?
    };
    obj.set_named_property("hdr", hdr)?;
    Ok(obj)
}
