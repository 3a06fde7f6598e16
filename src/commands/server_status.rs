//! `paas server status`: each part of the install, `ok` or `broken` with
//! the fix, then what each app, add-on and storage keeps on disk.

use crate::error::{Error, Result};
use crate::install::{self, sshd};
use crate::state::{self, Root, Settings};

/// One line per part: `ok` or `broken`, with the fix.
pub fn status(root: &Root) -> Result<()> {
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
                    root.daemon_log().display()
                ),
            ))
        },
    );
    check("dashboard", dashboard_check(root, &settings));
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

/// Where the dashboard answers; broken when its automatic certificate
/// failed (its URL is then plain HTTP, or a certificate near its end).
fn dashboard_check(
    root: &Root,
    settings: &Settings,
) -> std::result::Result<String, (String, String)> {
    use crate::daemon::acme::{Status, Subject};
    let https = crate::certs::for_dashboard(root, settings).is_some();
    let url = crate::logins::dashboard_url(settings, https);
    let failing = Status::load(root, &Subject::Dashboard).error;
    match failing {
        Some(why) if settings.dashboard_certs_auto => Err((
            format!("{url}; its certificate was not issued: {why}"),
            format!(
                "point {}'s DNS at this server, open port 80, then `paas dashboard:certs:auto:enable`",
                settings.dashboard_host()
            ),
        )),
        _ => Ok(url),
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
