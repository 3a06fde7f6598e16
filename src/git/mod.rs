//! The app's bare repository: created on first push, its hooks linked to the
//! installed `hooks/`, and the pushed commit's tree exported for a build.
//!
//! `git-receive-pack` itself stays the real git; here only `git init` and
//! `git archive` run, never through a shell.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::error::{Context, Error, Result};

/// The hooks paas installs into every repo; each calls `paas hook <name>`.
pub const HOOKS: &[&str] = &["pre-receive"];

/// Creates a bare repo with paas's hooks, if it does not exist yet.
pub fn init_bare(repo: &Path, hooks_dir: &Path) -> Result<()> {
    if !repo.join("HEAD").exists() {
        let status = Command::new("git")
            .args(["init", "--bare", "--quiet", "--initial-branch=master"])
            .arg(repo)
            .stdout(Stdio::null())
            .status()
            .context(|| "running `git init`".into())?;
        if !status.success() {
            return Err(Error::unexpected(format!(
                "`git init` failed for `{}`",
                repo.display()
            )));
        }
    }
    link_hooks(repo, hooks_dir)
}

/// Points the repo's hooks at the installed ones, replacing git's samples.
pub fn link_hooks(repo: &Path, hooks_dir: &Path) -> Result<()> {
    let repo_hooks = repo.join("hooks");
    std::fs::create_dir_all(&repo_hooks)
        .context(|| format!("creating `{}`", repo_hooks.display()))?;
    for hook in HOOKS {
        let link = repo_hooks.join(hook);
        let target = hooks_dir.join(hook);
        if std::fs::read_link(&link).ok().as_deref() == Some(target.as_path()) {
            continue;
        }
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&target, &link)
            .context(|| format!("linking hook `{}`", link.display()))?;
    }
    Ok(())
}

/// Writes the tree of `commit` into `dest` (which must exist and be empty).
/// Works inside a pre-receive hook too, where the pushed objects are still in
/// git's quarantine: the hook's environment tells `git archive` where they are.
pub fn export_tree(repo: &Path, commit: &str, dest: &Path) -> Result<()> {
    let mut child = Command::new("git")
        .arg("--git-dir")
        .arg(repo)
        .args(["archive", "--format=tar", commit])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context(|| "running `git archive`".into())?;
    let stdout = child.stdout.take().expect("piped stdout");
    let mut archive = tar::Archive::new(stdout);
    archive.set_preserve_permissions(true);
    let unpacked = archive.unpack(dest);
    let mut stdout = archive.into_inner();
    if unpacked.is_ok() {
        // tar stops at the end-of-archive blocks; git still writes the
        // record's padding after them and dies of SIGPIPE if nobody reads it.
        let _ = std::io::copy(&mut stdout, &mut std::io::sink());
    } else {
        // git may still be writing: close the pipe and stop it, or it
        // blocks forever on a full pipe (holding the app's lock).
        drop(stdout);
        let _ = child.kill();
    }
    let output = child
        .wait_with_output()
        .context(|| "waiting for `git archive`".into())?;
    if unpacked.is_ok() && !output.status.success() {
        return Err(Error::new(format!("could not read commit `{commit}`"))
            .cause(String::from_utf8_lossy(&output.stderr).trim()));
    }
    unpacked.context(|| format!("exporting commit `{commit}`"))
}

/// The id git uses for "no commit" (a new or deleted branch).
pub const ZERO_ID: &str = "0000000000000000000000000000000000000000";

/// What a ref points at now, or `None` if it does not exist.
pub fn resolve_ref(repo: &Path, name: &str) -> Result<Option<String>> {
    let output = Command::new("git")
        .arg("--git-dir")
        .arg(repo)
        .args(["rev-parse", "--verify", "--quiet", name])
        .stderr(Stdio::null())
        .output()
        .context(|| "running `git rev-parse`".into())?;
    let id = String::from_utf8_lossy(&output.stdout).trim().to_string();
    Ok((output.status.success() && !id.is_empty()).then_some(id))
}

/// One line of a pre-receive hook's input: `<old> <new> <ref>`.
#[derive(Debug, PartialEq)]
pub struct RefUpdate {
    pub old: String,
    pub new: String,
    pub name: String,
}

impl RefUpdate {
    pub fn parse(line: &str) -> Option<RefUpdate> {
        let mut parts = line.split_whitespace();
        let update = RefUpdate {
            old: parts.next()?.to_string(),
            new: parts.next()?.to_string(),
            name: parts.next()?.to_string(),
        };
        parts.next().is_none().then_some(update)
    }

    pub fn is_delete(&self) -> bool {
        self.new.chars().all(|c| c == '0')
    }

    /// `master` for `refs/heads/master`.
    pub fn branch(&self) -> Option<&str> {
        self.name.strip_prefix("refs/heads/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hook_input() {
        let zero = "0".repeat(40);
        let line = format!("{zero} 1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d refs/heads/master");
        let update = RefUpdate::parse(&line).unwrap();
        assert_eq!(update.branch(), Some("master"));
        assert!(!update.is_delete());
        assert!(RefUpdate::parse("only two").is_none());
        let delete = RefUpdate::parse(&format!("abc {zero} refs/heads/x")).unwrap();
        assert!(delete.is_delete());
    }
}
