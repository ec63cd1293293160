//! C string and buffer helpers shared by the C ABI and the log router: the only places that
//! turn Rust strings into C strings or copy bytes into a caller's buffer.

use std::ffi::{CString, c_char};

/// A C string from `s`, dropping interior NULs (which C cannot represent).
pub(crate) fn c_string_lossy(s: impl Into<Vec<u8>>) -> CString {
    let mut bytes = s.into();
    bytes.retain(|&b| b != 0);
    CString::new(bytes).unwrap_or_default()
}

/// Copies `bytes` into the caller's `buf` of `capacity` bytes like `snprintf`: truncated to
/// `capacity - 1` bytes and always NUL-terminated when `capacity > 0`; nothing is written when
/// `buf` is NULL or `capacity` is 0. Returns whether everything fit (with its NUL).
///
/// # Safety
/// `buf` is NULL or valid for writing `capacity` bytes, and does not overlap `bytes`.
pub(crate) unsafe fn copy_nul_terminated(bytes: &[u8], buf: *mut c_char, capacity: usize) -> bool {
    if buf.is_null() || capacity == 0 {
        return bytes.is_empty() && capacity > 0;
    }
    let n = bytes.len().min(capacity - 1);
    // SAFETY: buf is valid for `capacity` > n bytes and does not overlap `bytes` (caller
    // contract).
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf.cast::<u8>(), n);
        *buf.add(n) = 0;
    }
    n == bytes.len()
}

/// Copies `bytes` into the caller's `buf` (no terminator), which must hold them all.
///
/// # Safety
/// `buf` is valid for writing `bytes.len()` bytes and does not overlap `bytes`.
pub(crate) unsafe fn copy_exact(bytes: &[u8], buf: *mut u8) {
    if bytes.is_empty() {
        return;
    }
    // SAFETY: caller contract.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf, bytes.len()) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_buffers() {
        assert_eq!(c_string_lossy("a\0b").as_bytes(), b"ab");
        assert_eq!(c_string_lossy(String::from("plain")).as_bytes(), b"plain");
        let mut buf = [0x55 as c_char; 4];
        // SAFETY: a 4-byte buffer.
        assert!(!unsafe { copy_nul_terminated(b"hello", buf.as_mut_ptr(), 4) });
        assert_eq!(buf.map(|c| c as u8), *b"hel\0");
        // SAFETY: as above.
        assert!(unsafe { copy_nul_terminated(b"hi", buf.as_mut_ptr(), 4) });
        assert_eq!(&buf.map(|c| c as u8)[..3], b"hi\0");
        // SAFETY: NULL with capacity 0 writes nothing.
        assert!(!unsafe { copy_nul_terminated(b"x", std::ptr::null_mut(), 0) });
        let mut out = [0u8; 3];
        // SAFETY: 3 bytes for 3 bytes.
        unsafe { copy_exact(b"abc", out.as_mut_ptr()) };
        assert_eq!(&out, b"abc");
    }
}
