use std::process::ExitCode;

fn main() -> ExitCode {
    // A closed pipe (`paas logs | head`) ends quietly instead of panicking.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    paas::completion::complete_if_asked();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = paas::cli::parse(args.clone())
        .and_then(|cli| paas::commands::run(cli, &paas::cli::normalize(args)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprint!("{}", err.report());
            ExitCode::from(err.exit_code())
        }
    }
}
