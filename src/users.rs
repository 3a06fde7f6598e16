//! The host's users, from its passwd database: the install's owner's home
//! and ids. Below every other module, so the key registry can find the
//! owner's `authorized_keys` without reaching up to `install`.

use std::path::PathBuf;

use std::process::Command;

use crate::error::{Error, Result};

/// What the installer and commands need of a passwd entry.
pub struct Passwd {
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
}

/// The passwd entry of `name`, if the host has that user.
pub fn lookup_user(name: &str) -> Option<Passwd> {
    let name = std::ffi::CString::new(name).ok()?;
    // getpwnam is not thread-safe; the installer and commands are single-threaded here.
    let entry = unsafe { libc::getpwnam(name.as_ptr()) };
    if entry.is_null() {
        return None;
    }
    let entry = unsafe { &*entry };
    let home = unsafe { std::ffi::CStr::from_ptr(entry.pw_dir) };
    Some(Passwd {
        uid: entry.pw_uid,
        gid: entry.pw_gid,
        home: PathBuf::from(home.to_string_lossy().into_owned()),
    })
}

pub fn user_home(name: &str) -> Result<PathBuf> {
    lookup_user(name).map(|p| p.home).ok_or_else(|| {
        Error::new(format!("user `{name}` does not exist")).hint("run `paas server install`")
    })
}

pub fn user_uid(name: &str) -> Result<u32> {
    lookup_user(name).map(|p| p.uid).ok_or_else(|| {
        Error::new(format!("user `{name}` does not exist")).hint("run `paas server install`")
    })
}

/// The home of the user this process runs as, from the passwd database
/// (`getpwuid_r`: safe beside other threads, unlike `getpwnam`).
pub fn current_home() -> Option<PathBuf> {
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buffer = vec![0 as libc::c_char; 16 * 1024];
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is to a live local of the size given; the
    // strings the entry points to live in `buffer`, read before it goes.
    let code = unsafe {
        libc::getpwuid_r(
            libc::geteuid(),
            &mut entry,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut found,
        )
    };
    if code != 0 || found.is_null() {
        return None;
    }
    let home = unsafe { std::ffi::CStr::from_ptr(entry.pw_dir) };
    Some(PathBuf::from(home.to_string_lossy().into_owned()))
}

/// A command run as `user`, with the environment rootless podman expects.
pub fn as_user(user: &str, program: &str) -> Result<Command> {
    let passwd =
        lookup_user(user).ok_or_else(|| Error::new(format!("user `{user}` does not exist")))?;
    let mut command = Command::new("runuser");
    command
        .args(["-u", user, "--", program])
        .current_dir("/")
        .env("HOME", &passwd.home)
        .env("XDG_RUNTIME_DIR", format!("/run/user/{}", passwd.uid))
        .env_remove("PAAS_USER");
    Ok(command)
}
