//! Shell completions, generated from the CLI definition. Completion is dynamic: the shell asks this binary
//! (`COMPLETE=bash paas -- WORDS…`), so app names and process types come from
//! the install on this machine, or over SSH from the server.

use clap::{CommandFactory, ValueEnum};
use clap_complete::engine::CompletionCandidate;
use clap_complete::env::{CompleteEnv, Elvish, EnvCompleter, Fish, Powershell, Zsh};

use crate::cli::Cli;
use crate::error::Result;
use crate::install::ShellFile;
use crate::state::{AppName, Root, DEFAULT_ROOT};

/// The environment variable that turns a run of `paas` into a completion request.
const VAR: &str = "COMPLETE";

#[derive(Debug, Clone, Copy, PartialEq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
}

impl Shell {
    pub const ALL: [Shell; 5] = [
        Shell::Bash,
        Shell::Zsh,
        Shell::Fish,
        Shell::Elvish,
        Shell::Powershell,
    ];

    /// The file under `completions/`, named as each shell looks for it.
    pub fn file_name(self) -> &'static str {
        match self {
            Shell::Bash => "paas.bash",
            Shell::Zsh => "_paas",
            Shell::Fish => "paas.fish",
            Shell::Elvish => "paas.elv",
            Shell::Powershell => "_paas.ps1",
        }
    }
}

/// Answers a completion request and exits, when this run is one.
pub fn complete_if_asked() {
    CompleteEnv::with_factory(Cli::command).var(VAR).complete();
}

/// The script a shell sources to complete `paas`.
pub fn registration(shell: Shell) -> String {
    let other: &dyn EnvCompleter = match shell {
        Shell::Bash => return BASH.to_string(),
        Shell::Zsh => &Zsh,
        Shell::Fish => &Fish,
        Shell::Elvish => &Elvish,
        Shell::Powershell => &Powershell,
    };
    let mut buf = Vec::new();
    other
        .write_registration(VAR, "paas", "paas", "paas", &mut buf)
        .expect("writing to memory");
    String::from_utf8(buf).expect("the scripts are UTF-8")
}

/// The completion scripts and the man page `paas server install` puts
/// where bash, zsh, fish and man look, under /usr/local (the distribution
/// owns /usr/share).
pub fn system_files() -> Result<Vec<ShellFile>> {
    let script = |path, shell| ShellFile {
        path,
        text: registration(shell),
    };
    Ok(vec![
        script(
            "/usr/local/share/bash-completion/completions/paas",
            Shell::Bash,
        ),
        script("/usr/local/share/zsh/site-functions/_paas", Shell::Zsh),
        script(
            "/usr/local/share/fish/vendor_completions.d/paas.fish",
            Shell::Fish,
        ),
        ShellFile {
            path: "/usr/local/share/man/man1/paas.1",
            text: crate::docs::manpage_text()?,
        },
    ])
}

pub fn print_registration(shell: Shell) -> Result<()> {
    print!("{}", registration(shell));
    Ok(())
}

/// bash splits words at `:` and `=` (COMP_WORDBREAKS), which would cut
/// `ps:scale` in two; this asks `paas` with the words as typed and trims
/// what bash already has before the last `:` or `=`.
const BASH: &str = r#"# bash completion for paas: source it, or put it in
# /usr/share/bash-completion/completions/paas (`paas server install` does).
_paas() {
    local IFS=$'\013'
    local line=${COMP_LINE:0:COMP_POINT}
    local -a words
    IFS=$' \t\n' read -r -a words <<< "$line"
    if [[ -z $line || $line =~ [[:space:]]$ ]]; then
        words+=("")
    fi
    local index=$(( ${#words[@]} - 1 ))
    local cur=${words[index]}
    compopt +o nospace 2> /dev/null
    COMPREPLY=( $( \
        _CLAP_IFS="$IFS" \
        _CLAP_COMPLETE_INDEX="$index" \
        _CLAP_COMPLETE_COMP_TYPE="${COMP_TYPE:-9}" \
        _CLAP_COMPLETE_SPACE=false \
        COMPLETE="bash" \
        paas -- "${words[@]}" 2> /dev/null \
    ) )
    if [[ $? != 0 ]]; then
        unset COMPREPLY
        return
    fi
    # bash also breaks words at `=`: `--app=x`, `web=1`.
    if [[ $cur == *[:=]* ]]; then
        local prefix=${cur%"${cur##*[:=]}"}
        local i
        for i in "${!COMPREPLY[@]}"; do
            COMPREPLY[i]=${COMPREPLY[i]#"$prefix"}
        done
    fi
    if [[ ${#COMPREPLY[@]} == 1 && ${COMPREPLY[0]} =~ [=/:]$ ]]; then
        compopt -o nospace 2> /dev/null
    fi
}
complete -o nospace -o bashdefault -F _paas paas
"#;

/// The words being completed (after `--`), to find `-a` and `--remote`.
fn typed_words() -> Vec<String> {
    std::env::args().skip_while(|a| a != "--").skip(1).collect()
}

fn option_value(words: &[String], names: &[&str]) -> Option<String> {
    let mut iter = words.iter();
    while let Some(word) = iter.next() {
        for name in names {
            if word == name {
                return iter.next().cloned();
            }
            if let Some(value) = word.strip_prefix(&format!("{name}=")) {
                return Some(value.to_string());
            }
        }
    }
    None
}

/// Where completion data comes from: this machine's install or a server.
enum Source {
    Local(Root),
    Remote(crate::client::Server),
}

fn source(words: &[String]) -> Option<Source> {
    let root = Root::new(
        option_value(words, &["--root"])
            .or_else(|| std::env::var("PAAS_ROOT").ok())
            .unwrap_or_else(|| DEFAULT_ROOT.to_string()),
    );
    let remote = option_value(words, &["--remote"]).or_else(|| std::env::var("PAAS_REMOTE").ok());
    match crate::client::server_for(remote.as_deref(), &root).ok()? {
        Some(server) => Some(Source::Remote(server)),
        None => Some(Source::Local(root)),
    }
}

fn candidates(names: impl IntoIterator<Item = String>) -> Vec<CompletionCandidate> {
    names.into_iter().map(CompletionCandidate::new).collect()
}

/// Completes `-a`: the apps of the install or the server.
pub fn app_names() -> Vec<CompletionCandidate> {
    let names = match source(&typed_words()) {
        Some(Source::Local(root)) => root
            .apps()
            .unwrap_or_default()
            .iter()
            .map(ToString::to_string)
            .collect(),
        Some(Source::Remote(server)) => {
            let json = crate::client::quiet(&server, &["apps".into(), "--json".into()]);
            json_strings(json.as_deref(), |value| {
                value.as_array().map(|apps| {
                    apps.iter()
                        .filter_map(|a| a["name"].as_str().map(String::from))
                        .collect()
                })
            })
        }
        None => Vec::new(),
    };
    candidates(names)
}

/// Completes add-on names: every add-on of the install or the server.
pub fn addon_names() -> Vec<CompletionCandidate> {
    let names = match source(&typed_words()) {
        Some(Source::Local(root)) => root
            .addons()
            .unwrap_or_default()
            .into_iter()
            .map(|a| a.name)
            .collect(),
        Some(Source::Remote(server)) => {
            let json = crate::client::quiet(&server, &["addons".into(), "--json".into()]);
            json_strings(json.as_deref(), |value| {
                value.as_array().map(|addons| {
                    addons
                        .iter()
                        .filter_map(|a| a["name"].as_str().map(String::from))
                        .collect()
                })
            })
        }
        None => Vec::new(),
    };
    candidates(names)
}

/// Completes storage names: every storage of the install, or those the
/// server lists for the caller.
pub fn storage_names() -> Vec<CompletionCandidate> {
    let names = match source(&typed_words()) {
        Some(Source::Local(root)) => root
            .storages()
            .unwrap_or_default()
            .into_iter()
            .map(|s| s.name.to_string())
            .collect(),
        Some(Source::Remote(server)) => {
            let json = crate::client::quiet(&server, &["storage".into(), "--json".into()]);
            json_strings(json.as_deref(), |value| {
                value.as_array().map(|storages| {
                    storages
                        .iter()
                        .filter_map(|s| s["name"].as_str().map(String::from))
                        .collect()
                })
            })
        }
        None => Vec::new(),
    };
    candidates(names)
}

/// Completes process types (`web`, `worker`) of the app being typed.
pub fn process_types() -> Vec<CompletionCandidate> {
    candidates(types_of_typed_app())
}

/// Completes `local`: the types of the Procfile here (or `-f`'s), read
/// from the disk as `local` reads them.
pub fn procfile_types() -> Vec<CompletionCandidate> {
    let words = typed_words();
    let path = option_value(&words, &["-f", "--procfile"]).unwrap_or_else(|| "Procfile".into());
    let types = std::fs::read_to_string(path)
        .ok()
        .and_then(|text| crate::runtime::procfile::parse_in_order(&text).ok())
        .unwrap_or_default();
    candidates(types.into_iter().map(|(name, _)| name.to_string()))
}

/// Completes `ps:scale`: `web=`, `worker=`.
pub fn process_type_assignments() -> Vec<CompletionCandidate> {
    candidates(types_of_typed_app().into_iter().map(|t| format!("{t}=")))
}

fn types_of_typed_app() -> Vec<String> {
    let words = typed_words();
    let typed_app = option_value(&words, &["-a", "--app"]);
    match source(&words) {
        Some(Source::Local(root)) => {
            let Some(app) = typed_app.and_then(|a| AppName::parse(&a).ok()) else {
                return Vec::new();
            };
            let release = crate::release::Ledger::new(&root.app(&app)).current();
            release
                .ok()
                .flatten()
                .map(|r| r.processes.into_keys().collect())
                .unwrap_or_default()
        }
        Some(Source::Remote(server)) => {
            let Some(app) = typed_app.or_else(|| server.app.clone()) else {
                return Vec::new();
            };
            let words = [format!("--app={app}"), "ps".into(), "--json".into()];
            let json = crate::client::quiet(&server, &words);
            json_strings(json.as_deref(), |value| {
                value["formation"].as_array().map(|types| {
                    types
                        .iter()
                        .filter_map(|t| t["type"].as_str().map(String::from))
                        .collect()
                })
            })
        }
        None => Vec::new(),
    }
}

fn json_strings(
    text: Option<&str>,
    pick: impl FnOnce(&serde_json::Value) -> Option<Vec<String>>,
) -> Vec<String> {
    text.and_then(|t| serde_json::from_str(t).ok())
        .and_then(|v| pick(&v))
        .unwrap_or_default()
}
