//! Scrub state: accepted states encode and decode back equal.
#![no_main]

use ibars_core::ops::check::scrub::ScrubState;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = ScrubState::decode(data, "fuzz") {
        let again = ScrubState::decode(&s.encode(), "again").expect("re-decodes");
        assert_eq!(again, s);
    }
});
