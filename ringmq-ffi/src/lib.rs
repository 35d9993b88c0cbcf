//! RingMQ's C API: `libringmq.so` / `libringmq.a`, declared by the generated
//! `include/ringmq.h`.
//!
//! A thin translation layer over `ringmq-core`: every exported function runs
//! inside one panic boundary ([`boundary::boundary`]), checks each pointer
//! through one NULL check and each C string for length and UTF-8 before it
//! does anything, and maps the core's error kinds one-to-one onto
//! `ringmq_status`. Handles are boxed Rust values behind opaque pointers.
//! No engine logic lives here.
#![warn(unsafe_op_in_unsafe_fn)]
// The C names (`ringmq_broker`, `ringmq_status`, …) are the API.
#![allow(non_camel_case_types)]

mod boundary;
mod broker;
mod message;
#[cfg(feature = "nats")]
mod nats;
mod stats;
mod stats_abi;
mod sub;
mod topic;
mod types;

pub use broker::*;
pub use message::*;
#[cfg(feature = "nats")]
pub use nats::*;
pub use stats::*;
pub use sub::*;
pub use topic::*;
pub use types::*;
