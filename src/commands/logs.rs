//! `logs`: the app's stream (dyno output and platform events), merged in
//! time order, in Heroku's line format.

use std::time::Duration;

use super::Ctx;
use crate::error::{Error, Result};
use crate::logs::{Filter, Reader};

pub fn show(ctx: &Ctx, num: usize, tail: bool, filter: Filter) -> Result<()> {
    if let Some(source) = &filter.source {
        if source != "app" && source != "paas" {
            return Err(Error::new(format!("`{source}` is not a log source"))
                .hint("use `-s app` or `-s paas`"));
        }
    }
    let app = ctx.app()?;
    let mut reader = Reader::new(&app);
    let lines: Vec<_> = reader
        .read_new()
        .into_iter()
        .filter(|l| filter.matches(l))
        .collect();
    for line in &lines[lines.len().saturating_sub(num)..] {
        println!("{}", line.heroku_format());
    }
    if !tail {
        return Ok(());
    }
    crate::output::watch_for_hangup(|| {});
    loop {
        std::thread::sleep(Duration::from_millis(200));
        for line in reader.read_new().into_iter().filter(|l| filter.matches(l)) {
            println!("{}", line.heroku_format());
        }
    }
}
