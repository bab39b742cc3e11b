//! A verdict in words an operator can act on.

use super::Evidence;

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `n` as a share of `of`, e.g. `9%` or `0.4%`.
fn share(n: u64, of: u64) -> String {
    let p = 100.0 * n as f64 / of.max(1) as f64;
    if p >= 10.0 || p == 0.0 {
        format!("{p:.0}%")
    } else {
        format!("{p:.1}%")
    }
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// What a format's files start with, for "no longer start with ...".
fn signature(format: &str) -> String {
    match format {
        "pdf" => "%PDF".into(),
        "zip" => "PK".into(),
        "png" => "the PNG signature".into(),
        "jpeg" => "the JPEG signature".into(),
        "gzip" => "the gzip signature".into(),
        "sqlite" => "\"SQLite format 3\"".into(),
        "elf" => "the ELF signature".into(),
        f => format!("the {f} signature"),
    }
}

/// The sentences, strongest signal first.
pub(super) fn reasons(e: &Evidence<'_>) -> Vec<String> {
    let f = e.features;
    let run = e.run;
    let files = run.files_before().max(run.files_new);
    let s = &f.suspicious;
    let mut out: Vec<(f64, String)> = Vec::new();
    let weight = e.suspicious.ratio().max(e.recent.ratio());
    if s.became_random > 0 {
        let mut t = format!(
            "{} files ({}) rewritten with random-looking content",
            thousands(s.became_random),
            share(s.became_random, files)
        );
        if s.head_only > 0 {
            t.push_str(&format!(
                ", {} of them only at the head",
                thousands(s.head_only)
            ));
        }
        out.push((weight, t));
    }
    for c in f.lost_formats.iter().take(3) {
        out.push((
            weight,
            format!(
                "{} {} files no longer start with {}",
                thousands(c.1),
                c.0,
                signature(&c.0)
            ),
        ));
    }
    if s.partly_random > 0 {
        out.push((
            weight,
            format!(
                "{} files have random-looking blocks where they had none (intermittent encryption)",
                thousands(s.partly_random)
            ),
        ));
    }
    if s.new_random > 0 {
        out.push((
            weight,
            format!(
                "{} new files with random-looking content and no known format",
                thousands(s.new_random)
            ),
        ));
    }
    for c in f.new_exts.iter().take(3) {
        if !c.0.is_empty() && c.1 >= 5 && !e.known_exts.contains(c.0.as_str()) {
            out.push((
                weight * 0.9,
                format!("{} files got the new extension .{}", thousands(c.1), c.0),
            ));
        }
    }
    if e.recent.ratio() >= 1.0 && e.suspicious.ratio() < 1.0 {
        out.push((
            e.recent.ratio(),
            format!(
                "{} suspicious files over the last three backups (a slow attack?)",
                thousands(e.recent.value as u64)
            ),
        ));
    }
    if let Some(c) = f.repeated_names.first() {
        if e.notes.ratio() >= 0.5 {
            out.push((
                e.notes.ratio(),
                format!(
                    "the new file {} appeared in {} directories that existed before",
                    c.0,
                    thousands(c.1)
                ),
            ));
        }
    }
    if e.deleted.ratio() >= 0.5 {
        out.push((
            e.deleted.ratio(),
            format!(
                "{} files ({}) deleted and not replaced, {} in all",
                thousands(e.deleted.value as u64),
                share(e.deleted.value as u64, run.files_before()),
                bytes(run.bytes_deleted)
            ),
        ));
    }
    if let (Some(usual), true) = (e.usual_new_share, run.bytes_read > 0) {
        let now = run.bytes_added as f64 / run.bytes_read as f64;
        if now > 0.9 && usual < 0.6 {
            out.push((
                0.1,
                format!(
                    "{:.0}% of the bytes read were new to the repository (usually {:.0}%)",
                    100.0 * now,
                    100.0 * usual
                ),
            ));
        }
    }
    if !f.dirs.is_empty() {
        let dirs: Vec<String> = f
            .dirs
            .iter()
            .take(3)
            .map(|c| format!("{} ({})", c.0, thousands(c.1)))
            .collect();
        out.push((0.05, format!("most affected: {}", dirs.join(", "))));
    }
    out.sort_by(|a, b| b.0.total_cmp(&a.0));
    out.into_iter().map(|(_, t)| t).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbers_read_well() {
        assert_eq!(super::thousands(0), "0");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(2341), "2,341");
        assert_eq!(super::thousands(1234567), "1,234,567");
        assert_eq!(super::share(9, 100), "9.0%");
        assert_eq!(super::share(412, 1000), "41%");
        assert_eq!(super::bytes(1536), "1.5 KiB");
    }
}
