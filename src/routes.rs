//! An app's routes file (`routes.toml`): where its web dynos answer. Converge
//! and probation write it (`converge::routes_of` turns dynos into routes);
//! the daemon's router reads it when told to reload the app (`control`).
//!
//! The format stays as older paas wrote it: the daemon of one version reads
//! the files of another during an upgrade.

use std::fs;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::state::{self, AppDir};

/// What the router reads: where an app's web dynos answer.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Routes {
    pub backends: Vec<Backend>,
}

/// One web dyno the router may send requests to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Backend {
    /// The dyno's container (`paas-…-web.1-v7-…`): what the router knows it
    /// by (its connections, requests in flight, drains). Routes written
    /// while dynos still published a port named that port here instead.
    #[serde(alias = "address")]
    pub container: String,
    /// `web.1`, for the router's log lines.
    pub dyno: String,
    /// The dyno's network namespace: the router connects from inside it
    /// (`runtime::netns`); dynos publish no port.
    #[serde(default)]
    pub netns: Option<NetnsRef>,
    /// A dyno of the previous release, kept warm while the new one proves
    /// itself (`probation`): sent requests only when every other refuses.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub standby: bool,
}

/// A running dyno's network namespace: its init's pid, and the namespace's
/// inode, which tells the dyno from a process that got its pid after it
/// ended. Here because the routes file records it; `runtime` hands it out
/// (`runtime::NetnsRef`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetnsRef {
    pub pid: u32,
    pub inode: u64,
}

impl Routes {
    /// Reads an app's routes file; none yet means no backends.
    pub fn read(app: &AppDir) -> Routes {
        fs::read_to_string(app.routes_file())
            .ok()
            .and_then(|text| toml::from_str(&text).ok())
            .unwrap_or_default()
    }

    /// Writes the app's routes file (the router reads it on its next reload).
    pub fn write(&self, app: &AppDir) -> Result<()> {
        self.prepare(app)?.put_in_place()
    }

    /// The routes file written beside the app's, to put in place once the
    /// change it belongs to is recorded (`converge`).
    pub fn prepare(&self, app: &AppDir) -> Result<state::Prepared> {
        state::prepare_toml(&app.routes_file(), self, 0o644)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(dyno: &str, standby: bool) -> Backend {
        Backend {
            container: format!("paas-abc-myapp-{dyno}-v3-0a1b2c3d"),
            dyno: dyno.to_string(),
            netns: Some(NetnsRef {
                pid: 4242,
                inode: 4026532000,
            }),
            standby,
        }
    }

    #[test]
    fn the_file_format_is_unchanged() {
        let routes = Routes {
            backends: vec![backend("web.1", false), backend("web.2", true)],
        };
        let text = toml::to_string(&routes).unwrap();
        assert_eq!(
            text,
            "[[backends]]\n\
             container = \"paas-abc-myapp-web.1-v3-0a1b2c3d\"\n\
             dyno = \"web.1\"\n\
             \n\
             [backends.netns]\n\
             pid = 4242\n\
             inode = 4026532000\n\
             \n\
             [[backends]]\n\
             container = \"paas-abc-myapp-web.2-v3-0a1b2c3d\"\n\
             dyno = \"web.2\"\n\
             standby = true\n\
             \n\
             [backends.netns]\n\
             pid = 4242\n\
             inode = 4026532000\n"
        );
        assert_eq!(toml::from_str::<Routes>(&text).unwrap(), routes);
    }

    #[test]
    fn routes_written_by_older_paas_still_read() {
        // Dynos published a port, named `address`, and had no namespace.
        let text = "[[backends]]\naddress = \"127.0.0.1:40001\"\ndyno = \"web.1\"\n";
        let routes: Routes = toml::from_str(text).unwrap();
        assert_eq!(
            routes.backends,
            [Backend {
                container: "127.0.0.1:40001".to_string(),
                dyno: "web.1".to_string(),
                netns: None,
                standby: false,
            }]
        );
    }
}
