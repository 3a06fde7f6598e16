//! `pg:ps`, `pg:kill`, `pg:locks`, `pg:outliers` and `pg:diagnose`: what a
//! PostgreSQL add-on's database is doing, shown as Heroku's commands show it.

use super::pg::database;
use super::Ctx;
use crate::addons::postgres_stats::{self, Check, Status, Table};
use crate::cli::{Database, Format, PgStatsCommand};
use crate::error::Result;
use crate::output::{self, paint, Style};

/// Heroku's `--truncate`: queries cut to 40 characters.
const TRUNCATED: usize = 40;

/// Runs `pg:ps`, `pg:kill`, `pg:locks`, `pg:outliers` or `pg:diagnose`.
pub fn run(ctx: &Ctx, command: PgStatsCommand) -> Result<()> {
    match command {
        PgStatsCommand::Ps { database, verbose } => ps(ctx, &database, verbose),
        PgStatsCommand::Kill {
            pid,
            database,
            force,
        } => kill(ctx, pid, &database, force),
        PgStatsCommand::Locks { database, truncate } => locks(ctx, &database, truncate),
        PgStatsCommand::Outliers {
            database,
            reset,
            truncate,
            num,
        } => outliers(ctx, &database, reset, num, truncate),
        PgStatsCommand::Diagnose { database, format } => diagnose(ctx, &database, format),
    }
}

pub fn ps(ctx: &Ctx, db: &Database, verbose: bool) -> Result<()> {
    let (_, addon, dir) = database(ctx, db)?;
    let table = postgres_stats::activity(&ctx.settings, &addon, &dir, verbose)?;
    print(&table, None, "No queries are running.");
    Ok(())
}

pub fn kill(ctx: &Ctx, pid: u32, db: &Database, force: bool) -> Result<()> {
    let (_, addon, dir) = database(ctx, db)?;
    postgres_stats::cancel(&ctx.settings, &addon, &dir, pid, force)?;
    if force {
        say!("Terminated process {pid} of {}", addon.name);
    } else {
        say!("Cancelled the query of process {pid} of {}", addon.name);
    }
    Ok(())
}

pub fn locks(ctx: &Ctx, db: &Database, truncate: bool) -> Result<()> {
    let (_, addon, dir) = database(ctx, db)?;
    let table = postgres_stats::locks(&ctx.settings, &addon, &dir)?;
    print(
        &table,
        truncate.then_some("query_snippet"),
        "No queries hold exclusive locks.",
    );
    Ok(())
}

pub fn outliers(ctx: &Ctx, db: &Database, reset: bool, num: u32, truncate: bool) -> Result<()> {
    let (_, addon, dir) = database(ctx, db)?;
    if reset {
        postgres_stats::reset_outliers(&ctx.settings, &addon, &dir)?;
        say!("Reset the statement statistics of {}", addon.name);
        return Ok(());
    }
    let table = postgres_stats::outliers(&ctx.settings, &addon, &dir, num)?;
    print(
        &table,
        truncate.then_some("query"),
        "No statements recorded yet.",
    );
    Ok(())
}

pub fn diagnose(ctx: &Ctx, db: &Database, format: Format) -> Result<()> {
    let (_, addon, dir) = database(ctx, db)?;
    let checks = postgres_stats::diagnose(&ctx.settings, &addon, &dir)?;
    if format.json {
        return output::print_json(&json(&addon.name, &checks));
    }
    output::header(&format!("Diagnosis of {}", addon.name));
    for check in &checks {
        let style = match check.status {
            Status::Red => Style::Bad,
            Status::Yellow => Style::Warn,
            Status::Green => Style::Good,
        };
        let line = format!("{}: {}", check.status.name().to_uppercase(), check.name);
        println!("{}", paint(&line, style));
        if check.status != Status::Green && !check.results.rows.is_empty() {
            print(&check.results, None, "");
            println!();
        }
    }
    Ok(())
}

/// Heroku's `pg:diagnose --json`: each check with its rows as objects.
fn json(addon: &str, checks: &[Check]) -> serde_json::Value {
    let checks: Vec<serde_json::Value> = checks
        .iter()
        .map(|check| {
            let results: Vec<serde_json::Value> = check
                .results
                .rows
                .iter()
                .filter(|_| check.status != Status::Green)
                .map(|row| {
                    let fields = check.results.columns.iter().zip(row);
                    fields
                        .map(|(column, cell)| (column.to_string(), cell.clone().into()))
                        .collect::<serde_json::Map<_, _>>()
                        .into()
                })
                .collect();
            serde_json::json!({
                "name": check.name,
                "status": check.status.name(),
                "results": results,
            })
        })
        .collect();
    serde_json::json!({ "database": addon, "checks": checks })
}

/// A table with its column names, each cell on one line (`column`'s cut to
/// 40 characters); `empty` when there are no rows.
fn print(table: &Table, cut: Option<&str>, empty: &str) {
    if table.rows.is_empty() {
        if !empty.is_empty() {
            println!("{empty}");
        }
        return;
    }
    let cut_at = cut.and_then(|name| table.columns.iter().position(|c| *c == name));
    let mut rows = vec![table.columns.iter().map(|c| c.to_string()).collect()];
    for row in &table.rows {
        rows.push(
            row.iter()
                .enumerate()
                .map(|(i, cell)| one_line(cell, (Some(i) == cut_at).then_some(TRUNCATED)))
                .collect(),
        );
    }
    output::table(&rows);
}

/// `text` on one line (a query's newlines and indents as single spaces),
/// cut to `max` characters with `…`.
fn one_line(text: &str, max: Option<usize>) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match max {
        Some(max) if line.chars().count() > max => {
            let kept: String = line.chars().take(max - 1).collect();
            format!("{kept}…")
        }
        _ => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_fit_on_one_line_and_are_cut_on_request() {
        assert_eq!(
            one_line("SELECT *\n  FROM notes\tWHERE id = 1", None),
            "SELECT * FROM notes WHERE id = 1"
        );
        let cut = one_line(&"x".repeat(50), Some(TRUNCATED));
        assert_eq!(cut.chars().count(), TRUNCATED);
        assert!(cut.ends_with('…'));
        assert_eq!(one_line("short", Some(TRUNCATED)), "short");
    }

    #[test]
    fn json_lists_rows_of_checks_that_are_not_green() {
        let check = |status, rows: Vec<Vec<String>>| Check {
            name: "Long Queries",
            status,
            results: Table {
                columns: vec!["pid", "query"],
                rows,
            },
        };
        let row = vec!["7".to_string(), "SELECT 1".to_string()];
        let value = json(
            "postgres-a-1",
            &[
                check(Status::Red, vec![row.clone()]),
                check(Status::Green, vec![row]),
            ],
        );
        assert_eq!(value["checks"][0]["status"], "red");
        assert_eq!(value["checks"][0]["results"][0]["pid"], "7");
        assert_eq!(value["checks"][1]["results"].as_array().unwrap().len(), 0);
    }
}
