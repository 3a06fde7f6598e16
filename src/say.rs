//! Progress lines for people, on stderr. Best effort: a client that hangs
//! up mid-push must not stop a deploy half-way, so a failed write is ignored
//! instead of panicking as `eprintln!` would.
//!
//! Below every other module: the store, workflows and commands all say what
//! they are doing. (`output` holds what only commands print.)

/// A line on stderr, ignoring a closed pipe.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// The start of a line on stderr (`Scaling dynos... `), finished by `say!`.
#[macro_export]
macro_rules! say_partial {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut stderr = std::io::stderr();
        let _ = write!(stderr, $($arg)*);
        let _ = stderr.flush();
    }};
}
