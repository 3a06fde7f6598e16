//! `checks`, `checks:enable|skip|disable`, `checks:set uptime`: how a change
//! decides that new dynos may take traffic (see `crate::checks`).

use super::Ctx;
use crate::checks::{self, ChecksMode};
use crate::error::{Error, Result};
use crate::release::Ledger;

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
    let Some(release) = Ledger::new(&app).current()? else {
        println!("No release yet: new dynos will have to stay up {uptime} s");
        return Ok(());
    };
    let runtime = ctx.runtime();
    let from_app_json = match &release.slug {
        Some(slug) => checks::load(&ctx.platform(&runtime).unpacked_slug(&app, slug)?)?,
        None => Default::default(),
    };
    for process_type in release.processes.keys() {
        let wanted = checks::for_process_type(&from_app_json, process_type, Some(uptime));
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

pub fn set_uptime(ctx: &Ctx, seconds: u64, global: bool) -> Result<()> {
    if seconds > 600 {
        return Err(
            Error::new(format!("{seconds} s is too long an uptime check"))
                .hint("give 0 to 600 seconds (the default is 10)"),
        );
    }
    if global {
        if !ctx.admin {
            return Err(Error::new("only an admin can change every app's checks")
                .hint("`paas checks:set uptime N -a APP` sets one app's"));
        }
        ctx.root
            .update_settings(|s| s.checks_uptime_secs = Some(seconds))?;
        say!("New dynos without checks of their own now stay up {seconds} s before taking traffic (apps that set none)");
        return Ok(());
    }
    let app = ctx.app()?;
    let _lock = app.lock()?;
    app.update_settings(|s| s.checks_uptime_secs = Some(seconds))?;
    say!(
        "New dynos of {} without checks of their own now stay up {seconds} s before taking traffic",
        app.name
    );
    Ok(())
}
