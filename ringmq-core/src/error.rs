//! The one error type of the engine. Every kind maps to a status code of the
//! C API and an exception class of the bindings.

use std::fmt;

/// What went wrong, as a stable kind. The numeric values are the C status
/// codes (`RINGMQ_*`): never renumber or reuse one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum ErrorKind {
    /// A caller passed a value the call cannot accept.
    InvalidArgument = 1,
    /// The ring is full and the overflow policy is `reject`. (Under `block`
    /// a publish that runs out of time, a zero timeout included, answers
    /// `Timeout`.)
    Full = 2,
    /// A blocking call ran out of time.
    Timeout = 3,
    /// A payload is larger than the topic's `slot_size`.
    TooLarge = 4,
    /// No topic or subscription of that name.
    NotFound = 5,
    /// A topic or subscription of that name already exists.
    Exists = 6,
    /// The broker, topic or subscription has been closed.
    Closed = 7,
    /// Nothing arrived within the timeout (pull).
    Empty = 8,
    /// A fault inside the engine (a panic caught at a boundary).
    Internal = 9,
}

impl ErrorKind {
    /// A short static name, as the bindings' `code` (`"FULL"`, `"TIMEOUT"`, …).
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "INVALID_ARGUMENT",
            ErrorKind::Full => "FULL",
            ErrorKind::Timeout => "TIMEOUT",
            ErrorKind::TooLarge => "TOO_LARGE",
            ErrorKind::NotFound => "NOT_FOUND",
            ErrorKind::Exists => "EXISTS",
            ErrorKind::Closed => "CLOSED",
            ErrorKind::Empty => "EMPTY",
            ErrorKind::Internal => "INTERNAL",
        }
    }
}

/// An error: a kind plus a message that names the bad value.
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
    pub fn message(&self) -> &str {
        &self.message
    }
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }
    pub(crate) fn closed(what: &str) -> Self {
        Self::new(ErrorKind::Closed, format!("{what} is closed"))
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;
