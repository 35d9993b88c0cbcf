/*
 * RingMQ: an embeddable message-queue engine. C API.
 *
 * Generated from ringmq-ffi by cbindgen: do not edit; change the Rust doc
 * comments and regenerate (scripts/gen-header.sh).
 *
 * Conventions:
 * - Every function returning ringmq_status answers RINGMQ_OK (0) or an error
 *   status; ringmq_last_error() then has the details (per thread).
 * - Handles (ringmq_broker, ringmq_topic, ringmq_sub) are opaque and
 *   thread-safe: any thread may use them at once, unless a function says
 *   otherwise. The caller owns each handle it gets and frees it with the
 *   matching function (ringmq_broker_free, ringmq_topic_release,
 *   ringmq_sub_unsubscribe).
 * - Names follow ringmq_<object>_<verb> (ringmq_topic_publish,
 *   ringmq_sub_poll). The names an earlier contract used stay as aliases
 *   ("Same as ..."); deprecated ones are marked RINGMQ_DEPRECATED.
 * - Options structs start with `uint32_t struct_size`. Fill them with their
 *   _default function first (a macro at the end of this header that passes
 *   the size of the struct as this header declares it), then change fields.
 *   Fields are only ever appended, so a program built against an older
 *   header keeps working with a newer library (the fields it lacks take
 *   their defaults), and a newer header's options that an older library
 *   does not have are refused unless left at their defaults. A
 *   struct_size of 0 or below the first version's size is refused with
 *   RINGMQ_INVALID_ARGUMENT.
 * - Status values are never renumbered or reused.
 * - docs/C.md says what is stable and how names are deprecated;
 *   include/ringmq.abi lists every exported function and struct layout.
 */

#ifndef RINGMQ_H
#define RINGMQ_H



#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/**
 * The version of this header, equal to what ringmq_version() returns when
 * the library is the same version (from Cargo.toml, by
 * scripts/gen-header.sh).
 */
#define RINGMQ_VERSION_MAJOR 0
#define RINGMQ_VERSION_MINOR 1
#define RINGMQ_VERSION_PATCH 0
#define RINGMQ_VERSION_STRING "0.1.0"

/**
 * Marks a deprecated name (see docs/C.md, "Names and deprecation"). Define
 * RINGMQ_WARN_DEPRECATED before including this header to get a compiler
 * warning, naming the replacement, at each use; without it the names
 * compile silently, so that code built with -Werror keeps building.
 */
#if defined(RINGMQ_WARN_DEPRECATED) && (defined(__GNUC__) || defined(__clang__))
#define RINGMQ_DEPRECATED(note) __attribute__((deprecated(note)))
#elif defined(RINGMQ_WARN_DEPRECATED) && defined(_MSC_VER)
#define RINGMQ_DEPRECATED(note) __declspec(deprecated(note))
#else
#define RINGMQ_DEPRECATED(note)
#endif


/**
 * Most deliveries one `ringmq_sub_poll_batch` call returns.
 */
#define RINGMQ_POLL_BATCH_MAX 4096

/**
 * `ringmq_sub_options.start_at_id`: no id given.
 */
#define RINGMQ_NO_ID UINT64_MAX

/**
 * The result of a call. `RINGMQ_OK` is 0; the other values are fixed and
 * never renumbered or reused (new ones are only ever appended). On any
 * status other than `RINGMQ_OK`, `ringmq_last_error()` on the same thread
 * tells the details.
 */
typedef enum {
  /**
   * Success.
   */
  RINGMQ_OK = 0,
  /**
   * A NULL pointer, a bad name, a bad option, an unknown or settled
   * delivery tag, or a call that does not apply to this handle.
   */
  RINGMQ_INVALID_ARGUMENT = 1,
  /**
   * The topic is full and its overflow policy is `RINGMQ_OVERFLOW_REJECT`.
   */
  RINGMQ_FULL = 2,
  /**
   * A blocking call ran out of time (a publish into a full topic under
   * `RINGMQ_OVERFLOW_BLOCK`).
   */
  RINGMQ_TIMEOUT = 3,
  /**
   * A payload larger than the topic's `slot_size`, or a buffer too small
   * for the answer (`ringmq_broker_metrics_text`).
   */
  RINGMQ_TOO_LARGE = 4,
  /**
   * No topic or subscription of that name.
   */
  RINGMQ_NOT_FOUND = 5,
  /**
   * A topic or subscription of that name already exists.
   */
  RINGMQ_EXISTS = 6,
  /**
   * The broker, topic or subscription is closed.
   */
  RINGMQ_CLOSED = 7,
  /**
   * No message arrived within the timeout (`ringmq_sub_poll`).
   */
  RINGMQ_EMPTY = 8,
  /**
   * A fault inside the library (a caught panic); the broker may still be
   * usable, but report it.
   */
  RINGMQ_INTERNAL = 9,
  /**
   * A blocked poll was ended by `ringmq_sub_wake` and took nothing.
   */
  RINGMQ_INTERRUPTED = 10,
  /**
   * Reading or writing a durable topic's files failed (disk full,
   * permissions, a damaged log); `ringmq_last_error` names the file.
   */
  RINGMQ_IO = 11,
} ringmq_status;

/**
 * What a publish does when the topic's ring is full
 * (`ringmq_topic_options.overflow`).
 */
typedef enum {
  /**
   * Wait for room up to the publish's timeout, then `RINGMQ_TIMEOUT`.
   */
  RINGMQ_OVERFLOW_BLOCK = 0,
  /**
   * Fail at once with `RINGMQ_FULL`.
   */
  RINGMQ_OVERFLOW_REJECT = 1,
  /**
   * Overwrite the oldest message; subscriptions that had not consumed it
   * count it as dropped (every subscription is lossy).
   */
  RINGMQ_OVERFLOW_DROP_OLDEST = 2,
} ringmq_overflow;

/**
 * Where a new subscription starts reading (`ringmq_sub_options.start`).
 */
typedef enum {
  /**
   * Messages published after the subscription was created.
   */
  RINGMQ_START_LATEST = 0,
  /**
   * The oldest message still in the ring: a topic keeps its last
   * `capacity` messages for late subscriptions (its dead-letter topic
   * too).
   */
  RINGMQ_START_EARLIEST = 1,
} ringmq_start;

/**
 * What becomes of an expired message (`ringmq_topic_options.expired`).
 */
typedef enum {
  /**
   * To the dead-letter topic with the reason "expired".
   */
  RINGMQ_EXPIRED_DEAD_LETTER = 0,
  /**
   * Dropped (still counted as `expired_messages`).
   */
  RINGMQ_EXPIRED_DROP = 1,
} ringmq_expired;

/**
 * When a durable topic's appends are fsynced (`ringmq_topic_options.fsync`).
 */
typedef enum {
  /**
   * Each publish returns after the fsync of its own message.
   */
  RINGMQ_FSYNC_ALWAYS = 0,
  /**
   * Group commit: a publish returns after the fsync that covers it.
   */
  RINGMQ_FSYNC_BATCH = 1,
  /**
   * Publishes return at once; fsync every `fsync_interval_ms`.
   */
  RINGMQ_FSYNC_INTERVAL = 2,
  /**
   * Never fsynced by RingMQ: left to the operating system.
   */
  RINGMQ_FSYNC_NEVER = 3,
} ringmq_fsync;

/**
 * What a `ringmq_handler_ex` returns to settle its message.
 */
typedef enum {
  /**
   * Done: acked.
   */
  RINGMQ_HANDLER_ACK = 0,
  /**
   * Failed: retried after the topic's backoff (dead-lettered after
   * `max_attempts` deliveries) with the failure text "nacked".
   */
  RINGMQ_HANDLER_NACK = 1,
  /**
   * Poison: straight to the dead-letter topic, no more attempts, with the
   * reason "termed".
   */
  RINGMQ_HANDLER_TERM = 2,
  /**
   * Failed: retried after the `*retry_after_ms` the handler wrote (still
   * dead-lettered after `max_attempts` deliveries).
   */
  RINGMQ_HANDLER_RETRY_AFTER = 3,
} ringmq_handler_result;

/**
 * A broker: one engine instance with its topics and worker pool. Opaque;
 * created by `ringmq_broker_new`, freed by `ringmq_broker_free`. Every
 * function taking one is thread-safe.
 */
typedef struct ringmq_broker ringmq_broker;

/**
 * A running bridge between a broker's topics and NATS JetStream. Opaque;
 * created by `ringmq_nats_bridge_start`, stopped and freed by
 * `ringmq_nats_bridge_stop`. `ringmq_nats_bridge_stats` may be called from
 * any thread at once; `ringmq_nats_bridge_stop` must be the last call.
 */
typedef struct ringmq_nats_bridge ringmq_nats_bridge;

/**
 * A subscription (consumer group) on a topic, pull or push. Opaque; from
 * `ringmq_topic_subscribe_pull` or `ringmq_topic_subscribe`, freed by
 * `ringmq_sub_unsubscribe`. Every function taking one is thread-safe: several
 * threads polling one pull subscription are competing consumers.
 */
typedef struct ringmq_sub ringmq_sub;

/**
 * A handle on a topic. Opaque; from `ringmq_topic_create` or
 * `ringmq_topic_open`, released by `ringmq_topic_release` (which does not
 * delete the topic: it lives as long as its broker). Every function taking
 * one is thread-safe: any number of threads may publish through one handle.
 */
typedef struct ringmq_topic ringmq_topic;

/**
 * Options of `ringmq_broker_new`. Fill with `ringmq_broker_options_default`
 * first, then change what you need: fields are appended in later versions
 * (`struct_size` tells the library which ones the caller has).
 */
typedef struct {
  /**
   * `sizeof` this struct as the caller's header declares it, set by
   * `ringmq_broker_options_default`: the library reads the fields an older
   * header has (the others keep their defaults) and refuses the options
   * of a newer header that it does not have, unless they are 0.
   */
  uint32_t struct_size;
  /**
   * Fewest pool workers kept alive (default 1).
   */
  uint32_t workers_min;
  /**
   * Most pool workers, 1..=1024 (default: the available parallelism).
   */
  uint32_t workers_max;
  /**
   * A worker idle this long above `workers_min` exits (default 30000).
   */
  uint64_t idle_timeout_ms;
  /**
   * Where durable topics keep their logs and checkpoints: a
   * NUL-terminated path, read during `ringmq_broker_new` only (default
   * NULL: memory only). The broker locks it: a second broker opening it
   * gets `RINGMQ_EXISTS`. Every durable topic in it is recovered.
   */
  const char *data_dir;
  /**
   * On recovery, cut a durable log at damage found before its end instead
   * of opening that topic read only (default false).
   */
  bool repair;
  /**
   * A process-wide name (NUL-terminated, 1 to 255 bytes of UTF-8 without
   * control characters; read during `ringmq_broker_new` only), under which
   * `ringmq_broker_open` gives other threads, and the Python and Node
   * bindings in the same process (`Broker.open`), handles to this broker
   * (default NULL: unnamed). A name in use answers `RINGMQ_EXISTS`.
   */
  const char *name;
} ringmq_broker_options;

/**
 * The broker's worker pool (`ringmq_broker_get_pool_stats`).
 */
typedef struct {
  /**
   * Worker threads alive.
   */
  uint64_t workers;
  /**
   * Workers running handlers.
   */
  uint64_t busy;
  /**
   * Workers waiting for work.
   */
  uint64_t idle;
  /**
   * Handler panics caught (the message was nacked, the worker lived on).
   */
  uint64_t panics;
  /**
   * Workers started by the load curve.
   */
  uint64_t grown;
  /**
   * Workers that left after idle_timeout.
   */
  uint64_t shrunk;
  /**
   * The pool size the load curve asks for.
   */
  uint64_t target;
  /**
   * Smoothed share of the workers' time spent in handlers. Between 0 and 1.
   */
  double utilisation;
} ringmq_pool_stats;

/**
 * Called on every failure of a push handler of a broker
 * (`ringmq_broker_set_error_callback`), on the handler's pool thread, after
 * the failure is settled: the topic and consumer group, the message's id
 * and attempt (1 on its first delivery), the failure's text (such as
 * `"handler returned 3"`, `"nacked"`, `"termed"` or `"retry after 250ms"`)
 * and whether the message went to the dead-letter topic (a term, or its
 * last attempt) rather than being retried. The strings are NUL-terminated
 * and valid during the call only. It may run on several pool threads at
 * once, and must not unwind or `longjmp` out.
 */
typedef void (*ringmq_error_callback)(const char *topic, const char *group, uint64_t id, uint32_t attempt, const char *error, bool dead_lettered, void *user_data);

/**
 * A delivered message.
 *
 * From `ringmq_sub_poll`: `data` stays valid until this delivery is settled
 * (`ringmq_sub_ack`, `ringmq_sub_nack`, `ringmq_sub_term`), its subscription
 * is unsubscribed, or its ack timeout passes (`ringmq_sub_in_progress` moves
 * it), whichever comes first; the struct itself is the caller's. In a push
 * handler: the message and `data` are valid during the call only, and
 * `delivery_tag` is 0 (the handler's return value settles it).
 *
 * A message of a dead-letter topic (`<name>.dlq`) also says why it was
 * dead-lettered and which consumer group of `<name>` gave up on it; the
 * texts are the engine's, the same in every language. Fields are only ever
 * appended to this struct.
 */
typedef struct {
  /**
   * The topic's sequence number; dead letters keep the original id.
   */
  uint64_t id;
  /**
   * The key given to the publish (0 by default).
   */
  uint64_t key;
  /**
   * Publish time in nanoseconds since the Unix epoch.
   */
  int64_t timestamp_ns;
  /**
   * 1 on the first delivery, then 2, 3 … on retries. Dead letters keep
   * the count: a message dead-lettered after 4 deliveries comes out of
   * the dead-letter topic with attempt 4 (its retries there count on).
   */
  uint32_t attempt;
  /**
   * Payload length in bytes.
   */
  uint32_t len;
  /**
   * The payload, `len` bytes, read-only (not NUL-terminated).
   */
  const uint8_t *data;
  /**
   * Identifies this delivery to `ringmq_sub_ack` and friends (pull only).
   */
  uint64_t delivery_tag;
  /**
   * For a message of a dead-letter topic: the failure that sent it there
   * (a nack's or term's reason; `"nacked"`, `"termed"` or
   * `"ack timeout"`; a handler's error text such as
   * `"handler returned 3"`; prefixed with
   * `"failed N deliveries (max_attempts M): "` when the message ran out of
   * attempts). NUL-terminated, with `dead_letter_reason_len` bytes before
   * the NUL (which counts, should a reason contain a NUL of its own).
   * NULL for any other message. Valid as long as `data`.
   */
  const char *dead_letter_reason;
  /**
   * Length of `dead_letter_reason` in bytes, without the NUL (0 when it
   * is NULL).
   */
  size_t dead_letter_reason_len;
  /**
   * For a message of a dead-letter topic: the consumer group that
   * dead-lettered it, NUL-terminated. NULL for any other message. Valid
   * as long as `data`.
   */
  const char *dead_letter_group;
  /**
   * Length of `dead_letter_group` in bytes, without the NUL (0 when it is
   * NULL).
   */
  size_t dead_letter_group_len;
  /**
   * How many headers the message has (0 for none); read them with
   * `ringmq_message_header` and `ringmq_message_header_get`. (This field
   * and the four after it were appended with headers and msg_id: the
   * struct grew, so a program built against an older header must be
   * rebuilt.)
   */
  uint32_t header_count;
  /**
   * The id the message was published with for de-duplication
   * (`ringmq_publish_options.msg_id`), `msg_id_len` bytes, not
   * NUL-terminated; NULL when it has none. Valid as long as `data`.
   */
  const uint8_t *msg_id;
  /**
   * Length of `msg_id` in bytes (0 when it is NULL).
   */
  size_t msg_id_len;
  /**
   * For `ringmq_message_header` and `ringmq_message_header_get` only:
   * where the library finds the headers. Not to be read or changed.
   */
  const void *ext;
  /**
   * For `ringmq_message_header` and `ringmq_message_header_get` only.
   */
  size_t ext_len;
} ringmq_message;

/**
 * A snapshot of what a bridge did (`ringmq_nats_bridge_stats`). Not named
 * after that function, as a C type and a function cannot share a name.
 */
typedef struct {
  /**
   * Messages JetStream acknowledged (duplicates included) and the bridge
   * then acked in RingMQ.
   */
  uint64_t exported;
  /**
   * Messages imported from JetStream into RingMQ (and then acked in
   * JetStream).
   */
  uint64_t imported;
  /**
   * Messages taken from RingMQ and not yet settled.
   */
  uint64_t in_flight;
  /**
   * Times the connection to NATS was established again after a loss.
   */
  uint64_t reconnects;
  /**
   * Messages refused for good: exported ones JetStream refused (sent to
   * RingMQ's dead-letter topic), imported ones RingMQ refused
   * (terminated in JetStream).
   */
  uint64_t dead_lettered;
  /**
   * Connected to NATS now.
   */
  bool connected;
} ringmq_nats_stats;

/**
 * Options of `ringmq_topic_subscribe`, `ringmq_topic_subscribe_ex` and
 * `ringmq_topic_subscribe_pull`. Fill with `ringmq_sub_options_default`
 * first, then change what you need: fields are appended in later versions
 * (`struct_size` tells the library which ones the caller has).
 */
typedef struct {
  /**
   * `sizeof` this struct as the caller's header declares it, set by
   * `ringmq_sub_options_default`: the library reads the fields an older
   * header has (the others keep their defaults) and refuses the options
   * of a newer header that it does not have, unless they are 0.
   */
  uint32_t struct_size;
  /**
   * Push: most handler calls of this subscription at once, 1..=65536
   * (default 1).
   */
  uint32_t concurrency;
  /**
   * Push: messages with the same key are handled in publish order, never
   * two at once (default false).
   */
  bool ordered_by_key;
  /**
   * Never hold producers back: when more than a ring behind, skip ahead
   * and count the skipped messages as dropped (default false).
   */
  bool lossy;
  /**
   * A `ringmq_start` (default `RINGMQ_START_LATEST`).
   */
  ringmq_start start;
  /**
   * Unordered subscriptions: most deliveries of one key in flight at
   * once; 0 for no limit (default 0).
   */
  uint32_t max_in_flight_per_key;
  /**
   * Most messages per second handed to consumers; 0 for no limit
   * (default 0). Negative, NaN or infinite values are refused.
   */
  double rate_limit;
  /**
   * Messages that may go at once after idling; 0 means one second's
   * worth of `rate_limit` (default 0).
   */
  uint32_t rate_burst;
  /**
   * Start at the message with this id (the oldest still in the ring if
   * it is gone), overriding `start`; `RINGMQ_NO_ID` (UINT64_MAX, the
   * default) for none.
   */
  uint64_t start_at_id;
  /**
   * Start at the first message published at or after this time,
   * nanoseconds since the Unix epoch, overriding `start`; 0 (the
   * default) for none.
   */
  int64_t start_at_time_ns;
} ringmq_sub_options;

/**
 * Handler of a push subscription, called on one of the broker's pool
 * threads with a message valid during the call. Return 0 to ack; any other
 * value nacks (the message is retried after the topic's backoff and
 * dead-lettered after `max_attempts` deliveries). It must not unwind or
 * `longjmp` out (no C++ exception may escape it).
 */
typedef int32_t (*ringmq_handler)(const ringmq_message *m, void *user_data);

/**
 * Handler of a push subscription made by `ringmq_topic_subscribe_ex`, called
 * as a `ringmq_handler` is, with one more argument: `retry_after_ms` points to
 * a `uint32_t` (0 at the call) the handler sets before it returns
 * `RINGMQ_HANDLER_RETRY_AFTER`. It returns a `ringmq_handler_result`:
 * `RINGMQ_HANDLER_ACK`, `_NACK`, `_TERM` or `_RETRY_AFTER`; any other value
 * nacks with the failure text `"handler returned N"`. It must not unwind or
 * `longjmp` out.
 */
typedef int32_t (*ringmq_handler_ex)(const ringmq_message *m, void *user_data, uint32_t *retry_after_ms);

/**
 * A subscription's counters and latency (`ringmq_sub_get_stats`).
 */
typedef struct {
  /**
   * Deliveries handed to consumers, each attempt counted.
   */
  uint64_t delivered;
  /**
   * Messages acknowledged.
   */
  uint64_t acked;
  /**
   * Negative acknowledgements, handler errors and panics.
   */
  uint64_t nacked;
  /**
   * Messages scheduled for another attempt after a nack or an ack timeout.
   */
  uint64_t retried;
  /**
   * Messages moved to the dead-letter topic.
   */
  uint64_t dead_lettered;
  /**
   * Messages a lossy subscription skipped.
   */
  uint64_t dropped;
  /**
   * Deliveries not settled within ack_timeout.
   */
  uint64_t expired;
  /**
   * Push handlers that panicked (each also counts as a nack).
   */
  uint64_t handler_panics;
  /**
   * Deliveries handed out and not yet settled.
   */
  uint64_t in_flight;
  /**
   * Messages waiting outside the ring for a retry, or for room in a full dead-letter topic.
   */
  uint64_t waiting_retry;
  /**
   * Messages published but not yet delivered to the subscription.
   */
  uint64_t lag;
  /**
   * Time from publish to ack, median (within 1/16). In nanoseconds.
   */
  uint64_t latency_p50_ns;
  /**
   * Time from publish to ack, 99th percentile (within 1/16). In nanoseconds.
   */
  uint64_t latency_p99_ns;
  /**
   * Time from publish to ack, 99.9th percentile (within 1/16). In nanoseconds.
   */
  uint64_t latency_p999_ns;
  /**
   * Time from publish to ack, the longest seen. In nanoseconds.
   */
  uint64_t latency_max_ns;
  /**
   * Acks whose publish-to-ack time was measured.
   */
  uint64_t latency_count;
  /**
   * Sum of the measured publish-to-ack times. In nanoseconds.
   */
  uint64_t latency_sum_ns;
  /**
   * Deliveries settled with term by a consumer (straight to the dead-letter topic).
   */
  uint64_t termed;
  /**
   * Messages past their ttl or the topic's max_age, never delivered (dead-lettered or dropped).
   */
  uint64_t expired_messages;
  /**
   * 1 while the subscription is paused, else 0.
   */
  uint64_t paused;
  /**
   * Deliveries past their ack timeout whose ring slot a live holder still pins, holding producers back.
   */
  uint64_t pinned;
  /**
   * Messages of a durable topic its retention removed before this subscription took them.
   */
  uint64_t retention_dropped;
} ringmq_sub_stats;

/**
 * Options of `ringmq_topic_create`. Fill with `ringmq_topic_options_default`
 * first, then change what you need: fields are appended in later versions
 * (`struct_size` tells the library which ones the caller has).
 */
typedef struct {
  /**
   * `sizeof` this struct as the caller's header declares it, set by
   * `ringmq_topic_options_default`: the library reads the fields an older
   * header has (the others keep their defaults) and refuses the options
   * of a newer header that it does not have, unless they are 0.
   */
  uint32_t struct_size;
  /**
   * Slots in the ring: a power of two, at most 2^24 (default 1024).
   */
  size_t capacity;
  /**
   * Largest payload in bytes, 1..=2^24 (default 256).
   */
  size_t slot_size;
  /**
   * A `ringmq_overflow` (default `RINGMQ_OVERFLOW_BLOCK`).
   */
  ringmq_overflow overflow;
  /**
   * Deliveries of one message before it is dead-lettered, at least 1
   * (default 4: the first try and 3 retries).
   */
  uint32_t max_attempts;
  /**
   * First retry delay; doubles per attempt, with jitter (default 100).
   */
  uint64_t backoff_base_ms;
  /**
   * Cap of the retry delay, at least `backoff_base_ms` (default 10000).
   */
  uint64_t backoff_max_ms;
  /**
   * A pulled delivery not settled within this is redelivered (default
   * 30000; must be positive).
   */
  uint64_t ack_timeout_ms;
  /**
   * Messages one subscription may hold outside the ring while they wait
   * for a retry; 0 means `capacity` (default 0).
   */
  size_t retry_capacity;
  /**
   * Most header bytes per message (name + value + 4 each), apart from
   * `slot_size`; at most 65535 (default 1024).
   */
  size_t max_header_bytes;
  /**
   * Most delayed messages waiting at once; 0 means `capacity` (default 0).
   */
  size_t max_delayed;
  /**
   * Messages older than this are expired, never delivered; 0 for no
   * limit (default 0).
   */
  uint64_t max_age_ms;
  /**
   * A `ringmq_expired` (default `RINGMQ_EXPIRED_DEAD_LETTER`).
   */
  ringmq_expired expired;
  /**
   * How long a msg_id is remembered for de-duplication (default 120000).
   */
  uint64_t dedupe_window_ms;
  /**
   * Most msg_ids remembered at once; 0 means 4 x `capacity` (default 0).
   */
  size_t dedupe_max;
  /**
   * Keep messages and subscription positions in a log in the broker's
   * `data_dir` (default false).
   */
  bool durable;
  /**
   * A `ringmq_fsync` (default `RINGMQ_FSYNC_BATCH`).
   */
  ringmq_fsync fsync;
  /**
   * Fsync period of an interval topic, and checkpoint period of durable
   * subscriptions (default 50; must be positive).
   */
  uint64_t fsync_interval_ms;
  /**
   * Bytes of one log segment file, 4096..=2^40 (default 67108864).
   */
  size_t segment_bytes;
  /**
   * Most bytes a durable topic's log keeps, at least two segments; past
   * it the overflow policy acts when a subscription still needs the
   * oldest segment (default 0: no limit).
   */
  size_t max_bytes;
} ringmq_topic_options;

/**
 * One header of a message to publish (`ringmq_publish_options.headers`):
 * a name of 1 to 255 bytes of UTF-8 without control characters, and a
 * value of any bytes. Neither is NUL-terminated: the lengths count. A
 * pointer may be NULL only when its length is 0.
 */
typedef struct {
  /**
   * The name, `name_len` bytes of UTF-8.
   */
  const char *name;
  size_t name_len;
  /**
   * The value, `value_len` bytes of anything.
   */
  const uint8_t *value;
  size_t value_len;
} ringmq_header;

/**
 * Options of `ringmq_topic_publish_ex`. Fill with
 * `ringmq_publish_options_default` first, then change what you need:
 * fields are appended in later versions (`struct_size` tells the library
 * which ones the caller has).
 * Every pointer is read during the call only (the library copies what it
 * keeps).
 */
typedef struct {
  /**
   * `sizeof` this struct as the caller's header declares it, set by
   * `ringmq_publish_options_default`: the library reads the fields an older
   * header has (the others keep their defaults) and refuses the options
   * of a newer header that it does not have, unless they are 0.
   */
  uint32_t struct_size;
  /**
   * The message's key (for `ordered_by_key`), 0 if unused (default 0).
   */
  uint64_t key;
  /**
   * As `ringmq_topic_publish`'s: -1 waits for room for ever, 0 tries once,
   * else milliseconds (default -1).
   */
  int32_t timeout_ms;
  /**
   * `header_count` headers, kept in this order (names may repeat); may
   * be NULL only when `header_count` is 0 (default NULL). Together they
   * take at most the topic's `max_header_bytes` (each header counts its
   * name, its value and 4 bytes), else `RINGMQ_TOO_LARGE`.
   */
  const ringmq_header *headers;
  /**
   * Number of headers (default 0).
   */
  size_t header_count;
  /**
   * An id for de-duplication, `msg_id_len` bytes of anything (default
   * NULL): publishing the same id again within the topic's
   * `dedupe_window_ms` stores nothing and answers the first message's id.
   */
  const uint8_t *msg_id;
  /**
   * Length of `msg_id`, 0 for none, at most 128 (default 0).
   */
  size_t msg_id_len;
  /**
   * Deliverable no earlier than this many milliseconds from now; 0 for at
   * once (default 0). The message's id is taken at the publish.
   */
  uint64_t delay_ms;
  /**
   * The message expires this many milliseconds after the publish and is
   * never delivered (the topic's `expired` policy says whether it is
   * dead-lettered with the reason "expired" or dropped); 0 for no ttl
   * (default 0). With the topic's `max_age_ms`, the sooner counts.
   */
  uint64_t ttl_ms;
} ringmq_publish_options;

/**
 * One payload of `ringmq_topic_publish_batch`: `len` bytes at `data` (which
 * may be NULL only when `len` is 0).
 */
typedef struct {
  const void *data;
  size_t len;
} ringmq_buf;

/**
 * A topic's counters (`ringmq_topic_get_stats`).
 */
typedef struct {
  /**
   * Messages accepted into the topic's ring.
   */
  uint64_t published;
  /**
   * Publishes refused with Full because the ring was full.
   */
  uint64_t rejected;
  /**
   * Publishes that gave up with Timeout waiting for room.
   */
  uint64_t timed_out;
  /**
   * Messages overwritten or skipped before a subscription consumed them, summed over subscriptions.
   */
  uint64_t dropped;
  /**
   * Messages in the ring not yet settled by the slowest subscription.
   */
  uint64_t depth;
  /**
   * Slots in the topic's ring.
   */
  uint64_t capacity;
  /**
   * Subscriptions of the topic.
   */
  uint64_t subscriptions;
  /**
   * Delayed messages waiting outside the ring for their due time.
   */
  uint64_t delayed;
  /**
   * Publishes whose msg_id was already published within the dedupe window (nothing stored).
   */
  uint64_t duplicates;
  /**
   * Bytes of a durable topic's log on disk (0 for a topic in memory).
   */
  uint64_t log_bytes;
  /**
   * Segment files of a durable topic's log (0 for a topic in memory).
   */
  uint64_t log_segments;
} ringmq_topic_stats;

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * A short static description of a status.
 *
 * # Arguments
 * - `s`: any value; unknown ones are described as such.
 *
 * # Returns
 * A static NUL-terminated string (never NULL, never to be freed).
 *
 * # Safety
 * Always safe; thread-safe.
 */
const char *ringmq_status_str(ringmq_status s);

/**
 * The detailed message of the last call that failed on this thread,
 * starting with the name of that call, for example
 * `ringmq_topic_open: no topic "orders"`.
 *
 * # Returns
 * A NUL-terminated string owned by the library: "" if no call has failed
 * on this thread yet. It stays valid until the next failing call on this
 * thread; copy it to keep it. Successful calls do not change it.
 *
 * # Safety
 * Always safe; each thread has its own.
 */
const char *ringmq_last_error(void);

/**
 * The library's version, `"MAJOR.MINOR.PATCH"`, as in the header's
 * `RINGMQ_VERSION_*` macros when header and library match.
 *
 * # Returns
 * A static NUL-terminated string.
 *
 * # Safety
 * Always safe; thread-safe.
 */
const char *ringmq_version(void);

/**
 * Fills `o` with the default broker options, as this library's own header
 * declares the struct (`sizeof(ringmq_broker_options)` of this version).
 * In C and C++ the header's macro of the same name calls
 * `ringmq_broker_options_init(o, sizeof(ringmq_broker_options))` instead,
 * with the size of the struct the caller was compiled with; this function
 * is for callers that find the library's symbols by name.
 *
 * # Arguments
 * - `o`: the struct to fill; NULL does nothing.
 *
 * # Safety
 * `o` is NULL or points to a writable `ringmq_broker_options` of this
 * library's version.
 */
void ringmq_broker_options_default(ringmq_broker_options *o);

/**
 * Fills the first `struct_size` bytes at `o` with the default broker
 * options and sets `o->struct_size` to `struct_size`: the fields that fit
 * get their defaults, bytes past this library's struct (fields of a newer
 * header) become 0, nothing past `struct_size` bytes is written. What
 * `ringmq_broker_options_default(o)` calls with the size of the caller's
 * struct.
 *
 * # Arguments
 * - `o`: the struct to fill; NULL does nothing.
 * - `struct_size`: its size, `sizeof(ringmq_broker_options)` as the
 *   caller's header declares it.
 *
 * # Safety
 * `o` is NULL or has `struct_size` writable bytes.
 */
void ringmq_broker_options_init(ringmq_broker_options *o, size_t struct_size);

/**
 * Creates a broker.
 *
 * # Arguments
 * - `o`: options filled by `ringmq_broker_options_default` and then
 *   changed, or NULL for the defaults. Read during the call only.
 * - `out`: receives the new broker; set to NULL on failure.
 *
 * # Returns
 * `RINGMQ_OK`, or `RINGMQ_INVALID_ARGUMENT` (NULL `out`, bad options, a
 * bad `o->struct_size`).
 *
 * # Safety
 * `o` is NULL or points to an initialised `ringmq_broker_options` of
 * `o->struct_size` bytes (whose `data_dir` is NULL or a NUL-terminated
 * string); `out` is writable. The caller owns the broker and frees it with
 * `ringmq_broker_free`.
 */
ringmq_status ringmq_broker_new(const ringmq_broker_options *o, ringmq_broker **out);

/**
 * Opens another handle to the broker created with `name`
 * (`ringmq_broker_options.name`) in this process, by C or by the Python or
 * Node bindings: the same topics, subscriptions and pool. The engine stops
 * when its last handle is closed (that close drains) or freed; closing one
 * handle of several releases only that handle, at once.
 *
 * # Arguments
 * - `name`: the broker's name.
 * - `out`: receives the handle; set to NULL on failure.
 *
 * # Returns
 * `RINGMQ_OK`; `RINGMQ_NOT_FOUND` when no broker has that name;
 * `RINGMQ_CLOSED` while it closes, or in a process made by `fork()` from
 * the one that created it; `RINGMQ_INVALID_ARGUMENT` for a NULL or bad
 * name or a NULL `out`.
 *
 * # Safety
 * `name` is NULL or NUL-terminated; `out` is writable. The caller frees the
 * handle with `ringmq_broker_free`. Thread-safe.
 */
ringmq_status ringmq_broker_open(const char *name, ringmq_broker **out);

/**
 * Closes the broker: publishes fail with `RINGMQ_CLOSED` from now on,
 * consumers and handlers work through what is pending for up to
 * `drain_timeout_ms`, then every subscription stops and every thread the
 * broker started is joined. Idempotent. On a named broker with other open
 * handles (`ringmq_broker_open`), it closes only this handle, at once; the
 * last handle's close drains and stops the engine. The handle stays valid (calls on
 * it and on its topics and subscriptions answer `RINGMQ_CLOSED`) until
 * `ringmq_broker_free`.
 *
 * # Arguments
 * - `b`: the broker.
 * - `drain_timeout_ms`: how long pending messages may take; 0 stops now.
 *
 * # Returns
 * `RINGMQ_OK` (also when the drain ended by its timeout), or
 * `RINGMQ_INVALID_ARGUMENT` for a NULL `b`.
 *
 * # Safety
 * `b` is NULL or a live broker. Thread-safe, but must not be called from a
 * push handler (it waits for the handlers to finish).
 */
ringmq_status ringmq_broker_close(ringmq_broker *b, uint32_t drain_timeout_ms);

/**
 * Closes the broker without a drain (if not closed yet) and frees the
 * handle. Topic and subscription handles stay valid to release or
 * unsubscribe (their other calls answer `RINGMQ_CLOSED`).
 *
 * # Arguments
 * - `b`: the broker, or NULL (nothing happens).
 *
 * # Safety
 * `b` is NULL or a live broker, not used by any other thread now or after
 * this call; it must not be called from a push handler.
 */
void ringmq_broker_free(ringmq_broker *b);

/**
 * Renders every topic, subscription and pool metric in the Prometheus text
 * exposition format.
 *
 * # Arguments
 * - `b`: the broker.
 * - `buf`: receives the NUL-terminated text; may be NULL when `cap` is 0
 *   (to ask for the size).
 * - `cap`: bytes available at `buf`.
 * - `needed`: receives the size of the text including its NUL, always
 *   (also when `buf` is too small).
 *
 * # Returns
 * `RINGMQ_OK` when the text fit; `RINGMQ_TOO_LARGE` when `cap` is smaller
 * than `*needed` (`buf` is then left untouched: call again with a buffer of
 * `*needed` bytes; the text may grow in between); `RINGMQ_INVALID_ARGUMENT`
 * for a NULL `b`, a NULL `needed`, or a NULL `buf` with a non-zero `cap`.
 *
 * # Safety
 * `buf` is NULL or has `cap` writable bytes; `needed` is writable.
 * Thread-safe; it never blocks publishers.
 */
ringmq_status ringmq_broker_metrics_text(const ringmq_broker *b, char *buf, size_t cap, size_t *needed);

/**
 * Reads the worker pool's counters.
 *
 * # Arguments
 * - `b`: the broker. `out`: receives the counters.
 *
 * # Returns
 * `RINGMQ_OK` or `RINGMQ_INVALID_ARGUMENT` (a NULL argument).
 *
 * # Safety
 * `b` is NULL or live; `out` is NULL or writable. Thread-safe.
 */
ringmq_status ringmq_broker_get_pool_stats(const ringmq_broker *b, ringmq_pool_stats *out);

/**
 * Sets the function called on every failure of a push handler of this
 * broker (a nack, a term, a retry-after or any other non-ack return): the
 * topic, the consumer group, the message's id and attempt, the failure's
 * text and whether the message was dead-lettered (`true`: a term, or its
 * last attempt) or will be retried (`false`). It runs on the handler's
 * pool thread after the failure is settled, possibly on several threads
 * at once; see `ringmq_error_callback`. Replaces any callback set before.
 *
 * # Arguments
 * - `b`: the broker.
 * - `cb`: the callback, or NULL to remove it.
 * - `user_data`: passed to every call of `cb`; may be NULL.
 *
 * # Returns
 * `RINGMQ_OK`, or `RINGMQ_INVALID_ARGUMENT` for a NULL `b`.
 *
 * # Safety
 * `b` is NULL or live. `cb` must be safe to call from any pool thread,
 * several at once, and must not unwind or `longjmp` out. `user_data` must
 * stay valid until this callback is replaced or removed and the calls of
 * it already running have returned (a failure reported as this call
 * returns may still reach the old callback), or until
 * `ringmq_broker_close` or `ringmq_broker_free` has returned. Thread-safe.
 */
ringmq_status ringmq_broker_set_error_callback(ringmq_broker *b, ringmq_error_callback cb, void *user_data);

/**
 * Reads header number `index` of a delivered message (0 is the first, in
 * publish order; names may repeat). Allocates nothing.
 *
 * # Arguments
 * - `m`: the message, as filled by `ringmq_sub_poll`, `ringmq_sub_poll_batch`
 *   or given to a push handler.
 * - `index`: below `m->header_count`.
 * - `name`, `name_len`: receive the name (UTF-8, not NUL-terminated) and
 *   its length in bytes.
 * - `value`, `value_len`: receive the value (any bytes, not
 *   NUL-terminated; a valid pointer also when empty) and its length.
 *
 * Each output may be NULL when not wanted; outputs are left untouched on
 * failure. The name and value stay valid as long as the message's `data`
 * (pulled: until the delivery is settled; push: during the handler's
 * call).
 *
 * # Returns
 * `RINGMQ_OK`; `RINGMQ_NOT_FOUND` for an index at or past
 * `header_count`; `RINGMQ_INVALID_ARGUMENT` for a NULL `m`.
 *
 * # Safety
 * `m` is NULL or a message this library filled (or a copy of one), whose
 * data is still valid; each output is NULL or writable. Thread-safe.
 */
ringmq_status ringmq_message_header(const ringmq_message *m, uint32_t index, const char **name, size_t *name_len, const uint8_t **value, size_t *value_len);

/**
 * Finds the first header of a delivered message named `name` (compared
 * byte for byte) and reads its value. Allocates nothing.
 *
 * # Arguments
 * - `m`: the message, as for `ringmq_message_header`.
 * - `name`, `name_len`: the name, `name_len` bytes (not NUL-terminated;
 *   `strlen` of a C string will do); NULL only when `name_len` is 0.
 * - `value`, `value_len`: receive the value and its length, as for
 *   `ringmq_message_header`; each may be NULL when not wanted.
 *
 * # Returns
 * `RINGMQ_OK`; `RINGMQ_NOT_FOUND` when no header has that name (also for a
 * name that is not UTF-8, which no header has); `RINGMQ_INVALID_ARGUMENT`
 * for a NULL `m`, or a NULL `name` with a nonzero `name_len`.
 *
 * # Safety
 * As for `ringmq_message_header`; `name` is NULL or has `name_len`
 * readable bytes. Thread-safe.
 */
ringmq_status ringmq_message_header_get(const ringmq_message *m, const char *name, size_t name_len, const uint8_t **value, size_t *value_len);

/**
 * Starts a bridge on a broker: for each export it copies a topic into a
 * JetStream subject, for each import a JetStream stream into a topic (see
 * docs/NATS.md). The NATS connection is made in the background: a server
 * not reachable yet is retried with backoff, and the call does not wait
 * for it.
 *
 * # Arguments
 * - `b`: the broker; every export and import topic must exist in it.
 * - `config_json`: the configuration as JSON, for example
 *   `{"id":"edge-1","servers":["nats://127.0.0.1:4222"],
 *   "exports":[{"topic":"orders","group":"nats","subject":"orders.created",
 *   "stream":"ORDERS"}]}`. Read during the call only.
 * - `out`: receives the bridge; set to NULL on failure.
 *
 * # Returns
 * `RINGMQ_OK`; `RINGMQ_INVALID_ARGUMENT` for a NULL argument, a
 * configuration that is not UTF-8 or not valid (the last error names the
 * field and why) or a topic that does not exist; `RINGMQ_CLOSED` when the
 * broker is closed; `RINGMQ_IO` when NATS refused; nothing is started on
 * failure.
 *
 * # Safety
 * `b` is a live broker; `config_json` is a NUL-terminated string; `out` is
 * writable. The caller owns the bridge and stops it with
 * `ringmq_nats_bridge_stop` before freeing the broker.
 */
ringmq_status ringmq_nats_bridge_start(ringmq_broker *b, const char *config_json, ringmq_nats_bridge **out);

/**
 * Reads a bridge's counters.
 *
 * # Arguments
 * - `br`: the bridge.
 * - `out`: the struct to fill.
 *
 * # Returns
 * `RINGMQ_OK`, or `RINGMQ_INVALID_ARGUMENT` for a NULL argument.
 *
 * # Safety
 * `br` is a live bridge; `out` points to a writable
 * `ringmq_nats_stats`. Thread-safe.
 */
ringmq_status ringmq_nats_bridge_stats(const ringmq_nats_bridge *br, ringmq_nats_stats *out);

/**
 * Stops a bridge and frees it: takes nothing new from RingMQ, waits up to
 * `drain_ms` for JetStream's acks of the messages in flight (0: stops at
 * once) and acks those in RingMQ. What is still unacknowledged stays in
 * RingMQ and is delivered again later (to the next bridge reading that
 * group). The handle is freed whatever the answer.
 *
 * # Arguments
 * - `br`: the bridge; NULL answers `RINGMQ_INVALID_ARGUMENT`.
 * - `drain_ms`: the longest wait for in-flight messages, in milliseconds.
 *
 * # Returns
 * `RINGMQ_OK`, or `RINGMQ_INVALID_ARGUMENT` for NULL.
 *
 * # Safety
 * `br` is NULL or a live bridge not used by any other thread during and
 * after the call.
 */
ringmq_status ringmq_nats_bridge_stop(ringmq_nats_bridge *br, uint32_t drain_ms);

/**
 * Fills `o` with the default subscription options, as this library's own
 * header declares the struct (`sizeof(ringmq_sub_options)` of this version).
 * In C and C++ the header's macro of the same name calls
 * `ringmq_sub_options_init(o, sizeof(ringmq_sub_options))` instead, with the
 * size of the struct the caller was compiled with; this function is for
 * callers that find the library's symbols by name.
 *
 * # Arguments
 * - `o`: the struct to fill; NULL does nothing.
 *
 * # Safety
 * `o` is NULL or points to a writable `ringmq_sub_options` of this library's
 * version.
 */
void ringmq_sub_options_default(ringmq_sub_options *o);

/**
 * Fills the first `struct_size` bytes at `o` with the default subscription
 * options and sets `o->struct_size` to `struct_size`: the fields that fit get
 * their defaults, bytes past this library's struct (fields of a newer header)
 * become 0, nothing past `struct_size` bytes is written. What
 * `ringmq_sub_options_default(o)` calls with the size of the caller's struct.
 *
 * # Arguments
 * - `o`: the struct to fill; NULL does nothing.
 * - `struct_size`: its size, `sizeof(ringmq_sub_options)` as the caller's
 *   header declares it.
 *
 * # Safety
 * `o` is NULL or has `struct_size` writable bytes.
 */
void ringmq_sub_options_init(ringmq_sub_options *o, size_t struct_size);

/**
 * Creates a pull subscription: the caller takes messages with
 * `ringmq_sub_poll` and settles each by its delivery tag.
 *
 * # Arguments
 * - `t`: the topic.
 * - `group`: the subscription's name, unique on this topic (rules as for
 *   topic names, up to 255 bytes).
 * - `o`: options filled by `ringmq_sub_options_default` and then changed,
 *   or NULL for the defaults (`concurrency` and `ordered_by_key` do not
 *   apply to pull).
 * - `out`: receives the new subscription; set to NULL on failure.
 *
 * # Returns
 * `RINGMQ_OK`; `RINGMQ_EXISTS`; `RINGMQ_INVALID_ARGUMENT` (NULL, bad name,
 * bad option, a bad `o->struct_size`); `RINGMQ_CLOSED` after close.
 *
 * # Safety
 * `t` is NULL or live; `group` is NULL or NUL-terminated; `o` is NULL or
 * has `o->struct_size` initialised bytes; `out` is NULL or writable. The
 * caller owns the handle and frees it with `ringmq_sub_unsubscribe`.
 * Thread-safe.
 */
ringmq_status ringmq_topic_subscribe_pull(ringmq_topic *t, const char *group, const ringmq_sub_options *o, ringmq_sub **out);

/**
 * Creates a push subscription: `h` is called on the broker's worker pool
 * for each message. Returning 0 acks; any other value nacks (retried after
 * the topic's backoff, dead-lettered after `max_attempts` deliveries).
 *
 * # Arguments
 * - `t`: the topic.
 * - `group`: the subscription's name, unique on this topic.
 * - `h`: the handler (not NULL).
 * - `user_data`: passed to every call of `h`; may be NULL.
 * - `o`: options, or NULL for the defaults (`concurrency` bounds the calls
 *   of `h` at once; `ordered_by_key` keeps one key's messages in order).
 * - `out`: receives the new subscription; set to NULL on failure.
 *
 * # Returns
 * As `ringmq_topic_subscribe_pull`; `RINGMQ_INVALID_ARGUMENT` also for a NULL
 * `h`.
 *
 * # Safety
 * As for `ringmq_topic_subscribe_pull`. In addition, `h` may be called from
 * any pool thread, up to `concurrency` calls at once, so it and `user_data`
 * must be safe to use that way; `user_data` must stay valid until
 * `ringmq_sub_unsubscribe` on this subscription or `ringmq_broker_close` /
 * `ringmq_broker_free` on its broker has returned, called from outside the
 * broker's handlers (no call of `h` runs after that). The message passed to
 * `h`, and its data, are valid during the call only. `h` must not unwind or
 * `longjmp` out.
 */
ringmq_status ringmq_topic_subscribe(ringmq_topic *t, const char *group, ringmq_handler h, void *user_data, const ringmq_sub_options *o, ringmq_sub **out);

/**
 * Creates a push subscription whose handler chooses its message's outcome:
 * `h` returns a `ringmq_handler_result` (`RINGMQ_HANDLER_ACK`, `_NACK`,
 * `_TERM` straight to the dead-letter topic, or `_RETRY_AFTER` with the
 * delay it wrote to `*retry_after_ms`); any other value nacks with the
 * failure text `"handler returned N"`.
 *
 * # Arguments
 * As `ringmq_topic_subscribe`, with a `ringmq_handler_ex`.
 *
 * # Returns
 * As `ringmq_topic_subscribe`.
 *
 * # Safety
 * As for `ringmq_topic_subscribe`; `retry_after_ms` is valid during the call
 * only.
 */
ringmq_status ringmq_topic_subscribe_ex(ringmq_topic *t, const char *group, ringmq_handler_ex h, void *user_data, const ringmq_sub_options *o, ringmq_sub **out);

/**
 * Waits for one delivery of a pull subscription.
 *
 * # Arguments
 * - `s`: a pull subscription.
 * - `timeout_ms`: -1 waits for ever, 0 does not wait, else milliseconds.
 * - `out`: receives the message. Its `data` stays valid until the delivery is
 *   settled with `ringmq_sub_ack`, `ringmq_sub_nack` or `ringmq_sub_term` (by
 *   any thread), the subscription is unsubscribed, or the topic's
 *   `ack_timeout_ms` passes unsettled, whichever comes first
 *   (`ringmq_sub_in_progress` restarts that timer). An expired delivery is
 *   redelivered, and its slot is freed at once, so a consumer that forgets a
 *   delivery never holds producers back for long; settling it later answers
 *   `RINGMQ_INVALID_ARGUMENT` ("expired").
 *
 * # Returns
 * `RINGMQ_OK`; `RINGMQ_EMPTY` when nothing arrived in time (`*out` is then
 * zeroed); `RINGMQ_CLOSED`; `RINGMQ_INVALID_ARGUMENT` (NULL, a push
 * subscription, `timeout_ms` below -1).
 *
 * # Safety
 * `s` is NULL or live; `out` is NULL or writable. Thread-safe.
 */
ringmq_status ringmq_sub_poll(ringmq_sub *s, int32_t timeout_ms, ringmq_message *out);

/**
 * Waits for at least one delivery and takes up to `max` at once.
 *
 * # Arguments
 * - `s`: a pull subscription.
 * - `max`: room in `out`, 1 or more (a call returns at most
 *   `RINGMQ_POLL_BATCH_MAX`).
 * - `timeout_ms`: as for `ringmq_sub_poll`.
 * - `out`: receives the messages, with the lifetimes of `ringmq_sub_poll`.
 * - `out_count`: receives how many were written.
 *
 * # Returns
 * As `ringmq_sub_poll` (`RINGMQ_EMPTY` with `*out_count` 0).
 *
 * # Safety
 * `out` has room for `max` messages; `out_count` is writable. Thread-safe.
 */
ringmq_status ringmq_sub_poll_batch(ringmq_sub *s, size_t max, int32_t timeout_ms, ringmq_message *out, size_t *out_count);

/**
 * Acks a pulled delivery: done, it will not be delivered again to this
 * subscription. Its `data` must not be read afterwards.
 *
 * # Arguments
 * - `s`: the pull subscription it came from.
 * - `delivery_tag`: from the `ringmq_message`.
 *
 * # Returns
 * `RINGMQ_OK`; `RINGMQ_INVALID_ARGUMENT` for a NULL `s`, a push
 * subscription, or a tag that is unknown, already settled or expired (its
 * ack timeout passed and it was redelivered); `RINGMQ_CLOSED`.
 *
 * # Safety
 * `s` is NULL or live. Thread-safe: any thread may settle any delivery.
 */
ringmq_status ringmq_sub_ack(ringmq_sub *s, uint64_t delivery_tag);

/**
 * Acks many pulled deliveries of one subscription, for example a whole
 * `ringmq_sub_poll_batch`, in one call. Every tag is tried; the status is that
 * of the first that failed, and the last error names its index.
 *
 * # Arguments
 * - `s`: the pull subscription they came from.
 * - `tags`: `count` delivery tags; may be NULL only when `count` is 0.
 * - `count`: how many.
 *
 * # Returns
 * As `ringmq_sub_ack`; `RINGMQ_INVALID_ARGUMENT` also for NULL `tags` with a
 * non-zero `count`.
 *
 * # Safety
 * `s` is NULL or live; `tags` is NULL or has `count` readable values.
 * Thread-safe.
 */
ringmq_status ringmq_sub_ack_batch(ringmq_sub *s, const uint64_t *tags, size_t count);

/**
 * Nacks a pulled delivery: it is redelivered (with `attempt` + 1) after
 * `delay_ms`, or dead-lettered if it has had `max_attempts` deliveries.
 * Its `data` must not be read afterwards.
 *
 * # Arguments
 * - `s`, `delivery_tag`: as for `ringmq_sub_ack`.
 * - `delay_ms`: 0 uses the topic's backoff (exponential from
 *   `backoff_base_ms` with jitter); otherwise that many milliseconds.
 *
 * # Returns
 * As `ringmq_sub_ack`.
 *
 * # Safety
 * As for `ringmq_sub_ack`.
 */
ringmq_status ringmq_sub_nack(ringmq_sub *s, uint64_t delivery_tag, uint32_t delay_ms);

/**
 * Gives back a pulled delivery this consumer will not handle (it is
 * shutting down, say): delivered again at once, to any consumer of the
 * subscription, with the same `attempt`: a requeue is not an attempt, so
 * requeues never dead-letter a message (the stats count it among the
 * nacks). A failure is a `ringmq_sub_nack`. Its `data` must not be read
 * afterwards.
 *
 * # Arguments
 * - `s`, `delivery_tag`: as for `ringmq_sub_ack`.
 *
 * # Returns
 * As `ringmq_sub_ack`.
 *
 * # Safety
 * As for `ringmq_sub_ack`.
 */
ringmq_status ringmq_sub_requeue(ringmq_sub *s, uint64_t delivery_tag);

/**
 * Terms a pulled delivery: straight to the topic's dead-letter topic
 * `<name>.dlq`, no more attempts. Its `data` must not be read afterwards.
 *
 * # Arguments
 * - `s`: the pull subscription it came from.
 * - `delivery_tag`: from the `ringmq_message`.
 *
 * # Returns
 * As `ringmq_sub_ack`.
 *
 * # Safety
 * As for `ringmq_sub_ack`.
 */
ringmq_status ringmq_sub_term(ringmq_sub *s, uint64_t delivery_tag);

/**
 * Marks a pulled delivery as still being worked on: restarts its ack
 * timer, so its `data` stays valid until the new deadline.
 *
 * # Arguments
 * - `s`: the pull subscription it came from.
 * - `delivery_tag`: from the `ringmq_message`.
 *
 * # Returns
 * As `ringmq_sub_ack`.
 *
 * # Safety
 * As for `ringmq_sub_ack`.
 */
ringmq_status ringmq_sub_in_progress(ringmq_sub *s, uint64_t delivery_tag);

/**
 * Stops the subscription, removes it from its topic, and frees the handle
 * (always, whatever the status). A pull subscription's unsettled
 * deliveries are abandoned: their `data` must not be read afterwards, and
 * the topic stops waiting for them. For a push subscription, handler calls
 * running now finish before it returns, so `user_data` may be freed
 * afterwards; called from inside a push handler, though, it cannot wait
 * (calls on other pool threads may still be finishing).
 *
 * # Arguments
 * - `s`: the subscription.
 *
 * # Returns
 * `RINGMQ_OK`; `RINGMQ_INVALID_ARGUMENT` for NULL; `RINGMQ_CLOSED` if it
 * was already removed by its broker's close.
 *
 * # Safety
 * `s` is NULL or live and not used by any other thread now or afterwards.
 */
ringmq_status ringmq_sub_unsubscribe(ringmq_sub *s);

/**
 * Reads the subscription's counters and publish-to-ack latency.
 *
 * # Arguments
 * - `s`: the subscription. `out`: receives the counters.
 *
 * # Returns
 * `RINGMQ_OK` or `RINGMQ_INVALID_ARGUMENT` (a NULL argument).
 *
 * # Safety
 * `s` is NULL or live; `out` is NULL or writable. Thread-safe.
 */
ringmq_status ringmq_sub_get_stats(const ringmq_sub *s, ringmq_sub_stats *out);

/**
 * Pauses a subscription: it takes no new messages (polls find nothing new,
 * a push handler is not called for them) until `ringmq_sub_resume`.
 * Deliveries in flight can still be settled, and messages waiting for a
 * retry are still delivered. Its stats say `paused` 1 meanwhile.
 *
 * # Arguments
 * - `s`: the subscription, pull or push.
 *
 * # Returns
 * `RINGMQ_OK` (also when already paused); `RINGMQ_INVALID_ARGUMENT` for
 * NULL; `RINGMQ_CLOSED` once unsubscribed or closed.
 *
 * # Safety
 * `s` is NULL or live. Thread-safe.
 */
ringmq_status ringmq_sub_pause(ringmq_sub *s);

/**
 * Takes new messages again after `ringmq_sub_pause`.
 *
 * # Arguments
 * - `s`: the subscription, pull or push.
 *
 * # Returns
 * As `ringmq_sub_pause` (`RINGMQ_OK` also when not paused).
 *
 * # Safety
 * `s` is NULL or live. Thread-safe.
 */
ringmq_status ringmq_sub_resume(ringmq_sub *s);

/**
 * Says why the subscription gets nothing now, for example
 * `"paused; waiting for a retry: 2 messages, the next due in 80ms"`: the
 * engine's reasons (paused, rate-limited, `retry_capacity` exhausted,
 * waiting for a retry or a delayed message, nothing published, closed),
 * joined by `"; "`. An empty text means a message is there to take.
 *
 * # Arguments
 * - `s`: the subscription, pull or push.
 * - `buf`: receives the NUL-terminated text; may be NULL when `cap` is 0
 *   (to ask for the size).
 * - `cap`: bytes available at `buf`.
 * - `needed`: receives the size of the text including its NUL, always
 *   (also when `buf` is too small).
 *
 * # Returns
 * As `ringmq_broker_metrics_text`: `RINGMQ_OK` when the text fit;
 * `RINGMQ_TOO_LARGE` when `cap` is smaller than `*needed` (`buf` is then
 * left untouched; the text may change before the next call);
 * `RINGMQ_INVALID_ARGUMENT` for a NULL `s`, a NULL `needed`, or a NULL
 * `buf` with a non-zero `cap`. A closed subscription answers `RINGMQ_OK`
 * with the text `"closed"`.
 *
 * # Safety
 * `s` is NULL or live; `buf` is NULL or has `cap` writable bytes; `needed`
 * is NULL or writable. Thread-safe.
 */
ringmq_status ringmq_sub_why_idle(const ringmq_sub *s, char *buf, size_t cap, size_t *needed);

/**
 * Fills `o` with the default topic options, as this library's own header
 * declares the struct (`sizeof(ringmq_topic_options)` of this version). In C
 * and C++ the header's macro of the same name calls
 * `ringmq_topic_options_init(o, sizeof(ringmq_topic_options))` instead, with
 * the size of the struct the caller was compiled with; this function is for
 * callers that find the library's symbols by name.
 *
 * # Arguments
 * - `o`: the struct to fill; NULL does nothing.
 *
 * # Safety
 * `o` is NULL or points to a writable `ringmq_topic_options` of this library's
 * version.
 */
void ringmq_topic_options_default(ringmq_topic_options *o);

/**
 * Fills the first `struct_size` bytes at `o` with the default topic options
 * and sets `o->struct_size` to `struct_size`: the fields that fit get their
 * defaults, bytes past this library's struct (fields of a newer header) become
 * 0, nothing past `struct_size` bytes is written. What
 * `ringmq_topic_options_default(o)` calls with the size of the caller's
 * struct.
 *
 * # Arguments
 * - `o`: the struct to fill; NULL does nothing.
 * - `struct_size`: its size, `sizeof(ringmq_topic_options)` as the caller's
 *   header declares it.
 *
 * # Safety
 * `o` is NULL or has `struct_size` writable bytes.
 */
void ringmq_topic_options_init(ringmq_topic_options *o, size_t struct_size);

/**
 * Creates topic `name` and its dead-letter topic `<name>.dlq`.
 *
 * # Arguments
 * - `b`: the broker.
 * - `name`: 1 to 251 bytes of UTF-8 (255 with ".dlq"), NUL-terminated,
 *   without control characters; copied.
 * - `o`: options filled by `ringmq_topic_options_default` and then
 *   changed, or NULL for the defaults; read during the call only.
 * - `out`: receives a new topic handle; set to NULL on failure.
 *
 * # Returns
 * `RINGMQ_OK`; `RINGMQ_EXISTS` if the topic or its dead-letter topic exists;
 * `RINGMQ_INVALID_ARGUMENT` for a NULL, bad name or bad option (a capacity
 * that is 0 or not a power of two, a bad `o->struct_size`, …);
 * `RINGMQ_CLOSED` after close.
 *
 * # Safety
 * `b` is NULL or live; `name` is NULL or NUL-terminated; `o` is NULL or has
 * `o->struct_size` initialised bytes; `out` is NULL or writable. The caller
 * owns the handle and releases it with `ringmq_topic_release`. Thread-safe.
 */
ringmq_status ringmq_topic_create(ringmq_broker *b, const char *name, const ringmq_topic_options *o, ringmq_topic **out);

/**
 * Opens the existing topic `name` (dead-letter topics `<name>.dlq`
 * included).
 *
 * # Arguments
 * - `b`: the broker. `name`: the topic's name.
 * - `out`: receives a new topic handle; set to NULL on failure.
 *
 * # Returns
 * `RINGMQ_OK`; `RINGMQ_NOT_FOUND`; `RINGMQ_INVALID_ARGUMENT` (NULL, bad
 * name); `RINGMQ_CLOSED` after close.
 *
 * # Safety
 * As for `ringmq_topic_create`. Thread-safe.
 */
ringmq_status ringmq_topic_open(ringmq_broker *b, const char *name, ringmq_topic **out);

/**
 * Releases a topic handle. The topic itself lives on in its broker, and
 * subscriptions made through this handle stay valid.
 *
 * # Arguments
 * - `t`: the handle, or NULL (nothing happens).
 *
 * # Safety
 * `t` is NULL or live and not used by any other thread now or afterwards.
 */
void ringmq_topic_release(ringmq_topic *t);

/**
 * Publishes one message: one copy of `len` bytes into the ring.
 *
 * # Arguments
 * - `t`: the topic.
 * - `data`: the payload; may be NULL only when `len` is 0. Copied before
 *   the call returns.
 * - `len`: at most the topic's `slot_size`.
 * - `key`: the message's key (for `ordered_by_key`), 0 if unused.
 * - `timeout_ms`: under `RINGMQ_OVERFLOW_BLOCK`, how long to wait for room:
 *   -1 for ever, 0 not at all (a full topic answers `RINGMQ_TIMEOUT` at
 *   once), else milliseconds. Ignored by the other policies.
 * - `out_id`: receives the message's id; may be NULL.
 *
 * # Returns
 * `RINGMQ_OK`; `RINGMQ_TOO_LARGE`; `RINGMQ_FULL` (reject policy);
 * `RINGMQ_TIMEOUT` (block policy, still full); `RINGMQ_CLOSED`;
 * `RINGMQ_INVALID_ARGUMENT` (NULL `t`, NULL `data` with `len` > 0,
 * `timeout_ms` below -1).
 *
 * # Safety
 * `t` is NULL or live; `data` is NULL or has `len` readable bytes; `out_id`
 * is NULL or writable. Thread-safe: any number of threads may publish at
 * once.
 */
ringmq_status ringmq_topic_publish(ringmq_topic *t, const void *data, size_t len, uint64_t key, int32_t timeout_ms, uint64_t *out_id);

/**
 * Fills `o` with the default publish options: key 0, `timeout_ms` -1, no
 * headers, no msg_id, no delay, no ttl (what `ringmq_topic_publish` does), as
 * this library's own header declares the struct
 * (`sizeof(ringmq_publish_options)` of this version). In C and C++ the
 * header's macro of the same name calls `ringmq_publish_options_init(o,
 * sizeof(ringmq_publish_options))` instead, with the size of the struct the
 * caller was compiled with; this function is for callers that find the
 * library's symbols by name.
 *
 * # Arguments
 * - `o`: the struct to fill; NULL does nothing.
 *
 * # Safety
 * `o` is NULL or points to a writable `ringmq_publish_options` of this
 * library's version.
 */
void ringmq_publish_options_default(ringmq_publish_options *o);

/**
 * Fills the first `struct_size` bytes at `o` with the default publish options
 * and sets `o->struct_size` to `struct_size`: the fields that fit get their
 * defaults, bytes past this library's struct (fields of a newer header) become
 * 0, nothing past `struct_size` bytes is written. What
 * `ringmq_publish_options_default(o)` calls with the size of the caller's
 * struct.
 *
 * # Arguments
 * - `o`: the struct to fill; NULL does nothing.
 * - `struct_size`: its size, `sizeof(ringmq_publish_options)` as the caller's
 *   header declares it.
 *
 * # Safety
 * `o` is NULL or has `struct_size` writable bytes.
 */
void ringmq_publish_options_init(ringmq_publish_options *o, size_t struct_size);

/**
 * Publishes one message with options: a key, a timeout, headers, a msg_id
 * for de-duplication, a delay and a time to live.
 *
 * # Arguments
 * - `t`: the topic.
 * - `data`, `len`: the payload, as for `ringmq_topic_publish`.
 * - `o`: options (filled by `ringmq_publish_options_default`, then
 *   changed), or NULL for the defaults (then this is `ringmq_topic_publish`
 *   with key 0 and `timeout_ms` -1). Read during the call only.
 * - `out_id`: receives the message's id; may be NULL. For a msg_id already
 *   published within the topic's `dedupe_window_ms`, nothing is stored and
 *   this is the first message's id (counted as the topic's `duplicates`).
 *
 * # Returns
 * `RINGMQ_OK`; `RINGMQ_TOO_LARGE` (payload over `slot_size`, headers over
 * `max_header_bytes`, a header name over 255 bytes, a msg_id over 128
 * bytes); `RINGMQ_FULL` (reject policy, or `max_delayed` delayed messages
 * wait already); `RINGMQ_TIMEOUT`; `RINGMQ_CLOSED`;
 * `RINGMQ_INVALID_ARGUMENT` (NULL `t`; a NULL pointer with a nonzero
 * length; a header name that is empty, not UTF-8 or has a control
 * character; `timeout_ms` below -1; a delay or ttl over the limit; a bad
 * `o->struct_size`). Nothing is published on failure.
 *
 * # Safety
 * `t` is NULL or live; `data` is NULL or has `len` readable bytes; `o` is NULL
 * or has `o->struct_size` initialised bytes, its `headers` NULL or
 * `header_count` readable `ringmq_header`s each pointing to readable bytes of
 * its lengths, its `msg_id` NULL or `msg_id_len` readable bytes; `out_id` is
 * NULL or writable. Thread-safe. Without headers and msg_id it allocates
 * nothing (with up to 16 headers, nothing on the C side either).
 */
ringmq_status ringmq_topic_publish_ex(ringmq_topic *t, const void *data, size_t len, const ringmq_publish_options *o, uint64_t *out_id);

/**
 * Publishes `count` messages in one claim: all or none. Their ids are
 * consecutive, from `*out_first_id`. All get the same `key`.
 *
 * # Arguments
 * - `t`: the topic.
 * - `items`: `count` payloads (each copied before the call returns); may
 *   be NULL only when `count` is 0.
 * - `count`: at most the topic's capacity.
 * - `key`, `timeout_ms`: as for `ringmq_topic_publish`.
 * - `out_first_id`: receives the first id; may be NULL.
 *
 * # Returns
 * As `ringmq_topic_publish`; `RINGMQ_INVALID_ARGUMENT` also for a batch larger
 * than the capacity.
 *
 * # Safety
 * `items` is NULL or has `count` readable `ringmq_buf`s, each pointing to
 * `len` readable bytes. Thread-safe.
 */
ringmq_status ringmq_topic_publish_batch(ringmq_topic *t, const ringmq_buf *items, size_t count, uint64_t key, int32_t timeout_ms, uint64_t *out_first_id);

/**
 * Reads the topic's counters.
 *
 * # Arguments
 * - `t`: the topic. `out`: receives the counters.
 *
 * # Returns
 * `RINGMQ_OK` or `RINGMQ_INVALID_ARGUMENT` (a NULL argument).
 *
 * # Safety
 * `t` is NULL or live; `out` is NULL or writable. Thread-safe; it never
 * blocks publishers.
 */
ringmq_status ringmq_topic_get_stats(const ringmq_topic *t, ringmq_topic_stats *out);

/**
 * Gets the subscription's readiness file descriptor: readable when a poll
 * may take a message (or answer `RINGMQ_CLOSED`), for `epoll`, `poll(2)`,
 * libuv's `uv_poll_t` or any other event loop. When it is readable, call
 * `ringmq_sub_poll` / `ringmq_sub_poll_batch` with `timeout_ms` 0 until one
 * answers `RINGMQ_EMPTY`; that poll re-arms it, and the loop waits for it
 * again. It starts readable; it may be readable with nothing to take
 * (another consumer took it first), which costs one empty poll. Level- and
 * edge-triggered registrations both work.
 *
 * The descriptor belongs to the subscription: never `read`, `write` or
 * `close` it (the library clears it itself); it stays valid until the
 * subscription is unsubscribed or its broker freed. Every call answers the
 * same descriptor. Linux only.
 *
 * # Arguments
 * - `s`: a pull subscription.
 * - `fd_out`: receives the descriptor.
 *
 * # Returns
 * `RINGMQ_OK`; `RINGMQ_INVALID_ARGUMENT` (NULL, a push subscription);
 * `RINGMQ_CLOSED` once unsubscribed or closed; `RINGMQ_IO` if the system
 * has no descriptor to give. `*fd_out` is written only on `RINGMQ_OK`.
 *
 * # Safety
 * `s` is NULL or live; `fd_out` is NULL or writable. Thread-safe.
 */
ringmq_status ringmq_sub_get_fd(const ringmq_sub *s, int *fd_out);

/**
 * Ends a `ringmq_sub_poll` / `ringmq_sub_poll_batch` of this subscription
 * that is blocked now, or else the next one that would block, which then
 * answers `RINGMQ_INTERRUPTED` having taken nothing: how another thread
 * (a signal handler's helper, a shutdown path) stops a consumer without
 * closing the subscription or the broker. Wakes are counted: each ends one
 * poll, so with several threads blocked call it once per thread. A poll
 * that finds a message without waiting does not use up a wake.
 *
 * # Arguments
 * - `s`: a pull subscription.
 *
 * # Returns
 * `RINGMQ_OK`; `RINGMQ_INVALID_ARGUMENT` (NULL, a push subscription).
 *
 * # Safety
 * `s` is NULL or live. Thread-safe (that is its point).
 */
ringmq_status ringmq_sub_wake(const ringmq_sub *s);

/**
 * Same as `ringmq_topic_publish`; kept as the name DESIGN/1.0 used.
 *
 * # Safety
 * As for `ringmq_topic_publish`.
 */
ringmq_status ringmq_publish(ringmq_topic *t, const void *data, size_t len, uint64_t key, int32_t timeout_ms, uint64_t *out_id);

/**
 * Same as `ringmq_topic_publish_ex`: its name before the
 * `ringmq_<object>_<verb>` rule, deprecated (kept for at least one major
 * version; see docs/C.md).
 *
 * # Safety
 * As for `ringmq_topic_publish_ex`.
 */
RINGMQ_DEPRECATED("renamed ringmq_topic_publish_ex") ringmq_status ringmq_publish_ex(ringmq_topic *t, const void *data, size_t len, const ringmq_publish_options *o, uint64_t *out_id);

/**
 * Same as `ringmq_topic_publish_batch`: its name before the
 * `ringmq_<object>_<verb>` rule, deprecated (kept for at least one major
 * version; see docs/C.md).
 *
 * # Safety
 * As for `ringmq_topic_publish_batch`.
 */
RINGMQ_DEPRECATED("renamed ringmq_topic_publish_batch") ringmq_status ringmq_publish_batch(ringmq_topic *t, const ringmq_buf *items, size_t count, uint64_t key, int32_t timeout_ms, uint64_t *out_first_id);

/**
 * Same as `ringmq_topic_subscribe`; kept as the name DESIGN/1.0 used.
 *
 * # Safety
 * As for `ringmq_topic_subscribe`.
 */
ringmq_status ringmq_subscribe(ringmq_topic *t, const char *group, ringmq_handler h, void *user_data, const ringmq_sub_options *o, ringmq_sub **out);

/**
 * Same as `ringmq_topic_subscribe_ex`: its name before the
 * `ringmq_<object>_<verb>` rule, deprecated (kept for at least one major
 * version; see docs/C.md).
 *
 * # Safety
 * As for `ringmq_topic_subscribe_ex`.
 */
RINGMQ_DEPRECATED("renamed ringmq_topic_subscribe_ex") ringmq_status ringmq_subscribe_ex(ringmq_topic *t, const char *group, ringmq_handler_ex h, void *user_data, const ringmq_sub_options *o, ringmq_sub **out);

/**
 * Same as `ringmq_topic_subscribe_pull`; kept as the name DESIGN/1.0 used.
 *
 * # Safety
 * As for `ringmq_topic_subscribe_pull`.
 */
ringmq_status ringmq_subscribe_pull(ringmq_topic *t, const char *group, const ringmq_sub_options *o, ringmq_sub **out);

/**
 * Same as `ringmq_sub_poll`; kept as the name DESIGN/1.0 used.
 *
 * # Safety
 * As for `ringmq_sub_poll`.
 */
ringmq_status ringmq_poll(ringmq_sub *s, int32_t timeout_ms, ringmq_message *out);

/**
 * Same as `ringmq_sub_poll_batch`: its name before the
 * `ringmq_<object>_<verb>` rule, deprecated (kept for at least one major
 * version; see docs/C.md).
 *
 * # Safety
 * As for `ringmq_sub_poll_batch`.
 */
RINGMQ_DEPRECATED("renamed ringmq_sub_poll_batch") ringmq_status ringmq_poll_batch(ringmq_sub *s, size_t max, int32_t timeout_ms, ringmq_message *out, size_t *out_count);

/**
 * Same as `ringmq_sub_ack`; kept as the name DESIGN/1.0 used.
 *
 * # Safety
 * As for `ringmq_sub_ack`.
 */
ringmq_status ringmq_ack(ringmq_sub *s, uint64_t delivery_tag);

/**
 * Same as `ringmq_sub_ack_batch`: its name before the `ringmq_<object>_<verb>`
 * rule, deprecated (kept for at least one major version; see docs/C.md).
 *
 * # Safety
 * As for `ringmq_sub_ack_batch`.
 */
RINGMQ_DEPRECATED("renamed ringmq_sub_ack_batch") ringmq_status ringmq_ack_batch(ringmq_sub *s, const uint64_t *tags, size_t count);

/**
 * Same as `ringmq_sub_nack`; kept as the name DESIGN/1.0 used.
 *
 * # Safety
 * As for `ringmq_sub_nack`.
 */
ringmq_status ringmq_nack(ringmq_sub *s, uint64_t delivery_tag, uint32_t delay_ms);

/**
 * Same as `ringmq_sub_term`; kept as the name DESIGN/1.0 used.
 *
 * # Safety
 * As for `ringmq_sub_term`.
 */
ringmq_status ringmq_term(ringmq_sub *s, uint64_t delivery_tag);

/**
 * Same as `ringmq_sub_in_progress`; kept as the name DESIGN/1.0 used.
 *
 * # Safety
 * As for `ringmq_sub_in_progress`.
 */
ringmq_status ringmq_in_progress(ringmq_sub *s, uint64_t delivery_tag);

/**
 * Same as `ringmq_sub_unsubscribe`; kept as the name DESIGN/1.0 used.
 *
 * # Safety
 * As for `ringmq_sub_unsubscribe`.
 */
ringmq_status ringmq_unsubscribe(ringmq_sub *s);

/**
 * Same as `ringmq_broker_metrics_text`; kept as the name DESIGN/1.0 used.
 *
 * # Safety
 * As for `ringmq_broker_metrics_text`.
 */
ringmq_status ringmq_metrics_text(const ringmq_broker *b, char *buf, size_t cap, size_t *needed);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* RINGMQ_H */

/*
 * The _default functions as C and C++ code calls them: each passes the size
 * of the struct as this header declares it, so the library writes no more
 * than that (a newer library fills in only the fields this header has) and
 * knows which fields the program has when it reads the struct back. The
 * exported functions of these names fill the struct as the library's own
 * header declares it, for callers that look symbols up by name. (After the
 * declarations, which the macros would otherwise rewrite; cbindgen puts
 * this after the include guard, hence a guard of its own.)
 */
#ifndef RINGMQ_H_DEFAULT_MACROS
#define RINGMQ_H_DEFAULT_MACROS
#define ringmq_broker_options_default(o) ringmq_broker_options_init((o), sizeof(ringmq_broker_options))
#define ringmq_topic_options_default(o) ringmq_topic_options_init((o), sizeof(ringmq_topic_options))
#define ringmq_sub_options_default(o) ringmq_sub_options_init((o), sizeof(ringmq_sub_options))
#define ringmq_publish_options_default(o) ringmq_publish_options_init((o), sizeof(ringmq_publish_options))
#endif
