//! Host-level install steps: packages, the owner user, its runtime dir,
//! the tun device, and files made the owner's; each detected on this
//! machine rather than assumed.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::supervise::systemd_running;
use super::Report;
use crate::error::{Context, Error, Result};
use crate::state::{self};
use crate::users::lookup_user;

pub fn require_root() -> Result<()> {
    if unsafe { libc::geteuid() } != 0 {
        return Err(Error::new("`paas server install` must run as root")
            .hint("run it with `sudo`; everything after install runs as an unprivileged user"));
    }
    Ok(())
}

/// Installs the packages of the programs paas runs that this machine lacks.
pub fn ensure_packages(report: &mut Report) -> Result<()> {
    let missing = super::programs::missing_packages();
    if missing.is_empty() {
        report.ok("every program paas runs is installed (src/install/host-programs.txt)");
        return Ok(());
    }
    if !Path::new("/usr/bin/apt-get").exists() {
        return Err(
            Error::new(format!("missing packages: {}", missing.join(", ")))
                .hint("install them with the system's package manager and run the install again"),
        );
    }
    say!("-----> installing {}", missing.join(", "));
    let update = Command::new("apt-get").args(["update", "-q"]).status();
    let install = Command::new("apt-get")
        .args(["install", "-y", "-q", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status();
    match (update, install) {
        (Ok(_), Ok(status)) if status.success() => {
            let still = super::programs::missing_programs();
            if let Some(program) = still.first() {
                return Err(Error::new(format!(
                    "`{}` is still missing after installing `{}`",
                    program.path, program.package
                ))
                .hint("check the package with `dpkg -L`, then run the install again"));
            }
            report.done(&format!("installed {}", missing.join(", ")));
            Ok(())
        }
        _ => Err(
            Error::new(format!("could not install {}", missing.join(", ")))
                .hint("check that apt can reach the Debian mirror, then run the install again"),
        ),
    }
}

/// The owner of everything: a system user with its own subordinate ids for
/// rootless podman, and a shell so sshd can run its forced command.
pub fn ensure_user(name: &str, report: &mut Report) -> Result<()> {
    if lookup_user(name).is_none() {
        let status = Command::new("useradd")
            .args(["--system", "--create-home", "--home-dir"])
            .arg(format!("/home/{name}"))
            .args(["--shell", "/bin/sh", "--comment", "paas platform", name])
            .status()
            .context(|| "running `useradd`".into())?;
        if !status.success() {
            return Err(Error::new(format!("could not create the user `{name}`")));
        }
        report.done(&format!("created the system user `{name}`"));
    } else {
        report.ok(&format!("user `{name}`"));
    }
    let passwd =
        lookup_user(name).ok_or_else(|| Error::unexpected(format!("user `{name}` vanished")))?;
    let home_owner = fs::metadata(&passwd.home).map(|m| std::os::unix::fs::MetadataExt::uid(&m));
    if home_owner.map_or(true, |owner| owner != passwd.uid) {
        fs::create_dir_all(&passwd.home)
            .context(|| format!("creating `{}`", passwd.home.display()))?;
        chown_tree(&passwd.home, name)?;
        report.done(&format!(
            "gave `{}` back to `{name}`",
            passwd.home.display()
        ));
    }
    // useradd locks the password (`!`), and sshd without PAM then refuses
    // even key logins; `*` means no password but an open account.
    let shadow = fs::read_to_string("/etc/shadow").unwrap_or_default();
    let locked = shadow.lines().any(|l| {
        let mut fields = l.split(':');
        fields.next() == Some(name) && fields.next().is_some_and(|p| p.starts_with('!'))
    });
    if locked {
        let status = Command::new("usermod").args(["-p", "*", name]).status();
        if !status.map(|s| s.success()).unwrap_or(false) {
            return Err(Error::new(format!(
                "could not unlock `{name}` for SSH key logins"
            )));
        }
        report.done(&format!("opened `{name}` to SSH key logins (no password)"));
    }
    for file in ["/etc/subuid", "/etc/subgid"] {
        let text = fs::read_to_string(file).unwrap_or_default();
        if text.lines().any(|l| l.split(':').next() == Some(name)) {
            continue;
        }
        let start = next_free_subordinate_range(&text);
        let line = format!("{name}:{start}:65536\n");
        let mut updated = text.clone();
        if !updated.is_empty() && !updated.ends_with('\n') {
            updated.push('\n');
        }
        updated.push_str(&line);
        state::write_atomic(Path::new(file), updated.as_bytes(), 0o644)?;
        report.done(&format!(
            "gave `{name}` subordinate ids {start}-{} in {file}",
            start + 65535
        ));
    }
    Ok(())
}

/// The first 65536-aligned range above every range already given out.
fn next_free_subordinate_range(text: &str) -> u64 {
    let end = text
        .lines()
        .filter_map(|l| {
            let mut parts = l.split(':').skip(1);
            let start: u64 = parts.next()?.parse().ok()?;
            let count: u64 = parts.next()?.parse().ok()?;
            Some(start + count)
        })
        .max()
        .unwrap_or(100_000);
    end.max(100_000).div_ceil(65_536) * 65_536
}

/// `/run/user/<uid>`: rootless podman keeps its runtime state there. Made
/// here because no login session makes it for a system user.
pub fn ensure_runtime_dir(name: &str, report: &mut Report) -> Result<()> {
    let user =
        lookup_user(name).ok_or_else(|| Error::unexpected(format!("user `{name}` vanished")))?;
    let dir = PathBuf::from(format!("/run/user/{}", user.uid));
    if systemd_running() {
        // Keeps the directory, and the user's containers, across reboots.
        let _ = Command::new("loginctl")
            .args(["enable-linger", name])
            .status();
    }
    if dir.is_dir() {
        report.ok(&format!("runtime directory `{}`", dir.display()));
        return Ok(());
    }
    state::create_dir(&dir, 0o700)?;
    std::os::unix::fs::chown(&dir, Some(user.uid), Some(user.gid))
        .context(|| format!("chowning `{}`", dir.display()))?;
    if systemd_running() {
        // Keeps the directory, and the user's containers, across reboots.
        let _ = Command::new("loginctl")
            .args(["enable-linger", name])
            .status();
    }
    report.done(&format!("created `{}` for rootless podman", dir.display()));
    Ok(())
}

/// slirp4netns, the network of rootless containers, opens `/dev/net/tun` as
/// the owner; some hosts ship it 0600.
pub fn ensure_tun_device(report: &mut Report) -> Result<()> {
    let tun = Path::new("/dev/net/tun");
    let Ok(meta) = fs::metadata(tun) else {
        return Err(
            Error::new("`/dev/net/tun` is missing: rootless containers have no network")
                .hint("load the `tun` kernel module (`modprobe tun`) and run the install again"),
        );
    };
    if meta.permissions().mode() & 0o666 == 0o666 {
        report.ok("`/dev/net/tun` is usable by unprivileged users");
        return Ok(());
    }
    fs::set_permissions(tun, fs::Permissions::from_mode(0o20666))
        .context(|| "chmod 0666 `/dev/net/tun`".into())?;
    if Path::new("/etc/udev/rules.d").is_dir() {
        let _ = fs::write(
            "/etc/udev/rules.d/70-paas-tun.rules",
            "KERNEL==\"tun\", MODE=\"0666\"\n",
        );
    }
    report.done("`/dev/net/tun` was mode 0600: made it 0666 so rootless containers get a network (and added a udev rule)");
    Ok(())
}

pub(super) fn chown_path(path: &Path, user: &str) -> Result<()> {
    let passwd =
        lookup_user(user).ok_or_else(|| Error::new(format!("user `{user}` does not exist")))?;
    std::os::unix::fs::lchown(path, Some(passwd.uid), Some(passwd.gid))
        .context(|| format!("chowning `{}`", path.display()))
}

/// Gives a tree to the owner (the installer runs as root).
pub fn chown_tree(path: &Path, user: &str) -> Result<()> {
    chown_path(path, user)?;
    if path.is_dir() && !path.is_symlink() {
        for entry in fs::read_dir(path).context(|| format!("listing `{}`", path.display()))? {
            let entry = entry.context(|| "listing".into())?;
            chown_tree(&entry.path(), user)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subordinate_ranges_do_not_overlap() {
        assert_eq!(next_free_subordinate_range(""), 131_072);
        assert_eq!(next_free_subordinate_range("a:100000:65536\n"), 196_608);
        assert_eq!(
            next_free_subordinate_range("a:100000:65536\nb:200000:65536\n"),
            327_680
        );
    }
}
