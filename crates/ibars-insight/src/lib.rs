//! ibars-insight: pure models over the run history of a repository. No I/O and no clock: every
//! time comes from the records. It owns the record types (`record`), which ibars-core seals
//! into the repository's `history/`, and the models that read them (`anomaly`).

pub mod anomaly;
pub mod classify;
pub mod forecast;
pub mod record;
pub mod retention;
pub mod rpo;
pub mod series;

pub use record::{Record, RecordError};
