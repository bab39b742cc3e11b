//! A cheap look for changes since a moment, without the repository: a walk of the backup's
//! sources, by its own rules (excludes, markers, one file system), that reads no file and
//! stops at the first entry found changed since then (a file, or a directory whose entries
//! changed when none of them did). The daemon's automatic schedules run it between backups.
//!
//! It compares the status change time (ctime) and the modification time with the moment.
//! ctime cannot be set back by a user: writing, truncating, renaming, changing metadata or
//! adding and removing entries in a directory all move it (a removal moves the directory's).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::scan::{rules, Rules};
use super::BackupOptions;
use crate::error::{Error, Result};
use crate::source::longpath::reach;

/// What a probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The first entry found changed, if any.
    pub changed: Option<PathBuf>,
    /// Entries looked at.
    pub entries: u64,
}

/// Look for an entry of `opts`' sources changed at or after `since` (Unix seconds; one second
/// of slack is taken for the file system's time granularity). Fails on a bad exclude pattern,
/// a missing source path, or a directory that cannot be listed (a backup would not see it
/// either, so nothing can be promised about it).
pub fn changed_since(opts: &BackupOptions, since: i64) -> Result<Probe> {
    let rules = rules(opts)?;
    let mut p = Prober {
        rules: &rules,
        since: since - 1,
        entries: 0,
    };
    for path in &rules.paths {
        let md = std::fs::symlink_metadata(path).map_err(|e| Error::io(path, e))?;
        if let Some(found) = p.entry(path, &md, md.dev())? {
            return Ok(Probe {
                changed: Some(found),
                entries: p.entries,
            });
        }
    }
    Ok(Probe {
        changed: None,
        entries: p.entries,
    })
}

struct Prober<'a> {
    rules: &'a Rules,
    since: i64,
    entries: u64,
}

impl Prober<'_> {
    fn changed(&self, md: &std::fs::Metadata) -> bool {
        md.ctime() >= self.since || md.mtime() >= self.since
    }

    fn entry(&mut self, path: &Path, md: &std::fs::Metadata, dev: u64) -> Result<Option<PathBuf>> {
        self.entries += 1;
        let changed = self.changed(md);
        if !md.is_dir() || self.rules.other_fs(md, dev) || self.rules.has_marker(path) {
            return Ok(changed.then(|| path.to_path_buf()));
        }
        // A changed directory (an entry added, removed or renamed) is named only when no
        // entry in it changed: a new file is the better answer than its directory.
        let dir = reach(path).map_err(|e| Error::io(path, e))?;
        let list = std::fs::read_dir(&*dir).map_err(|e| Error::io(path, e))?;
        for item in list {
            let item = item.map_err(|e| Error::io(path, e))?;
            let full = path.join(item.file_name());
            if self.rules.skipped(&full) {
                continue;
            }
            // Gone since the listing: its directory's ctime tells.
            let Ok(md) = item.metadata() else { continue };
            if let Some(found) = self.entry(&full, &md, dev)? {
                return Ok(Some(found));
            }
        }
        Ok(changed.then(|| path.to_path_buf()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(dir: &Path) -> BackupOptions {
        BackupOptions {
            paths: vec![dir.to_path_buf()],
            excludes: vec!["*.tmp".into()],
            ..BackupOptions::default()
        }
    }

    fn now() -> i64 {
        jiff::Timestamp::now().as_second()
    }

    #[test]
    fn finds_writes_and_removals_but_not_excluded_files() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join("a/b/f"), b"x").unwrap();
        std::fs::write(root.join("a/g"), b"y").unwrap();
        std::fs::write(root.join("a/x.tmp"), b"z").unwrap();
        assert!(changed_since(&opts(root), now() - 60)
            .unwrap()
            .changed
            .is_some());
        // Past the one second of slack, nothing has changed.
        std::thread::sleep(std::time::Duration::from_millis(2100));
        let t = now();
        let p = changed_since(&opts(root), t).unwrap();
        assert_eq!(p.changed, None);
        assert_eq!(p.entries, 5, "root, a, a/b, a/b/f, a/g (x.tmp is excluded)");
        // A write to an excluded file does not count.
        std::fs::write(root.join("a/x.tmp"), b"zz").unwrap();
        assert_eq!(changed_since(&opts(root), t).unwrap().changed, None);
        // A write deep down does; so does a removal, through its directory.
        std::fs::write(root.join("a/b/f"), b"xx").unwrap();
        let found = changed_since(&opts(root), t).unwrap().changed.unwrap();
        assert_eq!(found, root.join("a/b/f"));
        std::thread::sleep(std::time::Duration::from_millis(2100));
        let t = now();
        std::fs::remove_file(root.join("a/g")).unwrap();
        assert_eq!(
            changed_since(&opts(root), t).unwrap().changed,
            Some(root.join("a"))
        );
    }

    #[test]
    fn a_missing_source_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        assert!(changed_since(&opts(&d.path().join("nope")), 0).is_err());
    }
}
