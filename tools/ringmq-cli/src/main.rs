//! `ringmq`: inspects a broker's data directory (its durable topics, their
//! dead-letter logs and subscription checkpoints). Every command only reads:
//! nothing on disk changes, so it is safe while a broker has the directory
//! open.

mod dump;
mod inspect;
mod text;
mod verify;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ringmq_core::storage::{read_topic_conf, topic_dirs, Log, Recovery};
use ringmq_core::TopicOptions;

const USAGE: &str = "\
ringmq: inspect a RingMQ data directory

Usage: ringmq COMMAND [ARGS...]

Commands:
  topics DIR                       every durable topic and its dead-letter log
  stats DIR TOPIC                  segments and subscriptions of one topic
  dump DIR TOPIC [--from ID] [--count N] [--json]
                                   the messages of a topic, in id order
  verify DIR                       check every segment, checkpoint and topic.conf
  help [COMMAND]                   this text, or a command's

Every command only reads the directory and changes nothing in it, so it is
safe while a broker is running on it (a message being appended at that very
moment may show as a torn tail). A dead-letter topic is named TOPIC.dlq.

Run `ringmq COMMAND --help` for a command's details.
Exit status: 0 success, 1 an error or damage found, 2 bad usage.
";

const TOPICS_HELP: &str = "\
Usage: ringmq topics DIR

One line per durable topic in data directory DIR, then one for its
dead-letter topic (NAME.dlq): messages (frames stored), bytes of its
segments, segments, first and last id (- when empty), and the topic's fsync
policy. Reads only; safe while a broker is running.
";

const STATS_HELP: &str = "\
Usage: ringmq stats DIR TOPIC

Details of durable topic TOPIC (or its dead-letter topic, TOPIC.dlq):
  - each segment: file name, first id, frames, bytes;
  - total bytes, first and last id, and the next id to be given;
  - each subscription, from its checkpoint: group, cursor (the next id it
    takes), unfinished messages (taken, not yet acked: in flight, waiting
    for a retry or parked; their ids when there are few), whether it is
    paused, and its lag (messages in the log at or past its cursor plus its
    unfinished ones).
A checkpoint is written periodically and when the broker closes, so while a
broker runs it can be a moment behind.
Reads only; safe while a broker is running.
";

pub(crate) const DUMP_HELP: &str = "\
Usage: ringmq dump DIR TOPIC [--from ID] [--count N] [--json]

The messages of durable topic TOPIC (or TOPIC.dlq) in id order, from the
first with an id at or above ID (default: the first stored), at most N
(default: all). Each shows its id, key, timestamp (RFC 3339, UTC), attempt,
msg_id, headers and payload. Bytes that are UTF-8 without control
characters are shown as text, others as hex.

Text output: one line per message; text in double quotes (\" and \\
escaped), hex as 0x... .
--json: one JSON object per line:
  {\"id\":5,\"key\":1,\"timestamp\":\"...Z\",\"timestamp_ns\":...,\"attempt\":0,
   \"msg_id\":\"...\"|null,\"msg_id_encoding\":\"utf8\"|\"hex\"|null,
   \"headers\":[[\"name\",\"value\",\"utf8\"|\"hex\"],...],
   \"payload\":\"...\",\"payload_encoding\":\"utf8\"|\"hex\"}

Reads only; safe while a broker is running.
";

const VERIFY_HELP: &str = "\
Usage: ringmq verify DIR

Scans every segment of every durable topic and dead-letter log in DIR the
way recovery does (reading the files only) and prints what it found in
each: clean, a torn tail (an append cut short: recovery will cut those
bytes off the last segment), or damage before the end (file and byte
offset). Also decodes every topic.conf and subscription checkpoint.

Exit status: 0 if every segment is clean or only the last segment of a log
ends in a torn tail; 1 if any segment is damaged before its end or a
checkpoint or topic.conf does not decode; 2 bad usage.
Reads only; safe while a broker is running.
";

/// Why a command failed: bad usage (exit 2) or anything else (exit 1).
enum Fail {
    Usage(String, &'static str),
    Error(String),
}

impl From<std::io::Error> for Fail {
    fn from(e: std::io::Error) -> Fail {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            // The reader went away (`| head`): not an error worth a word.
            std::process::exit(0);
        }
        Fail::Error(e.to_string())
    }
}

impl From<ringmq_core::Error> for Fail {
    fn from(e: ringmq_core::Error) -> Fail {
        Fail::Error(e.message().to_owned())
    }
}

type Res<T> = Result<T, Fail>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(Fail::Usage(msg, help)) => {
            eprintln!("ringmq: {msg}");
            // "Usage: ringmq CMD ..." for a command, the title line otherwise.
            let first = help.lines().next().unwrap_or("");
            match first.split_whitespace().nth(2) {
                Some(cmd) if first.starts_with("Usage:") => {
                    eprintln!("{first}\n(ringmq {cmd} --help for more)")
                }
                _ => {
                    eprintln!("Usage: ringmq COMMAND [ARGS...]\n(ringmq --help lists the commands)")
                }
            }
            ExitCode::from(2)
        }
        Err(Fail::Error(msg)) => {
            eprintln!("ringmq: {msg}");
            ExitCode::from(1)
        }
    }
}

fn is_help(a: &str) -> bool {
    a == "--help" || a == "-h"
}

fn help_of(cmd: &str) -> Option<&'static str> {
    Some(match cmd {
        "topics" => TOPICS_HELP,
        "stats" => STATS_HELP,
        "dump" => DUMP_HELP,
        "verify" => VERIFY_HELP,
        _ => return None,
    })
}

fn run(args: &[String]) -> Res<ExitCode> {
    let Some(cmd) = args.first() else {
        return Err(Fail::Usage("no command given".into(), USAGE));
    };
    let rest = &args[1..];
    if is_help(cmd) || cmd == "help" {
        let text = match rest.first() {
            None => USAGE,
            Some(c) => {
                help_of(c).ok_or_else(|| Fail::Usage(format!("unknown command {c:?}"), USAGE))?
            }
        };
        print!("{text}");
        return Ok(ExitCode::SUCCESS);
    }
    let Some(help) = help_of(cmd) else {
        return Err(Fail::Usage(format!("unknown command {cmd:?}"), USAGE));
    };
    if rest.iter().any(|a| is_help(a)) {
        print!("{help}");
        return Ok(ExitCode::SUCCESS);
    }
    match cmd.as_str() {
        "topics" => {
            let [dir] = positional::<1>(rest, help)?;
            inspect::topics(Path::new(dir))
        }
        "stats" => {
            let [dir, topic] = positional::<2>(rest, help)?;
            inspect::stats(Path::new(dir), topic)
        }
        "dump" => dump::dump_cmd(rest),
        "verify" => {
            let [dir] = positional::<1>(rest, help)?;
            verify::verify(Path::new(dir))
        }
        _ => unreachable!("help_of knows every command"),
    }
}

/// Exactly `N` positional arguments and no options.
fn positional<'a, const N: usize>(args: &'a [String], help: &'static str) -> Res<[&'a str; N]> {
    if let Some(opt) = args.iter().find(|a| a.starts_with('-') && a.len() > 1) {
        return Err(Fail::Usage(format!("unknown option {opt:?}"), help));
    }
    let v: Vec<&str> = args.iter().map(String::as_str).collect();
    v.try_into().map_err(|v: Vec<&str>| {
        Fail::Usage(format!("expected {N} argument(s), got {}", v.len()), help)
    })
}

// ---------------------------------------------------------------- reading

/// A durable topic as found on disk.
struct TopicEntry {
    dir: PathBuf,
    name: String,
    opts: TopicOptions,
}

fn list_topics(root: &Path) -> Res<Vec<TopicEntry>> {
    if !root.is_dir() {
        return Err(Fail::Error(format!(
            "{} is not a directory",
            root.display()
        )));
    }
    let dirs = topic_dirs(root).map_err(|e| {
        Fail::Error(format!(
            "{} is not a data directory (cannot list topics/: {e})",
            root.display()
        ))
    })?;
    let mut out = Vec::new();
    for dir in dirs {
        let (name, opts) = read_topic_conf(&dir)?;
        out.push(TopicEntry { dir, name, opts });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The log directory of topic `name` (a topic, or `<topic>.dlq`), and the
/// topic it belongs to.
fn find_log(root: &Path, name: &str) -> Res<(PathBuf, TopicEntry)> {
    let topics = list_topics(root)?;
    let base = name.strip_suffix(".dlq");
    let mut found = None;
    for t in topics {
        if t.name == name {
            return Ok((t.dir.clone(), t));
        }
        if Some(t.name.as_str()) == base {
            found = Some((t.dir.join("dlq"), t));
        }
    }
    found.ok_or_else(|| {
        Fail::Error(format!(
            "no durable topic {name:?} in {} (ringmq topics lists them)",
            root.display()
        ))
    })
}

fn open_log(dir: &Path) -> Res<(Log, Recovery)> {
    Log::inspect(dir)
        .map_err(|e| Fail::Error(format!("cannot read the log in {}: {e}", dir.display())))
}

fn id_or_dash(id: Option<u64>) -> String {
    id.map_or_else(|| "-".to_owned(), |i| i.to_string())
}

/// `path` relative to `root` when it is inside it.
fn rel<'a>(root: &Path, path: &'a Path) -> std::borrow::Cow<'a, str> {
    path.strip_prefix(root).unwrap_or(path).to_string_lossy()
}

fn file_name(path: &Path) -> std::borrow::Cow<'_, str> {
    path.file_name().unwrap_or_default().to_string_lossy()
}

// ---------------------------------------------------------------- topics
