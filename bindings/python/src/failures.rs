//! The failure texts of dead letters, so that a consumer of a dead-letter
//! topic can read why a message got there (`Message.error`).
//!
//! The engine keeps the text of a message's last failure with the message
//! while it waits for a retry, and as the subscription's `last_error`, but a
//! dead letter reaches the dead-letter topic's consumers without it. The
//! binding knows when a failure it reports is final (a handler's exception
//! or a `nack` with a reason on the last allowed attempt, or a `term` with a
//! reason), so it remembers the text by dead-letter topic and message id.
//! The memory is bounded: the oldest texts are forgotten first.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Texts kept per broker.
const KEEP: usize = 16 * 1024;

#[derive(Default)]
struct Log {
    texts: HashMap<(String, u64), String>,
    order: VecDeque<(String, u64)>,
}

#[derive(Default)]
pub(crate) struct FailureLog {
    log: Mutex<Log>,
}

impl FailureLog {
    pub(crate) fn record(&self, dlq: &str, id: u64, text: &str) {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        let key = (dlq.to_owned(), id);
        if log.texts.insert(key.clone(), text.to_owned()).is_none() {
            log.order.push_back(key);
        }
        while log.order.len() > KEEP {
            if let Some(old) = log.order.pop_front() {
                log.texts.remove(&old);
            }
        }
    }

    pub(crate) fn get(&self, dlq: &str, id: u64) -> Option<String> {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        log.texts.get(&(dlq.to_owned(), id)).cloned()
    }
}
