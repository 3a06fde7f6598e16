//! Service containers: the long-running servers of add-ons (PostgreSQL,
//! Redis). Each has a data volume, a home network of its own, and a fixed
//! address and MAC on every other network it joins, so a restarted server
//! is found where it was and no neighbour cache goes stale. What runs in
//! one, and where, is the add-on's to say (`addons::service`); the podman
//! calls, and the names of the container, volume and home network, are
//! made here.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::{command, run};
use crate::error::{Context, Result};
use crate::runtime::network;
use crate::state::Settings;

/// The container of a service, and the name of its home network.
pub fn service_container(install_id: &str, service: &str) -> String {
    format!("paas-{install_id}-addon-{service}")
}

fn data_volume(install_id: &str, service: &str) -> String {
    format!("{}-data", service_container(install_id, service))
}

/// A locally administered MAC, the same every time for this service on
/// this network.
fn mac_address(service: &str, network: &str) -> String {
    let digest = Sha256::digest(format!("{service} {network}").as_bytes());
    let bytes: Vec<String> = digest.iter().take(5).map(|b| format!("{b:02x}")).collect();
    format!("02:{}", bytes.join(":"))
}

/// What a service container runs, and how.
pub struct ServiceSpec<'a> {
    pub name: &'a str,
    pub image: &'a str,
    /// Run by `sh -c`.
    pub script: String,
    /// Labels beside the install's and the service's own (`paas.addon`).
    pub labels: Vec<(&'static str, String)>,
    /// Where the data volume is mounted.
    pub data_dir: &'static str,
    pub log_file: PathBuf,
    pub stop_grace: Duration,
    pub stop_signal: Option<&'static str>,
    pub user: Option<&'static str>,
    /// Other networks joined, each at a fixed address.
    pub networks: Vec<(String, String)>,
    /// Published on the host's loopback: (host port, container port).
    pub publish: Option<(u16, u16)>,
    /// Host files mounted read-only: (host path, path inside).
    pub read_only_files: Vec<(PathBuf, &'static str)>,
}

/// Creates and starts a service container (its volume and home network
/// made if missing).
pub fn run_service(settings: &Settings, spec: &ServiceSpec) -> Result<()> {
    let install_id = &settings.install_id;
    let name = service_container(install_id, spec.name);
    let label = format!("paas.install={install_id}");
    let data = data_volume(install_id, spec.name);
    if !command()
        .args(["volume", "exists", &data])
        .stdin(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        run(&["volume", "create", "--label", &label, &data])?;
    }
    network::ensure_network(settings, &name, true)?;
    let mut args: Vec<String> = vec![
        "run".into(),
        "--detach".into(),
        "--name".into(),
        name.clone(),
        format!("--label={label}"),
        format!("--label=paas.addon={}", spec.name),
    ];
    args.extend(spec.labels.iter().map(|(k, v)| format!("--label={k}={v}")));
    args.extend([
        format!("--network={name}"),
        format!("--volume={data}:{}", spec.data_dir),
        "--log-driver=k8s-file".into(),
        format!("--log-opt=path={}", spec.log_file.display()),
        "--log-opt=max-size=8388608".into(),
        format!("--stop-timeout={}", spec.stop_grace.as_secs()),
    ]);
    for (network, ip) in &spec.networks {
        args.push(format!(
            "--network={network}:ip={ip},mac={}",
            mac_address(spec.name, network)
        ));
    }
    if let Some((host, inside)) = spec.publish {
        args.push(format!("--publish=127.0.0.1:{host}:{inside}"));
    }
    if let Some(signal) = spec.stop_signal {
        args.push(format!("--stop-signal={signal}"));
    }
    if let Some(user) = spec.user {
        args.push(format!("--user={user}"));
    }
    for (host, inside) in &spec.read_only_files {
        args.push(format!(
            "--mount=type=bind,src={},dst={inside},ro=true",
            host.display()
        ));
    }
    args.extend([
        spec.image.to_string(),
        "sh".into(),
        "-c".into(),
        spec.script.clone(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&args).map(drop)
}

/// The container's state (`running`, `exited`, `created`…), or `None` when
/// there is none.
pub fn service_status(install_id: &str, service: &str) -> Option<String> {
    inspect(install_id, service, "{{.State.Status}}")
}

/// One of the container's labels; `None` when there is no container.
pub fn service_label(install_id: &str, service: &str, label: &str) -> Option<String> {
    inspect(
        install_id,
        service,
        &format!("{{{{index .Config.Labels \"{label}\"}}}}"),
    )
}

fn inspect(install_id: &str, service: &str, format: &str) -> Option<String> {
    let output = command()
        .args([
            "inspect",
            "--format",
            format,
            &service_container(install_id, service),
        ])
        .stdin(Stdio::null())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// Starts a stopped service container again.
pub fn start_service(install_id: &str, service: &str) -> Result<()> {
    run(&["start", &service_container(install_id, service)]).map(drop)
}

/// A command run inside the service's container, with stdin (`-i`), a
/// terminal if `tty`, as `user`, with `REDISCLI_AUTH` passed on from this
/// process's environment (a password never in the arguments).
pub fn exec_in_service(
    install_id: &str,
    service: &str,
    user: Option<&str>,
    tty: bool,
    argv: &[&str],
) -> Command {
    let mut podman = command();
    podman.args(["exec", "--interactive"]);
    if tty {
        podman.arg("--tty");
    }
    if let Some(user) = user {
        podman.arg(format!("--user={user}"));
    }
    podman.arg("--env=REDISCLI_AUTH");
    podman
        .arg(service_container(install_id, service))
        .args(argv);
    podman
}

/// Stops service containers, each with `grace` before SIGKILL.
pub fn stop_services(install_id: &str, services: &[&str], grace: Duration) -> Result<()> {
    if services.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = services
        .iter()
        .map(|s| service_container(install_id, s))
        .collect();
    let grace = grace.as_secs().to_string();
    let mut args = vec!["stop", "--ignore", "--time", &grace];
    args.extend(names.iter().map(String::as_str));
    run(&args).map(drop)
}

/// Removes the container (stopped with `grace` first); the data volume and
/// home network stay.
pub fn remove_service_container(install_id: &str, service: &str, grace: Duration) -> Result<()> {
    let name = service_container(install_id, service);
    let grace = grace.as_secs().to_string();
    run(&["rm", "--force", "--ignore", "--time", &grace, &name]).map(drop)
}

/// Removes the container, its data volume and its home network.
pub fn remove_service(install_id: &str, service: &str) -> Result<()> {
    remove_service_container(install_id, service, Duration::from_secs(10))?;
    run(&["volume", "rm", "--force", &data_volume(install_id, service)])?;
    let _ = run(&[
        "network",
        "rm",
        "--force",
        &service_container(install_id, service),
    ]);
    Ok(())
}

/// Removes this install's service data volumes whose service is not in
/// `services` (an add-on destroyed while podman could not remove them), if
/// no container uses them. Returns their names.
pub fn remove_orphan_volumes(install_id: &str, services: &[String]) -> Vec<String> {
    let label = format!("label=paas.install={install_id}");
    let Ok(listed) = run(&["volume", "ls", "--quiet", "--filter", &label]) else {
        return Vec::new();
    };
    let prefix = format!("paas-{install_id}-addon-");
    listed
        .split_whitespace()
        .filter(|volume| {
            volume
                .strip_prefix(&prefix)
                .and_then(|rest| rest.strip_suffix("-data"))
                .is_some_and(|service| !services.iter().any(|s| s == service))
        })
        .filter(|volume| run(&["volume", "rm", volume]).is_ok())
        .map(String::from)
        .collect()
}

/// Each service's data volume and where its files are on the host, from a
/// `podman volume ls --format json` listing of this install's volumes.
pub fn data_volumes(
    json: &str,
    install_id: &str,
) -> Result<std::collections::BTreeMap<String, PathBuf>> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Listed {
        name: String,
        mountpoint: PathBuf,
    }
    let listed: Vec<Listed> =
        serde_json::from_str(json).context(|| "reading `podman volume ls` output".into())?;
    let prefix = format!("paas-{install_id}-addon-");
    Ok(listed
        .into_iter()
        .filter_map(|volume| {
            let service = volume.name.strip_prefix(&prefix)?.strip_suffix("-data")?;
            Some((service.to_string(), volume.mountpoint))
        })
        .collect())
}

/// Joins a running service to `network` at `ip`; Err holds podman's words.
pub fn connect_service(
    install_id: &str,
    service: &str,
    network: &str,
    ip: &str,
) -> Result<std::result::Result<(), String>> {
    let output = command()
        .args([
            "network",
            "connect",
            "--ip",
            ip,
            "--mac-address",
            &mac_address(service, network),
            network,
            &service_container(install_id, service),
        ])
        .stdin(Stdio::null())
        .output()
        .context(|| "running `podman network connect`".into())?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() && !stderr.contains("already connected") {
        return Ok(Err(stderr.trim().to_string()));
    }
    Ok(Ok(()))
}

/// Takes the service off `network`, if it is on it.
pub fn disconnect_service(install_id: &str, service: &str, network: &str) {
    let _ = command()
        .args([
            "network",
            "disconnect",
            network,
            &service_container(install_id, service),
        ])
        .stdin(Stdio::null())
        .output();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_volumes_are_found_by_service_for_this_install_only() {
        let json = r#"[
          {"Name": "paas-ab12-addon-postgres-a-1-data", "Mountpoint": "/v/1"},
          {"Name": "paas-ab12-storage-uploads", "Mountpoint": "/v/2"},
          {"Name": "paas-cd34-addon-redis-b-2-data", "Mountpoint": "/v/3"}
        ]"#;
        let found = data_volumes(json, "ab12").unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found["postgres-a-1"], PathBuf::from("/v/1"));
    }

    #[test]
    fn macs_are_stable_and_locally_administered() {
        let a = mac_address("postgres-a-1", "net");
        assert_eq!(a, mac_address("postgres-a-1", "net"));
        assert_ne!(a, mac_address("postgres-a-1", "other"));
        assert!(a.starts_with("02:"));
        assert_eq!(a.split(':').count(), 6);
    }
}
