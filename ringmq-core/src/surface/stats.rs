//! The stats half of the surface: what each stats field is (Prometheus
//! type, unit, help) and the `stats_table!` macro that declares a stats
//! struct with its table.

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
