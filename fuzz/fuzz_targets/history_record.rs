//! History records (`history/`): any input parses or fails cleanly, and what parses
//! serializes to something that parses to the same record.
#![no_main]

use ibars_core::history::Record;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = Record::parse(data, "fuzz") {
        let again = Record::parse(&r.to_bytes(), "again").expect("re-parses");
        assert_eq!(again, r);
    }
});
