//! A release as an OCI image (#24 point 2), for schedulers other than
//! this machine's podman: the stack's run image plus the slug at `/app`
//! and a launcher that does what a dyno's entrypoint does here (config
//! vars, `.profile.d`, then the process type's command). Built rootless by
//! `podman build` of a generated Containerfile, no Docker daemon; pushed
//! to a registry by `podman push`, which reports the manifest's digest.
//! An app built from its Dockerfile already is an image: it is pushed as
//! it is.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use super::app_images::ImageBuild;
use super::command;
use crate::error::{Context, Error, Result};

/// Where the image keeps what is not the app's: the launcher and the
/// Procfile's commands, one file per process type.
pub const LAUNCHER: &str = "/paas/launcher";

/// The image's user: not root, so clusters that insist on `runAsNonRoot`
/// run it; it owns `/app`, which apps write to as on Heroku.
pub const IMAGE_UID: u32 = 1000;

/// Run as the image's entrypoint. Config vars come from the container's
/// environment (Kubernetes' Secret, `podman run --env`), or from
/// `/etc/paas/env` where one is mounted, as in a dyno here; then
/// `.profile.d`; then a process type's command (`web`) by bash, as a
/// Procfile line, or any other command as it is (`bash`, `rake db:migrate`).
const LAUNCHER_SCRIPT: &str = r#"#!/bin/bash
# paas release image launcher: config vars, .profile.d, then the command.
if [ -r /etc/paas/env ]; then set -a; . /etc/paas/env; set +a; fi
export HOME=/app PORT="${PORT:-5000}"
cd /app || exit 1
for f in /app/.profile.d/*.sh; do [ -r "$f" ] && . "$f"; done
if [ "$#" -eq 1 ] && [ -f "/paas/processes/$1" ]; then
  # `web.<pod name>` on Kubernetes, whose pods are named, not numbered.
  export DYNO="${DYNO:-$1.$HOSTNAME}"
  exec bash -c "$(cat "/paas/processes/$1")"
fi
exec "$@"
"#;

/// The Containerfile of a release's image: its layers are the run image's
/// and two more, the slug and the launcher with the commands.
pub fn containerfile(run_image: &str, app: &str, version: u32) -> String {
    format!(
        "FROM {run_image}\n\
         COPY --chown={IMAGE_UID}:{IMAGE_UID} app /app\n\
         COPY paas /paas\n\
         ENV HOME=/app PORT=5000\n\
         WORKDIR /app\n\
         USER {IMAGE_UID}:{IMAGE_UID}\n\
         LABEL paas.app={app} paas.release={version}\n\
         ENTRYPOINT [\"{LAUNCHER}\"]\n\
         CMD [\"web\"]\n"
    )
}

/// One release's image to build from its unpacked slug.
pub struct SlugImage<'a> {
    /// The unpacked slug (`slugs/<sha256>/`).
    pub slug_dir: &'a Path,
    /// A directory on the slug's file system where the build's context
    /// is made (hard links, so no byte of the slug is copied).
    pub work_dir: &'a Path,
    /// The stack's run image, which dynos run here.
    pub run_image: &'a str,
    pub app: &'a str,
    pub version: u32,
    /// The release's process types and their commands.
    pub processes: &'a BTreeMap<String, String>,
    /// What to tag it locally (`app_images::app_image_name`).
    pub name: &'a str,
    pub limit: Duration,
}

impl SlugImage<'_> {
    /// Builds it, podman's output on stderr; returns the image's id.
    pub fn build(self) -> Result<String> {
        let context = tempfile::Builder::new()
            .prefix(".image-")
            .tempdir_in(self.work_dir)
            .context(|| format!("making a directory in `{}`", self.work_dir.display()))?;
        link_tree(self.slug_dir, &context.path().join("app"))?;
        let paas = context.path().join("paas");
        let processes = paas.join("processes");
        fs::create_dir_all(&processes).context(|| "making the image's context".into())?;
        crate::state::write_atomic(&paas.join("launcher"), LAUNCHER_SCRIPT.as_bytes(), 0o755)?;
        for (process_type, line) in self.processes {
            crate::state::write_atomic(&processes.join(process_type), line.as_bytes(), 0o644)?;
        }
        let file = containerfile(self.run_image, self.app, self.version);
        crate::state::write_atomic(&context.path().join("Dockerfile"), file.as_bytes(), 0o644)?;
        // buildah's own temporary files, beside the context (not in it,
        // where they would be sent as context) and the app's alone.
        let scratch = tempfile::Builder::new()
            .prefix(".image-tmp-")
            .tempdir_in(self.work_dir)
            .context(|| format!("making a directory in `{}`", self.work_dir.display()))?;
        let end = ImageBuild {
            context: context.path(),
            name: self.name,
            limit: self.limit,
            scratch: scratch.path(),
        }
        .run()?;
        if end.timed_out {
            return Err(Error::new(format!(
                "building the image took longer than {} s",
                self.limit.as_secs()
            )));
        }
        if !end.status.success() {
            return Err(Error::new("`podman build` of the release's image failed")
                .hint("its output above says why; `paas server status` checks podman"));
        }
        let image = super::app_images::inspect(self.name)?
            .ok_or_else(|| Error::unexpected(format!("`podman build` left no `{}`", self.name)))?;
        Ok(image.id)
    }
}

/// `from`'s tree again at `to`, its files hard links: the slug is read,
/// never written, and the build copies what it reads into its layer.
fn link_tree(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir(to).context(|| format!("making `{}`", to.display()))?;
    for entry in fs::read_dir(from).context(|| format!("reading `{}`", from.display()))? {
        let entry = entry.context(|| format!("reading `{}`", from.display()))?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        let kind = entry
            .file_type()
            .context(|| format!("reading `{}`", source.display()))?;
        let linked = if kind.is_dir() {
            link_tree(&source, &target)?;
            Ok(())
        } else if kind.is_symlink() {
            fs::read_link(&source)
                .and_then(|points_to| std::os::unix::fs::symlink(points_to, &target))
        } else {
            fs::hard_link(&source, &target).or_else(|_| fs::copy(&source, &target).map(drop))
        };
        linked.context(|| format!("linking `{}` into the image's context", source.display()))?;
    }
    Ok(())
}

/// Where a pushed image is: the registry's name for it with the digest
/// of its manifest, which names the same bytes wherever it is pulled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// `registry.example.com:5000/myapp:v7`
    pub tag: String,
    /// `sha256:<hex>`
    pub digest: String,
}

impl Pushed {
    /// `registry.example.com:5000/myapp:v7@sha256:…`: the tag for people,
    /// the digest for what runs.
    pub fn reference(&self) -> String {
        format!("{}@{}", self.tag, self.digest)
    }
}

/// Pushes the local image `image` (an id or a name) to `tag` in its
/// registry, podman's progress on stderr. `tls_verify` is false only for
/// a registry the admin named insecure (plain HTTP on a private network).
pub fn push(image: &str, tag: &str, tls_verify: bool) -> Result<Pushed> {
    let digest_file =
        tempfile::NamedTempFile::new().context(|| "making a temporary file".into())?;
    let status = command()
        .arg("push")
        .arg(format!("--tls-verify={tls_verify}"))
        .arg("--digestfile")
        .arg(digest_file.path())
        .arg(image)
        .arg(format!("docker://{tag}"))
        .stdin(Stdio::null())
        .stdout(std::io::stderr())
        .status()
        .context(|| "running `podman push`".into())?;
    if !status.success() {
        let registry = tag.split('/').next().unwrap_or(tag);
        return Err(
            Error::new(format!("`podman push` to `{tag}` failed")).hint(format!(
                "its output above says why; a registry that needs a login takes \
                 `podman login {registry}` as the server's `paas` user once"
            )),
        );
    }
    let digest = fs::read_to_string(digest_file.path())
        .context(|| "reading `podman push`'s digest file".into())?;
    let digest = digest.trim();
    if !is_digest(digest) {
        return Err(Error::unexpected(format!(
            "`podman push` reported the digest `{digest}`"
        )));
    }
    Ok(Pushed {
        tag: tag.to_string(),
        digest: digest.to_string(),
    })
}

/// `sha256:` and 64 lowercase hex digits.
pub fn is_digest(text: &str) -> bool {
    text.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_image_runs_the_launcher_as_a_user_that_owns_app() {
        let file = containerfile("localhost/paas-stack-run:bookworm-1234", "shop", 7);
        assert!(file.starts_with("FROM localhost/paas-stack-run:bookworm-1234\n"));
        assert!(file.contains("COPY --chown=1000:1000 app /app\n"));
        assert!(file.contains("USER 1000:1000\n"));
        assert!(file.contains("ENTRYPOINT [\"/paas/launcher\"]\nCMD [\"web\"]\n"));
        assert!(file.contains("LABEL paas.app=shop paas.release=7\n"));
    }

    #[test]
    fn the_slug_is_linked_not_copied() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let slug = dir.path().join("slug");
        fs::create_dir_all(slug.join(".profile.d")).unwrap();
        fs::write(slug.join("Procfile"), "web: ./run\n").unwrap();
        fs::write(slug.join(".profile.d/a.sh"), "export A=1\n").unwrap();
        std::os::unix::fs::symlink("Procfile", slug.join("link")).unwrap();
        let to = dir.path().join("context/app");
        fs::create_dir(dir.path().join("context")).unwrap();
        link_tree(&slug, &to).unwrap();
        let inode = |p: &Path| fs::metadata(p).unwrap().ino();
        assert_eq!(inode(&slug.join("Procfile")), inode(&to.join("Procfile")));
        assert_eq!(
            fs::read_to_string(to.join(".profile.d/a.sh")).unwrap(),
            "export A=1\n"
        );
        assert_eq!(
            fs::read_link(to.join("link")).unwrap(),
            Path::new("Procfile")
        );
    }

    #[test]
    fn digests_are_sha256_in_hex() {
        let hex = "a".repeat(64);
        assert!(is_digest(&format!("sha256:{hex}")));
        assert!(!is_digest(&hex));
        assert!(!is_digest("sha256:ABC"));
        assert!(!is_digest(&format!("sha256:{}", "g".repeat(64))));
    }
}
