//! `paas server …`: install, status, start, stop, uninstall, and the
//! supervisor that keeps the daemon running for a `--local` install.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::cli::ServerCommand;
use crate::error::{Context, Error, Result};
use crate::install::{self, sshd};
use crate::state::{self, Root, Settings};

pub fn run(root: Root, command: ServerCommand) -> Result<()> {
    match command {
        ServerCommand::Install(args) => {
            install::install(&root, &args, &crate::completion::system_files()?)
        }
        ServerCommand::Status => status(&root),
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
        return Err(
            Error::new("the daemon is still stopping after 120 seconds").hint(format!(
                "its log is `{}`",
                root.logs_dir().join("daemon.log").display()
            )),
        );
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

/// One line per part: `ok` or `broken`, with the fix.
fn status(root: &Root) -> Result<()> {
    let settings = root.settings()?;
    let mut broken = 0;
    let mut check = |part: &str, result: std::result::Result<String, (String, String)>| match result
    {
        Ok(detail) => println!("ok      {part}: {detail}"),
        Err((problem, fix)) => {
            broken += 1;
            println!("broken  {part}: {problem}\n        fix: {fix}");
        }
    };
    check(
        "settings",
        Ok(format!("`{}`", root.settings_file().display())),
    );
    check("disk", disk_check(root, &settings));
    check(
        "user",
        crate::users::user_uid(&settings.user)
            .map(|uid| format!("`{}` (uid {uid})", settings.user))
            .map_err(|e| (e.message().to_string(), "run `paas server install`".into())),
    );
    check(
        "programs",
        install::programs::check(&install::programs::host_programs()),
    );
    let tun_ok = std::fs::metadata("/dev/net/tun")
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o666 == 0o666)
        .unwrap_or(false);
    check(
        "/dev/net/tun",
        if tun_ok {
            Ok("usable by rootless containers".into())
        } else {
            Err((
                "not mode 0666: rootless containers get no network".into(),
                "run `paas server install`".into(),
            ))
        },
    );
    let podman = podman_check(&settings);
    let podman_ok = podman.is_ok();
    check("podman", podman);
    for (what, image) in [
        ("run image", &settings.run_image),
        ("build image", &settings.build_image),
    ] {
        let exists = podman_run(&settings, &["image", "exists", image]).is_ok();
        check(
            what,
            if exists {
                Ok(format!("`{image}`"))
            } else {
                Err((
                    format!("`{image}` is missing"),
                    "run `paas server install` to build it".into(),
                ))
            },
        );
    }
    if settings.local {
        check(
            "sshd",
            if sshd::running(root) {
                Ok(format!("private sshd on 127.0.0.1:{}", settings.ssh_port))
            } else {
                Err((
                    "the private sshd is not running".into(),
                    "run `paas server start`".into(),
                ))
            },
        );
    }
    if podman_ok {
        check("dynos", dynos_check(&settings));
    }
    let daemon_answers = crate::control::ping_daemon(root).is_ok();
    check(
        "daemon",
        if daemon_answers {
            Ok(format!("router on port {}", settings.http_port))
        } else {
            Err((
                "the daemon does not answer".into(),
                format!(
                    "run `paas server start`; its log is `{}`",
                    root.logs_dir().join("daemon.log").display()
                ),
            ))
        },
    );
    disk_use_by_app(root, &settings)?;
    disk_use_by_addon(root, &settings);
    disk_use_by_storage(root, &settings);
    if broken > 0 {
        Err(Error::new(format!(
            "{broken} part(s) of the install are broken"
        )))
    } else {
        Ok(())
    }
}

/// The free space where the state and podman's store are: broken below
/// what a push needs (`--min-free-disk`).
fn disk_check(root: &Root, settings: &Settings) -> std::result::Result<String, (String, String)> {
    let size = crate::slug::human_size;
    let storage = crate::users::user_home(&settings.user)
        .map(|home| home.join(".local/share/containers/storage"))
        .unwrap_or_default();
    let mut said = Vec::new();
    for (what, path) in [
        ("state", root.path.as_path()),
        ("images", storage.as_path()),
    ] {
        let Some(free) = state::free_bytes(path) else {
            continue;
        };
        if free < settings.min_free_bytes() {
            return Err((
                format!(
                    "{} free at `{}` ({what}): pushes are refused below {}",
                    size(free),
                    path.display(),
                    size(settings.min_free_bytes())
                ),
                "free space: `paas server prune`, then `df -h` and `du` for the rest".into(),
            ));
        }
        said.push(format!(
            "{} free at `{}` ({what})",
            size(free),
            path.display()
        ));
    }
    Ok(said.join(", "))
}

/// What each app keeps on disk: its slugs, its images (a Dockerfile's),
/// build cache, leftovers of builds and log stream.
fn disk_use_by_app(root: &Root, settings: &Settings) -> Result<()> {
    let size = |path: &std::path::Path| crate::slug::human_size(state::size_of_tree(path));
    use crate::runtime::podman::images;
    let images = podman_run(settings, &images::LISTING_ARGS)
        .and_then(|json| images::app_image_use(&json, &settings.install_id))
        .unwrap_or_default();
    let mut rows = vec![vec![
        "App".to_string(),
        "Slugs".into(),
        "Images".into(),
        "Cache".into(),
        "Builds".into(),
        "Logs".into(),
    ]];
    for name in root.apps()? {
        let app = root.app(&name);
        let cache =
            state::size_of_tree(&app.cache_dir()) + state::size_of_tree(&app.buildpack_cache_dir());
        let images = match images.get(name.as_str()) {
            Some((count, bytes)) => format!("{count}, {}", crate::slug::human_size(*bytes)),
            None => "-".into(),
        };
        rows.push(vec![
            name.to_string(),
            size(&app.slugs_dir()),
            images,
            crate::slug::human_size(cache),
            size(&app.builds_dir()),
            size(&app.logs_dir()),
        ]);
    }
    if rows.len() > 1 {
        println!("\ndisk use by app:");
        crate::output::table(&rows);
    }
    Ok(())
}

/// What each add-on's data takes, and the apps attached to it; nothing
/// when podman does not answer (the check above says so).
fn disk_use_by_addon(root: &Root, settings: &Settings) {
    let args = crate::runtime::volumes::listing_args(settings);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let Ok(volumes) = podman_run(settings, &args).and_then(|json| {
        crate::runtime::podman::service::data_volumes(&json, &settings.install_id)
    }) else {
        return;
    };
    let mut rows = vec![vec![
        "Add-on".to_string(),
        "Data".into(),
        "Attached to".into(),
    ]];
    for addon in root.addons().unwrap_or_default() {
        let data = volumes.get(&addon.name).map_or("-".into(), |path| {
            crate::slug::human_size(state::size_of_tree(path))
        });
        let attached: Vec<String> = crate::addons::attachments(root, &addon.name)
            .unwrap_or_default()
            .into_iter()
            .map(|(app, var)| format!("{app}::{var}"))
            .collect();
        rows.push(vec![addon.name.clone(), data, attached.join(", ")]);
    }
    if rows.len() > 1 {
        println!("\ndisk use by add-on:");
        crate::output::table(&rows);
    }
}

/// What each storage's files take (`storage:create`), and where it is
/// mounted; nothing when podman does not answer (the check above says so).
fn disk_use_by_storage(root: &Root, settings: &Settings) {
    use crate::runtime::volumes;
    let args = volumes::listing_args(settings);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let Ok(volumes) = podman_run(settings, &args).and_then(|json| volumes::parse_listing(&json))
    else {
        return;
    };
    let mounts = crate::storage::all_mounts(root).unwrap_or_default();
    let mut rows = vec![vec![
        "Storage".to_string(),
        "Size".into(),
        "Mounted on".into(),
    ]];
    for (name, path) in volumes {
        let mounted: Vec<String> = mounts
            .iter()
            .filter(|(_, m)| m.storage == name)
            .map(|(app, m)| format!("{app}:{}", m.path))
            .collect();
        rows.push(vec![
            name.to_string(),
            crate::slug::human_size(state::size_of_tree(&path)),
            mounted.join(", "),
        ]);
    }
    if rows.len() > 1 {
        println!("\ndisk use by storage:");
        crate::output::table(&rows);
    }
}

fn podman_run(settings: &Settings, args: &[&str]) -> Result<String> {
    if unsafe { libc::geteuid() } == 0 {
        let output = crate::runtime::podman::run_as(&settings.user, args)?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(Error::new(
                String::from_utf8_lossy(&output.stderr).trim().to_string(),
            ))
        }
    } else {
        crate::runtime::podman::run(args)
    }
}

/// Whether every dyno podman says is running really is: after its
/// processes were killed, podman's state says so for ever.
fn dynos_check(settings: &Settings) -> std::result::Result<String, (String, String)> {
    let filter = format!("label=paas.install={}", settings.install_id);
    let listed = podman_run(
        settings,
        &[
            "ps",
            "--ns",
            "--format",
            "json",
            "--filter",
            &filter,
            "--filter",
            "status=running",
        ],
    )
    .and_then(|json| crate::runtime::podman::running_and_gone(&json));
    match listed {
        Ok((running, gone)) if gone.is_empty() => Ok(format!("{running} running")),
        Ok((_, gone)) => {
            let (s, verb) = if gone.len() == 1 {
                ("", "is")
            } else {
                ("s", "are")
            };
            Err((
                format!(
                    "{} dyno{s} podman says {verb} running {verb} gone: {}",
                    gone.len(),
                    gone.join(", ")
                ),
                "the daemon replaces them within seconds; run `paas server start` if it is not running".into(),
            ))
        }
        Err(err) => Err((
            err.message().to_string(),
            "`paas server status` again; `podman ps` as the owner shows more".into(),
        )),
    }
}

fn podman_check(settings: &Settings) -> std::result::Result<String, (String, String)> {
    let info = podman_run(
        settings,
        &[
            "info",
            "--format",
            "{{.Host.OCIRuntime.Name}} {{.Store.GraphDriverName}} {{.Host.CgroupsVersion}}",
        ],
    );
    match info {
        Ok(text) => {
            let words: Vec<&str> = text.split_whitespace().collect();
            let driver = words.get(1).copied().unwrap_or("?");
            if driver == "vfs" {
                return Err((
                    "storage driver is vfs: every dyno copies the whole image".into(),
                    "set `driver = \"overlay\"` in the owner's `~/.config/containers/storage.conf` and run `podman system reset`".into(),
                ));
            }
            Ok(format!(
                "runtime {}, storage {driver}, cgroups {}{}",
                words.first().copied().unwrap_or("?"),
                words.get(2).copied().unwrap_or("?"),
                if words.get(2) == Some(&"v1") {
                    " (memory limits cannot be enforced for rootless dynos)"
                } else {
                    ""
                }
            ))
        }
        Err(err) => Err((
            err.message().to_string(),
            "run `paas server install`".into(),
        )),
    }
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
