//! Lock objects.
#![no_main]

use ibars_core::repo::LockInfo;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(l) = LockInfo::parse(data, "fuzz") {
        let _ = l.is_stale();
        let bytes = serde_json::to_vec(&l).expect("serializes");
        LockInfo::parse(&bytes, "again").expect("re-parses");
    }
});
