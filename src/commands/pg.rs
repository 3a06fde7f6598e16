//! `pg:*`: PostgreSQL add-ons, as Heroku's `pg:` commands work.

use std::io::IsTerminal;
use std::process::Stdio;

use super::addon_lookup::resolve;
use super::pg_transfer::{self, Remote};
use super::Ctx;
use crate::addons::backups::{self, Backup, Schedule};
use crate::addons::{self, service, transfer, Addon, AddonDir, Kind};
use crate::cli::{Database, Format, PgCommand};
use crate::error::{Context, Error, Result};
use crate::output;
use crate::rollout::record_change;
use crate::state::AppDir;

/// The app's PostgreSQL add-on that `database` names (the default one
/// without), through the access check.
pub(super) fn database(ctx: &Ctx, database: &Database) -> Result<(AppDir, Addon, AddonDir)> {
    let app = ctx.app()?;
    let (addon, dir) = resolve(ctx, &app, database.database.as_deref(), Kind::Postgres)?;
    Ok((app, addon, dir))
}

/// Destructive commands name the app, as on Heroku.
fn require_confirm(app: &AppDir, confirm: Option<&str>, what: &str, command: &str) -> Result<()> {
    let warning = format!("{what} on {} cannot be undone.", app.name);
    if super::confirmation(confirm, app.name.as_str(), &warning).as_deref()
        == Some(app.name.as_str())
    {
        return Ok(());
    }
    Err(Error::new(format!("{what} cannot be undone")).hint(format!(
        "confirm with `paas {command} -a {0} --confirm {0}`",
        app.name
    )))
}

/// Runs a `pg` command other than those on what the database is doing.
pub fn run(ctx: &Ctx, command: PgCommand) -> Result<()> {
    match command {
        PgCommand::Info { database } => info(ctx, &database),
        PgCommand::Credentials { database } => credentials(ctx, &database),
        PgCommand::CredentialsRotate { database, confirm } => {
            rotate(ctx, &database, confirm.as_deref())
        }
        PgCommand::Psql { database, command } => psql(ctx, &database, command.as_deref()),
        PgCommand::Reset { database, confirm } => reset(ctx, &database, confirm.as_deref()),
        PgCommand::Backups { database, format } => list_backups(ctx, &database, format),
        PgCommand::BackupsCapture { database } => capture(ctx, &database),
        PgCommand::BackupsRestore {
            source,
            database,
            confirm,
        } => restore(ctx, source.as_deref(), &database, confirm.as_deref()),
        PgCommand::BackupsDownload { backup, database } => {
            download(ctx, backup.as_deref(), &database)
        }
        PgCommand::BackupsInfo { backup, database } => {
            backup_info(ctx, backup.as_deref(), &database)
        }
        PgCommand::BackupsDelete {
            backup,
            database,
            confirm,
        } => delete(ctx, &backup, &database, confirm.as_deref()),
        PgCommand::BackupsSchedule {
            at,
            retain_days,
            database,
        } => schedule(ctx, &at, retain_days, &database),
        PgCommand::BackupsUnschedule { database } => unschedule(ctx, &database),
        PgCommand::Pull { database, local } => pull(ctx, &database, &local),
        PgCommand::Push { local, database } => push(ctx, &local, &database),
        PgCommand::Dump { database } => dump(ctx, &database),
        PgCommand::Load { database } => load(ctx, &database),
    }
}

pub fn info(ctx: &Ctx, db: &Database) -> Result<()> {
    let (_, addon, dir) = database(ctx, db)?;
    let credentials = dir.credentials()?;
    let status = service::status(&ctx.settings, &addon.name).unwrap_or_else(|| "missing".into());
    output::header(&addon.name);
    println!("Status:      {status}");
    println!("PG Version:  {}", addon.version);
    println!(
        "Created:     {}",
        super::heroku_time_from_rfc3339(&addon.created_at)
    );
    if status == "running" {
        let facts = service::psql_as_superuser(
            &ctx.settings,
            &addon,
            &credentials.database,
            "SELECT pg_size_pretty(pg_database_size(current_database())) || '|' || \
             (SELECT count(*) FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema')) || '|' || \
             (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid());",
        )?;
        let mut parts = facts.lines().last().unwrap_or_default().split('|');
        println!("Data Size:   {}", parts.next().unwrap_or("?"));
        println!("Tables:      {}", parts.next().unwrap_or("?"));
        println!("Connections: {}", parts.next().unwrap_or("?"));
    }
    println!("Backups:     {}", backups::list(&dir)?.len());
    let attached: Vec<String> = addons::attachments(&ctx.root, &addon.name)?
        .iter()
        .map(|(app, var)| format!("{app}::{var}"))
        .collect();
    println!("Add-on:      {} ({})", addon.name, attached.join(", "));
    Ok(())
}

pub fn credentials(ctx: &Ctx, db: &Database) -> Result<()> {
    let (_, addon, dir) = database(ctx, db)?;
    let c = dir.credentials()?;
    println!("Connection information for default credential.");
    println!("Connection info string:");
    println!(
        "   \"dbname={} host={} port={} user={} password={} sslmode=disable\"",
        c.database,
        addon.name,
        addon.kind.port(),
        c.user,
        c.password
    );
    println!("Connection URL:");
    println!("   {}", addon.url(&c));
    if let Some(port) = addon.exposed_port {
        println!("On the server's loopback (exposed):");
        println!(
            "   postgres://{}:{}@127.0.0.1:{port}/{}",
            c.user, c.password, c.database
        );
    }
    Ok(())
}

pub fn rotate(ctx: &Ctx, db: &Database, confirm: Option<&str>) -> Result<()> {
    let (app, addon, dir) = database(ctx, db)?;
    require_confirm(
        &app,
        confirm,
        "rotating the password",
        "pg:credentials:rotate",
    )?;
    let lock = dir.lock()?;
    let mut credentials = dir.credentials()?;
    credentials.password = addons::secret()?;
    say_partial!("Rotating the password of {}... ", addon.name);
    service::psql_as_superuser(
        &ctx.settings,
        &addon,
        "postgres",
        &format!(
            "ALTER ROLE \"{}\" PASSWORD '{}';",
            credentials.user, credentials.password
        ),
    )?;
    dir.write_credentials(&credentials)?;
    drop(lock);
    say!("done");
    let url = addon.url(&credentials);
    // Every app gets the new URL, even when one of them fails to restart.
    let mut failed = Vec::new();
    let runtime = ctx.runtime();
    let platform = ctx.platform(&runtime);
    for (attached, var) in addons::attachments(&ctx.root, &addon.name)? {
        say_partial!("Updating {var} on {attached} and restarting... ");
        let result = record_change(
            &platform,
            &ctx.user,
            &ctx.root.app(&attached),
            format!(
                "Update {} by credential rotation ({})",
                var.strip_suffix("_URL").unwrap_or(&var),
                addon.name
            ),
            |config, _| {
                config.insert(var.clone(), url.clone());
                Ok(())
            },
        );
        match result {
            Ok(version) => say!("done, v{version}"),
            Err(err) => {
                say!("failed");
                say!("{}", err.report().trim_end());
                failed.push(attached.to_string());
            }
        }
    }
    if failed.is_empty() {
        return Ok(());
    }
    Err(Error::new(format!(
        "{} still run with the old password, which no longer works",
        failed.join(", ")
    ))
    .hint("fix what kept them from booting, then `paas pg:credentials:rotate` again"))
}

pub fn psql(ctx: &Ctx, db: &Database, command: Option<&str>) -> Result<()> {
    let (_, addon, dir) = database(ctx, db)?;
    let c = dir.credentials()?;
    let tty = command.is_none() && std::io::stdin().is_terminal();
    // No pager: the stack image's `more` pages by the terminal's size, which
    // arrives as 0x0 through some SSH clients and then waits for a key.
    let mut argv = vec!["psql", "-P", "pager=off", "-U", &c.user, "-d", &c.database];
    if let Some(sql) = command {
        argv.extend(["-v", "ON_ERROR_STOP=1", "-c", sql]);
    }
    let status = service::exec(&ctx.settings, &addon, tty, &argv)
        .status()
        .context(|| "running `psql` in the add-on".into())?;
    match status.code() {
        Some(0) => Ok(()),
        code => Err(Error::exit(code.unwrap_or(1).clamp(1, 255) as u8)),
    }
}

pub fn reset(ctx: &Ctx, db: &Database, confirm: Option<&str>) -> Result<()> {
    let (app, addon, dir) = database(ctx, db)?;
    require_confirm(&app, confirm, "resetting the database", "pg:reset")?;
    let c = dir.credentials()?;
    say_partial!("Resetting {}... ", addon.name);
    service::psql_as_superuser(
        &ctx.settings,
        &addon,
        "postgres",
        &format!(
            "DROP DATABASE \"{0}\" WITH (FORCE);\nCREATE DATABASE \"{0}\" OWNER \"{1}\";",
            c.database, c.user
        ),
    )?;
    say!("done");
    Ok(())
}

#[derive(serde::Serialize)]
struct BackupJson<'a> {
    #[serde(flatten)]
    backup: &'a Backup,
    database: &'a str,
}

pub fn list_backups(ctx: &Ctx, db: &Database, format: Format) -> Result<()> {
    let (_, addon, dir) = database(ctx, db)?;
    let backups = backups::list(&dir)?;
    if format.json {
        let rows: Vec<BackupJson> = backups
            .iter()
            .rev()
            .map(|backup| BackupJson {
                backup,
                database: &addon.name,
            })
            .collect();
        return output::print_json(&rows);
    }
    output::header(&format!("Backups of {}", addon.name));
    if backups.is_empty() {
        println!("No backups. Capture one with `paas pg:backups:capture`.");
    } else {
        let mut rows = vec![vec![
            "ID".to_string(),
            "Created at".to_string(),
            "Size".to_string(),
            "Type".to_string(),
        ]];
        for b in backups.iter().rev() {
            rows.push(vec![
                b.id.clone(),
                super::heroku_time_from_rfc3339(&b.created_at),
                crate::slug::human_size(b.size),
                if b.scheduled { "scheduled" } else { "manual" }.to_string(),
            ]);
        }
        output::table(&rows);
    }
    if let Some(schedule) = &addon.schedule {
        println!(
            "\nDaily at {} UTC, kept {} days.",
            schedule.at, schedule.retain_days
        );
    }
    Ok(())
}

pub fn capture(ctx: &Ctx, db: &Database) -> Result<()> {
    let (_, addon, dir) = database(ctx, db)?;
    let _lock = dir.lock()?;
    say_partial!("Backing up {}... ", addon.name);
    let backup = backups::capture(&ctx.settings, &addon, &dir, false)?;
    say!("done");
    println!(
        "{}: {} ({})",
        backup.id,
        crate::slug::human_size(backup.size),
        backup.sha256
    );
    Ok(())
}

fn latest(dir: &AddonDir) -> Result<Backup> {
    backups::list(dir)?.pop().ok_or_else(|| {
        Error::new(format!("`{}` has no backups", dir.name))
            .hint("capture one with `paas pg:backups:capture`")
    })
}

fn backup_or_latest(dir: &AddonDir, id: Option<&str>) -> Result<Backup> {
    match id {
        Some(id) => backups::find(dir, id),
        None => latest(dir),
    }
}

pub fn restore(
    ctx: &Ctx,
    source: Option<&str>,
    db: &Database,
    confirm: Option<&str>,
) -> Result<()> {
    let (app, addon, dir) = database(ctx, db)?;
    require_confirm(
        &app,
        confirm,
        "restoring over the database",
        "pg:backups:restore",
    )?;
    let downloaded;
    let (label, path) = match source {
        Some(url) if url.contains("://") => {
            say_partial!("Downloading {url}... ");
            downloaded = backups::download(url, ctx.settings.url_reach(), &dir)?;
            say!("done");
            (url.to_string(), downloaded.path().to_path_buf())
        }
        id => {
            let backup = backup_or_latest(&dir, id)?;
            let path = backups::dump_file(&dir, &backup.id);
            if backups::sha256_of(&path)? != backup.sha256 {
                return Err(Error::new(format!(
                    "{} does not match its checksum: the file is damaged",
                    backup.id
                ))
                .hint("restore another backup; the database is untouched"));
            }
            (backup.id.clone(), path)
        }
    };
    say_partial!("Restoring {label} to {}... ", addon.name);
    backups::restore(&ctx.settings, &addon, &dir, &path)?;
    say!("done");
    Ok(())
}

pub fn download(ctx: &Ctx, id: Option<&str>, db: &Database) -> Result<()> {
    let (_, _, dir) = database(ctx, db)?;
    let backup = backup_or_latest(&dir, id)?;
    let mut stdout = std::io::stdout().lock();
    if stdout.is_terminal() {
        return Err(
            Error::new("a dump is binary: it would garble the terminal").hint(format!(
                "redirect it to a file: `paas pg:backups:download {} > {}.dump`",
                backup.id, backup.id
            )),
        );
    }
    let path = backups::dump_file(&dir, &backup.id);
    let mut file =
        std::fs::File::open(&path).context(|| format!("opening `{}`", path.display()))?;
    std::io::copy(&mut file, &mut stdout).context(|| "writing the dump".into())?;
    say!(
        "{}: {} bytes, sha256 {}",
        backup.id,
        backup.size,
        backup.sha256
    );
    Ok(())
}

pub fn backup_info(ctx: &Ctx, id: Option<&str>, db: &Database) -> Result<()> {
    let (_, addon, dir) = database(ctx, db)?;
    let backup = backup_or_latest(&dir, id)?;
    output::header(&format!("Backup {}", backup.id));
    println!("Database:    {}", addon.name);
    println!(
        "Created at:  {}",
        super::heroku_time_from_rfc3339(&backup.created_at)
    );
    println!(
        "Size:        {} ({} bytes)",
        crate::slug::human_size(backup.size),
        backup.size
    );
    println!("SHA-256:     {}", backup.sha256);
    println!(
        "Type:        {}",
        if backup.scheduled {
            "scheduled"
        } else {
            "manual"
        }
    );
    Ok(())
}

pub fn delete(ctx: &Ctx, id: &str, db: &Database, confirm: Option<&str>) -> Result<()> {
    let (app, _, dir) = database(ctx, db)?;
    require_confirm(&app, confirm, "deleting a backup", "pg:backups:delete")?;
    let backup = backups::find(&dir, id)?;
    say_partial!("Deleting {}... ", backup.id);
    backups::delete(&dir, &backup.id)?;
    say!("done");
    Ok(())
}

pub fn schedule(ctx: &Ctx, at: &str, retain_days: u32, db: &Database) -> Result<()> {
    let (_, _, dir) = database(ctx, db)?;
    backups::parse_at(at)?;
    if retain_days == 0 {
        return Err(Error::new("`--retain-days` must be at least 1"));
    }
    let _lock = dir.lock()?;
    let mut addon = dir.read()?;
    addon.schedule = Some(Schedule {
        at: at.to_string(),
        retain_days,
    });
    dir.write(&addon)?;
    say!(
        "Scheduled a daily backup of {} at {at} UTC, kept {retain_days} days",
        addon.name
    );
    Ok(())
}

pub fn unschedule(ctx: &Ctx, db: &Database) -> Result<()> {
    let (_, _, dir) = database(ctx, db)?;
    let _lock = dir.lock()?;
    let mut addon = dir.read()?;
    if addon.schedule.take().is_none() {
        say!("{} has no backup schedule", addon.name);
        return Ok(());
    }
    dir.write(&addon)?;
    say!(
        "Stopped the daily backups of {} (the backups stay)",
        addon.name
    );
    Ok(())
}

/// `pg:pull` and `pg:push` work with the PostgreSQL where they are typed;
/// over SSH that would be the server's own, which is not the caller's.
fn refuse_over_ssh(ctx: &Ctx, command: &str) -> Result<()> {
    if !ctx.over_ssh {
        return Ok(());
    }
    Err(Error::new(format!(
        "`{command}` works with the PostgreSQL of the machine it is typed on"
    ))
    .hint("type it on your machine, where paas reaches the server over SSH itself"))
}

/// `pg:pull` typed on the server: into a database of the server's own PostgreSQL.
pub fn pull(ctx: &Ctx, source: &str, target: &str) -> Result<()> {
    refuse_over_ssh(ctx, "pg:pull")?;
    let (_, addon, dir) = database(ctx, &named(source))?;
    pg_transfer::pull(&addon.name, target, || {
        transfer::dump(&ctx.settings, &addon, &dir, Stdio::piped())
            .map(|stream| Remote::Here(Box::new(stream)))
    })
}

/// `pg:push` typed on the server: from a database of the server's own PostgreSQL.
pub fn push(ctx: &Ctx, source: &str, target: &str) -> Result<()> {
    refuse_over_ssh(ctx, "pg:push")?;
    let (_, addon, dir) = database(ctx, &named(target))?;
    let _lock = dir.lock()?;
    pg_transfer::push(source, &addon.name, || {
        transfer::load(&ctx.settings, &addon, &dir, Stdio::piped())
            .map(|stream| Remote::Here(Box::new(stream)))
    })
}

fn named(database: &str) -> Database {
    Database {
        database: Some(database.to_string()),
    }
}

/// `pg:dump` (hidden): the dump on stdout, the SSH channel `pg:pull` reads.
pub fn dump(ctx: &Ctx, db: &Database) -> Result<()> {
    let (_, addon, dir) = database(ctx, db)?;
    if std::io::stdout().is_terminal() {
        return Err(Error::new("a dump is binary: it would garble the terminal")
            .hint("`paas pg:pull DATABASE LOCALDB` loads it into a database on your machine"));
    }
    transfer::dump(&ctx.settings, &addon, &dir, Stdio::inherit())?.finish()
}

/// `pg:load` (hidden): a dump from stdin, the SSH channel `pg:push` writes.
pub fn load(ctx: &Ctx, db: &Database) -> Result<()> {
    let (_, addon, dir) = database(ctx, db)?;
    if std::io::stdin().is_terminal() {
        return Err(Error::new("pg:load reads a dump on stdin")
            .hint("`paas pg:push LOCALDB DATABASE` sends one from a database on your machine"));
    }
    let _lock = dir.lock()?;
    transfer::load(&ctx.settings, &addon, &dir, Stdio::inherit())?.finish()
}
