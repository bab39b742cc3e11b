//! Long operations through the API: restores (contained to the restore roots), checks and
//! job runs, followed by their operation id, and cancelled.

mod common;

use std::time::{Duration, Instant};

use common::daemon::Daemon;
use common::{random_bytes, write, Env};
use reqwest::blocking::Client;
use reqwest::StatusCode;
use serde_json::{json, Value};

const JOB: &str = "[[job]]\nname = \"verify\"\nrepository = \"main\"\nkind = \"check\"\n\
                   schedule = \"0 3 * * *\"\n";

struct Api {
    base: String,
    c: Client,
    operator: String,
    viewer: String,
}

impl Api {
    fn post(&self, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
        let r = self
            .c
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .unwrap();
        let s = r.status();
        (s, r.json().unwrap_or(Value::Null))
    }

    fn op(&self, id: &str) -> Value {
        self.c
            .get(format!("{}/operations/{id}", self.base))
            .bearer_auth(&self.viewer)
            .send()
            .unwrap()
            .json()
            .unwrap()
    }

    /// Poll an operation until it is no longer running.
    fn wait(&self, id: &str) -> Value {
        let t = Instant::now();
        loop {
            let v = self.op(id);
            if v["state"] != "running" {
                return v;
            }
            assert!(
                t.elapsed() < Duration::from_secs(120),
                "operation {id} still runs: {v}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn start(env: &Env) -> (Daemon, Api) {
    let (d, base) = Daemon::start_listening(env, JOB);
    let api = Api {
        base: format!("{base}/api/v1"),
        c: Client::new(),
        operator: d.token("o", "operator", &[]),
        viewer: d.token("v", "viewer", &[]),
    };
    (d, api)
}

#[test]
fn restores_checks_and_job_runs_are_followed_by_their_operation() {
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("a.bin"), random_bytes(300_000, 1));
    write(&src.join("sub/b.txt"), "bee\n");
    env.cmd().arg("backup").arg(&src).assert().success();
    let (mut d, api) = start(&env);
    let roots: Vec<String> = api
        .c
        .get(format!("{}/restore-roots", api.base))
        .bearer_auth(&api.operator)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(roots, [env.path("state/restore").display().to_string()]);
    let target = format!("{}/first", roots[0]);

    let body = json!({"snapshot": "latest", "target": target});
    assert_eq!(
        api.post(&api.viewer, "/repositories/main/restores", body.clone())
            .0,
        StatusCode::FORBIDDEN
    );
    for bad in [
        "/etc/x",
        "relative",
        &format!("{}/../escape", roots[0]),
        &roots[0],
    ] {
        let (s, v) = api.post(
            &api.operator,
            "/repositories/main/restores",
            json!({"snapshot": "latest", "target": bad}),
        );
        assert_eq!(s, StatusCode::FORBIDDEN, "{bad}: {v}");
    }
    let (s, _) = api.post(
        &api.operator,
        "/repositories/main/restores",
        json!({"snapshot": "ffff0000", "target": target}),
    );
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, op) = api.post(&api.operator, "/repositories/main/restores", body);
    assert_eq!(s, StatusCode::ACCEPTED, "{op}");
    assert_eq!(op["state"], "running");
    let done = api.wait(op["id"].as_str().unwrap());
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["progress"]["percent"], 1.0);
    assert!(done["result"].is_object(), "{done}");
    assert!(common::same_tree(
        &src,
        &common::restored(std::path::Path::new(&target), &src)
    ));

    // A partial restore of one directory.
    let part = format!("{}/part", roots[0]);
    let include = src.join("sub").display().to_string();
    let (_, op) = api.post(
        &api.operator,
        "/repositories/main/restores",
        json!({"snapshot": "latest", "target": part, "include": [include]}),
    );
    assert_eq!(api.wait(op["id"].as_str().unwrap())["state"], "succeeded");
    let restored = common::restored(std::path::Path::new(&part), &src);
    assert!(restored.join("sub/b.txt").exists() && !restored.join("a.bin").exists());

    let (s, op) = api.post(
        &api.operator,
        "/repositories/main/checks",
        json!({"read_data": true}),
    );
    assert_eq!(s, StatusCode::ACCEPTED);
    let done = api.wait(op["id"].as_str().unwrap());
    assert_eq!(done["state"], "succeeded", "{done}");
    // The repository is measured again after it: the check shows on the overview.
    let t = Instant::now();
    loop {
        let repos: Value = api
            .c
            .get(format!("{}/repositories", api.base))
            .bearer_auth(&api.viewer)
            .send()
            .unwrap()
            .json()
            .unwrap();
        if repos[0]["stats"]["last_check"]["read_data"] == true {
            assert_eq!(repos[0]["stats"]["scrub_coverage"], 1.0, "{repos}");
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "stats not refreshed: {repos}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (s, _) = api.post(
        &api.operator,
        "/repositories/main/checks",
        json!({"subset": "10%; rm -rf /"}),
    );
    assert_eq!(s, StatusCode::BAD_REQUEST);

    let (s, started) = api.post(&api.operator, "/jobs/verify/run", json!({}));
    assert_eq!(s, StatusCode::ACCEPTED);
    let done = api.wait(started["operation"].as_str().unwrap());
    assert_eq!(
        (done["kind"].as_str(), done["state"].as_str()),
        (Some("job"), Some("succeeded")),
        "{done}"
    );

    let all: Value = api
        .c
        .get(format!("{}/operations", api.base))
        .bearer_auth(&api.viewer)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(all.as_array().unwrap().len(), 4);
    let r = api
        .c
        .delete(format!(
            "{}/operations/{}",
            api.base,
            done["id"].as_str().unwrap()
        ))
        .bearer_auth(&api.operator)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT, "an ended operation");
    assert!(d.stop().success());
    let audit = env.json(&["audit"]);
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["result"] == "ok")
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in ["restore.start", "check.start", "job.run"] {
        assert!(actions.contains(&a), "{a} missing: {audit:#}");
    }
}

#[test]
fn a_running_restore_is_cancelled_cleanly() {
    let env = Env::new();
    let src = env.path("src");
    // 12 packs of 1 MiB: a restore reads pack by pack, and stops between packs.
    write(&src.join("big.bin"), random_bytes(12_000_000, 2));
    env.cmd().arg("backup").arg(&src).assert().success();
    let (_d, api) = start(&env);
    let target = env.path("state/restore/slow").display().to_string();
    // Read at 1 MiB/s: long enough (12 s) to cancel it midway.
    let (_, op) = api.post(
        &api.operator,
        "/repositories/main/restores",
        json!({"snapshot": "latest", "target": target, "limit_download": "1MiB"}),
    );
    let id = op["id"].as_str().unwrap().to_string();
    let t = Instant::now();
    while api.op(&id)["progress"]["bytes_done"].as_u64().unwrap_or(0) == 0 {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "no progress: {}",
            api.op(&id)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let r = api
        .c
        .delete(format!("{}/operations/{id}", api.base))
        .bearer_auth(&api.viewer)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = api
        .c
        .delete(format!("{}/operations/{id}", api.base))
        .bearer_auth(&api.operator)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let asked = Instant::now();
    let done = api.wait(&id);
    assert_eq!(done["state"], "cancelled", "{done}");
    // It stops at the next pack, within seconds, not at the end of the 12 s it would take.
    assert!(
        asked.elapsed() < Duration::from_secs(8),
        "{:?}",
        asked.elapsed()
    );
    // The repository is left as it was: no lock, and it checks clean.
    assert_eq!(common::daemon::locks(&env.repo), 0);
    env.cmd().args(["check", "--read-data"]).assert().success();
}
