//! RingMQ's C API: `libringmq.so` / `libringmq.a`, declared by the generated
//! `include/ringmq.h`.
//!
//! A thin translation layer over `ringmq-core`: every exported function runs
//! inside one panic boundary ([`boundary::boundary`]), checks each pointer
//! through one NULL check and each C string for length and UTF-8 before it
//! does anything, and maps the core's error kinds one-to-one onto
//! `ringmq_status`. Handles are boxed Rust values behind opaque pointers.
//! No engine logic lives here.
//!
//! The ABI grows without breaking programs built against an older header:
//! names follow `ringmq_<object>_<verb>`, older names are forwarding
//! aliases (`aliases`), and options structs start with `struct_size`, read
//! and filled through `sized`. `include/ringmq.abi` lists what is promised
//! (docs/C.md, "What is stable, and how the ABI grows").
#![warn(unsafe_op_in_unsafe_fn)]
// The C names (`ringmq_broker`, `ringmq_status`, …) are the API.
#![allow(non_camel_case_types)]

mod boundary;
mod broker;
mod message;
#[cfg(feature = "nats")]
mod nats;
mod sized;
mod stats;
mod stats_abi;
mod sub;
mod topic;
mod types;
mod wake;

// Last: cbindgen declares functions in module order, so the header lists
// the old names after the functions they forward to.
mod aliases;

pub use aliases::*;
pub use broker::*;
pub use message::*;
#[cfg(feature = "nats")]
pub use nats::*;
pub use stats::*;
pub use sub::*;
pub use topic::*;
pub use types::*;
pub use wake::*;
