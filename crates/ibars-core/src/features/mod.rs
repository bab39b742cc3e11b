//! What a backup measures inline for the anomaly model, from bytes it reads anyway: the class
//! of each file read (its format by signature, text, random or binary), sampled windows of its
//! new content, and the tree-level signals gathered in [`collect::Collector`]. See
//! docs/insight.md.

pub mod collect;
pub mod magic;
pub mod sample;

use ibars_insight::classify::secrets::{should_scan, ScanOptions, SecretScanner};

/// What was seen of one file while it was read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileSample {
    /// The class of its head; `None` until its first data is seen.
    pub class: Option<&'static str>,
    /// Windows of its new content after the head, and how many looked random.
    pub windows: u32,
    pub random: u32,
}

impl FileSample {
    /// Take in one chunk of the file, `first` for the first chunk of data, `new` when the
    /// repository did not have it (only new content is sampled).
    pub fn observe(&mut self, chunk: &[u8], first: bool, new: bool) {
        if first {
            self.class = Some(magic::classify(&chunk[..chunk.len().min(sample::HEAD)]));
        }
        if new {
            let skip = if first { sample::HEAD } else { 0 };
            for w in sample::windows(chunk, skip) {
                self.windows += 1;
                self.random += sample::looks_random(w) as u32;
            }
        }
    }

    /// The class of the file as read (`empty` when it had no data).
    pub fn class(&self) -> &'static str {
        self.class.unwrap_or("empty")
    }
}

/// Bytes of each file scanned for secrets, at most: keys, credentials and `.env` files are
/// small, and a file of card numbers or addresses shows them early.
pub const SECRET_SCAN_LIMIT: u64 = 1 << 20;

/// The secret scan of one file while it is read (`ibars_insight::classify::secrets`): decided
/// at its first chunk, by the class of its head (compressed, media and executable formats are
/// not scanned), and fed at most [`SECRET_SCAN_LIMIT`] bytes.
#[derive(Debug, Default)]
pub struct SecretSample {
    scanner: Option<SecretScanner>,
    decided: bool,
    /// What the file's name says: an environment file, a project's credits.
    options: Option<ScanOptions>,
    seen: u64,
}

impl SecretSample {
    /// For the file at `path` (its name says whether it is an environment file, or a
    /// project's credits).
    pub fn for_path(path: &std::path::Path) -> Self {
        Self {
            options: Some(ScanOptions::for_path(&path.to_string_lossy())),
            ..Self::default()
        }
    }

    /// Take in the next chunk of the file, whose head has the class `class`.
    pub fn observe(&mut self, chunk: &[u8], class: Option<&str>) {
        if !self.decided {
            self.decided = true;
            if should_scan(class) {
                self.scanner = Some(SecretScanner::new(self.options.unwrap_or_default()));
            }
        }
        if let Some(s) = &mut self.scanner {
            let take = (SECRET_SCAN_LIMIT - self.seen).min(chunk.len() as u64) as usize;
            if take > 0 {
                s.feed(&chunk[..take]);
                self.seen += take as u64;
            }
        }
    }

    /// The kinds of secret found, sorted, once each.
    pub fn finish(self) -> Vec<String> {
        let Some(s) = self.scanner else {
            return vec![];
        };
        let mut kinds: Vec<String> = s
            .finish()
            .iter()
            .map(|f| f.kind.as_str().to_string())
            .collect();
        kinds.sort();
        kinds.dedup();
        kinds
    }
}

/// Why a file's content looks encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suspicion {
    /// Its extension promises this format, whose signature it lacks now.
    LostMagic(&'static str),
    /// Structured before, random now; `head_only` when the rest looks as before.
    BecameRandom { head_only: bool },
    /// Text or uncompressed data before, with random-looking windows now.
    PartlyRandom,
    /// New, random, and of no known format.
    NewRandom,
}

/// Judge one file read by a backup: `prev` is the class its previous version had (`None` for
/// a new file, or when the parent did not record one).
pub fn judge(ext: &str, is_new: bool, prev: Option<&str>, s: &FileSample) -> Option<Suspicion> {
    let class = s.class?;
    if class == "empty" {
        return None;
    }
    let unstructured = class == "random" || class == "binary";
    if let Some(format) = magic::expected(ext) {
        // A binary head counts only where the signature was there before: plenty of files
        // carry an extension their content never matched.
        let lost = match prev {
            Some(p) => p == format && unstructured,
            None => class == "random",
        };
        if lost {
            return Some(Suspicion::LostMagic(format));
        }
    }
    if is_new {
        return (class == "random").then_some(Suspicion::NewRandom);
    }
    let prev = prev?;
    let became = match prev {
        "random" | "empty" => false,
        "binary" => class == "random",
        _ => unstructured,
    };
    if became {
        let head_only = !magic::compressed(prev) && s.windows > 0 && s.random == 0;
        return Some(Suspicion::BecameRandom { head_only });
    }
    let partly = match prev {
        "text" => s.random > 0 && s.random * 10 >= s.windows,
        p if !magic::compressed(p) => s.windows >= 2 && s.random * 2 >= s.windows,
        _ => false,
    };
    (partly && !magic::compressed(class)).then_some(Suspicion::PartlyRandom)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(class: &'static str, windows: u32, random: u32) -> FileSample {
        FileSample {
            class: Some(class),
            windows,
            random,
        }
    }

    #[test]
    fn judging_files() {
        use Suspicion::*;
        let r = sample("random", 4, 4);
        assert_eq!(judge("pdf", false, Some("pdf"), &r), Some(LostMagic("pdf")));
        assert_eq!(judge("pdf", true, None, &r), Some(LostMagic("pdf")));
        // A .pdf that never was one is left alone.
        assert_eq!(
            judge("pdf", false, Some("binary"), &sample("binary", 0, 0)),
            None
        );
        assert_eq!(
            judge("txt", false, Some("text"), &sample("random", 3, 3)),
            Some(BecameRandom { head_only: false })
        );
        assert_eq!(
            judge("txt", false, Some("text"), &sample("binary", 3, 0)),
            Some(BecameRandom { head_only: true })
        );
        assert_eq!(
            judge("txt", false, Some("text"), &sample("text", 10, 2)),
            Some(PartlyRandom)
        );
        assert_eq!(
            judge("txt", false, Some("text"), &sample("text", 10, 0)),
            None
        );
        assert_eq!(judge("locked", true, None, &r), Some(NewRandom));
        // Compressed content changing is normal, as is a new archive.
        assert_eq!(
            judge("gz", false, Some("gzip"), &sample("gzip", 9, 9)),
            None
        );
        assert_eq!(judge("zip", true, None, &sample("zip", 9, 9)), None);
        assert_eq!(judge("bin", false, Some("random"), &r), None);
        assert_eq!(judge("txt", false, None, &r), None);
        assert_eq!(
            judge("txt", false, Some("text"), &sample("empty", 0, 0)),
            None
        );
    }

    #[test]
    fn observing_chunks() {
        let mut s = FileSample::default();
        let text = b"line of text\n".repeat(20_000);
        s.observe(&text, true, true);
        assert_eq!(s.class, Some("text"));
        assert!(s.windows >= 3 && s.random == 0);
        let before = s.windows;
        s.observe(&text, false, false);
        assert_eq!(s.windows, before, "known chunks are not sampled");
    }
}
