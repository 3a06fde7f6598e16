//! Add-on names: a new add-on's generated name, one looked up by its name,
//! and the attachment names an app already has.

use crate::addons::{self, Addon, AddonDir, Kind};
use crate::error::{Error, Result};
use crate::release::Ledger;
use crate::state::{self, AppDir, Root};

/// A Heroku-style generated name (`postgres-brave-4821`) that is not taken.
pub fn unused_name(root: &Root, kind: Kind) -> Result<String> {
    for _ in 0..100 {
        let seed = state::random_u64();
        let words = state::NAME_WORDS;
        let name = format!(
            "{}-{}-{:04}",
            kind.name(),
            words[(seed % words.len() as u64) as usize],
            (seed >> 16) % 10_000
        );
        if !root.addon(&name).path.exists() {
            return Ok(name);
        }
    }
    Err(Error::new("could not find a free add-on name").hint("name it with `--name`"))
}

/// An add-on by name, whoever's it is: for one attached to an app the user
/// uses (`pg:*` and `redis:*` follow the app).
pub fn named_unchecked(root: &Root, name: &str) -> Result<(Addon, AddonDir)> {
    let dir = root.addon(&addons::parse_name(name)?);
    Ok((dir.read()?, dir))
}

/// Refuses a var the app already has, from an add-on or set by hand.
pub fn refuse_taken_var(app: &AppDir, var: &str) -> Result<()> {
    let Some(current) = Ledger::new(app).current()? else {
        return Ok(());
    };
    if let Some(existing) = current.addons.get(var) {
        return Err(Error::new(format!(
            "`{}` already has `{existing}` attached as `{var}`",
            app.name
        ))
        .hint("pick another attachment name with `--as NAME`"));
    }
    if current.config.contains_key(var) {
        return Err(
            Error::new(format!("`{}` already has a config var `{var}`", app.name)).hint(format!(
                "unset it (`paas config:unset {var}`) or pick another name with `--as NAME`"
            )),
        );
    }
    Ok(())
}
