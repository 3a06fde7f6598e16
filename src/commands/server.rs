//! `paas server …`: install, start, stop, prune, uninstall, and the
//! supervisor that keeps the daemon running for a `--local` install
//! (`server status` is `server_status.rs`).

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::server_status;
use crate::cli::ServerCommand;
use crate::error::{Context, Error, Result};
use crate::install::{self, sshd};
use crate::state::{self, Root};

pub fn run(root: Root, command: ServerCommand) -> Result<()> {
    match command {
        ServerCommand::Install(args) => {
            install::install(&root, &args, &crate::completion::system_files()?)
        }
        ServerCommand::Status => server_status::status(&root),
        ServerCommand::Start => start(&root),
        ServerCommand::Stop => stop(&root),
        ServerCommand::Prune => prune(&root),
        ServerCommand::Uninstall { confirm } => uninstall(&root, confirm),
        ServerCommand::Supervise => supervise(&root),
    }
}

fn require_root_user(verb: &str) -> Result<()> {
    if unsafe { libc::geteuid() } != 0 {
        return Err(Error::new(format!("`paas server {verb}` must run as root")));
    }
    Ok(())
}

fn start(root: &Root) -> Result<()> {
    require_root_user("start")?;
    let settings = root.settings()?;
    if settings.local && !sshd::running(root) {
        sshd::start(root, &settings)?;
        say!(
            "-----> started the private sshd on 127.0.0.1:{}",
            settings.ssh_port
        );
    }
    if install::pid_alive(&install::supervisor_pid_file(root)).is_none() {
        install::start_daemon(root, &settings)?;
        say!("-----> started the daemon");
    } else {
        say!("-----> the daemon is already running");
    }
    Ok(())
}

fn stop(root: &Root) -> Result<()> {
    require_root_user("stop")?;
    let settings = root.settings()?;
    if !settings.local && install::systemd_running() {
        return systemctl("stop");
    }
    if !stop_supervisor(root) {
        return Err(Error::new("the daemon is still stopping after 120 seconds")
            .hint(format!("its log is `{}`", root.daemon_log().display())));
    }
    if settings.local {
        sshd::stop(root);
    }
    say!("-----> stopped");
    Ok(())
}

/// `paas server prune`: as the install's owner, whose files and podman
/// store they are (root runs it again as the owner).
fn prune(root: &Root) -> Result<()> {
    let settings = root.settings()?;
    if unsafe { libc::geteuid() } == 0 {
        let status = crate::users::as_user(&settings.user, &root.bin().to_string_lossy())?
            .arg("--root")
            .arg(&root.path)
            .args(["server", "prune"])
            .status()
            .context(|| "running `paas server prune` as the owner".into())?;
        return match status.code() {
            Some(0) => Ok(()),
            code => Err(Error::exit(code.unwrap_or(1).clamp(1, 255) as u8)),
        };
    }
    let runtime = crate::runtime::podman::Podman::for_install(root, &settings);
    let pruned = crate::prune::everything(root, &settings, &runtime)?;
    let size = crate::slug::human_size;
    say!(
        "-----> slugs: removed {} past the last {} releases, and unpacked ones no dyno runs ({})",
        pruned.slugs.count,
        crate::prune::ROLLBACK_DEPTH,
        size(pruned.slugs.bytes)
    );
    say!(
        "-----> builds: removed {} left by interrupted builds ({})",
        pruned.builds.count,
        size(pruned.builds.bytes)
    );
    say!(
        "-----> containers of destroyed apps: removed {}",
        pruned.containers.len()
    );
    for container in &pruned.containers {
        say!("       {container}");
    }
    say!(
        "-----> images no release, setting or container needs: removed {}",
        pruned.images.len()
    );
    for image in &pruned.images {
        say!("       {image}");
    }
    say!(
        "-----> networks and add-on volumes of destroyed apps and add-ons: removed {}",
        pruned.networks.len() + pruned.volumes.len()
    );
    for gone in pruned.networks.iter().chain(&pruned.volumes) {
        say!("       {gone}");
    }
    if let Some(free) = state::free_bytes(&root.path) {
        say!(
            "       {} free on the disk holding `{}`",
            size(free),
            root.path.display()
        );
    }
    Ok(())
}

fn systemctl(verb: &str) -> Result<()> {
    let status = Command::new("systemctl")
        .args([verb, "paas.service"])
        .status()
        .context(|| "running `systemctl`".into())?;
    if !status.success() {
        return Err(
            Error::new(format!("`systemctl {verb} paas.service` failed"))
                .hint("`journalctl -u paas.service` says why"),
        );
    }
    say!("-----> {verb}: paas.service");
    Ok(())
}

/// Stops the supervisor and its daemon; false if they outlived the wait.
fn stop_supervisor(root: &Root) -> bool {
    let pid_file = install::supervisor_pid_file(root);
    if let Some(pid) = install::pid_alive(&pid_file) {
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        // The daemon stops the add-ons first (a database checkpoints, 30 s
        // at most) and finishes a repair under way (a boot: 60 s at most).
        let deadline = Instant::now() + Duration::from_secs(120);
        while install::pid_alive(&pid_file).is_some() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    install::pid_alive(&pid_file).is_none()
}

fn uninstall(root: &Root, confirm: Option<std::path::PathBuf>) -> Result<()> {
    require_root_user("uninstall")?;
    let settings = root.settings()?;
    let path = std::fs::canonicalize(&root.path).context(|| "resolving the root".into())?;
    let confirmed = confirm.and_then(|c| std::fs::canonicalize(c).ok()) == Some(path.clone());
    if !confirmed {
        return Err(Error::new(format!(
            "uninstalling removes every app under `{}`",
            path.display()
        ))
        .hint(format!(
            "confirm with `paas server uninstall --root {0} --confirm {0}`",
            path.display()
        )));
    }
    if !settings.local {
        return Err(Error::new(
            "only a `--local` install can be uninstalled this way",
        ));
    }
    let _ = stop_supervisor(root);
    sshd::stop(root);
    let filter = format!("label=paas.install={}", settings.install_id);
    let listed = crate::runtime::podman::run_as(
        &settings.user,
        &["ps", "--all", "--quiet", "--filter", &filter],
    )?;
    let ids: Vec<String> = String::from_utf8_lossy(&listed.stdout)
        .split_whitespace()
        .map(String::from)
        .collect();
    if !ids.is_empty() {
        let mut args = vec!["rm", "--force", "--time", "2"];
        args.extend(ids.iter().map(String::as_str));
        crate::runtime::podman::run_as(&settings.user, &args)?;
    }
    // The apps' own images (Dockerfile builds, images deployed as they are).
    let listed = crate::runtime::podman::run_as(
        &settings.user,
        &["images", "--format", "{{.Repository}}:{{.Tag}}"],
    )?;
    let prefix = crate::runtime::podman::app_images::install_prefix(&settings.install_id);
    for name in String::from_utf8_lossy(&listed.stdout).split_whitespace() {
        if name.starts_with(&prefix) {
            crate::runtime::podman::run_as(&settings.user, &["rmi", name])?;
        }
    }
    // Add-on data volumes and the apps' and add-ons' networks.
    for kind in ["volume", "network"] {
        let listed = crate::runtime::podman::run_as(
            &settings.user,
            &[kind, "ls", "--quiet", "--filter", &filter],
        )?;
        for name in String::from_utf8_lossy(&listed.stdout).split_whitespace() {
            crate::runtime::podman::run_as(&settings.user, &[kind, "rm", "--force", name])?;
        }
    }
    if let Ok(uid) = crate::users::user_uid(&settings.user) {
        let runtime_dir = std::path::PathBuf::from(format!("/run/user/{uid}"));
        let record = crate::runtime::network::isolated_record_path(&settings, &runtime_dir);
        let _ = std::fs::remove_file(record);
    }
    std::fs::remove_dir_all(&path).context(|| format!("removing `{}`", path.display()))?;
    say!(
        "-----> removed the install at `{}` ({} containers)",
        path.display(),
        ids.len()
    );
    Ok(())
}

static STOPPING: AtomicBool = AtomicBool::new(false);

extern "C" fn on_terminate(_: libc::c_int) {
    STOPPING.store(true, Ordering::SeqCst);
}

/// Runs `paas daemon` and starts it again when it dies, waiting a little
/// longer each time it dies young. SIGTERM stops both.
fn supervise(root: &Root) -> Result<()> {
    state::create_dir(&root.run_dir(), 0o755)?;
    let pid_file = install::supervisor_pid_file(root);
    state::write_atomic(
        &pid_file,
        format!("{}\n", std::process::id()).as_bytes(),
        0o644,
    )?;
    unsafe {
        libc::signal(
            libc::SIGTERM,
            on_terminate as *const () as libc::sighandler_t,
        );
        libc::signal(
            libc::SIGINT,
            on_terminate as *const () as libc::sighandler_t,
        );
    }
    let mut backoff = Duration::from_millis(200);
    let mut last_follow = Instant::now();
    while !STOPPING.load(Ordering::SeqCst) {
        let started = Instant::now();
        let mut child = Command::new(root.bin())
            .arg("--root")
            .arg(&root.path)
            .arg("daemon")
            .stdin(Stdio::null())
            .spawn()
            .context(|| "starting `paas daemon`".into())?;
        let status = loop {
            // The daemon begins its log anew when it is full: the
            // supervisor's own lines follow it there.
            if last_follow.elapsed() >= Duration::from_secs(1) {
                crate::daemon::log_file::follow(&root.daemon_log());
                last_follow = Instant::now();
            }
            if STOPPING.load(Ordering::SeqCst) {
                unsafe {
                    libc::kill(child.id() as i32, libc::SIGTERM);
                }
                break child.wait().ok();
            }
            if let Ok(Some(status)) = child.try_wait() {
                break Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        if STOPPING.load(Ordering::SeqCst) {
            break;
        }
        // A restart the daemon was asked for (SIGHUP, by `paas server
        // install`): the next one starts at once.
        if status.and_then(|s| s.code()) == Some(crate::daemon::RESTART_EXIT) {
            say!("paas supervisor: the daemon exited to be started again");
            backoff = Duration::from_millis(200);
            continue;
        }
        say!("paas supervisor: the daemon exited ({status:?}); starting it again");
        if started.elapsed() > Duration::from_secs(60) {
            backoff = Duration::from_millis(200);
        }
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
    let _ = std::fs::remove_file(&pid_file);
    Ok(())
}
