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

#[test]
fn config_patterns_classify_and_rewrite_cuts_what_is_sensitive() {
    let env = Env::new();
    let src = source();
    write(
        &env.path("config/ibars/config.toml"),
        "[classify]\nsensitive = [\"docs/report.txt\"]\nephemeral = [\"keys\"]\n",
    );
    env.cmd().arg("backup").arg(src.path()).assert().success();
    write(&src.path().join("docs/more.txt"), "more numbers\n");
    env.cmd().arg("backup").arg(src.path()).assert().success();
    let v = env.json(&["classify", "--list"]);
    let find = |v: &serde_json::Value, suffix: &str| {
        v["paths"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["path"].as_str().unwrap().ends_with(suffix))
            .cloned()
    };
    let report = find(&v, "docs/report.txt").unwrap();
    assert_eq!(report["sensitive"], true, "the config's pattern: {v}");
    let key = find(&v, "keys/deploy").unwrap();
    assert_eq!(
        (key["class"].as_str(), key["sensitive"].as_bool()),
        (Some("ephemeral"), Some(true)),
        "{v}"
    );

    // A dry run lists, per snapshot, exactly the sensitive files.
    let dry = env.json(&["rewrite", "--sensitive", "--dry-run"]);
    let runs = dry.as_array().unwrap();
    assert_eq!(runs.len(), 2, "{dry}");
    for r in runs {
        let removed: Vec<&str> = r["removed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap())
            .collect();
        assert_eq!(removed.len(), 3, "{dry}");
        for s in ["app/.env", "docs/report.txt", "keys/deploy"] {
            assert!(removed.iter().any(|p| p.ends_with(s)), "{s}: {dry}");
        }
        assert!(r["new"].is_null());
    }
    env.cmd()
        .args(["rewrite", "--sensitive"])
        .assert()
        .success();
    let v = env.json(&["classify", "--list"]);
    for gone in ["docs/report.txt", "keys/deploy", "app/.env"] {
        assert!(find(&v, gone).is_none(), "{gone} still there: {v}");
    }
    assert!(find(&v, "project/src/main.rs").is_some(), "{v}");
    assert!(find(&v, "docs/more.txt").is_some(), "{v}");
    assert_eq!(v["sensitive"].as_array().unwrap().len(), 0, "{v}");

    // A misspelt key in [classify] is named, and nothing runs.
    write(
        &env.path("config/ibars/config.toml"),
        "[classify]\ncritcal = [\"/srv\"]\n",
    );
    let out = env.cmd().arg("classify").output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("critcal"), "{err}");
}

#[test]
fn a_class_is_backed_up_by_its_roots_and_kept_apart_by_forget() {
    let env = Env::new();
    let src = source();
    let s = src.path().to_str().unwrap().to_string();
    // No whole snapshot yet: nothing to classify, said so.
    let out = env
        .cmd()
        .args(["backup", "--class", "critical", &s])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("back them up whole first"), "{err}");

    env.cmd().args(["backup", &s]).assert().success();
    env.cmd().args(["backup", &s]).assert().success();
    let v = env.json(&["classify", "--roots", "critical"]);
    let roots: Vec<String> = v["roots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect();
    // The work tree without its node_modules and target/, and the key's directory.
    let expect: Vec<String> = ["keys", "project/.git", "project/src"]
        .iter()
        .map(|r| format!("{s}/{r}"))
        .collect();
    assert_eq!(roots, expect, "{v}");

    env.cmd()
        .args(["backup", "--class", "critical", &s])
        .assert()
        .success();
    let snaps = env.json(&["snapshots"]);
    let last = snaps.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["tags"], serde_json::json!(["critical"]), "{last}");
    let mut paths: Vec<String> = last["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    paths.sort();
    assert_eq!(paths, roots, "{last}");

    // The whole backups' retention leaves the critical snapshot to its own.
    env.cmd()
        .args(["forget", "--keep-last", "1", "--exclude-tag", "critical"])
        .assert()
        .success();
    let snaps = env.json(&["snapshots"]);
    let tags: Vec<String> = snaps
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["tags"].to_string())
        .collect();
    assert_eq!(tags.len(), 2, "{snaps}");
    assert!(tags.iter().any(|t| t.contains("critical")), "{snaps}");
}
