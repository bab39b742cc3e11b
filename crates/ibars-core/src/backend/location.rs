//! Where a repository lives: a directory or an S3 bucket, parsed from `-r` or a config's
//! `location`, and the stack of backends that reaches it.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use super::s3::S3Config;
use super::{Backend, Limits, OpendalBackend, RetryBackend, RetryPolicy, ThrottledBackend};
use crate::error::Result;

/// How a store is reached, beyond where it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct Transport {
    /// Requests in flight at once (`--connections`).
    pub connections: Option<usize>,
    pub limits: Limits,
}

/// A repository's place.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    Local(PathBuf),
    S3(Box<S3Config>),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Local(p) => write!(f, "{}", p.display()),
            Location::S3(c) => f.write_str(&c.location()),
        }
    }
}

impl Location {
    /// Parse `-r`: `s3:...` is a bucket (see [`S3Config::from_url`]), anything else a path.
    /// S3 settings come from, in order: the URL, `overrides` (command-line options), the
    /// `AWS_*` environment, `file` (a config file's settings).
    pub fn parse(s: &str, file: &S3Config, overrides: &S3Config) -> Result<Self> {
        let Some(rest) = s.strip_prefix("s3:") else {
            return Ok(Location::Local(PathBuf::from(s)));
        };
        let mut c = S3Config::from_url(rest)?;
        c.fill_from(overrides);
        c.fill_from_env(|k| std::env::var(k).ok());
        c.fill_from(file);
        if c.access_key_id.is_none() {
            tracing::info!(
                "no S3 credentials in the environment or the config file; trying ~/.aws and instance metadata"
            );
        }
        Ok(Location::S3(Box::new(c)))
    }

    /// True for stores reached over the network, which get a local cache.
    pub fn is_remote(&self) -> bool {
        matches!(self, Location::S3(_))
    }

    /// The storage, held to the transport's rate limits, with retries on transient errors.
    /// With `create`, a missing local directory is made (a bucket must exist already).
    pub fn backend(&self, create: bool, t: &Transport) -> Result<Arc<dyn Backend>> {
        let (store, policy) = match self {
            Location::Local(p) => {
                let mut b = OpendalBackend::local(p, create)?;
                if let Some(n) = t.connections {
                    b.set_parallelism(n);
                }
                (b, RetryPolicy::default())
            }
            // A remote store gets more patience: a node restarting or a load balancer failing
            // over takes seconds.
            Location::S3(c) => (OpendalBackend::s3(c)?, RetryPolicy::remote()),
        };
        let store: Arc<dyn Backend> = if t.limits.is_none() {
            Arc::new(store)
        } else {
            Arc::new(ThrottledBackend::new(store, t.limits))
        };
        Ok(Arc::new(RetryBackend::new(store, policy)))
    }
}
