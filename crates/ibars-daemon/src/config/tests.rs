use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("ibars.toml"))
}

const REPO: &str =
    "[[repository]]\nname = \"local\"\nlocation = \"/srv/repo\"\npassword_file = \"/etc/pw\"\n";

/// `REPO` and one job with `body` after its name, repository and kind.
fn job(kind: &str, body: &str) -> String {
    format!("{REPO}\n[[job]]\nname = \"j\"\nrepository = \"local\"\nkind = \"{kind}\"\n{body}")
}

fn fails(text: &str) -> ConfigError {
    parse(text).expect_err("the config must be refused")
}

#[test]
fn the_shipped_example_loads_whole() {
    let c = parse(include_str!("../../../../dist/ibars.toml")).unwrap();
    assert_eq!(c.repositories.len(), 2);
    assert_eq!(
        c.repository("offsite").unwrap().s3.region.as_deref(),
        Some("garage")
    );
    let names: Vec<_> = c.jobs.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "home",
            "postgres",
            "projects",
            "verify",
            "retention",
            "home-critical",
            "critical-retention",
            "replicate"
        ]
    );
    let home = &c.jobs[0];
    assert!(home.run_missed);
    assert_eq!(home.schedule.time_zone(), "Europe/Berlin");
    assert_eq!(home.max_age, Some(Duration::from_secs(26 * 3600)));
    assert_eq!(home.timeout, Some(Duration::from_secs(4 * 3600)));
    assert_eq!(home.retry.attempts, 3);
    assert_eq!(home.retry.initial, Duration::from_secs(300));
    assert_eq!(home.limit_upload, Some(50 << 20));
    let Action::Backup(b) = &home.action else {
        panic!("a backup job")
    };
    assert_eq!(b.paths, [PathBuf::from("/home"), PathBuf::from("/etc")]);
    assert_eq!(b.backup_type, BackupType::Incremental);
    let Action::Backup(pg) = &c.jobs[1].action else {
        panic!("a backup job")
    };
    assert_eq!(pg.stdin_command.as_deref(), Some("pg_dumpall"));
    let projects = c.jobs[2].auto().expect("an automatic job");
    assert_eq!(projects.policy.rpo, 4 * 3600);
    assert_eq!(projects.policy.calendar.window.len(), 2);
    assert_eq!(projects.policy.calendar.avoid.len(), 1);
    assert!(matches!(
        c.jobs[3].action,
        Action::Check {
            read_data: true,
            ..
        }
    ));
    let Action::Forget {
        policy,
        prune,
        exclude_tags,
        ..
    } = &c.jobs[4].action
    else {
        panic!("forget")
    };
    assert_eq!(
        (policy.daily, policy.weekly, policy.monthly, *prune),
        (Some(7), Some(5), Some(12), true)
    );
    assert_eq!(exclude_tags, &["critical"]);
    let Action::Backup(critical) = &c.jobs[5].action else {
        panic!("a backup job")
    };
    assert_eq!(
        critical.class,
        Some(ibars_insight::classify::Class::Critical)
    );
    assert!(c.jobs[5].auto().is_some());
    let Action::Forget { only_tags, .. } = &c.jobs[6].action else {
        panic!("forget")
    };
    assert_eq!(only_tags, &["critical"]);
    assert!(matches!(&c.jobs[7].action, Action::Copy { target } if target == "offsite"));
}

#[test]
fn an_unknown_key_is_named_with_its_line() {
    let e = fails(&job(
        "backup",
        "schedule = \"@daily\"\npaths = [\"/home\"]\npathz = [\"/x\"]\n",
    ));
    assert_eq!(e.line, 12, "{e}");
    assert!(e.message.contains("pathz"), "{e}");
    let e = fails("[daemon]\nsocket = \"/run/x\"\nmetrics = \"1\"\n");
    assert_eq!(e.line, 3, "{e}");
    assert!(e.message.contains("metrics"), "{e}");
}

#[test]
fn a_key_of_another_kind_is_refused() {
    let e = fails(&job("check", "schedule = \"@daily\"\nkeep_daily = 7\n"));
    assert_eq!((e.line, e.key.as_deref()), (11, Some("keep_daily")), "{e}");
    assert!(e.message.contains("not a setting of a check job"), "{e}");
}

#[test]
fn bad_values_name_their_key_and_line() {
    let cases = [
        (
            "backup",
            "schedule = \"61 * * * *\"\npaths = [\"/h\"]\n",
            "schedule",
            10,
        ),
        (
            "backup",
            "schedule = \"@daily\"\ntime_zone = \"Mars/Base\"\npaths = [\"/h\"]\n",
            "time_zone",
            11,
        ),
        (
            "backup",
            "schedule = \"@daily\"\npaths = [\"relative\"]\n",
            "paths",
            11,
        ),
        ("backup", "schedule = \"@daily\"\n", "paths", 6),
        (
            "backup",
            "schedule = \"@daily\"\npaths = [\"/h\"]\ntimeout = \"soon\"\n",
            "timeout",
            12,
        ),
        (
            "backup",
            "schedule = \"@daily\"\npaths = [\"/h\"]\nnice = 40\n",
            "nice",
            12,
        ),
        (
            "backup",
            "schedule = \"@daily\"\npaths = [\"/h\"]\nionice = \"fast\"\n",
            "ionice",
            12,
        ),
        (
            "backup",
            "schedule = \"@daily\"\npaths = [\"/h\"]\nlimit_upload = \"lots\"\n",
            "limit_upload",
            12,
        ),
        (
            "backup",
            "schedule = \"@daily\"\npaths = [\"/h\"]\ntype = \"sideways\"\n",
            "type",
            12,
        ),
        (
            "check",
            "schedule = \"@daily\"\nread_data_subset = \"half\"\n",
            "read_data_subset",
            11,
        ),
        ("forget", "schedule = \"@daily\"\n", "kind", 9),
        (
            "copy",
            "schedule = \"@daily\"\ntarget = \"nowhere\"\n",
            "target",
            11,
        ),
        (
            "copy",
            "schedule = \"@daily\"\ntarget = \"local\"\n",
            "target",
            11,
        ),
        ("sync", "schedule = \"@daily\"\n", "kind", 9),
    ];
    for (kind, body, key, line) in cases {
        let e = fails(&job(kind, body));
        assert_eq!(
            (e.key.as_deref(), e.line),
            (Some(key), line),
            "{kind} {body:?}: {e}"
        );
        assert!(
            e.to_string().starts_with(&format!("ibars.toml:{line}: ")),
            "{e}"
        );
    }
}

#[test]
fn references_names_and_passwords_are_checked() {
    let e = fails(&format!("{REPO}[[job]]\nname = \"j\"\nrepository = \"other\"\nkind = \"prune\"\nschedule = \"@daily\"\n"));
    assert_eq!(e.key.as_deref(), Some("repository"), "{e}");
    let two = format!("{REPO}{REPO}");
    assert!(fails(&two).message.contains("defined twice"));
    let e = fails("[[repository]]\nname = \"r\"\nlocation = \"/r\"\n");
    assert!(
        e.message.contains("password_file or password_command"),
        "{e}"
    );
    let dup = format!("{}\n[[job]]\nname = \"j\"\nrepository = \"local\"\nkind = \"prune\"\nschedule = \"@daily\"\n", job("prune", "schedule = \"@daily\"\n"));
    let e = fails(&dup);
    assert_eq!(e.line, 12, "{e}");
    assert!(e.message.contains("job \"j\" is defined twice"), "{e}");
}

#[test]
fn a_syntax_error_is_named_with_its_line_and_a_missing_file_with_its_path() {
    let e = fails(&format!("{REPO}\n[[job]\nname = 1\n"));
    assert_eq!(e.line, 6, "{e}");
    let e = Config::load(Path::new("/nonexistent/ibars.toml")).unwrap_err();
    assert_eq!(e.line, 0);
    assert!(e.to_string().contains("/nonexistent/ibars.toml"), "{e}");
}

#[test]
fn the_api_listens_in_plain_http_only_on_loopback() {
    let ok = parse(&format!("[daemon]\nlisten = \"127.0.0.1:8080\"\n{REPO}")).unwrap();
    assert_eq!(
        ok.daemon.listen_addr(),
        Some("127.0.0.1:8080".parse().unwrap())
    );
    assert_eq!(ok.daemon.audit_repository(&ok), Some("local"));
    parse(&format!("[daemon]\nlisten = \"[::1]:8080\"\n{REPO}")).unwrap();
    let e = fails(&format!(
        "[daemon]\nsocket = \"/tmp/s\"\nlisten = \"0.0.0.0:8080\"\n{REPO}"
    ));
    assert_eq!((e.line, e.key.as_deref()), (3, Some("listen")));
    assert!(e.message.contains("tls_cert"), "{e}");
    let tls = "tls_cert = \"/c.pem\"\ntls_key = \"/k.pem\"\n";
    parse(&format!("[daemon]\nlisten = \"0.0.0.0:8443\"\n{tls}{REPO}")).unwrap();
    let e = fails(&format!(
        "[daemon]\nlisten = \"0.0.0.0:8443\"\ntls_cert = \"/c.pem\"\n{REPO}"
    ));
    assert_eq!(e.key.as_deref(), Some("tls_cert"));
    let e = fails(&format!("[daemon]\nlisten = \"localhost\"\n{REPO}"));
    assert_eq!((e.line, e.key.as_deref()), (2, Some("listen")));
    let e = fails(&format!("{REPO}\n[daemon]\naudit_repository = \"nope\"\n"));
    assert_eq!((e.line, e.key.as_deref()), (7, Some("audit_repository")));
}

#[test]
fn a_repository_takes_class_patterns() {
    let c = parse(&format!(
        "{REPO}[repository.classify]\ncritical = [\"/srv/db\"]\nsensitive = [\"/srv/hr\"]\n"
    ))
    .unwrap();
    let rules = &c.repositories[0].classify;
    assert_eq!(rules.critical, ["/srv/db"]);
    assert_eq!(rules.sensitive, ["/srv/hr"]);
    let e = fails(&format!(
        "{REPO}[repository.classify]\ncritcal = [\"/x\"]\n"
    ));
    assert!(e.message.contains("critcal"), "{e}");
}

#[test]
fn a_class_job_names_a_class_and_forget_filters_take_tags_only() {
    let e = fails(&job(
        "backup",
        "schedule = \"@daily\"\npaths = [\"/home\"]\nclass = \"vital\"\n",
    ));
    assert_eq!(e.key.as_deref(), Some("class"), "{e}");
    assert!(e.message.contains("critical, normal or ephemeral"), "{e}");
    let e = fails(&job(
        "check",
        "schedule = \"@daily\"\nexclude_tags = [\"critical\"]\n",
    ));
    assert!(e.message.contains("not a setting of a check job"), "{e}");
}
