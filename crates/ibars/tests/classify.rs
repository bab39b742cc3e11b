//! `ibars classify`: classes from the rules, secrets found by the backup, user patterns and
//! restores from the history, as a user runs it.

mod common;

use common::{write, Env};

/// A source tree outside /tmp (which is ephemeral by rule): in /dev/shm.
fn source() -> tempfile::TempDir {
    let d = tempfile::tempdir_in("/dev/shm").expect("/dev/shm, a tmpfs every Linux has");
    let s = d.path();
    write(&s.join("project/.git/HEAD"), "ref: refs/heads/main\n");
    write(&s.join("project/src/main.rs"), "fn main() {}\n");
    for m in ["lodash", "express", "debug"] {
        write(
            &s.join(format!("project/node_modules/{m}/index.js")),
            "module.exports = {};\n",
        );
    }
    write(&s.join("web/node_modules/react/index.js"), "export {};\n");
    write(
        &s.join("project/target/CACHEDIR.TAG"),
        "Signature: 8a477f597d28d172789f06886806bc55\n# cargo\n",
    );
    write(&s.join("project/target/debug/app"), vec![7u8; 50_000]);
    write(
        &s.join("keys/deploy"),
        "-----BEGIN OPENSSH PRIVATE KEY-----\n\
         b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n\
         -----END OPENSSH PRIVATE KEY-----\n",
    );
    write(
        &s.join("app/.env"),
        "APP_ENV=production\nDATABASE_PASSWORD=Zx81bQ0pLr7uVw3eTy6nM2\n",
    );
    write(&s.join("docs/report.txt"), "quarterly numbers\n");
    d
}

#[test]
fn classify_sorts_a_snapshot_and_names_its_secrets() {
    let env = Env::new();
    let src = source();
    let root = src.path().to_str().unwrap().to_string();
    env.cmd().arg("backup").arg(src.path()).assert().success();
    // Restore the report twice: the most restored file.
    for i in 0..2 {
        env.cmd()
            .args(["restore", "latest", "--target"])
            .arg(env.path(&format!("r{i}")))
            .args(["--include", &format!("{root}/docs/report.txt")])
            .assert()
            .success();
    }
    let v = env.json(&["classify", "--list"]);
    let class_of = |suffix: &str| {
        v["paths"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["path"].as_str().unwrap().ends_with(suffix))
            .unwrap_or_else(|| panic!("{suffix} not listed: {v}"))
            .clone()
    };
    assert_eq!(class_of("lodash/index.js")["class"], "ephemeral", "{v}");
    assert_eq!(class_of("target/debug/app")["class"], "ephemeral", "{v}");
    assert_eq!(class_of("project/src/main.rs")["class"], "critical", "{v}");
    let key = class_of("keys/deploy");
    assert_eq!(key["sensitive"], true, "{v}");
    assert!(key["secrets"].to_string().contains("private_key"), "{v}");
    assert_eq!(class_of("app/.env")["sensitive"], true, "{v}");
    assert_eq!(
        class_of("docs/report.txt")["class"],
        "critical",
        "restored twice: {v}"
    );
    let rules = v["classes"]["ephemeral"]["rules"].to_string();
    assert!(
        rules.contains("node_modules") && rules.contains("target/"),
        "{v}"
    );
    assert_eq!(v["sensitive"].as_array().unwrap().len(), 2, "{v}");
    let tips = v["suggestions"].to_string();
    assert!(
        tips.contains("exclude") && tips.contains("node_modules ×2"),
        "{tips}"
    );
    assert!(tips.contains("2 files hold secrets"), "{tips}");
    assert!(tips.contains("restored most often"), "{tips}");

    // The user's patterns win.
    let v = env.json(&[
        "classify",
        "--list",
        "--class",
        "normal",
        "--normal",
        "node_modules",
    ]);
    let listed = v["paths"].to_string();
    assert!(listed.contains("lodash/index.js"), "{v}");
    assert!(!listed.contains("target/debug/app"), "{v}");

    // The text summary.
    let out = env.cmd().arg("classify").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("exclude") && text.contains("hold secrets"),
        "{text}"
    );
}
