//! Who may log in: the SSH keys registry (`keys/keys.toml`) and the
//! `authorized_keys` file derived from it. Every key gets the forced command
//! and `restrict`; admins may manage everyone's keys.

use std::fs;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Context, Error, Result};
use crate::state::{self, Lock, Root, Settings};
use crate::users::user_home;

/// The user of the key given at install time.
pub const FIRST_ADMIN: &str = "admin";

/// Where sshd reads the keys: the install's own file for a `--local`
/// install (its private sshd), else the owner's `~/.ssh/authorized_keys`.
pub fn authorized_keys_path(root: &Root, settings: &Settings) -> Result<PathBuf> {
    if settings.local {
        Ok(root.authorized_keys())
    } else {
        Ok(user_home(&settings.user)?.join(".ssh/authorized_keys"))
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Registry {
    #[serde(default, rename = "key")]
    pub keys: Vec<Key>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Key {
    pub user: String,
    #[serde(default)]
    pub admin: bool,
    /// `type base64 [comment]`, checked by `ssh::parse_public_key`.
    pub line: String,
    #[serde(default)]
    pub added_by: String,
    #[serde(default)]
    pub added_at: String,
    /// A deploy key (`keys:add --deploy -a APP`): it may only push to this
    /// app and read its builds, whoever added it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy: Option<String>,
}

impl Key {
    pub fn kind(&self) -> &str {
        self.line.split_whitespace().next().unwrap_or_default()
    }
    fn blob(&self) -> &str {
        self.line.split_whitespace().nth(1).unwrap_or_default()
    }
    pub fn comment(&self) -> String {
        self.line
            .split_whitespace()
            .skip(2)
            .collect::<Vec<_>>()
            .join(" ")
    }
    /// `SHA256:…`, as `ssh-keygen -l` prints it.
    pub fn fingerprint(&self) -> String {
        let bytes = STANDARD.decode(self.blob()).unwrap_or_default();
        format!("SHA256:{}", STANDARD_NO_PAD.encode(Sha256::digest(bytes)))
    }
}

impl Registry {
    fn path(root: &Root) -> std::path::PathBuf {
        root.keys_dir().join("keys.toml")
    }

    /// Holds the registry still while it is changed.
    pub fn lock(root: &Root) -> Result<Lock> {
        Lock::acquire(
            &root.keys_dir().join("lock"),
            "waiting for another key change to finish…",
        )
    }

    pub fn load(root: &Root) -> Result<Registry> {
        let path = Self::path(root);
        match fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).context(|| format!("reading `{}`", path.display())),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                Ok(Self::from_legacy_files(&root.keys_dir()))
            }
            Err(err) => Err(err).context(|| format!("reading `{}`", path.display())),
        }
    }

    /// Installs from before the registry kept one `keys/<user>.pub` per user.
    fn from_legacy_files(dir: &Path) -> Registry {
        let mut files: Vec<_> = fs::read_dir(dir)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "pub"))
            .collect();
        files.sort();
        let keys = files
            .iter()
            .filter_map(|path| {
                let user = path.file_stem()?.to_str()?.to_string();
                let line = crate::ssh::parse_public_key(&fs::read_to_string(path).ok()?).ok()?;
                Some(Key {
                    admin: user == FIRST_ADMIN,
                    user,
                    line,
                    added_by: String::new(),
                    added_at: String::new(),
                    deploy: None,
                })
            })
            .collect();
        Registry { keys }
    }

    pub fn is_admin(&self, user: &str) -> bool {
        self.keys
            .iter()
            .any(|k| k.user == user && k.admin && k.deploy.is_none())
    }

    /// Adds a key; a key already present (for anyone) is refused. Being an
    /// admin belongs to the user, so a new key of an admin is an admin key.
    pub fn add(&mut self, mut key: Key) -> Result<()> {
        key.admin = (key.admin || self.is_admin(&key.user)) && key.deploy.is_none();
        if !crate::ssh::valid_user_name(&key.user) {
            return Err(Error::new(format!(
                "`{}` is not a valid user name: use 1 to 32 lowercase letters, digits, `_` or `-`",
                key.user
            )));
        }
        if let Some(existing) = self.keys.iter().find(|k| k.blob() == key.blob()) {
            return Err(Error::new(format!(
                "that key ({}) is already added, for `{}`",
                key.fingerprint(),
                existing.user
            ))
            .hint("`paas keys` lists the keys"));
        }
        self.keys.push(key);
        Ok(())
    }

    /// The indices of the keys `wanted` names: a fingerprint or a comment.
    pub fn find(&self, wanted: &str) -> Vec<usize> {
        self.keys
            .iter()
            .enumerate()
            .filter(|(_, k)| k.fingerprint() == wanted || k.comment() == wanted)
            .map(|(i, _)| i)
            .collect()
    }

    /// Removes one key, refusing to remove the last admin's last key.
    pub fn remove(&mut self, index: usize) -> Result<Key> {
        let key = self.keys[index].clone();
        let admins_left = self
            .keys
            .iter()
            .enumerate()
            .filter(|(i, k)| *i != index && k.admin)
            .count();
        if key.admin && admins_left == 0 {
            return Err(Error::new(format!(
                "{} is the last admin key: removing it would lock every admin out",
                key.fingerprint()
            ))
            .hint("add another admin key first: `paas keys:add --user NAME --admin FILE.pub`"));
        }
        self.keys.remove(index);
        Ok(key)
    }

    /// Writes the registry, then `authorized_keys` from it, each atomically.
    pub fn save(&self, root: &Root, settings: &Settings) -> Result<()> {
        let text = toml::to_string(self).context(|| "encoding keys".into())?;
        state::write_atomic(&Self::path(root), text.as_bytes(), 0o600)?;
        self.write_authorized_keys(root, settings)
    }

    /// `authorized_keys`: one line per key, each running the forced command.
    pub fn write_authorized_keys(&self, root: &Root, settings: &Settings) -> Result<()> {
        let mut lines = String::new();
        for key in &self.keys {
            // Rechecked on every write: the registry is a file someone could edit.
            let line_ok = crate::ssh::parse_public_key(&key.line).is_ok_and(|l| l == key.line);
            let deploy_ok = key
                .deploy
                .as_deref()
                .is_none_or(|app| crate::state::AppName::parse(app).is_ok());
            if !crate::ssh::valid_user_name(&key.user) || !line_ok || !deploy_ok {
                return Err(Error::new(format!(
                    "the key registry holds an invalid entry (user `{}`)",
                    key.user.escape_debug()
                ))
                .hint("fix or remove it in `keys/keys.toml`, then run the command again"));
            }
            lines.push_str(&crate::ssh::authorized_keys_line(
                &root.bin().display().to_string(),
                &root.path.display().to_string(),
                &crate::ssh::ForcedCommand {
                    user: &key.user,
                    fingerprint: &key.fingerprint(),
                    deploy: key.deploy.as_deref(),
                },
                &key.line,
            ));
            lines.push('\n');
        }
        let path = authorized_keys_path(root, settings)?;
        if fs::read_to_string(&path).ok().as_deref() == Some(lines.as_str()) {
            return Ok(());
        }
        if let Some(parent) = path.parent() {
            state::create_dir(parent, 0o700)?;
        }
        state::write_atomic(&path, lines.as_bytes(), 0o600)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED25519: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEYI982HLtQzrJEeeQ3neythaQxf0CNAGRSUpr+nl3jn dev@laptop";

    fn key(user: &str, admin: bool, line: &str) -> Key {
        Key {
            user: user.into(),
            admin,
            line: line.into(),
            added_by: String::new(),
            added_at: String::new(),
            deploy: None,
        }
    }

    #[test]
    fn fingerprints_match_ssh_keygen() {
        // `ssh-keygen -lf` on ED25519 prints this fingerprint.
        let k = key("dev", false, ED25519);
        assert_eq!(
            k.fingerprint(),
            "SHA256:0QcPXA+AAYqKVA6b0Iou56im3YnpuLWjPz8ObkVUl7E"
        );
        assert_eq!(k.comment(), "dev@laptop");
        assert_eq!(k.kind(), "ssh-ed25519");
    }

    #[test]
    fn duplicates_and_the_last_admin_are_refused() {
        let mut registry = Registry::default();
        registry.add(key("admin", true, ED25519)).unwrap();
        let again = registry.add(key("other", false, ED25519)).unwrap_err();
        assert!(again.message().contains("already added, for `admin`"));
        let bad_user = registry
            .add(key(
                "Bad User",
                false,
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB x",
            ))
            .unwrap_err();
        assert!(bad_user.message().contains("not a valid user name"));
        let last = registry.remove(0).unwrap_err();
        assert!(last.message().contains("last admin key"), "{last}");
        assert_eq!(registry.find("dev@laptop"), vec![0]);
        assert!(registry.is_admin("admin"));
        assert!(!registry.is_admin("other"));
    }
}
