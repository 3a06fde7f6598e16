//! From the words after `paas` to a `Cli`: clap's errors made paas's, and
//! the command nearest to one that is not.

use clap::{CommandFactory, Parser};

use super::{normalize, AppsCommand, Cli, Command};

/// Parses the words after `paas`. Help and version are printed here and come
/// back as a silent exit 0; an unknown command gets the closest one as a hint.
pub fn parse(words: Vec<String>) -> Result<Cli, crate::error::Error> {
    use crate::error::{quoted, Error, QUOTED_INPUT};
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let words = normalize(words);
    let cli =
        Cli::try_parse_from(std::iter::once("paas".to_string()).chain(words)).map_err(|err| {
            if !err.use_stderr() {
                print!("{err}");
                return Error::exit(0);
            }
            if err.kind() == ErrorKind::InvalidSubcommand {
                if let Some(ContextValue::String(typed)) = err.get(ContextKind::InvalidSubcommand) {
                    let error = Error::new(format!(
                        "`{}` is not a paas command",
                        quoted(typed, QUOTED_INPUT)
                    ));
                    let error = match closest_command(typed) {
                        Some(name) => error.hint(format!(
                            "did you mean `{name}`? `paas help` lists the commands"
                        )),
                        None => error.hint("`paas help` lists the commands"),
                    };
                    return error.with_exit_code(2);
                }
            }
            let mut text = err.to_string();
            // clap quotes the offending words whole (twice, with its tip): each
            // long one is cut where it appears (#19, point 6).
            for (_, value) in err.context() {
                let words = match value {
                    ContextValue::String(word) => std::slice::from_ref(word),
                    ContextValue::Strings(words) => words.as_slice(),
                    _ => &[],
                };
                for word in words {
                    let shown = quoted(word, QUOTED_INPUT);
                    if shown.len() < word.len() {
                        text = text.replace(word.as_str(), &shown);
                    }
                }
            }
            Error::new(text.trim_start_matches("error: ").trim().to_string()).with_exit_code(2)
        })?;
    cli.with_app_from_arguments()
}

impl Cli {
    /// `apps:rename OLD NEW` names its app as `-a OLD` would (Heroku's form
    /// is `apps:rename NEW -a OLD`): the access check, the audit trail and
    /// the laptop's forwarding all take the app from `app`.
    fn with_app_from_arguments(mut self) -> Result<Cli, crate::error::Error> {
        use crate::error::{quoted, Error, QUOTED_INPUT};
        if let Command::Apps(AppsCommand::Rename {
            name,
            new: Some(new),
        }) = &self.command
        {
            match &self.app {
                Some(app) if app != name => {
                    return Err(Error::new(format!(
                        "`apps:rename {} {}` renames `{}`, but `-a` (or `PAAS_APP`) names `{}`",
                        quoted(name, QUOTED_INPUT),
                        quoted(new, QUOTED_INPUT),
                        quoted(name, QUOTED_INPUT),
                        quoted(app, QUOTED_INPUT)
                    ))
                    .hint("name the app once: `paas apps:rename OLD NEW`, or `paas apps:rename NEW -a OLD`")
                    .with_exit_code(2))
                }
                _ => self.app = Some(name.clone()),
            }
        }
        Ok(self)
    }
}

/// The visible command nearest to `typed` by edit distance, if near enough.
pub(super) fn closest_command(typed: &str) -> Option<String> {
    // Nothing this long is within reach of a command's name, and the
    // distance costs its length times theirs.
    if typed.len() > 64 {
        return None;
    }
    let command = Cli::command();
    command
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .map(|c| (edit_distance(typed, c.get_name()), c.get_name().to_string()))
        .filter(|(distance, name)| *distance <= 2.max(name.len() / 3))
        .min()
        .map(|(_, name)| name)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            current.push(
                (previous[j] + cost)
                    .min(previous[j + 1] + 1)
                    .min(current[j] + 1),
            );
        }
        previous = current;
    }
    previous[b.len()]
}
