//! `ibars schedule suggest`, over a recorded history, as a user runs it.

mod common;

use common::{write, Env};

/// A daemon config with the test repository and an hourly backup job of `src`.
fn config(env: &Env, src: &std::path::Path) -> std::path::PathBuf {
    let pw = env.path("pw");
    write(&pw, "pw");
    let c = env.path("ibars.toml");
    write(
        &c,
        format!(
            "[[repository]]\nname = \"main\"\nlocation = \"{}\"\npassword_file = \"{}\"\n\n\
             [[job]]\nname = \"work\"\nrepository = \"main\"\nkind = \"backup\"\n\
             schedule = \"0 * * * *\"\ntime_zone = \"UTC\"\nhost = \"office\"\npaths = [\"{}\"]\n",
            env.repo.display(),
            pw.display(),
            src.display()
        ),
    );
    c
}

#[test]
fn suggest_replays_the_history_under_auto_now_and_fixed() {
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("report.txt"), "v0");
    let cfg = config(&env, &src);
    // Four working days of hourly backups (Monday 2 November 2026 on); the files change
    // between 09:00 and 17:00 only.
    let start: jiff::Timestamp = "2026-11-02T00:00:00Z".parse().unwrap();
    for h in 0..96i64 {
        let t = start + jiff::SignedDuration::from_hours(h);
        if (9..17).contains(&(h % 24)) {
            write(&src.join("report.txt"), format!("version {h}"));
        }
        env.cmd()
            .args(["backup", "--no-detect", "--host", "office", "--time"])
            .arg(t.to_string())
            .arg(&src)
            .assert()
            .success();
    }
    let v = env.json(&[
        "--config",
        cfg.to_str().unwrap(),
        "schedule",
        "suggest",
        "work",
        "--rpo",
        "4h",
    ]);
    assert_eq!(v["history"]["backups"], 96, "{v}");
    assert_eq!(v["history"]["changes"], 32, "{v}");
    let auto = &v["auto"];
    let now = &v["now"]["figures"];
    assert_eq!(v["now"]["schedule"], "0 * * * *");
    // The hourly schedule runs 24 times a day; auto a handful, and keeps the RPO as well.
    assert!(
        (now["runs_per_day"].as_f64().unwrap() - 24.0).abs() < 1.0,
        "{v}"
    );
    let auto_runs = auto["runs_per_day"].as_f64().unwrap();
    assert!(auto_runs > 1.0 && auto_runs < 5.0, "{v}");
    assert!(auto["rpo_met"].as_f64().unwrap() >= 0.999, "{v}");
    assert!(now["rpo_met"].as_f64().unwrap() >= 0.999, "{v}");
    // The fixed interval keeping a 4 h RPO is at most 4 h.
    assert!(
        v["fixed"]["every_seconds"].as_i64().unwrap() <= 4 * 3600,
        "{v}"
    );
    // A cron plan on the working days fits, with fewer runs than every 4 hours (Monday is
    // 1 in cron).
    let cron = &v["cron"];
    assert!(
        cron["schedule"].as_str().unwrap().ends_with(" * * 1,2,3,4"),
        "{v}"
    );
    let fixed_runs = v["fixed"]["figures"]["runs_per_day"].as_f64().unwrap();
    assert!(
        cron["figures"]["runs_per_day"].as_f64().unwrap() < fixed_runs,
        "{v}"
    );
    assert!(auto_runs < fixed_runs / 2.0, "{v}");
    assert!(cron["figures"]["rpo_met"].as_f64().unwrap() >= 0.999, "{v}");

    // The text says the same, and names the plan.
    let out = env
        .cmd()
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "schedule",
            "suggest",
            "work",
            "--rpo",
            "4h",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("auto, rpo = \"4h\""), "{text}");
    assert!(text.contains("a cron plan that fits the history"), "{text}");
}

#[test]
fn suggest_says_what_is_missing() {
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("a"), "a");
    let cfg = config(&env, &src);
    let run = |args: &[&str]| {
        let out = env
            .cmd()
            .args(["--config", cfg.to_str().unwrap(), "schedule", "suggest"])
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, err) = run(&["work", "--rpo", "4h"]);
    assert_ne!(code, Some(0));
    assert!(err.contains("not enough history"), "{err}");
    let (code, err) = run(&["nosuch", "--rpo", "4h"]);
    assert_ne!(code, Some(0));
    assert!(err.contains("no [[job]] named \"nosuch\""), "{err}");
    let (code, err) = run(&["work", "--rpo", "4h", "--avoid", "9-17"]);
    assert_ne!(code, Some(0));
    assert!(err.contains("HH:MM"), "{err}");
}
