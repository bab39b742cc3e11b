//! `ibars forecast` under a retention policy, on a history made day by day: every run (the
//! backup, then `forget --prune`) under faketime at its day, as the daemon would have run
//! them, so that prunes carry their day like backups do.

mod common;

use common::{random_bytes, write, Env};

/// Day `d` after Monday 2027-01-04, at `clock`.
fn day(d: i64, clock: &str) -> String {
    let date = jiff::civil::date(2027, 1, 4) + jiff::Span::new().days(d);
    format!("{date} {clock}")
}

/// `ibars ARGS` with the clock at `when` (UTC).
fn at(env: &Env, when: &str, args: &[&str]) -> std::process::Output {
    let c = env.spawnable();
    let mut f = std::process::Command::new("faketime");
    f.arg(when)
        .arg(c.get_program())
        .args(c.get_args())
        .args(args);
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => f.env(k, v),
            None => f.env_remove(k),
        };
    }
    let out = f
        .env("TZ", "UTC")
        .output()
        .expect("faketime (Debian's faketime)");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json(out: std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_forecast_counts_what_the_retention_policy_will_free() {
    let env = Env::new();
    let src = env.path("src");
    let mut forecast = serde_json::Value::Null;
    for d in 0..59i64 {
        // 30 files; six of them rewritten each day.
        for f in 0..30i64 {
            if d == 0 || (f * 7 + d * 11) % 30 < 6 {
                let seed = (d * 100 + f) as u64;
                write(&src.join(format!("f{f}.bin")), random_bytes(20_000, seed));
            }
        }
        let s = src.to_str().unwrap();
        at(
            &env,
            &day(d, "03:00:00"),
            &["backup", "-q", "--no-detect", s],
        );
        let forget = [
            "forget",
            "-q",
            "--keep-daily",
            "5",
            "--keep-weekly",
            "3",
            "--prune",
            "--grace",
            "0s",
        ];
        at(&env, &day(d, "03:10:00"), &forget);
        if d == 44 {
            let args = ["--json", "forecast", "--horizon", "14d"];
            forecast = json(at(&env, &day(d, "04:00:00"), &args));
        }
    }
    let r = &forecast["repository"];
    let f = &r["in_horizon"];
    assert_eq!(f["model"], "retention", "{forecast}");
    // 14 days after day 44: the size once day 58's runs are done.
    let now = json(at(
        &env,
        &day(58, "04:00:00"),
        &["--json", "forecast", "--horizon", "14d"],
    ));
    let actual = now["repository"]["now"].as_f64().unwrap();
    let (lo, p, hi) = (
        f["lower"].as_f64().unwrap(),
        f["point"].as_f64().unwrap(),
        f["upper"].as_f64().unwrap(),
    );
    assert!(
        (p - actual).abs() / actual < 0.15,
        "{p} vs {actual}: {forecast}"
    );
    assert!(lo <= actual && actual <= hi, "{actual}: {forecast}");
    // Without retention the same backups would hold about 59 days of changes; kept, about
    // eight snapshots' worth.
    let added: f64 = 600_000.0 + 58.0 * 120_000.0;
    assert!(actual < added / 2.0, "{actual}");
    // The disk: its free space is forecast from what every run recorded of it.
    let disk = &r["disk"];
    assert_eq!(disk["model"], "used space", "{forecast}");
    assert!(disk["size"].as_f64().unwrap() > disk["free"].as_f64().unwrap());
    assert!(disk["free_in_horizon"]["point"].is_number(), "{forecast}");
    // The forget records keep the policy the forecast applied.
    let h = json(at(
        &env,
        &day(58, "04:00:00"),
        &["--json", "history", "--kind", "forget"],
    ));
    let last = h.as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        last["forget"]["policy"],
        serde_json::json!({"daily": 5, "weekly": 3}),
        "{last}"
    );
}
