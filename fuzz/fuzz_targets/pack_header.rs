//! Pack headers: the opened payload, and whole pack tails around it.
#![no_main]

use ibars_core::id::PackId;
use ibars_core::pack::{decode_header, parse_header};
use ibars_core::sealed::{seal, ObjectKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let data_end = data.len() as u64 * 8;
    if let Ok(entries) = decode_header(data, data_end, "fuzz") {
        // Accepted entries tile the data region from its start.
        let mut offset = 0u64;
        for e in &entries {
            assert_eq!(u64::from(e.offset), offset);
            offset += u64::from(e.length);
        }
        assert!(offset <= data_end);
    }
    let key = ibars_fuzz::key();
    let pack = PackId([0; 32]);
    // The input as a raw tail, with the pack length right and too short.
    let _ = parse_header(key, &pack, data, data.len() as u64);
    let _ = parse_header(key, &pack, data, data.len() as u64 / 2);
    // The input as a header payload, sealed behind a data region.
    let region = usize::from(data.first().copied().unwrap_or(0)) * 64;
    let mut tail = vec![0u8; region];
    let sealed = seal(key, ObjectKind::PackHeader, data, false);
    tail.extend_from_slice(&sealed);
    tail.extend_from_slice(&(sealed.len() as u32).to_le_bytes());
    if let Ok(entries) = parse_header(key, &pack, &tail, tail.len() as u64) {
        let total: u64 = entries.iter().map(|e| u64::from(e.length)).sum();
        assert!(total <= region as u64);
    }
});
