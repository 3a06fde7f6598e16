//! End-to-end tests: each test installs paas with `--local` into its own
//! temporary root on free ports, then drives it as a user would, over real
//! sshd, git, podman and curl. They need root (the installer creates the
//! `paas` user and a private sshd) and fail, not skip, without it.

mod harness;

mod acme;
mod addons;
mod checks;
mod client;
mod commands;
mod deploy;
mod dynos;
mod failures;
mod generated;
pub mod router;
mod runtime;
mod server;
mod ssh;
