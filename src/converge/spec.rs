//! What a dyno of a release starts with: its command, config vars and
//! `$PORT`, its slug unpacked (or its image), its log file, and the app's
//! network; and the release's `app.json`.

use std::path::PathBuf;

use super::Platform;
use crate::error::Result;
use crate::release::Release;
use crate::runtime::{Code, DynoSpec, DYNO_PORT};
use crate::slug;
use crate::state::{self, AppDir};

/// The most of an `app.json` that is read.
pub const APP_JSON_LIMIT: u64 = 1024 * 1024;

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
        code: &Code,
    ) -> Result<DynoSpec> {
        let (network, hosts) =
            crate::addons::dyno_network(self.root, self.runtime, &app.name, release)?;
        Ok(DynoSpec {
            network,
            hosts,
            mounts: app.settings()?.mounts,
            ..self.spec_off_network(app, release, process_type, index, command, code)
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
        code: &Code,
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
            code: code.clone(),
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

    /// What the release's dynos run: its slug (unpacked) or its image;
    /// `None` before the first build.
    pub fn code(&self, app: &AppDir, release: &Release) -> Result<Option<Code>> {
        if let Some(image) = &release.image {
            return Ok(Some(Code::Image(image.id.clone())));
        }
        match &release.slug {
            Some(slug) => Ok(Some(Code::Slug(self.unpacked_slug(app, slug)?))),
            None => Ok(None),
        }
    }

    /// The release's `app.json` (its checks, its cron jobs), if it has one:
    /// in its slug, or recorded with its image.
    pub fn app_json(&self, app: &AppDir, release: &Release) -> Result<Option<String>> {
        if let Some(image) = &release.image {
            return Ok(image.app_json.clone());
        }
        match &release.slug {
            Some(slug) => {
                let dir = self.unpacked_slug(app, slug)?;
                state::read_untrusted(&dir.join("app.json"), APP_JSON_LIMIT)
            }
            None => Ok(None),
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
