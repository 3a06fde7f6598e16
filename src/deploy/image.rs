//! Apps that run an image of their own (#22): a push whose tree has a
//! `Dockerfile` (and no buildpack chosen) is built into one, and
//! `releases:create --image` deploys one already made, as it is. Either
//! way the image is named `localhost/paas-<install>/<app>:v<N>-<random>`
//! (`app_image_name`) and the release records its id.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use super::{discover_processes, Built};
use crate::build;
use crate::converge::{Mode, Platform, APP_JSON_LIMIT};
use crate::error::{Error, Result};
use crate::release::{self, short_image_id, ImageRef, Ledger, Release};
use crate::rollout::{default_formation, roll_out};
use crate::runtime::image_default_command;
use crate::runtime::podman::app_images::{self, app_image_name, ImageInfo};
use crate::runtime::podman::images::is_app_image;
use crate::state::{self, AppDir};

/// The Dockerfile's build of the pushed tree, as the image release
/// `version` runs with `config`: its process types are the Procfile's,
/// with the image's own command as `web` when the Procfile names none.
pub(super) fn build(
    platform: &Platform,
    app: &AppDir,
    build_dir: &Path,
    version: u32,
    config: BTreeMap<String, String>,
) -> Result<Built> {
    say!("-----> Building with the Dockerfile");
    let name = app_image_name(&platform.settings.install_id, &app.name, version);
    let started = Instant::now();
    let image = build::dockerfile::build(platform.settings, app, build_dir, &name)?;
    say!("       Built {name} ({})", short_image_id(&image.id));
    let processes = discover_processes(build_dir, &default_web(&image), "the image")?;
    if processes.is_empty() {
        return Err(Error::new(
            "no process types: the app has no Procfile and its image names no command",
        )
        .hint("give the Dockerfile a `CMD` that starts the app on $PORT, or add a Procfile such as `web: ./server`"));
    }
    // A broken app.json fails the build, not the launch.
    crate::checks::load(build_dir)?;
    crate::cron::check_app_json(build_dir)?;
    let app_json = state::read_untrusted(&build_dir.join("app.json"), APP_JSON_LIMIT)?;
    Ok(Built {
        slug: None,
        image: Some(ImageRef {
            id: image.id,
            name,
            app_json,
        }),
        processes,
        config,
        started,
        packed: None,
    })
}

/// `web` as the image runs by itself, if it names a command.
fn default_web(image: &ImageInfo) -> BTreeMap<String, String> {
    image_default_command(&image.entrypoint, &image.cmd)
        .map(|command| BTreeMap::from([("web".to_string(), command)]))
        .unwrap_or_default()
}

/// `releases:create --image REFERENCE`: the image (in the server's store,
/// else pulled from wherever podman pulls) deployed as it is, its own
/// command as `web`, with the current config vars and add-ons. Returns
/// the release's version. Takes the app's lock.
pub fn deploy_image(platform: &Platform, user: &str, app: &AppDir, reference: &str) -> Result<u32> {
    check_reference(reference, &platform.settings.install_id, app)?;
    let _lock = app.lock()?;
    check_owner(reference, &platform.settings.install_id, app)?;
    let (image, pulled) = match app_images::inspect(reference)? {
        Some(image) => (image, false),
        None => {
            say!("-----> Pulling {reference}");
            app_images::pull(reference)?;
            let image = app_images::inspect(reference)?.ok_or_else(|| {
                Error::unexpected(format!("`podman pull {reference}` left no image"))
            })?;
            (image, true)
        }
    };
    let Some(web) = default_web(&image).remove("web") else {
        return Err(Error::new(format!("`{reference}` names no command to run"))
            .hint("give the image a `CMD` (or an `ENTRYPOINT`) that starts the app on $PORT"));
    };
    let ledger = Ledger::new(app);
    let current = ledger.current()?;
    let version = ledger.next_version()?;
    let name = app_image_name(&platform.settings.install_id, &app.name, version);
    // Named for this app: the image stays while a release needs it, even
    // if `reference` moves or goes.
    app_images::tag(&image.id, &name)?;
    if pulled {
        // The name pulled goes: another app's build could otherwise use
        // this copy by it (`FROM REFERENCE`) without pulling it itself,
        // which a private image's credentials might not allow, and the
        // image goes with the app's last release that needs it.
        if let Err(err) = app_images::untag(&image.id, reference) {
            say!("       (could not take the name `{reference}` off the pulled image: {err})");
        }
    }
    let release = Release {
        version,
        description: format!("Deploy image {reference} ({})", short_image_id(&image.id)),
        user: user.to_string(),
        created_at: release::now_rfc3339(),
        commit: None,
        slug: None,
        image: Some(ImageRef {
            id: image.id,
            name,
            app_json: None,
        }),
        processes: BTreeMap::from([("web".to_string(), web)]),
        config: current
            .as_ref()
            .map(|r| r.config.clone())
            .unwrap_or_default(),
        addons: current.map(|r| r.addons).unwrap_or_default(),
        failed: None,
    };
    let formation = default_formation(app, &release)?;
    roll_out(platform, app, &release, &formation, Mode::Keep, None)?;
    crate::prune::old_images(platform.runtime, app);
    Ok(version)
}

/// Refuses what is not an image reference (`-x` would reach podman as a
/// flag), and paas's own images but the app's: another app's image holds
/// its code, a stack or add-on image is no app.
fn check_reference(reference: &str, install_id: &str, app: &AppDir) -> Result<()> {
    let plain = !reference.is_empty()
        && !reference.starts_with('-')
        && reference.chars().all(|c| c.is_ascii_graphic());
    if !plain {
        return Err(
            Error::new(format!("`{reference}` is not an image reference"))
                .hint("name it as podman does: `localhost/myapp:1.2`, `ghcr.io/me/app@sha256:…`"),
        );
    }
    let own = app_images::own_prefix(install_id, &app.name);
    if reference.starts_with("localhost/paas-") && !reference.starts_with(&own) {
        return Err(Error::new(format!(
            "`{reference}` is one of paas's own images, not one of `{}`'s",
            app.name
        ))
        .hint(format!(
            "`paas releases:rollback -a {}` runs one of its earlier releases again",
            app.name
        )));
    }
    Ok(())
}

/// Refuses a reference the store resolves to an image only other apps'
/// names hold (by digest or id), or that names one by an id prefix, which
/// may come to mean another image by the time it is used.
fn check_owner(reference: &str, install_id: &str, app: &AppDir) -> Result<()> {
    let bare = reference.strip_prefix("sha256:").unwrap_or(reference);
    if bare.len() < 64 && bare.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(Error::new(format!(
            "`{reference}` is an image id prefix, which may come to mean another image"
        ))
        .hint("name the image (`localhost/myapp:1.2`) or give its whole id"));
    }
    let own = app_images::own_prefix(install_id, &app.name);
    if let Some((_, names)) = app_images::names_of(reference)? {
        if !names
            .iter()
            .any(|n| n.starts_with(&own) || !is_app_image(n))
        {
            return Err(Error::new(format!(
                "`{reference}` is not an image `{}` may deploy",
                app.name
            ))
            .hint(format!(
                "`paas releases:rollback -a {}` runs one of its earlier releases again",
                app.name
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{AppName, Root};

    #[test]
    fn image_references_are_checked_before_podman_sees_them() {
        let root = Root::new("/nonexistent");
        let app = root.app(&AppName::parse("shop").unwrap());
        for good in [
            "localhost/prebuilt:1",
            "ghcr.io/me/app@sha256:00ff",
            "localhost/paas-ab12/shop:v3",
        ] {
            assert!(check_reference(good, "ab12", &app).is_ok(), "{good}");
        }
        let err = check_reference("--help", "ab12", &app).unwrap_err();
        assert_eq!(err.message(), "`--help` is not an image reference");
        assert!(check_reference("a b", "ab12", &app).is_err());
        let err = check_reference("localhost/paas-ab12/other:v1", "ab12", &app).unwrap_err();
        assert_eq!(
            err.message(),
            "`localhost/paas-ab12/other:v1` is one of paas's own images, not one of `shop`'s"
        );
        assert!(check_reference("localhost/paas-stack-run:bookworm-1", "ab12", &app).is_err());
    }

    #[test]
    fn an_images_own_command_is_web() {
        let image = ImageInfo {
            id: "sha256:00".into(),
            entrypoint: vec![],
            cmd: vec!["/bin/sh".into(), "-c".into(), "httpd -p $PORT".into()],
        };
        assert_eq!(default_web(&image)["web"], "httpd -p $PORT");
        let none = ImageInfo {
            cmd: vec![],
            ..image
        };
        assert!(default_web(&none).is_empty());
    }
}
