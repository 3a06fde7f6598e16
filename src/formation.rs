//! Changes to an app's formation and its running dynos: scaled (and
//! resized: a type's size is part of its scale), restarted, stopped. Each
//! runs under the app's lock and ends in `converge` or stops dynos itself.

use std::collections::BTreeMap;

use crate::converge::{Mode, Platform};
use crate::error::{Error, Result};
use crate::logs;
use crate::release::{Ledger, Release};
use crate::state::{AppDir, AppName, DynoSize, ProcessType};

/// Under the app's lock (the caller's, who read `formation` under it):
/// `release`'s formation with each type's count and size of `parsed`,
/// converged (sizes first; undone if the new dynos fail). Returns each
/// type's count and size as they now are.
pub fn rescale(
    platform: &Platform,
    user: &str,
    app: &AppDir,
    release: &Release,
    mut formation: BTreeMap<String, u32>,
    parsed: &[(ProcessType, u32, Option<DynoSize>)],
) -> Result<Vec<(String, u32, &'static str)>> {
    let sizes: BTreeMap<String, DynoSize> = parsed
        .iter()
        .filter_map(|(t, _, size)| Some((t.to_string(), (*size)?)))
        .collect();
    for (process_type, count, _) in parsed {
        if process_type.as_str() == "release" {
            return Err(Error::new(
                "the `release` process type runs once per release, not as dynos",
            )
            .hint("scale the other types, like `web=2`"));
        }
        if !release.processes.contains_key(process_type.as_str()) {
            return Err(Error::new(format!(
                "`{}` has no process type `{process_type}`",
                app.name
            ))
            .hint(format!(
                "its types are: {}",
                release
                    .processes
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        formation.insert(process_type.to_string(), *count);
    }
    say_partial!("Scaling dynos... ");
    if crate::kubernetes::workflows::on_cluster(app)? {
        set_sizes(app, &sizes)?;
        crate::kubernetes::workflows::scale(platform, app, release, &formation, !sizes.is_empty())?;
        let settings = app.settings()?;
        return Ok(parsed
            .iter()
            .map(|(t, c, _)| (t.to_string(), *c, settings.size_of(t.as_str()).name))
            .collect());
    }
    // Sizes first: converge starts the resized types' dynos with their new limits.
    let previous_sizes = app.settings()?.sizes;
    set_sizes(app, &sizes)?;
    let converged = platform.converge(app, release, &formation, Mode::Keep, || {
        let mut settings = app.settings()?;
        settings.formation = formation.clone();
        app.write_settings(&settings)
    });
    if let Err(err) = converged {
        // The old dynos keep running at their old size: so must the settings say.
        let mut settings = app.settings()?;
        settings.sizes = previous_sizes;
        app.write_settings(&settings)?;
        return Err(err);
    }
    let settings = app.settings()?;
    let scaled: Vec<(String, u32, &str)> = parsed
        .iter()
        .map(|(t, c, _)| (t.to_string(), *c, settings.size_of(t.as_str()).name))
        .collect();
    let log_form: Vec<String> = scaled
        .iter()
        .map(|(t, c, size)| format!("{t}@{c}:{size}"))
        .collect();
    logs::platform(
        app,
        "api",
        &format!("Scaled to {} by {}", log_form.join(", "), user),
    );
    Ok(scaled)
}

fn set_sizes(app: &AppDir, sizes: &BTreeMap<String, DynoSize>) -> Result<()> {
    if sizes.is_empty() {
        return Ok(());
    }
    let mut settings = app.settings()?;
    for (process_type, size) in sizes {
        settings
            .sizes
            .insert(process_type.clone(), size.name.to_string());
    }
    app.write_settings(&settings)
}

/// Under the app's lock: every dyno, a type's (`web`) or one (`web.1`)
/// replaced by a new one.
pub fn restart_dynos(
    platform: &Platform,
    user: &str,
    app: &AppDir,
    target: Option<String>,
) -> Result<()> {
    let _lock = app.lock()?;
    let Some(release) = Ledger::new(app).current()? else {
        return Err(Error::new(format!(
            "`{}` has not been deployed yet",
            app.name
        )));
    };
    let formation = app.settings()?.formation;
    if let Some(wanted) = &target {
        check_target(&app.name, &formation, wanted)?;
    }
    say_partial!("Restarting dynos on {}... ", app.name);
    let what = target.clone().unwrap_or_else(|| "all".into());
    if crate::kubernetes::workflows::on_cluster(app)? {
        crate::kubernetes::workflows::restart(platform.root, app, target.as_deref())?;
        logs::platform(app, "api", &format!("Restart {what} by {}", user));
        return Ok(());
    }
    platform.converge(app, &release, &formation, Mode::Replace(target), || Ok(()))?;
    logs::platform(app, "api", &format!("Restart {what} by {}", user));
    Ok(())
}

/// A process type of the formation, or one of its dynos (`web.1`).
fn check_target(app: &AppName, formation: &BTreeMap<String, u32>, target: &str) -> Result<()> {
    let (process_type, index) = match target.split_once('.') {
        Some((t, i)) => (t, Some(i.parse::<u32>().ok())),
        None => (target, None),
    };
    let known = match (formation.get(process_type), index) {
        (Some(_), None) => true,
        (Some(count), Some(Some(index))) => index >= 1 && index <= *count,
        _ => false,
    };
    if known {
        Ok(())
    } else {
        Err(
            Error::new(format!("`{app}` has no process type or dyno `{target}`"))
                .hint(format!("`paas ps -a {app}` lists them")),
        )
    }
}

/// Under the app's lock: a process type's dynos stopped and its scale kept
/// for `ps:start`, or one dyno stopped for the daemon to replace.
pub fn stop_dynos(
    platform: &Platform,
    user: &str,
    app: &AppDir,
    target: &str,
    kill: bool,
) -> Result<()> {
    let _lock = app.lock()?;
    let mut settings = app.settings()?;
    let grace = if kill {
        std::time::Duration::ZERO
    } else {
        settings.stop_grace()
    };
    check_target(&app.name, &settings.formation, target)?;
    if crate::kubernetes::workflows::on_cluster(app)? {
        return stop_on_cluster(platform, user, app, settings, target);
    }
    // A change's window ends with the new dynos kept: stopping one is the
    // user's doing, not a crash to roll back from.
    crate::probation::keep(platform, app)?;
    let dynos: Vec<_> = platform
        .runtime
        .list(Some(&app.name))?
        .into_iter()
        .filter(|d| d.process_type == target || d.name() == target)
        .collect();
    if target.contains('.') {
        // One dyno: out of the router first, then stopped; the formation
        // still wants it, so the daemon starts a new one.
        let remaining: Vec<_> = platform
            .runtime
            .list(Some(&app.name))?
            .into_iter()
            .filter(|d| d.name() != target)
            .collect();
        platform.publish_routes(app, &crate::converge::routes_of(&remaining))?;
        platform.stop_within(app, &dynos, grace)?;
        say!("Stopping {target} dyno on {}... done", app.name);
    } else {
        let count = settings.formation.get(target).copied().unwrap_or(0);
        if count > 0 {
            settings.stopped.insert(target.to_string(), count);
        }
        settings.formation.insert(target.to_string(), 0);
        app.write_settings(&settings)?;
        if target == "web" {
            platform.publish_routes(app, &crate::routes::Routes::default())?;
        }
        platform.stop_within(app, &dynos, grace)?;
        say!(
            "Stopping {target} dynos on {}... done; `paas ps:start {target}` starts them again",
            app.name
        );
    }
    logs::platform(app, "api", &format!("Stop {target} by {}", user));
    Ok(())
}

/// `stop_dynos` for an app on the cluster: a type scaled to 0, its scale
/// kept for `ps:start`. Kubernetes replaces a pod it loses by itself, so
/// there is no one dyno to stop.
fn stop_on_cluster(
    platform: &Platform,
    user: &str,
    app: &AppDir,
    mut settings: crate::state::AppSettings,
    target: &str,
) -> Result<()> {
    if let Some((process_type, _)) = target.split_once('.') {
        return Err(Error::new("on Kubernetes, pods stop by process type")
            .hint(format!(
                "`paas ps:stop {process_type}` scales it to 0; `paas ps:restart {process_type}` replaces its pods"
            )));
    }
    let release = Ledger::new(app)
        .current()?
        .ok_or_else(|| Error::new(format!("`{}` has not been deployed yet", app.name)))?;
    let mut formation = settings.formation.clone();
    let count = formation.insert(target.to_string(), 0).unwrap_or(0);
    if count > 0 {
        settings.stopped.insert(target.to_string(), count);
        app.write_settings(&settings)?;
    }
    crate::kubernetes::workflows::scale(platform, app, &release, &formation, false)?;
    say!(
        "Stopping {target} pods of {}... done; `paas ps:start {target}` starts them again",
        app.name
    );
    logs::platform(app, "api", &format!("Stop {target} by {}", user));
    Ok(())
}
