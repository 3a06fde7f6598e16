//! `pg:pull` and `pg:push`, this side: the PostgreSQL where paas is typed
//! (a laptop's, or the server's own when typed there), reached with its
//! client programs (`createdb`, `pg_restore`, `pg_dump`, `dropdb`) as
//! Heroku's CLI does. The add-on's side is a stream: a hidden command over
//! SSH from a laptop (`pg:dump`, `pg:load`), or the add-on's container
//! itself on the server, so no database port is ever opened.
//!
//! A pull makes a new database and drops it again if anything fails, so a
//! half-restored one is never left behind; a push loads in one transaction
//! into an empty database, so a failed one leaves it empty.

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use crate::addons::transfer;
use crate::error::{Error, Result};

/// The add-on's side of a transfer.
pub enum Remote {
    /// `ssh … paas pg:dump|pg:load`: the server says itself what failed.
    Ssh(Child),
    /// The add-on's container, on the server itself.
    Here(Box<transfer::Stream>),
}

impl Remote {
    fn take_stdout(&mut self) -> Option<ChildStdout> {
        match self {
            Remote::Ssh(child) => child.stdout.take(),
            Remote::Here(stream) => stream.take_stdout(),
        }
    }

    fn take_stdin(&mut self) -> Option<ChildStdin> {
        match self {
            Remote::Ssh(child) => child.stdin.take(),
            Remote::Here(stream) => stream.take_stdin(),
        }
    }

    /// Waits for the end. Over SSH a failure has no message of its own:
    /// the server printed its error already.
    fn finish(self) -> Result<()> {
        match self {
            Remote::Ssh(mut child) => {
                drop(child.stdin.take());
                let status = child
                    .wait()
                    .map_err(|err| Error::unexpected("waiting for `ssh`").cause(err))?;
                match status.code() {
                    Some(0) => Ok(()),
                    code => Err(Error::exit(code.unwrap_or(1).clamp(1, 255) as u8)),
                }
            }
            Remote::Here(stream) => stream.finish(),
        }
    }
}

/// A database here: a name on the PostgreSQL that `PGHOST`, `PGPORT` and
/// `PGUSER` point at (as for `createdb`), or a `postgres://` URL.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalDb {
    /// As typed, for messages.
    shown: String,
    /// The database's name.
    name: String,
    /// The URL of the server's `postgres` database, to create and drop by.
    maintenance: Option<String>,
    /// What `pg_dump` and `pg_restore` take as `-d`.
    target: String,
}

impl LocalDb {
    pub fn parse(text: &str) -> Result<LocalDb> {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            let bad = |why: &str| {
                Error::new(format!("`{text}` is not a database URL: {why}")).hint(
                    "give it as `postgres://USER:PASSWORD@HOST:PORT/DATABASE`, or a database name",
                )
            };
            let mut url = url::Url::parse(text).map_err(|err| bad(&err.to_string()))?;
            let name = percent_encoding::percent_decode_str(url.path().trim_start_matches('/'))
                .decode_utf8()
                .map_err(|_| bad("its database name is not UTF-8"))?
                .into_owned();
            if name.is_empty() || name.contains('/') {
                return Err(bad("it names no database"));
            }
            url.set_path("/postgres");
            // Said in progress lines and errors: never with its password.
            let mut shown = url::Url::parse(text).map_err(|err| bad(&err.to_string()))?;
            if shown.password().is_some() {
                let _ = shown.set_password(Some("REDACTED"));
            }
            return Ok(LocalDb {
                shown: shown.to_string(),
                name,
                maintenance: Some(url.to_string()),
                target: text.to_string(),
            });
        }
        // `-d` takes a word with `=` as a connection string, and one with
        // a leading `-` as an option.
        if text.is_empty() || text.starts_with('-') || text.contains('=') || text.contains('\0') {
            return Err(Error::new(format!("`{text}` is not a database name")).hint(
                "give a plain name like `mylocaldb`, or a URL `postgres://USER@HOST/DATABASE`",
            ));
        }
        Ok(LocalDb {
            shown: text.to_string(),
            name: text.to_string(),
            maintenance: None,
            target: text.to_string(),
        })
    }

    /// `createdb`/`dropdb` with where to connect, then the name.
    fn admin(&self, program: &str) -> Command {
        let mut command = client_program(program);
        if let Some(url) = &self.maintenance {
            command.arg(format!("--maintenance-db={url}"));
        }
        command.arg(&self.name);
        command
    }

    fn create(&self) -> Result<()> {
        let output = self
            .admin("createdb")
            .stdin(Stdio::null())
            .output()
            .map_err(|err| missing("createdb", err))?;
        if output.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
        let hint = if stderr.contains("already exists") {
            format!(
                "pg:pull makes a new database: name another, or drop this one first with `dropdb {}`",
                self.name
            )
        } else {
            "is PostgreSQL running here? `PGHOST`, `PGPORT` and `PGUSER` (or a `postgres://` URL) \
             say which server and user to use"
                .to_string()
        };
        Err(
            Error::new(format!("cannot create the database `{}` here", self.shown))
                .cause(stderr)
                .hint(hint),
        )
    }

    /// Drops the database this pull made; says so when that fails too.
    fn drop_again(&self) -> String {
        let dropped = self
            .admin("dropdb")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if dropped {
            format!("`{}` was dropped again", self.shown)
        } else {
            format!("`{0}` is incomplete: drop it with `dropdb {0}`", self.name)
        }
    }
}

/// One of PostgreSQL's client programs on this machine: not the server's
/// (its installer does not install them); `missing` says what to install.
fn client_program(program: &str) -> Command {
    Command::new(program)
}

fn missing(program: &str, err: std::io::Error) -> Error {
    if err.kind() == std::io::ErrorKind::NotFound {
        return Error::new(format!("`{program}` is not installed here")).hint(
            "pg:pull and pg:push use PostgreSQL's client programs on this machine: install them \
             (`apt install postgresql-client`, `brew install libpq`)",
        );
    }
    Error::new(format!("could not run `{program}`")).cause(err)
}

/// Each of `programs` is on the PATH, or an error saying what to install.
fn require_programs(programs: &[&str]) -> Result<()> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for program in programs {
        if !std::env::split_paths(&path).any(|dir| dir.join(program).is_file()) {
            return Err(missing(
                program,
                std::io::Error::from(std::io::ErrorKind::NotFound),
            ));
        }
    }
    Ok(())
}

/// Ctrl-C and a closed pipe end the programs, not this process, while a
/// transfer runs: what they left is then cleaned up and said.
struct Signals;

impl Signals {
    /// After the programs are started: they keep the default actions.
    fn hold() -> Signals {
        unsafe {
            libc::signal(libc::SIGINT, libc::SIG_IGN);
            libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        }
        Signals
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        unsafe {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
}

/// What a reader says when its input ended early or was not a dump: the
/// writer's failure is then the one to report.
fn starved(stderr: &str) -> bool {
    [
        "too short",
        "does not appear to be a valid archive",
        "unexpected end of file",
        "could not read input file",
    ]
    .iter()
    .any(|words| stderr.contains(words))
}

/// `pg:pull SOURCE TARGET`: a new database `target` here, restored from
/// the dump `open` streams.
pub fn pull(source: &str, target: &str, open: impl FnOnce() -> Result<Remote>) -> Result<()> {
    let local = LocalDb::parse(target)?;
    require_programs(&["createdb", "pg_restore", "dropdb"])?;
    say!("Pulling {source} to {}...", local.shown);
    local.create()?;
    let failed = |error: Error| {
        let note = local.drop_again();
        match error.message() {
            "" => {
                Error::new(format!("nothing was pulled: {note}")).with_exit_code(error.exit_code())
            }
            message => {
                let message = format!("{message}; {note}");
                error.with_message(message)
            }
        }
    };
    let mut remote = match open() {
        Ok(remote) => remote,
        Err(err) => return Err(failed(err)),
    };
    let Some(dump) = remote.take_stdout() else {
        return Err(failed(Error::unexpected("the dump stream has no output")));
    };
    let restore = client_program("pg_restore")
        .args([
            "--no-owner",
            "--no-acl",
            "--single-transaction",
            "--exit-on-error",
            "-d",
            &local.target,
        ])
        .stdin(dump)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let mut restore = match restore {
        Ok(child) => child,
        Err(err) => {
            let _ = remote.finish();
            return Err(failed(missing("pg_restore", err)));
        }
    };
    let signals = Signals::hold();
    let stderr = crate::process::collect_stderr(&mut restore);
    let restored = restore.wait().is_ok_and(|s| s.success());
    let stderr = stderr.join().unwrap_or_default();
    let sent = remote.finish();
    drop(signals);
    let result = match (sent, restored) {
        (Ok(()), true) => Ok(()),
        (Err(err), _) if restored || starved(&stderr) => Err(err),
        (_, _) => {
            let said = match stderr.trim() {
                "" => "it was stopped (Ctrl-C?)",
                said => said,
            };
            let error = Error::new(format!(
                "pg_restore could not load the dump into `{}`",
                local.shown
            ))
            .cause(said);
            Err(if stderr.contains("unsupported version") {
                error.hint(
                    "this machine's pg_restore is older than the add-on's PostgreSQL (`paas pg:info` \
                     shows its version): install a newer PostgreSQL client",
                )
            } else {
                error
            })
        }
    };
    match result {
        Ok(()) => {
            say!("Pulling complete.");
            Ok(())
        }
        Err(err) => Err(failed(err)),
    }
}

/// `pg:push SOURCE TARGET`: a dump of `source` here, streamed into what
/// `open` gives (an empty database, or a refusal before anything is sent).
pub fn push(source: &str, target: &str, open: impl FnOnce() -> Result<Remote>) -> Result<()> {
    let local = LocalDb::parse(source)?;
    require_programs(&["pg_dump"])?;
    say!("Pushing {} to {target}...", local.shown);
    let mut dump = client_program("pg_dump")
        .args(["-Fc", "--no-owner", "--no-acl", "-d", &local.target])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| missing("pg_dump", err))?;
    let stderr = crate::process::collect_stderr(&mut dump);
    let mut output = dump.stdout.take().expect("piped");
    // The dump's first bytes come once pg_dump has read the database: a
    // database that is not there is said before the server is asked.
    let mut first = vec![0u8; 64 * 1024];
    let n = read_some(&mut output, &mut first);
    if n == 0 {
        let _ = dump.wait();
        let stderr = stderr.join().unwrap_or_default();
        return Err(
            Error::new(format!("pg_dump could not dump `{}`", local.shown))
                .cause(stderr.trim())
                .hint(
                    "is it a database here? `PGHOST`, `PGPORT` and `PGUSER` (or a `postgres://` URL) \
                     say which server and user to use",
                ),
        );
    }
    first.truncate(n);
    let mut remote = match open() {
        Ok(remote) => remote,
        Err(err) => {
            let _ = dump.kill();
            let _ = dump.wait();
            return Err(err);
        }
    };
    let signals = Signals::hold();
    let copied = match remote.take_stdin() {
        Some(mut stdin) => {
            let copied = stdin
                .write_all(&first)
                .and_then(|()| std::io::copy(&mut output, &mut stdin).map(drop));
            drop(stdin);
            copied
        }
        None => Err(std::io::Error::other("the load stream has no input")),
    };
    if copied.is_err() {
        // The server stopped reading (it refused, or failed): pg_dump's
        // failure to write would say nothing new.
        let _ = dump.kill();
    }
    drop(output);
    let dumped = dump.wait().is_ok_and(|s| s.success());
    let stderr = stderr.join().unwrap_or_default();
    let loaded = remote.finish();
    drop(signals);
    match (loaded, dumped) {
        (Ok(()), true) => {
            say!("Pushing complete.");
            Ok(())
        }
        (Err(err), _) if copied.is_err() || dumped => Err(err),
        (_, _) => Err(
            Error::new(format!("pg_dump of `{}` failed part way", local.shown))
                .cause(stderr.trim())
                .hint(format!("nothing was loaded into {target}: try again")),
        ),
    }
}

/// Reads until `buffer` holds something or the stream ends.
fn read_some(from: &mut impl Read, buffer: &mut [u8]) -> usize {
    loop {
        match from.read(buffer) {
            Ok(n) => return n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_databases_are_names_or_urls() {
        let db = LocalDb::parse("mylocaldb").unwrap();
        assert_eq!((db.name.as_str(), db.maintenance), ("mylocaldb", None));
        let db = LocalDb::parse("postgres://me:pw@127.0.0.1:5433/my%20db?sslmode=disable").unwrap();
        assert_eq!(db.name, "my db");
        assert_eq!(
            db.maintenance.as_deref(),
            Some("postgres://me:pw@127.0.0.1:5433/postgres?sslmode=disable")
        );
        assert_eq!(
            db.target,
            "postgres://me:pw@127.0.0.1:5433/my%20db?sslmode=disable"
        );
        // What is said of it never holds its password.
        assert_eq!(
            db.shown,
            "postgres://me:REDACTED@127.0.0.1:5433/my%20db?sslmode=disable"
        );
    }

    #[test]
    fn what_is_not_a_database_is_refused() {
        for bad in ["", "-d", "host=evil dbname=x"] {
            let err = LocalDb::parse(bad).unwrap_err();
            assert!(err.message().contains("is not a database name"), "{bad}");
        }
        let err = LocalDb::parse("postgres://host/").unwrap_err();
        assert!(
            err.message().contains("names no database"),
            "{}",
            err.message()
        );
    }

    #[test]
    fn a_missing_program_says_what_to_install() {
        let err = missing("pg_restore", std::io::ErrorKind::NotFound.into());
        assert_eq!(err.message(), "`pg_restore` is not installed here");
        assert!(err.report().contains("apt install postgresql-client"));
    }

    #[test]
    fn a_starved_reader_blames_the_writer() {
        assert!(starved(
            "pg_restore: error: input file is too short (read 0, expected 5)"
        ));
        assert!(!starved(
            "pg_restore: error: could not execute query: ERROR:  relation \"t\" already exists"
        ));
    }
}
