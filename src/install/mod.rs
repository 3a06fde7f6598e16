//! `paas server install`: sets up a machine, as root, idempotently. Every
//! step checks before it acts and says what it did; a second run changes
//! nothing and says so.

mod host;
pub mod sshd;
mod stack;

pub use host::{
    pid_alive, podman_as, start_daemon, supervisor_pid_file, systemd_running, user_home, user_uid,
};

use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::cli::InstallArgs;
use crate::error::{Context, Error, Result};
use crate::state::{self, Root, Settings};

/// Collects what each step did, to tell a no-op from a change.
pub struct Report {
    changed: bool,
}

impl Report {
    fn done(&mut self, what: &str) {
        self.changed = true;
        say!("-----> {what}");
    }
    fn ok(&self, what: &str) {
        say!("       ok: {what}");
    }
}

/// A short id for the install, derived from its root so it is stable
/// across reinstalls and different for every root.
pub fn install_id(root: &Path) -> String {
    let digest = Sha256::digest(root.as_os_str().as_encoded_bytes());
    digest.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

/// Installs on one machine run one at a time: they share the user, its
/// subordinate ids and the stack images.
const INSTALL_LOCK: &str = "/run/lock/paas-install.lock";

pub fn install(root: &Root, args: &InstallArgs) -> Result<()> {
    host::require_root()?;
    fs::create_dir_all("/run/lock").context(|| "creating `/run/lock`".into())?;
    let _lock = state::Lock::acquire(
        Path::new(INSTALL_LOCK),
        "waiting for another `paas server install` on this machine to finish…",
    )?;
    let mut report = Report { changed: false };
    host::ensure_packages(&mut report)?;
    host::ensure_user(&args.user, &mut report)?;
    host::ensure_runtime_dir(&args.user, &mut report)?;
    host::ensure_tun_device(&mut report)?;
    host::ensure_podman_storage(&args.user, &mut report)?;

    let root_path = absolute(&root.path)?;
    if !crate::ssh::safe_in_forced_command(&root_path.to_string_lossy()) {
        return Err(Error::new(format!(
            "the root `{}` holds characters a shell would act on",
            root_path.display()
        ))
        .hint("use letters, digits, `/`, `.`, `_` and `-` only: SSH runs paas through the user's shell"));
    }
    check_reachable(&root_path, &args.user)?;
    let root = Root::new(&root_path);
    let http_port = args.http_port.unwrap_or(if args.local { 8080 } else { 80 });
    let ssh_port = if args.local { args.ssh_port } else { 22 };
    let images = stack::ensure_images(args, &mut report)?;
    host::ensure_podman_runtime(&args.user, &images.run, &mut report)?;
    let limits_enforced = host::limits_enforced(&args.user, &images.run, &mut report)?;

    let settings = Settings {
        domain: args.domain.clone(),
        http_port,
        ssh_port,
        local: args.local,
        install_id: install_id(&root_path),
        user: args.user.clone(),
        run_image: args.run_image.clone().unwrap_or(images.run),
        build_image: args.build_image.clone().unwrap_or(images.build),
        limits_enforced,
    };
    ensure_root_files(&root, &settings, &mut report)?;
    if let Some(key) = &args.admin_key {
        ensure_admin_key(&root, &settings, key, &mut report)?;
    } else if !root.authorized_keys().exists() {
        say!(" !     no `--admin-key` given: nobody can push until one is added");
    }
    if args.local {
        sshd::ensure_running(&root, &settings, &mut report)?;
    } else {
        sshd::ensure_system_sshd_keys(&root, &settings, &mut report)?;
    }
    host::ensure_daemon(&root, &settings, &mut report)?;

    if report.changed {
        say!("-----> paas is installed at `{}`", root.path.display());
    } else {
        say!(
            "-----> nothing to change: paas is already installed at `{}`",
            root.path.display()
        );
    }
    let host = if args.local {
        "127.0.0.1"
    } else {
        "<this server>"
    };
    say!("       push an app:  git remote add deploy ssh://{}@{host}:{}/myapp && git push deploy master", settings.user, settings.ssh_port);
    say!(
        "       then open:    http://myapp.{}:{}/",
        settings.domain,
        settings.http_port
    );
    Ok(())
}

fn absolute(path: &Path) -> Result<PathBuf> {
    fs::create_dir_all(path).context(|| format!("creating `{}`", path.display()))?;
    fs::canonicalize(path).context(|| format!("resolving `{}`", path.display()))
}

/// The owner must be able to enter every directory above the root, or sshd's
/// forced command and the daemon cannot start.
fn check_reachable(root: &Path, user: &str) -> Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let uid = host::user_uid(user)?;
    for dir in root.ancestors().skip(1) {
        let meta = fs::metadata(dir).context(|| format!("reading `{}`", dir.display()))?;
        let mode = meta.permissions().mode();
        let enterable = mode & 0o001 != 0 || (meta.uid() == uid && mode & 0o100 != 0);
        if !enterable {
            return Err(Error::new(format!(
                "the `{user}` user cannot reach `{}`: `{}` is mode {:o}",
                root.display(),
                dir.display(),
                mode & 0o7777
            ))
            .hint(format!(
                "choose a root outside `{}`, or `chmod o+x` it",
                dir.display()
            )));
        }
    }
    Ok(())
}

/// The state root, its directories, the binary, hooks, buildpacks and settings.
fn ensure_root_files(root: &Root, settings: &Settings, report: &mut Report) -> Result<()> {
    for (dir, mode) in [
        (root.path.clone(), 0o755),
        (root.apps_dir(), 0o750),
        (root.keys_dir(), 0o700),
        (root.run_dir(), 0o755),
        (root.logs_dir(), 0o750),
        (root.etc_dir(), 0o755),
        (root.path.join("bin"), 0o755),
    ] {
        state::create_dir(&dir, mode)?;
    }

    let current = std::env::current_exe().context(|| "finding this program".into())?;
    let installed = root.bin();
    if fs::read(&current).ok() != fs::read(&installed).ok() {
        let temp = installed.with_extension("new");
        fs::copy(&current, &temp).context(|| format!("copying paas to `{}`", temp.display()))?;
        fs::rename(&temp, &installed)
            .context(|| format!("installing `{}`", installed.display()))?;
        report.done(&format!(
            "installed the paas binary at `{}`",
            installed.display()
        ));
    } else {
        report.ok("paas binary");
    }

    let hook = root.hooks_dir().join("pre-receive");
    let hook_text = include_str!("../../hooks/pre-receive");
    if fs::read_to_string(&hook).ok().as_deref() != Some(hook_text) {
        state::create_dir(&root.hooks_dir(), 0o755)?;
        state::write_atomic(&hook, hook_text.as_bytes(), 0o755)?;
        report.done("installed the git hooks");
    } else {
        report.ok("git hooks");
    }
    // Repos made by an older install point at the same hooks dir; relink anyway.
    for app in root.apps()? {
        crate::git::link_hooks(&root.app(&app).repo(), &root.hooks_dir())?;
    }

    let before = buildpacks_fingerprint(&root.buildpacks_dir());
    crate::build::install_shipped(&root.buildpacks_dir())?;
    if before != buildpacks_fingerprint(&root.buildpacks_dir()) {
        report.done("installed the buildpacks");
    } else {
        report.ok("buildpacks");
    }

    let existing: Option<Settings> = root.settings().ok();
    if existing.as_ref() != Some(settings) {
        state::write_toml(&root.settings_file(), settings, 0o644)?;
        report.done(&format!("wrote `{}`", root.settings_file().display()));
    } else {
        report.ok("settings");
    }
    host::chown_tree(&root.path, &settings.user)?;
    Ok(())
}

fn buildpacks_fingerprint(dir: &Path) -> Vec<u8> {
    let mut hasher = Sha256::new();
    for (name, files) in crate::build::SHIPPED {
        for (path, _) in *files {
            hasher.update(fs::read(dir.join(name).join(path)).unwrap_or_default());
        }
    }
    hasher.finalize().to_vec()
}

/// Writes the admin's key and regenerates `authorized_keys` from `keys/*.pub`.
fn ensure_admin_key(
    root: &Root,
    settings: &Settings,
    key_file: &Path,
    report: &mut Report,
) -> Result<()> {
    let text = fs::read_to_string(key_file).map_err(|err| {
        Error::new(format!(
            "cannot read the admin key `{}`",
            key_file.display()
        ))
        .cause(err)
    })?;
    let key = crate::ssh::parse_public_key(&text).map_err(|reason| {
        Error::new(format!(
            "`{}` is not an SSH public key: {reason}",
            key_file.display()
        ))
        .hint("pass the `.pub` file, such as `~/.ssh/id_ed25519.pub`")
    })?;
    let stored = root.keys_dir().join("admin.pub");
    if fs::read_to_string(&stored).ok().as_deref() != Some(&format!("{key}\n")) {
        state::write_atomic(&stored, format!("{key}\n").as_bytes(), 0o600)?;
        report.done("added the admin key");
    } else {
        report.ok("admin key");
    }
    write_authorized_keys(root, settings)
}

/// `authorized_keys` is derived from `keys/<user>.pub`, so it is rewritten
/// whole and atomically.
pub fn write_authorized_keys(root: &Root, settings: &Settings) -> Result<()> {
    let mut lines = String::new();
    let mut entries: Vec<_> = fs::read_dir(root.keys_dir())
        .context(|| "listing keys".into())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "pub"))
        .collect();
    entries.sort();
    for path in entries {
        let user = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("admin")
            .to_string();
        let key = fs::read_to_string(&path).context(|| format!("reading `{}`", path.display()))?;
        lines.push_str(&crate::ssh::authorized_keys_line(
            &root.bin().display().to_string(),
            &root.path.display().to_string(),
            &user,
            &key,
        ));
        lines.push('\n');
    }
    let path = sshd::authorized_keys_path(root, settings)?;
    if fs::read_to_string(&path).ok().as_deref() != Some(lines.as_str()) {
        if let Some(parent) = path.parent() {
            state::create_dir(parent, 0o700)?;
        }
        state::write_atomic(&path, lines.as_bytes(), 0o600)?;
        host::chown_tree(path.parent().expect("has a parent"), &settings.user)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_ids_differ_per_root() {
        let a = install_id(Path::new("/tmp/a"));
        assert_eq!(a.len(), 8);
        assert_eq!(a, install_id(Path::new("/tmp/a")));
        assert_ne!(a, install_id(Path::new("/tmp/b")));
    }
}
