//! PostgreSQL backups: `pg_dump -Fc` into `addons/<name>/backups/bNNN.dump`
//! with a `bNNN.toml` beside it (time, size, SHA-256), written only once the
//! dump is whole. Restores check the dump before they touch the database and
//! run in one transaction, so a bad dump changes nothing.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{service, Addon, AddonDir, Kind};
use crate::clock::rfc3339_to_unix;
use crate::error::{Context, Error, Result};
use crate::net::Reach;
use crate::state::{self, Root, Settings};

/// A daily backup at a UTC time, kept for some days.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Schedule {
    /// `02:00`, UTC.
    pub at: String,
    pub retain_days: u32,
}

/// One backup, as listed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Backup {
    /// `b001`
    pub id: String,
    pub created_at: String,
    pub size: u64,
    pub sha256: String,
    /// Taken by the schedule (and pruned by it), not by a person.
    #[serde(default)]
    pub scheduled: bool,
}

/// `b7`, `B007` or `7` → `b007`.
pub fn parse_id(text: &str) -> Result<String> {
    let digits = text
        .strip_prefix(['b', 'B'])
        .unwrap_or(text)
        .trim_start_matches('0');
    match digits.parse::<u32>() {
        Ok(n) if n > 0 && digits.chars().all(|c| c.is_ascii_digit()) => Ok(format!("b{n:03}")),
        _ => Err(Error::new(format!(
            "`{}` is not a backup id",
            text.chars().take(40).collect::<String>()
        ))
        .hint("backup ids look like `b001`; `paas pg:backups` lists them")),
    }
}

/// `02:00` → minutes after midnight.
pub fn parse_at(text: &str) -> Result<u32> {
    let parsed = text.split_once(':').and_then(|(h, m)| {
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60 && text.len() <= 5).then_some(h * 60 + m)
    });
    parsed.ok_or_else(|| {
        Error::new(format!(
            "`{}` is not a time of day",
            text.chars().take(40).collect::<String>()
        ))
        .hint("give it as HH:MM in UTC, like `--at 02:00`")
    })
}

pub fn dump_file(dir: &AddonDir, id: &str) -> PathBuf {
    dir.backups_dir().join(format!("{id}.dump"))
}

fn record_file(dir: &AddonDir, id: &str) -> PathBuf {
    dir.backups_dir().join(format!("{id}.toml"))
}

/// Every backup, oldest first.
pub fn list(dir: &AddonDir) -> Result<Vec<Backup>> {
    let mut backups: Vec<Backup> = state::read_toml_records(&dir.backups_dir());
    backups.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(backups)
}

pub fn find(dir: &AddonDir, id: &str) -> Result<Backup> {
    let id = parse_id(id)?;
    if !record_file(dir, &id).exists() {
        return Err(Error::new(format!("`{}` has no backup {id}", dir.name))
            .hint("`paas pg:backups` lists them"));
    }
    state::read_toml(&record_file(dir, &id))
}

/// Dumps the database into the next `bNNN`.
pub fn capture(
    settings: &Settings,
    addon: &Addon,
    dir: &AddonDir,
    scheduled: bool,
) -> Result<Backup> {
    if addon.kind != Kind::Postgres {
        return Err(Error::new(format!(
            "`{}` is not a PostgreSQL add-on",
            addon.name
        )));
    }
    let credentials = dir.credentials()?;
    state::create_dir(&dir.backups_dir(), 0o700)?;
    let next = list(dir)?
        .iter()
        .filter_map(|b| b.id[1..].parse::<u32>().ok())
        .max()
        .unwrap_or(0)
        + 1;
    let id = format!("b{next:03}");
    let partial = dir.backups_dir().join(format!(".{id}.partial"));
    let mut child = service::exec(
        settings,
        addon,
        false,
        &["pg_dump", "-Fc", "-d", &credentials.database],
    )
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .context(|| "running `pg_dump` in the add-on".into())?;
    let written = copy_hashing(child.stdout.take().expect("piped"), &partial);
    let output = child
        .wait_with_output()
        .context(|| "waiting for `pg_dump`".into())?;
    let (size, sha256) = match written {
        Ok(done) if output.status.success() => done,
        Ok(_) => {
            let _ = fs::remove_file(&partial);
            return Err(Error::new(format!("pg_dump of `{}` failed", addon.name))
                .cause(String::from_utf8_lossy(&output.stderr).trim()));
        }
        Err(err) => {
            let _ = fs::remove_file(&partial);
            return Err(err);
        }
    };
    fs::rename(&partial, dump_file(dir, &id)).context(|| "keeping the backup".into())?;
    let backup = Backup {
        id: id.clone(),
        created_at: crate::release::now_rfc3339(),
        size,
        sha256,
        scheduled,
    };
    // Written last: a backup is listed only once its dump is whole.
    state::write_toml(&record_file(dir, &id), &backup, 0o600)?;
    Ok(backup)
}

/// Copies a stream to a new file (0600, synced), returning its size and SHA-256.
fn copy_hashing(mut from: impl Read, to: &Path) -> Result<(u64, String)> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(to)
        .context(|| format!("creating `{}`", to.display()))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = from
            .read(&mut buffer)
            .context(|| "reading the dump".into())?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        file.write_all(&buffer[..n])
            .context(|| format!("writing `{}` (is the disk full?)", to.display()))?;
        size += n as u64;
    }
    file.sync_all()
        .context(|| format!("writing `{}` (is the disk full?)", to.display()))?;
    Ok((size, hex(&hasher.finalize())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of a file, to check a download against.
pub fn sha256_of(path: &Path) -> Result<String> {
    let mut file = fs::File::open(path).context(|| format!("opening `{}`", path.display()))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).context(|| format!("reading `{}`", path.display()))?;
    Ok(hex(&hasher.finalize()))
}

/// `pg_restore` of a dump from stdin into the app's database, as its user,
/// in one transaction that the first error ends (so nothing is half
/// loaded); `clean`: what the dump makes is dropped first.
pub fn pg_restore_argv(credentials: &super::Credentials, clean: bool) -> Vec<&str> {
    let mut argv = vec!["pg_restore"];
    if clean {
        argv.extend(["--clean", "--if-exists"]);
    }
    argv.extend([
        "--no-owner",
        "--no-acl",
        "--single-transaction",
        "--exit-on-error",
        "-U",
        &credentials.user,
        "-d",
        &credentials.database,
    ]);
    argv
}

/// Restores a dump into the add-on's database: checked first with
/// `pg_restore --list`, then applied in a single transaction as the app's
/// user, so a bad dump leaves the database as it was.
pub fn restore(settings: &Settings, addon: &Addon, dir: &AddonDir, dump: &Path) -> Result<()> {
    let credentials = dir.credentials()?;
    let run = |argv: &[&str]| -> Result<std::process::Output> {
        let file = fs::File::open(dump).context(|| format!("opening `{}`", dump.display()))?;
        service::exec(settings, addon, false, argv)
            .stdin(file)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .context(|| "running `pg_restore` in the add-on".into())
    };
    let check = run(&["pg_restore", "--list"])?;
    if !check.status.success() {
        return Err(Error::new("this is not a dump pg_restore can read")
            .cause(String::from_utf8_lossy(&check.stderr).trim())
            .hint("restore a dump made by `pg_dump -Fc` (what `pg:backups:capture` makes); the database is untouched"));
    }
    let applied = run(&pg_restore_argv(&credentials, true))?;
    if !applied.status.success() {
        return Err(Error::new("the restore failed; the database is as it was")
            .cause(String::from_utf8_lossy(&applied.stderr).trim()));
    }
    Ok(())
}

/// Fetches a dump from a URL on the server (as Heroku's restore from a URL
/// does), into a private file that is removed when the result is dropped.
/// The URL, and every URL it redirects to, only where `reach` lets it go
/// (`Settings::url_reach`): an app's people name it.
pub fn download(url: &str, reach: Reach, dir: &AddonDir) -> Result<tempfile::NamedTempFile> {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(Error::new(format!(
            "`{}` is neither a backup id nor an http(s) URL",
            url.chars().take(60).collect::<String>()
        ))
        .hint("give a backup id like `b001`, or a URL the server can download"));
    }
    state::create_dir(&dir.backups_dir(), 0o700)?;
    let file = tempfile::Builder::new()
        .prefix(".download-")
        .tempfile_in(dir.backups_dir())
        .context(|| "creating a file for the download".into())?;
    // As long as `curl --max-time 1800` was given, and its time to connect.
    let (connect_limit, limit) = (Duration::from_secs(300), Duration::from_secs(1800));
    crate::net::download(url, reach, &mut file.as_file(), connect_limit, limit).map_err(|err| {
        Error::new("could not download the dump")
            .cause(err)
            .hint("the URL must be reachable from the server; the database is untouched")
    })?;
    Ok(file)
}

pub fn delete(dir: &AddonDir, id: &str) -> Result<()> {
    let backup = find(dir, id)?;
    // The record first: a dump without one is never listed.
    fs::remove_file(record_file(dir, &backup.id)).context(|| "removing the backup".into())?;
    let _ = fs::remove_file(dump_file(dir, &backup.id));
    Ok(())
}

/// Whether a scheduled backup is due: none since the most recent time the
/// schedule named (a missed one, when the server was down, is taken late).
pub fn due(schedule: &Schedule, backups: &[Backup], now: i64) -> bool {
    let Ok(at) = parse_at(&schedule.at) else {
        return false;
    };
    let midnight = now - now.rem_euclid(86_400);
    let mut last = midnight + i64::from(at) * 60;
    if last > now {
        last -= 86_400;
    }
    // A backup whose time does not parse counts as taken at the epoch, as
    // it always has: never the one that makes a schedule done.
    !backups
        .iter()
        .any(|b| b.scheduled && rfc3339_to_unix(&b.created_at).unwrap_or(0) >= last)
}

/// Scheduled backups older than the schedule keeps.
pub fn expired(schedule: &Schedule, backups: &[Backup], now: i64) -> Vec<String> {
    let keep_from = now - i64::from(schedule.retain_days) * 86_400;
    // A backup whose time does not parse counts as taken at the epoch, as
    // it always has: expired.
    backups
        .iter()
        .filter(|b| b.scheduled && rfc3339_to_unix(&b.created_at).unwrap_or(0) < keep_from)
        .map(|b| b.id.clone())
        .collect()
}

/// The daemon's part: takes the backups that are due, then prunes the
/// expired ones (only after a capture worked, so a failing schedule never
/// deletes the last good backups).
pub fn run_due_schedules(root: &Root, settings: &Settings) {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    for addon in root.addons().unwrap_or_default() {
        let Some(schedule) = &addon.schedule else {
            continue;
        };
        let dir = root.addon(&addon.name);
        let backups = list(&dir).unwrap_or_default();
        if !due(schedule, &backups, now) {
            continue;
        }
        // A command is busy with it (a capture, a restore): next time.
        let Ok(Some(_lock)) = state::Lock::try_acquire(&dir.path.join("lock")) else {
            continue;
        };
        match capture(settings, &addon, &dir, true) {
            Ok(backup) => {
                eprintln!(
                    "paas daemon: {}: scheduled backup {}",
                    addon.name, backup.id
                );
                for id in expired(schedule, &list(&dir).unwrap_or_default(), now) {
                    let _ = delete(&dir, &id);
                }
            }
            Err(err) => eprintln!(
                "paas daemon: {}: scheduled backup failed: {}",
                addon.name,
                err.report().trim_end()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backup(id: &str, created_at: &str, scheduled: bool) -> Backup {
        Backup {
            id: id.into(),
            created_at: created_at.into(),
            size: 1,
            sha256: String::new(),
            scheduled,
        }
    }

    #[test]
    fn a_dump_in_the_servers_network_is_not_downloaded_unless_the_install_allows_it() {
        use std::io::{BufReader, Write};
        let port = crate::net::test_server::serve(|stream| {
            let mut reader = BufReader::new(stream);
            crate::net::test_server::read_request(&mut reader);
            let _ = reader
                .get_mut()
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nPGDMP");
        });
        let root = tempfile::tempdir().unwrap();
        let dir = AddonDir {
            name: "postgres-1".into(),
            path: root.path().join("postgres-1"),
        };
        let url = format!("http://127.0.0.1:{port}/latest.dump");
        let report = download(&url, Reach::Internet, &dir).unwrap_err().report();
        assert!(report.contains("could not download the dump"), "{report}");
        assert!(
            report.contains("127.0.0.1 is a loopback address: paas connects only to the internet"),
            "{report}"
        );
        let file = download(&url, Reach::Anywhere, &dir).unwrap();
        assert_eq!(fs::read(file.path()).unwrap(), b"PGDMP");
    }

    #[test]
    fn ids_and_times_parse() {
        assert_eq!(parse_id("b7").unwrap(), "b007");
        assert_eq!(parse_id("B012").unwrap(), "b012");
        assert_eq!(parse_id("3").unwrap(), "b003");
        for bad in ["b0", "bx", "", "b-1", "b1/../x"] {
            assert!(parse_id(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_at("02:30").unwrap(), 150);
        for bad in ["24:00", "2", "02:60", "aa:bb", "02:00:00"] {
            assert!(parse_at(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_schedule_is_due_once_per_day_after_its_time() {
        let schedule = Schedule {
            at: "02:00".into(),
            retain_days: 7,
        };
        // 2026-11-21T10:00:00Z
        let now = 1_795_255_200;
        assert!(due(&schedule, &[], now), "today's 02:00 was missed");
        let taken = [backup("b001", "2026-11-21T02:00:05Z", true)];
        assert!(!due(&schedule, &taken, now));
        let manual = [backup("b001", "2026-11-21T03:00:00Z", false)];
        assert!(
            due(&schedule, &manual, now),
            "a manual backup does not count"
        );
        // 01:00 the next day: yesterday's 02:00 backup still covers it.
        assert!(!due(&schedule, &taken, now + 15 * 3600));
        assert!(due(&schedule, &taken, now + 17 * 3600));
    }

    #[test]
    fn only_old_scheduled_backups_expire() {
        let schedule = Schedule {
            at: "02:00".into(),
            retain_days: 2,
        };
        let now = 1_795_255_200; // 2026-11-21T10:00:00Z
        let backups = [
            backup("b001", "2026-11-18T02:00:00Z", true),
            backup("b002", "2026-11-18T05:00:00Z", false),
            backup("b003", "2026-11-20T02:00:00Z", true),
        ];
        assert_eq!(expired(&schedule, &backups, now), vec!["b001".to_string()]);
    }
}
