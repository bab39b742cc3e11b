//! Tests of the path rules, the verdicts and the summary.

use super::rules::{critical, depth, ephemeral};
use super::*;

fn eph(path: &str) -> Option<(&'static str, &str)> {
    ephemeral(path, false, Markers::default()).map(|h| (h.rule, h.scope))
}

fn rule_of(path: &str) -> Option<&'static str> {
    eph(path).map(|(rule, _)| rule)
}

#[test]
fn ephemeral_trees() {
    assert_eq!(
        eph("/home/ann/web/node_modules/express/index.js"),
        Some(("node_modules", "/home/ann/web/node_modules"))
    );
    // The match nearest the root names the tree.
    assert_eq!(
        eph("/home/ann/.cache/tool/node_modules/x.js"),
        Some((".cache", "/home/ann/.cache"))
    );
    assert_eq!(
        eph("/home/ann/.cache/pip/http-v2/a/b/c"),
        Some(("pip cache", "/home/ann/.cache/pip"))
    );
    let cases = [
        ("/root/.cache/go-build/aa/bb-d", "go build cache"),
        ("/home/ann/src/app/.cache/x", ".cache"),
        (
            "/home/ann/src/app/__pycache__/m.cpython-311.pyc",
            "__pycache__",
        ),
        ("/home/ann/src/app/m.pyc", "*.pyc"),
        (
            "/home/ann/src/app/.pytest_cache/v/cache/lastfailed",
            ".pytest_cache",
        ),
        ("/home/ann/src/app/.mypy_cache/3.11/x.json", ".mypy_cache"),
        ("/home/ann/src/app/.tox/py311/lib/x.py", ".tox"),
        ("/home/ann/src/app/.nox/tests/bin/python", ".nox"),
        ("/tmp/x", "/tmp"),
        ("/var/tmp/a/b", "/var/tmp"),
        ("/var/cache/apt/pkgcache.bin", "/var/cache"),
        ("/home/ann/.npm/_cacache/index-v5/aa/bb", "npm cache"),
        (
            "/home/ann/.cargo/registry/src/index/serde-1.0.0/src/lib.rs",
            "cargo registry",
        ),
        (
            "/home/ann/.cargo/registry/cache/index/serde-1.0.0.crate",
            "cargo registry",
        ),
        (
            "/home/ann/.cargo/git/db/x-1234/objects/pack/p.pack",
            "cargo git checkouts",
        ),
        (
            "/home/ann/.m2/repository/org/x/1.0/x-1.0.jar",
            "maven repository",
        ),
        (
            "/home/ann/go/pkg/mod/golang.org/x/text@v0.3.0/a.go",
            "go module cache",
        ),
        ("/home/ann/.local/share/Trash/files/old.txt", "trash"),
        ("/home/ann/app/.gradle/caches/8.5/x.bin", ".gradle/caches"),
        ("/home/ann/site/.next/cache/webpack/x.pack", ".next/cache"),
        (
            "/srv/infra/.terraform/providers/registry/x",
            ".terraform/providers",
        ),
        ("/home/ann/web/.parcel-cache/data.mdb", ".parcel-cache"),
        ("/Users/ann/Pictures/.DS_Store", ".DS_Store"),
        ("/home/ann/Pictures/Thumbs.db", "Thumbs.db"),
        ("/home/ann/notes.txt~", "*~"),
        ("/home/ann/.notes.txt.swp", "*.swp"),
        ("/home/ann/src/c/main.o", "*.o"),
        ("/home/ann/src/c/upload.TMP", "*.tmp"),
    ];
    for (path, rule) in cases {
        assert_eq!(rule_of(path), Some(rule), "{path}");
    }
    // Rules are kept narrow: names that are often build output but not always.
    for path in [
        "/home/ann/src/app/build/out.js",
        "/home/ann/src/app/dist/app.js",
        "/home/ann/src/app/target/debug/app",
        "/home/ann/venv/lib/python3.11/site-packages/x.py",
        "/home/ann/src/app/cache/x",
        "/home/ann/notes.log",
        "/home/ann/.cargo/bin/cargo",
        "/tmpfiles/x",
        "/srv/tmp/x",
        "/srv/app/.cache/x",
        "tmp/x",
        "/home/ann/~",
        "/home/ann/src/app/main.rs",
    ] {
        assert_eq!(eph(path), None, "{path}");
    }
    // File name rules are for files.
    assert_eq!(ephemeral("/home/ann/x.tmp", true, Markers::default()), None);
    // Third-party package trees are vendored.
    let hit = ephemeral("/home/ann/web/node_modules/a/b", false, Markers::default());
    assert!(hit.is_some_and(|h| h.vendored));
    let hit = ephemeral("/home/ann/src/__pycache__/a.pyc", false, Markers::default());
    assert!(hit.is_some_and(|h| !h.vendored));
}

#[test]
fn markers_make_target_and_venv_ephemeral() {
    let tag: &[u8] = b"Signature: 8a477f597d28d172789f06886806bc55\n# A cache directory tag.\n";
    assert!(is_cachedir_tag(tag));
    assert!(!is_cachedir_tag(b"Signature: 0000"));
    assert_eq!(marker("CACHEDIR.TAG", Some(tag)), Some(Marker::CachedirTag));
    assert_eq!(marker("CACHEDIR.TAG", Some(&b"hello"[..])), None);
    assert_eq!(marker("CACHEDIR.TAG", None), None);
    assert_eq!(marker("pyvenv.cfg", None), Some(Marker::PyvenvCfg));
    assert_eq!(marker(".rustc_info.json", None), Some(Marker::RustcInfo));
    assert_eq!(marker(".git", None), Some(Marker::Git));
    assert_eq!(marker("Cargo.toml", None), None);
    assert_eq!(depth("/"), 0);
    assert_eq!(depth("/home/ann/"), 2);
    assert_eq!(depth("/home/ann/src/app/target"), 5);

    let mut cargo = Markers::default();
    cargo.set(Marker::CachedirTag, "/home/ann/src/app/target");
    let hit = ephemeral("/home/ann/src/app/target/debug/app", false, cargo).unwrap();
    assert_eq!(
        (hit.rule, hit.scope),
        ("target/", "/home/ann/src/app/target")
    );

    let mut rustc = Markers::default();
    rustc.set(Marker::RustcInfo, "/home/ann/src/app/target");
    let hit = ephemeral("/home/ann/src/app/target/release/x", false, rustc).unwrap();
    assert_eq!(hit.rule, "target/");

    let mut other = Markers::default();
    other.set(Marker::CachedirTag, "/srv/thumbnails");
    let hit = ephemeral("/srv/thumbnails/a.png", false, other).unwrap();
    assert_eq!((hit.rule, hit.scope), ("CACHEDIR.TAG", "/srv/thumbnails"));

    let mut venv = Markers::default();
    venv.set(Marker::PyvenvCfg, "/home/ann/proj/.venv");
    let hit = ephemeral(
        "/home/ann/proj/.venv/lib/python3.11/site-packages/a.py",
        false,
        venv,
    );
    let hit = hit.unwrap();
    assert_eq!(
        (hit.rule, hit.scope, hit.vendored),
        ("venv", "/home/ann/proj/.venv", true)
    );
    // The directory itself.
    let hit = ephemeral("/home/ann/proj/.venv", true, venv).unwrap();
    assert_eq!(hit.scope, "/home/ann/proj/.venv");
}

fn crit(path: &str, magic: Option<&str>) -> Option<&'static str> {
    critical(path, false, magic, Markers::default()).map(|h| h.rule)
}

#[test]
fn critical_paths() {
    assert_eq!(crit("/etc/passwd", None), Some("/etc"));
    assert_eq!(crit("/etcetera/x", None), None);
    assert_eq!(
        crit("/var/lib/postgresql/15/main/base/1/1259", None),
        Some("database directory")
    );
    assert_eq!(
        crit("/var/lib/mysql/ibdata1", None),
        Some("database directory")
    );
    assert_eq!(crit("/var/lib/apt/lists/x", None), None);
    assert_eq!(
        crit("/home/ann/Documents/cv.odt", None),
        Some("~/Documents")
    );
    assert_eq!(crit("/home/ann/Downloads/cv.odt", None), None);
    assert_eq!(
        crit("/srv/app/data.db", Some("sqlite")),
        Some("sqlite database")
    );
    assert_eq!(crit("/srv/app/notes.db", Some("text")), None);
    assert_eq!(crit("/srv/app/x.sqlite", None), Some("sqlite database"));
    assert_eq!(crit("/srv/app/x.db", None), None);
    assert_eq!(crit("/srv/backup/shop.sql", None), Some("sql dump"));
    assert_eq!(crit("/srv/backup/shop.SQL.gz", None), Some("sql dump"));
    assert_eq!(crit("/srv/backup/sql.txt", None), None);
    assert_eq!(
        crit("/home/ann/src/app/.git/objects/ab/cdef", None),
        Some(".git")
    );
    assert_eq!(crit("/home/ann/src/app/main.rs", None), None);
    let mut git = Markers::default();
    git.set(Marker::Git, "/home/ann/src/app");
    let hit = critical("/home/ann/src/app/src/main.rs", false, Some("text"), git).unwrap();
    assert_eq!((hit.rule, hit.scope), ("work tree", "/home/ann/src/app"));

    // Keys by name are sensitive; their public halves are not.
    for (path, rule) in [
        ("/home/ann/.ssh/id_ed25519", "ssh private key"),
        ("/root/.ssh/id_rsa", "ssh private key"),
        ("/home/ann/.aws/credentials", "cloud credentials"),
        (
            "/home/ann/.gnupg/private-keys-v1.d/AB12.key",
            "gpg private key",
        ),
        ("/home/ann/keys/server.ppk", "putty key"),
        ("/home/ann/keys/client.p12", "key store"),
        ("/home/ann/vault.kdbx", "password database"),
        ("/home/ann/.pgpass", "stored passwords"),
    ] {
        let hit = critical(path, false, None, Markers::default()).unwrap();
        assert_eq!((hit.rule, hit.sensitive), (rule, true), "{path}");
    }
    let hit = critical(
        "/home/ann/.ssh/id_ed25519.pub",
        false,
        None,
        Markers::default(),
    );
    let hit = hit.unwrap();
    assert_eq!((hit.rule, hit.sensitive), ("~/.ssh", false));
}

fn judge(path: &str, facts: PathFacts<'_>) -> Verdict {
    classify(path, &facts, &Rules::default())
}

fn finding(kind: SecretKind) -> [Finding; 1] {
    [Finding { kind, offset: 0 }]
}

#[test]
fn verdicts() {
    let plain = PathFacts::default();
    let v = judge("/home/ann/web/node_modules/express/index.js", plain);
    assert_eq!((v.class, v.sensitive), (Class::Ephemeral, false));
    assert_eq!(v.rule.as_deref(), Some("node_modules"));
    assert_eq!(v.scope.as_deref(), Some("/home/ann/web/node_modules"));

    let v = judge("/etc/hosts", plain);
    assert_eq!(
        (v.class, v.rule.as_deref()),
        (Class::Critical, Some("/etc"))
    );

    let v = judge("/home/ann/Pictures/cat.jpg", plain);
    assert_eq!((v.class, v.sensitive), (Class::Normal, false));
    assert_eq!((v.rule, v.scope), (None, None));
    assert!(v.reasons.is_empty());

    // A private key: critical and sensitive...
    let key = finding(SecretKind::PrivateKey);
    let facts = PathFacts {
        findings: &key,
        ..PathFacts::default()
    };
    let v = judge("/home/ann/deploy/server.pem", facts);
    assert_eq!((v.class, v.sensitive), (Class::Critical, true));
    assert_eq!(v.rule.as_deref(), Some("private key"));
    assert_eq!(v.secrets, [SecretKind::PrivateKey]);
    // ... but a test fixture inside a package tree is neither.
    let v = judge(
        "/home/ann/web/node_modules/ssh2/test/fixtures/id_rsa",
        facts,
    );
    assert_eq!((v.class, v.sensitive), (Class::Ephemeral, false));
    assert!(v.reasons.iter().any(|r| r.contains("third-party")));

    // Other secrets make a file sensitive, and leave its class to its place.
    let token = finding(SecretKind::AwsAccessKeyId);
    let facts = PathFacts {
        findings: &token,
        ..PathFacts::default()
    };
    let v = judge("/home/ann/notes.txt", facts);
    assert_eq!((v.class, v.sensitive), (Class::Normal, true));
    let v = judge("/home/ann/Documents/notes.txt", facts);
    assert_eq!((v.class, v.sensitive), (Class::Critical, true));
    let cards = finding(SecretKind::CardNumber);
    let facts = PathFacts {
        findings: &cards,
        ..PathFacts::default()
    };
    assert!(judge("/srv/shop/orders.csv", facts).sensitive);

    // A key file by its name.
    let v = judge("/home/ann/.ssh/id_rsa", plain);
    assert_eq!((v.class, v.sensitive), (Class::Critical, true));

    // SQLite by its magic.
    let facts = PathFacts {
        magic: Some("sqlite"),
        ..PathFacts::default()
    };
    let v = judge("/home/ann/.local/share/app/state", facts);
    assert_eq!(v.class, Class::Critical);
    // In a cache it is a cache.
    let v = judge("/home/ann/.cache/app/index.db", facts);
    assert_eq!(v.class, Class::Ephemeral);

    // A Cargo target inside a work tree is output; the rest of the tree is critical.
    let mut markers = Markers::default();
    markers.set(Marker::Git, "/home/ann/src/app");
    let facts = PathFacts {
        markers,
        ..PathFacts::default()
    };
    assert_eq!(
        judge("/home/ann/src/app/src/main.rs", facts).class,
        Class::Critical
    );
    markers.set(Marker::CachedirTag, "/home/ann/src/app/target");
    let facts = PathFacts {
        markers,
        ..PathFacts::default()
    };
    let v = judge("/home/ann/src/app/target/debug/app", facts);
    assert_eq!(
        (v.class, v.rule.as_deref()),
        (Class::Ephemeral, Some("target/"))
    );
}

#[test]
fn history() {
    let path = "/home/ann/web/node_modules/a/index.js";
    let restored = |restores: u32| PathFacts {
        restores,
        ..PathFacts::default()
    };
    let v = judge(path, restored(1));
    assert_eq!(
        (v.class, v.rule.as_deref()),
        (Class::Normal, Some("restored"))
    );
    assert!(v.reasons[0].contains("restored once"), "{:?}", v.reasons);
    let v = judge(path, restored(3));
    assert_eq!(v.class, Class::Critical);
    let v = judge("/home/ann/report.odt", restored(RESTORED_OFTEN));
    assert_eq!(
        (v.class, v.rule.as_deref()),
        (Class::Critical, Some("restored"))
    );
    assert_eq!(
        judge("/home/ann/report.odt", restored(1)).class,
        Class::Normal
    );
    let v = judge("/etc/fstab", restored(5));
    assert_eq!(v.rule.as_deref(), Some("/etc"));
    assert!(v.reasons.iter().any(|r| r == "restored 5 times"));

    // Churn under a cache is reported, and changes nothing.
    let churning = PathFacts {
        changes: 5,
        snapshots: 5,
        size: 1 << 30,
        ..PathFacts::default()
    };
    let v = judge("/home/ann/.cache/big.bin", churning);
    assert_eq!(v.class, Class::Ephemeral);
    assert!(v
        .reasons
        .iter()
        .any(|r| r.contains("each of the last 5 snapshots")));
    assert_eq!(judge("/srv/db/app.log", churning).class, Class::Normal);
}

#[test]
fn user_rules_win() {
    let user = UserRules {
        critical: vec!["*.keep".to_string(), "~/scratch/important".to_string()],
        ephemeral: vec![
            "~/Downloads".to_string(),
            "/etc/".to_string(),
            "~/scratch".to_string(),
        ],
        normal: vec!["node_modules".to_string(), "/srv/**/*.iso".to_string()],
        sensitive: vec!["~/finance".to_string()],
    };
    let rules = Rules::new(&user).unwrap();
    let plain = PathFacts::default();
    let class = |path: &str| classify(path, &plain, &rules).class;
    assert_eq!(class("/home/ann/web/node_modules/a.js"), Class::Normal);
    assert_eq!(class("/etc/hosts"), Class::Ephemeral);
    assert_eq!(class("/etc"), Class::Ephemeral);
    assert_eq!(class("/home/ann/Downloads/a.iso"), Class::Ephemeral);
    assert_eq!(class("/root/Downloads/x/y"), Class::Ephemeral);
    // Critical wins over ephemeral, in the user's lists too.
    assert_eq!(class("/home/ann/Downloads/a.keep"), Class::Critical);
    assert_eq!(class("/home/ann/scratch/important/x"), Class::Critical);
    assert_eq!(class("/home/ann/scratch/other"), Class::Ephemeral);
    assert_eq!(class("/srv/media/a/b.iso"), Class::Normal);
    // Patterns without a slash match at any depth, and only whole names.
    assert_eq!(
        rules.user_class("/home/ann/src/node_modules_old/a.js"),
        None
    );
    assert_eq!(rules.user_class("/home/ann/src/mynode_modules/a.js"), None);

    let v = classify("/home/ann/Downloads/a.iso", &plain, &rules);
    assert_eq!(v.rule.as_deref(), Some("user: ~/Downloads"));
    let v = classify("/home/ann/finance/2025.ods", &plain, &rules);
    assert_eq!((v.class, v.sensitive), (Class::Normal, true));

    // A secret in a tree the user excludes is still reported.
    let key = finding(SecretKind::PrivateKey);
    let facts = PathFacts {
        findings: &key,
        ..PathFacts::default()
    };
    let v = classify("/home/ann/Downloads/key.pem", &facts, &rules);
    assert_eq!((v.class, v.sensitive), (Class::Ephemeral, true));

    assert_eq!(
        Rules::new(&UserRules::default())
            .unwrap()
            .user_class("/etc"),
        None
    );
    let bad = UserRules {
        sensitive: vec!["a[".to_string()],
        ..UserRules::default()
    };
    let error = Rules::new(&bad).unwrap_err();
    assert_eq!((error.list, error.pattern.as_str()), ("sensitive", "a["));
    let empty = UserRules {
        normal: vec!["  ".to_string()],
        ..UserRules::default()
    };
    assert_eq!(Rules::new(&empty).unwrap_err().reason, "empty pattern");
}

fn record(summary: &mut Summary, path: &str, facts: PathFacts<'_>) {
    let verdict = classify(path, &facts, &Rules::default());
    summary.record(path, &facts, &verdict);
}

#[test]
fn summary_and_suggestions() {
    let mut summary = Summary::new();
    let file = |size: u64| PathFacts {
        size,
        ..PathFacts::default()
    };
    record(&mut summary, "/home/ann/a/node_modules/x.js", file(1024));
    record(&mut summary, "/home/ann/a/node_modules/y.js", file(1024));
    record(&mut summary, "/home/ann/b/node_modules/z.js", file(1024));
    let mut markers = Markers::default();
    markers.set(Marker::CachedirTag, "/home/ann/app/target");
    let target = PathFacts {
        size: 3 << 30,
        markers,
        ..PathFacts::default()
    };
    record(&mut summary, "/home/ann/app/target/debug/app", target);
    let dir = PathFacts {
        is_dir: true,
        ..PathFacts::default()
    };
    record(&mut summary, "/home/ann/app/target", dir);
    let token = finding(SecretKind::GithubToken);
    let secret = PathFacts {
        size: 10,
        findings: &token,
        ..PathFacts::default()
    };
    record(&mut summary, "/home/ann/notes.txt", secret);
    record(&mut summary, "/etc/hosts", file(100));
    let restored = PathFacts {
        size: 10,
        restores: 3,
        ..PathFacts::default()
    };
    record(&mut summary, "/home/ann/report.odt", restored);

    assert_eq!(
        summary.class(Class::Ephemeral),
        Tally {
            files: 4,
            bytes: (3 << 30) + 3 * 1024
        }
    );
    assert_eq!(
        summary.class(Class::Normal),
        Tally {
            files: 1,
            bytes: 10
        }
    );
    let rules = summary.rules(Class::Ephemeral);
    let names: Vec<(&str, u64, u64)> = rules
        .iter()
        .map(|r| (r.rule.as_str(), r.scopes, r.files))
        .collect();
    assert_eq!(names, [("target/", 1, 1), ("node_modules", 2, 3)]);
    assert_eq!(summary.sensitive(), ["/home/ann/notes.txt"]);
    assert_eq!(summary.most_restored(5), [("/home/ann/report.odt", 3)]);
    assert_eq!(
        summary.suggestions(),
        [
            "exclude 3.0 GiB of caches: target/ ×1, node_modules ×2",
            "1 file holds secrets: /home/ann/notes.txt",
            "this file is restored most often: /home/ann/report.odt (×3)",
            "check that every backup keeps 110 B of critical data: /etc ×1, restored ×1",
        ]
    );

    let mut many = Summary::new();
    for i in 0..12 {
        record(&mut many, &format!("/home/ann/n{i:02}.txt"), secret);
        let often = PathFacts {
            restores: 1 + i,
            ..PathFacts::default()
        };
        record(&mut many, &format!("/srv/r{i:02}"), often);
    }
    let lines = many.suggestions();
    assert_eq!(
        lines[0],
        "12 files hold secrets: /home/ann/n00.txt, /home/ann/n01.txt, /home/ann/n02.txt \
         and 9 more"
    );
    assert_eq!(
        lines[1],
        "these 12 files are restored most often: /srv/r11 (×12), /srv/r10 (×11), \
         /srv/r09 (×10), ..."
    );
    assert!(Summary::new().suggestions().is_empty());
}

#[test]
fn byte_units() {
    assert_eq!(human_bytes(0), "0 B");
    assert_eq!(human_bytes(1023), "1023 B");
    assert_eq!(human_bytes(1024), "1.0 KiB");
    assert_eq!(human_bytes(1536), "1.5 KiB");
    assert_eq!(human_bytes(1024 * 1024 - 1), "1.0 MiB");
    assert_eq!(human_bytes(3_435_973_837), "3.2 GiB");
    assert_eq!(human_bytes(5 << 40), "5.0 TiB");
}
