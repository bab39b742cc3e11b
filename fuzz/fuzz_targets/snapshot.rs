//! Snapshots: an accepted snapshot serializes to one that parses back equal.
#![no_main]

use ibars_core::snapshot::Snapshot;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = Snapshot::parse(data, "fuzz") {
        let bytes = serde_json::to_vec(&s).expect("serializes");
        assert_eq!(Snapshot::parse(&bytes, "again").expect("re-parses"), s);
    }
});
