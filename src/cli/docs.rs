//! What the binary prints about itself: completion scripts and the man page.

use clap::Subcommand;

// Completion scripts and the man page.
#[derive(Debug, Subcommand)]
pub enum DocsCommand {
    /// Print the shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(name = "completions")]
    Completions {
        /// The shell: `bash`, `zsh` or `fish`.
        #[arg(value_enum)]
        shell: crate::completion::Shell,
    },
    /// Print the man page (roff).
    #[command(name = "manpage")]
    Manpage,
}
