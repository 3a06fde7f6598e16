//! `ps`, `ps:scale`, `ps:restart`.
//!
//! `list.rs` is the `ps` listing; here the commands that change dynos
//! (their work is in `formation`) and what they read from their arguments.

mod list;
pub use list::list;

use std::collections::BTreeMap;

use super::Ctx;
use crate::cli::PsCommand;
use crate::error::{Error, Result};
use crate::formation::{rescale, restart_dynos, stop_dynos};
use crate::release::Ledger;
use crate::state::{DynoSize, ProcessType};

/// Runs a `ps` command on the formation.
pub fn run(ctx: &Ctx, command: PsCommand) -> Result<()> {
    match command {
        PsCommand::List { format } => list(ctx, format),
        PsCommand::Scale { changes } => scale(ctx, &changes),
        PsCommand::Resize { changes } => resize(ctx, &changes),
        PsCommand::Restart { target } => restart(ctx, target),
        PsCommand::Stop { target } => stop(ctx, &target, false),
        PsCommand::Kill { target } => stop(ctx, &target, true),
        PsCommand::StopTimeout { seconds } => stop_timeout(ctx, seconds),
        PsCommand::Start { process_type } => start(ctx, &process_type),
        PsCommand::Autosleep { after, off } => autosleep(ctx, after.as_deref(), off.is_some()),
    }
}

/// `web=2` → (`web`, 2).
/// `web=2` or `web=2:standard-2x`.
pub fn parse_scale(change: &str) -> Result<(ProcessType, u32, Option<DynoSize>)> {
    let hint = "scale with `TYPE=COUNT[:SIZE]`, like `paas ps:scale web=2:standard-2x worker=1`";
    let Some((name, value)) = change.split_once('=') else {
        return Err(Error::new(format!("`{change}` is not `TYPE=COUNT`")).hint(hint));
    };
    let process_type = ProcessType::parse(name).map_err(|err| Error::new(err.to_string()))?;
    let (count, size) = match value.split_once(':') {
        Some((count, size)) => (count, Some(parse_size(size)?)),
        None => (value, None),
    };
    let count: u32 = count.parse().ok().filter(|c| *c <= 100).ok_or_else(|| {
        Error::new(format!("`{count}` is not a dyno count from 0 to 100")).hint(hint)
    })?;
    Ok((process_type, count, size))
}

fn parse_size(name: &str) -> Result<DynoSize> {
    DynoSize::parse(name).ok_or_else(|| {
        Error::new(format!("`{name}` is not a dyno size"))
            .hint(format!("the sizes are: {}", DynoSize::names()))
    })
}

/// `web+1` or `worker-2` as `web=N` against the current formation; other
/// changes as they are.
fn absolute_change(change: &str, formation: &BTreeMap<String, u32>) -> Result<String> {
    let Some(at) = change.find(['+', '-']).filter(|_| !change.contains('=')) else {
        return Ok(change.to_string());
    };
    let (name, rest) = change.split_at(at);
    let (sign, rest) = rest.split_at(1);
    let (by, size) = match rest.split_once(':') {
        Some((by, size)) => (by, Some(size)),
        None => (rest, None),
    };
    let by: u32 = by.parse().map_err(|_| {
        Error::new(format!("`{change}` is not `TYPE+N` or `TYPE-N`"))
            .hint("scale by a count, like `web+1` or `worker-2`")
    })?;
    let current = formation.get(name).copied().unwrap_or(0);
    let count = match sign {
        "+" => current.saturating_add(by),
        _ => current.checked_sub(by).ok_or_else(|| {
            Error::new(format!(
                "`{name}` has {current} dyno{}: `{change}` would leave fewer than none",
                if current == 1 { "" } else { "s" }
            ))
        })?,
    };
    Ok(match size {
        Some(size) => format!("{name}={count}:{size}"),
        None => format!("{name}={count}"),
    })
}

pub fn scale(ctx: &Ctx, changes: &[String]) -> Result<()> {
    let app = ctx.app()?;
    let _lock = app.lock()?;
    let Some(release) = Ledger::new(&app).current()?.filter(|r| r.is_built()) else {
        return Err(
            Error::new(format!("`{}` has not been deployed yet", app.name))
                .hint("push the code first: `git push deploy master`"),
        );
    };
    let formation: BTreeMap<String, u32> = app.settings()?.formation;
    if changes.is_empty() {
        // As Heroku's `ps:scale` with nothing to change: the formation.
        let settings = app.settings()?;
        let shown: Vec<String> = release
            .processes
            .keys()
            .filter(|t| t.as_str() != "release")
            .map(|t| {
                let count = formation.get(t).copied().unwrap_or(0);
                format!("{t}={count}:{}", settings.size_of(t).name)
            })
            .collect();
        println!("{}", shown.join(" "));
        return Ok(());
    }
    let parsed: Vec<(ProcessType, u32, Option<DynoSize>)> = changes
        .iter()
        .map(|c| parse_scale(&absolute_change(c, &formation)?))
        .collect::<Result<_>>()?;
    let runtime = ctx.runtime();
    let scaled = rescale(
        &ctx.platform(&runtime),
        &ctx.user,
        &app,
        &release,
        formation,
        &parsed,
    )?;
    let said: Vec<String> = scaled
        .iter()
        .map(|(t, c, size)| format!("{t} at {c}:{size}"))
        .collect();
    say!("done, now running {}", said.join(", "));
    Ok(())
}

pub fn restart(ctx: &Ctx, target: Option<String>) -> Result<()> {
    let app = ctx.app()?;
    let runtime = ctx.runtime();
    restart_dynos(&ctx.platform(&runtime), &ctx.user, &app, target)?;
    say!("done");
    Ok(())
}

/// `ps:resize web=standard-2x`: new dynos of that type with the new limits.
pub fn resize(ctx: &Ctx, changes: &[String]) -> Result<()> {
    let app = ctx.app()?;
    let formation = app.settings()?.formation;
    let mut scale_args = Vec::new();
    for change in changes {
        let Some((process_type, size)) = change.split_once('=') else {
            return Err(Error::new(format!("`{change}` is not `TYPE=SIZE`"))
                .hint("resize with `paas ps:resize web=standard-2x`"));
        };
        let size = parse_size(size)?;
        let Some(count) = formation.get(process_type) else {
            return Err(Error::new(format!(
                "`{}` has no process type `{process_type}`",
                app.name
            )));
        };
        scale_args.push(format!("{process_type}={count}:{}", size.name));
    }
    scale(ctx, &scale_args)
}

/// `ps:stop` (`kill`: SIGKILL at once, else after the app's stop timeout).
pub fn stop(ctx: &Ctx, target: &str, kill: bool) -> Result<()> {
    let app = ctx.app()?;
    let runtime = ctx.runtime();
    stop_dynos(&ctx.platform(&runtime), &ctx.user, &app, target, kill)
}

pub fn start(ctx: &Ctx, process_type: &str) -> Result<()> {
    let app = ctx.app()?;
    let count = {
        let settings = app.settings()?;
        if !settings.formation.contains_key(process_type) {
            return Err(Error::new(format!(
                "`{}` has no process type `{process_type}`",
                app.name
            )));
        }
        // Not stopped: keep its scale (at least one), never scale it down.
        let running = settings
            .formation
            .get(process_type)
            .copied()
            .unwrap_or(0)
            .max(1);
        settings
            .stopped
            .get(process_type)
            .copied()
            .unwrap_or(running)
    };
    scale(ctx, &[format!("{process_type}={count}")])?;
    let _lock = app.lock()?;
    let mut settings = app.settings()?;
    settings.stopped.remove(process_type);
    app.write_settings(&settings)
}

/// `ps:stop-timeout [SECONDS]`: shows or sets the SIGTERM-to-SIGKILL wait.
pub fn stop_timeout(ctx: &Ctx, seconds: Option<u64>) -> Result<()> {
    let app = ctx.app()?;
    let Some(seconds) = seconds else {
        let grace = app.settings()?.stop_grace();
        println!("{}s", grace.as_secs());
        return Ok(());
    };
    if !(1..=300).contains(&seconds) {
        return Err(Error::new(format!("{seconds} s is not a stop timeout"))
            .hint("give 1 to 300 seconds (Heroku's is 30)"));
    }
    let _lock = app.lock()?;
    app.update_settings(|s| s.stop_timeout_secs = Some(seconds))?;
    say!(
        "Dynos of {} now get {seconds} s between SIGTERM and SIGKILL",
        app.name
    );
    Ok(())
}

/// The shortest autosleep: the daemon looks every 5 s.
const AUTOSLEEP_MIN_SECS: u64 = 5;

pub fn autosleep(ctx: &Ctx, after: Option<&str>, off: bool) -> Result<()> {
    let app = ctx.app()?;
    if after.is_none() && !off {
        let settings = app.settings()?;
        match settings.autosleep_after_secs {
            None => println!("off"),
            Some(secs) => println!(
                "after {}{}",
                crate::duration::human(secs),
                if settings.asleep_since.is_some() {
                    " (sleeping now)"
                } else {
                    ""
                }
            ),
        }
        return Ok(());
    }
    let after = after.map(parse_duration).transpose()?;
    let _lock = app.lock()?;
    let settings = app.update_settings(|s| s.autosleep_after_secs = after)?;
    match after {
        Some(secs) => say!(
            "Web dynos of {} now sleep after {} without a request; the next request wakes them",
            app.name,
            crate::duration::human(secs)
        ),
        None => say!(
            "Web dynos of {} no longer sleep{}",
            app.name,
            if settings.asleep_since.is_some() {
                " (the next request wakes them)"
            } else {
                ""
            }
        ),
    }
    Ok(())
}

/// An autosleep delay: a duration of at least `AUTOSLEEP_MIN_SECS`.
fn parse_duration(text: &str) -> Result<u64> {
    let hint = "give a number with s, m or h, like `30m`";
    let secs = crate::duration::parse(text).map_err(Error::new)?;
    if secs < AUTOSLEEP_MIN_SECS {
        return Err(
            Error::new(format!("`{text}` is shorter than {AUTOSLEEP_MIN_SECS} s")).hint(hint),
        );
    }
    Ok(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn autosleep_durations() {
        assert_eq!(parse_duration("30m").unwrap(), 1800);
        assert_eq!(parse_duration("90s").unwrap(), 90);
        assert_eq!(parse_duration("2h").unwrap(), 7200);
        assert!(parse_duration("30").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("2s")
            .unwrap_err()
            .message()
            .contains("shorter than 5 s"));
    }

    #[test]
    fn scale_arguments() {
        let (t, c, size) = parse_scale("web=2").unwrap();
        assert_eq!((t.as_str(), c, size), ("web", 2, None));
        let (_, c, size) = parse_scale("web=3:standard-2x").unwrap();
        assert_eq!((c, size.unwrap().name), (3, "standard-2x"));
        assert_eq!(
            parse_scale("web=1:huge").unwrap_err().message(),
            "`huge` is not a dyno size"
        );
        assert_eq!(parse_scale("worker=0").unwrap().1, 0);
        assert_eq!(
            parse_scale("web").unwrap_err().message(),
            "`web` is not `TYPE=COUNT`"
        );
        assert_eq!(
            parse_scale("web=-1").unwrap_err().message(),
            "`-1` is not a dyno count from 0 to 100"
        );
        assert!(parse_scale("web=101").is_err());
        assert!(parse_scale("w eb=1").is_err());
    }

    #[test]
    fn relative_scale_changes_count_from_the_formation() {
        let formation = BTreeMap::from([("web".to_string(), 2), ("worker".to_string(), 1)]);
        let absolute = |change: &str| absolute_change(change, &formation);
        assert_eq!(absolute("web+1").unwrap(), "web=3");
        assert_eq!(absolute("worker-1").unwrap(), "worker=0");
        assert_eq!(
            absolute("clock+2:standard-2x").unwrap(),
            "clock=2:standard-2x"
        );
        assert_eq!(absolute("web=5").unwrap(), "web=5");
        assert_eq!(
            absolute("worker-2").unwrap_err().message(),
            "`worker` has 1 dyno: `worker-2` would leave fewer than none"
        );
        assert!(absolute("web+x").is_err());
        // A count past 100 is refused as `web=101` is.
        assert!(parse_scale(&absolute("web+99").unwrap()).is_err());
    }
}
