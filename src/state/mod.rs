//! The store: every piece of state lives in plain files under one root
//! (`PAAS_ROOT`, default `/var/lib/paas`). See docs/state.md for the layout.

mod dyno_size;
mod files;
mod names;
mod storage;

pub use dyno_size::{DynoSize, DEFAULT_SIZE};
pub use files::{
    create_dir, free_bytes, prepare_atomic, random_bytes, random_u64, read_untrusted,
    remove_dir_whole, size_of_tree, sync_dir, write_atomic, write_new, Lock, Prepared,
};
pub use names::{AppName, ConfigKey, NameError, ProcessType, NAME_WORDS};
pub use storage::{mount_conflict, Mount, MountPath, Storage, StorageDir, StorageName};

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Context, Error, Result};

pub const DEFAULT_ROOT: &str = "/var/lib/paas";
/// The dashboard's host under the platform's domain (no app may take
/// the name).
pub const DASHBOARD_HOST: &str = "paas";

/// Global settings, written by the installer (`paas.toml`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Settings {
    /// Apps answer at `<app>.<domain>`.
    pub domain: String,
    pub http_port: u16,
    /// The router's TLS port (none in an install older than TLS).
    #[serde(default)]
    pub https_port: Option<u16>,
    pub ssh_port: u16,
    /// A `--local` install: private sshd on 127.0.0.1, supervised daemon, loopback ports.
    pub local: bool,
    /// Tells this install's containers and networks from every other install's.
    pub install_id: String,
    /// The system user that owns everything after install.
    pub user: String,
    pub run_image: String,
    pub build_image: String,
    /// Whether dyno memory and CPU limits take effect on this host (found
    /// by the installer: rootless podman on cgroup v1 ignores them).
    #[serde(default)]
    pub limits_enforced: bool,
    /// The images `addons:create` runs when not given `--image` (built by
    /// the installer; empty in an install older than add-ons).
    #[serde(default)]
    pub postgres_image: String,
    #[serde(default)]
    pub redis_image: String,
    /// How long new dynos without checks of their own must stay up, for apps
    /// that set none (`checks:set --global uptime`; 10 s if absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checks_uptime_secs: Option<u64>,
    /// Where `certs:auto` gets certificates (Let's Encrypt if absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acme_directory: Option<String>,
    /// The authorities trusted for that directory's HTTPS (the system's if absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acme_ca: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acme_email: Option<String>,
    /// The largest compressed slug a build may make, in MiB (1024 if absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slug_limit_mb: Option<u64>,
    /// A push is refused, before git writes anything, while less than this
    /// many MiB are free where builds and images go (1024 if absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_free_mb: Option<u64>,
    /// How long a build may run, in seconds (`DEFAULT_BUILD_TIMEOUT_SECS` if absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_timeout_secs: Option<u64>,
    /// How long a release phase may run, in seconds (`DEFAULT_RELEASE_TIMEOUT_SECS` if absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_timeout_secs: Option<u64>,
    /// Whether the URLs apps' people give (webhooks, log drains,
    /// `MAINTENANCE_PAGE_URL`, `pg:backups:restore` URLs) may lead into
    /// the server's own network (loopback, private, link-local and its
    /// own addresses); refused if absent (`url_reach`). Read under its
    /// first name too, `private_webhooks`, which installs wrote when it
    /// covered webhooks alone.
    #[serde(
        default,
        alias = "private_webhooks",
        skip_serializing_if = "Option::is_none"
    )]
    pub private_urls: Option<bool>,
    /// Whether the daemon gets (and renews) a certificate for the
    /// dashboard's host by ACME (`dashboard:certs:auto:enable`).
    #[serde(default, skip_serializing_if = "is_default")]
    pub dashboard_certs_auto: bool,
}

/// A build stops after this long unless the install says otherwise: twice
/// Heroku's 15 minutes, as a small server compiles slower than its builders.
pub const DEFAULT_BUILD_TIMEOUT_SECS: u64 = 30 * 60;
/// Heroku's release phase limit.
pub const DEFAULT_RELEASE_TIMEOUT_SECS: u64 = 60 * 60;

impl Settings {
    /// The free space a push needs, in bytes.
    pub fn min_free_bytes(&self) -> u64 {
        self.min_free_mb.unwrap_or(1024).saturating_mul(1 << 20)
    }

    pub fn build_timeout(&self) -> Duration {
        Duration::from_secs(
            self.build_timeout_secs
                .unwrap_or(DEFAULT_BUILD_TIMEOUT_SECS),
        )
    }

    pub fn release_timeout(&self) -> Duration {
        Duration::from_secs(
            self.release_timeout_secs
                .unwrap_or(DEFAULT_RELEASE_TIMEOUT_SECS),
        )
    }

    /// The dashboard's host name: `paas.<domain>`.
    pub fn dashboard_host(&self) -> String {
        format!("{DASHBOARD_HOST}.{}", self.domain)
    }

    /// Where connections to a URL an app's people gave may go.
    pub fn url_reach(&self) -> crate::net::Reach {
        match self.private_urls {
            Some(true) => crate::net::Reach::Anywhere,
            _ => crate::net::Reach::Internet,
        }
    }

    /// The URL users reach an app at.
    pub fn app_url(&self, app: &AppName) -> String {
        match self.http_port {
            80 => format!("http://{app}.{}/", self.domain),
            port => format!("http://{app}.{}:{port}/", self.domain),
        }
    }
}

/// SIGTERM, then this long, then SIGKILL, unless the app sets its own
/// (`AppSettings::stop_timeout_secs`).
pub const STOP_GRACE: Duration = Duration::from_secs(30);

/// How long a dyno without checks of its own must stay up (Dokku's default).
pub const DEFAULT_UPTIME_SECS: u64 = 10;

/// Whether a user's change waits for checks (`checks:enable|skip|disable`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChecksMode {
    /// New dynos pass their checks before traffic moves.
    #[default]
    Enabled,
    /// New dynos get traffic once web dynos listen on `$PORT`.
    Skipped,
    /// The old dynos stop before the new ones start: downtime, for apps that
    /// cannot run two copies at once.
    Disabled,
}

/// Where an app's releases run (`apps:scheduler`, #24).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheduler {
    /// Dynos on this machine's podman.
    #[default]
    Podman,
    /// Pods on the cluster `kubernetes:connect` names.
    Kubernetes,
}

/// Per-app settings (`app.toml`): what should be running.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct AppSettings {
    /// Dynos wanted per process type.
    #[serde(default)]
    pub formation: BTreeMap<String, u32>,
    /// Pushes to this branch deploy; `None` means `master` or `main`.
    #[serde(default)]
    pub deploy_branch: Option<String>,
    /// The commit the last successful push deployed. git moves the branch to
    /// it only after the hook returns, so a push that waited for the lock
    /// compares against this as well as the branch.
    #[serde(default)]
    pub deployed_commit: Option<String>,
    /// Process types stopped with `ps:stop TYPE`, and the count `ps:start` restores.
    #[serde(default)]
    pub stopped: BTreeMap<String, u32>,
    /// How many MiB of log stream the app keeps (default 64).
    #[serde(default)]
    pub log_limit_mb: Option<u64>,
    /// Where the log stream is forwarded (`syslog://host:port`).
    #[serde(default)]
    pub drains: Vec<String>,
    /// Dyno size per process type (`standard-2x`); `standard-1x` if absent.
    #[serde(default)]
    pub sizes: BTreeMap<String, String>,
    /// Seconds between SIGTERM and SIGKILL when a dyno stops (default 30).
    #[serde(default)]
    pub stop_timeout_secs: Option<u64>,
    /// Custom domains the router sends to this app (`domains:add`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub domains: Vec<String>,
    /// The router answers 503 (H80) instead of passing requests on.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub maintenance: bool,
    /// Plain HTTP requests get a redirect to HTTPS (when the app has a certificate).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub https_redirect: bool,
    /// Whether changes wait for new dynos' health checks.
    #[serde(default, skip_serializing_if = "is_default")]
    pub checks: ChecksMode,
    /// Web dynos stop after this long without a request (`ps:autosleep`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autosleep_after_secs: Option<u64>,
    /// When autosleep stopped the web dynos (unix seconds); the next
    /// request starts them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asleep_since: Option<i64>,
    /// The app's own `checks:set uptime` (else the install's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checks_uptime_secs: Option<u64>,
    /// `checks:set wait on`: a change waits out the window after traffic
    /// moves, and fails if a new dyno crashes in it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub checks_wait: bool,
    /// Whether the daemon gets and renews the app's certificate by ACME.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub certs_auto: bool,
    /// The buildpacks set with `buildpacks:set`/`:add`, in order; empty
    /// means `BUILDPACK_URL`, `.buildpacks`, or detection decides.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buildpacks: Vec<String>,
    /// The user who owns the app (`access`): its creator, or whom it was
    /// transferred to. `None` only for an app from before owners, until
    /// `server install` gives it one: admins alone may act on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Users who may act on the app as its owner does, except destroy it,
    /// transfer it or change who else may (`access:add`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub collaborators: Vec<String>,
    /// Storages mounted into every dyno of the app (`storage:mount`), in
    /// the order they were mounted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<Mount>,
    /// Where its releases run.
    #[serde(default, skip_serializing_if = "is_default")]
    pub scheduler: Scheduler,
}

/// The answer for an app that does not exist, and for one the user may
/// not see (`access`): the same, so names cannot be probed.
pub fn no_such_app(name: &AppName) -> Error {
    Error::new(format!("app `{name}` does not exist"))
        .hint("`paas apps` lists the apps; `git push` to a new name creates one")
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

impl AppSettings {
    /// How long a stopping dyno has between SIGTERM and SIGKILL.
    pub fn stop_grace(&self) -> Duration {
        self.stop_timeout_secs
            .map_or(STOP_GRACE, Duration::from_secs)
    }

    /// How long new dynos without checks of their own must stay up.
    pub fn checks_uptime(&self, install: &Settings) -> u64 {
        self.checks_uptime_secs
            .or(install.checks_uptime_secs)
            .unwrap_or(DEFAULT_UPTIME_SECS)
    }

    /// The size of a process type's dynos.
    pub fn size_of(&self, process_type: &str) -> DynoSize {
        self.sizes
            .get(process_type)
            .and_then(|name| DynoSize::parse(name))
            .unwrap_or(DEFAULT_SIZE)
    }
}

/// The state root and the paths inside it.
#[derive(Debug, Clone)]
pub struct Root {
    pub path: PathBuf,
}

impl Root {
    pub fn new(path: impl Into<PathBuf>) -> Root {
        Root { path: path.into() }
    }

    pub fn settings_file(&self) -> PathBuf {
        self.path.join("paas.toml")
    }
    pub fn bin(&self) -> PathBuf {
        self.path.join("bin/paas")
    }
    pub fn hooks_dir(&self) -> PathBuf {
        self.path.join("hooks")
    }
    pub fn buildpacks_dir(&self) -> PathBuf {
        self.path.join("buildpacks")
    }
    pub fn keys_dir(&self) -> PathBuf {
        self.path.join("keys")
    }
    pub fn authorized_keys(&self) -> PathBuf {
        self.path.join("keys/authorized_keys")
    }
    pub fn etc_dir(&self) -> PathBuf {
        self.path.join("etc")
    }
    /// The dashboard's own certificate (`dashboard:certs:auto`), and what
    /// the daemon last did about it.
    pub fn dashboard_certificate_file(&self) -> PathBuf {
        self.path.join("etc/dashboard-certificate.pem")
    }
    pub fn dashboard_acme_status_file(&self) -> PathBuf {
        self.path.join("etc/dashboard-acme.toml")
    }
    pub fn run_dir(&self) -> PathBuf {
        self.path.join("run")
    }
    pub fn control_socket(&self) -> PathBuf {
        self.path.join("run/control.sock")
    }
    pub fn daemon_pid_file(&self) -> PathBuf {
        self.path.join("run/daemon.pid")
    }
    pub fn logs_dir(&self) -> PathBuf {
        self.path.join("logs")
    }
    /// A `--local` install's daemon log (its supervisor's and the
    /// daemon's stdout and stderr), kept bounded (`daemon::log_file`).
    pub fn daemon_log(&self) -> PathBuf {
        self.logs_dir().join("daemon.log")
    }
    pub fn apps_dir(&self) -> PathBuf {
        self.path.join("apps")
    }
    /// Held shared while an app is being made, exclusive while a repository
    /// made for a push that made no app is removed (`commands::apps`). Its
    /// leading dot keeps it out of `apps()`: no app name starts with one.
    pub fn new_apps_lock_file(&self) -> PathBuf {
        self.apps_dir().join(".new-apps.lock")
    }

    pub fn settings(&self) -> Result<Settings> {
        let path = self.settings_file();
        let text = fs::read_to_string(&path).map_err(|err| {
            Error::new(format!("paas is not installed at `{}`", self.path.display()))
                .cause(err)
                .hint("install it with `paas server install`, or point at it with `--root` or `PAAS_ROOT`")
        })?;
        toml::from_str(&text).context(|| format!("reading `{}`", path.display()))
    }

    /// Reads the install's settings, changes them and writes them back.
    pub fn update_settings(&self, change: impl FnOnce(&mut Settings)) -> Result<Settings> {
        let mut settings = self.settings()?;
        change(&mut settings);
        write_toml(&self.settings_file(), &settings, 0o644)?;
        Ok(settings)
    }

    pub fn app(&self, name: &AppName) -> AppDir {
        AppDir {
            name: name.clone(),
            path: self.apps_dir().join(name.as_str()),
        }
    }

    /// Every app, in name order.
    pub fn apps(&self) -> Result<Vec<AppName>> {
        let dir = self.apps_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(err).context(|| format!("listing `{}`", dir.display())),
        };
        let mut apps: Vec<AppName> = entries
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.path().join("app.toml").exists())
            .filter_map(|entry| AppName::parse(entry.file_name().to_str()?).ok())
            .collect();
        apps.sort();
        Ok(apps)
    }
}

/// One app's directory and the files in it.
#[derive(Debug, Clone)]
pub struct AppDir {
    pub name: AppName,
    pub path: PathBuf,
}

impl AppDir {
    pub fn settings_file(&self) -> PathBuf {
        self.path.join("app.toml")
    }
    pub fn repo(&self) -> PathBuf {
        self.path.join("repo.git")
    }
    pub fn releases_dir(&self) -> PathBuf {
        self.path.join("releases")
    }
    pub fn slugs_dir(&self) -> PathBuf {
        self.path.join("slugs")
    }
    pub fn cache_dir(&self) -> PathBuf {
        self.path.join("cache")
    }
    /// Buildpacks fetched from URLs, apart from the cache buildpacks may clear.
    pub fn buildpack_cache_dir(&self) -> PathBuf {
        self.path.join("buildpack-cache")
    }
    pub fn builds_dir(&self) -> PathBuf {
        self.path.join("builds")
    }
    pub fn logs_dir(&self) -> PathBuf {
        self.path.join("logs")
    }
    /// The app's TLS certificate chain and key (`certs:add`), 0600.
    pub fn certificate_file(&self) -> PathBuf {
        self.path.join("tls.pem")
    }
    /// The page `maintenance:on` fetched from `MAINTENANCE_PAGE_URL`.
    /// What the daemon last did about the app's ACME certificate.
    pub fn acme_status_file(&self) -> PathBuf {
        self.path.join("acme.toml")
    }
    pub fn maintenance_page_file(&self) -> PathBuf {
        self.path.join("maintenance.html")
    }
    pub fn routes_file(&self) -> PathBuf {
        self.path.join("routes.toml")
    }
    pub fn lock_file(&self) -> PathBuf {
        self.path.join("lock")
    }

    pub fn exists(&self) -> bool {
        self.settings_file().exists()
    }

    /// Fails with a hint when the app does not exist.
    pub fn require(self) -> Result<AppDir> {
        if self.exists() {
            Ok(self)
        } else {
            Err(no_such_app(&self.name))
        }
    }

    /// The app's lock, waited for. An app renamed or destroyed meanwhile
    /// is refused: its directory is no longer at this name.
    pub fn lock(&self) -> Result<Lock> {
        let lock = Lock::acquire(
            &self.lock_file(),
            &format!(
                "waiting for another operation on `{}` to finish…",
                self.name
            ),
        )?;
        if !lock.still_in_place() {
            return Err(Error::new(format!(
                "app `{}` was renamed or destroyed while this waited for it",
                self.name
            ))
            .hint("`paas apps` lists the apps"));
        }
        Ok(lock)
    }

    pub fn settings(&self) -> Result<AppSettings> {
        read_toml(&self.settings_file())
    }

    pub fn write_settings(&self, settings: &AppSettings) -> Result<()> {
        write_toml(&self.settings_file(), settings, 0o644)
    }

    /// Reads the settings, changes them and writes them back; the caller
    /// holds the app's lock. Returns them as written.
    pub fn update_settings(&self, change: impl FnOnce(&mut AppSettings)) -> Result<AppSettings> {
        let mut settings = self.settings()?;
        change(&mut settings);
        self.write_settings(&settings)?;
        Ok(settings)
    }
}

pub fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = fs::read_to_string(path).context(|| format!("reading `{}`", path.display()))?;
    toml::from_str(&text).context(|| format!("parsing `{}`", path.display()))
}

/// Every `*.toml` record in a directory that parses (none if it is missing),
/// in no particular order: backups, builds.
pub fn read_toml_records<T: serde::de::DeserializeOwned>(dir: &Path) -> Vec<T> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".toml"))
        .filter_map(|e| read_toml(&e.path()).ok())
        .collect()
}

#[cfg(test)]
impl Settings {
    /// A system install's settings at example.com, for unit tests.
    pub fn example() -> Settings {
        Settings {
            domain: "example.com".into(),
            http_port: 80,
            https_port: None,
            ssh_port: 22,
            local: false,
            install_id: "abc".into(),
            user: "paas".into(),
            run_image: "r".into(),
            build_image: "b".into(),
            limits_enforced: false,
            postgres_image: String::new(),
            redis_image: String::new(),
            checks_uptime_secs: None,
            acme_directory: None,
            acme_ca: None,
            acme_email: None,
            slug_limit_mb: None,
            min_free_mb: None,
            build_timeout_secs: None,
            release_timeout_secs: None,
            private_urls: None,
            dashboard_certs_auto: false,
        }
    }
}

pub fn write_toml<T: Serialize>(path: &Path, value: &T, mode: u32) -> Result<()> {
    prepare_toml(path, value, mode)?.put_in_place()
}

/// `write_toml` in two steps: written beside `path` now, put in place later.
pub fn prepare_toml<T: Serialize>(path: &Path, value: &T, mode: u32) -> Result<Prepared> {
    let text = toml::to_string(value).context(|| format!("encoding `{}`", path.display()))?;
    prepare_atomic(path, text.as_bytes(), mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_url_omits_port_80() {
        let mut settings = Settings::example();
        let app = AppName::parse("web").unwrap();
        assert_eq!(settings.app_url(&app), "http://web.example.com/");
        settings.http_port = 8080;
        assert_eq!(settings.app_url(&app), "http://web.example.com:8080/");
    }

    #[test]
    fn private_urls_are_refused_unless_allowed_under_either_name() {
        let mut settings = Settings::example();
        assert_eq!(settings.url_reach(), crate::net::Reach::Internet);
        let written = toml::to_string(&settings).unwrap();
        assert!(!written.contains("private"), "{written}");
        // As an install before the setting covered every URL wrote it.
        let older: Settings =
            toml::from_str(&format!("{written}private_webhooks = true\n")).unwrap();
        assert_eq!(older.private_urls, Some(true));
        assert_eq!(older.url_reach(), crate::net::Reach::Anywhere);
        settings.private_urls = Some(false);
        let written = toml::to_string(&settings).unwrap();
        assert!(written.contains("private_urls = false"), "{written}");
        let read: Settings = toml::from_str(&written).unwrap();
        assert_eq!(read.url_reach(), crate::net::Reach::Internet);
    }

    #[test]
    fn apps_lists_only_created_apps() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        fs::create_dir_all(root.apps_dir().join("beta")).unwrap();
        fs::write(root.apps_dir().join("beta/app.toml"), "").unwrap();
        fs::create_dir_all(root.apps_dir().join("half-made")).unwrap();
        fs::create_dir_all(root.apps_dir().join("Bad_Name")).unwrap();
        fs::write(root.apps_dir().join("Bad_Name/app.toml"), "").unwrap();
        assert_eq!(root.apps().unwrap(), vec![AppName::parse("beta").unwrap()]);
    }
}
