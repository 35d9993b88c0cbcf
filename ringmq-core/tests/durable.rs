//! Durable topics through the public API: messages and subscription
//! positions survive closing and reopening the broker; ids go on; a slow
//! consumer never holds producers back; the data directory's lock;
//! recovery of a torn tail and of damage in the middle; bad input.

mod common;

use std::time::Duration;

use common::TempDir;
use ringmq_core::{
    Broker, BrokerOptions, ErrorKind, Fsync, PublishOptions, StartAt, SubOptions, TopicOptions,
};

fn open(dir: &TempDir) -> Broker {
    Broker::new(BrokerOptions {
        workers_min: 1,
        workers_max: 2,
        data_dir: Some(dir.path().to_owned()),
        ..BrokerOptions::default()
    })
    .unwrap()
}

fn durable(capacity: usize, fsync: Fsync) -> TopicOptions {
    TopicOptions {
        capacity,
        slot_size: 64,
        durable: true,
        fsync,
        fsync_interval: Duration::from_millis(10),
        backoff_base: Duration::from_millis(2),
        backoff_max: Duration::from_millis(20),
        ack_timeout: Duration::from_secs(5),
        ..TopicOptions::default()
    }
}

fn earliest() -> SubOptions {
    SubOptions {
        start: StartAt::Earliest,
        ..SubOptions::default()
    }
}

const WAIT: Option<Duration> = Some(Duration::from_secs(5));

#[test]
fn messages_survive_a_restart_with_every_field() {
    let d = TempDir::new("durable-restart");
    for fsync in Fsync::ALL {
        let name = format!("t-{}", fsync.as_str());
        let mq = open(&d);
        let t = mq.create_topic(&name, durable(16, fsync)).unwrap();
        let mut ids = Vec::new();
        for i in 0..100u64 {
            let body = format!("m{i}");
            let h = format!("h{i}");
            let o = PublishOptions {
                key: i % 3,
                headers: &[("n", h.as_bytes())],
                ..PublishOptions::default()
            };
            ids.push(t.publish_opts(body.as_bytes(), &o).unwrap());
        }
        assert_eq!(ids, (0..100).collect::<Vec<_>>());
        mq.close(Duration::ZERO).unwrap();

        let mq = open(&d);
        let t = mq.topic(&name).unwrap();
        assert!(t.options().durable);
        let s = t.subscribe_pull("reader", earliest()).unwrap();
        for i in 0..100u64 {
            let m = s.poll(WAIT).unwrap().expect("a recovered message");
            assert_eq!(m.id(), i);
            assert_eq!(m.key(), i % 3);
            assert_eq!(m.data(), format!("m{i}").as_bytes());
            assert_eq!(
                m.headers().get("n"),
                Some(format!("h{i}").as_bytes()),
                "{fsync:?}"
            );
            m.ack().unwrap();
        }
        // Ids go on after the log's.
        assert_eq!(t.publish(b"next").unwrap(), 100);
        assert_eq!(s.poll(WAIT).unwrap().unwrap().data(), b"next");
        mq.close(Duration::ZERO).unwrap();
    }
}

#[test]
fn a_group_resumes_where_it_was_acked_messages_are_not_delivered_again() {
    let d = TempDir::new("durable-resume");
    let mq = open(&d);
    let t = mq.create_topic("jobs", durable(64, Fsync::Batch)).unwrap();
    let s = t.subscribe_pull("workers", SubOptions::default()).unwrap();
    for i in 0..100u64 {
        t.publish(format!("{i}").as_bytes()).unwrap();
    }
    let mut held = Vec::new();
    for i in 0..70u64 {
        let m = s.poll(WAIT).unwrap().unwrap();
        assert_eq!(m.id(), i);
        if i % 7 == 3 {
            held.push(m); // taken, never settled
        } else {
            m.ack().unwrap();
        }
    }
    let held_ids: Vec<u64> = held.iter().map(|m| m.id()).collect();
    // A nacked one waits for its retry, with its attempt count and its due
    // time, across the restart.
    let nacked = s.poll(WAIT).unwrap().unwrap();
    assert_eq!(nacked.id(), 70);
    let retry = Duration::from_millis(1500);
    let due = std::time::Instant::now() + retry;
    nacked.nack(Some(retry)).unwrap();
    std::mem::forget(held);
    mq.close(Duration::ZERO).unwrap();

    let mq = open(&d);
    let t = mq.create_topic("jobs", durable(64, Fsync::Batch)).unwrap();
    let s = t.subscribe_pull("workers", SubOptions::default()).unwrap();
    let mut got = Vec::new();
    while let Some(m) = s.poll(Some(Duration::from_millis(200))).unwrap() {
        got.push((m.id(), m.attempt()));
        m.ack().unwrap();
    }
    let mut want: Vec<(u64, u32)> = held_ids.iter().map(|&id| (id, 2)).collect();
    want.extend((71..100).map(|id| (id, 1)));
    got.sort_unstable();
    assert_eq!(got, want);
    // The retry comes when it is due, not before.
    assert_eq!(s.stats().waiting_retry, 1);
    let m = s.poll(Some(Duration::from_secs(5))).unwrap().unwrap();
    assert!(std::time::Instant::now() + Duration::from_millis(20) >= due);
    assert_eq!((m.id(), m.attempt()), (70, 2));
    m.ack().unwrap();
    mq.close(Duration::ZERO).unwrap();
}

#[test]
fn a_slow_or_absent_consumer_never_holds_producers_back() {
    let d = TempDir::new("durable-slow");
    let mq = open(&d);
    let t = mq.create_topic("fast", durable(16, Fsync::Never)).unwrap();
    let s = t.subscribe_pull("slow", SubOptions::default()).unwrap();
    for i in 0..1000u64 {
        let id = t
            .publish_with(format!("{i}").as_bytes(), 0, Some(Duration::from_secs(2)))
            .unwrap();
        assert_eq!(id, i);
    }
    // Everything arrives, in order, most of it read back from the log.
    for i in 0..1000u64 {
        let m = s.poll(WAIT).unwrap().expect("from the log");
        assert_eq!((m.id(), m.data()), (i, format!("{i}").as_bytes()));
        m.ack().unwrap();
    }
    assert_eq!(s.stats().dropped, 0);
    assert!(s.poll(Some(Duration::ZERO)).unwrap().is_none());
    mq.close(Duration::ZERO).unwrap();
}

#[test]
fn start_positions_read_the_log() {
    let d = TempDir::new("durable-start");
    let mq = open(&d);
    let t = mq.create_topic("hist", durable(8, Fsync::Batch)).unwrap();
    for i in 0..50u64 {
        t.publish(format!("{i}").as_bytes()).unwrap();
    }
    let at_id = t
        .subscribe_pull(
            "at-id",
            SubOptions {
                start_at_id: Some(20),
                ..SubOptions::default()
            },
        )
        .unwrap();
    assert_eq!(at_id.poll(WAIT).unwrap().unwrap().id(), 20);
    let all = t.subscribe_pull("all", earliest()).unwrap();
    assert_eq!(all.poll(WAIT).unwrap().unwrap().id(), 0);
    let latest = t.subscribe_pull("latest", SubOptions::default()).unwrap();
    assert!(latest.poll(Some(Duration::ZERO)).unwrap().is_none());
    t.publish(b"new").unwrap();
    assert_eq!(latest.poll(WAIT).unwrap().unwrap().id(), 50);
    let past = t
        .subscribe_pull(
            "past",
            SubOptions {
                start_at_id: Some(51),
                ..SubOptions::default()
            },
        )
        .unwrap();
    assert!(past.poll(Some(Duration::ZERO)).unwrap().is_none());
    mq.close(Duration::ZERO).unwrap();
}

#[test]
fn the_data_directory_is_locked_while_a_broker_has_it() {
    let d = TempDir::new("durable-lock");
    let mq = open(&d);
    let again = Broker::new(BrokerOptions {
        data_dir: Some(d.path().to_owned()),
        ..BrokerOptions::default()
    });
    let e = again.expect_err("a second broker is refused");
    assert_eq!(e.kind(), ErrorKind::Exists);
    assert!(e.message().contains("in use"), "{e}");
    mq.close(Duration::ZERO).unwrap();
    // Closed: the directory is free again.
    let mq = open(&d);
    mq.close(Duration::ZERO).unwrap();
}

#[test]
fn bad_durable_options_are_refused_and_change_nothing() {
    let mq = common::broker();
    let e = mq.create_topic("d", durable(16, Fsync::Batch)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.message().contains("data_dir"), "{e}");
    assert!(mq.topic_names().is_empty());

    let d = TempDir::new("durable-bad");
    let mq = open(&d);
    for (opts, what) in [
        (
            TopicOptions {
                segment_bytes: 100,
                ..durable(16, Fsync::Batch)
            },
            "segment_bytes",
        ),
        (
            TopicOptions {
                fsync_interval: Duration::ZERO,
                ..durable(16, Fsync::Interval)
            },
            "fsync_interval",
        ),
    ] {
        let e = mq.create_topic("d", opts).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(e.message().contains(what), "{e}");
    }
    assert!(mq.topic_names().is_empty());
    assert!(std::fs::read_dir(d.path().join("topics"))
        .unwrap()
        .next()
        .is_none());
    assert!(Fsync::parse("sometimes").is_err());
    // Recovered with other options: refused, the recovered topic stays.
    mq.create_topic("d", durable(16, Fsync::Batch)).unwrap();
    mq.close(Duration::ZERO).unwrap();
    let mq = open(&d);
    let e = mq.create_topic("d", durable(32, Fsync::Batch)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Exists);
    assert_eq!(mq.topic("d").unwrap().options().capacity, 16);
    mq.create_topic("d", durable(16, Fsync::Batch)).unwrap();
    mq.close(Duration::ZERO).unwrap();
}

/// The segment files of topic `name`, sorted.
fn segments(d: &TempDir, name: &str) -> Vec<std::path::PathBuf> {
    common::segment_files(&d.path().join("topics").join(name))
}

#[test]
fn a_torn_tail_is_cut_and_damage_in_the_middle_opens_read_only() {
    let d = TempDir::new("durable-damage");
    let opts = TopicOptions {
        segment_bytes: 4096,
        ..durable(16, Fsync::Batch)
    };
    let mq = open(&d);
    let t = mq.create_topic("log", opts.clone()).unwrap();
    for i in 0..200u64 {
        t.publish(format!("message {i}").as_bytes()).unwrap();
    }
    mq.close(Duration::ZERO).unwrap();
    let segs = segments(&d, "log");
    assert!(segs.len() >= 3, "{segs:?}");

    // A torn tail: half a frame of garbage at the end of the last segment.
    let last = segs.last().unwrap();
    let mut bytes = std::fs::read(last).unwrap();
    bytes.extend_from_slice(b"RMQF\x01\x00\x00\x00\x40\x00");
    std::fs::write(last, &bytes).unwrap();
    let mq = open(&d);
    let t = mq.topic("log").unwrap();
    let s = t.subscribe_pull("r", earliest()).unwrap();
    for i in 0..200u64 {
        let m = s.poll(WAIT).unwrap().expect("a recovered message");
        assert_eq!(m.id(), i);
        m.ack().unwrap();
    }
    assert_eq!(t.publish(b"after").unwrap(), 200);
    mq.close(Duration::ZERO).unwrap();

    // Damage in the middle: read only up to it.
    let victim = &segs[1];
    let mut bytes = std::fs::read(victim).unwrap();
    bytes[64 + 30] ^= 0xff;
    std::fs::write(victim, &bytes).unwrap();
    let mq = open(&d);
    let t = mq.topic("log").unwrap();
    let e = t.publish(b"refused").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    assert!(e.message().contains("damaged"), "{e}");
    let s = t.subscribe_pull("r2", earliest()).unwrap();
    let mut n = 0;
    while let Some(m) = s.poll(Some(Duration::from_millis(200))).unwrap() {
        assert_eq!(m.id(), n);
        m.ack().unwrap();
        n += 1;
    }
    assert!(n > 0 && n < 200, "{n} readable before the damage");
    mq.close(Duration::ZERO).unwrap();

    // Repair cuts the log there; publishing works again.
    let mq = Broker::new(BrokerOptions {
        data_dir: Some(d.path().to_owned()),
        repair: true,
        ..BrokerOptions::default()
    })
    .unwrap();
    let t = mq.topic("log").unwrap();
    assert_eq!(t.publish(b"again").unwrap(), n);
    mq.close(Duration::ZERO).unwrap();
}

#[test]
fn a_msg_id_is_still_known_after_a_restart_and_delays_are_refused() {
    let d = TempDir::new("durable-dedupe");
    let mq = open(&d);
    let t = mq.create_topic("pay", durable(16, Fsync::Batch)).unwrap();
    let once = PublishOptions {
        msg_id: Some(b"payment-7"),
        ..PublishOptions::default()
    };
    let id = t.publish_opts(b"7 EUR", &once).unwrap();
    t.publish(b"other").unwrap();
    // A delayed message would live in memory until due: refused, nothing
    // published.
    let later = PublishOptions {
        delay: Some(Duration::from_millis(10)),
        ..PublishOptions::default()
    };
    let e = t.publish_opts(b"later", &later).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.message().contains("delay"), "{e}");
    assert_eq!(t.stats().published, 2);
    mq.close(Duration::ZERO).unwrap();

    let mq = open(&d);
    let t = mq.topic("pay").unwrap();
    // The retried publish is answered with the first id, nothing stored.
    assert_eq!(t.publish_opts(b"7 EUR", &once).unwrap(), id);
    assert_eq!(t.stats().duplicates, 1);
    let s = t.subscribe_pull("r", earliest()).unwrap();
    let mut n = 0;
    while let Some(m) = s.poll(Some(Duration::from_millis(100))).unwrap() {
        m.ack().unwrap();
        n += 1;
    }
    assert_eq!(n, 2);
    mq.close(Duration::ZERO).unwrap();
}

#[test]
fn a_push_subscription_reads_what_the_ring_no_longer_holds() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    let d = TempDir::new("durable-push");
    let mq = open(&d);
    let t = mq
        .create_topic("feed", durable(16, Fsync::Interval))
        .unwrap();
    for i in 0..2000u64 {
        t.publish(&i.to_le_bytes()).unwrap();
    }
    let next = Arc::new(AtomicU64::new(0));
    let n2 = next.clone();
    let _s = t
        .subscribe(
            "late",
            SubOptions {
                start: StartAt::Earliest,
                ordered_by_key: true,
                ..SubOptions::default()
            },
            move |m| {
                let v = u64::from_le_bytes(m.data.try_into().unwrap());
                // In order, each once.
                assert_eq!(v, n2.load(Ordering::SeqCst));
                n2.store(v + 1, Ordering::SeqCst);
                Ok(())
            },
        )
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while next.load(Ordering::SeqCst) < 2000 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(next.load(Ordering::SeqCst), 2000);
    mq.close(Duration::from_secs(1)).unwrap();
}

#[test]
fn expiry_survives_a_restart_in_wall_clock_time() {
    let d = TempDir::new("durable-ttl");
    let mq = open(&d);
    let t = mq.create_topic("ttl", durable(16, Fsync::Batch)).unwrap();
    let short = PublishOptions {
        ttl: Some(Duration::from_millis(150)),
        ..PublishOptions::default()
    };
    let long = PublishOptions {
        ttl: Some(Duration::from_secs(3600)),
        ..PublishOptions::default()
    };
    t.publish_opts(b"short", &short).unwrap();
    t.publish_opts(b"long", &long).unwrap();
    mq.close(Duration::ZERO).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let mq = open(&d);
    let t = mq.topic("ttl").unwrap();
    let s = t.subscribe_pull("r", earliest()).unwrap();
    let m = s.poll(WAIT).unwrap().unwrap();
    assert_eq!(m.data(), b"long");
    m.ack().unwrap();
    assert!(s.poll(Some(Duration::from_millis(100))).unwrap().is_none());
    assert_eq!(s.stats().expired_messages, 1);
    mq.close(Duration::ZERO).unwrap();
}

fn bounded(overflow: ringmq_core::Overflow) -> TopicOptions {
    TopicOptions {
        overflow,
        segment_bytes: 4096,
        max_bytes: 3 * 4096,
        fsync_interval: Duration::from_millis(5),
        ..durable(16, Fsync::Never)
    }
}

#[test]
fn retention_without_needs_removes_old_segments_quietly() {
    let d = TempDir::new("durable-ret-free");
    let mq = open(&d);
    let t = mq
        .create_topic("r", bounded(ringmq_core::Overflow::Block))
        .unwrap();
    for i in 0..3000u64 {
        t.publish_with(&i.to_le_bytes(), 0, Some(Duration::from_secs(5)))
            .unwrap();
    }
    let s = t.stats();
    assert!(
        s.log_bytes <= 4 * 4096 + 2048,
        "the log is bounded: {} bytes in {} segments",
        s.log_bytes,
        s.log_segments
    );
    // A late reader starts at the oldest message kept.
    let r = t.subscribe_pull("late", earliest()).unwrap();
    let first = r.poll(WAIT).unwrap().unwrap().id();
    assert!(first > 0 && first < 3000, "{first}");
    mq.close(Duration::ZERO).unwrap();
}

#[test]
fn retention_at_max_bytes_blocks_or_rejects_while_a_subscription_needs_the_log() {
    use ringmq_core::Overflow;
    let d = TempDir::new("durable-ret-block");
    let mq = open(&d);
    for (name, overflow) in [("b", Overflow::Block), ("j", Overflow::Reject)] {
        let t = mq.create_topic(name, bounded(overflow)).unwrap();
        let s = t.subscribe_pull("slow", SubOptions::default()).unwrap();
        let mut published = 0u64;
        let refusal = loop {
            match t.publish_with(
                &published.to_le_bytes(),
                0,
                Some(Duration::from_millis(300)),
            ) {
                Ok(_) => published += 1,
                Err(e) => break e,
            }
            assert!(published < 100_000, "{name}: never full");
        };
        let want = if overflow == Overflow::Block {
            ErrorKind::Timeout
        } else {
            ErrorKind::Full
        };
        assert_eq!(refusal.kind(), want, "{name}: {refusal}");
        assert!(
            t.stats().log_bytes > 3 * 4096,
            "{name}: {published} published, {:?}",
            t.stats()
        );
        // Nothing was removed: the subscription gets every message, and as
        // it moves on, room comes back.
        for i in 0..published {
            let m = s.poll(WAIT).unwrap().expect("every message kept");
            assert_eq!(m.id(), i);
            m.ack().unwrap();
        }
        assert_eq!(s.stats().retention_dropped, 0);
        // Room comes back once the journal sees the log is no longer needed
        // (its next tick): `block` waits for it, `reject` refuses until then.
        let again = std::time::Instant::now();
        while let Err(e) = t.publish_with(b"room again", 0, Some(Duration::from_secs(5))) {
            assert_eq!(e.kind(), ErrorKind::Full, "{name}: {e}");
            assert!(e.message().contains("max_bytes"), "{e}");
            assert!(again.elapsed() < Duration::from_secs(5), "{name}: no room");
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    mq.close(Duration::ZERO).unwrap();
}

#[test]
fn retention_under_drop_oldest_removes_needed_segments_and_counts_them() {
    let d = TempDir::new("durable-ret-drop");
    let mq = open(&d);
    let t = mq
        .create_topic("d", bounded(ringmq_core::Overflow::DropOldest))
        .unwrap();
    let s = t.subscribe_pull("slow", SubOptions::default()).unwrap();
    let n = 3000u64;
    for i in 0..n {
        t.publish_with(&i.to_le_bytes(), 0, Some(Duration::from_secs(5)))
            .unwrap();
    }
    // Give the journal a tick to apply retention to what was written last.
    std::thread::sleep(Duration::from_millis(50));
    let mut got = 0u64;
    let mut last = None;
    while let Some(m) = s.poll(Some(Duration::from_millis(200))).unwrap() {
        assert!(last.is_none_or(|l| m.id() > l), "in order");
        last = Some(m.id());
        m.ack().unwrap();
        got += 1;
    }
    let dropped = s.stats().retention_dropped;
    assert!(dropped > 0, "nothing removed");
    assert_eq!(got + dropped, n, "every message delivered or counted");
    mq.close(Duration::ZERO).unwrap();
}

#[test]
fn retention_by_age_removes_expired_segments() {
    let d = TempDir::new("durable-ret-age");
    let mq = open(&d);
    let opts = TopicOptions {
        max_age: Duration::from_millis(200),
        segment_bytes: 4096,
        fsync_interval: Duration::from_millis(5),
        ..durable(16, Fsync::Never)
    };
    let t = mq.create_topic("a", opts).unwrap();
    let s = t.subscribe_pull("absent", SubOptions::default()).unwrap();
    for i in 0..1000u64 {
        t.publish(&i.to_le_bytes()).unwrap();
    }
    let before = t.stats().log_segments;
    assert!(before > 3);
    std::thread::sleep(Duration::from_millis(400));
    t.publish(b"fresh").unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let after = t.stats().log_segments;
    assert!(after < before, "{before} -> {after} segments");
    assert!(s.stats().retention_dropped > 0);
    // What is left is either expired (counted) or the fresh message.
    let m = s.poll(WAIT).unwrap().unwrap();
    assert_eq!(m.data(), b"fresh");
    mq.close(Duration::ZERO).unwrap();
}

#[test]
fn any_topic_and_group_name_is_kept_on_disk_and_found_again() {
    let d = TempDir::new("durable-names");
    let names = ["a/b", "..", "é ü", ".dlq", &"x".repeat(250)];
    let mq = open(&d);
    for n in names {
        let t = mq.create_topic(n, durable(16, Fsync::Batch)).unwrap();
        let s = t
            .subscribe_pull(&format!("{n}/g"), SubOptions::default())
            .unwrap();
        t.publish(&n.as_bytes()[..n.len().min(60)]).unwrap();
        let m = s.poll(WAIT).unwrap().unwrap();
        std::mem::forget(m); // unfinished: comes again after the restart
    }
    mq.close(Duration::ZERO).unwrap();
    let mq = open(&d);
    let mut want: Vec<String> = names
        .iter()
        .flat_map(|n| [n.to_string(), format!("{n}.dlq")])
        .collect();
    want.sort();
    assert_eq!(mq.topic_names(), want);
    for n in names {
        let t = mq.topic(n).unwrap();
        let s = t
            .subscribe_pull(&format!("{n}/g"), SubOptions::default())
            .unwrap();
        let m = s.poll(WAIT).unwrap().unwrap();
        assert_eq!(
            (m.data(), m.attempt()),
            (&n.as_bytes()[..n.len().min(60)], 2)
        );
    }
    mq.close(Duration::ZERO).unwrap();
}
