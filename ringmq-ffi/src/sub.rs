//! Subscription handles: pull (poll and settle by delivery tag) and push (a
//! C function called on the broker's pool).

use std::cell::RefCell;
use std::ffi::{c_char, c_void};
use std::time::Duration;

use ringmq_core::internals::decode_ext;
use ringmq_core::{
    HandlerError, Headers, IdleReason, Message, PullSubscription, PushSubscription, RawDelivery,
    SubOptions,
};

use crate::boundary::{boundary, handle, invalid, name, non_null, run, timeout, Result};
use crate::sized;
use crate::stats::ringmq_sub_stats;
use crate::topic::ringmq_topic;
use crate::types::{
    ringmq_handler, ringmq_handler_ex, ringmq_handler_result, ringmq_message, ringmq_status,
    ringmq_sub_options, EXT_VIEW,
};

/// A subscription (consumer group) on a topic, pull or push. Opaque; from
/// `ringmq_topic_subscribe_pull` or `ringmq_topic_subscribe`, freed by
/// `ringmq_sub_unsubscribe`. Every function taking one is thread-safe: several
/// threads polling one pull subscription are competing consumers.
pub struct ringmq_sub {
    kind: SubKind,
}

enum SubKind {
    Pull(PullSubscription),
    Push(PushSubscription),
}

/// Most deliveries one `ringmq_sub_poll_batch` call returns.
pub const RINGMQ_POLL_BATCH_MAX: u32 = 4096;

/// Fills `o` with the default subscription options, as this library's own
/// header declares the struct (`sizeof(ringmq_sub_options)` of this version).
/// In C and C++ the header's macro of the same name calls
/// `ringmq_sub_options_init(o, sizeof(ringmq_sub_options))` instead, with the
/// size of the struct the caller was compiled with; this function is for
/// callers that find the library's symbols by name.
///
/// # Arguments
/// - `o`: the struct to fill; NULL does nothing.
///
/// # Safety
/// `o` is NULL or points to a writable `ringmq_sub_options` of this library's
/// version.
#[no_mangle]
pub unsafe extern "C" fn ringmq_sub_options_default(o: *mut ringmq_sub_options) {
    boundary("ringmq_sub_options_default", || {
        // SAFETY: NULL or a whole struct of this version, by this
        // function's contract.
        unsafe { sized::init(o, std::mem::size_of::<ringmq_sub_options>()) }
    })
}

/// Fills the first `struct_size` bytes at `o` with the default subscription
/// options and sets `o->struct_size` to `struct_size`: the fields that fit get
/// their defaults, bytes past this library's struct (fields of a newer header)
/// become 0, nothing past `struct_size` bytes is written. What
/// `ringmq_sub_options_default(o)` calls with the size of the caller's struct.
///
/// # Arguments
/// - `o`: the struct to fill; NULL does nothing.
/// - `struct_size`: its size, `sizeof(ringmq_sub_options)` as the caller's
///   header declares it.
///
/// # Safety
/// `o` is NULL or has `struct_size` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn ringmq_sub_options_init(o: *mut ringmq_sub_options, struct_size: usize) {
    boundary("ringmq_sub_options_init", || {
        // SAFETY: NULL or `struct_size` writable bytes, by this function's
        // contract.
        unsafe { sized::init(o, struct_size) }
    })
}

/// The checked options, or the defaults for NULL.
///
/// # Safety
/// `o` is NULL or points to a `ringmq_sub_options` of `o->struct_size`
/// initialised bytes.
unsafe fn sub_options(o: *const ringmq_sub_options) -> Result<SubOptions> {
    // SAFETY: NULL or `struct_size` initialised bytes, by this function's
    // contract.
    match unsafe { sized::read(o) }? {
        Some(o) => o.to_core(),
        None => Ok(SubOptions::default()),
    }
}

fn boxed(kind: SubKind, out: std::ptr::NonNull<*mut ringmq_sub>) {
    let p = Box::into_raw(Box::new(ringmq_sub { kind }));
    // SAFETY: `out` was checked non-null and is writable by the exported
    // functions' contracts.
    unsafe { out.as_ptr().write(p) };
}

/// Creates a pull subscription: the caller takes messages with
/// `ringmq_sub_poll` and settles each by its delivery tag.
///
/// # Arguments
/// - `t`: the topic.
/// - `group`: the subscription's name, unique on this topic (rules as for
///   topic names, up to 255 bytes).
/// - `o`: options filled by `ringmq_sub_options_default` and then changed,
///   or NULL for the defaults (`concurrency` and `ordered_by_key` do not
///   apply to pull).
/// - `out`: receives the new subscription; set to NULL on failure.
///
/// # Returns
/// `RINGMQ_OK`; `RINGMQ_EXISTS`; `RINGMQ_INVALID_ARGUMENT` (NULL, bad name,
/// bad option, a bad `o->struct_size`); `RINGMQ_CLOSED` after close.
///
/// # Safety
/// `t` is NULL or live; `group` is NULL or NUL-terminated; `o` is NULL or
/// has `o->struct_size` initialised bytes; `out` is NULL or writable. The
/// caller owns the handle and frees it with `ringmq_sub_unsubscribe`.
/// Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn ringmq_topic_subscribe_pull(
    t: *mut ringmq_topic,
    group: *const c_char,
    o: *const ringmq_sub_options,
    out: *mut *mut ringmq_sub,
) -> ringmq_status {
    // SAFETY: this function's contract is subscribe_pull's.
    unsafe { subscribe_pull("ringmq_topic_subscribe_pull", t, group, o, out) }
}

/// The body of `ringmq_topic_subscribe_pull`, its errors named `func`.
///
/// # Safety
/// As for `ringmq_topic_subscribe_pull`.
pub(crate) unsafe fn subscribe_pull(
    func: &'static str,
    t: *mut ringmq_topic,
    group: *const c_char,
    o: *const ringmq_sub_options,
    out: *mut *mut ringmq_sub,
) -> ringmq_status {
    run(func, || {
        let out = non_null(out, "out")?;
        // SAFETY: writable by this function's contract.
        unsafe { out.as_ptr().write(std::ptr::null_mut()) };
        // SAFETY: NULL or live, by this function's contract.
        let t = unsafe { handle(t, "t") }?;
        // SAFETY: NULL or NUL-terminated, by this function's contract.
        let group = unsafe { name(group, "group") }?;
        // SAFETY: NULL or `struct_size` initialised bytes, by this
        // function's contract.
        let opts = unsafe { sub_options(o) }?;
        let pull = t.inner.subscribe_pull(group, opts)?;
        boxed(SubKind::Pull(pull), out);
        Ok(())
    })
}

/// A C handler of either type.
#[derive(Clone, Copy)]
enum CHandlerFn {
    /// `ringmq_handler`: 0 acks, anything else nacks.
    Plain(unsafe extern "C" fn(*const ringmq_message, *mut c_void) -> i32),
    /// `ringmq_handler_ex`: a `ringmq_handler_result` and a retry delay.
    Ex(unsafe extern "C" fn(*const ringmq_message, *mut c_void, *mut u32) -> i32),
}

/// A C handler and its user data, called from pool threads.
struct CHandler {
    f: CHandlerFn,
    user_data: *mut c_void,
}

// SAFETY: the caller of ringmq_topic_subscribe promises (see its Safety section)
// that the handler may be called with `user_data` from any pool thread,
// concurrently up to `concurrency` times, until ringmq_sub_unsubscribe or the
// broker's close returns. This struct only carries the pointer there.
unsafe impl Send for CHandler {}
// SAFETY: as for Send; calls through `&CHandler` only copy the pointer.
unsafe impl Sync for CHandler {}

impl CHandler {
    fn call(&self, m: &Message<'_>) -> std::result::Result<(), HandlerError> {
        let mut cm = ringmq_message {
            id: m.id,
            key: m.key,
            timestamp_ns: m.timestamp_ns,
            attempt: m.attempt,
            // A payload is at most slot_size <= 2^24 bytes.
            len: m.data.len() as u32,
            data: m.data.as_ptr(),
            ..ringmq_message::EMPTY
        };
        cm.set_dead_letter(m.dead_letter_reason, m.dead_letter_group);
        // The view lives on this stack frame for the call, as long as `cm`.
        let headers: Headers<'_> = m.headers;
        let view = std::ptr::from_ref(&headers).cast::<c_void>();
        cm.set_ext(m.msg_id, headers.len(), view, EXT_VIEW);
        use ringmq_handler_result::*;
        match self.f {
            CHandlerFn::Plain(f) => {
                // SAFETY: `f` is a non-null function of the ringmq_handler
                // type, and `cm` with its payload and headers is valid for
                // the call; the user-data contract is the caller's (see the
                // Send impl).
                let rc = unsafe { f(&cm, self.user_data) };
                match rc {
                    0 => Ok(()),
                    rc => Err(HandlerError::new(format!("handler returned {rc}"))),
                }
            }
            CHandlerFn::Ex(f) => {
                let mut retry_after_ms = 0u32;
                // SAFETY: as above, for the ringmq_handler_ex type; the
                // out-parameter is a live local.
                let rc = unsafe { f(&cm, self.user_data, &mut retry_after_ms) };
                match rc {
                    rc if rc == RINGMQ_HANDLER_ACK as i32 => Ok(()),
                    rc if rc == RINGMQ_HANDLER_NACK as i32 => Err(HandlerError::new("nacked")),
                    rc if rc == RINGMQ_HANDLER_TERM as i32 => Err(HandlerError::term("termed")),
                    rc if rc == RINGMQ_HANDLER_RETRY_AFTER as i32 => Err(
                        HandlerError::retry_after(Duration::from_millis(retry_after_ms.into())),
                    ),
                    rc => Err(HandlerError::new(format!("handler returned {rc}"))),
                }
            }
        }
    }
}

/// The body of `ringmq_topic_subscribe` and `ringmq_topic_subscribe_ex`.
///
/// # Safety
/// As for `ringmq_topic_subscribe`.
unsafe fn subscribe_push(
    t: *mut ringmq_topic,
    group: *const c_char,
    f: Option<CHandlerFn>,
    user_data: *mut c_void,
    o: *const ringmq_sub_options,
    out: *mut *mut ringmq_sub,
) -> Result<()> {
    let out = non_null(out, "out")?;
    // SAFETY: writable by this function's contract.
    unsafe { out.as_ptr().write(std::ptr::null_mut()) };
    // SAFETY: NULL or live, by this function's contract.
    let t = unsafe { handle(t, "t") }?;
    // SAFETY: NULL or NUL-terminated, by this function's contract.
    let group = unsafe { name(group, "group") }?;
    let f = f.ok_or_else(|| invalid("h is NULL"))?;
    // SAFETY: NULL or `struct_size` initialised bytes, by this function's
    // contract.
    let opts = unsafe { sub_options(o) }?;
    let handler = CHandler { f, user_data };
    let push = t
        .inner
        .subscribe(group, opts, move |m: &Message<'_>| handler.call(m))?;
    boxed(SubKind::Push(push), out);
    Ok(())
}

/// Creates a push subscription: `h` is called on the broker's worker pool
/// for each message. Returning 0 acks; any other value nacks (retried after
/// the topic's backoff, dead-lettered after `max_attempts` deliveries).
///
/// # Arguments
/// - `t`: the topic.
/// - `group`: the subscription's name, unique on this topic.
/// - `h`: the handler (not NULL).
/// - `user_data`: passed to every call of `h`; may be NULL.
/// - `o`: options, or NULL for the defaults (`concurrency` bounds the calls
///   of `h` at once; `ordered_by_key` keeps one key's messages in order).
/// - `out`: receives the new subscription; set to NULL on failure.
///
/// # Returns
/// As `ringmq_topic_subscribe_pull`; `RINGMQ_INVALID_ARGUMENT` also for a NULL
/// `h`.
///
/// # Safety
/// As for `ringmq_topic_subscribe_pull`. In addition, `h` may be called from
/// any pool thread, up to `concurrency` calls at once, so it and `user_data`
/// must be safe to use that way; `user_data` must stay valid until
/// `ringmq_sub_unsubscribe` on this subscription or `ringmq_broker_close` /
/// `ringmq_broker_free` on its broker has returned, called from outside the
/// broker's handlers (no call of `h` runs after that). The message passed to
/// `h`, and its data, are valid during the call only. `h` must not unwind or
/// `longjmp` out.
#[no_mangle]
pub unsafe extern "C" fn ringmq_topic_subscribe(
    t: *mut ringmq_topic,
    group: *const c_char,
    h: ringmq_handler,
    user_data: *mut c_void,
    o: *const ringmq_sub_options,
    out: *mut *mut ringmq_sub,
) -> ringmq_status {
    // SAFETY: this function's contract is subscribe's.
    unsafe { subscribe("ringmq_topic_subscribe", t, group, h, user_data, o, out) }
}

/// The body of `ringmq_topic_subscribe`, its errors named `func`.
///
/// # Safety
/// As for `ringmq_topic_subscribe`.
pub(crate) unsafe fn subscribe(
    func: &'static str,
    t: *mut ringmq_topic,
    group: *const c_char,
    h: ringmq_handler,
    user_data: *mut c_void,
    o: *const ringmq_sub_options,
    out: *mut *mut ringmq_sub,
) -> ringmq_status {
    run(func, || {
        // SAFETY: this function's contract is subscribe_push's.
        unsafe { subscribe_push(t, group, h.map(CHandlerFn::Plain), user_data, o, out) }
    })
}

/// Creates a push subscription whose handler chooses its message's outcome:
/// `h` returns a `ringmq_handler_result` (`RINGMQ_HANDLER_ACK`, `_NACK`,
/// `_TERM` straight to the dead-letter topic, or `_RETRY_AFTER` with the
/// delay it wrote to `*retry_after_ms`); any other value nacks with the
/// failure text `"handler returned N"`.
///
/// # Arguments
/// As `ringmq_topic_subscribe`, with a `ringmq_handler_ex`.
///
/// # Returns
/// As `ringmq_topic_subscribe`.
///
/// # Safety
/// As for `ringmq_topic_subscribe`; `retry_after_ms` is valid during the call
/// only.
#[no_mangle]
pub unsafe extern "C" fn ringmq_topic_subscribe_ex(
    t: *mut ringmq_topic,
    group: *const c_char,
    h: ringmq_handler_ex,
    user_data: *mut c_void,
    o: *const ringmq_sub_options,
    out: *mut *mut ringmq_sub,
) -> ringmq_status {
    // SAFETY: this function's contract is subscribe_ex's.
    unsafe { subscribe_ex("ringmq_topic_subscribe_ex", t, group, h, user_data, o, out) }
}

/// The body of `ringmq_topic_subscribe_ex`, its errors named `func`.
///
/// # Safety
/// As for `ringmq_topic_subscribe_ex`.
pub(crate) unsafe fn subscribe_ex(
    func: &'static str,
    t: *mut ringmq_topic,
    group: *const c_char,
    h: ringmq_handler_ex,
    user_data: *mut c_void,
    o: *const ringmq_sub_options,
    out: *mut *mut ringmq_sub,
) -> ringmq_status {
    run(func, || {
        // SAFETY: this function's contract is subscribe_push's.
        unsafe { subscribe_push(t, group, h.map(CHandlerFn::Ex), user_data, o, out) }
    })
}

impl ringmq_sub {
    pub(crate) fn pull(&self) -> Result<&PullSubscription> {
        match &self.kind {
            SubKind::Pull(p) => Ok(p),
            SubKind::Push(p) => Err(invalid(format!(
                "subscription {:?} is a push subscription: its handler's return value settles each message",
                p.group()
            ))),
        }
    }
}

thread_local! {
    /// Reused by every poll on this thread, so polling does not allocate.
    static POLLED: RefCell<Vec<RawDelivery>> = const { RefCell::new(Vec::new()) };
}

/// Polls up to `max` deliveries into `out`, each as its raw tag.
///
/// # Safety
/// `out` has room for `max` messages.
unsafe fn poll_into(
    pull: &PullSubscription,
    max: usize,
    timeout_ms: i32,
    out: *mut ringmq_message,
) -> Result<usize> {
    let timeout: Option<Duration> = timeout(timeout_ms)?;
    let fill = |v: &mut Vec<RawDelivery>| -> Result<usize> {
        v.clear();
        let r = pull.poll_raw(max, timeout, None, v);
        let mut n = 0;
        // `take(max)` bounds the writes whatever the core returns; anything
        // beyond (never expected) stays unsettled and is redelivered after
        // the ack timeout.
        for d in v.drain(..).take(max) {
            let mut m = ringmq_message {
                id: d.id(),
                key: d.key(),
                timestamp_ns: d.timestamp_ns(),
                attempt: d.attempt(),
                delivery_tag: d.tag(),
                ..ringmq_message::EMPTY
            };
            // The texts stay where they are (in the dead-letter topic's note
            // table, kept alive by the topic) while the delivery is
            // unsettled, like the payload.
            m.set_dead_letter(d.dead_letter_reason(), d.dead_letter_group());
            // SAFETY: just taken and not settled: the payload and its
            // extension block (headers and msg_id, in the same slot or
            // retry-store entry) are pinned until the tag is settled or its
            // ack deadline passes, which is what the C API promises.
            let (data, ext) = unsafe { (d.data(), d.ext()) };
            let (msg_id, headers) = decode_ext(ext);
            m.set_ext(msg_id, headers.len(), ext.as_ptr().cast(), ext.len());
            m.data = data.as_ptr();
            m.len = data.len() as u32;
            // SAFETY: `out` has room for `max` messages and n < max here.
            unsafe { out.add(n).write(m) };
            n += 1;
        }
        r.map(|_| n)
    };
    match POLLED.try_with(|cell| cell.try_borrow_mut().ok().map(|mut v| fill(&mut v))) {
        Ok(Some(r)) => r,
        // During thread teardown (or re-entry): a fresh vector.
        _ => fill(&mut Vec::with_capacity(max)),
    }
}

/// Waits for one delivery of a pull subscription.
///
/// # Arguments
/// - `s`: a pull subscription.
/// - `timeout_ms`: -1 waits for ever, 0 does not wait, else milliseconds.
/// - `out`: receives the message. Its `data` stays valid until the delivery is
///   settled with `ringmq_sub_ack`, `ringmq_sub_nack` or `ringmq_sub_term` (by
///   any thread), the subscription is unsubscribed, or the topic's
///   `ack_timeout_ms` passes unsettled, whichever comes first
///   (`ringmq_sub_in_progress` restarts that timer). An expired delivery is
///   redelivered, and its slot is freed at once, so a consumer that forgets a
///   delivery never holds producers back for long; settling it later answers
///   `RINGMQ_INVALID_ARGUMENT` ("expired").
///
/// # Returns
/// `RINGMQ_OK`; `RINGMQ_EMPTY` when nothing arrived in time (`*out` is then
/// zeroed); `RINGMQ_CLOSED`; `RINGMQ_INVALID_ARGUMENT` (NULL, a push
/// subscription, `timeout_ms` below -1).
///
/// # Safety
/// `s` is NULL or live; `out` is NULL or writable. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn ringmq_sub_poll(
    s: *mut ringmq_sub,
    timeout_ms: i32,
    out: *mut ringmq_message,
) -> ringmq_status {
    // SAFETY: this function's contract is poll's.
    unsafe { poll("ringmq_sub_poll", s, timeout_ms, out) }
}

/// The body of `ringmq_sub_poll`, its errors named `func`.
///
/// # Safety
/// As for `ringmq_sub_poll`.
pub(crate) unsafe fn poll(
    func: &'static str,
    s: *mut ringmq_sub,
    timeout_ms: i32,
    out: *mut ringmq_message,
) -> ringmq_status {
    run(func, || {
        // SAFETY: NULL or live, by this function's contract.
        let s = unsafe { handle(s, "s") }?;
        let out = non_null(out, "out")?;
        let pull = s.pull()?;
        // SAFETY: writable by this function's contract.
        unsafe { out.as_ptr().write(ringmq_message::EMPTY) };
        // SAFETY: room for one message.
        match unsafe { poll_into(pull, 1, timeout_ms, out.as_ptr()) }? {
            0 => Err(empty(timeout_ms)),
            _ => Ok(()),
        }
    })
}

fn empty(timeout_ms: i32) -> ringmq_core::Error {
    ringmq_core::Error::new(
        ringmq_core::ErrorKind::Empty,
        format!("no message within {timeout_ms} ms"),
    )
}

/// Waits for at least one delivery and takes up to `max` at once.
///
/// # Arguments
/// - `s`: a pull subscription.
/// - `max`: room in `out`, 1 or more (a call returns at most
///   `RINGMQ_POLL_BATCH_MAX`).
/// - `timeout_ms`: as for `ringmq_sub_poll`.
/// - `out`: receives the messages, with the lifetimes of `ringmq_sub_poll`.
/// - `out_count`: receives how many were written.
///
/// # Returns
/// As `ringmq_sub_poll` (`RINGMQ_EMPTY` with `*out_count` 0).
///
/// # Safety
/// `out` has room for `max` messages; `out_count` is writable. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn ringmq_sub_poll_batch(
    s: *mut ringmq_sub,
    max: usize,
    timeout_ms: i32,
    out: *mut ringmq_message,
    out_count: *mut usize,
) -> ringmq_status {
    // SAFETY: this function's contract is poll_batch's.
    unsafe { poll_batch("ringmq_sub_poll_batch", s, max, timeout_ms, out, out_count) }
}

/// The body of `ringmq_sub_poll_batch`, its errors named `func`.
///
/// # Safety
/// As for `ringmq_sub_poll_batch`.
pub(crate) unsafe fn poll_batch(
    func: &'static str,
    s: *mut ringmq_sub,
    max: usize,
    timeout_ms: i32,
    out: *mut ringmq_message,
    out_count: *mut usize,
) -> ringmq_status {
    run(func, || {
        // SAFETY: NULL or live, by this function's contract.
        let s = unsafe { handle(s, "s") }?;
        let out = non_null(out, "out")?;
        let out_count = non_null(out_count, "out_count")?;
        // SAFETY: writable by this function's contract.
        unsafe { out_count.as_ptr().write(0) };
        let pull = s.pull()?;
        if max == 0 {
            return Err(invalid("max 0 must be at least 1"));
        }
        let max = max.min(RINGMQ_POLL_BATCH_MAX as usize);
        // SAFETY: room for `max` messages by this function's contract.
        let n = unsafe { poll_into(pull, max, timeout_ms, out.as_ptr()) }?;
        // SAFETY: writable by this function's contract.
        unsafe { out_count.as_ptr().write(n) };
        if n == 0 {
            return Err(empty(timeout_ms));
        }
        Ok(())
    })
}

/// Settles a pulled delivery of `s` by tag.
fn settle(
    func: &str,
    s: *mut ringmq_sub,
    act: impl FnOnce(&PullSubscription) -> Result<()>,
) -> ringmq_status {
    run(func, || {
        // SAFETY: every exported caller's contract says `s` is NULL or live.
        let s = unsafe { handle(s, "s") }?;
        act(s.pull()?)
    })
}

/// Acks a pulled delivery: done, it will not be delivered again to this
/// subscription. Its `data` must not be read afterwards.
///
/// # Arguments
/// - `s`: the pull subscription it came from.
/// - `delivery_tag`: from the `ringmq_message`.
///
/// # Returns
/// `RINGMQ_OK`; `RINGMQ_INVALID_ARGUMENT` for a NULL `s`, a push
/// subscription, or a tag that is unknown, already settled or expired (its
/// ack timeout passed and it was redelivered); `RINGMQ_CLOSED`.
///
/// # Safety
/// `s` is NULL or live. Thread-safe: any thread may settle any delivery.
#[no_mangle]
pub unsafe extern "C" fn ringmq_sub_ack(s: *mut ringmq_sub, delivery_tag: u64) -> ringmq_status {
    // SAFETY: this function's contract is ack's.
    unsafe { ack("ringmq_sub_ack", s, delivery_tag) }
}

/// The body of `ringmq_sub_ack`, its errors named `func`.
///
/// # Safety
/// As for `ringmq_sub_ack`.
pub(crate) unsafe fn ack(
    func: &'static str,
    s: *mut ringmq_sub,
    delivery_tag: u64,
) -> ringmq_status {
    settle(func, s, |p| {
        // SAFETY: ack_tag requires that no `Delivery` value with this tag
        // exists; the C API never keeps one (ringmq_sub_poll turns each into its
        // raw tag before returning).
        unsafe { p.ack_tag(delivery_tag) }
    })
}

/// Acks many pulled deliveries of one subscription, for example a whole
/// `ringmq_sub_poll_batch`, in one call. Every tag is tried; the status is that
/// of the first that failed, and the last error names its index.
///
/// # Arguments
/// - `s`: the pull subscription they came from.
/// - `tags`: `count` delivery tags; may be NULL only when `count` is 0.
/// - `count`: how many.
///
/// # Returns
/// As `ringmq_sub_ack`; `RINGMQ_INVALID_ARGUMENT` also for NULL `tags` with a
/// non-zero `count`.
///
/// # Safety
/// `s` is NULL or live; `tags` is NULL or has `count` readable values.
/// Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn ringmq_sub_ack_batch(
    s: *mut ringmq_sub,
    tags: *const u64,
    count: usize,
) -> ringmq_status {
    // SAFETY: this function's contract is ack_batch's.
    unsafe { ack_batch("ringmq_sub_ack_batch", s, tags, count) }
}

/// The body of `ringmq_sub_ack_batch`, its errors named `func`.
///
/// # Safety
/// As for `ringmq_sub_ack_batch`.
pub(crate) unsafe fn ack_batch(
    func: &'static str,
    s: *mut ringmq_sub,
    tags: *const u64,
    count: usize,
) -> ringmq_status {
    settle(func, s, |p| {
        if count == 0 {
            return Ok(());
        }
        let tags = non_null(tags, format_args!("tags (with count {count})"))?;
        // SAFETY: `count` readable tags by this function's contract.
        let tags = unsafe { std::slice::from_raw_parts(tags.as_ptr(), count) };
        // SAFETY: no `Delivery` value exists for these tags, as in ringmq_sub_ack.
        unsafe { p.ack_tags(tags) }
    })
}

/// Nacks a pulled delivery: it is redelivered (with `attempt` + 1) after
/// `delay_ms`, or dead-lettered if it has had `max_attempts` deliveries.
/// Its `data` must not be read afterwards.
///
/// # Arguments
/// - `s`, `delivery_tag`: as for `ringmq_sub_ack`.
/// - `delay_ms`: 0 uses the topic's backoff (exponential from
///   `backoff_base_ms` with jitter); otherwise that many milliseconds.
///
/// # Returns
/// As `ringmq_sub_ack`.
///
/// # Safety
/// As for `ringmq_sub_ack`.
#[no_mangle]
pub unsafe extern "C" fn ringmq_sub_nack(
    s: *mut ringmq_sub,
    delivery_tag: u64,
    delay_ms: u32,
) -> ringmq_status {
    // SAFETY: this function's contract is nack's.
    unsafe { nack("ringmq_sub_nack", s, delivery_tag, delay_ms) }
}

/// Gives back a pulled delivery this consumer will not handle (it is
/// shutting down, say): delivered again at once, to any consumer of the
/// subscription, with the same `attempt`: a requeue is not an attempt, so
/// requeues never dead-letter a message (the stats count it among the
/// nacks). A failure is a `ringmq_sub_nack`. Its `data` must not be read
/// afterwards.
///
/// # Arguments
/// - `s`, `delivery_tag`: as for `ringmq_sub_ack`.
///
/// # Returns
/// As `ringmq_sub_ack`.
///
/// # Safety
/// As for `ringmq_sub_ack`.
#[no_mangle]
pub unsafe extern "C" fn ringmq_sub_requeue(
    s: *mut ringmq_sub,
    delivery_tag: u64,
) -> ringmq_status {
    settle("ringmq_sub_requeue", s, |p| {
        // SAFETY: no `Delivery` value exists, as in ringmq_sub_ack.
        unsafe { p.requeue_tag(delivery_tag) }
    })
}

/// The body of `ringmq_sub_nack`, its errors named `func`.
///
/// # Safety
/// As for `ringmq_sub_nack`.
pub(crate) unsafe fn nack(
    func: &'static str,
    s: *mut ringmq_sub,
    delivery_tag: u64,
    delay_ms: u32,
) -> ringmq_status {
    let delay = (delay_ms > 0).then(|| Duration::from_millis(delay_ms.into()));
    settle(func, s, |p| {
        // SAFETY: no `Delivery` value exists, as in ringmq_sub_ack.
        unsafe { p.nack_tag(delivery_tag, delay) }
    })
}

/// Terms a pulled delivery: straight to the topic's dead-letter topic
/// `<name>.dlq`, no more attempts. Its `data` must not be read afterwards.
///
/// # Arguments
/// - `s`: the pull subscription it came from.
/// - `delivery_tag`: from the `ringmq_message`.
///
/// # Returns
/// As `ringmq_sub_ack`.
///
/// # Safety
/// As for `ringmq_sub_ack`.
#[no_mangle]
pub unsafe extern "C" fn ringmq_sub_term(s: *mut ringmq_sub, delivery_tag: u64) -> ringmq_status {
    // SAFETY: this function's contract is term's.
    unsafe { term("ringmq_sub_term", s, delivery_tag) }
}

/// The body of `ringmq_sub_term`, its errors named `func`.
///
/// # Safety
/// As for `ringmq_sub_term`.
pub(crate) unsafe fn term(
    func: &'static str,
    s: *mut ringmq_sub,
    delivery_tag: u64,
) -> ringmq_status {
    settle(func, s, |p| {
        // SAFETY: no `Delivery` value exists, as in ringmq_sub_ack.
        unsafe { p.term_tag(delivery_tag) }
    })
}

/// Marks a pulled delivery as still being worked on: restarts its ack
/// timer, so its `data` stays valid until the new deadline.
///
/// # Arguments
/// - `s`: the pull subscription it came from.
/// - `delivery_tag`: from the `ringmq_message`.
///
/// # Returns
/// As `ringmq_sub_ack`.
///
/// # Safety
/// As for `ringmq_sub_ack`.
#[no_mangle]
pub unsafe extern "C" fn ringmq_sub_in_progress(
    s: *mut ringmq_sub,
    delivery_tag: u64,
) -> ringmq_status {
    // SAFETY: this function's contract is in_progress's.
    unsafe { in_progress("ringmq_sub_in_progress", s, delivery_tag) }
}

/// The body of `ringmq_sub_in_progress`, its errors named `func`.
///
/// # Safety
/// As for `ringmq_sub_in_progress`.
pub(crate) unsafe fn in_progress(
    func: &'static str,
    s: *mut ringmq_sub,
    delivery_tag: u64,
) -> ringmq_status {
    settle(func, s, |p| p.in_progress_tag(delivery_tag))
}

/// Stops the subscription, removes it from its topic, and frees the handle
/// (always, whatever the status). A pull subscription's unsettled
/// deliveries are abandoned: their `data` must not be read afterwards, and
/// the topic stops waiting for them. For a push subscription, handler calls
/// running now finish before it returns, so `user_data` may be freed
/// afterwards; called from inside a push handler, though, it cannot wait
/// (calls on other pool threads may still be finishing).
///
/// # Arguments
/// - `s`: the subscription.
///
/// # Returns
/// `RINGMQ_OK`; `RINGMQ_INVALID_ARGUMENT` for NULL; `RINGMQ_CLOSED` if it
/// was already removed by its broker's close.
///
/// # Safety
/// `s` is NULL or live and not used by any other thread now or afterwards.
#[no_mangle]
pub unsafe extern "C" fn ringmq_sub_unsubscribe(s: *mut ringmq_sub) -> ringmq_status {
    // SAFETY: this function's contract is unsubscribe's.
    unsafe { unsubscribe("ringmq_sub_unsubscribe", s) }
}

/// The body of `ringmq_sub_unsubscribe`, its errors named `func`.
///
/// # Safety
/// As for `ringmq_sub_unsubscribe`.
pub(crate) unsafe fn unsubscribe(func: &'static str, s: *mut ringmq_sub) -> ringmq_status {
    run(func, || {
        non_null(s, "s")?;
        // SAFETY: created by Box::into_raw and not freed yet, by this
        // function's contract; the box frees the handle on every path.
        let s = unsafe { Box::from_raw(s) };
        match &s.kind {
            SubKind::Pull(p) => {
                // SAFETY: unsubscribe_abandoning requires that no payload of
                // this subscription is read afterwards, which this
                // function's C contract demands of the caller.
                unsafe { p.unsubscribe_abandoning() }
            }
            SubKind::Push(p) => p.unsubscribe(),
        }
    })
}

/// Reads the subscription's counters and publish-to-ack latency.
///
/// # Arguments
/// - `s`: the subscription. `out`: receives the counters.
///
/// # Returns
/// `RINGMQ_OK` or `RINGMQ_INVALID_ARGUMENT` (a NULL argument).
///
/// # Safety
/// `s` is NULL or live; `out` is NULL or writable. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn ringmq_sub_get_stats(
    s: *const ringmq_sub,
    out: *mut ringmq_sub_stats,
) -> ringmq_status {
    run("ringmq_sub_get_stats", || {
        // SAFETY: NULL or live, by this function's contract.
        let s = unsafe { handle(s, "s") }?;
        let out = non_null(out, "out")?;
        let stats = match &s.kind {
            SubKind::Pull(p) => p.stats(),
            SubKind::Push(p) => p.stats(),
        };
        // SAFETY: writable by this function's contract.
        unsafe { out.as_ptr().write(ringmq_sub_stats::from(&stats)) };
        Ok(())
    })
}

impl ringmq_sub {
    fn pause(&self, paused: bool) -> Result<()> {
        match (&self.kind, paused) {
            (SubKind::Pull(p), true) => p.pause(),
            (SubKind::Pull(p), false) => p.resume(),
            (SubKind::Push(p), true) => p.pause(),
            (SubKind::Push(p), false) => p.resume(),
        }
    }

    fn why_idle(&self) -> Vec<IdleReason> {
        match &self.kind {
            SubKind::Pull(p) => p.why_idle(),
            SubKind::Push(p) => p.why_idle(),
        }
    }
}

/// Pauses a subscription: it takes no new messages (polls find nothing new,
/// a push handler is not called for them) until `ringmq_sub_resume`.
/// Deliveries in flight can still be settled, and messages waiting for a
/// retry are still delivered. Its stats say `paused` 1 meanwhile.
///
/// # Arguments
/// - `s`: the subscription, pull or push.
///
/// # Returns
/// `RINGMQ_OK` (also when already paused); `RINGMQ_INVALID_ARGUMENT` for
/// NULL; `RINGMQ_CLOSED` once unsubscribed or closed.
///
/// # Safety
/// `s` is NULL or live. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn ringmq_sub_pause(s: *mut ringmq_sub) -> ringmq_status {
    run("ringmq_sub_pause", || {
        // SAFETY: NULL or live, by this function's contract.
        unsafe { handle(s, "s") }?.pause(true)
    })
}

/// Takes new messages again after `ringmq_sub_pause`.
///
/// # Arguments
/// - `s`: the subscription, pull or push.
///
/// # Returns
/// As `ringmq_sub_pause` (`RINGMQ_OK` also when not paused).
///
/// # Safety
/// `s` is NULL or live. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn ringmq_sub_resume(s: *mut ringmq_sub) -> ringmq_status {
    run("ringmq_sub_resume", || {
        // SAFETY: NULL or live, by this function's contract.
        unsafe { handle(s, "s") }?.pause(false)
    })
}

/// Says why the subscription gets nothing now, for example
/// `"paused; waiting for a retry: 2 messages, the next due in 80ms"`: the
/// engine's reasons (paused, rate-limited, `retry_capacity` exhausted,
/// waiting for a retry or a delayed message, nothing published, closed),
/// joined by `"; "`. An empty text means a message is there to take.
///
/// # Arguments
/// - `s`: the subscription, pull or push.
/// - `buf`: receives the NUL-terminated text; may be NULL when `cap` is 0
///   (to ask for the size).
/// - `cap`: bytes available at `buf`.
/// - `needed`: receives the size of the text including its NUL, always
///   (also when `buf` is too small).
///
/// # Returns
/// As `ringmq_broker_metrics_text`: `RINGMQ_OK` when the text fit;
/// `RINGMQ_TOO_LARGE` when `cap` is smaller than `*needed` (`buf` is then
/// left untouched; the text may change before the next call);
/// `RINGMQ_INVALID_ARGUMENT` for a NULL `s`, a NULL `needed`, or a NULL
/// `buf` with a non-zero `cap`. A closed subscription answers `RINGMQ_OK`
/// with the text `"closed"`.
///
/// # Safety
/// `s` is NULL or live; `buf` is NULL or has `cap` writable bytes; `needed`
/// is NULL or writable. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn ringmq_sub_why_idle(
    s: *const ringmq_sub,
    buf: *mut c_char,
    cap: usize,
    needed: *mut usize,
) -> ringmq_status {
    run("ringmq_sub_why_idle", || {
        // SAFETY: NULL or live, by this function's contract.
        let s = unsafe { handle(s, "s") }?;
        let needed = non_null(needed, "needed")?;
        if buf.is_null() && cap > 0 {
            return Err(invalid(format!("buf is NULL but cap is {cap}")));
        }
        let reasons: Vec<String> = s.why_idle().iter().map(ToString::to_string).collect();
        let text = reasons.join("; ");
        // SAFETY: `buf` is NULL only with cap 0, else has `cap` writable
        // bytes; `needed` is writable; by this function's contract.
        unsafe { crate::broker::copy_text("why_idle text", &text, buf, cap, needed) }
    })
}
