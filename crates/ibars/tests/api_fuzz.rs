//! The API fuzzed by schemathesis (PyPI) from its own served OpenAPI document, against a
//! real daemon holding real snapshots: no 5xx answer, and every answer within the documented
//! statuses, content types and schemas.

mod common;

use common::daemon::Daemon;
use common::{write, Env};

#[test]
fn schemathesis_finds_no_server_error_and_no_answer_outside_the_schema() {
    let env = Env::new();
    let src = env.path("src");
    for i in 0..20 {
        write(
            &src.join(format!("d{}/f{i}.txt", i % 3)),
            format!("file {i}\n"),
        );
    }
    env.cmd().arg("backup").arg(&src).assert().success();
    write(&src.join("d0/f0.txt"), "changed\n");
    env.cmd().arg("backup").arg(&src).assert().success();
    let jobs = "[[job]]\nname = \"nightly\"\nrepository = \"main\"\nkind = \"check\"\n\
                schedule = \"0 3 * * *\"\n";
    let (d, base) = Daemon::start_listening(&env, jobs);
    let token = d.token("fuzzer-admin-5b1e", "admin", &[]);
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts/test/schemathesis.toml");
    let out = std::process::Command::new("st")
        .arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(format!("{base}/api/v1/openapi.json"))
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .args([
            "--checks",
            "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance",
            "--max-examples",
            "40",
            "--workers",
            "2",
            "--max-failures",
            "20",
            // Revoking tokens would revoke the fuzzer's own; the API tests cover it.
            "--exclude-path",
            "/api/v1/tokens/{name}",
        ])
        .current_dir(env.dir.path())
        .output()
        .expect("schemathesis (`st`, from PyPI) must be installed: scripts/test.sh installs it");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found failures:\n{report}\n{}\ndaemon log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        d.log_text()
    );
    assert!(report.contains("passed"), "{report}");
}
