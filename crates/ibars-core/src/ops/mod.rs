//! Operations on a repository, one module each.

pub mod backup;
pub mod filter;
pub mod restore;
pub mod walk;
