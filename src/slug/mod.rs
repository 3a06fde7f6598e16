//! Slugs: the built `/app` as a zstd-compressed tarball, named by its SHA-256
//! so identical builds share one file and a rollback finds its slug by content.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Context, Result};

/// A stored slug.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SlugRef {
    pub sha256: String,
    /// Compressed size in bytes.
    pub size: u64,
}

impl SlugRef {
    pub fn file_name(&self) -> String {
        format!("{}.tar.zst", self.sha256)
    }
}

/// Hashes what is written through it.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Packs `dir` into `slugs_dir/<sha256>.tar.zst`.
pub fn pack(dir: &Path, slugs_dir: &Path) -> Result<SlugRef> {
    fs::create_dir_all(slugs_dir).context(|| format!("creating `{}`", slugs_dir.display()))?;
    let temp = tempfile::Builder::new()
        .prefix(".slug-")
        .tempfile_in(slugs_dir)
        .context(|| format!("creating a slug in `{}`", slugs_dir.display()))?;
    let file = temp
        .as_file()
        .try_clone()
        .context(|| "opening the slug".into())?;
    let hashing = HashingWriter {
        inner: io::BufWriter::new(file),
        hasher: Sha256::new(),
        written: 0,
    };
    let encoder = zstd::Encoder::new(hashing, 3).context(|| "starting zstd".into())?;
    let mut builder = tar::Builder::new(encoder);
    builder.follow_symlinks(false);
    // No owners or times in the headers: the same tree gives the same slug.
    builder.mode(tar::HeaderMode::Deterministic);
    builder
        .append_dir_all(".", dir)
        .context(|| format!("packing `{}` into a slug", dir.display()))?;
    let encoder = builder
        .into_inner()
        .context(|| "finishing the slug tarball".into())?;
    let mut hashing = encoder.finish().context(|| "finishing zstd".into())?;
    hashing.flush().context(|| "writing the slug".into())?;
    let HashingWriter {
        hasher, written, ..
    } = hashing;
    let slug = SlugRef {
        sha256: format!("{:x}", hasher.finalize()),
        size: written,
    };
    temp.as_file()
        .sync_all()
        .context(|| "syncing the slug".into())?;
    temp.persist(slugs_dir.join(slug.file_name()))
        .map_err(|err| err.error)
        .context(|| "storing the slug".into())?;
    Ok(slug)
}

/// Unpacks a slug into `dir` (which must not exist yet); returns `dir`.
pub fn unpack(slugs_dir: &Path, slug: &SlugRef, dir: &Path) -> Result<PathBuf> {
    let path = slugs_dir.join(slug.file_name());
    let file = File::open(&path).context(|| format!("opening slug `{}`", path.display()))?;
    let decoder = zstd::Decoder::new(file).context(|| "starting zstd".into())?;
    let parent = dir.parent().unwrap_or(Path::new("."));
    let temp = tempfile::Builder::new()
        .prefix(".unpack-")
        .tempdir_in(parent)
        .context(|| format!("creating a directory in `{}`", parent.display()))?;
    let mut archive = tar::Archive::new(decoder);
    archive.set_preserve_permissions(true);
    archive
        .unpack(temp.path())
        .context(|| format!("unpacking slug `{}`", path.display()))?;
    fs::rename(temp.keep(), dir).context(|| format!("moving the slug to `{}`", dir.display()))?;
    Ok(dir.to_path_buf())
}

/// Removes slugs that no release in `keep` names (tarball and unpacked
/// tree), and unpacked trees that `keep_unpacked` does not name (their
/// tarball stays: a dyno started from it unpacks it again). Returns how
/// many tarballs were removed.
pub fn prune(slugs_dir: &Path, keep: &HashSet<String>, keep_unpacked: &HashSet<String>) -> usize {
    let Ok(entries) = fs::read_dir(slugs_dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let sha = name.strip_suffix(".tar.zst").unwrap_or(&name);
        let is_slug = sha.len() == 64 && sha.chars().all(|c| c.is_ascii_hexdigit());
        let path = entry.path();
        let gone = match (is_slug, path.is_dir()) {
            (false, _) => continue,
            (true, true) if keep_unpacked.contains(sha) => continue,
            (true, true) => fs::remove_dir_all(&path),
            (true, false) if keep.contains(sha) => continue,
            (true, false) => fs::remove_file(&path),
        };
        if gone.is_ok() && name.ends_with(".tar.zst") {
            removed += 1;
        }
    }
    removed
}

/// The bytes `prune` would free with nothing unpacked kept: tarballs not
/// in `keep` and every unpacked tree not in it.
pub fn prunable_bytes(slugs_dir: &Path, keep: &HashSet<String>) -> u64 {
    let Ok(entries) = fs::read_dir(slugs_dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let sha = name.strip_suffix(".tar.zst").unwrap_or(&name).to_string();
            sha.len() == 64 && sha.chars().all(|c| c.is_ascii_hexdigit()) && !keep.contains(&sha)
        })
        .map(|entry| crate::state::size_of_tree(&entry.path()))
        .sum()
}

/// A human size: `12.3 MB`.
pub fn human_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KB", b as f64 / (1u64 << 10) as f64),
        b => format!("{b} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn pack_then_unpack_round_trips_content_and_modes() {
        let work = tempfile::tempdir().unwrap();
        let app = work.path().join("app");
        fs::create_dir_all(app.join("bin")).unwrap();
        fs::write(app.join("Procfile"), "web: ./bin/run\n").unwrap();
        fs::write(app.join("bin/run"), "#!/bin/sh\necho hi\n").unwrap();
        fs::set_permissions(app.join("bin/run"), fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("bin/run", app.join("link")).unwrap();

        let slugs = work.path().join("slugs");
        let first = pack(&app, &slugs).unwrap();
        let second = pack(&app, &slugs).unwrap();
        assert_eq!(first, second, "the same tree gives the same slug");
        assert_eq!(
            fs::metadata(slugs.join(first.file_name())).unwrap().len(),
            first.size
        );

        let out = unpack(&slugs, &first, &work.path().join("out")).unwrap();
        assert_eq!(
            fs::read_to_string(out.join("Procfile")).unwrap(),
            "web: ./bin/run\n"
        );
        let mode = fs::metadata(out.join("bin/run"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        assert_eq!(
            fs::read_link(out.join("link")).unwrap(),
            Path::new("bin/run")
        );
    }

    #[test]
    fn prune_keeps_only_named_slugs() {
        let work = tempfile::tempdir().unwrap();
        let app = work.path().join("app");
        fs::create_dir_all(&app).unwrap();
        let slugs = work.path().join("slugs");
        fs::write(app.join("a"), "1").unwrap();
        let old = pack(&app, &slugs).unwrap();
        unpack(&slugs, &old, &slugs.join(&old.sha256)).unwrap();
        fs::write(app.join("a"), "2").unwrap();
        let new = pack(&app, &slugs).unwrap();
        fs::write(slugs.join("notes.txt"), "not a slug").unwrap();
        let keep = HashSet::from([new.sha256.clone()]);
        assert_eq!(prune(&slugs, &keep, &keep), 1);
        assert!(!slugs.join(old.file_name()).exists());
        assert!(!slugs.join(&old.sha256).exists());
        assert!(slugs.join(new.file_name()).exists());
        assert!(slugs.join("notes.txt").exists());
    }

    #[test]
    fn prune_may_take_an_unpacked_tree_and_leave_its_tarball() {
        let work = tempfile::tempdir().unwrap();
        let app = work.path().join("app");
        fs::create_dir_all(&app).unwrap();
        fs::write(app.join("a"), "1").unwrap();
        let slugs = work.path().join("slugs");
        let slug = pack(&app, &slugs).unwrap();
        let dir = slugs.join(&slug.sha256);
        unpack(&slugs, &slug, &dir).unwrap();
        let keep = HashSet::from([slug.sha256.clone()]);
        assert_eq!(prune(&slugs, &keep, &HashSet::new()), 0);
        assert!(!dir.exists(), "the unpacked tree goes");
        assert!(slugs.join(slug.file_name()).exists(), "its tarball stays");
        // and unpacks again for the next dyno
        unpack(&slugs, &slug, &dir).unwrap();
        assert_eq!(fs::read_to_string(dir.join("a")).unwrap(), "1");
    }

    #[test]
    fn sizes_read_like_a_person_writes_them() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(2048), "2.0 KB");
        assert_eq!(human_size(15 * 1024 * 1024), "15.0 MB");
    }
}
