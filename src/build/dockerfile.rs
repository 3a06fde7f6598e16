//! Dockerfile builds (#22): an app with a `Dockerfile` at the root of its
//! tree, and no buildpack chosen, is built by rootless `podman build` into
//! an image of its own, within the build's time limit, its output streamed
//! to the push as a buildpack build's is.
//!
//! The build gets no config vars: what a step is given stays in the
//! image's history for anyone who can read the image, so secrets belong in
//! the running dynos' environment, as on Heroku.

use std::path::Path;

use super::buildpacks::Source;
use super::{failed_error, timed_out_error};
use crate::error::{Error, Result};
use crate::runtime::podman::app_images::{self, ImageBuild, ImageInfo};
use crate::state::Settings;

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

/// Builds the tree at `build_dir` into the image `name`, and reads back
/// what it is.
pub fn build(settings: &Settings, build_dir: &Path, name: &str) -> Result<ImageInfo> {
    let limit = settings.build_timeout();
    let end = ImageBuild {
        context: build_dir,
        name,
        limit,
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
}
