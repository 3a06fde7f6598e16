//! `logs -t` of an app on the cluster: the pods' lines followed through
//! `kubectl logs -f -l`, which follows the pods there when it starts and
//! no others, and ends when their streams do. So kubectl is started
//! again when the app's pods change (a scale, a rollout, a pod that came
//! up since) or when it ends, from a time before the change: the lines
//! it gives again are left out by `logs::Seen`.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::kubectl::{spawn_error, Real};
use super::logs::{self, LogRead};
use super::manifests;
use super::pods::Pod;
use super::scheduler::OnCluster;
use crate::error::{Error, Result};
use crate::logs::LogLine;

/// How often the app's pods are listed while following.
const POLL: Duration = Duration::from_secs(10);

/// What kubectl's choice of pods depends on: each pod of the process
/// type (all, without one), its phase, as kubectl skips a pod whose
/// container is not running yet (`--ignore-errors`), and its restarts,
/// as kubectl's stream of a container ends when it restarts (a crashing
/// dyno's lines are those most wanted).
pub fn pod_states(pods: &[Pod], process_type: Option<&str>) -> BTreeSet<(String, String, u32)> {
    let wanted = process_type.map(manifests::object_name);
    pods.iter()
        .filter(|pod| wanted.as_ref().is_none_or(|t| pod.process_type == *t))
        .map(|pod| (pod.name.clone(), pod.phase.clone(), pod.restarts))
        .collect()
}

fn now_nanos() -> i128 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos()
}

/// Follows the pods' lines from `since` onto `sender` for as long as the
/// process runs; kubectl failing ends it with an error on `sender`.
pub fn follow_pods(
    real: &Real,
    on: &OnCluster,
    process_type: Option<&str>,
    mut since: String,
    sender: &mpsc::SyncSender<Result<LogLine>>,
) {
    loop {
        // A second early: the listing and kubectl's start are not one moment.
        let mut unchanged_at = now_nanos() - 1_000_000_000;
        let states = match on.pods() {
            Ok(pods) => pod_states(&pods, process_type),
            Err(err) => {
                let _ = sender.send(Err(err));
                return;
            }
        };
        let mut command = real.command(&on.logs_args(process_type, LogRead::FollowSince(&since)));
        command.stdin(Stdio::null()).stdout(Stdio::piped());
        // SAFETY: prctl only sets a flag on the child. kubectl then ends
        // with this process (a `logs -t` whose caller hung up exits), not
        // at its next line, which a quiet app may never write.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(err) => {
                let _ = sender.send(Err(spawn_error(err)));
                return;
            }
        };
        let forward = child.stdout.take().map(|stdout| {
            let sender = sender.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { return };
                    if let Some(line) = logs::pod_line(&line) {
                        if sender.send(Ok(line)).is_err() {
                            return;
                        }
                    }
                }
            })
        });
        // Until kubectl ends, or the pods change and it is ended.
        let mut polled = Instant::now();
        let ended_itself = loop {
            std::thread::sleep(Duration::from_millis(500));
            match child.try_wait() {
                Ok(Some(status)) => break Some(status.success()),
                Ok(None) => {}
                Err(_) => break Some(false),
            }
            if polled.elapsed() < POLL {
                continue;
            }
            polled = Instant::now();
            let listed_at = now_nanos() - 1_000_000_000;
            match on.pods() {
                Ok(pods) if pod_states(&pods, process_type) == states => unchanged_at = listed_at,
                Ok(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
                // kubectl logs says what is wrong, if anything lasts.
                Err(_) => {}
            }
        };
        if let Some(thread) = forward {
            let _ = thread.join();
        }
        match ended_itself {
            Some(false) => {
                let _ = sender.send(Err(Error::new("`kubectl logs` failed while following")
                    .hint(
                    "its error is above; `paas logs -t -s paas` follows the platform's lines alone",
                )));
                return;
            }
            // The streams ended (the pods went): ask again now and then,
            // not in a tight loop, for an app with no pods.
            Some(true) => std::thread::sleep(Duration::from_secs(2)),
            None => {}
        }
        // A pod that came or changed did so after the last listing that
        // found none: its lines are all from then on.
        since = logs::since_time(unchanged_at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kubernetes::pods::parse_pods;

    /// `kubectl get pods -o json`, cut to what is read: a web pod running
    /// and one being made, and a worker.
    const PODS: &str = r#"{"items": [
      {"metadata": {"name": "web-5d9c-x2", "labels": {"paas.type": "web", "paas.release": "8"}},
       "status": {"phase": "Running", "containerStatuses": [{"ready": true, "restartCount": 0}]}},
      {"metadata": {"name": "web-5d9c-p7", "labels": {"paas.type": "web", "paas.release": "8"}},
       "status": {"phase": "Pending"}},
      {"metadata": {"name": "worker-queue-7f9-ab", "labels": {"paas.type": "worker-queue", "paas.release": "8"}},
       "status": {"phase": "Running"}}
    ]}"#;

    #[test]
    fn a_pod_that_comes_or_starts_running_changes_what_is_followed() {
        let pods = parse_pods(PODS).unwrap();
        let all = pod_states(&pods, None);
        assert_eq!(all.len(), 3);
        let web = pod_states(&pods, Some("web"));
        assert_eq!(
            web.iter()
                .map(|(name, _, _)| name.as_str())
                .collect::<Vec<_>>(),
            ["web-5d9c-p7", "web-5d9c-x2"]
        );
        // Kubernetes spells the process type its own way.
        assert_eq!(pod_states(&pods, Some("worker_queue")).len(), 1);
        // The pending pod now runs: kubectl must be started again for it.
        let running = PODS.replace(r#""phase": "Pending""#, r#""phase": "Running""#);
        assert_ne!(pod_states(&parse_pods(&running).unwrap(), Some("web")), web);
        // A web container restarted (crash-looping, still `Running`): its
        // new stream must be followed.
        let restarted = PODS.replace(r#""restartCount": 0"#, r#""restartCount": 1"#);
        assert_ne!(
            pod_states(&parse_pods(&restarted).unwrap(), Some("web")),
            web
        );
        // Another type's pod comes: the web pods followed are the same.
        let more = PODS.replace("worker-queue-7f9-ab", "worker-queue-7f9-cd");
        assert_eq!(pod_states(&parse_pods(&more).unwrap(), Some("web")), web);
    }
}
