//! Persistent storage's records: a storage's name and where it may be
//! mounted (parsed here, as they reach podman's command line), its record
//! (`storage/<name>/storage.toml`), and an app's mounts, which live in its
//! `app.toml` (`AppSettings::mounts`) so they go with the app when it is
//! renamed and with it when it is destroyed, and the files stay in the
//! storage. See docs/state.md.

use std::fmt;
use std::fs;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{read_toml, write_toml, Lock, Root};
use crate::error::{quoted, Context, Error, Result};

/// How much of a refused name or path its error quotes back.
const SHOWN: usize = 60;

/// A storage's name: lowercase letters, digits and dashes, 1 to 30
/// characters, starting with a letter, as app names are. It names a
/// directory and a podman volume.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StorageName(String);

impl StorageName {
    pub fn parse(name: &str) -> Result<StorageName> {
        let shown = quoted(name, SHOWN);
        let problem = if name.is_empty() {
            Some("is empty")
        } else if name.len() > 30 {
            Some("is longer than 30 characters")
        } else if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
            Some("must start with a lowercase letter")
        } else if !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            Some("may hold only lowercase letters, digits and dashes")
        } else if name.ends_with('-') {
            Some("may not end with a dash")
        } else {
            None
        };
        match problem {
            None => Ok(StorageName(name.to_string())),
            Some(problem) => Err(Error::new(format!("storage name `{shown}` {problem}"))
                .hint("name it like an app: lowercase letters, digits and dashes, like `uploads`")),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for StorageName {
    type Error = String;
    fn try_from(text: String) -> std::result::Result<Self, String> {
        StorageName::parse(&text).map_err(|err| err.message().to_string())
    }
}

impl From<StorageName> for String {
    fn from(name: StorageName) -> String {
        name.0
    }
}

impl fmt::Display for StorageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a storage appears in a dyno: a directory under `/app` (the slug),
/// never `/app` itself, normalised without a trailing slash. Letters,
/// digits, `-`, `_`, `.` and `/` only: podman's `--volume` separates its
/// fields with `:` and `,`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MountPath(String);

/// Directories a storage may not be mounted in: the kernel's and
/// podman's (`/proc`, `/sys`, `/dev`, `/run`), and what paas puts in
/// every dyno (`/etc/paas`: its environment; `/.paas-init`: its init).
const SYSTEM_TREES: &[&str] = &["/proc", "/sys", "/dev", "/run", "/etc/paas", "/.paas-init"];

/// Directories a storage may not be mounted on (it would hide all they
/// hold), though inside them it may: the image's system, and `/app`,
/// where a slug is.
const SYSTEM_DIRS: &[&str] = &[
    "/app",
    "/bin",
    "/boot",
    "/etc",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/sbin",
    "/usr",
    "/usr/bin",
    "/usr/lib",
    "/usr/local",
    "/usr/sbin",
    "/var",
    "/var/lib",
];

impl MountPath {
    /// An absolute path in the dyno (an image's app may keep its files in
    /// `/data`; a slug's under `/app`), not a system directory.
    pub fn parse(text: &str) -> Result<MountPath> {
        let shown = quoted(text, SHOWN);
        let refuse = |problem: &str| {
            Error::new(format!("`{shown}` {problem}"))
                .hint("mount a storage on a directory of its own, like `/app/uploads` or `/data`")
        };
        let trimmed = text.strip_suffix('/').unwrap_or(text);
        if trimmed == "/app" {
            return Err(refuse("is the app's own directory, where its slug is"));
        }
        if text.starts_with('/') && text.chars().all(|c| c == '/') {
            return Err(refuse("is the dyno's whole file system"));
        }
        let Some(rest) = trimmed.strip_prefix('/') else {
            return Err(refuse("is not an absolute path"));
        };
        if let Some(tree) = SYSTEM_TREES
            .iter()
            .find(|tree| trimmed == **tree || trimmed.starts_with(&format!("{tree}/")))
        {
            return Err(refuse(&format!(
                "is in `{tree}`, which podman or paas fills in every dyno"
            )));
        }
        if SYSTEM_DIRS.contains(&trimmed) {
            return Err(refuse(
                "is a system directory: a storage there would hide what it holds",
            ));
        }
        if trimmed.len() > 200 {
            return Err(refuse("is longer than 200 characters"));
        }
        if !rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        {
            return Err(refuse(
                "may hold only letters, digits, `-`, `_`, `.` and `/`",
            ));
        }
        if rest.split('/').any(|part| part.is_empty()) {
            return Err(refuse("has an empty part (`//`)"));
        }
        if rest.split('/').any(|part| part == "." || part == "..") {
            return Err(refuse("may not hold `.` or `..` parts"));
        }
        Ok(MountPath(trimmed.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether one of the two is inside the other (or they are the same):
    /// a storage mounted inside another would make a directory in it.
    pub fn overlaps(&self, other: &MountPath) -> bool {
        let inside = |a: &str, b: &str| a == b || a.starts_with(&format!("{b}/"));
        inside(&self.0, &other.0) || inside(&other.0, &self.0)
    }
}

impl TryFrom<String> for MountPath {
    type Error = String;
    fn try_from(text: String) -> std::result::Result<Self, String> {
        MountPath::parse(&text).map_err(|err| err.message().to_string())
    }
}

impl From<MountPath> for String {
    fn from(path: MountPath) -> String {
        path.0
    }
}

impl fmt::Display for MountPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A storage mounted into an app's dynos.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Mount {
    pub storage: StorageName,
    pub path: MountPath,
}

/// Why `mount` may not join an app's `mounts`: the storage is there
/// already, or its path overlaps one that is. `None` when it may.
pub fn mount_conflict(app: &str, mounts: &[Mount], mount: &Mount) -> Option<Error> {
    if let Some(there) = mounts.iter().find(|m| m.storage == mount.storage) {
        return Some(
            Error::new(format!(
                "`{}` is already mounted on `{app}` at `{}`",
                mount.storage, there.path
            ))
            .hint(format!(
                "a storage is mounted once per app; to move it, `paas storage:unmount {} -a {app}` first",
                mount.storage
            )),
        );
    }
    let there = mounts.iter().find(|m| m.path.overlaps(&mount.path))?;
    Some(
        Error::new(format!(
            "`{}` would overlap `{}`, where `{}` is mounted on `{app}`",
            mount.path, there.path, there.storage
        ))
        .hint("mount it on a directory of its own, beside the other"),
    )
}

/// `storage.toml`: one storage. Its files are in a podman volume
/// (`runtime::volumes`); which apps mount it is in their `app.toml`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Storage {
    pub name: StorageName,
    pub created_at: String,
    /// Who made it: they (and admins) may mount it, back it up, restore
    /// it and destroy it.
    pub created_by: String,
}

impl Storage {
    /// Whether `user` may act on it: its creator, or an admin.
    pub fn is_owned_by(&self, user: &str, admin: bool) -> bool {
        admin || self.created_by == user
    }
}

/// One storage's directory: its record and its lock.
#[derive(Debug, Clone)]
pub struct StorageDir {
    pub name: StorageName,
    pub path: PathBuf,
}

impl Root {
    pub fn storages_dir(&self) -> PathBuf {
        self.path.join("storage")
    }

    pub fn storage(&self, name: &StorageName) -> StorageDir {
        StorageDir {
            name: name.clone(),
            path: self.storages_dir().join(name.as_str()),
        }
    }

    /// Every storage, in name order.
    pub fn storages(&self) -> Result<Vec<Storage>> {
        let dir = self.storages_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(err).context(|| format!("listing `{}`", dir.display())),
        };
        let mut storages: Vec<Storage> = entries
            .flatten()
            .filter_map(|entry| StorageName::parse(entry.file_name().to_str()?).ok())
            .filter_map(|name| self.storage(&name).read().ok())
            .collect();
        storages.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(storages)
    }
}

impl StorageDir {
    fn file(&self) -> PathBuf {
        self.path.join("storage.toml")
    }

    pub fn exists(&self) -> bool {
        self.file().exists()
    }

    /// The storage, or the error for one that does not exist.
    pub fn read(&self) -> Result<Storage> {
        if !self.exists() {
            return Err(self.missing());
        }
        read_toml(&self.file())
    }

    /// The answer for a storage that does not exist, and for one the user
    /// may not act on: the same, so names cannot be probed.
    pub fn missing(&self) -> Error {
        Error::new(format!("storage `{}` does not exist", self.name))
            .hint("`paas storage` lists yours; `paas storage:create NAME` makes one")
    }

    pub fn write(&self, storage: &Storage) -> Result<()> {
        write_toml(&self.file(), storage, 0o644)
    }

    /// Held while the storage is made, mounted, restored or destroyed.
    pub fn lock(&self) -> Result<Lock> {
        Lock::acquire(
            &self.path.join("lock"),
            &format!(
                "waiting for another operation on storage `{}` to finish…",
                self.name
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(storage: &str, path: &str) -> Mount {
        Mount {
            storage: StorageName::parse(storage).unwrap(),
            path: MountPath::parse(path).unwrap(),
        }
    }

    #[test]
    fn storage_names_are_named_like_apps() {
        for name in ["uploads", "cms-files-2", "a"] {
            assert_eq!(StorageName::parse(name).unwrap().as_str(), name);
        }
        let cases = [
            ("", "storage name `` is empty"),
            (
                "Uploads",
                "storage name `Uploads` must start with a lowercase letter",
            ),
            (
                "../etc",
                "storage name `../etc` must start with a lowercase letter",
            ),
            (
                "up_loads",
                "storage name `up_loads` may hold only lowercase letters, digits and dashes",
            ),
            (
                "a/b",
                "storage name `a/b` may hold only lowercase letters, digits and dashes",
            ),
            (
                "uploads-",
                "storage name `uploads-` may not end with a dash",
            ),
            (
                "a234567890123456789012345678901",
                "storage name `a234567890123456789012345678901` is longer than 30 characters",
            ),
        ];
        for (name, message) in cases {
            assert_eq!(StorageName::parse(name).unwrap_err().message(), message);
        }
    }

    #[test]
    fn mount_paths_are_absolute_and_no_system_directory() {
        assert_eq!(
            MountPath::parse("/app/uploads").unwrap().as_str(),
            "/app/uploads"
        );
        assert_eq!(
            MountPath::parse("/app/public/uploads/").unwrap().as_str(),
            "/app/public/uploads"
        );
        assert_eq!(
            MountPath::parse("/app/.data/v1.2_x-y").unwrap().as_str(),
            "/app/.data/v1.2_x-y"
        );
        let cases = [
            (
                "/app",
                "`/app` is the app's own directory, where its slug is",
            ),
            (
                "/app/",
                "`/app/` is the app's own directory, where its slug is",
            ),
            ("uploads", "`uploads` is not an absolute path"),
            ("/", "`/` is the dyno's whole file system"),
            (
                "/proc/x",
                "`/proc/x` is in `/proc`, which podman or paas fills in every dyno",
            ),
            (
                "/etc/paas",
                "`/etc/paas` is in `/etc/paas`, which podman or paas fills in every dyno",
            ),
            (
                "/usr/",
                "`/usr/` is a system directory: a storage there would hide what it holds",
            ),
            (
                "/app/../etc",
                "`/app/../etc` may not hold `.` or `..` parts",
            ),
            ("/app/a/./b", "`/app/a/./b` may not hold `.` or `..` parts"),
            ("/app/a//b", "`/app/a//b` has an empty part (`//`)"),
            (
                "/app/a:b",
                "`/app/a:b` may hold only letters, digits, `-`, `_`, `.` and `/`",
            ),
            (
                "/app/a,ro",
                "`/app/a,ro` may hold only letters, digits, `-`, `_`, `.` and `/`",
            ),
            (
                "/app/up loads",
                "`/app/up loads` may hold only letters, digits, `-`, `_`, `.` and `/`",
            ),
        ];
        for (path, message) in cases {
            let err = MountPath::parse(path).unwrap_err();
            assert_eq!(err.message(), message, "{path}");
            assert!(err.report().contains("like `/app/uploads` or `/data`"));
        }
        for allowed in [
            "/data",
            "/var/lib/app",
            "/application/x",
            "/etc/app",
            "/srv",
        ] {
            assert_eq!(MountPath::parse(allowed).unwrap().as_str(), allowed);
        }
        let long = format!("/app/{}", "x".repeat(200));
        assert!(MountPath::parse(&long).is_err());
    }

    #[test]
    fn a_storage_mounts_once_per_app_and_never_inside_another() {
        let mounts = [mount("uploads", "/app/public/uploads")];
        let twice = mount_conflict("cms", &mounts, &mount("uploads", "/app/other")).unwrap();
        assert_eq!(
            twice.message(),
            "`uploads` is already mounted on `cms` at `/app/public/uploads`"
        );
        for path in [
            "/app/public/uploads",
            "/app/public",
            "/app/public/uploads/x",
        ] {
            let overlap = mount_conflict("cms", &mounts, &mount("cache", path)).unwrap();
            assert!(
                overlap
                    .message()
                    .contains("would overlap `/app/public/uploads`"),
                "{}",
                overlap.message()
            );
        }
        assert!(mount_conflict("cms", &mounts, &mount("cache", "/app/public/up")).is_none());
        assert!(mount_conflict("cms", &mounts, &mount("cache", "/app/tmp")).is_none());
    }

    #[test]
    fn records_round_trip_and_bad_names_in_them_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        assert!(root.storages().unwrap().is_empty());
        let name = StorageName::parse("uploads").unwrap();
        let storage_dir = root.storage(&name);
        assert_eq!(
            storage_dir.read().unwrap_err().message(),
            "storage `uploads` does not exist"
        );
        fs::create_dir_all(&storage_dir.path).unwrap();
        let storage = Storage {
            name: name.clone(),
            created_at: "2026-01-01T00:00:00Z".into(),
            created_by: "alice".into(),
        };
        storage_dir.write(&storage).unwrap();
        assert_eq!(root.storages().unwrap(), std::slice::from_ref(&storage));
        assert!(storage.is_owned_by("alice", false));
        assert!(storage.is_owned_by("bob", true));
        assert!(!storage.is_owned_by("bob", false));

        let settings: super::super::AppSettings =
            toml::from_str("[[mounts]]\nstorage = \"uploads\"\npath = \"/app/uploads\"\n").unwrap();
        assert_eq!(settings.mounts, [mount("uploads", "/app/uploads")]);
        let bad: std::result::Result<super::super::AppSettings, _> =
            toml::from_str("[[mounts]]\nstorage = \"uploads\"\npath = \"/etc\"\n");
        assert!(bad.is_err());
    }
}
