//! The `ringmq` binary on a data directory written by a real broker:
//! listing, stats from the checkpoints, dumps, and verify on a clean
//! directory, on damage in the middle of a log and on a torn tail.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use ringmq_core::storage::{scan, ScanEnd};
use ringmq_core::{
    Broker, BrokerOptions, Fsync, PublishOptions, StartAt, SubOptions, TopicOptions,
};

const TOTAL: u64 = 200;
const TAKEN: u64 = 10;
const ACKED: u64 = 6;

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "ringmq-cli-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn payload(i: u64) -> Vec<u8> {
    if i % 50 == 7 {
        vec![0, 1, 2, 0xff, i as u8]
    } else {
        format!("order \"{i}\" for the shop, padded to fill segments quickly").into_bytes()
    }
}

/// A data directory with topic "orders" (several 4 KiB segments), group
/// "workers" that took TAKEN messages, acked ACKED, sent the next one to the
/// dead-letter topic and holds the rest, and
/// group "audit" that took nothing; the broker is closed, so both
/// checkpoints are written.
fn populate(dir: &Path) {
    let mq = Broker::new(BrokerOptions {
        workers_min: 1,
        workers_max: 2,
        data_dir: Some(dir.to_owned()),
        ..BrokerOptions::default()
    })
    .unwrap();
    let t = mq
        .create_topic(
            "orders",
            TopicOptions {
                capacity: 256,
                slot_size: 128,
                durable: true,
                fsync: Fsync::Batch,
                segment_bytes: 4096,
                ack_timeout: Duration::from_secs(600),
                ..TopicOptions::default()
            },
        )
        .unwrap();
    for i in 0..TOTAL {
        let n = i.to_string();
        let mid = format!("m-{i}");
        let headers: &[(&str, &[u8])] = &[("n", n.as_bytes()), ("raw", &[0xfe, 0xed])];
        let o = PublishOptions {
            key: i % 4,
            headers,
            msg_id: Some(mid.as_bytes()),
            ..PublishOptions::default()
        };
        assert_eq!(t.publish_opts(&payload(i), &o).unwrap(), i);
    }
    let earliest = SubOptions {
        start: StartAt::Earliest,
        ..SubOptions::default()
    };
    let _audit = t.subscribe_pull("audit", earliest.clone()).unwrap();
    let s = t.subscribe_pull("workers", earliest).unwrap();
    let mut held = Vec::new();
    for i in 0..TAKEN {
        let m = s
            .poll(Some(Duration::from_secs(5)))
            .unwrap()
            .expect("a message");
        assert_eq!(m.id(), i);
        if i < ACKED {
            m.ack().unwrap();
        } else if i == ACKED {
            m.term_with_reason("cannot parse").unwrap();
        } else {
            held.push(m);
        }
    }
    mq.close(Duration::ZERO).unwrap();
    drop(held);
}

fn ringmq(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ringmq"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("topics/orders"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    v.sort();
    v
}

#[test]
fn inspects_a_data_directory() {
    let d = TempDir::new("inspect");
    populate(d.path());
    let dir = d.path().to_str().unwrap();
    let segs = segments(d.path());
    assert!(segs.len() >= 3, "{segs:?}");

    // topics
    let o = ringmq(&["topics", dir]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0][0], "TOPIC", "{out}");
    let orders = &lines[1];
    assert_eq!(orders[0], "orders", "{out}");
    assert_eq!(orders[1], TOTAL.to_string());
    assert_eq!(orders[3], segs.len().to_string());
    let bytes: u64 = segs
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert_eq!(orders[2], bytes.to_string());
    assert_eq!(&orders[4..], ["0", "199", "batch"]);
    // The dead-letter topic holds the one message termed.
    assert_eq!(lines[2][..4], ["orders.dlq", "1", "208", "1"], "{out}");
    assert_eq!(lines[2][4..], ["0", "0", "batch"], "{out}");

    // stats
    let o = ringmq(&["stats", dir, "orders"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains(&format!("segments: {}", segs.len())), "{out}");
    assert!(
        out.contains("  00000000000000000000.seg  first_id 0  frames "),
        "{out}"
    );
    for line in [
        "messages: 200",
        "first_id: 0",
        "last_id: 199",
        "next_id: 200",
        "subscriptions: 2",
    ] {
        assert!(out.lines().any(|l| l == line), "{line}: {out}");
    }
    assert!(out.contains(&format!("bytes: {bytes}\n")), "{out}");
    let lag = TOTAL - TAKEN + (TAKEN - ACKED - 1);
    assert!(
        out.contains(&format!(
            "  workers  cursor {TAKEN}  unfinished 3 [7 8 9]  paused no  lag {lag}\n"
        )),
        "{out}"
    );
    assert!(
        out.contains("  audit  cursor 0  unfinished 0  paused no  lag 200\n"),
        "{out}"
    );
    let o = ringmq(&["stats", dir, "orders.dlq"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for line in ["messages: 1", "first_id: 0", "last_id: 0", "next_id: 1"] {
        assert!(out.lines().any(|l| l == line), "{line}: {out}");
    }
    let o = ringmq(&["dump", dir, "orders.dlq", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.contains("\"payload\":\"order \\\"6\\\" for the shop"),
        "{out}"
    );
    let o = ringmq(&["stats", dir, "nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no durable topic \"nope\""),
        "{}",
        stderr(&o)
    );

    // dump, text
    let o = ringmq(&["dump", dir, "orders", "--from", "6", "--count", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with("id=6 key=2 time=20"), "{out}");
    assert!(
        lines[0].ends_with(
            " attempt=0 msg_id=\"m-6\" headers={\"n\"=\"6\", \"raw\"=0xfeed} \
             payload=\"order \\\"6\\\" for the shop, padded to fill segments quickly\""
        ),
        "{out}"
    );
    assert!(lines[1].starts_with("id=7 key=3 "), "{out}");
    assert!(lines[1].ends_with(" payload=0x000102ff07"), "{out}");
    let o = ringmq(&["dump", dir, "orders"]);
    assert_eq!(stdout(&o).lines().count() as u64, TOTAL);
    let o = ringmq(&["dump", dir, "orders", "--from=195"]);
    let ids: Vec<String> = stdout(&o)
        .lines()
        .map(|l| l.split(' ').next().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["id=195", "id=196", "id=197", "id=198", "id=199"]);
    let o = ringmq(&["dump", dir, "orders", "--from", "500"]);
    assert!(o.status.success());
    assert_eq!(stdout(&o), "");

    // dump, JSON
    let o = ringmq(&[
        "dump", dir, "orders", "--json", "--from", "7", "--count", "1",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 1);
    let line = out.trim_end();
    assert!(
        line.starts_with("{\"id\":7,\"key\":3,\"timestamp\":\"20"),
        "{line}"
    );
    let ts = &line[line.find("\"timestamp\":\"").unwrap() + 13..];
    let ts = &ts[..ts.find('"').unwrap()];
    assert_eq!(ts.len(), 30, "{ts}");
    assert_eq!((&ts[10..11], &ts[19..20], &ts[29..]), ("T", ".", "Z"));
    assert!(
        line.ends_with(
            ",\"attempt\":0,\"msg_id\":\"m-7\",\"msg_id_encoding\":\"utf8\",\
             \"headers\":[[\"n\",\"7\",\"utf8\"],[\"raw\",\"feed\",\"hex\"]],\
             \"payload\":\"000102ff07\",\"payload_encoding\":\"hex\"}"
        ),
        "{line}"
    );
    let o = ringmq(&["dump", dir, "orders", "--json", "--count", "1"]);
    assert!(
        stdout(&o).contains(
            "\"payload\":\"order \\\"0\\\" for the shop, padded to fill segments quickly\",\
             \"payload_encoding\":\"utf8\"}"
        ),
        "{}",
        stdout(&o)
    );

    // verify, clean
    let o = ringmq(&["verify", dir]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let out = stdout(&o);
    // Every segment of the topic, and the dead-letter log's one.
    assert_eq!(out.matches(": clean, ").count(), segs.len() + 1, "{out}");
    assert!(
        out.contains("checkpoint workers: ok (cursor 10, 3 unfinished)"),
        "{out}"
    );
    assert!(
        out.lines().last().unwrap().starts_with("OK: 1 topic(s)"),
        "{out}"
    );

    // verify, damage in the middle of a segment that is not the last
    let victim = &segs[1];
    let original = std::fs::read(victim).unwrap();
    let mut garbled = original.clone();
    let at = garbled.len() / 2;
    garbled[at] ^= 0x5a;
    std::fs::write(victim, &garbled).unwrap();
    let ScanEnd::Corrupt { offset, .. } = scan(&garbled).end else {
        panic!("the garbled segment should scan as corrupt");
    };
    assert!(offset > 64 && offset <= at);
    let o = ringmq(&["verify", dir]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let name = victim.file_name().unwrap().to_str().unwrap();
    let want = format!("topics/orders/{name}: DAMAGED at byte {offset}: ");
    assert!(stdout(&o).contains(&want), "{want}: {}", stdout(&o));
    assert!(stdout(&o).lines().last().unwrap().starts_with("DAMAGED: "));
    // The other commands still read what is before the damage.
    let o = ringmq(&["topics", dir]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("damaged at byte"), "{}", stdout(&o));
    std::fs::write(victim, &original).unwrap();

    // verify, half a frame at the end of the last segment: a torn tail
    let last = segs.last().unwrap();
    let mut bytes = std::fs::read(last).unwrap();
    let len = bytes.len();
    let half: Vec<u8> = bytes[64..64 + 48].to_vec();
    bytes.extend_from_slice(&half);
    std::fs::write(last, &bytes).unwrap();
    let o = ringmq(&["verify", dir]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let name = last.file_name().unwrap().to_str().unwrap();
    let want = format!("topics/orders/{name}: torn tail at byte {len}, ");
    assert!(stdout(&o).contains(&want), "{want}: {}", stdout(&o));
    assert!(
        stdout(&o).contains("recovery will cut 48 byte(s)"),
        "{}",
        stdout(&o)
    );
    // Reading did not change the file.
    assert_eq!(std::fs::read(last).unwrap(), bytes);

    // verify, a damaged checkpoint
    let ckpt = d.path().join("topics/orders/subs/workers.ckpt");
    let mut c = std::fs::read(&ckpt).unwrap();
    c[10] ^= 1;
    std::fs::write(&ckpt, &c).unwrap();
    let o = ringmq(&["verify", dir]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("BAD checkpoint: "), "{}", stdout(&o));
}

#[test]
fn usage_and_help() {
    let o = ringmq(&["--help"]);
    assert!(o.status.success());
    for cmd in ["topics", "stats", "dump", "verify"] {
        assert!(stdout(&o).contains(&format!("  {cmd} ")), "{cmd}");
        let o = ringmq(&[cmd, "--help"]);
        assert!(o.status.success(), "{cmd}");
        assert!(
            stdout(&o).starts_with(&format!("Usage: ringmq {cmd}")),
            "{cmd}"
        );
        assert!(
            stdout(&o).contains("safe while a broker is running"),
            "{cmd}"
        );
        let o = ringmq(&["help", cmd]);
        assert!(o.status.success(), "{cmd}");
    }
    for bad in [
        &[][..],
        &["frobnicate"],
        &["topics"],
        &["topics", "a", "b"],
        &["stats", "a"],
        &["verify", "--fast", "a"],
        &["dump", "a"],
        &["dump", "a", "t", "--count"],
        &["dump", "a", "t", "--count", "x"],
        &["dump", "a", "t", "--from", "-1"],
        &["dump", "a", "t", "--bogus"],
        &["help", "nothing"],
    ] {
        let o = ringmq(bad);
        assert_eq!(o.status.code(), Some(2), "{bad:?}");
        assert!(
            stderr(&o).starts_with("ringmq: "),
            "{bad:?}: {}",
            stderr(&o)
        );
        assert!(o.stdout.is_empty(), "{bad:?}");
    }
    let o = ringmq(&["topics", "/nonexistent/ringmq-dir"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("not a directory"), "{}", stderr(&o));
}
