//! The ibars daemon, as a library: its configuration ([`config`]) and when jobs run
//! ([`schedule`]). The job runner, alerts,
//! metrics and the control API build on it.

pub mod config;
pub mod schedule;
