//! Alerts and metrics of the daemon, with real receivers: a webhook receiver (Python's HTTP
//! server, which checks the HMAC signature with its own hmac module), an SMTP server with
//! STARTTLS (aiosmtpd), a command, and a Prometheus server that scrapes `/metrics` and is
//! queried through its HTTP API.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::daemon::{config_text, free_port, http_get, scripts, wait_file, Daemon, Helper};
use common::{random_bytes, write, Env};

const MINUTE: Duration = Duration::from_secs(60);

fn webhook_receiver(env: &Env, key: &Path, fail_first: u32) -> (Helper, u16) {
    let port_file = env.path("webhook.port");
    let child = Command::new("python3")
        .arg(scripts().join("test/webhook_receiver.py"))
        .arg(&port_file)
        .arg(env.path("webhook.jsonl"))
        .arg(key)
        .arg(fail_first.to_string())
        .spawn()
        .expect("python3 runs the webhook receiver");
    let helper = Helper(child);
    let port = wait_file(&port_file, MINUTE).trim().parse().unwrap();
    (helper, port)
}

/// aiosmtpd on loopback with STARTTLS required, a self-signed certificate for localhost, and
/// a Maildir; returns it, its port and the certificate.
fn smtp_server(env: &Env) -> (Helper, u16, std::path::PathBuf) {
    let cert = env.path("smtp.crt");
    let key = env.path("smtp.key");
    let st = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        // An end-entity certificate (rustls refuses a CA certificate as a server's), trusted
        // as its own anchor through the channel's ca_file.
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl makes the test certificate");
    assert!(st.success());
    let port = free_port();
    let maildir = env.path("maildir");
    let child = Command::new("python3")
        .args(["-m", "aiosmtpd", "-n", "-l"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--tlscert")
        .arg(&cert)
        .arg("--tlskey")
        .arg(&key)
        .args(["-c", "aiosmtpd.handlers.Mailbox"])
        .arg(&maildir)
        .stderr(Stdio::null())
        .spawn()
        .expect("aiosmtpd (pip install aiosmtpd; scripts/test.sh installs it)");
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t.elapsed() < MINUTE,
            "aiosmtpd did not start (is it installed?)"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (Helper(child), port, cert)
}

/// The mails in `maildir` so far.
fn mails(env: &Env) -> Vec<String> {
    let mut out = vec![];
    for d in ["new", "cur"] {
        for e in std::fs::read_dir(env.path("maildir").join(d))
            .into_iter()
            .flatten()
        {
            out.push(std::fs::read_to_string(e.unwrap().path()).unwrap());
        }
    }
    out
}

fn posts(env: &Env) -> Vec<serde_json::Value> {
    std::fs::read_to_string(env.path("webhook.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Alerts posted as the daemon's JSON (not the Slack body), parsed.
fn json_alerts(env: &Env) -> Vec<serde_json::Value> {
    posts(env)
        .iter()
        .filter(|p| p["path"] == "/json")
        .map(|p| serde_json::from_str(p["body"].as_str().unwrap()).unwrap())
        .collect()
}

fn has(alerts: &[serde_json::Value], job: &str, event: &str, phase: &str) -> bool {
    alerts
        .iter()
        .any(|a| a["job"] == job && a["event"] == event && a["phase"] == phase)
}

#[test]
fn failures_recoveries_and_overdue_jobs_alert_by_webhook_email_and_command() {
    let env = Env::new();
    let key = env.path("webhook.key");
    std::fs::write(&key, "s3cret-key\n").unwrap();
    // The receiver refuses the first post: the daemon must try again.
    let (_rx, port) = webhook_receiver(&env, &key, 1);
    let (_smtp, smtp_port, cert) = smtp_server(&env);
    let broken = env.path("broken");
    std::fs::write(&broken, "").unwrap();
    let cmd_out = env.path("command.out");
    let never = "schedule = \"0 0 1 1 *\"\nretries = 0\n";
    let text = config_text(
        &env,
        &format!(
            "[[job]]\nname = \"flaky\"\nrepository = \"main\"\nkind = \"backup\"\n{never}stdin_filename = \"d\"\n\
             stdin_command = \"if [ -e {broken} ]; then echo gone >&2; exit 1; else echo data; fi\"\n\n\
             [[job]]\nname = \"late\"\nrepository = \"main\"\nkind = \"backup\"\n{never}paths = [\"/nonexistent\"]\nmax_age = \"2s\"\n\n\
             [[alert]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:{port}/json\"\nsecret_file = {key:?}\n\n\
             [[alert]]\nname = \"chat\"\nkind = \"webhook\"\nformat = \"slack\"\nurl = \"http://127.0.0.1:{port}/slack\"\nevents = [\"failure\"]\n\n\
             [[alert]]\nname = \"mail\"\nkind = \"email\"\nsmtp_server = \"localhost\"\nsmtp_port = {smtp_port}\nca_file = {cert:?}\n\
             from = \"ibars <ibars@example.net>\"\nto = [\"ops@example.net\"]\njobs = [\"flaky\"]\n\n\
             [[alert]]\nname = \"cmd\"\nkind = \"command\"\ncommand = \"echo $IBARS_ALERT_PHASE $IBARS_ALERT_EVENT $IBARS_ALERT_JOB >> {out}\"\n",
            broken = broken.display(),
            out = cmd_out.display(),
        ),
    )
    .replace("stop_grace = \"20s\"", "stop_grace = \"20s\"\nremind_after = \"3s\"");
    let mut d = Daemon::start(&env, &text);

    // A failure: one alert on every channel.
    let st = d.jobs(&["run", "flaky", "--wait"]).status().unwrap();
    assert_eq!(st.code(), Some(1));
    d.wait_for("the failure alert", MINUTE, |_| {
        has(&json_alerts(&env), "flaky", "failure", "firing")
    });
    let first = json_alerts(&env)
        .into_iter()
        .find(|a| a["job"] == "flaky")
        .unwrap();
    assert!(
        first["summary"]
            .as_str()
            .unwrap()
            .contains("backup job flaky failed"),
        "{first}"
    );
    assert!(
        first["detail"].as_str().unwrap().contains("gone"),
        "the dump's stderr: {first}"
    );
    d.wait_for("the email", MINUTE, |_| !mails(&env).is_empty());
    let mail = mails(&env).remove(0);
    assert!(
        mail.contains("Subject: [ibars] FAILURE: backup job flaky failed"),
        "{mail}"
    );
    assert!(mail.contains("To: ops@example.net"), "{mail}");

    // It fails again: no second alert. Then it succeeds: one recovery.
    assert_eq!(
        d.jobs(&["run", "flaky", "--wait"]).status().unwrap().code(),
        Some(1)
    );
    std::fs::remove_file(&broken).unwrap();
    assert!(d
        .jobs(&["run", "flaky", "--wait"])
        .status()
        .unwrap()
        .success());
    d.wait_for("the recovery", MINUTE, |_| {
        has(&json_alerts(&env), "flaky", "failure", "resolved")
    });
    d.wait_for("the recovery email", MINUTE, |_| mails(&env).len() >= 2);
    assert!(mails(&env)
        .iter()
        .any(|m| m.contains("[ibars] RESOLVED: job flaky succeeds again")));

    // The job that never ran passes its max_age: an alert, then a reminder 3 s on.
    d.wait_for("the overdue alert", MINUTE, |_| {
        has(&json_alerts(&env), "late", "overdue", "firing")
    });
    d.wait_for("the reminder", MINUTE, |_| {
        has(&json_alerts(&env), "late", "overdue", "reminder")
    });
    assert!(d.stop().success());

    let alerts = json_alerts(&env);
    // One firing and one recovery, the second failure not repeated. A reminder may come in
    // between (remind_after is 3 s here, for the overdue job, and a loaded machine can take
    // longer than that from the first failure to the recovery).
    let phases: Vec<&str> = alerts
        .iter()
        .filter(|a| a["job"] == "flaky" && a["event"] == "failure")
        .filter_map(|a| a["phase"].as_str())
        .filter(|p| *p != "reminder")
        .collect();
    assert_eq!(
        phases,
        ["firing", "resolved"],
        "a firing and a recovery, no repeat: {alerts:?}"
    );
    for p in posts(&env) {
        let path = p["path"].as_str().unwrap();
        if path == "/json" {
            assert_eq!(
                p["signature_ok"], true,
                "the HMAC signature checks out: {p}"
            );
        } else {
            let body: serde_json::Value =
                serde_json::from_str(p["body"].as_str().unwrap()).unwrap();
            assert!(
                body["text"].as_str().unwrap().contains("flaky"),
                "a Slack body: {body}"
            );
            assert_eq!(p["signed"], false, "no secret, no signature");
        }
    }
    assert!(
        !posts(&env)
            .iter()
            .any(|p| p["path"] == "/slack" && p["body"].as_str().unwrap().contains("late")),
        "the chat channel takes failures only"
    );
    assert!(
        mails(&env).iter().all(|m| !m.contains("job late")),
        "mail is for flaky only"
    );
    let cmd = std::fs::read_to_string(&cmd_out).unwrap();
    assert!(
        cmd.contains("firing failure flaky") && cmd.contains("resolved failure flaky"),
        "{cmd}"
    );
    assert!(cmd.contains("firing overdue late"), "{cmd}");
    // The alert conditions survive a restart: the overdue one is not sent again as new.
    d.spawn();
    std::thread::sleep(Duration::from_secs(1));
    assert!(d.stop().success());
    let firings = json_alerts(&env)
        .iter()
        .filter(|a| a["job"] == "late" && a["phase"] == "firing")
        .count();
    assert_eq!(firings, 1);
}

#[test]
fn prometheus_scrapes_the_daemon_and_reads_back_job_metrics() {
    let env = Env::new();
    let src = env.path("src");
    common::write(&src.join("f"), "data");
    let metrics_port = free_port();
    let text = config_text(
        &env,
        &format!(
            "[[job]]\nname = \"home\"\nrepository = \"main\"\nkind = \"backup\"\nschedule = \"*/2 * * * * *\"\n\
             paths = [{src:?}]\nmax_age = \"1h\"\n\n\
             [[job]]\nname = \"verify\"\nrepository = \"main\"\nkind = \"check\"\nschedule = \"*/3 * * * * *\"\nread_data = true\n"
        ),
    )
    .replace("[daemon]\n", &format!("[daemon]\nmetrics_listen = \"127.0.0.1:{metrics_port}\"\n"));
    let d = Daemon::start(&env, &text);
    d.wait_for("a backup", MINUTE, |d| {
        d.runs("home").iter().any(|r| r["outcome"] == "ok")
    });
    let (code, body) = http_get(metrics_port, "/metrics").unwrap();
    assert_eq!(code, 200);
    assert!(
        body.contains("ibars_job_last_run_ok{job_name=\"home\"} 1"),
        "{body}"
    );

    let prom_port = free_port();
    let prom_dir = env.path("prometheus");
    std::fs::create_dir_all(&prom_dir).unwrap();
    std::fs::write(
        prom_dir.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: ibars\n    static_configs:\n      - targets: ['127.0.0.1:{metrics_port}']\n"
        ),
    )
    .unwrap();
    let prom = Command::new("prometheus")
        .arg(format!(
            "--config.file={}",
            prom_dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            prom_dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("Debian's prometheus (scripts/test.sh installs it)");
    let _prom = Helper(prom);
    let query = |q: &str| -> Option<f64> {
        let (code, body) = http_get(prom_port, &format!("/api/v1/query?query={q}"))?;
        if code != 200 {
            return None;
        }
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
    };
    let t = Instant::now();
    let last_success = loop {
        if let Some(v) =
            query("ibars_job_last_success_timestamp_seconds%7Bjob_name%3D%22home%22%7D")
        {
            break v;
        }
        assert!(
            t.elapsed() < Duration::from_secs(90),
            "Prometheus never scraped the daemon"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let now = jiff::Timestamp::now().as_second() as f64;
    assert!(
        (now - last_success).abs() < 120.0,
        "last success {last_success}, now {now}"
    );
    assert_eq!(
        query("ibars_job_last_run_ok%7Bjob_name%3D%22home%22%7D"),
        Some(1.0)
    );
    assert_eq!(
        query("ibars_job_overdue%7Bjob_name%3D%22home%22%7D"),
        Some(0.0)
    );
    assert_eq!(
        query("ibars_job_max_age_seconds%7Bjob_name%3D%22home%22%7D"),
        Some(3600.0)
    );
    assert_eq!(query("up%7Bjob%3D%22ibars%22%7D"), Some(1.0));
    // Per repository, from `ibars stats` after the jobs: snapshots, size, a clean check that
    // read the data.
    d.wait_for("the repository series", MINUTE, |_| {
        query("ibars_repository_last_check_ok%7Brepository%3D%22main%22%7D") == Some(1.0)
            && query("ibars_repository_scrub_coverage_ratio%7Brepository%3D%22main%22%7D")
                .is_some_and(|v| v > 0.0)
    });
    let snaps = query("ibars_repository_snapshots%7Brepository%3D%22main%22%7D").unwrap();
    assert!(
        snaps >= 1.0 && snaps as usize <= env.snapshot_ids().len(),
        "{snaps}"
    );
    assert!(query("ibars_repository_size_bytes%7Brepository%3D%22main%22%7D").unwrap() > 1000.0);
}

#[test]
fn a_repository_forecast_to_reach_its_quota_raises_an_alert() {
    let env = Env::new();
    let src = env.path("src");
    let now = jiff::Timestamp::now();
    // Five weeks of history, about 30 KB a day.
    for d in 0..35u64 {
        write(&src.join(format!("day{d}.bin")), random_bytes(30_000, d));
        let t = now - jiff::SignedDuration::from_hours(24 * (35 - d as i64));
        env.cmd()
            .args(["backup", "--no-detect", "--time", &t.to_string()])
            .arg(&src)
            .assert()
            .success();
    }
    let size = env.json(&["stats"])["pack_bytes"].as_u64().unwrap();
    let out = env.path("alerts.txt");
    // A quota three days of growth away, and alerts one week ahead.
    let text = config_text(
        &env,
        &format!(
            "[[alert]]\nname = \"cmd\"\nkind = \"command\"\n\
         command = \"echo $IBARS_ALERT_PHASE $IBARS_ALERT_EVENT $IBARS_ALERT_JOB >> {}\"\n",
            out.display()
        ),
    )
    .replacen("[daemon]\n", "[daemon]\nfill_alert = \"7d\"\n", 1)
    .replacen(
        "password_file",
        &format!("quota = \"{}\"\npassword_file", size + 90_000),
        1,
    );
    let _d = Daemon::start(&env, &text);
    let got = wait_file(&out, Duration::from_secs(60));
    assert!(got.contains("firing filling repository main"), "{got}");
}
