//! `ringmq`: inspects a broker's data directory (its durable topics, their
//! dead-letter logs and subscription checkpoints). Every command only reads:
//! nothing on disk changes, so it is safe while a broker has the directory
//! open.

mod text;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;

use ringmq_core::storage::{
    decode_ext, read_checkpoints, read_topic_conf, scan, topic_dirs, Checkpoint, Damage, Log,
    ReadPos, Recovery, ScanEnd,
};
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

const DUMP_HELP: &str = "\
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
            topics(Path::new(dir))
        }
        "stats" => {
            let [dir, topic] = positional::<2>(rest, help)?;
            stats(Path::new(dir), topic)
        }
        "dump" => dump_cmd(rest),
        "verify" => {
            let [dir] = positional::<1>(rest, help)?;
            verify(Path::new(dir))
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

fn topics(root: &Path) -> Res<ExitCode> {
    let topics = list_topics(root)?;
    let mut rows = vec![[
        "TOPIC".to_owned(),
        "MESSAGES".into(),
        "BYTES".into(),
        "SEGMENTS".into(),
        "FIRST".into(),
        "LAST".into(),
        "FSYNC".into(),
    ]];
    let mut notes = Vec::new();
    for t in &topics {
        for (name, dir) in [
            (t.name.clone(), t.dir.clone()),
            (format!("{}.dlq", t.name), t.dir.join("dlq")),
        ] {
            let (log, rec) = open_log(&dir)?;
            let infos = log.segment_infos();
            let frames: u64 = infos.iter().map(|s| s.frames).sum();
            let first = infos.iter().find(|s| s.frames > 0).map(|_| log.first_id());
            rows.push([
                name.clone(),
                frames.to_string(),
                log.bytes().to_string(),
                infos.len().to_string(),
                id_or_dash(first),
                id_or_dash(log.last_id()),
                t.opts.fsync.as_str().to_owned(),
            ]);
            if let Some(c) = &rec.corruption {
                notes.push(format!(
                    "{name}: damaged at byte {} of {} (only the messages before it are counted; see ringmq verify)",
                    c.offset,
                    rel(root, &c.segment)
                ));
            }
        }
    }
    let mut out = std::io::stdout().lock();
    if topics.is_empty() {
        writeln!(out, "no durable topics in {}", root.display())?;
        return Ok(ExitCode::SUCCESS);
    }
    let widths: Vec<usize> = (0..7)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for r in &rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            let pad = widths[i] - cell.chars().count();
            if i == 0 || i == 6 {
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', pad));
            } else {
                line.extend(std::iter::repeat_n(' ', pad));
                line.push_str(cell);
            }
            line.push_str("  ");
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    for n in notes {
        writeln!(out, "{n}")?;
    }
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------- stats

/// Frames of `log` with an id at or above `from`.
fn count_from(log: &Mutex<Log>, from: u64) -> Res<u64> {
    let (infos, next) = {
        let l = log.lock().unwrap_or_else(|e| e.into_inner());
        (l.segment_infos(), l.next_id())
    };
    let mut n = 0;
    // Whole segments at or past `from` count without reading them.
    let mut read_until = next;
    for s in infos.iter().rev() {
        if s.first_id >= from {
            n += s.frames;
            read_until = s.first_id;
        } else {
            break;
        }
    }
    let mut pos = ReadPos::default();
    let mut buf = Vec::new();
    let mut id = from;
    while id < read_until {
        match Log::read_from(log, id, &mut pos, &mut buf)? {
            Some(f) if f.meta.id < read_until => {
                n += 1;
                id = f.meta.id + 1;
            }
            _ => break,
        }
    }
    Ok(n)
}

fn stats(root: &Path, name: &str) -> Res<ExitCode> {
    let (dir, topic) = find_log(root, name)?;
    let (log, rec) = open_log(&dir)?;
    let infos = log.segment_infos();
    let frames: u64 = infos.iter().map(|s| s.frames).sum();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "topic {name}  (fsync {}, segment_bytes {})",
        topic.opts.fsync.as_str(),
        topic.opts.segment_bytes
    )?;
    writeln!(out, "segments: {}", infos.len())?;
    for s in &infos {
        writeln!(
            out,
            "  {}  first_id {}  frames {}  bytes {}",
            file_name(&s.path),
            s.first_id,
            s.frames,
            s.bytes
        )?;
    }
    let first = (frames > 0).then(|| log.first_id());
    writeln!(out, "messages: {frames}")?;
    writeln!(out, "bytes: {}", log.bytes())?;
    writeln!(out, "first_id: {}", id_or_dash(first))?;
    writeln!(out, "last_id: {}", id_or_dash(log.last_id()))?;
    writeln!(out, "next_id: {}", log.next_id())?;
    if rec.torn_bytes > 0 {
        writeln!(
            out,
            "torn tail: {} bytes after the last whole message (an append in progress, or cut by recovery)",
            rec.torn_bytes
        )?;
    }
    if let Some(c) = &rec.corruption {
        writeln!(
            out,
            "DAMAGED at byte {} of {}: only the messages before it are counted (see ringmq verify)",
            c.offset,
            rel(root, &c.segment)
        )?;
    }
    let ckpts = read_checkpoints(&dir)?;
    let log = Mutex::new(log);
    writeln!(out, "subscriptions: {}", ckpts.len())?;
    for c in &ckpts {
        let Checkpoint {
            group,
            cursor,
            paused,
            entries,
        } = c;
        let ahead = count_from(&log, *cursor)?;
        let lag = ahead + entries.len() as u64;
        const FEW: usize = 10;
        let ids: Vec<String> = entries.iter().take(FEW).map(|e| e.id.to_string()).collect();
        let more = if entries.len() > FEW { " ..." } else { "" };
        let list = if entries.is_empty() {
            String::new()
        } else {
            format!(" [{}{more}]", ids.join(" "))
        };
        writeln!(
            out,
            "  {group}  cursor {cursor}  unfinished {}{list}  paused {}  lag {lag}",
            entries.len(),
            if *paused { "yes" } else { "no" },
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------- dump

fn dump_cmd(args: &[String]) -> Res<ExitCode> {
    let usage = |m: String| Fail::Usage(m, DUMP_HELP);
    let mut pos = Vec::new();
    let (mut from, mut count, mut json) = (None, None, false);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if a.starts_with("--") => (f, Some(v.to_owned())),
            _ => (a.as_str(), None),
        };
        match flag {
            "--json" if inline.is_none() => json = true,
            "--from" | "--count" => {
                let v = match inline {
                    Some(v) => v,
                    None => it
                        .next()
                        .cloned()
                        .ok_or_else(|| usage(format!("{flag} needs a number")))?,
                };
                let n: u64 = v
                    .parse()
                    .map_err(|_| usage(format!("{flag} {v:?} is not a non-negative integer")))?;
                if flag == "--from" {
                    from = Some(n);
                } else {
                    count = Some(n);
                }
            }
            f if f.starts_with('-') && f.len() > 1 => {
                return Err(usage(format!("unknown option {a:?}")))
            }
            _ => pos.push(a.as_str()),
        }
    }
    let [root, name]: [&str; 2] = pos.try_into().map_err(|p: Vec<&str>| {
        usage(format!(
            "expected DIR and TOPIC, got {} argument(s)",
            p.len()
        ))
    })?;
    dump(Path::new(root), name, from, count, json)
}

fn dump(
    root: &Path,
    name: &str,
    from: Option<u64>,
    count: Option<u64>,
    json: bool,
) -> Res<ExitCode> {
    let (dir, _) = find_log(root, name)?;
    let (log, _) = open_log(&dir)?;
    let mut id = from.unwrap_or_else(|| log.first_id());
    let log = Mutex::new(log);
    let mut pos = ReadPos::default();
    let mut buf = Vec::new();
    let mut left = count.unwrap_or(u64::MAX);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    while left > 0 {
        let Some(f) = Log::read_from(&log, id, &mut pos, &mut buf)? else {
            break;
        };
        let (msg_id, headers) = decode_ext(f.ext());
        let m = &f.meta;
        if json {
            let (mid, menc) = match msg_id {
                Some(b) => {
                    let (s, e) = text::json_bytes(b);
                    (s, text::json_str(e))
                }
                None => ("null".into(), "null".into()),
            };
            let hs: Vec<String> = headers
                .into_iter()
                .map(|(n, v)| {
                    let (s, e) = text::json_bytes(v);
                    format!("[{},{s},\"{e}\"]", text::json_str(n))
                })
                .collect();
            let (p, penc) = text::json_bytes(f.payload());
            writeln!(
                out,
                "{{\"id\":{},\"key\":{},\"timestamp\":\"{}\",\"timestamp_ns\":{},\"attempt\":{},\
                 \"msg_id\":{mid},\"msg_id_encoding\":{menc},\"headers\":[{}],\
                 \"payload\":{p},\"payload_encoding\":\"{penc}\"}}",
                m.id,
                m.key,
                text::rfc3339(m.timestamp_ns),
                m.timestamp_ns,
                m.attempt,
                hs.join(","),
            )?;
        } else {
            let mut line = format!(
                "id={} key={} time={} attempt={}",
                m.id,
                m.key,
                text::rfc3339(m.timestamp_ns),
                m.attempt
            );
            if let Some(b) = msg_id {
                line.push_str(&format!(" msg_id={}", text::show_bytes(b)));
            }
            let hs: Vec<String> = headers
                .into_iter()
                .map(|(n, v)| format!("{}={}", text::show_bytes(n.as_bytes()), text::show_bytes(v)))
                .collect();
            line.push_str(&format!(" headers={{{}}}", hs.join(", ")));
            line.push_str(&format!(" payload={}", text::show_bytes(f.payload())));
            writeln!(out, "{line}")?;
        }
        left -= 1;
        match m.id.checked_add(1) {
            Some(n) => id = n,
            None => break,
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------- verify

/// What `verify` found, for the exit status.
#[derive(Default)]
struct Verdict {
    segments: usize,
    damaged: usize,
    torn: usize,
    bad_files: usize,
}

fn verify(root: &Path) -> Res<ExitCode> {
    if !root.join("topics").is_dir() {
        return Err(Fail::Error(format!(
            "{} is not a data directory (it has no topics/)",
            root.display()
        )));
    }
    let dirs = topic_dirs(root)?;
    let mut v = Verdict::default();
    let mut out = std::io::stdout().lock();
    for dir in &dirs {
        let shown = rel(root, dir).into_owned();
        let name = match read_topic_conf(dir) {
            Ok((name, _)) => {
                writeln!(out, "topic {name} ({shown})")?;
                name
            }
            Err(e) => {
                v.bad_files += 1;
                writeln!(out, "topic ? ({shown})")?;
                writeln!(out, "  BAD topic.conf: {}", e.message())?;
                shown.clone()
            }
        };
        for (label, log_dir) in [
            (name.clone(), dir.clone()),
            (format!("{name}.dlq"), dir.join("dlq")),
        ] {
            if log_dir != *dir {
                writeln!(out, "dead-letter topic {label}")?;
            }
            verify_log(root, &log_dir, &mut v, &mut out)?;
            match read_checkpoints(&log_dir) {
                Ok(cs) => {
                    for c in cs {
                        writeln!(
                            out,
                            "  checkpoint {}: ok (cursor {}, {} unfinished)",
                            c.group,
                            c.cursor,
                            c.entries.len()
                        )?;
                    }
                }
                Err(e) => {
                    v.bad_files += 1;
                    writeln!(out, "  BAD checkpoint: {}", e.message())?;
                }
            }
        }
    }
    let ok = v.damaged == 0 && v.bad_files == 0;
    writeln!(
        out,
        "{}: {} topic(s), {} segment(s), {} damaged, {} with a torn tail, {} bad file(s)",
        if ok { "OK" } else { "DAMAGED" },
        dirs.len(),
        v.segments,
        v.damaged,
        v.torn,
        v.bad_files
    )?;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// What is wrong at a damaged offset, in words.
fn describe(d: Damage) -> String {
    match d {
        Damage::Header(e) => format!("the segment header does not decode ({e:?})"),
        Damage::Frame(e) => format!("the frame there does not decode ({e:?})"),
        Damage::IdOrder {
            previous: Some(p),
            found,
        } => format!("a frame with id {found} follows id {p} (ids must increase)"),
        Damage::IdOrder {
            previous: None,
            found,
        } => format!("the first frame's id {found} is below the segment's first id"),
    }
}

/// Scans every segment of the log in `dir`, as recovery would.
fn verify_log(root: &Path, dir: &Path, v: &mut Verdict, out: &mut impl Write) -> Res<()> {
    let mut segs = Vec::new();
    if dir.is_dir() {
        for e in std::fs::read_dir(dir)? {
            let p = e?.path();
            let name = file_name(&p).into_owned();
            if let Some(first) = name
                .strip_suffix(".seg")
                .and_then(|s| s.parse::<u64>().ok())
            {
                segs.push((first, p));
            }
        }
    }
    segs.sort();
    if segs.is_empty() {
        writeln!(out, "  no segments")?;
    }
    let count = segs.len();
    for (i, (first, path)) in segs.iter().enumerate() {
        let last = i + 1 == count;
        v.segments += 1;
        let shown = rel(root, path);
        let bytes = std::fs::read(path)
            .map_err(|e| Fail::Error(format!("cannot read {}: {e}", path.display())))?;
        let r = scan(&bytes);
        let ids = match (r.first_id, r.last_id) {
            (Some(a), Some(b)) => format!("ids {a}..{b}"),
            _ => "no ids".to_owned(),
        };
        let summary = format!("{} frame(s), {ids}, {} valid bytes", r.frames, r.valid_len);
        let header_mismatch = match &r.header {
            Ok(h) if h.first_id != *first => Some(format!(
                "its header says first id {} but its name says {first}",
                h.first_id
            )),
            _ => None,
        };
        match r.end {
            _ if header_mismatch.is_some() => {
                v.damaged += 1;
                writeln!(
                    out,
                    "  {shown}: DAMAGED at byte 0: {}",
                    header_mismatch.unwrap_or_default()
                )?;
            }
            ScanEnd::Clean => writeln!(out, "  {shown}: clean, {summary}")?,
            ScanEnd::TornTail { offset } if last => {
                v.torn += 1;
                writeln!(
                    out,
                    "  {shown}: torn tail at byte {offset}, {summary}; recovery will cut {} byte(s)",
                    bytes.len() - offset
                )?;
            }
            ScanEnd::TornTail { offset } => {
                v.damaged += 1;
                writeln!(
                    out,
                    "  {shown}: DAMAGED at byte {offset}: incomplete data before the last segment ({summary}, {} byte(s) after it)",
                    bytes.len() - offset
                )?;
            }
            ScanEnd::Corrupt { offset, error } => {
                v.damaged += 1;
                writeln!(
                    out,
                    "  {shown}: DAMAGED at byte {offset}: {}, with whole messages after it ({summary} before it)",
                    describe(error)
                )?;
            }
        }
    }
    Ok(())
}
