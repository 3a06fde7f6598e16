//! `redis:info`, `redis:cli`.

use std::io::IsTerminal;

use super::addon_lookup::resolve;
use super::Ctx;
use crate::addons::{service, Kind};
use crate::cli::{Database, RedisCommand};
use crate::error::{Context, Error, Result};
use crate::output;

/// The fields of `INFO` a person looks at first.
const SHOWN: &[(&str, &str)] = &[
    ("redis_version", "Version"),
    ("uptime_in_seconds", "Uptime (s)"),
    ("connected_clients", "Clients"),
    ("used_memory_human", "Memory"),
    ("aof_enabled", "AOF"),
    ("db0", "Keys (db0)"),
];

fn cli(ctx: &Ctx, db: &Database, tty: bool, argv: &[&str]) -> Result<std::process::Command> {
    let app = ctx.app()?;
    let (addon, dir) = resolve(ctx, &app, db.database.as_deref(), Kind::Redis)?;
    let password = dir.credentials()?.password;
    let mut full = vec!["redis-cli", "--no-auth-warning"];
    full.extend(argv);
    let mut command = service::exec(&ctx.settings, &addon, tty, &full);
    command.env("REDISCLI_AUTH", password);
    Ok(command)
}

/// Runs a `redis` command.
pub fn run(ctx: &Ctx, command: RedisCommand) -> Result<()> {
    match command {
        RedisCommand::Info { database } => info(ctx, &database),
        RedisCommand::Cli { database, command } => run_cli(ctx, &database, command.as_deref()),
    }
}

pub fn info(ctx: &Ctx, db: &Database) -> Result<()> {
    if let Some(name) = &db.database {
        output::header(name);
    }
    let output = cli(ctx, db, false, &["info"])?
        .stdin(std::process::Stdio::null())
        .output()
        .context(|| "running `redis-cli`".into())?;
    if !output.status.success() {
        return Err(Error::new("Redis did not answer")
            .cause(String::from_utf8_lossy(&output.stderr).trim()));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    for (field, label) in SHOWN {
        let value = text
            .lines()
            .find_map(|l| l.trim().strip_prefix(&format!("{field}:")))
            .unwrap_or("-");
        println!("{:12} {value}", format!("{label}:"));
    }
    Ok(())
}

pub fn run_cli(ctx: &Ctx, db: &Database, command: Option<&str>) -> Result<()> {
    let words = command.map(split_words).transpose()?.unwrap_or_default();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let tty = command.is_none() && std::io::stdin().is_terminal();
    let status = cli(ctx, db, tty, &words)?
        .status()
        .context(|| "running `redis-cli`".into())?;
    match status.code() {
        Some(0) => Ok(()),
        code => Err(Error::exit(code.unwrap_or(1).clamp(1, 255) as u8)),
    }
}

/// Splits a Redis command as redis-cli does: on spaces, with '…' and "…"
/// keeping spaces in one argument (`SET greeting "hello world"`).
fn split_words(text: &str) -> Result<Vec<String>> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    for c in text.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_with(String::new).push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    if quote.is_some() {
        return Err(Error::new(format!("unbalanced quotes in `{text}`"))
            .hint("close the quote, like `SET key \"two words\"`"));
    }
    words.extend(word);
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_split_like_redis_cli() {
        assert_eq!(split_words("GET k").unwrap(), ["GET", "k"]);
        assert_eq!(
            split_words("SET greeting \"hello world\"").unwrap(),
            ["SET", "greeting", "hello world"]
        );
        assert_eq!(split_words("SET e ''").unwrap(), ["SET", "e", ""]);
        assert!(split_words("SET k 'open").is_err());
    }
}
