//! Dynos: the `Runtime` trait the rest of paas drives, its podman
//! implementation, and the Procfile. Outgrowing one machine means another
//! implementation of the trait fed from the same release records.

pub mod netns;
pub mod network;
pub mod podman;
pub mod procfile;
pub mod usage;
pub mod volumes;

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::state::{AppName, DynoSize, Mount};

/// A running dyno's network namespace: defined with the routes file, which
/// records it.
pub use crate::routes::NetnsRef;

/// The port a dyno listens on inside its container (`$PORT`).
pub const DYNO_PORT: u16 = 5000;

/// What to start.
#[derive(Debug, Clone)]
pub struct DynoSpec {
    pub app: AppName,
    pub release: u32,
    pub process_type: String,
    pub index: u32,
    pub command: String,
    /// Config vars plus `PORT`, `DYNO`.
    pub env: BTreeMap<String, String>,
    /// What it runs: a slug, or an image of the app's own.
    pub code: Code,
    /// A random id shared by the container's name and its log file, so the
    /// log files of dynos that are gone can be told apart.
    pub instance: String,
    /// Where the dyno's output is kept.
    pub log_file: PathBuf,
    /// One-off dynos vanish when their command ends.
    pub remove_on_exit: bool,
    pub size: DynoSize,
    /// The app's own bridge network, where its dynos reach its add-ons and
    /// no other app's dynos.
    pub network: String,
    /// `/etc/hosts` entries: each attached add-on's name and address.
    pub hosts: Vec<(String, String)>,
    /// The build whose release phase this dyno runs (`release.1` of a
    /// push): its release is not recorded yet, and its number may go to
    /// another release if the push dies, so `ps` names it by the build.
    pub build: Option<u32>,
    /// Storages mounted in the dyno (`storage:mount`).
    pub mounts: Vec<Mount>,
}

/// What a dyno runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Code {
    /// The unpacked slug, mounted as `/app` with a throwaway writable layer
    /// on the stack's run image; commands run by bash after the config
    /// vars and `.profile.d`.
    Slug(PathBuf),
    /// An image of the app's own, by id (`sha256:…`): config vars are its
    /// environment, and a command runs as `image_command` says.
    Image(String),
}

/// How a dyno of an image runs `command`, as a Dockerfile's `CMD` would:
/// the exec form (`["/server", "--port", "5000"]`) as it is, the shell form
/// by `/bin/sh -c` (so `$PORT` is expanded, and the image needs a shell).
/// Neither goes through the image's `ENTRYPOINT`: a dyno runs what its
/// command says, and an image's own command (`image_default_command`)
/// names its `ENTRYPOINT`.
pub fn image_command(command: &str) -> Vec<String> {
    exec_form(command).unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into(), command.into()])
}

/// The words of an exec-form command (a JSON array of strings, not empty).
pub fn exec_form(command: &str) -> Option<Vec<String>> {
    let trimmed = command.trim();
    if !trimmed.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(trimmed)
        .ok()
        .filter(|words| !words.is_empty())
}

/// The command an image runs by itself (its `ENTRYPOINT` then its `CMD`),
/// written as `image_command` runs it: a shell form `CMD` (which podman
/// keeps as `/bin/sh -c LINE`) as its line, anything else in exec form.
/// `None` for an image that names no command.
pub fn image_default_command(entrypoint: &[String], cmd: &[String]) -> Option<String> {
    match (entrypoint, cmd) {
        ([], []) => None,
        ([], [shell, dash_c, line]) if shell == "/bin/sh" && dash_c == "-c" => Some(line.clone()),
        _ => {
            let words: Vec<&String> = entrypoint.iter().chain(cmd).collect();
            serde_json::to_string(&words).ok()
        }
    }
}

impl DynoSpec {
    pub fn dyno_name(&self) -> String {
        format!("{}.{}", self.process_type, self.index)
    }

    /// What the webhook events of its dyno, started at `started_at` (unix
    /// seconds), say of it: for a dyno made without a `Dyno` back (an
    /// attached one-off's container).
    pub fn facts(&self, started_at: i64) -> crate::webhooks::DynoFacts<'_> {
        crate::webhooks::DynoFacts {
            name: self.dyno_name(),
            process_type: &self.process_type,
            release: self.release,
            size: self.size.name,
            started_at,
        }
    }

    /// Tells dynos started on another network or with other add-on
    /// addresses apart, so converge replaces them when either changes.
    pub fn network_tag(&self) -> String {
        network_tag(&self.network, &self.hosts)
    }

    /// Tells dynos started with other storages mounted apart, so converge
    /// replaces them when the app's mounts change.
    pub fn mounts_tag(&self) -> String {
        mounts_tag(&self.mounts)
    }
}

/// See `DynoSpec::mounts_tag`. Empty for no mounts, as dynos started
/// before storage have no tag at all.
pub fn mounts_tag(mounts: &[Mount]) -> String {
    use sha2::{Digest, Sha256};
    if mounts.is_empty() {
        return String::new();
    }
    let text: Vec<String> = mounts
        .iter()
        .map(|m| format!("{}={}", m.storage, m.path))
        .collect();
    let digest = Sha256::digest(text.join(" ").as_bytes());
    digest.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

/// See `DynoSpec::network_tag`.
pub fn network_tag(network: &str, hosts: &[(String, String)]) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{network} {hosts:?}").as_bytes());
    digest.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

/// The log file of a dyno: `web.1.<instance>.log` in the app's logs dir.
pub fn log_file_name(dyno_name: &str, instance: &str) -> String {
    format!("{dyno_name}.{instance}.log")
}

/// A dyno as the runtime sees it.
#[derive(Debug, Clone)]
pub struct Dyno {
    /// The runtime's handle (container name).
    pub id: String,
    pub app: AppName,
    pub release: u32,
    pub process_type: String,
    pub index: u32,
    pub running: bool,
    pub exit_code: i32,
    /// Unix seconds.
    pub started_at: i64,
    /// Its init's host pid and network namespace, while running.
    pub netns: Option<NetnsRef>,
    /// Its size's name (`standard-1x`).
    pub size: String,
    /// `DynoSpec::network_tag` of what it was started with.
    pub network_tag: String,
    /// `DynoSpec::mounts_tag` of what it was started with.
    pub mounts_tag: String,
    /// `DynoSpec::build`.
    pub build: Option<u32>,
    /// It runs an image of the app's own (`Code::Image`): a command run
    /// in it runs as it is, with its environment, without bash.
    pub image: bool,
}

impl Dyno {
    pub fn name(&self) -> String {
        format!("{}.{}", self.process_type, self.index)
    }

    /// What its webhook events say of it.
    pub fn facts(&self) -> crate::webhooks::DynoFacts<'_> {
        crate::webhooks::DynoFacts {
            name: self.name(),
            process_type: &self.process_type,
            release: self.release,
            size: &self.size,
            started_at: self.started_at,
        }
    }

    /// The name of its log file (see `DynoSpec::instance`).
    pub fn log_file_name(&self) -> String {
        let instance = self.id.rsplit('-').next().unwrap_or_default();
        log_file_name(&self.name(), instance)
    }
}

/// How a dyno run to its end ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Exited(i32),
    /// Stopped for running past its time limit.
    TimedOut,
}

/// Runs dynos. Implementations must tell installs apart: two installs on one
/// machine never see each other's dynos.
pub trait Runtime {
    /// Starts a dyno and returns it once the runtime reports it running.
    fn start(&self, spec: &DynoSpec) -> Result<Dyno>;
    /// Creates a one-off dyno to be attached to this process's stdin and
    /// stdout (a terminal if `tty`); it is listed, so its name is taken.
    fn create_attached(&self, spec: &DynoSpec, tty: bool) -> Result<String>;
    /// Starts a created dyno attached; returns its exit status when it ends.
    fn attach(&self, id: &str) -> Result<i32>;
    /// Runs a dyno to its end with its output on this process's stderr and
    /// no stdin, then removes it; returns its own exit status, even when
    /// the output could not be delivered (a client that hung up). One still
    /// running after `limit` is stopped.
    fn run_to_end(&self, spec: &DynoSpec, limit: Duration) -> Result<Ended>;
    /// This install's dynos, of one app or of all apps.
    fn list(&self, app: Option<&AppName>) -> Result<Vec<Dyno>>;
    /// Stops (SIGTERM to every process, then SIGKILL after `grace`) and
    /// removes dynos; returns each one's exit status, in order.
    fn remove(&self, dynos: &[Dyno], grace: Duration) -> Result<Vec<i32>>;
    /// Whether the dyno has a socket listening on `port` inside it.
    fn is_listening(&self, dyno: &Dyno, port: u16) -> Result<bool>;
    /// A connection to the web dyno's `$PORT`, as the router makes it, for
    /// an HTTP health check.
    fn connect_web(&self, dyno: &Dyno, timeout: Duration) -> Result<std::net::TcpStream> {
        self.connect(dyno, DYNO_PORT, timeout)
    }
    /// A connection to `port` on the dyno's own loopback (`ps:forward`).
    fn connect(&self, dyno: &Dyno, port: u16, timeout: Duration) -> Result<std::net::TcpStream>;
    /// Runs a command inside a running dyno with its config vars, attached
    /// to this process's stdin and stdout (a terminal if `tty`): `ps:exec`,
    /// `ps:copy`. Returns its exit status.
    fn exec_attached(&self, dyno: &Dyno, command: &[String], tty: bool) -> Result<i32>;
    /// Whether the dyno is still running, and its exit code if not.
    fn status(&self, dyno: &Dyno) -> Result<(bool, i32)>;
    /// Runs a command inside a running dyno with its config vars, as a
    /// health check does: its exit status and (the end of) its output.
    fn exec(&self, dyno: &Dyno, command: &[String], timeout: Duration) -> Result<(i32, String)>;
    /// Whether the kernel killed the stopped dyno for going over its memory limit.
    fn oom_killed(&self, dyno: &Dyno) -> bool;
    /// How much of its memory limit each running dyno uses, in percent, by
    /// dyno id (only meaningful where the host enforces limits).
    fn memory_percent(&self, dynos: &[Dyno]) -> Result<Vec<(String, f64)>>;
    /// Removes images no container uses and `kept` does not keep: paas's
    /// own of older versions, apps' of apps that are gone, and dangling
    /// ones. Returns what went.
    fn remove_unused_images(&self, kept: &KeptImages) -> Vec<String>;
    /// Removes the app's own images (`Code::Image`) whose id `keep` does
    /// not name and no container uses. Returns what went.
    fn remove_app_images(&self, app: &AppName, keep: &HashSet<String>) -> Vec<String>;
    /// The app's own network for its dynos, made if missing.
    fn app_network(&self, app: &AppName) -> Result<network::AppNetwork>;
}

/// What `Runtime::remove_unused_images` keeps.
pub struct KeptImages<'a> {
    /// Images settings name (the stacks', the add-ons').
    pub names: &'a [&'a str],
    /// The install: its apps' images are its own; another install's stay.
    pub install_id: &'a str,
    /// Its apps: their own prunes take their images
    /// (`Runtime::remove_app_images`), under their locks, as a push may be
    /// making one.
    pub apps: &'a [AppName],
    /// Images releases may run (ids, `sha256:…`): a renamed app's, still
    /// named after its old name.
    pub ids: &'a HashSet<String>,
}

/// Heroku's R14 comes at the quota; a dyno at this share of its hard limit
/// (which the kernel keeps it under by reclaiming) is there.
pub const R14_PERCENT: f64 = 95.0;

/// Runs `command` (which enforces `timeout` itself, inside the dyno) and
/// collects its output; this side gives up a little later, in case the
/// runtime hangs. Used by runtimes for command checks (`Runtime::exec`).
pub fn output_within(
    mut command: std::process::Command,
    timeout: Duration,
) -> Result<(i32, String)> {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| Error::new("cannot run the check's command").cause(err))?;
    let pid = child.id();
    let (sender, receiver) = std::sync::mpsc::channel();
    // Both pipes are drained while it runs, so a talkative command never blocks.
    std::thread::spawn(move || {
        let _ = sender.send(child.wait_with_output());
    });
    let too_long = || {
        Error::new(format!(
            "the command did not finish within {} s",
            timeout.as_secs()
        ))
    };
    let output = match receiver.recv_timeout(timeout + Duration::from_secs(10)) {
        Ok(output) => output.map_err(|err| Error::new("reading the check's output").cause(err))?,
        Err(_) => {
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            return Err(too_long());
        }
    };
    // `timeout -s KILL`'s status when it had to kill.
    let code = output.status.code().unwrap_or(-1);
    if code == 137 {
        return Err(too_long());
    }
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    let skip = text.chars().count().saturating_sub(2000);
    Ok((code, text.chars().skip(skip).collect()))
}

/// `podman stats` lines `<name> <percent>%` as (name, percent).
pub fn parse_memory_percent(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter_map(|line| {
            let (name, percent) = line.trim().rsplit_once(' ')?;
            Some((
                name.to_string(),
                percent.trim_end_matches('%').parse().ok()?,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_dynos_run_exec_forms_as_they_are_and_lines_by_sh() {
        assert_eq!(
            image_command(r#"["/bin/busybox", "httpd", "-f"]"#),
            ["/bin/busybox", "httpd", "-f"]
        );
        assert_eq!(
            image_command("httpd -p $PORT"),
            ["/bin/sh", "-c", "httpd -p $PORT"]
        );
        // Not an array of strings, or empty: a shell line like any other.
        assert_eq!(image_command("[ -f x ] && y")[0], "/bin/sh");
        assert_eq!(image_command("[]")[0], "/bin/sh");
        assert_eq!(exec_form(r#"["a", 1]"#), None);
    }

    #[test]
    fn an_images_own_command_reads_back_as_the_image_runs_it() {
        let words = |list: &[&str]| list.iter().map(|w| w.to_string()).collect::<Vec<_>>();
        // `CMD httpd -p $PORT`, as podman keeps it.
        let shell = image_default_command(&[], &words(&["/bin/sh", "-c", "httpd -p $PORT"]));
        assert_eq!(shell.as_deref(), Some("httpd -p $PORT"));
        assert_eq!(
            image_command(&shell.unwrap()),
            ["/bin/sh", "-c", "httpd -p $PORT"]
        );
        let exec =
            image_default_command(&words(&["/entry.sh"]), &words(&["serve", "--port", "5000"]))
                .unwrap();
        assert_eq!(exec, r#"["/entry.sh","serve","--port","5000"]"#);
        assert_eq!(
            image_command(&exec),
            ["/entry.sh", "serve", "--port", "5000"]
        );
        assert_eq!(image_default_command(&[], &[]), None);
    }

    #[test]
    fn memory_use_reads_from_podman_stats() {
        let text = "app-web.1-v3-ab12 97.31%\napp-web.2-v3-cd34 4.00%\n--\n";
        assert_eq!(
            parse_memory_percent(text),
            [
                ("app-web.1-v3-ab12".to_string(), 97.31),
                ("app-web.2-v3-cd34".to_string(), 4.0)
            ]
        );
    }
}
