//! Operations on a repository, one module each.

pub mod anomaly;
pub mod backup;
pub mod check;
pub mod classify;
pub mod copy;
pub mod dump;
pub mod filter;
pub mod find;
pub mod forget;
pub mod prune;
pub mod repair;
pub mod restore;
pub mod rewrite;
pub mod stats;
pub mod tag;
pub mod walk;
