//! Secrets and tokens from the kernel's random source: add-on passwords,
//! webhook secrets, dashboard login links and sessions.

use crate::error::{Error, Result};

/// `bytes` random bytes from the kernel, as lowercase hex (twice as many
/// characters).
pub fn hex(bytes: usize) -> Result<String> {
    let mut buffer = vec![0u8; bytes];
    // SAFETY: getrandom fills the buffer it is given, at most its length.
    let filled = unsafe { libc::getrandom(buffer.as_mut_ptr().cast(), buffer.len(), 0) };
    if filled != buffer.len() as isize {
        return Err(Error::unexpected("the kernel gave no random bytes"));
    }
    Ok(buffer.iter().map(|b| format!("{b:02x}")).collect())
}
