//! The repository config: accepted configs are valid and round-trip.
#![no_main]

use ibars_core::repo::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = Config::parse(data) {
        let bytes = serde_json::to_vec(&c).expect("serializes");
        assert_eq!(Config::parse(&bytes).expect("re-parses"), c);
    }
});
