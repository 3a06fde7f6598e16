//! Images in podman's store that nothing needs: `paas server prune`, and
//! an app's old images after a push.

use std::collections::HashSet;

use serde::Deserialize;

use super::app_images::install_prefix;
use super::run;
use crate::runtime::KeptImages;
use crate::state::AppName;

/// One image as `podman images --format json` lists it.
#[derive(Deserialize)]
struct Listed {
    #[serde(rename = "Id")]
    id: String,
    #[serde(rename = "Names", default)]
    names: Option<Vec<String>>,
    #[serde(rename = "ParentId", default)]
    parent: Option<String>,
}

fn list() -> Vec<Listed> {
    let Ok(listing) = run(&["images", "--all", "--format", "json"]) else {
        return Vec::new();
    };
    serde_json::from_str(&listing).unwrap_or_default()
}

/// The `podman images` arguments for `app_image_use` (`server status` runs
/// them as the install's owner).
pub const LISTING_ARGS: [&str; 3] = ["images", "--format", "json"];

/// Each app's images of this install, from what `LISTING_ARGS` lists: how
/// many, and the sum of podman's size of each (layers they share, such as
/// a base image, count in each).
pub fn app_image_use(
    json: &str,
    install_id: &str,
) -> crate::error::Result<std::collections::BTreeMap<String, (usize, u64)>> {
    #[derive(Deserialize)]
    struct Sized {
        #[serde(rename = "Names", default)]
        names: Option<Vec<String>>,
        #[serde(rename = "Size", default)]
        size: u64,
    }
    use crate::error::Context;
    let listed: Vec<Sized> =
        serde_json::from_str(json).context(|| "reading `podman images` output".into())?;
    let prefix = install_prefix(install_id);
    let mut by_app = std::collections::BTreeMap::new();
    for image in listed {
        let app = image
            .names
            .iter()
            .flatten()
            .find_map(|name| app_of(name, &prefix));
        if let Some(app) = app {
            let (count, bytes) = by_app.entry(app.to_string()).or_insert((0, 0));
            *count += 1;
            *bytes += image.size;
        }
    }
    Ok(by_app)
}

/// `sha256:<hex>`, however podman wrote it.
fn full_id(id: &str) -> String {
    match id.strip_prefix("sha256:") {
        Some(_) => id.to_string(),
        None => format!("sha256:{id}"),
    }
}

/// The app an image name of this install is an app image of
/// (`localhost/paas-<install>/<app>:v3` → `app`).
fn app_of<'a>(name: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = name.strip_prefix(prefix)?;
    Some(rest.split(':').next().unwrap_or(rest))
}

/// The names of `app`'s images (`localhost/paas-<install>/<app>:…`) whose
/// image `keep` (ids, `sha256:…`) does not hold: an image goes with its
/// last name, unless a container uses it (podman refuses then, and it
/// stays named). Returns the names removed.
pub fn remove_app_images(install_id: &str, app: &AppName, keep: &HashSet<String>) -> Vec<String> {
    let prefix = install_prefix(install_id);
    let mut removed = Vec::new();
    for image in list() {
        if keep.contains(&full_id(&image.id)) {
            continue;
        }
        for name in image.names.unwrap_or_default() {
            if app_of(&name, &prefix) == Some(app.as_str()) && run(&["rmi", &name]).is_ok() {
                removed.push(name);
            }
        }
    }
    removed
}

/// A renamed app's images take its new name (`localhost/paas-<install>/
/// <new>:` and the tag they had), and lose the old one: a new app of the
/// old name would otherwise prune them (an image goes with its last name)
/// and build `FROM` them as its own. The images `ids` holds (the renamed
/// app's releases') move whatever else holds the old name; with `all`
/// (the old name is no app's), every image of the old name moves.
pub fn rename_app_images(
    install_id: &str,
    old: &AppName,
    new: &AppName,
    ids: &HashSet<String>,
    all: bool,
) -> crate::error::Result<()> {
    let prefix = install_prefix(install_id);
    for image in list() {
        if !all && !ids.contains(&full_id(&image.id)) {
            continue;
        }
        for name in image.names.unwrap_or_default() {
            if app_of(&name, &prefix) != Some(old.as_str()) {
                continue;
            }
            let tag = name.rsplit_once(':').map_or("", |(_, tag)| tag);
            let renamed = format!("{prefix}{new}:{tag}");
            // The new name first: the image never has none.
            run(&["tag", &image.id, &renamed])?;
            run(&["untag", &image.id, &name])?;
        }
    }
    Ok(())
}

/// Images paas built (`localhost/paas-…`) that `kept` does not name (an
/// older stack's or add-on's, after an upgrade), this install's app images
/// of apps that are gone, and dangling images (no name left) that no named
/// image was built from. Another install's app images stay. Podman refuses
/// to remove an image a container uses, so those stay. Returns what was
/// removed, by name or short id.
pub fn remove_unused(kept: &KeptImages) -> Vec<String> {
    let prefix = install_prefix(kept.install_id);
    let mut removed = Vec::new();
    for image in list() {
        let names = image.names.unwrap_or_default();
        let id = full_id(&image.id);
        let (apps, others): (Vec<&String>, Vec<&String>) =
            names.iter().partition(|name| is_app_image(name));
        for name in apps {
            let gone_app = app_of(name, &prefix)
                .is_some_and(|app| !kept.apps.iter().any(|a| a.as_str() == app));
            if gone_app && !kept.ids.contains(&id) && run(&["rmi", name]).is_ok() {
                removed.push(name.clone());
            }
        }
        let unused = !names.is_empty()
            && others.len() == names.len()
            && others.iter().all(|name| {
                name.starts_with("localhost/paas-") && !kept.names.contains(&name.as_str())
            });
        if unused && run(&["rmi", &image.id]).is_ok() {
            removed.push(names[0].clone());
        }
    }
    // Listed again, as removing an image removes the parents only it had.
    for id in dangling_unneeded(&list()) {
        if run(&["rmi", &id]).is_ok() {
            removed.push(id.chars().take(12).collect());
        }
    }
    removed
}

/// The images with no name that no named image was built from. A
/// Dockerfile's build leaves one per step, the parents of its image: they
/// are its layer cache (`Using cache` on the next build), and stay.
fn dangling_unneeded(images: &[Listed]) -> Vec<String> {
    let parents: std::collections::HashMap<&str, &str> = images
        .iter()
        .filter_map(|i| Some((i.id.as_str(), i.parent.as_deref()?)))
        .filter(|(_, parent)| !parent.is_empty())
        .collect();
    let mut ancestors: HashSet<&str> = HashSet::new();
    for image in images.iter().filter(|i| is_named(i)) {
        let mut next = parents.get(image.id.as_str());
        while let Some(parent) = next {
            if !ancestors.insert(parent) {
                break;
            }
            next = parents.get(parent);
        }
    }
    images
        .iter()
        .filter(|i| !is_named(i) && !ancestors.contains(i.id.as_str()))
        .map(|i| i.id.clone())
        .collect()
}

fn is_named(image: &Listed) -> bool {
    image.names.as_ref().is_some_and(|names| !names.is_empty())
}

/// An app image of some install (`localhost/paas-<install>/<app>:…`),
/// not a stack's or an add-on's (`localhost/paas-stack-run:…`).
pub fn is_app_image(name: &str) -> bool {
    name.strip_prefix("localhost/paas-")
        .is_some_and(|rest| rest.contains('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_use_is_counted_by_app_for_this_install_only() {
        let json = r#"[
          {"Id": "a1", "Names": ["localhost/paas-ab12/shop:v1-0011aabbccdd"], "Size": 2000},
          {"Id": "a2", "Names": ["localhost/paas-ab12/shop:v2-0011aabbccee"], "Size": 3000},
          {"Id": "b1", "Names": ["localhost/paas-cd34/shop:v1-0011aabbccdd"], "Size": 9000},
          {"Id": "c1", "Names": ["localhost/paas-stack-run:bookworm"], "Size": 9000},
          {"Id": "d1", "Size": 10}
        ]"#;
        let used = app_image_use(json, "ab12").unwrap();
        assert_eq!(used.len(), 1);
        assert_eq!(used["shop"], (2, 5000));
    }

    #[test]
    fn app_images_are_told_from_stacks_and_by_their_app() {
        assert!(is_app_image("localhost/paas-ab12/shop:v3"));
        assert!(!is_app_image("localhost/paas-stack-run:bookworm-1"));
        assert!(!is_app_image("docker.io/library/busybox:latest"));
        let prefix = install_prefix("ab12");
        assert_eq!(app_of("localhost/paas-ab12/shop:v3", &prefix), Some("shop"));
        assert_eq!(app_of("localhost/paas-cd34/shop:v3", &prefix), None);
        assert_eq!(full_id("00ff"), "sha256:00ff");
    }

    #[test]
    fn a_builds_cached_steps_stay_while_an_image_made_from_them_does() {
        let json = r#"[
            {"Id": "c3", "ParentId": "c2", "Names": ["localhost/paas-ab12/shop:v2"]},
            {"Id": "c2", "ParentId": "c1"},
            {"Id": "c1", "ParentId": ""},
            {"Id": "old2", "ParentId": "old1"},
            {"Id": "old1"},
            {"Id": "stack", "Names": ["localhost/paas-stack-run:x"]}
        ]"#;
        let images: Vec<Listed> = serde_json::from_str(json).unwrap();
        assert_eq!(dangling_unneeded(&images), ["old2", "old1"]);
        assert_eq!(full_id("sha256:00ff"), "sha256:00ff");
    }
}
