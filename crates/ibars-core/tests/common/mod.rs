//! Shared by the integration tests: an in-memory repository with cheap key derivation.

use std::sync::Arc;

use ibars_core::backend::OpendalBackend;
use ibars_core::crypto::keyfile::KdfParams;
use ibars_core::repo::{InitOptions, Repository};

/// A fresh in-memory repository with average chunks of `avg` bytes and 1 MiB packs.
pub fn test_repo(avg: u32) -> Repository {
    let opts = InitOptions {
        avg_chunk_size: avg,
        ..cheap_init()
    };
    Repository::init(Arc::new(OpendalBackend::memory().unwrap()), b"pw", &opts).unwrap()
}

/// Init options with cheap key derivation and small packs, as `test_repo` uses.
#[allow(dead_code)]
pub fn cheap_init() -> InitOptions {
    InitOptions {
        avg_chunk_size: 16 << 10,
        pack_size: 1 << 20,
        kdf: KdfParams {
            m_cost: 64,
            t_cost: 1,
            p_cost: 1,
        },
        ..Default::default()
    }
}
