//! The binary on a real S3 store (Garage on loopback): the whole lifecycle, the local cache,
//! credentials kept out of output, and copy between a directory and a bucket.

mod common;

use common::garage::Garage;
use common::{random_bytes, restored, same_tree, write, Env};
use predicates::prelude::*;

/// A tree of a few MiB: random files (several packs), text, and an empty directory.
fn make_tree(root: &std::path::Path, seed: u8) {
    for i in 0..6u8 {
        write(
            &root.join(format!("bin/{i}.dat")),
            random_bytes(700_000, seed.wrapping_add(i).into()),
        );
    }
    write(&root.join("etc/app.conf"), format!("seed = {seed}\n"));
    std::fs::create_dir_all(root.join("empty")).unwrap();
}

/// Requests the command made, as logged with `IBARS_LOG=ibars::request=debug`.
fn requests(e: &Env, args: &[&str]) -> Vec<String> {
    let out = e
        .cmd()
        .env("IBARS_LOG", "ibars::request=debug")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reqs: Vec<String> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter_map(|l| l.split_once("DEBUG ").map(|(_, r)| r.trim().to_string()))
        .collect();
    // Every command lists or reads something: an empty log means the logging broke.
    assert!(
        reqs.iter().any(|r| r.starts_with("LIST ")),
        "{args:?}: no requests logged"
    );
    reqs
}

fn pack_gets(reqs: &[String]) -> Vec<&String> {
    reqs.iter().filter(|r| r.starts_with("GET data/")).collect()
}

#[test]
fn backup_restore_check_forget_prune_on_s3() {
    let g = Garage::get();
    let e = Env::empty_s3(&g, "lifecycle");
    e.init();
    let src = e.path("src");
    make_tree(&src, 1);
    e.cmd().arg("backup").arg(&src).assert().success();
    write(&src.join("bin/0.dat"), random_bytes(900_000, 99));
    write(&src.join("new.txt"), "new");
    e.cmd().arg("backup").arg(&src).assert().success();
    assert_eq!(e.snapshot_ids().len(), 2);

    let target = e.restore_latest("r1");
    assert!(same_tree(&src, &restored(&target, &src)));
    e.cmd()
        .args(["check", "--read-data"])
        .assert()
        .success()
        .stdout(predicate::str::contains("no errors found"));

    e.cmd()
        .args([
            "forget",
            "--keep-last",
            "1",
            "--prune",
            "--max-unused",
            "0%",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("removed 1 snapshot(s)"));
    assert_eq!(e.snapshot_ids().len(), 1);
    e.cmd().args(["check", "--read-data"]).assert().success();
    let target = e.restore_latest("r2");
    assert!(same_tree(&src, &restored(&target, &src)));

    // A client with an empty cache sees the same repository.
    let other = e.another_client();
    let target = other.restore_latest("r3");
    assert!(same_tree(&src, &restored(&target, &src)));
}

#[test]
fn cached_metadata_means_no_pack_downloads() {
    let g = Garage::get();
    let e = Env::empty_s3(&g, "cache");
    e.init();
    let src = e.path("src");
    make_tree(&src, 2);
    e.cmd().arg("backup").arg(&src).assert().success();
    write(&src.join("etc/app.conf"), "changed\n");
    e.cmd().arg("backup").arg(&src).assert().success();
    let ids = e.snapshot_ids();

    // The client that wrote the snapshots has their trees cached already.
    for args in [
        vec!["snapshots"],
        vec!["ls", "latest"],
        vec!["diff", &ids[0], &ids[1]],
        vec!["backup", src.to_str().unwrap()],
    ] {
        let reqs = requests(&e, &args);
        assert!(
            pack_gets(&reqs).is_empty(),
            "{args:?} read packs: {:?}",
            pack_gets(&reqs)
        );
    }

    // A new client downloads tree packs once, then never again.
    let other = e.another_client();
    let first = requests(&other, &["ls", "latest"]);
    assert!(!pack_gets(&first).is_empty());
    let again = requests(&other, &["ls", "latest"]);
    assert!(pack_gets(&again).is_empty(), "{again:?}");
    assert!(
        !again.iter().any(|r| r.starts_with("GET snapshots/")),
        "{again:?}"
    );

    // A damaged cache is noticed and read past; deleting it is harmless.
    let cache = other.path("cache/ibars");
    let mut damaged = 0;
    for file in common::files_under(&cache) {
        if file.components().any(|c| c.as_os_str() == "snapshots") {
            std::fs::write(&file, b"garbage").unwrap();
            damaged += 1;
        }
    }
    assert_eq!(damaged, 3);
    assert_eq!(other.snapshot_ids().len(), 3);
    std::fs::remove_dir_all(&cache).unwrap();
    assert_eq!(other.snapshot_ids().len(), 3);
    assert!(cache.join("CACHEDIR.TAG").is_file());

    // --no-cache reads the store.
    let reqs = requests(&other, &["--no-cache", "ls", "latest"]);
    assert!(!pack_gets(&reqs).is_empty());
}

#[test]
fn credentials_never_reach_output_and_bad_ones_fail_clearly() {
    let g = Garage::get();
    let e = Env::empty_s3(&g, "secrets");
    e.init();
    let src = e.path("src");
    make_tree(&src, 3);
    let out = e
        .cmd()
        .env("IBARS_LOG", "trace")
        .args(["-vv", "--json", "backup"])
        .arg(&src)
        .output()
        .unwrap();
    assert!(out.status.success());
    for stream in [&out.stdout, &out.stderr] {
        let text = String::from_utf8_lossy(stream);
        assert!(!text.contains(g.secret()), "secret key in output");
    }

    // A wrong secret: refused by the store, named, exit code 1, the secret not shown.
    let wrong = "wrong-secret-0123456789abcdef";
    let out = e
        .cmd()
        .env("AWS_SECRET_ACCESS_KEY", wrong)
        .arg("snapshots")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("storage:"), "{err}");
    assert!(!err.contains(wrong) && !err.contains(g.secret()), "{err}");

    // Credentials in the URL are refused before anything is sent.
    let mut bad = e.another_client();
    bad.repo = e
        .repo
        .to_str()
        .unwrap()
        .replace("http://", "http://id:pass-word@")
        .into();
    bad.cmd()
        .arg("snapshots")
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "credentials do not belong in the URL",
        ))
        .stderr(predicate::str::contains("pass-word").not());
}

#[test]
fn config_file_gives_endpoint_region_and_keys() {
    let g = Garage::get();
    let e = Env::empty_s3(&g, "cfgfile");
    // The URL names only bucket and prefix; the rest comes from the file.
    let url = e.repo.to_str().unwrap().to_string();
    let tail = url.split_once("://").unwrap().1.split_once('/').unwrap().1;
    let config = e.path("ibars.toml");
    std::fs::write(
        &config,
        format!(
            "repository = \"s3://{tail}\"\n[s3]\nendpoint = \"{}\"\nregion = \"{}\"\naccess_key_id = \"{}\"\nsecret_access_key = \"{}\"\npath_style = true\nconnections = 4\n",
            g.vars["IBARS_S3_ENDPOINT"], g.vars["AWS_REGION"], g.vars["AWS_ACCESS_KEY_ID"], g.secret()
        ),
    )
    .unwrap();
    // No -r and no AWS_* variables: everything comes from the file.
    let run = |args: &[&str]| {
        let mut c = assert_cmd::Command::cargo_bin("ibars").unwrap();
        c.env("IBARS_PASSWORD", "pw")
            .env("XDG_CACHE_HOME", e.path("cache"))
            .env("IBARS_CONFIG", &config);
        for k in [
            "IBARS_REPOSITORY",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_REGION",
        ] {
            c.env_remove(k);
        }
        c.args(args);
        c
    };
    run(&["init"]).assert().success();
    let src = e.path("src");
    make_tree(&src, 4);
    run(&["backup", src.to_str().unwrap()]).assert().success();
    run(&["snapshots"])
        .assert()
        .success()
        .stdout(predicate::str::contains("1 snapshot(s)"));
    // The same repository through the URL and the environment.
    assert_eq!(e.snapshot_ids().len(), 1);

    // A typo in the file is named.
    std::fs::write(&config, "[s3]\nendpont = \"x\"\n").unwrap();
    run(&["snapshots"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("ibars.toml"))
        .stderr(predicate::str::contains("endpont"));
}

#[test]
fn copy_from_a_directory_to_s3_and_back() {
    let g = Garage::get();
    let local = Env::new();
    let src = local.path("src");
    make_tree(&src, 5);
    local.cmd().arg("backup").arg(&src).assert().success();

    let remote = Env::empty_s3(&g, "copy");
    remote.init();
    local
        .cmd()
        .envs(remote.vars.iter().map(|(k, v)| (k, v)))
        .env("IBARS_TO_PASSWORD", "pw")
        .arg("copy")
        .arg("--to")
        .arg(&remote.repo)
        .assert()
        .success();
    let target = remote.restore_latest("from-s3");
    assert!(same_tree(&src, &restored(&target, &src)));

    let back = Env::new();
    remote
        .cmd()
        .env("IBARS_TO_PASSWORD", "pw")
        .arg("copy")
        .arg("--to")
        .arg(&back.repo)
        .assert()
        .success();
    let target = back.restore_latest("back");
    assert!(same_tree(&src, &restored(&target, &src)));
    back.cmd().args(["check", "--read-data"]).assert().success();
}

#[test]
fn append_only_backs_up_but_never_deletes() {
    let g = Garage::get();
    let e = Env::empty_s3(&g, "append");
    e.init();
    let src = e.path("src");
    make_tree(&src, 6);
    for round in 0..2u8 {
        write(&src.join("round.txt"), format!("{round}"));
        let reqs = requests(&e, &["--append-only", "backup", src.to_str().unwrap()]);
        // Its own lock aside, nothing is deleted.
        let deletes: Vec<_> = reqs
            .iter()
            .filter(|r| r.starts_with("DELETE ") && !r.starts_with("DELETE locks/"))
            .collect();
        assert!(deletes.is_empty(), "{deletes:?}");
    }
    let ids = e.snapshot_ids();
    assert_eq!(ids.len(), 2);

    for args in [
        vec!["forget", "--keep-last", "1"],
        vec!["prune"],
        vec!["tag", &ids[0], "--add", "x"],
        vec!["rewrite", "--exclude", "*.txt"],
        vec!["unlock", "--remove-all"],
    ] {
        e.cmd()
            .arg("--append-only")
            .args(&args)
            .assert()
            .code(13)
            .stderr(predicate::str::contains("append-only"));
    }
    // Also from the environment; a dry run is allowed.
    e.cmd()
        .env("IBARS_APPEND_ONLY", "true")
        .args(["forget", "--keep-last", "1", "--dry-run"])
        .assert()
        .success();
    e.cmd()
        .env("IBARS_APPEND_ONLY", "true")
        .args(["forget", "--keep-last", "1"])
        .assert()
        .code(13);
    assert_eq!(e.snapshot_ids(), ids);
    e.cmd()
        .args(["--append-only", "check", "--read-data"])
        .assert()
        .success();
    let target = e.restore_latest("r");
    assert!(same_tree(&src, &restored(&target, &src)));
}

#[test]
fn two_hosts_back_up_to_one_bucket_at_once() {
    let g = Garage::get();
    let a = Env::empty_s3(&g, "twohosts");
    a.init();
    let b = a.another_client();
    // 24 MiB the two trees share, 4 MiB each of their own.
    let mut trees = vec![];
    for (env, host, seed) in [(&a, "alpha", 10u8), (&b, "beta", 20u8)] {
        let root = env.path(host);
        for i in 0..24u8 {
            write(
                &root.join(format!("shared/{i}.bin")),
                random_bytes(1 << 20, 100 + u64::from(i)),
            );
        }
        for i in 0..4u8 {
            write(
                &root.join(format!("own/{i}.bin")),
                random_bytes(1 << 20, (seed + i).into()),
            );
        }
        trees.push((env, host, root));
    }
    let children: Vec<_> = trees
        .iter()
        .map(|(env, host, root)| {
            env.spawnable()
                .args(["-v", "backup", "--host", host])
                .arg(root)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        // Which of the two committed second, and what it left out.
        for line in stderr.lines().filter(|l| l.contains("meanwhile")) {
            eprintln!("{line}");
        }
    }
    for (env, host, root) in &trees {
        env.assert_restores(
            "latest",
            &["--host", host],
            root,
            &format!("restore-{host}"),
        );
    }

    // Whichever committed second dropped what the first had stored meanwhile: the 32 MiB of
    // distinct content is stored once, without a prune.
    let plan = &a.json(&["prune", "--dry-run"])["plan"];
    let stored = plan["bytes_total"].as_u64().unwrap() as f64 / 1048576.0;
    eprintln!(
        "two hosts at once: 56 MiB backed up, {stored:.1} MiB stored, {} duplicate blobs",
        plan["blobs_duplicate"]
    );
    assert_eq!(plan["blobs_duplicate"], 0);
    assert_eq!(plan["packs_unindexed"], 0);
    assert!((32.0..33.0).contains(&stored), "{stored} MiB stored");
    a.cmd().args(["check", "--read-data"]).assert().success();
}

/// Over a slow uplink a pack upload takes seconds: `--timeout` bounds each request, the
/// upload of a pack included, and the default leaves room for it.
#[test]
fn timeout_bounds_each_request_and_the_default_allows_a_slow_uplink() {
    let g = Garage::get();
    let endpoint = g.vars["IBARS_S3_ENDPOINT"].clone();
    let upstream: std::net::SocketAddr = endpoint.trim_start_matches("http://").parse().unwrap();
    let slow = common::slowlink::start(upstream, 200 << 10);
    let mut env = Env::empty_s3(&g, "slowlink");
    env.repo = env
        .repo
        .to_str()
        .unwrap()
        .replace(&endpoint, &format!("http://{slow}"))
        .into();
    env.init();
    write(&env.path("src/a.bin"), random_bytes(3 << 20, 5));

    // Each 1 MiB pack needs about 5 s at 200 KiB/s.
    env.cmd()
        .args(["--timeout", "1s", "--connections", "2", "backup"])
        .arg(env.path("src"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("timeout").or(predicate::str::contains("Timeout")));
    env.cmd()
        .args(["--connections", "2", "backup"])
        .arg(env.path("src"))
        .assert()
        .success();
    env.assert_restores("latest", &[], &env.path("src"), "restored");
}
