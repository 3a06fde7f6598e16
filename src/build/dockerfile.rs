//! Dockerfile builds (#22): an app with a `Dockerfile` at the root of its
//! tree, and no buildpack chosen, is built by rootless `podman build` into
//! an image of its own, within the build's time limit, its output streamed
//! to the push as a buildpack build's is.
//!
//! The build gets no config vars: what a step is given stays in the
//! image's history for anyone who can read the image, so secrets belong in
//! the running dynos' environment, as on Heroku.

use std::path::{Path, PathBuf};

use super::buildpacks::Source;
use super::dockerfile_refs;
use super::{failed_error, timed_out_error};
use crate::error::Context;
use crate::error::{Error, Result};
use crate::runtime::podman::app_images::{self, ImageBuild, ImageInfo};
use crate::runtime::podman::images::is_app_image;
use crate::state::{AppDir, Settings};

/// The longest Dockerfile read for its image references (one this long
/// is surely a mistake).
const DOCKERFILE_LIMIT: u64 = 1 << 20;

/// Whether the pushed tree is built from its Dockerfile: it has one at
/// its root (a file of the tree: a link out of it would have podman read
/// a file of the server's), and no buildpack was chosen (`buildpacks:set`,
/// `BUILDPACK_URL` or `.buildpacks`), which wins.
pub fn wanted(source: &Source, build_dir: &Path) -> bool {
    let inside = |root: &Path| {
        let file = std::fs::canonicalize(root.join("Dockerfile")).ok()?;
        let root = std::fs::canonicalize(root).ok()?;
        Some(file.starts_with(root) && file.is_file())
    };
    matches!(source, Source::Detect) && inside(build_dir) == Some(true)
}

/// Builds `app`'s tree at `build_dir` into the image `name`, and reads
/// back what it is. Refused before podman runs when the Dockerfile names
/// an image not for this app's builds (`dockerfile_refs`).
pub fn build(settings: &Settings, app: &AppDir, build_dir: &Path, name: &str) -> Result<ImageInfo> {
    check_images(settings, app, build_dir)?;
    // buildah keeps `RUN --mount=type=cache` directories under $TMPDIR,
    // which would be one for every app's builds: one app's build could
    // read what another's cached, or put what it likes there for the
    // other's next build.
    let scratch = scratch_dir(app);
    std::fs::create_dir_all(&scratch).context(|| format!("creating `{}`", scratch.display()))?;
    // However the build ends (failed, timed out, an error here), what it
    // left there but the cache goes with it.
    let _swept_at_end = SweptAtEnd(app);
    let limit = settings.build_timeout();
    let end = ImageBuild {
        context: build_dir,
        name,
        limit,
        scratch: &scratch,
    }
    .run()?;
    if end.timed_out {
        return Err(timed_out_error(limit));
    }
    if !end.status.success() {
        return Err(failed_error("the Dockerfile's build failed", build_dir));
    }
    app_images::inspect(name)?
        .ok_or_else(|| Error::unexpected(format!("`podman build` left no image named `{name}`")))
}

/// The `TMPDIR` of the app's image builds: one per app, and the same for
/// each of its builds, as buildah finds the cache mounts there.
fn scratch_dir(app: &AppDir) -> PathBuf {
    app.path.join("image-build-tmp")
}

/// Whether an entry of the scratch directory is kept between builds:
/// buildah's `RUN --mount=type=cache` directories (`buildah-cache-<uid>`),
/// which are there to outlive a build. Anything else is one build's
/// (blobs podman writes while it commits or pulls, buildah's own
/// temporary directories), which it removes itself unless it is killed:
/// at the build's time limit, or with the push.
fn kept_between_builds(name: &std::ffi::OsStr) -> bool {
    name.to_string_lossy().starts_with("buildah-cache")
}

/// What builds left in the app's image builds' `TMPDIR`, their cache
/// mounts apart.
pub fn scratch_leftovers(app: &AppDir) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(scratch_dir(app)) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|entry| !kept_between_builds(&entry.file_name()))
        .map(|entry| entry.path())
        .collect()
}

/// Removes what builds left in the app's image builds' `TMPDIR`, the
/// cache mounts apart. Only under the app's lock, so no build of the app
/// is under way: at a build's end, and in `build::sweep_leftovers` (a
/// push, the daemon's pass, `server prune`) for a build killed before.
pub fn sweep_scratch(app: &AppDir) {
    for path in scratch_leftovers(app) {
        // A directory or a file; what cannot be removed (a file a step
        // made as another uid of the container) is tried again next time.
        let _ = std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
    }
}

/// Sweeps the scratch directory when dropped: at the end of a build,
/// whichever way it ends.
struct SweptAtEnd<'a>(&'a AppDir);

impl Drop for SweptAtEnd<'_> {
    fn drop(&mut self) {
        sweep_scratch(self.0);
    }
}

/// Refuses the build when its Dockerfile names another app's image.
fn check_images(settings: &Settings, app: &AppDir, build_dir: &Path) -> Result<()> {
    let path = build_dir.join("Dockerfile");
    let size = std::fs::metadata(&path)
        .context(|| "reading the Dockerfile".into())?
        .len();
    if size > DOCKERFILE_LIMIT {
        return Err(Error::new(format!(
            "the Dockerfile is {size} bytes, more than paas reads ({DOCKERFILE_LIMIT})"
        )));
    }
    let text = std::fs::read_to_string(&path).context(|| "reading the Dockerfile".into())?;
    let own = app_images::own_prefix(&settings.install_id, &app.name);
    dockerfile_refs::check(
        &dockerfile_refs::images_named(&text),
        &own,
        &is_app_image,
        &PodmanStore,
    )
}

/// The check's questions, asked of podman.
struct PodmanStore;

impl dockerfile_refs::Store for PodmanStore {
    fn resolve(&self, reference: &str) -> Result<Option<dockerfile_refs::Found>> {
        Ok(
            app_images::names_of(reference)?
                .map(|(id, names)| dockerfile_refs::Found { id, names }),
        )
    }
    fn pull(&self, reference: &str) -> Result<()> {
        say!("-----> Pulling {reference}");
        app_images::pull(reference)
    }
    fn triggers(&self, id: &str) -> Result<Vec<String>> {
        app_images::onbuild_triggers(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dockerfile_builds_the_app_unless_a_buildpack_was_chosen() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!wanted(&Source::Detect, dir.path()), "no Dockerfile");
        std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").unwrap();
        assert!(wanted(&Source::Detect, dir.path()));
        for chosen in [Source::Set, Source::ConfigVar, Source::File] {
            assert!(!wanted(&chosen, dir.path()), "{chosen:?}");
        }
        // A link in the tree is followed; one out of it is not.
        std::fs::rename(
            dir.path().join("Dockerfile"),
            dir.path().join("Dockerfile.prod"),
        )
        .unwrap();
        std::os::unix::fs::symlink("Dockerfile.prod", dir.path().join("Dockerfile")).unwrap();
        assert!(wanted(&Source::Detect, dir.path()));
        std::fs::remove_file(dir.path().join("Dockerfile")).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", dir.path().join("Dockerfile")).unwrap();
        assert!(!wanted(&Source::Detect, dir.path()));
    }

    #[test]
    fn what_a_build_leaves_in_its_tmpdir_goes_but_the_cache_mounts() {
        let dir = tempfile::tempdir().unwrap();
        let app =
            crate::state::Root::new(dir.path()).app(&crate::state::AppName::parse("web").unwrap());
        let scratch = scratch_dir(&app);
        // Nothing yet: nothing to sweep, and no directory made.
        sweep_scratch(&app);
        assert!(!scratch.exists());
        let cache = scratch.join("buildah-cache-1000/3b5c1e");
        std::fs::create_dir_all(&cache).unwrap();
        std::fs::write(cache.join("wheel.whl"), "cached").unwrap();
        // As a killed podman leaves them: a blob and a directory of its own.
        std::fs::write(scratch.join("container_images_storage123"), "blob").unwrap();
        std::fs::create_dir_all(scratch.join("buildah4567/mnt")).unwrap();
        std::fs::write(scratch.join("buildah4567/mnt/file"), "x").unwrap();
        let mut left = scratch_leftovers(&app);
        left.sort();
        assert_eq!(
            left,
            [
                scratch.join("buildah4567"),
                scratch.join("container_images_storage123")
            ]
        );

        // At a build's end, however it ends.
        {
            let _swept = SweptAtEnd(&app);
        }
        assert!(scratch_leftovers(&app).is_empty());
        assert_eq!(
            std::fs::read_to_string(cache.join("wheel.whl")).unwrap(),
            "cached"
        );

        // What a killed build left, at the next sweep under the app's lock.
        std::fs::write(scratch.join("storage-blob"), "blob").unwrap();
        crate::build::sweep_leftovers(&app, "no-such-install");
        assert!(scratch_leftovers(&app).is_empty());
        assert!(cache.join("wheel.whl").exists());
    }
}
