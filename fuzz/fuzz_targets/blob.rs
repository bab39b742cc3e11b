//! Blobs: kind, codec, raw length, id, then the body that is encrypted as stored. Covers
//! decompression with a declared size and the id check.
#![no_main]

use ibars_core::compress::Codec;
use ibars_core::id::{BlobId, PackId};
use ibars_core::pack::{blob_aad, BlobDecoder, BlobKind, PackEntry};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 38 {
        return;
    }
    let (Some(kind), Some(codec)) = (BlobKind::from_u8(data[0]), Codec::from_u8(data[1])) else {
        return;
    };
    let raw_length = u32::from_le_bytes(data[2..6].try_into().expect("4 bytes"));
    let id = BlobId::from_slice(&data[6..38]).expect("32 bytes");
    let key = ibars_fuzz::key();
    let stored = key.encrypt(&data[38..], &blob_aad(kind, &id));
    let e = PackEntry {
        kind,
        codec,
        id,
        offset: 0,
        length: stored.len() as u32,
        raw_length,
    };
    if let Ok(plain) = BlobDecoder::default().decode(key, &PackId([0; 32]), &e, &stored) {
        assert_eq!(key.blob_id(plain), id);
        assert_eq!(plain.len(), raw_length as usize);
    }
});
