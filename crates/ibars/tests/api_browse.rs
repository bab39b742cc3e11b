//! The daemon's API over repositories: snapshots, browsing (paged), downloads, diff, history,
//! chart series and anomaly findings, with the roles each needs.

mod common;

use common::daemon::Daemon;
use common::{random_bytes, write, Env};
use reqwest::blocking::Client;
use reqwest::StatusCode;
use serde_json::{json, Value};

struct Api {
    base: String,
    c: Client,
    viewer: String,
    operator: String,
}

impl Api {
    fn start(env: &Env) -> (Daemon, Api) {
        let (d, base) = Daemon::start_listening(env, "");
        let api = Api {
            base: format!("{base}/api/v1"),
            c: Client::new(),
            viewer: d.token("v", "viewer", &[]),
            operator: d.token("o", "operator", &[]),
        };
        (d, api)
    }

    fn get(&self, token: &str, path: &str) -> reqwest::blocking::Response {
        self.c
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .unwrap()
    }

    fn json(&self, path: &str) -> Value {
        let r = self.get(&self.viewer, path);
        assert_eq!(r.status(), StatusCode::OK, "{path}: {}", r.text().unwrap());
        r.json().unwrap()
    }
}

fn enc(p: &std::path::Path) -> String {
    p.display()
        .to_string()
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn snapshots_are_listed_browsed_downloaded_and_compared() {
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("big.bin"), random_bytes(900_000, 5));
    write(&src.join("etc/app.conf"), "port = 80\n");
    for i in 0..1200 {
        write(&src.join(format!("many/f{i:04}")), format!("{i}"));
    }
    env.cmd().arg("backup").arg(&src).assert().success();
    write(&src.join("etc/app.conf"), "port = 8080\n");
    env.cmd().arg("backup").arg(&src).assert().success();
    let (_d, api) = Api::start(&env);

    let o = api.json("/overview");
    assert_eq!(
        (
            o["repositories"][0]["snapshots"].as_u64(),
            o["anomalies"].as_u64()
        ),
        (Some(2), Some(0)),
        "{o}"
    );
    let repos = api.json("/repositories");
    assert_eq!(repos[0]["name"], "main");
    assert!(!repos.to_string().contains("password"), "{repos}");
    let page = api.json("/repositories/main/snapshots?limit=1");
    assert_eq!(page["total"], 2);
    let latest = page["snapshots"][0]["id"].as_str().unwrap().to_string();
    let all = api.json("/repositories/main/snapshots");
    let first = all["snapshots"][1]["id"].as_str().unwrap().to_string();
    assert_ne!(first, latest);
    let one = api.json(&format!("/repositories/main/snapshots/{}", &latest[..8]));
    assert_eq!(one["id"], latest.as_str());
    assert_eq!(
        api.get(&api.viewer, "/repositories/main/snapshots/ffffffff")
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.get(&api.viewer, "/repositories/nope/snapshots")
            .status(),
        StatusCode::NOT_FOUND
    );

    // A directory of 1,200 entries, a page at a time.
    let many = enc(&src.join("many"));
    let p = api.json(&format!(
        "/repositories/main/snapshots/latest/tree?path={many}&offset=1000&limit=500"
    ));
    assert_eq!(
        (p["total"].as_u64(), p["entries"].as_array().unwrap().len()),
        (Some(1200), 200)
    );
    assert_eq!(p["entries"][0]["name"], "f1000");
    let file = enc(&src.join("big.bin"));
    let r = api.get(
        &api.viewer,
        &format!("/repositories/main/snapshots/latest/tree?path={file}"),
    );
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let escape = format!("{}/../../etc", enc(&src));
    let r = api.get(
        &api.viewer,
        &format!("/repositories/main/snapshots/latest/tree?path={escape}"),
    );
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "`..` never walks out");

    // Downloads need an operator; the bytes are the file's.
    let dl = format!("/repositories/main/snapshots/latest/download?path={file}");
    assert_eq!(api.get(&api.viewer, &dl).status(), StatusCode::FORBIDDEN);
    let r = api.get(&api.operator, &dl);
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("big.bin"));
    assert_eq!(
        r.bytes().unwrap().to_vec(),
        std::fs::read(src.join("big.bin")).unwrap()
    );
    let r = api.get(
        &api.operator,
        &format!("/repositories/main/snapshots/latest/download?path={escape}"),
    );
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // A directory comes as a tar that unpacks to the source.
    let r = api.get(
        &api.operator,
        &format!(
            "/repositories/main/snapshots/latest/download?path={}",
            enc(&src)
        ),
    );
    assert_eq!(r.headers()["content-type"], "application/x-tar");
    let tar = env.path("src.tar");
    std::fs::write(&tar, r.bytes().unwrap()).unwrap();
    let out = env.path("out");
    std::fs::create_dir(&out).unwrap();
    let st = std::process::Command::new("tar")
        .arg("-xf")
        .arg(&tar)
        .arg("-C")
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success());
    assert!(common::same_tree(&src, &out.join("src")));

    let d = api.json(&format!("/repositories/main/diff?from={first}&to=latest"));
    let changes = d["changes"].as_array().unwrap();
    let conf = src.join("etc/app.conf").display().to_string();
    assert!(
        changes
            .iter()
            .any(|c| c["path"] == conf.as_str() && c["change"] == "modified"),
        "{d}"
    );

    let h = api.json("/repositories/main/history?kind=backup");
    assert_eq!(h.as_array().unwrap().len(), 2);
    assert_eq!(
        api.get(&api.viewer, "/repositories/main/history?kind=nonsense")
            .status(),
        StatusCode::BAD_REQUEST
    );
    let s = api.json("/repositories/main/series");
    assert_eq!(s["backups"].as_array().unwrap().len(), 2);
    let size = s["size"].as_array().unwrap();
    assert!(
        size.last().unwrap()["bytes"].as_u64().unwrap() > 900_000,
        "{s}"
    );
    assert!(size.len() >= 3, "{s}");
    // Two backups are no history to forecast from: said, not guessed.
    assert!(s["forecast"].is_null(), "{s}");
    assert!(
        s["forecast_error"]
            .as_str()
            .unwrap()
            .contains("not enough history"),
        "{s}"
    );
}

#[test]
fn anomaly_findings_are_listed_and_dismissed_by_an_operator_with_an_audit_entry() {
    let env = Env::new();
    let src = env.path("src");
    let flagged = common::scenario::ransomware_history(&env, &src);
    let (mut d, api) = Api::start(&env);
    assert_eq!(api.json("/overview")["anomalies"], 1);
    let f = api.json("/repositories/main/anomalies");
    assert_eq!(f.as_array().unwrap().len(), 1, "{f}");
    assert_eq!(f[0]["snapshot"]["id"], flagged.as_str());
    assert!(f[0]["clean_point"].is_string());
    assert!(!f[0]["reasons"].as_array().unwrap().is_empty());
    let url = format!(
        "{}/repositories/main/anomalies/{}/dismiss",
        api.base,
        &flagged[..10]
    );
    let post = |token: &str| {
        api.c
            .post(&url)
            .bearer_auth(token)
            .json(&json!({"reason": "planned re-encryption"}))
            .send()
            .unwrap()
    };
    assert_eq!(post(&api.viewer).status(), StatusCode::FORBIDDEN);
    let r = post(&api.operator);
    assert_eq!(r.status(), StatusCode::OK);
    assert!(api
        .json("/repositories/main/anomalies")
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(
        api.json("/repositories/main/anomalies?all=true")
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // The snapshot was replaced, so its old id matches nothing now: 404.
    assert_eq!(post(&api.operator).status(), StatusCode::NOT_FOUND);
    assert!(d.stop().success());
    let audit = env.json(&["audit"]);
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor"] == "token:o"
                && e["action"] == "anomaly.dismiss"
                && e["repository"] == "main"
                && e["status"] == 200),
        "{audit:#}"
    );
}
