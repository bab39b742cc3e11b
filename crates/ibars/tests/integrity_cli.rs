//! `check`, `repair` and `config parity` from the command line, with their exit codes.

mod common;

use common::{random_bytes, write, Env};

fn packs(e: &Env) -> Vec<std::path::PathBuf> {
    common::files_under(&e.repo.join("data"))
}

#[test]
fn check_finds_damage_and_repair_heals_it_from_parity() {
    let e = Env::empty();
    e.cmd()
        .args([
            "init",
            "--pack-size",
            "1MiB",
            "--chunk-size",
            "64KiB",
            "--parity",
            "10%",
        ])
        .assert()
        .success();
    let src = e.path("src");
    write(&src.join("a.bin"), random_bytes(2_500_000, 1));
    write(&src.join("b.txt"), "hello ".repeat(10_000));
    e.cmd().arg("backup").arg(&src).assert().success();
    e.cmd().args(["check", "--read-data"]).assert().code(0);

    // Damage one pack: check exits 1 and names it, the file, and that parity can fix it.
    let victim = packs(&e)
        .into_iter()
        .max_by_key(|p| p.metadata().unwrap().len())
        .unwrap();
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes[1000] ^= 0x55;
    std::fs::write(&victim, bytes).unwrap();
    let out = e
        .cmd()
        .args(["--json", "check", "--read-data"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    let report: serde_json::Value =
        serde_json::from_str(text.lines().rfind(|l| l.contains("summary")).unwrap()).unwrap();
    let name = victim.file_name().unwrap().to_str().unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["report"]["damaged_packs"][0]["pack"], name);
    assert_eq!(report["report"]["damaged_packs"][0]["parity"], "repairable");
    let paths = report["report"]["affected"][0]["paths"].to_string();
    assert!(paths.contains("a.bin"), "{paths}");

    e.cmd().args(["repair", "packs"]).assert().code(0);
    e.cmd().args(["check", "--read-data"]).assert().code(0);
    let target = e.restore_latest("r");
    assert_eq!(
        std::fs::read(common::restored(&target, &src).join("a.bin")).unwrap(),
        random_bytes(2_500_000, 1)
    );
}

#[test]
fn config_parity_adds_parity_to_existing_packs() {
    let e = Env::new();
    let src = e.path("src");
    write(&src.join("a.bin"), random_bytes(1_500_000, 2));
    e.cmd().arg("backup").arg(&src).assert().success();
    assert!(!e.repo.join("parity").exists());
    let out = e.json(&["config", "parity", "20%"]);
    assert_eq!(out["parity_percent"], 20);
    assert_eq!(
        out["parity_files_written"].as_u64().unwrap(),
        packs(&e).len() as u64
    );
    // A pack deleted outright is beyond 20% parity: reported as such, and cut from snapshots.
    let first = packs(&e)
        .into_iter()
        .max_by_key(|p| p.metadata().unwrap().len())
        .unwrap();
    std::fs::remove_file(&first).unwrap();
    e.cmd().args(["check"]).assert().code(1);
    e.cmd().args(["repair", "packs"]).assert().code(3);
    e.cmd().args(["check"]).assert().code(1);
    e.cmd()
        .args(["repair", "packs", "--salvage"])
        .assert()
        .code(3);
    e.cmd()
        .args(["repair", "snapshots", "--forget"])
        .assert()
        .success();
    e.cmd().args(["check", "--read-data"]).assert().code(0);
}

#[test]
fn repair_index_and_exit_code_two() {
    let e = Env::new();
    let src = e.path("src");
    write(&src.join("x"), random_bytes(300_000, 3));
    e.cmd().arg("backup").arg(&src).assert().success();
    std::fs::remove_dir_all(e.repo.join("index")).unwrap();
    e.cmd().args(["check"]).assert().code(1);
    e.cmd().args(["repair", "index"]).assert().success();
    e.cmd()
        .args(["check", "--read-data-subset", "1/2"])
        .assert()
        .code(0);
    e.cmd()
        .args(["check", "--read-data-subset", "auto/30d"])
        .assert()
        .code(0);
    // Could not run: no repository, wrong password, a bad subset.
    let none = Env::empty();
    none.cmd().args(["check"]).assert().code(2);
    e.cmd()
        .env("IBARS_PASSWORD", "wrong")
        .args(["check"])
        .assert()
        .code(2);
    e.cmd()
        .args(["check", "--read-data-subset", "0/3"])
        .assert()
        .code(2);
}
