//! What the engine shows the outside world, declared once: every stats
//! field (name, one-line help, Prometheus type, unit), every option (name,
//! default), and the macro that declares a stats struct and its table of
//! field descriptors in one go.
//!
//! The C structs, the Python dicts and stubs, the Node objects and types,
//! the Prometheus text and the reference tables in the docs are all
//! generated from these tables or checked against them by a test, so a
//! field added here reaches every layer or turns a test red.
//!
//! Naming rules the layers follow (so nothing else has to be declared):
//! - a field's or option's `name` is snake_case, as in Rust, C and Python;
//!   Node spells it in camelCase ([`camel_case`]);
//! - a duration option is seconds (a float) in Python and whole
//!   milliseconds elsewhere, where its name gets an `_ms` suffix
//!   ([`OptionField::ms_name`]);
//! - a Prometheus family is `ringmq_<scope>_<name>`, with `_total` after a
//!   counter.
//!
//! Order is part of the contract: the C structs lay fields out in table
//! order, so new fields are only ever appended to a table.

mod options;
mod stats;

pub use options::{OptionField, OptionKind, OptionType, OptionValue, OptionsTable};
pub use stats::{
    Metric, StatField, StatType, StatValue, StatsTable, SummaryPart, TextField, Unit, ValueType,
};

/// `snake_case` → `camelCase`, the Node spelling of every name.
pub fn camel_case(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::{BrokerOptions, PoolStats, SubOptions, SubStats, TopicOptions, TopicStats};

    #[test]
    fn camel_case_follows_the_rule() {
        assert_eq!(camel_case("dead_lettered"), "deadLettered");
        assert_eq!(camel_case("latency_p999_ns"), "latencyP999Ns");
        assert_eq!(camel_case("lag"), "lag");
    }

    fn unique(names: impl Iterator<Item = &'static str>) {
        let mut seen = std::collections::HashSet::new();
        for n in names {
            assert!(
                n.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{n} is not snake_case"
            );
            assert!(seen.insert(n), "{n} declared twice");
        }
    }

    fn check_stats<S: StatsTable>() {
        unique(
            S::LABELS
                .iter()
                .copied()
                .chain(S::FIELDS.iter().map(|f| f.name))
                .chain(S::TEXT.iter().map(|f| f.name)),
        );
        for f in S::FIELDS {
            assert!(!f.help.is_empty() && !f.help.contains('\n'), "{}", f.name);
            assert!(f.help.ends_with('.'), "help of {} is a sentence", f.name);
        }
    }

    #[test]
    fn stats_tables_are_well_formed() {
        check_stats::<TopicStats>();
        check_stats::<SubStats>();
        check_stats::<PoolStats>();
    }

    #[test]
    fn values_follow_the_table() {
        let s = SubStats {
            acked: 7,
            latency_max_ns: 9,
            ..SubStats::default()
        };
        let got: Vec<_> = s.values().map(|(f, v)| (f.name, v)).collect();
        assert!(got.contains(&("acked", StatValue::U64(7))));
        assert!(got.contains(&("latency_max_ns", StatValue::U64(9))));
        let p = PoolStats {
            utilisation: 0.5,
            ..PoolStats::default()
        };
        assert!(p
            .values()
            .any(|(f, v)| f.name == "utilisation" && v == StatValue::F64(0.5)));
    }

    fn check_options<O: OptionsTable>() {
        unique(O::FIELDS.iter().map(|f| f.name));
        let d = O::default();
        for (i, f) in O::FIELDS.iter().enumerate() {
            if !matches!(f.default, OptionValue::Computed(_)) {
                assert_eq!(
                    d.value(i),
                    f.default,
                    "{} option {}: the table's default is not Default's",
                    O::SCOPE,
                    f.name
                );
            }
        }
    }

    #[test]
    fn option_defaults_are_those_of_default() {
        check_options::<BrokerOptions>();
        check_options::<TopicOptions>();
        check_options::<SubOptions>();
    }
}
