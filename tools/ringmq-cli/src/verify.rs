//! `ringmq verify`: every frame of every log checked as recovery would.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use ringmq_core::storage::{read_checkpoints, read_topic_conf, scan, topic_dirs, Damage, ScanEnd};

use crate::{file_name, rel, Fail, Res};

/// What `verify` found, for the exit status.
#[derive(Default)]
pub(crate) struct Verdict {
    segments: usize,
    damaged: usize,
    torn: usize,
    bad_files: usize,
}

pub(crate) fn verify(root: &Path) -> Res<ExitCode> {
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
pub(crate) fn describe(d: Damage) -> String {
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
pub(crate) fn verify_log(
    root: &Path,
    dir: &Path,
    v: &mut Verdict,
    out: &mut impl Write,
) -> Res<()> {
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
