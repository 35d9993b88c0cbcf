//! The crash harness: a child process publishes to and consumes from a
//! durable topic under load, printing what each publish returned and each
//! ack it is about to make and made; the parent kills it with SIGKILL at a
//! random moment, then checks a copy of its data directory:
//!
//! - under `always` and `batch`, every publish that returned is in the log;
//! - every message in the log is whole (its payload is the one published);
//! - the group resumes exactly at its last completed checkpoint: it is
//!   handed every message of the log at or past the checkpoint's cursor and
//!   every one the checkpoint lists as unfinished, and nothing else; so
//!   every message the child had not acked is delivered again;
//! - every message below the cursor that the checkpoint counts as finished
//!   was one the child had started to ack (no message is dropped unacked).
//!
//! Each round reopens the same directory (recovery of a recovery). Rounds:
//! `RINGMQ_CRASH_ROUNDS` per fsync policy (default 5: 20 in all); the long
//! run is `RINGMQ_CRASH_ROUNDS=25 cargo test --release -p ringmq-core --test
//! crash` (100 kills). `RINGMQ_SEED` replays a run.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{seed, Rng, TempDir};
use ringmq_core::storage::{checkpoint_path, Checkpoint};
use ringmq_core::{Broker, BrokerOptions, Fsync, StartAt, SubOptions, TopicOptions};

const TOPIC: &str = "orders";
const GROUP: &str = "workers";
const CHILD_ENV: &str = "RINGMQ_CRASH_CHILD";

fn topic_options(fsync: Fsync) -> TopicOptions {
    TopicOptions {
        capacity: 64,
        slot_size: 64,
        durable: true,
        fsync,
        fsync_interval: Duration::from_millis(5),
        segment_bytes: 16 << 10,
        max_attempts: 1000,
        backoff_base: Duration::from_millis(1),
        backoff_max: Duration::from_millis(5),
        ack_timeout: Duration::from_millis(200),
        ..TopicOptions::default()
    }
}

fn group_options() -> SubOptions {
    SubOptions {
        start: StartAt::Earliest,
        ..SubOptions::default()
    }
}

fn broker(dir: &Path) -> Broker {
    Broker::new(BrokerOptions {
        workers_min: 1,
        workers_max: 2,
        data_dir: Some(dir.to_owned()),
        ..BrokerOptions::default()
    })
    .unwrap()
}

/// A payload that says which publish it was: the producer's counter and
/// a pattern derived from it.
fn payload(k: u64) -> Vec<u8> {
    let mut p = k.to_le_bytes().to_vec();
    let mut x = k.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    for _ in 0..24 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p.push(x as u8);
    }
    p
}

fn counter_of(p: &[u8]) -> Option<u64> {
    let k = u64::from_le_bytes(p.get(..8)?.try_into().ok()?);
    (payload(k) == p).then_some(k)
}

/// The child: publishes and consumes until killed. Runs only when the
/// parent starts this test binary with `CHILD_ENV` set.
#[test]
fn crash_child() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (dir, policy, base, seed) = {
        let mut it = spec.split('|');
        let dir = it.next().unwrap().to_owned();
        let policy = Fsync::parse(it.next().unwrap()).unwrap();
        let base: u64 = it.next().unwrap().parse().unwrap();
        let seed: u64 = it.next().unwrap().parse().unwrap();
        (dir, policy, base, seed)
    };
    let mq = broker(Path::new(&dir));
    let t = mq.create_topic(TOPIC, topic_options(policy)).unwrap();
    let s = t.subscribe_pull(GROUP, group_options()).unwrap();
    let out = std::sync::Mutex::new(std::io::stdout());
    let say = |line: String| {
        let mut o = out.lock().unwrap();
        writeln!(o, "{line}").unwrap();
        o.flush().unwrap();
    };
    say("@READY".into());
    std::thread::scope(|sc| {
        sc.spawn(|| {
            let mut k = base;
            loop {
                let id = t.publish(&payload(k)).unwrap();
                say(format!("@P {id} {k}"));
                k += 1;
            }
        });
        sc.spawn(|| {
            let mut rng = Rng(seed);
            let mut held = Vec::new();
            loop {
                let Some(m) = s.poll(Some(Duration::from_millis(20))).unwrap() else {
                    continue;
                };
                match rng.below(20) {
                    0 => {
                        let _ = m.nack(None);
                    }
                    1 if held.len() < 8 => held.push(m),
                    _ => {
                        let id = m.id();
                        say(format!("@I {id}"));
                        if m.ack().is_ok() {
                            say(format!("@A {id}"));
                        }
                    }
                }
                if held.len() == 8 && rng.below(4) == 0 {
                    let h: Vec<_> = std::mem::take(&mut held);
                    for m in h {
                        let id = m.id();
                        say(format!("@I {id}"));
                        if m.ack().is_ok() {
                            say(format!("@A {id}"));
                        }
                    }
                }
            }
        });
    });
}

/// What the child printed before it died.
#[derive(Default)]
struct Printed {
    /// id -> producer counter, for every publish that returned.
    published: BTreeMap<u64, u64>,
    /// Acks started.
    ack_intents: BTreeSet<u64>,
}

fn run_child(dir: &Path, policy: Fsync, base: u64, seed: u64, live_ms: u64) -> Printed {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(
            CHILD_ENV,
            format!("{}|{}|{base}|{seed}", dir.display(), policy.as_str()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut p = Printed::default();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // The test harness may print its own words before ours.
            let Some(at) = line.find('@') else { continue };
            let w: Vec<&str> = line[at..].split(' ').collect();
            match w.as_slice() {
                ["@READY"] => {
                    let _ = ready_tx.send(());
                }
                ["@P", id, k] => {
                    p.published.insert(id.parse().unwrap(), k.parse().unwrap());
                }
                ["@I", id] => {
                    p.ack_intents.insert(id.parse().unwrap());
                }
                _ => {}
            }
        }
        p
    });
    // Once it runs (recovery done), kill it at the chosen moment.
    let ready = ready_rx.recv_timeout(Duration::from_secs(20));
    if ready.is_ok() {
        std::thread::sleep(Duration::from_millis(live_ms));
    }
    if child.try_wait().unwrap().is_none() {
        kill(child.id());
    }
    let status = child.wait().unwrap();
    assert!(ready.is_ok(), "the child did not start: {status:?}");
    assert!(
        !status.success(),
        "the child ended by itself before it was killed: {status:?}"
    );
    reader.join().unwrap()
}

fn kill(pid: u32) {
    // SAFETY: kill takes a pid and a signal number only; the pid is our own
    // child's, which has not been waited for, so it cannot be reused.
    let r = unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    assert_eq!(r, 0, "kill: {}", std::io::Error::last_os_error());
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if e.file_type().unwrap().is_dir() {
            copy_dir(&src, &dst);
        } else if e.file_name() != "LOCK" {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// Checks a copy of the dead child's directory (see the module docs).
fn check(
    dir: &Path,
    policy: Fsync,
    printed: &Printed,
    all_published: &BTreeMap<u64, u64>,
) -> String {
    let topic_dir = dir.join("topics").join(TOPIC);
    let ckpt = std::fs::read(checkpoint_path(&topic_dir, GROUP))
        .ok()
        .map(|b| Checkpoint::decode(&b).expect("a whole checkpoint"));
    let mq = broker(dir);
    let t = mq.topic(TOPIC).unwrap();
    // Every message of the log, read by a new group.
    let all = t.subscribe_pull("verify", group_options()).unwrap();
    let mut log: BTreeMap<u64, u64> = BTreeMap::new();
    while let Some(m) = all.poll(Some(Duration::from_millis(100))).unwrap() {
        let k = counter_of(m.data()).expect("a whole payload");
        if let Some(&want) = all_published.get(&m.id()) {
            assert_eq!(
                k,
                want,
                "message {} holds another publish's payload",
                m.id()
            );
        }
        assert!(log.insert(m.id(), k).is_none(), "message {} twice", m.id());
        m.ack().unwrap();
    }
    if policy.publish_returns_durable() {
        for id in printed.published.keys() {
            assert!(
                log.contains_key(id),
                "{policy:?}: publish {id} returned but is lost"
            );
        }
    }
    // The group resumes exactly at its checkpoint.
    let g = t.subscribe_pull(GROUP, group_options()).unwrap();
    let mut got = BTreeSet::new();
    while let Some(m) = g.poll(Some(Duration::from_millis(100))).unwrap() {
        assert!(got.insert(m.id()), "message {} delivered twice", m.id());
        m.ack().unwrap();
    }
    let want: BTreeSet<u64> = match &ckpt {
        None => log.keys().copied().collect(),
        Some(c) => {
            let listed: BTreeSet<u64> = c.entries.iter().map(|e| e.id).collect();
            for id in log
                .keys()
                .filter(|&&id| id < c.cursor && !listed.contains(&id))
            {
                assert!(
                    printed.ack_intents.contains(id) || !printed.published.contains_key(id),
                    "message {id} counted finished by the checkpoint was never acked"
                );
            }
            log.keys()
                .copied()
                .filter(|id| *id >= c.cursor || listed.contains(id))
                .collect()
        }
    };
    assert_eq!(
        got.len(),
        want.len(),
        "the group got {} messages, the checkpoint says {}",
        got.len(),
        want.len()
    );
    assert_eq!(got, want);
    mq.close(Duration::ZERO).unwrap();
    format!(
        "{} published and returned, {} in the log, {} acks started, checkpoint {}, {} to redeliver",
        printed.published.len(),
        log.len(),
        printed.ack_intents.len(),
        ckpt.as_ref().map_or("none".to_owned(), |c| format!(
            "at {} with {} unfinished",
            c.cursor,
            c.entries.len()
        )),
        got.len()
    )
}

trait Durability {
    fn publish_returns_durable(self) -> bool;
}

impl Durability for Fsync {
    fn publish_returns_durable(self) -> bool {
        matches!(self, Fsync::Always | Fsync::Batch)
    }
}

#[test]
fn killed_at_random_moments_nothing_promised_is_lost() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let rounds: usize = std::env::var("RINGMQ_CRASH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let mut rng = Rng(seed());
    for policy in Fsync::ALL {
        let d = TempDir::new(&format!("crash-{}", policy.as_str()));
        let mut all_published = BTreeMap::new();
        let mut base = 0;
        for round in 0..rounds {
            let live_ms = 30 + rng.below(250);
            let printed = run_child(d.path(), policy, base, rng.0, live_ms);
            // A round killed before its first publish returned (a slow
            // fsync on a busy machine) is still checked.
            if let Some(k) = printed.published.values().max() {
                base = k + 1;
            }
            all_published.extend(printed.published.iter().map(|(a, b)| (*a, *b)));
            let copy = TempDir::new("crash-copy");
            copy_dir(d.path(), copy.path());
            let summary = check(copy.path(), policy, &printed, &all_published);
            println!("{policy:?} round {round}, killed after {live_ms} ms: {summary}");
        }
        assert!(
            !all_published.is_empty(),
            "{policy:?}: no publish returned in {rounds} rounds"
        );
    }
}
