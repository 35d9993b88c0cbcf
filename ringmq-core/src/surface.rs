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

use std::time::Duration;

use crate::options::{Expired, Fsync, Overflow, StartAt};

/// How a stats field is exposed to Prometheus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Only ever grows: `ringmq_<scope>_<name>_total`.
    Counter,
    /// Goes up and down: `ringmq_<scope>_<name>`.
    Gauge,
    /// One part of the summary `ringmq_<scope>_<family>` (in seconds).
    Summary {
        family: &'static str,
        part: SummaryPart,
    },
}

impl Metric {
    /// The Prometheus `TYPE` of the family the field belongs to.
    pub fn prometheus_type(self) -> &'static str {
        match self {
            Metric::Counter => "counter",
            Metric::Gauge => "gauge",
            Metric::Summary { .. } => "summary",
        }
    }
}

/// Which sample of a summary a field is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SummaryPart {
    /// The quantile label's value (`"0.5"`, `"1"` for the maximum).
    Quantile(&'static str),
    /// `<family>_sum`.
    Sum,
    /// `<family>_count`.
    Count,
}

/// What a stats value counts or measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A number of things (messages, deliveries, workers, slots).
    Count,
    /// Nanoseconds (Prometheus shows seconds).
    Nanoseconds,
    /// A fraction between 0 and 1.
    Ratio,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "count",
            Unit::Nanoseconds => "ns",
            Unit::Ratio => "ratio",
        }
    }
}

/// The Rust type of a stats value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    U64,
    F64,
}

/// One numeric field of a stats snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatField {
    pub name: &'static str,
    /// One line, as Prometheus `HELP` and every doc comment show it.
    pub help: &'static str,
    pub metric: Metric,
    pub unit: Unit,
    pub ty: ValueType,
}

impl StatField {
    /// The Prometheus family the field is a sample of, by the naming rule:
    /// `ringmq_<scope>_<name>`, `_total` after a counter; a summary part's
    /// is its summary's.
    pub fn prometheus_family(&self, scope: &str) -> String {
        match self.metric {
            Metric::Counter => format!("ringmq_{scope}_{}_total", self.name),
            Metric::Gauge => format!("ringmq_{scope}_{}", self.name),
            Metric::Summary { family, .. } => format!("ringmq_{scope}_{family}"),
        }
    }
}

/// One text field of a stats snapshot (`None` when there is nothing to say).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextField {
    pub name: &'static str,
    pub help: &'static str,
}

/// A stats value as read from a snapshot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StatValue {
    U64(u64),
    F64(f64),
}

impl StatValue {
    pub fn as_f64(self) -> f64 {
        match self {
            StatValue::U64(v) => v as f64,
            StatValue::F64(v) => v,
        }
    }
}

/// The Rust types a stats field may have.
pub trait StatType: Copy {
    const TYPE: ValueType;
    fn stat_value(self) -> StatValue;
}

impl StatType for u64 {
    const TYPE: ValueType = ValueType::U64;
    fn stat_value(self) -> StatValue {
        StatValue::U64(self)
    }
}

impl StatType for f64 {
    const TYPE: ValueType = ValueType::F64;
    fn stat_value(self) -> StatValue {
        StatValue::F64(self)
    }
}

/// A stats snapshot described by a table (implemented by [`stats_table!`]).
pub trait StatsTable {
    /// `topic`, `subscription` or `pool`: the Prometheus prefix.
    const SCOPE: &'static str;
    /// What identifies one snapshot among others of its kind: Prometheus
    /// labels, and the leading keys of the Python dicts.
    const LABELS: &'static [&'static str];
    const FIELDS: &'static [StatField];
    const TEXT: &'static [TextField];
    /// The value of `FIELDS[i]`.
    fn value(&self, i: usize) -> StatValue;
    /// The value of `TEXT[i]`.
    fn text(&self, i: usize) -> Option<&str>;

    /// Every numeric field with its value, in table order.
    fn values(&self) -> impl Iterator<Item = (&'static StatField, StatValue)> + '_ {
        Self::FIELDS
            .iter()
            .enumerate()
            .map(move |(i, f)| (f, self.value(i)))
    }
}

/// Declares a stats snapshot struct and its [`StatsTable`] at once, or
/// (with `describe`) the table of a struct declared elsewhere.
///
/// Each numeric field is `name: type, Metric, Unit, "help";` and becomes a
/// `pub` field documented by its help. Text fields (`Option<String>`) follow
/// in `text { ... }`. The `describe` form destructures the struct without
/// `..`, so a field added to the struct and not to its table fails to
/// compile.
#[macro_export]
#[doc(hidden)]
macro_rules! stats_table {
    (
        $(#[$meta:meta])*
        pub struct $name:ident in $scope:literal, labels [$($label:literal),*] {
            $( $field:ident : $ty:ident, $metric:expr, $unit:expr, $help:literal; )*
        }
        text {
            $( $tfield:ident, $thelp:literal; )*
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $( #[doc = $help] pub $field: $ty, )*
            $( #[doc = $thelp] pub $tfield: Option<String>, )*
        }
        $crate::stats_table! {
            describe $name in $scope, labels [$($label),*] {
                $( $field : $ty, $metric, $unit, $help; )*
            }
            text { $( $tfield, $thelp; )* }
        }
    };
    (
        describe $name:ident in $scope:literal, labels [$($label:literal),*] {
            $( $field:ident : $ty:ident, $metric:expr, $unit:expr, $help:literal; )*
        }
        text {
            $( $tfield:ident, $thelp:literal; )*
        }
    ) => {
        impl $crate::surface::StatsTable for $name {
            const SCOPE: &'static str = $scope;
            const LABELS: &'static [&'static str] = &[$($label),*];
            const FIELDS: &'static [$crate::surface::StatField] = &[
                $( $crate::surface::StatField {
                    name: stringify!($field),
                    help: $help,
                    metric: $metric,
                    unit: $unit,
                    ty: <$ty as $crate::surface::StatType>::TYPE,
                }, )*
            ];
            const TEXT: &'static [$crate::surface::TextField] = &[
                $( $crate::surface::TextField { name: stringify!($tfield), help: $thelp }, )*
            ];

            fn value(&self, i: usize) -> $crate::surface::StatValue {
                // Every field named, none left to `..`: a field missing
                // from the table is a compile error here.
                let $name { $( $field, )* $( $tfield: _, )* } = self;
                let all = [$( $crate::surface::StatType::stat_value(*$field), )*];
                all[i]
            }

            fn text(&self, i: usize) -> Option<&str> {
                let texts: &[&Option<String>] = &[$( &self.$tfield, )*];
                texts.get(i).and_then(|t| t.as_deref())
            }
        }
    };
}

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

/// The kind of value an option takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionKind {
    /// A non-negative integer.
    Count,
    /// A duration: seconds in Python, milliseconds (`<name>_ms`) elsewhere.
    Duration,
    Bool,
    /// One of the given spellings.
    Choice(&'static [&'static str]),
    /// A positive number per second, or none (unset: None in Rust and
    /// Python, left out in Node, 0 in C).
    Rate,
    /// A message id, or none (unset: None in Rust and Python, left out in
    /// Node, `RINGMQ_NO_ID` (UINT64_MAX) in C).
    Id,
    /// A point in time, or none: `SystemTime` in Rust, seconds since the
    /// epoch (or a datetime) in Python, milliseconds since the epoch (or a
    /// Date) in Node, nanoseconds since the epoch in C (`<name>_ns`, 0 for
    /// none).
    Time,
    /// A file system path, or none: `Option<PathBuf>` in Rust, a str or
    /// path-like in Python, a string in Node, a NUL-terminated string in C
    /// (NULL for none).
    Path,
}

/// An option's value (its default, or what a struct holds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionValue {
    Int(u64),
    Millis(u64),
    Bool(bool),
    Choice(&'static str),
    /// Worked out at run time (the text says how).
    Computed(&'static str),
    /// No value (an optional option left out).
    Unset,
    /// A number, as the bits of an f64 (so that values compare exactly).
    Number(u64),
    /// A value with no static form (a path that is set).
    Given,
}

/// One field of an options struct.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionField {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: OptionKind,
    pub default: OptionValue,
}

impl OptionField {
    /// The name where durations are whole milliseconds (Node, before
    /// camel-casing; times are milliseconds since the epoch there too).
    pub fn ms_name(&self) -> String {
        match self.kind {
            OptionKind::Duration => format!("{}_ms", self.name),
            _ => self.name.to_owned(),
        }
    }

    /// The C field's name: durations in `_ms`, times in `_ns` since the
    /// epoch.
    pub fn c_name(&self) -> String {
        match self.kind {
            OptionKind::Duration => format!("{}_ms", self.name),
            OptionKind::Time => format!("{}_ns", self.name),
            _ => self.name.to_owned(),
        }
    }
}

/// The Rust types an option may have.
pub trait OptionType: Sized {
    const KIND: OptionKind;
    fn option_value(&self) -> OptionValue;
    /// The value as text that [`from_text`](Self::from_text) reads back
    /// exactly (durations in nanoseconds; "" for none).
    fn to_text(&self) -> String;
    fn from_text(s: &str) -> Option<Self>;
}

/// `to_text`/`from_text` of a type that prints and parses itself.
macro_rules! text_by_display {
    () => {
        fn to_text(&self) -> String {
            self.to_string()
        }
        fn from_text(s: &str) -> Option<Self> {
            s.parse().ok()
        }
    };
}

/// `to_text`/`from_text` of a choice type (its spellings).
macro_rules! text_by_name {
    () => {
        fn to_text(&self) -> String {
            self.as_str().to_owned()
        }
        fn from_text(s: &str) -> Option<Self> {
            Self::parse(s).ok()
        }
    };
}

/// `to_text`/`from_text` of an optional value ("" for none).
fn opt_text<T>(v: &Option<T>, f: impl Fn(&T) -> String) -> String {
    v.as_ref().map(f).unwrap_or_default()
}
fn opt_from<T>(s: &str, f: impl Fn(&str) -> Option<T>) -> Option<Option<T>> {
    if s.is_empty() {
        Some(None)
    } else {
        f(s).map(Some)
    }
}

impl OptionType for usize {
    const KIND: OptionKind = OptionKind::Count;
    fn option_value(&self) -> OptionValue {
        OptionValue::Int(*self as u64)
    }
    text_by_display!();
}

impl OptionType for u32 {
    const KIND: OptionKind = OptionKind::Count;
    fn option_value(&self) -> OptionValue {
        OptionValue::Int(*self as u64)
    }
    text_by_display!();
}

impl OptionType for bool {
    const KIND: OptionKind = OptionKind::Bool;
    fn option_value(&self) -> OptionValue {
        OptionValue::Bool(*self)
    }
    text_by_display!();
}

impl OptionType for Duration {
    const KIND: OptionKind = OptionKind::Duration;
    fn option_value(&self) -> OptionValue {
        OptionValue::Millis(self.as_millis().min(u64::MAX as u128) as u64)
    }
    fn to_text(&self) -> String {
        self.as_nanos().to_string()
    }
    fn from_text(s: &str) -> Option<Self> {
        s.parse::<u64>().ok().map(Duration::from_nanos)
    }
}

impl OptionType for Overflow {
    const KIND: OptionKind = OptionKind::Choice(&Overflow::NAMES);
    fn option_value(&self) -> OptionValue {
        OptionValue::Choice(self.as_str())
    }
    text_by_name!();
}

impl OptionType for Expired {
    const KIND: OptionKind = OptionKind::Choice(&Expired::NAMES);
    fn option_value(&self) -> OptionValue {
        OptionValue::Choice(self.as_str())
    }
    text_by_name!();
}

impl OptionType for Option<f64> {
    const KIND: OptionKind = OptionKind::Rate;
    fn option_value(&self) -> OptionValue {
        match self {
            None => OptionValue::Unset,
            Some(v) => OptionValue::Number(v.to_bits()),
        }
    }
    fn to_text(&self) -> String {
        opt_text(self, |v| v.to_string())
    }
    fn from_text(s: &str) -> Option<Self> {
        opt_from(s, |s| s.parse().ok())
    }
}

impl OptionType for Option<u64> {
    const KIND: OptionKind = OptionKind::Id;
    fn option_value(&self) -> OptionValue {
        match self {
            None => OptionValue::Unset,
            Some(v) => OptionValue::Int(*v),
        }
    }
    fn to_text(&self) -> String {
        opt_text(self, |v| v.to_string())
    }
    fn from_text(s: &str) -> Option<Self> {
        opt_from(s, |s| s.parse().ok())
    }
}

impl OptionType for Option<std::time::SystemTime> {
    const KIND: OptionKind = OptionKind::Time;
    fn option_value(&self) -> OptionValue {
        match self.and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()) {
            None => OptionValue::Unset,
            Some(d) => OptionValue::Int(d.as_nanos().min(u64::MAX as u128) as u64),
        }
    }
    fn to_text(&self) -> String {
        opt_text(self, |t| {
            t.duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
                .to_string()
        })
    }
    fn from_text(s: &str) -> Option<Self> {
        opt_from(s, |s| {
            s.parse::<u64>()
                .ok()
                .map(|n| std::time::UNIX_EPOCH + Duration::from_nanos(n))
        })
    }
}

impl OptionType for Fsync {
    const KIND: OptionKind = OptionKind::Choice(&Fsync::NAMES);
    fn option_value(&self) -> OptionValue {
        OptionValue::Choice(self.as_str())
    }
    text_by_name!();
}

impl OptionType for Option<std::path::PathBuf> {
    const KIND: OptionKind = OptionKind::Path;
    fn option_value(&self) -> OptionValue {
        match self {
            None => OptionValue::Unset,
            Some(_) => OptionValue::Given,
        }
    }
    fn to_text(&self) -> String {
        opt_text(self, |p| p.to_string_lossy().into_owned())
    }
    fn from_text(s: &str) -> Option<Self> {
        opt_from(s, |s| Some(std::path::PathBuf::from(s)))
    }
}

impl OptionType for StartAt {
    const KIND: OptionKind = OptionKind::Choice(&StartAt::NAMES);
    fn option_value(&self) -> OptionValue {
        OptionValue::Choice(self.as_str())
    }
    text_by_name!();
}

/// An options struct described by a table (implemented by
/// [`options_table!`]).
pub trait OptionsTable: Default {
    /// `broker`, `topic` or `sub`.
    const SCOPE: &'static str;
    const FIELDS: &'static [OptionField];
    /// What this struct holds for `FIELDS[i]`.
    fn value(&self, i: usize) -> OptionValue;
    /// `FIELDS[i]` as text (see [`OptionType::to_text`]).
    fn text(&self, i: usize) -> String;
    /// Sets `FIELDS[i]` from its text; false (changing nothing) if the
    /// text is not a value of the field.
    fn set_text(&mut self, i: usize, text: &str) -> bool;
}

/// Describes an options struct declared elsewhere: `name: type = default,
/// "help";` per field. As with [`stats_table!`], every field of the struct
/// must be listed.
#[macro_export]
#[doc(hidden)]
macro_rules! options_table {
    (
        $name:ident in $scope:literal {
            $( $field:ident : $ty:ty = $default:expr, $help:literal; )*
        }
    ) => {
        impl $crate::surface::OptionsTable for $name {
            const SCOPE: &'static str = $scope;
            const FIELDS: &'static [$crate::surface::OptionField] = &[
                $( $crate::surface::OptionField {
                    name: stringify!($field),
                    help: $help,
                    kind: <$ty as $crate::surface::OptionType>::KIND,
                    default: $default,
                }, )*
            ];

            fn value(&self, i: usize) -> $crate::surface::OptionValue {
                let $name { $( $field, )* } = self;
                let all = [$( <$ty as $crate::surface::OptionType>::option_value($field), )*];
                all[i]
            }

            fn text(&self, i: usize) -> String {
                let $name { $( $field, )* } = self;
                let mut all = [$( <$ty as $crate::surface::OptionType>::to_text($field), )*];
                std::mem::take(&mut all[i])
            }

            fn set_text(&mut self, i: usize, text: &str) -> bool {
                let $name { $( $field, )* } = self;
                let mut n = 0usize;
                $(
                    if n == i {
                        return match <$ty as $crate::surface::OptionType>::from_text(text) {
                            Some(v) => {
                                *$field = v;
                                true
                            }
                            None => false,
                        };
                    }
                    n += 1;
                )*
                let _ = n;
                false
            }
        }
    };
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
