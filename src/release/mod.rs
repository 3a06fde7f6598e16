//! The release ledger: `releases/v<N>.toml`, append-only. A release is a slug
//! (or an image of the app's own) plus the config and process types it runs
//! with; rollback appends a new release that copies an old one, so history
//! is never rewritten.

use std::collections::BTreeMap;
use std::fs;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::error::{Context, Error, Result};
use crate::slug::SlugRef;
use crate::state::{self, AppDir};

/// One release, as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Release {
    pub version: u32,
    pub description: String,
    /// Who made it: the key's user name.
    pub user: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// The commit it was built from.
    pub commit: Option<String>,
    /// `None` before the first build (a config change on a new app), and
    /// for an app that runs an image of its own.
    pub slug: Option<SlugRef>,
    /// The image the release runs instead of a slug: built from the app's
    /// Dockerfile, or deployed as it is (`releases:create --image`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageRef>,
    #[serde(default)]
    pub processes: BTreeMap<String, String>,
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Config vars set by add-ons: `DATABASE_URL` → `postgres-brave-4821`.
    /// The add-on owns them: `config:set` may not change them, and a
    /// rollback keeps the current ones (see `rollback_config`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub addons: BTreeMap<String, String>,
    /// Why the release never ran: its release phase failed. Kept in the
    /// ledger for `releases`, never current, never a rollback target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
}

/// An image a release runs, recorded by its id: the tag it was made
/// under may move or go, the id always names the same bytes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ImageRef {
    /// `sha256:<hex>`: the digest of the image's configuration, which is
    /// podman's id for it. Dynos run the image by it.
    pub id: String,
    /// The name paas tagged it with: `localhost/paas-<install>/<app>:v<N>-…`
    /// (so `podman images` tells whose it is, and prune keeps it).
    pub name: String,
    /// The pushed tree's `app.json` (its checks and cron jobs): an image
    /// has no slug to read it from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_json: Option<String>,
}

impl ImageRef {
    /// The id as podman shows it (`short_image_id`).
    pub fn short_id(&self) -> &str {
        short_image_id(&self.id)
    }
}

/// An image id (`sha256:<hex>`) as podman shows it: twelve hex digits.
pub fn short_image_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

impl Release {
    /// Whether it has code to run: a slug or an image (a config change
    /// made before the first deploy has neither).
    pub fn is_built(&self) -> bool {
        self.slug.is_some() || self.image.is_some()
    }

    /// The config and attachments a rollback to `target` runs with: the
    /// target's own vars, but the add-ons attached now, with their current
    /// URLs. An old release's attachment may point at a destroyed add-on or
    /// an old password; the data lives in the add-on, not in the release.
    pub fn rollback_config(
        target: &Release,
        current: &Release,
    ) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
        let mut config = target.config.clone();
        for var in target.addons.keys() {
            config.remove(var);
        }
        for var in current.addons.keys() {
            if let Some(value) = current.config.get(var) {
                config.insert(var.clone(), value.clone());
            }
        }
        (config, current.addons.clone())
    }
}

/// `v7` or `7`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ReleaseVersion(pub u32);

#[derive(Debug, Error, PartialEq)]
#[error("`{0}` is not a release version: expected `v<number>`, like `v3`")]
pub struct VersionError(String);

impl FromStr for ReleaseVersion {
    type Err = VersionError;
    fn from_str(text: &str) -> Result<Self, VersionError> {
        let digits = text.strip_prefix('v').unwrap_or(text);
        match digits.parse::<u32>() {
            Ok(n) if n > 0 && !digits.starts_with('+') => Ok(ReleaseVersion(n)),
            _ => Err(VersionError(text.chars().take(40).collect())),
        }
    }
}

/// The ledger of one app.
pub struct Ledger<'a> {
    app: &'a AppDir,
}

impl<'a> Ledger<'a> {
    pub fn new(app: &'a AppDir) -> Self {
        Ledger { app }
    }

    /// Every release, oldest first.
    pub fn list(&self) -> Result<Vec<Release>> {
        let dir = self.app.releases_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(err).context(|| format!("listing `{}`", dir.display())),
        };
        let mut versions: Vec<u32> = entries
            .filter_map(|entry| entry.ok())
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                name.strip_prefix('v')?.strip_suffix(".toml")?.parse().ok()
            })
            .collect();
        versions.sort_unstable();
        versions.into_iter().map(|v| self.read(v)).collect()
    }

    /// The release that runs: the newest that did not fail.
    pub fn current(&self) -> Result<Option<Release>> {
        Ok(self.list()?.into_iter().rev().find(|r| r.failed.is_none()))
    }

    /// The app's config vars: those of the current release. The ledger is
    /// their only home, so a release and its config can never disagree.
    pub fn config(&self) -> Result<BTreeMap<String, String>> {
        Ok(self
            .current()?
            .map(|release| release.config)
            .unwrap_or_default())
    }

    pub fn next_version(&self) -> Result<u32> {
        Ok(self.list()?.last().map_or(1, |release| release.version + 1))
    }

    pub fn get(&self, version: ReleaseVersion) -> Result<Release> {
        let path = self.path(version.0);
        if !path.exists() {
            return Err(Error::new(format!(
                "app `{}` has no release v{}",
                self.app.name, version.0
            ))
            .hint(format!("`paas releases -a {}` lists them", self.app.name)));
        }
        self.read(version.0)
    }

    fn read(&self, version: u32) -> Result<Release> {
        state::read_toml(&self.path(version))
    }

    /// Records a release. Fails, without touching the ledger, if that version
    /// already exists: the caller holds the app lock, so that is a bug.
    pub fn append(&self, release: &Release) -> Result<()> {
        let dir = self.app.releases_dir();
        state::create_dir(&dir, 0o700)?;
        let text = toml::to_string(release).context(|| "encoding a release".into())?;
        if !state::write_new(&self.path(release.version), text.as_bytes(), 0o600)? {
            return Err(Error::unexpected(format!(
                "release v{} of `{}` already exists",
                release.version, self.app.name
            )));
        }
        Ok(())
    }

    fn path(&self, version: u32) -> std::path::PathBuf {
        self.app.releases_dir().join(format!("v{version}.toml"))
    }
}

/// Now, as RFC 3339 in UTC.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{AppName, Root};

    fn release(version: u32) -> Release {
        Release {
            version,
            description: format!("Deploy {version}"),
            user: "admin".into(),
            created_at: now_rfc3339(),
            commit: Some("1a2b3c4d".into()),
            slug: None,
            image: None,
            processes: BTreeMap::from([("web".into(), "python app.py".into())]),
            config: BTreeMap::from([("A".into(), "1".into())]),
            addons: BTreeMap::new(),
            failed: None,
        }
    }

    #[test]
    fn a_rollback_keeps_the_current_attachments() {
        let mut target = release(1);
        target
            .config
            .insert("OLD_URL".into(), "postgres://old".into());
        target
            .addons
            .insert("OLD_URL".into(), "postgres-gone-1".into());
        let mut current = release(2);
        current.config = BTreeMap::from([
            ("A".into(), "2".into()),
            ("DATABASE_URL".into(), "postgres://new-password".into()),
        ]);
        current
            .addons
            .insert("DATABASE_URL".into(), "postgres-brave-4821".into());
        let (config, addons) = Release::rollback_config(&target, &current);
        assert_eq!(config["A"], "1", "the target's own vars come back");
        assert_eq!(config["DATABASE_URL"], "postgres://new-password");
        assert!(!config.contains_key("OLD_URL"), "{config:?}");
        assert_eq!(addons, current.addons);
    }

    #[test]
    fn versions_parse() {
        assert_eq!("v3".parse::<ReleaseVersion>().unwrap(), ReleaseVersion(3));
        assert_eq!("12".parse::<ReleaseVersion>().unwrap(), ReleaseVersion(12));
        for bad in ["v0", "v", "x3", "v-1", "v+1", "3.0"] {
            assert!(bad.parse::<ReleaseVersion>().is_err(), "{bad}");
        }
        assert_eq!(
            "x3".parse::<ReleaseVersion>().unwrap_err().to_string(),
            "`x3` is not a release version: expected `v<number>`, like `v3`"
        );
    }

    #[test]
    fn ledger_appends_and_never_rewrites() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let app = root.app(&AppName::parse("demo").unwrap());
        fs::create_dir_all(&app.path).unwrap();
        let ledger = Ledger::new(&app);
        assert_eq!(ledger.next_version().unwrap(), 1);
        ledger.append(&release(1)).unwrap();
        ledger.append(&release(2)).unwrap();
        assert!(ledger.append(&release(2)).is_err());
        let all = ledger.list().unwrap();
        assert_eq!(
            all.iter().map(|r| r.version).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert_eq!(all[1], release(2).clone_with_time(&all[1].created_at));
        assert_eq!(ledger.next_version().unwrap(), 3);
        assert!(ledger
            .get(ReleaseVersion(9))
            .unwrap_err()
            .message()
            .contains("no release v9"));
    }

    #[test]
    fn a_failed_release_is_listed_but_never_current() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let app = root.app(&AppName::parse("demo").unwrap());
        fs::create_dir_all(&app.path).unwrap();
        let ledger = Ledger::new(&app);
        ledger.append(&release(1)).unwrap();
        let failed = Release {
            failed: Some("release command failed (exit status 1)".into()),
            ..release(2)
        };
        ledger.append(&failed).unwrap();
        assert_eq!(ledger.current().unwrap().unwrap().version, 1);
        assert_eq!(ledger.next_version().unwrap(), 3);
        assert_eq!(ledger.list().unwrap().len(), 2);
    }

    #[test]
    fn releases_written_before_images_still_read_and_image_ones_round_trip() {
        let old = r#"version = 3
description = "Deploy 1a2b3c4"
user = "admin"
created_at = "2026-01-02T03:04:05Z"
commit = "1a2b3c4d"

[slug]
sha256 = "ab"
size = 10

[processes]
web = "python app.py"
"#;
        let read: Release = toml::from_str(old).unwrap();
        assert_eq!(read.image, None);
        assert!(read.is_built());
        let image = Release {
            image: Some(ImageRef {
                id: format!("sha256:{}", "e8c690eac4c4".repeat(5)),
                name: "localhost/paas-abc/web:v4-00112233aabb".into(),
                app_json: Some("{\"cron\": []}".into()),
            }),
            ..release(4)
        };
        let text = toml::to_string(&image).unwrap();
        assert!(text.contains("[image]"), "{text}");
        assert_eq!(toml::from_str::<Release>(&text).unwrap(), image);
        assert_eq!(image.image.as_ref().unwrap().short_id(), "e8c690eac4c4");
        assert!(image.is_built());
        assert!(!release(5).is_built());
        // A slug release says nothing of images.
        assert!(!toml::to_string(&release(5)).unwrap().contains("image"));
    }

    impl Release {
        fn clone_with_time(mut self, created_at: &str) -> Release {
            self.created_at = created_at.into();
            self
        }
    }
}
