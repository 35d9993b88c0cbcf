//! Durable topics' on-disk format: the building blocks of the append-only
//! log a durable topic keeps, one segment file after another.
//!
//! - [`crc32c`]: CRC-32C (Castagnoli), in hardware on x86_64 with SSE4.2,
//!   else with a portable slicing-by-8 table version.
//! - [`frame`]: one message as a self-checking frame, and the 64-byte header
//!   that starts every segment.
//! - [`scan`]: the recovery scan over a segment's bytes, which finds where
//!   the valid frames end and whether what follows is a torn tail (an
//!   interrupted append, truncated by recovery) or corruption in the middle
//!   (reported, never silently truncated).
//!
//! - [`dir`]: the data directory's layout and lock, and crash-safe writes
//!   of small files.
//! - [`log`]: a topic's segment files: appending, reading back by id,
//!   recovery on open, removing segments from the front.
//! - [`read`]: reading frames back by id.
//! - [`conf`]: `topic.conf`, a durable topic's name and options.
//! - [`checkpoint`]: a durable subscription's position.
//!
//! `crc32c`, `frame` and `scan` do no file I/O: they work on byte slices.

pub mod checkpoint;
pub mod conf;
pub mod crc32c;
pub mod dir;
pub mod frame;
pub mod log;
pub mod read;
pub mod scan;
