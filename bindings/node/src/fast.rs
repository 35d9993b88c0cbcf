//! The per-message calls (publish, publishMany, take, ack, ackMany,
//! complete) as plain N-API callbacks.
//!
//! napi-rs wraps every class method in borrow bookkeeping (a global map,
//! allocations) that costs a few hundred nanoseconds a call, more than the
//! engine's whole publish. These callbacks skip it: each takes an external
//! handle (created by the classes' `handle()` methods and tagged with
//! `napi_type_tag_object`, so a foreign value is refused, never
//! dereferenced) and reads its arguments with single N-API calls. Every
//! body runs under `catch_unwind`: a panic becomes an `INTERNAL` error and
//! never unwinds into Node.

use std::cell::RefCell;
use std::ffi::{c_void, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;
use ringmq_core as core;

use crate::convert::{coded, join};
use crate::pull::{Stash, FIELDS};
use crate::push::SharedTable;

type Res<T> = std::result::Result<T, String>;

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
    pub batch: RefCell<Vec<core::Delivery>>,
}

pub struct PushHandle {
    pub table: SharedTable,
}

/// Tells handles apart, and from every other external of the process.
pub trait Tagged {
    const TAG: sys::napi_type_tag;
    const WHAT: &'static str;
}

impl Tagged for TopicHandle {
    const TAG: sys::napi_type_tag = sys::napi_type_tag {
        lower: 0x7269_6e67_6d71_0001,
        upper: 0x9c1d_2f47_83aa_51e3,
    };
    const WHAT: &'static str = "topic";
}

impl Tagged for PullHandle {
    const TAG: sys::napi_type_tag = sys::napi_type_tag {
        lower: 0x7269_6e67_6d71_0002,
        upper: 0x9c1d_2f47_83aa_51e3,
    };
    const WHAT: &'static str = "pull subscription";
}

impl Tagged for PushHandle {
    const TAG: sys::napi_type_tag = sys::napi_type_tag {
        lower: 0x7269_6e67_6d71_0003,
        upper: 0x9c1d_2f47_83aa_51e3,
    };
    const WHAT: &'static str = "push subscription";
}

unsafe extern "C" fn finalize<T>(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: `data` is the `Box<T>` leaked by `create_handle::<T>`, and
    // Node calls this finalizer once.
    drop(unsafe { Box::from_raw(data.cast::<T>()) });
}

fn ok(status: sys::napi_status, what: &str) -> Res<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(format!("INVALID_ARGUMENT: {what}"))
    }
}

/// Wraps `value` in a tagged external owned by the JS garbage collector.
pub fn create_handle<'env, T: Tagged + 'static>(env: &'env Env, value: T) -> Result<Unknown<'env>> {
    let raw = Box::into_raw(Box::new(value));
    let mut out = ptr::null_mut();
    // SAFETY: plain N-API calls on the JS thread; on success the external
    // owns `raw` and frees it with `finalize::<T>`.
    unsafe {
        let status = sys::napi_create_external(
            env.raw(),
            raw.cast(),
            Some(finalize::<T>),
            ptr::null_mut(),
            &mut out,
        );
        if status != sys::Status::napi_ok {
            drop(Box::from_raw(raw));
            return Err(Error::from_reason("INTERNAL: cannot create a handle"));
        }
        if sys::napi_type_tag_object(env.raw(), out, &T::TAG) != sys::Status::napi_ok {
            return Err(Error::from_reason("INTERNAL: cannot tag a handle"));
        }
        Unknown::from_napi_value(env.raw(), out)
    }
}

/// One callback's arguments. `'a` is the callback's duration: what the
/// accessors return borrows from JS values the caller holds until it returns.
struct Call<'a> {
    _during: std::marker::PhantomData<&'a ()>,
    env: sys::napi_env,
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
                ptr::null_mut(),
            )
        };
        ok(status, "cannot read the arguments")?;
        Ok(c)
    }

    fn arg(&self, i: usize) -> Res<sys::napi_value> {
        if i < self.argc.min(5) {
            Ok(self.argv[i])
        } else {
            Err(format!("INVALID_ARGUMENT: argument {i} is missing"))
        }
    }

    /// The handle behind argument `i`, checked by its tag.
    fn handle<T: Tagged>(&self, i: usize) -> Res<&'a T> {
        let v = self.arg(i)?;
        let mut is = false;
        // SAFETY: plain N-API calls with valid out-pointers.
        let status = unsafe { sys::napi_check_object_type_tag(self.env, v, &T::TAG, &mut is) };
        if status != sys::Status::napi_ok || !is {
            return Err(format!("INVALID_ARGUMENT: not a {} handle", T::WHAT));
        }
        let mut data = ptr::null_mut();
        // SAFETY: as above.
        let status = unsafe { sys::napi_get_value_external(self.env, v, &mut data) };
        ok(status, "not a handle")?;
        // SAFETY: a value with T's tag is an external made by
        // `create_handle::<T>`, whose data is a live `Box<T>` for as long as
        // the value is reachable, which it is during this call.
        Ok(unsafe { &*data.cast::<T>() })
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

/// Runs a callback body: errors and panics become thrown `Error`s whose
/// message starts with the code.
unsafe fn guard(
    env: sys::napi_env,
    info: sys::napi_callback_info,
    body: fn(&Call<'_>) -> Res<sys::napi_value>,
) -> sys::napi_value {
    let r = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: env and info are those of the running callback.
        let call = unsafe { Call::new(env, info) }?;
        body(&call)
    }));
    let msg = match r {
        Ok(Ok(v)) => return v,
        Ok(Err(msg)) => msg,
        Err(_) => "INTERNAL: a panic in the ringmq addon".to_owned(),
    };
    let text = CString::new(msg.replace('\0', " ")).unwrap_or_default();
    // SAFETY: plain N-API call; a null return signals the pending exception.
    unsafe { sys::napi_throw_error(env, ptr::null(), text.as_ptr()) };
    ptr::null_mut()
}

fn err(e: core::Error) -> String {
    coded(&e)
}

/// `publish(topic, data, key)`: one message, never waiting; the id.
fn publish(c: &Call<'_>) -> Res<sys::napi_value> {
    let h = c.handle::<TopicHandle>(0)?;
    let data = c.bytes(1)?;
    let key = c.f64(2)?;
    let id = h
        .topic
        .publish_with(data, key as u64, h.try_once)
        .map_err(err)?;
    c.number(id as f64)
}

/// `publishMany(topic, items, keyHi, keyLo)`: one claim; the first id.
fn publish_many(c: &Call<'_>) -> Res<sys::napi_value> {
    let h = c.handle::<TopicHandle>(0)?;
    let items = c.arg(1)?;
    let key = join(c.u32(2)?, c.u32(3)?);
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
            .map_err(|_| format!("INVALID_ARGUMENT: item {i} is not a Buffer or Uint8Array"))?;
        slices.push(b);
    }
    let r = h
        .topic
        .publish_batch(&slices, key, h.try_once)
        .map_err(err)?;
    c.number(r.start as f64)
}

/// Takes up to `max` ready deliveries of the handle into its reused batch.
fn take_ready(h: &PullHandle, max: usize) -> Res<std::cell::RefMut<'_, Vec<core::Delivery>>> {
    let mut batch = h
        .batch
        .try_borrow_mut()
        .map_err(|_| "INTERNAL: take re-entered".to_owned())?;
    batch.clear();
    {
        let mut stash = crate::pull::lock(&h.stash);
        while batch.len() < max {
            match stash.pop_front() {
                Some(d) => batch.push(d),
                None => break,
            }
        }
    }
    if batch.len() < max {
        let want = max - batch.len();
        if let Err(e) = h.sub.poll_batch(want, Some(Duration::ZERO), &mut batch) {
            if batch.is_empty() {
                return Err(err(e));
            }
        }
    }
    Ok(batch)
}

/// Copies the payloads of `batch` back to back into `out` and describes
/// them in `hdr` (see `pull.rs`), handing each delivery to JS by its tag.
/// Deliveries that do not fit in `out` go back to the front of the stash.
fn hand_over(
    h: &PullHandle,
    batch: &mut Vec<core::Delivery>,
    hdr: &mut [u8],
    out: &mut [u8],
) -> usize {
    let mut put = |i: usize, v: f64| hdr[i * 8..i * 8 + 8].copy_from_slice(&v.to_ne_bytes());
    let mut at = 0;
    let mut n = 0;
    let mut rest = batch.drain(..);
    for d in rest.by_ref() {
        let bytes = d.data();
        if at + bytes.len() > out.len() {
            let mut stash = crate::pull::lock(&h.stash);
            let mut back: Vec<core::Delivery> = vec![d];
            back.extend(rest);
            for d in back.into_iter().rev() {
                stash.push_front(d);
            }
            break;
        }
        out[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
        let key = d.key();
        let ts = d.timestamp_ns() as u64;
        let base = 1 + n * FIELDS;
        put(base, d.id() as f64);
        put(base + 1, (key >> 32) as f64);
        put(base + 2, (key & 0xffff_ffff) as f64);
        put(base + 3, (ts >> 32) as f64);
        put(base + 4, (ts & 0xffff_ffff) as f64);
        put(base + 5, d.attempt() as f64);
        put(base + 8, bytes.len() as f64);
        let (tag, _, _) = d.into_raw();
        put(base + 6, (tag >> 32) as f64);
        put(base + 7, (tag & 0xffff_ffff) as f64);
        n += 1;
    }
    put(0, n as f64);
    n
}

fn header_room(hdr: &[u8], max: u32) -> Res<usize> {
    let max = (max as usize).min((hdr.len() / 8).saturating_sub(1) / FIELDS);
    if max == 0 {
        return Err("INVALID_ARGUMENT: take needs room for at least one message".into());
    }
    Ok(max)
}

/// `take(pull, hdr, max)`: what is ready, without waiting, in one new
/// Buffer (or null); for payloads too large for `takeInto`'s pool.
fn take(c: &Call<'_>) -> Res<sys::napi_value> {
    let h = c.handle::<PullHandle>(0)?;
    let hdr = c.bytes(1)?;
    let max = header_room(hdr, c.u32(2)?)?;
    let mut batch = take_ready(h, max)?;
    if batch.is_empty() {
        return c.null();
    }
    let total: usize = batch.iter().map(|d| d.data().len()).sum();
    let mut data_ptr: *mut c_void = ptr::null_mut();
    let mut value = ptr::null_mut();
    // SAFETY: plain N-API call with valid out-pointers.
    let status = unsafe { sys::napi_create_buffer(c.env, total, &mut data_ptr, &mut value) };
    if status != sys::Status::napi_ok {
        // The deliveries go back to the engine unsettled (redelivered).
        batch.clear();
        return Err("INTERNAL: cannot allocate a Buffer for the payloads".into());
    }
    let out: &mut [u8] = if total == 0 || data_ptr.is_null() {
        &mut []
    } else {
        // SAFETY: napi_create_buffer returned `total` writable bytes at
        // `data_ptr`, owned by the new Buffer that `value` keeps alive.
        unsafe { std::slice::from_raw_parts_mut(data_ptr.cast::<u8>(), total) }
    };
    hand_over(h, &mut batch, hdr, out);
    Ok(value)
}

/// `takeInto(pull, hdr, max, pool, offset)`: what is ready, without
/// waiting, copied into `pool` from `offset` on (a Buffer the JS side
/// carves message views from, as Node's own Buffer pool); the count.
fn take_into(c: &Call<'_>) -> Res<sys::napi_value> {
    let h = c.handle::<PullHandle>(0)?;
    let hdr = c.bytes(1)?;
    let max = header_room(hdr, c.u32(2)?)?;
    let pool = c.bytes(3)?;
    let (h0, h1) = (hdr.as_ptr() as usize, hdr.as_ptr() as usize + hdr.len());
    let (p0, p1) = (pool.as_ptr() as usize, pool.as_ptr() as usize + pool.len());
    if h0 < p1 && p0 < h1 {
        return Err("INVALID_ARGUMENT: the header and the pool overlap".into());
    }
    let off = c.u32(4)? as usize;
    if off > pool.len() {
        return Err("INVALID_ARGUMENT: offset is past the end of the pool".into());
    }
    let mut batch = take_ready(h, max)?;
    let n = if batch.is_empty() {
        hdr[..8].copy_from_slice(&0f64.to_ne_bytes());
        0
    } else {
        hand_over(h, &mut batch, hdr, &mut pool[off..])
    };
    c.number(n as f64)
}

/// `ack(pull, tagHi, tagLo)`.
fn ack(c: &Call<'_>) -> Res<sys::napi_value> {
    let h = c.handle::<PullHandle>(0)?;
    let tag = join(c.u32(1)?, c.u32(2)?);
    // SAFETY: tags reach JS only through `Delivery::into_raw` (in `take`),
    // so no `Delivery` value with this tag exists; JS settles each tag at
    // most once (a `Message` keeps a settled flag).
    unsafe { h.sub.ack_tag(tag) }.map_err(err)?;
    c.undefined()
}

/// `ackMany(pull, tags, count)`: tags as (hi, lo) pairs in a Float64Array;
/// tries them all, throws the first failure.
fn ack_many(c: &Call<'_>) -> Res<sys::napi_value> {
    let h = c.handle::<PullHandle>(0)?;
    let tags = c.arg(1)?;
    let count = c.u32(2)? as usize;
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
        return Err("INVALID_ARGUMENT: ackMany needs a Float64Array".into());
    }
    let tags: &[f64] = if len == 0 || data.is_null() {
        &[]
    } else {
        // SAFETY: a Float64Array of `len` elements at `data` (aligned, as
        // every Float64Array), alive during the call.
        unsafe { std::slice::from_raw_parts(data.cast::<f64>(), len) }
    };
    let n = count.min(tags.len() / 2);
    let mut first = Ok(());
    for i in 0..n {
        let tag = join(tags[2 * i] as u32, tags[2 * i + 1] as u32);
        // SAFETY: as for `ack`.
        let r = unsafe { h.sub.ack_tag(tag) };
        if first.is_ok() {
            first = r;
        }
    }
    first.map_err(err)?;
    c.undefined()
}

/// `complete(push, token, error)`: a handler's outcome (error null: ack).
fn complete(c: &Call<'_>) -> Res<sys::napi_value> {
    let h = c.handle::<PushHandle>(0)?;
    let token = c.u32(1)?;
    let e = c.arg(2)?;
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
        Err(core::HandlerError(text))
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
    ($name:ident, $body:ident) => {
        unsafe extern "C" fn $name(
            env: sys::napi_env,
            info: sys::napi_callback_info,
        ) -> sys::napi_value {
            // SAFETY: called by Node with this callback's env and info.
            unsafe { guard(env, info, $body) }
        }
    };
}

callback!(cb_publish, publish);
callback!(cb_publish_many, publish_many);
callback!(cb_take, take);
callback!(cb_take_into, take_into);
callback!(cb_ack, ack);
callback!(cb_ack_many, ack_many);
callback!(cb_complete, complete);

type RawCallback = unsafe extern "C" fn(sys::napi_env, sys::napi_callback_info) -> sys::napi_value;

const CALLBACKS: [(&std::ffi::CStr, RawCallback); 7] = [
    (c"publish", cb_publish),
    (c"publishMany", cb_publish_many),
    (c"take", cb_take),
    (c"takeInto", cb_take_into),
    (c"ack", cb_ack),
    (c"ackMany", cb_ack_many),
    (c"complete", cb_complete),
];

/// The per-message calls, as an object of plain functions.
#[napi(
    ts_return_type = "{ publish: Function, publishMany: Function, take: Function, takeInto: Function, ack: Function, ackMany: Function, complete: Function }"
)]
pub fn fast_api(env: &Env) -> Result<Unknown<'_>> {
    let mut obj = ptr::null_mut();
    // SAFETY: plain N-API calls on the JS thread with valid out-pointers;
    // names are NUL-terminated static strings.
    unsafe {
        if sys::napi_create_object(env.raw(), &mut obj) != sys::Status::napi_ok {
            return Err(Error::from_reason("INTERNAL: cannot create an object"));
        }
        for (name, cb) in CALLBACKS {
            let mut f = ptr::null_mut();
            if sys::napi_create_function(
                env.raw(),
                name.as_ptr(),
                name.to_bytes().len() as isize,
                Some(cb),
                ptr::null_mut(),
                &mut f,
            ) != sys::Status::napi_ok
                || sys::napi_set_named_property(env.raw(), obj, name.as_ptr(), f)
                    != sys::Status::napi_ok
            {
                return Err(Error::from_reason("INTERNAL: cannot create a function"));
            }
        }
        Unknown::from_napi_value(env.raw(), obj)
    }
}
