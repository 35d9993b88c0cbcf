//! The options half of the surface: the kinds and values of options, the
//! Rust types an option may have (and their text form, which durable
//! topics keep in `topic.conf`), and the `options_table!` macro.

use std::time::Duration;

use crate::options::{Expired, Fsync, Overflow, StartAt};

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
    /// A name (1..=255 bytes of UTF-8, no control characters), or none:
    /// `Option<String>` in Rust, a str or None in Python, a string or left
    /// out in Node, a NUL-terminated string or NULL in C.
    Name,
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

impl OptionType for Option<String> {
    const KIND: OptionKind = OptionKind::Name;
    fn option_value(&self) -> OptionValue {
        match self {
            None => OptionValue::Unset,
            Some(_) => OptionValue::Given,
        }
    }
    fn to_text(&self) -> String {
        self.clone().unwrap_or_default()
    }
    fn from_text(s: &str) -> Option<Self> {
        opt_from(s, |s| Some(s.to_owned()))
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
