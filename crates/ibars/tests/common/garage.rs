//! A real Garage S3 store for tests: the one `scripts/test.sh` started (named by
//! `IBARS_TEST_GARAGE`, the path of its env file), or else one started here for this test.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A running Garage and a key that may read and write the bucket `ibars`.
pub struct Garage {
    pub vars: HashMap<String, String>,
    /// Set when this test started the server (and stops it when dropped).
    own: Option<tempfile::TempDir>,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/garage.sh")
}

/// Parse the `export K=V` lines that `garage.sh` writes.
pub fn read_env_file(path: &Path) -> HashMap<String, String> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("reading Garage env file {}: {e}", path.display()));
    text.lines()
        .filter_map(|l| l.strip_prefix("export ")?.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Four ports in a row that nothing listens on now: S3, RPC at +1, admin at +3 (+2 kept free).
pub fn free_ports() -> u16 {
    loop {
        let base = 20000 + (rand_u64() % 40000) as u16;
        let all_free = (0..4).all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok());
        if all_free {
            return base;
        }
    }
}

impl Garage {
    /// The shared server, or a new one.
    pub fn get() -> Self {
        if let Some(f) = std::env::var_os("IBARS_TEST_GARAGE").filter(|f| !f.is_empty()) {
            return Self {
                vars: read_env_file(Path::new(&f)),
                own: None,
            };
        }
        let dir = tempfile::tempdir().unwrap();
        let port = free_ports();
        let st = Command::new("bash")
            .arg(script())
            .arg("start")
            .arg(dir.path())
            .arg(port.to_string())
            .status()
            .unwrap();
        assert!(st.success(), "scripts/garage.sh start failed");
        Self {
            vars: read_env_file(&dir.path().join("env")),
            own: Some(dir),
        }
    }

    /// A new three-node cluster (replication factor 3) of this test's own, on loopback; the
    /// S3 endpoint is node 0's.
    pub fn cluster() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = loop {
            let p = free_ports();
            if (10..24).all(|i| std::net::TcpListener::bind(("127.0.0.1", p + i)).is_ok()) {
                break p;
            }
        };
        let st = Command::new("bash")
            .arg(script())
            .arg("cluster")
            .arg(dir.path())
            .arg(port.to_string())
            .status()
            .unwrap();
        assert!(st.success(), "scripts/garage.sh cluster failed");
        Self {
            vars: read_env_file(&dir.path().join("env")),
            own: Some(dir),
        }
    }

    fn script_verb(&self, verb: &str, node: Option<usize>) {
        let dir = self.own.as_ref().expect("a cluster of this test's own");
        let mut c = Command::new("bash");
        c.arg(script()).arg(verb).arg(dir.path());
        if let Some(n) = node {
            c.arg(n.to_string());
        }
        assert!(c.status().unwrap().success(), "garage.sh {verb} failed");
    }

    /// SIGKILL one node of a cluster.
    pub fn kill_node(&self, n: usize) {
        self.script_verb("kill-node", Some(n));
    }

    /// Start a node of a cluster again.
    pub fn start_node(&self, n: usize) {
        self.script_verb("start-node", Some(n));
    }

    /// Stop every node.
    pub fn stop(&self) {
        self.script_verb("stop", None);
    }

    /// A repository URL under a prefix no other test uses.
    pub fn fresh_url(&self, name: &str) -> String {
        format!(
            "s3:{}/{}/{name}-{:016x}",
            self.vars["IBARS_S3_ENDPOINT"],
            self.vars["IBARS_S3_BUCKET"],
            rand_u64()
        )
    }

    /// The `AWS_*` variables of the test key.
    pub fn aws_env(&self) -> Vec<(String, String)> {
        self.vars
            .iter()
            .filter(|(k, _)| k.starts_with("AWS_"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    pub fn secret(&self) -> &str {
        &self.vars["AWS_SECRET_ACCESS_KEY"]
    }
}

pub fn rand_u64() -> u64 {
    let mut b = [0u8; 8];
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    blake3::Hasher::new()
        .update(&t.to_le_bytes())
        .update(&std::process::id().to_le_bytes())
        .finalize_xof()
        .fill(&mut b);
    u64::from_le_bytes(b)
}

impl Drop for Garage {
    fn drop(&mut self) {
        if let Some(d) = &self.own {
            let _ = Command::new("bash")
                .arg(script())
                .arg("stop")
                .arg(d.path())
                .status();
        }
    }
}
