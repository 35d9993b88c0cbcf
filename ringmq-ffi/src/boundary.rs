//! The boundary between C and Rust: the one place that catches panics, the
//! thread-local last error, and the checks every argument goes through
//! (NULL pointers, C strings, timeouts) before anything is done.

use std::any::Any;
use std::cell::RefCell;
use std::ffi::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;
use std::time::Duration;

use ringmq_core::{Error, ErrorKind, MAX_NAME_LEN};

use crate::types::ringmq_status;

pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

thread_local! {
    /// The NUL-terminated text of this thread's last failure. Rewritten in
    /// place, so after the first few failures it does not allocate.
    static LAST_ERROR: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Records `message` as this thread's last error, prefixed with the name of
/// the entry point that failed.
pub(crate) fn set_last_error(func: &str, message: &str) {
    // try_with: a call during thread teardown must not panic.
    let _ = LAST_ERROR.try_with(|cell| {
        if let Ok(mut buf) = cell.try_borrow_mut() {
            buf.clear();
            buf.extend_from_slice(func.as_bytes());
            buf.extend_from_slice(b": ");
            // An interior NUL would cut the C string short: show it as '?'.
            buf.extend(message.bytes().map(|b| if b == 0 { b'?' } else { b }));
            buf.push(0);
        }
    });
}

/// Records this thread's last error from format arguments, writing into the
/// reused buffer: no allocation once it is large enough (for failures on a
/// per-message path, such as a header that is not there).
pub(crate) fn set_last_error_args(func: &str, message: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = LAST_ERROR.try_with(|cell| {
        if let Ok(mut buf) = cell.try_borrow_mut() {
            buf.clear();
            buf.extend_from_slice(func.as_bytes());
            buf.extend_from_slice(b": ");
            let start = buf.len();
            let _ = buf.write_fmt(message);
            for b in &mut buf[start..] {
                if *b == 0 {
                    *b = b'?';
                }
            }
            buf.push(0);
        }
    });
}

/// This thread's last error as a C string, or "" when there was none.
pub(crate) fn last_error_ptr() -> *const c_char {
    LAST_ERROR
        .try_with(|cell| match cell.try_borrow() {
            Ok(buf) if !buf.is_empty() => buf.as_ptr().cast::<c_char>(),
            _ => c"".as_ptr(),
        })
        .unwrap_or(c"".as_ptr())
}

/// The value an entry point answers when its body panicked.
pub(crate) trait OnPanic {
    fn on_panic() -> Self;
}

impl OnPanic for ringmq_status {
    fn on_panic() -> Self {
        ringmq_status::RINGMQ_INTERNAL
    }
}

impl<T> OnPanic for *const T {
    fn on_panic() -> Self {
        std::ptr::null()
    }
}

impl OnPanic for () {
    fn on_panic() -> Self {}
}

fn panic_text(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "a panic without a message"
    }
}

/// The panic boundary every exported function runs its body in: a panic
/// never unwinds into C; it becomes `RINGMQ_INTERNAL` (or NULL, or nothing,
/// for functions without a status) and this thread's last error.
pub(crate) fn boundary<T: OnPanic>(func: &str, body: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(v) => v,
        Err(payload) => {
            let text = format!("internal error (panic): {}", panic_text(&*payload));
            // Dropping the payload could itself panic; keep that inside too.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
            set_last_error(func, &text);
            T::on_panic()
        }
    }
}

/// The status of an error kind; the numbers are the same by construction.
pub(crate) fn status_of(kind: ErrorKind) -> ringmq_status {
    use ringmq_status::*;
    match kind {
        ErrorKind::InvalidArgument => RINGMQ_INVALID_ARGUMENT,
        ErrorKind::Full => RINGMQ_FULL,
        ErrorKind::Timeout => RINGMQ_TIMEOUT,
        ErrorKind::TooLarge => RINGMQ_TOO_LARGE,
        ErrorKind::NotFound => RINGMQ_NOT_FOUND,
        ErrorKind::Exists => RINGMQ_EXISTS,
        ErrorKind::Closed => RINGMQ_CLOSED,
        ErrorKind::Empty => RINGMQ_EMPTY,
        ErrorKind::Internal => RINGMQ_INTERNAL,
        ErrorKind::Interrupted => RINGMQ_INTERRUPTED,
        ErrorKind::Io => RINGMQ_IO,
    }
}

/// Runs a status-returning body inside [`boundary`]; an error sets the last
/// error and answers its status.
pub(crate) fn run(func: &str, body: impl FnOnce() -> Result<()>) -> ringmq_status {
    boundary(func, || match body() {
        Ok(()) => ringmq_status::RINGMQ_OK,
        Err(e) => {
            set_last_error(func, e.message());
            status_of(e.kind())
        }
    })
}

pub(crate) fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidArgument, message)
}

/// The one NULL check: `p` as a non-null pointer, or `InvalidArgument`
/// naming the argument. `what` is only formatted on failure (pass
/// `format_args!` for a composed name), so the check never allocates.
pub(crate) fn non_null<T>(p: *const T, what: impl std::fmt::Display) -> Result<NonNull<T>> {
    NonNull::new(p.cast_mut()).ok_or_else(|| invalid(format!("{what} is NULL")))
}

/// A handle argument as a reference.
///
/// # Safety
/// `p` is NULL or a live handle returned by this library and not yet freed,
/// which the caller of the exported function promises.
pub(crate) unsafe fn handle<'a, T>(p: *const T, what: &'static str) -> Result<&'a T> {
    let p = non_null(p, what)?;
    // SAFETY: non-null, and live by this function's contract.
    Ok(unsafe { p.as_ref() })
}

/// A topic or group name from C: not NULL, NUL-terminated within
/// `MAX_NAME_LEN + 1` bytes (never read further), not empty, valid UTF-8.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string or to at least
/// `MAX_NAME_LEN + 1` readable bytes.
pub(crate) unsafe fn name<'a>(p: *const c_char, what: &str) -> Result<&'a str> {
    let p = non_null(p, format_args!("{what} name"))?
        .cast::<u8>()
        .as_ptr();
    let mut len = 0;
    loop {
        if len > MAX_NAME_LEN {
            return Err(invalid(format!(
                "{what} name is longer than the limit of {MAX_NAME_LEN} bytes"
            )));
        }
        // SAFETY: every byte up to and including the NUL is readable, and we
        // stop at the NUL or after MAX_NAME_LEN + 1 bytes.
        if unsafe { *p.add(len) } == 0 {
            break;
        }
        len += 1;
    }
    if len == 0 {
        return Err(invalid(format!("{what} name is empty")));
    }
    // SAFETY: the `len` bytes before the NUL were just read.
    let bytes = unsafe { std::slice::from_raw_parts(p, len) };
    std::str::from_utf8(bytes).map_err(|e| {
        invalid(format!(
            "{what} name is not valid UTF-8 (bad byte at offset {})",
            e.valid_up_to()
        ))
    })
}

/// A C timeout: -1 waits for ever (`None`), 0 tries once, otherwise
/// milliseconds.
pub(crate) fn timeout(ms: i32) -> Result<Option<Duration>> {
    match ms {
        -1 => Ok(None),
        ms if ms >= 0 => Ok(Some(Duration::from_millis(ms as u64))),
        ms => Err(invalid(format!(
            "timeout_ms {ms} is negative; use -1 to wait for ever or 0 to try once"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn last() -> String {
        // SAFETY: last_error_ptr returns a NUL-terminated string.
        unsafe { CStr::from_ptr(last_error_ptr()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn a_panic_becomes_internal_and_the_last_error() {
        let st = run("ringmq_test", || panic!("boom {}", 7));
        assert_eq!(st, ringmq_status::RINGMQ_INTERNAL);
        assert_eq!(last(), "ringmq_test: internal error (panic): boom 7");
        let p: *const u8 = boundary("ringmq_test_ptr", || panic!("static"));
        assert!(p.is_null());
        assert_eq!(last(), "ringmq_test_ptr: internal error (panic): static");
    }

    #[test]
    fn errors_keep_their_kind_and_message() {
        let st = run("ringmq_x", || Err(Error::new(ErrorKind::Exists, "dup")));
        assert_eq!(st, ringmq_status::RINGMQ_EXISTS);
        assert_eq!(last(), "ringmq_x: dup");
        // A success leaves the last error as it was.
        assert_eq!(run("ringmq_y", || Ok(())), ringmq_status::RINGMQ_OK);
        assert_eq!(last(), "ringmq_x: dup");
    }

    #[test]
    fn every_error_kind_keeps_its_number() {
        for (kind, n) in [
            (ErrorKind::InvalidArgument, 1),
            (ErrorKind::Full, 2),
            (ErrorKind::Timeout, 3),
            (ErrorKind::TooLarge, 4),
            (ErrorKind::NotFound, 5),
            (ErrorKind::Exists, 6),
            (ErrorKind::Closed, 7),
            (ErrorKind::Empty, 8),
            (ErrorKind::Internal, 9),
            (ErrorKind::Interrupted, 10),
            (ErrorKind::Io, 11),
        ] {
            assert_eq!(status_of(kind) as u32, n);
            assert_eq!(kind as u32, n);
        }
    }

    #[test]
    fn names_are_bounded_and_checked() {
        let long = vec![b'a'; MAX_NAME_LEN];
        let mut ok = long.clone();
        ok.push(0);
        // SAFETY: NUL-terminated buffers.
        unsafe {
            assert_eq!(
                name(ok.as_ptr().cast(), "topic").unwrap().len(),
                MAX_NAME_LEN
            );
            let mut too_long = long.clone();
            too_long.extend_from_slice(b"b\0");
            let e = name(too_long.as_ptr().cast(), "topic").unwrap_err();
            assert!(e.message().contains("longer than"), "{e:?}");
            let e = name(c"".as_ptr(), "group").unwrap_err();
            assert_eq!(e.message(), "group name is empty");
            let e = name(c"ab\xff".as_ptr(), "group").unwrap_err();
            assert!(e.message().contains("offset 2"), "{e:?}");
            let e = name(std::ptr::null(), "group").unwrap_err();
            assert_eq!(e.message(), "group name is NULL");
        }
    }

    #[test]
    fn timeouts() {
        assert_eq!(timeout(-1).unwrap(), None);
        assert_eq!(timeout(0).unwrap(), Some(Duration::ZERO));
        assert_eq!(timeout(250).unwrap(), Some(Duration::from_millis(250)));
        assert_eq!(timeout(-2).unwrap_err().kind(), ErrorKind::InvalidArgument);
    }
}
