//! The typed shapes of the Python binding's stats dicts and option
//! spellings, a block of `_ringmq.pyi`.

use std::fmt::Write;

use ringmq_core::surface::{StatsTable, ValueType};
use ringmq_core::{Overflow, PoolStats, StartAt, SubStats, TopicStats};

use crate::markers::{self, HASH};

fn literal(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    format!("Literal[{}]", quoted.join(", "))
}

/// A stats dict: its labels, then the table's fields, then its texts.
fn typed_dict<S: StatsTable>(out: &mut String, class: &str) {
    let _ = writeln!(out, "\nclass {class}(TypedDict):");
    for l in S::LABELS {
        let _ = writeln!(out, "    {l}: str");
    }
    for f in S::FIELDS {
        let ty = match f.ty {
            ValueType::U64 => "int",
            ValueType::F64 => "float",
        };
        let _ = writeln!(out, "    {}: {ty}", f.name);
    }
    for t in S::TEXT {
        let _ = writeln!(out, "    {}: Optional[str]", t.name);
    }
}

pub fn block() -> String {
    let mut out = String::new();
    let _ = writeln!(out, "_Overflow = {}", literal(&Overflow::NAMES));
    let _ = writeln!(out, "_Start = {}", literal(&StartAt::NAMES));
    typed_dict::<TopicStats>(&mut out, "_TopicStats");
    typed_dict::<SubStats>(&mut out, "_SubStats");
    typed_dict::<PoolStats>(&mut out, "_PoolStats");
    out
}

pub fn stub(current: &str) -> Result<String, String> {
    markers::replace(current, HASH, "types", &block())
}
