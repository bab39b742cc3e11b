//! What a file's first bytes say it is, and what its extension says it should be.

/// A known file format: its class name, where its signature sits, the signature, and whether
/// its content is compressed (so random-looking bytes after the head are normal).
struct Signature {
    class: &'static str,
    offset: usize,
    bytes: &'static [u8],
    compressed: bool,
}

const fn sig(
    class: &'static str,
    offset: usize,
    bytes: &'static [u8],
    compressed: bool,
) -> Signature {
    Signature {
        class,
        offset,
        bytes,
        compressed,
    }
}

/// Signatures of at least three bytes, tried before the text test.
const STRONG: &[Signature] = &[
    sig("pdf", 0, b"%PDF-", true),
    sig("png", 0, b"\x89PNG\r\n\x1a\n", true),
    sig("jpeg", 0, b"\xff\xd8\xff", true),
    sig("gif", 0, b"GIF8", true),
    sig("zip", 0, b"PK\x03\x04", true),
    sig("zip", 0, b"PK\x05\x06", true),
    sig("zip", 0, b"PK\x07\x08", true),
    sig("gzip", 0, b"\x1f\x8b\x08", true),
    sig("zstd", 0, b"\x28\xb5\x2f\xfd", true),
    sig("xz", 0, b"\xfd7zXZ\x00", true),
    sig("bzip2", 0, b"BZh", true),
    sig("7z", 0, b"7z\xbc\xaf\x27\x1c", true),
    sig("rar", 0, b"Rar!\x1a\x07", true),
    sig("lz4", 0, b"\x04\x22\x4d\x18", true),
    sig("sqlite", 0, b"SQLite format 3\x00", false),
    sig("elf", 0, b"\x7fELF", false),
    sig("ole", 0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", false),
    sig("webp", 8, b"WEBP", true),
    sig("wav", 8, b"WAVE", false),
    sig("avi", 8, b"AVI ", true),
    sig("mp4", 4, b"ftyp", true),
    sig("mkv", 0, b"\x1a\x45\xdf\xa3", true),
    sig("ogg", 0, b"OggS", true),
    sig("flac", 0, b"fLaC", true),
    sig("mp3", 0, b"ID3", true),
    sig("tiff", 0, b"II*\x00", true),
    sig("tiff", 0, b"MM\x00*", true),
    sig("woff", 0, b"wOFF", true),
    sig("woff2", 0, b"wOF2", true),
    sig("ttf", 0, b"\x00\x01\x00\x00\x00", false),
    sig("otf", 0, b"OTTO", false),
    sig("class", 0, b"\xca\xfe\xba\xbe", false),
    sig("wasm", 0, b"\x00asm", false),
    sig("ar", 0, b"!<arch>\n", false),
    sig("tar", 257, b"ustar", false),
    sig("psd", 0, b"8BPS", false),
    sig("gitpack", 0, b"PACK\x00\x00\x00", true),
    sig("ico", 0, b"\x00\x00\x01\x00", false),
    // Encrypted containers: as random as ciphertext gets, by design.
    sig("openssl", 0, b"Salted__", true),
];

/// Two-byte signatures, tried after the text test (text may start with these letters).
const WEAK: &[Signature] = &[
    sig("pe", 0, b"MZ", false),
    sig("bmp", 0, b"BM", false),
    sig("mp3", 0, b"\xff\xfb", true),
    sig("mp3", 0, b"\xff\xf3", true),
    sig("mp3", 0, b"\xff\xf2", true),
];

fn find(table: &'static [Signature], head: &[u8]) -> Option<&'static Signature> {
    table
        .iter()
        .find(|s| head.get(s.offset..s.offset + s.bytes.len()) == Some(s.bytes))
}

/// The format the extension (lower case, without the dot) promises, if it promises one with
/// a signature.
pub fn expected(ext: &str) -> Option<&'static str> {
    Some(match ext {
        "pdf" => "pdf",
        "png" => "png",
        "jpg" | "jpeg" => "jpeg",
        "gif" => "gif",
        "zip" | "docx" | "xlsx" | "pptx" | "odt" | "ods" | "odp" | "jar" | "apk" | "epub"
        | "whl" | "xpi" => "zip",
        "gz" | "tgz" => "gzip",
        "zst" => "zstd",
        "xz" | "txz" => "xz",
        "bz2" | "tbz2" => "bzip2",
        "7z" => "7z",
        "rar" => "rar",
        "sqlite" | "sqlite3" => "sqlite",
        "exe" | "dll" => "pe",
        "doc" | "xls" | "ppt" | "msi" => "ole",
        "webp" => "webp",
        "wav" => "wav",
        "avi" => "avi",
        "mp4" | "m4a" | "m4v" | "mov" | "heic" => "mp4",
        "mkv" | "webm" => "mkv",
        "ogg" | "oga" | "ogv" | "opus" => "ogg",
        "flac" => "flac",
        "mp3" => "mp3",
        "tif" | "tiff" => "tiff",
        "bmp" => "bmp",
        "woff" => "woff",
        "woff2" => "woff2",
        "otf" => "otf",
        "class" => "class",
        "wasm" => "wasm",
        "deb" | "a" => "ar",
        "tar" => "tar",
        "psd" => "psd",
        "ico" => "ico",
        _ => return None,
    })
}

/// Whether files of this class hold compressed data, where random-looking bytes are normal.
pub fn compressed(class: &str) -> bool {
    class == "random"
        || STRONG
            .iter()
            .chain(WEAK)
            .any(|s| s.class == class && s.compressed)
}

/// Whether the class is a known format (not `text`, `random`, `binary` or `empty`).
pub fn is_format(class: &str) -> bool {
    !matches!(class, "text" | "random" | "binary" | "empty")
}

/// Classify a file by its head (its first bytes, up to a few KiB): a format name from the
/// signature table, `text` (UTF-8 without control bytes), `random` (bytes that pass the
/// uniformity test, or an encrypted container), `binary` or `empty`.
pub fn classify(head: &[u8]) -> &'static str {
    if head.is_empty() {
        return "empty";
    }
    if let Some(s) = find(STRONG, head) {
        return if s.class == "openssl" {
            "random"
        } else {
            s.class
        };
    }
    if super::sample::is_text(head) {
        return "text";
    }
    if let Some(s) = find(WEAK, head) {
        return s.class;
    }
    if super::sample::looks_random(head) {
        "random"
    } else {
        "binary"
    }
}

/// The lower-case extension of a file name, without the dot ("" for none). Names starting
/// with a dot and no other dot have none.
pub fn extension(name: &[u8]) -> String {
    let name = name.strip_prefix(b".").unwrap_or(name);
    match name.iter().rposition(|&b| b == b'.') {
        Some(i) if i + 1 < name.len() && name.len() - i <= 12 => {
            String::from_utf8_lossy(&name[i + 1..]).to_ascii_lowercase()
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures() {
        assert_eq!(classify(b"%PDF-1.7\n%\xe2\xe3"), "pdf");
        assert_eq!(classify(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), "png");
        assert_eq!(classify(b"PK\x03\x04\x14\0\0\0"), "zip");
        assert_eq!(classify(b"\x1f\x8b\x08\0\0\0"), "gzip");
        assert_eq!(classify(b"SQLite format 3\0\x10\0"), "sqlite");
        assert_eq!(classify(b"RIFF\0\0\0\0WEBPVP8 "), "webp");
        assert_eq!(classify(b"\0\0\0\x18ftypmp42"), "mp4");
        let mut tar = vec![0u8; 512];
        tar[..4].copy_from_slice(b"file");
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(classify(&tar), "tar");
        assert_eq!(classify(b"Salted__12345678"), "random");
        assert_eq!(classify(b""), "empty");
        // Text that starts like a weak signature stays text.
        assert_eq!(classify(b"MZ is a person's initials\n"), "text");
        assert_eq!(classify(b"MZ\x90\0\x03\0\0\0"), "pe");
    }

    #[test]
    fn extensions_and_expectations() {
        assert_eq!(extension(b"report.PDF"), "pdf");
        assert_eq!(extension(b"a.tar.gz"), "gz");
        assert_eq!(extension(b".bashrc"), "");
        assert_eq!(extension(b"noext"), "");
        assert_eq!(extension(b"trailing."), "");
        assert_eq!(extension(b"x.docx.locked"), "locked");
        assert_eq!(expected("docx"), Some("zip"));
        assert_eq!(expected("txt"), None);
        assert!(compressed("png") && compressed("zip") && !compressed("sqlite"));
        assert!(is_format("pdf") && !is_format("text"));
    }
}
