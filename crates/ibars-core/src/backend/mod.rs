//! Storage: one narrow trait over immutable named objects, and its OpenDAL implementation.
//!
//! Durability contract: when [`Backend::write`] returns `Ok`, the object is complete and will be
//! read back byte for byte; a write that fails or is interrupted leaves either no object or
//! (on stores without atomic writes) an object that fails authentication and is never referenced.
//! Nothing relies on listing order, rename or append.

pub mod append_only;
pub mod cache;
pub mod faulty;
pub mod location;
mod opendal_backend;
mod retry;
pub mod s3;
pub mod throttle;

pub use append_only::AppendOnlyBackend;
pub use cache::CachedBackend;
pub use faulty::FaultyBackend;
pub use opendal_backend::OpendalBackend;
pub use retry::{RetryBackend, RetryPolicy};
pub use throttle::{Limits, ThrottledBackend};

use crate::error::Result;

/// The kinds of object a repository holds; each lives under its own prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    Config,
    Key,
    Lock,
    Snapshot,
    Index,
    Pack,
    /// Reed-Solomon parity of a pack, named after the pack.
    Parity,
    /// Which packs were verified when (scrubbing state).
    Scrub,
    /// Records of past checks.
    History,
}

impl FileKind {
    /// Every kind stored under a directory prefix: all but the config.
    pub const LISTED: [FileKind; 8] = [
        FileKind::Key,
        FileKind::Lock,
        FileKind::Snapshot,
        FileKind::Index,
        FileKind::Pack,
        FileKind::Parity,
        FileKind::Scrub,
        FileKind::History,
    ];

    /// Directory prefix of this kind (empty for the config).
    pub fn dir(self) -> &'static str {
        match self {
            FileKind::Config => "",
            FileKind::Key => "keys/",
            FileKind::Lock => "locks/",
            FileKind::Snapshot => "snapshots/",
            FileKind::Index => "index/",
            FileKind::Pack => "data/",
            FileKind::Parity => "parity/",
            FileKind::Scrub => "scrub/",
            FileKind::History => "history/",
        }
    }

    /// The object path of `name` (a hex id, or `config`).
    pub fn path(self, name: &str) -> String {
        match self {
            FileKind::Config => "config".to_string(),
            FileKind::Pack | FileKind::Parity => {
                format!("{}{}/{}", self.dir(), name.get(..2).unwrap_or("00"), name)
            }
            _ => format!("{}{}", self.dir(), name),
        }
    }
}

/// One listed object: its name (hex id) and size in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    pub name: String,
    pub size: u64,
}

/// A local repository's file system, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskSpace {
    pub free: u64,
    pub size: u64,
}

/// A store of immutable named objects. Implementations must be safe to call from many threads.
pub trait Backend: Send + Sync {
    /// Human-readable location, for messages (never contains credentials).
    fn location(&self) -> String;
    /// How many requests are worth keeping in flight at once: one for a local disk, more
    /// for a remote store, where each request waits on the network.
    fn parallelism(&self) -> usize {
        1
    }
    /// The file system of a repository on a local disk: its size and the bytes free to the
    /// user; `None` for a remote store, or when the file system cannot say.
    fn disk_space(&self) -> Option<DiskSpace> {
        None
    }
    /// All objects of a kind, in no particular order.
    fn list(&self, kind: FileKind) -> Result<Vec<ListEntry>>;
    /// The whole object.
    fn read(&self, kind: FileKind, name: &str) -> Result<bytes::Bytes>;
    /// `len` bytes at `offset`. Returns fewer bytes only if the object is shorter.
    fn read_range(&self, kind: FileKind, name: &str, offset: u64, len: u64)
        -> Result<bytes::Bytes>;
    /// Store an object. Every name is new except the config's, which
    /// `Repository::update_config` overwrites; see the contract above.
    fn write(&self, kind: FileKind, name: &str, data: bytes::Bytes) -> Result<()>;
    /// [`Backend::read`] of an object worth keeping in a local cache (a pack of trees).
    /// Snapshots and index files are always worth it, and need no hint.
    fn read_cacheable(&self, kind: FileKind, name: &str) -> Result<bytes::Bytes> {
        self.read(kind, name)
    }
    /// [`Backend::write`] of an object worth keeping in a local cache (a pack of trees).
    fn write_cacheable(&self, kind: FileKind, name: &str, data: bytes::Bytes) -> Result<()> {
        self.write(kind, name, data)
    }
    /// Delete an object. Deleting a missing object is not an error.
    fn remove(&self, kind: FileKind, name: &str) -> Result<()>;
    /// Whether [`Backend::remove`] may delete objects other than locks. False for an
    /// append-only client, which then keeps what it wrote rather than tidy it up.
    fn can_delete(&self) -> bool {
        true
    }
    /// Size of an object, or a not-found error.
    fn size(&self, kind: FileKind, name: &str) -> Result<u64>;
}
