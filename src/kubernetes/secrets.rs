//! Old config Secrets pruned: every release applies a Secret of its own
//! (`config-v<N>`), so they pile up on the cluster, one per config
//! change, push and rollback. Those of the releases kept for rollback
//! stay (as their slugs and images stay here, `prune`): a Deployment's
//! old ReplicaSets name them, so `kubectl rollout undo` still starts
//! pods; the others are deleted after a successful rollout.

use std::collections::BTreeSet;

use super::manifests::{config_secret, APP_LABEL};
use super::scheduler::OnCluster;
use crate::error::Result;

/// The release a Secret's name says it holds: `secret/config-v7` → 7.
fn secret_version(name: &str) -> Option<u32> {
    let name = name.trim();
    let name = name.strip_prefix("secret/").unwrap_or(name);
    let digits = name.strip_prefix("config-v")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

impl OnCluster<'_> {
    /// Deletes the app's config Secrets of releases not in `keep`;
    /// returns the names deleted. Other Secrets (cert-manager's `web-tls`,
    /// anything a person made) are not paas's and stay.
    pub fn prune_config_secrets(&self, keep: &BTreeSet<u32>) -> Result<Vec<String>> {
        let selector = format!("{APP_LABEL}={}", self.app);
        let listed = self.run(
            &[
                "get",
                "secrets",
                "-n",
                &self.namespace,
                "-l",
                &selector,
                "-o",
                "name",
            ],
            "list the app's Secrets",
        )?;
        let mut versions: Vec<u32> = listed
            .lines()
            .filter_map(secret_version)
            .filter(|version| !keep.contains(version))
            .collect();
        versions.sort_unstable();
        let names: Vec<String> = versions.into_iter().map(config_secret).collect();
        if names.is_empty() {
            return Ok(names);
        }
        let mut args = vec!["delete", "secret"];
        args.extend(names.iter().map(String::as_str));
        // Gone meanwhile (someone's `kubectl delete`) is as good as deleted.
        args.extend(["-n", &self.namespace, "--ignore-not-found"]);
        self.run(&args, "delete old config Secrets")?;
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::super::kubectl::{Exchange, Recorded};
    use super::super::scheduler::fixture::on;
    use super::*;

    #[test]
    fn secret_names_give_their_release() {
        assert_eq!(secret_version("secret/config-v7"), Some(7));
        assert_eq!(secret_version("config-v12\n"), Some(12));
        for other in [
            "secret/web-tls",
            "secret/config-v",
            "secret/config-v7-old",
            "config-vx",
        ] {
            assert_eq!(secret_version(other), None, "{other}");
        }
    }

    #[test]
    fn secrets_of_releases_not_kept_are_deleted() {
        let kubectl = Recorded::new(vec![
            Exchange::new(
                "get secrets -n paas-shop -l paas.app=shop -o name",
                "secret/config-v1\nsecret/config-v10\nsecret/config-v2\nsecret/config-v11\nsecret/config-v12\nsecret/web-tls\n",
            ),
            Exchange::new(
                "delete secret config-v1 config-v2 -n paas-shop --ignore-not-found",
                "secret \"config-v1\" deleted\nsecret \"config-v2\" deleted\n",
            ),
        ]);
        let keep = BTreeSet::from([10, 11, 12]);
        let deleted = on(&kubectl).prune_config_secrets(&keep).unwrap();
        kubectl.assert_done();
        assert_eq!(deleted, ["config-v1", "config-v2"]);
    }

    #[test]
    fn nothing_to_delete_asks_nothing_more() {
        let kubectl = Recorded::new(vec![Exchange::new(
            "get secrets -n paas-shop -l paas.app=shop -o name",
            "secret/config-v3\n",
        )]);
        let deleted = on(&kubectl)
            .prune_config_secrets(&BTreeSet::from([3]))
            .unwrap();
        kubectl.assert_done();
        assert!(deleted.is_empty());
    }

    #[test]
    fn a_failed_listing_is_an_error() {
        let kubectl = Recorded::new(vec![Exchange::failing(
            "get secrets -n paas-shop -l paas.app=shop -o name",
            "Error from server (Forbidden): secrets is forbidden\n",
        )]);
        let err = on(&kubectl)
            .prune_config_secrets(&BTreeSet::new())
            .unwrap_err();
        kubectl.assert_done();
        assert!(
            err.to_string()
                .contains("`kubectl` could not list the app's Secrets"),
            "{err}"
        );
    }
}
