//! `struct_size`: how an options struct grows without breaking programs
//! built against an older header, or refusing what a newer one asks for.
//!
//! The protocol. Every options struct starts with `uint32_t struct_size`,
//! the size of the struct as the caller's header declares it. Its
//! `_default` (a header macro) calls `_init(o, sizeof(type))`, which
//! writes this library's defaults into the first `size` bytes only, sets
//! `struct_size`, and zeroes whatever lies past this library's struct (a
//! newer header's fields). An entry point taking the struct then reads it
//! with [`read`]:
//!
//! - `struct_size` equal to this library's size: the struct as it is;
//! - smaller (an older header): the first `struct_size` bytes copied over
//!   this library's defaults, so the fields the older header lacks keep
//!   their defaults. It must be at least the first version's size and must
//!   not end inside a field;
//! - larger (a newer header), up to [`MAX_STRUCT_SIZE`]: accepted only if
//!   every byte past this library's struct is zero, that is, the caller
//!   left every option this library does not know at its zero default;
//! - 0, below the first version, over the limit or inside a field:
//!   refused with `RINGMQ_INVALID_ARGUMENT`, nothing done.
//!
//! This works because fields are only ever appended, each new field
//! starting at or after the previous version's `sizeof` (a struct's
//! trailing padding is never reused): `tests/c/check_abi.py` refuses any
//! other change against the committed `include/ringmq.abi`.

use std::mem::size_of;

use crate::boundary::{invalid, Result};

/// The largest `struct_size` taken for a newer header's struct; anything
/// bigger is a struct that was never filled by its `_default`.
pub(crate) const MAX_STRUCT_SIZE: usize = 4096;

/// One field of an options struct: its name, offset and size in bytes.
pub(crate) type Field = (&'static str, usize, usize);

/// The size of a field, from an accessor (so the table needs no types).
pub(crate) const fn field_size<T, F>(_: fn(&T) -> &F) -> usize {
    size_of::<F>()
}

/// The [`Field`] table of a struct, in declaration order.
macro_rules! fields {
    ($t:ty: $($f:ident),+ $(,)?) => {
        &[$((
            stringify!($f),
            ::std::mem::offset_of!($t, $f),
            $crate::sized::field_size(|o: &$t| &o.$f),
        )),+]
    };
}
pub(crate) use fields;

/// An options struct that starts with `struct_size`.
///
/// # Safety
/// The implementor is `#[repr(C)]`, its first field is `struct_size: u32`
/// (offset 0), [`SizedOptions::FIELDS`] lists every field in order, and a
/// copy of its bytes taken from C is a valid value (C fills it with the
/// `_default` function and sets fields of the declared types).
pub(crate) unsafe trait SizedOptions: Copy + 'static {
    /// The C type's name, for messages.
    const NAME: &'static str;
    /// Every field, in declaration order.
    const FIELDS: &'static [Field];
    /// How many of [`SizedOptions::FIELDS`] the first version had
    /// (`struct_size` included): its size is the end of the last of them.
    const FIRST_FIELDS: usize;
    /// This library's defaults, `struct_size` set to this library's size.
    fn defaults() -> Self;

    /// Bytes of the first version: a smaller `struct_size` is refused.
    fn first_size() -> usize {
        let (_, offset, size) = Self::FIELDS[Self::FIRST_FIELDS - 1];
        offset + size
    }
}

/// `struct_size` as a C `uint32_t` (saturated: sizes that large are
/// refused anyway).
fn as_u32(n: usize) -> u32 {
    n.min(u32::MAX as usize) as u32
}

/// Why `size` cannot be the `struct_size` of any version of `T`, if so.
fn check_size<T: SizedOptions>(size: usize) -> Result<()> {
    let name = T::NAME;
    let fill = format!("fill the struct with {name}_default() before setting fields");
    if size == 0 {
        return Err(invalid(format!("{name}.struct_size is 0: {fill}")));
    }
    let first = T::first_size();
    if size < first {
        return Err(invalid(format!(
            "{name}.struct_size {size} is below {first}, the size of the first version of \
             {name}: {fill}"
        )));
    }
    if size > MAX_STRUCT_SIZE {
        return Err(invalid(format!(
            "{name}.struct_size {size} is over {MAX_STRUCT_SIZE}, not the size of any \
             version of {name}: {fill}"
        )));
    }
    if let Some((field, offset, len)) = T::FIELDS
        .iter()
        .find(|(_, offset, len)| *offset < size && size < offset + len)
    {
        return Err(invalid(format!(
            "{name}.struct_size {size} ends inside field {field} (bytes {offset}..{}), so it \
             is not the size of any version of {name}: {fill}",
            offset + len
        )));
    }
    Ok(())
}

/// The options C passed, with this library's defaults for the fields an
/// older header lacks (see the module's documentation); `None` for NULL.
/// The result's `struct_size` is this library's size.
///
/// # Safety
/// `p` is NULL or points to `struct_size` readable bytes (at least its
/// first 4, `struct_size` itself) holding a struct filled by the matching
/// `_default` function and then changed field by field.
pub(crate) unsafe fn read<T: SizedOptions>(p: *const T) -> Result<Option<T>> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: every version starts with struct_size, readable by this
    // function's contract; C only promises alignment for its own version.
    let size = unsafe { p.cast::<u32>().read_unaligned() } as usize;
    let ours = size_of::<T>();
    if size == ours {
        // SAFETY: a whole T, initialised by this function's contract.
        return Ok(Some(unsafe { p.read_unaligned() }));
    }
    check_size::<T>(size)?;
    if size > ours {
        // SAFETY: `size` readable bytes by this function's contract, and
        // `size` is at most MAX_STRUCT_SIZE; the `_init` of this library
        // zeroed every byte past `ours`, so none is uninitialised.
        let tail = unsafe { std::slice::from_raw_parts(p.cast::<u8>().add(ours), size - ours) };
        if let Some(i) = tail.iter().position(|&b| b != 0) {
            return Err(invalid(format!(
                "{name}.struct_size {size} is larger than this library's {name} ({ours} \
                 bytes, ringmq {version}) and byte {at} is set: the struct is from a newer \
                 ringmq.h and sets options this library does not have; run with a library at \
                 least as new as that header, or leave those options at their defaults",
                name = T::NAME,
                version = env!("CARGO_PKG_VERSION"),
                at = ours + i,
            )));
        }
    }
    let mut v = T::defaults();
    // SAFETY: min(size, ours) bytes are readable at `p` and writable in `v`,
    // and they do not overlap; by check_size they end at a field boundary
    // (or in padding), so every field of `v` is either wholly the caller's
    // or wholly the default, a valid value either way (the trait's
    // contract).
    unsafe {
        std::ptr::copy_nonoverlapping(
            p.cast::<u8>(),
            std::ptr::from_mut(&mut v).cast::<u8>(),
            size.min(ours),
        );
        std::ptr::from_mut(&mut v).cast::<u32>().write(as_u32(ours));
    }
    Ok(Some(v))
}

/// Fills the first `size` bytes at `o` with this library's defaults (the
/// `_init` functions): `struct_size` becomes `size`, fields that fit
/// entirely get their defaults, bytes past this library's struct (a newer
/// header's fields) become 0. Nothing is written past `size` bytes; a
/// `size` below 4 (no room for `struct_size`) writes nothing, one over
/// [`MAX_STRUCT_SIZE`] only `struct_size` (which every call then refuses).
///
/// # Safety
/// `o` is NULL or has `size` writable bytes.
pub(crate) unsafe fn init<T: SizedOptions>(o: *mut T, size: usize) {
    if o.is_null() || size < size_of::<u32>() {
        return;
    }
    let dst = o.cast::<u8>();
    if size > MAX_STRUCT_SIZE {
        // SAFETY: at least 4 writable bytes by this function's contract.
        unsafe { o.cast::<u32>().write_unaligned(as_u32(size)) };
        return;
    }
    let ours = size_of::<T>();
    let d = T::defaults();
    // SAFETY: `size` writable bytes at `o` by this function's contract, of
    // which this writes the first min(size, ours) from `d` (not
    // overlapping), then zeroes the rest.
    unsafe {
        std::ptr::copy_nonoverlapping(std::ptr::from_ref(&d).cast::<u8>(), dst, size.min(ours));
        if size > ours {
            std::ptr::write_bytes(dst.add(ours), 0, size - ours);
        }
        o.cast::<u32>().write_unaligned(as_u32(size));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{
        ringmq_broker_options, ringmq_publish_options, ringmq_sub_options, ringmq_topic_options,
    };

    /// The table covers the struct: `struct_size` first, fields in order
    /// without overlap, their names those of the struct's Debug text,
    /// nothing after the last but padding.
    fn table_is_complete<T: SizedOptions + std::fmt::Debug>() {
        let fields = T::FIELDS;
        assert_eq!(fields[0], ("struct_size", 0, 4), "{}", T::NAME);
        let mut end = 0;
        for &(name, offset, len) in fields {
            assert!(
                offset >= end,
                "{}.{name} overlaps the field before",
                T::NAME
            );
            end = offset + len;
        }
        let align = std::mem::align_of::<T>();
        assert_eq!(end.div_ceil(align) * align, size_of::<T>(), "{}", T::NAME);
        let text = format!("{:?}", T::defaults());
        let names: Vec<&str> = text[text.find('{').unwrap() + 1..text.rfind('}').unwrap()]
            .split(", ")
            .map(|kv| kv.split(':').next().unwrap().trim())
            .collect();
        let listed: Vec<&str> = fields.iter().map(|f| f.0).collect();
        assert_eq!(names, listed, "{}: FIELDS misses a field", T::NAME);
        assert!(T::FIRST_FIELDS >= 2 && T::FIRST_FIELDS <= fields.len());
    }

    #[test]
    fn every_field_table_is_complete() {
        table_is_complete::<ringmq_broker_options>();
        table_is_complete::<ringmq_topic_options>();
        table_is_complete::<ringmq_sub_options>();
        table_is_complete::<ringmq_publish_options>();
    }

    /// The first versions: the fields DESIGN/1.0 named (publish options
    /// came whole, with headers).
    #[test]
    fn first_versions_end_where_design_1_0_did() {
        let last = |f: &[Field], n: usize| f[n - 1].0;
        assert_eq!(
            last(
                ringmq_broker_options::FIELDS,
                ringmq_broker_options::FIRST_FIELDS
            ),
            "idle_timeout_ms"
        );
        assert_eq!(
            last(
                ringmq_topic_options::FIELDS,
                ringmq_topic_options::FIRST_FIELDS
            ),
            "ack_timeout_ms"
        );
        assert_eq!(
            last(ringmq_sub_options::FIELDS, ringmq_sub_options::FIRST_FIELDS),
            "start"
        );
        assert_eq!(
            ringmq_publish_options::first_size(),
            size_of::<ringmq_publish_options>()
        );
    }

    #[test]
    fn an_older_struct_keeps_the_defaults_of_what_it_lacks() {
        let first = ringmq_topic_options::first_size();
        let mut buf = vec![0xffu8; first + 64];
        // SAFETY: `buf` has `first` writable bytes and more.
        unsafe { init(buf.as_mut_ptr().cast::<ringmq_topic_options>(), first) };
        assert!(
            buf[first..].iter().all(|&b| b == 0xff),
            "init wrote past its size"
        );
        assert_eq!(
            u32::from_ne_bytes(buf[..4].try_into().unwrap()) as usize,
            first
        );
        let capacity = std::mem::offset_of!(ringmq_topic_options, capacity);
        buf[capacity..capacity + 8].copy_from_slice(&64usize.to_ne_bytes());
        // SAFETY: `first` readable bytes, filled by init.
        let o = unsafe { read(buf.as_ptr().cast::<ringmq_topic_options>()) }
            .unwrap()
            .unwrap();
        assert_eq!(o.capacity, 64);
        assert_eq!(o.struct_size as usize, size_of::<ringmq_topic_options>());
        let d = ringmq_topic_options::defaults();
        assert_eq!(o.max_header_bytes, d.max_header_bytes);
        assert_eq!(o.segment_bytes, d.segment_bytes);
    }

    #[test]
    fn a_newer_struct_is_taken_when_its_tail_is_zero() {
        let ours = size_of::<ringmq_sub_options>();
        let mut buf = vec![0xffu8; ours + 16];
        // SAFETY: `buf` has ours + 16 writable bytes.
        unsafe { init(buf.as_mut_ptr().cast::<ringmq_sub_options>(), ours + 16) };
        assert!(buf[ours..].iter().all(|&b| b == 0));
        // SAFETY: ours + 16 readable bytes, filled by init.
        let read_it = |buf: &[u8]| unsafe { read(buf.as_ptr().cast::<ringmq_sub_options>()) };
        let o = read_it(&buf).unwrap().unwrap();
        assert_eq!(o.concurrency, 1);
        buf[ours + 3] = 1;
        let e = read_it(&buf).unwrap_err();
        assert!(
            e.message().contains(&format!("byte {} is set", ours + 3)),
            "{}",
            e.message()
        );
    }

    #[test]
    fn bad_sizes_are_refused() {
        let check = |size: u32| {
            // A buffer as large as any size tried, so reads stay inside.
            let mut buf = vec![0u8; MAX_STRUCT_SIZE + 8];
            // SAFETY: `buf` has room for the struct.
            unsafe {
                init(
                    buf.as_mut_ptr().cast::<ringmq_topic_options>(),
                    size_of::<ringmq_topic_options>(),
                )
            };
            buf[..4].copy_from_slice(&size.to_ne_bytes());
            // SAFETY: the buffer holds every size tried.
            unsafe { read(buf.as_ptr().cast::<ringmq_topic_options>()) }.map(|_| ())
        };
        let msg = |size| check(size).unwrap_err().message().to_owned();
        assert!(msg(0).contains("struct_size is 0"), "{}", msg(0));
        assert!(msg(8).contains("below"), "{}", msg(8));
        let first = ringmq_topic_options::first_size() as u32;
        assert!(check(first).is_ok());
        assert!(msg(first + 4).contains("inside field retry_capacity"));
        assert!(msg(MAX_STRUCT_SIZE as u32 + 8).contains("over 4096"));
        assert!(check(MAX_STRUCT_SIZE as u32).is_ok());
        // SAFETY: NULL is allowed.
        assert!(unsafe { read::<ringmq_topic_options>(std::ptr::null()) }
            .unwrap()
            .is_none());
    }

    #[test]
    fn init_never_writes_past_its_size() {
        for size in [0usize, 3, 4, 9, 200, MAX_STRUCT_SIZE + 1] {
            let mut buf = vec![0xeeu8; size + 32];
            // SAFETY: `buf` has `size` writable bytes and more.
            unsafe { init(buf.as_mut_ptr().cast::<ringmq_broker_options>(), size) };
            assert!(buf[size..].iter().all(|&b| b == 0xee), "size {size}");
        }
    }
}
