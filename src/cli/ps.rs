//! `ps`: the formation and its dynos; and what reaches into a running
//! dyno (`ps:exec`, `ps:copy`, `ps:forward`).

use clap::Subcommand;
use clap_complete::engine::ArgValueCandidates;

use super::args::Format;

// The formation and its dynos.
#[derive(Debug, Subcommand)]
pub enum PsCommand {
    /// List the app's dynos.
    #[command(name = "ps")]
    List {
        #[command(flatten)]
        format: Format,
    },
    /// Scale process types (`web=2 worker=1`, `web+1`, `worker-2`), and size
    /// them (`web=2:standard-2x`); with nothing to change, show the formation.
    #[command(
        name = "ps:scale",
        after_help = "EXAMPLES:\n  $ paas ps:scale web=2 worker=1\n  $ paas ps:scale web+1\n  $ paas ps:scale web=2:standard-2x\n  $ paas ps:scale                 # shows the formation",
        visible_alias = "scale"
    )]
    Scale {
        /// `TYPE=COUNT[:SIZE]`, or `TYPE+N` / `TYPE-N` to add or take dynos.
        #[arg(value_name = "TYPE=COUNT[:SIZE]", add = ArgValueCandidates::new(crate::completion::process_type_assignments))]
        changes: Vec<String>,
    },
    /// Change the size of a process type's dynos (`web=standard-2x`).
    #[command(name = "ps:resize")]
    Resize {
        /// A process type and its new size, `TYPE=SIZE` each (`web=standard-2x`).
        #[arg(required = true, value_name = "TYPE=SIZE")]
        changes: Vec<String>,
    },
    /// Restart dynos, all or of one process type.
    #[command(name = "ps:restart", visible_alias = "restart")]
    Restart {
        /// A process type (`web`) or one dyno (`web.1`).
        #[arg(value_name = "TYPE|DYNO", add = ArgValueCandidates::new(crate::completion::process_types))]
        target: Option<String>,
    },
    /// Stop a process type (scales it to 0 until `ps:start`) or one dyno
    /// (the formation starts a new one).
    #[command(name = "ps:stop")]
    Stop {
        /// A process type (`worker`) or one dyno (`web.1`).
        #[arg(value_name = "TYPE|DYNO", add = ArgValueCandidates::new(crate::completion::process_types))]
        target: String,
    },
    /// Start a process type stopped with `ps:stop`, at its previous scale.
    #[command(name = "ps:start")]
    Start {
        /// The process type stopped with `ps:stop`.
        #[arg(value_name = "TYPE", add = ArgValueCandidates::new(crate::completion::process_types))]
        process_type: String,
    },
    /// Show or set the seconds a stopping dyno gets between SIGTERM and SIGKILL (default 30).
    #[command(name = "ps:stop-timeout")]
    StopTimeout {
        /// Seconds between SIGTERM and SIGKILL; shows the current one if omitted.
        #[arg(value_name = "SECONDS")]
        seconds: Option<u64>,
    },
    /// Stop the web dynos after a time without requests (`--after 30m`);
    /// the next request is held while one starts. `off` keeps them up (the
    /// default); with neither, shows the setting.
    #[command(name = "ps:autosleep")]
    Autosleep {
        /// Idle time before sleeping: `90s`, `30m`, `2h`.
        #[arg(long, value_name = "DURATION", conflicts_with = "off")]
        after: Option<String>,
        /// `off` to keep the web dynos running.
        #[arg(value_name = "off", value_parser = ["off"])]
        off: Option<String>,
    },
    /// Like `ps:stop`, with SIGKILL at once instead of SIGTERM.
    #[command(name = "ps:kill")]
    Kill {
        /// A process type (`worker`) or one dyno (`web.1`).
        #[arg(value_name = "TYPE|DYNO", add = ArgValueCandidates::new(crate::completion::process_types))]
        target: String,
    },
}

// Into a running dyno: a command, a file, a port.
#[derive(Debug, Subcommand)]
pub enum PsExecCommand {
    /// Run a command (default: a shell) inside a running dyno, with its config vars.
    #[command(
        name = "ps:exec",
        after_help = "EXAMPLES:\n  $ paas ps:exec                  # a shell in web.1\n  $ paas ps:exec -d worker.1 -- ps aux"
    )]
    Exec {
        /// The dyno.
        #[arg(short = 'd', long, default_value = "web.1", value_name = "DYNO")]
        dyno: String,
        /// The command and its arguments (default: `bash`).
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "COMMAND"
        )]
        command: Vec<String>,
    },
    /// Copy a file out of a running dyno: to a file of its name here, or `-o FILE`.
    #[command(name = "ps:copy")]
    Copy {
        /// The file in the dyno (relative to `/app`).
        #[arg(value_name = "PATH")]
        path: String,
        /// The dyno.
        #[arg(short = 'd', long, default_value = "web.1", value_name = "DYNO")]
        dyno: String,
        /// Where to write it (`-` for stdout; default: its name, here).
        #[arg(short = 'o', long, value_name = "FILE")]
        output: Option<std::path::PathBuf>,
    },
    /// Forward a port on this machine's loopback to a port inside a running dyno.
    #[command(name = "ps:forward")]
    Forward {
        /// The port inside the dyno.
        #[arg(value_name = "PORT")]
        port: u16,
        /// The dyno.
        #[arg(short = 'd', long, default_value = "web.1", value_name = "DYNO")]
        dyno: String,
        /// The local port (default: the same).
        #[arg(short = 'p', long = "local-port", value_name = "PORT")]
        local_port: Option<u16>,
    },
    /// Connect stdin and stdout to a port inside a dyno (what `ps:forward` runs over SSH).
    #[command(name = "ps:connect", hide = true)]
    Connect {
        #[arg(value_name = "PORT")]
        port: u16,
        #[arg(short = 'd', long, value_name = "DYNO")]
        dyno: String,
    },
}
