//! What a command killed while it held an app's lock leaves behind, and
//! its removal (#19, point 4): a push's build container, the dyno of its
//! release phase (run to its end, never removed), and its build `pending`
//! for ever.
//!
//! A push builds, runs its release phase and records its build under the
//! app's lock, and `config:set` and `releases:rollback` run theirs under
//! it too. The lock is an flock on the app's `lock` file, opened
//! close-on-exec: the kernel lets it go when its holder dies, even while
//! programs the holder started (`podman start --attach`) live on. So a
//! holder of the lock knows that no build and no release phase of the app
//! is under way, and that a build container, a release phase's dyno or a
//! `pending` build it finds belongs to a process that is gone. The
//! daemon's pass sweeps them (within 5 s of the death), and a push does
//! before it builds.
//!
//! Labels naming the owner (its pid and start time) would tell the same
//! without the lock, but would be a second record of who runs, to keep
//! true beside the lock that already is the one.

use std::time::Duration;

use crate::build::{self, history};
use crate::converge::{Platform, RELEASE_TYPE};
use crate::error::Result;
use crate::logs;
use crate::runtime::{podman, Dyno};
use crate::state::{AppDir, Lock};

/// Removes what commands that died under the app's lock left: build
/// containers and sources, release phase dynos (stopped at once), and
/// records their `pending` builds as failed, `interrupted`. `held` is the
/// app's lock, which the caller holds.
pub fn sweep(platform: &Platform, app: &AppDir, held: &Lock) -> Result<()> {
    debug_assert_eq!(held.path, app.lock_file(), "the app's own lock");
    let install_id = &platform.settings.install_id;
    build::sweep_leftovers(app, install_id);
    // podman is asked only when a release phase's env file says one may
    // be left: the daemon sweeps every app every few seconds.
    if podman::env_file_left(platform.root, install_id, &app.name, RELEASE_TYPE) {
        let left = left_behind(platform.runtime.list(Some(&app.name))?);
        platform.runtime.remove(&left, Duration::ZERO)?;
        for dyno in &left {
            let whose = match dyno.build {
                Some(id) => format!("build #{id}'s push"),
                None => "the command that ran it".to_string(),
            };
            logs::platform(
                app,
                &dyno.name(),
                &format!("Release phase stopped and removed: {whose} ended before it did"),
            );
        }
    }
    for build in history::fail_pending(app)? {
        logs::platform(
            app,
            "api",
            &format!(
                "Build #{} interrupted: its push ended before it did; the previous release keeps running",
                build.id
            ),
        );
    }
    Ok(())
}

/// Of the app's dynos, found by a holder of its lock, those a dead command
/// left: every release phase dyno, running or ended, as a release phase
/// runs only under the lock. Dynos of the formation and one-off dynos
/// (`run.N`, attached after the lock is let go) are not.
fn left_behind(dynos: Vec<Dyno>) -> Vec<Dyno> {
    dynos
        .into_iter()
        .filter(|d| d.process_type == RELEASE_TYPE)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::AppName;
    use std::io::BufRead;
    use std::process::{Command, Stdio};

    fn dyno(process_type: &str, running: bool, build: Option<u32>) -> Dyno {
        Dyno {
            id: format!("paas-ab12-shop-{process_type}.1-v4-00aa11bb"),
            app: AppName::parse("shop").unwrap(),
            release: 4,
            process_type: process_type.to_string(),
            index: 1,
            running,
            exit_code: 0,
            started_at: 0,
            netns: None,
            size: "standard-1x".into(),
            network_tag: String::new(),
            mounts_tag: String::new(),
            build,
            image: false,
        }
    }

    #[test]
    fn a_lock_holder_takes_every_release_phase_dyno_and_nothing_else() {
        let dynos = vec![
            dyno("web", true, None),
            dyno("worker", false, None),
            dyno("run", true, None),
            // Still running its command, and run to its end (exit status 0).
            dyno(RELEASE_TYPE, true, Some(2)),
            dyno(RELEASE_TYPE, false, None),
        ];
        let left: Vec<(String, bool)> = left_behind(dynos)
            .into_iter()
            .map(|d| (d.process_type, d.running))
            .collect();
        assert_eq!(
            left,
            [(RELEASE_TYPE.into(), true), (RELEASE_TYPE.into(), false)]
        );
    }

    /// Set in the child that `the_lock_is_free_once_its_holder_is_killed`
    /// starts: the lock file to hold.
    const HOLD: &str = "PAAS_TEST_HOLD_LOCK";

    #[test]
    fn the_lock_is_free_once_its_holder_is_killed_though_its_children_live_on() {
        // The child: holds the lock as a push does, starts a program that
        // outlives it (as `podman start --attach` outlives a killed hook),
        // says that program's pid, and waits on it until killed.
        if let Some(path) = std::env::var_os(HOLD) {
            let _lock = Lock::acquire(std::path::Path::new(&path), "").unwrap();
            let mut child = Command::new("sh")
                .args(["-c", "exec sleep 60"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
                .unwrap();
            println!("holding; its child is {}", child.id());
            // As the hook waits on the release phase's dyno.
            let _ = child.wait();
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let test_binary = std::env::current_exe().unwrap();
        let mut holder = Command::new(test_binary)
            .args([
                "--exact",
                "interrupted::tests::the_lock_is_free_once_its_holder_is_killed_though_its_children_live_on",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(HOLD, &path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let said = std::io::BufReader::new(holder.stdout.take().unwrap())
            .lines()
            .map_while(std::io::Result::ok)
            // After libtest's `test … ... ` on the same line.
            .find_map(|line| line.split("holding; its child is ").nth(1)?.parse().ok());
        let grandchild: i32 = said.expect("the holder says it holds the lock");
        let taken = Lock::try_acquire(&path).unwrap();
        assert!(taken.is_none(), "a live holder keeps the lock");

        unsafe { libc::kill(holder.id() as i32, libc::SIGKILL) };
        holder.wait().unwrap();
        let alive = unsafe { libc::kill(grandchild, 0) } == 0;
        let taken = Lock::try_acquire(&path).unwrap();
        unsafe { libc::kill(grandchild, libc::SIGKILL) };
        assert!(alive, "the holder's child outlived it");
        assert!(
            taken.is_some(),
            "the lock of a killed holder is free, though its child lives"
        );
    }
}
