//! The daemon's own handles on its repositories, for what the API reads: snapshots, trees,
//! file contents, history, findings. A handle is opened at first use (the key derivation
//! runs once) and kept; its snapshot list and index are refreshed when the repository's
//! listing changes, at most every [`FRESH`]. Jobs, restores and checks still run in child
//! processes: a handle never writes, except to dismiss a finding.
//!
//! Everything here blocks (storage, decryption): call it from `spawn_blocking`.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ibars_core::backend::location::{Location, Transport};
use ibars_core::backend::{CachedBackend, FileKind};
use ibars_core::id::{BlobId, SnapshotId};
use ibars_core::index::Index;
use ibars_core::repo::{Repository, TreeCache};
use ibars_core::snapshot::Snapshot;
use ibars_core::tree::Tree;
use ibars_insight::record::Record;

use crate::config::RepositoryConfig;

/// How long a snapshot list or index is used before the repository is listed again.
pub const FRESH: Duration = Duration::from_secs(2);

/// Why a repository could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("no [[repository]] named {0:?}")]
    Unknown(String),
    #[error("repository {name}: {source}")]
    Core {
        name: String,
        #[source]
        source: ibars_core::Error,
    },
    #[error("repository {name}: password: {message}")]
    Password { name: String, message: String },
}

/// The password of a repository from its `password_file` (first line) or
/// `password_command` (first line of its output).
pub fn read_password(file: Option<&Path>, command: Option<&str>) -> Result<Vec<u8>, String> {
    let first_line = |b: &[u8]| {
        let end = b.iter().position(|&c| c == b'\n').unwrap_or(b.len());
        let mut l = b[..end].to_vec();
        if l.last() == Some(&b'\r') {
            l.pop();
        }
        l
    };
    if let Some(f) = file {
        let b = std::fs::read(f).map_err(|e| format!("reading {}: {e}", f.display()))?;
        return Ok(first_line(&b));
    }
    if let Some(cmd) = command {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .output()
            .map_err(|e| format!("running {cmd:?}: {e}"))?;
        if !out.status.success() {
            return Err(format!("{cmd:?} failed ({})", out.status));
        }
        return Ok(first_line(&out.stdout));
    }
    Err("neither password_file nor password_command is set".into())
}

/// A list read from the store: when, at which generation of the handle, the names it was
/// read from, and the value.
type Listed<T> = Mutex<Option<(Instant, u64, HashSet<String>, Arc<T>)>>;

/// One open repository.
pub struct Handle {
    pub name: String,
    config: RepositoryConfig,
    pub repo: Repository,
    pub cache: TreeCache,
    snapshots: Listed<Vec<(SnapshotId, Snapshot)>>,
    index: Listed<Index>,
    history: Listed<Vec<(String, Record)>>,
    /// Bumped to make every list stale at once.
    generation: std::sync::atomic::AtomicU64,
    /// Trees parsed lately, newest last: the pages of a large directory parse it once.
    trees: Mutex<std::collections::VecDeque<(BlobId, Arc<Tree>)>>,
}

/// Parsed trees kept per handle.
const TREES_KEPT: usize = 16;

fn core(name: &str) -> impl Fn(ibars_core::Error) -> RepoError + '_ {
    move |source| RepoError::Core {
        name: name.to_string(),
        source,
    }
}

impl Handle {
    fn open(c: &RepositoryConfig, cache_root: &Path) -> Result<Self, RepoError> {
        let name = c.name.clone();
        let loc = Location::parse(&c.location, &c.s3, &Default::default()).map_err(core(&name))?;
        let backend = loc
            .backend(false, &Transport::default())
            .map_err(core(&name))?;
        let pw = read_password(c.password_file.as_deref(), c.password_command.as_deref()).map_err(
            |message| RepoError::Password {
                name: name.clone(),
                message,
            },
        )?;
        let mut repo = Repository::open(backend, &pw).map_err(core(&name))?;
        // A dismissal waits for a running backup's lock rather than fail at once.
        repo.set_lock_wait(Duration::from_secs(30));
        if loc.is_remote() {
            let dir = c
                .cache_dir
                .clone()
                .unwrap_or_else(|| cache_root.to_path_buf())
                .join(&repo.config().id);
            repo.wrap_backend(|b| Arc::new(CachedBackend::new(b, dir)));
        }
        Ok(Handle {
            name,
            config: c.clone(),
            repo,
            cache: TreeCache::new(64 << 20),
            snapshots: Mutex::new(None),
            index: Mutex::new(None),
            history: Mutex::new(None),
            generation: Default::default(),
            trees: Mutex::new(Default::default()),
        })
    }

    /// The cached value when it is fresh, else the names of `kind` in the store now.
    fn relist<T>(
        &self,
        kind: FileKind,
        slot: &Listed<T>,
    ) -> Result<Result<Arc<T>, HashSet<String>>, RepoError> {
        let gen = self.gen();
        if let Some((at, g, _, v)) = &*slot.lock().unwrap_or_else(|e| e.into_inner()) {
            if at.elapsed() < FRESH && *g == gen {
                return Ok(Ok(v.clone()));
            }
        }
        let names = self.repo.backend().list(kind).map_err(core(&self.name))?;
        Ok(Err(names.into_iter().map(|e| e.name).collect()))
    }

    /// Every snapshot, oldest first. Only snapshots new since the last call are read.
    pub fn snapshots(&self) -> Result<Arc<Vec<(SnapshotId, Snapshot)>>, RepoError> {
        let names = match self.relist(FileKind::Snapshot, &self.snapshots)? {
            Ok(fresh) => return Ok(fresh),
            Err(names) => names,
        };
        let mut slot = self.snapshots.lock().unwrap_or_else(|e| e.into_inner());
        let gen = self.gen();
        if let Some((at, g, old, list)) = &mut *slot {
            if *old == names {
                (*at, *g) = (Instant::now(), gen);
                return Ok(list.clone());
            }
        }
        // Keep what is still there, read what is new.
        let mut kept: Vec<(SnapshotId, Snapshot)> = match &*slot {
            Some((_, _, _, list)) => list
                .iter()
                .filter(|(id, _)| names.contains(&id.to_hex()))
                .cloned()
                .collect(),
            None => vec![],
        };
        let have: HashSet<String> = kept.iter().map(|(id, _)| id.to_hex()).collect();
        let new: Vec<&String> = names.iter().filter(|n| !have.contains(*n)).collect();
        let loaded = ibars_core::repo::parallel_map(&new, 8, |n| {
            let id: SnapshotId = n
                .parse()
                .map_err(|_| ibars_core::Error::corrupt(format!("snapshot {n}"), "not an id"))?;
            match self.repo.load_snapshot(&id) {
                Ok(s) => Ok(Some((id, s))),
                // Removed since the listing.
                Err(e) if e.is_not_found() => Ok(None),
                Err(e) => Err(e),
            }
        })
        .map_err(core(&self.name))?;
        kept.extend(loaded.into_iter().flatten());
        kept.sort_by(|a, b| a.1.time.cmp(&b.1.time).then(a.0.cmp(&b.0)));
        ibars_core::snapshot::protect_clean_points(&mut kept);
        let list = Arc::new(kept);
        *slot = Some((Instant::now(), gen, names, list.clone()));
        Ok(list)
    }

    /// The history's readable records, oldest first. Records never change, so only new ones
    /// are read; one that cannot be read is left out with a warning.
    pub fn history(&self) -> Result<Arc<Vec<(String, Record)>>, RepoError> {
        let names = match self.relist(FileKind::History, &self.history)? {
            Ok(fresh) => return Ok(fresh),
            Err(names) => names,
        };
        let mut slot = self.history.lock().unwrap_or_else(|e| e.into_inner());
        let gen = self.gen();
        let mut kept: Vec<(String, Record)> = match &*slot {
            Some((_, _, old, list)) if *old == names => {
                let list = list.clone();
                *slot = Some((Instant::now(), gen, names, list.clone()));
                return Ok(list);
            }
            Some((_, _, _, list)) => list
                .iter()
                .filter(|(n, _)| names.contains(n))
                .cloned()
                .collect(),
            None => vec![],
        };
        let have: HashSet<&str> = kept.iter().map(|(n, _)| n.as_str()).collect();
        let new: Vec<String> = names
            .iter()
            .filter(|n| !have.contains(n.as_str()))
            .cloned()
            .collect();
        let loaded = ibars_core::repo::parallel_map(&new, 8, |n| {
            Ok(match ibars_core::history::load(&self.repo, n) {
                Ok(r) => Some((n.clone(), r)),
                Err(e) => {
                    if !e.is_not_found() {
                        tracing::warn!("repository {}: history/{n}: {e}", self.name);
                    }
                    None
                }
            })
        })
        .map_err(core(&self.name))?;
        kept.extend(loaded.into_iter().flatten());
        kept.sort_by(|a, b| a.1.time.cmp(&b.1.time).then(a.0.cmp(&b.0)));
        let list = Arc::new(kept);
        *slot = Some((Instant::now(), gen, names, list.clone()));
        Ok(list)
    }

    /// The index, read again when the repository's index files change.
    pub fn index(&self) -> Result<Arc<Index>, RepoError> {
        let names = match self.relist(FileKind::Index, &self.index)? {
            Ok(fresh) => return Ok(fresh),
            Err(names) => names,
        };
        let mut slot = self.index.lock().unwrap_or_else(|e| e.into_inner());
        let gen = self.gen();
        if let Some((at, g, old, idx)) = &mut *slot {
            if *old == names {
                (*at, *g) = (Instant::now(), gen);
                return Ok(idx.clone());
            }
        }
        let idx = Arc::new(self.repo.load_index().map_err(core(&self.name))?);
        *slot = Some((Instant::now(), gen, names, idx.clone()));
        Ok(idx)
    }

    /// A tree, parsed once while it is among the last [`TREES_KEPT`] asked for.
    pub fn tree(&self, index: &Index, id: &BlobId) -> Result<Arc<Tree>, RepoError> {
        let mut kept = self.trees.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = kept.iter().position(|(k, _)| k == id) {
            let hit = kept.remove(i).expect("position is in range");
            kept.push_back(hit.clone());
            return Ok(hit.1);
        }
        drop(kept);
        let t = Arc::new(
            self.repo
                .load_tree(index, &self.cache, id)
                .map_err(core(&self.name))?,
        );
        let mut kept = self.trees.lock().unwrap_or_else(|e| e.into_inner());
        kept.push_back((*id, t.clone()));
        while kept.len() > TREES_KEPT {
            kept.pop_front();
        }
        Ok(t)
    }

    fn gen(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Make every list stale (after a change made through this handle): the next call
    /// lists the store again, and reads only what changed.
    pub fn invalidate(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The open handles, by repository name.
pub struct Repos {
    cache_root: PathBuf,
    open: Mutex<HashMap<String, Arc<Handle>>>,
}

impl Repos {
    /// Handles whose remote caches go under `cache_root` (unless a repository sets its own).
    pub fn new(cache_root: PathBuf) -> Self {
        Repos {
            cache_root,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// The handle of `c`, opened now if it is not open, or if its settings changed (a
    /// reloaded config).
    pub fn get(&self, c: &RepositoryConfig) -> Result<Arc<Handle>, RepoError> {
        if let Some(h) = self
            .open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&c.name)
        {
            if h.config == *c {
                return Ok(h.clone());
            }
        }
        let h = Arc::new(Handle::open(c, &self.cache_root)?);
        self.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(c.name.clone(), h.clone());
        Ok(h)
    }
}
