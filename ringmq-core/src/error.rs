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
    /// A wait was ended by its [`Interrupt`](crate::Interrupt); it changed
    /// nothing.
    Interrupted = 10,
    /// Reading or writing a durable topic's files failed (disk full,
    /// permissions, a damaged log); the message says which file and why.
    Io = 11,
}

/// The spellings of every kind, in one place: `(kind, code, Python class)`.
/// The C status is `RINGMQ_<code>`; the Node `Error.code` is the code.
const SPELLINGS: [(ErrorKind, &str, &str, &str); 11] = [
    (
        ErrorKind::InvalidArgument,
        "INVALID_ARGUMENT",
        "InvalidArgument",
        "A value the call cannot accept.",
    ),
    (
        ErrorKind::Full,
        "FULL",
        "Full",
        "The topic is full and its overflow policy is \"reject\".",
    ),
    (
        ErrorKind::Timeout,
        "TIMEOUT",
        "Timeout",
        "A blocking call ran out of time.",
    ),
    (
        ErrorKind::TooLarge,
        "TOO_LARGE",
        "TooLarge",
        "The payload is larger than the topic's slot_size.",
    ),
    (
        ErrorKind::NotFound,
        "NOT_FOUND",
        "NotFound",
        "No topic or subscription of that name.",
    ),
    (
        ErrorKind::Exists,
        "EXISTS",
        "Exists",
        "A topic or subscription of that name already exists.",
    ),
    (
        ErrorKind::Closed,
        "CLOSED",
        "Closed",
        "The broker, topic or subscription is closed.",
    ),
    // Python's poll answers None rather than raising Empty.
    (
        ErrorKind::Empty,
        "EMPTY",
        "RingMQError",
        "Nothing arrived within the timeout.",
    ),
    (
        ErrorKind::Internal,
        "INTERNAL",
        "RingMQError",
        "A fault inside the engine (a panic caught at a boundary).",
    ),
    (
        ErrorKind::Interrupted,
        "INTERRUPTED",
        "Interrupted",
        "A wait was interrupted before it ended; it changed nothing.",
    ),
    (
        ErrorKind::Io,
        "IO",
        "StorageError",
        "Reading or writing a durable topic's files failed.",
    ),
];

impl ErrorKind {
    /// Every kind, in the order of their numbers.
    pub const ALL: [ErrorKind; 11] = {
        let mut all = [ErrorKind::Internal; 11];
        let mut i = 0;
        while i < SPELLINGS.len() {
            all[i] = SPELLINGS[i].0;
            i += 1;
        }
        all
    };

    fn spelling(self) -> &'static (ErrorKind, &'static str, &'static str, &'static str) {
        // The numbers run from 1 without gaps (a test keeps it so).
        &SPELLINGS[self as usize - 1]
    }

    /// A short static name, as the bindings' `code` (`"FULL"`, `"TIMEOUT"`, …).
    pub fn code(self) -> &'static str {
        self.spelling().1
    }

    /// The name of the C status (`RINGMQ_FULL`, …).
    pub fn c_status(self) -> String {
        format!("RINGMQ_{}", self.code())
    }

    /// The Python exception class raised for this kind (`RingMQError`, the
    /// base class, for kinds that have none of their own).
    pub fn python_class(self) -> &'static str {
        self.spelling().2
    }

    /// One line saying what the kind means.
    pub fn help(self) -> &'static str {
        self.spelling().3
    }

    /// The kind whose code is `code`.
    pub fn from_code(code: &str) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|k| k.code() == code)
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
    pub(crate) fn interrupted(what: &str) -> Self {
        Self::new(ErrorKind::Interrupted, format!("{what} was interrupted"))
    }
    pub(crate) fn io(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Io, message)
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

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn spellings_follow_the_numbers() {
        for (i, k) in ErrorKind::ALL.into_iter().enumerate() {
            assert_eq!(k as usize, i + 1, "{k:?}");
            assert_eq!(k.spelling().0, k);
            assert_eq!(ErrorKind::from_code(k.code()), Some(k));
        }
        assert_eq!(ErrorKind::Full.c_status(), "RINGMQ_FULL");
        assert_eq!(ErrorKind::from_code("NOPE"), None);
    }
}
