//! A PostgreSQL add-on's database as a stream, for `pg:pull` and `pg:push`
//! (Heroku's): a `pg_dump -Fc` written out, or a dump read in by
//! `pg_restore`. Each runs in the add-on's container, so the database
//! needs no port open to anyone; where the stream goes (an SSH channel, a
//! local `pg_restore`) is the caller's.
//!
//! A load goes only into an empty database, and in one transaction: one
//! that fails part way leaves the database as empty as it was.

use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::thread::JoinHandle;

use super::{service, Addon, AddonDir};
use crate::error::{Context, Error, Result};
use crate::state::Settings;

/// `pg_dump` or `pg_restore` running in the add-on's container.
pub struct Stream {
    child: Child,
    stderr: JoinHandle<String>,
    addon: Addon,
    loading: bool,
}

impl Stream {
    /// The dump, when `dump` was given `Stdio::piped()`.
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.child.stdout.take()
    }

    /// Where the dump goes in, when `load` was given `Stdio::piped()`.
    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.child.stdin.take()
    }

    /// Waits for the end; the program's own words are the cause of a failure.
    pub fn finish(mut self) -> Result<()> {
        drop(self.child.stdin.take());
        let status = self
            .child
            .wait()
            .context(|| "waiting for the add-on's PostgreSQL tools".into())?;
        let stderr = self.stderr.join().unwrap_or_default();
        let stderr = stderr.trim();
        if status.success() {
            return Ok(());
        }
        let name = &self.addon.name;
        if !self.loading {
            return Err(Error::new(format!("pg_dump of `{name}` failed")).cause(stderr));
        }
        let error = Error::new(format!(
            "loading the dump into `{name}` failed; it is as empty as it was"
        ))
        .cause(stderr);
        Err(if stderr.contains("unsupported version") {
            let major = self.addon.version.split('.').next().unwrap_or_default();
            error.hint(format!(
                "the dump was made by a newer pg_dump than the add-on's PostgreSQL {}: dump with pg_dump {major}",
                self.addon.version
            ))
        } else {
            error
        })
    }
}

/// `pg_dump -Fc` of the add-on's database to `stdout`.
pub fn dump(settings: &Settings, addon: &Addon, dir: &AddonDir, stdout: Stdio) -> Result<Stream> {
    service::require_running(settings, addon)?;
    let credentials = dir.credentials()?;
    spawn(
        settings,
        addon,
        &["pg_dump", "-Fc", "-d", &credentials.database],
        Stdio::null(),
        stdout,
        false,
    )
}

/// `pg_restore` of a dump read from `stdin` into the add-on's database,
/// as the app's user (what it makes, the app owns). Refused before
/// anything is read unless the database has no tables, as Heroku's
/// `pg:push` is: nothing already there is ever replaced. The caller holds
/// the add-on's lock, so two loads cannot both find it empty.
pub fn load(settings: &Settings, addon: &Addon, dir: &AddonDir, stdin: Stdio) -> Result<Stream> {
    service::require_running(settings, addon)?;
    let credentials = dir.credentials()?;
    let tables = service::psql_as_superuser(
        settings,
        addon,
        &credentials.database,
        "SELECT count(*) FROM pg_stat_user_tables;",
    )?;
    let tables = tables.trim();
    if tables != "0" {
        let plural = if tables == "1" { "" } else { "s" };
        return Err(Error::new(format!(
            "`{}` is not empty: it has {tables} table{plural}",
            addon.name
        ))
        .hint(
            "pg:push only loads into an empty database: empty it with `paas pg:reset` (after a \
             `paas pg:backups:capture`, if its data matters), or push into a new add-on",
        ));
    }
    spawn(
        settings,
        addon,
        &super::backups::pg_restore_argv(&credentials, false),
        stdin,
        Stdio::null(),
        true,
    )
}

fn spawn(
    settings: &Settings,
    addon: &Addon,
    argv: &[&str],
    stdin: Stdio,
    stdout: Stdio,
    loading: bool,
) -> Result<Stream> {
    let mut child = service::exec(settings, addon, false, argv)
        .stdin(stdin)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .context(|| format!("running `{}` in the add-on", argv[0]))?;
    let stderr = crate::process::collect_stderr(&mut child);
    Ok(Stream {
        child,
        stderr,
        addon: addon.clone(),
        loading,
    })
}
