//! Dynos' environment files: a dyno's config vars, written (0600) before
//! its container is made and mounted read-only into it, one per container
//! and named after it. Their names tell which dynos may be left.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::PathBuf;

use crate::state::{AppName, Root};

/// Where dynos' environment files are (0600, one per container, named
/// after it).
pub(super) fn env_dir(root: &Root) -> PathBuf {
    root.run_dir().join("env")
}

/// `export KEY='value'` lines, each value single-quoted so any byte survives.
pub(super) fn env_file_text(env: &BTreeMap<String, String>) -> String {
    env.iter()
        .map(|(key, value)| format!("{key}='{}'\n", value.replace('\'', r"'\''")))
        .collect()
}

/// `KEY=value` lines, as podman's `--env-file` reads them for a dyno of
/// an image (`Code::Image`), which becomes its environment. Podman 4
/// reads one line per var, with no quoting: a value spanning lines cannot
/// pass and is left out (`multi_line_vars` names them for a warning).
pub(super) fn podman_env_file_text(env: &BTreeMap<String, String>) -> String {
    env.iter()
        .filter(|(_, value)| !value.contains('\n'))
        .map(|(key, value)| format!("{key}={value}\n"))
        .collect()
}

/// Config vars a dyno of an image does not get: their values span lines
/// (see `podman_env_file_text`).
pub fn multi_line_vars(env: &BTreeMap<String, String>) -> Vec<&str> {
    env.iter()
        .filter(|(_, value)| value.contains('\n'))
        .map(|(key, _)| key.as_str())
        .collect()
}

/// Whether a dyno of `app` of `process_type` may exist, told without
/// asking podman: its environment file is there. Written before the
/// container is made and removed after it, so a container whose paas
/// process died leaves its file.
pub fn env_file_left(root: &Root, install_id: &str, app: &AppName, process_type: &str) -> bool {
    // `paas-<install>-<app>-<type>.<index>-v<release>-<instance>.env`: the
    // dot after the type, which app names lack, ends the app's name.
    let prefix = format!("paas-{install_id}-{app}-{process_type}.");
    fs::read_dir(env_dir(root)).is_ok_and(|entries| {
        entries.flatten().any(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            name.starts_with(&prefix) && name.ends_with(".env")
        })
    })
}

/// Removes env files (config vars, 0600) left by dynos that are gone: a
/// one-off removed by podman itself, or a `paas` process that died. Files
/// under a minute old may belong to a dyno being created right now.
/// `containers`: the app's containers podman lists.
pub fn sweep_env_files(root: &Root, install_id: &str, app: &AppName, containers: &HashSet<String>) {
    let prefix = format!("paas-{install_id}-");
    let Ok(entries) = fs::read_dir(env_dir(root)) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(container) = name.strip_suffix(".env") else {
            continue;
        };
        let ours = container
            .strip_prefix(&prefix)
            .and_then(app_of_container)
            .is_some_and(|name| name == app.as_str());
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().unwrap_or_default() > std::time::Duration::from_secs(60));
        if ours && old && !containers.contains(container) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// The app in `<app>-<type>.<index>-v<release>-<instance>`: app names have
/// dashes but no dots, dyno names have a dot, so the app ends at the last
/// dash before the first dot.
fn app_of_container(rest: &str) -> Option<&str> {
    let before_dot = &rest[..rest.find('.')?];
    Some(&before_dot[..before_dot.rfind('-')?])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_file_quotes_every_value() {
        let env = BTreeMap::from([
            ("A".to_string(), "it's $HOME; `x`".to_string()),
            ("B".to_string(), "line1\nline2".to_string()),
        ]);
        assert_eq!(
            env_file_text(&env),
            "A='it'\\''s $HOME; `x`'\nB='line1\nline2'\n"
        );
    }

    #[test]
    fn podmans_env_file_takes_values_as_they_are_but_not_across_lines() {
        let env = BTreeMap::from([
            ("A".to_string(), "it's $HOME; `x` = \"y\"".to_string()),
            ("B".to_string(), "line1\nline2".to_string()),
            ("C".to_string(), String::new()),
        ]);
        assert_eq!(
            podman_env_file_text(&env),
            "A=it's $HOME; `x` = \"y\"\nC=\n"
        );
        assert_eq!(multi_line_vars(&env), ["B"]);
    }

    #[test]
    fn env_files_tell_which_dynos_may_be_left() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let app = AppName::parse("shop").unwrap();
        let left = |process_type: &str| env_file_left(&root, "ab12", &app, process_type);
        assert!(!left("release"), "no env dir yet");
        fs::create_dir_all(env_dir(&root)).unwrap();
        for name in [
            "paas-ab12-shop-web.1-v3-00aa11bb.env",
            // Another app whose name ends in `-release`, another install.
            "paas-ab12-shop-release-web.1-v1-00aa11bb.env",
            "paas-cd34-shop-release.1-v4-00aa11bb.env",
        ] {
            fs::write(env_dir(&root).join(name), "").unwrap();
        }
        assert!(left("web"));
        assert!(!left("release"));
        fs::write(
            env_dir(&root).join("paas-ab12-shop-release.1-v4-00aa11bb.env"),
            "",
        )
        .unwrap();
        assert!(left("release"));
    }

    #[test]
    fn container_names_give_their_app() {
        assert_eq!(app_of_container("web-web.1-v3-ab12cd34"), Some("web"));
        assert_eq!(
            app_of_container("web-api-web.1-v3-ab12cd34"),
            Some("web-api")
        );
        assert_eq!(app_of_container("a-b-c-worker.12-v1-00"), Some("a-b-c"));
        assert_eq!(app_of_container("nodot"), None);
    }
}
