//! Add-ons: PostgreSQL and Redis, each a rootless podman container with a
//! named volume for its data, reachable only by the apps attached to it.
//!
//! What an add-on is lives in `addons/<name>/` (see docs/state.md); which
//! apps use it lives in their releases (`Release::addons`), so attaching is
//! a release like any config change and the two can never disagree.

pub mod backups;
pub mod lifecycle;
pub mod names;
pub mod postgres_stats;
pub mod service;
pub mod transfer;

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Context, Error, Result};
use crate::release::Ledger;
use crate::state::{self, AppName, Lock, Root};

/// The services paas runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Postgres,
    Redis,
}

impl Kind {
    /// `postgres`, `postgresql`, `heroku-postgresql[:plan]`, `redis`, `heroku-redis`.
    pub fn parse(text: &str) -> Result<Kind> {
        let service = text.split(':').next().unwrap_or_default();
        match service.to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" | "heroku-postgresql" | "pg" => Ok(Kind::Postgres),
            "redis" | "heroku-redis" => Ok(Kind::Redis),
            _ => Err(Error::new(format!(
                "`{}` is not an add-on service",
                text.chars().take(40).collect::<String>()
            ))
            .hint("the services are `postgres` and `redis`")),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Postgres => "postgres",
            Kind::Redis => "redis",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Kind::Postgres => "PostgreSQL",
            Kind::Redis => "Redis",
        }
    }

    /// The attachment name when `--as` is not given (`DATABASE_URL`).
    pub fn default_as(self) -> &'static str {
        match self {
            Kind::Postgres => "DATABASE",
            Kind::Redis => "REDIS",
        }
    }

    pub fn port(self) -> u16 {
        match self {
            Kind::Postgres => 5432,
            Kind::Redis => 6379,
        }
    }
}

/// `addon.toml`: one add-on.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Addon {
    pub name: String,
    pub kind: Kind,
    /// What the running server reports (`15.14`, `7.0.15`).
    pub version: String,
    pub image: String,
    pub created_at: String,
    pub created_by: String,
    /// The app it was created for: destroying it names this app.
    pub app: String,
    /// Published on the server's loopback on this port (`addons:expose`).
    #[serde(default)]
    pub exposed_port: Option<u16>,
    /// Daily backups (`pg:backups:schedule`).
    #[serde(default)]
    pub schedule: Option<backups::Schedule>,
}

/// `credentials.toml` (0600): how apps log in.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Credentials {
    pub user: String,
    pub password: String,
    pub database: String,
}

/// `addresses.toml`: the add-on's fixed address on each attached app's
/// network, which dynos find in their `/etc/hosts` under its name.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Addresses {
    #[serde(default)]
    pub apps: BTreeMap<String, String>,
}

/// An add-on name: lowercase letters, digits and dashes, starting with a
/// letter, at most 40 characters. It names a directory and a container.
pub fn parse_name(text: &str) -> Result<String> {
    let valid = !text.is_empty()
        && text.len() <= 40
        && text.starts_with(|c: char| c.is_ascii_lowercase())
        && !text.ends_with('-')
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if valid {
        Ok(text.to_string())
    } else {
        Err(Error::new(format!(
            "`{}` is not an add-on name",
            text.chars().take(40).collect::<String>()
        ))
        .hint("add-on names are lowercase letters, digits and dashes, like `postgres-brave-4821`"))
    }
}

/// A random secret for credentials: 32 hex digits from the kernel's
/// generator, or an error (never a predictable value).
pub fn secret() -> Result<String> {
    crate::random::hex(16)
}

/// One add-on's directory.
#[derive(Debug, Clone)]
pub struct AddonDir {
    pub name: String,
    pub path: PathBuf,
}

impl Root {
    pub fn addons_dir(&self) -> PathBuf {
        self.path.join("addons")
    }

    pub fn addon(&self, name: &str) -> AddonDir {
        AddonDir {
            name: name.to_string(),
            path: self.addons_dir().join(name),
        }
    }

    /// Every add-on, in name order.
    pub fn addons(&self) -> Result<Vec<Addon>> {
        let dir = self.addons_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(err).context(|| format!("listing `{}`", dir.display())),
        };
        let mut addons: Vec<Addon> = entries
            .flatten()
            .filter_map(|entry| parse_name(entry.file_name().to_str()?).ok())
            .filter_map(|name| self.addon(&name).read().ok())
            .collect();
        addons.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(addons)
    }
}

impl AddonDir {
    fn file(&self) -> PathBuf {
        self.path.join("addon.toml")
    }
    pub fn credentials_file(&self) -> PathBuf {
        self.path.join("credentials.toml")
    }
    fn addresses_file(&self) -> PathBuf {
        self.path.join("addresses.toml")
    }
    pub fn backups_dir(&self) -> PathBuf {
        self.path.join("backups")
    }
    /// Redis reads its password from here (mounted read-only).
    pub fn redis_conf(&self) -> PathBuf {
        self.path.join("redis.conf")
    }

    pub fn exists(&self) -> bool {
        self.file().exists()
    }

    /// The add-on, or an error naming it and how to list them.
    pub fn read(&self) -> Result<Addon> {
        if !self.exists() {
            return Err(self.missing());
        }
        state::read_toml(&self.file())
    }

    /// The answer for an add-on that does not exist, and for one the user
    /// may not see (`access`): the same.
    pub fn missing(&self) -> Error {
        Error::new(format!("add-on `{}` does not exist", self.name))
            .hint("`paas addons` lists them")
    }

    pub fn write(&self, addon: &Addon) -> Result<()> {
        state::write_toml(&self.file(), addon, 0o600)
    }

    pub fn credentials(&self) -> Result<Credentials> {
        state::read_toml(&self.credentials_file())
    }

    pub fn write_credentials(&self, credentials: &Credentials) -> Result<()> {
        state::write_toml(&self.credentials_file(), credentials, 0o600)
    }

    pub fn addresses(&self) -> Result<Addresses> {
        if !self.addresses_file().exists() {
            return Ok(Addresses::default());
        }
        state::read_toml(&self.addresses_file())
    }

    pub fn write_addresses(&self, addresses: &Addresses) -> Result<()> {
        state::write_toml(&self.addresses_file(), addresses, 0o600)
    }

    /// Held while the add-on's files or container change.
    pub fn lock(&self) -> Result<Lock> {
        Lock::acquire(
            &self.path.join("lock"),
            &format!(
                "waiting for another operation on `{}` to finish…",
                self.name
            ),
        )
    }
}

impl Addon {
    /// The URL an app gets: credentials, the add-on's name as the host
    /// (dynos have it in `/etc/hosts`), the port.
    pub fn url(&self, credentials: &Credentials) -> String {
        match self.kind {
            Kind::Postgres => format!(
                "postgres://{}:{}@{}:{}/{}",
                credentials.user,
                credentials.password,
                self.name,
                self.kind.port(),
                credentials.database
            ),
            Kind::Redis => format!(
                "redis://default:{}@{}:{}",
                credentials.password,
                self.name,
                self.kind.port()
            ),
        }
    }
}

/// Which apps use an add-on, and as which vars: from each app's current release.
pub fn attachments(root: &Root, addon: &str) -> Result<Vec<(AppName, String)>> {
    let mut found = Vec::new();
    for app in root.apps()? {
        if let Some(release) = Ledger::new(&root.app(&app)).current()? {
            for (var, name) in &release.addons {
                if name == addon {
                    found.push((app.clone(), var.clone()));
                }
            }
        }
    }
    Ok(found)
}

/// Where an app's dynos run and which add-ons they find by name: the app's
/// own network (made if missing) and each attached add-on's address on it.
pub fn dyno_network(
    root: &Root,
    runtime: &dyn crate::runtime::Runtime,
    app: &AppName,
    release: &crate::release::Release,
) -> Result<(String, Vec<(String, String)>)> {
    let network = runtime.app_network(app)?;
    if let Err(err) = network.isolated {
        say!(" !     warning: {}", err.report().trim_end());
    }
    let mut hosts: Vec<(String, String)> = release
        .addons
        .values()
        .filter_map(|name| {
            let ip = root
                .addon(name)
                .addresses()
                .ok()?
                .apps
                .get(app.as_str())?
                .clone();
            Some((name.clone(), ip))
        })
        .collect();
    hosts.sort();
    hosts.dedup();
    Ok((network.name, hosts))
}

/// `DATABASE` or `DATABASE_URL` → `DATABASE_URL`; refuses what is not a var name.
pub fn attachment_var(text: &str) -> Result<String> {
    let base = text
        .strip_suffix("_URL")
        .unwrap_or(text)
        .to_ascii_uppercase();
    let var = format!("{base}_URL");
    crate::state::ConfigKey::parse(&var).map_err(|_| {
        Error::new(format!(
            "`{}` is not an attachment name",
            text.chars().take(40).collect::<String>()
        ))
        .hint("use letters, digits and underscores, like `--as ANALYTICS`")
    })?;
    Ok(var)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_parse_by_heroku_names_too() {
        assert_eq!(Kind::parse("postgres").unwrap(), Kind::Postgres);
        assert_eq!(
            Kind::parse("heroku-postgresql:essential-0").unwrap(),
            Kind::Postgres
        );
        assert_eq!(Kind::parse("heroku-redis").unwrap(), Kind::Redis);
        let err = Kind::parse("mysql").unwrap_err();
        assert_eq!(err.message(), "`mysql` is not an add-on service");
    }

    #[test]
    fn names_and_attachment_vars_are_checked() {
        assert!(parse_name("postgres-brave-4821").is_ok());
        for bad in ["", "Postgres", "pg_1", "-x", "x-", "a/b", &"x".repeat(41)] {
            assert!(parse_name(bad).is_err(), "{bad}");
        }
        assert_eq!(attachment_var("DATABASE").unwrap(), "DATABASE_URL");
        assert_eq!(attachment_var("analytics_URL").unwrap(), "ANALYTICS_URL");
        assert!(attachment_var("BAD NAME").is_err());
        assert!(attachment_var("1X").is_err());
    }

    #[test]
    fn urls_carry_credentials_and_the_add_on_as_host() {
        let addon = Addon {
            name: "postgres-brave-4821".into(),
            kind: Kind::Postgres,
            version: "15.14".into(),
            image: "img".into(),
            created_at: String::new(),
            created_by: String::new(),
            app: "demo".into(),
            exposed_port: None,
            schedule: None,
        };
        let credentials = Credentials {
            user: "u1".into(),
            password: "secret".into(),
            database: "d1".into(),
        };
        assert_eq!(
            addon.url(&credentials),
            "postgres://u1:secret@postgres-brave-4821:5432/d1"
        );
        let redis = Addon {
            kind: Kind::Redis,
            name: "redis-calm-1".into(),
            ..addon
        };
        assert_eq!(
            redis.url(&credentials),
            "redis://default:secret@redis-calm-1:6379"
        );
    }
}
