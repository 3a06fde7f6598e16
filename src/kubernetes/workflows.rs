//! What paas's workflows do for an app on `apps:scheduler kubernetes`:
//! the same changes, made on the cluster through `scheduler`'s kubectl
//! steps instead of converge. `rollout::roll_out` (every push, config
//! change and rollback), `formation` (scale, restart) and the `ps`,
//! `logs` and `run` commands branch here.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc;
use std::time::Duration;

use super::kubectl::Real;
use super::logs::{self, Seen};
use super::pods::Pod;
use super::scheduler::{Deployed, OnCluster, Pace};
use super::{objects, push_release, Cluster, PushedImages};
use crate::converge::Platform;
use crate::error::{Error, Result};
use crate::logs::{Filter, LogLine, Reader};
use crate::release::{Ledger, Release};
use crate::state::{AppDir, Root, Scheduler};

/// How long a Deployment's rollout may take before the deploy fails.
const ROLLOUT_LIMIT: Duration = Duration::from_secs(300);

/// Whether the app's releases run on the cluster.
pub fn on_cluster(app: &AppDir) -> Result<bool> {
    Ok(app.settings()?.scheduler == Scheduler::Kubernetes)
}

/// The server's cluster and kubectl for it.
fn kubectl(root: &Root) -> Result<(Cluster, Real)> {
    let cluster = Cluster::require(root)?;
    let real = Real::new(root, cluster.require_kubeconfig()?);
    Ok((cluster, real))
}

/// Under the app's lock: `release` with `formation` on the cluster (its
/// image pushed, its Job run, its Deployments rolled out), the previous
/// release's objects applied again if a rollout fails. A failed release
/// phase is returned for the caller to record. `phase`: whether the
/// release phase runs (a new release, or one newly on the cluster), or
/// not (a resize of the release running there: its Job ran).
pub fn roll_out(
    platform: &Platform,
    app: &AppDir,
    release: &Release,
    formation: &BTreeMap<String, u32>,
    phase: ReleasePhase,
) -> Result<Deployed> {
    let (cluster, real) = kubectl(platform.root)?;
    let image = match reusable_image(app, release, &cluster.registry)? {
        Some(reference) => {
            say!("-----> Using {reference}");
            PushedImages::record(app, release.version, &reference)?;
            reference
        }
        None => push_release(platform, &cluster, app, release)?.reference(),
    };
    let mut new = objects(platform, &cluster, app, release, &image, Some(formation))?;
    if phase == ReleasePhase::Skip {
        new.retain(|object| object["kind"] != "Job");
    }
    let previous = match Ledger::new(app).current()? {
        Some(current) => {
            let pushed = PushedImages::load(app)?;
            match pushed.get(current.version, &cluster.registry) {
                Some(image) => Some(objects(platform, &cluster, app, &current, image, None)?),
                None => None,
            }
        }
        None => None,
    };
    let on = OnCluster {
        kubectl: &real,
        namespace: cluster.namespace(&app.name),
        app: app.name.clone(),
    };
    // The Job's own deadline is the release timeout; waiting a minute
    // longer lets the cluster stop it and say so, before paas gives up.
    let job_pace = Pace {
        interval: Duration::from_secs(2),
        limit: platform.settings.release_timeout() + Duration::from_secs(60),
    };
    say!("-----> Applying v{} to the cluster", release.version);
    let deployed = on.deploy(&new, previous.as_deref(), job_pace, ROLLOUT_LIMIT)?;
    if deployed == Deployed::RolledOut {
        say!("       Rolled out on the cluster");
    }
    Ok(deployed)
}

/// Whether a rollout runs the release's release phase (its Job).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleasePhase {
    Run,
    Skip,
}

/// After a release is recorded as rolled out: the config Secrets of the
/// releases past the rollback depth deleted (`secrets`). Best effort: the
/// release runs already, so a failure is a warning and the next rollout
/// tries again.
pub fn prune_config_secrets(root: &Root, app: &AppDir) {
    let pruned = Ledger::new(app).list().and_then(|releases| {
        let keep: BTreeSet<u32> = crate::prune::rollback_releases(&releases)
            .map(|r| r.version)
            .collect();
        with_cluster(root, app, |on| on.prune_config_secrets(&keep))
    });
    if let Err(err) = pruned {
        say!(" !     warning: old config Secrets stay on the cluster: {err}");
    }
}

/// The image an earlier release with the same build and commands was
/// pushed as (a rollback's, a config change's): the same bytes, by digest.
fn reusable_image(app: &AppDir, release: &Release, registry: &str) -> Result<Option<String>> {
    let pushed = PushedImages::load(app)?;
    for earlier in Ledger::new(app).list()?.iter().rev() {
        let same = earlier.slug == release.slug
            && earlier.image == release.image
            && earlier.processes == release.processes;
        if let Some(reference) = pushed.get(earlier.version, registry).filter(|_| same) {
            return Ok(Some(reference.to_string()));
        }
    }
    Ok(None)
}

/// The app's namespace and kubectl, for the steps below.
fn with_cluster<T>(
    root: &Root,
    app: &AppDir,
    step: impl FnOnce(&OnCluster) -> Result<T>,
) -> Result<T> {
    let (cluster, real) = kubectl(root)?;
    step(&OnCluster {
        kubectl: &real,
        namespace: cluster.namespace(&app.name),
        app: app.name.clone(),
    })
}

/// Under the app's lock: `formation` recorded and each changed type's
/// replicas set; a changed size re-applies the release (its resources).
pub fn scale(
    platform: &Platform,
    app: &AppDir,
    release: &Release,
    formation: &BTreeMap<String, u32>,
    sizes_changed: bool,
) -> Result<()> {
    if sizes_changed {
        // The release's Job ran when it was made: not again for a resize
        // (its migrations would run again).
        roll_out(platform, app, release, formation, ReleasePhase::Skip)?;
    } else {
        let before = app.settings()?.formation;
        with_cluster(platform.root, app, |on| {
            for (process_type, count) in formation {
                if before.get(process_type) != Some(count) {
                    on.scale(process_type, *count)?;
                }
            }
            Ok(())
        })?;
    }
    app.update_settings(|s| s.formation = formation.clone())?;
    Ok(())
}

/// `ps:restart [TYPE|DYNO]`: a rolling restart (a dyno's whole type:
/// Kubernetes restarts Deployments, not pods).
pub fn restart(root: &Root, app: &AppDir, target: Option<&str>) -> Result<()> {
    let release = Ledger::new(app).current()?.ok_or_else(|| {
        Error::new(format!("`{}` has no release to restart", app.name))
            .hint("push the code first: `git push deploy master`")
    })?;
    let process_types: Vec<&str> = match target {
        Some(target) => vec![target.split_once('.').map_or(target, |(t, _)| t)],
        // Every process type of the release has a Deployment, scaled or
        // not (`manifests`); a type only the formation still names has none.
        None => release
            .processes
            .keys()
            .map(String::as_str)
            .filter(|t| *t != crate::converge::RELEASE_TYPE)
            .collect(),
    };
    with_cluster(root, app, |on| on.restart(process_types))
}

/// `ps`: the app's pods.
pub fn pods(root: &Root, app: &AppDir) -> Result<Vec<Pod>> {
    with_cluster(root, app, |on| on.pods())
}

/// `logs [-n N] [-t] [-p TYPE] [-s SOURCE]`: the last `num` lines of the
/// pods' and the platform's, merged in time order (`logs::merged_tail`),
/// each given to `show`; with `follow`, then the lines of both as they
/// come, until `show`'s caller ends the process (a hangup). `-s paas`
/// asks nothing of the cluster.
pub fn logs(
    root: &Root,
    app: &AppDir,
    num: usize,
    follow: bool,
    filter: &Filter,
    show: &mut dyn FnMut(&LogLine),
) -> Result<()> {
    let mut platform = Reader::new(app);
    let process_type = filter.process_type.clone();
    let cluster = match filter.source.as_deref() {
        Some("paas") => None,
        _ => Some(kubectl(root)?),
    };
    // Taken before the backlog is read: following starts from it, so a
    // line written between the two reads is not lost.
    let since = logs::since_time(time::OffsetDateTime::now_utc().unix_timestamp_nanos());
    let mut seen = Seen::default();
    let pod_lines = match &cluster {
        Some((cluster, real)) => {
            on_cluster_of(cluster, real, app).log_backlog(num, process_type.as_deref())?
        }
        None => Vec::new(),
    };
    for line in &pod_lines {
        seen.note(line);
    }
    for line in logs::merged_tail(pod_lines, platform.read_new(), filter, num) {
        show(&line);
    }
    if !follow {
        return Ok(());
    }
    let pods = cluster.map(|(cluster, real)| {
        // Bounded: a reader slower than the pods holds kubectl back (its
        // pipe fills), not this process's memory.
        let (sender, receiver) = mpsc::sync_channel(4096);
        let namespace = cluster.namespace(&app.name);
        let app = app.name.clone();
        std::thread::spawn(move || {
            let on = OnCluster {
                kubectl: &real,
                namespace,
                app,
            };
            super::follow::follow_pods(&real, &on, process_type.as_deref(), since, &sender);
        });
        receiver
    });
    let pod_filter = logs::pod_filter(filter);
    loop {
        std::thread::sleep(Duration::from_millis(200));
        // What came in the last moment, from both, in time order.
        let mut lines = Vec::new();
        while let Some(pods) = &pods {
            match pods.try_recv() {
                Ok(Ok(line)) if seen.is_new(&line) && pod_filter.matches(&line) => lines.push(line),
                Ok(Ok(_)) => {}
                Ok(Err(err)) => return Err(err),
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    return Err(Error::unexpected("the pods' log reader stopped"))
                }
            }
        }
        lines.extend(
            platform
                .read_new()
                .into_iter()
                .filter(|l| filter.matches(l)),
        );
        lines.sort_by_key(|line| line.at);
        for line in &lines {
            show(line);
        }
    }
}

fn on_cluster_of<'a>(cluster: &Cluster, real: &'a Real, app: &AppDir) -> OnCluster<'a> {
    OnCluster {
        kubectl: real,
        namespace: cluster.namespace(&app.name),
        app: app.name.clone(),
    }
}

/// `run COMMAND`: a one-off pod of the current release, attached; its
/// exit status.
pub fn run(root: &Root, app: &AppDir, command: &[String], tty: bool) -> Result<i32> {
    let release = Ledger::new(app)
        .current()?
        .ok_or_else(|| Error::new(format!("`{}` has not been deployed yet", app.name)))?;
    let (cluster, _) = kubectl(root)?;
    let image = PushedImages::load(app)?
        .get(release.version, &cluster.registry)
        .map(String::from)
        .ok_or_else(|| {
            Error::new(format!("v{} is not on the cluster", release.version))
                .hint(format!("`paas kubernetes:push -a {}` pushes it", app.name))
        })?;
    with_cluster(root, app, |on| {
        on.run_attached(&image, release.version, command, tty)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slug::SlugRef;
    use crate::state::AppName;

    fn release(version: u32, slug: &str, config: &str) -> Release {
        let mut release: Release = toml::from_str(&format!(
            "version = {version}\ndescription = \"x\"\nuser = \"ann\"\ncreated_at = \"2026-12-07T10:00:00Z\"\n"
        ))
        .unwrap();
        release.slug = Some(SlugRef {
            sha256: slug.into(),
            size: 1,
        });
        release.processes = BTreeMap::from([("web".into(), "./run".into())]);
        release.config = BTreeMap::from([("A".into(), config.into())]);
        release
    }

    #[test]
    fn a_rollback_or_config_change_runs_the_image_already_pushed_by_its_digest() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let app = root.app(&AppName::parse("shop").unwrap());
        std::fs::create_dir_all(&app.path).unwrap();
        let ledger = Ledger::new(&app);
        ledger.append(&release(1, "aaa", "1")).unwrap();
        ledger.append(&release(2, "bbb", "1")).unwrap();
        PushedImages::record(&app, 1, "reg.test/shop:v1@sha256:11").unwrap();
        PushedImages::record(&app, 2, "reg.test/shop:v2@sha256:22").unwrap();
        // A rollback to v1's build, with other config: v1's image.
        let rollback = release(3, "aaa", "2");
        assert_eq!(
            reusable_image(&app, &rollback, "reg.test")
                .unwrap()
                .as_deref(),
            Some("reg.test/shop:v1@sha256:11")
        );
        // A new build, or another registry: built and pushed anew.
        assert_eq!(
            reusable_image(&app, &release(3, "ccc", "1"), "reg.test").unwrap(),
            None
        );
        assert_eq!(reusable_image(&app, &rollback, "other.test").unwrap(), None);
        // Other commands: another launcher's files, another image.
        let mut other = release(3, "aaa", "1");
        other.processes.insert("worker".into(), "./work".into());
        assert_eq!(reusable_image(&app, &other, "reg.test").unwrap(), None);
    }
}
