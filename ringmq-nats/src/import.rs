//! One import: a durable JetStream pull consumer copied into a RingMQ
//! topic.
//!
//! Messages are fetched in batches and published into the topic one at a
//! time, in stream order; each is acked in JetStream only after RingMQ took
//! it. Its RingMQ `msg_id` is `<stream>/<stream sequence>`, so a message
//! JetStream delivers again (its ack was lost, or the bridge stopped before
//! acking) is stored once within the topic's `dedupe_window`.
//!
//! - A full topic (`Timeout` under `block`, `Full` under `reject`) holds the
//!   message: JetStream is told work is in progress and the publish is
//!   tried again after a backoff; nothing more is fetched meanwhile.
//! - A message RingMQ refuses for good (larger than `slot_size`, headers
//!   over `max_header_bytes`) is terminated in JetStream (`Term`, no more
//!   deliveries) and counted as dead-lettered.
//! - Stopping leaves the message being published unacked: JetStream
//!   delivers it again after its `ack_wait`.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, AckKind};
use futures_util::StreamExt;
use ringmq_core::{ErrorKind, Topic};
use tokio::sync::watch;

use crate::{backoff, ImportConfig, Mode, Shared};

/// How long one fetch waits for messages.
const FETCH_WAIT: Duration = Duration::from_secs(1);
/// How long one publish into RingMQ waits for room.
const PUBLISH_WAIT: Duration = Duration::from_millis(500);

pub(crate) struct Import {
    pub(crate) cfg: ImportConfig,
    pub(crate) topic: Topic,
    pub(crate) js: jetstream::Context,
    pub(crate) shared: Arc<Shared>,
    pub(crate) mode: watch::Receiver<Mode>,
    pub(crate) connected: watch::Receiver<bool>,
    pub(crate) reconnect_min: Duration,
    pub(crate) reconnect_max: Duration,
}

/// What became of one message.
enum Step {
    Done,
    Stop,
}

impl Import {
    fn running(&self) -> bool {
        *self.mode.borrow() == Mode::Run
    }

    pub(crate) async fn run(self) {
        let mut streak = 0usize;
        let mut consumer: Option<jetstream::consumer::Consumer<pull::Config>> = None;
        while self.running() {
            if streak > 0 {
                let wait = backoff(self.reconnect_min, self.reconnect_max, streak - 1);
                let mut mode = self.mode.clone();
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = mode.wait_for(|m| *m != Mode::Run) => break,
                }
            }
            if !*self.connected.borrow() {
                let mut c = self.connected.clone();
                let mut mode = self.mode.clone();
                tokio::select! {
                    _ = c.wait_for(|c| *c) => {}
                    _ = mode.wait_for(|m| *m != Mode::Run) => break,
                }
            }
            let Some(cons) = consumer.as_ref() else {
                match self.consumer().await {
                    Ok(c) => consumer = Some(c),
                    Err(e) => {
                        self.shared.error(e);
                        streak += 1;
                    }
                }
                continue;
            };
            let batch = cons
                .fetch()
                .max_messages(self.cfg.batch)
                .expires(FETCH_WAIT)
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
            while let Some(m) = batch.next().await {
                let m = match m {
                    Ok(m) => m,
                    Err(e) => {
                        self.shared.error(format!("JetStream fetch: {e}"));
                        streak += 1;
                        break;
                    }
                };
                if let Step::Stop = self.import_one(&m).await {
                    return;
                }
            }
        }
    }

    /// The durable consumer, created if missing.
    async fn consumer(&self) -> Result<jetstream::consumer::Consumer<pull::Config>, String> {
        let stream = self
            .js
            .get_stream(&self.cfg.stream)
            .await
            .map_err(|e| format!("JetStream stream {:?}: {e}", self.cfg.stream))?;
        let config = pull::Config {
            durable_name: Some(self.cfg.consumer.clone()),
            filter_subject: self.cfg.filter_subject.clone().unwrap_or_default(),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            max_ack_pending: (self.cfg.batch as i64).max(1),
            ..Default::default()
        };
        stream
            .get_or_create_consumer(&self.cfg.consumer, config)
            .await
            .map_err(|e| format!("JetStream consumer {:?}: {e}", self.cfg.consumer))
    }

    /// Publishes one message into RingMQ (waiting while the topic is full)
    /// and settles it in JetStream.
    async fn import_one(&self, m: &jetstream::Message) -> Step {
        let seq = m.info().map(|i| i.stream_sequence).unwrap_or(0);
        let msg_id = format!("{}/{}", self.cfg.stream, seq);
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
                for v in values {
                    headers.push((name.clone(), v.as_str().as_bytes().to_vec()));
                }
            }
        }
        let payload = m.payload.to_vec();
        let mut attempt = 0usize;
        loop {
            let topic = self.topic.clone();
            let (payload2, headers2, id2) = (payload.clone(), headers.clone(), msg_id.clone());
            let r = tokio::task::spawn_blocking(move || {
                let hs: Vec<(&str, &[u8])> = headers2
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_slice()))
                    .collect();
                let opts = ringmq_core::PublishOptions {
                    key,
                    timeout: Some(PUBLISH_WAIT),
                    headers: &hs,
                    msg_id: (id2.len() <= ringmq_core::MAX_MSG_ID_LEN).then_some(id2.as_bytes()),
                    ..Default::default()
                };
                topic.publish_opts(&payload2, &opts)
            })
            .await;
            let r = match r {
                Ok(r) => r,
                Err(e) => Err(ringmq_core::Error::new(ErrorKind::Internal, e.to_string())),
            };
            match r {
                Ok(_) => {
                    if let Err(e) = m.ack().await {
                        // Delivered again later; the msg_id makes it harmless.
                        self.shared.error(format!("JetStream ack: {e}"));
                    }
                    self.shared.imported.fetch_add(1, Relaxed);
                    return Step::Done;
                }
                Err(e) if matches!(e.kind(), ErrorKind::Timeout | ErrorKind::Full) => {
                    // Full: hold it, keep JetStream from redelivering, retry.
                    let _ = m.ack_with(AckKind::Progress).await;
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
                    let _ = m.ack_with(AckKind::Term).await;
                    self.shared.dead_lettered.fetch_add(1, Relaxed);
                    return Step::Done;
                }
            }
        }
    }
}
