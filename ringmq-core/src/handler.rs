//! What a handler returns, and running one so that a panic becomes a
//! failure instead of unwinding into the engine.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Why a handler failed; kept as the message's failure text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerError(pub String);

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HandlerError {}

impl From<&str> for HandlerError {
    fn from(s: &str) -> Self {
        HandlerError(s.to_owned())
    }
}

impl From<String> for HandlerError {
    fn from(s: String) -> Self {
        HandlerError(s)
    }
}

pub type HandlerResult = std::result::Result<(), HandlerError>;

/// Runs `f`; a panic is caught and returned as `Err` with its text, for
/// the caller to count where it belongs.
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> std::result::Result<R, HandlerError> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| HandlerError(panic_text(&*p)))
}

/// The text of a panic's payload.
pub(crate) fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        format!("handler panicked: {s}")
    } else if let Some(s) = p.downcast_ref::<String>() {
        format!("handler panicked: {s}")
    } else {
        "handler panicked".to_owned()
    }
}
