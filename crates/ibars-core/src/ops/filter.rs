//! Glob filters for `--exclude`, `--include` and `--exclude-file`, with restic's meaning: a
//! pattern that starts with `/` matches absolute paths; any other pattern may match the end of
//! a path (`*.tmp` matches every such file, `cache/*` every child of a `cache` directory).
//! `*` does not cross `/`; `**` does.

use std::path::Path;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::error::{Error, Result};

/// A compiled set of patterns.
#[derive(Debug, Clone)]
pub struct PathFilter {
    set: GlobSet,
    patterns: Vec<String>,
}

impl PathFilter {
    pub fn new(patterns: &[String]) -> Result<Self> {
        let mut b = GlobSetBuilder::new();
        for p in patterns {
            let p = p.trim_end_matches('/');
            if p.is_empty() {
                continue;
            }
            let full = if p.starts_with('/') {
                p.to_string()
            } else {
                format!("**/{p}")
            };
            let g = GlobBuilder::new(&full)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| Error::Invalid(format!("bad pattern '{p}': {e}")))?;
            b.add(g);
        }
        Ok(Self {
            set: b
                .build()
                .map_err(|e| Error::Invalid(format!("bad patterns: {e}")))?,
            patterns: patterns.to_vec(),
        })
    }

    /// Read patterns from a file: one per line, `#` comments and blank lines ignored.
    pub fn read_file(path: &Path) -> Result<Vec<String>> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Ok(text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(String::from)
            .collect())
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    /// Whether an absolute path matches any pattern.
    pub fn matches(&self, path: &Path) -> bool {
        self.set.is_match(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restic_semantics() {
        let f = PathFilter::new(&[
            "*.tmp".into(),
            "/var/cache".into(),
            "node_modules".into(),
            "a/b".into(),
        ])
        .unwrap();
        assert!(f.matches(Path::new("/home/x/y.tmp")));
        assert!(f.matches(Path::new("/y.tmp")));
        assert!(!f.matches(Path::new("/home/x/y.tmpx")));
        assert!(f.matches(Path::new("/var/cache")));
        assert!(!f.matches(Path::new("/x/var/cache")));
        assert!(f.matches(Path::new("/p/node_modules")));
        assert!(f.matches(Path::new("/z/a/b")));
        assert!(!f.matches(Path::new("/z/a/c/b")));
        assert!(PathFilter::new(&["[".into()]).is_err());
    }
}
