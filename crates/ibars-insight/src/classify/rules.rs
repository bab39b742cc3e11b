//! Path rules: which trees are caches or build output (ephemeral), which hold data that is hard
//! to get back (critical), and the user's own patterns, which come before both.
//!
//! Paths are absolute, as a snapshot stores them (`/home/ann/web/node_modules/x/index.js`), with
//! `/` between components. A path that does not start with `/` is taken as relative: the rules
//! anchored at the root (`/tmp`, `/etc`, home directories) do not apply to it.
//!
//! Built-in ephemeral rules are kept narrow on purpose (a path they name must be safe to leave out
//! of a backup almost always): no rule for `build/` or `dist/`, and a cargo `target/` or a Python
//! `venv/` only counts when it holds the file its tool writes there. Those files are
//! [`Marker`]s: the caller notices them while walking the tree ([`marker`]) and hands the nearest
//! of each kind at or above a path in [`Markers`].

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};

use super::Class;

/// What a valid `CACHEDIR.TAG` starts with (the Cache Directory Tagging Specification).
pub const CACHEDIR_SIGNATURE: &[u8] = b"Signature: 8a477f597d28d172789f06886806bc55";

/// Whether the first bytes of a file named `CACHEDIR.TAG` carry the signature.
pub fn is_cachedir_tag(head: &[u8]) -> bool {
    head.starts_with(CACHEDIR_SIGNATURE)
}

/// A directory entry that tells what its directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Marker {
    /// `CACHEDIR.TAG` with a valid signature: the directory is a cache (cargo writes one into
    /// `target/`).
    CachedirTag,
    /// `pyvenv.cfg`: the directory is a Python virtual environment.
    PyvenvCfg,
    /// `.rustc_info.json`: the directory is a cargo `target/`.
    RustcInfo,
    /// `.git` (a directory, or the file a linked worktree or a submodule has): the directory is
    /// the root of a work tree.
    Git,
}

/// What an entry named `name` says about the directory that holds it, if anything. `head` is the
/// entry's first bytes when it is a file that was read; only `CACHEDIR.TAG` needs them, and
/// without them (or without a valid signature) it is no marker.
pub fn marker(name: &str, head: Option<&[u8]>) -> Option<Marker> {
    match name {
        "CACHEDIR.TAG" => head
            .is_some_and(is_cachedir_tag)
            .then_some(Marker::CachedirTag),
        "pyvenv.cfg" => Some(Marker::PyvenvCfg),
        ".rustc_info.json" => Some(Marker::RustcInfo),
        ".git" => Some(Marker::Git),
        _ => None,
    }
}

/// The number of components of a path: `/` is 0, `/home/ann` is 2.
pub fn depth(path: &str) -> usize {
    path.split('/').filter(|c| !c.is_empty()).count()
}

/// For each kind of [`Marker`], the nearest directory at or above a path that holds one, given
/// by its [`depth`] (`/home/ann/web` is 3); `None` when there is none.
///
/// A walk from the root down keeps one `Markers` per directory: a child starts from a copy of
/// its parent's and calls [`Markers::set`] for each marker the child directory holds, so the
/// deepest directory wins.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Markers {
    pub cachedir_tag: Option<usize>,
    pub pyvenv_cfg: Option<usize>,
    pub rustc_info: Option<usize>,
    pub git: Option<usize>,
}

impl Markers {
    /// Notes that the directory `dir` holds `marker`.
    pub fn set(&mut self, marker: Marker, dir: &str) {
        let at = Some(depth(dir));
        match marker {
            Marker::CachedirTag => self.cachedir_tag = at,
            Marker::PyvenvCfg => self.pyvenv_cfg = at,
            Marker::RustcInfo => self.rustc_info = at,
            Marker::Git => self.git = at,
        }
    }
}

/// A built-in rule that matched a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit<'p> {
    /// The rule's name, to report and to group by (`node_modules`, `target/`, `/etc`).
    pub rule: &'static str,
    /// The part of the path the rule matched: the cache directory, the work tree, or the path
    /// itself for a rule on file names.
    pub scope: &'p str,
    /// Ephemeral rules: the tree holds third-party packages, whose keys and tokens are test
    /// fixtures, not the user's secrets.
    pub vendored: bool,
    /// Critical rules: the file is a private key or a store of secrets by its name alone.
    pub sensitive: bool,
}

impl<'p> Hit<'p> {
    const fn new(rule: &'static str, scope: &'p str) -> Self {
        Hit {
            rule,
            scope,
            vendored: false,
            sensitive: false,
        }
    }
}

/// A path split into its components.
struct Parts<'p> {
    path: &'p str,
    /// Where each component starts and ends in `path`.
    spans: Vec<(usize, usize)>,
    absolute: bool,
}

impl<'p> Parts<'p> {
    fn new(path: &'p str) -> Self {
        let mut spans = Vec::new();
        let mut start = None;
        for (i, &b) in path.as_bytes().iter().enumerate() {
            match (b == b'/', start) {
                (true, Some(s)) => {
                    spans.push((s, i));
                    start = None;
                }
                (false, None) => start = Some(i),
                _ => {}
            }
        }
        if let Some(s) = start {
            spans.push((s, path.len()));
        }
        Parts {
            path,
            spans,
            absolute: path.starts_with('/'),
        }
    }

    fn count(&self) -> usize {
        self.spans.len()
    }

    fn at(&self, i: usize) -> Option<&'p str> {
        self.spans.get(i).map(|&(s, e)| &self.path[s..e])
    }

    fn name(&self) -> &'p str {
        self.count()
            .checked_sub(1)
            .and_then(|i| self.at(i))
            .unwrap_or("")
    }

    /// The path up to and including its first `depth` components.
    fn prefix(&self, depth: usize) -> &'p str {
        match depth.min(self.count()) {
            0 => &self.path[..usize::from(self.absolute)],
            d => &self.path[..self.spans[d - 1].1],
        }
    }

    /// Whether the components from `from` on start with `names`.
    fn has(&self, from: usize, names: &[&str]) -> bool {
        names
            .iter()
            .enumerate()
            .all(|(k, name)| self.at(from + k) == Some(*name))
    }

    /// Whether the path is `/<names...>` or below it.
    fn rooted(&self, names: &[&str]) -> bool {
        self.absolute && self.has(0, names)
    }

    /// How many components the home directory has when the path is in one: `/home/<user>`,
    /// `/Users/<user>` (2), `/root` (1), `/var/home/<user>` (3).
    fn home(&self) -> Option<usize> {
        if !self.absolute {
            return None;
        }
        match (self.at(0), self.count()) {
            (Some("root"), _) => Some(1),
            (Some("home" | "Users"), n) if n >= 2 => Some(2),
            (Some("var"), n) if n >= 3 && self.at(1) == Some("home") => Some(3),
            _ => None,
        }
    }
}

/// The extension of a file name (without the dot), if it has one; names that start with a dot
/// and have no other have none.
fn extension(name: &str) -> Option<&str> {
    let (stem, ext) = name.rsplit_once('.')?;
    (!stem.is_empty() && !ext.is_empty()).then_some(ext)
}

fn ext_is(name: &str, exts: &[&str]) -> bool {
    extension(name).is_some_and(|e| exts.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// Directory names that make a tree ephemeral wherever they appear, and whether the tree holds
/// third-party packages.
const EPHEMERAL_DIRS: &[(&str, bool)] = &[
    ("node_modules", true),
    ("__pycache__", false),
    (".pytest_cache", false),
    (".mypy_cache", false),
    (".ruff_cache", false),
    (".tox", true),
    (".nox", true),
    (".parcel-cache", false),
];

/// Pairs of directory names that make a tree ephemeral wherever they appear: the names, the
/// rule's name, and whether the tree holds third-party packages.
const EPHEMERAL_PAIRS: &[(&str, &str, &str, bool)] = &[
    (".next", "cache", ".next/cache", false),
    (".terraform", "providers", ".terraform/providers", true),
    (".gradle", "caches", ".gradle/caches", true),
    (".npm", "_cacache", "npm cache", true),
    (".m2", "repository", "maven repository", true),
];

/// Trees at the root that hold temporary files and caches.
const ROOT_EPHEMERAL: &[(&[&str], &str)] = &[
    (&["tmp"], "/tmp"),
    (&["var", "tmp"], "/var/tmp"),
    (&["var", "cache"], "/var/cache"),
];

/// Trees right under a home directory that are package caches or the trash.
const HOME_EPHEMERAL: &[(&[&str], &str, bool)] = &[
    (&[".cargo", "registry"], "cargo registry", true),
    (&[".cargo", "git"], "cargo git checkouts", true),
    (&["go", "pkg", "mod"], "go module cache", true),
    (&[".local", "share", "Trash"], "trash", false),
];

/// Well-known caches under `~/.cache`, named for the report.
const CACHE_NAMES: &[(&str, &str, bool)] = &[
    ("pip", "pip cache", true),
    ("go-build", "go build cache", false),
    ("yarn", "yarn cache", true),
    ("pnpm", "pnpm cache", true),
];

/// File names that are ephemeral wherever they are.
fn ephemeral_file(name: &str) -> Option<&'static str> {
    match name {
        ".DS_Store" => return Some(".DS_Store"),
        "Thumbs.db" | "ehthumbs.db" => return Some("Thumbs.db"),
        _ => {}
    }
    if name.len() > 1 && name.ends_with('~') {
        return Some("*~");
    }
    let ext = extension(name)?;
    [
        ("pyc", "*.pyc"),
        ("pyo", "*.pyc"),
        ("o", "*.o"),
        ("tmp", "*.tmp"),
        ("swp", "*.swp"),
        ("swo", "*.swp"),
    ]
    .into_iter()
    .find(|(e, _)| ext.eq_ignore_ascii_case(e))
    .map(|(_, rule)| rule)
}

/// The built-in ephemeral rule that matches `path`, if any: when several do, the one that
/// matched nearest the root (so that `~/.cache/x/node_modules` counts as `~/.cache`).
///
/// `is_dir` tells whether the path is a directory (rules on file names such as `*.pyc` only
/// apply to files); `markers` tells which marker files are in the path or above it.
pub fn ephemeral(path: &str, is_dir: bool, markers: Markers) -> Option<Hit<'_>> {
    let parts = Parts::new(path);
    let mut hits: Vec<Hit<'_>> = Vec::new();

    for &(root, rule) in ROOT_EPHEMERAL {
        if parts.rooted(root) {
            hits.push(Hit::new(rule, parts.prefix(root.len())));
        }
    }

    if let Some(home) = parts.home() {
        for &(names, rule, vendored) in HOME_EPHEMERAL {
            if parts.has(home, names) {
                hits.push(Hit {
                    vendored,
                    ..Hit::new(rule, parts.prefix(home + names.len()))
                });
            }
        }
        // Any `.cache` below a home directory (`~/.cache` above all), named after the tool
        // when it is a well-known one.
        if let Some(i) = (home..parts.count()).find(|&i| parts.at(i) == Some(".cache")) {
            let named = parts.at(i + 1).and_then(|sub| {
                CACHE_NAMES
                    .iter()
                    .find(|(name, _, _)| *name == sub)
                    .filter(|_| i == home)
            });
            hits.push(match named {
                Some(&(_, rule, vendored)) => Hit {
                    vendored,
                    ..Hit::new(rule, parts.prefix(i + 2))
                },
                None => Hit::new(".cache", parts.prefix(i + 1)),
            });
        }
    }

    for i in 0..parts.count() {
        let Some(name) = parts.at(i) else { break };
        if let Some(&(dir, vendored)) = EPHEMERAL_DIRS.iter().find(|(d, _)| *d == name) {
            hits.push(Hit {
                vendored,
                ..Hit::new(dir, parts.prefix(i + 1))
            });
        }
        for &(a, b, rule, vendored) in EPHEMERAL_PAIRS {
            if parts.has(i, &[a, b]) {
                hits.push(Hit {
                    vendored,
                    ..Hit::new(rule, parts.prefix(i + 2))
                });
            }
        }
    }

    if let Some(d) = markers.cachedir_tag {
        // Cargo writes CACHEDIR.TAG into target/: name it so.
        let rule = match d.checked_sub(1).and_then(|i| parts.at(i)) {
            Some("target") => "target/",
            _ => "CACHEDIR.TAG",
        };
        hits.push(Hit::new(rule, parts.prefix(d)));
    }
    if let Some(d) = markers.rustc_info {
        hits.push(Hit::new("target/", parts.prefix(d)));
    }
    if let Some(d) = markers.pyvenv_cfg {
        hits.push(Hit {
            vendored: true,
            ..Hit::new("venv", parts.prefix(d))
        });
    }

    if !is_dir {
        if let Some(rule) = ephemeral_file(parts.name()) {
            hits.push(Hit::new(rule, path));
        }
    }

    hits.into_iter().min_by_key(|h| h.scope.len())
}

/// Key files and stores of secrets by their name alone: the rule's name, when `name` (in the
/// directory `parent`) is one.
fn key_file(parent: Option<&str>, name: &str) -> Option<&'static str> {
    if parent == Some(".ssh") && name.starts_with("id_") && !name.ends_with(".pub") {
        return Some("ssh private key");
    }
    if parent == Some("private-keys-v1.d") || name == "secring.gpg" {
        return Some("gpg private key");
    }
    if parent == Some(".aws") && name == "credentials" {
        return Some("cloud credentials");
    }
    if matches!(name, ".netrc" | ".pgpass" | ".git-credentials") {
        return Some("stored passwords");
    }
    if ext_is(name, &["ppk"]) {
        return Some("putty key");
    }
    if ext_is(name, &["p12", "pfx", "jks", "keystore"]) {
        return Some("key store");
    }
    if ext_is(name, &["kdbx", "kdb"]) {
        return Some("password database");
    }
    None
}

/// Directories of database servers under `/var/lib`.
const DATABASE_DIRS: &[&str] = &["postgresql", "pgsql", "mysql", "mariadb", "mongodb"];

/// The built-in critical rule that matches `path`, if any: a key file by its name first (the
/// hit is then `sensitive`), otherwise the rule that matched nearest the root.
///
/// `magic` is the class of the file's first bytes, as `ibars_core::features::magic` names it
/// (`sqlite`, `text`, ...), when known; `markers.git` says whether the path is in a work tree.
/// Ephemeral rules are meant to be checked first: `node_modules` inside a work tree is a cache.
pub fn critical<'p>(
    path: &'p str,
    is_dir: bool,
    magic: Option<&str>,
    markers: Markers,
) -> Option<Hit<'p>> {
    let parts = Parts::new(path);
    let name = parts.name();
    let parent = parts.count().checked_sub(2).and_then(|i| parts.at(i));
    if !is_dir {
        if let Some(rule) = key_file(parent, name) {
            return Some(Hit {
                sensitive: true,
                ..Hit::new(rule, path)
            });
        }
    }

    let mut hits: Vec<Hit<'_>> = Vec::new();
    if parts.rooted(&["etc"]) {
        hits.push(Hit::new("/etc", parts.prefix(1)));
    }
    if parts.rooted(&["var", "lib"]) && parts.at(2).is_some_and(|d| DATABASE_DIRS.contains(&d)) {
        hits.push(Hit::new("database directory", parts.prefix(3)));
    }
    if let Some(home) = parts.home() {
        for (dir, rule) in [
            ("Documents", "~/Documents"),
            (".ssh", "~/.ssh"),
            (".gnupg", "~/.gnupg"),
        ] {
            if parts.at(home) == Some(dir) {
                hits.push(Hit::new(rule, parts.prefix(home + 1)));
            }
        }
    }
    if let Some(i) = (0..parts.count()).find(|&i| parts.at(i) == Some(".git")) {
        hits.push(Hit::new(".git", parts.prefix(i + 1)));
    }
    if let Some(d) = markers.git {
        hits.push(Hit::new("work tree", parts.prefix(d)));
    }
    if !is_dir {
        let sqlite = match magic {
            Some(class) => class == "sqlite",
            None => ext_is(name, &["sqlite", "sqlite3", "db3"]),
        };
        if sqlite {
            hits.push(Hit::new("sqlite database", path));
        }
        let lower = name.to_ascii_lowercase();
        let dump = [".sql", ".sql.gz", ".sql.xz", ".sql.zst", ".sql.bz2"]
            .into_iter()
            .any(|suffix| lower.len() > suffix.len() && lower.ends_with(suffix));
        if dump {
            hits.push(Hit::new("sql dump", path));
        }
    }
    hits.into_iter().min_by_key(|h| h.scope.len())
}

/// The user's patterns, per class, as written in the configuration.
///
/// A pattern is a glob over the absolute path (`*` stays within a component, `**` crosses
/// them, `{a,b}` and `[...]` as usual) and also matches everything below what it matches, so a
/// directory's pattern covers its files. `~/` at the start stands for any home directory. A
/// pattern that does not start with `/`, `~/` or `**` matches at any depth: `*.iso` and
/// `build/out` are `**/*.iso` and `**/build/out`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UserRules {
    pub critical: Vec<String>,
    pub ephemeral: Vec<String>,
    pub normal: Vec<String>,
    /// Paths to flag as sensitive, whatever their class.
    pub sensitive: Vec<String>,
}

impl UserRules {
    /// These patterns followed by `more`'s (a config file's, then the command line's).
    pub fn and(&self, more: &UserRules) -> UserRules {
        let cat = |a: &[String], b: &[String]| a.iter().chain(b).cloned().collect();
        UserRules {
            critical: cat(&self.critical, &more.critical),
            ephemeral: cat(&self.ephemeral, &more.ephemeral),
            normal: cat(&self.normal, &more.normal),
            sensitive: cat(&self.sensitive, &more.sensitive),
        }
    }
}

/// A user pattern that is not a valid glob.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad {list} pattern {pattern:?}: {reason}")]
pub struct RulesError {
    /// The list it is in: `critical`, `ephemeral`, `normal` or `sensitive`.
    pub list: &'static str,
    pub pattern: String,
    pub reason: String,
}

/// The globs a home directory can be.
const HOME_GLOBS: [&str; 4] = ["/home/*", "/root", "/Users/*", "/var/home/*"];

/// The globs one user pattern stands for (see [`UserRules`]).
fn expand(pattern: &str, out: &mut Vec<String>) -> Result<(), String> {
    let p = pattern.trim();
    let p = p.strip_suffix('/').unwrap_or(p);
    if p.is_empty() {
        return Err("empty pattern".to_string());
    }
    let mut push = |base: String| {
        out.push(format!("{base}/**"));
        out.push(base);
    };
    if let Some(rest) = p.strip_prefix("~/") {
        for home in HOME_GLOBS {
            push(format!("{home}/{rest}"));
        }
    } else if p == "~" {
        for home in HOME_GLOBS {
            push(home.to_string());
        }
    } else if p.starts_with('/') || p.starts_with("**") {
        push(p.to_string());
    } else {
        push(format!("**/{p}"));
    }
    Ok(())
}

fn bad(list: &'static str, pattern: &str, reason: String) -> RulesError {
    RulesError {
        list,
        pattern: pattern.to_string(),
        reason,
    }
}

/// One list of user patterns, compiled.
#[derive(Debug, Clone, Default)]
struct Patterns {
    set: GlobSet,
    /// For each glob in `set`, the index in `patterns` of the pattern it came from.
    origin: Vec<usize>,
    patterns: Vec<String>,
}

impl Patterns {
    fn compile(list: &'static str, patterns: &[String]) -> Result<Self, RulesError> {
        let mut builder = GlobSetBuilder::new();
        let mut origin = Vec::new();
        let mut globs = Vec::new();
        for (i, pattern) in patterns.iter().enumerate() {
            globs.clear();
            expand(pattern, &mut globs).map_err(|reason| bad(list, pattern, reason))?;
            for glob in &globs {
                let glob = GlobBuilder::new(glob)
                    .literal_separator(true)
                    .build()
                    .map_err(|e| bad(list, pattern, e.to_string()))?;
                builder.add(glob);
                origin.push(i);
            }
        }
        let set = builder.build().map_err(|e| bad(list, "", e.to_string()))?;
        Ok(Patterns {
            set,
            origin,
            patterns: patterns.to_vec(),
        })
    }

    /// The first pattern (in the user's order) that matches `path`.
    fn first(&self, path: &str) -> Option<&str> {
        if self.patterns.is_empty() {
            return None;
        }
        self.set
            .matches(path)
            .into_iter()
            .map(|g| self.origin[g])
            .min()
            .map(|i| self.patterns[i].as_str())
    }
}

/// The user's patterns, compiled. The built-in rules need no setup: they are functions
/// ([`ephemeral`], [`critical`]). `Rules::default()` has no user patterns.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    critical: Patterns,
    normal: Patterns,
    ephemeral: Patterns,
    sensitive: Patterns,
}

impl Rules {
    /// Compiles the user's patterns; the first one that is not a valid glob is the error.
    pub fn new(user: &UserRules) -> Result<Self, RulesError> {
        Ok(Rules {
            critical: Patterns::compile("critical", &user.critical)?,
            normal: Patterns::compile("normal", &user.normal)?,
            ephemeral: Patterns::compile("ephemeral", &user.ephemeral)?,
            sensitive: Patterns::compile("sensitive", &user.sensitive)?,
        })
    }

    /// The class the user's patterns give `path`, with the pattern that gave it. When patterns
    /// of several lists match, critical wins over normal, and normal over ephemeral: a
    /// pattern can carve a part out of a broader exclusion, and nothing critical is ever
    /// excluded by accident.
    pub fn user_class(&self, path: &str) -> Option<(Class, &str)> {
        [
            (Class::Critical, &self.critical),
            (Class::Normal, &self.normal),
            (Class::Ephemeral, &self.ephemeral),
        ]
        .into_iter()
        .find_map(|(class, patterns)| patterns.first(path).map(|p| (class, p)))
    }

    /// The user's pattern that marks `path` sensitive, if any.
    pub fn user_sensitive(&self, path: &str) -> Option<&str> {
        self.sensitive.first(path)
    }
}
