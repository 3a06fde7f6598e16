//! What the host sees of dynos: `podman ps --ns --format json` read into
//! dynos, whether the process podman names for a running one is really
//! there, and whether a dyno listens (its `/proc/PID/net/tcp`).

use std::collections::BTreeMap;
use std::fs;

use serde::Deserialize;

use super::{BUILD_LABEL, IMAGE_LABEL, MOUNTS_LABEL};
use crate::error::{Context, Result};
use crate::runtime::{Dyno, NetnsRef};
use crate::state::{self, AppName};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct PsEntry {
    names: Vec<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    state: String,
    #[serde(default)]
    exit_code: i32,
    #[serde(default)]
    started_at: i64,
    #[serde(default)]
    pid: u32,
    /// Namespace inodes by kind (`"Net": "4026532184"`), with `ps --ns`.
    #[serde(default)]
    namespaces: BTreeMap<String, String>,
}

/// A dyno of podman's `ps --ns --format json` entry; `None` for a
/// container that is not one of paas's dynos.
pub(super) fn to_dyno(entry: PsEntry) -> Option<Dyno> {
    let label = |key: &str| entry.labels.get(key).cloned();
    let net_inode: Option<u64> = entry
        .namespaces
        .get("Net")
        .and_then(|inode| inode.parse().ok());
    // podman's word alone is not enough: after its processes are killed
    // (conmon too), its state says `running` for ever. A dyno whose
    // process is gone has ended, as far as paas is concerned: converge
    // replaces it and `ps` shows it crashed.
    let gone = entry.state == "running" && !process_is_there(entry.pid, net_inode);
    let running = entry.state == "running" && !gone;
    Some(Dyno {
        id: entry.names.first()?.clone(),
        app: AppName::parse(&label("paas.app")?).ok()?,
        release: label("paas.release")?.parse().ok()?,
        process_type: label("paas.type")?,
        index: label("paas.index")?.parse().ok()?,
        running,
        exit_code: if gone { GONE_EXIT } else { entry.exit_code },
        started_at: entry.started_at,
        netns: net_inode
            .filter(|_| running && entry.pid > 0)
            .map(|inode| NetnsRef {
                pid: entry.pid,
                inode,
            }),
        size: label("paas.size").unwrap_or_else(|| state::DEFAULT_SIZE.name.to_string()),
        network_tag: label("paas.network").unwrap_or_default(),
        mounts_tag: label(MOUNTS_LABEL).unwrap_or_default(),
        build: label(BUILD_LABEL).and_then(|id| id.parse().ok()),
        image: entry.labels.contains_key(IMAGE_LABEL),
    })
}

/// Of the containers `ps --ns --format json` lists as running: how many,
/// and the dynos (`web.1 of hello`) among them whose process is gone, for
/// `server status`.
pub fn running_and_gone(ps_json: &str) -> Result<(usize, Vec<String>)> {
    let entries: Vec<PsEntry> =
        serde_json::from_str(ps_json).context(|| "reading `podman ps` output".into())?;
    let running: Vec<&PsEntry> = entries.iter().filter(|e| e.state == "running").collect();
    let gone = running
        .iter()
        .filter(|e| {
            let net_inode = e.namespaces.get("Net").and_then(|i| i.parse().ok());
            !process_is_there(e.pid, net_inode)
        })
        .map(|e| {
            let label = |key: &str| e.labels.get(key).map(String::as_str).unwrap_or("?");
            format!(
                "{}.{} of {}",
                label("paas.type"),
                label("paas.index"),
                label("paas.app")
            )
        })
        .collect();
    Ok((running.len(), gone))
}

/// The exit status paas gives a dyno podman says runs but whose process
/// is gone: killed (SIGKILL's 128 + 9), as it most likely was.
pub const GONE_EXIT: i32 = 137;

/// Whether the process podman names for a running container is there and
/// in the container's network namespace (a pid taken by another process
/// since is not). Without a pid, or where it cannot be told, podman is
/// trusted.
fn process_is_there(pid: u32, net_inode: Option<u64>) -> bool {
    use std::os::unix::fs::MetadataExt;
    if pid == 0 {
        return true;
    }
    match fs::metadata(format!("/proc/{pid}/ns/net")) {
        Ok(netns) => net_inode.is_none_or(|inode| netns.ino() == inode),
        Err(err) => err.kind() != std::io::ErrorKind::NotFound,
    }
}

/// Read from the dyno's network namespace (`/proc/PID/net/tcp`): dynos
/// publish no port the host could try.
pub(super) fn proc_net_has_listener(table: &str, port: u16) -> bool {
    let wanted = format!("{port:04X}");
    table.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let local_port = fields.get(1).and_then(|addr| addr.rsplit(':').next());
        local_port == Some(wanted.as_str()) && fields.get(3) == Some(&"0A")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_listeners_in_proc_net_tcp() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000:1388 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1 1 0000000000000000 100 0 0 10 0\n   1: 0100007F:0050 0100007F:1388 01 00000000:00000000 00:00000000 00000000  1000        0 2 1 0000000000000000 100 0 0 10 0\n";
        assert!(proc_net_has_listener(table, 5000));
        assert!(
            !proc_net_has_listener(table, 80),
            "an established socket is not a listener"
        );
        assert!(!proc_net_has_listener(table, 8080));
    }
}
