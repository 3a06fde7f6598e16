//! `storage`: directories that outlive dynos, mounted into apps.

use clap::Subcommand;
use clap_complete::engine::ArgValueCandidates;

use super::args::Format;

// Storages.
#[derive(Debug, Subcommand)]
pub enum StorageCommand {
    /// List storages with their size and where they are mounted: yours (an
    /// admin: all), or those mounted on the app with `-a`.
    #[command(name = "storage")]
    List {
        #[command(flatten)]
        format: Format,
    },
    /// Create a storage: a directory that outlives dynos, to mount into apps.
    ///
    /// Files a dyno writes under `/app` vanish with it (each deploy,
    /// restart or rollback starts new dynos); files written in a mounted
    /// storage stay. You own the storages you create: you (and admins) may
    /// mount, back up, restore and destroy them.
    #[command(
        name = "storage:create",
        after_help = "EXAMPLES:\n  $ paas storage:create uploads\n  $ paas storage:mount uploads /app/public/uploads -a mycms"
    )]
    Create {
        /// Lowercase letters, digits and dashes, starting with a letter.
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Mount a storage into every dyno of the app (all process types,
    /// one-off, release phase and cron dynos); its dynos restart now.
    #[command(
        name = "storage:mount",
        after_help = "EXAMPLES:\n  $ paas storage:mount uploads /app/public/uploads -a mycms"
    )]
    Mount {
        /// The storage.
        #[arg(value_name = "NAME", add = ArgValueCandidates::new(crate::completion::storage_names))]
        name: String,
        /// Where its files appear: an absolute path, such as a directory
        /// under `/app` (what the slug has there is hidden while it is
        /// mounted) or, for an image's dynos, `/data`; no system directory.
        #[arg(value_name = "PATH")]
        path: String,
    },
    /// Unmount a storage from the app; its dynos restart now, and the files
    /// stay in the storage.
    #[command(name = "storage:unmount")]
    Unmount {
        /// The storage, or where it is mounted.
        #[arg(value_name = "NAME|PATH", add = ArgValueCandidates::new(crate::completion::storage_names))]
        name: String,
    },
    /// Destroy a storage and its files, unmounting it from every app first.
    #[command(name = "storage:destroy")]
    Destroy {
        /// The storage.
        #[arg(value_name = "NAME", add = ArgValueCandidates::new(crate::completion::storage_names))]
        name: String,
        /// The storage's name again, to confirm.
        #[arg(short = 'c', long, value_name = "NAME")]
        confirm: Option<String>,
    },
    /// Write a storage's files to stdout as a zstd-compressed tar.
    #[command(
        name = "storage:backup",
        after_help = "EXAMPLES:\n  $ paas storage:backup uploads > uploads.tar.zst\n  $ zstd -dc uploads.tar.zst | tar -t    # what it holds"
    )]
    Backup {
        /// The storage.
        #[arg(value_name = "NAME", add = ArgValueCandidates::new(crate::completion::storage_names))]
        name: String,
    },
    /// Replace a storage's files with a backup read from stdin (a
    /// zstd-compressed tar, or a plain tar); dynos see them at once.
    #[command(
        name = "storage:restore",
        after_help = "EXAMPLES:\n  $ paas storage:restore uploads --confirm uploads < uploads.tar.zst\n  $ tar -C ./uploads -c . | paas storage:restore uploads --confirm uploads"
    )]
    Restore {
        /// The storage.
        #[arg(value_name = "NAME", add = ArgValueCandidates::new(crate::completion::storage_names))]
        name: String,
        /// The storage's name again, to confirm (stdin is the backup, so
        /// nothing is asked).
        #[arg(short = 'c', long, value_name = "NAME")]
        confirm: Option<String>,
    },
}
