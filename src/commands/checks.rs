//! `checks`, `checks:enable|skip|disable`, `checks:set uptime|wait`: how a
//! change decides that new dynos may take traffic (see `crate::checks`),
//! and the window after it (see `crate::probation`).

use super::Ctx;
use crate::checks;
use crate::cli::ChecksCommand;
use crate::error::{Error, Result};
use crate::release::Ledger;
use crate::state::ChecksMode;

/// Runs a `checks` command.
pub fn run(ctx: &Ctx, command: ChecksCommand) -> Result<()> {
    match command {
        ChecksCommand::Show => show(ctx),
        ChecksCommand::Enable => set_mode(ctx, ChecksMode::Enabled),
        ChecksCommand::Skip => set_mode(ctx, ChecksMode::Skipped),
        ChecksCommand::Disable => set_mode(ctx, ChecksMode::Disabled),
        ChecksCommand::Set { key, value, global } => set(ctx, &key, &value, global),
    }
}

pub fn show(ctx: &Ctx) -> Result<()> {
    let app = ctx.app()?;
    let settings = app.settings()?;
    let uptime = settings.checks_uptime(&ctx.settings);
    println!(
        "{}",
        match settings.checks {
            ChecksMode::Enabled => "Checks: enabled",
            ChecksMode::Skipped => "Checks: skipped (new dynos take traffic once they listen)",
            ChecksMode::Disabled =>
                "Checks: disabled (old dynos stop before new ones start: downtime)",
        }
    );
    println!(
        "Window: the previous web dynos stay warm {uptime} s after traffic moves; {}",
        if settings.checks_wait {
            "changes wait it out (`checks:set wait off` to return at once)"
        } else {
            "changes return at once (`checks:set wait on` to wait it out)"
        }
    );
    let Some(release) = Ledger::new(&app).current()? else {
        return Ok(());
    };
    let runtime = ctx.runtime();
    let from_app_json = checks::parse(ctx.platform(&runtime).app_json(&app, &release)?.as_deref())?;
    for process_type in release.processes.keys() {
        // Web dynos take traffic once they listen: the window guards them.
        let default = (process_type != "web").then_some(uptime);
        let wanted = checks::for_process_type(&from_app_json, process_type, default);
        if wanted.is_empty() {
            println!("{process_type}: listening on $PORT, then the window");
            continue;
        }
        let source = if from_app_json.contains_key(process_type) {
            "app.json"
        } else {
            "default"
        };
        let listed: Vec<String> = wanted.iter().map(|c| c.describe()).collect();
        println!("{process_type}: {} ({source})", listed.join(", "));
    }
    Ok(())
}

pub fn set_mode(ctx: &Ctx, mode: ChecksMode) -> Result<()> {
    let app = ctx.app()?;
    let _lock = app.lock()?;
    app.update_settings(|s| s.checks = mode)?;
    match mode {
        ChecksMode::Enabled => say!(
            "New dynos of {} are checked before they take traffic",
            app.name
        ),
        ChecksMode::Skipped => say!(
            "New dynos of {} take traffic once they listen, unchecked",
            app.name
        ),
        ChecksMode::Disabled => say!(
            " !     Old dynos of {} now stop before new ones start: each change has downtime",
            app.name
        ),
    }
    Ok(())
}

/// `checks:set KEY VALUE`.
pub fn set(ctx: &Ctx, key: &str, value: &str, global: bool) -> Result<()> {
    match key {
        "wait" => {
            let wait = match value {
                "on" => true,
                "off" => false,
                _ => {
                    return Err(Error::new(format!("`{value}` is not on or off"))
                        .hint("`paas checks:set wait on` or `paas checks:set wait off`"))
                }
            };
            if global {
                return Err(Error::new("`wait` is set per app").hint("drop `--global`"));
            }
            set_wait(ctx, wait)
        }
        _ => match value.parse() {
            Ok(seconds) => set_uptime(ctx, seconds, global),
            Err(_) => Err(Error::new(format!("`{value}` is not a number of seconds"))
                .hint("`paas checks:set uptime 10`")),
        },
    }
}

fn set_wait(ctx: &Ctx, wait: bool) -> Result<()> {
    let app = ctx.app()?;
    let _lock = app.lock()?;
    app.update_settings(|s| s.checks_wait = wait)?;
    if wait {
        say!("Changes of {} now wait out the window after traffic moves, and fail if a new dyno crashes in it", app.name);
    } else {
        say!("Changes of {} now return once traffic moves", app.name);
    }
    Ok(())
}

fn set_uptime(ctx: &Ctx, seconds: u64, global: bool) -> Result<()> {
    if seconds > 600 {
        return Err(Error::new(format!("{seconds} s is too long a window"))
            .hint("give 0 to 600 seconds (the default is 10)"));
    }
    if global {
        if !ctx.admin {
            return Err(Error::new("only an admin can change every app's checks")
                .hint("`paas checks:set uptime N -a APP` sets one app's"));
        }
        ctx.root
            .update_settings(|s| s.checks_uptime_secs = Some(seconds))?;
        say!("The previous web dynos of apps that set none now stay warm {seconds} s after traffic moves");
        return Ok(());
    }
    let app = ctx.app()?;
    let _lock = app.lock()?;
    app.update_settings(|s| s.checks_uptime_secs = Some(seconds))?;
    say!(
        "The previous web dynos of {} now stay warm {seconds} s after traffic moves",
        app.name
    );
    Ok(())
}
