//! A real `ibars daemon` for tests: its config file in a scratch directory, its socket and
//! state there too, and `ibars jobs` bound to it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::Env;

pub struct Daemon {
    pub child: Option<Child>,
    pub config: PathBuf,
    pub socket: PathBuf,
    pub log: PathBuf,
    /// The environment of the daemon (S3 credentials).
    vars: Vec<(String, String)>,
}

/// The `[daemon]` table and a `[[repository]]` named `main` for `env`'s repository (password
/// in a file), followed by `rest` (more repositories, the jobs).
pub fn config_text(env: &Env, rest: &str) -> String {
    let pw = env.path("password");
    std::fs::write(&pw, "pw\n").unwrap();
    format!(
        "[daemon]\nsocket = {:?}\nstate_dir = {:?}\ntime_zone = \"UTC\"\nstop_grace = \"20s\"\n\n\
         [[repository]]\nname = \"main\"\nlocation = {:?}\npassword_file = {:?}\n\n{rest}",
        env.path("run/ibars.sock"),
        env.path("state"),
        env.repo,
        pw,
    )
}

impl Daemon {
    /// [`config_text`] with `rest`, the API listening on a free loopback port in plain HTTP,
    /// started; returns it with the API's base URL (`http://127.0.0.1:PORT`).
    pub fn start_listening(env: &Env, rest: &str) -> (Self, String) {
        let port = free_port();
        let text = config_text(env, rest).replacen(
            "[daemon]\n",
            &format!("[daemon]\nlisten = \"127.0.0.1:{port}\"\n"),
            1,
        );
        (Self::start(env, &text), format!("http://127.0.0.1:{port}"))
    }

    /// `ibars token create --name NAME --role ROLE ARGS...`, which must succeed: the token.
    pub fn token(&self, name: &str, role: &str, args: &[&str]) -> String {
        let out = self
            .command()
            .args(["token", "create", "--name", name, "--role", role])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// `ibars user add NAME --role ROLE` with `password`, which must succeed.
    pub fn user(&self, env: &Env, name: &str, role: &str, password: &str) {
        let file = env.path(&format!("{name}.password"));
        std::fs::write(&file, format!("{password}\n")).unwrap();
        let st = self
            .command()
            .args(["user", "add", name, "--role", role, "--password-file"])
            .arg(&file)
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// Write `text` as the config and start the daemon on it; waits until it answers.
    pub fn start(env: &Env, text: &str) -> Self {
        Self::start_with_env(env, text, &[])
    }

    /// [`Daemon::start`] with more environment for the daemon.
    pub fn start_with_env(env: &Env, text: &str, extra: &[(&str, &str)]) -> Self {
        let config = env.path("ibars.toml");
        std::fs::write(&config, text).unwrap();
        let mut vars = env.vars.clone();
        vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let mut d = Self {
            child: None,
            config,
            socket: env.path("run/ibars.sock"),
            log: env.path("daemon.log"),
            vars,
        };
        d.spawn();
        d
    }

    /// Start (again) on the same config; waits until it answers.
    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = self
            .command()
            .arg("daemon")
            .env("IBARS_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let t = Instant::now();
        while self
            .jobs(&["status"])
            .status()
            .map(|s| !s.success())
            .unwrap_or(true)
        {
            if let Some(st) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("the daemon ended ({st}): {}", self.log_text());
            }
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "the daemon did not answer"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `ibars --config CONFIG` in the daemon's environment.
    pub fn command(&self) -> Command {
        let mut c = Command::new(assert_cmd::cargo::cargo_bin("ibars"));
        c.arg("--config").arg(&self.config);
        for k in [
            "IBARS_REPOSITORY",
            "IBARS_PASSWORD",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
        ] {
            c.env_remove(k);
        }
        c.envs(self.vars.iter().map(|(k, v)| (k, v)));
        c
    }

    /// `ibars jobs ARGS` on this daemon's socket.
    pub fn jobs(&self, args: &[&str]) -> Command {
        let mut c = self.command();
        c.arg("jobs").args(args);
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        c
    }

    /// `ibars --json jobs ARGS`, which must succeed, as JSON.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.jobs(args).arg("--json").output().unwrap();
        assert!(
            out.status.success(),
            "jobs {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// A job's recent runs, newest first.
    pub fn runs(&self, job: &str) -> Vec<serde_json::Value> {
        self.json(&["history", job]).as_array().unwrap().clone()
    }

    /// Wait until `cond` holds (at most `limit`).
    pub fn wait_for(&self, what: &str, limit: Duration, mut cond: impl FnMut(&Self) -> bool) {
        let t = Instant::now();
        while !cond(self) {
            assert!(
                t.elapsed() < limit,
                "timed out waiting for {what}; daemon log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().unwrap().id() as i32
    }

    pub fn signal(&self, s: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), s).unwrap();
    }

    /// SIGTERM, and its exit status.
    pub fn stop(&mut self) -> ExitStatus {
        self.signal(nix::sys::signal::Signal::SIGTERM);
        self.wait(Duration::from_secs(60))
    }

    /// Wait for the daemon to end.
    pub fn wait(&mut self, limit: Duration) -> ExitStatus {
        let child = self.child.as_mut().unwrap();
        let t = Instant::now();
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                self.child = None;
                return s;
            }
            assert!(t.elapsed() < limit, "the daemon did not end");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Whether a run's outcome is one of `outcomes`.
pub fn outcome_is(run: &serde_json::Value, outcomes: &[&str]) -> bool {
    run["outcome"]
        .as_str()
        .is_some_and(|o| outcomes.contains(&o))
}

/// The lock files left in a local repository.
pub fn locks(repo: &Path) -> usize {
    std::fs::read_dir(repo.join("locks"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// A TCP port on loopback that nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` from `127.0.0.1:port` (HTTP/1.0): the status line's code and the body.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let code = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((code, body))
}

/// A helper process killed when dropped (a receiver, a server).
pub struct Helper(pub Child);

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Wait for `path` to exist and return its content.
pub fn wait_file(path: &Path, limit: Duration) -> String {
    let t = Instant::now();
    loop {
        if let Ok(s) = std::fs::read_to_string(path) {
            return s;
        }
        assert!(t.elapsed() < limit, "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The repository's `scripts/` directory.
pub fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts")
}
