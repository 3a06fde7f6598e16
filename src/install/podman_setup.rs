//! Rootless podman made to work for the owner on this host: its state
//! reset after killed processes, its storage driver, its OCI runtime, the
//! limits it may set, each detected here rather than assumed (podman 4.3's
//! quirks: crun on a cgroup hybrid, NPROC above the hard limit).

use std::fs;
use std::path::Path;

use super::host::chown_path;
use super::Report;
use crate::error::{Context, Error, Result};
use crate::state::{self};
use crate::users::user_home;

use crate::runtime::podman::run_as as podman_as;

/// Podman answers for the owner. If every process of the owner was killed
/// without a reboot, podman's state still lists running containers whose
/// processes are gone and every command fails; this resets that state
/// (without it the image checks below would wrongly say "missing").
pub fn ensure_podman_usable(user: &str, report: &mut Report) -> Result<()> {
    let output = podman_as(user, &["ps", "--quiet"])?;
    if output.status.success() {
        report.ok("podman answers");
        return Ok(());
    }
    if crate::runtime::podman::is_stale_state(&output.stderr) {
        // It may exit non-zero for a container whose processes are gone
        // and still reset the state: what counts is whether podman answers.
        let _ = podman_as(user, &["system", "migrate"])?;
        if podman_as(user, &["ps", "--quiet"])?.status.success() {
            report.done(
                "reset podman's state, left over from killed processes (`podman system migrate`)",
            );
            return Ok(());
        }
    }
    Err(Error::new(format!("podman does not work for `{user}`"))
        .cause(String::from_utf8_lossy(&output.stderr).trim())
        .hint(format!(
            "try `runuser -u {user} -- podman system migrate`, then run the install again"
        )))
}

/// Rootless podman on some hosts picks the `vfs` driver, which copies the
/// whole image for every container; overlay shares it.
pub fn ensure_podman_storage(user: &str, report: &mut Report) -> Result<()> {
    let home = user_home(user)?;
    let path = home.join(".config/containers/storage.conf");
    if path.exists() {
        report.ok("podman storage settings");
        return Ok(());
    }
    let mut text = String::from("# Written by paas: overlay shares image layers between containers.\n[storage]\ndriver = \"overlay\"\n");
    if !kernel_has_rootless_overlay() {
        if !Path::new("/usr/bin/fuse-overlayfs").exists() {
            return Err(Error::new(
                "this kernel needs fuse-overlayfs for rootless overlay storage",
            )
            .hint("install it (`apt-get install fuse-overlayfs`) and run the install again"));
        }
        text.push_str("[storage.options.overlay]\nmount_program = \"/usr/bin/fuse-overlayfs\"\n");
    }
    write_user_file(user, &path, &text)?;
    report.done("set podman's storage driver to overlay (it defaults to vfs for this user)");
    Ok(())
}

/// Unprivileged overlay mounts arrived in Linux 5.13.
fn kernel_has_rootless_overlay() -> bool {
    let release = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release
        .trim()
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (5, 13)
}

fn write_user_file(user: &str, path: &Path, text: &str) -> Result<()> {
    let dir = path.parent().expect("has a parent");
    fs::create_dir_all(dir).context(|| format!("creating `{}`", dir.display()))?;
    state::write_atomic(path, text.as_bytes(), 0o644)?;
    let home = user_home(user)?;
    // Own every directory from the home down to the file.
    let mut owned = path.to_path_buf();
    while owned.starts_with(&home) && owned != home {
        chown_path(&owned, user)?;
        owned.pop();
    }
    Ok(())
}

/// Runs a probe container and fixes what fails: crun on hybrid cgroups
/// (use runc), and rlimits podman sets above what the host lets the user
/// have (pin the limits a container really gets in containers.conf).
pub fn ensure_podman_runtime(user: &str, image: &str, report: &mut Report) -> Result<()> {
    let path = user_home(user)?.join(".config/containers/containers.conf");
    let current = fs::read_to_string(&path).unwrap_or_default();
    let probe = |args: &[&str]| {
        let mut full = vec!["run", "--rm", "--network=none", image];
        full.extend(args);
        podman_as(user, &full)
    };
    if current.starts_with(CONF_HEADER)
        && current.contains("network_backend")
        && probe(&["true"])?.status.success()
    {
        report.ok("podman runs containers as the paas user");
        return Ok(());
    }
    let mut runtime: Option<&str> = None;
    let mut limits: Option<(u64, u64)> = None;
    for _attempt in 0..3 {
        write_user_file(user, &path, &containers_conf(limits, runtime))?;
        let output = probe(&["bash", "-c", "ulimit -Hn; ulimit -Hu"])?;
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        if output.status.success() {
            let text = String::from_utf8_lossy(&output.stdout);
            let mut values = text
                .split_whitespace()
                .filter_map(|v| v.parse::<u64>().ok());
            let seen = (values.next().unwrap_or(1024), values.next().unwrap_or(4096));
            write_user_file(user, &path, &containers_conf(Some(seen), runtime))?;
            if !probe(&["true"])?.status.success() {
                return Err(Error::new("podman fails with explicit ulimits")
                    .hint("`paas server status` shows what is broken"));
            }
            report.done(&format!(
                "pinned container ulimits to what this host allows (nofile={}, nproc={}) in `{}`",
                seen.0,
                seen.1,
                path.display()
            ));
            if let Some(runtime) = runtime {
                report.done(&format!("the default OCI runtime failed here (crun on a cgroup v1/v2 hybrid): podman now uses {runtime}"));
            }
            return Ok(());
        }
        if stderr.contains("rlimit") && limits.is_none() {
            // Podman asked for more than the host grants: ask for what the user has.
            limits = Some(hard_limits());
        } else if runtime.is_none() && Path::new("/usr/sbin/runc").exists() {
            runtime = Some("runc");
        } else {
            return Err(Error::new("podman cannot run containers as the paas user")
                .cause(stderr.trim())
                .hint("`paas server status` shows what is broken"));
        }
    }
    Err(Error::new("podman cannot run containers as the paas user"))
}

const CONF_HEADER: &str = "# Written by paas";

fn containers_conf(limits: Option<(u64, u64)>, runtime: Option<&str>) -> String {
    let mut text =
        format!("{CONF_HEADER}: explicit limits and runtime, found by probing this host.\n");
    if let Some((nofile, nproc)) = limits {
        text.push_str(&format!(
            "[containers]\ndefault_ulimits = [\"nofile={nofile}:{nofile}\", \"nproc={nproc}:{nproc}\"]\n"
        ));
    }
    if let Some(runtime) = runtime {
        text.push_str(&format!("\n[engine]\nruntime = \"{runtime}\"\n"));
    }
    text.push_str("\n[network]\nnetwork_backend = \"netavark\"\n");
    text
}

fn hard_limits() -> (u64, u64) {
    let limit = |resource| {
        let mut value = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if unsafe { libc::getrlimit(resource, &mut value) } == 0
            && value.rlim_max != libc::RLIM_INFINITY
        {
            value.rlim_max
        } else {
            65_536
        }
    };
    (limit(libc::RLIMIT_NOFILE), limit(libc::RLIMIT_NPROC))
}

/// Whether memory limits take effect for the owner's containers: rootless
/// podman on cgroup v1 accepts them and says it ignores them.
pub fn limits_enforced(user: &str, image: &str, report: &mut Report) -> Result<bool> {
    let output = podman_as(
        user,
        &[
            "run",
            "--rm",
            "--network=none",
            "--memory=64m",
            image,
            "true",
        ],
    )?;
    let ignored = String::from_utf8_lossy(&output.stderr).contains("ignored");
    if !output.status.success() || ignored {
        report.ok("dyno memory and CPU limits: NOT enforced on this host (rootless podman on cgroup v1); `ps` says so");
        Ok(false)
    } else {
        report.ok("dyno memory and CPU limits are enforced");
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_conf_pins_limits_and_runtime() {
        let text = containers_conf(Some((20000, 32768)), Some("runc"));
        assert!(text.contains("default_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]"));
        assert!(text.contains("[engine]\nruntime = \"runc\""));
        assert!(!containers_conf(None, None).contains("[engine]"));
        assert!(!containers_conf(None, None).contains("ulimits"));
        assert!(text.contains("[network]\nnetwork_backend = \"netavark\""));
    }
}
