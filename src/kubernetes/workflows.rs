//! What paas's workflows do for an app on `apps:scheduler kubernetes`:
//! the same changes, made on the cluster through `scheduler`'s kubectl
//! steps instead of converge. `rollout::roll_out` (every push, config
//! change and rollback), `formation` (scale, restart) and the `ps`,
//! `logs` and `run` commands branch here.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::time::Duration;

use super::kubectl::Real;
use super::pods::{log_line, Pod};
use super::scheduler::{Deployed, OnCluster, Pace};
use super::{objects, push_release, Cluster, PushedImages};
use crate::converge::Platform;
use crate::error::{Context, Error, Result};
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
    let kubeconfig = cluster.require_kubeconfig()?.to_path_buf();
    Ok((cluster, Real { kubeconfig }))
}

/// Under the app's lock: `release` with `formation` on the cluster (its
/// image pushed, its Job run, its Deployments rolled out), the previous
/// release's objects applied again if a rollout fails. A failed release
/// phase is returned for the caller to record.
pub fn roll_out(
    platform: &Platform,
    app: &AppDir,
    release: &Release,
    formation: &BTreeMap<String, u32>,
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
    let new = objects(platform, &cluster, app, release, &image, Some(formation))?;
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
        // The release's Job ran when it was made; it runs again here only
        // if the cluster has lost it, and must not fail a resize then.
        if let Deployed::ReleasePhaseFailed(failure) = roll_out(platform, app, release, formation)?
        {
            return Err(
                Error::new(format!("v{}: the {}", release.version, failure.why))
                    .hint("its output is above; the release keeps its old sizes on the cluster"),
            );
        }
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
    let process_type = target.map(|t| t.split_once('.').map_or(t, |(t, _)| t));
    with_cluster(root, app, |on| on.restart(process_type))
}

/// `ps`: the app's pods.
pub fn pods(root: &Root, app: &AppDir) -> Result<Vec<Pod>> {
    with_cluster(root, app, |on| on.pods())
}

/// `logs [-n N] [-t] [-p TYPE]`: the pods' lines in the stream's format,
/// on stdout as they come.
pub fn logs(
    root: &Root,
    app: &AppDir,
    lines: usize,
    follow: bool,
    process_type: Option<&str>,
) -> Result<()> {
    let (cluster, real) = kubectl(root)?;
    let on = OnCluster {
        kubectl: &real,
        namespace: cluster.namespace(&app.name),
        app: app.name.clone(),
    };
    let mut child = real
        .command(&on.logs_args(lines, follow, process_type))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .context(|| "running `kubectl logs`".into())?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| Error::unexpected("no pipe from kubectl"))?;
    let mut out = std::io::stdout();
    for line in BufReader::new(stdout).lines() {
        let line = line.context(|| "reading `kubectl logs`".into())?;
        if writeln!(out, "{}", log_line(&line)).is_err() {
            // The reader went away.
            let _ = child.kill();
            break;
        }
    }
    let status = child
        .wait()
        .context(|| "waiting for `kubectl logs`".into())?;
    if !status.success() {
        return Err(Error::new("`kubectl logs` failed").hint("its error is above"));
    }
    Ok(())
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
