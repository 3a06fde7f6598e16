//! Files generated from the CLI definition are committed; these tests fail
//! when they no longer match the binary. `scripts/generate` rewrites them.

use std::path::Path;
use std::process::Command;

use crate::harness::{paas_bin, text};

fn paas(args: &[&str]) -> String {
    let output = Command::new(paas_bin()).args(args).output().unwrap();
    assert!(output.status.success(), "{}", text(&output));
    String::from_utf8(output.stdout).unwrap()
}

/// Compares, or rewrites when `PAAS_REGENERATE=1`.
fn check(relative: &str, generated: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    if std::env::var("PAAS_REGENERATE").as_deref() == Ok("1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{relative} does not match the binary: run `scripts/generate` and commit the result"
    );
}

#[test]
fn completion_files_match_the_binary() {
    for (shell, file) in [
        ("bash", "paas.bash"),
        ("zsh", "_paas"),
        ("fish", "paas.fish"),
        ("elvish", "paas.elv"),
        ("powershell", "_paas.ps1"),
    ] {
        check(
            &format!("completions/{file}"),
            &paas(&["completions", shell]),
        );
    }
}

#[test]
fn the_command_reference_matches_the_cli() {
    check("docs/commands.md", &paas::docs::markdown());
}

#[test]
fn the_man_page_documents_every_command() {
    let page = paas(&["manpage"]);
    assert!(page.contains(".TH paas 1"), "{page}");
    for command in ["ps:scale", "config:set", "keys:add", "releases:rollback"] {
        assert!(
            page.contains(&format!(".SS \"paas {command}\"")),
            "{command} missing:\n{page}"
        );
    }
}
