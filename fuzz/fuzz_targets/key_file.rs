//! Key files: parsing, and unwrapping when the KDF is cheap enough to run per input.
#![no_main]

use ibars_core::crypto::keyfile::KeyFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(kf) = KeyFile::parse(data, "fuzz") {
        let again = KeyFile::parse(&kf.to_bytes(), "again").expect("re-parses");
        assert_eq!(again.to_bytes(), kf.to_bytes());
        // Out-of-range KDF parameters must be refused before any work is done; small ones
        // are run, so that the unwrapping path sees fuzzed salts and wrapped keys.
        let p = kf.kdf_params();
        if p.m_cost <= 256 && p.t_cost <= 2 && p.p_cost <= 2 {
            let _ = kf.open(b"pw");
        } else if p.m_cost > 4 * 1024 * 1024 || p.t_cost > 100 || p.p_cost > 64 {
            assert!(kf.open(b"pw").is_err());
        }
    }
});
