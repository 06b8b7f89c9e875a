//! gcwatch: a local development daemon for GreenCloud functions.
//!
//! # Layout
//!
//! The data flow of `gcwatch watch`, one module per stage:
//!
//! ```text
//! notify → watch ─change─► route to function ─► debounce ─due─► snapshot (rules + walk + hash)
//!   ─► compare with state ─changed─► pack (zip) ─► client (upload) ─► follow (poll) ─► events
//! ```
//!
//! - [`config`] loads and checks `greencloud.toml`.
//! - [`rules`] decides what is shipped: ignore files with git's semantics, config patterns, defaults.
//! - [`snapshot`] walks a function folder under those rules and hashes what would be shipped.
//! - [`pack`] writes the reproducible zip of a snapshot.
//! - [`state`] remembers, per function, what was last submitted.
//! - [`watch`] turns file system notifications into changes routed to functions.
//! - [`debounce`] waits until a function's burst of changes settles.
//! - [`api`] holds the builder API's wire types; [`client`] speaks it, [`serve`] emulates it.
//! - [`follow`] turns a build's successive answers into status changes.
//! - [`events`] renders every event line, human or JSON.
//! - [`ship`] runs one function through snapshot → compare → zip → submit → follow.
//! - [`daemon`] is the orchestrator: it creates every channel and spawns every task.
//! - [`commands`] maps each command to that work and its exit code.
//! - [`service`] tells systemd when the daemon is ready and when it stops.
//! - [`init`] writes a first `greencloud.toml` for the function folders it finds.
//! - [`progress`] draws an upload's progress bar on a terminal.
//! - [`manual`] renders shell completions and the man page from [`cli`].

pub mod api;
pub mod cli;
pub mod client;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod debounce;
pub mod events;
pub mod follow;
pub mod init;
pub mod manual;
pub mod pack;
pub mod progress;
pub mod rules;
pub mod serve;
pub mod service;

pub mod ship;
pub mod snapshot;
pub mod statcache;
pub mod state;
pub mod watch;
pub mod zipfile;
