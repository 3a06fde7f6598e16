//! Frees the disk of what no release needs: `paas server prune`, and the
//! slugs a deploy leaves behind.
//!
//! What stays: the slug (or image) of each of an app's last
//! `ROLLBACK_DEPTH` releases (so `releases:rollback` works offline), the
//! unpacked tree of every release a dyno runs, and every image a setting
//! names or a container uses.

use std::collections::HashSet;

use crate::error::Result;
use crate::release::{Ledger, Release};
use crate::runtime::{KeptImages, Runtime};
use crate::state::{self, AppDir, Root, Settings};

/// How many recent releases keep their slugs for `releases:rollback`.
pub const ROLLBACK_DEPTH: usize = 10;

/// What one kind of prune removed.
#[derive(Debug, Default)]
pub struct Freed {
    pub count: usize,
    pub bytes: u64,
}

/// What `paas server prune` removed, by kind.
#[derive(Debug, Default)]
pub struct Pruned {
    /// Slug tarballs past the rollback depth and unpacked trees no dyno runs.
    pub slugs: Freed,
    /// What interrupted builds left in apps' build directories.
    pub builds: Freed,
    /// Containers of apps that no longer exist.
    pub containers: Vec<String>,
    /// Images of older stacks and add-ons, apps' images no release
    /// needs, and dangling ones.
    pub images: Vec<String>,
    /// Networks and add-on data volumes of apps and add-ons that are gone.
    pub networks: Vec<String>,
    pub volumes: Vec<String>,
}

/// The app's last `ROLLBACK_DEPTH` releases that ran (of `releases`,
/// oldest first): what stays for rollback, newest first.
pub fn rollback_releases(releases: &[Release]) -> impl Iterator<Item = &Release> {
    releases
        .iter()
        .rev()
        .filter(|r| r.failed.is_none())
        .take(ROLLBACK_DEPTH)
}

/// The images (ids) the app's last releases run, which stay for rollback.
pub fn needed_images(releases: &[Release]) -> HashSet<String> {
    rollback_releases(releases)
        .filter_map(|r| r.image.as_ref().map(|i| i.id.clone()))
        .collect()
}

/// Removes the app's images that none of its last releases run (those a
/// dyno runs stay: podman refuses). Returns what went. The caller holds
/// the app's lock: a push under way may have built one it has not
/// recorded yet.
pub fn old_images(runtime: &dyn Runtime, app: &AppDir) -> Vec<String> {
    let Ok(releases) = Ledger::new(app).list() else {
        return Vec::new();
    };
    runtime.remove_app_images(&app.name, &needed_images(&releases))
}

/// Removes slugs that none of the app's last releases run. Returns how
/// many tarballs went. The caller holds the app's lock.
pub fn old_slugs(app: &AppDir, keep_unpacked: Option<&HashSet<String>>) -> usize {
    let Some(keep) = rollback_slugs(app) else {
        return 0;
    };
    crate::slug::prune(&app.slugs_dir(), &keep, keep_unpacked.unwrap_or(&keep))
}

/// The slugs of the app's last `ROLLBACK_DEPTH` releases that ran.
fn rollback_slugs(app: &AppDir) -> Option<HashSet<String>> {
    let releases = Ledger::new(app).list().ok()?;
    Some(
        rollback_releases(&releases)
            .filter_map(|r| r.slug.as_ref().map(|s| s.sha256.clone()))
            .collect(),
    )
}

/// At least what `everything` would free of files, without asking podman
/// (whose unused images come on top): old slugs, unpacked trees of
/// releases past the rollback depth, what interrupted builds left.
pub fn reclaimable_bytes(root: &Root) -> u64 {
    root.apps()
        .unwrap_or_default()
        .iter()
        .map(|name| {
            let app = root.app(name);
            let slugs = rollback_slugs(&app).map_or(0, |keep| {
                crate::slug::prunable_bytes(&app.slugs_dir(), &keep)
            });
            slugs + build_leftover_bytes(&app)
        })
        .sum()
}

/// The bytes of what interrupted builds left: the builds dir, and what
/// image builds left in their `TMPDIR` (their cache mounts stay).
fn build_leftover_bytes(app: &AppDir) -> u64 {
    let scratch: u64 = crate::build::dockerfile::scratch_leftovers(app)
        .iter()
        .map(|path| match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.is_dir() => state::size_of_tree(path),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum();
    state::size_of_tree(&app.builds_dir()) + scratch
}

/// Why a push may not start: where builds and images go has less free
/// space than the install wants a push to have (`--min-free-disk`).
pub fn short_of_space(root: &Root, settings: &Settings) -> Option<crate::error::Error> {
    let wanted = settings.min_free_bytes();
    let storage = crate::runtime::podman::storage_dir();
    let size = crate::slug::human_size;
    let (path, free) = [root.path.as_path(), storage.as_path()]
        .into_iter()
        .filter_map(|path| Some((path, state::free_bytes(path)?)))
        .find(|(_, free)| *free < wanted)?;
    Some(
        crate::error::Error::new(format!(
            "the disk is too full for a push: `{}` has {} free, and a push needs {}",
            path.display(),
            size(free),
            size(wanted)
        ))
        .hint(format!(
            "nothing was written and the running release is untouched. `paas server prune` \
             would free {} of old slugs and build leftovers, and unused images on top. {}",
            size(reclaimable_bytes(root)),
            crate::error::DISK_FULL_HINT
        )),
    )
}

/// Prunes every app (each under its lock: a deploy under way finishes
/// first), its slugs and images, then the runtime's containers and images.
pub fn everything(root: &Root, settings: &Settings, runtime: &dyn Runtime) -> Result<Pruned> {
    let mut pruned = Pruned::default();
    let apps = root.apps()?;
    // Images some release may run, whichever app's name they carry (an
    // app renamed since keeps its images' names).
    let mut needed: HashSet<String> = HashSet::new();
    for name in &apps {
        let app = root.app(name);
        // One renamed or destroyed meanwhile is skipped, not the prune.
        let _lock = match app.lock() {
            Ok(lock) => lock,
            Err(_) if !app.exists() => continue,
            Err(err) => return Err(err),
        };
        let ledger = Ledger::new(&app);
        // The unpacked trees that stay: the current release's (the next
        // dyno or `run` starts from it) and those of releases dynos run,
        // listed under the lock (a change under way may start or stop some).
        let mut running: HashSet<u32> = runtime
            .list(Some(name))?
            .iter()
            .map(|d| d.release)
            .collect();
        if let Some(current) = ledger.current()? {
            running.insert(current.version);
        }
        let keep_unpacked: HashSet<String> = ledger
            .list()?
            .into_iter()
            .filter(|r| running.contains(&r.version))
            .filter_map(|r| r.slug.map(|s| s.sha256))
            .collect();
        pruned.images.extend(old_images(runtime, &app));
        needed.extend(needed_images(&ledger.list()?));
        let before = state::size_of_tree(&app.slugs_dir());
        pruned.slugs.count += old_slugs(&app, Some(&keep_unpacked));
        pruned.slugs.bytes += before.saturating_sub(state::size_of_tree(&app.slugs_dir()));

        let before = build_leftover_bytes(&app);
        let left = std::fs::read_dir(app.builds_dir()).map_or(0, |entries| entries.count())
            + crate::build::dockerfile::scratch_leftovers(&app).len();
        crate::build::sweep_leftovers(&app, &settings.install_id);
        pruned.builds.count += left;
        pruned.builds.bytes += before.saturating_sub(build_leftover_bytes(&app));
    }
    // Apps listed again under the lock a rename holds while its new name's
    // dynos start and its network has none yet: an app made or renamed
    // while the loop above ran is not taken for a destroyed one (podman
    // keeps a network or volume in use anyway); an app made meanwhile
    // prunes its own images.
    let _making = state::Lock::acquire_shared(&root.new_apps_lock_file())?;
    let apps = root.apps()?;
    // Containers whose app was destroyed while podman could not remove them.
    let orphans: Vec<_> = runtime
        .list(None)?
        .into_iter()
        .filter(|d| !apps.contains(&d.app))
        .collect();
    runtime.remove(&orphans, std::time::Duration::ZERO)?;
    pruned.containers = orphans.into_iter().map(|d| d.id).collect();
    let addons: Vec<String> = root.addons()?.into_iter().map(|a| a.name).collect();
    pruned.networks = crate::runtime::network::remove_orphans(settings, &apps, &addons);
    pruned.volumes =
        crate::runtime::podman::service::remove_orphan_volumes(&settings.install_id, &addons);
    pruned
        .images
        .extend(runtime.remove_unused_images(&KeptImages {
            names: &[
                &settings.run_image,
                &settings.build_image,
                &settings.postgres_image,
                &settings.redis_image,
            ],
            install_id: &settings.install_id,
            apps: &apps,
            ids: &needed,
        }));
    Ok(pruned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_builds_left_counts_as_reclaimable_but_image_builds_cache_mounts_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let app = root.app(&state::AppName::parse("web").unwrap());
        std::fs::create_dir_all(app.builds_dir().join("src-1")).unwrap();
        std::fs::write(app.path.join("app.toml"), "").unwrap();
        std::fs::write(app.builds_dir().join("src-1/main.go"), "abc").unwrap();
        let scratch = app.path.join("image-build-tmp");
        std::fs::create_dir_all(scratch.join("buildah-cache-1000")).unwrap();
        std::fs::write(scratch.join("buildah-cache-1000/cached"), [0; 100]).unwrap();
        std::fs::write(scratch.join("storage-blob"), "1234567").unwrap();
        assert_eq!(reclaimable_bytes(&root), 3 + 7);
    }
}
