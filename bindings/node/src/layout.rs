//! The typed-array layouts shared with `index.js`, declared once: the
//! header a pull take describes its messages in, and the `meta` array of a
//! push dispatch. JS reads the offsets from `surface().layout` at load time,
//! so the two sides cannot disagree.

/// A layout: one constant per field (its offset within a message's
/// record), `STRIDE` (numbers per message) and `NAMES` (the JS names, in
/// offset order).
macro_rules! layout {
    ($(#[$doc:meta])* $name:ident { $($field:ident: $js:literal,)* }) => {
        $(#[$doc])*
        pub mod $name {
            layout!(@at 0usize; $($field)*);
            pub const NAMES: &[&str] = &[$($js),*];
            pub const STRIDE: usize = NAMES.len();
        }
    };
    (@at $i:expr; $first:ident $($rest:ident)*) => {
        pub const $first: usize = $i;
        layout!(@at $i + 1; $($rest)*);
    };
    (@at $i:expr;) => {};
}

layout! {
    /// A pull take's header: `[count, then per message these fields]`, all
    /// 64-bit floats; 64-bit values are split into 32-bit halves.
    pull {
        ID: "id",
        KEY_HI: "keyHi",
        KEY_LO: "keyLo",
        TS_HI: "tsHi",
        TS_LO: "tsLo",
        ATTEMPT: "attempt",
        TAG_HI: "tagHi",
        TAG_LO: "tagLo",
        LEN: "len",
        NOTE: "note",
        EXT_AT: "extAt",
        EXT_LEN: "extLen",
    }
}

layout! {
    /// A push dispatch's `meta`: per message these fields, the payloads back
    /// to back in a Buffer.
    push {
        TOKEN: "token",
        ID: "id",
        KEY_HI: "keyHi",
        KEY_LO: "keyLo",
        TS_HI: "tsHi",
        TS_LO: "tsLo",
        ATTEMPT: "attempt",
        LEN: "len",
        NOTE: "note",
        HEADERS: "headers",
        MSG_ID: "msgId",
    }
}

// Headers and msg_id. A pull record's `EXT_LEN`: 0 for a message without
// headers or msg_id, else the length of its extension block (the core's
// encoding of both), kept with the other blocks of the take in the handle
// from `EXT_AT`; JS reads it decoded with `ext(at, len)`. A push record's
// `HEADERS` is its number of headers and `MSG_ID` the msg_id's length + 1
// (0 for none); the dispatch's `extNames` holds the names and `extLens` the
// value lengths of the batch's headers, in order, and `extBytes` each
// message's msg_id then its header values, back to back. Messages without
// either cost nothing more than the zeros.

// A record's `NOTE`: 0 for a message without a dead-letter note, else
// `k + 1` where `k` is the note's index among those of the take (`note(k)`
// of the pull handle) or of the dispatch (its `notes` argument: reason and
// group at `2k` and `2k + 1`). Only messages of dead-letter topics have
// notes, so a take or dispatch of other messages carries none.

/// Where a pull header holds the number of messages taken.
pub const HEADER_COUNT: usize = 0;

/// Where the first message's record starts in a pull header.
pub const HEADER_FIRST: usize = 1;

/// Messages one take can describe in a pull handle's header.
pub const HEADER_MESSAGES: usize = 256;

/// Numbers in a pull handle's header.
pub const HEADER_LEN: usize = HEADER_FIRST + pull::STRIDE * HEADER_MESSAGES;
