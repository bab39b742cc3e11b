//! The scanner: lists the sources' directories and stats their entries on a thread of its
//! own, ahead of the walker and in exactly the walker's order, so that the system calls of a
//! mostly unchanged tree overlap with everything else. It can start before the repository is
//! opened ([`Scan::start`]), and so overlaps with the password's key derivation too.
//!
//! The scanner and the walker decide which directories to enter with the same rules and the
//! same metadata, so their orders agree; the walker still checks each listing's path, and
//! lists for itself from the first mismatch on (a bug, never wrong data).

use std::ffi::OsString;
use std::fs::Metadata;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use crossbeam_channel::{unbounded, Receiver, Sender};

use super::walker::{virtual_root, VEntry};
use crate::error::{Error, Result};
use crate::ops::filter::PathFilter;
use crate::source::longpath::reach;

/// Entries (each directory counts one more) listed ahead of the walker at most: about 7 MiB
/// of metadata, and enough for a tree of this size to be scanned whole while the key is
/// derived. It bounds memory, not correctness.
const AHEAD: usize = 32 * 1024;

/// How many entries are listed and not yet taken by the walker, and whether it is gone.
#[derive(Default)]
struct Budget {
    state: Mutex<(usize, bool)>,
    room: Condvar,
}

impl Budget {
    /// Wait until `n` more entries fit (a listing larger than the whole budget waits for an
    /// empty queue), then count them. False when the walker is gone.
    fn take(&self, n: usize) -> bool {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        while !st.1 && st.0 > 0 && st.0 + n > AHEAD {
            st = self.room.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        st.0 += n;
        !st.1
    }

    fn give(&self, n: usize) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.0 = st.0.saturating_sub(n);
        self.room.notify_one();
    }

    fn close(&self) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).1 = true;
        self.room.notify_one();
    }
}

impl Listing {
    /// What it counts against the budget.
    fn weight(&self) -> usize {
        1 + self.entries.as_ref().map_or(0, Vec::len)
    }
}

/// The walker's end of a scan: listings in walk order. Dropping it stops the scanner.
pub(crate) struct Feed {
    rx: Receiver<Listing>,
    budget: Arc<Budget>,
}

impl Feed {
    /// The next listing, or `None` when the scanner has stopped.
    pub fn next(&self) -> Option<Listing> {
        let l = self.rx.recv().ok()?;
        self.budget.give(l.weight());
        Some(l)
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.budget.close();
    }
}

/// What decides which entries and directories a backup takes: fixed before the walk starts.
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    /// The absolute source paths, sorted and deduplicated.
    pub paths: Vec<PathBuf>,
    /// The exclude patterns, sorted.
    pub excludes: Vec<String>,
    pub filter: PathFilter,
    pub skip: Vec<PathBuf>,
    pub markers: Vec<String>,
    pub one_file_system: bool,
}

impl Rules {
    fn same(&self, o: &Rules) -> bool {
        self.paths == o.paths
            && self.excludes == o.excludes
            && self.skip == o.skip
            && self.markers == o.markers
            && self.one_file_system == o.one_file_system
    }

    /// Whether the entry at `full` is left out by an exclude pattern or a skipped path.
    pub fn skipped(&self, full: &Path) -> bool {
        self.filter.matches(full) || self.skip.iter().any(|s| s == full)
    }

    /// Whether directory `dir` holds one of the `--exclude-if-present` markers.
    pub fn has_marker(&self, dir: &Path) -> bool {
        self.markers
            .iter()
            .any(|m| reach(&dir.join(m)).is_ok_and(|r| r.symlink_metadata().is_ok()))
    }

    /// Whether the walk stays out of directory `md`, found under a source on device `dev`.
    pub fn other_fs(&self, md: &Metadata, dev: u64) -> bool {
        self.one_file_system && md.dev() != dev
    }
}

/// One entry of a listed directory.
pub(crate) enum Entry {
    /// Left out by the rules (and not stat'ed).
    Skipped,
    Meta(Metadata),
    /// It could not be stat'ed: why.
    Failed(String),
}

/// One directory, as listed for the walker.
pub(crate) struct Listing {
    pub dir: PathBuf,
    /// An `--exclude-if-present` marker is in it: leave it out (`entries` is then empty).
    pub excluded: bool,
    /// Its entries in byte order of their names, or why it could not be read.
    pub entries: std::result::Result<Vec<(OsString, Entry)>, String>,
}

/// List directory `dir` under `rules`, stat'ing each entry relative to the directory (no
/// path lookup per entry). `check_marker` is false for a source path itself.
pub(crate) fn list(dir: &Path, rules: &Rules, check_marker: bool) -> Listing {
    if check_marker && rules.has_marker(dir) {
        return Listing {
            dir: dir.to_path_buf(),
            excluded: true,
            entries: Ok(Vec::new()),
        };
    }
    let entries = reach(dir)
        .and_then(|r| std::fs::read_dir(&*r))
        .map_err(|e| e.to_string())
        .map(|rd| {
            let mut ents: Vec<(OsString, std::fs::DirEntry)> = rd
                .filter_map(|e| e.ok().map(|e| (e.file_name(), e)))
                .collect();
            ents.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            ents.into_iter()
                .map(|(name, e)| {
                    let entry = if rules.skipped(&dir.join(&name)) {
                        Entry::Skipped
                    } else {
                        match e.metadata() {
                            Ok(md) => Entry::Meta(md),
                            Err(err) => Entry::Failed(err.to_string()),
                        }
                    };
                    (name, entry)
                })
                .collect()
        });
    Listing {
        dir: dir.to_path_buf(),
        excluded: false,
        entries,
    }
}

/// A scan of a backup's sources, running ahead on its own thread. Dropping it stops the thread.
pub struct Scan {
    pub(crate) rules: Rules,
    pub(crate) feed: Feed,
}

impl Scan {
    /// Check and order the source paths and start listing them in the background.
    /// Fails on a bad exclude pattern or a source path that does not exist.
    pub fn start(opts: &super::BackupOptions) -> Result<Scan> {
        Ok(Self::with_rules(rules(opts)?, Arc::clone(&opts.cancel)))
    }

    pub(crate) fn with_rules(rules: Rules, cancel: Arc<AtomicBool>) -> Scan {
        // Unbounded, because the budget bounds it.
        let (tx, rx) = unbounded();
        let budget = Arc::new(Budget::default());
        let r = rules.clone();
        let b = Arc::clone(&budget);
        std::thread::spawn(move || {
            let s = Scanner {
                rules: r,
                tx,
                budget: b,
                cancel,
            };
            let _ = s.root(&virtual_root(&s.rules.paths));
        });
        Scan {
            rules,
            feed: Feed { rx, budget },
        }
    }

    /// This scan if it was started with `rules`, else a new one.
    pub(crate) fn reuse(this: Option<Scan>, rules: Rules, cancel: Arc<AtomicBool>) -> Scan {
        match this {
            Some(s) if s.rules.same(&rules) => s,
            _ => Self::with_rules(rules, cancel),
        }
    }
}

/// The rules of a backup with these options.
pub(crate) fn rules(opts: &super::BackupOptions) -> Result<Rules> {
    let mut paths = Vec::new();
    for p in &opts.paths {
        let abs = super::absolute(p)?;
        std::fs::symlink_metadata(&abs).map_err(|e| Error::io(&abs, e))?;
        paths.push(abs);
    }
    paths.sort();
    paths.dedup();
    let mut excludes = opts.excludes.clone();
    excludes.sort();
    Ok(Rules {
        filter: PathFilter::new(&excludes)?,
        paths,
        excludes,
        skip: opts.skip_paths.clone(),
        markers: opts.exclude_if_present.clone(),
        one_file_system: opts.one_file_system,
    })
}

struct Scanner {
    rules: Rules,
    tx: Sender<Listing>,
    budget: Arc<Budget>,
    cancel: Arc<AtomicBool>,
}

/// `Err(())`: stop scanning (the walker is gone, the backup was cancelled, or a source path
/// failed, which fails the walk too).
type Go = std::result::Result<(), ()>;

impl Scanner {
    fn send(&self, l: Listing) -> Go {
        if !self.budget.take(l.weight()) || self.cancel.load(Ordering::Relaxed) {
            return Err(());
        }
        self.tx.send(l).map_err(|_| ())
    }

    // The three functions below mirror Walker::walk_root, walk_virtual and entry.
    fn root(&self, root: &VEntry) -> Go {
        match root {
            VEntry::Real(p) => {
                let md = std::fs::symlink_metadata(p).map_err(|_| ())?;
                self.dir(p, md.dev(), false)
            }
            VEntry::Virtual(children) => self.virtual_dir(Path::new("/"), children),
        }
    }

    fn virtual_dir(
        &self,
        dir: &Path,
        children: &std::collections::BTreeMap<Vec<u8>, VEntry>,
    ) -> Go {
        for (name, entry) in children {
            let full = dir.join(std::ffi::OsStr::from_bytes(name));
            let md = reach(&full)
                .and_then(|r| std::fs::symlink_metadata(&*r))
                .map_err(|_| ())?;
            match entry {
                VEntry::Real(_) if md.is_dir() => self.dir(&full, md.dev(), true)?,
                VEntry::Real(_) => {}
                VEntry::Virtual(m) => self.virtual_dir(&full, m)?,
            }
        }
        Ok(())
    }

    fn dir(&self, dir: &Path, dev: u64, check_marker: bool) -> Go {
        let listing = list(dir, &self.rules, check_marker);
        let subdirs: Vec<PathBuf> = match &listing.entries {
            Ok(entries) if !listing.excluded => entries
                .iter()
                .filter_map(|(name, e)| match e {
                    Entry::Meta(md) if md.is_dir() && !self.rules.other_fs(md, dev) => {
                        Some(dir.join(name))
                    }
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        self.send(listing)?;
        for d in subdirs {
            self.dir(&d, dev, true)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_budget_holds_the_scanner_back_until_the_walker_takes_or_leaves() {
        let b = Arc::new(Budget::default());
        assert!(
            b.take(AHEAD * 2),
            "a listing larger than the budget passes an empty queue"
        );
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let b2 = Arc::clone(&b);
        std::thread::spawn(move || done_tx.send(b2.take(10)).unwrap());
        assert!(
            done_rx.recv_timeout(Duration::from_millis(200)).is_err(),
            "waits while the queue is over budget"
        );
        b.give(AHEAD * 2);
        assert_eq!(done_rx.recv_timeout(Duration::from_secs(5)), Ok(true));
        b.give(10);

        assert!(b.take(AHEAD));
        let b3 = Arc::clone(&b);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(b3.take(AHEAD)).unwrap());
        std::thread::sleep(Duration::from_millis(50));
        b.close();
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(5)),
            Ok(false),
            "a walker that is gone releases the scanner, which stops"
        );
    }
}
