//! The app's builds, as `heroku builds` lists them: one record per push
//! that built (`build-history/<n>.toml`) and what the push printed
//! (`build-history/<n>.log`, capped), kept for the last `KEEP` builds.
//! Each record written is an `api:build` event for the app's webhooks.

use std::fs;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Context, Error, Result};
use crate::state::{self, AppDir};
use crate::webhooks::{self, events};

/// How many builds are kept.
const KEEP: u32 = 50;
/// The most of one build's output that is kept.
const MAX_OUTPUT: u64 = 4 * 1024 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BuildRecord {
    pub id: u32,
    /// `pending`, `succeeded` or `failed`.
    pub status: String,
    pub commit: String,
    pub user: String,
    pub created_at: String,
    #[serde(default)]
    pub seconds: Option<f64>,
    /// The release it made.
    #[serde(default)]
    pub release: Option<u32>,
    /// Why a failed build failed, when its output does not say:
    /// `interrupted` (`INTERRUPTED`).
    #[serde(default)]
    pub failure: Option<String>,
}

/// The failure of a build whose push's process ended before the build did
/// (killed, or the machine went down): it never finished, so nobody else
/// recorded how it ended.
pub const INTERRUPTED: &str = "interrupted";

impl BuildRecord {
    /// What its webhook events say of it.
    fn facts(&self) -> webhooks::BuildFacts<'_> {
        webhooks::BuildFacts {
            id: self.id,
            status: &self.status,
            commit: &self.commit,
            user: &self.user,
            created_at: &self.created_at,
            release: self.release,
        }
    }

    /// Its status as `builds` shows it: `failed (interrupted)`.
    pub fn status_text(&self) -> String {
        match &self.failure {
            Some(why) => format!("{} ({why})", self.status),
            None => self.status.clone(),
        }
    }
}

fn dir(app: &AppDir) -> PathBuf {
    app.path.join("build-history")
}

fn record_file(app: &AppDir, id: u32) -> PathBuf {
    dir(app).join(format!("{id}.toml"))
}

pub fn output_file(app: &AppDir, id: u32) -> PathBuf {
    dir(app).join(format!("{id}.log"))
}

/// What a build printed, its release phase included, as `git push` showed it.
pub fn read_output(app: &AppDir, id: u32) -> Result<Vec<u8>> {
    let path = output_file(app, id);
    std::fs::read(&path).context(|| format!("reading `{}`", path.display()))
}

/// Every kept build, oldest first.
pub fn list(app: &AppDir) -> Result<Vec<BuildRecord>> {
    let mut builds: Vec<BuildRecord> = state::read_toml_records(&dir(app));
    builds.sort_by_key(|b| b.id);
    Ok(builds)
}

/// Records a build that starts now, and forgets the oldest past `KEEP`.
pub fn start(app: &AppDir, commit: &str, user: &str) -> Result<BuildRecord> {
    state::create_dir(&dir(app), 0o700)?;
    let builds = list(app)?;
    let record = BuildRecord {
        id: builds.last().map_or(1, |b| b.id + 1),
        status: "pending".into(),
        commit: commit.to_string(),
        user: user.to_string(),
        created_at: crate::release::now_rfc3339(),
        seconds: None,
        release: None,
        failure: None,
    };
    state::write_toml(&record_file(app, record.id), &record, 0o600)?;
    events::build(app, &record.facts(), None);
    for old in builds.iter().filter(|b| b.id + KEEP <= record.id) {
        let _ = fs::remove_file(record_file(app, old.id));
        let _ = fs::remove_file(output_file(app, old.id));
    }
    Ok(record)
}

pub fn finish(app: &AppDir, mut record: BuildRecord, release: Option<u32>, seconds: f64) {
    record.status = if release.is_some() {
        "succeeded"
    } else {
        "failed"
    }
    .into();
    record.release = release;
    record.seconds = Some((seconds * 10.0).round() / 10.0);
    let _ = state::write_toml(&record_file(app, record.id), &record, 0o600);
    events::build(app, &record.facts(), Some("pending"));
}

/// Records the builds still `pending` as failed, `interrupted`, with a
/// line saying so at the end of their output; returns them. Only for a
/// holder of the app's lock: a build is pending only while the push that
/// runs it holds that lock, so one found then was left by a push that died.
pub fn fail_pending(app: &AppDir) -> Result<Vec<BuildRecord>> {
    let mut failed = Vec::new();
    for mut record in list(app)?.into_iter().filter(|b| b.status == "pending") {
        record.status = "failed".into();
        record.failure = Some(INTERRUPTED.into());
        state::write_toml(&record_file(app, record.id), &record, 0o600)?;
        events::build(app, &record.facts(), Some("pending"));
        let _ = fs::OpenOptions::new()
            .append(true)
            .open(output_file(app, record.id))
            .and_then(|mut f| {
                f.write_all(
                    b"\n !     Interrupted: the push's process ended before the build did; \
                      nothing was released\n",
                )
            });
        failed.push(record);
    }
    Ok(failed)
}

/// A build by id, or the latest.
pub fn find(app: &AppDir, id: Option<&str>) -> Result<BuildRecord> {
    let builds = list(app)?;
    let found = match id {
        Some(text) => {
            let id: u32 = text.trim_start_matches('#').parse().map_err(|_| {
                Error::new(format!(
                    "`{}` is not a build id",
                    text.chars().take(40).collect::<String>()
                ))
                .hint(format!("`paas builds -a {}` lists them", app.name))
            })?;
            builds.into_iter().find(|b| b.id == id)
        }
        None => builds.into_iter().last(),
    };
    found.ok_or_else(|| {
        Error::new(format!("`{}` has no such build", app.name))
            .hint(format!("`paas builds -a {}` lists them", app.name))
    })
}

/// While alive, everything written to this process's stderr (by paas and by
/// the programs it runs, which inherit it) also goes to a file, up to
/// `MAX_OUTPUT`. Dropping it puts stderr back.
pub struct Transcript {
    saved_stderr: OwnedFd,
    relay_done: std::sync::mpsc::Receiver<()>,
}

impl Transcript {
    pub fn start(path: PathBuf) -> Result<Transcript> {
        let mut file = fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)
            .context(|| format!("creating `{}`", path.display()))?;
        let (mut reader, writer) =
            std::io::pipe().map_err(|err| Error::unexpected("creating a pipe").cause(err))?;
        // Close-on-exec: a process started during the build (a dyno's
        // monitor outlives the push) must not hold git's stderr open, or
        // git waits for it forever.
        let saved = unsafe { libc::fcntl(2, libc::F_DUPFD_CLOEXEC, 3) };
        if saved < 0 {
            return Err(Error::unexpected("duplicating stderr"));
        }
        let saved_stderr = unsafe { OwnedFd::from_raw_fd(saved) };
        let mut terminal = fs::File::from(
            saved_stderr
                .try_clone()
                .map_err(|err| Error::unexpected("duplicating stderr").cause(err))?,
        );
        if unsafe { libc::dup2(writer.as_raw_fd(), 2) } < 0 {
            return Err(Error::unexpected("redirecting stderr"));
        }
        drop(writer);
        let (done, relay_done) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 8192];
            let mut kept = 0u64;
            while let Ok(n) = reader.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                let _ = terminal.write_all(&buffer[..n]);
                if kept < MAX_OUTPUT {
                    let _ = file.write_all(&buffer[..n]);
                    kept += n as u64;
                }
            }
            let _ = done.send(());
        });
        Ok(Transcript {
            saved_stderr,
            relay_done,
        })
    }
}

impl Drop for Transcript {
    fn drop(&mut self) {
        // Closing the pipe's last writer (fd 2) ends the relay, unless a
        // process started during the build (a dyno's monitor) still holds
        // it: then the relay is left to end with this process.
        unsafe {
            libc::dup2(self.saved_stderr.as_raw_fd(), 2);
        }
        let _ = self
            .relay_done
            .recv_timeout(std::time::Duration::from_secs(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{AppName, Root};

    #[test]
    fn pending_builds_fail_as_interrupted_and_finished_ones_stay() {
        // #19, point 4: a push killed mid-release left its build `pending` for ever.
        let dir = tempfile::tempdir().unwrap();
        let app = Root::new(dir.path()).app(&AppName::parse("web").unwrap());
        let done = start(&app, &"1".repeat(40), "admin").unwrap();
        finish(&app, done, Some(1), 2.0);
        let refused = start(&app, &"2".repeat(40), "admin").unwrap();
        finish(&app, refused, None, 1.0);
        let cut = start(&app, &"3".repeat(40), "admin").unwrap();
        fs::write(output_file(&app, cut.id), "-----> Building web\n").unwrap();

        let failed = fail_pending(&app).unwrap();
        assert_eq!(failed.iter().map(|b| b.id).collect::<Vec<_>>(), [3]);
        let builds = list(&app).unwrap();
        let shown: Vec<String> = builds.iter().map(BuildRecord::status_text).collect();
        assert_eq!(shown, ["succeeded", "failed", "failed (interrupted)"]);
        assert_eq!(builds[2].release, None);
        let output = fs::read_to_string(output_file(&app, 3)).unwrap();
        assert!(output.starts_with("-----> Building web\n"), "{output}");
        assert!(
            output.ends_with(
                " !     Interrupted: the push's process ended before the build did; nothing was released\n"
            ),
            "{output}"
        );
        assert!(
            fail_pending(&app).unwrap().is_empty(),
            "nothing is pending now"
        );
    }
}
