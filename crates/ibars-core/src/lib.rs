//! ibars-core: the repository and every operation on it. See docs/format.md for the on-disk
//! format and ARCHITECTURE.md for how the pieces fit.

pub mod backend;
pub mod bufpool;
pub mod chunker;
pub mod compress;
pub mod crypto;
pub mod error;
pub mod features;
pub mod history;
pub mod id;
pub mod index;
pub mod ops;
pub mod pack;
pub mod parity;
pub mod progress;
pub mod repo;
pub mod sealed;
pub mod snapshot;
pub mod source;
pub mod tree;
pub mod units;

pub use error::{Error, Result};
