//! `dump`, `find` and `stats --mode`, as a user runs them.

mod common;

use common::{random_bytes, write, Env};

/// A source with a large random file and a few small ones; returns its path.
fn source(env: &Env) -> std::path::PathBuf {
    let src = env.path("src");
    write(&src.join("big.bin"), random_bytes(700_000, 3));
    write(&src.join("etc/app.conf"), "port = 80\n");
    write(&src.join("etc/more/db.conf"), "host = db\n");
    write(&src.join("notes.txt"), "hello\n");
    src
}

#[test]
fn dump_gives_a_file_and_a_directory_tar_that_unpacks_to_the_source() {
    let env = Env::new();
    let src = source(&env);
    env.cmd().arg("backup").arg(&src).assert().success();

    let out = env
        .cmd()
        .args(["dump", "latest"])
        .arg(src.join("big.bin"))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout, std::fs::read(src.join("big.bin")).unwrap());

    // A directory to a file, unpacked by the system's tar.
    let tar = env.path("src.tar");
    let v = env.json(&[
        "dump",
        "latest",
        src.to_str().unwrap(),
        "-o",
        tar.to_str().unwrap(),
    ]);
    assert_eq!(v["format"], "tar");
    assert_eq!(v["content_bytes"], 700_000 + 10 + 10 + 6);
    let unpacked = env.path("unpacked");
    std::fs::create_dir(&unpacked).unwrap();
    let st = std::process::Command::new("tar")
        .arg("-xf")
        .arg(&tar)
        .arg("-C")
        .arg(&unpacked)
        .status()
        .unwrap();
    assert!(st.success());
    assert!(common::same_tree(&src, &unpacked.join("src")));

    // A missing path fails with its name and leaves no output file behind.
    let missing = env.path("none.tar");
    env.cmd()
        .args(["dump", "latest"])
        .arg(src.join("nope"))
        .arg("-o")
        .arg(&missing)
        .assert()
        .code(1)
        .stderr(predicates::str::contains("no such path in snapshot"));
    assert!(!missing.exists());
    let left: Vec<_> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".ibars-dump"))
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

#[test]
fn find_lists_matches_per_snapshot_and_stats_measure_contents() {
    let env = Env::new();
    let src = source(&env);
    env.cmd().arg("backup").arg(&src).assert().success();
    std::fs::remove_file(src.join("etc/more/db.conf")).unwrap();
    env.cmd().arg("backup").arg(&src).assert().success();

    let v = env.json(&["find", "*.conf"]);
    let counts: Vec<usize> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["hits"].as_array().unwrap().len())
        .collect();
    assert_eq!(counts, vec![2, 1]);
    let db = format!("{}/etc/more/db.conf", src.display());
    let v = env.json(&["find", "DB.*", "-i", "--snapshot", "latest"]);
    assert_eq!(v.as_array().unwrap().len(), 0);
    let v = env.json(&["find", &format!("{}/etc/**", src.display())]);
    assert_eq!(v[0]["hits"].as_array().unwrap().len(), 3, "{v}");
    assert_eq!(v[0]["hits"][2]["path"], db);
    let text = env.cmd().args(["find", "notes.txt"]).output().unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("2 match(es) in 2 of 2 snapshot(s)"), "{text}");

    let v = env.json(&["stats", "--mode", "raw-data"]);
    assert_eq!(v["snapshots"], 2);
    assert_eq!(v["files"], 4 + 3);
    let restore = v["restore_size"].as_u64().unwrap();
    assert_eq!(restore, 2 * (700_000 + 10 + 6) + 10);
    // The random file is stored once for both snapshots, and compresses not at all.
    let dedup = v["deduplication_ratio"].as_f64().unwrap();
    assert!(dedup > 1.9 && dedup < 2.01, "{v}");
    let v = env.json(&["stats", "latest"]);
    assert_eq!(
        (v["mode"].as_str(), v["files"].as_u64()),
        (Some("restore-size"), Some(3))
    );
    assert!(v.get("raw_bytes").is_none());
    // Without a mode, the repository as stored.
    let v = env.json(&["stats"]);
    assert_eq!(v["snapshots"], 2);
    assert!(v["packs"].as_u64().unwrap() > 0);
}

#[test]
fn forecast_reads_the_history_and_says_when_it_is_too_short() {
    let env = Env::new();
    let src = env.path("src");
    let now = jiff::Timestamp::now();
    let backup_on = |days_ago: i64| {
        let t = now - jiff::SignedDuration::from_hours(24 * days_ago);
        env.cmd()
            .args(["backup", "--no-detect", "--time", &t.to_string()])
            .arg(&src)
            .assert()
            .success();
    };
    for d in 0..40u64 {
        // Weekends add less.
        let n = if d % 7 >= 5 { 5_000 } else { 40_000 };
        write(&src.join(format!("day{d}.bin")), random_bytes(n, d));
        backup_on(40 - d as i64);
    }
    let v = env.json(&["forecast", "--horizon", "14d", "--quota", "100MiB"]);
    let r = &v["repository"];
    let now_bytes = r["now"].as_f64().unwrap();
    let f = &r["in_horizon"];
    let (lo, p, hi) = (
        f["lower"].as_f64().unwrap(),
        f["point"].as_f64().unwrap(),
        f["upper"].as_f64().unwrap(),
    );
    assert!(lo <= p && p <= hi, "{v}");
    // About 35 KB a day more: 14 days ahead is above today, and far below 100 MiB.
    assert!(p > now_bytes && p < now_bytes + 2e6, "{v}");
    assert!(r["quota"]["reached"]["earliest"].is_null(), "{v}");
    assert_eq!(v["sources"].as_array().unwrap().len(), 1);
    assert!(v["sources"][0]["daily_bytes"]["point"].is_number(), "{v}");
    // A quota just above today's size is reached within the horizon.
    let q = format!("{}", now_bytes as u64 + 100_000);
    let v = env.json(&["forecast", "--horizon", "14d", "--quota", &q]);
    assert!(
        v["repository"]["quota"]["reached"]["earliest"].is_string(),
        "{v}"
    );
    let text = env
        .cmd()
        .args(["forecast", "--horizon", "14d", "--quota", &q])
        .output()
        .unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains("reaches the") && text.contains("between"),
        "{text}"
    );
    // Forty days of history are too little for two months ahead: said, not guessed.
    let v = env.json(&["forecast", "--horizon", "60d"]);
    let err = v["repository"]["error"].as_str().unwrap_or_default();
    assert!(err.contains("not enough history"), "{v}");
}
