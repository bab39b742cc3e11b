//! Sources of backup data. So far: the local file system.

pub mod fs;
pub mod longpath;
