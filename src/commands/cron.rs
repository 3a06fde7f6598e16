//! `cron` and `cron:run`: the app's scheduled jobs (`app.json` `cron`),
//! their next and last runs, and a run now.

use super::Ctx;
use crate::cli::{CronCommand, Format};
use crate::cron::{self, Entry, Runs, SCHEDULER_TYPE};
use crate::error::{Error, Result};
use crate::output;
use crate::release::{Ledger, Release};
use crate::runtime::{Code, Runtime};
use crate::state::AppDir;

/// One row of `cron --json`.
#[derive(serde::Serialize)]
struct CronJson {
    id: String,
    schedule: String,
    command: String,
    dyno: String,
    /// RFC 3339, in the app's zone.
    next_run: Option<String>,
    last_run: Option<cron::Run>,
    running: bool,
}

/// The current release, what it runs and its entries.
fn current_entries(ctx: &Ctx, app: &AppDir) -> Result<(Release, Code, Vec<Entry>)> {
    let Some(release) = Ledger::new(app).current()?.filter(|r| r.is_built()) else {
        return Err(
            Error::new(format!("`{}` has not been deployed yet", app.name))
                .hint("push the code first: `git push deploy master`"),
        );
    };
    let runtime = ctx.runtime();
    let platform = ctx.platform(&runtime);
    let code = platform.code(app, &release)?.expect("built, checked above");
    let entries = cron::entries(platform.app_json(app, &release)?.as_deref())?;
    Ok((release, code, entries))
}

/// Runs a `cron` command.
pub fn run(ctx: &Ctx, command: CronCommand) -> Result<()> {
    match command {
        CronCommand::List { format } => list(ctx, format),
        CronCommand::Run { id } => run_now(ctx, &id),
    }
}

pub fn list(ctx: &Ctx, format: Format) -> Result<()> {
    let app = ctx.app()?;
    let (release, _, entries) = current_entries(ctx, &app)?;
    let zone = cron::zone(&release);
    let runs = Runs::load(&app);
    let running: Vec<String> = ctx
        .runtime()
        .list(Some(&app.name))?
        .into_iter()
        .filter(|d| d.process_type == SCHEDULER_TYPE && d.running)
        .map(|d| d.name())
        .collect();
    let now = crate::crashes::now();
    let rows: Vec<CronJson> = entries
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            let dyno = format!("{SCHEDULER_TYPE}.{}", index + 1);
            CronJson {
                id: entry.id(),
                schedule: entry.schedule.clone(),
                command: entry.command.clone(),
                next_run: cron::next_run(entry, zone, now).map(|t| t.to_rfc3339()),
                last_run: runs.last.get(&entry.id()).cloned(),
                running: running.contains(&dyno),
                dyno,
            }
        })
        .collect();
    if format.json {
        return output::print_json(&rows);
    }
    if rows.is_empty() {
        say!(
            "`{}` has no scheduled jobs: add `cron` entries to its app.json",
            app.name
        );
        return Ok(());
    }
    output::header(&format!("{} Scheduled Jobs ({})", app.name, zone.name()));
    let mut table = vec![vec![
        "ID".to_string(),
        "Schedule".into(),
        "Command".into(),
        "Next run".into(),
        "Last run".into(),
    ]];
    for row in rows {
        let last = match (&row.last_run, row.running) {
            (_, true) => "running".to_string(),
            (Some(run), false) => format!(
                "{} ({})",
                when(run.started_at, zone),
                run.exit_status
                    .map_or("exit unknown".to_string(), |code| format!("exit {code}"))
            ),
            (None, false) => "never".into(),
        };
        // RFC 3339 in the JSON; minutes in the table.
        let next = row.next_run.as_deref().map_or("-".to_string(), |t| {
            chrono::DateTime::parse_from_rfc3339(t)
                .map_or(t.to_string(), |t| t.format("%Y-%m-%d %H:%M").to_string())
        });
        table.push(vec![row.id, row.schedule, row.command, next, last]);
    }
    output::table(&table);
    Ok(())
}

fn when(unix: i64, zone: chrono_tz::Tz) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.with_timezone(&zone).format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

/// `cron:run ID`: the job now, as its schedule would start it.
pub fn run_now(ctx: &Ctx, id: &str) -> Result<()> {
    let app = ctx.app()?;
    let _lock = app.lock()?;
    let (release, code, entries) = current_entries(ctx, &app)?;
    let Some(index) = entries.iter().position(|e| e.id() == id) else {
        return Err(
            Error::new(format!("`{}` has no scheduled job `{id}`", app.name))
                .hint(format!("`paas cron -a {}` lists them", app.name)),
        );
    };
    let runtime = ctx.runtime();
    let dyno = format!("{SCHEDULER_TYPE}.{}", index + 1);
    if runtime
        .list(Some(&app.name))?
        .iter()
        .any(|d| d.running && d.name() == dyno)
    {
        return Err(Error::new(format!("{dyno} is still running job `{id}`"))
            .hint(format!("`paas logs -a {} -d {dyno}` follows it", app.name)));
    }
    let entry = &entries[index];
    let run = cron::start(&ctx.platform(&runtime), &app, &release, &code, index, entry)?;
    say!(
        "Running `{}` on {}... up, {}",
        entry.command,
        app.name,
        run.dyno
    );
    let mut runs = Runs::load(&app);
    runs.last.insert(entry.id(), run);
    runs.save(&app)
}
