//! The tree-level signals of a backup, gathered file by file as the finisher completes them.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use ibars_insight::record::{Count, Features, Suspicious};

use super::{judge, magic, FileSample, Suspicion};
use crate::id::BlobId;
use crate::tree::ContentPart;

/// What the parent snapshot knew of a changed file.
#[derive(Debug, Clone)]
pub struct Prev {
    pub class: Option<String>,
    pub size: u64,
    pub content: Vec<ContentPart>,
}

/// One file the backup read.
pub struct Seen<'a> {
    pub path: &'a Path,
    pub name: &'a [u8],
    /// `None` for a new file.
    pub prev: Option<&'a Prev>,
    /// Whether its directory existed in the parent snapshot.
    pub dir_existed: bool,
    pub sample: &'a FileSample,
    pub size: u64,
    pub content: &'a [ContentPart],
}

/// Suspicious paths kept as examples.
const EXAMPLES: usize = 5;

/// Gathers [`Features`] over the files of one backup.
#[derive(Debug, Default)]
pub struct Collector {
    suspicious: Suspicious,
    new_exts: HashMap<String, u64>,
    suspicious_exts: HashMap<String, u64>,
    lost: HashMap<&'static str, u64>,
    /// New file names in directories that existed before, with the number of directories.
    names: HashMap<Vec<u8>, u64>,
    dirs: HashMap<String, u64>,
    examples: Vec<String>,
    same_size: u64,
    head_chunk_only: u64,
    share_sum: f64,
    changed: u64,
    windows: u64,
    windows_random: u64,
}

fn blobs(content: &[ContentPart]) -> impl Iterator<Item = &BlobId> {
    content.iter().filter_map(|p| match p {
        ContentPart::Blob(b) => Some(b),
        ContentPart::Hole(_) => None,
    })
}

impl Collector {
    /// Take in one file that was read.
    pub fn file(&mut self, f: Seen<'_>) {
        let ext = magic::extension(f.name);
        self.windows += f.sample.windows as u64;
        self.windows_random += f.sample.random as u64;
        match f.prev {
            None => {
                *self.new_exts.entry(ext.clone()).or_default() += 1;
                if f.dir_existed {
                    *self.names.entry(f.name.to_vec()).or_default() += 1;
                }
            }
            Some(p) => self.change_shape(p, f.size, f.content),
        }
        let prev_class = f.prev.and_then(|p| p.class.as_deref());
        let Some(why) = judge(&ext, f.prev.is_none(), prev_class, f.sample) else {
            return;
        };
        let s = &mut self.suspicious;
        match why {
            Suspicion::LostMagic(format) => {
                s.lost_magic += 1;
                *self.lost.entry(format).or_default() += 1;
            }
            Suspicion::BecameRandom { head_only } => {
                s.became_random += 1;
                s.head_only += head_only as u64;
            }
            Suspicion::PartlyRandom => s.partly_random += 1,
            Suspicion::NewRandom => s.new_random += 1,
        }
        *self.suspicious_exts.entry(ext).or_default() += 1;
        let dir = f
            .path
            .parent()
            .map(|d| d.to_string_lossy().into_owned())
            .unwrap_or_default();
        *self.dirs.entry(dir).or_default() += 1;
        if self.examples.len() < EXAMPLES {
            self.examples.push(f.path.to_string_lossy().into_owned());
        }
    }

    fn change_shape(&mut self, p: &Prev, size: u64, content: &[ContentPart]) {
        self.changed += 1;
        self.same_size += (p.size == size) as u64;
        let (o, n): (Vec<_>, Vec<_>) = (blobs(&p.content).collect(), blobs(content).collect());
        let old: HashSet<&BlobId> = o.iter().copied().collect();
        if !n.is_empty() {
            let fresh = n.iter().filter(|b| !old.contains(*b)).count();
            self.share_sum += fresh as f64 / n.len() as f64;
        }
        if o.len() >= 2 && n.len() == o.len() && o[0] != n[0] && o[1..] == n[1..] {
            self.head_chunk_only += 1;
        }
    }

    /// The features, given what the pipeline counted of new data.
    pub fn finish(self, bytes_new: u64, bytes_incompressible: u64) -> Features {
        let names = self
            .names
            .into_iter()
            .filter(|(_, n)| *n >= 2)
            .map(|(k, n)| (String::from_utf8_lossy(&k).into_owned(), n));
        Features {
            windows: self.windows,
            windows_random: self.windows_random,
            bytes_new,
            bytes_incompressible,
            same_size: self.same_size,
            head_chunk_only: self.head_chunk_only,
            changed_chunk_share: if self.changed > 0 {
                self.share_sum / self.changed as f64
            } else {
                0.0
            },
            suspicious: self.suspicious,
            new_exts: top(self.new_exts, 64),
            suspicious_exts: top(self.suspicious_exts, 8),
            lost_formats: top(self.lost.into_iter().map(|(k, n)| (k.to_string(), n)), 8),
            repeated_names: top(names, 3),
            dirs: top(self.dirs, 5),
            examples: self.examples,
        }
    }
}

/// The `n` most frequent names, most frequent first (ties by name).
fn top(counts: impl IntoIterator<Item = (String, u64)>, n: usize) -> Vec<Count> {
    let mut v: Vec<(String, u64)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(n);
    v.into_iter().map(|(k, c)| Count(k, c)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(b: u8) -> ContentPart {
        ContentPart::Blob(BlobId([b; 32]))
    }

    #[test]
    fn tree_signals() {
        let mut c = Collector::default();
        let random = FileSample {
            class: Some("random"),
            windows: 2,
            random: 2,
        };
        let text = FileSample {
            class: Some("text"),
            windows: 2,
            random: 0,
        };
        let prev = Prev {
            class: Some("pdf".into()),
            size: 10,
            content: vec![id(1), id(2), id(3)],
        };
        for dir in ["/a", "/b", "/c"] {
            let note = Path::new(dir).join("README_NOW.txt");
            c.file(Seen {
                path: &note,
                name: b"README_NOW.txt",
                prev: None,
                dir_existed: true,
                sample: &text,
                size: 5,
                content: &[id(9)],
            });
            let doc = Path::new(dir).join("x.pdf");
            c.file(Seen {
                path: &doc,
                name: b"x.pdf",
                prev: Some(&prev),
                dir_existed: true,
                sample: &random,
                size: 10,
                content: &[id(7), id(2), id(3)],
            });
        }
        let f = c.finish(100, 90);
        assert_eq!(f.suspicious.lost_magic, 3);
        assert_eq!(f.lost_formats, [Count("pdf".into(), 3)]);
        assert_eq!(f.repeated_names, [Count("README_NOW.txt".into(), 3)]);
        assert_eq!(f.new_exts, [Count("txt".into(), 3)]);
        assert_eq!((f.same_size, f.head_chunk_only), (3, 3));
        assert!((f.changed_chunk_share - 1.0 / 3.0).abs() < 1e-9);
        assert_eq!(f.dirs.len(), 3);
        assert_eq!(f.examples[0], "/a/x.pdf");
        assert_eq!((f.bytes_new, f.bytes_incompressible), (100, 90));
    }
}
