//! Prometheus text exposition (version 0.0.4) of every topic, subscription
//! and pool metric: one family per field of the stats tables
//! (`crate::surface`), named by their rule. Label values are escaped as the
//! format requires.

use std::fmt::Write;
use std::sync::Arc;

use crate::stats::PoolStats;
use crate::stats::{SubStats, TopicStats};
use crate::surface::{Metric, StatValue, StatsTable, SummaryPart, Unit};
use crate::topic::TopicCore;

fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// One metric family and its samples, rendered as HELP, TYPE and samples.
struct Family {
    name: String,
    kind: &'static str,
    help: &'static str,
    /// (name suffix such as `_count`, labels, value)
    samples: Vec<(&'static str, String, String)>,
}

impl Family {
    fn render(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} {}", self.name, self.kind);
        for (suffix, labels, value) in &self.samples {
            if labels.is_empty() {
                let _ = writeln!(out, "{}{suffix} {value}", self.name);
            } else {
                let _ = writeln!(out, "{}{suffix}{{{labels}}} {value}", self.name);
            }
        }
    }
}

/// The families of one stats table, in table order; the parts of a
/// summary gather in one family, placed where its first part is.
struct Families {
    list: Vec<Family>,
    /// The family of each field of the table.
    of_field: Vec<usize>,
}

impl Families {
    fn new<S: StatsTable>() -> Families {
        let mut list: Vec<Family> = Vec::new();
        let mut of_field = Vec::with_capacity(S::FIELDS.len());
        for f in S::FIELDS {
            let name = f.prometheus_family(S::SCOPE);
            let help = match f.metric {
                Metric::Summary { .. } => SUMMARY_HELP,
                _ => f.help,
            };
            let i = match list.iter().position(|fam| fam.name == name) {
                Some(i) => i,
                None => {
                    list.push(Family {
                        name,
                        kind: f.metric.prometheus_type(),
                        help,
                        samples: Vec::new(),
                    });
                    list.len() - 1
                }
            };
            of_field.push(i);
        }
        Families { list, of_field }
    }

    /// Adds every field of one snapshot, labelled `labels`.
    fn add<S: StatsTable>(&mut self, labels: &str, s: &S) {
        for (i, (f, v)) in s.values().enumerate() {
            let sample = match f.metric {
                Metric::Counter | Metric::Gauge => ("", labels.to_owned(), number(v)),
                Metric::Summary { part, .. } => match part {
                    SummaryPart::Quantile(q) => {
                        let l = if labels.is_empty() {
                            format!("quantile=\"{q}\"")
                        } else {
                            format!("{labels},quantile=\"{q}\"")
                        };
                        ("", l, in_unit(f.unit, v))
                    }
                    SummaryPart::Sum => ("_sum", labels.to_owned(), in_unit(f.unit, v)),
                    SummaryPart::Count => ("_count", labels.to_owned(), number(v)),
                },
            };
            self.list[self.of_field[i]].samples.push(sample);
        }
    }

    fn render(&self, out: &mut String) {
        for f in &self.list {
            f.render(out);
        }
    }
}

/// Prometheus wants base units: seconds, not nanoseconds.
fn in_unit(unit: Unit, v: StatValue) -> String {
    match unit {
        Unit::Nanoseconds => (v.as_f64() / 1e9).to_string(),
        _ => number(v),
    }
}

fn number(v: StatValue) -> String {
    match v {
        StatValue::U64(n) => n.to_string(),
        StatValue::F64(x) => x.to_string(),
    }
}

/// The summary family's HELP (its fields' help describes each part).
const SUMMARY_HELP: &str = "Time from publish to ack.";

/// The label set of one snapshot, values escaped.
fn labels(names: &[&str], values: &[&str]) -> String {
    names
        .iter()
        .zip(values)
        .map(|(n, v)| format!("{n}=\"{}\"", escape(v)))
        .collect::<Vec<_>>()
        .join(",")
}

pub(crate) fn render(topics: &[Arc<TopicCore>], pool: &PoolStats) -> String {
    let mut topic_families = Families::new::<TopicStats>();
    let mut sub_families = Families::new::<SubStats>();
    let mut pool_families = Families::new::<PoolStats>();
    for t in topics {
        topic_families.add(&labels(TopicStats::LABELS, &[&t.name]), &t.stats());
        for sub in t.subs_snapshot() {
            let l = labels(SubStats::LABELS, &[&t.name, &sub.group]);
            sub_families.add(&l, &sub.stats_snapshot(false));
        }
    }
    pool_families.add(&labels(PoolStats::LABELS, &[]), pool);
    let mut out = String::with_capacity(4096);
    topic_families.render(&mut out);
    sub_families.render(&mut out);
    pool_families.render(&mut out);
    out
}
