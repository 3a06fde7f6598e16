//! Atomic writes and per-app locks: the two things that make "nothing is lost" true.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::{Context, Error, Result};

/// Writes `contents` to `path` so that readers see the old file or the new
/// one, never half of either: temp file in the same directory, fsync, rename,
/// fsync the directory.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    prepare_atomic(path, contents, mode)?.put_in_place()
}

/// A file written in full beside its destination, not yet in its place:
/// for a write that must happen only if a later step succeeds. Converge
/// prepares the routes file before it records a release and puts it in
/// place after, so a full disk stops the change before anything moved.
/// Dropped without `put_in_place`, it leaves nothing behind.
pub struct Prepared {
    temp: tempfile::NamedTempFile,
    path: PathBuf,
}

/// Writes `contents` next to `path` (fsynced) for `Prepared::put_in_place`.
pub fn prepare_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<Prepared> {
    Ok(Prepared {
        temp: written_temp_file(path, contents, mode)?,
        path: path.to_path_buf(),
    })
}

impl Prepared {
    /// Replaces the destination with the prepared file (a rename, which
    /// needs no new space on the disk).
    pub fn put_in_place(self) -> Result<()> {
        let path = self.path;
        self.temp
            .persist(&path)
            .map_err(|err| err.error)
            .context(|| format!("replacing `{}`", path.display()))?;
        sync_dir(path.parent().unwrap_or(Path::new(".")))
    }
}

/// Writes a new file that must not exist yet: for append-only records.
/// Returns `Ok(false)` when the file was already there.
pub fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<bool> {
    let temp = written_temp_file(path, contents, mode)?;
    match temp.persist_noclobber(path) {
        Ok(_) => {
            sync_dir(path.parent().unwrap_or(Path::new(".")))?;
            Ok(true)
        }
        Err(err) if err.error.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(err) => Err(err.error).context(|| format!("creating `{}`", path.display())),
    }
}

/// A temporary file next to `path`, holding `contents` on disk (fsynced).
fn written_temp_file(path: &Path, contents: &[u8], mode: u32) -> Result<tempfile::NamedTempFile> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .context(|| format!("creating a temporary file in `{}`", dir.display()))?;
    temp.as_file()
        .set_permissions(fs::Permissions::from_mode(mode))
        .context(|| format!("setting permissions in `{}`", dir.display()))?;
    temp.write_all(contents)
        .and_then(|_| temp.as_file().sync_all())
        .context(|| format!("writing `{}`", path.display()))?;
    Ok(temp)
}

/// Bytes under `dir` (symlinks not followed), for what a purge frees.
pub fn size_of_tree(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(t) if t.is_dir() => size_of_tree(&entry.path()),
            _ => entry.metadata().map_or(0, |m| m.len()),
        })
        .sum()
}

/// The bytes an unprivileged user may still write on the filesystem holding
/// `path` (statvfs's `f_bavail`: ext4's blocks kept for root excluded).
pub fn free_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a struct statvfs to fill.
    if unsafe { libc::statvfs(path.as_ptr(), &mut stats) } != 0 {
        return None;
    }
    Some(stats.f_bavail as u64 * stats.f_frsize as u64)
}

/// Reads a file that a push or a build controls, refusing anything but a
/// regular file: a committed symlink must not make paas read a file of the
/// host's. `Ok(None)` when there is no such file.
pub fn read_untrusted(path: &Path, limit: u64) -> Result<Option<String>> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err).context(|| format!("reading `{}`", path.display())),
    };
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    if !meta.file_type().is_file() {
        return Err(Error::new(format!(
            "`{name}` must be a regular file, not a symlink or directory"
        )));
    }
    if meta.len() > limit {
        return Err(Error::new(format!("`{name}` is larger than {limit} bytes")));
    }
    let bytes = fs::read(path).context(|| format!("reading `{}`", path.display()))?;
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .context(|| format!("syncing directory `{}`", dir.display()))
}

pub fn create_dir(path: &Path, mode: u32) -> Result<()> {
    fs::create_dir_all(path).context(|| format!("creating `{}`", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .context(|| format!("setting permissions on `{}`", path.display()))
}

/// Moves a directory aside in one rename, then deletes it: a crash half way
/// leaves either all of it or none, and nobody listing its parent ever sees
/// half of it.
pub fn remove_dir_whole(path: &Path) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let trash = path.with_file_name(format!(".destroyed-{name}-{}", std::process::id()));
    fs::rename(path, &trash).context(|| format!("removing `{}`", path.display()))?;
    fs::remove_dir_all(&trash).context(|| format!("deleting `{}`", trash.display()))
}

/// A lock, held until dropped. Exclusive on one app, it keeps deploys,
/// config changes, scaling and the daemon's repairs from interleaving.
#[derive(Debug)]
pub struct Lock {
    _file: File,
    pub path: PathBuf,
}

impl Lock {
    /// Waits for the lock, saying so on stderr when someone else holds it.
    pub fn acquire(path: &Path, waiting_message: &str) -> Result<Lock> {
        let file = open_lock_file(path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                say!("{waiting_message}");
                file.lock()
                    .context(|| format!("locking `{}`", path.display()))?;
            }
            Err(fs::TryLockError::Error(err)) => {
                return Err(err).context(|| format!("locking `{}`", path.display()))
            }
        }
        Ok(Lock {
            _file: file,
            path: path.to_path_buf(),
        })
    }

    /// Shares the lock with other holders of it shared; waits only while
    /// someone holds it exclusive.
    pub fn acquire_shared(path: &Path) -> Result<Lock> {
        let file = open_lock_file(path)?;
        file.lock_shared()
            .context(|| format!("locking `{}`", path.display()))?;
        Ok(Lock {
            _file: file,
            path: path.to_path_buf(),
        })
    }

    /// Whether the file locked is still the one at the lock's path: not
    /// when its directory was renamed or removed meanwhile (an app renamed
    /// or destroyed while a command waited for its lock).
    pub fn still_in_place(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        match (self._file.metadata(), fs::metadata(&self.path)) {
            (Ok(held), Ok(there)) => held.dev() == there.dev() && held.ino() == there.ino(),
            _ => false,
        }
    }

    /// Takes the lock only if it is free.
    pub fn try_acquire(path: &Path) -> Result<Option<Lock>> {
        let file = open_lock_file(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Lock {
                _file: file,
                path: path.to_path_buf(),
            })),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(err)) => {
                Err(err).context(|| format!("locking `{}`", path.display()))
            }
        }
    }
}

fn open_lock_file(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .context(|| format!("opening lock `{}`", path.display()))
}

/// Random bytes from the kernel, for names and suffixes (not secrets).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    if let Ok(mut file) = fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = file.read_exact(&mut bytes);
    }
    bytes
}

pub fn random_u64() -> u64 {
    u64::from_le_bytes(random_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_keeps_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        write_atomic(&path, b"A = \"1\"\n", 0o600).unwrap();
        write_atomic(&path, b"A = \"2\"\n", 0o600).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "A = \"2\"\n");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary files are left behind");
    }

    #[test]
    fn write_new_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.toml");
        assert!(write_new(&path, b"first", 0o600).unwrap());
        assert!(!write_new(&path, b"second", 0o600).unwrap());
        assert_eq!(fs::read_to_string(&path).unwrap(), "first");
    }

    #[test]
    fn untrusted_reads_refuse_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        fs::write(&secret, "SECRET = \"x\"\n").unwrap();
        let procfile = dir.path().join("Procfile");
        std::os::unix::fs::symlink(&secret, &procfile).unwrap();
        let err = read_untrusted(&procfile, 1024).unwrap_err();
        assert_eq!(
            err.message(),
            "`Procfile` must be a regular file, not a symlink or directory"
        );
        assert!(read_untrusted(&dir.path().join("missing"), 1024)
            .unwrap()
            .is_none());
        assert_eq!(
            read_untrusted(&secret, 1024).unwrap().unwrap(),
            "SECRET = \"x\"\n"
        );
        assert!(read_untrusted(&secret, 3).is_err());
    }

    #[test]
    fn a_lock_whose_directory_moved_is_no_longer_in_place() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("old")).unwrap();
        let held = Lock::try_acquire(&dir.path().join("old/lock"))
            .unwrap()
            .unwrap();
        assert!(held.still_in_place());
        fs::rename(dir.path().join("old"), dir.path().join("new")).unwrap();
        assert!(!held.still_in_place());
        // A new file at the old path is another lock.
        fs::create_dir(dir.path().join("old")).unwrap();
        fs::write(dir.path().join("old/lock"), "").unwrap();
        assert!(!held.still_in_place());
    }

    #[test]
    fn lock_is_exclusive() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let held = Lock::try_acquire(&path).unwrap();
        assert!(held.is_some());
        assert!(Lock::try_acquire(&path).unwrap().is_none());
        drop(held);
        assert!(Lock::try_acquire(&path).unwrap().is_some());
    }
}
