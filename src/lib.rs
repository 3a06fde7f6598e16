//! paas: a Heroku-style platform for one small server.
//!
//! Data flows through the modules in this order: `ssh` (who may run what) →
//! `git` (receive, export) → `build` (buildpacks in a container) → `slug` →
//! `release` (the ledger) → `converge` (make podman match) via `runtime` →
//! `daemon` (router, reconciler). `state` is the store under them all;
//! `commands` are the CLI; `install` sets up a machine.
//!
//! The modules stand in layers that import only downward (ground, `state`,
//! records, `runtime` and `build`, workflows, `daemon`, then the terminal
//! side, the command line, `commands` and `install`): `layers.rs` ranks each
//! one and its test fails on an import that goes up.

#[macro_use]
mod say;
pub mod access;
pub mod addons;
pub mod apps;
pub mod audit;
pub mod build;
pub mod certs;
pub mod checks;
pub mod cli;
pub mod client;
pub mod clock;
pub mod commands;
pub mod completion;
pub mod control;
pub mod converge;
pub mod crashes;
pub mod cron;
pub mod daemon;
pub mod deploy;
pub mod docs;
pub mod duration;
pub mod error;
pub mod formation;
pub mod git;
pub mod install;
pub mod interrupted;
pub mod keys;
pub mod kubernetes;
#[cfg(test)]
mod layers;
pub mod logins;
pub mod logs;
pub mod metrics;
pub mod net;
pub mod output;
pub mod probation;
pub mod process;
pub mod prune;
pub mod random;
pub mod release;
pub mod rollout;
pub mod routes;
pub mod runtime;
pub mod slug;
pub mod ssh;
pub mod state;
pub mod storage;
pub mod tls;
pub mod users;
pub mod webhooks;
