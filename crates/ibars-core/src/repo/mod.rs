//! The repository: the front door that opens a store with a password and hands out what the
//! operations in `ops/` need. It holds no operation logic itself.

mod config;
mod keys;
mod lock;
mod packsink;
mod treecache;
mod turn;

pub use config::{Config, DEFAULT_PACK_SIZE};
pub use keys::KeyInfo;
pub use lock::{LockGuard, LockInfo, LockMode};
pub use packsink::PackSink;
pub use treecache::TreeCache;
pub use turn::{CommitTurn, TURN_STALE, TURN_WAIT};

use std::sync::Arc;

use crate::backend::{Backend, FileKind};
use crate::chunker::ChunkerParams;
use crate::compress::Compression;
use crate::crypto::keyfile::{KdfParams, KeyFile};
use crate::crypto::MasterKey;
use crate::error::{Error, Result};
use crate::id::{IndexId, KeyId, SnapshotId};
use crate::index::{self, Index};
use crate::pack::PackEntry;
use crate::sealed::{self, ObjectKind};
use crate::snapshot::Snapshot;

/// Choices made once, at `init`.
#[derive(Debug, Clone)]
pub struct InitOptions {
    pub avg_chunk_size: u32,
    pub pack_size: u32,
    pub compression: Compression,
    /// Parity per pack in percent (0: none).
    pub parity_percent: u8,
    pub kdf: KdfParams,
}

impl Default for InitOptions {
    fn default() -> Self {
        Self {
            avg_chunk_size: 1 << 20,
            pack_size: DEFAULT_PACK_SIZE,
            compression: Compression::Auto,
            parity_percent: 0,
            kdf: KdfParams::default(),
        }
    }
}

/// Blob entries per index file written when the index is rewritten: large enough to keep the
/// file count low, small enough that one file stays a few MiB.
pub const ENTRIES_PER_INDEX: usize = 100_000;

pub use crate::index::{IndexFile, MarkedPack};

/// How often a reader lists index files again when one it listed was removed before it could
/// read it (a prune replaced it), before it reports the missing file.
const INDEX_RELISTS: usize = 5;

/// Reads of an object whose content fails its hash, before it is reported corrupt.
pub(crate) const CONTENT_ATTEMPTS: usize = 3;

/// An open repository.
pub struct Repository {
    backend: Arc<dyn Backend>,
    key: MasterKey,
    key_id: KeyId,
    config: Config,
    kdf: KdfParams,
    /// How long [`Repository::lock`] waits for a conflicting lock to go.
    lock_wait: std::time::Duration,
    /// Commit turns this process gave up but could not remove (a store that refuses deletes).
    abandoned_turns: std::sync::Mutex<Vec<String>>,
}

/// The host name, for snapshots, locks and key files.
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".into())
}

/// The current user's name, or the numeric uid.
pub fn username() -> String {
    let uid = nix::unistd::getuid();
    nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| uid.to_string())
}

impl Repository {
    /// Create a repository in an empty location.
    pub fn init(backend: Arc<dyn Backend>, password: &[u8], opts: &InitOptions) -> Result<Self> {
        match backend.size(FileKind::Config, "config") {
            Ok(_) => return Err(Error::AlreadyExists(backend.location())),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
        if !backend.list(FileKind::Key)?.is_empty() {
            return Err(Error::AlreadyExists(backend.location()));
        }
        let mut id = [0u8; 32];
        let mut seed = [0u8; 8];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut id);
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
        let config = Config {
            version: 1,
            id: hex::encode(id),
            chunker: ChunkerParams::with_avg(opts.avg_chunk_size, u64::from_le_bytes(seed))?,
            pack_size: opts.pack_size,
            compression: opts.compression,
            parity_percent: opts.parity_percent,
        };
        config
            .validate()
            .map_err(|e| Error::Invalid(e.to_string()))?;
        let key = MasterKey::random();
        let kf = KeyFile::create(&key, password, opts.kdf, &hostname(), &username())?;
        let kbytes = kf.to_bytes();
        let key_id = KeyId::of_content(&kbytes);
        // Key first: a config without a key would be a repository nobody can open.
        backend.write(FileKind::Key, &key_id.to_hex(), kbytes.into())?;
        let payload = serde_json::to_vec(&config).expect("config serializes");
        backend.write(
            FileKind::Config,
            "config",
            sealed::seal(&key, ObjectKind::Config, &payload, false).into(),
        )?;
        Ok(Self {
            backend,
            key,
            key_id,
            config,
            kdf: opts.kdf,
            lock_wait: std::time::Duration::ZERO,
            abandoned_turns: Default::default(),
        })
    }

    /// Open with a password: try every key file until one opens.
    pub fn open(backend: Arc<dyn Backend>, password: &[u8]) -> Result<Self> {
        let config_bytes = match backend.read(FileKind::Config, "config") {
            Ok(b) => b,
            Err(e) if e.is_not_found() => {
                return Err(Error::NoRepository(format!(
                    "{} (no config)",
                    backend.location()
                )))
            }
            Err(e) => return Err(e),
        };
        let keys = backend.list(FileKind::Key)?;
        if keys.is_empty() {
            return Err(Error::NoRepository(format!(
                "{} (no keys)",
                backend.location()
            )));
        }
        let mut last_err = None;
        for k in &keys {
            let kf = match read_named(backend.as_ref(), FileKind::Key, &k.name)
                .and_then(|r| KeyFile::parse(&r.bytes, &k.name))
            {
                Ok(kf) => kf,
                Err(e) => {
                    tracing::warn!("skipping key {}: {e}", k.name);
                    last_err = Some(e);
                    continue;
                }
            };
            if let Some(key) = kf.open(password)? {
                // The config is not named by its hash; a garbled read shows as failed
                // authentication, so that is retried before the config is called corrupt.
                let mut payload = sealed::open(&key, ObjectKind::Config, &config_bytes, "config");
                for _ in 1..CONTENT_ATTEMPTS {
                    if payload.is_ok() {
                        break;
                    }
                    let again = backend.read(FileKind::Config, "config")?;
                    payload = sealed::open(&key, ObjectKind::Config, &again, "config");
                }
                let payload = payload?;
                let config = Config::parse(&payload)?;
                return Ok(Self {
                    backend,
                    key,
                    key_id: k
                        .name
                        .parse()
                        .map_err(|_| Error::corrupt("key name", k.name.clone()))?,
                    config,
                    kdf: KdfParams::default(),
                    lock_wait: std::time::Duration::ZERO,
                    abandoned_turns: Default::default(),
                });
            }
        }
        match last_err {
            Some(e) if keys.len() == 1 => Err(e),
            _ => Err(Error::WrongPassword(keys.len())),
        }
    }

    /// Wait up to `d` for conflicting locks instead of failing at once.
    pub fn set_lock_wait(&mut self, d: std::time::Duration) {
        self.lock_wait = d;
    }

    /// Use these KDF costs for keys added from now on (tests use cheap ones).
    pub fn set_kdf(&mut self, kdf: KdfParams) {
        self.kdf = kdf;
    }

    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// Put a layer in front of the storage (a local cache), once the repository is open.
    pub fn wrap_backend(&mut self, f: impl FnOnce(Arc<dyn Backend>) -> Arc<dyn Backend>) {
        self.backend = f(Arc::clone(&self.backend));
    }

    pub fn key(&self) -> &MasterKey {
        &self.key
    }

    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Change the config (only fields that may change after init: compression, parity).
    pub fn update_config(&mut self, f: impl FnOnce(&mut Config)) -> Result<()> {
        let mut config = self.config.clone();
        f(&mut config);
        if config.chunker != self.config.chunker || config.id != self.config.id {
            return Err(Error::Invalid(
                "chunker and repository id are fixed at init".into(),
            ));
        }
        config.validate()?;
        let payload = serde_json::to_vec(&config).expect("config serializes");
        self.backend.write(
            FileKind::Config,
            "config",
            sealed::seal(&self.key, ObjectKind::Config, &payload, false).into(),
        )?;
        self.config = config;
        Ok(())
    }

    /// Store a finished pack of blobs of `kind`, and its parity file when the config asks for
    /// parity. The parity is written after the pack, so a pack never has a parity file it does
    /// not match. Tree packs are offered to the local cache, if there is one.
    pub fn write_pack(
        &self,
        id: &crate::id::PackId,
        bytes: bytes::Bytes,
        kind: crate::pack::BlobKind,
    ) -> Result<()> {
        let cacheable = kind == crate::pack::BlobKind::Tree;
        let percent = self.config.parity_percent;
        self.store_pack(&id.to_hex(), bytes, cacheable, percent)
    }

    /// Store a pack's bytes under `name` and, when `percent` is not 0, its parity file with
    /// that much recovery. The parity is encoded first, so that a failure there writes
    /// nothing, and written after the pack, so that a pack never has parity it does not match.
    pub fn store_pack(
        &self,
        name: &str,
        bytes: bytes::Bytes,
        cacheable: bool,
        percent: u8,
    ) -> Result<()> {
        let parity = match percent {
            0 => None,
            p => Some(crate::parity::encode(&bytes, p)?),
        };
        if cacheable {
            self.backend.write_cacheable(FileKind::Pack, name, bytes)?;
        } else {
            self.backend.write(FileKind::Pack, name, bytes)?;
        }
        match parity {
            Some(par) => self.backend.write(FileKind::Parity, name, par.into()),
            None => Ok(()),
        }
    }

    /// Store the parity file, with `percent` recovery, of the stored pack `name` whose bytes
    /// are `pack`.
    pub fn write_parity(&self, name: &str, pack: &[u8], percent: u8) -> Result<()> {
        let par = crate::parity::encode(pack, percent)?;
        self.backend.write(FileKind::Parity, name, par.into())
    }

    /// Seal and store an object; returns its name.
    pub fn save_sealed(
        &self,
        file: FileKind,
        kind: ObjectKind,
        payload: &[u8],
        compress: bool,
    ) -> Result<[u8; 32]> {
        let bytes = sealed::seal(&self.key, kind, payload, compress);
        let id = *blake3::hash(&bytes).as_bytes();
        self.backend.write(file, &hex::encode(id), bytes.into())?;
        Ok(id)
    }

    /// Read and open a sealed object, checking that its name matches its content.
    /// A read whose content does not match its name is tried again (a flaky link can garble
    /// a transfer) before the object is reported corrupt.
    pub fn load_sealed(&self, file: FileKind, kind: ObjectKind, name: &str) -> Result<Vec<u8>> {
        let what = file.path(name);
        let read = read_named(self.backend.as_ref(), file, name)?;
        if !read.intact {
            return Err(Error::corrupt(what, "content does not match its name"));
        }
        sealed::open(&self.key, kind, &read.bytes, &what)
    }

    /// The packs in storage, with their sizes.
    pub fn stored_packs(&self) -> Result<std::collections::HashMap<crate::id::PackId, u64>> {
        Ok(self
            .backend
            .list(FileKind::Pack)?
            .into_iter()
            .filter_map(|e| Some((e.name.parse().ok()?, e.size)))
            .collect())
    }

    /// The packs that have a parity file.
    pub fn parity_packs(&self) -> Result<std::collections::HashSet<crate::id::PackId>> {
        Ok(self
            .backend
            .list(FileKind::Parity)?
            .into_iter()
            .filter_map(|e| e.name.parse().ok())
            .collect())
    }

    /// Store a snapshot.
    pub fn save_snapshot(&self, snap: &Snapshot) -> Result<SnapshotId> {
        let payload = serde_json::to_vec(snap).expect("snapshot serializes");
        self.save_sealed(FileKind::Snapshot, ObjectKind::Snapshot, &payload, true)
            .map(SnapshotId)
    }

    /// Load one snapshot.
    pub fn load_snapshot(&self, id: &SnapshotId) -> Result<Snapshot> {
        let payload = self.load_sealed(FileKind::Snapshot, ObjectKind::Snapshot, &id.to_hex())?;
        Snapshot::parse(&payload, &format!("snapshot {id}"))
    }

    /// All snapshots, oldest first. A snapshot that cannot be read is an error naming it; one
    /// that was listed and is gone when read was removed meanwhile (`forget` runs beside
    /// backups) and is left out.
    pub fn snapshots(&self) -> Result<Vec<(SnapshotId, Snapshot)>> {
        let names = self.backend.list(FileKind::Snapshot)?;
        let loaded = parallel_map(&names, 8, |e| {
            let id: SnapshotId = e
                .name
                .parse()
                .map_err(|_| Error::corrupt("snapshot name", e.name.clone()))?;
            match self.load_snapshot(&id) {
                Ok(s) => Ok(Some((id, s))),
                Err(e) if e.is_not_found() => Ok(None),
                Err(e) => Err(e),
            }
        })?;
        let mut out: Vec<_> = loaded.into_iter().flatten().collect();
        out.sort_by(|a, b| a.1.time.cmp(&b.1.time).then(a.0.cmp(&b.0)));
        Ok(out)
    }

    /// Store an index file naming these packs, all in use.
    pub fn save_index(&self, packs: &[(crate::id::PackId, Vec<PackEntry>)]) -> Result<IndexId> {
        self.save_index_parts(packs, &[])
    }

    /// Store an index file naming these packs in use and these marked for deletion.
    fn save_index_parts(
        &self,
        packs: &[(crate::id::PackId, Vec<PackEntry>)],
        marked: &[MarkedPack],
    ) -> Result<IndexId> {
        let (version, payload) = index::encode_parts(packs, marked);
        let bytes = sealed::seal_version(&self.key, ObjectKind::Index, version, &payload, true);
        let id = *blake3::hash(&bytes).as_bytes();
        self.backend
            .write(FileKind::Index, &hex::encode(id), bytes.into())?;
        Ok(IndexId(id))
    }

    /// Every index file, each loaded on its own (in parallel), so that one bad file does not
    /// hide the others: its name and its packs, or why it could not be read.
    pub fn index_files(&self) -> Result<Vec<(String, Result<IndexFile>)>> {
        self.index_files_where(|_| true)
    }

    /// As [`Repository::index_files`], for the files whose names pass `wanted`.
    ///
    /// A file listed and gone when read was replaced by a prune (or a repair), which writes the
    /// files replacing it before it removes it: the index is listed again and the new files read,
    /// so that readers beside a prune see a whole index.
    pub fn index_files_where(
        &self,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<Vec<(String, Result<IndexFile>)>> {
        let mut loaded: std::collections::HashMap<String, Result<IndexFile>> = Default::default();
        let mut relists = 0;
        loop {
            let mut names = self.backend.list(FileKind::Index)?;
            names.retain(|e| wanted(&e.name));
            let todo: Vec<&str> = names
                .iter()
                .map(|e| e.name.as_str())
                .filter(|n| !loaded.contains_key(*n))
                .collect();
            let files = parallel_map(&todo, 8, |n| Ok(self.load_index_file(n)))?;
            for (n, f) in todo.iter().zip(files) {
                loaded.insert(n.to_string(), f);
            }
            let vanished = loaded
                .values()
                .any(|f| f.as_ref().is_err_and(Error::is_not_found));
            if vanished && relists < INDEX_RELISTS {
                relists += 1;
                loaded.retain(|_, f| !f.as_ref().is_err_and(Error::is_not_found));
                continue;
            }
            let listed: std::collections::HashSet<String> =
                names.into_iter().map(|e| e.name).collect();
            // Files read in an earlier round and no longer listed were replaced as well.
            loaded.retain(|n, _| listed.contains(n));
            let mut out: Vec<_> = loaded.into_iter().collect();
            out.sort_by(|a, b| a.0.cmp(&b.0));
            return Ok(out);
        }
    }

    /// One index file, by name.
    pub fn load_index_file(&self, name: &str) -> Result<IndexFile> {
        let what = format!("index/{name}");
        let read = read_named(self.backend.as_ref(), FileKind::Index, name)?;
        if !read.intact {
            return Err(Error::corrupt(what, "content does not match its name"));
        }
        let newest = index::VERSION_WITH_MARKS;
        let (version, payload) =
            sealed::open_versions(&self.key, ObjectKind::Index, newest, &read.bytes, &what)?;
        IndexFile::decode(version, &payload, &what)
    }

    /// Write index files naming `packs` in use and `marked` packs (about [`ENTRIES_PER_INDEX`]
    /// entries each), then remove the index files in `old`: an interruption leaves duplicate
    /// entries, never missing ones. Returns the names of the files written.
    pub fn replace_index(
        &self,
        packs: &[(crate::id::PackId, Vec<PackEntry>)],
        marked: &[MarkedPack],
        old: &[String],
    ) -> Result<Vec<String>> {
        let written = self.write_index(packs, marked)?;
        for name in old.iter().filter(|n| !written.contains(n)) {
            self.backend.remove(FileKind::Index, name)?;
        }
        Ok(written)
    }

    /// Write index files naming `packs` and `marked`, about [`ENTRIES_PER_INDEX`] entries each
    /// (packs in use first, then marked ones); returns their names.
    pub fn write_index(
        &self,
        packs: &[(crate::id::PackId, Vec<PackEntry>)],
        marked: &[MarkedPack],
    ) -> Result<Vec<String>> {
        // Cut both lists into runs of whole packs that fill a file together.
        let mut written = Vec::new();
        let (mut p, mut m) = (0, 0);
        while p < packs.len() || m < marked.len() {
            let (p0, m0) = (p, m);
            let mut n = 0;
            while p < packs.len() && (n == 0 || n + packs[p].1.len() <= ENTRIES_PER_INDEX) {
                n += packs[p].1.len();
                p += 1;
            }
            while m < marked.len()
                && (n == 0 || n + marked[m].entries.len() <= ENTRIES_PER_INDEX)
                && (p == packs.len())
            {
                n += marked[m].entries.len();
                m += 1;
            }
            let name = self.save_index_parts(&packs[p0..p], &marked[m0..m])?;
            written.push(name.to_hex());
        }
        Ok(written)
    }

    /// Load every index file into one in-memory index. An unreadable index file is an error.
    pub fn load_index(&self) -> Result<Index> {
        self.load_index_named().map(|(idx, _)| idx)
    }

    /// [`Repository::load_index`], and the names of the index files it was built from.
    pub fn load_index_named(&self) -> Result<(Index, std::collections::HashSet<String>)> {
        let mut files = Vec::new();
        let mut names = std::collections::HashSet::new();
        for (name, file) in self.index_files()? {
            files.push(file?);
            names.insert(name);
        }
        Ok((Index::from_files(&files), names))
    }
}

/// An object as read by [`read_named`]: its bytes, and whether they match its name.
pub(crate) struct Named {
    pub bytes: bytes::Bytes,
    pub intact: bool,
}

/// Read an object named by the BLAKE3 of its content, reading again when the content does
/// not match (a garbled transfer). After the last try the bytes are returned as read, marked
/// not intact.
pub(crate) fn read_named(backend: &dyn Backend, file: FileKind, name: &str) -> Result<Named> {
    read_named_after(backend.read(file, name)?, backend, file, name)
}

/// As [`read_named`], with the first read (`first`) already made, perhaps from a local cache:
/// further tries read the store.
pub(crate) fn read_named_after(
    first: bytes::Bytes,
    backend: &dyn Backend,
    file: FileKind,
    name: &str,
) -> Result<Named> {
    let mut bytes = first;
    for attempt in 1..=CONTENT_ATTEMPTS {
        if blake3::hash(&bytes).to_hex().as_str() == name {
            return Ok(Named {
                bytes,
                intact: true,
            });
        }
        if attempt < CONTENT_ATTEMPTS {
            bytes = backend.read(file, name)?;
        }
    }
    Ok(Named {
        bytes,
        intact: false,
    })
}

/// Map `f` over `items` on up to `threads` threads, keeping order; the first error wins.
pub fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    if items.len() <= 1 {
        return items.iter().map(&f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<Result<R>>>> =
        items.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..threads.min(items.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= items.len() {
                    break;
                }
                let r = f(&items[i]);
                *results[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
            });
        }
    });
    results
        .into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .expect("every item ran")
        })
        .collect()
}
