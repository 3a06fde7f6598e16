//! Host-level install steps: packages, the owner user, and podman's quirks,
//! each detected on this machine rather than assumed.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::Report;
use crate::error::{Context, Error, Result};
use crate::state::{self, Root, Settings};
use crate::users::{lookup_user, user_home, user_uid};

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

/// A command run as `user`, with the environment rootless podman expects.
pub fn as_user(user: &str, program: &str) -> Result<Command> {
    let passwd =
        lookup_user(user).ok_or_else(|| Error::new(format!("user `{user}` does not exist")))?;
    let mut command = Command::new("runuser");
    command
        .args(["-u", user, "--", program])
        .current_dir("/")
        .env("HOME", &passwd.home)
        .env("XDG_RUNTIME_DIR", format!("/run/user/{}", passwd.uid))
        .env_remove("PAAS_USER");
    Ok(command)
}

pub fn podman_as(user: &str, args: &[&str]) -> Result<std::process::Output> {
    as_user(user, "podman")?
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context(|| "running `podman`".into())
}

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

fn chown_path(path: &Path, user: &str) -> Result<()> {
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

pub fn systemd_running() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

/// Whether a pid file names a live process.
pub fn pid_alive(pid_file: &Path) -> Option<i32> {
    let pid: i32 = fs::read_to_string(pid_file).ok()?.trim().parse().ok()?;
    (unsafe { libc::kill(pid, 0) } == 0).then_some(pid)
}

pub fn supervisor_pid_file(root: &Root) -> PathBuf {
    root.run_dir().join("supervisor.pid")
}

const SYSTEMD_UNIT: &str = "/etc/systemd/system/paas.service";

/// The daemon's unit for a system install: the owner runs it, with only the
/// capability to bind ports 80 and 443, and room for many client
/// connections (1024 open files, a service's default, let a thousand idle
/// ones shut the router: #19).
fn systemd_unit(root: &Root, settings: &Settings, uid: u32) -> String {
    format!(
        "# Written by `paas server install`.\n\
         [Unit]\n\
         Description=paas daemon: router and reconciler\n\
         After=network-online.target user@{uid}.service\n\
         Wants=network-online.target user@{uid}.service\n\n\
         [Service]\n\
         User={user}\n\
         Environment=XDG_RUNTIME_DIR=/run/user/{uid}\n\
         ExecStart={bin} --root {root} daemon\n\
         Restart=always\n\
         RestartSec=1\n\
         KillMode=process\n\
         # Each client connection holds a file: the router's limits on\n\
         # connections (in all, and per client address) come from this.\n\
         LimitNOFILE=65536\n\
         # Only the right to bind ports 80/443. No NoNewPrivileges: rootless\n\
         # podman needs the setuid newuidmap to set up its user namespace.\n\
         AmbientCapabilities=CAP_NET_BIND_SERVICE\n\n\
         [Install]\n\
         WantedBy=multi-user.target\n",
        user = settings.user,
        bin = root.bin().display(),
        root = root.path.display(),
    )
}

/// Starts the daemon as the owner, unless it runs: under systemd for a
/// system install where systemd runs, else under paas's own supervisor. A
/// running daemon is restarted when `changes` (its settings or binary) is
/// not empty.
pub fn ensure_daemon(
    root: &Root,
    settings: &Settings,
    changes: &[String],
    report: &mut Report,
) -> Result<()> {
    if !settings.local && systemd_running() {
        let unit = systemd_unit(root, settings, user_uid(&settings.user)?);
        if fs::read_to_string(SYSTEMD_UNIT).ok().as_deref() == Some(unit.as_str()) {
            report.ok("systemd unit `paas.service`");
            if changes.is_empty() {
                return Ok(());
            }
            if crate::control::ping_daemon(root).is_ok() {
                return restart_daemon(root, settings, changes, report);
            }
            // Stopped or failed: nothing to signal, systemd starts it.
            let restarted = Command::new("systemctl")
                .args(["restart", "paas.service"])
                .status();
            if !restarted.is_ok_and(|s| s.success()) {
                return Err(Error::new("systemd could not start `paas.service`")
                    .hint("`journalctl -u paas.service` says why"));
            }
            report.done(&format!(
                "started the daemon (`paas.service`) to apply: {}",
                changes.join(", ")
            ));
            return Ok(());
        }
        state::write_atomic(Path::new(SYSTEMD_UNIT), unit.as_bytes(), 0o644)?;
        let reload = Command::new("systemctl").arg("daemon-reload").status();
        let enable = Command::new("systemctl")
            .args(["enable", "--now", "paas.service"])
            .status();
        let restart = Command::new("systemctl")
            .args(["restart", "paas.service"])
            .status();
        if ![reload, enable, restart]
            .iter()
            .all(|s| s.as_ref().is_ok_and(|s| s.success()))
        {
            return Err(Error::new("systemd could not start `paas.service`")
                .hint("`journalctl -u paas.service` says why"));
        }
        report.done("started the daemon as the systemd unit `paas.service`");
        return Ok(());
    }
    if pid_alive(&supervisor_pid_file(root)).is_some() {
        if changes.is_empty() {
            report.ok("daemon is running");
            return Ok(());
        }
        return restart_daemon(root, settings, changes, report);
    }
    start_daemon(root, settings)?;
    report.done(&format!(
        "started the daemon (router on port {})",
        settings.http_port
    ));
    Ok(())
}

/// Asks the running daemon to exit for a restart (SIGHUP: dynos and add-ons
/// keep running) and waits until its successor, started by the supervisor
/// or systemd, answers on the new settings.
fn restart_daemon(
    root: &Root,
    settings: &Settings,
    changes: &[String],
    report: &mut Report,
) -> Result<()> {
    let log_path = root.logs_dir().join("daemon.log");
    let log_start = fs::metadata(&log_path).map_or(0, |m| m.len());
    // A daemon still starting (its add-ons first) has no SIGHUP handler
    // yet: it is signalled once it answers.
    let answering = Instant::now() + Duration::from_secs(120);
    while crate::control::ping_daemon(root).is_err() && Instant::now() < answering {
        std::thread::sleep(Duration::from_millis(100));
    }
    let old = pid_alive(&root.daemon_pid_file());
    if let Some(pid) = old {
        // SAFETY: signalling a pid read from the daemon's own pid file.
        unsafe {
            libc::kill(pid, libc::SIGHUP);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        let successor = pid_alive(&root.daemon_pid_file()).is_some_and(|pid| Some(pid) != old);
        if successor
            && crate::control::ping_daemon(root).is_ok()
            && std::net::TcpStream::connect(("127.0.0.1", settings.http_port)).is_ok()
        {
            report.done(&format!(
                "restarted the daemon to apply: {}; dynos and add-ons kept running",
                changes.join(", ")
            ));
            return Ok(());
        }
        let said = log_since(&log_path, log_start);
        if said.contains("cannot listen on port") {
            return Err(Error::new("the daemon did not start again")
                .cause(said)
                .hint("pick another port and run the install again"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(
        Error::new("the daemon did not start again within 120 seconds")
            .cause(log_since(&log_path, log_start))
            .hint(format!("its log is `{}`", log_path.display())),
    )
}

/// The last lines the daemon's log gained since `start` (a byte offset).
fn log_since(path: &Path, start: u64) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let mut text = Vec::new();
    if let Ok(mut file) = fs::File::open(path) {
        let _ = file.seek(SeekFrom::Start(start));
        let _ = file.take(1 << 20).read_to_end(&mut text);
    }
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(12)..].join("\n")
}

pub fn start_daemon(root: &Root, settings: &Settings) -> Result<()> {
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(root.logs_dir().join("daemon.log"))
        .context(|| "opening the daemon's log".into())?;
    chown_path(&root.logs_dir().join("daemon.log"), &settings.user)?;
    let mut command = Command::new(root.bin());
    if unsafe { libc::geteuid() } == 0 {
        // The owner's ids, set by this process before it runs paas: no
        // `runuser` is left waiting as the supervisor's parent.
        let passwd = lookup_user(&settings.user)
            .ok_or_else(|| Error::new(format!("user `{}` does not exist", settings.user)))?;
        command
            .uid(passwd.uid)
            .gid(passwd.gid)
            .current_dir("/")
            .env("HOME", &passwd.home)
            .env("USER", &settings.user)
            .env("LOGNAME", &settings.user)
            .env("XDG_RUNTIME_DIR", format!("/run/user/{}", passwd.uid))
            .env_remove("PAAS_USER");
    }
    command
        .arg("--root")
        .arg(&root.path)
        .args(["server", "supervise"])
        .stdin(Stdio::null())
        .stdout(log.try_clone().context(|| "cloning a file handle".into())?)
        .stderr(log);
    // Its own session, so it outlives the shell or SSH connection that started it.
    unsafe {
        command.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let log_path = root.logs_dir().join("daemon.log");
    let log_start = fs::metadata(&log_path).map_or(0, |m| m.len());
    let mut supervisor = command.spawn().context(|| "starting the daemon".into())?;
    // What this start wrote to the log: the daemon's own error when it failed.
    let said = || log_since(&log_path, log_start);
    let failed = |said: String| {
        let mut error = Error::new("the daemon did not start");
        if !said.is_empty() {
            error = error.cause(said);
        }
        error.hint(format!("its log is `{}`", log_path.display()))
    };
    // Whatever went wrong, no supervisor is left retrying in the background.
    let give_up = |supervisor: &mut std::process::Child, said: String| {
        if let Some(pid) = pid_alive(&supervisor_pid_file(root)) {
            // SAFETY: signalling a pid read from the supervisor's pid file.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        let _ = supervisor.wait();
        failed(said)
    };
    // The daemon starts the add-ons before it answers (up to 90 s).
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if crate::control::ping_daemon(root).is_ok() {
            return Ok(());
        }
        // The supervisor never exits on its own: it could not start at all.
        if let Ok(Some(_)) = supervisor.try_wait() {
            return Err(failed(said()));
        }
        // A port held by another program will not free itself: say so now.
        let so_far = said();
        if so_far.contains("cannot listen on port") {
            return Err(give_up(&mut supervisor, so_far));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(give_up(
        &mut supervisor,
        format!("no answer within 120 seconds\n{}", said()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemd_unit_runs_the_daemon_unprivileged() {
        let settings = Settings {
            install_id: "abcd1234".into(),
            ..Settings::example()
        };
        let unit = systemd_unit(&Root::new("/var/lib/paas"), &settings, 995);
        assert!(unit.contains("User=paas\n"));
        assert!(unit.contains("ExecStart=/var/lib/paas/bin/paas --root /var/lib/paas daemon\n"));
        assert!(unit.contains("AmbientCapabilities=CAP_NET_BIND_SERVICE\n"));
        assert!(unit.contains("Environment=XDG_RUNTIME_DIR=/run/user/995\n"));
        assert!(unit.contains("\nLimitNOFILE=65536\n"));
    }

    #[test]
    fn subordinate_ranges_do_not_overlap() {
        assert_eq!(next_free_subordinate_range(""), 131_072);
        assert_eq!(next_free_subordinate_range("a:100000:65536\n"), 196_608);
        assert_eq!(
            next_free_subordinate_range("a:100000:65536\nb:200000:65536\n"),
            327_680
        );
    }

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
