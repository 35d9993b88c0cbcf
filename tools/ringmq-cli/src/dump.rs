//! `ringmq dump`: a topic's messages, as text or JSON lines.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Mutex;

use ringmq_core::storage::{decode_ext, Log, ReadPos};

use crate::{find_log, open_log, text, Fail, Res, DUMP_HELP};

pub(crate) fn dump_cmd(args: &[String]) -> Res<ExitCode> {
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

pub(crate) fn dump(
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
