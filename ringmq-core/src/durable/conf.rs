//! `topic.conf`: a durable topic's name and options, so that a broker
//! opening the data directory recovers the topic as it was created.
//!
//! Text, one `key=value` per line: first `name=<topic name>`, then every
//! topic option in the options table's order and spelling, each value as
//! [`OptionType::to_text`](crate::surface::OptionType::to_text) writes it
//! (durations in nanoseconds). Lines starting with `#` are comments. An
//! option missing from the file keeps its default (files written before
//! the option existed); an unknown key or a bad value is an error naming
//! the file and the line.

use std::path::Path;

use super::dir::write_atomically;
use crate::error::{Error, Result};
use crate::options::TopicOptions;
use crate::surface::OptionsTable;

pub const CONF_FILE: &str = "topic.conf";

/// The text of a topic's `topic.conf`.
pub fn encode(name: &str, opts: &TopicOptions) -> String {
    let mut s = String::from("# RingMQ durable topic\n");
    s.push_str(&format!("name={name}\n"));
    for (i, f) in TopicOptions::FIELDS.iter().enumerate() {
        s.push_str(&format!("{}={}\n", f.name, opts.text(i)));
    }
    s
}

/// The name and options in a `topic.conf`'s text (`file` names it in
/// errors).
pub fn decode(text: &str, file: &Path) -> Result<(String, TopicOptions)> {
    let bad = |line: usize, why: String| {
        Error::io(format!("{} line {}: {why}", file.display(), line + 1))
    };
    let mut name = None;
    let mut opts = TopicOptions::default();
    for (n, line) in text.lines().enumerate() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(bad(n, format!("{line:?} is not key=value")));
        };
        if key == "name" {
            name = Some(value.to_owned());
            continue;
        }
        let Some(i) = TopicOptions::FIELDS.iter().position(|f| f.name == key) else {
            return Err(bad(n, format!("unknown option {key:?}")));
        };
        if !opts.set_text(i, value) {
            return Err(bad(n, format!("{value:?} is not a value of {key}")));
        }
    }
    let name = name.ok_or_else(|| Error::io(format!("{} has no name line", file.display())))?;
    Ok((name, opts))
}

/// Writes `dir/topic.conf` crash-safely.
pub fn write(dir: &Path, name: &str, opts: &TopicOptions) -> Result<()> {
    let path = dir.join(CONF_FILE);
    write_atomically(&path, encode(name, opts).as_bytes())
        .map_err(|e| Error::io(format!("cannot write {}: {e}", path.display())))
}

/// Reads `dir/topic.conf`.
pub fn read(dir: &Path) -> Result<(String, TopicOptions)> {
    let path = dir.join(CONF_FILE);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::io(format!("cannot read {}: {e}", path.display())))?;
    decode(&text, &path)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::options::{Fsync, Overflow};
    use std::time::Duration;

    #[test]
    fn options_round_trip_exactly() {
        let opts = TopicOptions {
            capacity: 64,
            overflow: Overflow::Reject,
            backoff_base: Duration::from_nanos(1_234_567),
            durable: true,
            fsync: Fsync::Interval,
            segment_bytes: 1 << 20,
            ..TopicOptions::default()
        };
        let text = encode("a=b é", &opts);
        let (name, back) = decode(&text, Path::new("t")).unwrap();
        assert_eq!(name, "a=b é");
        assert_eq!(format!("{back:?}"), format!("{opts:?}"));
    }

    #[test]
    fn bad_files_are_errors_naming_the_line() {
        let p = Path::new("x/topic.conf");
        for (text, want) in [
            ("name=t\ncapacity=lots\n", "line 2"),
            ("name=t\nnope=1\n", "unknown option"),
            ("name=t\ngarbage\n", "not key=value"),
            ("capacity=4\n", "no name"),
        ] {
            let e = decode(text, p).unwrap_err();
            assert!(e.message().contains(want), "{text:?}: {e}");
            assert_eq!(e.kind(), crate::ErrorKind::Io);
        }
        // A missing option keeps its default.
        let (_, o) = decode("name=t\n", p).unwrap();
        assert_eq!(o.capacity, TopicOptions::default().capacity);
    }
}
