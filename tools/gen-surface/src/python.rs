//! The typed shapes of the Python binding's stats dicts and option
//! spellings: a block of `_ringmq.pyi` (the private names the stub's
//! signatures use) and a block of `ringmq/_types.py` (the same dicts under
//! public names, importable at run time as `ringmq.TopicStats` and so on).
//! Both come from the same tables, so they cannot disagree.

use std::fmt::Write;

use ringmq_core::surface::{StatsTable, ValueType};
use ringmq_core::{Expired, Fsync, Overflow, PoolStats, StartAt, SubStats, TopicStats};

use crate::markers::{self, HASH};

fn literal(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    format!("Literal[{}]", quoted.join(", "))
}

/// What a label key holds.
fn label_help(label: &str) -> &'static str {
    match label {
        "topic" => "The topic's name.",
        "group" => "The subscription's group.",
        _ => "A label.",
    }
}

/// A stats dict: its labels, then the table's fields, then its texts, each
/// after a comment with its help (and unit).
/// `gap` blank lines go before the class (one in a stub, two in a module).
fn typed_dict<S: StatsTable>(out: &mut String, class: &str, doc: Option<&str>, gap: usize) {
    let _ = writeln!(out, "{}class {class}(TypedDict):", "\n".repeat(gap));
    if let Some(doc) = doc {
        let _ = writeln!(out, "    \"\"\"{doc}\"\"\"\n");
    }
    for l in S::LABELS {
        let _ = writeln!(out, "    # {}\n    {l}: str", label_help(l));
    }
    for f in S::FIELDS {
        let ty = match f.ty {
            ValueType::U64 => "int",
            ValueType::F64 => "float",
        };
        let _ = writeln!(out, "    # {}\n    {}: {ty}", crate::c::doc(f), f.name);
    }
    for t in S::TEXT {
        let _ = writeln!(out, "    # {}\n    {}: Optional[str]", t.help, t.name);
    }
}

/// The stub's block: the enum spellings and the stats dicts the signatures
/// return (private names: the module has no such attributes at run time).
pub fn block() -> String {
    let mut out = String::new();
    let _ = writeln!(out, "_Overflow = {}", literal(&Overflow::NAMES));
    let _ = writeln!(out, "_Start = {}", literal(&StartAt::NAMES));
    let _ = writeln!(out, "_Expired = {}", literal(&Expired::NAMES));
    let _ = writeln!(out, "_Fsync = {}", literal(&Fsync::NAMES));
    typed_dict::<TopicStats>(&mut out, "_TopicStats", None, 1);
    typed_dict::<SubStats>(&mut out, "_SubStats", None, 1);
    typed_dict::<PoolStats>(&mut out, "_PoolStats", None, 1);
    out
}

pub fn stub(current: &str) -> Result<String, String> {
    markers::replace(current, HASH, "types", &block())
}

/// The run-time module's block: the same dicts under public names.
pub fn runtime_block() -> String {
    let mut out = String::new();
    typed_dict::<TopicStats>(
        &mut out,
        "TopicStats",
        Some("What ``Topic.stats()`` returns: a topic's counters."),
        2,
    );
    typed_dict::<SubStats>(
        &mut out,
        "SubStats",
        Some(
            "What ``stats()`` of a subscription returns (and\n    \
             ``Topic.subscription_stats()`` by group): its counters and latency.",
        ),
        2,
    );
    typed_dict::<PoolStats>(
        &mut out,
        "PoolStats",
        Some("What ``Broker.pool_stats()`` returns: the worker pool."),
        2,
    );
    out.push('\n');
    out
}

pub fn runtime(current: &str) -> Result<String, String> {
    markers::replace(current, HASH, "types", &runtime_block())
}
