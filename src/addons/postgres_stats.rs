//! What a PostgreSQL add-on's database is doing, for `pg:ps`, `pg:kill`,
//! `pg:locks`, `pg:outliers` and `pg:diagnose`: the statistics views
//! Heroku's CLI and its pgdiagnose read, asked as the superuser over the
//! container's own socket and limited to the add-on's database.
//!
//! `pg_stat_statements` is loaded by the server's start script; its view
//! is made in the `postgres` database, not the app's, so the app's dumps
//! (`pg:pull`, backups) carry no extension a laptop may lack.

use super::{service, Addon, AddonDir};
use crate::error::{Error, Result};
use crate::state::Settings;

/// Rows of text under named columns; SQL's NULL is an empty cell.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

/// The separators psql puts between fields and rows: characters no query
/// text or name holds, unlike `|` and newlines.
const FIELD: char = '\u{1f}';
const RECORD: char = '\u{1e}';

/// Runs one query as the superuser in `database` and returns its rows.
fn query(
    settings: &Settings,
    addon: &Addon,
    database: &str,
    sql: &str,
) -> Result<Vec<Vec<String>>> {
    let (field, record) = (FIELD.to_string(), RECORD.to_string());
    // A report that waits for a lock an app's query holds would hang with
    // it: it fails instead, saying so.
    let script = format!("SET lock_timeout = '10s';\nSET statement_timeout = '60s';\n{sql}\n");
    let flags = ["-F", field.as_str(), "-R", record.as_str()];
    match service::run_psql(settings, addon, database, &flags, &script)? {
        Ok(stdout) => Ok(parse_rows(&stdout)),
        Err(stderr) => Err(
            Error::new(format!("PostgreSQL in `{}` could not answer", addon.name))
                .cause(stderr.trim()),
        ),
    }
}

fn parse_rows(text: &str) -> Vec<Vec<String>> {
    let text = text.strip_suffix('\n').unwrap_or(text);
    if text.is_empty() {
        return Vec::new();
    }
    text.split(RECORD)
        .map(|row| row.split(FIELD).map(String::from).collect())
        .collect()
}

/// `text` as an SQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The add-on's database name, after checking its server runs.
fn database(settings: &Settings, addon: &Addon, dir: &AddonDir) -> Result<String> {
    service::require_running(settings, addon)?;
    Ok(dir.credentials()?.database)
}

/// Client backends of the add-on's database, not this query's own.
const OURS: &str = "datname = current_database() AND backend_type = 'client backend' \
                    AND pid <> pg_backend_pid()";

/// `pg:ps`: what runs now (and, `verbose`, what sits idle), newest first.
/// `waiting` is a wait for a lock, as the column meant before PostgreSQL
/// 9.6 (Heroku's CLI now counts any wait: a sleep, an idle client).
pub fn activity(
    settings: &Settings,
    addon: &Addon,
    dir: &AddonDir,
    verbose: bool,
) -> Result<Table> {
    let database = database(settings, addon, dir)?;
    let idle = if verbose { "" } else { "AND state <> 'idle'" };
    let rows = query(
        settings,
        addon,
        &database,
        &format!(
            "SELECT pid, state, application_name, usename, age(now(), xact_start), \
             xact_start, wait_event_type IS NOT DISTINCT FROM 'Lock', query \
             FROM pg_stat_activity WHERE {OURS} {idle} ORDER BY query_start DESC;"
        ),
    )?;
    Ok(Table {
        columns: vec![
            "pid",
            "state",
            "source",
            "username",
            "running_for",
            "transaction_start",
            "waiting",
            "query",
        ],
        rows,
    })
}

/// `pg:kill`: cancels the query of one backend of the add-on's database,
/// or (`force`) ends its connection.
pub fn cancel(
    settings: &Settings,
    addon: &Addon,
    dir: &AddonDir,
    pid: u32,
    force: bool,
) -> Result<()> {
    let database = database(settings, addon, dir)?;
    let function = if force {
        "pg_terminate_backend"
    } else {
        "pg_cancel_backend"
    };
    let rows = query(
        settings,
        addon,
        &database,
        &format!("SELECT {function}(pid) FROM pg_stat_activity WHERE pid = {pid} AND {OURS};"),
    )?;
    match rows.first().and_then(|row| row.first()).map(String::as_str) {
        Some("t") => Ok(()),
        Some(_) => Err(Error::new(format!(
            "PostgreSQL could not signal process {pid} of `{}`",
            addon.name
        ))),
        None => Err(Error::new(format!(
            "`{}` has no connection with process id {pid}",
            addon.name
        ))
        .hint("`paas pg:ps --verbose` lists them")),
    }
}

/// `pg:locks`: exclusive locks held or awaited, oldest query first (the
/// modes pg-extras shows: a table locked by `LOCK TABLE` or `ALTER TABLE`
/// is `AccessExclusiveLock`, which plain `ExclusiveLock` would miss).
pub fn locks(settings: &Settings, addon: &Addon, dir: &AddonDir) -> Result<Table> {
    let database = database(settings, addon, dir)?;
    let rows = query(
        settings,
        addon,
        &database,
        "SELECT a.pid, c.relname, l.transactionid, l.granted, l.mode, a.query, \
         age(now(), a.query_start) \
         FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid \
         LEFT JOIN pg_class c ON l.relation = c.oid \
         WHERE l.mode IN ('ExclusiveLock', 'AccessExclusiveLock', 'RowExclusiveLock') \
         AND a.datname = current_database() \
         AND a.backend_type = 'client backend' AND a.pid <> pg_backend_pid() \
         ORDER BY a.query_start, a.pid;",
    )?;
    Ok(Table {
        columns: vec![
            "pid",
            "relname",
            "transactionid",
            "granted",
            "mode",
            "query_snippet",
            "age",
        ],
        rows,
    })
}

/// Whether the server runs with `pg_stat_statements` loaded.
fn statements_loaded(settings: &Settings, addon: &Addon) -> Result<bool> {
    let rows = query(
        settings,
        addon,
        "postgres",
        "SHOW shared_preload_libraries;",
    )?;
    Ok(rows
        .first()
        .and_then(|row| row.first())
        .is_some_and(|libraries| libraries.contains("pg_stat_statements")))
}

/// The view in the `postgres` database, made on first use; an error
/// saying what to do when the server runs without the library.
fn ensure_statements(settings: &Settings, addon: &Addon) -> Result<()> {
    if !statements_loaded(settings, addon)? {
        return Err(Error::new(format!(
            "`{}` runs without pg_stat_statements, which pg:outliers reads",
            addon.name
        ))
        .hint(NOT_LOADED_HINT));
    }
    query(
        settings,
        addon,
        "postgres",
        "CREATE EXTENSION IF NOT EXISTS pg_stat_statements;",
    )
    .map(drop)
}

const NOT_LOADED_HINT: &str = "add-ons started before paas loaded it get it when they next start: \
    `paas server stop` then `paas server start` on the server (or a reboot) starts them again";

/// Which of `pg_stat_statements`' rows are the add-on's: its database, its
/// app's user (not the superuser's own queries, such as these).
fn statements_of(dir: &AddonDir) -> Result<String> {
    let credentials = dir.credentials()?;
    Ok(format!(
        "dbid = (SELECT oid FROM pg_database WHERE datname = {}) \
         AND userid = (SELECT oid FROM pg_roles WHERE rolname = {})",
        literal(&credentials.database),
        literal(&credentials.user)
    ))
}

/// `pg:outliers`: the `limit` statements that took the most time in all.
pub fn outliers(settings: &Settings, addon: &Addon, dir: &AddonDir, limit: u32) -> Result<Table> {
    service::require_running(settings, addon)?;
    ensure_statements(settings, addon)?;
    let version = query(settings, addon, "postgres", "SHOW server_version_num;")?;
    let version: u32 = version
        .first()
        .and_then(|row| row.first())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    // The columns were renamed in 13 and 17.
    let (total, io) = match version {
        v if v >= 170_000 => (
            "total_exec_time",
            "shared_blk_read_time + shared_blk_write_time",
        ),
        v if v >= 130_000 => ("total_exec_time", "blk_read_time + blk_write_time"),
        _ => ("total_time", "blk_read_time + blk_write_time"),
    };
    let rows = query(
        settings,
        addon,
        "postgres",
        &format!(
            "SELECT interval '1 millisecond' * {total}, \
             to_char(({total} / nullif(sum({total}) OVER (), 0)) * 100, 'FM990D0') || '%', \
             to_char(calls, 'FM999G999G999G990'), interval '1 millisecond' * ({io}), query \
             FROM pg_stat_statements WHERE {} ORDER BY {total} DESC LIMIT {limit};",
            statements_of(dir)?
        ),
    )?;
    Ok(Table {
        columns: vec![
            "total_exec_time",
            "prop_exec_time",
            "ncalls",
            "sync_io_time",
            "query",
        ],
        rows,
    })
}

/// `pg:outliers --reset`: forgets the add-on's statements' statistics.
pub fn reset_outliers(settings: &Settings, addon: &Addon, dir: &AddonDir) -> Result<()> {
    service::require_running(settings, addon)?;
    ensure_statements(settings, addon)?;
    let database = dir.credentials()?.database;
    query(
        settings,
        addon,
        "postgres",
        &format!(
            "SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = {}), 0);",
            literal(&database)
        ),
    )
    .map(drop)
}

/// How a check of `pg:diagnose` came out, worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Red,
    Yellow,
    Green,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Red => "red",
            Status::Yellow => "yellow",
            Status::Green => "green",
        }
    }
}

/// One line of `pg:diagnose`, with the rows behind a status that is not green.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub results: Table,
}

/// A check that is `bad` when its query finds rows, else green.
fn rows_check(
    settings: &Settings,
    addon: &Addon,
    database: &str,
    name: &'static str,
    bad: Status,
    columns: Vec<&'static str>,
    sql: &str,
) -> Result<Check> {
    let rows = query(settings, addon, database, sql)?;
    Ok(Check {
        name,
        status: if rows.is_empty() { Status::Green } else { bad },
        results: Table { columns, rows },
    })
}

/// `pg:diagnose`: pgdiagnose's checks that one server can answer, each
/// green, yellow or red.
pub fn diagnose(settings: &Settings, addon: &Addon, dir: &AddonDir) -> Result<Vec<Check>> {
    let database = database(settings, addon, dir)?;
    let rows = query(
        settings,
        addon,
        &database,
        &format!(
            "SELECT (SELECT count(*) FROM pg_stat_activity WHERE {OURS}), \
             current_setting('max_connections');"
        ),
    )?;
    let numbers: Vec<u64> = rows
        .first()
        .map(|row| row.iter().filter_map(|cell| cell.parse().ok()).collect())
        .unwrap_or_default();
    let (count, max) = (
        numbers.first().copied().unwrap_or(0),
        numbers.get(1).copied().unwrap_or(100).max(1),
    );
    let mut checks = vec![Check {
        name: "Connection Count",
        status: connection_status(count, max),
        results: Table {
            columns: vec!["connections", "max_connections"],
            rows: vec![vec![count.to_string(), max.to_string()]],
        },
    }];
    let minute_old = |state: &str| {
        format!(
            "SELECT pid, now() - query_start, query FROM pg_stat_activity \
             WHERE {OURS} AND {state} AND now() - query_start > interval '1 minute' \
             ORDER BY query_start;"
        )
    };
    checks.push(rows_check(
        settings,
        addon,
        &database,
        "Long Queries",
        Status::Red,
        vec!["pid", "duration", "query"],
        &minute_old("state = 'active'"),
    )?);
    checks.push(rows_check(
        settings,
        addon,
        &database,
        "Idle in Transaction",
        Status::Red,
        vec!["pid", "duration", "query"],
        &minute_old("state LIKE 'idle in transaction%'"),
    )?);
    checks.push(rows_check(
        settings,
        addon,
        &database,
        "Blocking Queries",
        Status::Red,
        vec![
            "blocked_pid",
            "blocked_duration",
            "blocking_pid",
            "blocking_duration",
            "blocked_statement",
        ],
        "SELECT a.pid, now() - a.query_start, b.pid, now() - b.query_start, a.query \
         FROM pg_stat_activity a JOIN pg_stat_activity b ON b.pid = ANY (pg_blocking_pids(a.pid)) \
         WHERE a.datname = current_database() ORDER BY a.query_start;",
    )?);
    // Statistics count from the server's start: an index unused since then
    // is a question to ask, not yet a fault. The size is the catalog's
    // (`relpages`): `pg_relation_size` would wait for a table's lock.
    checks.push(rows_check(
        settings,
        addon,
        &database,
        "Unused Indexes",
        Status::Yellow,
        vec!["table", "index", "index_size", "table_rows"],
        "SELECT s.schemaname || '.' || s.relname, s.indexrelname, \
         pg_size_pretty(c.relpages::bigint * current_setting('block_size')::bigint), \
         t.n_live_tup \
         FROM pg_stat_user_indexes s JOIN pg_index i USING (indexrelid) \
         JOIN pg_class c ON c.oid = s.indexrelid JOIN pg_stat_user_tables t ON t.relid = s.relid \
         JOIN pg_am am ON am.oid = c.relam \
         WHERE s.idx_scan = 0 AND NOT i.indisunique AND am.amname = 'btree' \
         ORDER BY c.relpages DESC;",
    )?);
    // Dead rows that autovacuum has not reclaimed: what bloat grows from.
    checks.push(rows_check(
        settings,
        addon,
        &database,
        "Dead Rows",
        Status::Yellow,
        vec!["table", "live_rows", "dead_rows", "last_autovacuum"],
        "SELECT schemaname || '.' || relname, n_live_tup, n_dead_tup, last_autovacuum \
         FROM pg_stat_user_tables \
         WHERE n_dead_tup > 10000 AND n_dead_tup > n_live_tup / 5 ORDER BY n_dead_tup DESC;",
    )?);
    let rates = query(
        settings,
        addon,
        &database,
        "SELECT 'index hit rate', sum(idx_blks_hit), sum(idx_blks_hit + idx_blks_read) \
         FROM pg_statio_user_indexes UNION ALL \
         SELECT 'table hit rate', sum(heap_blks_hit), sum(heap_blks_hit + heap_blks_read) \
         FROM pg_statio_user_tables;",
    )?;
    checks.push(hit_rate_check(&rates));
    let loaded = statements_loaded(settings, addon)?;
    checks.push(Check {
        name: "Statement Statistics",
        status: if loaded {
            Status::Green
        } else {
            Status::Yellow
        },
        results: Table {
            columns: vec!["pg_stat_statements"],
            rows: vec![vec![format!("not loaded: {NOT_LOADED_HINT}")]],
        },
    });
    checks.sort_by_key(|check| check.status);
    Ok(checks)
}

/// Yellow from 70% of `max_connections`, red from 90%.
fn connection_status(count: u64, max: u64) -> Status {
    match count * 100 / max {
        90.. => Status::Red,
        70.. => Status::Yellow,
        _ => Status::Green,
    }
}

/// Reads served from memory: yellow below 99% (Heroku's mark), red below
/// 90%; too few reads yet (a new database) say nothing.
fn hit_rate_check(rates: &[Vec<String>]) -> Check {
    let mut status = Status::Green;
    let mut rows = Vec::new();
    for rate in rates {
        let number = |i: usize| rate.get(i).and_then(|n| n.parse::<f64>().ok());
        let (Some(hits), Some(all)) = (number(1), number(2)) else {
            continue;
        };
        if all < 1000.0 {
            continue;
        }
        let ratio = hits / all;
        let this = match ratio {
            r if r < 0.90 => Status::Red,
            r if r < 0.99 => Status::Yellow,
            _ => continue,
        };
        status = status.min(this);
        rows.push(vec![rate[0].clone(), format!("{ratio:.4}")]);
    }
    Check {
        name: "Hit Rate",
        status,
        results: Table {
            columns: vec!["name", "ratio"],
            rows,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_split_on_the_separators_only() {
        let text = "1\u{1f}SELECT 'a|b'\nFROM t\u{1e}2\u{1f}\n";
        assert_eq!(
            parse_rows(text),
            vec![
                vec!["1".to_string(), "SELECT 'a|b'\nFROM t".to_string()],
                vec!["2".to_string(), String::new()],
            ]
        );
        assert!(parse_rows("\n").is_empty());
    }

    #[test]
    fn literals_are_quoted() {
        assert_eq!(literal("it's"), "'it''s'");
    }

    #[test]
    fn connections_turn_yellow_then_red() {
        assert_eq!(connection_status(10, 100), Status::Green);
        assert_eq!(connection_status(70, 100), Status::Yellow);
        assert_eq!(connection_status(95, 100), Status::Red);
    }

    #[test]
    fn hit_rates_count_only_once_there_are_reads() {
        let row = |name: &str, hits: &str, all: &str| {
            vec![name.to_string(), hits.to_string(), all.to_string()]
        };
        let check = hit_rate_check(&[
            row("table hit rate", "5", "10"),
            row("index hit rate", "", ""),
        ]);
        assert_eq!(check.status, Status::Green, "10 reads say nothing yet");
        let check = hit_rate_check(&[
            row("table hit rate", "9800", "10000"),
            row("index hit rate", "9999", "10000"),
        ]);
        assert_eq!(check.status, Status::Yellow);
        assert_eq!(
            check.results.rows,
            vec![vec!["table hit rate".to_string(), "0.9800".to_string()]]
        );
        let check = hit_rate_check(&[row("table hit rate", "5000", "10000")]);
        assert_eq!(check.status, Status::Red);
    }

    #[test]
    fn worst_checks_come_first() {
        let mut statuses = vec![Status::Green, Status::Red, Status::Yellow];
        statuses.sort();
        assert_eq!(statuses, vec![Status::Red, Status::Yellow, Status::Green]);
    }
}
