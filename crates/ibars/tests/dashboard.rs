//! The dashboard in a real headless Chromium (Debian's `chromium`, driven by npm's
//! `playwright-core`; scripts/test.sh installs both): log in, see a failed job as failed, see
//! each chart draw its points, browse a snapshot and download a file (bytes compared), run a
//! restore to its end, dismiss an anomaly and find it in the audit log. Screenshots of every
//! page land in target/tmp/dashboard/ for a person to look at.

mod common;

use common::daemon::Daemon;
use common::Env;
use sha2::Digest;

#[test]
fn the_dashboard_works_in_a_real_browser() {
    let env = Env::new();
    let src = env.path("src");
    common::scenario::ransomware_history(&env, &src);
    let jobs = format!(
        "[[job]]\nname = \"home\"\nrepository = \"main\"\nkind = \"backup\"\n\
         schedule = \"0 2 * * *\"\npaths = [{:?}]\nmax_age = \"26h\"\n\n\
         [[job]]\nname = \"broken\"\nrepository = \"main\"\nkind = \"backup\"\n\
         schedule = \"0 3 * * *\"\npaths = [\"/nonexistent/ibars-test\"]\n",
        src.display().to_string()
    );
    let (d, base) = Daemon::start_listening(&env, &jobs);
    let out = d.jobs(&["run", "broken", "--wait"]).output().unwrap();
    assert!(!out.status.success(), "the broken job fails");
    d.user(&env, "admin", "admin", "dashboard-pass-1");

    let file = src.join("notes/f2.txt");
    let sha = hex::encode(sha2::Sha256::digest(std::fs::read(&file).unwrap()));
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard");
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).unwrap();
    let target = env.path("state/restore/from-dashboard");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts/test/dashboard/dashboard.test.mjs");
    let out = std::process::Command::new("node")
        .arg(&script)
        .env("IBARS_URL", &base)
        .env("IBARS_USER", "admin")
        .env("IBARS_USER_PASSWORD", "dashboard-pass-1")
        .env("IBARS_REPO", "main")
        .env("IBARS_FAILED_JOB", "broken")
        .env("IBARS_DOWNLOAD_PATH", &file)
        .env("IBARS_DOWNLOAD_SHA256", &sha)
        .env("IBARS_RESTORE_TARGET", &target)
        .env("IBARS_SHOTS", &shots)
        .output()
        .expect("node must be installed (scripts/test.sh installs the dashboard test's needs)");
    assert!(
        out.status.success(),
        "the browser test failed:\n{}\n{}\ndaemon log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        d.log_text()
    );
    // What the browser did happened for real: the files are restored, the dismissal audited.
    let restored = common::restored(&target, &src);
    assert_eq!(
        std::fs::read(restored.join("notes/f2.txt")).unwrap(),
        std::fs::read(&file).unwrap()
    );
    for page in [
        "overview",
        "charts",
        "anomalies",
        "snapshots",
        "restore",
        "audit",
    ] {
        assert!(
            shots.join(format!("{page}.png")).exists(),
            "{page}.png missing"
        );
    }
    let mut d = d;
    assert!(d.stop().success());
    let audit = env.json(&["audit"]);
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor"] == "user:admin"
                && e["action"] == "anomaly.dismiss"
                && e["result"] == "ok"),
        "{audit:#}"
    );
}
