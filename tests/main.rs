//! End-to-end tests: each test installs paas with `--local` into its own
//! temporary root on free ports, then drives it as a user would, over real
//! sshd, git, podman and curl. They need root (the installer creates the
//! `paas` user and a private sshd) and fail, not skip, without it.

mod harness;

mod access;
mod acme;
mod addons;
mod buildpack_api;
mod checks;
mod client;
mod commands;
mod cron;
mod dashboard;
mod deploy;
mod disk;
mod dockerfile;
mod dynos;
mod failures;
mod generated;
mod habits;
mod into_dyno;
mod kubernetes;
mod lang_node;
mod lang_python_go_rust;
mod lang_ruby_php;
mod local;
mod metrics;
mod pg_tools;
mod rename;
pub mod router;
mod runtime;
mod server;
mod ssh;
mod storage;
mod webhooks;
