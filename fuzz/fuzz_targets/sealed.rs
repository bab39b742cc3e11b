//! Sealed objects: the opened plaintext (kind, version, codec, payload), compressed or not.
#![no_main]

use ibars_core::sealed::{open, ObjectKind};
use libfuzzer_sys::fuzz_target;

const KINDS: [ObjectKind; 7] = [
    ObjectKind::Config,
    ObjectKind::Snapshot,
    ObjectKind::Index,
    ObjectKind::Lock,
    ObjectKind::PackHeader,
    ObjectKind::HistoryRecord,
    ObjectKind::ScrubState,
];

fuzz_target!(|data: &[u8]| {
    let key = ibars_fuzz::key();
    let sealed = key.encrypt(data, b"");
    let kind = KINDS[usize::from(data.first().copied().unwrap_or(0)) % KINDS.len()];
    let _ = open(key, kind, &sealed, "fuzz");
    // And the input as ciphertext: must fail authentication, never panic.
    assert!(open(key, kind, data, "fuzz").is_err());
});
