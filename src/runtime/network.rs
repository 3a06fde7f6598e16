//! The podman networks dynos and add-ons live on, and the rules that keep
//! apps apart on them.
//!
//! Every app has a bridge network of its own, `10.90.N.0/24`: its dynos
//! take addresses from the lower half, the add-ons attached to it fixed ones
//! from the top (`addons::service`). All bridges live in rootless podman's
//! one network namespace, which has one slirp4netns for the way out; a dyno
//! brings no network process of its own (a dyno on podman's default network
//! brought a slirp4netns each). DNS stays off on these networks (aardvark-dns
//! 1.4 stops answering for tens of seconds whenever a container starts or
//! stops); dynos find add-ons in `/etc/hosts` instead.
//!
//! The namespace routes between its bridges. netavark's `isolate` option
//! is asked for, but its rules are not dependable (a test saw one app's
//! dyno reach another's in about half of its runs), so paas adds its own
//! rule per app network there (`isolate`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;

use super::podman;
use crate::error::{Context, Error, Result};
use crate::state::{AppName, Settings};

/// The bridge network an app's dynos run on (and its add-ons join).
pub fn app_network(settings: &Settings, app: &AppName) -> String {
    format!("{}{app}", app_network_prefix(settings))
}

/// What every app network's name of this install starts with.
fn app_network_prefix(settings: &Settings) -> String {
    format!("paas-{}-app-", settings.install_id)
}

/// An app's network, ready for its dynos.
pub struct AppNetwork {
    pub name: String,
    /// Whether every app network of the install is isolated from the
    /// others. A host where the rules cannot be set still runs dynos (the
    /// caller says so).
    pub isolated: Result<()>,
}

/// The app's network, made if missing, with every app network of this
/// install isolated from the others. On every deploy, so it starts podman
/// only when something is missing (`networks`, `ensure_isolated`).
pub fn ensure_app_network(settings: &Settings, app: &AppName) -> Result<AppNetwork> {
    let name = app_network(settings, app);
    let mut networks = networks()?;
    if !networks.contains_key(&name) {
        ensure_network(settings, &name, false)?;
        networks = list()?;
    }
    Ok(AppNetwork {
        name,
        isolated: ensure_isolated(settings, &networks),
    })
}

/// The daemon's check on every pass, and an add-on's once it joins an app
/// network: each app network of this install is isolated.
pub fn ensure_isolation(settings: &Settings) -> Result<()> {
    ensure_isolated(settings, &networks()?)
}

/// `isolate`, unless the record says it was done in the namespace there is
/// now for these very networks: then no podman is started. A namespace
/// made anew is a new file, so the rules it lacks are noticed.
fn ensure_isolated(settings: &Settings, networks: &BTreeMap<String, String>) -> Result<()> {
    let record = isolated_record(settings);
    if record.is_current(settings, networks) {
        return Ok(());
    }
    isolate(settings, networks)?;
    record.write(settings, networks);
    Ok(())
}

/// `list`, read from podman's files when it can be.
fn networks() -> Result<BTreeMap<String, String>> {
    match list_from_files() {
        Some(networks) => Ok(networks),
        None => list(),
    }
}

/// Every podman network of this user (any install's) by name, with the
/// first three octets of its subnet (`10.90.7`).
fn list() -> Result<BTreeMap<String, String>> {
    let output = podman::run(&["network", "ls", "--format", "json"])?;
    let networks: Vec<serde_json::Value> =
        serde_json::from_str(&output).context(|| "reading `podman network ls`".into())?;
    Ok(networks.iter().filter_map(name_and_prefix).collect())
}

fn name_and_prefix(network: &serde_json::Value) -> Option<(String, String)> {
    let name = network["name"].as_str()?;
    let subnet = network["subnets"][0]["subnet"].as_str()?;
    let (prefix, _) = subnet.rsplit_once('.')?;
    Some((name.to_string(), prefix.to_string()))
}

/// `list` from the files podman keeps each network in (podman-network(1):
/// `$HOME/.local/share/containers/storage/networks` for a rootless user),
/// in the form `network ls` prints: 35 ms less than starting podman. `None`
/// when they cannot be read (then podman is asked).
fn list_from_files() -> Option<BTreeMap<String, String>> {
    let dir = crate::users::current_home()?.join(".local/share/containers/storage/networks");
    let mut networks = BTreeMap::new();
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).ok()?;
            let network: serde_json::Value = serde_json::from_str(&text).ok()?;
            networks.extend(name_and_prefix(&network));
        }
    }
    Some(networks)
}

/// What `ensure_isolated` last isolated: rootless podman's network
/// namespace (its file's inode: the namespace made anew is a new file)
/// and the app networks whose rules it put there. In podman's runtime dir,
/// which goes with the namespaces at a reboot.
struct IsolatedRecord {
    path: PathBuf,
    text: String,
}

fn isolated_record(settings: &Settings) -> IsolatedRecord {
    let path = isolated_record_path(settings, &podman::runtime_dir());
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    IsolatedRecord { path, text }
}

/// Where the install's `IsolatedRecord` is kept, in the owner's podman
/// runtime dir (`/run/user/<uid>`): removed with the install.
pub fn isolated_record_path(settings: &Settings, runtime_dir: &std::path::Path) -> PathBuf {
    runtime_dir.join(format!("paas-{}-isolated", settings.install_id))
}

impl IsolatedRecord {
    /// The line the record holds once `networks` are isolated in the
    /// namespace there is now; `None` without a namespace.
    fn line(settings: &Settings, networks: &BTreeMap<String, String>) -> Option<String> {
        use std::os::unix::fs::MetadataExt;
        let netns = std::fs::read_dir(podman::runtime_dir().join("netns"))
            .ok()?
            .flatten()
            .find(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("rootless-netns-")
            })?;
        let inode = netns.metadata().ok()?.ino();
        let ours = app_network_prefix(settings);
        let prefixes: Vec<&str> = networks
            .iter()
            .filter(|(name, _)| name.starts_with(&ours))
            .map(|(_, prefix)| prefix.as_str())
            .collect();
        Some(format!("{inode} {}\n", prefixes.join(" ")))
    }

    fn is_current(&self, settings: &Settings, networks: &BTreeMap<String, String>) -> bool {
        Self::line(settings, networks).is_some_and(|line| line == self.text)
    }

    fn write(&self, settings: &Settings, networks: &BTreeMap<String, String>) {
        if let Some(line) = Self::line(settings, networks) {
            let _ = crate::state::write_atomic(&self.path, line.as_bytes(), 0o600);
        }
    }
}

/// Makes a network unless it exists, on the first free `10.90.N.0/24`.
/// Dynamic addresses come from the lower half; add-ons take fixed ones from
/// the top. Returns the first three octets (`10.90.7`).
pub fn ensure_network(settings: &Settings, name: &str, internal: bool) -> Result<String> {
    let networks = list()?;
    if let Some(prefix) = networks.get(name) {
        return Ok(prefix.clone());
    }
    let taken: Vec<&String> = networks.values().collect();
    for n in 0..=255u8 {
        let prefix = format!("10.90.{n}");
        if taken.contains(&&prefix) {
            continue;
        }
        let subnet = format!("{prefix}.0/24");
        let range = format!("{prefix}.0/25");
        let label = format!("paas.install={}", settings.install_id);
        let mut args = vec![
            "network",
            "create",
            "--disable-dns",
            "--opt",
            "isolate=true",
            "--subnet",
            &subnet,
            "--ip-range",
            &range,
            "--label",
            &label,
        ];
        if internal {
            args.push("--internal");
        }
        args.push(name);
        match podman::run(&args) {
            Ok(_) => return Ok(prefix),
            // Made meanwhile by a concurrent operation, or the subnet taken
            // by one.
            Err(err) => match list()?.get(name) {
                Some(prefix) => return Ok(prefix.clone()),
                None if err.report().contains("already") => continue,
                None => return Err(err),
            },
        }
    }
    Err(
        Error::new("no free 10.90.N.0/24 subnet for another network")
            .hint("remove unused podman networks (`podman network prune`)"),
    )
}

/// The rule that lets into an app network (`10.90.7`) only connections
/// made from inside it; answers to its own connections out still come in.
/// Traffic within a network never leaves its bridge, and the add-ons an app
/// reaches sit on its network.
fn isolation_rule(prefix: &str) -> Vec<String> {
    let subnet = format!("{prefix}.0/24");
    [
        "-d",
        &subnet,
        "!",
        "-s",
        &subnet,
        "-m",
        "conntrack",
        "--ctstate",
        "NEW",
        "-m",
        "comment",
        "--comment",
        &isolation_comment(prefix),
        "-j",
        "DROP",
    ]
    .map(String::from)
    .to_vec()
}

/// How `iptables -S` shows that a network's rule is in place.
fn isolation_comment(prefix: &str) -> String {
    format!("paas-isolate-{prefix}")
}

/// Adds the isolation rule of each of this install's app networks that
/// lacks it, in rootless podman's network namespace. The namespace is made
/// anew when its last container stops, without the rules, so this runs
/// before dynos start and on every pass of the daemon. In the `mangle`
/// table, which the kernel passes before `filter`: netavark inserts its
/// own jump (accepting whatever leaves a network) at the top of `filter`'s
/// FORWARD when it sets up a fresh namespace, above any rule already there.
fn isolate(settings: &Settings, networks: &BTreeMap<String, String>) -> Result<()> {
    let ours = app_network_prefix(settings);
    let prefixes: Vec<&String> = networks
        .iter()
        .filter(|(name, _)| name.starts_with(&ours))
        .map(|(_, prefix)| prefix)
        .collect();
    if prefixes.is_empty() {
        return Ok(());
    }
    let iptables = |args: &[String]| {
        podman::command()
            .args(["unshare", "--rootless-netns", "iptables", "-w"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .context(|| "running iptables in podman's network namespace".into())
    };
    let listed = iptables(&["-t".into(), "mangle".into(), "-S".into(), "FORWARD".into()])?;
    let present = String::from_utf8_lossy(&listed.stdout);
    for prefix in prefixes {
        if present.contains(&format!("\"{}\"", isolation_comment(prefix))) {
            continue;
        }
        let mut insert = vec!["-t".into(), "mangle".into(), "-I".into(), "FORWARD".into()];
        insert.extend(isolation_rule(prefix));
        let added = iptables(&insert)?;
        if !added.status.success() {
            return Err(Error::new("could not isolate the app networks")
                .cause(String::from_utf8_lossy(&added.stderr).trim()));
        }
    }
    Ok(())
}

/// Removes this install's app networks whose app is not in `apps`, and
/// add-on home networks whose add-on is not in `addons`: left by an app or
/// add-on destroyed while podman could not remove them. Returns their names.
pub fn remove_orphans(settings: &Settings, apps: &[AppName], addons: &[String]) -> Vec<String> {
    let Ok(networks) = list() else {
        return Vec::new();
    };
    let app_prefix = app_network_prefix(settings);
    let addon_prefix = format!("paas-{}-addon-", settings.install_id);
    let orphans: Vec<String> = networks
        .into_keys()
        .filter(|name| {
            if let Some(app) = name.strip_prefix(&app_prefix) {
                return !apps.iter().any(|a| a.as_str() == app);
            }
            if let Some(addon) = name.strip_prefix(&addon_prefix) {
                return !addons.iter().any(|a| a == addon);
            }
            false
        })
        .collect();
    orphans
        .into_iter()
        .filter(|name| podman::run(&["network", "rm", name]).is_ok())
        .collect()
}

/// Removes an app's network once nothing uses it (the app is destroyed).
pub fn remove_app_network(settings: &Settings, app: &AppName) {
    let _ = podman::run(&["network", "rm", "--force", &app_network(settings, app)]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_network_file_and_network_ls_read_the_same() {
        // As podman 4.3 writes `networks/<name>.json` (and prints each
        // network in `network ls --format json`).
        let file = r#"{
             "name": "paas-a9fa4091-app-pt",
             "id": "c8c5d7d42860f15721e5156a29dd5ee5f074baf25fd82912e808ea923f863243",
             "driver": "bridge",
             "network_interface": "podman1",
             "subnets": [{"subnet": "10.90.7.0/24", "gateway": "10.90.7.1"}],
             "dns_enabled": false
        }"#;
        let network: serde_json::Value = serde_json::from_str(file).unwrap();
        assert_eq!(
            name_and_prefix(&network),
            Some(("paas-a9fa4091-app-pt".to_string(), "10.90.7".to_string()))
        );
        let no_subnet = serde_json::json!({"name": "host-only", "subnets": []});
        assert_eq!(name_and_prefix(&no_subnet), None);
    }

    #[test]
    fn an_isolation_rule_is_found_by_its_comment_as_iptables_lists_it() {
        let rule = isolation_rule("10.90.7");
        assert_eq!(rule.first().map(String::as_str), Some("-d"));
        assert!(rule.windows(2).any(|w| w == ["!", "-s"]));
        // `iptables -S` quotes comments: a prefix is not found inside a longer one.
        let listed = "-A FORWARD ! -s 10.90.17.0/24 -d 10.90.17.0/24 -m conntrack --ctstate NEW -m comment --comment \"paas-isolate-10.90.17\" -j DROP\n";
        assert!(listed.contains(&format!("\"{}\"", isolation_comment("10.90.17"))));
        assert!(!listed.contains(&format!("\"{}\"", isolation_comment("10.90.1"))));
    }
}
