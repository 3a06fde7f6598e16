//! Time limits on containers that run to their end (builds, release
//! phases): paas stops one at its limit, and conmon backs that up.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use super::run;

/// Stops a container that runs past its time limit: SIGTERM, then SIGKILL
/// 10 s later (`podman stop`), from a thread, so that the caller waits on
/// the container as it would without a limit.
pub struct Deadline {
    cancel: Option<mpsc::Sender<()>>,
    watcher: Option<thread::JoinHandle<bool>>,
}

impl Deadline {
    pub fn start(container: &str, limit: Duration) -> Deadline {
        let (cancel, cancelled) = mpsc::channel::<()>();
        let container = container.to_string();
        let watcher = thread::spawn(move || {
            // A message or a dropped sender: the caller is done in time.
            if cancelled.recv_timeout(limit) != Err(mpsc::RecvTimeoutError::Timeout) {
                return false;
            }
            let _ = run(&["stop", "--ignore", "--time", "10", &container]);
            true
        });
        Deadline {
            cancel: Some(cancel),
            watcher: Some(watcher),
        }
    }

    /// Whether the container was stopped for running too long. Call once
    /// it has ended.
    pub fn passed(mut self) -> bool {
        self.end_watch()
    }

    fn end_watch(&mut self) -> bool {
        self.cancel.take();
        self.watcher
            .take()
            .is_some_and(|watcher| watcher.join().unwrap_or(false))
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        self.end_watch();
    }
}

/// `--timeout` for a container with a time `limit`: conmon kills it a
/// little after the limit even if the paas process that watches it (and
/// stops it at the limit, with a grace period) is gone.
pub fn backstop_flag(limit: Duration) -> String {
    format!("--timeout={}", limit.as_secs().saturating_add(60))
}
