//! One export: a RingMQ pull subscription copied into a JetStream subject.
//!
//! The loop keeps up to `max_in_flight` messages published and waiting for
//! their JetStream acks, oldest first in `held`. Acks are taken in order:
//! a message is acked in RingMQ only after its own JetStream ack, and only
//! after everything before it was settled.
//!
//! - A publish JetStream refuses for good (too large, no stream for the
//!   subject, a header NATS cannot carry) dead-letters that message in
//!   RingMQ with the error's text; the others go on.
//! - A transient failure (ack timeout, disconnected, broken pipe, stream
//!   not ready) stops taking new messages. The held deliveries are kept
//!   alive with `in_progress`; after a backoff, and once connected again,
//!   the failed message and everything after it are published again in
//!   order. Their `Nats-Msg-Id`s are the same, so JetStream drops copies
//!   it already stored.
//! - Stopping with a drain takes nothing new and waits for the held acks
//!   until the deadline; what is left is dropped unsettled, so it stays in
//!   RingMQ.

use std::collections::VecDeque;
use std::future::IntoFuture;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::header::{HeaderMap, HeaderName, HeaderValue};
use async_nats::jetstream::context::{PublishAckFuture, PublishErrorKind};
use async_nats::jetstream::{self, context::PublishError};
use ringmq_core::{Delivery, ErrorKind, PullSubscription};
use tokio::sync::watch;

use crate::{backoff, ExportConfig, Mode, Shared};

type AckFuture = Pin<
    Box<
        dyn std::future::Future<Output = Result<jetstream::publish::PublishAck, PublishError>>
            + Send,
    >,
>;

/// The headers the bridge sets; a RingMQ header of one of these names is
/// not copied.
const BRIDGE_HEADERS: [&str; 4] = ["Nats-Msg-Id", "RingMQ-Key", "RingMQ-Id", "RingMQ-Msg-Id"];

/// How long a poll waits when nothing is in flight.
const IDLE_POLL: Duration = Duration::from_millis(100);
/// How often held deliveries are kept alive while waiting.
const KEEPALIVE: Duration = Duration::from_secs(1);

pub(crate) struct Export {
    pub(crate) bridge_id: String,
    pub(crate) cfg: ExportConfig,
    pub(crate) sub: PullSubscription,
    pub(crate) js: jetstream::Context,
    pub(crate) shared: Arc<Shared>,
    pub(crate) mode: watch::Receiver<Mode>,
    pub(crate) connected: watch::Receiver<bool>,
    pub(crate) reconnect_min: Duration,
    pub(crate) reconnect_max: Duration,
}

type AckTask = tokio::task::JoinHandle<Result<jetstream::publish::PublishAck, PublishError>>;

/// A delivery taken from RingMQ and what became of its publish: None
/// while it is to be published (again).
struct Held {
    d: Delivery,
    ack: Option<Pending>,
}

/// A publish's answer to come.
enum Pending {
    /// JetStream's ack, awaited by a task.
    Wait(AckTask),
    /// Refused before it was sent (it is settled in its turn).
    Refused(String),
}

impl Pending {
    fn is_finished(&self) -> bool {
        match self {
            Pending::Wait(t) => t.is_finished(),
            Pending::Refused(_) => true,
        }
    }

    fn abort(&self) {
        if let Pending::Wait(t) = self {
            t.abort();
        }
    }
}

/// What became of one publish.
enum Outcome {
    Stored,
    /// JetStream will never take it: the reason.
    Refused(String),
    /// Try again later: the reason.
    Transient(String),
}

impl Export {
    pub(crate) async fn run(mut self) {
        let mut held: VecDeque<Held> = VecDeque::new();
        let mut stream_ready = self.cfg.stream.is_none();
        let mut failures = 0usize;
        // Failed rounds since the last stored message: the backoff's
        // exponent.
        let mut streak = 0usize;
        loop {
            let mode = *self.mode.borrow();
            if mode == Mode::Now {
                break;
            }
            let draining = matches!(mode, Mode::Drain(_));
            if draining && held.is_empty() {
                break;
            }
            if let Mode::Drain(deadline) = mode {
                if Instant::now() >= deadline {
                    break;
                }
            }

            // Not connected, or the last round failed: wait, then publish
            // everything held again, in order.
            if failures > 0 || !*self.connected.borrow() {
                // Publishes in flight when the connection went may be lost:
                // they are all published again once connected.
                failures = failures.max(1);
                streak += 1;
                if !self.wait_to_retry(&held, streak).await {
                    break;
                }
                if !stream_ready {
                    stream_ready = self.ensure_stream().await;
                    if !stream_ready {
                        failures += 1;
                        continue;
                    }
                }
                if failures > 0 {
                    for h in held.iter_mut() {
                        if let Some(a) = h.ack.take() {
                            a.abort();
                        }
                    }
                    failures = 0;
                }
            }
            if !stream_ready {
                stream_ready = self.ensure_stream().await;
                if !stream_ready {
                    failures += 1;
                    continue;
                }
            }

            // Publish what is held and not published (after a failure).
            let mut broken = false;
            for h in held.iter_mut() {
                if h.ack.is_none() {
                    match self.publish(&h.d).await {
                        Ok(fut) => h.ack = Some(Pending::Wait(tokio::spawn(fut))),
                        Err(Outcome::Transient(why)) => {
                            self.shared.error(why);
                            broken = true;
                            break;
                        }
                        // Settled below, in order, as a refused ack.
                        Err(Outcome::Refused(why)) => h.ack = Some(Pending::Refused(why)),
                        Err(Outcome::Stored) => unreachable!(),
                    }
                }
            }
            if broken {
                failures = 1;
                continue;
            }

            // Take new messages.
            let room = self.cfg.max_in_flight.saturating_sub(held.len());
            let mut taken = 0;
            if room > 0 && !draining {
                let fresh = if held.is_empty() {
                    self.poll_blocking(room).await
                } else {
                    let mut v = Vec::new();
                    match self.sub.poll_batch(room, Some(Duration::ZERO), &mut v) {
                        Ok(_) => Ok(v),
                        Err(e) => Err(e),
                    }
                };
                match fresh {
                    Ok(v) => {
                        taken = v.len();
                        self.shared.in_flight.fetch_add(taken as u64, Relaxed);
                        for d in v {
                            let ack = if failures == 0 {
                                match self.publish(&d).await {
                                    Ok(fut) => Some(Pending::Wait(tokio::spawn(fut))),
                                    Err(Outcome::Transient(why)) => {
                                        self.shared.error(why);
                                        failures = 1;
                                        None
                                    }
                                    Err(Outcome::Refused(why)) => Some(Pending::Refused(why)),
                                    Err(Outcome::Stored) => unreachable!(),
                                }
                            } else {
                                None
                            };
                            held.push_back(Held { d, ack });
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::Closed => {
                        self.shared.error(format!("RingMQ: {e}"));
                        break;
                    }
                    Err(e) => {
                        self.shared.error(format!("RingMQ: {e}"));
                        tokio::time::sleep(self.reconnect_min).await;
                    }
                }
            }
            if failures > 0 {
                continue;
            }

            // Settle what is acknowledged, in order; wait for the oldest when
            // nothing new came or no room is left.
            let must_wait = taken == 0 || held.len() >= self.cfg.max_in_flight || draining;
            let mut first = true;
            while let Some(front) = held.front_mut() {
                let Some(ack) = front.ack.as_mut() else {
                    break;
                };
                let ready = ack.is_finished() || (must_wait && first);
                if !ready {
                    break;
                }
                first = false;
                let outcome = match ack {
                    Pending::Refused(why) => Some(Outcome::Refused(why.clone())),
                    Pending::Wait(t) => self
                        .await_ack(t)
                        .await
                        .map(|r| classify(r, self.cfg.stream.is_some())),
                };
                let outcome = match outcome {
                    Some(o) => o,
                    // Disconnected, or told to stop, while waiting.
                    None => {
                        if *self.mode.borrow() == Mode::Now {
                            break;
                        }
                        if !*self.connected.borrow() {
                            failures = 1;
                        }
                        break;
                    }
                };
                match outcome {
                    Outcome::Stored => {
                        streak = 0;
                        let h = held.pop_front().expect("front");
                        self.shared.in_flight.fetch_sub(1, Relaxed);
                        match h.d.ack() {
                            Ok(()) => {
                                self.shared.exported.fetch_add(1, Relaxed);
                            }
                            Err(e) => self.shared.error(format!("RingMQ ack: {e}")),
                        }
                    }
                    Outcome::Refused(why) => {
                        let h = held.pop_front().expect("front");
                        self.shared.in_flight.fetch_sub(1, Relaxed);
                        self.shared.error(format!(
                            "JetStream refused message {} of topic {:?}: {why}",
                            h.d.id(),
                            self.cfg.topic
                        ));
                        match h.d.term_with_reason(&why) {
                            Ok(()) => {
                                self.shared.dead_lettered.fetch_add(1, Relaxed);
                            }
                            Err(e) => self.shared.error(format!("RingMQ term: {e}")),
                        }
                    }
                    Outcome::Transient(why) => {
                        self.shared.error(why);
                        if self.cfg.stream.is_some() {
                            // The stream may have gone: make sure of it again.
                            stream_ready = false;
                        }
                        failures = 1;
                        break;
                    }
                }
            }
        }
        // Unsettled deliveries are dropped: they stay in RingMQ.
        self.shared.in_flight.fetch_sub(held.len() as u64, Relaxed);
        for h in held.drain(..) {
            if let Some(a) = h.ack {
                a.abort();
            }
        }
    }

    /// Waits for one ack; None when disconnected or stopping first.
    async fn await_ack(
        &self,
        ack: &mut AckTask,
    ) -> Option<Result<jetstream::publish::PublishAck, PublishError>> {
        let deadline = match *self.mode.borrow() {
            Mode::Drain(d) => Some(d),
            _ => None,
        };
        let mut connected = self.connected.clone();
        let mut mode = self.mode.clone();
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = ack => Some(r.unwrap_or_else(|e| Err(PublishError::with_source(PublishErrorKind::Other, e)))),
            _ = connected.wait_for(|c| !*c) => None,
            _ = mode_changed(&mut mode) => None,
            _ = sleep => None,
        }
    }

    /// Waits a backoff and until connected, keeping `held` alive. False
    /// when stopping.
    async fn wait_to_retry(&mut self, held: &VecDeque<Held>, failures: usize) -> bool {
        let delay = if failures == 0 {
            Duration::ZERO
        } else {
            backoff(self.reconnect_min, self.reconnect_max, failures - 1)
        };
        let until = Instant::now() + delay;
        loop {
            if !matches!(*self.mode.borrow(), Mode::Run) {
                return false;
            }
            for h in held {
                let _ = h.d.in_progress();
            }
            let now = Instant::now();
            if now >= until && *self.connected.borrow() {
                return true;
            }
            let step = if now < until {
                (until - now).min(KEEPALIVE)
            } else {
                KEEPALIVE
            };
            let mut connected = self.connected.clone();
            let mut mode = self.mode.clone();
            tokio::select! {
                _ = tokio::time::sleep(step) => {}
                _ = connected.wait_for(|c| *c), if now >= until => {}
                _ = mode_changed(&mut mode) => {}
            }
        }
    }

    /// Polls RingMQ off the runtime's workers (a poll blocks).
    async fn poll_blocking(&self, room: usize) -> ringmq_core::Result<Vec<Delivery>> {
        let sub = self.sub.clone();
        tokio::task::spawn_blocking(move || {
            let mut v = Vec::new();
            sub.poll_batch(room, Some(IDLE_POLL), &mut v).map(|_| v)
        })
        .await
        .unwrap_or_else(|e| {
            Err(ringmq_core::Error::new(
                ErrorKind::Internal,
                format!("poll task failed: {e}"),
            ))
        })
    }

    /// Makes sure the configured stream exists (creating it to capture the
    /// subject). False, with the error noted, when JetStream did not answer.
    async fn ensure_stream(&self) -> bool {
        let Some(name) = &self.cfg.stream else {
            return true;
        };
        let config = jetstream::stream::Config {
            name: name.clone(),
            subjects: vec![self.cfg.subject.clone()],
            ..Default::default()
        };
        match self.js.get_or_create_stream(config).await {
            Ok(_) => true,
            Err(e) => {
                self.shared.error(format!("JetStream stream {name:?}: {e}"));
                false
            }
        }
    }

    /// Sends one message; its ack future to await.
    async fn publish(&self, d: &Delivery) -> Result<AckFuture, Outcome> {
        let headers = self.headers(d).map_err(Outcome::Refused)?;
        let payload = d.data().to_vec().into();
        match self
            .js
            .publish_with_headers(self.cfg.subject.clone(), headers, payload)
            .await
        {
            Ok(f) => Ok(into_ack(f)),
            Err(e) => match classify(Err(e), self.cfg.stream.is_some()) {
                Outcome::Stored => unreachable!(),
                other => Err(other),
            },
        }
    }

    /// The NATS headers of a delivery; Err when one cannot be carried.
    fn headers(&self, d: &Delivery) -> Result<HeaderMap, String> {
        let mut h = HeaderMap::new();
        h.insert(
            "Nats-Msg-Id",
            format!("{}/{}/{}", self.bridge_id, self.cfg.topic, d.id()),
        );
        h.insert("RingMQ-Key", d.key().to_string());
        h.insert("RingMQ-Id", d.id().to_string());
        if let Some(id) = d.msg_id() {
            let v = std::str::from_utf8(id)
                .ok()
                .and_then(|s| s.parse::<HeaderValue>().ok())
                .ok_or("msg_id is not UTF-8 text NATS can carry in a header")?;
            h.insert("RingMQ-Msg-Id", v);
        }
        for (name, value) in d.headers().iter() {
            // The bridge's own headers are not overridden by the message's.
            if BRIDGE_HEADERS.iter().any(|b| b.eq_ignore_ascii_case(name)) {
                continue;
            }
            let n: HeaderName = name
                .parse()
                .map_err(|_| format!("header name {name:?} cannot be a NATS header"))?;
            let v: HeaderValue = std::str::from_utf8(value)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| {
                    format!("the value of header {name:?} is not UTF-8 text NATS can carry")
                })?;
            h.append(n, v);
        }
        Ok(h)
    }
}

/// Resolves when the mode changes (or its sender is gone).
async fn mode_changed(mode: &mut watch::Receiver<Mode>) {
    mode.borrow_and_update();
    if mode.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

fn into_ack(f: PublishAckFuture) -> AckFuture {
    f.into_future()
}

/// Sorts a publish's result into stored, refused for good, or transient.
fn classify(r: Result<jetstream::publish::PublishAck, PublishError>, has_stream: bool) -> Outcome {
    let e = match r {
        Ok(_) => return Outcome::Stored,
        Err(e) => e,
    };
    let text = e.to_string();
    match e.kind() {
        PublishErrorKind::MaxPayloadExceeded
        | PublishErrorKind::WrongLastMessageId
        | PublishErrorKind::WrongLastSequence => Outcome::Refused(text),
        // With a configured stream, it is (re)created before the retry.
        PublishErrorKind::StreamNotFound if !has_stream => Outcome::Refused(text),
        PublishErrorKind::Other => {
            // A JetStream error answer with a 4xx code (other than 503, not
            // ready) refuses this message; anything else may pass later.
            let code = std::error::Error::source(&e)
                .and_then(|s| s.downcast_ref::<jetstream::Error>())
                .map(|j| j.code());
            match code {
                Some(c) if (400..500).contains(&c) => Outcome::Refused(text),
                Some(_) => Outcome::Transient(text),
                None => Outcome::Transient(text),
            }
        }
        _ => Outcome::Transient(format!("JetStream publish: {text}")),
    }
}
