//! The add-on a command names, found only when the user may act on its
//! app (`access`): by name (`named`, `named_for`) or among an app's
//! attachments (`resolve`). Shared by the `addons:`, `pg:` and `redis:`
//! commands, so none of them reaches into another.

use super::Ctx;
use crate::access::Action;
use crate::addons::names::named_unchecked;
use crate::addons::{self, Addon, AddonDir, Kind};
use crate::error::{Error, Result};
use crate::release::Ledger;
use crate::state::AppDir;

/// An add-on by name, which must exist and belong to an app the user may
/// use (`addons:attach` of another app's database needs access to both).
pub fn named(ctx: &Ctx, name: &str) -> Result<(Addon, AddonDir)> {
    named_for(ctx, name, Action::Use)
}

/// `named`, for what `action` needs on the add-on's app.
pub fn named_for(ctx: &Ctx, name: &str, action: Action) -> Result<(Addon, AddonDir)> {
    let (addon, dir) = named_unchecked(&ctx.root, name)?;
    let role = ctx.role_in(&addon.app);
    if !role.sees() {
        return Err(dir.missing());
    }
    if !role.allows(action) {
        return Err(Error::new(format!(
            "only the owner of `{}`, the app `{name}` was made for, or an admin may do that",
            addon.app
        ))
        .hint(format!("`paas access -a {}` shows who owns it", addon.app)));
    }
    Ok((addon, dir))
}

/// The add-on an app command means: by name, by attachment (`DATABASE_URL`,
/// `DATABASE`), or by default the service's usual attachment.
pub fn resolve(
    ctx: &Ctx,
    app: &AppDir,
    typed: Option<&str>,
    kind: Kind,
) -> Result<(Addon, AddonDir)> {
    let attached = Ledger::new(app)
        .current()?
        .map(|r| r.addons)
        .unwrap_or_default();
    let found = match typed {
        // By name: one the app uses or was made for (a confirmation names
        // the app, so it must not reach another app's database).
        Some(text)
            if addons::parse_name(text).is_ok()
                && ctx.root.addon(text).exists()
                && (attached.values().any(|a| a == text) || named(ctx, text).is_ok()) =>
        {
            let owned = ctx
                .root
                .addon(text)
                .read()
                .is_ok_and(|a| a.app == app.name.as_str());
            if !owned && !attached.values().any(|a| a == text) {
                return Err(
                    Error::new(format!("`{text}` is not attached to `{}`", app.name)).hint(
                        format!(
                            "attach it first: `paas addons:attach {text} -a {}`",
                            app.name
                        ),
                    ),
                );
            }
            Some(text.to_string())
        }
        Some(text) => {
            let var = addons::attachment_var(text)?;
            Some(attached.get(&var).cloned().ok_or_else(|| {
                Error::new(format!(
                    "`{}` has no add-on called or attached as `{text}`",
                    app.name
                ))
                .hint(format!("`paas addons -a {}` lists them", app.name))
            })?)
        }
        None => attached
            .get(&format!("{}_URL", kind.default_as()))
            .cloned()
            .or_else(|| {
                attached
                    .values()
                    .find(|name| ctx.root.addon(name).read().is_ok_and(|a| a.kind == kind))
                    .cloned()
            }),
    };
    let Some(name) = found else {
        return Err(
            Error::new(format!("`{}` has no {} add-on", app.name, kind.title())).hint(format!(
                "create one with `paas addons:create {} -a {}`",
                kind.name(),
                app.name
            )),
        );
    };
    let (addon, dir) = named_unchecked(&ctx.root, &name)?;
    if addon.kind != kind {
        return Err(Error::new(format!(
            "`{name}` is a {} add-on, not {}",
            addon.kind.title(),
            kind.title()
        ))
        .hint(format!(
            "use the `{}:` commands for it",
            match addon.kind {
                Kind::Postgres => "pg",
                Kind::Redis => "redis",
            }
        )));
    }
    Ok((addon, dir))
}
