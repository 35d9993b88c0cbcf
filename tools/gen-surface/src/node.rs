//! The declared shapes of the Node binding (error codes, enum spellings,
//! option and stats objects), a block of `index.d.ts`.

use std::fmt::Write;

use ringmq_core::surface::{camel_case, OptionKind, OptionValue, OptionsTable, StatsTable};
use ringmq_core::{
    BrokerOptions, ErrorKind, Overflow, PoolStats, StartAt, SubOptions, SubStats, TopicOptions,
    TopicStats,
};

use crate::markers::{self, SLASHES};

fn union(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    quoted.join(" | ")
}

/// The TypeScript type of an option; the enums by their alias.
fn option_type(kind: OptionKind) -> String {
    match kind {
        OptionKind::Count | OptionKind::Duration | OptionKind::Rate | OptionKind::Id => {
            "number".into()
        }
        OptionKind::Time => "number | Date".into(),
        OptionKind::Path | OptionKind::Name => "string".into(),
        OptionKind::Bool => "boolean".into(),
        OptionKind::Choice(names) if names == Overflow::NAMES => "Overflow".into(),
        OptionKind::Choice(names) if names == StartAt::NAMES => "StartAt".into(),
        OptionKind::Choice(names) => union(names),
    }
}

/// A default as JavaScript writes it.
pub fn default_text(v: OptionValue) -> String {
    match v {
        OptionValue::Int(n) | OptionValue::Millis(n) => n.to_string(),
        OptionValue::Bool(b) => b.to_string(),
        OptionValue::Choice(s) => format!("'{s}'"),
        OptionValue::Computed(how) => how.to_owned(),
        OptionValue::Unset => "unset".to_owned(),
        OptionValue::Number(bits) => f64::from_bits(bits).to_string(),
        OptionValue::Given => "set".to_owned(),
    }
}

fn options<O: OptionsTable>(out: &mut String, name: &str, doc: &str, optional: bool) {
    let _ = writeln!(out, "\n/** {doc} */\nexport interface {name} {{");
    // An option left out and one given as undefined mean the same (so
    // `| undefined`, for exactOptionalPropertyTypes).
    let (q, undef) = if optional {
        ("?", " | undefined")
    } else {
        ("", "")
    };
    for f in O::FIELDS {
        let _ = writeln!(
            out,
            "  /** {} (default {}). */\n  {}{q}: {}{undef}",
            f.help.trim_end_matches('.'),
            default_text(f.default),
            camel_case(&f.ms_name()),
            option_type(f.kind)
        );
    }
    out.push_str("}\n");
}

fn stats<S: StatsTable>(out: &mut String, name: &str, doc: &str) {
    let _ = writeln!(out, "\n/** {doc} */\nexport interface {name} {{");
    for f in S::FIELDS {
        let _ = writeln!(
            out,
            "  /** {} */\n  {}: number",
            crate::c::doc(f),
            camel_case(f.name)
        );
    }
    // Always there: null when there is nothing to say.
    for t in S::TEXT {
        let _ = writeln!(
            out,
            "  /** {} */\n  {}: string | null",
            t.help,
            camel_case(t.name)
        );
    }
    out.push_str("}\n");
}

pub fn block() -> String {
    let mut out = String::new();
    out.push_str("/** The `code` of every error this package throws or rejects with. */\n");
    out.push_str("export type ErrorCode =\n");
    for k in ErrorKind::ALL {
        let _ = writeln!(out, "  | '{}'", k.code());
    }
    let _ = writeln!(
        out,
        "\n/** What a publish does when the ring is full. */\nexport type Overflow = {}",
        union(&Overflow::NAMES)
    );
    let _ = writeln!(
        out,
        "\n/** Where a new subscription starts reading. */\nexport type StartAt = {}",
        union(&StartAt::NAMES)
    );
    options::<BrokerOptions>(&mut out, "BrokerOptions", "Options of `new Broker`.", true);
    options::<TopicOptions>(
        &mut out,
        "TopicOptions",
        "Options of `createTopic`; durations in milliseconds.",
        true,
    );
    options::<TopicOptions>(
        &mut out,
        "TopicOptionsResolved",
        "The options of a topic as created (all filled in).",
        false,
    );
    options::<SubOptions>(
        &mut out,
        "SubscribeOptions",
        "Options of `subscribe` and `pull`.",
        true,
    );
    stats::<TopicStats>(&mut out, "TopicStats", "A topic's counters.");
    stats::<SubStats>(
        &mut out,
        "SubStats",
        "A subscription's counters and latency.",
    );
    stats::<PoolStats>(&mut out, "PoolStats", "The worker pool.");
    out
}

pub fn types(current: &str) -> Result<String, String> {
    markers::replace(current, SLASHES, "types", &block())
}
