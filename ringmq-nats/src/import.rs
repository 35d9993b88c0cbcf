//! One import: a durable JetStream pull consumer feeding a RingMQ topic,
//! with each settle of the topic's relayed group mapped back to JetStream.
//!
//! JetStream owns the retries. Every fetched message is published into the
//! topic (key from `RingMQ-Key`, the other headers copied, `msg_id`
//! `<stream>/<stream sequence>/<delivery>`, `delivered_before` its earlier
//! JetStream deliveries) and held, unacked in JetStream, until the group
//! settles it here:
//!
//! - acked: `Ack`;
//! - nacked (a nack, a handler error, the topic's `ack_timeout` passed):
//!   `Nak` with the delay asked for, or the topic's backoff for that
//!   attempt; JetStream delivers it again and it is published again as a
//!   new message, attempt counted on;
//! - in progress: `InProgress`;
//! - dead-lettered (termed, out of attempts, expired) or dropped: `Term`.
//!
//! While a message is held the bridge keeps it alive in JetStream
//! (`InProgress` every third of the consumer's `ack_wait`), so JetStream
//! redelivers only what RingMQ failed, or everything held by a bridge that
//! died. A delivery of a message already held (it came back while a
//! keep-alive was late) is not published again: its newer handle replaces
//! the old one.
//!
//! Flow: a fetch asks for at most the ring's free room (capacity - depth)
//! and at most `batch`; a full ring fetches nothing.
//!
//! Stopping leaves held messages unacked in JetStream: it delivers them
//! again after `ack_wait` (and the topic may then hold a second copy).

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer::pull, AckKind};
use futures_util::StreamExt;
use ringmq_core::{ErrorKind, Outcome, Topic, TopicOptions};
use tokio::sync::{mpsc, watch};

use crate::{backoff, ImportConfig, Mode, Shared};

/// How long one fetch waits for messages.
const FETCH_WAIT: Duration = Duration::from_secs(1);
/// How long one publish into RingMQ waits for room.
const PUBLISH_WAIT: Duration = Duration::from_millis(500);
/// How often a full ring is looked at again when no settle came.
const ROOM_WAIT: Duration = Duration::from_millis(100);

/// One settle of the relayed group: the local message id and its outcome.
pub(crate) type Event = (u64, Outcome);

pub(crate) struct Import {
    pub(crate) cfg: ImportConfig,
    pub(crate) topic: Topic,
    pub(crate) js: jetstream::Context,
    pub(crate) shared: Arc<Shared>,
    pub(crate) mode: watch::Receiver<Mode>,
    pub(crate) connected: watch::Receiver<bool>,
    pub(crate) reconnect_min: Duration,
    pub(crate) reconnect_max: Duration,
    pub(crate) events: mpsc::UnboundedReceiver<Event>,
}

/// A message published into the topic and not yet settled there.
struct Held {
    acker: jetstream::message::Acker,
    stream_seq: u64,
    /// JetStream deliveries so far (this one included).
    delivered: u64,
    /// Last time JetStream heard of it (delivery or `InProgress`).
    touched: Instant,
}

/// The messages held, by local id and by stream sequence.
#[derive(Default)]
struct Holding {
    by_id: HashMap<u64, Held>,
    by_seq: HashMap<u64, u64>,
}

/// What became of one message.
enum Step {
    Done,
    Stop,
}

/// The consumer's `ack_wait` for a topic: twice its `ack_timeout`, at
/// least one second.
pub(crate) fn ack_wait(opts: &TopicOptions) -> Duration {
    opts.ack_timeout
        .saturating_mul(2)
        .max(Duration::from_secs(1))
}

impl Import {
    fn mode(&self) -> Mode {
        *self.mode.borrow()
    }

    fn running(&self) -> bool {
        self.mode() == Mode::Run
    }

    /// Free slots of the ring now.
    fn room(&self) -> usize {
        let s = self.topic.stats();
        s.capacity.saturating_sub(s.depth) as usize
    }

    pub(crate) async fn run(mut self) {
        let mut held = Holding::default();
        let mut streak = 0usize;
        let mut consumer: Option<jetstream::consumer::Consumer<pull::Config>> = None;
        loop {
            while let Ok(ev) = self.events.try_recv() {
                self.settle(&mut held, ev).await;
            }
            self.keep_alive(&mut held).await;
            match self.mode() {
                Mode::Run => {}
                Mode::Now => break,
                Mode::Drain(deadline) => {
                    // Nothing new; wait for the held ones' settles.
                    let now = Instant::now();
                    if held.by_id.is_empty() || now >= deadline {
                        break;
                    }
                    let wait = (deadline - now).min(ROOM_WAIT);
                    if let Ok(Some(ev)) = tokio::time::timeout(wait, self.events.recv()).await {
                        self.settle(&mut held, ev).await;
                    }
                    continue;
                }
            }
            if streak > 0 {
                let wait = backoff(self.reconnect_min, self.reconnect_max, streak - 1);
                let mut mode = self.mode.clone();
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = mode.wait_for(|m| *m != Mode::Run) => continue,
                }
            }
            if !*self.connected.borrow() {
                let mut c = self.connected.clone();
                let mut mode = self.mode.clone();
                tokio::select! {
                    _ = c.wait_for(|c| *c) => {}
                    _ = mode.wait_for(|m| *m != Mode::Run) => continue,
                }
            }
            let Some(cons) = consumer.as_ref() else {
                match self.consumer().await {
                    Ok(c) => {
                        consumer = Some(c);
                        streak = 0;
                    }
                    Err(e) => {
                        self.shared.error(e);
                        streak += 1;
                    }
                }
                continue;
            };
            let want = self.room().min(self.cfg.batch);
            if want == 0 {
                if let Ok(Some(ev)) = tokio::time::timeout(ROOM_WAIT, self.events.recv()).await {
                    self.settle(&mut held, ev).await;
                }
                continue;
            }
            let batch = cons
                .fetch()
                .max_messages(want)
                // Back in time for the next keep-alive.
                .expires(FETCH_WAIT.min(ack_wait(self.topic.options()) / 3))
                .messages()
                .await;
            let mut batch = match batch {
                Ok(b) => b,
                Err(e) => {
                    self.shared
                        .error(format!("JetStream fetch from {:?}: {e}", self.cfg.consumer));
                    // The consumer may have gone: look it up again.
                    consumer = None;
                    streak += 1;
                    continue;
                }
            };
            streak = 0;
            loop {
                tokio::select! {
                    biased;
                    Some(ev) = self.events.recv() => self.settle(&mut held, ev).await,
                    m = batch.next() => match m {
                        None => break,
                        Some(Ok(m)) => {
                            if let Step::Stop = self.import_one(&mut held, m).await {
                                self.leave(&held);
                                return;
                            }
                        }
                        Some(Err(e)) => {
                            self.shared.error(format!("JetStream fetch: {e}"));
                            streak += 1;
                            break;
                        }
                    },
                }
            }
        }
        self.leave(&held);
    }

    /// Stopping: held messages stay unacked in JetStream.
    fn leave(&self, held: &Holding) {
        self.shared
            .in_flight
            .fetch_sub(held.by_id.len() as u64, Relaxed);
    }

    /// Maps one settle of the relayed group back to JetStream.
    async fn settle(&self, held: &mut Holding, (id, outcome): Event) {
        if outcome == Outcome::InProgress {
            if let Some(h) = held.by_id.get_mut(&id) {
                h.touched = Instant::now();
                if let Err(e) = h.acker.ack_with(AckKind::Progress).await {
                    self.shared.error(format!("JetStream in progress: {e}"));
                }
            }
            return;
        }
        // Not ours (published by someone else, or before this bridge).
        let Some(h) = held.by_id.remove(&id) else {
            return;
        };
        held.by_seq.remove(&h.stream_seq);
        self.shared.in_flight.fetch_sub(1, Relaxed);
        let kind = match outcome {
            Outcome::Acked => AckKind::Ack,
            Outcome::Nacked { delay } => {
                let opts = self.topic.options();
                let n = h.delivered.saturating_sub(1) as usize;
                AckKind::Nak(Some(
                    delay.unwrap_or_else(|| backoff(opts.backoff_base, opts.backoff_max, n)),
                ))
            }
            Outcome::DeadLettered { .. } | Outcome::Dropped => {
                self.shared.dead_lettered.fetch_add(1, Relaxed);
                AckKind::Term
            }
            Outcome::InProgress => unreachable!("handled above"),
        };
        if let Err(e) = h.acker.ack_with(kind).await {
            // JetStream delivers it again after ack_wait.
            self.shared
                .error(format!("JetStream settle of {}: {e}", h.stream_seq));
        }
    }

    /// Tells JetStream the held messages are still being worked on, so that
    /// it redelivers them only if the bridge goes away.
    async fn keep_alive(&self, held: &mut Holding) {
        let every = ack_wait(self.topic.options()) / 3;
        let now = Instant::now();
        for h in held.by_id.values_mut() {
            if now.duration_since(h.touched) >= every {
                h.touched = now;
                let _ = h.acker.ack_with(AckKind::Progress).await;
            }
        }
    }

    /// The durable consumer: created if missing; an existing one is brought
    /// to the settings the topic asks for, or refused if it cannot be.
    async fn consumer(&self) -> Result<jetstream::consumer::Consumer<pull::Config>, String> {
        let name = &self.cfg.consumer;
        let stream = self
            .js
            .get_stream(&self.cfg.stream)
            .await
            .map_err(|e| format!("JetStream stream {:?}: {e}", self.cfg.stream))?;
        let opts = self.topic.options();
        let max_deliver = i64::from(opts.max_attempts.max(1));
        let max_ack_pending = opts.capacity.max(self.cfg.batch) as i64;
        let ack_wait = ack_wait(opts);
        let filter = self.cfg.filter_subject.clone().unwrap_or_default();
        let existing = stream.get_consumer::<pull::Config>(name).await;
        let mut c = match existing {
            Ok(c) => c,
            Err(_) => {
                let config = pull::Config {
                    durable_name: Some(name.clone()),
                    filter_subject: filter,
                    ack_policy: jetstream::consumer::AckPolicy::Explicit,
                    ack_wait,
                    max_deliver,
                    max_ack_pending,
                    ..Default::default()
                };
                return stream
                    .create_consumer(config)
                    .await
                    .map_err(|e| format!("JetStream consumer {name:?}: {e}"));
            }
        };
        let have = c
            .info()
            .await
            .map_err(|e| format!("JetStream consumer {name:?}: {e}"))?
            .config
            .clone();
        if have.ack_policy != jetstream::consumer::AckPolicy::Explicit {
            return Err(format!(
                "JetStream consumer {name:?} exists with ack policy {:?}; an import needs \
                 explicit acks (delete the consumer or name another)",
                have.ack_policy
            ));
        }
        if have.filter_subject != filter {
            return Err(format!(
                "JetStream consumer {name:?} exists with filter subject {:?}, not {filter:?} \
                 (delete the consumer or name another)",
                have.filter_subject
            ));
        }
        let mut want = have.clone();
        want.max_deliver = max_deliver;
        want.ack_wait = ack_wait;
        want.backoff = Vec::new();
        want.max_ack_pending = want.max_ack_pending.max(max_ack_pending);
        if want == have {
            return Ok(c);
        }
        stream
            .create_consumer(want)
            .await
            .map_err(|e| format!("JetStream consumer {name:?}: cannot update it: {e}"))?;
        stream
            .get_consumer(name)
            .await
            .map_err(|e| format!("JetStream consumer {name:?}: {e}"))
    }

    /// Publishes one message into RingMQ (waiting while the topic is full)
    /// and holds it until its settle comes back.
    async fn import_one(&self, held: &mut Holding, m: jetstream::Message) -> Step {
        let (seq, delivered) = m
            .info()
            .map(|i| (i.stream_sequence, i.delivered.max(1) as u64))
            .unwrap_or((0, 1));
        let (m, acker) = m.split();
        if let Some(id) = held.by_seq.get(&seq) {
            // Delivered again while held: keep the newest handle only.
            if let Some(h) = held.by_id.get_mut(id) {
                h.acker = acker;
                h.delivered = delivered;
                h.touched = Instant::now();
            }
            return Step::Done;
        }
        let msg_id = format!("{}/{}/{}", self.cfg.stream, seq, delivered);
        let mut key = 0u64;
        let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
        if let Some(h) = &m.headers {
            for (name, values) in h.iter() {
                let name = name.to_string();
                if name.eq_ignore_ascii_case("RingMQ-Key") {
                    if let Some(k) = values.first().and_then(|v| v.as_str().parse().ok()) {
                        key = k;
                    }
                    continue;
                }
                if is_bridge_header(&name) {
                    continue;
                }
                for v in values {
                    headers.push((name.clone(), v.as_str().as_bytes().to_vec()));
                }
            }
        }
        let payload = m.payload.to_vec();
        let delivered_before = u32::try_from(delivered - 1).unwrap_or(u32::MAX);
        let mut attempt = 0usize;
        loop {
            // On this worker thread (the runtime is multi-threaded): a
            // publish is a copy into the ring, or at worst a wait of
            // PUBLISH_WAIT for room or for a durable topic's fsync, which
            // `block_in_place` lets the runtime's other worker cover. A hop
            // to the blocking pool per message cost most of the import's
            // throughput.
            let r = tokio::task::block_in_place(|| {
                let hs: Vec<(&str, &[u8])> = headers
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_slice()))
                    .collect();
                let opts = ringmq_core::PublishOptions {
                    key,
                    timeout: Some(PUBLISH_WAIT),
                    headers: &hs,
                    msg_id: (msg_id.len() <= ringmq_core::MAX_MSG_ID_LEN)
                        .then_some(msg_id.as_bytes()),
                    delivered_before,
                    ..Default::default()
                };
                self.topic.publish_opts(&payload, &opts)
            });
            match r {
                Ok(id) => {
                    self.shared.imported.fetch_add(1, Relaxed);
                    if let Some(h) = held.by_id.get_mut(&id) {
                        // A duplicate of one held (the same delivery).
                        h.acker = acker;
                        return Step::Done;
                    }
                    self.shared.in_flight.fetch_add(1, Relaxed);
                    held.by_seq.insert(seq, id);
                    held.by_id.insert(
                        id,
                        Held {
                            acker,
                            stream_seq: seq,
                            delivered,
                            touched: Instant::now(),
                        },
                    );
                    return Step::Done;
                }
                Err(e) if matches!(e.kind(), ErrorKind::Timeout | ErrorKind::Full) => {
                    // Full: hold it, keep JetStream from redelivering, retry.
                    let _ = acker.ack_with(AckKind::Progress).await;
                    if !self.running() {
                        return Step::Stop;
                    }
                    let wait = backoff(self.reconnect_min, self.reconnect_max, attempt);
                    attempt += 1;
                    tokio::time::sleep(wait).await;
                }
                Err(e) if e.kind() == ErrorKind::Closed => {
                    self.shared.error(format!("RingMQ: {e}"));
                    return Step::Stop;
                }
                Err(e) => {
                    let why = format!(
                        "RingMQ topic {:?} refused message {msg_id}: {e}",
                        self.cfg.topic
                    );
                    self.shared.error(why);
                    let _ = acker.ack_with(AckKind::Term).await;
                    self.shared.dead_lettered.fetch_add(1, Relaxed);
                    return Step::Done;
                }
            }
        }
    }
}

/// NATS's own headers and the bridge's, not copied into RingMQ.
fn is_bridge_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.starts_with("nats-") || matches!(n.as_str(), "ringmq-id" | "ringmq-key" | "ringmq-msg-id")
}
