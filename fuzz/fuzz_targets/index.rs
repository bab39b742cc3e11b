//! Index files: accepted payloads encode back to the same bytes.
#![no_main]

use ibars_core::index::{decode_file, encode_file};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(packs) = decode_file(data, "fuzz") {
        assert_eq!(encode_file(&packs), data);
    }
});
