//! Rolling out a release: its release phase, then `converge`, recording it
//! only once its dynos are up. Every change to what an app runs ends here: a
//! push's build (`deploy`), a config or add-on change (`record_change`), a
//! rollback (`rollback_to`). Each runs under the app's lock. A release
//! recorded, failed or not, is an `api:release` event for the app's webhooks.

use std::collections::BTreeMap;

use crate::converge::{Mode, Platform, RELEASE_TYPE};
use crate::duration;
use crate::error::{Error, Result};
use crate::logs;
use crate::release::{self, Ledger, Release, ReleaseVersion};
use crate::runtime::{DynoSpec, Ended};
use crate::state::AppDir;

/// The formation with every process type of `release` in it: web at 1 when
/// first seen, others at 0, as on Heroku. Types the release lacks drop out.
pub fn default_formation(app: &AppDir, release: &Release) -> Result<BTreeMap<String, u32>> {
    let current = app.settings()?.formation;
    Ok(release
        .processes
        .keys()
        .filter(|t| t.as_str() != RELEASE_TYPE)
        .map(|t| {
            let count = current.get(t).copied().unwrap_or(u32::from(t == "web"));
            (t.clone(), count)
        })
        .collect())
}

/// Starts `release` with `formation`, recording both only once its dynos
/// are up. `build`: the push's build that made it, if one did. Under the
/// app's lock, which a release phase needs (`interrupted`).
pub fn roll_out(
    platform: &Platform,
    app: &AppDir,
    release: &Release,
    formation: &BTreeMap<String, u32>,
    mode: Mode,
    build: Option<u32>,
) -> Result<()> {
    if release.image.is_some() {
        let left_out = crate::runtime::podman::multi_line_vars(&release.config);
        if !left_out.is_empty() {
            say!(
                " !     warning: {} span lines, which podman cannot give an image's dynos: they run without them",
                left_out.join(", ")
            );
        }
    }
    // On the cluster the release phase is a Job there (#24).
    if crate::kubernetes::workflows::on_cluster(app)? {
        return roll_out_on_cluster(platform, app, release, formation);
    }
    release_phase(platform, app, release, build)?;
    platform.converge(app, release, formation, mode, || {
        record_release(app, release, formation)
    })
}

/// `roll_out` for an app on a cluster: the release's Job, whose failure
/// is recorded as a failed release phase here is, then its Deployments;
/// the release recorded once they roll out, and old config Secrets pruned.
fn roll_out_on_cluster(
    platform: &Platform,
    app: &AppDir,
    release: &Release,
    formation: &BTreeMap<String, u32>,
) -> Result<()> {
    use crate::kubernetes::scheduler::Deployed;
    if let Some(command) = release.processes.get(RELEASE_TYPE) {
        // A new release's Job (`release-v<N>`) runs: said in its stream
        // as a release phase here is.
        logs::platform(
            app,
            "api",
            &format!(
                "Release phase (to be v{}) started on the cluster: `{command}`",
                release.version
            ),
        );
    }
    use crate::kubernetes::workflows::ReleasePhase;
    match crate::kubernetes::workflows::roll_out(
        platform,
        app,
        release,
        formation,
        ReleasePhase::Run,
    )? {
        Deployed::RolledOut => {}
        Deployed::ReleasePhaseFailed(failure) => {
            let hint = if failure.timed_out {
                "the previous release keeps running on the cluster. Make the command finish \
                 sooner, or raise the limit with `paas server install --release-timeout DURATION`"
            } else {
                "its output is above; the previous release keeps running on the cluster. Fix it and try again"
            };
            return Err(release_failed(app, release, &failure.why, hint));
        }
    }
    record_release(app, release, formation)?;
    crate::kubernetes::workflows::prune_config_secrets(platform.root, app);
    Ok(())
}

/// A release recorded once it runs, with its formation.
fn record_release(
    app: &AppDir,
    release: &Release,
    formation: &BTreeMap<String, u32>,
) -> Result<()> {
    // The formation first: if recording the release then fails, the
    // old release keeps running with it, which is harmless.
    let mut settings = app.settings()?;
    if settings.formation != *formation {
        settings.formation = formation.clone();
        app.write_settings(&settings)?;
    }
    Ledger::new(app).append(release)?;
    logs::platform(
        app,
        "api",
        &format!("{} by {}", release.description, release.user),
    );
    logs::platform(
        app,
        "api",
        &format!("Release v{} created by {}", release.version, release.user),
    );
    crate::webhooks::events::release_created(app, release);
    Ok(())
}

/// Heroku's release phase: the `release` process runs once, in a one-off
/// dyno of the new release (its slug and config), before any of its dynos
/// start. A failure records the release as failed and leaves the running
/// release alone. Only under the app's lock: a holder of the lock takes a
/// release phase dyno for one whose command died (`interrupted`).
fn release_phase(
    platform: &Platform,
    app: &AppDir,
    release: &Release,
    build: Option<u32>,
) -> Result<()> {
    let Some(command) = release.processes.get(RELEASE_TYPE) else {
        return Ok(());
    };
    let Some(code) = platform.code(app, release)? else {
        return Ok(());
    };
    let spec = DynoSpec {
        build,
        ..platform.spec(app, release, RELEASE_TYPE, 1, command, &code)?
    };
    say!("-----> Running release command `{command}`...");
    // Not recorded yet: if this process dies, the next release takes its number.
    let whose = match build {
        Some(id) => format!("build #{id}"),
        None => "a change".to_string(),
    };
    logs::platform(
        app,
        "api",
        &format!(
            "Release phase of {whose} (to be v{}) started: `{command}`",
            release.version
        ),
    );
    // Not on the hook's stdin (git's list of pushed refs), and run to its
    // end even if the pusher hangs up: its status decides the release.
    let limit = platform.settings.release_timeout();
    let (why, hint) = match platform.runtime.run_to_end(&spec, limit)? {
        Ended::Exited(0) => {
            say!("       Release command succeeded");
            return Ok(());
        }
        Ended::Exited(code) => (
            format!("release command failed (exit status {code})"),
            "its output is above; the previous release keeps running. Fix it and try again"
                .to_string(),
        ),
        Ended::TimedOut => (
            format!(
                "release command ran past this server's limit of {} and was stopped",
                duration::human(limit.as_secs())
            ),
            "the previous release keeps running. Make the command finish sooner, or raise \
             the limit with `paas server install --release-timeout DURATION`"
                .to_string(),
        ),
    };
    Err(release_failed(app, release, &why, &hint))
}

/// `release` recorded as failed (`why`: its release phase's end), in the
/// ledger, the app's log and its webhooks; the error the push or change
/// fails with. A failure to record it is the error instead.
fn release_failed(app: &AppDir, release: &Release, why: &str, hint: &str) -> Error {
    let failed = Release {
        failed: Some(why.to_string()),
        ..release.clone()
    };
    if let Err(err) = Ledger::new(app).append(&failed) {
        return err;
    }
    logs::platform(app, "api", &format!("Release v{} {why}", release.version));
    crate::webhooks::events::release_created(app, &failed);
    Error::new(format!("v{}: the {why}", release.version)).hint(hint)
}

/// Under the app's lock: a new release with the current one's build and
/// process types and `change` applied to its config vars and add-on
/// attachments, rolled out (if the dynos fail to boot with it, nothing
/// changes). Returns its version.
pub fn record_change(
    platform: &Platform,
    user: &str,
    app: &AppDir,
    description: String,
    change: impl FnOnce(&mut BTreeMap<String, String>, &mut BTreeMap<String, String>) -> Result<()>,
) -> Result<u32> {
    let _lock = app.lock()?;
    let ledger = Ledger::new(app);
    let current = ledger.current()?;
    let mut config = current
        .as_ref()
        .map(|r| r.config.clone())
        .unwrap_or_default();
    let mut addons = current
        .as_ref()
        .map(|r| r.addons.clone())
        .unwrap_or_default();
    change(&mut config, &mut addons)?;
    let release = Release {
        version: ledger.next_version()?,
        description,
        user: user.to_string(),
        created_at: release::now_rfc3339(),
        commit: current.as_ref().and_then(|r| r.commit.clone()),
        slug: current.as_ref().and_then(|r| r.slug.clone()),
        image: current.as_ref().and_then(|r| r.image.clone()),
        processes: current.map(|r| r.processes).unwrap_or_default(),
        config,
        addons,
        failed: None,
    };
    let formation = app.settings()?.formation;
    roll_out(platform, app, &release, &formation, Mode::Keep, None)?;
    Ok(release.version)
}

/// Records a release with the changed config and rolls it out. An add-on's
/// var follows the add-on (credentials, attach, detach): it is refused here.
pub fn change_config(
    platform: &Platform,
    user: &str,
    app: &AppDir,
    description: String,
    change: impl FnOnce(&mut BTreeMap<String, String>),
) -> Result<u32> {
    record_change(platform, user, app, description, |config, addons| {
        let before = config.clone();
        change(config);
        match addons
            .iter()
            .find(|(var, _)| before.get(*var) != config.get(*var))
        {
            Some((var, addon)) => Err(Error::new(format!(
                "`{var}` is set by the add-on `{addon}`"
            ))
            .hint(format!(
                "`paas addons:detach {addon} -a {0}` removes it; `paas addons:attach {addon} -a {0} --as NAME` adds it under another name",
                app.name
            ))),
            None => Ok(()),
        }
    })
}

/// `releases:rollback` (and the dashboard's button): takes the app's lock,
/// picks the release to go back to (`version`, else the newest before the
/// current that ran), refuses one that never ran or has no build, tells
/// `announce` its version, and rolls back to it. Returns the new release's
/// version.
pub fn rollback(
    platform: &Platform,
    user: &str,
    app: &AppDir,
    version: Option<ReleaseVersion>,
    announce: impl FnOnce(u32),
) -> Result<u32> {
    let _lock = app.lock()?;
    let ledger = Ledger::new(app);
    let Some(current) = ledger.current()? else {
        return Err(Error::new(format!(
            "`{}` has no releases to roll back to",
            app.name
        )));
    };
    let target = match version {
        Some(version) => ledger.get(version)?,
        // The one before the current that ran: failed releases never did.
        None => ledger
            .list()?
            .into_iter()
            .rev()
            .find(|r| r.version < current.version && r.failed.is_none())
            .ok_or_else(|| {
                Error::new(format!("`{}` has only one release", app.name)).hint(format!(
                    "there is nothing before v{} to roll back to",
                    current.version
                ))
            })?,
    };
    if let Some(why) = &target.failed {
        return Err(
            Error::new(format!("v{} never ran: {why}", target.version)).hint(format!(
                "`paas releases -a {}` lists the releases that ran",
                app.name
            )),
        );
    }
    if !target.is_built() {
        return Err(
            Error::new(format!("v{} has no build to run", target.version))
                .hint("roll back to a release made by a deploy"),
        );
    }
    announce(target.version);
    rollback_to(platform, user, app, &target, &current)
}

/// Under the app's lock: a new release running `target`'s build with the
/// config vars and add-ons `Release::rollback_config` keeps from `current`,
/// rolled out. Returns its version.
fn rollback_to(
    platform: &Platform,
    user: &str,
    app: &AppDir,
    target: &Release,
    current: &Release,
) -> Result<u32> {
    let ledger = Ledger::new(app);
    let (config, addons) = Release::rollback_config(target, current);
    let release = Release {
        version: ledger.next_version()?,
        description: format!("Rollback to v{}", target.version),
        user: user.to_string(),
        created_at: release::now_rfc3339(),
        config,
        addons,
        failed: None,
        ..target.clone()
    };
    let formation = default_formation(app, &release)?;
    roll_out(platform, app, &release, &formation, Mode::Keep, None)?;
    Ok(release.version)
}

/// Under the app's lock: the newest release again, failed or not (its
/// build, process types, config vars and add-ons), as a new release whose
/// release phase runs again: `releases:retry`, for a release phase that
/// failed on something outside the app (a database that was down).
/// `announce` hears of the retried release once it is known to have a
/// release phase. Returns the new release's version.
pub fn retry_latest(
    platform: &Platform,
    user: &str,
    app: &AppDir,
    announce: impl FnOnce(&Release),
) -> Result<u32> {
    let ledger = Ledger::new(app);
    let Some(latest) = ledger.list()?.pop() else {
        return Err(Error::new(format!("`{}` has no releases", app.name))
            .hint("deploy it first: `git push deploy master`"));
    };
    if !latest.processes.contains_key(RELEASE_TYPE) || !latest.is_built() {
        return Err(Error::new(format!(
            "v{} has no release phase to run again",
            latest.version
        ))
        .hint(
            "add a `release:` command to the Procfile and deploy; `releases:retry` runs it again",
        ));
    }
    announce(&latest);
    let release = Release {
        version: ledger.next_version()?,
        description: format!("Retry of v{}: {}", latest.version, latest.description),
        user: user.to_string(),
        created_at: release::now_rfc3339(),
        failed: None,
        ..latest.clone()
    };
    let formation = default_formation(app, &release)?;
    roll_out(platform, app, &release, &formation, Mode::Keep, None)?;
    Ok(release.version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{AppName, Root};

    fn release(version: u32) -> Release {
        toml::from_str(&format!(
            "version = {version}\ndescription = \"Deploy\"\nuser = \"ann\"\ncreated_at = \"2026-12-07T10:00:00Z\"\n"
        ))
        .unwrap()
    }

    #[test]
    fn a_failed_release_phase_is_recorded_and_the_previous_release_stays_current() {
        // What a cluster's failed Job and a dyno's failed release phase
        // both end in.
        let dir = tempfile::tempdir().unwrap();
        let app = Root::new(dir.path()).app(&AppName::parse("shop").unwrap());
        std::fs::create_dir_all(&app.path).unwrap();
        let ledger = Ledger::new(&app);
        ledger.append(&release(7)).unwrap();
        let err = release_failed(
            &app,
            &release(8),
            "release command failed (exit status 3)",
            "its output is above",
        );
        assert_eq!(
            err.to_string(),
            "v8: the release command failed (exit status 3)"
        );
        let recorded = ledger.get(ReleaseVersion(8)).unwrap();
        assert_eq!(
            recorded.failed.as_deref(),
            Some("release command failed (exit status 3)")
        );
        assert_eq!(ledger.current().unwrap().unwrap().version, 7);
        let log = std::fs::read_to_string(app.logs_dir().join("platform.log")).unwrap();
        assert!(
            log.contains("api Release v8 release command failed (exit status 3)"),
            "{log}"
        );
        // A version recorded already (a bug) is the error instead.
        let err = release_failed(&app, &release(8), "again", "");
        assert!(err.to_string().contains("already exists"), "{err}");
    }
}
