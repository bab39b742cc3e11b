//! The daemon end to end: a real `ibars daemon` runs jobs every few seconds against a local
//! repository and a Garage bucket, is killed mid-job and restarted, reloads its config, and
//! refuses bad configs; `ibars jobs` drives it over its socket.

mod common;

use std::time::Duration;

use common::daemon::{config_text, locks, outcome_is, Daemon};
use common::garage::Garage;
use common::{restored, same_tree, write, Env};
use nix::sys::signal::Signal;

const MINUTE: Duration = Duration::from_secs(60);

fn ok_runs(d: &Daemon, job: &str) -> usize {
    d.runs(job)
        .iter()
        .filter(|r| outcome_is(r, &["ok"]))
        .count()
}

#[test]
fn scheduled_backup_check_forget_and_copy_run_and_their_snapshots_restore() {
    let mut env = Env::new();
    let g = Garage::get();
    let offsite = Env::empty_s3(&g, "daemon-offsite");
    offsite.init();
    // The daemon reaches the bucket with the test key, as from the environment.
    env.vars = g.aws_env();
    let src = env.path("src");
    write(&src.join("a.txt"), "first");
    write(&src.join("dir/b.bin"), common::random_bytes(300_000, 1));
    let offsite_pw = env.path("offsite.pw");
    std::fs::write(&offsite_pw, "pw\n").unwrap();
    let text = config_text(
        &env,
        &format!(
            "[[repository]]\nname = \"offsite\"\nlocation = {:?}\npassword_file = {offsite_pw:?}\n\n\
             [[job]]\nname = \"home\"\nrepository = \"main\"\nkind = \"backup\"\nschedule = \"*/2 * * * * *\"\n\
             paths = [{src:?}]\nmax_age = \"1h\"\nnice = 5\nionice = \"best-effort:7\"\n\n\
             [[job]]\nname = \"verify\"\nrepository = \"main\"\nkind = \"check\"\nschedule = \"*/3 * * * * *\"\nread_data = true\n\n\
             [[job]]\nname = \"retention\"\nrepository = \"main\"\nkind = \"forget\"\nschedule = \"*/5 * * * * *\"\nkeep_last = 3\nprune = true\n\n\
             [[job]]\nname = \"replicate\"\nrepository = \"main\"\nkind = \"copy\"\nschedule = \"*/4 * * * * *\"\ntarget = \"offsite\"\n",
            offsite.repo.to_str().unwrap()
        ),
    );
    let mut d = Daemon::start(&env, &text);
    // Every job runs more than once, with the tree changing between backups.
    for i in 0..3 {
        write(&src.join(format!("new-{i}.txt")), format!("change {i}"));
        let before = ok_runs(&d, "home");
        d.wait_for("a backup of the change", MINUTE, |d| {
            ok_runs(d, "home") > before
        });
    }
    for job in ["verify", "retention", "replicate"] {
        d.wait_for(job, MINUTE, |d| ok_runs(d, job) >= 2);
    }
    // One last backup and copy of the final tree, started by hand and waited for.
    for job in ["home", "replicate"] {
        run_when_idle(&d, job);
    }
    let list = d.json(&["list"]);
    assert_eq!(list.as_array().unwrap().len(), 4);
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .all(|j| j["overdue"] == false));
    assert!(d.stop().success(), "SIGTERM ends the daemon with 0");

    // Nothing failed, and every run is in the repository's history.
    let failed: Vec<_> = ["home", "verify", "retention", "replicate"]
        .iter()
        .flat_map(|j| d.runs_after_stop(j))
        .filter(|r| !outcome_is(r, &["ok"]))
        .collect();
    assert!(failed.is_empty(), "runs that did not succeed: {failed:?}");
    let hist = env.json(&["history", "--kind", "job"]);
    for job in ["home", "verify", "retention", "replicate"] {
        assert!(
            hist.as_array()
                .unwrap()
                .iter()
                .any(|r| r["job"]["name"] == job && r["job"]["outcome"] == "ok"),
            "no job record of {job}"
        );
    }
    // Retention ran: at most keep_last snapshots plus those made since its last run.
    assert!(
        env.snapshot_ids().len() <= 6,
        "forget kept {}",
        env.snapshot_ids().len()
    );
    assert_eq!(locks(&env.repo), 0);
    // Both repositories restore the final tree.
    let t = env.restore_latest("restore-main");
    assert!(same_tree(&src, &restored(&t, &src)));
    let t = offsite.restore_latest("restore-offsite");
    assert!(same_tree(&src, &restored(&t, &src)));
}

/// `jobs run JOB --wait`, again while a scheduled run of it is going on; it must succeed.
fn run_when_idle(d: &Daemon, job: &str) {
    let t = std::time::Instant::now();
    loop {
        let out = d.jobs(&["run", job, "--wait"]).output().unwrap();
        if out.status.success() {
            return;
        }
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("running already"), "jobs run {job}: {err}");
        assert!(t.elapsed() < MINUTE, "{job} never idle");
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Daemon {
    /// A job's runs as the daemon kept them in its state file (after it stopped).
    fn runs_after_stop(&self, job: &str) -> Vec<serde_json::Value> {
        let state_file = self.config.parent().unwrap().join("state/state.json");
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(state_file).unwrap()).unwrap();
        v["jobs"][job]["recent"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

/// A backup whose dump blocks on its first run only (until a marker exists).
fn blocking_once_job(env: &Env) -> String {
    let marker = env.path("marker");
    config_text(
        env,
        &format!(
            "[[job]]\nname = \"db\"\nrepository = \"main\"\nkind = \"backup\"\nschedule = \"*/2 * * * * *\"\n\
             retries = 2\nretry_delay = \"1s\"\nstdin_filename = \"db.sql\"\n\
             stdin_command = \"if [ -e {m} ]; then echo dump; else touch {m}; exec sleep 8; fi\"\n",
            m = marker.display()
        ),
    )
}

#[test]
fn a_daemon_killed_mid_job_finds_the_run_clears_its_lock_and_runs_it_again() {
    for whole_group in [false, true] {
        let env = Env::new();
        let mut d = Daemon::start(&env, &blocking_once_job(&env));
        // The first run blocks in its dump; its child holds a lock.
        d.wait_for("the run to start", MINUTE, |d| {
            d.json(&["status", "db"])["running"]["pid"].is_u64()
        });
        let child = d.json(&["status", "db"])["running"]["pid"]
            .as_u64()
            .unwrap() as i32;
        d.wait_for("the lock", MINUTE, |_| locks(&env.repo) > 0);
        d.signal(Signal::SIGKILL);
        if whole_group {
            // The daemon and its job die together: the job's lock is left behind. (The job,
            // blocked reading its dump, has not acted on its SIGTERM yet.)
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(child), Signal::SIGKILL).unwrap();
        }
        d.wait(MINUTE);
        if !whole_group {
            // The job follows its daemon: SIGTERM, a clean stop, its lock removed.
            let t = std::time::Instant::now();
            while nix::sys::signal::kill(nix::unistd::Pid::from_raw(child), None).is_ok() {
                assert!(t.elapsed() < MINUTE, "the job outlived its daemon");
                std::thread::sleep(Duration::from_millis(100));
            }
            assert_eq!(locks(&env.repo), 0, "a job stopped cleanly leaves no lock");
        } else {
            assert!(locks(&env.repo) > 0, "a killed job leaves its lock");
        }
        d.spawn();
        d.wait_for("the run again", MINUTE, |d| {
            d.runs("db")
                .iter()
                .any(|r| r["trigger"] == "retry" && outcome_is(r, &["ok"]))
        });
        let runs = d.runs("db");
        let interrupted = runs
            .iter()
            .find(|r| r["outcome"] == "interrupted")
            .expect("an interrupted run");
        assert!(interrupted["message"]
            .as_str()
            .unwrap()
            .contains("daemon stopped"));
        assert!(d.stop().success());
        assert_eq!(locks(&env.repo), 0, "no stale lock is left");
        let hist = env.json(&["history", "--job", "db"]);
        let outcomes: Vec<&str> = hist
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["job"]["outcome"].as_str().unwrap())
            .collect();
        assert!(
            outcomes.contains(&"interrupted") && outcomes.contains(&"ok"),
            "{outcomes:?}"
        );
        let t = env.restore_latest("restore");
        assert_eq!(std::fs::read_to_string(t.join("db.sql")).unwrap(), "dump\n");
    }
}

#[test]
fn timeouts_hooks_failing_dumps_and_the_control_api() {
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("f"), "x");
    let out = env.path("hook.out");
    let never = "schedule = \"0 0 1 1 *\"\nretries = 0\n";
    let text = config_text(
        &env,
        &format!(
            "[[job]]\nname = \"slow\"\nrepository = \"main\"\nkind = \"backup\"\n{never}timeout = \"2s\"\nstdin_command = \"exec sleep 30\"\n\n\
             [[job]]\nname = \"guarded\"\nrepository = \"main\"\nkind = \"backup\"\n{never}paths = [{src:?}]\nbefore = \"echo not now; exit 3\"\n\
             on_failure = \"echo $IBARS_JOB_NAME $IBARS_JOB_OUTCOME >> {out}\"\n\n\
             [[job]]\nname = \"good\"\nrepository = \"main\"\nkind = \"backup\"\n{never}paths = [{src:?}]\n\
             after = \"echo $IBARS_JOB_NAME $IBARS_JOB_OUTCOME $IBARS_JOB_SNAPSHOT >> {out}\"\n\n\
             [[job]]\nname = \"baddump\"\nrepository = \"main\"\nkind = \"backup\"\n{never}stdin_command = \"echo half; echo dump broke >&2; exit 3\"\n",
            out = out.display()
        ),
    );
    let d = Daemon::start(&env, &text);

    let st = d.jobs(&["run", "slow"]).status().unwrap();
    assert!(st.success());
    let again = d.jobs(&["run", "slow"]).output().unwrap();
    assert_eq!(
        again.status.code(),
        Some(1),
        "a running job does not start twice"
    );
    assert!(String::from_utf8_lossy(&again.stderr).contains("running already"));
    d.wait_for("the timeout", MINUTE, |d| {
        d.json(&["status", "slow"])["state"] == "idle"
    });
    let r = &d.runs("slow")[0];
    assert_eq!(r["outcome"], "timed_out", "{r}");
    assert_eq!(r["exit_code"], 130, "stopped cleanly by SIGTERM");

    let st = d.jobs(&["run", "guarded", "--wait"]).status().unwrap();
    assert_eq!(st.code(), Some(1));
    let r = &d.runs("guarded")[0];
    assert_eq!(r["outcome"], "skipped");
    assert!(r["message"].as_str().unwrap().contains("not now"), "{r}");

    let st = d.jobs(&["run", "good", "--wait"]).status().unwrap();
    assert!(st.success());
    let snap = d.runs("good")[0]["summary"]["snapshot_id"]
        .as_str()
        .unwrap()
        .to_string();

    let st = d.jobs(&["run", "baddump", "--wait"]).status().unwrap();
    assert_eq!(st.code(), Some(1));
    let r = &d.runs("baddump")[0];
    assert_eq!(r["outcome"], "failed");
    let m = r["message"].as_str().unwrap();
    assert!(
        m.contains("failed (exit status: 3)") && m.contains("dump broke"),
        "{m}"
    );
    // The cut-short dump was not saved: the only snapshot is the good job's.
    assert_eq!(env.snapshot_ids().len(), 1);

    let hooks = std::fs::read_to_string(&out).unwrap();
    assert!(hooks.contains("guarded skipped"), "{hooks}");
    assert!(hooks.contains(&format!("good ok {snap}")), "{hooks}");

    let unknown = d.jobs(&["run", "nosuch"]).output().unwrap();
    assert_eq!(unknown.status.code(), Some(2));
    let gone = d
        .command()
        .args(["jobs", "--socket"])
        .arg(env.path("nowhere.sock"))
        .arg("list")
        .output()
        .unwrap();
    assert_eq!(gone.status.code(), Some(14));
    assert!(String::from_utf8_lossy(&gone.stderr).contains("cannot reach the ibars daemon"));
    let health = d.json(&["status"]);
    assert_eq!(health["status"], "ok");
    assert_eq!(health["jobs"], 4);
}

#[test]
fn a_bad_config_never_starts_and_a_bad_reload_keeps_the_old_one() {
    let env = Env::new();
    let good = config_text(
        &env,
        "[[job]]\nname = \"a\"\nrepository = \"main\"\nkind = \"prune\"\nschedule = \"@daily\"\n",
    );
    // A mistake: the daemon does not start, names the line and the key, and exits 2.
    let bad = format!("{good}colour = \"blue\"\n");
    let config = env.path("ibars.toml");
    std::fs::write(&config, &bad).unwrap();
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("ibars"))
        .arg("--config")
        .arg(&config)
        .arg("daemon")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let line = bad.lines().count();
    assert!(
        err.contains(&format!("ibars.toml:{line}")) && err.contains("colour"),
        "{err}"
    );
    assert!(!env.path("run/ibars.sock").exists(), "nothing half started");

    let mut d = Daemon::start(&env, &good);
    let check = d
        .command()
        .args(["daemon", "--check-config"])
        .output()
        .unwrap();
    assert!(check.status.success());
    let text = String::from_utf8_lossy(&check.stdout);
    assert_eq!(
        text.matches("00:00:00 UTC").count(),
        5,
        "five next runs: {text}"
    );

    // A good change takes effect on SIGHUP.
    std::fs::write(&d.config, format!("{good}\n[[job]]\nname = \"b\"\nrepository = \"main\"\nkind = \"prune\"\nschedule = \"@hourly\"\n")).unwrap();
    d.signal(Signal::SIGHUP);
    d.wait_for("the reload", MINUTE, |d| {
        d.json(&["list"]).as_array().unwrap().len() == 2
    });
    // A bad one is refused; the daemon keeps running on the old config.
    std::fs::write(&d.config, &bad).unwrap();
    d.signal(Signal::SIGHUP);
    d.wait_for("the refusal", MINUTE, |d| {
        d.log_text().contains("config not reloaded")
    });
    assert_eq!(d.json(&["list"]).as_array().unwrap().len(), 2);
    // A second daemon on the same socket is refused.
    let second = d.command().arg("daemon").output().unwrap();
    assert_eq!(second.status.code(), Some(2), "the bad file is named first");
    std::fs::write(&d.config, &good).unwrap();
    let second = d.command().arg("daemon").output().unwrap();
    assert_eq!(second.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&second.stderr).contains("another ibars daemon"));
    assert!(d.stop().success());
}

/// systemd's protocol, on a real notify socket: READY=1 at start, WATCHDOG=1 at half the
/// interval, STOPPING=1 on SIGTERM. A job still running at SIGTERM gets `stop_grace`, then
/// is stopped cleanly and recorded as interrupted. The socket is the owner's only.
#[test]
fn systemd_notify_watchdog_and_a_graceful_stop() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::net::UnixDatagram;
    let env = Env::new();
    let notify = env.path("notify.sock");
    let sock = UnixDatagram::bind(&notify).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let text = config_text(
        &env,
        "[[job]]\nname = \"long\"\nrepository = \"main\"\nkind = \"backup\"\nschedule = \"0 0 1 1 *\"\n\
         stdin_command = \"echo start; exec sleep 60\"\n",
    )
    .replace("stop_grace = \"20s\"", "stop_grace = \"1s\"");
    std::fs::write(env.path("ibars.toml"), &text).unwrap();
    let mut d = Daemon::start_with_env(
        &env,
        &text,
        &[
            ("NOTIFY_SOCKET", notify.to_str().unwrap()),
            ("WATCHDOG_USEC", "1000000"),
        ],
    );
    let mut seen = String::new();
    let mut buf = [0u8; 512];
    while !(seen.contains("READY=1") && seen.contains("WATCHDOG=1")) {
        let n = sock.recv(&mut buf).expect("a notification");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        seen.push('\n');
    }
    let mode = std::fs::metadata(&d.socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the control socket is the owner's");

    assert!(d.jobs(&["run", "long"]).status().unwrap().success());
    d.wait_for("the run", MINUTE, |d| {
        d.json(&["status", "long"])["running"]["pid"].is_u64()
    });
    let t = std::time::Instant::now();
    assert!(d.stop().success(), "SIGTERM ends the daemon with 0");
    assert!(
        t.elapsed() < Duration::from_secs(30),
        "the grace period is 1 s, not the job's 60"
    );
    let mut stopping = false;
    while let Ok(n) = sock.recv(&mut buf) {
        if String::from_utf8_lossy(&buf[..n]).contains("STOPPING=1") {
            stopping = true;
            break;
        }
    }
    assert!(stopping, "STOPPING=1 was sent");
    let r = &d.runs_after_stop("long")[0];
    assert_eq!(r["outcome"], "interrupted", "{r}");
    assert_eq!(r["exit_code"], 130, "stopped cleanly: {r}");
    assert_eq!(locks(&env.repo), 0);
    assert!(
        env.snapshot_ids().is_empty(),
        "the cut dump is not a snapshot"
    );
    let hist = env.json(&["history", "--job", "long"]);
    assert_eq!(hist[0]["job"]["outcome"], "interrupted");
}

/// The daemon's state is a cache: deleted, it is rebuilt from the job records in the
/// repository's history (last success, recent runs), and the job does not count as overdue.
#[test]
fn a_lost_state_is_rebuilt_from_the_repository_history() {
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("f"), "x");
    let text = config_text(
        &env,
        &format!(
            "[[job]]\nname = \"home\"\nrepository = \"main\"\nkind = \"backup\"\nschedule = \"0 0 1 1 *\"\n\
             paths = [{src:?}]\nmax_age = \"1h\"\n"
        ),
    );
    let mut d = Daemon::start(&env, &text);
    assert!(d
        .jobs(&["run", "home", "--wait"])
        .status()
        .unwrap()
        .success());
    assert!(d
        .jobs(&["run", "home", "--wait"])
        .status()
        .unwrap()
        .success());
    let before = d.json(&["status", "home"]);
    assert!(d.stop().success());
    std::fs::remove_dir_all(env.path("state")).unwrap();
    d.spawn();
    let after = d.json(&["status", "home"]);
    assert_eq!(d.runs("home").len(), 2, "both runs come back");
    let t = |v: &serde_json::Value| v.as_str().unwrap().parse::<jiff::Timestamp>().unwrap();
    let (b, a) = (t(&before["last_success"]), t(&after["last_success"]));
    assert!(
        (b.as_millisecond() - a.as_millisecond()).abs() < 5,
        "{b} vs {a}"
    );
    assert_eq!(
        after["last_run"]["summary"]["snapshot_id"],
        before["last_run"]["summary"]["snapshot_id"]
    );
    assert!(d.stop().success());
}
