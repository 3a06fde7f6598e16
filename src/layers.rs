//! The direction of imports, held by a test (#18). Every top-level module
//! has a layer; a module uses its own layer and the ones below, never one
//! above, so data flows one way (docs/design.md, "Layers"):
//!
//! ```text
//! 8 commands               parse → one workflow call → print
//! 7 cli, completion, docs  the command line and what is generated from it
//! 6 output, client         the terminal and the laptop side, knowing no command
//! 5 daemon                 router, reconciler, autosleep, acme, dashboard
//! 4 workflows              apps, deploy, roll out, formation, converge,
//!                          checks, probation, add-ons, storage, interrupted,
//!                          prune, cron, install (root-only setup)
//! 3 runtime, build         podman, buildpacks
//! 2 records                git, slugs, releases, logs, keys, certs, ssh, crashes,
//!                          routes, the daemon's control protocol, webhooks,
//!                          the dashboard's logins,
//!                          metrics
//! 1 state                  the store
//! 0 ground                 errors, time, durations, TLS, outgoing HTTP, host users
//! ```
//!
//! The test reads every file under `src/` (comments and literals blanked
//! out) for the modules it names: `crate::x` paths in `use` lines, in
//! `use crate::{a, b::c}` groups and in code, and `super::` chains that
//! climb to the crate root. `main.rs` is the binary, above them all.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Each layer's name, by rank, for the test's messages.
const LAYER_NAMES: [&str; 9] = [
    "ground",
    "state",
    "records",
    "runtime and builder",
    "workflows",
    "daemon",
    "terminal and laptop side",
    "command line",
    "commands",
];

/// Every module `lib.rs` declares, and its layer's rank.
const LAYERS: &[(&str, usize)] = &[
    // No paas concepts: anything may use them.
    ("error", 0),
    ("say", 0),
    ("clock", 0),
    ("duration", 0),
    ("tls", 0),
    ("net", 0),
    ("users", 0),
    ("process", 0),
    ("random", 0),
    ("state", 1),
    // What is recorded and parsed: releases, logs, keys, who may run what,
    // where dynos answer, what the daemon is asked.
    ("git", 2),
    ("slug", 2),
    ("release", 2),
    ("logs", 2),
    ("keys", 2),
    ("access", 2),
    ("audit", 2),
    ("certs", 2),
    ("ssh", 2),
    ("crashes", 2),
    ("routes", 2),
    ("control", 2),
    // Deploy webhooks: events queued as files where builds, releases and
    // dynos change; the daemon sends them through `net`.
    ("webhooks", 2),
    // The dashboard's one-time login links and sessions (#23).
    ("logins", 2),
    // Per-minute request and dyno metrics (#23): counted by the router,
    // kept in the apps' day files, read by `paas metrics`.
    ("metrics", 2),
    ("runtime", 3),
    ("build", 3),
    // Apps made and removed.
    ("apps", 4),
    // A push's build, then its roll-out (as every change's): release
    // phase, converge, the release recorded.
    ("deploy", 4),
    ("rollout", 4),
    // Scale, restart, stop: the formation and its dynos.
    ("formation", 4),
    // Each change ends in converge; probation and converge call each other.
    ("converge", 4),
    ("checks", 4),
    ("probation", 4),
    ("addons", 4),
    // Volumes mounted into an app's dynos; mounting rolls them.
    ("storage", 4),
    // What commands that died under an app's lock left (#19).
    ("interrupted", 4),
    ("prune", 4),
    ("cron", 4),
    // Releases on a Kubernetes cluster: images, manifests, kubectl.
    ("kubernetes", 4),
    // Setting up the host, as root: packages, the owner, podman, sshd, the
    // stack images. Its flags are its own (`InstallArgs`, which the command
    // line shows); the completion scripts it writes come from its caller.
    ("install", 4),
    ("daemon", 5),
    // Only the modules above the daemon print for people or forward over SSH.
    ("output", 6),
    ("client", 6),
    // cli names completion's candidate functions and completion reads the
    // `Cli` definition (clap's dynamic completion): one layer.
    ("cli", 7),
    ("completion", 7),
    ("docs", 7),
    ("commands", 8),
];

/// Imports that still go up, each with why it is left and what is to do:
/// (file, the module it imports). The test fails on any other upward
/// import, and on an entry here that no longer goes up, so this list only
/// shrinks. Empty since #18's first pass.
const KNOWN_UPWARD: &[(&str, &str)] = &[];

fn rank(module: &str) -> Option<usize> {
    LAYERS
        .iter()
        .find(|(name, _)| *name == module)
        .map(|(_, rank)| *rank)
}

fn describe(rank: usize) -> String {
    format!("layer {rank}, {}", LAYER_NAMES[rank])
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `source` with comments and the insides of string and char literals
/// blanked out, newlines kept (so line numbers hold): a path named in a doc
/// comment or a message is not an import.
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let at = |i: usize| chars.get(i).copied();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '/' && at(i + 1) == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && at(i + 1) == Some('*') {
            // Block comments nest in Rust.
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && at(i + 1) == Some('*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && at(i + 1) == Some('/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if let Some(hashes) = raw_string_start(&chars, i) {
            // r"…", r#"…"#, br"…": no escapes; ends at `"` and as many `#`.
            let end: Vec<char> = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            let open = 2 + hashes;
            out.extend(&chars[i..i + open]);
            i += open;
            while i < chars.len() && !chars[i..].starts_with(&end) {
                out.push(blank(chars[i]));
                i += 1;
            }
            let close = end.len().min(chars.len() - i);
            out.extend(&chars[i..i + close]);
            i += close;
        } else if c == '"' {
            out.push('"');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < chars.len() {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
            if i < chars.len() {
                out.push('"');
                i += 1;
            }
        } else if c == '\'' && (at(i + 1) == Some('\\') || at(i + 2) == Some('\'')) {
            // A char literal ('x', '\n', '\''); a lifetime ('a) is left.
            let close = if at(i + 1) == Some('\\') {
                (i + 3..chars.len())
                    .find(|&j| chars[j] == '\'')
                    .unwrap_or(i + 2)
            } else {
                i + 2
            };
            out.push('\'');
            out.extend(std::iter::repeat_n(' ', close - i - 1));
            out.push('\'');
            i = close + 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Whether a raw string (`r"`, `r#"`, `br"`) starts at `i`: its `#` count.
/// An identifier ending in `r`, or a raw identifier (`r#type`), is not one.
fn raw_string_start(chars: &[char], i: usize) -> Option<usize> {
    let before = |back: usize| i.checked_sub(back).map(|j| chars[j]);
    let starts_a_token = match before(1) {
        None => true,
        Some('b') => !before(2).is_some_and(is_ident),
        Some(c) => !is_ident(c),
    };
    if chars[i] != 'r' || !starts_a_token {
        return None;
    }
    let hashes = chars[i + 1..].iter().take_while(|&&c| c == '#').count();
    (chars.get(i + 1 + hashes) == Some(&'"')).then_some(hashes)
}

#[derive(Debug, PartialEq)]
enum Token {
    Ident(String),
    /// `::`
    Path,
    Punct(char),
}

/// Identifiers, `::` and single punctuation, each with its line.
fn tokens(code: &str) -> Vec<(Token, usize)> {
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if is_ident(c) {
            let start = i;
            while i < chars.len() && is_ident(chars[i]) {
                i += 1;
            }
            out.push((Token::Ident(chars[start..i].iter().collect()), line));
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            out.push((Token::Path, line));
            i += 2;
        } else {
            out.push((Token::Punct(c), line));
            i += 1;
        }
    }
    out
}

/// The first name of each item of a `{a, b::c, d::{e, f}}` group that
/// starts at `tokens[0]`.
fn group_names(tokens: &[(Token, usize)]) -> Vec<(String, usize)> {
    let mut names = Vec::new();
    let mut depth = 0;
    let mut item_starts = false;
    for (token, line) in tokens {
        match token {
            Token::Punct('{') => {
                depth += 1;
                item_starts = depth == 1;
                continue;
            }
            Token::Punct('}') => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            Token::Punct(',') if depth == 1 => {
                item_starts = true;
                continue;
            }
            Token::Ident(name) if item_starts && name != "self" => {
                names.push((name.clone(), *line));
            }
            _ => {}
        }
        item_starts = false;
    }
    names
}

/// The top-level modules a file names, with the line of each: after
/// `crate::` (or `$crate::`), and after as many `super::` as climb from
/// `module` (the file's module path, `["daemon", "router"]`) to the root.
/// Macros (`crate::say!`) are not modules.
fn referenced_modules(module: &[String], code: &str) -> Vec<(String, usize)> {
    let tokens = tokens(code);
    let kind = |k: usize| tokens.get(k).map(|t| &t.0);
    let mut found = Vec::new();
    // The inline modules (`mod tests {`) open at each brace depth.
    let (mut depth, mut inline) = (0usize, Vec::new());
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i].0 {
            Token::Punct('{') => depth += 1,
            Token::Punct('}') => {
                if inline.last() == Some(&depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
            }
            Token::Ident(word) if word == "mod" => {
                if let (Some((Token::Ident(_), _)), Some((Token::Punct('{'), _))) =
                    (tokens.get(i + 1), tokens.get(i + 2))
                {
                    inline.push(depth + 1);
                }
            }
            _ => {}
        }
        let starts_path = i == 0 || kind(i - 1) != Some(&Token::Path);
        // Where the names after a path from the crate root start.
        let after_root = match &tokens[i].0 {
            Token::Ident(word) if word == "crate" && starts_path => {
                (kind(i + 1) == Some(&Token::Path)).then_some(i + 2)
            }
            Token::Ident(word) if word == "super" && starts_path => {
                let (mut j, mut climbs) = (i, 0);
                while matches!(kind(j), Some(Token::Ident(w)) if w == "super")
                    && kind(j + 1) == Some(&Token::Path)
                {
                    climbs += 1;
                    j += 2;
                }
                (climbs == module.len() + inline.len()).then_some(j)
            }
            _ => None,
        };
        match after_root.and_then(|at| Some((at, tokens.get(at)?))) {
            Some((at, (Token::Punct('{'), _))) => found.extend(group_names(&tokens[at..])),
            Some((at, (Token::Ident(name), line))) if kind(at + 1) != Some(&Token::Punct('!')) => {
                found.push((name.clone(), *line));
            }
            _ => {}
        }
        i += 1;
    }
    found
}

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            source_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `daemon/router/http1.rs` → `["daemon", "router", "http1"]`;
/// `state/mod.rs` → `["state"]`.
fn module_path(relative: &Path) -> Vec<String> {
    let mut path: Vec<String> = relative
        .with_extension("")
        .iter()
        .map(|part| part.to_string_lossy().into_owned())
        .collect();
    if path.last().is_some_and(|last| last == "mod") {
        path.pop();
    }
    path
}

/// Every upward import in `src/` as (file, module, message), and every
/// module named that has no layer.
fn upward_imports() -> (Vec<(String, String, String)>, BTreeSet<String>) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&src, &mut files);
    files.sort();
    let (mut upward, mut unranked) = (Vec::new(), BTreeSet::new());
    for file in files {
        let relative = file.strip_prefix(&src).unwrap();
        let module = module_path(relative);
        // The crate root declares the modules, the binary is above them
        // all, and this file's examples are not imports.
        if matches!(module.as_slice(), [only] if ["lib", "main", "layers"].contains(&only.as_str()))
        {
            continue;
        }
        let shown = format!("src/{}", relative.display());
        let Some(own) = rank(&module[0]) else {
            unranked.insert(module[0].clone());
            continue;
        };
        let code = code_only(&std::fs::read_to_string(&file).unwrap());
        let mut seen = BTreeSet::new();
        for (name, line) in referenced_modules(&module, &code) {
            let Some(theirs) = rank(&name) else {
                unranked.insert(name);
                continue;
            };
            if theirs > own && seen.insert(name.clone()) {
                let message = format!(
                    "{shown}:{line} imports {name} ({}) above its own layer ({})",
                    describe(theirs),
                    describe(own)
                );
                upward.push((shown.clone(), name, message));
            }
        }
    }
    (upward, unranked)
}

#[test]
fn every_module_has_a_layer() {
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let declared: BTreeSet<&str> = lib
        .lines()
        .filter_map(|line| {
            let line = line.trim().trim_start_matches("pub ");
            line.strip_prefix("mod ")?.strip_suffix(';')
        })
        .filter(|name| *name != "layers")
        .collect();
    let ranked: BTreeSet<&str> = LAYERS.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        declared, ranked,
        "lib.rs's modules and LAYERS differ: give a new module its layer in src/layers.rs"
    );
}

#[test]
fn modules_import_only_their_own_layer_and_below() {
    let (upward, unranked) = upward_imports();
    assert!(
        unranked.is_empty(),
        "modules named with no layer: {unranked:?}; add them to LAYERS in src/layers.rs"
    );
    let new: Vec<&str> = upward
        .iter()
        .filter(|(file, name, _)| !KNOWN_UPWARD.contains(&(file.as_str(), name.as_str())))
        .map(|(_, _, message)| message.as_str())
        .collect();
    assert!(
        new.is_empty(),
        "imports that go up a layer:\n  {}\nmove what the lower module needs down to it (or \
         pass it in as plain data); see the layers in src/layers.rs",
        new.join("\n  ")
    );
}

#[test]
fn known_upward_imports_still_go_up() {
    let (upward, _) = upward_imports();
    let stale: Vec<_> = KNOWN_UPWARD
        .iter()
        .filter(|(file, name)| !upward.iter().any(|(f, n, _)| f == file && n == name))
        .collect();
    assert!(
        stale.is_empty(),
        "fixed, so remove from KNOWN_UPWARD: {stale:?}"
    );
}

mod tests {
    use super::*;

    fn names(module: &[&str], source: &str) -> Vec<String> {
        let module: Vec<String> = module.iter().map(|m| m.to_string()).collect();
        referenced_modules(&module, &code_only(source))
            .into_iter()
            .map(|(name, _)| name)
            .collect()
    }

    #[test]
    fn reads_use_lines_groups_and_paths_in_code() {
        let source = "use crate::state::{self, AppDir};\n\
                      use crate::{converge, runtime::{Dyno, DYNO_PORT}, self};\n\
                      use crate::{\n    logs,\n    release::Ledger,\n};\n\
                      fn f() { crate::checks::load(x); $crate::net::get(); }\n";
        assert_eq!(
            names(&["daemon"], source),
            ["state", "converge", "runtime", "logs", "release", "checks", "net"]
        );
    }

    #[test]
    fn comments_literals_and_macros_are_not_imports() {
        let source = "//! see `crate::converge`\n/* crate::a /* crate::b */ crate::c */\n\
                      let s = \"crate::d\"; let r = r#\"crate::e \"x\" \"#; let q = '\"';\n\
                      let t = \"crate::f\"; fn g<'a>(x: &'a str) { crate::say!(\"x\"); }\n\
                      use crate::error::Result;\n";
        assert_eq!(names(&["state"], source), ["error"]);
    }

    #[test]
    fn super_chains_to_the_root_count_and_others_do_not() {
        let source = "use super::Ctx;\nuse super::super::converge;\n\
                      mod tests { use super::*; use super::super::super::checks; }\n";
        assert_eq!(names(&["commands", "apps"], source), ["converge", "checks"]);
        assert_eq!(
            names(&["converge"], "use super::probation;\n"),
            ["probation"]
        );
    }

    #[test]
    fn line_numbers_survive_blanking() {
        let source = "// one\n\"two\n\"\nuse crate::state;\n";
        let found = referenced_modules(&["x".to_string()], &code_only(source));
        assert_eq!(found, [("state".to_string(), 4)]);
    }
}
