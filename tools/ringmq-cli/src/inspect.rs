//! `ringmq topics` and `ringmq stats`: what a data directory holds.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Mutex;

use ringmq_core::storage::{read_checkpoints, Checkpoint, Log, ReadPos};

use crate::{file_name, find_log, id_or_dash, list_topics, open_log, rel, Res};

pub(crate) fn topics(root: &Path) -> Res<ExitCode> {
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
pub(crate) fn count_from(log: &Mutex<Log>, from: u64) -> Res<u64> {
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

pub(crate) fn stats(root: &Path, name: &str) -> Res<ExitCode> {
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
