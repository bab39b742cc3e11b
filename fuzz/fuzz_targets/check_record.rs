//! Check records (`history/`).
#![no_main]

use ibars_core::ops::check::scrub::CheckRecord;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = CheckRecord::parse(data, "fuzz") {
        let bytes = serde_json::to_vec(&r).expect("serializes");
        CheckRecord::parse(&bytes, "again").expect("re-parses");
    }
});
