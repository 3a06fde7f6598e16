//! The daemon's own log, `logs/daemon.log` (a `--local` install's: its
//! supervisor opens it as the daemon's stdout and stderr; under systemd
//! the journal keeps it), kept from growing without bound: once it has
//! `LIMIT` bytes it is renamed `daemon.log.1` (replacing the one before)
//! and a new one is opened.
//!
//! Each process writing to it (the supervisor, the daemon, the programs
//! they start) holds it open in append mode as its fds 1 and 2, so after
//! the rename they write on into `daemon.log.1` until they move their own
//! fds onto the new file (`dup2`): no line written meanwhile is lost, it
//! is only in the previous file. Only the daemon renames, as it writes
//! nearly every line and a second renamer could, in a race, rename the
//! new file over the previous one; the supervisor follows (`follow`).
//! Copying and truncating in place, as logrotate's `copytruncate` does,
//! would need no moving but loses what is written between the two.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::io::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::state::Root;

/// The size at which the log is renamed and begun anew.
pub const LIMIT: u64 = 10 << 20;

/// How often the daemon looks at its log's size.
const LOOK_EVERY: Duration = Duration::from_secs(10);

/// Where the log is kept once it is full.
pub fn previous(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

/// A file's device and inode: which file it is, whatever its name.
type Identity = (u64, u64);

/// The regular file `fd` writes to (none for a pipe, a socket, a terminal).
fn identity_of_fd(fd: RawFd) -> Option<(Identity, u32)> {
    // SAFETY: fstat fills a struct stat we own; a closed fd fails.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd, &mut stat) } != 0 || stat.st_mode & libc::S_IFMT != libc::S_IFREG {
        return None;
    }
    Some((
        (stat.st_dev as u64, stat.st_ino as u64),
        stat.st_mode & 0o777,
    ))
}

/// Keeps `path` under `limit` for this process, whose `fds` (1 and 2) may
/// write to it: once it has `limit` bytes, and one of `fds` writes to it,
/// it is renamed `previous(path)` and those fds move onto a new file at
/// `path`. An fd still writing to `previous(path)` (another process
/// renamed it) moves too. Without a limit it only follows. Fds that write
/// elsewhere (a journal's socket, a terminal) are left alone. Returns
/// whether it renamed the log.
pub fn keep_bounded(path: &Path, limit: Option<u64>, fds: &[RawFd]) -> io::Result<bool> {
    let current = fs::metadata(path).ok();
    let current_identity = current.as_ref().map(|meta| (meta.dev(), meta.ino()));
    let previous_identity = fs::metadata(previous(path))
        .ok()
        .map(|meta| (meta.dev(), meta.ino()));
    let mut moving = Vec::new();
    let mut writing_here = Vec::new();
    let mut mode = 0o644;
    for &fd in fds {
        let Some((identity, fd_mode)) = identity_of_fd(fd) else {
            continue;
        };
        if Some(identity) == current_identity {
            writing_here.push(fd);
            mode = fd_mode;
        } else if Some(identity) == previous_identity {
            moving.push(fd);
            mode = fd_mode;
        }
    }
    let full = match (limit, &current) {
        (Some(limit), Some(meta)) => meta.len() >= limit,
        _ => false,
    };
    let renamed = full && !writing_here.is_empty();
    if renamed {
        fs::rename(path, previous(path))?;
        moving.extend(writing_here);
    }
    if moving.is_empty() {
        return Ok(renamed);
    }
    // As the file it follows was made: the owner's, readable as before.
    let file = fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(mode)
        .open(path)?;
    for fd in moving {
        // SAFETY: dup2 of an fd we hold open onto one of this process's
        // own; the new fd is not close-on-exec, so children inherit it.
        if unsafe { libc::dup2(file.as_raw_fd(), fd) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(renamed)
}

/// The supervisor's side: its fds follow the log the daemon began anew.
pub fn follow(path: &Path) {
    // Nothing to do about a failure: the next look tries again, and the
    // lines go on into the previous file meanwhile.
    let _ = keep_bounded(path, None, &[1, 2]);
}

/// The daemon's side: its log kept under `LIMIT`, looked at on start and
/// every few seconds. A failure is said once, not at every look.
pub(super) async fn keep_log_bounded(root: Root) {
    let path = root.daemon_log();
    let mut failing = false;
    loop {
        match keep_bounded(&path, Some(LIMIT), &[1, 2]) {
            Ok(renamed) => {
                failing = false;
                if renamed {
                    eprintln!(
                        "paas daemon: began a new log; the previous {} MiB are in `{}`",
                        LIMIT >> 20,
                        previous(&path).display()
                    );
                }
            }
            Err(err) => {
                if !failing {
                    eprintln!(
                        "paas daemon: could not begin a new log at `{}`: {err}",
                        path.display()
                    );
                }
                failing = true;
            }
        }
        tokio::time::sleep(LOOK_EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn write(fd: RawFd, text: &str) {
        // SAFETY: writing a buffer we own to an fd the test holds open.
        let written = unsafe { libc::write(fd, text.as_ptr().cast(), text.len()) };
        assert_eq!(written, text.len() as isize);
    }

    fn dup(fd: RawFd) -> RawFd {
        // SAFETY: dup of an fd the test holds open.
        let copy = unsafe { libc::dup(fd) };
        assert!(copy >= 0);
        copy
    }

    #[test]
    fn a_full_log_is_begun_anew_and_no_line_is_lost() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.log");
        let log = fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o640)
            .open(&path)
            .unwrap();
        // As the supervisor hands it over: the daemon's stdout and stderr,
        // and the supervisor's own.
        let (stdout, stderr, supervisor) = (
            dup(log.as_raw_fd()),
            dup(log.as_raw_fd()),
            dup(log.as_raw_fd()),
        );
        write(stderr, "one\n");
        assert!(!keep_bounded(&path, Some(100), &[stdout, stderr]).unwrap());
        write(stdout, "two\n");
        assert!(keep_bounded(&path, Some(8), &[stdout, stderr]).unwrap());
        write(stderr, "three\n");
        write(stdout, "four\n");
        // The supervisor has not moved yet: its line is in the previous file.
        write(supervisor, "between\n");
        assert_eq!(
            fs::read_to_string(previous(&path)).unwrap(),
            "one\ntwo\nbetween\n"
        );
        assert_eq!(fs::read_to_string(&path).unwrap(), "three\nfour\n");
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640, "as the file it follows");

        // Following, it moves; it never renames, however full the log.
        assert!(!keep_bounded(&path, None, &[supervisor]).unwrap());
        write(supervisor, "after\n");
        assert_eq!(fs::read_to_string(&path).unwrap(), "three\nfour\nafter\n");

        // Full again: the previous file is replaced, one is kept.
        assert!(keep_bounded(&path, Some(8), &[stdout, stderr]).unwrap());
        write(stderr, "five\n");
        assert_eq!(
            fs::read_to_string(previous(&path)).unwrap(),
            "three\nfour\nafter\n"
        );
        assert_eq!(fs::read_to_string(&path).unwrap(), "five\n");
        assert!(!dir.path().join("daemon.log.2").exists());
    }

    #[test]
    fn fds_writing_elsewhere_are_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.log");
        fs::write(&path, "a full log of another process\n").unwrap();
        let mut elsewhere = fs::File::create(dir.path().join("other.log")).unwrap();
        let (reading, _writing) = {
            let mut fds = [0; 2];
            // SAFETY: pipe fills two fds the test then owns.
            assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
            (fds[0], fds[1])
        };
        let fds = [elsewhere.as_raw_fd(), reading];
        assert!(!keep_bounded(&path, Some(1), &fds).unwrap());
        assert!(!previous(&path).exists());
        elsewhere.write_all(b"mine\n").unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join("other.log")).unwrap(),
            "mine\n"
        );
    }
}
