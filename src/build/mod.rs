//! Builds: the pushed tree is compiled by buildpacks (Heroku's classic API:
//! `bin/detect`, `bin/compile BUILD CACHE ENV`, `bin/release`) inside a
//! rootless container from the build stack image, as the paas user's uid;
//! or, with a `Dockerfile` and no buildpack chosen, built into an image of
//! its own by rootless `podman build` (`dockerfile.rs`).

pub mod buildpacks;
pub mod dockerfile;
pub mod dockerfile_refs;
pub mod history;
mod shipped;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::duration;
use crate::error::{Context, Error, Result};
use crate::runtime::podman::{self, BuildContainer, BuildEnd};
use crate::state::{self, AppDir, Settings};
use buildpacks::{Buildpack, ReleaseInfo};

pub use shipped::SHIPPED;

/// Runs detect, compile and release inside the build container.
const DRIVER: &str = include_str!("driver.sh");

/// Where the CA bundle is on the host: builds reach package registries through it.
const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Writes the shipped buildpacks under `dir` (the installer calls this).
pub fn install_shipped(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for (name, files) in SHIPPED {
        for (path, text) in *files {
            let target = dir.join(name).join(path);
            fs::create_dir_all(target.parent().expect("has a parent"))
                .context(|| format!("creating `{}`", target.display()))?;
            state::write_atomic(&target, text.as_bytes(), 0o755)?;
            fs::set_permissions(&target, fs::Permissions::from_mode(0o755))
                .context(|| format!("making `{}` executable", target.display()))?;
        }
    }
    Ok(())
}

/// What a successful build produced: what the buildpacks' `bin/release`
/// said. Process types come from the last buildpack; config vars and
/// add-ons from all of them.
pub type BuildOutput = ReleaseInfo;

pub struct BuildRequest<'a> {
    pub settings: &'a Settings,
    pub buildpacks_dir: &'a Path,
    pub app: &'a AppDir,
    /// The exported source; compiled in place, it becomes the slug.
    pub build_dir: &'a Path,
    pub commit: &'a str,
    pub config: &'a BTreeMap<String, String>,
    /// The buildpacks to run in order; empty: detect one.
    pub buildpacks: &'a [Buildpack],
}

/// Runs the buildpacks over `build_dir`, streaming their output to stderr.
pub fn run(request: &BuildRequest) -> Result<BuildOutput> {
    let app = request.app;
    let cache = app.cache_dir();
    state::create_dir(&cache, 0o700)?;
    let work = tempfile::Builder::new()
        .prefix("build-")
        .tempdir_in(app.builds_dir())
        .context(|| "creating the build's work directory".into())?;
    let env_dir = work.path().join("env");
    let out_dir = work.path().join("out");
    state::create_dir(&env_dir, 0o700)?;
    state::create_dir(&out_dir, 0o700)?;
    for (key, value) in request.config {
        state::write_atomic(&env_dir.join(key), value.as_bytes(), 0o600)?;
    }
    let fetched = app.buildpack_cache_dir();
    state::create_dir(&fetched, 0o700)?;
    let driver_args: Vec<String> = if request.buildpacks.is_empty() {
        std::iter::once("detect".to_string())
            .chain(
                SHIPPED
                    .iter()
                    .map(|(name, _)| format!("/buildpacks/{name}")),
            )
            .collect()
    } else {
        std::iter::once("use".to_string())
            .chain(request.buildpacks.iter().map(Buildpack::driver_arg))
            .collect()
    };

    let mut mounts = vec![
        (request.build_dir.to_path_buf(), "/app", false),
        (cache, "/cache", false),
        (fetched, "/buildpack-cache", false),
        (env_dir, "/env", true),
        (out_dir.clone(), "/out", false),
        (request.buildpacks_dir.to_path_buf(), "/buildpacks", true),
    ];
    if Path::new(CA_BUNDLE).exists() {
        mounts.push((CA_BUNDLE.into(), CA_BUNDLE, true));
    }
    let env = [
        ("HOME", "/app"),
        ("STACK", "paas-bookworm"),
        ("SOURCE_VERSION", request.commit),
        ("SSL_CERT_FILE", CA_BUNDLE),
        ("PIP_CERT", CA_BUNDLE),
        ("NODE_EXTRA_CA_CERTS", CA_BUNDLE),
    ];
    let limit = request.settings.build_timeout();
    let BuildEnd { status, timed_out } = BuildContainer {
        install_id: &request.settings.install_id,
        app: &app.name,
        image: &request.settings.build_image,
        mounts,
        env: env.map(|(key, value)| (key, value.to_string())).to_vec(),
        command: ["bash", "-c", DRIVER, "driver"]
            .map(String::from)
            .into_iter()
            .chain(driver_args)
            .collect(),
        limit,
    }
    .run()?;
    if timed_out {
        return Err(timed_out_error(limit));
    }
    if !status.success() {
        // Checked before the work directory goes: a build that filled the
        // disk still holds the space.
        let message = match status.code() {
            Some(3) => "no buildpack could build this app",
            _ => "the build failed",
        };
        return Err(failed_error(message, work.path()));
    }
    let mut output = BuildOutput::default();
    for n in 1.. {
        let Some(yaml) =
            state::read_untrusted(&out_dir.join(format!("release-{n}.yml")), 64 * 1024)?
        else {
            break;
        };
        let info = buildpacks::parse_release(&yaml);
        output.default_process_types = info.default_process_types;
        output.config_vars.extend(info.config_vars);
        output.addons.extend(info.addons);
    }
    Ok(output)
}

/// A build stopped at its time limit `limit`.
fn timed_out_error(limit: std::time::Duration) -> Error {
    Error::new(format!(
        "the build ran past this server's limit of {} and was stopped",
        duration::human(limit.as_secs())
    ))
    .hint(
        "the running release is untouched. Make the build faster (the cache keeps \
         dependencies between builds), or raise the limit with \
         `paas server install --build-timeout DURATION`",
    )
}

/// A build that failed (`message`), or that filled the disk where it
/// wrote (`work`, or podman's store): it still holds the space.
fn failed_error(message: &str, work: &Path) -> Error {
    if let Some(full) = full_disk(&[work, &podman::storage_dir()]) {
        return Error::new(format!("the build failed: the disk is full ({full})")).hint(format!(
            "{}; the running release is untouched",
            crate::error::DISK_FULL_HINT
        ));
    }
    Error::new(message)
        .hint("the build output above says what went wrong; the running release is untouched")
}

/// Less than this free where a build writes, and its failure is the disk's:
/// a build that filled it still holds the space when it fails.
const NEARLY_FULL: u64 = 8 << 20;

/// Which of `paths` is on a nearly full disk: "`PATH` has 12.0 KB free".
fn full_disk(paths: &[&Path]) -> Option<String> {
    paths.iter().find_map(|path| {
        let free = state::free_bytes(path)?;
        (free < NEARLY_FULL).then(|| {
            format!(
                "`{}` has {} free",
                path.display(),
                crate::slug::human_size(free)
            )
        })
    })
}

/// Removes what an interrupted build left: a build container still running
/// (its paas process ended first), in the app's builds dir its source
/// and env files holding config vars, and what an image build left in its
/// `TMPDIR` (`dockerfile::sweep_scratch`). Called under the app lock, so
/// no build is running.
pub fn sweep_leftovers(app: &AppDir, install_id: &str) {
    dockerfile::sweep_scratch(app);
    let Ok(entries) = fs::read_dir(app.builds_dir()) else {
        return;
    };
    let left: Vec<PathBuf> = entries.flatten().map(|entry| entry.path()).collect();
    // Only an interrupted build leaves its directories, and maybe its
    // container, which goes first: it may still be writing to them.
    if !left.is_empty() {
        podman::remove_build_containers(install_id, app.name.as_str());
    }
    for dir in left {
        let _ = fs::remove_dir_all(dir);
    }
}

/// A fresh, empty directory for one build's source under the app's builds dir.
pub fn new_build_dir(app: &AppDir) -> Result<PathBuf> {
    state::create_dir(&app.builds_dir(), 0o700)?;
    let dir = tempfile::Builder::new()
        .prefix("src-")
        .tempdir_in(app.builds_dir())
        .context(|| "creating a build directory".into())?;
    Ok(dir.keep())
}

/// Removes what `.slugignore` names from the pushed tree before any
/// buildpack runs (gitignore patterns, as on Heroku, without `!`).
/// Returns how many files and directories went.
pub fn apply_slugignore(build_dir: &Path) -> Result<usize> {
    let Some(text) = state::read_untrusted(&build_dir.join(".slugignore"), 64 * 1024)? else {
        return Ok(0);
    };
    let mut builder = ignore::gitignore::GitignoreBuilder::new(build_dir);
    for line in text.lines() {
        if line.trim_start().starts_with('!') {
            continue;
        }
        builder.add_line(None, line).map_err(|err| {
            Error::new(format!(".slugignore: {err}")).hint("fix the pattern and push again")
        })?;
    }
    let matcher = builder
        .build()
        .map_err(|err| Error::new(format!(".slugignore: {err}")))?;
    let mut removed = 0;
    let mut pending = vec![build_dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = fs::read_dir(&dir).context(|| format!("listing `{}`", dir.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            // Not followed: a symlink is removed or kept as itself.
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if matcher.matched(&path, is_dir).is_ignore() {
                let result = if is_dir {
                    fs::remove_dir_all(&path)
                } else {
                    fs::remove_file(&path)
                };
                result.context(|| format!("removing `{}`", path.display()))?;
                removed += 1;
            } else if is_dir {
                pending.push(path);
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugignore_removes_what_it_names_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for file in [
            "app.py",
            "docs/big.pdf",
            "tests/t.py",
            "src/tests/keep.txt",
            "a/b/c.psd",
        ] {
            fs::create_dir_all(root.join(file).parent().unwrap()).unwrap();
            fs::write(root.join(file), "x").unwrap();
        }
        fs::write(
            root.join(".slugignore"),
            "# docs\n*.psd\n/tests\ndocs/\n!app.py\n",
        )
        .unwrap();
        assert_eq!(apply_slugignore(root).unwrap(), 3);
        assert!(root.join("app.py").exists());
        assert!(
            root.join("src/tests/keep.txt").exists(),
            "/tests is anchored"
        );
        assert!(!root.join("docs").exists());
        assert!(!root.join("tests").exists());
        assert!(!root.join("a/b/c.psd").exists());
        assert!(root.join("a/b").exists());
    }
}
