//! The command reference, as a man page and as docs/commands.md, generated
//! from the CLI definition so neither can drift from the binary.

use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::{Error, Result};

/// Help is wrapped at this width whatever the terminal, so the generated
/// files are the same on every machine.
const WIDTH: usize = 100;

/// Every command users see, with its full help text.
fn commands() -> Vec<(String, String)> {
    let mut top = Cli::command().term_width(WIDTH);
    top.build();
    top.get_subcommands()
        .filter(|c| !c.is_hide_set() && c.get_name() != "help")
        .flat_map(|c| {
            let mut list = vec![(c.get_name().to_string(), c.clone())];
            for sub in c.get_subcommands().filter(|s| !s.is_hide_set()) {
                if sub.get_name() != "help" {
                    let name = format!("{} {}", c.get_name(), sub.get_name());
                    list.push((name, sub.clone()));
                }
            }
            list
        })
        .filter(|(_, c)| !c.has_subcommands())
        .map(|(name, c)| (name, c.term_width(WIDTH).render_long_help().to_string()))
        .collect()
}

/// docs/commands.md.
pub fn markdown() -> String {
    let mut out = String::from(
        "# Command reference\n\n\
         Generated from the CLI definition by `scripts/generate`; a test fails when it is stale.\n\
         Every command runs on the server itself, or from a laptop over SSH (see the README).\n\
         Listing commands take `--json`; the shapes are below each command.\n\n",
    );
    let mut about = Cli::command().term_width(WIDTH);
    out.push_str("```text\n");
    out.push_str(&about.render_long_help().to_string());
    out.push_str("```\n");
    for (name, help) in commands() {
        out.push_str(&format!(
            "\n## `paas {name}`\n\n```text\n{}\n```\n",
            help.trim_end()
        ));
        if let Some(schema) = json_schema(&name) {
            out.push_str(&format!("\n`--json` prints:\n\n```json\n{schema}\n```\n"));
        }
    }
    out
}

/// The documented shape of each `--json` output.
fn json_schema(command: &str) -> Option<&'static str> {
    Some(match command {
        "apps" => {
            r#"[{"name": "myapp", "web_url": "http://myapp.example.com/", "git_url": "ssh://paas@example.com:22/myapp", "release": 3}]"#
        }
        "ps" => {
            r#"{"release": 3, "limits_enforced": false,
 "formation": [{"type": "web", "quantity": 1, "size": "standard-1x", "command": "gunicorn app:app"}],
 "dynos": [{"name": "web.1", "type": "web", "state": "up", "exit_status": null, "release": 3,
            "since": "2026-11-21T10:00:00Z", "restart_in": null, "crashes": null},
           {"name": "release.1", "type": "release", "state": "up", "exit_status": null, "release": null,
            "build": 8, "since": "2026-11-21T10:05:00Z", "restart_in": null, "crashes": null}]}"#
        }
        "releases" => {
            r#"[{"version": 3, "description": "Deploy 1a2b3c4", "user": "admin", "created_at": "2026-11-21T10:00:00Z", "commit": "1a2b3c4…", "current": true}]"#
        }
        "config" => r#"{"DATABASE_URL": "postgres://…", "WEB_CONCURRENCY": "2"}"#,
        "drains" => r#"[{"url": "syslog://logs.example.com:514"}]"#,
        "metrics" => {
            r#"{"app": "myapp", "step_secs": 60, "since": 1796637600, "until": 1796641200,
 "points": [{"start": 1796637600, "requests": 412, "status": [400, 2, 9, 1], "router_errors": {"H12": 1},
             "p50_ms": 4.1, "p95_ms": 38.0, "p99_ms": 311.0, "bytes_out": 1843200}],
 "dynos": [{"start": 1796637600, "dyno": "web.1", "rss_bytes": 52428800, "quota_bytes": null, "cpu_percent": 3.5}]}"#
        }
        "webhooks" => {
            r#"[{"id": "0190f6f2-…", "url": "https://example.com/hooks", "include": ["api:build", "api:release", "dyno"],
  "level": "sync", "created_at": "2026-11-21T10:00:00Z", "updated_at": "2026-11-21T10:00:00Z"}]"#
        }
        "webhooks:deliveries" => {
            r#"[{"id": "0190f6f3-…", "created_at": "2026-11-21T10:00:00Z", "updated_at": "2026-11-21T10:00:15Z",
  "status": "retrying", "num_attempts": 1, "next_attempt_at": "2026-11-21T10:00:30Z",
  "last_attempt": {"id": "0190f6f4-…", "status": "failed", "code": 503, "error_class": "the receiver answered 503",
                   "created_at": "2026-11-21T10:00:15Z"},
  "event": {"id": "0190f6f3-…", "include": "api:release", "action": "create"},
  "webhook": {"id": "0190f6f2-…", "level": "sync"}}]"#
        }
        "keys" => {
            r#"[{"user": "admin", "admin": true, "type": "ssh-ed25519", "fingerprint": "SHA256:…", "comment": "me@laptop"}]"#
        }
        "storage" => {
            r#"[{"name": "uploads", "size": 1048576, "created_by": "admin", "created_at": "2026-11-21T10:00:00Z",
  "mounts": [{"app": "mycms", "path": "/app/public/uploads"}]}]"#
        }
        _ => return None,
    })
}

pub fn manpage() -> Result<()> {
    use std::io::Write as _;
    let _ = std::io::stdout().write_all(manpage_text()?.as_bytes());
    Ok(())
}

/// The man page: clap's page for `paas`, then each command's help.
pub fn manpage_text() -> Result<String> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut out)
        .map_err(|err| Error::unexpected("rendering the man page").cause(err))?;
    let mut page = String::from_utf8_lossy(&out).into_owned();
    page.push_str(".SH COMMANDS\n");
    for (name, help) in commands() {
        page.push_str(&format!(".SS \"paas {}\"\n.nf\n", roff_escape(&name)));
        for line in help.trim_end().lines() {
            page.push_str(&roff_escape(line));
            page.push('\n');
        }
        page.push_str(".fi\n");
    }
    Ok(page)
}

/// Text as roff shows it literally: backslashes escaped, and no line read
/// as a request.
fn roff_escape(line: &str) -> String {
    let escaped = line.replace('\\', "\\e");
    if escaped.starts_with('.') || escaped.starts_with('\'') {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}
