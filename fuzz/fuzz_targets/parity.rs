//! Parity files: header parsing, shard checks and repair, with the header hash made right.
#![no_main]

use ibars_core::parity::ParityFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ParityFile::parse(data, "fuzz");
    let mut fixed = data.to_vec();
    ibars_fuzz::fix_parity_hash(&mut fixed);
    if let Ok(p) = ParityFile::parse(&fixed, "fuzz") {
        let _ = p.damaged_recovery();
        let _ = p.damaged_data(data);
        let _ = p.repair(None);
        let _ = p.repair(Some(data));
    }
});
