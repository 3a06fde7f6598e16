//! `ps`, `ps:scale`, `ps:restart`.

use std::collections::BTreeMap;

use super::{heroku_time, Ctx};
use crate::cli::Format;
use crate::converge::{ONE_OFF_TYPE, RELEASE_TYPE};
use crate::crashes::{self, Crashes};
use crate::error::{Error, Result};
use crate::formation::{rescale, restart_dynos, stop_dynos};
use crate::output::{self, paint, Style};
use crate::release::Ledger;
use crate::runtime::{Dyno, Runtime};
use crate::state::{DynoSize, ProcessType, DEFAULT_SIZE};

/// `ps --json`: the formation, then every dyno.
#[derive(serde::Serialize)]
struct PsJson {
    release: Option<u32>,
    limits_enforced: bool,
    formation: Vec<FormationJson>,
    dynos: Vec<DynoRow>,
}

#[derive(serde::Serialize)]
struct FormationJson {
    #[serde(rename = "type")]
    process_type: String,
    quantity: u32,
    size: String,
    command: String,
}

/// One dyno as `ps` shows it.
#[derive(serde::Serialize)]
struct DynoRow {
    name: String,
    #[serde(rename = "type")]
    process_type: String,
    /// `up`, `crashed`, `sleeping`, or `standby` (the previous release's,
    /// in the window after traffic moved); a release phase's dyno is `up`
    /// or `ended`.
    state: &'static str,
    exit_status: Option<i32>,
    /// None for a release phase's dyno: its release is not recorded yet.
    release: Option<u32>,
    /// The build whose release phase a `release.1` dyno runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    build: Option<u32>,
    /// RFC 3339: when it started, or when it crashed.
    since: String,
    /// Seconds until a crashed dyno's next restart.
    restart_in: Option<i64>,
    /// Crashes in a row.
    crashes: Option<u32>,
    #[serde(skip)]
    since_unix: i64,
}

impl DynoRow {
    fn line(&self, current_release: u32) -> String {
        let when = heroku_time(self.since_unix);
        let version = match (self.release, self.build) {
            (Some(release), _) if release != current_release => format!(" [v{release}]"),
            (Some(_), _) => String::new(),
            (None, Some(build)) => format!(" (build #{build}'s release phase)"),
            (None, None) => " (the release phase of a change not yet released)".to_string(),
        };
        let state = match self.state {
            "up" => paint("up", Style::Good),
            "ended" => format!("ended (exit status {})", self.exit_status.unwrap_or(0)),
            "sleeping" => "sleeping (a request wakes it)".to_string(),
            "standby" => "standby (takes the traffic back if a new dyno crashes)".to_string(),
            _ => paint(
                &format!("crashed (exit status {})", self.exit_status.unwrap_or(0)),
                Style::Bad,
            ),
        };
        // A slot waiting out its backoff says when it restarts instead.
        let tail = match (self.restart_in, self.crashes) {
            (Some(0), Some(count)) => format!(", restarting (crash {count} in a row)"),
            (Some(wait), Some(count)) => {
                format!(", restarting in {wait}s (crash {count} in a row)")
            }
            _ => version,
        };
        format!("{}: {state} {when}{tail}", self.name)
    }
}

fn rfc3339(unix_seconds: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix_seconds)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

pub fn list(ctx: &Ctx, format: Format) -> Result<()> {
    let app = ctx.app()?;
    let release = Ledger::new(&app).current()?;
    let dynos = ctx.runtime().list(Some(&app.name))?;
    let settings = app.settings()?;
    let formation = &settings.formation;
    let crashes = Crashes::load(&app);
    let mut view = PsJson {
        release: release.as_ref().map(|r| r.version),
        limits_enforced: ctx.settings.limits_enforced,
        formation: Vec::new(),
        dynos: Vec::new(),
    };
    let processes = release
        .as_ref()
        .map(|r| r.processes.clone())
        .unwrap_or_default();
    let current = release.as_ref().map_or(0, |r| r.version);
    let standby = crate::probation::Probation::load(&app).map_or(Vec::new(), |w| w.standby);
    for (process_type, command) in &processes {
        let count = formation.get(process_type).copied().unwrap_or(0);
        view.formation.push(FormationJson {
            process_type: process_type.clone(),
            quantity: count,
            size: settings.size_of(process_type).name.to_string(),
            command: command.clone(),
        });
        // Its dynos are listed apart: they belong to no recorded release.
        if process_type == RELEASE_TYPE {
            continue;
        }
        // The dynos that serve first, those on standby after them (one
        // that exited is being stopped: the window ends).
        let of_type = dynos
            .iter()
            .filter(|d| &d.process_type == process_type)
            .filter(|d| !standby.contains(&d.id))
            .chain(dynos.iter().filter(|d| {
                &d.process_type == process_type && standby.contains(&d.id) && d.running
            }));
        for dyno in of_type {
            view.dynos.push(DynoRow {
                name: dyno.name(),
                process_type: process_type.clone(),
                state: match dyno.running {
                    true if standby.contains(&dyno.id) => "standby",
                    true => "up",
                    false => "crashed",
                },
                exit_status: (!dyno.running).then_some(dyno.exit_code),
                release: Some(dyno.release),
                build: None,
                since: rfc3339(dyno.started_at),
                restart_in: None,
                crashes: None,
                since_unix: dyno.started_at,
            });
        }
        // Slots whose dyno crashed and waits out its restart backoff.
        for index in 1..=count {
            let name = format!("{process_type}.{index}");
            if view.dynos.iter().any(|d| d.name == name) {
                continue;
            }
            if let (Some(since), "web") = (settings.asleep_since, process_type.as_str()) {
                view.dynos.push(DynoRow {
                    name,
                    process_type: process_type.clone(),
                    state: "sleeping",
                    exit_status: None,
                    release: Some(current),
                    build: None,
                    since: rfc3339(since),
                    restart_in: None,
                    crashes: None,
                    since_unix: since,
                });
                continue;
            }
            if let Some(crash) = crashes.dynos.get(&name).filter(|c| c.release == current) {
                view.dynos.push(DynoRow {
                    name,
                    process_type: process_type.clone(),
                    state: "crashed",
                    exit_status: Some(crash.exit_code),
                    release: Some(crash.release),
                    build: None,
                    since: rfc3339(crash.at),
                    restart_in: Some((crash.next_attempt - crashes::now()).max(0)),
                    crashes: Some(crash.count),
                    since_unix: crash.at,
                });
            }
        }
    }
    for dyno in dynos.iter().filter(|d| d.process_type == ONE_OFF_TYPE) {
        view.dynos.push(DynoRow {
            name: dyno.name(),
            process_type: ONE_OFF_TYPE.to_string(),
            state: "up",
            exit_status: None,
            release: Some(dyno.release),
            build: None,
            since: rfc3339(dyno.started_at),
            restart_in: None,
            crashes: None,
            since_unix: dyno.started_at,
        });
    }
    view.dynos.extend(
        dynos
            .iter()
            .filter(|d| d.process_type == RELEASE_TYPE)
            .map(release_phase_row),
    );
    if format.json {
        return output::print_json(&view);
    }
    if release.is_none() {
        println!("No dynos on {}: nothing has been deployed yet", app.name);
        return Ok(());
    }
    for formation in &view.formation {
        let of_type: Vec<&DynoRow> = view
            .dynos
            .iter()
            .filter(|d| d.process_type == formation.process_type)
            .collect();
        if formation.quantity == 0 && of_type.is_empty() {
            continue;
        }
        let size = if formation.size == DEFAULT_SIZE.name {
            String::new()
        } else {
            format!(", {}", formation.size)
        };
        output::header(&format!(
            "{} ({}{size}): {}",
            formation.process_type, formation.quantity, formation.command
        ));
        for dyno in of_type {
            println!("{}", dyno.line(current));
        }
        println!();
    }
    if !ctx.settings.limits_enforced && !dynos.is_empty() {
        println!("Dyno sizes are recorded but not enforced on this host: rootless podman on cgroup v1 cannot limit memory or CPU.");
        println!();
    }
    let one_off: Vec<&DynoRow> = view
        .dynos
        .iter()
        .filter(|d| d.process_type == ONE_OFF_TYPE)
        .collect();
    if !one_off.is_empty() {
        output::header(&format!("run: one-off processes ({})", one_off.len()));
        for dyno in &one_off {
            println!("{}", dyno.line(current));
        }
    }
    let release_phase: Vec<&DynoRow> = view
        .dynos
        .iter()
        .filter(|d| d.process_type == RELEASE_TYPE)
        .collect();
    if !release_phase.is_empty() {
        if !one_off.is_empty() {
            println!();
        }
        output::header(&format!("release: release phase ({})", release_phase.len()));
        for dyno in release_phase {
            println!("{}", dyno.line(current));
        }
    }
    Ok(())
}

/// A release phase's dyno as `ps` lists it: by the build it runs for, never
/// by the release number it carries, which is not recorded yet and goes to
/// the next release when the push dies (#19, point 4).
fn release_phase_row(dyno: &Dyno) -> DynoRow {
    DynoRow {
        name: dyno.name(),
        process_type: RELEASE_TYPE.to_string(),
        state: if dyno.running { "up" } else { "ended" },
        exit_status: (!dyno.running).then_some(dyno.exit_code),
        release: None,
        build: dyno.build,
        since: rfc3339(dyno.started_at),
        restart_in: None,
        crashes: None,
        since_unix: dyno.started_at,
    }
}

/// `web=2` → (`web`, 2).
/// `web=2` or `web=2:standard-2x`.
pub fn parse_scale(change: &str) -> Result<(ProcessType, u32, Option<DynoSize>)> {
    let hint = "scale with `TYPE=COUNT[:SIZE]`, like `paas ps:scale web=2:standard-2x worker=1`";
    let Some((name, value)) = change.split_once('=') else {
        return Err(Error::new(format!("`{change}` is not `TYPE=COUNT`")).hint(hint));
    };
    let process_type = ProcessType::parse(name).map_err(|err| Error::new(err.to_string()))?;
    let (count, size) = match value.split_once(':') {
        Some((count, size)) => (count, Some(parse_size(size)?)),
        None => (value, None),
    };
    let count: u32 = count.parse().ok().filter(|c| *c <= 100).ok_or_else(|| {
        Error::new(format!("`{count}` is not a dyno count from 0 to 100")).hint(hint)
    })?;
    Ok((process_type, count, size))
}

fn parse_size(name: &str) -> Result<DynoSize> {
    DynoSize::parse(name).ok_or_else(|| {
        Error::new(format!("`{name}` is not a dyno size"))
            .hint(format!("the sizes are: {}", DynoSize::names()))
    })
}

/// `web+1` or `worker-2` as `web=N` against the current formation; other
/// changes as they are.
fn absolute_change(change: &str, formation: &BTreeMap<String, u32>) -> Result<String> {
    let Some(at) = change.find(['+', '-']).filter(|_| !change.contains('=')) else {
        return Ok(change.to_string());
    };
    let (name, rest) = change.split_at(at);
    let (sign, rest) = rest.split_at(1);
    let (by, size) = match rest.split_once(':') {
        Some((by, size)) => (by, Some(size)),
        None => (rest, None),
    };
    let by: u32 = by.parse().map_err(|_| {
        Error::new(format!("`{change}` is not `TYPE+N` or `TYPE-N`"))
            .hint("scale by a count, like `web+1` or `worker-2`")
    })?;
    let current = formation.get(name).copied().unwrap_or(0);
    let count = match sign {
        "+" => current.saturating_add(by),
        _ => current.checked_sub(by).ok_or_else(|| {
            Error::new(format!(
                "`{name}` has {current} dyno{}: `{change}` would leave fewer than none",
                if current == 1 { "" } else { "s" }
            ))
        })?,
    };
    Ok(match size {
        Some(size) => format!("{name}={count}:{size}"),
        None => format!("{name}={count}"),
    })
}

pub fn scale(ctx: &Ctx, changes: &[String]) -> Result<()> {
    let app = ctx.app()?;
    let _lock = app.lock()?;
    let Some(release) = Ledger::new(&app).current()?.filter(|r| r.slug.is_some()) else {
        return Err(
            Error::new(format!("`{}` has not been deployed yet", app.name))
                .hint("push the code first: `git push deploy master`"),
        );
    };
    let formation: BTreeMap<String, u32> = app.settings()?.formation;
    if changes.is_empty() {
        // As Heroku's `ps:scale` with nothing to change: the formation.
        let settings = app.settings()?;
        let shown: Vec<String> = release
            .processes
            .keys()
            .filter(|t| t.as_str() != "release")
            .map(|t| {
                let count = formation.get(t).copied().unwrap_or(0);
                format!("{t}={count}:{}", settings.size_of(t).name)
            })
            .collect();
        println!("{}", shown.join(" "));
        return Ok(());
    }
    let parsed: Vec<(ProcessType, u32, Option<DynoSize>)> = changes
        .iter()
        .map(|c| parse_scale(&absolute_change(c, &formation)?))
        .collect::<Result<_>>()?;
    let runtime = ctx.runtime();
    let scaled = rescale(
        &ctx.platform(&runtime),
        &ctx.user,
        &app,
        &release,
        formation,
        &parsed,
    )?;
    let said: Vec<String> = scaled
        .iter()
        .map(|(t, c, size)| format!("{t} at {c}:{size}"))
        .collect();
    say!("done, now running {}", said.join(", "));
    Ok(())
}

pub fn restart(ctx: &Ctx, target: Option<String>) -> Result<()> {
    let app = ctx.app()?;
    let runtime = ctx.runtime();
    restart_dynos(&ctx.platform(&runtime), &ctx.user, &app, target)?;
    say!("done");
    Ok(())
}

/// `ps:resize web=standard-2x`: new dynos of that type with the new limits.
pub fn resize(ctx: &Ctx, changes: &[String]) -> Result<()> {
    let app = ctx.app()?;
    let formation = app.settings()?.formation;
    let mut scale_args = Vec::new();
    for change in changes {
        let Some((process_type, size)) = change.split_once('=') else {
            return Err(Error::new(format!("`{change}` is not `TYPE=SIZE`"))
                .hint("resize with `paas ps:resize web=standard-2x`"));
        };
        let size = parse_size(size)?;
        let Some(count) = formation.get(process_type) else {
            return Err(Error::new(format!(
                "`{}` has no process type `{process_type}`",
                app.name
            )));
        };
        scale_args.push(format!("{process_type}={count}:{}", size.name));
    }
    scale(ctx, &scale_args)
}

/// `ps:stop` (`kill`: SIGKILL at once, else after the app's stop timeout).
pub fn stop(ctx: &Ctx, target: &str, kill: bool) -> Result<()> {
    let app = ctx.app()?;
    let runtime = ctx.runtime();
    stop_dynos(&ctx.platform(&runtime), &ctx.user, &app, target, kill)
}

pub fn start(ctx: &Ctx, process_type: &str) -> Result<()> {
    let app = ctx.app()?;
    let count = {
        let settings = app.settings()?;
        if !settings.formation.contains_key(process_type) {
            return Err(Error::new(format!(
                "`{}` has no process type `{process_type}`",
                app.name
            )));
        }
        // Not stopped: keep its scale (at least one), never scale it down.
        let running = settings
            .formation
            .get(process_type)
            .copied()
            .unwrap_or(0)
            .max(1);
        settings
            .stopped
            .get(process_type)
            .copied()
            .unwrap_or(running)
    };
    scale(ctx, &[format!("{process_type}={count}")])?;
    let _lock = app.lock()?;
    let mut settings = app.settings()?;
    settings.stopped.remove(process_type);
    app.write_settings(&settings)
}

/// `ps:stop-timeout [SECONDS]`: shows or sets the SIGTERM-to-SIGKILL wait.
pub fn stop_timeout(ctx: &Ctx, seconds: Option<u64>) -> Result<()> {
    let app = ctx.app()?;
    let Some(seconds) = seconds else {
        let grace = app.settings()?.stop_grace();
        println!("{}s", grace.as_secs());
        return Ok(());
    };
    if !(1..=300).contains(&seconds) {
        return Err(Error::new(format!("{seconds} s is not a stop timeout"))
            .hint("give 1 to 300 seconds (Heroku's is 30)"));
    }
    let _lock = app.lock()?;
    app.update_settings(|s| s.stop_timeout_secs = Some(seconds))?;
    say!(
        "Dynos of {} now get {seconds} s between SIGTERM and SIGKILL",
        app.name
    );
    Ok(())
}

/// The shortest autosleep: the daemon looks every 5 s.
const AUTOSLEEP_MIN_SECS: u64 = 5;

pub fn autosleep(ctx: &Ctx, after: Option<&str>, off: bool) -> Result<()> {
    let app = ctx.app()?;
    if after.is_none() && !off {
        let settings = app.settings()?;
        match settings.autosleep_after_secs {
            None => println!("off"),
            Some(secs) => println!(
                "after {}{}",
                crate::duration::human(secs),
                if settings.asleep_since.is_some() {
                    " (sleeping now)"
                } else {
                    ""
                }
            ),
        }
        return Ok(());
    }
    let after = after.map(parse_duration).transpose()?;
    let _lock = app.lock()?;
    let settings = app.update_settings(|s| s.autosleep_after_secs = after)?;
    match after {
        Some(secs) => say!(
            "Web dynos of {} now sleep after {} without a request; the next request wakes them",
            app.name,
            crate::duration::human(secs)
        ),
        None => say!(
            "Web dynos of {} no longer sleep{}",
            app.name,
            if settings.asleep_since.is_some() {
                " (the next request wakes them)"
            } else {
                ""
            }
        ),
    }
    Ok(())
}

/// An autosleep delay: a duration of at least `AUTOSLEEP_MIN_SECS`.
fn parse_duration(text: &str) -> Result<u64> {
    let hint = "give a number with s, m or h, like `30m`";
    let secs = crate::duration::parse(text).map_err(Error::new)?;
    if secs < AUTOSLEEP_MIN_SECS {
        return Err(
            Error::new(format!("`{text}` is shorter than {AUTOSLEEP_MIN_SECS} s")).hint(hint),
        );
    }
    Ok(secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::AppName;

    #[test]
    fn autosleep_durations() {
        assert_eq!(parse_duration("30m").unwrap(), 1800);
        assert_eq!(parse_duration("90s").unwrap(), 90);
        assert_eq!(parse_duration("2h").unwrap(), 7200);
        assert!(parse_duration("30").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("2s")
            .unwrap_err()
            .message()
            .contains("shorter than 5 s"));
    }

    #[test]
    fn a_release_phase_dyno_is_named_by_its_build_never_by_a_release() {
        // #19, point 4: the dyno of a push killed mid-release showed as
        // `release.1: crashed (exit status 0) [v4]` against a later v4.
        let dyno = |running: bool, build: Option<u32>| Dyno {
            id: "paas-ab12-shop-release.1-v4-00aa11bb".into(),
            app: AppName::parse("shop").unwrap(),
            release: 4,
            process_type: RELEASE_TYPE.into(),
            index: 1,
            running,
            exit_code: 0,
            started_at: 0,
            netns: None,
            size: DEFAULT_SIZE.name.into(),
            network_tag: String::new(),
            build,
        };
        let when = heroku_time(0);
        for current in [3, 4, 5] {
            assert_eq!(
                release_phase_row(&dyno(false, Some(2))).line(current),
                format!("release.1: ended (exit status 0) {when} (build #2's release phase)")
            );
        }
        let running = release_phase_row(&dyno(true, Some(2)));
        assert_eq!(running.state, "up");
        assert!(running.line(4).ends_with(" (build #2's release phase)"));
        assert_eq!(
            release_phase_row(&dyno(false, None)).line(4),
            format!("release.1: ended (exit status 0) {when} (the release phase of a change not yet released)")
        );
        let json = serde_json::to_value(release_phase_row(&dyno(true, Some(2)))).unwrap();
        assert_eq!(
            (&json["release"], &json["build"]),
            (&serde_json::Value::Null, &2.into())
        );
    }

    #[test]
    fn scale_arguments() {
        let (t, c, size) = parse_scale("web=2").unwrap();
        assert_eq!((t.as_str(), c, size), ("web", 2, None));
        let (_, c, size) = parse_scale("web=3:standard-2x").unwrap();
        assert_eq!((c, size.unwrap().name), (3, "standard-2x"));
        assert_eq!(
            parse_scale("web=1:huge").unwrap_err().message(),
            "`huge` is not a dyno size"
        );
        assert_eq!(parse_scale("worker=0").unwrap().1, 0);
        assert_eq!(
            parse_scale("web").unwrap_err().message(),
            "`web` is not `TYPE=COUNT`"
        );
        assert_eq!(
            parse_scale("web=-1").unwrap_err().message(),
            "`-1` is not a dyno count from 0 to 100"
        );
        assert!(parse_scale("web=101").is_err());
        assert!(parse_scale("w eb=1").is_err());
    }

    #[test]
    fn relative_scale_changes_count_from_the_formation() {
        let formation = BTreeMap::from([("web".to_string(), 2), ("worker".to_string(), 1)]);
        let absolute = |change: &str| absolute_change(change, &formation);
        assert_eq!(absolute("web+1").unwrap(), "web=3");
        assert_eq!(absolute("worker-1").unwrap(), "worker=0");
        assert_eq!(
            absolute("clock+2:standard-2x").unwrap(),
            "clock=2:standard-2x"
        );
        assert_eq!(absolute("web=5").unwrap(), "web=5");
        assert_eq!(
            absolute("worker-2").unwrap_err().message(),
            "`worker` has 1 dyno: `worker-2` would leave fewer than none"
        );
        assert!(absolute("web+x").is_err());
        // A count past 100 is refused as `web=101` is.
        assert!(parse_scale(&absolute("web+99").unwrap()).is_err());
    }
}
