//! Pods as paas shows dynos: `kubectl get pods -o json` read into `ps`'s
//! lines (tested with the scheduler's recorded exchanges).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::manifests::{RELEASE_LABEL, TYPE_LABEL};
use crate::error::{Error, Result};

/// A pod, as `ps` shows a dyno.
#[derive(Debug, Clone, PartialEq)]
pub struct Pod {
    pub name: String,
    pub process_type: String,
    pub release: Option<u32>,
    /// `Running`, `Pending`, `Succeeded`, `Failed`.
    pub phase: String,
    pub ready: bool,
    pub restarts: u32,
    pub started_at: Option<String>,
}

impl Pod {
    /// `web.web-5d9c…: up 2026-12-07T10:00:00Z (v7)`, as `ps` lists dynos.
    pub fn line(&self) -> String {
        let state = match (self.phase.as_str(), self.ready) {
            ("Running", true) => "up",
            ("Running", false) => "starting",
            ("Pending", _) => "starting",
            ("Succeeded", _) => "done",
            _ => "crashed",
        };
        let mut line = format!("{}.{}: {state}", self.process_type, self.name);
        if let Some(at) = &self.started_at {
            line.push_str(&format!(" {at}"));
        }
        if let Some(release) = self.release {
            line.push_str(&format!(" (v{release})"));
        }
        if self.restarts > 0 {
            line.push_str(&format!(", {} restarts", self.restarts));
        }
        line
    }
}

#[derive(Deserialize)]
struct PodList {
    items: Vec<PodItem>,
}

#[derive(Deserialize)]
struct PodItem {
    metadata: PodMetadata,
    #[serde(default)]
    status: PodStatus,
}

#[derive(Deserialize)]
struct PodMetadata {
    name: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct PodStatus {
    #[serde(default)]
    phase: String,
    start_time: Option<String>,
    #[serde(default)]
    container_statuses: Vec<ContainerStatus>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContainerStatus {
    #[serde(default)]
    ready: bool,
    #[serde(default)]
    restart_count: u32,
}

/// `kubectl get pods -o json` as pods, by process type then name.
pub fn parse_pods(json: &str) -> Result<Vec<Pod>> {
    let list: PodList = serde_json::from_str(json)
        .map_err(|err| Error::unexpected(format!("reading `kubectl get pods`: {err}")))?;
    let mut pods: Vec<Pod> = list
        .items
        .into_iter()
        .map(|item| Pod {
            process_type: item
                .metadata
                .labels
                .get(TYPE_LABEL)
                .cloned()
                .unwrap_or_default(),
            release: item
                .metadata
                .labels
                .get(RELEASE_LABEL)
                .and_then(|r| r.parse().ok()),
            name: item.metadata.name,
            phase: item.status.phase,
            ready: item.status.container_statuses.iter().all(|c| c.ready)
                && !item.status.container_statuses.is_empty(),
            restarts: item
                .status
                .container_statuses
                .iter()
                .map(|c| c.restart_count)
                .sum(),
            started_at: item.status.start_time,
        })
        .collect();
    pods.sort_by(|a, b| (&a.process_type, &a.name).cmp(&(&b.process_type, &b.name)));
    Ok(pods)
}
