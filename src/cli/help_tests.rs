use super::*;
use clap::CommandFactory;

/// Every positional argument of every command says what it is (#21).
#[test]
fn every_positional_argument_is_described() {
    let mut missing = Vec::new();
    fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for arg in command.get_positionals() {
            if arg.get_help().is_none() && !arg.is_hide_set() {
                missing.push(format!("{path} {}", arg.get_id()));
            }
        }
        for sub in command.get_subcommands() {
            if !sub.is_hide_set() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
    }
    walk(&Cli::command(), "paas", &mut missing);
    assert!(
        missing.is_empty(),
        "positional arguments without help:\n{}",
        missing.join("\n")
    );
}

/// The commands people type most show examples, as Heroku's do.
#[test]
fn common_commands_show_examples() {
    let cli = Cli::command();
    for name in [
        "apps:create",
        "config:set",
        "ps:scale",
        "run",
        "logs",
        "releases:rollback",
        "addons:create",
        "domains:add",
        "access:add",
        "ps:exec",
        "apps:rename",
    ] {
        let command = cli.find_subcommand(name).expect(name);
        let after = command
            .get_after_help()
            .map(|h| h.to_string())
            .unwrap_or_default();
        assert!(after.starts_with("EXAMPLES:\n  $ paas "), "{name}: {after}");
    }
    // `--root` is for the server's own commands: not in an app command's help.
    let help = |words: &[&str]| {
        let words = std::iter::once("paas").chain(words.iter().copied());
        Cli::try_parse_from(words).unwrap_err().to_string()
    };
    let run = help(&["run", "--help"]);
    assert!(run.contains("--app") && !run.contains("--root"), "{run}");
    assert!(help(&["server", "--help"]).contains("--root DIR"));
}
