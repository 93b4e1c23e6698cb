//! `strftime` as Python has it: the C library's, so every directive, flag and locale
//! behaves as it does for transformers on the same machine.

use std::ffi::CString;

/// `format` applied to the current local time; `None` when it holds a NUL byte.
pub(super) fn now_local(format: &str) -> Option<String> {
    // SAFETY: time(NULL) only returns the clock.
    let now = unsafe { libc::time(std::ptr::null_mut()) };
    format_at(format, now, true)
}

/// `format` applied to `t` (seconds since the epoch) as local time or UTC.
pub(super) fn format_at(format: &str, t: libc::time_t, local: bool) -> Option<String> {
    if format.is_empty() {
        return Some(String::new());
    }
    let c_format = CString::new(format).ok()?;
    // SAFETY: the *_r variants fill the `tm` we own; a zeroed tm is a valid initial value.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe {
        if local {
            !libc::localtime_r(&t, &mut tm).is_null()
        } else {
            !libc::gmtime_r(&t, &mut tm).is_null()
        }
    };
    if !ok {
        return None;
    }
    // strftime returns 0 both for "buffer too small" and for an empty result; grow the
    // buffer up to Python's own limit (256 × the format's length), then accept empty.
    let mut size = 256.max(format.len() * 4);
    loop {
        let mut buf = vec![0u8; size];
        // SAFETY: `buf` has `size` writable bytes; strftime writes at most that many,
        // NUL included, and returns the length written without the NUL.
        let n = unsafe { libc::strftime(buf.as_mut_ptr().cast(), size, c_format.as_ptr(), &tm) };
        if n > 0 || size >= 256 * format.len() {
            buf.truncate(n);
            return Some(String::from_utf8_lossy(&buf).into_owned());
        }
        size *= 4;
    }
}

#[cfg(test)]
mod tests {
    use super::format_at;

    #[test]
    fn formats_like_the_c_library() {
        // 2024-07-26 13:05:09 UTC, a Friday.
        let t = 19_930 * 86_400 + 13 * 3600 + 5 * 60 + 9;
        assert_eq!(format_at("%d %b %Y", t, false).unwrap(), "26 Jul 2024");
        assert_eq!(
            format_at("%B %-d, %Y %H:%M:%S %A %j %%", t, false).unwrap(),
            "July 26, 2024 13:05:09 Friday 208 %"
        );
        // Unknown directives pass through, as Python (glibc) writes them.
        assert_eq!(
            format_at("%F %I%p %q", 0, false).unwrap(),
            "1970-01-01 12AM %q"
        );
        assert_eq!(format_at("", 0, false).unwrap(), "");
        assert_eq!(format_at("a\0b", 0, false), None);
    }
}
