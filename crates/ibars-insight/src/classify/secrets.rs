//! Content scanners: credentials, payment data and bulk personal data in a file's bytes.
//!
//! A [`SecretScanner`] reads a file as a stream: [`SecretScanner::feed`] takes the bytes in
//! pieces of any size (the first KiB of a file, or the chunks a backup reads anyway), and a
//! secret that straddles two pieces is found all the same: the scanner holds back the last
//! [`MAX_MATCH`] bytes until the next piece or [`SecretScanner::finish`]. The findings never
//! depend on where the stream was cut.
//!
//! Every matcher is a small hand-written one (in `matchers.rs`), anchored on the bytes that
//! start its match, with word boundaries on both sides; they are listed with [`SecretKind`].
//! Keeping false positives rare matters more than catching every odd spelling: a warning on
//! one clean file in a hundred would teach users to ignore it.
//!
//! Which files to scan is the caller's choice. [`should_scan`] says no to compressed, media and
//! executable formats (by the class `ibars_core::features::magic` gives their first bytes): in
//! compressed bytes a match is chance, and what a text secret would look like is not there.

use std::collections::HashSet;
use std::sync::OnceLock;

use aho_corasick::AhoCorasick;

use serde::{Deserialize, Serialize};

use super::matchers::{
    assigned_secret, card_number, domain_len, env_secret, iin_matches, is_local, luhn, secret_word,
    token, trivial, url_credentials,
};

pub use super::matchers::{iban_valid, luhn_valid};

/// The most bytes a match can span: a start position is only tried once this many bytes
/// after it are known (or the stream has ended).
pub const MAX_MATCH: usize = 1024;

/// Bytes kept before the next start position, for matchers that look back (an e-mail address's
/// local part, the byte before a token).
const LOOKBEHIND: usize = 80;

/// The buffer is only shifted once this many bytes are done with.
const COMPACT_AT: usize = 16 * 1024;

/// Distinct e-mail addresses (not in angle brackets) that make a file bulk personal data.
pub const PERSONAL_DATA_EMAILS: usize = 20;

/// At most this many distinct e-mail addresses and card numbers are remembered per file.
const MAX_DISTINCT: usize = 4096;

/// What a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretKind {
    /// A PEM private key: `-----BEGIN [RSA |EC |DSA |OPENSSH |ENCRYPTED ]PRIVATE KEY-----`
    /// followed by a line break (also written `\n` inside a string) and base64 or a
    /// `Proc-Type:` header. A header alone, as in code that parses keys, is not a key.
    PrivateKey,
    /// An armored OpenPGP private key block.
    PgpPrivateKey,
    /// A PuTTY private key file: `PuTTY-User-Key-File-<n>:` at the start of a line.
    PuttyKey,
    /// An AWS access key id: `AKIA` or `ASIA` and 16 upper-case letters or digits.
    AwsAccessKeyId,
    /// `aws_secret_access_key` (any case), `=` or `:`, and 40 base64 characters.
    AwsSecretAccessKey,
    /// A GitHub token: `ghp_`, `gho_`, `ghu_`, `ghs_` or `ghr_` and at least 36 letters and
    /// digits, or `github_pat_` and at least 40.
    GithubToken,
    /// A GitLab personal access token: `glpat-` and at least 20 characters.
    GitlabToken,
    /// A Slack token: `xoxb-`, `xoxa-`, `xoxp-`, `xoxr-` or `xoxs-` and at least 10 characters
    /// with a digit.
    SlackToken,
    /// A live Stripe secret or restricted key: `sk_live_` or `rk_live_` and at least 16
    /// characters.
    StripeKey,
    /// A Google API key: `AIza` and 35 characters.
    GoogleApiKey,
    /// A JSON Web Token: two base64url JSON objects (`eyJ...`) and a signature, joined by dots.
    Jwt,
    /// In an environment file only ([`ScanOptions::env_file`]): `NAME=value` where the name
    /// holds SECRET, PASSWORD, PASSWD, TOKEN, API_KEY, APIKEY, PRIVATE_KEY, ACCESS_KEY or
    /// AUTH_KEY and the value is at least 6 characters, not a number, a path, a URL without
    /// credentials, a variable reference or a placeholder (`changeme`, `<...>`, `xxx`, ...).
    EnvSecret,
    /// A payment card number: 13 to 19 digits (in groups of 4, or 4-6-5 and 4-6-4, split by
    /// single spaces or dashes, or in one run) of a known issuer and length (Visa 4, Mastercard
    /// 51-55 and 2221-2720, Amex 34 and 37, Discover 6011, 644-649 and 65, JCB 35) that pass the
    /// Luhn check and are no run of one digit or a sequence. They count only when at least
    /// half the distinct candidates of a file pass the Luhn check: in a file of numbers, one in
    /// ten passes by chance.
    CardNumber,
    /// An IBAN: a country that has them, two check digits and the country's length of
    /// upper-case letters and digits (in one run, or in groups of four after single spaces)
    /// whose remainder modulo 97 is 1.
    Iban,
    /// Bulk personal data: at least [`PERSONAL_DATA_EMAILS`] distinct e-mail addresses in the
    /// file. Addresses in angle brackets (`Ann Example <ann@example.org>`, as credits, copyright
    /// notices and mail headers write them) do not count.
    PersonalData,
    /// A URL with a password: `scheme://[user]:password@host`, the password a secret value as
    /// for [`SecretKind::EnvSecret`] (`postgres://app:s3cr3t-Pw@db/app`, `redis://:pw@host`).
    UrlCredentials,
    /// A token of a service with a recognisable prefix: DigitalOcean `dop_v1_`, Vault `hvs.`,
    /// PyPI `pypi-AgEIcHlwaS5vcmc`, npm `npm_`, Hugging Face `hf_`, Anthropic `sk-ant-`,
    /// OpenAI `sk-proj-`, SendGrid `SG.`, Shopify `shpat_` and `shpss_`, GitLab runners
    /// `glrt-`, Stripe webhooks `whsec_`, Slack webhooks `hooks.slack.com/services/`, Azure
    /// `AccountKey=` and `SharedAccessKey=`; each with its length and alphabet.
    ServiceToken,
    /// In any file but an environment file: a name holding SECRET, PASSWORD, PASSWD, TOKEN, API_KEY (or APIKEY,
    /// API-KEY) or ACCESS_KEY (any case, `jwtSecret` too) assigned (`=`, `:`, `=>`, `:=`) a
    /// value in quotes of at least 12 characters, or an unquoted one of at least 16, that mixes
    /// letters and digits, holds at least 8 distinct characters, no blank, brace, bracket or
    /// backslash, and is no placeholder or reference.
    AssignedSecret,
}

impl SecretKind {
    pub const ALL: [SecretKind; 18] = [
        SecretKind::PrivateKey,
        SecretKind::PgpPrivateKey,
        SecretKind::PuttyKey,
        SecretKind::AwsAccessKeyId,
        SecretKind::AwsSecretAccessKey,
        SecretKind::GithubToken,
        SecretKind::GitlabToken,
        SecretKind::SlackToken,
        SecretKind::StripeKey,
        SecretKind::GoogleApiKey,
        SecretKind::Jwt,
        SecretKind::EnvSecret,
        SecretKind::CardNumber,
        SecretKind::Iban,
        SecretKind::PersonalData,
        SecretKind::UrlCredentials,
        SecretKind::ServiceToken,
        SecretKind::AssignedSecret,
    ];

    /// The name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            SecretKind::PrivateKey => "private_key",
            SecretKind::PgpPrivateKey => "pgp_private_key",
            SecretKind::PuttyKey => "putty_key",
            SecretKind::AwsAccessKeyId => "aws_access_key_id",
            SecretKind::AwsSecretAccessKey => "aws_secret_access_key",
            SecretKind::GithubToken => "github_token",
            SecretKind::GitlabToken => "gitlab_token",
            SecretKind::SlackToken => "slack_token",
            SecretKind::StripeKey => "stripe_key",
            SecretKind::GoogleApiKey => "google_api_key",
            SecretKind::Jwt => "jwt",
            SecretKind::EnvSecret => "env_secret",
            SecretKind::CardNumber => "card_number",
            SecretKind::Iban => "iban",
            SecretKind::PersonalData => "personal_data",
            SecretKind::UrlCredentials => "url_credentials",
            SecretKind::ServiceToken => "service_token",
            SecretKind::AssignedSecret => "assigned_secret",
        }
    }

    /// Whether it is a private key (which makes its file critical as well as sensitive).
    pub fn is_key(self) -> bool {
        matches!(
            self,
            SecretKind::PrivateKey | SecretKind::PgpPrivateKey | SecretKind::PuttyKey
        )
    }

    /// Whether it grants access to something (rather than being personal or payment data).
    pub fn is_credential(self) -> bool {
        !matches!(
            self,
            SecretKind::CardNumber | SecretKind::Iban | SecretKind::PersonalData
        )
    }
}

/// One secret found: what it is, and the stream offset where its match starts (for bulk
/// personal data, the first address counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Finding {
    pub kind: SecretKind,
    pub offset: u64,
}

/// How to scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanOptions {
    /// Read `NAME=value` lines as environment assignments ([`SecretKind::EnvSecret`]): for files
    /// that [`is_env_file`] names so.
    pub env_file: bool,
    /// Findings kept per file, in stream order (default 100); the ones past it are dropped.
    pub max_findings: usize,
    /// A project's credits ([`is_credits_file`]): its addresses are public by intent, and
    /// make no [`SecretKind::PersonalData`].
    pub credits: bool,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            env_file: false,
            max_findings: 100,
            credits: false,
        }
    }
}

impl ScanOptions {
    /// The default options, with `env_file` set when [`is_env_file`] says `path` is one.
    pub fn for_path(path: &str) -> Self {
        ScanOptions {
            env_file: is_env_file(path),
            credits: is_credits_file(path),
            ..ScanOptions::default()
        }
    }
}

/// Whether the file at `path` lists a project's people by its name: `AUTHORS`, `CREDITS`,
/// `THANKS`, `MAINTAINERS`, `CONTRIBUTORS`, `copyright`, `ChangeLog` (any case, with any
/// extension).
pub fn is_credits_file(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    let stem = name.split('.').next().unwrap_or(&name);
    matches!(
        stem,
        "authors"
            | "credits"
            | "thanks"
            | "maintainers"
            | "contributors"
            | "copyright"
            | "changelog"
    )
}

/// Whether the file at `path` is an environment file by its name: `.env`, `.env.<anything>`,
/// `<anything>.env` or `.envrc`, but not an example or template (`.env.example`,
/// `.env.sample`, `.env.template`, `.env.dist`, ...), which holds placeholders by design.
pub fn is_env_file(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    let template = [
        ".example",
        ".sample",
        ".template",
        ".tmpl",
        ".dist",
        ".defaults",
    ]
    .into_iter()
    .any(|suffix| name.ends_with(suffix));
    !template
        && (name == ".env"
            || name == ".envrc"
            || name.starts_with(".env.")
            || (name.len() > 4 && name.ends_with(".env")))
}

/// Whether a file whose first bytes have this class (as `ibars_core::features::magic` names
/// it; `None` when unknown) is worth scanning: text, unknown binary data, SQLite, OLE and tar
/// are; compressed and media formats, fonts and executables are not.
pub fn should_scan(magic: Option<&str>) -> bool {
    matches!(
        magic,
        None | Some("text" | "binary" | "empty" | "sqlite" | "ole" | "tar")
    )
}

/// Scans a whole buffer at once.
pub fn scan(bytes: &[u8], options: ScanOptions) -> Vec<Finding> {
    let mut scanner = SecretScanner::new(options);
    scanner.feed(bytes);
    scanner.finish()
}

/// The literal starts of the token matchers (`matchers::token`), in the case they require
/// (`aws_secret_access_key` is matched in any case: written here in the two usual ones).
const ANCHORS: [&str; 42] = [
    "-----BEGIN ",
    "PuTTY-User-Key-File-",
    "AKIA",
    "ASIA",
    "AIza",
    "aws_secret_access_key",
    "AWS_SECRET_ACCESS_KEY",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "xoxb-",
    "xoxa-",
    "xoxp-",
    "xoxr-",
    "xoxs-",
    "sk_live_",
    "rk_live_",
    "eyJ",
    // Service tokens (matchers::service_token).
    "dop_v1_",
    "hvs.",
    "pypi-AgEIcHlwaS5vcmc",
    "npm_",
    "hf_",
    "sk-ant-",
    "sk-proj-",
    "SG.",
    "shpat_",
    "shpss_",
    "glrt-",
    "whsec_",
    "dckr_pat_",
    "hooks.slack.com/services/",
    "discord.com/api/webhooks/",
    "\"auth\"",
    "AccountKey=",
    "SharedAccessKey=",
    "LS0tLS1CRUdJTi",
    "key-",
];

/// The secret words of names that are assigned secrets (`matchers::assigned_secret`), in
/// the cases names are written in: lower, capitalised (camel case) and upper.
const NAMES: [&str; 20] = [
    "secret",
    "Secret",
    "SECRET",
    "password",
    "Password",
    "PASSWORD",
    "passwd",
    "PASSWD",
    "token",
    "Token",
    "TOKEN",
    "api_key",
    "API_KEY",
    "apikey",
    "apiKey",
    "APIKEY",
    "api-key",
    "access_key",
    "ACCESS_KEY",
    "accessKey",
];

/// One automaton for the anchors and the names: a single pass over the bytes. Fewer than 64
/// patterns in all, so that its SIMD prefilter (Teddy) still applies: with more, scanning ran
/// at a third of the speed.
fn anchors() -> &'static AhoCorasick {
    static AC: OnceLock<AhoCorasick> = OnceLock::new();
    AC.get_or_init(|| {
        AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::LeftmostFirst)
            .build(ANCHORS.iter().chain(&NAMES))
            .expect("the anchors are valid patterns")
    })
}

/// The positions in `[from, stop)` of `buf` where a match may start, in any order: the
/// anchors, every `@` (an e-mail address), the start of every run of at least 4 digits (a card number's first group), two
/// capitals before a run of digits (an IBAN's country and check digits), and for an `.env`
/// file every line's start. Everywhere else the matchers would find nothing, so they are not
/// tried there. A match may run past `stop` (the buffer holds [`MAX_MATCH`] bytes more).
fn candidates(buf: &[u8], from: usize, stop: usize, env: bool, out: &mut Vec<usize>) {
    let longest = ANCHORS
        .iter()
        .chain(&NAMES)
        .map(|a| a.len())
        .max()
        .unwrap_or(0);
    let hay_end = (stop + longest).min(buf.len());
    // No anchor holds another, so a search that steps past each match misses none.
    for m in anchors().find_iter(&buf[from..hay_end]) {
        let at = from + m.start();
        if at < stop {
            out.push(at);
        }
    }
    out.extend(memchr::memchr_iter(b'@', &buf[from..stop]).map(|i| from + i));
    // Digit runs starting in [from, stop + 2): an IBAN's capitals may lie 2 bytes before.
    let end = (stop + 2).min(buf.len());
    let mut q = from;
    while q < end {
        if !buf[q].is_ascii_digit() {
            q += 1;
            continue;
        }
        let start = q;
        let at_start = q == 0 || !buf[q - 1].is_ascii_digit();
        while q < buf.len() && buf[q].is_ascii_digit() {
            q += 1;
        }
        if !at_start {
            continue;
        }
        let n = q - start;
        if n >= 4 && start < stop {
            out.push(start);
        }
        if n >= 2 && start >= from + 2 && start - 2 < stop {
            let (a, b) = (buf[start - 2], buf[start - 1]);
            if a.is_ascii_uppercase() && b.is_ascii_uppercase() {
                out.push(start - 2);
            }
        }
    }
    if env {
        if from == 0 {
            out.push(0);
        }
        let lines = buf[from.saturating_sub(1)..stop.saturating_sub(1)]
            .iter()
            .enumerate()
            .filter(|(_, c)| **c == b'\n');
        out.extend(lines.map(|(i, _)| from.saturating_sub(1) + i + 1));
    }
}

/// A streaming scanner over one file's bytes.
#[derive(Debug, Clone)]
pub struct SecretScanner {
    options: ScanOptions,
    /// Bytes not done with: some already tried (kept to look back at), then the ones to try.
    buf: Vec<u8>,
    /// The stream offset of `buf[0]`.
    base: u64,
    /// The index in `buf` of the next start position to try.
    next: usize,
    findings: Vec<Finding>,
    emails: HashSet<Vec<u8>>,
    first_email: Option<u64>,
    /// Distinct card-like numbers of a known issuer and length, and the ones of them that pass
    /// the Luhn check, whose findings wait in `card_findings` until the end.
    cards_plausible: HashSet<Vec<u8>>,
    cards_valid: HashSet<Vec<u8>>,
    /// With whether each is a strong one: printed in groups, or after a word such as "card".
    card_findings: Vec<(Finding, bool)>,
    /// Where to try the matchers in the bytes being scanned (kept to reuse its memory).
    cands: Vec<usize>,
}

impl SecretScanner {
    pub fn new(options: ScanOptions) -> Self {
        SecretScanner {
            options,
            buf: Vec::new(),
            base: 0,
            next: 0,
            findings: Vec::new(),
            emails: HashSet::new(),
            first_email: None,
            cards_plausible: HashSet::new(),
            cards_valid: HashSet::new(),
            card_findings: Vec::new(),
            cands: Vec::new(),
        }
    }

    /// Scans the next bytes of the stream. Start positions in the last [`MAX_MATCH`] bytes
    /// wait for more bytes or for [`SecretScanner::finish`].
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() < MAX_MATCH {
            return;
        }
        self.scan_to(self.buf.len() - MAX_MATCH + 1);
        let done = self.next.saturating_sub(LOOKBEHIND);
        if done >= COMPACT_AT {
            let len = self.buf.len();
            self.buf.copy_within(done..len, 0);
            self.buf.truncate(len - done);
            self.base += done as u64;
            self.next -= done;
        }
    }

    /// Ends the stream: scans what is left and returns the findings, by offset.
    pub fn finish(mut self) -> Vec<Finding> {
        let len = self.buf.len();
        self.scan_to(len);
        let bulk = self.emails.len() >= PERSONAL_DATA_EMAILS && !self.options.credits;
        if let Some(offset) = self.first_email.filter(|_| bulk) {
            self.push(SecretKind::PersonalData, offset);
        }
        let cards = std::mem::take(&mut self.card_findings);
        let (valid, plausible) = (self.cards_valid.len(), self.cards_plausible.len());
        // A bare run of digits is a card number only beside a word that says so, or in a list
        // of them (random numbers of a card's shape pass the Luhn check one time in ten).
        let list = valid >= 3 && valid * 4 >= plausible * 3;
        if valid > 0 && valid * 2 >= plausible {
            for (card, strong) in cards {
                if strong || list {
                    self.push(card.kind, card.offset);
                }
            }
        }
        self.findings.sort_by_key(|f| (f.offset, f.kind));
        self.findings
    }

    fn push(&mut self, kind: SecretKind, offset: u64) {
        if self.findings.len() < self.options.max_findings {
            self.findings.push(Finding { kind, offset });
        }
    }

    /// Tries every start position before `stop`.
    fn scan_to(&mut self, stop: usize) {
        let from = self.next;
        if stop <= from {
            return;
        }
        let mut cands = std::mem::take(&mut self.cands);
        cands.clear();
        candidates(&self.buf, from, stop, self.options.env_file, &mut cands);
        cands.sort_unstable();
        cands.dedup();
        let mut p = from;
        for &q in &cands {
            if q >= p {
                p = q + self.step(q);
            }
        }
        self.cands = cands;
        self.next = p.max(stop);
    }

    /// Tries the matchers at `p`; returns how far to move on (past a match, or 1).
    fn step(&mut self, p: usize) -> usize {
        let b = self.buf[p];
        let prev = p.checked_sub(1).map(|i| self.buf[i]);
        let line_start = prev.is_none_or(|c| c == b'\n');
        let end = (p + MAX_MATCH).min(self.buf.len());
        let offset = self.base + p as u64;
        if self.options.env_file && line_start && env_secret(&self.buf[p..end]) {
            self.push(SecretKind::EnvSecret, offset);
        }
        if b == b'@' {
            if let Some(start) = url_credentials(&self.buf[..p]) {
                self.push(SecretKind::UrlCredentials, self.base + start as u64);
            }
            self.email(p);
            return 1;
        }
        if b.is_ascii_digit() {
            return self.card(p, end, prev);
        }
        // A name's secret word, which no other matcher starts with. An environment file's
        // assignments are EnvSecret's.
        if secret_word(&self.buf[p..end]) {
            if self.options.env_file {
                return 1;
            }
            let before = &self.buf[p.saturating_sub(64)..p];
            let Some((value, len)) = assigned_secret(&self.buf[p..end], before) else {
                return 1;
            };
            // A value of a known kind is reported as that kind.
            let v = p + value;
            let known = token(&self.buf[v..end], Some(self.buf[v - 1]), false);
            match known {
                Some((kind, _)) => self.push(kind, self.base + v as u64),
                None => self.push(SecretKind::AssignedSecret, offset),
            }
            return len;
        }
        let found = token(&self.buf[p..end], prev, line_start);
        match found {
            Some((kind, len)) => {
                self.push(kind, offset);
                len.max(1)
            }
            None => 1,
        }
    }

    /// Counts the e-mail address around the `@` at `at`, if there is one.
    fn email(&mut self, at: usize) {
        let buf = &self.buf;
        let floor = at.saturating_sub(64);
        let mut start = at;
        while start > floor && is_local(buf[start - 1]) {
            start -= 1;
        }
        if start == floor && floor > 0 && is_local(buf[floor - 1]) {
            return; // a local part of more than 64 bytes: no address
        }
        let bracketed = start > 0 && buf[start - 1] == b'<';
        while start < at && buf[start] == b'.' {
            start += 1;
        }
        if start == at || bracketed {
            return;
        }
        let end = (at + 254).min(buf.len());
        let Some(domain) = domain_len(&buf[at + 1..end]) else {
            return;
        };
        let address = buf[start..at + 1 + domain].to_ascii_lowercase();
        let offset = self.base + start as u64;
        if self.first_email.is_none() {
            self.first_email = Some(offset);
        }
        if self.emails.len() < MAX_DISTINCT {
            self.emails.insert(address);
        }
    }

    /// Whether a word that names a card ("card", "visa", "credit", "Kreditkarte", ...) is in
    /// the 64 bytes before `p`.
    fn card_context(&self, p: usize) -> bool {
        const WORDS: [&[u8]; 13] = [
            b"cc=",
            b"pan=",
            b"pan:",
            b"pan\"",
            b"pan'",
            b"card",
            b"karte",
            b"visa",
            b"mastercard",
            b"amex",
            b"credit",
            b"kredit",
            b"ccnum",
        ];
        let before = self.buf[p.saturating_sub(64)..p].to_ascii_lowercase();
        WORDS
            .iter()
            .any(|w| before.windows(w.len()).any(|x| x == *w))
    }

    /// Tries a card number at `p` (a digit); returns how far to move on.
    fn card(&mut self, p: usize, end: usize, prev: Option<u8>) -> usize {
        let before = p.checked_sub(2).map(|i| self.buf[i]);
        // Not inside a word, a decimal fraction, a path or a longer number.
        let blocked = match prev {
            Some(c) if c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'/' | b'+') => true,
            Some(b',') => before.is_some_and(|c| c.is_ascii_digit()),
            Some(b'-') => before.is_some_and(|c| c.is_ascii_alphanumeric()),
            _ => false,
        };
        if blocked {
            return 1;
        }
        let Some(card) = card_number(&self.buf[p..end]) else {
            return 1;
        };
        let digits = &card.digits[..card.len];
        if iin_matches(digits) && !trivial(digits) {
            if self.cards_plausible.len() < MAX_DISTINCT {
                self.cards_plausible.insert(digits.to_vec());
            }
            if luhn(digits) {
                if self.cards_valid.len() < MAX_DISTINCT {
                    self.cards_valid.insert(digits.to_vec());
                }
                if self.card_findings.len() < self.options.max_findings {
                    let strong = card.consumed > card.len || self.card_context(p);
                    self.card_findings.push((
                        Finding {
                            kind: SecretKind::CardNumber,
                            offset: self.base + p as u64,
                        },
                        strong,
                    ));
                }
            }
        }
        card.consumed
    }
}
