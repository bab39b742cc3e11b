//! Tests of the content scanners.
//!
//! Fake tokens are split with `concat!` so that this file does not look like a leak to
//! scanners (ours included) that read the source.

use std::collections::HashSet;

use super::secrets::{iban_valid, luhn_valid, scan, MAX_MATCH, PERSONAL_DATA_EMAILS};
use super::*;

const AWS_KEY_ID: &str = concat!("AKIA", "Q3EGRTVZ5XK7PLMN");
const AWS_SECRET: &str = concat!("q8Xk2Rv/", "Lz4mWp9sT1yBnC0dHfJ6gUaE3iO7tK5e");
/// AWS's documented example keys, quoted in documentation everywhere: no secrets.
const AWS_EXAMPLES: &str = concat!(
    "aws_access_key_id = AKIA",
    "IOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/",
    "K7MDENG/bPxRfiCYEXAMPLEKEY\n"
);
const GITHUB: &str = concat!("ghp_", "u8jzPde0IgxLd6GncfBAepfJBd0Kh8oOOL8d");
const GITHUB_PAT: &str = concat!(
    "github_pat_",
    "KLzdocJ2isAjIhKtJ0RlgL_KOmxgJTeKdNnFRIBXuDL7DxtpYlSXpfKtHF4vUCsMehGAkWvj7FAc9QeWJK"
);
const GITLAB: &str = concat!("glpat-", "Y40uvSwMFLZDe1f8rESQ");
const GOOGLE: &str = concat!("AIza", "ihN5KXSc7Tvo-hBKqFYY-kv5ZJr3J1TWDtk");
const STRIPE: &str = concat!("sk_", "live_", "ljoQoaF1LlqsajAIxNKu8iS2");
const SLACK: &str = concat!(
    "xoxb-",
    "123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
);
const JWT: &str = concat!(
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.",
    "eyJzdWIiOiI0NzExIiwibmFtZSI6IkFubiBMZWUiLCJpYXQiOjE3MzMyMjI0MDB9.",
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
);
const RSA_KEY: &str = concat!(
    "-----BEGIN RSA ",
    "PRIVATE KEY-----\nMIIEowIBAAKCAQEAx4Nk1sF3nQ8rE2kP0c9uT7yWv1mZ\n",
    "-----END RSA PRIVATE KEY-----\n"
);

fn with(options: ScanOptions, text: &str) -> Vec<SecretKind> {
    scan(text.as_bytes(), options)
        .into_iter()
        .map(|f| f.kind)
        .collect()
}

fn found(text: &str) -> Vec<SecretKind> {
    with(ScanOptions::default(), text)
}

fn env(text: &str) -> Vec<SecretKind> {
    let options = ScanOptions {
        env_file: true,
        ..ScanOptions::default()
    };
    with(options, text)
}

fn streamed(bytes: &[u8], piece: usize) -> Vec<Finding> {
    let mut scanner = SecretScanner::new(ScanOptions::default());
    for chunk in bytes.chunks(piece) {
        scanner.feed(chunk);
    }
    scanner.finish()
}

#[test]
fn pem_private_keys() {
    use SecretKind::PrivateKey;
    assert_eq!(found(RSA_KEY), [PrivateKey]);
    for label in ["", "EC ", "DSA ", "OPENSSH ", "ENCRYPTED "] {
        let key = format!("-----BEGIN {label}PRIVATE KEY-----\r\nMIIFHDBOBgkqhkiG9w0BBQ0wQTApBgkqhkiG9w0BBQwwHAQIJ8hKqY2mU3oCAggA\n");
        assert_eq!(found(&key), [PrivateKey], "{label}");
    }
    // Inside a JSON string, with escaped line breaks.
    let json = r#"{"private_key": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n"}"#;
    assert_eq!(found(json), [PrivateKey]);
    // Shortened in documentation: no key.
    let doc = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC...\n...\n";
    assert!(found(doc).is_empty());
    // A legacy encrypted key.
    let legacy = "-----BEGIN DSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: x\n";
    assert_eq!(found(legacy), [PrivateKey]);
    let pgp = "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBF8AAAABCADI0123456789abcdef\n";
    assert_eq!(found(pgp), [SecretKind::PgpPrivateKey]);

    // Public keys, certificates, and code that only names the header.
    assert!(found("-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A\n").is_empty());
    assert!(found("-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIEAgAAuTANBgkq\n").is_empty());
    assert!(found("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQENBF8AAAAB\n").is_empty());
    assert!(found("if line == \"-----BEGIN RSA PRIVATE KEY-----\" {").is_empty());
    assert!(found("const H: &str = \"-----BEGIN RSA PRIVATE KEY-----\\n-----END\";").is_empty());
}

#[test]
fn putty_keys() {
    let key = "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: x\n";
    assert_eq!(found(key), [SecretKind::PuttyKey]);
    assert_eq!(found(&format!("# a key\n{key}")), [SecretKind::PuttyKey]);
    assert!(found("the format starts with PuTTY-User-Key-File-2: and a type").is_empty());
}

#[test]
fn aws_credentials() {
    let file = format!(
        "[default]\naws_access_key_id = {AWS_KEY_ID}\naws_secret_access_key = {AWS_SECRET}\n"
    );
    assert_eq!(
        found(&file),
        [SecretKind::AwsAccessKeyId, SecretKind::AwsSecretAccessKey]
    );
    let json = format!("{{\"aws_secret_access_key\": \"{AWS_SECRET}\"}}");
    assert_eq!(found(&json), [SecretKind::AwsSecretAccessKey]);
    let shell = format!("export AWS_SECRET_ACCESS_KEY={AWS_SECRET}\n");
    assert_eq!(found(&shell), [SecretKind::AwsSecretAccessKey]);
    let session = concat!("key=", "ASIA", "D5ZZZZG6ZDMEN4KH;");
    assert_eq!(found(session), [SecretKind::AwsAccessKeyId]);

    assert!(found(AWS_EXAMPLES).is_empty());
    // Too short, too long, inside a word.
    assert!(found(&format!("id {}", &AWS_KEY_ID[..19])).is_empty());
    assert!(found(&format!("id {AWS_KEY_ID}X")).is_empty());
    assert!(found(&format!("id X{AWS_KEY_ID}")).is_empty());
    assert!(found(&format!("aws_secret_access_key = {}", &AWS_SECRET[..39])).is_empty());
    assert!(found(&format!("aws_secret_access_key: {AWS_SECRET}xyz")).is_empty());
}

#[test]
fn service_tokens() {
    for (token, kind) in [
        (GITHUB, SecretKind::GithubToken),
        (GITHUB_PAT, SecretKind::GithubToken),
        (GITLAB, SecretKind::GitlabToken),
        (GOOGLE, SecretKind::GoogleApiKey),
        (STRIPE, SecretKind::StripeKey),
        (SLACK, SecretKind::SlackToken),
        (JWT, SecretKind::Jwt),
    ] {
        assert_eq!(found(token), [kind], "{token}");
        assert_eq!(found(&format!("token: \"{token}\"\n")), [kind], "{token}");
        assert!(
            found(&format!("x{token}")).is_empty(),
            "inside a word: {token}"
        );
    }
    // Placeholders and near misses.
    let negatives = [
        concat!("ghp_", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
        concat!("ghp_", "u8jzPde0IgxLd6GncfBAepfJ"),
        concat!("glpat-", "abc123"),
        concat!("AIza", "ihN5KXSc7Tvo-hBKqFYY-kv5ZJr3J1TWDt"),
        concat!("sk_", "test_", "ljoQoaF1LlqsajAIxNKu8iS2"),
        concat!("xoxb-", "abcdefghijklmnop"),
        concat!("xoxb-", "12345"),
        "eyJhbGciOiJIUzI1NiJ9",
        "eyJhbGciOiJIUzI1NiJ9.payload.signature",
        // jwt.io's example token.
        concat!(
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.",
            "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.",
            "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
        ),
    ];
    for text in negatives {
        assert!(found(text).is_empty(), "{text}");
    }
}

#[test]
fn env_assignments() {
    use SecretKind::EnvSecret;
    assert_eq!(env("DB_PASSWORD=s3cr3t-Pa55word\n"), [EnvSecret]);
    assert_eq!(
        env("RABBITMQ_DEFAULT_PASS=rEk2vmU3viVe3A0YcsArwXTK\n"),
        [EnvSecret]
    );
    assert_eq!(
        env("export API_TOKEN=\"a8f5f167f44f4964e6c998dee827110c\"\n"),
        [EnvSecret]
    );
    assert_eq!(
        env("  stripe_api_key = 'Zm9vYmFyYmF6cXV4' # prod\n"),
        [EnvSecret]
    );
    assert_eq!(
        env("NAME=app\nJWT_SECRET=9f8e7d6c5b4a\nPORT=8080\n"),
        [EnvSecret]
    );
    assert_eq!(
        env("DATABASE_PASSWORD=postgres://u:hunter22@db/x\n"),
        [EnvSecret, SecretKind::UrlCredentials]
    );
    // Not secrets: numbers, placeholders, references, paths, plain URLs, short values,
    // comments, names that hold no secret.
    for line in [
        "PASSWORD_MIN_LENGTH=8",
        "TOKEN_TTL=3600",
        "API_TOKEN=changeme",
        "SECRET_KEY=${SECRET_KEY}",
        "SECRET_KEY=$SECRET_KEY",
        "DB_PASSWORD=<your password here>",
        "DB_PASSWORD=xxxxxxxx",
        "DB_PASSWORD=",
        "DB_PASSWORD=abc",
        "DB_PASSWORD=   # set me",
        "PASSWORD_FILE=/run/secrets/db",
        "TOKEN_URL=https://auth.example.com/oauth/token",
        "# DB_PASSWORD=s3cr3t-Pa55word",
        "DATABASE_HOST=db.internal.example",
        "USE_TOKEN=true",
    ] {
        assert!(env(line).is_empty(), "{line}");
    }
    // Only in environment files.
    assert!(found("DB_PASSWORD=s3cr3t-Pa55word\n").is_empty());
}

#[test]
fn env_file_names() {
    for path in [
        "/srv/app/.env",
        "/srv/app/.env.production",
        "/srv/app/.env.local",
        "/srv/app/prod.env",
        "/home/ann/src/x/.envrc",
        ".env",
    ] {
        assert!(is_env_file(path), "{path}");
    }
    for path in [
        "/srv/app/.env.example",
        "/srv/app/.env.sample",
        "/srv/app/.env.template",
        "/srv/app/environment.py",
        "/srv/app/.envoy",
        "/srv/app/.env/config",
    ] {
        assert!(!is_env_file(path), "{path}");
    }
    assert!(ScanOptions::for_path("/srv/app/.env").env_file);
    assert!(!ScanOptions::for_path("/srv/app/main.rs").env_file);
}

#[test]
fn luhn_and_iban_checks() {
    for valid in [
        "4111 1111 1111 1111",
        "5555555555554444",
        "378282246310005",
        "6011111111111117",
        "3530111333300000",
        "79927398713",
    ] {
        assert!(luhn_valid(valid), "{valid}");
    }
    for invalid in [
        "4111111111111112",
        "79927398710",
        "4111-1111-1111-111x",
        "1",
    ] {
        assert!(!luhn_valid(invalid), "{invalid}");
    }
    for valid in [
        "GB82 WEST 1234 5698 7654 32",
        "DE89 3704 0044 0532 0130 00",
        "FR14 2004 1010 0505 0001 3M02 606",
        "NL91ABNA0417164300",
        "ES9121000418450200051332",
        "CH9300762011623852957",
        "BE68539007547034",
    ] {
        assert!(iban_valid(valid), "{valid}");
    }
    for invalid in [
        "GB82 WEST 1234 5698 7654 33",
        "DE89370400440532013001",
        "GB82WEST123456987654",
        "XX82WEST12345698765432",
        "gb82west12345698765432",
        "GB",
    ] {
        assert!(!iban_valid(invalid), "{invalid}");
    }
}

#[test]
fn card_numbers() {
    use SecretKind::CardNumber;
    let prose = "Please charge 4111 1111 1111 1111 or 5555-5555-5555-4444, \
                 or else the Amex 378282246310005.";
    assert_eq!(found(prose), [CardNumber, CardNumber, CardNumber]);
    for card in ["6011111111111117", "3530111333300000", "2223003122003222"] {
        assert_eq!(found(&format!("card: {card}\n")), [CardNumber], "{card}");
    }
    assert_eq!(found("name,card\nAnn,4012888888881881\n"), [CardNumber]);
    for text in [
        "4111111111111112",         // fails the Luhn check
        "1234567890123456",         // no issuer, and a sequence
        "4444444444444444",         // one digit
        "0.4111111111111111",       // a decimal fraction
        "id4111111111111111",       // inside a word
        "4111111111111111.5",       // a decimal number
        "41111111111111110000",     // too long
        "4111 1111 1111 111",       // a length Visa does not issue
        "4111 11 1111 1111 1111",   // not grouped as a card is
        "3782 822463 10005 0",      // Amex with a digit too many
        "v1.4111111111111111",      // a version
        "/items/4111111111111111/", // a path
    ] {
        assert!(found(text).is_empty(), "{text}");
    }
    // A file of numbers: one in ten passes the Luhn check by chance, so a lone valid one
    // among invalid candidates does not count.
    let table = "4111111111111111\n4111111111111112\n4111111111111113\n4111111111111114\n";
    assert!(found(table).is_empty());
    // Half of them valid: bare runs of digits still need a word that names a card, or a list
    // of at least three that nearly all pass (a hash in a JSON file passes one time in ten).
    let half = "4111111111111111\n4111111111111112\n5555555555554444\n5555555555554443\n";
    assert!(found(half).is_empty());
    let named =
        "card 4111111111111111\n4111111111111112\nVisa: 5555555555554444\n5555555555554443\n";
    assert_eq!(found(named), [CardNumber, CardNumber]);
    let cards = "4111111111111111\n5555555555554444\n378282246310005\n4012888888881881\n";
    assert_eq!(found(cards), [CardNumber; 4]);
    assert!(found("{\"local\":[{\"hash\":4111111111111111,\"dep\":12}]}").is_empty());
    // Numbers in a list are not joined into one.
    let list = "4111111111111111 5555555555554444 378282246310005";
    assert_eq!(found(list), [CardNumber, CardNumber, CardNumber]);
}

#[test]
fn ibans_in_text() {
    use SecretKind::Iban;
    assert_eq!(
        found("Pay to GB82 WEST 1234 5698 7654 32 by Friday."),
        [Iban]
    );
    assert_eq!(found("IBAN: DE89370400440532013000."), [Iban]);
    assert_eq!(found("FR14 2004 1010 0505 0001 3M02 606\n"), [Iban]);
    for text in [
        "GB82 WEST 1234 5698 7654 33",
        "GB82WEST12345698765432X",
        "XGB82WEST12345698765432",
        "gb82west12345698765432",
        "GB82 WEST 1234 5698 7654 3210",
        "DE89 3704 0044 0532 0130",
    ] {
        assert!(found(text).is_empty(), "{text}");
    }
}

#[test]
fn bulk_personal_data() {
    let people = |n: usize, bracketed: bool| -> String {
        (0..n)
            .map(|i| {
                let address = format!("person{i}.name@mail{}.example.org", i % 7);
                if bracketed {
                    format!("Person {i} <{address}>\n")
                } else {
                    format!("{i},Person {i},{address},+49 30 1234{i}\n")
                }
            })
            .collect()
    };
    let csv = people(PERSONAL_DATA_EMAILS + 10, false);
    let findings = scan(csv.as_bytes(), ScanOptions::default());
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].kind, SecretKind::PersonalData);
    assert_eq!(findings[0].offset, csv.find("person0").unwrap() as u64);
    assert!(found(&people(PERSONAL_DATA_EMAILS - 1, false)).is_empty());
    // Credits and copyright notices write addresses in angle brackets.
    assert!(found(&people(200, true)).is_empty());
    assert!(found(&"write to ann@example.org\n".repeat(100)).is_empty());
    // Decorators, matrix products and user@host are no addresses.
    assert!(found(&"@property\nx = a@b.T\nssh root@localhost\n".repeat(100)).is_empty());
}

#[test]
fn offsets_and_limits() {
    let text = format!("key: {AWS_KEY_ID}\n");
    assert_eq!(
        scan(text.as_bytes(), ScanOptions::default()),
        [Finding {
            kind: SecretKind::AwsAccessKeyId,
            offset: 5
        }]
    );
    let many = format!("{AWS_KEY_ID}\n").repeat(10);
    let options = ScanOptions {
        max_findings: 3,
        ..ScanOptions::default()
    };
    assert_eq!(scan(many.as_bytes(), options).len(), 3);
    assert!(scan(b"", ScanOptions::default()).is_empty());
}

/// A text with one secret of each kind, far enough apart that pieces of any size cut through
/// some of them.
fn mixed_text() -> String {
    let filler = "lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(20);
    let mut text = String::new();
    let secrets = [
        RSA_KEY.to_string(),
        "PuTTY-User-Key-File-2: ssh-rsa\n".to_string(),
        format!("aws_access_key_id = {AWS_KEY_ID}\n"),
        format!("aws_secret_access_key = {AWS_SECRET}\n"),
        format!("{GITHUB} {GITHUB_PAT} {GITLAB} {GOOGLE} {STRIPE} {SLACK}\n"),
        format!("token {JWT}\n"),
        "card 4111 1111 1111 1111 and 378282246310005\n".to_string(),
        "-----BEGIN PGP PRIVATE KEY BLOCK-----\nVersion: x\n\nlQOYBF8AAAAB\n".to_string(),
        "iban GB82 WEST 1234 5698 7654 32\n".to_string(),
    ];
    for secret in secrets {
        text.push_str(&filler);
        text.push('\n');
        text.push_str(&secret);
    }
    for i in 0..60 {
        text.push_str(&format!("{i};user{i}@example{}.com\n", i % 5));
    }
    text.push_str(&filler);
    text
}

#[test]
fn streaming_gives_the_same_findings_for_any_pieces() {
    let text = mixed_text();
    let whole = scan(text.as_bytes(), ScanOptions::default());
    let kinds: HashSet<SecretKind> = whole.iter().map(|f| f.kind).collect();
    assert_eq!(kinds.len(), 14, "{whole:?}");
    assert!(!kinds.contains(&SecretKind::EnvSecret));
    for piece in [1, 2, 7, 100, 1000, MAX_MATCH, 4096, 100_000] {
        assert_eq!(streamed(text.as_bytes(), piece), whole, "pieces of {piece}");
    }
}

#[test]
fn matches_across_piece_boundaries() {
    let filler = "word ".repeat(600);
    for secret in [
        format!("id {AWS_KEY_ID} end"),
        format!("x {RSA_KEY}"),
        format!("t {JWT} ."),
        "pay 5555 5555 5555 4444 now".to_string(),
        "to GB82 WEST 1234 5698 7654 32.".to_string(),
        "PuTTY-User-Key-File-2: ssh-rsa".to_string(),
    ] {
        // Long enough on both sides that matches are tried while feeding, not only at the end.
        let text = format!("{filler}\n{secret}\n{filler}");
        let bytes = text.as_bytes();
        let whole = scan(bytes, ScanOptions::default());
        assert_eq!(whole.len(), 1, "{secret}");
        let start = filler.len() - 40;
        for cut in start..start + secret.len() + 80 {
            let mut scanner = SecretScanner::new(ScanOptions::default());
            scanner.feed(&bytes[..cut]);
            scanner.feed(&bytes[cut..]);
            assert_eq!(scanner.finish(), whole, "{secret} cut at {cut}");
        }
    }
    // Far into a stream, after the buffer was compacted: the offset is still the stream's.
    let prefix = "word ".repeat(20_000);
    let text = format!("{prefix}{AWS_KEY_ID} and more");
    let findings = streamed(text.as_bytes(), 333);
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].offset, prefix.len() as u64);
}

#[test]
fn which_files_to_scan() {
    for magic in [
        None,
        Some("text"),
        Some("binary"),
        Some("sqlite"),
        Some("empty"),
    ] {
        assert!(should_scan(magic), "{magic:?}");
    }
    for magic in [
        "png", "jpeg", "zip", "gzip", "zstd", "mp4", "pdf", "random", "elf",
    ] {
        assert!(!should_scan(Some(magic)), "{magic}");
    }
}

#[test]
fn serialized_names() {
    for kind in SecretKind::ALL {
        let json = serde_json::to_string(&kind).unwrap();
        assert_eq!(json, format!("\"{}\"", kind.as_str()));
    }
    for class in Class::ALL {
        let json = serde_json::to_string(&class).unwrap();
        assert_eq!(json, format!("\"{class}\""));
    }
    let finding = Finding {
        kind: SecretKind::AwsAccessKeyId,
        offset: 7,
    };
    assert_eq!(
        serde_json::to_string(&finding).unwrap(),
        r#"{"kind":"aws_access_key_id","offset":7}"#
    );
}

#[test]
fn an_indented_key_in_yaml_is_found() {
    let yaml = "tls:\n  key: |\n    -----BEGIN PRIVATE KEY-----\n    MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n    -----END PRIVATE KEY-----\n";
    assert_eq!(found(yaml), [SecretKind::PrivateKey]);
}

#[test]
fn card_numbers_in_csv_columns_are_found() {
    let csv = "name,card_number,expiry\nanna,4111111111111111,12/29\nben,5555555555554444,01/30\ncarla,378282246310005,07/28\n";
    assert_eq!(found(csv), [SecretKind::CardNumber; 3]);
}

/// Secrets placed at every offset around the scanner's region boundaries (each feed scans up
/// to MAX_MATCH bytes before the end of what it holds), fed in pieces of many sizes: the same
/// findings as one scan of the whole.
#[test]
fn findings_do_not_depend_on_where_the_stream_is_cut() {
    let secrets = [
        AWS_KEY_ID,
        GITHUB,
        "card 4111 1111 1111 1111",
        "IBAN GB82WEST12345698765432",
        "ann@example.org",
    ];
    for (k, secret) in secrets.iter().enumerate() {
        for shift in [0usize, 1, 2, 3, 5, 700, 1021, 1022, 1023, 1024, 1025] {
            let mut text = "filler text, nothing here; ".repeat(90);
            text.truncate(shift + 10 * k);
            text.push(' ');
            text.push_str(secret);
            text.push(' ');
            text.push_str(&"more words follow here. ".repeat(120));
            let whole = scan(text.as_bytes(), ScanOptions::default());
            for piece in [1usize, 7, 64, 1000, 1023, 4096] {
                let mut s = SecretScanner::new(ScanOptions::default());
                for c in text.as_bytes().chunks(piece) {
                    s.feed(c);
                }
                assert_eq!(s.finish(), whole, "{secret} at {shift}, pieces of {piece}");
            }
            let expect_some = !secret.contains('@');
            assert_eq!(
                !whole.is_empty(),
                expect_some,
                "{secret} at {shift}: {whole:?}"
            );
        }
    }
}

#[test]
fn url_credentials_service_tokens_and_assigned_secrets() {
    use SecretKind::{AssignedSecret, PrivateKey, ServiceToken, UrlCredentials};
    for (text, kind) in [
        (
            "url = postgres://app:Xq7-vB2kLm9@db.internal:5432/app\n",
            UrlCredentials,
        ),
        (
            "REDIS=redis://:2fSflzEZrmFG8baK1Nv@cache:6379/2",
            UrlCredentials,
        ),
        (
            concat!(
                "token = \"dop_v1_",
                "36336f47ff65f4fbfcad9ae71d95235870e6e243472702b8416f892841758e35\""
            ),
            ServiceToken,
        ),
        (
            concat!("export VAULT_ADDR=x VT=hvs.", "tOUoKsphO6oGlzRXqU9hxhcV"),
            ServiceToken,
        ),
        (
            concat!("mg = Mailgun('key-", "eb945eacc0da756a8a31c08c8069ef17')"),
            ServiceToken,
        ),
        (
            "SECRET_KEY = 'p4rk(yg$45-j%bvt^n(+(&4ma-=_&=+ipa9oz)&+4#jo8!*9x9'",
            AssignedSecret,
        ),
        (
            "  jwtSecret: 'dxOGERB7dnwi3FkdX2MgPWHqpk+5bZyiwFPynMmKIedM',",
            AssignedSecret,
        ),
        (
            "define( 'DB_PASSWORD', 'quartz-falcon-maple94' );",
            AssignedSecret,
        ),
        (
            "api_key = c8a871b7f385c8e6fc3bf697e31b30cb-435f834e",
            AssignedSecret,
        ),
        (
            "<server><password>J4?Nbtp_2#U?*RB9yj</password></server>",
            AssignedSecret,
        ),
        (
            "\"Server=db;User Id=app;Password=falcon_6m9c23$;Encrypt=True\"",
            AssignedSecret,
        ),
        (
            concat!("password: dckr_pat_", "Pw2ACJ8kbEPxvfmS-gURePzRRaD"),
            ServiceToken,
        ),
        (
            concat!("hf_", "yJDIKGAQSmSkdtxbrZfdPzdlqlzfSQNTLr"),
            ServiceToken,
        ),
        (
            concat!(
                "\"webhook_url\": \"https://discord.com/api/webhooks/0206828164539774422/",
                "iHSsQWVt6U_VsZmHRR6VDpQhXWokM-v5XGXBNfhLhDPUtVvfCA2D_H4Wg3_D5M-FjW6r\""
            ),
            ServiceToken,
        ),
        (
            "\t\t\"auth\": \"cHBhdGVsOl9ubzY9TStPYTJiM0gmT2c9cnVtNipYQzBs\"",
            ServiceToken,
        ),
        (
            "\"Server=db02,1433;User Id=r;Password=vJXZ=hKFWPfGC4#SGVg9P?;\"",
            AssignedSecret,
        ),
    ] {
        assert_eq!(found(text), [kind], "{text}");
    }
    // A key in base64, as Kubernetes and kubeconfig files hold it.
    let pem = format!(
        "-----BEGIN RSA PRIVATE KEY-----\n{}\n",
        "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun"
    );
    let b64 = base64_encode(pem.as_bytes());
    assert_eq!(found(&format!("client-key-data: {b64}\n")), [PrivateKey]);
    // A key in source code, one string per line.
    let java = "KEY = \"-----BEGIN PRIVATE KEY-----\\n\"\n        + \"MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\\n\"";
    assert_eq!(found(java), [PrivateKey]);
    // Not secrets: placeholders, references, names of fields, comparisons, public tokens,
    // templates, URLs without a password or with one that says it is none.
    for text in [
        "password = \"changeme-please-12\"",
        "password: ${DB_PASSWORD}",
        "password: \"{{ vault_db_password }}\"",
        "if token == \"a8f5f167f44f4964e6c998dee8\":",
        "TOKEN_PATTERN = \"[A-Za-z0-9]{32}\"",
        "\"token\": \"tok_7WDvMXvdfBtE1B6M5pTvXVTk\"",
        "publishable_key: pk_live_51H8aXyZabcdefghijklmnop",
        "password_reset_url = \"https://example.org/reset\"",
        "DATABASE_URL=\"mysql://db_user:db_password@127.0.0.1:3306/db_name\"",
        "git clone https://github.com/org/repo.git",
        "token: short1",
        // A registry login whose secret is a placeholder (`user:changeme`).
        "\"auth\": \"dXNlcjpjaGFuZ2VtZQ==\"",
        "DB_PASSWORD: vault:secret/data/shop/db#password9",
        "<password>${env.PASSWORD}</password>",
        "token: node.colon2_token,",
        "secretbox_easy2_SOURCES = secretbox_easy2.c",
    ] {
        assert!(found(text).is_empty(), "{text}: {:?}", found(text));
    }
}

fn base64_encode(b: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for k in 0..4 {
            if k <= c.len() {
                out.push(T[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
