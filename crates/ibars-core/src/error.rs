//! The library's error type. Every variant names what failed: a path, an object, an operation.

use std::path::PathBuf;

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in ibars-core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The storage layer failed on one object.
    #[error("storage: {op} {path}: {message}")]
    Backend {
        op: &'static str,
        path: String,
        message: String,
        /// True when the object does not exist.
        not_found: bool,
        /// True when trying again may succeed (a timeout, a dropped connection, throttling).
        transient: bool,
    },
    /// There is no repository at the location (no config or no keys).
    #[error("no repository at {0}")]
    NoRepository(String),
    /// `init` found an existing repository.
    #[error("a repository already exists at {0}")]
    AlreadyExists(String),
    /// No key file opens with the password.
    #[error("wrong password: none of the repository's {0} key(s) opens with it")]
    WrongPassword(usize),
    /// Stored bytes failed authentication, did not parse, or broke an invariant.
    #[error("corrupt {what}: {reason}")]
    Corrupt { what: String, reason: String },
    /// Another process holds a conflicting lock.
    #[error("repository is locked: {0}")]
    Locked(String),
    /// A local file system operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A snapshot reference matched nothing, or more than one snapshot.
    #[error("snapshot {0}")]
    Snapshot(String),
    /// A path inside a snapshot does not exist.
    #[error("no such path in snapshot: {0}")]
    NoSuchPath(String),
    /// An argument was invalid.
    #[error("{0}")]
    Invalid(String),
    /// The repository is open append-only and the operation would delete or overwrite.
    #[error("append-only: refusing to {0}")]
    AppendOnly(String),
    /// The operation was interrupted (Ctrl-C or a signal).
    #[error("interrupted")]
    Interrupted,
}

impl Error {
    /// Shorthand for a [`Error::Corrupt`].
    pub fn corrupt(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Corrupt {
            what: what.into(),
            reason: reason.into(),
        }
    }

    /// Shorthand for an [`Error::Io`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// True when the error says an object or file does not exist.
    pub fn is_not_found(&self) -> bool {
        match self {
            Error::Backend { not_found, .. } => *not_found,
            Error::Io { source, .. } => source.kind() == std::io::ErrorKind::NotFound,
            _ => false,
        }
    }

    /// True when the storage says trying again may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::Backend {
                transient: true,
                ..
            }
        )
    }

    /// Say how long a transient storage error was retried before it was given up on.
    pub fn retried(mut self, tries: u32, over: std::time::Duration) -> Self {
        if let Error::Backend { message, .. } = &mut self {
            *message = format!(
                "{message}; gave up after {tries} tries over {} s",
                over.as_secs()
            );
        }
        self
    }

    /// True when the error is a full disk on the local side.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.raw_os_error() == Some(libc::ENOSPC))
    }
}
