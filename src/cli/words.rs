//! The words of a command line before clap reads them: a namespace and
//! verb typed apart (`ps scale`), where global options and a one-off
//! command line begin, and `run`'s options moved in front of its command.

use clap::CommandFactory;

use super::Cli;

/// Global options that take a value, so their value is not a command word.
const GLOBAL_OPTIONS_WITH_VALUES: [&str; 6] =
    ["-a", "--app", "--root", "-r", "--remote", "--color"];

/// Commands whose words after the first argument are a command line of
/// their own (`run echo --root x`), never paas options.
const TAKES_A_COMMAND_LINE: [&str; 2] = ["run", "run:detached"];

/// The positions of the words clap reads as global options taking a value
/// (`--root`, `--remote`, …): the option's word, and its value's word when
/// separate. Words of a one-off command line and after `--` are not options.
pub fn global_option_words(args: &[String]) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    let mut command: Option<&str> = None;
    let mut i = 0;
    while i < args.len() {
        let word = args[i].as_str();
        if word == "--" {
            break;
        }
        if let Some(name) = GLOBAL_OPTIONS_WITH_VALUES
            .iter()
            .find(|o| word == **o || (o.starts_with("--") && word.starts_with(&format!("{o}="))))
        {
            let last = if word == *name { i + 1 } else { i };
            found.push((i, last.min(args.len() - 1)));
            i = last + 1;
            continue;
        }
        if !word.starts_with('-') {
            match command {
                None => command = Some(word),
                Some(c) if TAKES_A_COMMAND_LINE.contains(&c) => break,
                Some(_) => {}
            }
        }
        i += 1;
    }
    found
}

/// `paas ps scale web=2` is `paas ps:scale web=2` (and `paas help ps scale`
/// is `paas help ps:scale`), as Heroku's CLI allows. `run` is left alone:
/// `paas run stop` runs `stop`.
pub fn join_namespace(mut args: Vec<String>) -> Vec<String> {
    let command = Cli::command();
    let known = |name: &str| command.get_subcommands().any(|c| c.get_name() == name);
    let options = global_option_words(&args);
    let mut i = 0;
    while i < args.len() {
        let word = args[i].as_str();
        if let Some((_, last)) = options.iter().find(|(first, _)| *first == i) {
            i = last + 1;
            continue;
        }
        if word.starts_with('-') || word == "help" {
            i += 1;
            continue;
        }
        if TAKES_A_COMMAND_LINE.contains(&word) {
            break;
        }
        if let Some(verb) = args.get(i + 1) {
            let joined = format!("{word}:{verb}");
            if known(&joined) {
                args[i] = joined;
                args.remove(i + 1);
            }
        }
        break;
    }
    args
}

/// The words as clap should read them: `join_namespace`, then `run`'s and
/// `run:detached`'s own options lifted out of the command line.
pub fn normalize(args: Vec<String>) -> Vec<String> {
    hoist_one_off_options(join_namespace(args))
}

/// paas's options of `run` and `run:detached`, with whether each takes a
/// value. As Heroku's CLI reads them, they are paas's wherever they stand
/// before a `--` (`paas run echo hi -a myapp`); after it, every word is the
/// command's (`paas run -s standard-2x -- myscript.sh -a arg1`).
const ONE_OFF_OPTIONS: [(&str, bool); 14] = [
    ("-a", true),
    ("--app", true),
    ("-r", true),
    ("--remote", true),
    ("-e", true),
    ("--env", true),
    ("-s", true),
    ("--size", true),
    ("--type", true),
    ("-x", false),
    ("--exit-code", false),
    ("--no-tty", false),
    // `run:detached` only: follow the dyno's logs.
    ("-t", false),
    ("--tail", false),
];

/// `run ARGS…` with the one-off options among ARGS moved in front of the
/// command and a `--` after them, so that clap reads every option and
/// leaves the command whole. Other commands are left alone.
fn hoist_one_off_options(args: Vec<String>) -> Vec<String> {
    let options = global_option_words(&args);
    let mut i = 0;
    // Find the subcommand: the first word that is not a global option.
    while i < args.len() {
        if let Some((_, last)) = options.iter().find(|(first, _)| *first == i) {
            i = last + 1;
        } else if args[i].starts_with('-') {
            i += 1;
        } else {
            break;
        }
    }
    if i >= args.len() || !TAKES_A_COMMAND_LINE.contains(&args[i].as_str()) {
        return args;
    }
    let detached = args[i] == "run:detached";
    let (head, tail) = args.split_at(i + 1);
    let (mut lifted, mut command) = (Vec::new(), Vec::new());
    let mut words = tail.iter();
    while let Some(word) = words.next() {
        if word == "--" {
            command.extend(words.by_ref().cloned());
            break;
        }
        let option = ONE_OFF_OPTIONS.iter().find(|(name, _)| {
            (detached || !["-t", "--tail"].contains(name))
                && (word == name
                    || (name.starts_with("--") && word.starts_with(&format!("{name}="))))
        });
        match option {
            Some((name, true)) if word == name => {
                lifted.push(word.clone());
                lifted.extend(words.next().cloned());
            }
            Some(_) => lifted.push(word.clone()),
            None => command.push(word.clone()),
        }
    }
    let mut out = head.to_vec();
    out.extend(lifted);
    if !command.is_empty() {
        out.push("--".into());
        out.extend(command);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn namespace_and_verb_may_be_two_words() {
        assert_eq!(
            join_namespace(words("ps scale web=2")),
            words("ps:scale web=2")
        );
        assert_eq!(
            join_namespace(words("-a app --color never config set A=1")),
            words("-a app --color never config:set A=1")
        );
        assert_eq!(
            join_namespace(words("help ps scale")),
            words("help ps:scale")
        );
        assert_eq!(
            join_namespace(words("run echo scale")),
            words("run echo scale")
        );
        assert_eq!(join_namespace(words("ps")), words("ps"));
        assert_eq!(join_namespace(words("run stop")), words("run stop"));
    }

    #[test]
    fn options_inside_a_one_off_command_line_are_not_paas_options() {
        assert_eq!(
            global_option_words(&words("--remote prod ps --root=/x -a app")),
            [(0, 1), (3, 3), (4, 5)]
        );
        assert_eq!(
            global_option_words(&words("run -a app echo --root /etc")),
            [(1, 2)]
        );
        assert_eq!(global_option_words(&words("ps -- --remote x")), []);
    }

    #[test]
    fn run_options_are_paas_options_wherever_they_stand_before_a_double_dash() {
        assert_eq!(
            normalize(words("run echo hi -a myapp")),
            words("run -a myapp -- echo hi")
        );
        assert_eq!(
            normalize(words("run -s standard-2x -- myscript.sh -a arg1 -s arg2")),
            words("run -s standard-2x -- myscript.sh -a arg1 -s arg2")
        );
        assert_eq!(
            normalize(words(
                "-r staging run --size=standard-2x rake db:migrate -x --no-tty"
            )),
            words("-r staging run --size=standard-2x -x --no-tty -- rake db:migrate")
        );
        assert_eq!(
            normalize(words(
                "run:detached -e A=1;B=2 python job.py --type worker -t"
            )),
            words("run:detached -e A=1;B=2 --type worker -t -- python job.py")
        );
        assert_eq!(normalize(words("run top -t")), words("run -- top -t"));
        // Words that only look like options are the command's.
        assert_eq!(
            normalize(words("run ls -la --color=auto")),
            words("run -- ls -la --color=auto")
        );
        // Already normal (as a server gets it from a laptop): unchanged.
        let normal = words("run -a myapp -- echo -a x");
        assert_eq!(normalize(normal.clone()), normal);
        assert_eq!(normalize(words("ps scale web=2")), words("ps:scale web=2"));
    }
}
