//! `docs/REFERENCE.md`: the tables of stats fields, options, enum
//! spellings and error kinds, with each language's name for them.

use std::fmt::Write;

use ringmq_core::surface::{
    camel_case, Metric, OptionKind, OptionValue, OptionsTable, StatField, StatsTable, SummaryPart,
};
use ringmq_core::{
    BrokerOptions, ErrorKind, Overflow, PoolStats, StartAt, SubOptions, SubStats, TopicOptions,
    TopicStats,
};

use crate::markers::{self, HTML};

fn prometheus<S: StatsTable>(f: &StatField) -> String {
    let family = f.prometheus_family(S::SCOPE);
    match f.metric {
        Metric::Counter | Metric::Gauge => format!("`{family}`"),
        Metric::Summary { part, .. } => match part {
            SummaryPart::Quantile(q) => format!("`{family}{{quantile=\"{q}\"}}`"),
            SummaryPart::Sum => format!("`{family}_sum`"),
            SummaryPart::Count => format!("`{family}_count`"),
        },
    }
}

fn stats_table<S: StatsTable>(out: &mut String, title: &str) {
    let _ = writeln!(out, "\n### {title}\n");
    if !S::LABELS.is_empty() {
        let labels: Vec<String> = S::LABELS.iter().map(|l| format!("`{l}`")).collect();
        let _ = writeln!(
            out,
            "The Python dict starts with {} (`str`), as Prometheus labels them.\n",
            labels.join(" and ")
        );
    }
    out.push_str("| C / Python | Node | Unit | Prometheus | Meaning |\n");
    out.push_str("| --- | --- | --- | --- | --- |\n");
    for f in S::FIELDS {
        let _ = writeln!(
            out,
            "| `{}` | `{}` | {} | {} | {} |",
            f.name,
            camel_case(f.name),
            f.unit.as_str(),
            prometheus::<S>(f),
            f.help
        );
    }
    for t in S::TEXT {
        let _ = writeln!(
            out,
            "| `{}` | `{}` | text | | {} (not in C or Prometheus) |",
            t.name,
            camel_case(t.name),
            t.help
        );
    }
}

fn python_default(v: OptionValue) -> String {
    match v {
        OptionValue::Int(n) => n.to_string(),
        OptionValue::Millis(ms) => format!("{:?}", ms as f64 / 1e3),
        OptionValue::Bool(b) => if b { "True" } else { "False" }.into(),
        OptionValue::Choice(s) => format!("`\"{s}\"`"),
        OptionValue::Computed(how) => how.into(),
        OptionValue::Unset => "None".into(),
        OptionValue::Number(bits) => f64::from_bits(bits).to_string(),
        OptionValue::Given => "set".into(),
    }
}

fn options_table<O: OptionsTable>(out: &mut String, title: &str) {
    let _ = writeln!(out, "\n### {title}\n");
    out.push_str("| Python | C | Node | Default (Python / C, Node) | Meaning |\n");
    out.push_str("| --- | --- | --- | --- | --- |\n");
    for f in O::FIELDS {
        let unit = match f.kind {
            OptionKind::Duration => " s / ms",
            OptionKind::Rate => " (per second; 0 in C means none)",
            OptionKind::Id => " (`RINGMQ_NO_ID` in C means none)",
            OptionKind::Time => " (s / ns / ms since the epoch; 0 in C means none)",
            OptionKind::Path => " (a path; NULL in C means none)",
            OptionKind::Name => " (a name; NULL in C means none)",
            _ => "",
        };
        let _ = writeln!(
            out,
            "| `{}` | `{}` | `{}` | {} / {}{unit} | {} |",
            f.name,
            f.c_name(),
            camel_case(&f.ms_name()),
            python_default(f.default),
            crate::node::default_text(f.default),
            f.help
        );
    }
}

fn stats_block() -> String {
    let mut out = String::new();
    stats_table::<TopicStats>(
        &mut out,
        "Topic: `Topic.stats()` (C `ringmq_topic_stats`, Python `ringmq.TopicStats`, Node `TopicStats`)",
    );
    stats_table::<SubStats>(
        &mut out,
        "Subscription: `stats()` of a subscription (C `ringmq_sub_stats`, Python `ringmq.SubStats`, Node `SubStats`)",
    );
    stats_table::<PoolStats>(
        &mut out,
        "Pool: `pool_stats()` / `poolStats()` (C `ringmq_pool_stats`, Python `ringmq.PoolStats`, Node `PoolStats`)",
    );
    out
}

fn options_block() -> String {
    let mut out = String::new();
    options_table::<BrokerOptions>(&mut out, "Broker");
    options_table::<TopicOptions>(&mut out, "Topic");
    options_table::<SubOptions>(&mut out, "Subscription");
    out.push_str("\n| Option | Spellings (Python, Node) | C |\n| --- | --- | --- |\n");
    let row = |out: &mut String, what: &str, prefix: &str, names: &[&str]| {
        let spelled: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
        let c: Vec<String> = names
            .iter()
            .map(|n| format!("`RINGMQ_{prefix}_{}`", n.to_uppercase()))
            .collect();
        let _ = writeln!(
            out,
            "| `{what}` | {} | {} |",
            spelled.join(", "),
            c.join(", ")
        );
    };
    row(&mut out, "overflow", "OVERFLOW", &Overflow::NAMES);
    row(&mut out, "start", "START", &StartAt::NAMES);
    out
}

fn errors_block() -> String {
    let mut out = String::new();
    out.push_str("\n| Node `code` | C status | Python exception | Meaning |\n");
    out.push_str("| --- | --- | --- | --- |\n");
    for k in ErrorKind::ALL {
        let _ = writeln!(
            out,
            "| `{}` | `{}` ({}) | `ringmq.{}` | {} |",
            k.code(),
            k.c_status(),
            k as u32,
            k.python_class(),
            k.help()
        );
    }
    out.push('\n');
    out
}

pub fn reference(current: &str) -> Result<String, String> {
    let mut text = current.to_owned();
    for (name, body) in [
        ("stats", stats_block()),
        ("options", options_block()),
        ("errors", errors_block()),
    ] {
        text = markers::replace(&text, HTML, name, &body)?;
    }
    Ok(text)
}
