//! Trees: an accepted tree serializes to one that parses back equal.
#![no_main]

use ibars_core::id::BlobId;
use ibars_core::tree::Tree;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let id = BlobId([0; 32]);
    if let Ok(t) = Tree::parse(data, &id) {
        let again = Tree::parse(&t.to_bytes(), &id).expect("a parsed tree re-parses");
        assert_eq!(again, t);
    }
});
