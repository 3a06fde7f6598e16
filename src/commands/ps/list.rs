//! `ps`: the formation, then each dyno with its state (up, crashed and
//! when it restarts, sleeping, standby), one-off dynos and a release
//! phase's dyno apart; `--json` the same as data.

use super::super::{heroku_time, Ctx};
use crate::cli::Format;
use crate::converge::{ONE_OFF_TYPE, RELEASE_TYPE};
use crate::crashes::{self, Crashes};
use crate::error::Result;
use crate::output::{self, paint, Style};
use crate::release::Ledger;
use crate::runtime::{Dyno, Runtime};
use crate::state::DEFAULT_SIZE;

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
    if crate::kubernetes::workflows::on_cluster(&app)? {
        let pods = crate::kubernetes::workflows::pods(&ctx.root, &app)?;
        crate::output::header(&format!("{} on Kubernetes: {} pods", app.name, pods.len()));
        for pod in pods {
            println!("{}", pod.line());
        }
        return Ok(());
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::AppName;

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
            mounts_tag: String::new(),
            build,
            image: false,
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
}
