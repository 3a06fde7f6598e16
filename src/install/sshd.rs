//! SSH for the install: a `--local` install runs its own sshd on 127.0.0.1
//! with its own host key and config, leaving the system's sshd alone; a
//! system install uses the system sshd and the owner's `authorized_keys`.

use std::fs;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::host::chown_tree;
use super::supervise::pid_alive;
use super::Report;
use crate::error::{Context, Error, Result};
use crate::state::{self, Root, Settings};

pub fn pid_file(root: &Root) -> PathBuf {
    root.run_dir().join("sshd.pid")
}

fn config_file(root: &Root) -> PathBuf {
    root.etc_dir().join("sshd_config")
}

fn config_text(root: &Root, settings: &Settings) -> String {
    let etc = root.etc_dir();
    format!(
        "# Written by paas for the --local install at {root}\n\
         Port {port}\n\
         ListenAddress 127.0.0.1\n\
         HostKey {etc}/ssh_host_ed25519_key\n\
         PidFile {pid}\n\
         AuthorizedKeysFile {keys}\n\
         AllowUsers {user}\n\
         PubkeyAuthentication yes\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         PermitRootLogin no\n\
         UsePAM no\n\
         # The root may sit under /tmp, which StrictModes refuses; keys/ is 0700 anyway.\n\
         StrictModes no\n\
         PermitUserEnvironment no\n\
         AllowTcpForwarding no\n\
         AllowAgentForwarding no\n\
         X11Forwarding no\n\
         PrintMotd no\n\
         MaxStartups 100:30:200\n",
        root = root.path.display(),
        port = settings.ssh_port,
        etc = etc.display(),
        pid = pid_file(root).display(),
        keys = root.authorized_keys().display(),
        user = settings.user,
    )
}

pub fn ensure_running(root: &Root, settings: &Settings, report: &mut Report) -> Result<()> {
    let key = root.etc_dir().join("ssh_host_ed25519_key");
    if !key.exists() {
        let status = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "paas-local", "-f"])
            .arg(&key)
            .status()
            .context(|| "running `ssh-keygen`".into())?;
        if !status.success() {
            return Err(Error::new("could not make the sshd host key"));
        }
        report.done("made a host key for the private sshd");
    }
    let config = config_file(root);
    let text = config_text(root, settings);
    let changed = fs::read_to_string(&config).ok().as_deref() != Some(text.as_str());
    if changed {
        state::write_atomic(&config, text.as_bytes(), 0o644)?;
    }
    if !root.authorized_keys().exists() {
        state::write_atomic(&root.authorized_keys(), b"", 0o600)?;
        chown_tree(&root.keys_dir(), &settings.user)?;
    }
    // sshd's privilege separation directory.
    fs::create_dir_all("/run/sshd").context(|| "creating `/run/sshd`".into())?;
    let check = Command::new("/usr/sbin/sshd")
        .arg("-t")
        .arg("-f")
        .arg(&config)
        .output()
        .context(|| "running `sshd -t`".into())?;
    if !check.status.success() {
        return Err(Error::new("the private sshd's config is invalid")
            .cause(String::from_utf8_lossy(&check.stderr).trim()));
    }
    let was_running = running(root);
    if was_running {
        if !changed {
            report.ok(&format!("private sshd on 127.0.0.1:{}", settings.ssh_port));
            return Ok(());
        }
        stop(root);
    }
    start(root, settings)?;
    report.done(&format!(
        "{} the private sshd on 127.0.0.1:{}",
        if was_running {
            "restarted, with its new settings,"
        } else {
            "started"
        },
        settings.ssh_port
    ));
    Ok(())
}

pub fn start(root: &Root, settings: &Settings) -> Result<()> {
    let status = Command::new("/usr/sbin/sshd")
        .arg("-f")
        .arg(config_file(root))
        .stdin(Stdio::null())
        .status()
        .context(|| "starting sshd".into())?;
    if !status.success() {
        return Err(Error::new(format!(
            "sshd could not start on 127.0.0.1:{}",
            settings.ssh_port
        ))
        .hint("another program may hold that port; pick another with `--ssh-port`"));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", settings.ssh_port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(Error::new(format!(
        "sshd did not listen on 127.0.0.1:{}",
        settings.ssh_port
    )))
}

pub fn stop(root: &Root) {
    if let Some(pid) = pid_alive(&pid_file(root)) {
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while pid_alive(&pid_file(root)).is_some() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

pub fn running(root: &Root) -> bool {
    pid_alive(&pid_file(root)).is_some()
}

/// A system install: the system sshd reads the owner's `authorized_keys`.
pub fn ensure_system_sshd_keys(
    _root: &Root,
    settings: &Settings,
    report: &mut Report,
) -> Result<()> {
    let running = Command::new("pgrep")
        .args(["-x", "sshd"])
        .stdout(Stdio::null())
        .status();
    if running.map(|s| s.success()).unwrap_or(false) {
        report.ok(&format!("system sshd serves `{}`", settings.user));
    } else {
        say!(" !     the system sshd is not running: start it (`systemctl start ssh`) so pushes can reach paas");
    }
    Ok(())
}
