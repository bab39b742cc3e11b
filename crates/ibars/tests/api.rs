//! The daemon's API on TCP: tokens and roles, dashboard logins with CSRF, the login brake,
//! TLS, and the audit log of it all.

mod common;

use std::time::Duration;

use common::daemon::{config_text, free_port, Daemon};
use common::Env;
use reqwest::blocking::Client;
use reqwest::StatusCode;
use serde_json::{json, Value};

const JOBS: &str = "[[job]]\nname = \"nightly\"\nrepository = \"main\"\nkind = \"check\"\n\
                    schedule = \"0 3 * * *\"\n";

/// A daemon with one check job, its API on plain HTTP at 127.0.0.1; returns it and the base
/// URL.
fn start(env: &Env) -> (Daemon, String) {
    Daemon::start_listening(env, JOBS)
}

/// `ibars token create ...` on the daemon's config; returns the secret.
fn token(d: &Daemon, args: &[&str]) -> String {
    d.token(args[1], args[3], &args[4..])
}

fn get(c: &Client, url: &str, token: Option<&str>) -> StatusCode {
    let mut r = c.get(url);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().unwrap().status()
}

fn run_job(c: &Client, base: &str, token: &str) -> StatusCode {
    c.post(format!("{base}/api/v1/jobs/nightly/run"))
        .bearer_auth(token)
        .send()
        .unwrap()
        .status()
}

#[test]
fn tokens_authenticate_and_roles_decide_what_they_may_do() {
    let env = Env::new();
    let (mut d, base) = start(&env);
    let c = Client::new();
    let jobs = format!("{base}/api/v1/jobs");

    assert_eq!(get(&c, &jobs, None), StatusCode::UNAUTHORIZED);
    assert_eq!(
        get(&c, &jobs, Some("ibt_0000_1111")),
        StatusCode::UNAUTHORIZED
    );
    let r = c
        .get(&jobs)
        .header("Authorization", "Basic eDp5")
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().contains_key("www-authenticate"));
    // The API's description is public.
    let doc: Value = c
        .get(format!("{base}/api/v1/openapi.json"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(
        doc["paths"]["/api/v1/jobs/{name}/run"]["post"].is_object(),
        "{doc}"
    );

    let viewer = token(&d, &["--name", "dash", "--role", "viewer"]);
    let operator = token(&d, &["--name", "ci", "--role", "operator"]);
    let elsewhere = token(
        &d,
        &["--name", "other", "--role", "admin", "--repository", "main"],
    );
    assert!(viewer.starts_with("ibt_"));
    assert_eq!(get(&c, &jobs, Some(&viewer)), StatusCode::OK);
    let list: Value = c
        .get(&jobs)
        .bearer_auth(&viewer)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(list[0]["name"], "nightly");
    assert_eq!(
        get(&c, &format!("{base}/metrics"), Some(&viewer)),
        StatusCode::OK
    );
    assert_eq!(
        get(&c, &format!("{base}/api/v1/tokens"), Some(&viewer)),
        StatusCode::FORBIDDEN
    );

    assert_eq!(run_job(&c, &base, &viewer), StatusCode::FORBIDDEN);
    assert_eq!(run_job(&c, &base, &operator), StatusCode::ACCEPTED);
    d.wait_for("the run to end", Duration::from_secs(60), |d| {
        d.runs("nightly").len() == 1
    });
    assert_eq!(run_job(&c, &base, &elsewhere), StatusCode::ACCEPTED);
    let r = c
        .post(format!("{base}/api/v1/jobs/nope/run"))
        .bearer_auth(&operator)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // An admin token made over the API, limited to a repository the job does not use.
    let admin = token(&d, &["--name", "root", "--role", "admin"]);
    let made: Value = c
        .post(format!("{base}/api/v1/tokens"))
        .bearer_auth(&admin)
        .json(&json!({"name": "short", "role": "operator", "expires_in": 1}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let short = made["token"].as_str().unwrap().to_string();
    let listed: Value = c
        .get(format!("{base}/api/v1/tokens"))
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let text = listed.to_string();
    assert!(
        text.contains("\"short\"") && !text.contains(&short[4..]),
        "{text}"
    );
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        get(&c, &jobs, Some(&short)),
        StatusCode::UNAUTHORIZED,
        "expired"
    );

    // Revoked: refused at the next request, without a restart.
    d.command().args(["token", "revoke", "ci"]).assert_success();
    assert_eq!(get(&c, &jobs, Some(&operator)), StatusCode::UNAUTHORIZED);
    let r = c
        .delete(format!("{base}/api/v1/tokens/dash"))
        .bearer_auth(&admin)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(get(&c, &jobs, Some(&viewer)), StatusCode::UNAUTHORIZED);

    // Every mutating call is in the audit log, refused ones too, with who and from where.
    assert!(d.stop().success());
    let audit = env.json(&["audit"]);
    let entries = audit.as_array().unwrap();
    let find = |actor: &str, action: &str, status: u64| {
        entries
            .iter()
            .any(|e| e["actor"] == actor && e["action"] == action && e["status"] == status)
    };
    assert!(find("token:ci", "job.run", 202), "{audit:#}");
    assert!(find("token:dash", "job.run", 403), "{audit:#}");
    assert!(find("token:root", "token.create", 201), "{audit:#}");
    assert!(find("token:root", "token.revoke", 204), "{audit:#}");
    assert!(entries
        .iter()
        .all(|e| e["remote"].as_str().unwrap().starts_with("127.0.0.1:")));
    assert!(
        !audit.to_string().contains(&short[4..]),
        "a secret in the audit log"
    );
    let denied = env.json(&["audit", "--denied"]);
    assert!(denied
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["result"] != "ok"));
}

trait AssertSuccess {
    fn assert_success(&mut self);
}

impl AssertSuccess for std::process::Command {
    fn assert_success(&mut self) {
        let out = self.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The `Set-Cookie` value's `name=value` part, and the whole header.
fn session_cookie(r: &reqwest::blocking::Response) -> (String, String) {
    let h = r.headers()["set-cookie"].to_str().unwrap().to_string();
    (h.split(';').next().unwrap().to_string(), h)
}

#[test]
fn dashboard_logins_need_csrf_for_changes_and_are_braked_when_wrong() {
    let env = Env::new();
    let (mut d, base) = start(&env);
    d.user(&env, "ann", "operator", "correct horse");
    let c = Client::new();
    let login = |user: &str, pw: &str| {
        c.post(format!("{base}/api/v1/login"))
            .json(&json!({"username": user, "password": pw}))
            .send()
            .unwrap()
    };
    let r = login("ann", "correct horse");
    assert_eq!(r.status(), StatusCode::OK);
    let (cookie, header) = session_cookie(&r);
    assert!(
        header.contains("HttpOnly") && header.contains("SameSite=Strict"),
        "{header}"
    );
    assert!(
        !header.contains("Secure"),
        "plain HTTP on loopback: {header}"
    );
    let s: Value = r.json().unwrap();
    let csrf = s["csrf_token"].as_str().unwrap().to_string();
    assert_eq!(
        (s["user"].as_str(), s["role"].as_str()),
        (Some("user:ann"), Some("operator"))
    );

    let me: Value = c
        .get(format!("{base}/api/v1/session"))
        .header("Cookie", &cookie)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(me["csrf_token"], csrf.as_str());
    let run = format!("{base}/api/v1/jobs/nightly/run");
    let r = c.post(&run).header("Cookie", &cookie).send().unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "no CSRF token");
    let r = c
        .post(&run)
        .header("Cookie", &cookie)
        .header("X-CSRF-Token", "0".repeat(64))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "a wrong CSRF token");
    let r = c
        .post(&run)
        .header("Cookie", &cookie)
        .header("X-CSRF-Token", &csrf)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let r = c
        .post(format!("{base}/api/v1/logout"))
        .header("Cookie", &cookie)
        .header("X-CSRF-Token", &csrf)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = c
        .get(format!("{base}/api/v1/jobs"))
        .header("Cookie", &cookie)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "logged out");

    // Wrong passwords: five are free, then the address waits, even for the right one.
    for _ in 0..5 {
        assert_eq!(login("ann", "wrong").status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(login("nobody", "wrong").status(), StatusCode::UNAUTHORIZED);
    let r = login("ann", "correct horse");
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));

    assert!(d.stop().success());
    let audit = env.json(&["audit"]);
    let entries = audit.as_array().unwrap();
    let count = |actor: &str, action: &str, result: &str| {
        entries
            .iter()
            .filter(|e| e["actor"] == actor && e["action"] == action && e["result"] == result)
            .count()
    };
    assert_eq!(count("user:ann", "login", "ok"), 1, "{audit:#}");
    assert_eq!(count("user:ann", "login", "denied"), 6, "{audit:#}");
    assert_eq!(count("user:nobody", "login", "denied"), 1, "{audit:#}");
    assert_eq!(count("user:ann", "job.run", "ok"), 1, "{audit:#}");
    let run = "POST /api/v1/jobs/nightly/run";
    assert_eq!(count("user:ann", run, "denied"), 2, "{audit:#}");
    assert!(!audit.to_string().contains("correct horse"));
}

#[test]
fn the_api_serves_tls_with_a_generated_certificate_and_plain_http_only_on_loopback() {
    let env = Env::new();
    let port = free_port();
    let text = config_text(&env, JOBS).replacen(
        "[daemon]\n",
        &format!("[daemon]\nlisten = \"0.0.0.0:{port}\"\n"),
        1,
    );
    std::fs::write(env.path("ibars.toml"), &text).unwrap();
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("ibars"))
        .arg("--config")
        .arg(env.path("ibars.toml"))
        .args(["daemon", "--check-config"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tls_cert"));

    let certs = env.path("tls");
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("ibars"))
        .args(["--json", "daemon", "--generate-cert", "--cert-dir"])
        .arg(&certs)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tls = format!(
        "tls_cert = {:?}\ntls_key = {:?}\n",
        certs.join("cert.pem"),
        certs.join("key.pem")
    );
    let text = config_text(&env, JOBS).replacen(
        "[daemon]\n",
        &format!("[daemon]\nlisten = \"127.0.0.1:{port}\"\n{tls}"),
        1,
    );
    let d = Daemon::start(&env, &text);
    let admin = token(&d, &["--name", "root", "--role", "admin"]);
    let pem = std::fs::read(certs.join("cert.pem")).unwrap();
    let c = Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    let base = format!("https://localhost:{port}");
    let h: Value = c
        .get(format!("{base}/api/v1/health"))
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(h["status"], "ok");
    // Plain HTTP on the TLS port gets nowhere.
    assert!(Client::new()
        .get(format!("http://127.0.0.1:{port}/api/v1/health"))
        .send()
        .is_err());
    // A client that does not trust the certificate is refused by its own TLS.
    assert!(Client::new()
        .get(format!("{base}/api/v1/health"))
        .send()
        .is_err());
    d.user(&env, "u", "viewer", "longenough");
    let r = c
        .post(format!("{base}/api/v1/login"))
        .json(&json!({"username": "u", "password": "longenough"}))
        .send()
        .unwrap();
    assert!(session_cookie(&r).1.contains("Secure"));
    assert!(d.log_text().contains(&format!("https://127.0.0.1:{port}/")));
}
