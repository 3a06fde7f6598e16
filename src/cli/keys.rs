//! `keys`: who may reach the server over SSH.

use std::path::PathBuf;

use clap::Subcommand;

use super::args::Format;

// SSH keys.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List SSH keys: yours, or everyone's for an admin.
    #[command(name = "keys")]
    List {
        #[command(flatten)]
        format: Format,
    },
    /// Add an SSH key (default: `~/.ssh/id_ed25519.pub`, `id_ecdsa.pub` or
    /// `id_rsa.pub`; on the server, stdin when no file is given).
    #[command(name = "keys:add")]
    Add {
        /// The public key file.
        #[arg(value_name = "FILE")]
        file: Option<PathBuf>,
        /// Whose key it is (admins only; default: yours).
        #[arg(long)]
        user: Option<String>,
        /// Make that user an admin (admins only).
        #[arg(long)]
        admin: bool,
        /// A deploy key for the app given with `-a` (its owner or an admin):
        /// it may only push to that app and read its builds, for CI.
        #[arg(long, conflicts_with_all = ["admin", "user"])]
        deploy: bool,
    },
    /// Remove an SSH key, by fingerprint (`SHA256:…`) or comment.
    #[command(name = "keys:remove")]
    Remove {
        /// The key's fingerprint (`SHA256:…`) or comment.
        #[arg(value_name = "KEY")]
        key: String,
    },
}
