//! Images in podman's store that nothing needs: `paas server prune`.

use serde::Deserialize;

use super::run;

/// One image as `podman images --format json` lists it.
#[derive(Deserialize)]
struct Listed {
    #[serde(rename = "Id")]
    id: String,
    #[serde(rename = "Names", default)]
    names: Option<Vec<String>>,
}

/// Images paas built (`localhost/paas-…`) that `keep` does not name (an
/// older stack's or add-on's, after an upgrade), and dangling images (no
/// name left). Podman refuses to remove an image a container uses, so
/// those stay. Returns what was removed, by name or short id.
pub fn remove_unused(keep: &[&str]) -> Vec<String> {
    let Ok(listing) = run(&["images", "--all", "--format", "json"]) else {
        return Vec::new();
    };
    let images: Vec<Listed> = serde_json::from_str(&listing).unwrap_or_default();
    let mut removed = Vec::new();
    for image in images {
        let names = image.names.unwrap_or_default();
        let unused = if names.is_empty() {
            true
        } else {
            names
                .iter()
                .all(|name| name.starts_with("localhost/paas-") && !keep.contains(&name.as_str()))
        };
        if !unused {
            continue;
        }
        // An intermediate layer of a kept image is listed with no name too:
        // podman refuses to remove it, as it refuses one a container uses.
        if run(&["rmi", &image.id]).is_ok() {
            removed.push(
                names
                    .first()
                    .cloned()
                    .unwrap_or_else(|| image.id.chars().take(12).collect::<String>()),
            );
        }
    }
    removed
}
