//! Crash history per dyno slot (`web.1`), behind the restart backoff: a
//! crashed dyno is restarted at once the first time, then after growing
//! waits up to 20 minutes. A new release or `ps:restart` starts afresh.
//! Kept in `apps/<app>/crashes.toml`, written under the app's lock.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::state::{self, AppDir};

/// The longest wait between restarts.
pub const MAX_WAIT_SECONDS: i64 = 20 * 60;
/// A dyno that stayed up this long before crashing starts its count again.
const STABLE_SECONDS: i64 = 10 * 60;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Crash {
    pub release: u32,
    /// Crashes in a row.
    pub count: u32,
    pub exit_code: i32,
    /// Unix seconds.
    pub at: i64,
    /// No restart before this (unix seconds).
    pub next_attempt: i64,
    /// The container that crashed, so one crash is counted once.
    pub container: String,
}

/// Seconds to wait before restart number `count`: 0, 10, 20, 40, … 1200.
pub fn wait_before_restart(count: u32) -> i64 {
    match count {
        0 | 1 => 0,
        n => (10i64 << (n - 2).min(10)).min(MAX_WAIT_SECONDS),
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Crashes {
    #[serde(default)]
    pub dynos: BTreeMap<String, Crash>,
}

impl Crashes {
    pub fn load(app: &AppDir) -> Crashes {
        state::read_toml(&app.path.join("crashes.toml")).unwrap_or_default()
    }

    pub fn save(&self, app: &AppDir) -> Result<()> {
        state::write_toml(&app.path.join("crashes.toml"), self, 0o644)
    }

    /// Records a crash; returns false if this container's crash was already counted.
    pub fn record(
        &mut self,
        dyno: &str,
        release: u32,
        exit_code: i32,
        container: &str,
        up_since: i64,
        now: i64,
    ) -> bool {
        let previous = self.dynos.get(dyno);
        if previous.is_some_and(|c| c.container == container) {
            return false;
        }
        let count = match previous {
            Some(c) if c.release == release && now - up_since < STABLE_SECONDS => c.count + 1,
            _ => 1,
        };
        self.dynos.insert(
            dyno.to_string(),
            Crash {
                release,
                count,
                exit_code,
                at: now,
                next_attempt: now + wait_before_restart(count),
                container: container.to_string(),
            },
        );
        true
    }

    /// Whether the slot must wait before its next restart.
    pub fn waiting(&self, dyno: &str, release: u32, now: i64) -> Option<&Crash> {
        self.dynos
            .get(dyno)
            .filter(|c| c.release == release && c.next_attempt > now)
    }
}

pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_to_twenty_minutes() {
        let waits: Vec<i64> = (1..=10).map(wait_before_restart).collect();
        assert_eq!(waits, [0, 10, 20, 40, 80, 160, 320, 640, 1200, 1200]);
        assert_eq!(wait_before_restart(60), MAX_WAIT_SECONDS);
    }

    #[test]
    fn counts_each_crash_once_and_resets_on_a_new_release_or_a_stable_run() {
        let mut crashes = Crashes::default();
        assert!(crashes.record("web.1", 3, 1, "c1", 1000, 1001));
        assert!(
            !crashes.record("web.1", 3, 1, "c1", 1000, 1002),
            "same container, same crash"
        );
        assert!(crashes.record("web.1", 3, 1, "c2", 1002, 1003));
        assert_eq!(crashes.dynos["web.1"].count, 2);
        assert_eq!(
            crashes.waiting("web.1", 3, 1004).unwrap().next_attempt,
            1013
        );
        assert!(crashes.waiting("web.1", 3, 1013).is_none());
        assert!(
            crashes.waiting("web.1", 4, 1004).is_none(),
            "a new release does not wait"
        );
        assert!(crashes.record("web.1", 4, 1, "c3", 1004, 1005));
        assert_eq!(crashes.dynos["web.1"].count, 1);
        assert!(crashes.record("web.1", 4, 1, "c4", 1005, 1005 + STABLE_SECONDS + 1));
        assert_eq!(
            crashes.dynos["web.1"].count, 1,
            "up for ten minutes: a fresh start"
        );
    }
}
