//! What a handler returns, and running one so that a panic becomes a
//! failure instead of unwinding into the engine.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

/// Why a handler failed, and what should follow: a retry after the topic's
/// backoff (the default, as for any error), a retry after a delay the
/// handler chose ([`retry_after`](Self::retry_after)), or giving up at once
/// ([`term`](Self::term): straight to the dead-letter topic). Its text is
/// kept as the message's failure text.
///
/// ```
/// use ringmq_core::{Broker, BrokerOptions, HandlerError, SubOptions, TopicOptions};
/// use std::time::Duration;
///
/// let mq = Broker::new(BrokerOptions::default()).unwrap();
/// mq.on_handler_failure(|f| eprintln!("{}/{}: message {} failed: {}", f.topic, f.group, f.id, f.error));
/// let jobs = mq.create_topic("jobs", TopicOptions::default()).unwrap();
/// let _worker = jobs
///     .subscribe("worker", SubOptions::default(), |m| match m.data {
///         b"malformed" => Err(HandlerError::term("cannot parse")),
///         b"busy" => Err(HandlerError::retry_after(Duration::from_secs(5))),
///         _ => Ok(()),
///     })
///     .unwrap();
/// let dead = jobs.dead_letter_topic().unwrap().subscribe_pull("ops", SubOptions::default()).unwrap();
/// jobs.publish(b"malformed").unwrap();
/// let d = dead.poll(Some(Duration::from_secs(5))).unwrap().unwrap();
/// assert_eq!((d.attempt(), d.dead_letter_reason()), (1, Some("cannot parse")));
/// d.ack().unwrap();
/// mq.close(Duration::from_secs(1)).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerError {
    text: String,
    outcome: Outcome,
}

/// What a failed handler asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Retry after the backoff (dead-lettered at `max_attempts`).
    Retry,
    /// Retry after this delay (dead-lettered at `max_attempts`).
    RetryAfter(Duration),
    /// Straight to the dead-letter topic.
    Term,
}

impl HandlerError {
    /// A failure: retried after the topic's backoff.
    pub fn new(text: impl Into<String>) -> HandlerError {
        HandlerError {
            text: text.into(),
            outcome: Outcome::Retry,
        }
    }

    /// Retry after `delay` instead of the backoff (still dead-lettered once
    /// the message has had `max_attempts` deliveries).
    pub fn retry_after(delay: Duration) -> HandlerError {
        HandlerError {
            text: format!("retry after {delay:?}"),
            outcome: Outcome::RetryAfter(delay),
        }
    }

    /// As [`retry_after`](Self::retry_after), with a failure text.
    pub fn retry_after_with_reason(delay: Duration, reason: impl Into<String>) -> HandlerError {
        HandlerError {
            text: reason.into(),
            outcome: Outcome::RetryAfter(delay),
        }
    }

    /// Give up at once: the message goes to the dead-letter topic with
    /// `reason`, no more attempts.
    pub fn term(reason: impl Into<String>) -> HandlerError {
        HandlerError {
            text: reason.into(),
            outcome: Outcome::Term,
        }
    }

    /// The failure's text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The delay the handler asked for, if it chose one.
    pub fn retry_delay(&self) -> Option<Duration> {
        match self.outcome {
            Outcome::RetryAfter(d) => Some(d),
            _ => None,
        }
    }

    /// Did the handler give up on the message ([`term`](Self::term))?
    pub fn is_term(&self) -> bool {
        self.outcome == Outcome::Term
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for HandlerError {}

impl From<&str> for HandlerError {
    fn from(s: &str) -> Self {
        HandlerError::new(s)
    }
}

impl From<String> for HandlerError {
    fn from(s: String) -> Self {
        HandlerError::new(s)
    }
}

/// A handler failure, as the failure hook (see
/// [`Broker::on_handler_failure`](crate::Broker::on_handler_failure)) sees
/// it. Made by the engine only; new fields may be added.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct HandlerFailure<'a> {
    pub topic: &'a str,
    pub group: &'a str,
    /// The message's id, key and attempt (1 on its first delivery).
    pub id: u64,
    pub key: u64,
    pub attempt: u32,
    /// What the handler returned (for a panic, the panic's text).
    pub error: &'a HandlerError,
    pub panicked: bool,
    /// True when the message goes to the dead-letter topic (a term, or its
    /// last attempt); false when it will be retried.
    pub dead_lettered: bool,
}

/// The failure hook's type.
pub(crate) type FailureHook = std::sync::Arc<dyn Fn(&HandlerFailure<'_>) + Send + Sync>;

pub type HandlerResult = std::result::Result<(), HandlerError>;

/// Runs `f`; a panic is caught and returned as `Err` with its text, for
/// the caller to count where it belongs.
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> std::result::Result<R, HandlerError> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| HandlerError::new(panic_text(&*p)))
}

/// How the text of a caught panic starts.
pub(crate) const PANIC_PREFIX: &str = "handler panicked";

/// The text of a panic's payload.
pub(crate) fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        format!("{PANIC_PREFIX}: {s}")
    } else if let Some(s) = p.downcast_ref::<String>() {
        format!("{PANIC_PREFIX}: {s}")
    } else {
        PANIC_PREFIX.to_owned()
    }
}
