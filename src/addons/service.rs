//! An add-on's server: what its container runs (PostgreSQL's or Redis's
//! start script, user, stop signal), the addresses it holds on the networks
//! of the apps attached to it, and waiting for it to accept logins. The
//! container itself is a runtime service container
//! (`runtime::podman::service`).
//!
//! Each add-on has a home network of its own (internal, nothing else on it)
//! and joins the network of every app attached to it at a fixed address and
//! MAC, so a restarted server is found where it was and no neighbour cache
//! goes stale. Only that network's dynos reach it (`runtime::network`);
//! dynos find add-ons in `/etc/hosts`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::{Addon, AddonDir, Kind};
use crate::error::{Context, Error, Result};
use crate::runtime::network;
use crate::runtime::podman::service::{self as container_of, ServiceSpec};
use crate::state::{AppName, Root, Settings};

/// Finds Debian's versioned PostgreSQL binaries as well as an official image's.
const PG_PATH: &str =
    r#"PATH="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1):$PATH""#;

/// First boot: a cluster whose only network logins are by password. Then
/// the server in the foreground, so podman sees it exit, with
/// `pg_stat_statements` loaded for `pg:outliers` when the image has it (an
/// image without it would not start with it asked for).
const POSTGRES_ENTRYPOINT: &str = r#"set -e
export PATH_PLACEHOLDER
PGDATA=/var/lib/postgresql/data
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  initdb -D "$PGDATA" -U postgres -E UTF8 --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
fi
set -- -c listen_addresses='*'
lib="$(dirname "$(command -v postgres)")/../lib"
for dir in "$lib" "$lib/postgresql"; do
  if [ -f "$dir/pg_stat_statements.so" ]; then
    set -- "$@" -c shared_preload_libraries=pg_stat_statements
    break
  fi
done
exec postgres -D "$PGDATA" "$@"
"#;

const REDIS_ENTRYPOINT: &str = "exec redis-server /etc/paas/redis.conf";

/// How long a server has to stop before SIGKILL: PostgreSQL's fast shutdown
/// (SIGINT) checkpoints in well under this.
pub const STOP_GRACE: Duration = Duration::from_secs(30);

/// How long a server has to accept connections after a command starts it.
pub const READY_TIMEOUT: Duration = Duration::from_secs(90);

pub fn container(settings: &Settings, addon: &str) -> String {
    container_of::service_container(&settings.install_id, addon)
}

fn data_dir(kind: Kind) -> &'static str {
    match kind {
        Kind::Postgres => "/var/lib/postgresql/data",
        Kind::Redis => "/data",
    }
}

/// The redis.conf an add-on's Redis reads (0600, mounted read-only): the
/// password never appears on a command line or in `podman inspect`.
pub fn redis_conf(password: &str) -> String {
    format!(
        "bind 0.0.0.0\nprotected-mode no\nport 6379\ndir /data\nappendonly yes\nrequirepass {password}\n"
    )
}

/// The label that records which start script a container runs.
const SCRIPT_LABEL: &str = "paas.addon.start";

/// `running`, `exited`, `created`…, or `None` when there is no container.
pub fn status(settings: &Settings, addon: &str) -> Option<String> {
    container_of::service_status(&settings.install_id, addon)
}

/// Refuses to go on with an add-on whose server is not running, saying so
/// rather than with podman's words.
pub fn require_running(settings: &Settings, addon: &Addon) -> Result<()> {
    match status(settings, &addon.name).as_deref() {
        Some("running") => Ok(()),
        state => Err(Error::new(format!(
            "`{}` is not running ({})",
            addon.name,
            state.unwrap_or("it has no container")
        ))
        .hint("the daemon starts it again within seconds: try again shortly")),
    }
}

/// What the container runs: its start script.
fn start_script(kind: Kind) -> String {
    match kind {
        Kind::Postgres => POSTGRES_ENTRYPOINT.replace("PATH_PLACEHOLDER", PG_PATH),
        Kind::Redis => REDIS_ENTRYPOINT.to_string(),
    }
}

/// A short digest of a start script, for `SCRIPT_LABEL`.
fn script_tag(script: &str) -> String {
    let digest = Sha256::digest(script.as_bytes());
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// Creates and starts the container from the add-on's records: its volume,
/// its home network, the app networks it is attached to. If podman still
/// holds one of its addresses for a container that is gone (its processes
/// were killed and podman's state reset), the add-on moves to a free one;
/// dynos started with the old one are replaced by converge (network tag).
pub fn start_new(settings: &Settings, root: &Root, addon: &Addon) -> Result<()> {
    let dir = &root.addon(&addon.name);
    let mut leaked: Vec<String> = Vec::new();
    loop {
        match run_container(settings, root, addon) {
            Err(err) if leaked.len() < 8 => {
                let report = err.report();
                let Some(ip) = report
                    .split("requested ip address ")
                    .nth(1)
                    .and_then(|rest| rest.split_whitespace().next())
                    .filter(|_| report.contains("already allocated"))
                else {
                    return Err(err);
                };
                leaked.push(ip.to_string());
                let mut addresses = dir.addresses()?;
                let Some(app) = addresses
                    .apps
                    .iter()
                    .find(|(_, a)| *a == ip)
                    .map(|(app, _)| app.clone())
                else {
                    return Err(err);
                };
                let prefix = ip.rsplit_once('.').map(|(p, _)| p).unwrap_or_default();
                let taken = addresses_on(root, &app);
                let Some(free) = (129..=254u16)
                    .rev()
                    .map(|host| format!("{prefix}.{host}"))
                    .find(|c| !leaked.contains(c) && !taken.contains(c))
                else {
                    return Err(err);
                };
                eprintln!(
                    "paas: {}: {ip} is still held by podman; moving to {free}",
                    addon.name
                );
                addresses.apps.insert(app, free);
                dir.write_addresses(&addresses)?;
                let _ = container_of::remove_service_container(
                    &settings.install_id,
                    &addon.name,
                    Duration::ZERO,
                );
            }
            Ok(()) => {
                warn_unless_isolated(settings);
                return Ok(());
            }
            Err(err) => return Err(err),
        }
    }
}

/// The addresses every add-on of this install holds on an app's network.
fn addresses_on(root: &Root, app: &str) -> Vec<String> {
    root.addons()
        .unwrap_or_default()
        .iter()
        .filter_map(|a| root.addon(&a.name).addresses().ok())
        .filter_map(|a| a.apps.get(app).cloned())
        .collect()
}

fn run_container(settings: &Settings, root: &Root, addon: &Addon) -> Result<()> {
    let dir = &root.addon(&addon.name);
    let mut networks = Vec::new();
    for app in dir.addresses()?.apps.keys() {
        let app = AppName::parse(app).map_err(|e| Error::unexpected(e.to_string()))?;
        networks.push(assign_address(settings, root, addon, &app)?);
    }
    let script = start_script(addon.kind);
    let (user, stop_signal, read_only_files) = match addon.kind {
        // Fast shutdown: disconnects clients and checkpoints (SIGTERM
        // would wait for every app to hang up).
        Kind::Postgres => (Some("postgres"), Some("SIGINT"), Vec::new()),
        Kind::Redis => (None, None, vec![(dir.redis_conf(), "/etc/paas/redis.conf")]),
    };
    container_of::run_service(
        settings,
        &ServiceSpec {
            name: &addon.name,
            image: &addon.image,
            labels: vec![(SCRIPT_LABEL, script_tag(&script))],
            script,
            data_dir: data_dir(addon.kind),
            log_file: dir.path.join("server.log"),
            stop_grace: STOP_GRACE,
            stop_signal,
            user,
            networks,
            publish: addon.exposed_port.map(|port| (port, addon.kind.port())),
            read_only_files,
        },
    )
}

/// Starts the server if it is not running; returns whether it had to. A
/// container made with an older start script is made anew instead (the
/// data is in the volume), so a stopped add-on comes back with what this
/// version starts it with (`pg_stat_statements`).
pub fn ensure_running(settings: &Settings, root: &Root, addon: &Addon) -> Result<bool> {
    match status(settings, &addon.name).as_deref() {
        Some("running") => Ok(false),
        Some(_) => {
            let made_with =
                container_of::service_label(&settings.install_id, &addon.name, SCRIPT_LABEL);
            if made_with != Some(script_tag(&start_script(addon.kind))) {
                recreate(settings, root, addon)?;
                return Ok(true);
            }
            // A container podman cannot start again (left `stopping` when
            // its processes were killed) is made anew: the data is in the volume.
            if container_of::start_service(&settings.install_id, &addon.name).is_err() {
                recreate(settings, root, addon)?;
            }
            Ok(true)
        }
        None => {
            start_new(settings, root, addon)?;
            Ok(true)
        }
    }
}

/// A command run inside the add-on's container, with PostgreSQL's tools on
/// the PATH. `-i` always: commands read SQL or dumps from stdin.
pub fn exec(settings: &Settings, addon: &Addon, tty: bool, argv: &[&str]) -> Command {
    let user = (addon.kind == Kind::Postgres).then_some("postgres");
    let with_path = format!("{PG_PATH}; exec \"$@\"");
    let mut full = vec!["sh", "-c", &with_path, "sh"];
    full.extend(argv);
    // The password rides in podman's environment, never in its arguments.
    container_of::exec_in_service(&settings.install_id, &addon.name, user, tty, &full)
}

/// Runs SQL as the superuser over the container's own socket; the text goes
/// through stdin, so passwords in it are never arguments. The server logs no
/// statement text, even for an error.
pub fn psql_as_superuser(
    settings: &Settings,
    addon: &Addon,
    database: &str,
    sql: &str,
) -> Result<String> {
    let script = format!("SET log_min_error_statement = panic;\n{sql}\n");
    match run_psql(settings, addon, database, &[], &script)? {
        Ok(stdout) => Ok(stdout.trim().to_string()),
        Err(stderr) => Err(Error::new(format!(
            "PostgreSQL in `{}` refused the change",
            addon.name
        ))
        .cause(stderr.trim())),
    }
}

/// `psql` as the superuser in `database`, unaligned, tuples only, stopping
/// at the first error, with `flags` besides and `script` on stdin: its
/// stdout, or (the inner Err) its stderr.
pub fn run_psql(
    settings: &Settings,
    addon: &Addon,
    database: &str,
    flags: &[&str],
    script: &str,
) -> Result<std::result::Result<String, String>> {
    use std::io::Write as _;
    let mut argv = vec!["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-tA"];
    argv.extend(flags);
    argv.extend(["-d", database]);
    let mut child = exec(settings, addon, false, &argv)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context(|| "running `psql` in the add-on".into())?;
    let _ = child
        .stdin
        .take()
        .expect("piped")
        .write_all(script.as_bytes());
    let output = child
        .wait_with_output()
        .context(|| "waiting for `psql`".into())?;
    Ok(match output.status.success() {
        true => Ok(String::from_utf8_lossy(&output.stdout).into_owned()),
        false => Err(String::from_utf8_lossy(&output.stderr).into_owned()),
    })
}

/// Waits until the server accepts logins (at most until `deadline`);
/// returns the version it reports.
pub fn wait_ready(
    settings: &Settings,
    addon: &Addon,
    dir: &AddonDir,
    deadline: Instant,
) -> Result<String> {
    let password = match addon.kind {
        Kind::Redis => dir.credentials()?.password,
        Kind::Postgres => String::new(),
    };
    let probe: &[&str] = match addon.kind {
        Kind::Postgres => &[
            "psql",
            "-X",
            "-tAc",
            "show server_version",
            "-d",
            "postgres",
        ],
        Kind::Redis => &["redis-cli", "--no-auth-warning", "info", "server"],
    };
    loop {
        let output = exec(settings, addon, false, probe)
            .env("REDISCLI_AUTH", &password)
            .stdin(Stdio::null())
            .output()
            .context(|| "running podman exec".into())?;
        let text = String::from_utf8_lossy(&output.stdout);
        if output.status.success() {
            let version = match addon.kind {
                Kind::Postgres => text.split_whitespace().next().map(String::from),
                Kind::Redis => text
                    .lines()
                    .find_map(|l| l.trim().strip_prefix("redis_version:"))
                    .map(String::from),
            };
            if let Some(version) = version {
                return Ok(version);
            }
        }
        let failed = |what: &str| {
            Error::new(format!("{} in `{}` {what}", addon.kind.title(), addon.name)).hint(format!(
                "its log is `{}`",
                dir.path.join("server.log").display()
            ))
        };
        if status(settings, &addon.name).as_deref() != Some("running") {
            return Err(failed("stopped while starting"));
        }
        if Instant::now() > deadline {
            return Err(failed("did not accept connections in time"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Stops servers cleanly (PostgreSQL checkpoints, Redis saves).
pub fn stop(settings: &Settings, addons: &[&str]) -> Result<()> {
    container_of::stop_services(&settings.install_id, addons, STOP_GRACE)
}

/// Removes the container, its data volume and its home network.
pub fn remove(settings: &Settings, addon: &str) -> Result<()> {
    container_of::remove_service(&settings.install_id, addon)
}

/// Stops, removes and starts the container again (new published ports);
/// the data volume stays.
pub fn recreate(settings: &Settings, root: &Root, addon: &Addon) -> Result<()> {
    container_of::remove_service_container(&settings.install_id, &addon.name, STOP_GRACE)?;
    start_new(settings, root, addon)
}

/// Joins the app's network at a fixed address (recorded first, so a
/// restart finds it again); returns that address.
pub fn connect(settings: &Settings, root: &Root, addon: &Addon, app: &AppName) -> Result<String> {
    let (network, ip) = assign_address(settings, root, addon, app)?;
    if status(settings, &addon.name).is_some() {
        let connected =
            container_of::connect_service(&settings.install_id, &addon.name, &network, &ip)?;
        if let Err(stderr) = connected {
            return Err(
                Error::new(format!("could not connect `{}` to `{app}`", addon.name)).cause(stderr),
            );
        }
        warn_unless_isolated(settings);
    }
    Ok(ip)
}

/// Isolation is defence in depth (the password is the gate): a host where
/// the rules cannot be set still runs its add-ons, and says so.
fn warn_unless_isolated(settings: &Settings) {
    if let Err(err) = network::ensure_isolation(settings) {
        say!(" !     warning: {}", err.report().trim_end());
    }
}

/// The app's network (made if missing) and the add-on's fixed address on
/// it: the recorded one while it is on the network's subnet, else a free
/// one from the top, recorded first so a restart finds it again.
fn assign_address(
    settings: &Settings,
    root: &Root,
    addon: &Addon,
    app: &AppName,
) -> Result<(String, String)> {
    let dir = root.addon(&addon.name);
    let network = network::app_network(settings, app);
    let prefix = network::ensure_network(settings, &network, false)?;
    let mut addresses = dir.addresses()?;
    // An address on another subnet (the network was made again) is no use.
    let recorded = addresses
        .apps
        .get(app.as_str())
        .filter(|ip| ip.rsplit_once('.').map(|(p, _)| p) == Some(prefix.as_str()));
    let ip = match recorded {
        Some(ip) => ip.clone(),
        None => {
            let taken = addresses_on(root, app.as_str());
            let ip = (129..=254u16)
                .rev()
                .map(|host| format!("{prefix}.{host}"))
                .find(|ip| !taken.contains(ip))
                .ok_or_else(|| {
                    Error::new(format!("`{app}` has the most add-ons one app can have"))
                })?;
            addresses.apps.insert(app.to_string(), ip.clone());
            dir.write_addresses(&addresses)?;
            ip
        }
    };
    Ok((network, ip))
}

/// Leaves the app's network and forgets the address.
pub fn disconnect(settings: &Settings, root: &Root, addon: &str, app: &AppName) -> Result<()> {
    let dir = root.addon(addon);
    container_of::disconnect_service(
        &settings.install_id,
        addon,
        &network::app_network(settings, app),
    );
    let mut addresses = dir.addresses()?;
    if addresses.apps.remove(app.as_str()).is_some() {
        dir.write_addresses(&addresses)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_conf_holds_the_password() {
        let text = redis_conf("s3cret");
        assert!(text.contains("requirepass s3cret\n"));
        assert!(text.contains("appendonly yes"));
    }
}
