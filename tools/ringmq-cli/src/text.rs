//! Rendering stored bytes and times as text: payloads and header values as
//! UTF-8 or hex, JSON strings, RFC 3339 timestamps.

use std::fmt::Write;

/// `b` as text if it is UTF-8 without control characters, else `None`.
pub fn as_text(b: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(b).ok()?;
    (!s.chars().any(char::is_control)).then_some(s)
}

/// Lowercase hex of `b`.
pub fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

/// `b` for the text output: `"..."` (with `"` and `\` escaped) when it is
/// text, else `0x` and its hex.
pub fn show_bytes(b: &[u8]) -> String {
    match as_text(b) {
        Some(s) => {
            let mut out = String::with_capacity(s.len() + 2);
            out.push('"');
            for c in s.chars() {
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
            out
        }
        None => format!("0x{}", hex(b)),
    }
}

/// `b` as a JSON string and its encoding name ("utf8" or "hex").
pub fn json_bytes(b: &[u8]) -> (String, &'static str) {
    match as_text(b) {
        Some(s) => (json_str(s), "utf8"),
        None => (json_str(&hex(b)), "hex"),
    }
}

/// `s` as a JSON string literal, quotes included.
pub fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Nanoseconds since the Unix epoch as an RFC 3339 UTC time with nine
/// fraction digits, e.g. `2026-12-01T20:48:02.000000001Z`.
pub fn rfc3339(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let frac = ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:09}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// The proleptic Gregorian (year, month, day) of day `z` counted from
/// 1970-01-01 (eras of 400 years, each 146097 days, starting in March).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365], from March 1
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999999999Z");
        // 2000-02-29 12:34:56.5 (a leap day of a century leap year).
        assert_eq!(
            rfc3339(951_827_696_500_000_000),
            "2000-02-29T12:34:56.500000000Z"
        );
        assert_eq!(
            rfc3339(1_796_158_082_000_000_001),
            "2026-12-01T20:48:02.000000001Z"
        );
        // 2100 is not a leap year.
        assert_eq!(
            rfc3339(4_107_542_400 * 1_000_000_000),
            "2100-03-01T00:00:00.000000000Z"
        );
    }

    #[test]
    fn bytes() {
        assert_eq!(show_bytes(b"a \"b\""), r#""a \"b\"""#);
        assert_eq!(show_bytes(b"a\nb"), "0x610a62");
        assert_eq!(show_bytes(&[0xff]), "0xff");
        assert_eq!(json_bytes(b"x\\y"), ("\"x\\\\y\"".to_owned(), "utf8"));
        assert_eq!(json_bytes(&[0, 1]), ("\"0001\"".to_owned(), "hex"));
        assert_eq!(json_str("a\u{1}\u{2028}"), "\"a\\u0001\\u2028\"");
    }
}
