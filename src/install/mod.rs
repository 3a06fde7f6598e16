//! `paas server install`: sets up a machine, as root, idempotently. Every
//! step checks before it acts and says what it did; a second run changes
//! nothing and says so.

mod host;
mod options;
mod podman_setup;
mod ports;
pub mod programs;
pub mod sshd;
mod stack;
mod supervise;

pub use options::InstallArgs;
pub use supervise::{pid_alive, start_daemon, supervisor_pid_file, systemd_running};

use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Context, Error, Result};
use crate::keys::{authorized_keys_path, Key, Registry, FIRST_ADMIN};
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

pub fn install(root: &Root, args: &InstallArgs, shell_files: &[ShellFile]) -> Result<()> {
    host::require_root()?;
    fs::create_dir_all("/run/lock").context(|| "creating `/run/lock`".into())?;
    let _lock = state::Lock::acquire(
        Path::new(INSTALL_LOCK),
        "waiting for another `paas server install` on this machine to finish…",
    )?;
    let root_path = absolute(&root.path)?;
    if !crate::ssh::safe_in_forced_command(&root_path.to_string_lossy()) {
        return Err(Error::new(format!(
            "the root `{}` holds characters a shell would act on",
            root_path.display()
        ))
        .hint("use letters, digits, `/`, `.`, `_` and `-` only: SSH runs paas through the user's shell"));
    }
    let root = Root::new(&root_path);
    // Installing again (an upgrade) keeps the ports and domain the install
    // has, unless the options change them.
    let installed = root.settings().ok();
    let http_port = args
        .http_port
        .or(installed.as_ref().map(|s| s.http_port))
        .unwrap_or(if args.local { 8080 } else { 80 });
    let https_port = args
        .https_port
        .or(installed.as_ref().and_then(|s| s.https_port))
        .unwrap_or(if args.local { 8443 } else { 443 });
    let ssh_port = match args.local {
        true => args
            .ssh_port
            .or(installed.as_ref().filter(|s| s.local).map(|s| s.ssh_port))
            .unwrap_or(2222),
        false => 22,
    };
    let domain = args
        .domain
        .clone()
        .or(installed.as_ref().map(|s| s.domain.clone()))
        .unwrap_or_else(|| "localhost".into());
    // Before anything starts: a port another program holds fails the
    // install now, with nothing changed, rather than half-way.
    ports::check_free(
        &root,
        installed.as_ref(),
        args.local,
        ssh_port,
        http_port,
        https_port,
    )?;
    // The admin key is read before anything is written, too.
    if let Some(key) = &args.admin_key {
        read_admin_key(key)?;
    }
    let mut report = Report { changed: false };
    host::ensure_packages(&mut report)?;
    host::ensure_user(&args.user, &mut report)?;
    host::ensure_runtime_dir(&args.user, &mut report)?;
    host::ensure_tun_device(&mut report)?;
    podman_setup::ensure_podman_storage(&args.user, &mut report)?;
    podman_setup::ensure_podman_usable(&args.user, &mut report)?;

    check_reachable(&root_path, &args.user)?;
    let images = stack::ensure_images(args, &mut report)?;
    podman_setup::ensure_podman_runtime(&args.user, &images.run, &mut report)?;
    let limits_enforced = podman_setup::limits_enforced(&args.user, &images.run, &mut report)?;

    let settings = Settings {
        domain,
        http_port,
        https_port: Some(https_port),
        ssh_port,
        local: args.local,
        install_id: install_id(&root_path),
        user: args.user.clone(),
        run_image: args.run_image.clone().unwrap_or(images.run),
        build_image: args.build_image.clone().unwrap_or(images.build),
        limits_enforced,
        postgres_image: images.postgres,
        redis_image: images.redis,
        checks_uptime_secs: installed.as_ref().and_then(|s| s.checks_uptime_secs),
        acme_directory: args
            .acme_directory
            .clone()
            .or(installed.as_ref().and_then(|s| s.acme_directory.clone())),
        acme_ca: match &args.acme_ca {
            Some(file) => Some(copy_acme_ca(&root, file)?),
            None => installed.as_ref().and_then(|s| s.acme_ca.clone()),
        },
        acme_email: args
            .acme_email
            .clone()
            .or(installed.as_ref().and_then(|s| s.acme_email.clone())),
        slug_limit_mb: args
            .slug_limit_mb
            .or(installed.as_ref().and_then(|s| s.slug_limit_mb)),
        min_free_mb: args
            .min_free_mb
            .or(installed.as_ref().and_then(|s| s.min_free_mb)),
        build_timeout_secs: args
            .build_timeout
            .or(installed.as_ref().and_then(|s| s.build_timeout_secs)),
        release_timeout_secs: args
            .release_timeout
            .or(installed.as_ref().and_then(|s| s.release_timeout_secs)),
        private_urls: args
            .allow_private_urls
            .or(installed.as_ref().and_then(|s| s.private_urls)),
        // Set by `dashboard:certs:auto:enable`, kept by a reinstall.
        dashboard_certs_auto: installed.as_ref().is_some_and(|s| s.dashboard_certs_auto),
    };
    let binary_changed = ensure_root_files(&root, &settings, &mut report)?;
    if let Some(key) = &args.admin_key {
        ensure_admin_key(&root, &settings, key, &mut report)?;
    } else if !root.authorized_keys().exists() {
        say!(" !     no `--admin-key` given: nobody can push until one is added");
    }
    ensure_apps_owned(&root, &settings, &mut report)?;
    // What this install starts, it stops again if a later step fails: a
    // failed install leaves nothing running that was not running before.
    let sshd_was_running = args.local && sshd::running(&root);
    let started = (|| {
        if args.local {
            sshd::ensure_running(&root, &settings, &mut report)?;
        } else {
            sshd::ensure_system_sshd_keys(&root, &settings, &mut report)?;
        }
        ensure_shell_files(shell_files, &mut report)?;
        let mut changes = ports::changes(installed.as_ref(), &settings);
        if binary_changed && installed.is_some() {
            changes.push("a new paas binary".into());
        }
        supervise::ensure_daemon(&root, &settings, &changes, &mut report)
    })();
    if let Err(err) = started {
        if args.local && !sshd_was_running && sshd::running(&root) {
            sshd::stop(&root);
            say!(" !     stopped the private sshd this install had started");
        }
        // A running install stays as it was: its binary and settings go
        // back, so its supervisor starts the daemon again on them. What
        // fails here is said, and the install's own error returned.
        if let Some(old) = installed {
            let previous = previous_binary(&root);
            if binary_changed && previous.exists() {
                match fs::rename(&previous, root.bin()) {
                    Ok(()) => say!(" !     put the previous paas binary back"),
                    Err(e) => say!(" !     could not put the previous paas binary back: {e}"),
                }
            }
            if old != settings {
                let restored =
                    state::write_toml(&root.settings_file(), &old, 0o644).and_then(|_| {
                        match old.local && sshd_was_running {
                            true => sshd::ensure_running(&root, &old, &mut report),
                            false => Ok(()),
                        }
                    });
                match restored {
                    Ok(()) => say!(" !     put the previous settings back"),
                    Err(e) => say!(
                        " !     could not put the previous settings back: {}",
                        e.report().trim_end()
                    ),
                }
            }
        }
        return Err(err);
    }

    let _ = fs::remove_file(previous_binary(&root));
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

/// A file the install writes for every user of the machine, made from the
/// command line by the caller (completion scripts, the man page): the
/// install itself knows no command.
pub struct ShellFile {
    pub path: &'static str,
    pub text: String,
}

/// Shell completions and the man page, for every user of this machine.
/// They call `paas` on the PATH, so one copy serves every install.
fn ensure_shell_files(files: &[ShellFile], report: &mut Report) -> Result<()> {
    let mut changed = false;
    for ShellFile { path, text } in files {
        let path = Path::new(path);
        if fs::read_to_string(path).ok().as_deref() != Some(text.as_str()) {
            fs::create_dir_all(path.parent().expect("absolute"))
                .context(|| format!("creating `{}`", path.display()))?;
            state::write_atomic(path, text.as_bytes(), 0o644)?;
            changed = true;
        }
    }
    if changed {
        report.done("installed shell completions (bash, zsh, fish) and the man page");
    } else {
        report.ok("shell completions and man page");
    }
    Ok(())
}

/// The binary an install replaced, kept until the install succeeds.
fn previous_binary(root: &Root) -> PathBuf {
    root.path.join("bin/paas.previous")
}

/// Keeps a copy of `--acme-ca` in the root, where the daemon (the
/// unprivileged owner) can read it.
fn copy_acme_ca(root: &Root, file: &Path) -> Result<PathBuf> {
    let pem = fs::read(file)
        .map_err(|err| Error::new(format!("cannot read `{}`", file.display())).cause(err))?;
    let copy = root.etc_dir().join("acme-ca.pem");
    state::create_dir(&root.etc_dir(), 0o755)?;
    state::write_atomic(&copy, &pem, 0o644)?;
    Ok(copy)
}

fn absolute(path: &Path) -> Result<PathBuf> {
    fs::create_dir_all(path).context(|| format!("creating `{}`", path.display()))?;
    fs::canonicalize(path).context(|| format!("resolving `{}`", path.display()))
}

/// The owner must be able to enter every directory above the root, or sshd's
/// forced command and the daemon cannot start.
fn check_reachable(root: &Path, user: &str) -> Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let uid = crate::users::user_uid(user)?;
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

/// The state root, its directories, the binary, hooks, buildpacks and
/// settings; whether the binary changed.
fn ensure_root_files(root: &Root, settings: &Settings, report: &mut Report) -> Result<bool> {
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
    let binary_changed = fs::read(&current).ok() != fs::read(&installed).ok();
    if binary_changed {
        if installed.exists() {
            // Put back if this install fails (see `install`).
            fs::copy(&installed, previous_binary(root))
                .context(|| "keeping the previous paas binary".into())?;
        }
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
    Ok(binary_changed)
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

/// The admin key's line, or what is wrong with the file.
fn read_admin_key(key_file: &Path) -> Result<String> {
    let text = fs::read_to_string(key_file).map_err(|err| {
        Error::new(format!(
            "cannot read the admin key `{}`",
            key_file.display()
        ))
        .cause(err)
    })?;
    crate::ssh::parse_public_key(&text).map_err(|reason| {
        Error::new(format!(
            "`{}` is not an SSH public key: {reason}",
            key_file.display()
        ))
        .hint("pass the `.pub` file, such as `~/.ssh/id_ed25519.pub`")
    })
}

/// Adds the admin's key to the registry and rewrites `authorized_keys`.
/// Apps from before owners (#20) get one, so their users keep access: the
/// first admin, else the only user with keys here. Until then only admins
/// may act on them.
fn ensure_apps_owned(root: &Root, settings: &Settings, report: &mut Report) -> Result<()> {
    let registry = Registry::load(root)?;
    let mut users: Vec<&str> = registry.keys.iter().map(|k| k.user.as_str()).collect();
    users.sort();
    users.dedup();
    let owner = if users.contains(&FIRST_ADMIN) {
        FIRST_ADMIN
    } else if let [only] = users[..] {
        only
    } else {
        return Ok(());
    };
    let mut adopted = Vec::new();
    for name in root.apps()? {
        let app = root.app(&name);
        let _lock = app.lock()?;
        if app.settings()?.owner.is_some() {
            continue;
        }
        app.update_settings(|s| s.owner = Some(owner.to_string()))?;
        // Written (the lock maybe made) by root here: the owner's again.
        host::chown_tree(&app.settings_file(), &settings.user)?;
        host::chown_tree(&app.lock_file(), &settings.user)?;
        adopted.push(name.to_string());
    }
    if !adopted.is_empty() {
        report.done(&format!(
            "apps from before owners are now owned by `{owner}`: {} (`paas access:add` shares them)",
            adopted.join(", ")
        ));
    }
    Ok(())
}

fn ensure_admin_key(
    root: &Root,
    settings: &Settings,
    key_file: &Path,
    report: &mut Report,
) -> Result<()> {
    let line = read_admin_key(key_file)?;
    let _lock = Registry::lock(root)?;
    let mut registry = Registry::load(root)?;
    let key = Key {
        user: FIRST_ADMIN.into(),
        admin: true,
        line,
        added_by: "paas server install".into(),
        added_at: crate::release::now_rfc3339(),
        deploy: None,
    };
    let present = registry
        .keys
        .iter()
        .any(|k| k.fingerprint() == key.fingerprint() && k.admin);
    if present {
        report.ok("admin key");
    } else {
        registry
            .keys
            .retain(|k| k.fingerprint() != key.fingerprint());
        registry.add(key)?;
        report.done("added the admin key");
    }
    registry.save(root, settings)?;
    let keys_file = authorized_keys_path(root, settings)?;
    host::chown_tree(keys_file.parent().expect("has a parent"), &settings.user)?;
    host::chown_tree(&root.keys_dir(), &settings.user)
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
