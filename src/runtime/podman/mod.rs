//! The podman runtime: rootless containers, one per dyno, found again by
//! their labels. Drives the podman CLI (`--format json`), which is stable
//! across podman 4 and 5.

pub mod app_images;
mod build;
mod deadline;
mod env_files;
pub mod images;
mod ps;
pub mod release_image;
pub mod service;
pub use build::{remove_build_containers, BuildContainer, BuildEnd};
pub use deadline::{backstop_flag, Deadline};
use env_files::{env_dir, env_file_text, podman_env_file_text};
pub use env_files::{env_file_left, multi_line_vars, sweep_env_files};
pub use ps::{running_and_gone, GONE_EXIT};

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use super::{Code, Dyno, DynoSpec, Ended, KeptImages, NetnsRef, Runtime};
use crate::error::{Context, Error, Result};
use crate::release::short_image_id;
use crate::state::{self, AppName, Root, Settings};

/// Run by bash in every dyno (and for each command check), as on Heroku:
/// config vars, then `.profile.d/*.sh`, then the command. A dyno's command is
/// `bash -c PROCFILE_COMMAND`; bash execs a simple command in place, so
/// signals reach the app; compound commands (`a && b`) keep bash as their parent.
const ENTRYPOINT: &str = r#"set -a; . /etc/paas/env; set +a
cd /app || exit 1
for f in /app/.profile.d/*.sh; do [ -r "$f" ] && . "$f"; done
exec "$@""#;

/// A static init (catatonit, which podman itself uses for `--init`).
const INIT: &str = "/usr/bin/catatonit";
const INIT_IN_DYNO: &str = "/.paas-init";
/// What runs a container's command under that init (`init_volume`): PID 1
/// reaps zombies and forwards signals to the whole process group, so
/// SIGTERM reaches every process (podman's `--init` reaches only the
/// first, and a shell as PID 1 ignores it).
pub const UNDER_INIT: [&str; 3] = [INIT_IN_DYNO, "-g", "--"];

/// The flag that mounts the init `UNDER_INIT` runs.
pub fn init_volume() -> String {
    format!("--volume={INIT}:{INIT_IN_DYNO}:ro")
}

/// The label of a dyno of an image (`Code::Image`), naming its short id.
const IMAGE_LABEL: &str = "paas.image";

/// The label of a release phase's dyno naming its build (`DynoSpec::build`).
/// Not `paas.build`, which marks build containers by their app.
const BUILD_LABEL: &str = "paas.build-id";

/// The label naming what storages a dyno mounts (`DynoSpec::mounts_tag`).
const MOUNTS_LABEL: &str = "paas.mounts";

/// The most one dyno's log file may hold.
const MAX_LOG_FILE_BYTES: u64 = 16 * 1024 * 1024;

pub struct Podman {
    /// What networks are made with (`network::ensure_app_network`).
    settings: Settings,
    install_id: String,
    image: String,
    /// Per-dyno environment files, mounted read-only into the dyno.
    env_dir: PathBuf,
    /// The daemon's helper that connects inside dynos (`runtime::netns`).
    connector_socket: PathBuf,
}

/// A podman command with the environment rootless podman needs, whoever runs it.
pub fn command() -> Command {
    let mut command = Command::new("podman");
    command
        .current_dir("/")
        .env("XDG_RUNTIME_DIR", runtime_dir());
    command
}

/// Where rootless podman keeps its runtime state: `XDG_RUNTIME_DIR`, or
/// `/run/user/<uid>` without a login session (the daemon, a forced command
/// without pam_systemd).
pub fn runtime_dir() -> std::path::PathBuf {
    std::env::var_os("XDG_RUNTIME_DIR")
        .map(std::path::PathBuf::from)
        // SAFETY: geteuid cannot fail.
        .unwrap_or_else(|| format!("/run/user/{}", unsafe { libc::geteuid() }).into())
}

/// Where rootless podman keeps this user's images and containers' layers.
pub fn storage_dir() -> PathBuf {
    crate::users::current_home()
        .map(|home| home.join(".local/share/containers/storage"))
        .unwrap_or_default()
}

/// A podman command run as `user` (the installer and `server status`, as
/// root, run podman as the install's owner).
pub fn command_as(user: &str) -> Result<Command> {
    crate::users::as_user(user, "podman")
}

/// Runs podman as `user` (see `command_as`) to its end, without stdin.
pub fn run_as(user: &str, args: &[&str]) -> Result<Output> {
    command_as(user)?
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context(|| "running `podman`".into())
}

/// Runs podman and returns its stdout, or an error quoting its stderr.
pub fn run(args: &[&str]) -> Result<String> {
    let run_once = || {
        command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .context(|| "running `podman`".into())
    };
    let mut output = run_once()?;
    if !output.status.success() && reset_stale_state(&output.stderr) {
        output = run_once()?;
    }
    check(args, output)
}

/// Stops a container by its name or id: SIGTERM, then SIGKILL after
/// `grace`. For a caller that has only the name, in a thread of its own
/// (a one-off whose client hung up).
pub fn stop_container(id: &str, grace: Duration) {
    let grace = grace.as_secs().to_string();
    let _ = run(&["stop", "--ignore", "--time", &grace, id]);
}

/// When every process of the owner is killed without a reboot (the OOM
/// killer, `pkill -u`, the end of a login session), podman's pause process
/// is gone while its state still lists running containers, and every podman
/// command fails with "invalid internal status". `podman system migrate`
/// resets that state (even when it exits non-zero for a container whose
/// processes are gone); the daemon then restarts what should run. Returns
/// whether it ran.
pub fn reset_stale_state(stderr: &[u8]) -> bool {
    // Another process may have reset it already: migrate stops every
    // container, so only when podman still fails.
    let still_stale = || {
        command()
            .args(["ps", "--quiet"])
            .stdin(Stdio::null())
            .output()
            .is_ok_and(|o| is_stale_state(&o.stderr))
    };
    is_stale_state(stderr)
        && still_stale()
        && command()
            .args(["system", "migrate"])
            .stdin(Stdio::null())
            .output()
            .is_ok()
}

pub fn is_stale_state(stderr: &[u8]) -> bool {
    String::from_utf8_lossy(stderr).contains("invalid internal status")
}

fn check(args: &[&str], output: Output) -> Result<String> {
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        let verb = args.first().copied().unwrap_or_default();
        Err(Error::new(format!("`podman {verb}` failed"))
            .cause(String::from_utf8_lossy(&output.stderr).trim())
            .hint("`paas server status` checks podman"))
    }
}

impl Podman {
    /// The runtime of one install: its containers, its run image, its env files.
    pub fn for_install(root: &Root, settings: &Settings) -> Podman {
        Podman {
            settings: settings.clone(),
            install_id: settings.install_id.clone(),
            image: settings.run_image.clone(),
            env_dir: env_dir(root),
            connector_socket: super::netns::socket_path(root),
        }
    }

    fn env_file(&self, container: &str) -> PathBuf {
        self.env_dir.join(format!("{container}.env"))
    }
}

/// A short random suffix so a restart of the same dyno gets a fresh container.
pub fn random_suffix() -> String {
    let bytes: [u8; 4] = crate::state::random_bytes();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Podman {
    /// A container name for the dyno, and its env file written (0600).
    fn prepare(&self, spec: &DynoSpec) -> Result<(String, PathBuf)> {
        let container = format!(
            "paas-{}-{}-{}-v{}-{}",
            self.install_id,
            spec.app,
            spec.dyno_name(),
            spec.release,
            spec.instance
        );
        state::create_dir(&self.env_dir, 0o700)?;
        let env_file = self.env_file(&container);
        // A slug's dyno sources it; podman reads an image's at its start.
        let text = match spec.code {
            Code::Slug(_) => env_file_text(&spec.env),
            Code::Image(_) => podman_env_file_text(&spec.env),
        };
        state::write_atomic(&env_file, text.as_bytes(), 0o600)?;
        Ok((container, env_file))
    }

    /// `podman run` arguments after the mode flags (detached or attached):
    /// the container, its labels and mounts, the image and the command.
    fn container_args(&self, spec: &DynoSpec, container: &str, env_file: &Path) -> Vec<String> {
        let mut args: Vec<String> = vec![
            "--name".into(),
            container.to_string(),
            init_volume(),
            "--hostname".into(),
            spec.dyno_name(),
        ];
        match &spec.code {
            Code::Slug(slug_dir) => args.extend([
                "--userns=keep-id".into(),
                format!("--volume={}:/app:O", slug_dir.display()),
                format!(
                    "--mount=type=bind,src={},dst=/etc/paas/env,ro=true",
                    env_file.display()
                ),
                "--env=HOME=/app".into(),
                "--workdir=/app".into(),
            ]),
            // Its own user and directory, as its Dockerfile says; its user
            // is the paas user's uid on the host, as in any rootless container.
            Code::Image(id) => args.extend([
                format!("--env-file={}", env_file.display()),
                format!("--label={IMAGE_LABEL}={}", short_image_id(id)),
            ]),
        }
        for label in [
            format!("paas.install={}", self.install_id),
            format!("paas.app={}", spec.app),
            format!("paas.release={}", spec.release),
            format!("paas.type={}", spec.process_type),
            format!("paas.index={}", spec.index),
            format!("paas.size={}", spec.size.name),
            format!("paas.network={}", spec.network_tag()),
        ] {
            args.push(format!("--label={label}"));
        }
        if let Some(build) = spec.build {
            args.push(format!("--label={BUILD_LABEL}={build}"));
        }
        if !spec.mounts.is_empty() {
            args.push(format!("--label={MOUNTS_LABEL}={}", spec.mounts_tag()));
        }
        // Inside the slug's throwaway layer: podman makes the directory
        // there, and the dyno's user (keep-id) owns the volume's root.
        for mount in &spec.mounts {
            args.push(super::volumes::volume_flag(&self.settings, mount));
        }
        // Enforced where the host can (cgroup v2, or cgroup v1 as root);
        // rootless podman on cgroup v1 ignores them, and `ps` says so.
        args.extend([
            format!("--memory={}m", spec.size.memory_mb),
            format!("--memory-swap={}m", spec.size.memory_mb),
            format!("--cpu-shares={}", spec.size.cpu_shares),
            format!("--pids-limit={}", spec.size.pids),
        ]);
        // No published port: the router reaches web dynos from inside their
        // network namespace (`runtime::netns`), which spares each dyno
        // podman's port forwarder (two processes) and its copies.
        args.push(format!("--network={}", spec.network));
        for (host, ip) in &spec.hosts {
            args.push(format!("--add-host={host}:{ip}"));
        }
        match &spec.code {
            Code::Slug(_) => {
                args.push(self.image.clone());
                args.extend(UNDER_INIT.map(String::from));
                args.extend(["bash".into(), "-c".into(), ENTRYPOINT.into()]);
                args.push(spec.dyno_name());
                args.extend(["bash".into(), "-c".into(), spec.command.clone()]);
            }
            Code::Image(id) => {
                // In place of the image's ENTRYPOINT and CMD (see
                // `image_command`), under the same init as a slug's dyno.
                let entrypoint: Vec<String> = UNDER_INIT
                    .map(String::from)
                    .into_iter()
                    .chain(super::image_command(&spec.command))
                    .collect();
                let json = serde_json::to_string(&entrypoint).unwrap_or_default();
                args.push(format!("--entrypoint={json}"));
                args.push(id.clone());
            }
        }
        args
    }
}

impl Podman {
    /// Creates (does not start) the dyno's container with `flags` before
    /// its usual arguments; returns it and its environment file.
    fn create(&self, spec: &DynoSpec, flags: &[&str]) -> Result<(String, PathBuf)> {
        let (container, env_file) = self.prepare(spec)?;
        let mut args: Vec<String> = std::iter::once("create")
            .chain(flags.iter().copied())
            .map(String::from)
            .collect();
        args.extend(self.container_args(spec, &container, &env_file));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        if let Err(err) = run(&args) {
            let _ = fs::remove_file(&env_file);
            return Err(err);
        }
        Ok((container, env_file))
    }
}

impl Runtime for Podman {
    fn start(&self, spec: &DynoSpec) -> Result<Dyno> {
        let (container, env_file) = self.prepare(spec)?;
        if let Some(dir) = spec.log_file.parent() {
            fs::create_dir_all(dir).context(|| format!("creating `{}`", dir.display()))?;
        }
        let mut args: Vec<String> = vec![
            "run".into(),
            "--detach".into(),
            "--log-driver=k8s-file".into(),
            format!("--log-opt=path={}", spec.log_file.display()),
            // conmon truncates a file past this; the daemon prunes the rest.
            format!("--log-opt=max-size={}", MAX_LOG_FILE_BYTES),
        ];
        if spec.remove_on_exit {
            args.push("--rm".into());
        }
        args.extend(self.container_args(spec, &container, &env_file));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        if let Err(err) = run(&args) {
            let _ = fs::remove_file(&env_file);
            return Err(err);
        }
        let output = run(&[
            "ps",
            "--all",
            "--ns",
            "--filter",
            &format!("name=^{container}$"),
            "--format",
            "json",
        ])?;
        let entries: Vec<ps::PsEntry> =
            serde_json::from_str(&output).context(|| "reading `podman ps` output".into())?;
        let found = entries.into_iter().find_map(ps::to_dyno);
        match found {
            Some(dyno) => Ok(dyno),
            // A one-off that ran and ended before podman was asked (`--rm`):
            // it started; its output is in its log file.
            None if spec.remove_on_exit => Ok(Dyno {
                id: container,
                app: spec.app.clone(),
                release: spec.release,
                process_type: spec.process_type.clone(),
                index: spec.index,
                running: false,
                exit_code: 0,
                started_at: crate::crashes::now(),
                netns: None,
                size: spec.size.name.to_string(),
                network_tag: spec.network_tag(),
                mounts_tag: spec.mounts_tag(),
                build: spec.build,
                image: matches!(spec.code, Code::Image(_)),
            }),
            None => Err(Error::unexpected(format!(
                "dyno `{container}` vanished right after starting"
            ))),
        }
    }

    fn create_attached(&self, spec: &DynoSpec, tty: bool) -> Result<String> {
        let mut flags = vec!["--rm", "--interactive", "--log-driver=none"];
        if tty {
            flags.push("--tty");
        }
        Ok(self.create(spec, &flags)?.0)
    }

    fn attach(&self, container: &str) -> Result<i32> {
        let status = command()
            .args(["start", "--attach", "--interactive", container])
            .status()
            .context(|| "running `podman start`".into());
        let _ = fs::remove_file(self.env_file(container));
        Ok(status?.code().unwrap_or(128))
    }

    fn run_to_end(&self, spec: &DynoSpec, limit: Duration) -> Result<Ended> {
        let backstop = backstop_flag(limit);
        let (container, env_file) = self.create(spec, &["--log-driver=none", &backstop])?;
        let result = (|| {
            let deadline = Deadline::start(&container, limit);
            // Streams until the end, or until the reader goes away.
            let _ = command()
                .args(["start", "--attach", &container])
                .stdin(Stdio::null())
                .stdout(std::io::stderr())
                .status();
            // The container's own status, once it has ended either way.
            let waited = run(&["wait", &container])?;
            let code = waited.trim().parse::<i32>().map_err(|_| {
                Error::unexpected(format!(
                    "`podman wait {container}` said `{}`",
                    waited.trim()
                ))
            });
            // One that succeeded just as its time ran out succeeded.
            let timed_out = deadline.passed();
            match code {
                Ok(code) if timed_out && code != 0 => Ok(Ended::TimedOut),
                code => code.map(Ended::Exited),
            }
        })();
        let _ = run(&["rm", "--force", "--time", "0", &container]);
        let _ = fs::remove_file(&env_file);
        result
    }

    fn list(&self, app: Option<&AppName>) -> Result<Vec<Dyno>> {
        let install = format!("label=paas.install={}", self.install_id);
        let mut args = vec![
            "ps", "--all", "--ns", "--format", "json", "--filter", &install,
        ];
        let app_filter;
        if let Some(app) = app {
            app_filter = format!("label=paas.app={app}");
            args.extend(["--filter", &app_filter]);
        }
        let output = run(&args)?;
        let entries: Vec<ps::PsEntry> =
            serde_json::from_str(&output).context(|| "reading `podman ps` output".into())?;
        let mut dynos: Vec<Dyno> = entries.into_iter().filter_map(ps::to_dyno).collect();
        dynos.sort_by(|a, b| {
            (&a.process_type, a.index, a.release).cmp(&(&b.process_type, b.index, b.release))
        });
        Ok(dynos)
    }

    fn remove(&self, dynos: &[Dyno], grace: Duration) -> Result<Vec<i32>> {
        if dynos.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<&str> = dynos.iter().map(|d| d.id.as_str()).collect();
        let grace = grace.as_secs().to_string();
        let mut stop = vec!["stop", "--ignore", "--time", &grace];
        stop.extend(&ids);
        run(&stop)?;
        let mut inspect = vec!["inspect", "--format", "{{.Name}} {{.State.ExitCode}}"];
        inspect.extend(&ids);
        let codes: BTreeMap<String, i32> = command()
            .args(&inspect)
            .stdin(Stdio::null())
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let (name, code) = l.rsplit_once(' ')?;
                Some((name.to_string(), code.parse().ok()?))
            })
            .collect();
        let mut remove = vec!["rm", "--force", "--ignore"];
        remove.extend(&ids);
        run(&remove)?;
        for dyno in dynos {
            let _ = fs::remove_file(self.env_file(&dyno.id));
        }
        Ok(dynos
            .iter()
            .map(|d| codes.get(&d.id).copied().unwrap_or(-1))
            .collect())
    }

    fn is_listening(&self, dyno: &Dyno, port: u16) -> Result<bool> {
        let Some(NetnsRef { pid, .. }) = dyno.netns else {
            return Ok(false);
        };
        Ok(["tcp", "tcp6"].iter().any(|table| {
            let path = Path::new("/proc")
                .join(pid.to_string())
                .join("net")
                .join(table);
            fs::read_to_string(path)
                .map(|text| ps::proc_net_has_listener(&text, port))
                .unwrap_or(false)
        }))
    }

    fn connect(&self, dyno: &Dyno, port: u16, timeout: Duration) -> Result<std::net::TcpStream> {
        let netns = dyno
            .netns
            .ok_or_else(|| Error::new(format!("{} is not running", dyno.name())))?;
        let connector = &self.connector_socket;
        super::netns::connect_dyno_blocking(connector, netns, port, timeout).map_err(|err| {
            Error::new(match err.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
                std::io::ErrorKind::NotConnected => {
                    "the daemon's dyno connector is not running (`paas server status`)".to_string()
                }
                _ => err.to_string(),
            })
        })
    }

    fn exec(&self, dyno: &Dyno, command: &[String], timeout: Duration) -> Result<(i32, String)> {
        let mut process = self::command();
        if dyno.image {
            // An image may have no `timeout`: this side gives up on it.
            process.args(["exec", &dyno.id]).args(command);
            return super::output_within(process, timeout);
        }
        // `timeout` inside the dyno kills the command itself when it hangs.
        process
            .args(["exec", &dyno.id, "timeout", "-s", "KILL"])
            .arg(timeout.as_secs().max(1).to_string())
            .args(["bash", "-c"])
            .arg(ENTRYPOINT)
            .arg("check")
            .args(command);
        super::output_within(process, timeout)
    }

    fn exec_attached(&self, dyno: &Dyno, command: &[String], tty: bool) -> Result<i32> {
        let mut process = self::command();
        process.args(["exec", "--interactive"]);
        if tty {
            process.arg("--tty");
        }
        process.arg(&dyno.id);
        // An image's dyno has its config vars as its environment already.
        if !dyno.image {
            process.args(["bash", "-c", ENTRYPOINT, "exec"]);
        }
        process.args(command);
        let status = process
            .status()
            .context(|| "running `podman exec`".into())?;
        Ok(status.code().unwrap_or(128))
    }

    fn oom_killed(&self, dyno: &Dyno) -> bool {
        command()
            .args(["inspect", "--format", "{{.State.OOMKilled}}", &dyno.id])
            .stdin(Stdio::null())
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "true")
    }

    fn remove_unused_images(&self, kept: &KeptImages) -> Vec<String> {
        images::remove_unused(kept)
    }

    fn remove_app_images(&self, app: &AppName, keep: &HashSet<String>) -> Vec<String> {
        images::remove_app_images(&self.install_id, app, keep)
    }

    fn memory_percent(&self, dynos: &[Dyno]) -> Result<Vec<(String, f64)>> {
        if dynos.is_empty() {
            return Ok(Vec::new());
        }
        let mut stats = vec!["stats", "--no-stream", "--format", "{{.Name}} {{.MemPerc}}"];
        stats.extend(dynos.iter().map(|d| d.id.as_str()));
        let output = command()
            .args(&stats)
            .stdin(Stdio::null())
            .output()
            .context(|| "running `podman stats`".into())?;
        Ok(super::parse_memory_percent(&String::from_utf8_lossy(
            &output.stdout,
        )))
    }

    fn status(&self, dyno: &Dyno) -> Result<(bool, i32)> {
        let output = command()
            .args([
                "inspect",
                "--format",
                "{{.State.Running}} {{.State.ExitCode}}",
                &dyno.id,
            ])
            .stdin(Stdio::null())
            .output()
            .context(|| "running `podman inspect`".into())?;
        if !output.status.success() {
            return Ok((false, -1));
        }
        let text = String::from_utf8_lossy(&output.stdout);
        let mut words = text.split_whitespace();
        let running = words.next() == Some("true");
        let code = words.next().and_then(|c| c.parse().ok()).unwrap_or(-1);
        Ok((running, code))
    }

    fn app_network(&self, app: &AppName) -> Result<super::network::AppNetwork> {
        super::network::ensure_app_network(&self.settings, app)
    }
}
