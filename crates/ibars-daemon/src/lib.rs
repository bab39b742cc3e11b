//! The ibars daemon, as a library: its configuration ([`config`]), when jobs run
//! ([`schedule`]) and their hooks ([`hooks`]). The job runner, alerts, metrics and the
//! control API build on them.

pub mod config;
pub mod hooks;
pub mod schedule;
