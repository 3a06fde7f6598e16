//! What a dyno of a release starts with: its command, config vars and
//! `$PORT`, its slug unpacked, its log file, and the app's network.

use std::path::PathBuf;

use super::Platform;
use crate::error::Result;
use crate::release::Release;
use crate::runtime::{DynoSpec, DYNO_PORT};
use crate::slug;
use crate::state::{self, AppDir};

impl Platform<'_> {
    /// A dyno of the release, on the app's network (made if missing),
    /// with the app's storages mounted: one-off, release phase and cron
    /// dynos start from here.
    pub fn spec(
        &self,
        app: &AppDir,
        release: &Release,
        process_type: &str,
        index: u32,
        command: &str,
        slug_dir: &std::path::Path,
    ) -> Result<DynoSpec> {
        let (network, hosts) =
            crate::addons::dyno_network(self.root, self.runtime, &app.name, release)?;
        Ok(DynoSpec {
            network,
            hosts,
            mounts: app.settings()?.mounts,
            ..self.spec_off_network(app, release, process_type, index, command, slug_dir)
        })
    }

    /// `spec` but for its network, add-on hosts and mounts, which
    /// converge finds once for all the dynos it starts.
    pub(super) fn spec_off_network(
        &self,
        app: &AppDir,
        release: &Release,
        process_type: &str,
        index: u32,
        command: &str,
        slug_dir: &std::path::Path,
    ) -> DynoSpec {
        let dyno = format!("{process_type}.{index}");
        let instance = crate::runtime::podman::random_suffix();
        let mut env = release.config.clone();
        env.insert("PORT".into(), DYNO_PORT.to_string());
        env.insert("DYNO".into(), dyno.clone());
        env.insert("PS".into(), dyno.clone());
        DynoSpec {
            app: app.name.clone(),
            release: release.version,
            process_type: process_type.to_string(),
            index,
            command: command.to_string(),
            env,
            slug_dir: slug_dir.to_path_buf(),
            log_file: app
                .logs_dir()
                .join(crate::runtime::log_file_name(&dyno, &instance)),
            instance,
            remove_on_exit: false,
            size: state::DEFAULT_SIZE,
            network: String::new(),
            hosts: Vec::new(),
            build: None,
            mounts: Vec::new(),
        }
    }

    /// The slug unpacked next to its tarball, unpacking it on first use.
    pub fn unpacked_slug(&self, app: &AppDir, slug_ref: &slug::SlugRef) -> Result<PathBuf> {
        let dir = app.slugs_dir().join(&slug_ref.sha256);
        if dir.is_dir() {
            return Ok(dir);
        }
        slug::unpack(&app.slugs_dir(), slug_ref, &dir)
    }
}
