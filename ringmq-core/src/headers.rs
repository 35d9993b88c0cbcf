//! Message headers and msg_id: their encoding into one compact block, kept
//! beside a ring slot (in the slot's extension area) and in the retry store,
//! and [`Headers`], a read view of a block that allocates nothing.
//!
//! Headers are an ordered list of `(name, value)` pairs: a name is 1..=255
//! bytes of UTF-8 without control characters, a value is any bytes, and a
//! name may repeat (every pair is kept, in order). A msg_id, for
//! de-duplication, is 1..=[`MAX_MSG_ID_LEN`] bytes of anything.
//!
//! A topic's `max_header_bytes` (default 1024; a value over
//! [`MAX_HEADER_BYTES_LIMIT`] counts as that limit) bounds the *counted size*
//! of the headers: the sum over headers of name length + value length + 4.
//! The 4 are the two lengths stored with each header, so the counted size is
//! exactly what the headers take in the block, and a block never exceeds
//! [`ext_capacity`]`(max_header_bytes)`. The msg_id does not count.
//!
//! Block layout, integers little-endian:
//!
//! ```text
//! u16 header_count
//! u8  msg_id_len     0 = no msg_id, else 1..=128
//! u8  flags          0
//! msg_id             msg_id_len bytes
//! header_count times: u16 name_len (1..=255), u16 value_len, name, value
//! ```
//!
//! A message with neither headers nor msg_id has an empty block (length 0),
//! so the common case writes and reads nothing.
//!
//! A lossy reader may copy a block while it is rewritten (and discard the
//! copy later), so [`decode`] takes any bytes without panicking and answers
//! only slices inside them: a block shorter than the prefix, with nonzero
//! flags, or with a msg_id over 128 bytes or cut off reads as empty, and the
//! headers end at the first one that is cut off, has a name length outside
//! 1..=255 or a name that is not UTF-8.

use std::fmt;
use std::iter::FusedIterator;
use std::str;

use crate::error::{Error, ErrorKind, Result};

/// The longest msg_id, in bytes.
pub const MAX_MSG_ID_LEN: usize = 128;
/// The longest header name, in bytes.
pub const MAX_HEADER_NAME_LEN: usize = 255;
/// The largest `max_header_bytes` a topic can have.
pub const MAX_HEADER_BYTES_LIMIT: usize = 65_535;

/// header_count, msg_id_len and flags.
const PREFIX_LEN: usize = 4;
/// name_len and value_len, before each header.
const ENTRY_OVERHEAD: usize = 4;

/// Bytes of the extension area a slot needs for a topic's
/// `max_header_bytes`: prefix + [`MAX_MSG_ID_LEN`] + `max_header_bytes`
/// (capped at [`MAX_HEADER_BYTES_LIMIT`], as [`validate`] caps it).
pub(crate) fn ext_capacity(max_header_bytes: usize) -> usize {
    PREFIX_LEN + MAX_MSG_ID_LEN + max_header_bytes.min(MAX_HEADER_BYTES_LIMIT)
}

/// Checks headers and msg_id against the limits and answers the length of
/// their block (0 with no headers and no msg_id). A size over a limit is
/// `TooLarge`; an empty name, a name with a control character and an empty
/// msg_id are `InvalidArgument`.
pub(crate) fn validate(
    headers: &[(&str, &[u8])],
    msg_id: Option<&[u8]>,
    max_header_bytes: usize,
) -> Result<usize> {
    use ErrorKind::{InvalidArgument as Invalid, TooLarge};
    let fail = |kind, message: String| Err(Error::new(kind, message));
    let id_len = msg_id.map_or(0, <[u8]>::len);
    if msg_id.is_some() && id_len == 0 {
        let why = "msg_id is empty (leave it out for a message without one)";
        return fail(Invalid, why.into());
    }
    if id_len > MAX_MSG_ID_LEN {
        let why = format!("msg_id is {id_len} bytes long, over the limit of {MAX_MSG_ID_LEN}");
        return fail(TooLarge, why);
    }
    let mut total = 0usize;
    for (i, &(name, value)) in headers.iter().enumerate() {
        if name.is_empty() {
            return fail(Invalid, format!("header at index {i} has an empty name"));
        }
        if name.len() > MAX_HEADER_NAME_LEN {
            let (len, max) = (name.len(), MAX_HEADER_NAME_LEN);
            let why =
                format!("header name at index {i} is {len} bytes long, over the limit of {max}");
            return fail(TooLarge, why);
        }
        if name.chars().any(char::is_control) {
            return fail(
                Invalid,
                format!("header name {name:?} contains a control character"),
            );
        }
        total = total.saturating_add(name.len() + ENTRY_OVERHEAD + value.len());
    }
    let limit = max_header_bytes.min(MAX_HEADER_BYTES_LIMIT);
    if total > limit {
        let why = format!(
            "headers take {total} bytes, over max_header_bytes {limit} of this topic \
             (each header counts its name, its value and 4 bytes)"
        );
        return fail(TooLarge, why);
    }
    Ok(if headers.is_empty() && id_len == 0 {
        0
    } else {
        PREFIX_LEN + id_len + total
    })
}

/// Writes the block of `headers` and `msg_id` at the start of `out` and
/// answers its length. Call only with input [`validate`] accepted and an
/// `out` at least the length it answered; it panics otherwise.
pub(crate) fn encode(headers: &[(&str, &[u8])], msg_id: Option<&[u8]>, out: &mut [u8]) -> usize {
    let id = msg_id.unwrap_or_default();
    if headers.is_empty() && id.is_empty() {
        return 0;
    }
    let mut at = 0;
    let mut put = |bytes: &[u8]| {
        out[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
    };
    put(&le16(headers.len()));
    put(&[u8::try_from(id.len()).expect(UNVALIDATED), 0]);
    put(id);
    for &(name, value) in headers {
        put(&le16(name.len()));
        put(&le16(value.len()));
        put(name.as_bytes());
        put(value);
    }
    at
}

const UNVALIDATED: &str = "headers::encode called with input validate rejects";

fn le16(n: usize) -> [u8; 2] {
    u16::try_from(n).expect(UNVALIDATED).to_le_bytes()
}

/// Splits a block into its msg_id and its headers. Takes any bytes (see the
/// module docs): what is malformed reads as absent, never out of bounds.
/// Out of line: a message without an extension never calls it, and its
/// body would keep `Message::new` from being inlined into `consume`.
#[inline(never)]
pub(crate) fn decode(block: &[u8]) -> (Option<&[u8]>, Headers<'_>) {
    let Some((&[c0, c1, id_len, flags], rest)) = block.split_first_chunk() else {
        return (None, Headers::default());
    };
    let id_len = usize::from(id_len);
    if flags != 0 || id_len > MAX_MSG_ID_LEN || id_len > rest.len() {
        return (None, Headers::default());
    }
    let (id, area) = rest.split_at(id_len);
    // Count the headers that read well; the view holds only those.
    let count = usize::from(u16::from_le_bytes([c0, c1]));
    let mut it = HeaderIter {
        rest: area,
        remaining: count,
    };
    let len = it.by_ref().count();
    let area = &area[..area.len() - it.rest.len()];
    ((!id.is_empty()).then_some(id), Headers { area, len })
}

/// Splits one header off the front of `buf`: `(name, value, rest)`, or
/// `None` when it is cut off or its name length is outside 1..=255.
fn split_entry(buf: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let (&[n0, n1, v0, v1], rest) = buf.split_first_chunk()?;
    let name_len = usize::from(u16::from_le_bytes([n0, n1]));
    let value_len = usize::from(u16::from_le_bytes([v0, v1]));
    if name_len == 0 || name_len > MAX_HEADER_NAME_LEN || rest.len() < name_len + value_len {
        return None;
    }
    let (name, rest) = rest.split_at(name_len);
    let (value, rest) = rest.split_at(value_len);
    Some((name, value, rest))
}

/// A message's headers, borrowed from its block: the `(name, value)` pairs in
/// the order they were published, repeated names included. `len` and
/// `is_empty` take constant time; `get` and `at` walk from the first header.
#[derive(Clone, Copy, Default)]
pub struct Headers<'a> {
    /// Exactly `len` headers that read well (`decode` checked them).
    area: &'a [u8],
    len: usize,
}

impl<'a> Headers<'a> {
    /// The number of headers.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no headers.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The value of the first header named `name` (compared byte for byte).
    pub fn get(&self, name: &str) -> Option<&'a [u8]> {
        let mut it = self.iter();
        while let Some((n, value)) = it.next_raw() {
            if n == name.as_bytes() {
                return Some(value);
            }
        }
        None
    }

    /// The value of the first header named `name`, if that value is UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&'a str> {
        self.get(name).and_then(|v| str::from_utf8(v).ok())
    }

    /// The headers in order.
    pub fn iter(&self) -> HeaderIter<'a> {
        HeaderIter {
            rest: self.area,
            remaining: self.len,
        }
    }

    /// The header at `index` (0 is the first), or `None` past the end.
    pub fn at(&self, index: usize) -> Option<(&'a str, &'a [u8])> {
        let mut it = self.iter();
        for _ in 0..index {
            it.next_raw()?;
        }
        it.next()
    }
}

impl<'a> IntoIterator for Headers<'a> {
    type Item = (&'a str, &'a [u8]);
    type IntoIter = HeaderIter<'a>;
    fn into_iter(self) -> HeaderIter<'a> {
        self.iter()
    }
}

/// `["name" => "value", "other" => b"\x00\xff"]`: a UTF-8 value as a string,
/// any other as escaped bytes.
impl fmt::Debug for Headers<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Pair<'a>(&'a str, &'a [u8]);
        impl fmt::Debug for Pair<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:?} => ", self.0)?;
                match str::from_utf8(self.1) {
                    Ok(s) => write!(f, "{s:?}"),
                    Err(_) => write!(f, "b\"{}\"", self.1.escape_ascii()),
                }
            }
        }
        f.debug_list()
            .entries(self.iter().map(|(n, v)| Pair(n, v)))
            .finish()
    }
}

/// The iterator over a message's headers: `(name, value)` pairs in order.
#[derive(Clone, Debug)]
pub struct HeaderIter<'a> {
    rest: &'a [u8],
    remaining: usize,
}

impl<'a> HeaderIter<'a> {
    /// The next header, its name as bytes; the end at a malformed one.
    fn next_raw(&mut self) -> Option<(&'a [u8], &'a [u8])> {
        let entry = split_entry(self.rest).filter(|_| self.remaining > 0);
        let Some((name, value, rest)) = entry else {
            self.remaining = 0;
            return None;
        };
        (self.rest, self.remaining) = (rest, self.remaining - 1);
        Some((name, value))
    }
}

impl<'a> Iterator for HeaderIter<'a> {
    type Item = (&'a str, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let (name, value) = self.next_raw()?;
        let Ok(name) = str::from_utf8(name) else {
            self.remaining = 0;
            return None;
        };
        Some((name, value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        // Exact: a view from `decode` holds only headers that read well.
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for HeaderIter<'_> {}
impl FusedIterator for HeaderIter<'_> {}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    type Pairs<'a> = [(&'a str, &'a [u8])];

    /// Validates, encodes into exactly the validated length, decodes, checks
    /// that everything came back, and answers the block.
    fn round_trip(headers: &Pairs, msg_id: Option<&[u8]>, max: usize) -> Vec<u8> {
        let mut block = vec![0; validate(headers, msg_id, max).unwrap()];
        assert!(block.len() <= ext_capacity(max));
        assert_eq!(encode(headers, msg_id, &mut block), block.len());
        let (id, h) = decode(&block);
        assert_eq!((id, h.len()), (msg_id, headers.len()));
        assert_eq!(h.iter().collect::<Vec<_>>(), headers);
        for i in 0..=headers.len() {
            assert_eq!(h.at(i), headers.get(i).copied());
        }
        block
    }

    fn kind(headers: &Pairs, msg_id: Option<&[u8]>, max: usize) -> ErrorKind {
        validate(headers, msg_id, max).unwrap_err().kind()
    }

    /// Decodes `block` and checks that every slice answered lies inside it.
    fn assert_inside(block: &[u8]) {
        let inside = |p: &[u8]| {
            let (b, p, n) = (block.as_ptr() as usize, p.as_ptr() as usize, p.len());
            p >= b && p + n <= b + block.len()
        };
        let (id, h) = decode(block);
        assert!(id.is_none_or(inside) && h.iter().len() == h.iter().count());
        assert!(h.iter().all(|(n, v)| inside(n.as_bytes()) && inside(v)));
    }

    #[test]
    fn no_headers_and_no_msg_id_is_an_empty_block() {
        assert_eq!(round_trip(&[], None, 0), b"");
        let (id, h) = decode(&[]);
        assert!(id.is_none() && h.is_empty() && h.get("a").is_none());
        assert_eq!(format!("{:?}", Headers::default()), "[]");
    }

    #[test]
    fn round_trips_with_duplicates_and_binary_values() {
        let id: &[u8] = b"order-42\x00\xff";
        assert_eq!(round_trip(&[], Some(id), 0), b"\0\0\x0a\0order-42\x00\xff");
        let pairs: &Pairs = &[("a", b"1"), ("ключ", b"\x00\xff"), ("a", b"2")];
        assert_eq!(round_trip(pairs, None, 1024).len(), 4 + 6 + 14 + 6);
        let block = round_trip(pairs, Some(id), 1024);
        assert_eq!(block[..4], [3, 0, 10, 0]);
        assert_eq!(&block[14..20], b"\x01\0\x01\0a1");
        let h = decode(&block).1;
        assert_eq!(
            (h.get("a"), h.get_str("a"), h.get("A")),
            (Some(&b"1"[..]), Some("1"), None)
        );
        assert_eq!(
            (h.get("ключ"), h.get_str("ключ")),
            (Some(&b"\x00\xff"[..]), None)
        );
        let a: Vec<_> = h.into_iter().filter(|(n, _)| *n == "a").collect();
        assert_eq!(a, [("a", &b"1"[..]), ("a", b"2")]);
        let shown = r#"["a" => "1", "ключ" => b"\x00\xff", "a" => "2"]"#;
        assert_eq!(format!("{h:?}"), shown);
    }

    #[test]
    fn empty_values_and_traceparent_pass_untouched() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let block = round_trip(&[("traceparent", tp.as_bytes()), ("e", b"")], None, 1024);
        let h = decode(&block).1;
        assert_eq!(
            (h.get_str("traceparent"), h.get("e")),
            (Some(tp), Some(&b""[..]))
        );
    }

    #[test]
    fn sizes_exactly_at_the_limits_pass() {
        let name = "n".repeat(MAX_HEADER_NAME_LEN);
        for max in [1024, MAX_HEADER_BYTES_LIMIT] {
            let value = vec![1u8; max - name.len() - 4];
            let block = round_trip(&[(&name, &value)], Some(&[7; MAX_MSG_ID_LEN]), max);
            assert_eq!(block.len(), ext_capacity(max));
        }
        let fill = vec![0u8; 1024 - 2 * 5];
        assert_eq!(
            round_trip(&[("x", &fill), ("y", b"")], None, 1024).len(),
            1028
        );
        // A max_header_bytes over the limit counts as the limit.
        assert_eq!(
            ext_capacity(usize::MAX),
            ext_capacity(MAX_HEADER_BYTES_LIMIT)
        );
        let over = vec![0u8; MAX_HEADER_BYTES_LIMIT - 4];
        assert_eq!(kind(&[("x", &over)], None, usize::MAX), ErrorKind::TooLarge);
    }

    #[test]
    fn bad_inputs_give_the_right_kind() {
        use ErrorKind::{InvalidArgument as Invalid, TooLarge};
        let long = "n".repeat(MAX_HEADER_NAME_LEN + 1);
        let fill = vec![0u8; 1024 - 2 * 5 + 1];
        let cases: [(&Pairs, Option<&[u8]>, ErrorKind); 8] = [
            (&[("ok", b""), ("", b"v")], None, Invalid),
            (&[("a\nb", b"v")], None, Invalid),
            (&[("a\u{7f}", b"v")], None, Invalid),
            (&[("a\u{85}", b"v")], None, Invalid),
            (&[(&long, b"v")], None, TooLarge),
            (&[("x", &fill), ("y", b"")], None, TooLarge),
            (&[], Some(b""), Invalid),
            (&[], Some(&[0; MAX_MSG_ID_LEN + 1]), TooLarge),
        ];
        for (headers, id, want) in cases {
            assert_eq!(kind(headers, id, 1024), want, "{headers:?} {id:?}");
        }
        let e = validate(&[("x", &fill), ("y", b"")], None, 1024).unwrap_err();
        let why = "headers take 1025 bytes, over max_header_bytes 1024 of this topic \
                   (each header counts its name, its value and 4 bytes)";
        assert_eq!(e.message(), why);
        let e = validate(&[], Some(&[0; 129]), 1024).unwrap_err();
        assert_eq!(
            e.message(),
            "msg_id is 129 bytes long, over the limit of 128"
        );
    }

    #[test]
    fn decode_reads_malformed_blocks_as_far_as_they_are_good() {
        let block = round_trip(&[("a", b"1"), ("b", b"22"), ("c", b"")], Some(b"id"), 64);
        let names = |b: &[u8]| decode(b).1.iter().map(|(n, _)| n).collect::<String>();
        for cut in 0..block.len() {
            assert_inside(&block[..cut]);
            assert_eq!(decode(&block[..cut]).0.is_some(), cut >= 6);
            assert!(["", "a", "ab"].contains(&&*names(&block[..cut])));
        }
        let damaged = |at: usize, byte: u8| {
            let mut b = block.clone();
            b[at] = byte;
            let (id, h) = decode(&b);
            (id.is_some(), names(&b), h.len())
        };
        assert_eq!(damaged(3, 1), (false, "".into(), 0)); // unknown flags
        assert_eq!(damaged(2, 200), (false, "".into(), 0)); // msg_id over 128
        assert_eq!(damaged(16, 0xff), (true, "a".into(), 1)); // name "b" not UTF-8
        assert_eq!(damaged(12, 0), (true, "a".into(), 1)); // name_len of "b" 0
        assert_eq!(damaged(0, 9), (true, "abc".into(), 3)); // too many announced
        assert_eq!(damaged(0, 2), (true, "ab".into(), 2)); // too few
    }

    fn headers() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
        let chars = vec(any::<char>(), 1..12);
        let name = prop_oneof![
            proptest::sample::select(&["a", "traceparent", "ключ"][..]).prop_map(String::from),
            chars.prop_map(|cs| cs.into_iter().filter(|c| !c.is_control()).collect()),
        ];
        let name = name.prop_filter("empty", |n: &String| !n.is_empty());
        vec((name, vec(any::<u8>(), 0..48)), 0..12)
    }

    /// Random bytes, or bytes shaped like a block: a prefix (mostly with
    /// zero flags), a short msg_id, then entries with mostly small lengths
    /// and mostly ASCII names that mostly match the bytes after them.
    fn blockish() -> impl Strategy<Value = Vec<u8>> {
        let small = |n: u16| prop_oneof![3 => 0..n, 1 => any::<u16>()];
        let body = vec(prop_oneof![7 => b'a'..=b'z', 1 => any::<u8>()], 0..16);
        let entry = (small(8), small(8), body, any::<bool>());
        let entry = entry.prop_map(|(n, v, mut b, whole)| {
            let len = usize::from(n) + usize::from(v);
            if whole && len < 64 {
                b.resize(len, b'x');
            }
            b.truncate(len);
            [&n.to_le_bytes()[..], &v.to_le_bytes(), &b].concat()
        });
        let flags = prop_oneof![3 => Just(0u8), 1 => any::<u8>()];
        let shaped = (small(6), vec(any::<u8>(), 0..4), flags, vec(entry, 0..6));
        let shaped = shaped.prop_map(|(n, id, f, es)| {
            let [n0, n1] = n.to_le_bytes();
            [&[n0, n1, id.len() as u8, f][..], &id, &es.concat()].concat()
        });
        prop_oneof![1 => vec(any::<u8>(), 0..200), 3 => shaped]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn random_headers_round_trip(
            owned in headers(),
            id in proptest::option::of(vec(any::<u8>(), 1..=MAX_MSG_ID_LEN)),
            max in 0usize..1200,
        ) {
            let pairs: Vec<_> = owned.iter().map(|(n, v)| (n.as_str(), &v[..])).collect();
            let counted: usize = owned.iter().map(|(n, v)| n.len() + v.len() + 4).sum();
            if counted <= max {
                round_trip(&pairs, id.as_deref(), max);
            } else {
                prop_assert_eq!(kind(&pairs, id.as_deref(), max), ErrorKind::TooLarge);
            }
        }

        #[test]
        fn decode_of_any_bytes_stays_inside(bytes in blockish()) {
            assert_inside(&bytes);
        }

        #[test]
        fn decode_of_a_cut_or_damaged_block_stays_inside(
            owned in headers(), cut: usize, at: usize, byte: u8,
        ) {
            let pairs: Vec<_> = owned.iter().map(|(n, v)| (n.as_str(), &v[..])).collect();
            let mut block = round_trip(&pairs, Some(b"id"), MAX_HEADER_BYTES_LIMIT);
            let cut = cut % (block.len() + 1);
            prop_assert!(pairs.starts_with(&decode(&block[..cut]).1.iter().collect::<Vec<_>>()));
            let at = at % block.len();
            block[at] = byte;
            assert_inside(&block[..cut]);
        }
    }
}
