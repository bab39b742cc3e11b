//! Helpers shared by the CLI tests: a scratch repository and an `ibars` command bound to it.
#![allow(dead_code)]

pub mod daemon;
pub mod garage;
pub mod scenario;
pub mod slowlink;

use std::path::{Path, PathBuf};

use assert_cmd::Command;

pub struct Env {
    pub dir: tempfile::TempDir,
    /// A directory, or an `s3:` URL.
    pub repo: PathBuf,
    /// Extra environment of every command (S3 credentials).
    pub vars: Vec<(String, String)>,
}

impl Env {
    /// A new scratch directory with an initialized repository (password "pw").
    pub fn new() -> Self {
        let e = Self::empty();
        e.init();
        e
    }

    /// A scratch directory without a repository.
    pub fn empty() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        Self {
            dir,
            repo,
            vars: vec![],
        }
    }

    /// A scratch directory and a repository in `garage`, not yet initialized.
    pub fn empty_s3(garage: &garage::Garage, name: &str) -> Self {
        let mut e = Self::empty();
        e.repo = PathBuf::from(garage.fresh_url(name));
        e.vars = garage.aws_env();
        e
    }

    /// The same repository as `self` in a new scratch directory, as a second host sees it
    /// (its own cache).
    pub fn another_client(&self) -> Self {
        let mut e = Self::empty();
        e.repo = self.repo.clone();
        e.vars = self.vars.clone();
        e
    }

    /// `init` with small packs and chunks, as [`Env::new`] does.
    pub fn init(&self) {
        self.cmd()
            .args(["init", "--pack-size", "1MiB", "--chunk-size", "64KiB"])
            .assert()
            .success();
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `ibars -r REPO` with the password in the environment.
    pub fn cmd(&self) -> Command {
        Command::from_std(self.spawnable())
    }

    /// [`Env::cmd`] as a plain process command, to spawn and wait on.
    pub fn spawnable(&self) -> std::process::Command {
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("ibars"));
        c.arg("-r")
            .arg(&self.repo)
            .env("IBARS_PASSWORD", "pw")
            .env("XDG_CACHE_HOME", self.dir.path().join("cache"))
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env_remove("IBARS_REPOSITORY");
        for k in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"] {
            c.env_remove(k);
        }
        c.envs(self.vars.iter().map(|(k, v)| (k, v)));
        c
    }

    /// Run a command and parse its stdout as JSON.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.cmd().arg("--json").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let last = text
            .lines()
            .rfind(|l| !l.trim().is_empty())
            .unwrap_or("null")
            .to_string();
        serde_json::from_str(&text)
            .or_else(|_| serde_json::from_str(&last))
            .unwrap()
    }

    /// Run a command with `--json` and parse each line of its stdout.
    pub fn json_lines(&self, args: &[&str]) -> Vec<serde_json::Value> {
        let out = self.cmd().arg("--json").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// `restore latest` into the fresh directory `rel`, which must succeed; returns it.
    pub fn restore_latest(&self, rel: &str) -> PathBuf {
        let target = self.path(rel);
        self.cmd()
            .args(["restore", "latest", "--target"])
            .arg(&target)
            .assert()
            .success();
        target
    }

    /// Restore `snapshot` (narrowed by `args`, e.g. `--host h`) into the fresh directory
    /// `name`, and assert that it matches `src`.
    pub fn assert_restores(&self, snapshot: &str, args: &[&str], src: &Path, name: &str) {
        let target = self.path(name);
        self.cmd()
            .args(["restore", snapshot])
            .args(args)
            .arg("--target")
            .arg(&target)
            .assert()
            .success();
        assert!(
            same_tree(src, &restored(&target, src)),
            "{snapshot} {args:?} differs"
        );
    }

    /// Ids of all snapshots, oldest first.
    pub fn snapshot_ids(&self) -> Vec<String> {
        self.json(&["snapshots"])
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect()
    }
}

/// Write a file, creating parent directories.
pub fn write(path: &Path, data: impl AsRef<[u8]>) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
}

/// Deterministic pseudo-random bytes.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut out = vec![0u8; len];
    blake3::Hasher::new()
        .update(&seed.to_le_bytes())
        .finalize_xof()
        .fill(&mut out);
    out
}

/// Where a restore puts `src` under `target`.
pub fn restored(target: &Path, src: &Path) -> PathBuf {
    target.join(src.strip_prefix("/").unwrap())
}

/// Compare two trees by content (recursive `diff -r`).
pub fn same_tree(a: &Path, b: &Path) -> bool {
    std::process::Command::new("diff")
        .arg("-r")
        .arg("--no-dereference")
        .arg(a)
        .arg(b)
        .status()
        .unwrap()
        .success()
}

/// Every file (not directory) under `dir`, recursively, sorted; none if `dir` is missing.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}
