//! Who keeps the daemon running: systemd where it runs, else paas's own
//! supervisor process; started, restarted on a change, and waited for.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::host::chown_path;
use super::Report;
use crate::error::{Context, Error, Result};
use crate::state::{self, Root, Settings};
use crate::users::{lookup_user, user_uid};

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
    let log_path = root.daemon_log();
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

/// The last lines the daemon's log gained since `start` (a byte offset),
/// or all of them if it was begun anew since (`daemon::log_file`).
fn log_since(path: &Path, start: u64) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let mut text = Vec::new();
    if let Ok(mut file) = fs::File::open(path) {
        let len = file.metadata().map_or(0, |meta| meta.len());
        let start = if len < start { 0 } else { start };
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
        .open(root.daemon_log())
        .context(|| "opening the daemon's log".into())?;
    chown_path(&root.daemon_log(), &settings.user)?;
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
    let log_path = root.daemon_log();
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
}
