//! RingMQ's engine: an embeddable message queue.
//!
//! A [`Broker`] owns named [`Topic`]s and one worker pool. A topic is a
//! Disruptor-style ring of pre-allocated slots that any number of threads
//! publish into; each subscription (a consumer group) has its own cursor and
//! gets every message, and within a subscription each message goes to one
//! consumer at a time. A slot is reused only once every subscription has
//! acked or dead-lettered its message. Nacked messages are retried with
//! exponential backoff and, after `max_attempts` deliveries, moved to the
//! topic's dead-letter topic `<name>.dlq`.
//!
//! A broker created with [`BrokerOptions::name`] is registered process-wide:
//! [`Broker::open`] gives any thread another handle to it, and it stops when
//! its last handle is closed or dropped (see [`Broker::close`]).
//!
//! ```
//! use ringmq_core::{Broker, BrokerOptions, TopicOptions, SubOptions};
//! use std::time::Duration;
//!
//! let mq = Broker::new(BrokerOptions::default()).unwrap();
//! let orders = mq.create_topic("orders", TopicOptions::default()).unwrap();
//! let audit = orders.subscribe_pull("audit", SubOptions::default()).unwrap();
//! let id = orders.publish(b"hello").unwrap();
//! let d = audit.poll(Some(Duration::from_secs(1))).unwrap().unwrap();
//! assert_eq!((d.id(), d.data()), (id, &b"hello"[..]));
//! d.ack().unwrap();
//! mq.close(Duration::from_secs(1)).unwrap();
//! ```
#![warn(unsafe_op_in_unsafe_fn)]

mod barrier;
mod broker;
mod clock;
mod dedupe;
mod delivery;
#[allow(dead_code)] // wired into durable topics next (the log's writer and recovery use it)
mod durable;
mod error;
mod fork;
mod handler;
mod headers;
mod interrupt;
mod metrics;
mod notes;
mod options;
mod pool;
mod push;
mod ready_fd;
mod registry;
mod retry;
mod ring;
mod sequence;
mod spin;
mod stats;
mod subscription;
pub mod surface;
mod sync;
mod topic;
mod wait;
mod wheel;

pub use barrier::is_asymmetric as notify_is_asymmetric;
pub use broker::{Broker, CloseReport, MetricsSource};
pub use delivery::{Delivery, Message, RawDelivery};
pub use error::{Error, ErrorKind, Result};
pub use handler::{HandlerError, HandlerFailure, HandlerResult};
pub use headers::{
    HeaderIter, Headers, MAX_HEADER_BYTES_LIMIT, MAX_HEADER_NAME_LEN, MAX_MSG_ID_LEN,
};
pub use interrupt::Interrupt;
pub use options::{
    BrokerOptions, Expired, Fsync, Overflow, StartAt, SubOptions, TopicOptions, MAX_CAPACITY,
    MAX_DELAY, MAX_NAME_LEN, MAX_SEGMENT_BYTES, MAX_SLOT_SIZE, MIN_SEGMENT_BYTES,
};
pub use push::{Completion, PushSubscription};
pub use stats::{PoolStats, SubStats, TopicStats};
pub use subscription::{IdleReason, Outcome, PullSubscription, Relay, Settled};
pub use topic::{PublishOptions, Topic};

/// The crate's version, as in Cargo.toml.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The files of a data directory (see `BrokerOptions::data_dir`), for
/// tools that inspect them, such as the `ringmq` command: the topics'
/// options, their logs' frames, subscriptions' checkpoints.
pub mod storage {
    pub use crate::durable::checkpoint::{
        path as checkpoint_path, read_all as read_checkpoints, Checkpoint, Unfinished,
    };
    pub use crate::durable::conf::read as read_topic_conf;
    pub use crate::durable::dir::{file_name, topic_dirs};
    pub use crate::durable::frame::FrameMeta;
    pub use crate::durable::log::{Corruption, Log, ReadPos, Recovery, SegmentInfo, StoredFrame};
    pub use crate::durable::scan::{scan, Damage, ScanEnd, ScanReport};

    /// Splits a frame's ext block into its msg_id and headers.
    pub fn decode_ext(block: &[u8]) -> (Option<&[u8]>, crate::Headers<'_>) {
        crate::headers::decode(block)
    }
}

#[doc(hidden)]
pub mod internals {
    //! Parts exposed for the loom model tests, the model-based test and
    //! benchmarks only.
    pub use crate::durable::crc32c::crc32c;
    pub use crate::durable::frame::{
        decode, decode_segment_header, encode, encode_segment_header, encoded_len, FrameError,
        FrameMeta, HeaderError, MAX_FRAME_BYTES, SEGMENT_HEADER_LEN,
    };
    pub use crate::durable::log::{Corruption, Log, ReadPos, Recovery, StoredFrame};
    pub use crate::durable::scan::{scan, Damage, ScanEnd};
    pub use crate::ring::{Peek, Ring, SlotMeta};
    pub use crate::sequence::{advance_gate, ClaimError, Sequencer};
    pub use crate::subscription::{Reaped, SlotStates};

    /// Splits a delivery's encoded extension (`Delivery::ext`) into its
    /// msg_id and headers, for the bindings.
    pub fn decode_ext(block: &[u8]) -> (Option<&[u8]>, crate::Headers<'_>) {
        crate::headers::decode(block)
    }

    /// The engine's monotonic clock and the virtual offset tests move it by
    /// (see the `clock` module's docs in the source).
    pub mod clock {
        pub use crate::clock::{advance, mono_coarse_ns, mono_ns, offset};
    }
}
