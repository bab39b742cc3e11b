//! The secret scanner's speed on real text: up to 300 MB of this machine's text files
//! (`/usr/share/doc`, the Python library, the cargo registry's sources, or the directories
//! given), each scanned whole as a backup would, three times; prints MB/s and the findings.
//!
//!   cargo run --release -p ibars-core --example scan_speed [DIR...]

use ibars_insight::classify::secrets::{scan, ScanOptions};

fn walk(d: &std::path::Path, out: &mut Vec<(String, Vec<u8>)>, total: &mut usize) {
    let Ok(rd) = std::fs::read_dir(d) else { return };
    for e in rd.flatten() {
        if *total > 300 << 20 {
            return;
        }
        let p = e.path();
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if m.is_dir() {
            walk(&p, out, total)
        } else if m.is_file() && m.len() < 1 << 20 {
            if let Ok(b) = std::fs::read(&p) {
                if b.iter().take(512).all(|c| c.is_ascii()) {
                    *total += b.len();
                    out.push((p.display().to_string(), b));
                }
            }
        }
    }
}

fn main() {
    let mut dirs: Vec<String> = std::env::args().skip(1).collect();
    if dirs.is_empty() {
        let home = std::env::var("HOME").unwrap_or_default();
        dirs = vec![
            "/usr/share/doc".into(),
            "/usr/lib/python3.11".into(),
            format!("{home}/.cargo/registry/src"),
        ];
    }
    let (mut files, mut total) = (Vec::new(), 0);
    for d in &dirs {
        walk(std::path::Path::new(d), &mut files, &mut total);
    }
    for _ in 0..3 {
        let t = std::time::Instant::now();
        let mut n = 0;
        for (p, f) in &files {
            n += scan(f, ScanOptions::for_path(p)).len();
        }
        let s = t.elapsed().as_secs_f64();
        println!(
            "{} files, {:.0} MB, {:.2} s, {:.0} MB/s, {n} findings",
            files.len(),
            total as f64 / 1e6,
            s,
            total as f64 / 1e6 / s
        );
    }
}
