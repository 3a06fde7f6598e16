//! The daemon's part in the metrics (#23): every few seconds it appends
//! what the router counted to the apps' files, and once a minute it adds
//! what each running dyno uses (`runtime::usage`, read from the kernel's
//! files: no podman process beyond the one `ps` that lists the dynos).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::metrics::collect::{DynoSampler, Flusher};
use crate::state::Root;

use super::on_platform;

/// How often counts reach the disk: `paas metrics` shows a request this
/// long after it at most; a daemon killed loses at most this much.
const FLUSH_EVERY: Duration = Duration::from_secs(10);

/// What the flushes keep between runs.
#[derive(Default)]
pub(super) struct MetricsWriter {
    flusher: Flusher,
    sampler: DynoSampler,
    /// The minute whose dyno usage was last sampled.
    sampled_minute: u64,
    /// What the last flush said went wrong: said once, not every flush.
    said: String,
}

impl MetricsWriter {
    /// Writes what was counted, with the dynos' usage when a new minute
    /// began since the last sample.
    pub(super) fn flush(&mut self, root: &Root) {
        let now = u64::try_from(crate::crashes::now()).unwrap_or(0);
        let minute = now - now % 60;
        let mut problems = Vec::new();
        let dynos = if minute > self.sampled_minute {
            self.sampled_minute = minute;
            match on_platform(root, |platform| platform.runtime.list(None)) {
                Ok(dynos) => self
                    .sampler
                    .minute(now, crate::runtime::usage::dyno_usage(&dynos)),
                Err(err) => {
                    problems.push(format!("listing dynos: {}", err.report().trim_end()));
                    Default::default()
                }
            }
        } else {
            Default::default()
        };
        for (app, err) in self.flusher.flush(root, now, dynos) {
            problems.push(format!("{app}: {}", err.report().trim_end()));
        }
        let said = problems.join("; ");
        if said != self.said {
            if !said.is_empty() {
                eprintln!("paas daemon: metrics: {said}");
            }
            self.said = said;
        }
    }
}

pub(super) async fn metrics_loop(root: Root, writer: Arc<Mutex<MetricsWriter>>) {
    loop {
        tokio::time::sleep(FLUSH_EVERY).await;
        let (root, writer) = (root.clone(), writer.clone());
        let _ = tokio::task::spawn_blocking(move || {
            // A flush that panicked once must not stop every later one.
            writer
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .flush(&root);
        })
        .await;
    }
}
