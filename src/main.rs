use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // A closed pipe (`paas logs | head`) ends quietly instead of panicking.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = paas::cli::Cli::parse();
    match paas::commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprint!("{}", err.report());
            ExitCode::from(err.exit_code())
        }
    }
}
