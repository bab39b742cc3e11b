//! Every operation of the API, against every role: a table of what each needs, checked to
//! cover every operation of the served OpenAPI document, so a new route cannot go untested.

mod common;

use std::collections::BTreeSet;

use common::daemon::Daemon;
use common::{write, Env};
use reqwest::blocking::Client;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Needs {
    /// Anybody, without credentials.
    Nobody,
    Viewer,
    Operator,
    Admin,
}

/// (method, path as documented, path as called, body, what it needs).
fn table(target: &str) -> Vec<(Method, &'static str, String, Option<Value>, Needs)> {
    use Needs::*;
    let r = "/api/v1/repositories/main";
    vec![
        (
            Method::POST,
            "/api/v1/login",
            "/api/v1/login".into(),
            Some(json!({"username": "ann", "password": "long enough"})),
            Nobody,
        ),
        (
            Method::GET,
            "/api/v1/health",
            "/api/v1/health".into(),
            None,
            Viewer,
        ),
        (
            Method::GET,
            "/api/v1/overview",
            "/api/v1/overview".into(),
            None,
            Viewer,
        ),
        (
            Method::GET,
            "/api/v1/session",
            "/api/v1/session".into(),
            None,
            Viewer,
        ),
        (
            Method::POST,
            "/api/v1/logout",
            "/api/v1/logout".into(),
            None,
            Viewer,
        ),
        (
            Method::GET,
            "/api/v1/jobs",
            "/api/v1/jobs".into(),
            None,
            Viewer,
        ),
        (
            Method::GET,
            "/api/v1/jobs/{name}",
            "/api/v1/jobs/nightly".into(),
            None,
            Viewer,
        ),
        (
            Method::GET,
            "/api/v1/jobs/{name}/history",
            "/api/v1/jobs/nightly/history".into(),
            None,
            Viewer,
        ),
        (
            Method::POST,
            "/api/v1/jobs/{name}/run",
            "/api/v1/jobs/nightly/run".into(),
            None,
            Operator,
        ),
        (
            Method::GET,
            "/api/v1/repositories",
            "/api/v1/repositories".into(),
            None,
            Viewer,
        ),
        (
            Method::GET,
            "/api/v1/repositories/{repo}/history",
            format!("{r}/history"),
            None,
            Viewer,
        ),
        (
            Method::GET,
            "/api/v1/repositories/{repo}/series",
            format!("{r}/series"),
            None,
            Viewer,
        ),
        (
            Method::GET,
            "/api/v1/repositories/{repo}/anomalies",
            format!("{r}/anomalies"),
            None,
            Viewer,
        ),
        (
            Method::POST,
            "/api/v1/repositories/{repo}/anomalies/{id}/dismiss",
            format!("{r}/anomalies/latest/dismiss"),
            Some(json!({})),
            Operator,
        ),
        (
            Method::GET,
            "/api/v1/repositories/{repo}/snapshots",
            format!("{r}/snapshots"),
            None,
            Viewer,
        ),
        (
            Method::GET,
            "/api/v1/repositories/{repo}/snapshots/{id}",
            format!("{r}/snapshots/latest"),
            None,
            Viewer,
        ),
        (
            Method::GET,
            "/api/v1/repositories/{repo}/snapshots/{id}/tree",
            format!("{r}/snapshots/latest/tree?path=/"),
            None,
            Viewer,
        ),
        (
            Method::GET,
            "/api/v1/repositories/{repo}/snapshots/{id}/download",
            format!("{r}/snapshots/latest/download?path=/"),
            None,
            Operator,
        ),
        (
            Method::GET,
            "/api/v1/repositories/{repo}/diff",
            format!("{r}/diff?from=latest&to=latest"),
            None,
            Viewer,
        ),
        (
            Method::POST,
            "/api/v1/repositories/{repo}/restores",
            format!("{r}/restores"),
            Some(json!({"snapshot": "latest", "target": target})),
            Operator,
        ),
        (
            Method::POST,
            "/api/v1/repositories/{repo}/checks",
            format!("{r}/checks"),
            Some(json!({})),
            Operator,
        ),
        (
            Method::GET,
            "/api/v1/operations",
            "/api/v1/operations".into(),
            None,
            Viewer,
        ),
        (
            Method::GET,
            "/api/v1/operations/{id}",
            "/api/v1/operations/0000".into(),
            None,
            Viewer,
        ),
        (
            Method::DELETE,
            "/api/v1/operations/{id}",
            "/api/v1/operations/0000".into(),
            None,
            Viewer,
        ),
        (
            Method::GET,
            "/api/v1/restore-roots",
            "/api/v1/restore-roots".into(),
            None,
            Operator,
        ),
        (
            Method::GET,
            "/api/v1/audit",
            "/api/v1/audit".into(),
            None,
            Admin,
        ),
        (
            Method::GET,
            "/api/v1/tokens",
            "/api/v1/tokens".into(),
            None,
            Admin,
        ),
        (
            Method::POST,
            "/api/v1/tokens",
            "/api/v1/tokens".into(),
            Some(json!({"name": "made", "role": "viewer"})),
            Admin,
        ),
        (
            Method::DELETE,
            "/api/v1/tokens/{name}",
            "/api/v1/tokens/made".into(),
            None,
            Admin,
        ),
    ]
}

#[test]
fn every_operation_answers_each_role_as_documented() {
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("a.txt"), "a\n");
    env.cmd().arg("backup").arg(&src).assert().success();
    let jobs = "[[job]]\nname = \"nightly\"\nrepository = \"main\"\nkind = \"check\"\n\
                schedule = \"0 3 * * *\"\n";
    let (d, base) = Daemon::start_listening(&env, jobs);
    d.user(&env, "ann", "viewer", "long enough");
    let tokens = [
        (Needs::Viewer, d.token("v", "viewer", &[])),
        (Needs::Operator, d.token("o", "operator", &[])),
        (Needs::Admin, d.token("a", "admin", &[])),
    ];
    let c = Client::new();
    let target = env.path("state/restore/t").display().to_string();
    let rows = table(&target);

    // The table covers every documented operation, and nothing undocumented.
    let doc: Value = c
        .get(format!("{base}/api/v1/openapi.json"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(p, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.to_uppercase(), p.clone()))
        })
        .collect();
    let tabled: BTreeSet<(String, String)> = rows
        .iter()
        .map(|(m, p, ..)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(
        documented, tabled,
        "the table and the OpenAPI document differ"
    );

    let call = |m: &Method, path: &str, body: &Option<Value>, token: Option<&str>| {
        let mut r = c.request(m.clone(), format!("{base}{path}"));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r.json(b);
        }
        r.send().unwrap().status()
    };
    for (m, doc_path, path, body, needs) in &rows {
        let anonymous = call(m, path, body, None);
        if *needs == Needs::Nobody {
            assert_eq!(anonymous, StatusCode::OK, "{m} {doc_path}");
            continue;
        }
        assert_eq!(
            anonymous,
            StatusCode::UNAUTHORIZED,
            "{m} {doc_path} without a token"
        );
        for (role, t) in &tokens {
            let got = call(m, path, body, Some(t));
            if role < needs {
                assert_eq!(got, StatusCode::FORBIDDEN, "{m} {doc_path} as {role:?}");
            } else {
                assert!(
                    got != StatusCode::FORBIDDEN
                        && got != StatusCode::UNAUTHORIZED
                        && !got.is_server_error(),
                    "{m} {doc_path} as {role:?}: {got}"
                );
            }
        }
    }
}
