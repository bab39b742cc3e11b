//! A source with a life: days of routine edits, then ransomware. Shared by the anomaly and
//! API tests.

use std::path::Path;

use super::{write, Env};

/// Lines of plain prose, different per seed.
pub fn prose(seed: u64, lines: usize) -> String {
    let words = [
        "backup",
        "restore",
        "the",
        "quick",
        "brown",
        "fox",
        "repository",
        "snapshot",
        "jumps",
        "over",
        "lazy",
        "dog",
        "and",
        "verify",
        "every",
        "byte",
    ];
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = String::new();
    for _ in 0..lines {
        for _ in 0..10 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            out.push_str(words[(x % words.len() as u64) as usize]);
            out.push(' ');
        }
        out.push('\n');
    }
    out
}

/// A tree of 60 text files and 12 PDF-like files in four directories.
pub fn make_tree(src: &Path) {
    for (d, dir) in ["docs", "notes", "mail", "misc"].iter().enumerate() {
        for i in 0..15 {
            let seed = (d * 100 + i) as u64;
            write(
                &src.join(dir).join(format!("f{i}.txt")),
                prose(seed, 20 + i),
            );
        }
        for i in 0..3 {
            let body = format!("%PDF-1.4\n{}", prose(1000 + (d * 10 + i) as u64, 40));
            write(&src.join(dir).join(format!("r{i}.pdf")), body);
        }
    }
}

/// Encrypt a file in place with a keystream (BLAKE3 in XOF mode keyed per file: a stream
/// cipher), as ransomware does.
pub fn encrypt(path: &Path) {
    let mut data = std::fs::read(path).unwrap();
    let mut ks = vec![0u8; data.len()];
    blake3::Hasher::new_keyed(&[7; 32])
        .update(path.as_os_str().as_encoded_bytes())
        .finalize_xof()
        .fill(&mut ks);
    data.iter_mut().zip(&ks).for_each(|(b, k)| *b ^= k);
    std::fs::write(path, data).unwrap();
}

pub fn day(d: u32) -> String {
    format!("2026-01-{d:02} 02:00:00")
}

/// `backup SRC --time DAY --json`: the exit code and the summary line.
pub fn backup_on(e: &Env, src: &Path, d: u32) -> (i32, serde_json::Value) {
    let out = e
        .cmd()
        .args(["--json", "backup"])
        .arg(src)
        .args(["--time", &day(d)])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let last = text.lines().rfind(|l| !l.is_empty()).unwrap_or("null");
    (
        out.status.code().unwrap(),
        serde_json::from_str(last).unwrap(),
    )
}

/// Six days of routine backups of a fresh tree in `src`, then one that encrypts `docs/`
/// (exit code 4, flagged). Returns the flagged snapshot's id.
pub fn ransomware_history(e: &Env, src: &Path) -> String {
    make_tree(src);
    for d in 1..=6 {
        if d > 1 {
            let f = src.join("notes/f1.txt");
            let mut t = std::fs::read_to_string(&f).unwrap();
            t.push_str(&prose(d as u64, 2));
            write(&f, t);
        }
        let (code, s) = backup_on(e, src, d);
        assert_eq!(code, 0, "day {d}: {s}");
    }
    for entry in std::fs::read_dir(src.join("docs")).unwrap() {
        encrypt(&entry.unwrap().path());
    }
    let (code, s) = backup_on(e, src, 7);
    assert_eq!(code, 4, "the encrypted backup is flagged: {s}");
    s["snapshot_id"].as_str().unwrap().to_string()
}
