//! The bridge against a real NATS server (JetStream). The server's URL
//! comes from `RINGMQ_NATS_URL` (scripts/test-nats.sh sets it); without it
//! the tests that need a server say they are skipped and pass. Tests that
//! stop the server start their own with scripts/nats-server.sh.
//!
//! Every test uses its own topic, stream and subject names.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use ringmq_core::{
    Broker, BrokerOptions, ErrorKind, Fsync, Overflow, PublishOptions, StartAt, SubOptions,
    TopicOptions,
};
use ringmq_nats::{Bridge, BridgeConfig, BridgeError, ExportConfig};

fn nats_url(test: &str) -> Option<String> {
    match std::env::var("RINGMQ_NATS_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            eprintln!("{test}: skipped (RINGMQ_NATS_URL is not set; run scripts/test-nats.sh)");
            None
        }
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn broker() -> Broker {
    Broker::new(BrokerOptions {
        workers_max: 2,
        ..Default::default()
    })
    .unwrap()
}

fn export(topic: &str, subject: &str, stream: Option<&str>, max_in_flight: usize) -> ExportConfig {
    ExportConfig {
        topic: topic.into(),
        group: "nats".into(),
        subject: subject.into(),
        stream: stream.map(Into::into),
        max_in_flight,
    }
}

fn config(id: &str, url: &str, exports: Vec<ExportConfig>) -> BridgeConfig {
    let mut c = BridgeConfig::new(id, vec![url.to_owned()]);
    c.exports = exports;
    c.reconnect_min = Duration::from_millis(50);
    c.reconnect_max = Duration::from_millis(500);
    c
}

/// Waits until `f` holds, up to `secs`; panics with `what` otherwise.
fn wait_for(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A message as stored in a stream.
#[derive(Debug)]
struct Stored {
    ringmq_id: u64,
    key: u64,
    msg_id: String,
    headers: HashMap<String, String>,
    payload: Vec<u8>,
}

fn stored(headers: &async_nats::HeaderMap, payload: &[u8]) -> Stored {
    let get = |n: &str| headers.get(n).map(|v| v.as_str().to_owned());
    let mut all = HashMap::new();
    for (name, values) in headers.iter() {
        if let Some(v) = values.first() {
            all.insert(name.to_string(), v.as_str().to_owned());
        }
    }
    Stored {
        ringmq_id: get("RingMQ-Id").expect("RingMQ-Id").parse().unwrap(),
        key: get("RingMQ-Key").expect("RingMQ-Key").parse().unwrap(),
        msg_id: get("Nats-Msg-Id").expect("Nats-Msg-Id"),
        headers: all,
        payload: payload.to_vec(),
    }
}

/// Every message of `stream`, in stream order, read by sequence.
fn read_stream(url: &str, stream: &str) -> Vec<Stored> {
    rt().block_on(async {
        let client = async_nats::connect(url).await.unwrap();
        let js = jetstream::new(client);
        let mut s = js.get_stream(stream).await.unwrap();
        let state = s.info().await.unwrap().state.clone();
        let mut out = Vec::new();
        if state.messages == 0 {
            return out;
        }
        for seq in state.first_sequence..=state.last_sequence {
            if let Ok(m) = s.get_raw_message(seq).await {
                out.push(stored(&m.headers, &m.payload));
            }
        }
        out
    })
}

fn stream_count(url: &str, stream: &str) -> u64 {
    rt().block_on(async {
        let client = async_nats::connect(url).await.unwrap();
        let js = jetstream::new(client);
        let mut s = js.get_stream(stream).await.unwrap();
        s.info().await.unwrap().state.messages
    })
}

/// Checks each RingMQ id appears once and each key's ids rise.
fn assert_once_in_key_order(msgs: &[Stored], n: usize) {
    let ids: HashSet<u64> = msgs.iter().map(|m| m.ringmq_id).collect();
    assert_eq!(ids.len(), msgs.len(), "a message is in the stream twice");
    assert_eq!(msgs.len(), n, "stream holds {} of {n} messages", msgs.len());
    let mut last: HashMap<u64, u64> = HashMap::new();
    for m in msgs {
        if let Some(prev) = last.insert(m.key, m.ringmq_id) {
            assert!(
                prev < m.ringmq_id,
                "key {} out of order: {} after {}",
                m.key,
                m.ringmq_id,
                prev
            );
        }
    }
}

fn lag(topic: &ringmq_core::Topic, group: &str) -> (u64, u64) {
    let s = topic
        .subscription_stats()
        .into_iter()
        .find(|(g, _)| g == group)
        .expect("group")
        .1;
    (s.lag, s.in_flight)
}

/// A NATS server of one test's own (for tests that stop it), started
/// with scripts/nats-server.sh in a temporary directory.
struct OwnServer {
    dir: PathBuf,
    port: String,
}

impl OwnServer {
    fn script() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/nats-server.sh")
    }

    fn start(name: &str) -> OwnServer {
        Self::start_with(name, &[])
    }

    /// Starts with environment variables for the script (such as
    /// `RINGMQ_NATS_MAX_PAYLOAD`).
    fn start_with(name: &str, env: &[(&str, &str)]) -> OwnServer {
        let dir = std::env::temp_dir().join(format!("ringmq-nats-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let out = Command::new("bash")
            .arg(Self::script())
            .arg("start")
            .arg(&dir)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = std::fs::read_to_string(dir.join("port"))
            .unwrap()
            .trim()
            .to_owned();
        OwnServer { dir, port }
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn stop(&self) {
        let st = Command::new("bash")
            .arg(Self::script())
            .arg("stop")
            .arg(&self.dir)
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// Starts again on the same port with the same store.
    fn restart(&self) {
        let out = Command::new("bash")
            .arg(Self::script())
            .arg("start")
            .arg(&self.dir)
            .arg(&self.port)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn export_round_trip() {
    let Some(url) = nats_url("export_round_trip") else {
        return;
    };
    let mq = broker();
    let topic = mq.create_topic("rt", TopicOptions::default()).unwrap();
    const N: usize = 200;
    for i in 0..N {
        let hv = format!("v{i}");
        let mid = format!("order-{i}");
        let opts = PublishOptions {
            key: (i % 5) as u64,
            // A header named as the bridge's own does not replace it (else
            // JetStream would take every message for a duplicate).
            headers: &[
                ("trace", hv.as_bytes()),
                ("kind", b"test"),
                ("Nats-Msg-Id", b"same"),
            ],
            msg_id: (i % 2 == 0).then_some(mid.as_bytes()),
            ..Default::default()
        };
        topic
            .publish_opts(format!("payload {i}").as_bytes(), &opts)
            .unwrap();
    }
    let bridge = Bridge::start(
        &mq,
        config(
            "rt-bridge",
            &url,
            vec![export("rt", "rt.events", Some("RT"), 32)],
        ),
    )
    .unwrap();
    wait_for(30, "every message exported", || {
        bridge.stats().exported == N as u64
    });
    assert_eq!(lag(&topic, "nats"), (0, 0));
    let stats = bridge.stop(Duration::from_secs(2)).unwrap();
    assert_eq!(stats.exported, N as u64);
    assert_eq!(stats.dead_lettered, 0);

    // A plain JetStream consumer reads them.
    let msgs = rt().block_on(async {
        use futures_util::StreamExt;
        let client = async_nats::connect(&url).await.unwrap();
        let js = jetstream::new(client);
        let stream = js.get_stream("RT").await.unwrap();
        let consumer = stream
            .create_consumer(jetstream::consumer::pull::Config {
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ..Default::default()
            })
            .await
            .unwrap();
        let mut batch = consumer
            .fetch()
            .max_messages(N + 10)
            .expires(Duration::from_secs(2))
            .messages()
            .await
            .unwrap();
        let mut out = Vec::new();
        while let Some(m) = batch.next().await {
            let m = m.unwrap();
            out.push(stored(m.headers.as_ref().unwrap(), &m.payload));
            m.ack().await.unwrap();
        }
        out
    });
    assert_once_in_key_order(&msgs, N);
    for m in &msgs {
        let i = m.ringmq_id;
        assert_eq!(m.payload, format!("payload {i}").into_bytes());
        assert_eq!(m.key, i % 5);
        assert_eq!(m.msg_id, format!("rt-bridge/rt/{i}"));
        assert_eq!(
            m.headers.get("trace").map(String::as_str),
            Some(&*format!("v{i}"))
        );
        assert_eq!(m.headers.get("kind").map(String::as_str), Some("test"));
        let rid = m.headers.get("RingMQ-Msg-Id").cloned();
        assert_eq!(rid, (i % 2 == 0).then(|| format!("order-{i}")));
    }
}

/// RingMQ -> JetStream -> RingMQ across two brokers (two gateways): `a`
/// exports its topic, `b` imports the stream into its own, where a reader
/// acks everything. With `server` given, it is stopped and started again
/// mid-stream. Checks the stream holds each message once in key order, and
/// that `b` saw each at least once (exactly once without a restart), first
/// deliveries in key order; returns the duplicates.
fn two_broker_round_trip(url: &str, name: &str, server: Option<&OwnServer>) -> usize {
    const N: u64 = 600;
    const KEYS: u64 = 7;
    let stream = name.to_uppercase();
    let a = broker();
    let out = a
        .create_topic(
            "out",
            TopicOptions {
                capacity: 4096,
                ..Default::default()
            },
        )
        .unwrap();
    let b = broker();
    let into = b
        .create_topic(
            "in",
            TopicOptions {
                capacity: 64,
                ack_timeout: Duration::from_secs(1),
                ..Default::default()
            },
        )
        .unwrap();
    let exporter = Bridge::start(
        &a,
        config(
            &format!("{name}-a"),
            url,
            vec![export("out", &format!("{name}.events"), Some(&stream), 64)],
        ),
    )
    .unwrap();
    // The export made the stream once connected; then the import starts.
    out.publish_with(&0u64.to_be_bytes(), 0, None).unwrap();
    wait_for(20, "the first message exported", || {
        exporter.stats().exported == 1
    });
    let mut c = config(&format!("{name}-b"), url, vec![]);
    c.imports.push(import(&stream, None, "in", 16));
    let importer = Bridge::start(&b, c).unwrap();
    let app = into.pull_subscription("app").unwrap();
    let seen: Seen = Default::default();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (seen, done) = (seen.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some(d) = app.poll(Some(Duration::from_millis(100))).unwrap() {
                    let i = u64::from_be_bytes(d.data().try_into().unwrap());
                    seen.lock().unwrap().push((d.key(), i, d.attempt()));
                    d.ack().unwrap();
                }
            }
        })
    };
    let producer = {
        let out = out.clone();
        std::thread::spawn(move || {
            for i in 1..N {
                out.publish_with(&i.to_be_bytes(), i % KEYS, Some(Duration::from_secs(60)))
                    .unwrap();
                if i % 50 == 49 {
                    std::thread::sleep(Duration::from_millis(40));
                }
            }
        })
    };
    if let Some(server) = server {
        wait_for(30, "some imported", || seen.lock().unwrap().len() >= 100);
        restart_under(server, &[&exporter, &importer]);
    }
    producer.join().unwrap();
    wait_for(60, "everything exported", || {
        let (lag, in_flight) = lag(&out, "nats");
        lag == 0 && in_flight == 0 && exporter.stats().exported >= N
    });
    wait_all_seen(&seen, N, Duration::from_secs(3));
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    reader.join().unwrap();
    let (exported, imported) = (
        exporter.stop(Duration::from_secs(2)).unwrap(),
        importer.stop(Duration::from_secs(2)).unwrap(),
    );
    eprintln!("{name}: exporter {exported:?}; importer {imported:?}");
    // JetStream holds each message once (a republish after the restart was
    // a duplicate by Nats-Msg-Id), in key order.
    assert_once_in_key_order(&read_stream(url, &stream), N as usize);
    let seen = seen.lock().unwrap().clone();
    let (dups, redelivered) = check_imported(&seen, N, KEYS);
    assert_eq!(imported.imported, seen.len() as u64, "{imported:?}");
    if server.is_some() {
        assert!(exported.reconnects >= 1, "{exported:?}");
        assert!(imported.reconnects >= 1, "{imported:?}");
        eprintln!("{name}: {dups} duplicates, {redelivered} first seen as redeliveries");
        // At most what JetStream had delivered unacked: the consumer's
        // max_ack_pending, the topic's capacity.
        assert!(dups <= 64, "{dups} duplicates");
    } else {
        assert_eq!((dups, redelivered), (0, 0));
    }
    dups
}

#[test]
fn round_trip_across_two_brokers() {
    let Some(url) = nats_url("round_trip_across_two_brokers") else {
        return;
    };
    two_broker_round_trip(&url, "tb", None);
}

#[test]
fn round_trip_across_server_restart() {
    if nats_url("round_trip_across_server_restart").is_none() {
        return;
    }
    let server = OwnServer::start("round-trip-restart");
    two_broker_round_trip(&server.url(), "tbr", Some(&server));
}

#[test]
fn replay_is_suppressed_by_msg_id() {
    let Some(url) = nats_url("replay_is_suppressed_by_msg_id") else {
        return;
    };
    let mq = broker();
    let topic = mq.create_topic("dup", TopicOptions::default()).unwrap();
    const N: u64 = 100;
    for i in 0..N {
        topic.publish_with(&i.to_be_bytes(), i % 3, None).unwrap();
    }
    let first = Bridge::start(
        &mq,
        config(
            "dup-bridge",
            &url,
            vec![export("dup", "dup.events", Some("DUP"), 16)],
        ),
    )
    .unwrap();
    wait_for(30, "first export", || first.stats().exported == N);
    first.stop(Duration::from_secs(2)).unwrap();
    assert_eq!(stream_count(&url, "DUP"), N);

    // A second group reads the same messages again from the start: the
    // same bridge id gives the same Nats-Msg-Ids, as a replay after a crash
    // would, and JetStream stores none of them twice.
    let mut replay = export("dup", "dup.events", Some("DUP"), 16);
    replay.group = "replay".into();
    let second = Bridge::start(&mq, config("dup-bridge", &url, vec![replay])).unwrap();
    wait_for(30, "replayed export", || second.stats().exported == N);
    let stats = second.stop(Duration::from_secs(2)).unwrap();
    assert_eq!(stats.exported, N);
    assert_eq!(stream_count(&url, "DUP"), N, "a replay was stored twice");
    assert_once_in_key_order(&read_stream(&url, "DUP"), N as usize);
}

#[test]
fn server_restart_mid_stream() {
    if nats_url("server_restart_mid_stream").is_none() {
        return;
    }
    let server = OwnServer::start("restart");
    let url = server.url();
    let mq = broker();
    let topic = mq
        .create_topic(
            "rs",
            TopicOptions {
                capacity: 4096,
                ..Default::default()
            },
        )
        .unwrap();
    let bridge = Bridge::start(
        &mq,
        config(
            "rs-bridge",
            &url,
            vec![export("rs", "rs.events", Some("RS"), 64)],
        ),
    )
    .unwrap();
    wait_for(20, "connected", || bridge.stats().connected);

    const N: u64 = 600;
    let producer = {
        let topic = topic.clone();
        std::thread::spawn(move || {
            // Bursts, so that the server often goes with publishes in
            // flight.
            for i in 0..N {
                topic
                    .publish_with(&i.to_be_bytes(), i % 7, Some(Duration::from_secs(60)))
                    .unwrap();
                if i % 50 == 49 {
                    std::thread::sleep(Duration::from_millis(40));
                }
            }
        })
    };
    wait_for(30, "some exported", || bridge.stats().exported >= 100);
    // Stop it while messages are in flight, if that is seen within 5 s.
    let seen = Instant::now() + Duration::from_secs(5);
    while bridge.stats().in_flight == 0 && Instant::now() < seen {
        std::thread::sleep(Duration::from_micros(200));
    }
    let in_flight = bridge.stats().in_flight;
    let t = Instant::now();
    server.stop();
    wait_for(20, "the bridge noticing", || !bridge.stats().connected);
    std::thread::sleep(Duration::from_millis(500));
    server.restart();
    wait_for(30, "reconnected", || bridge.stats().connected);
    producer.join().unwrap();
    wait_for(60, "everything exported", || {
        let (lag, in_flight) = lag(&topic, "nats");
        lag == 0 && in_flight == 0 && bridge.stats().exported >= N
    });
    eprintln!(
        "server_restart_mid_stream: stopped with {in_flight} in flight, recovered in {:?}, stats {:?}",
        t.elapsed(),
        bridge.stats()
    );
    let stats = bridge.stop(Duration::from_secs(2)).unwrap();
    assert!(stats.reconnects >= 1, "{stats:?}");
    assert_once_in_key_order(&read_stream(&url, "RS"), N as usize);
}

#[test]
fn backpressure_while_nats_is_down() {
    if nats_url("backpressure_while_nats_is_down").is_none() {
        return;
    }
    let server = OwnServer::start("backpressure");
    let url = server.url();
    let mq = broker();
    let small = |overflow| TopicOptions {
        capacity: 16,
        overflow,
        ..Default::default()
    };
    let block = mq.create_topic("bp_block", small(Overflow::Block)).unwrap();
    let reject = mq
        .create_topic("bp_reject", small(Overflow::Reject))
        .unwrap();
    let bridge = Bridge::start(
        &mq,
        config(
            "bp-bridge",
            &url,
            vec![
                export("bp_block", "bp.block", Some("BPB"), 4),
                export("bp_reject", "bp.reject", Some("BPR"), 4),
            ],
        ),
    )
    .unwrap();
    // Wait until both streams exist (each export made sure of its stream).
    block.publish(b"first").unwrap();
    reject.publish(b"first").unwrap();
    wait_for(20, "first messages", || bridge.stats().exported == 2);

    server.stop();
    wait_for(20, "the bridge noticing", || !bridge.stats().connected);
    let mut published = 0u64;
    let err = loop {
        match block.publish_with(b"x", 0, Some(Duration::from_millis(200))) {
            Ok(_) => published += 1,
            Err(e) => break e,
        }
        assert!(published <= 64, "the block topic never filled");
    };
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    let err = loop {
        match reject.publish_with(b"x", 0, Some(Duration::from_millis(200))) {
            Ok(_) => published += 1,
            Err(e) => break e,
        }
        assert!(published <= 128, "the reject topic never filled");
    };
    assert_eq!(err.kind(), ErrorKind::Full, "{err}");
    let stats = bridge.stats();
    assert!(!stats.connected);
    assert!(stats.in_flight <= 8, "{stats:?}");

    // Back up: everything goes out and the rings empty.
    server.restart();
    wait_for(60, "the backlog exported", || {
        bridge.stats().exported == 2 + published
    });
    assert_eq!(lag(&block, "nats"), (0, 0));
    assert_eq!(lag(&reject, "nats"), (0, 0));
    bridge.stop(Duration::from_secs(2)).unwrap();
}

#[test]
fn refused_message_is_dead_lettered() {
    let Some(url) = nats_url("refused_message_is_dead_lettered") else {
        return;
    };
    // A stream that takes at most 1 KiB per message, made outside the
    // bridge (the export names no stream).
    rt().block_on(async {
        let client = async_nats::connect(&url).await.unwrap();
        let js = jetstream::new(client);
        js.get_or_create_stream(jetstream::stream::Config {
            name: "BIG".into(),
            subjects: vec!["big.events".into()],
            max_message_size: 1024,
            ..Default::default()
        })
        .await
        .unwrap();
    });
    let mq = broker();
    let topic = mq
        .create_topic(
            "big",
            TopicOptions {
                slot_size: 4096,
                ..Default::default()
            },
        )
        .unwrap();
    let dlq = topic
        .dead_letter_topic()
        .unwrap()
        .subscribe_pull(
            "check",
            SubOptions {
                start: StartAt::Earliest,
                ..Default::default()
            },
        )
        .unwrap();
    topic.publish_with(b"small before", 1, None).unwrap();
    let big_id = topic.publish_with(&[7u8; 3000], 1, None).unwrap();
    topic.publish_with(b"small after", 1, None).unwrap();
    // No stream captures this subject: refused too.
    let orphan = mq.create_topic("orphan", TopicOptions::default()).unwrap();
    orphan.publish(b"nobody listens").unwrap();
    let bridge = Bridge::start(
        &mq,
        config(
            "big-bridge",
            &url,
            vec![
                export("big", "big.events", None, 8),
                export("orphan", "orphan.nowhere", None, 8),
            ],
        ),
    )
    .unwrap();
    wait_for(30, "settled", || {
        let s = bridge.stats();
        s.exported == 2 && s.dead_lettered == 2
    });
    let d = dlq
        .poll(Some(Duration::from_secs(5)))
        .unwrap()
        .expect("dead letter");
    assert_eq!(d.id(), big_id);
    let reason = d.dead_letter_reason().unwrap().to_owned();
    assert!(
        reason.contains("maximum") || reason.contains("size"),
        "{reason}"
    );
    d.ack().unwrap();
    let stats = bridge.stop(Duration::from_secs(2)).unwrap();
    assert!(stats.last_error.is_some());
    let msgs = read_stream(&url, "BIG");
    let payloads: Vec<&[u8]> = msgs.iter().map(|m| &m.payload[..]).collect();
    assert_eq!(payloads, [&b"small before"[..], &b"small after"[..]]);
    eprintln!("refused_message_is_dead_lettered: reason {reason:?}");
}

#[test]
fn over_max_payload_is_dead_lettered() {
    if nats_url("over_max_payload_is_dead_lettered").is_none() {
        return;
    }
    // A server whose max_payload is 4 KiB: the client refuses larger
    // messages before sending them.
    let server = OwnServer::start_with("payload", &[("RINGMQ_NATS_MAX_PAYLOAD", "4096")]);
    let mq = broker();
    let topic = mq
        .create_topic(
            "mp",
            TopicOptions {
                slot_size: 8192,
                ..Default::default()
            },
        )
        .unwrap();
    let dlq = topic
        .dead_letter_topic()
        .unwrap()
        .subscribe_pull(
            "check",
            SubOptions {
                start: StartAt::Earliest,
                ..Default::default()
            },
        )
        .unwrap();
    topic.publish_with(b"fits", 3, None).unwrap();
    let big = topic.publish_with(&[1u8; 6000], 3, None).unwrap();
    topic.publish_with(b"fits too", 3, None).unwrap();
    let bridge = Bridge::start(
        &mq,
        config(
            "mp-bridge",
            &server.url(),
            vec![export("mp", "mp.events", Some("MP"), 8)],
        ),
    )
    .unwrap();
    wait_for(30, "settled", || {
        let s = bridge.stats();
        s.exported == 2 && s.dead_lettered == 1
    });
    let d = dlq
        .poll(Some(Duration::from_secs(5)))
        .unwrap()
        .expect("dead letter");
    assert_eq!(d.id(), big);
    let reason = d.dead_letter_reason().unwrap().to_owned();
    assert!(reason.contains("max"), "{reason}");
    d.ack().unwrap();
    bridge.stop(Duration::from_secs(2)).unwrap();
    assert_eq!(stream_count(&server.url(), "MP"), 2);
    eprintln!("over_max_payload_is_dead_lettered: reason {reason:?}");
}

#[test]
fn durable_topic_resumes_after_broker_restart() {
    let Some(url) = nats_url("durable_topic_resumes_after_broker_restart") else {
        return;
    };
    let data = std::env::temp_dir().join(format!("ringmq-nats-durable-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let open = || {
        Broker::new(BrokerOptions {
            workers_max: 2,
            data_dir: Some(data.clone()),
            ..Default::default()
        })
        .unwrap()
    };
    let durable = TopicOptions {
        durable: true,
        capacity: 256,
        // The broker closes cleanly; no fsync per publish is needed here.
        fsync: Fsync::Interval,
        ..Default::default()
    };
    const N: u64 = 5000;
    let cfg = || {
        config(
            "dur-bridge",
            &url,
            vec![export("dur", "dur.events", Some("DUR"), 8)],
        )
    };
    let first = {
        let mq = open();
        let topic = mq.create_topic("dur", durable.clone()).unwrap();
        let bridge = Bridge::start(&mq, cfg()).unwrap();
        wait_for(20, "connected", || bridge.stats().connected);
        let producer = {
            let topic = topic.clone();
            std::thread::spawn(move || {
                for i in 0..N {
                    topic.publish_with(&i.to_be_bytes(), i % 5, None).unwrap();
                }
            })
        };
        wait_for(30, "some exported", || bridge.stats().exported >= 100);
        // Gone without draining, as a crash would leave it: messages in
        // flight stay in RingMQ.
        let first = bridge.stats().exported;
        drop(bridge);
        producer.join().unwrap();
        mq.close(Duration::from_secs(5)).unwrap();
        first
    };
    let mq = open();
    let topic = mq.topic("dur").unwrap();
    let bridge = Bridge::start(&mq, cfg()).unwrap();
    wait_for(60, "the rest exported", || {
        lag(&topic, "nats") == (0, 0) && stream_count(&url, "DUR") >= N
    });
    let stats = bridge.stop(Duration::from_secs(5)).unwrap();
    eprintln!(
        "durable_topic_resumes_after_broker_restart: first run exported about {first}, second {}",
        stats.exported
    );
    assert!(
        stats.exported > 0 && stats.exported < N,
        "the group did not resume: {stats:?}"
    );
    assert_once_in_key_order(&read_stream(&url, "DUR"), N as usize);
    mq.close(Duration::from_secs(5)).unwrap();
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn stop_drains_in_flight() {
    let Some(url) = nats_url("stop_drains_in_flight") else {
        return;
    };
    let mq = broker();
    let topic = mq
        .create_topic(
            "drain",
            TopicOptions {
                capacity: 4096,
                ..Default::default()
            },
        )
        .unwrap();
    const N: u64 = 3000;
    for i in 0..N {
        topic.publish_with(&i.to_be_bytes(), i % 4, None).unwrap();
    }
    let bridge = Bridge::start(
        &mq,
        config(
            "drain-bridge",
            &url,
            vec![export("drain", "drain.events", Some("DRAIN"), 256)],
        ),
    )
    .unwrap();
    wait_for(30, "some in flight", || bridge.stats().exported > 0);
    let stats = bridge.stop(Duration::from_secs(10)).unwrap();
    assert_eq!(stats.in_flight, 0, "{stats:?}");
    // Everything acked in RingMQ is in the stream, and nothing is held.
    let sub = topic.pull_subscription("nats").unwrap().stats();
    assert_eq!(sub.in_flight, 0);
    assert_eq!(sub.acked, stats.exported);
    assert_eq!(stream_count(&url, "DRAIN"), stats.exported);
    eprintln!(
        "stop_drains_in_flight: {} of {N} exported before stop",
        stats.exported
    );

    // The rest goes with the next start of the same group.
    let again = Bridge::start(
        &mq,
        config(
            "drain-bridge",
            &url,
            vec![export("drain", "drain.events", Some("DRAIN"), 256)],
        ),
    )
    .unwrap();
    wait_for(60, "the rest exported", || lag(&topic, "nats") == (0, 0));
    again.stop(Duration::from_secs(5)).unwrap();
    assert_once_in_key_order(&read_stream(&url, "DRAIN"), N as usize);
}

#[test]
fn bad_config_is_refused_and_changes_nothing() {
    // No server needed: the configuration is checked before connecting.
    let ok = r#"{"id": "b", "servers": ["nats://127.0.0.1:4222"],
        "exports": [{"topic": "t", "group": "g", "subject": "a.b"}]}"#;
    let c = BridgeConfig::from_json(ok).unwrap();
    assert_eq!(
        c.exports[0].max_in_flight,
        ringmq_nats::DEFAULT_MAX_IN_FLIGHT
    );
    let bad = [
        (
            r#"{"id": "", "servers": ["nats://h:1"], "exports": [{"topic": "t", "group": "g", "subject": "a"}]}"#,
            "id is empty",
        ),
        (
            r#"{"id": "b", "servers": [], "exports": [{"topic": "t", "group": "g", "subject": "a"}]}"#,
            "servers",
        ),
        (
            r#"{"id": "b", "servers": ["nats://h:1"], "exports": [{"topic": "", "group": "g", "subject": "a"}]}"#,
            "topic is empty",
        ),
        (
            r#"{"id": "b", "servers": ["nats://h:1"], "exports": [{"topic": "t", "group": "g", "subject": "a..b"}]}"#,
            "not a valid subject",
        ),
        (
            r#"{"id": "b", "servers": ["nats://h:1"], "exports": [{"topic": "t", "group": "g", "subject": "a.*"}]}"#,
            "wildcards",
        ),
        (
            r#"{"id": "b", "servers": ["nats://h:1"], "exports": [{"topic": "t", "group": "g", "subject": "a", "max_in_flight": 0}]}"#,
            "max_in_flight is 0",
        ),
        (
            r#"{"id": "b", "servers": ["nats://h:1"], "exports": [{"topic": "t", "group": "g", "subject": "a", "stream": "A.B"}]}"#,
            "JetStream name",
        ),
        (
            r#"{"id": "b", "servers": ["nats://h:1"], "imports": [{"stream": "S", "consumer": "c", "topic": "t", "group": "g", "batch": 0}]}"#,
            "batch is 0",
        ),
        (
            r#"{"id": "b", "servers": ["nats://h:1"], "exports": [{"topic": "t", "group": "g", "subject": "a", "colour": 1}]}"#,
            "unknown field",
        ),
        (
            r#"{"id": "b", "servers": ["nats://h:1"], "reconnect_min": "2s", "reconnect_max": "1s", "exports": [{"topic": "t", "group": "g", "subject": "a"}]}"#,
            "shorter than",
        ),
        (r#"{"id": "b", "servers": ["nats://h:1"]}"#, "nothing to do"),
    ];
    for (text, want) in bad {
        let e = BridgeConfig::from_json(text).unwrap_err().to_string();
        assert!(e.contains(want), "{text}: {e}");
    }
    let toml = r#"
        id = "edge-1"
        servers = ["nats://127.0.0.1:4222"]
        reconnect_min = "200ms"
        reconnect_max = 3000
        [[exports]]
        topic = "orders"
        group = "nats"
        subject = "orders.created"
        stream = "ORDERS"
        max_in_flight = 64
        [[imports]]
        stream = "PAYMENTS"
        consumer = "ringmq"
        filter_subject = "payments.>"
        topic = "payments"
        group = "nats"
    "#;
    let c = BridgeConfig::from_toml(toml).unwrap();
    assert_eq!(c.reconnect_min, Duration::from_millis(200));
    assert_eq!(c.reconnect_max, Duration::from_secs(3));
    assert_eq!(c.exports[0].stream.as_deref(), Some("ORDERS"));
    assert_eq!(c.imports[0].batch, ringmq_nats::DEFAULT_BATCH);
    assert!(BridgeConfig::from_toml("id = ").is_err());
    let path = std::env::temp_dir().join(format!("ringmq-nats-{}.toml", std::process::id()));
    std::fs::write(&path, toml).unwrap();
    assert_eq!(BridgeConfig::load(&path).unwrap(), c);
    let _ = std::fs::remove_file(&path);
    assert!(BridgeConfig::load("/nonexistent/bridge.yaml").is_err());

    // A missing topic fails the start before any subscription is made.
    let mq = broker();
    let present = mq.create_topic("present", TopicOptions::default()).unwrap();
    let c = config(
        "b",
        "nats://127.0.0.1:1",
        vec![
            export("present", "p.x", None, 4),
            export("absent", "a.x", None, 4),
        ],
    );
    match Bridge::start(&mq, c) {
        Err(BridgeError::Config(m)) => assert!(m.contains("absent"), "{m}"),
        other => panic!("expected a config error, got {other:?}"),
    }
    assert!(present.subscription_stats().is_empty());
}

/// Publishes `n` messages into JetStream on `subject` with a RingMQ-Key
/// header (i % 3) and a trace header.
fn js_publish(url: &str, subject: &str, from: u64, n: u64) {
    rt().block_on(async {
        let client = async_nats::connect(url).await.unwrap();
        let js = jetstream::new(client);
        for i in from..from + n {
            let mut h = async_nats::HeaderMap::new();
            h.insert("RingMQ-Key", (i % 3).to_string());
            h.insert("trace", format!("t{i}"));
            js.publish_with_headers(subject.to_owned(), h, i.to_string().into())
                .await
                .unwrap()
                .await
                .unwrap();
        }
    });
}

fn js_stream(url: &str, name: &str, subjects: &[&str]) {
    rt().block_on(async {
        let client = async_nats::connect(url).await.unwrap();
        let js = jetstream::new(client);
        js.get_or_create_stream(jetstream::stream::Config {
            name: name.into(),
            subjects: subjects.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        })
        .await
        .unwrap();
    });
}

fn import(
    stream: &str,
    filter: Option<&str>,
    topic: &str,
    batch: usize,
) -> ringmq_nats::ImportConfig {
    ringmq_nats::ImportConfig {
        stream: stream.into(),
        consumer: format!("{stream}-ringmq"),
        filter_subject: filter.map(Into::into),
        topic: topic.into(),
        group: "app".into(),
        batch,
    }
}

#[test]
fn import_round_trip() {
    let Some(url) = nats_url("import_round_trip") else {
        return;
    };
    js_stream(&url, "IMP", &["imp.>"]);
    js_publish(&url, "imp.a", 0, 100);
    js_publish(&url, "imp.b", 100, 50);
    let mq = broker();
    let topic = mq.create_topic("imp", TopicOptions::default()).unwrap();
    let mut c = config("imp-bridge", &url, vec![]);
    c.imports.push(import("IMP", Some("imp.a"), "imp", 16));
    let bridge = Bridge::start(&mq, c).unwrap();
    let app = topic.pull_subscription("app").unwrap();
    let mut got = Vec::new();
    let end = Instant::now() + Duration::from_secs(30);
    while got.len() < 100 && Instant::now() < end {
        if let Some(d) = app.poll(Some(Duration::from_millis(200))).unwrap() {
            let i: u64 = std::str::from_utf8(d.data()).unwrap().parse().unwrap();
            assert_eq!(d.key(), i % 3);
            assert_eq!(d.headers().get_str("trace"), Some(&*format!("t{i}")));
            assert_eq!(d.msg_id(), Some(format!("IMP/{}/1", i + 1).as_bytes()));
            assert_eq!(d.attempt(), 1);
            got.push(i);
            d.ack().unwrap();
        }
    }
    assert_eq!(got, (0..100).collect::<Vec<_>>());
    std::thread::sleep(Duration::from_millis(300));
    let stats = bridge.stop(Duration::from_secs(2)).unwrap();
    assert_eq!(stats.imported, 100, "{stats:?}");
    assert_eq!(topic.stats().published, 100);
}

#[test]
fn import_waits_while_topic_is_full() {
    let Some(url) = nats_url("import_waits_while_topic_is_full") else {
        return;
    };
    js_stream(&url, "IMPFULL", &["impfull.x"]);
    const N: u64 = 60;
    js_publish(&url, "impfull.x", 0, N);
    let mq = broker();
    let topic = mq
        .create_topic(
            "impfull",
            TopicOptions {
                capacity: 8,
                overflow: Overflow::Reject,
                ..Default::default()
            },
        )
        .unwrap();
    let mut c = config("impfull-bridge", &url, vec![]);
    c.imports.push(import("IMPFULL", None, "impfull", 4));
    let bridge = Bridge::start(&mq, c).unwrap();
    wait_for(30, "the ring filling", || bridge.stats().imported == 8);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(bridge.stats().imported, 8, "imported past a full ring");
    let app = topic.pull_subscription("app").unwrap();
    let mut got = Vec::new();
    let end = Instant::now() + Duration::from_secs(60);
    while got.len() < N as usize && Instant::now() < end {
        if let Some(d) = app.poll(Some(Duration::from_millis(200))).unwrap() {
            got.push(
                std::str::from_utf8(d.data())
                    .unwrap()
                    .parse::<u64>()
                    .unwrap(),
            );
            d.ack().unwrap();
        }
    }
    assert_eq!(got, (0..N).collect::<Vec<_>>());
    let stats = bridge.stop(Duration::from_secs(2)).unwrap();
    assert_eq!(stats.imported, N, "{stats:?}");
}

/// The durable consumer's info: (deliveries so far, acked stream floor,
/// unacked, not yet delivered, max_deliver, ack_wait).
fn js_consumer(url: &str, stream: &str, name: &str) -> (u64, u64, usize, u64, i64, Duration) {
    rt().block_on(async {
        let client = async_nats::connect(url).await.unwrap();
        let js = jetstream::new(client);
        let s = js.get_stream(stream).await.unwrap();
        let mut c: jetstream::consumer::Consumer<jetstream::consumer::pull::Config> =
            s.get_consumer(name).await.unwrap();
        let i = c.info().await.unwrap();
        (
            i.delivered.consumer_sequence,
            i.ack_floor.stream_sequence,
            i.num_ack_pending,
            i.num_pending,
            i.config.max_deliver,
            i.config.ack_wait,
        )
    })
}

/// A subscription of `topic`'s dead-letter topic from its first message.
fn dead_letters(topic: &ringmq_core::Topic) -> ringmq_core::PullSubscription {
    topic
        .dead_letter_topic()
        .unwrap()
        .subscribe_pull(
            "check",
            SubOptions {
                start: StartAt::Earliest,
                ..Default::default()
            },
        )
        .unwrap()
}

fn body(d: &ringmq_core::Delivery) -> u64 {
    std::str::from_utf8(d.data()).unwrap().parse().unwrap()
}

#[test]
fn import_settles_map_back_to_jetstream() {
    let Some(url) = nats_url("import_settles_map_back_to_jetstream") else {
        return;
    };
    js_stream(&url, "IMPREL", &["imprel.x"]);
    js_publish(&url, "imprel.x", 0, 6);
    let mq = broker();
    let topic = mq
        .create_topic(
            "imprel",
            TopicOptions {
                max_attempts: 4,
                ack_timeout: Duration::from_secs(1),
                ..Default::default()
            },
        )
        .unwrap();
    let dlq = dead_letters(&topic);
    let mut c = config("imprel-bridge", &url, vec![]);
    c.imports.push(import("IMPREL", None, "imprel", 16));
    let bridge = Bridge::start(&mq, c).unwrap();
    let app = topic.pull_subscription("app").unwrap();
    let next = |what: &str| {
        app.poll(Some(Duration::from_secs(10)))
            .unwrap()
            .unwrap_or_else(|| panic!("no delivery: {what}"))
    };
    for i in 0..3 {
        let d = next("acked ones");
        assert_eq!((body(&d), d.attempt()), (i, 1));
        d.ack().unwrap();
    }
    let d = next("the nacked one");
    assert_eq!(body(&d), 3);
    let nacked_at = Instant::now();
    d.nack(Some(Duration::from_millis(700))).unwrap();
    let d = next("the termed one");
    assert_eq!(body(&d), 4);
    d.term_with_reason("bad input").unwrap();
    // Held past the consumer's ack_wait (2 s), kept alive with in_progress.
    let d = next("the slow one");
    assert_eq!((body(&d), d.attempt()), (5, 1));
    // The nacked one comes back from JetStream after its delay, attempt 2.
    let again = next("the nacked one again");
    assert!(nacked_at.elapsed() >= Duration::from_millis(600));
    assert_eq!((body(&again), again.attempt()), (3, 2));
    assert_eq!(again.msg_id(), Some(&b"IMPREL/4/2"[..]));
    again.ack().unwrap();
    let slow_from = Instant::now();
    while slow_from.elapsed() < Duration::from_secs(3) {
        d.in_progress().unwrap();
        assert!(
            app.poll(Some(Duration::from_millis(300)))
                .unwrap()
                .is_none(),
            "a message came again while the slow one was in progress"
        );
    }
    d.ack().unwrap();
    let dead = dlq
        .poll(Some(Duration::from_secs(5)))
        .unwrap()
        .expect("dead letter");
    assert_eq!(body(&dead), 4);
    assert_eq!(dead.dead_letter_reason(), Some("bad input"));
    dead.ack().unwrap();
    wait_for(10, "JetStream settled everything", || {
        let (_, floor, unacked, pending, _, _) = js_consumer(&url, "IMPREL", "IMPREL-ringmq");
        floor == 6 && unacked == 0 && pending == 0
    });
    // 6 deliveries and one redelivery (the nack); the termed one never came
    // back.
    let (delivered, _, _, _, max_deliver, ack_wait) = js_consumer(&url, "IMPREL", "IMPREL-ringmq");
    assert_eq!(delivered, 7);
    assert_eq!((max_deliver, ack_wait), (4, Duration::from_secs(2)));
    assert!(app
        .poll(Some(Duration::from_millis(500)))
        .unwrap()
        .is_none());
    let stats = bridge.stop(Duration::from_secs(2)).unwrap();
    assert_eq!((stats.imported, stats.in_flight), (7, 0), "{stats:?}");
    assert_eq!(stats.dead_lettered, 1, "{stats:?}");
}

#[test]
fn import_into_ordered_push_handlers() {
    let Some(url) = nats_url("import_into_ordered_push_handlers") else {
        return;
    };
    js_stream(&url, "IMPPUSH", &["imppush.x"]);
    const N: u64 = 60;
    const POISON: u64 = 7;
    js_publish(&url, "imppush.x", 0, N);
    let mq = broker();
    let topic = mq
        .create_topic(
            "imppush",
            TopicOptions {
                max_attempts: 3,
                backoff_base: Duration::from_millis(20),
                backoff_max: Duration::from_millis(50),
                ..Default::default()
            },
        )
        .unwrap();
    let dlq = dead_letters(&topic);
    // Handlers on the pool, one at a time per key; the bridge's import
    // group is this push subscription.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(u64, u64, u32)>::new()));
    let record = seen.clone();
    let _handlers = topic
        .subscribe(
            "app",
            SubOptions {
                concurrency: 4,
                ordered_by_key: true,
                ..Default::default()
            },
            move |m| {
                let i: u64 = std::str::from_utf8(m.data).unwrap().parse().unwrap();
                record.lock().unwrap().push((m.key, i, m.attempt));
                if i == POISON {
                    return Err(ringmq_core::HandlerError::new("poison"));
                }
                Ok(())
            },
        )
        .unwrap();
    let mut c = config("imppush-bridge", &url, vec![]);
    c.imports.push(import("IMPPUSH", None, "imppush", 16));
    let bridge = Bridge::start(&mq, c).unwrap();
    let dead = dlq
        .poll(Some(Duration::from_secs(20)))
        .unwrap()
        .expect("the poison message dead-lettered");
    assert_eq!(body(&dead), POISON);
    assert!(
        dead.dead_letter_reason().unwrap().contains("poison"),
        "{:?}",
        dead.dead_letter_reason()
    );
    dead.ack().unwrap();
    wait_for(20, "JetStream settled everything", || {
        let (_, floor, unacked, pending, _, _) = js_consumer(&url, "IMPPUSH", "IMPPUSH-ringmq");
        floor == N && unacked == 0 && pending == 0
    });
    let seen = seen.lock().unwrap().clone();
    // The poison one: retried in place up to max_attempts, then gone.
    let poison: Vec<u32> = seen
        .iter()
        .filter(|(_, i, _)| *i == POISON)
        .map(|(_, _, a)| *a)
        .collect();
    assert_eq!(poison, vec![1, 2, 3]);
    // Every other one once, on its first attempt, in order per key.
    let ok: Vec<&(u64, u64, u32)> = seen.iter().filter(|(_, i, _)| *i != POISON).collect();
    assert_eq!(ok.len(), (N - 1) as usize, "{seen:?}");
    assert!(
        ok.iter().all(|(k, i, a)| *a == 1 && *k == i % 3),
        "{seen:?}"
    );
    for key in 0..3 {
        let order: Vec<u64> = seen
            .iter()
            .filter(|(k, _, _)| *k == key)
            .map(|(_, i, _)| *i)
            .collect();
        let mut sorted = order.clone();
        sorted.sort_unstable();
        sorted.dedup(); // the poison one's retries stay in place
        let mut kept = order.clone();
        kept.dedup();
        assert_eq!(kept, sorted, "key {key} out of order: {order:?}");
    }
    // No redelivery from JetStream: the retries were local, the message
    // kept in progress there, then terminated.
    let (delivered, ..) = js_consumer(&url, "IMPPUSH", "IMPPUSH-ringmq");
    assert_eq!(delivered, N);
    let stats = bridge.stop(Duration::from_secs(2)).unwrap();
    assert_eq!((stats.imported, stats.in_flight), (N, 0), "{stats:?}");
    assert_eq!(stats.dead_lettered, 1, "{stats:?}");
}

/// What a local consumer of imported messages saw: each delivery's key,
/// number (the payload) and attempt, in the order handled.
type Seen = std::sync::Arc<std::sync::Mutex<Vec<(u64, u64, u32)>>>;

/// Checks what `seen` holds: every number of `0..n` at least once, and no
/// other; for each key, the first sightings that were JetStream's first
/// deliveries (attempt 1) in rising order (a message JetStream delivered
/// again may come after newer ones). Returns the duplicates (deliveries
/// beyond the first of a number) and the first sightings that were
/// redeliveries.
fn check_imported(seen: &[(u64, u64, u32)], n: u64, keys: u64) -> (usize, usize) {
    let mut first: HashSet<u64> = HashSet::new();
    let mut last: HashMap<u64, u64> = HashMap::new();
    let mut redelivered_first = 0;
    for &(key, i, attempt) in seen {
        assert!(i < n, "unexpected message {i}");
        assert_eq!(key, i % keys, "message {i} has key {key}");
        if !first.insert(i) {
            continue;
        }
        if attempt > 1 {
            redelivered_first += 1;
            continue;
        }
        if let Some(prev) = last.insert(key, i) {
            assert!(prev < i, "key {key} out of order: {i} after {prev}");
        }
    }
    let missing: Vec<u64> = (0..n).filter(|i| !first.contains(i)).collect();
    assert!(missing.is_empty(), "lost: {missing:?}");
    (seen.len() - n as usize, redelivered_first)
}

/// Waits until `seen` holds every number of `0..n`, then `quiet` more (for
/// late redeliveries to show).
fn wait_all_seen(seen: &Seen, n: u64, quiet: Duration) {
    wait_for(90, "every message seen", || {
        let s = seen.lock().unwrap();
        s.iter().map(|(_, i, _)| *i).collect::<HashSet<_>>().len() as u64 >= n
    });
    std::thread::sleep(quiet);
}

/// Stops `server` while `bridges` are connected, waits until they all
/// noticed, and starts it again on the same port and store; then waits for
/// them to reconnect.
fn restart_under(server: &OwnServer, bridges: &[&Bridge]) {
    server.stop();
    wait_for(20, "the bridges noticing", || {
        bridges.iter().all(|b| !b.stats().connected)
    });
    std::thread::sleep(Duration::from_millis(500));
    server.restart();
    wait_for(30, "reconnected", || {
        bridges.iter().all(|b| b.stats().connected)
    });
}

#[test]
fn import_across_server_restart() {
    if nats_url("import_across_server_restart").is_none() {
        return;
    }
    let server = OwnServer::start("import-restart");
    let url = server.url();
    // A file-backed stream (JetStream's default): it is in the store
    // directory the restarted server reads again.
    js_stream(&url, "IMPRS", &["imprs.x"]);
    const N: u64 = 400;
    js_publish(&url, "imprs.x", 0, N);
    let mq = broker();
    let topic = mq
        .create_topic(
            "imprs",
            TopicOptions {
                capacity: 32,
                // JetStream's ack_wait is twice this: a message whose ack
                // was lost comes back after 2 s.
                ack_timeout: Duration::from_secs(1),
                ..Default::default()
            },
        )
        .unwrap();
    // The local handlers (a push subscription, the import's group, one
    // message of a key at a time), slow enough that the import is
    // mid-stream when the server goes.
    let seen: Seen = Default::default();
    let record = seen.clone();
    let _handlers = topic
        .subscribe(
            "app",
            SubOptions {
                concurrency: 2,
                ordered_by_key: true,
                ..Default::default()
            },
            move |m| {
                let i: u64 = std::str::from_utf8(m.data).unwrap().parse().unwrap();
                std::thread::sleep(Duration::from_millis(2));
                record.lock().unwrap().push((m.key, i, m.attempt));
                Ok(())
            },
        )
        .unwrap();
    let mut c = config("imprs-bridge", &url, vec![]);
    c.imports.push(import("IMPRS", None, "imprs", 8));
    let bridge = Bridge::start(&mq, c).unwrap();
    wait_for(30, "some imported", || seen.lock().unwrap().len() >= 100);
    let in_flight = bridge.stats().in_flight;
    restart_under(&server, &[&bridge]);
    // The stream survived the restart, and goes on.
    assert_eq!(stream_count(&url, "IMPRS"), N);
    js_publish(&url, "imprs.x", N, N);
    wait_all_seen(&seen, 2 * N, Duration::from_secs(3));
    wait_for(20, "JetStream settled everything", || {
        let (_, floor, unacked, pending, _, _) = js_consumer(&url, "IMPRS", "IMPRS-ringmq");
        floor == 2 * N && unacked == 0 && pending == 0
    });
    let stats = bridge.stop(Duration::from_secs(2)).unwrap();
    let seen = seen.lock().unwrap().clone();
    let (dups, redelivered) = check_imported(&seen, 2 * N, 3);
    eprintln!(
        "import_across_server_restart: {in_flight} in flight at the stop; {dups} duplicates, \
         {redelivered} first seen as redeliveries; stats {stats:?}"
    );
    // At least once: a copy for each JetStream delivery, no more.
    assert_eq!(stats.imported, seen.len() as u64, "{stats:?}");
    assert_eq!(stats.in_flight, 0, "{stats:?}");
    assert!(stats.reconnects >= 1, "{stats:?}");
    // Only what JetStream had delivered and not seen acked when it went
    // can come twice: at most the consumer's max_ack_pending, which the
    // import sets to the topic's capacity.
    assert!(dups <= 32, "{dups} duplicates");
}

#[test]
fn import_attempts_agree_with_jetstream() {
    let Some(url) = nats_url("import_attempts_agree_with_jetstream") else {
        return;
    };
    js_stream(&url, "IMPATT", &["impatt.x"]);
    // A consumer left with other settings is brought to the topic's.
    rt().block_on(async {
        let client = async_nats::connect(url.as_str()).await.unwrap();
        let js = jetstream::new(client);
        let s = js.get_stream("IMPATT").await.unwrap();
        s.create_consumer(jetstream::consumer::pull::Config {
            durable_name: Some("IMPATT-ringmq".into()),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            max_deliver: -1,
            ack_wait: Duration::from_secs(30),
            ..Default::default()
        })
        .await
        .unwrap();
    });
    js_publish(&url, "impatt.x", 0, 1);
    let mq = broker();
    let topic = mq
        .create_topic(
            "impatt",
            TopicOptions {
                max_attempts: 3,
                backoff_base: Duration::from_millis(100),
                ack_timeout: Duration::from_millis(500),
                ..Default::default()
            },
        )
        .unwrap();
    let dlq = dead_letters(&topic);
    let mut c = config("impatt-bridge", &url, vec![]);
    c.imports.push(import("IMPATT", None, "impatt", 16));
    let bridge = Bridge::start(&mq, c).unwrap();
    let app = topic.pull_subscription("app").unwrap();
    for attempt in 1..=3 {
        let d = app
            .poll(Some(Duration::from_secs(10)))
            .unwrap()
            .unwrap_or_else(|| panic!("no delivery {attempt}"));
        assert_eq!((body(&d), d.attempt()), (0, attempt));
        d.nack(None).unwrap();
    }
    let dead = dlq
        .poll(Some(Duration::from_secs(5)))
        .unwrap()
        .expect("dead letter");
    assert_eq!(body(&dead), 0);
    assert!(
        dead.dead_letter_reason()
            .unwrap()
            .contains("max_attempts 3"),
        "{:?}",
        dead.dead_letter_reason()
    );
    dead.ack().unwrap();
    wait_for(10, "JetStream terminated it", || {
        let (_, floor, unacked, _, _, _) = js_consumer(&url, "IMPATT", "IMPATT-ringmq");
        floor == 1 && unacked == 0
    });
    // Not delivered again: three deliveries on both sides.
    assert!(app.poll(Some(Duration::from_secs(2))).unwrap().is_none());
    let (delivered, _, _, _, max_deliver, ack_wait) = js_consumer(&url, "IMPATT", "IMPATT-ringmq");
    assert_eq!(delivered, 3);
    assert_eq!((max_deliver, ack_wait), (3, Duration::from_secs(1)));
    let stats = bridge.stop(Duration::from_secs(2)).unwrap();
    assert_eq!((stats.imported, stats.dead_lettered), (3, 1), "{stats:?}");
}

#[test]
fn import_fetches_no_more_than_free_room() {
    let Some(url) = nats_url("import_fetches_no_more_than_free_room") else {
        return;
    };
    js_stream(&url, "IMPROOM", &["improom.x"]);
    const N: u64 = 40;
    js_publish(&url, "improom.x", 0, N);
    let mq = broker();
    let topic = mq
        .create_topic(
            "improom",
            TopicOptions {
                capacity: 8,
                overflow: Overflow::Reject,
                ..Default::default()
            },
        )
        .unwrap();
    let mut c = config("improom-bridge", &url, vec![]);
    c.imports.push(import("IMPROOM", None, "improom", 64));
    let bridge = Bridge::start(&mq, c).unwrap();
    let app = topic.pull_subscription("app").unwrap();
    // Three taken and held: the ring stays full, nothing more comes.
    wait_for(30, "the ring filling", || bridge.stats().imported == 8);
    let held: Vec<_> = (0..3)
        .map(|_| app.poll(Some(Duration::from_secs(5))).unwrap().unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(bridge.stats().imported, 8, "imported past the free room");
    let (_, _, unacked, _, _, _) = js_consumer(&url, "IMPROOM", "IMPROOM-ringmq");
    assert_eq!(unacked, 8, "fetched past the free room");
    let mut got: Vec<u64> = held.iter().map(body).collect();
    for d in held {
        d.ack().unwrap();
    }
    let end = Instant::now() + Duration::from_secs(60);
    while got.len() < N as usize && Instant::now() < end {
        if let Some(d) = app.poll(Some(Duration::from_millis(200))).unwrap() {
            got.push(body(&d));
            d.ack().unwrap();
        }
        let s = topic.stats();
        assert!(s.depth <= 8);
    }
    assert_eq!(got, (0..N).collect::<Vec<_>>());
    assert_eq!(topic.stats().rejected, 0, "a publish found the ring full");
    let stats = bridge.stop(Duration::from_secs(2)).unwrap();
    assert_eq!(stats.imported, N, "{stats:?}");
}

#[test]
fn bridge_stats_are_in_metrics_text() {
    let Some(url) = nats_url("bridge_stats_are_in_metrics_text") else {
        return;
    };
    js_stream(&url, "IMPMET", &["impmet.x"]);
    js_publish(&url, "impmet.x", 0, 3);
    let mq = broker();
    let topic = mq.create_topic("impmet", TopicOptions::default()).unwrap();
    let mut c = config("met-bridge.1", &url, vec![]);
    c.imports.push(import("IMPMET", None, "impmet", 16));
    let bridge = Bridge::start(&mq, c).unwrap();
    let app = topic.pull_subscription("app").unwrap();
    for _ in 0..3 {
        app.poll(Some(Duration::from_secs(10)))
            .unwrap()
            .unwrap()
            .ack()
            .unwrap();
    }
    wait_for(10, "connected and imported", || {
        let s = bridge.stats();
        s.connected && s.imported == 3 && s.in_flight == 0
    });
    let text = mq.metrics_text();
    for family in [
        "ringmq_nats_exported_total",
        "ringmq_nats_imported_total",
        "ringmq_nats_in_flight",
        "ringmq_nats_reconnects_total",
        "ringmq_nats_dead_lettered_total",
        "ringmq_nats_connected",
    ] {
        assert!(text.contains(&format!("# TYPE {family} ")), "{family}");
        assert!(text.contains(&format!("# HELP {family} ")), "{family}");
    }
    assert!(text.contains("ringmq_nats_imported_total{bridge=\"met-bridge.1\"} 3\n"));
    assert!(text.contains("ringmq_nats_connected{bridge=\"met-bridge.1\"} 1\n"));
    assert!(text.contains("ringmq_nats_in_flight{bridge=\"met-bridge.1\"} 0\n"));
    // A second bridge of the broker: one group per family, a sample each.
    let other = mq.create_topic("impmet2", TopicOptions::default()).unwrap();
    let mut c = config("met-bridge-2", &url, vec![]);
    c.imports.push(import("IMPMET", None, other.name(), 16));
    c.imports[0].consumer = "IMPMET-second".into();
    let bridge2 = Bridge::start(&mq, c).unwrap();
    wait_for(10, "the second bridge imported", || {
        bridge2.stats().imported == 3
    });
    let text = mq.metrics_text();
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| *l == "# TYPE ringmq_nats_imported_total counter")
        .unwrap();
    assert_eq!(
        &lines[at + 1..at + 3],
        &[
            "ringmq_nats_imported_total{bridge=\"met-bridge.1\"} 3",
            "ringmq_nats_imported_total{bridge=\"met-bridge-2\"} 3"
        ]
    );
    assert_eq!(text.matches("# TYPE ringmq_nats_connected ").count(), 1);
    bridge2.stop(Duration::ZERO).unwrap();
    bridge.stop(Duration::from_secs(1)).unwrap();
    assert!(!mq.metrics_text().contains("ringmq_nats_"));
}

#[test]
fn import_refuses_a_consumer_without_explicit_acks() {
    let Some(url) = nats_url("import_refuses_a_consumer_without_explicit_acks") else {
        return;
    };
    js_stream(&url, "IMPNOACK", &["impnoack.x"]);
    rt().block_on(async {
        let client = async_nats::connect(url.as_str()).await.unwrap();
        let js = jetstream::new(client);
        let s = js.get_stream("IMPNOACK").await.unwrap();
        s.create_consumer(jetstream::consumer::pull::Config {
            durable_name: Some("IMPNOACK-ringmq".into()),
            ack_policy: jetstream::consumer::AckPolicy::None,
            ..Default::default()
        })
        .await
        .unwrap();
    });
    js_publish(&url, "impnoack.x", 0, 2);
    let mq = broker();
    let topic = mq
        .create_topic("impnoack", TopicOptions::default())
        .unwrap();
    let mut c = config("impnoack-bridge", &url, vec![]);
    c.imports.push(import("IMPNOACK", None, "impnoack", 16));
    let bridge = Bridge::start(&mq, c).unwrap();
    wait_for(10, "the refusal", || {
        bridge
            .stats()
            .last_error
            .is_some_and(|e| e.contains("explicit acks"))
    });
    let stats = bridge.stop(Duration::from_secs(1)).unwrap();
    assert_eq!(stats.imported, 0);
    assert_eq!(topic.stats().published, 0);
}

#[test]
fn import_stop_leaves_held_messages_to_jetstream() {
    let Some(url) = nats_url("import_stop_leaves_held_messages_to_jetstream") else {
        return;
    };
    js_stream(&url, "IMPSTOP", &["impstop.x"]);
    js_publish(&url, "impstop.x", 0, 3);
    let opts = TopicOptions {
        ack_timeout: Duration::from_millis(500),
        ..Default::default()
    };
    let mq = broker();
    let topic = mq.create_topic("impstop", opts.clone()).unwrap();
    let mut c = config("impstop-bridge", &url, vec![]);
    c.imports.push(import("IMPSTOP", None, "impstop", 16));
    let bridge = Bridge::start(&mq, c.clone()).unwrap();
    wait_for(10, "imported", || bridge.stats().imported == 3);
    let stats = bridge.stop(Duration::ZERO).unwrap();
    assert_eq!(stats.in_flight, 0, "{stats:?}");
    assert_eq!(topic.stats().published, 3);
    let (_, floor, unacked, _, _, ack_wait) = js_consumer(&url, "IMPSTOP", "IMPSTOP-ringmq");
    assert_eq!((floor, unacked, ack_wait), (0, 3, Duration::from_secs(1)));
    // Another broker and bridge: JetStream delivers them again after
    // ack_wait, attempt 2 here.
    let mq2 = broker();
    let topic2 = mq2.create_topic("impstop", opts).unwrap();
    let bridge2 = Bridge::start(&mq2, c).unwrap();
    let app = topic2.pull_subscription("app").unwrap();
    for i in 0..3 {
        let d = app.poll(Some(Duration::from_secs(10))).unwrap().unwrap();
        assert_eq!((body(&d), d.attempt()), (i, 2));
        d.ack().unwrap();
    }
    wait_for(10, "JetStream acked", || {
        js_consumer(&url, "IMPSTOP", "IMPSTOP-ringmq").1 == 3
    });
    bridge2.stop(Duration::from_secs(1)).unwrap();
}

#[test]
fn import_stop_drains_held_messages() {
    let Some(url) = nats_url("import_stop_drains_held_messages") else {
        return;
    };
    js_stream(&url, "IMPDRAIN", &["impdrain.x"]);
    js_publish(&url, "impdrain.x", 0, 4);
    let mq = broker();
    let topic = mq
        .create_topic("impdrain", TopicOptions::default())
        .unwrap();
    let mut c = config("impdrain-bridge", &url, vec![]);
    c.imports.push(import("IMPDRAIN", None, "impdrain", 16));
    let bridge = Bridge::start(&mq, c).unwrap();
    wait_for(10, "imported", || bridge.stats().imported == 4);
    // Settled while the bridge is stopping: each still maps back.
    let app = topic.pull_subscription("app").unwrap();
    let consumer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        for _ in 0..4 {
            let d = app.poll(Some(Duration::from_secs(5))).unwrap().unwrap();
            d.ack().unwrap();
        }
    });
    let stats = bridge.stop(Duration::from_secs(10)).unwrap();
    consumer.join().unwrap();
    assert_eq!((stats.imported, stats.in_flight), (4, 0), "{stats:?}");
    wait_for(5, "JetStream acked", || {
        let (_, floor, unacked, _, _, _) = js_consumer(&url, "IMPDRAIN", "IMPDRAIN-ringmq");
        floor == 4 && unacked == 0
    });
}
