//! The ibars daemon, as a library: its configuration ([`config`]), when jobs run
//! ([`schedule`], [`jobs`]), how a run goes ([`run`], [`command`], [`hooks`]), what it keeps
//! ([`state`]), its metrics ([`metrics`]), the control API ([`api`]) and its client
//! ([`client`]), alerts ([`alerts`]), and the process that ties them together ([`daemon`]).

pub mod alerts;
pub mod api;
pub mod audit;
pub mod auth;
pub mod auto;
pub mod client;
pub mod command;
pub mod config;
pub mod daemon;
pub mod hooks;
pub mod jobs;
pub mod listen;
pub mod metrics;
pub mod operations;
pub mod repos;
pub mod run;
pub mod schedule;
pub mod state;
