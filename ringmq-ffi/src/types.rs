//! The C-visible value types: status codes, option structs, messages and
//! stats. Plain data, `#[repr(C)]`, copied across the boundary.

use std::ffi::{c_char, c_int};
use std::mem::size_of;
use std::time::Duration;

use ringmq_core::{BrokerOptions, Expired, Fsync, Overflow, StartAt, SubOptions, TopicOptions};

use crate::boundary::{invalid, Result};
use crate::sized::{fields, Field, SizedOptions};

/// The result of a call. `RINGMQ_OK` is 0; the other values are fixed and
/// never renumbered or reused (new ones are only ever appended). On any
/// status other than `RINGMQ_OK`, `ringmq_last_error()` on the same thread
/// tells the details.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ringmq_status {
    /// Success.
    RINGMQ_OK = 0,
    /// A NULL pointer, a bad name, a bad option, an unknown or settled
    /// delivery tag, or a call that does not apply to this handle.
    RINGMQ_INVALID_ARGUMENT = 1,
    /// The topic is full and its overflow policy is `RINGMQ_OVERFLOW_REJECT`.
    RINGMQ_FULL = 2,
    /// A blocking call ran out of time (a publish into a full topic under
    /// `RINGMQ_OVERFLOW_BLOCK`).
    RINGMQ_TIMEOUT = 3,
    /// A payload larger than the topic's `slot_size`, or a buffer too small
    /// for the answer (`ringmq_broker_metrics_text`).
    RINGMQ_TOO_LARGE = 4,
    /// No topic or subscription of that name.
    RINGMQ_NOT_FOUND = 5,
    /// A topic or subscription of that name already exists.
    RINGMQ_EXISTS = 6,
    /// The broker, topic or subscription is closed.
    RINGMQ_CLOSED = 7,
    /// No message arrived within the timeout (`ringmq_sub_poll`).
    RINGMQ_EMPTY = 8,
    /// A fault inside the library (a caught panic); the broker may still be
    /// usable, but report it.
    RINGMQ_INTERNAL = 9,
    /// A blocked poll was ended by `ringmq_sub_wake` and took nothing.
    RINGMQ_INTERRUPTED = 10,
    /// Reading or writing a durable topic's files failed (disk full,
    /// permissions, a damaged log); `ringmq_last_error` names the file.
    RINGMQ_IO = 11,
}

/// What a publish does when the topic's ring is full
/// (`ringmq_topic_options.overflow`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ringmq_overflow {
    /// Wait for room up to the publish's timeout, then `RINGMQ_TIMEOUT`.
    RINGMQ_OVERFLOW_BLOCK = 0,
    /// Fail at once with `RINGMQ_FULL`.
    RINGMQ_OVERFLOW_REJECT = 1,
    /// Overwrite the oldest message; subscriptions that had not consumed it
    /// count it as dropped (every subscription is lossy).
    RINGMQ_OVERFLOW_DROP_OLDEST = 2,
}

/// Where a new subscription starts reading (`ringmq_sub_options.start`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ringmq_start {
    /// Messages published after the subscription was created.
    RINGMQ_START_LATEST = 0,
    /// The oldest message still in the ring: a topic keeps its last
    /// `capacity` messages for late subscriptions (its dead-letter topic
    /// too).
    RINGMQ_START_EARLIEST = 1,
}

/// When a durable topic's appends are fsynced (`ringmq_topic_options.fsync`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ringmq_fsync {
    /// Each publish returns after the fsync of its own message.
    RINGMQ_FSYNC_ALWAYS = 0,
    /// Group commit: a publish returns after the fsync that covers it.
    RINGMQ_FSYNC_BATCH = 1,
    /// Publishes return at once; fsync every `fsync_interval_ms`.
    RINGMQ_FSYNC_INTERVAL = 2,
    /// Never fsynced by RingMQ: left to the operating system.
    RINGMQ_FSYNC_NEVER = 3,
}

/// What becomes of an expired message (`ringmq_topic_options.expired`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ringmq_expired {
    /// To the dead-letter topic with the reason "expired".
    RINGMQ_EXPIRED_DEAD_LETTER = 0,
    /// Dropped (still counted as `expired_messages`).
    RINGMQ_EXPIRED_DROP = 1,
}

// C may store any integer in an enum-typed field or argument, and a Rust
// enum holding an undeclared value is undefined behaviour. So inputs are
// read as plain integers and checked; the header still shows the enum types
// (cbindgen.toml renames these aliases and does not emit them).

/// A `ringmq_status` as received from C.
pub type ringmq_status_in = c_int;
/// A `ringmq_overflow` as received from C.
pub type ringmq_overflow_in = u32;
/// A `ringmq_start` as received from C.
pub type ringmq_start_in = u32;
/// A `ringmq_expired` as received from C.
pub type ringmq_expired_in = u32;
/// A `ringmq_fsync` as received from C.
pub type ringmq_fsync_in = u32;

/// Options of `ringmq_broker_new`. Fill with `ringmq_broker_options_default`
/// first, then change what you need: fields are appended in later versions
/// (`struct_size` tells the library which ones the caller has).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ringmq_broker_options {
    /// `sizeof` this struct as the caller's header declares it, set by
    /// `ringmq_broker_options_default`: the library reads the fields an older
    /// header has (the others keep their defaults) and refuses the options
    /// of a newer header that it does not have, unless they are 0.
    pub struct_size: u32,
    /// Fewest pool workers kept alive (default 1).
    pub workers_min: u32,
    /// Most pool workers, 1..=1024 (default: the available parallelism).
    pub workers_max: u32,
    /// A worker idle this long above `workers_min` exits (default 30000).
    pub idle_timeout_ms: u64,
    /// Where durable topics keep their logs and checkpoints: a
    /// NUL-terminated path, read during `ringmq_broker_new` only (default
    /// NULL: memory only). The broker locks it: a second broker opening it
    /// gets `RINGMQ_EXISTS`. Every durable topic in it is recovered.
    pub data_dir: *const c_char,
    /// On recovery, cut a durable log at damage found before its end instead
    /// of opening that topic read only (default false).
    pub repair: bool,
    /// A process-wide name (NUL-terminated, 1 to 255 bytes of UTF-8 without
    /// control characters; read during `ringmq_broker_new` only), under which
    /// `ringmq_broker_open` gives other threads, and the Python and Node
    /// bindings in the same process (`Broker.open`), handles to this broker
    /// (default NULL: unnamed). A name in use answers `RINGMQ_EXISTS`.
    pub name: *const c_char,
}

/// Options of `ringmq_topic_create`. Fill with `ringmq_topic_options_default`
/// first, then change what you need: fields are appended in later versions
/// (`struct_size` tells the library which ones the caller has).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ringmq_topic_options {
    /// `sizeof` this struct as the caller's header declares it, set by
    /// `ringmq_topic_options_default`: the library reads the fields an older
    /// header has (the others keep their defaults) and refuses the options
    /// of a newer header that it does not have, unless they are 0.
    pub struct_size: u32,
    /// Slots in the ring: a power of two, at most 2^24 (default 1024).
    pub capacity: usize,
    /// Largest payload in bytes, 1..=2^24 (default 256).
    pub slot_size: usize,
    /// A `ringmq_overflow` (default `RINGMQ_OVERFLOW_BLOCK`).
    pub overflow: ringmq_overflow_in,
    /// Deliveries of one message before it is dead-lettered, at least 1
    /// (default 4: the first try and 3 retries).
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt, with jitter (default 100).
    pub backoff_base_ms: u64,
    /// Cap of the retry delay, at least `backoff_base_ms` (default 10000).
    pub backoff_max_ms: u64,
    /// A pulled delivery not settled within this is redelivered (default
    /// 30000; must be positive).
    pub ack_timeout_ms: u64,
    /// Messages one subscription may hold outside the ring while they wait
    /// for a retry; 0 means `capacity` (default 0).
    pub retry_capacity: usize,
    /// Most header bytes per message (name + value + 4 each), apart from
    /// `slot_size`; at most 65535 (default 1024).
    pub max_header_bytes: usize,
    /// Most delayed messages waiting at once; 0 means `capacity` (default 0).
    pub max_delayed: usize,
    /// Messages older than this are expired, never delivered; 0 for no
    /// limit (default 0).
    pub max_age_ms: u64,
    /// A `ringmq_expired` (default `RINGMQ_EXPIRED_DEAD_LETTER`).
    pub expired: ringmq_expired_in,
    /// How long a msg_id is remembered for de-duplication (default 120000).
    pub dedupe_window_ms: u64,
    /// Most msg_ids remembered at once; 0 means 4 x `capacity` (default 0).
    pub dedupe_max: usize,
    /// Keep messages and subscription positions in a log in the broker's
    /// `data_dir` (default false).
    pub durable: bool,
    /// A `ringmq_fsync` (default `RINGMQ_FSYNC_BATCH`).
    pub fsync: ringmq_fsync_in,
    /// Fsync period of an interval topic, and checkpoint period of durable
    /// subscriptions (default 50; must be positive).
    pub fsync_interval_ms: u64,
    /// Bytes of one log segment file, 4096..=2^40 (default 67108864).
    pub segment_bytes: usize,
    /// Most bytes a durable topic's log keeps, at least two segments; past
    /// it the overflow policy acts when a subscription still needs the
    /// oldest segment (default 0: no limit).
    pub max_bytes: usize,
}

/// Options of `ringmq_topic_subscribe`, `ringmq_topic_subscribe_ex` and
/// `ringmq_topic_subscribe_pull`. Fill with `ringmq_sub_options_default`
/// first, then change what you need: fields are appended in later versions
/// (`struct_size` tells the library which ones the caller has).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ringmq_sub_options {
    /// `sizeof` this struct as the caller's header declares it, set by
    /// `ringmq_sub_options_default`: the library reads the fields an older
    /// header has (the others keep their defaults) and refuses the options
    /// of a newer header that it does not have, unless they are 0.
    pub struct_size: u32,
    /// Push: most handler calls of this subscription at once, 1..=65536
    /// (default 1).
    pub concurrency: u32,
    /// Push: messages with the same key are handled in publish order, never
    /// two at once (default false).
    pub ordered_by_key: bool,
    /// Never hold producers back: when more than a ring behind, skip ahead
    /// and count the skipped messages as dropped (default false).
    pub lossy: bool,
    /// A `ringmq_start` (default `RINGMQ_START_LATEST`).
    pub start: ringmq_start_in,
    /// Unordered subscriptions: most deliveries of one key in flight at
    /// once; 0 for no limit (default 0).
    pub max_in_flight_per_key: u32,
    /// Most messages per second handed to consumers; 0 for no limit
    /// (default 0). Negative, NaN or infinite values are refused.
    pub rate_limit: f64,
    /// Messages that may go at once after idling; 0 means one second's
    /// worth of `rate_limit` (default 0).
    pub rate_burst: u32,
    /// Start at the message with this id (the oldest still in the ring if
    /// it is gone), overriding `start`; `RINGMQ_NO_ID` (UINT64_MAX, the
    /// default) for none.
    pub start_at_id: u64,
    /// Start at the first message published at or after this time,
    /// nanoseconds since the Unix epoch, overriding `start`; 0 (the
    /// default) for none.
    pub start_at_time_ns: i64,
}

/// `ringmq_sub_options.start_at_id`: no id given.
pub const RINGMQ_NO_ID: u64 = u64::MAX;

/// A delivered message.
///
/// From `ringmq_sub_poll`: `data` stays valid until this delivery is settled
/// (`ringmq_sub_ack`, `ringmq_sub_nack`, `ringmq_sub_term`), its subscription
/// is unsubscribed, or its ack timeout passes (`ringmq_sub_in_progress` moves
/// it), whichever comes first; the struct itself is the caller's. In a push
/// handler: the message and `data` are valid during the call only, and
/// `delivery_tag` is 0 (the handler's return value settles it).
///
/// A message of a dead-letter topic (`<name>.dlq`) also says why it was
/// dead-lettered and which consumer group of `<name>` gave up on it; the
/// texts are the engine's, the same in every language. Fields are only ever
/// appended to this struct.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ringmq_message {
    /// The topic's sequence number; dead letters keep the original id.
    pub id: u64,
    /// The key given to the publish (0 by default).
    pub key: u64,
    /// Publish time in nanoseconds since the Unix epoch.
    pub timestamp_ns: i64,
    /// 1 on the first delivery, then 2, 3 … on retries. Dead letters keep
    /// the count: a message dead-lettered after 4 deliveries comes out of
    /// the dead-letter topic with attempt 4 (its retries there count on).
    pub attempt: u32,
    /// Payload length in bytes.
    pub len: u32,
    /// The payload, `len` bytes, read-only (not NUL-terminated).
    pub data: *const u8,
    /// Identifies this delivery to `ringmq_sub_ack` and friends (pull only).
    pub delivery_tag: u64,
    /// For a message of a dead-letter topic: the failure that sent it there
    /// (a nack's or term's reason; `"nacked"`, `"termed"` or
    /// `"ack timeout"`; a handler's error text such as
    /// `"handler returned 3"`; prefixed with
    /// `"failed N deliveries (max_attempts M): "` when the message ran out of
    /// attempts). NUL-terminated, with `dead_letter_reason_len` bytes before
    /// the NUL (which counts, should a reason contain a NUL of its own).
    /// NULL for any other message. Valid as long as `data`.
    pub dead_letter_reason: *const c_char,
    /// Length of `dead_letter_reason` in bytes, without the NUL (0 when it
    /// is NULL).
    pub dead_letter_reason_len: usize,
    /// For a message of a dead-letter topic: the consumer group that
    /// dead-lettered it, NUL-terminated. NULL for any other message. Valid
    /// as long as `data`.
    pub dead_letter_group: *const c_char,
    /// Length of `dead_letter_group` in bytes, without the NUL (0 when it is
    /// NULL).
    pub dead_letter_group_len: usize,
    /// How many headers the message has (0 for none); read them with
    /// `ringmq_message_header` and `ringmq_message_header_get`. (This field
    /// and the four after it were appended with headers and msg_id: the
    /// struct grew, so a program built against an older header must be
    /// rebuilt.)
    pub header_count: u32,
    /// The id the message was published with for de-duplication
    /// (`ringmq_publish_options.msg_id`), `msg_id_len` bytes, not
    /// NUL-terminated; NULL when it has none. Valid as long as `data`.
    pub msg_id: *const u8,
    /// Length of `msg_id` in bytes (0 when it is NULL).
    pub msg_id_len: usize,
    /// For `ringmq_message_header` and `ringmq_message_header_get` only:
    /// where the library finds the headers. Not to be read or changed.
    pub ext: *const std::ffi::c_void,
    /// For `ringmq_message_header` and `ringmq_message_header_get` only.
    pub ext_len: usize,
}

impl ringmq_message {
    pub(crate) const EMPTY: ringmq_message = ringmq_message {
        id: 0,
        key: 0,
        timestamp_ns: 0,
        attempt: 0,
        len: 0,
        data: std::ptr::null(),
        delivery_tag: 0,
        dead_letter_reason: std::ptr::null(),
        dead_letter_reason_len: 0,
        dead_letter_group: std::ptr::null(),
        dead_letter_group_len: 0,
        header_count: 0,
        msg_id: std::ptr::null(),
        msg_id_len: 0,
        ext: std::ptr::null(),
        ext_len: 0,
    };

    /// Sets the dead-letter fields from the engine's texts, which are
    /// followed in memory by a NUL (the core documents so), so their
    /// pointers are C strings.
    pub(crate) fn set_dead_letter(&mut self, reason: Option<&str>, group: Option<&str>) {
        let c = |s: Option<&str>| s.map_or((std::ptr::null(), 0), |s| (s.as_ptr().cast(), s.len()));
        (self.dead_letter_reason, self.dead_letter_reason_len) = c(reason);
        (self.dead_letter_group, self.dead_letter_group_len) = c(group);
    }

    /// Sets the msg_id and header fields. `ext` is what
    /// `ringmq_message_header` reads the headers from: the encoded block
    /// (pulled messages, whose block is pinned like the payload) or, with
    /// `ext_len` [`EXT_VIEW`], a `Headers` view that lives during a push
    /// handler's call.
    pub(crate) fn set_ext(
        &mut self,
        msg_id: Option<&[u8]>,
        header_count: usize,
        ext: *const std::ffi::c_void,
        ext_len: usize,
    ) {
        (self.msg_id, self.msg_id_len) =
            msg_id.map_or((std::ptr::null(), 0), |id| (id.as_ptr(), id.len()));
        // At most u16::MAX headers fit in a block.
        self.header_count = header_count.min(u32::MAX as usize) as u32;
        if header_count == 0 {
            (self.ext, self.ext_len) = (std::ptr::null(), 0);
        } else {
            (self.ext, self.ext_len) = (ext, ext_len);
        }
    }
}

/// `ringmq_message.ext_len` when `ext` points to a `Headers` view rather
/// than to an encoded block (a push handler's message).
pub(crate) const EXT_VIEW: usize = usize::MAX;

/// One header of a message to publish (`ringmq_publish_options.headers`):
/// a name of 1 to 255 bytes of UTF-8 without control characters, and a
/// value of any bytes. Neither is NUL-terminated: the lengths count. A
/// pointer may be NULL only when its length is 0.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ringmq_header {
    /// The name, `name_len` bytes of UTF-8.
    pub name: *const c_char,
    pub name_len: usize,
    /// The value, `value_len` bytes of anything.
    pub value: *const u8,
    pub value_len: usize,
}

/// Options of `ringmq_topic_publish_ex`. Fill with
/// `ringmq_publish_options_default` first, then change what you need:
/// fields are appended in later versions (`struct_size` tells the library
/// which ones the caller has).
/// Every pointer is read during the call only (the library copies what it
/// keeps).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ringmq_publish_options {
    /// `sizeof` this struct as the caller's header declares it, set by
    /// `ringmq_publish_options_default`: the library reads the fields an older
    /// header has (the others keep their defaults) and refuses the options
    /// of a newer header that it does not have, unless they are 0.
    pub struct_size: u32,
    /// The message's key (for `ordered_by_key`), 0 if unused (default 0).
    pub key: u64,
    /// As `ringmq_topic_publish`'s: -1 waits for room for ever, 0 tries once,
    /// else milliseconds (default -1).
    pub timeout_ms: i32,
    /// `header_count` headers, kept in this order (names may repeat); may
    /// be NULL only when `header_count` is 0 (default NULL). Together they
    /// take at most the topic's `max_header_bytes` (each header counts its
    /// name, its value and 4 bytes), else `RINGMQ_TOO_LARGE`.
    pub headers: *const ringmq_header,
    /// Number of headers (default 0).
    pub header_count: usize,
    /// An id for de-duplication, `msg_id_len` bytes of anything (default
    /// NULL): publishing the same id again within the topic's
    /// `dedupe_window_ms` stores nothing and answers the first message's id.
    pub msg_id: *const u8,
    /// Length of `msg_id`, 0 for none, at most 128 (default 0).
    pub msg_id_len: usize,
    /// Deliverable no earlier than this many milliseconds from now; 0 for at
    /// once (default 0). The message's id is taken at the publish.
    pub delay_ms: u64,
    /// The message expires this many milliseconds after the publish and is
    /// never delivered (the topic's `expired` policy says whether it is
    /// dead-lettered with the reason "expired" or dropped); 0 for no ttl
    /// (default 0). With the topic's `max_age_ms`, the sooner counts.
    pub ttl_ms: u64,
}

impl Default for ringmq_publish_options {
    fn default() -> Self {
        ringmq_publish_options {
            struct_size: size_of::<Self>() as u32,
            key: 0,
            timeout_ms: -1,
            headers: std::ptr::null(),
            header_count: 0,
            msg_id: std::ptr::null(),
            msg_id_len: 0,
            delay_ms: 0,
            ttl_ms: 0,
        }
    }
}

// SAFETY (all four impls): `#[repr(C)]` structs whose first field is
// `struct_size: u32`; the tables list every field in order (a test checks
// them against the structs); C fills them with their `_default` functions.

// SAFETY: see above.
unsafe impl SizedOptions for ringmq_broker_options {
    const NAME: &'static str = "ringmq_broker_options";
    const FIELDS: &'static [Field] = fields!(ringmq_broker_options:
        struct_size, workers_min, workers_max, idle_timeout_ms, data_dir, repair, name);
    /// DESIGN/1.0's: up to `idle_timeout_ms`.
    const FIRST_FIELDS: usize = 4;
    fn defaults() -> Self {
        Self::from(&BrokerOptions::default())
    }
}

// SAFETY: see above.
unsafe impl SizedOptions for ringmq_topic_options {
    const NAME: &'static str = "ringmq_topic_options";
    const FIELDS: &'static [Field] = fields!(ringmq_topic_options:
        struct_size, capacity, slot_size, overflow, max_attempts, backoff_base_ms,
        backoff_max_ms, ack_timeout_ms, retry_capacity, max_header_bytes, max_delayed,
        max_age_ms, expired, dedupe_window_ms, dedupe_max, durable, fsync,
        fsync_interval_ms, segment_bytes, max_bytes);
    /// DESIGN/1.0's: up to `ack_timeout_ms`.
    const FIRST_FIELDS: usize = 8;
    fn defaults() -> Self {
        Self::from(&TopicOptions::default())
    }
}

// SAFETY: see above.
unsafe impl SizedOptions for ringmq_sub_options {
    const NAME: &'static str = "ringmq_sub_options";
    const FIELDS: &'static [Field] = fields!(ringmq_sub_options:
        struct_size, concurrency, ordered_by_key, lossy, start, max_in_flight_per_key,
        rate_limit, rate_burst, start_at_id, start_at_time_ns);
    /// DESIGN/1.0's: up to `start`.
    const FIRST_FIELDS: usize = 5;
    fn defaults() -> Self {
        Self::from(&SubOptions::default())
    }
}

// SAFETY: see above.
unsafe impl SizedOptions for ringmq_publish_options {
    const NAME: &'static str = "ringmq_publish_options";
    const FIELDS: &'static [Field] = fields!(ringmq_publish_options:
        struct_size, key, timeout_ms, headers, header_count, msg_id, msg_id_len, delay_ms,
        ttl_ms);
    /// Every field: they came together, with headers.
    const FIRST_FIELDS: usize = 9;
    fn defaults() -> Self {
        Self::default()
    }
}

/// What a `ringmq_handler_ex` returns to settle its message.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ringmq_handler_result {
    /// Done: acked.
    RINGMQ_HANDLER_ACK = 0,
    /// Failed: retried after the topic's backoff (dead-lettered after
    /// `max_attempts` deliveries) with the failure text "nacked".
    RINGMQ_HANDLER_NACK = 1,
    /// Poison: straight to the dead-letter topic, no more attempts, with the
    /// reason "termed".
    RINGMQ_HANDLER_TERM = 2,
    /// Failed: retried after the `*retry_after_ms` the handler wrote (still
    /// dead-lettered after `max_attempts` deliveries).
    RINGMQ_HANDLER_RETRY_AFTER = 3,
}

/// One payload of `ringmq_topic_publish_batch`: `len` bytes at `data` (which
/// may be NULL only when `len` is 0).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ringmq_buf {
    pub data: *const std::ffi::c_void,
    pub len: usize,
}

/// Handler of a push subscription, called on one of the broker's pool
/// threads with a message valid during the call. Return 0 to ack; any other
/// value nacks (the message is retried after the topic's backoff and
/// dead-lettered after `max_attempts` deliveries). It must not unwind or
/// `longjmp` out (no C++ exception may escape it).
pub type ringmq_handler =
    Option<unsafe extern "C" fn(m: *const ringmq_message, user_data: *mut std::ffi::c_void) -> i32>;

/// Handler of a push subscription made by `ringmq_topic_subscribe_ex`, called
/// as a `ringmq_handler` is, with one more argument: `retry_after_ms` points to
/// a `uint32_t` (0 at the call) the handler sets before it returns
/// `RINGMQ_HANDLER_RETRY_AFTER`. It returns a `ringmq_handler_result`:
/// `RINGMQ_HANDLER_ACK`, `_NACK`, `_TERM` or `_RETRY_AFTER`; any other value
/// nacks with the failure text `"handler returned N"`. It must not unwind or
/// `longjmp` out.
pub type ringmq_handler_ex = Option<
    unsafe extern "C" fn(
        m: *const ringmq_message,
        user_data: *mut std::ffi::c_void,
        retry_after_ms: *mut u32,
    ) -> i32,
>;

/// Called on every failure of a push handler of a broker
/// (`ringmq_broker_set_error_callback`), on the handler's pool thread, after
/// the failure is settled: the topic and consumer group, the message's id
/// and attempt (1 on its first delivery), the failure's text (such as
/// `"handler returned 3"`, `"nacked"`, `"termed"` or `"retry after 250ms"`)
/// and whether the message went to the dead-letter topic (a term, or its
/// last attempt) rather than being retried. The strings are NUL-terminated
/// and valid during the call only. It may run on several pool threads at
/// once, and must not unwind or `longjmp` out.
pub type ringmq_error_callback = Option<
    unsafe extern "C" fn(
        topic: *const c_char,
        group: *const c_char,
        id: u64,
        attempt: u32,
        error: *const c_char,
        dead_lettered: bool,
        user_data: *mut std::ffi::c_void,
    ),
>;

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn clamp_ms(d: Duration) -> u64 {
    d.as_millis().min(u64::MAX as u128) as u64
}

/// The core value a C enum field holds: its position in the core's `ALL`,
/// whose spellings name the C constants (`RINGMQ_<PREFIX>_<NAME>`).
fn c_enum<T: Copy>(what: &str, prefix: &str, v: u32, all: &[T], names: &[&str]) -> Result<T> {
    all.get(v as usize).copied().ok_or_else(|| {
        let known: Vec<String> = names
            .iter()
            .enumerate()
            .map(|(i, n)| format!("RINGMQ_{prefix}_{} ({i})", n.to_uppercase()))
            .collect();
        invalid(format!("{what} {v} is not one of {}", known.join(", ")))
    })
}

impl From<&BrokerOptions> for ringmq_broker_options {
    fn from(o: &BrokerOptions) -> Self {
        ringmq_broker_options {
            struct_size: size_of::<Self>() as u32,
            workers_min: o.workers_min.min(u32::MAX as usize) as u32,
            workers_max: o.workers_max.min(u32::MAX as usize) as u32,
            idle_timeout_ms: clamp_ms(o.idle_timeout),
            // A path cannot be lent to C from here: the default is NULL.
            data_dir: std::ptr::null(),
            repair: o.repair,
            // As for data_dir: NULL.
            name: std::ptr::null(),
        }
    }
}

impl ringmq_broker_options {
    /// The core's options.
    ///
    /// # Safety
    /// `data_dir` and `name` are NULL or NUL-terminated strings.
    pub(crate) unsafe fn to_core(self) -> Result<BrokerOptions> {
        let data_dir = (!self.data_dir.is_null()).then(|| {
            use std::os::unix::ffi::OsStrExt;
            // SAFETY: NULL was ruled out; NUL-terminated by the contract.
            let bytes = unsafe { std::ffi::CStr::from_ptr(self.data_dir) }.to_bytes();
            std::path::PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
        });
        let name = if self.name.is_null() {
            None
        } else {
            // SAFETY: not NULL; NUL-terminated by the contract.
            Some(unsafe { crate::boundary::name(self.name, "broker") }?.to_owned())
        };
        Ok(BrokerOptions {
            workers_min: self.workers_min as usize,
            workers_max: self.workers_max as usize,
            idle_timeout: ms(self.idle_timeout_ms),
            data_dir,
            repair: self.repair,
            name,
        })
    }
}

impl From<&TopicOptions> for ringmq_topic_options {
    fn from(o: &TopicOptions) -> Self {
        ringmq_topic_options {
            struct_size: size_of::<Self>() as u32,
            capacity: o.capacity,
            slot_size: o.slot_size,
            // The C values are the positions in `Overflow::ALL` (a test
            // checks the enum against the core's spellings).
            overflow: o.overflow as u32,
            max_attempts: o.max_attempts,
            backoff_base_ms: clamp_ms(o.backoff_base),
            backoff_max_ms: clamp_ms(o.backoff_max),
            ack_timeout_ms: clamp_ms(o.ack_timeout),
            retry_capacity: o.retry_capacity,
            max_header_bytes: o.max_header_bytes,
            max_delayed: o.max_delayed,
            max_age_ms: clamp_ms(o.max_age),
            expired: o.expired as u32,
            dedupe_window_ms: clamp_ms(o.dedupe_window),
            dedupe_max: o.dedupe_max,
            durable: o.durable,
            fsync: o.fsync as u32,
            fsync_interval_ms: clamp_ms(o.fsync_interval),
            segment_bytes: o.segment_bytes,
            max_bytes: o.max_bytes,
        }
    }
}

impl ringmq_topic_options {
    /// The core's options; the core validates the numbers, this checks the
    /// enum.
    pub(crate) fn to_core(self) -> Result<TopicOptions> {
        let overflow = c_enum(
            "overflow",
            "OVERFLOW",
            self.overflow,
            &Overflow::ALL,
            &Overflow::NAMES,
        )?;
        Ok(TopicOptions {
            capacity: self.capacity,
            slot_size: self.slot_size,
            overflow,
            max_attempts: self.max_attempts,
            backoff_base: ms(self.backoff_base_ms),
            backoff_max: ms(self.backoff_max_ms),
            ack_timeout: ms(self.ack_timeout_ms),
            retry_capacity: self.retry_capacity,
            max_header_bytes: self.max_header_bytes,
            max_delayed: self.max_delayed,
            max_age: ms(self.max_age_ms),
            expired: c_enum(
                "expired",
                "EXPIRED",
                self.expired,
                &Expired::ALL,
                &Expired::NAMES,
            )?,
            dedupe_window: ms(self.dedupe_window_ms),
            dedupe_max: self.dedupe_max,
            durable: self.durable,
            fsync: c_enum("fsync", "FSYNC", self.fsync, &Fsync::ALL, &Fsync::NAMES)?,
            fsync_interval: ms(self.fsync_interval_ms),
            segment_bytes: self.segment_bytes,
            max_bytes: self.max_bytes,
        })
    }
}

impl From<&SubOptions> for ringmq_sub_options {
    fn from(o: &SubOptions) -> Self {
        ringmq_sub_options {
            struct_size: size_of::<Self>() as u32,
            concurrency: o.concurrency.min(u32::MAX as usize) as u32,
            ordered_by_key: o.ordered_by_key,
            lossy: o.lossy,
            start: o.start as u32,
            max_in_flight_per_key: o.max_in_flight_per_key,
            rate_limit: o.rate_limit.unwrap_or(0.0),
            rate_burst: o.rate_burst,
            start_at_id: o.start_at_id.unwrap_or(RINGMQ_NO_ID),
            start_at_time_ns: o
                .start_at_time
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos().min(i64::MAX as u128) as i64),
        }
    }
}

impl ringmq_sub_options {
    pub(crate) fn to_core(self) -> Result<SubOptions> {
        let start = c_enum("start", "START", self.start, &StartAt::ALL, &StartAt::NAMES)?;
        Ok(SubOptions {
            concurrency: self.concurrency as usize,
            ordered_by_key: self.ordered_by_key,
            lossy: self.lossy,
            start,
            max_in_flight_per_key: self.max_in_flight_per_key,
            // 0 is C's "no limit"; the core refuses what is left that is
            // not a positive, finite rate.
            rate_limit: (self.rate_limit != 0.0).then_some(self.rate_limit),
            rate_burst: self.rate_burst,
            start_at_id: (self.start_at_id != RINGMQ_NO_ID).then_some(self.start_at_id),
            start_at_time: match self.start_at_time_ns {
                0 => None,
                ns if ns < 0 => return Err(invalid(format!("start_at_time_ns {ns} is negative"))),
                ns => Some(std::time::UNIX_EPOCH + Duration::from_nanos(ns as u64)),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_is_the_crate_version() {
        // SAFETY: ringmq_version returns a static NUL-terminated string.
        let v = unsafe { std::ffi::CStr::from_ptr(crate::ringmq_version()) };
        assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn options_round_trip_through_the_defaults() {
        let t = ringmq_topic_options::from(&TopicOptions::default());
        let back = t.to_core().unwrap();
        assert_eq!(ringmq_topic_options::from(&back).capacity, 1024);
        assert_eq!(back.overflow, Overflow::Block);
        assert_eq!(back.backoff_base, Duration::from_millis(100));
        let bad = ringmq_topic_options { overflow: 3, ..t };
        assert!(bad.to_core().unwrap_err().message().contains("overflow 3"));
        let s = ringmq_sub_options::from(&SubOptions::default());
        assert_eq!(s.to_core().unwrap().start, StartAt::Latest);
        let bad = ringmq_sub_options { start: 9, ..s };
        assert!(bad.to_core().is_err());
    }

    #[test]
    fn c_enums_are_the_core_spellings_in_order() {
        use ringmq_overflow::*;
        use ringmq_start::*;
        let overflow = [
            RINGMQ_OVERFLOW_BLOCK,
            RINGMQ_OVERFLOW_REJECT,
            RINGMQ_OVERFLOW_DROP_OLDEST,
        ];
        assert_eq!(overflow.len(), Overflow::NAMES.len());
        for (i, (c, name)) in overflow.iter().zip(Overflow::NAMES).enumerate() {
            assert_eq!(*c as usize, i);
            assert_eq!(
                format!("{c:?}"),
                format!("RINGMQ_OVERFLOW_{}", name.to_uppercase())
            );
            assert_eq!(Overflow::ALL[i] as usize, i);
        }
        let start = [RINGMQ_START_LATEST, RINGMQ_START_EARLIEST];
        assert_eq!(start.len(), StartAt::NAMES.len());
        for (i, (c, name)) in start.iter().zip(StartAt::NAMES).enumerate() {
            assert_eq!(*c as usize, i);
            assert_eq!(
                format!("{c:?}"),
                format!("RINGMQ_START_{}", name.to_uppercase())
            );
            assert_eq!(StartAt::ALL[i] as usize, i);
        }
        use ringmq_fsync::*;
        let fsync = [
            RINGMQ_FSYNC_ALWAYS,
            RINGMQ_FSYNC_BATCH,
            RINGMQ_FSYNC_INTERVAL,
            RINGMQ_FSYNC_NEVER,
        ];
        assert_eq!(fsync.len(), Fsync::NAMES.len());
        for (i, (c, name)) in fsync.iter().zip(Fsync::NAMES).enumerate() {
            assert_eq!(*c as usize, i);
            assert_eq!(
                format!("{c:?}"),
                format!("RINGMQ_FSYNC_{}", name.to_uppercase())
            );
            assert_eq!(Fsync::ALL[i] as usize, i);
        }
        let e = ringmq_topic_options {
            overflow: 3,
            ..ringmq_topic_options::from(&TopicOptions::default())
        }
        .to_core()
        .unwrap_err();
        assert_eq!(
            e.message(),
            "overflow 3 is not one of RINGMQ_OVERFLOW_BLOCK (0), RINGMQ_OVERFLOW_REJECT (1), \
             RINGMQ_OVERFLOW_DROP_OLDEST (2)"
        );
    }

    #[test]
    fn statuses_are_the_core_error_kinds() {
        for k in ringmq_core::ErrorKind::ALL {
            let s = crate::boundary::status_of(k);
            assert_eq!(s as u32, k as u32);
            assert_eq!(format!("{s:?}"), k.c_status());
        }
    }

    /// `(field, value)` pairs of a struct's derived Debug text.
    fn debug_fields(v: &impl std::fmt::Debug) -> Vec<(String, String)> {
        let text = format!("{v:?}");
        let inner = &text[text.find('{').unwrap() + 1..text.rfind('}').unwrap()];
        inner
            .split(',')
            .map(|kv| {
                let (k, v) = kv.split_once(':').unwrap();
                (k.trim().to_owned(), v.trim().to_owned())
            })
            .collect()
    }

    /// The C options structs have the core's options, in order, named by
    /// the rule (durations in `_ms`), with the core's defaults.
    fn check_options<O: ringmq_core::surface::OptionsTable>(c_default: impl std::fmt::Debug) {
        use ringmq_core::surface::{OptionKind, OptionValue};
        let mut got = debug_fields(&c_default);
        // The ABI's own field, not an option.
        assert_eq!(got.remove(0).0, "struct_size");
        let fields: Vec<_> = O::FIELDS.iter().collect();
        let names: Vec<String> = fields.iter().map(|f| f.c_name()).collect();
        let got_names: Vec<String> = got.iter().map(|(k, _)| k.clone()).collect();
        assert_eq!(
            got_names,
            names,
            "the C {} options differ from the core's table",
            O::SCOPE
        );
        for (f, (_, value)) in fields.iter().zip(&got) {
            let want = match (f.default, f.kind) {
                (OptionValue::Int(n) | OptionValue::Millis(n), _) => n.to_string(),
                (OptionValue::Bool(b), _) => b.to_string(),
                (OptionValue::Choice(c), OptionKind::Choice(all)) => {
                    all.iter().position(|n| *n == c).unwrap().to_string()
                }
                (OptionValue::Unset, OptionKind::Rate) => "0.0".to_owned(),
                (OptionValue::Unset, OptionKind::Id) => u64::MAX.to_string(),
                (OptionValue::Unset, OptionKind::Time) => "0".to_owned(),
                _ => continue,
            };
            assert_eq!(
                *value,
                want,
                "default of the C {} option {}",
                O::SCOPE,
                f.name
            );
        }
    }

    #[test]
    fn options_structs_follow_the_core_tables() {
        check_options::<BrokerOptions>(ringmq_broker_options::from(&BrokerOptions::default()));
        check_options::<TopicOptions>(ringmq_topic_options::from(&TopicOptions::default()));
        check_options::<SubOptions>(ringmq_sub_options::from(&SubOptions::default()));
    }
}
