//! The matchers the secret scanner tries at each position (see [`super::secrets`]): small
//! hand-written ones, each anchored on the bytes that start its match, with word boundaries on
//! both sides, and the checks of card numbers (Luhn, issuers) and IBANs (mod 97).
//!
//! A matcher gets the window of the stream that starts where its match would (at most
//! [`super::secrets::MAX_MATCH`] bytes) and the byte before it, and reads nothing else.

use super::secrets::SecretKind;

/// Whether the digits pass the Luhn check; spaces and dashes between them are ignored, and
/// anything else makes the number invalid.
pub fn luhn_valid(number: &str) -> bool {
    let digits: Vec<u8> = number.bytes().filter(|&c| c != b' ' && c != b'-').collect();
    digits.len() >= 2 && digits.iter().all(u8::is_ascii_digit) && luhn(&digits)
}

/// Whether `iban` (upper case; spaces ignored) is a valid IBAN: a known country, its length,
/// and the mod-97 check.
pub fn iban_valid(iban: &str) -> bool {
    let chars: Vec<u8> = iban.bytes().filter(|&c| c != b' ').collect();
    chars.len() >= 5
        && iban_length(&chars[..2]) == Some(chars.len())
        && chars[2].is_ascii_digit()
        && chars[3].is_ascii_digit()
        && chars.iter().all(|&c| iban_char(c))
        && iban_checksum(&chars)
}

fn is_alnum(c: u8) -> bool {
    c.is_ascii_alphanumeric()
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn is_b64url(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

fn is_base64(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'+' || c == b'/' || c == b'='
}

fn iban_char(c: u8) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit()
}

pub(super) fn is_local(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn quote_or_space(c: u8) -> bool {
    matches!(c, b'"' | b'\'' | b' ' | b'\t')
}

/// Whether the byte before a match (none at the start of the stream) does not continue it.
fn left_ok(prev: Option<u8>, class: fn(u8) -> bool) -> bool {
    prev.is_none_or(|c| !class(c))
}

/// Whether the byte at `i` (none at the end) does not continue a match that ends there.
fn right_ok(w: &[u8], i: usize, class: fn(u8) -> bool) -> bool {
    w.get(i).is_none_or(|&c| !class(c))
}

/// How many bytes from `from` on are in `class`, counting at most `max`.
fn run(w: &[u8], from: usize, max: usize, class: fn(u8) -> bool) -> usize {
    w.get(from..).map_or(0, |rest| {
        rest.iter().take(max).take_while(|&&c| class(c)).count()
    })
}

/// Whether the bytes hold both a letter and a digit (as random tokens do, and placeholders
/// such as `ghp_xxxx...` do not).
fn mixed(s: &[u8]) -> bool {
    s.iter().any(u8::is_ascii_digit) && s.iter().any(u8::is_ascii_alphabetic)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The token that starts `w`, if any, with its length.
pub(super) fn token(w: &[u8], prev: Option<u8>, line_start: bool) -> Option<(SecretKind, usize)> {
    if let Some(found) = service_token(w, prev) {
        return Some(found);
    }
    match *w.first()? {
        b'-' => private_key(w),
        b'P' if line_start => putty(w).or_else(|| iban(w, prev)),
        b'A' => aws_key_id(w, prev)
            .or_else(|| google_key(w, prev))
            .or_else(|| aws_secret(w, prev))
            .or_else(|| iban(w, prev)),
        b'a' => aws_secret(w, prev),
        b'g' => github(w, prev).or_else(|| gitlab(w, prev)),
        b'x' => slack(w, prev),
        b's' | b'r' => stripe(w, prev),
        b'e' => jwt(w, prev),
        b'B'..=b'Z' => iban(w, prev),
        _ => None,
    }
}

/// Line breaks after a PEM header: real ones, and the escaped ones of a key in a string.
const BREAKS: [&[u8]; 6] = [b"\r\n", b"\n", b"\\r\\n", b"\\n", b"\\\\r\\\\n", b"\\\\n"];

fn line_break(s: &[u8]) -> usize {
    BREAKS
        .iter()
        .find(|b| s.starts_with(b))
        .map_or(0, |b| b.len())
}

fn private_key(w: &[u8]) -> Option<(SecretKind, usize)> {
    let rest = w.strip_prefix(b"-----BEGIN ")?;
    let label_len = run(rest, 0, 40, |c| {
        c.is_ascii_uppercase() || c.is_ascii_digit() || c == b' '
    });
    let label = &rest[..label_len];
    let after = rest[label_len..].strip_prefix(b"-----")?;
    let pgp = label == b"PGP PRIVATE KEY BLOCK";
    if !pgp && !label.ends_with(b"PRIVATE KEY") {
        return None;
    }
    let nl = line_break(after);
    if nl == 0 {
        return None;
    }
    // A key indented in YAML or a here-document: its lines start with blanks. A key in a
    // notebook cell (a JSON array of lines) goes on in the next string: `\n",` then `"`.
    // In source code, the next string of a concatenation (`"...\n" + "MIIE...`).
    let mut body = &after[nl..];
    if let Some(rest) = body.strip_prefix(b"\"") {
        let rest = &rest[run(rest, 0, 64, |c| {
            c.is_ascii_whitespace() || matches!(c, b',' | b'+' | b'.')
        })..];
        body = rest.strip_prefix(b"\"").unwrap_or(body);
    }
    let body = &body[run(body, 0, 16, |c| c == b' ' || c == b'\t')..];
    // A real key's lines are 64 characters or more; a shortened one in documentation
    // (`MIIEvQIBADAN...`) is not a key.
    let base64 = run(body, 0, 64, is_base64) >= 40;
    let (kind, ok) = if pgp {
        let armor = body.starts_with(b"Version:") || body.starts_with(b"Comment:");
        (
            SecretKind::PgpPrivateKey,
            base64 || armor || line_break(body) > 0,
        )
    } else {
        (
            SecretKind::PrivateKey,
            base64 || body.starts_with(b"Proc-Type:"),
        )
    };
    ok.then_some((kind, 11 + label_len + 5 + nl))
}

fn putty(w: &[u8]) -> Option<(SecretKind, usize)> {
    let rest = w.strip_prefix(b"PuTTY-User-Key-File-")?;
    let ok = rest.len() >= 2 && rest[0].is_ascii_digit() && rest[1] == b':';
    ok.then_some((SecretKind::PuttyKey, 22))
}

fn aws_key_id(w: &[u8], prev: Option<u8>) -> Option<(SecretKind, usize)> {
    // AWS's documented example keys end in EXAMPLE.
    let ok = (w.starts_with(b"AKIA") || w.starts_with(b"ASIA"))
        && !w[..w.len().min(20)].ends_with(b"EXAMPLE")
        && left_ok(prev, is_alnum)
        && run(w, 4, 17, iban_char) == 16
        && right_ok(w, 20, is_alnum);
    ok.then_some((SecretKind::AwsAccessKeyId, 20))
}

fn google_key(w: &[u8], prev: Option<u8>) -> Option<(SecretKind, usize)> {
    let ok = w.starts_with(b"AIza") && left_ok(prev, is_b64url) && run(w, 4, 36, is_b64url) == 35;
    ok.then_some((SecretKind::GoogleApiKey, 39))
}

fn aws_secret(w: &[u8], prev: Option<u8>) -> Option<(SecretKind, usize)> {
    const KEY: &[u8] = b"aws_secret_access_key";
    if !left_ok(prev, is_alnum) || w.len() < KEY.len() || !w[..KEY.len()].eq_ignore_ascii_case(KEY)
    {
        return None;
    }
    let mut i = KEY.len();
    i += run(w, i, 4, quote_or_space);
    match w.get(i).copied() {
        Some(b'=' | b':') => i += 1,
        _ => return None,
    }
    if w.get(i).copied() == Some(b'>') {
        i += 1;
    }
    i += run(w, i, 8, quote_or_space);
    let secret = |c: u8| c.is_ascii_alphanumeric() || c == b'/' || c == b'+';
    let ok = run(w, i, 41, secret) == 40
        && right_ok(w, i + 40, is_base64)
        && !contains(&w[i..i + 40], b"EXAMPLE");
    ok.then_some((SecretKind::AwsSecretAccessKey, i + 40))
}

fn github(w: &[u8], prev: Option<u8>) -> Option<(SecretKind, usize)> {
    if !left_ok(prev, is_word) {
        return None;
    }
    if let Some(rest) = w.strip_prefix(b"github_pat_") {
        let n = run(rest, 0, 255, is_word);
        return (n >= 40 && mixed(&rest[..n])).then_some((SecretKind::GithubToken, 11 + n));
    }
    let prefixed = w.len() > 4
        && w.starts_with(b"gh")
        && matches!(w[2], b'p' | b'o' | b'u' | b's' | b'r')
        && w[3] == b'_';
    if !prefixed {
        return None;
    }
    let n = run(w, 4, 255, is_alnum);
    let ok = n >= 36 && right_ok(w, 4 + n, is_word) && mixed(&w[4..4 + n]);
    ok.then_some((SecretKind::GithubToken, 4 + n))
}

fn gitlab(w: &[u8], prev: Option<u8>) -> Option<(SecretKind, usize)> {
    let rest = w.strip_prefix(b"glpat-")?;
    let n = run(rest, 0, 255, is_b64url);
    let ok = left_ok(prev, is_word) && n >= 20 && mixed(&rest[..n]);
    ok.then_some((SecretKind::GitlabToken, 6 + n))
}

fn slack(w: &[u8], prev: Option<u8>) -> Option<(SecretKind, usize)> {
    let prefixed = w.len() > 5
        && w.starts_with(b"xox")
        && matches!(w[3], b'b' | b'a' | b'p' | b'r' | b's')
        && w[4] == b'-';
    if !prefixed || !left_ok(prev, is_alnum) {
        return None;
    }
    let n = run(w, 5, 255, |c| c.is_ascii_alphanumeric() || c == b'-');
    let body = &w[5..5 + n];
    let placeholder = contains(body, b"0000000") || contains(&body.to_ascii_lowercase(), b"xxxx");
    let ok = n >= 10 && body.iter().any(u8::is_ascii_digit) && !placeholder;
    ok.then_some((SecretKind::SlackToken, 5 + n))
}

fn stripe(w: &[u8], prev: Option<u8>) -> Option<(SecretKind, usize)> {
    let prefixed = w.starts_with(b"sk_live_") || w.starts_with(b"rk_live_");
    if !prefixed || !left_ok(prev, is_word) {
        return None;
    }
    let n = run(w, 8, 255, is_alnum);
    let ok = n >= 16 && right_ok(w, 8 + n, is_word) && mixed(&w[8..8 + n]);
    ok.then_some((SecretKind::StripeKey, 8 + n))
}

/// The most base64url bytes read for a JWT's header and payload; a payload this long is
/// taken without looking for its signature (the match window ends before it).
const JWT_HEADER: usize = 300;
const JWT_PAYLOAD: usize = 600;

fn jwt(w: &[u8], prev: Option<u8>) -> Option<(SecretKind, usize)> {
    if !left_ok(prev, is_b64url) {
        return None;
    }
    let header = jwt_part(w, 0, JWT_HEADER)?;
    if w.get(header).copied() != Some(b'.') {
        return None;
    }
    let payload = jwt_part(w, header + 1, JWT_PAYLOAD)?;
    let end = header + 1 + payload;
    // jwt.io's example token, quoted in documentation everywhere.
    if w[header + 1..end].starts_with(b"eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIi") {
        return None;
    }
    if payload == 3 + JWT_PAYLOAD {
        return Some((SecretKind::Jwt, end));
    }
    if w.get(end).copied() != Some(b'.') {
        return None;
    }
    let signature = run(w, end + 1, 100, is_b64url);
    Some((SecretKind::Jwt, end + 1 + signature))
}

/// The length of a base64url JSON object at `from` (`eyJ` encodes `{"`), if at least 10
/// bytes follow its start; at most `3 + max`.
fn jwt_part(w: &[u8], from: usize, max: usize) -> Option<usize> {
    if !w.get(from..)?.starts_with(b"eyJ") {
        return None;
    }
    let n = run(w, from + 3, max, is_b64url);
    (n >= 10).then_some(3 + n)
}

/// Parts of names of variables that hold secrets.
const SECRET_NAMES: &[&[u8]] = &[
    b"SECRET",
    b"PASSWORD",
    b"PASSWD",
    b"TOKEN",
    b"API_KEY",
    b"APIKEY",
    b"PRIVATE_KEY",
    b"ACCESS_KEY",
    b"AUTH_KEY",
    // `DB_PASS`, `RABBITMQ_DEFAULT_PASS`.
    b"_PASS",
];

/// Parts of values that are placeholders, not secrets (compared in lower case).
const PLACEHOLDERS: &[&[u8]] = &[
    b"changeme",
    b"change_me",
    b"change-me",
    b"your",
    b"example",
    b"placeholder",
    b"replace",
    b"dummy",
    b"xxx",
    b"***",
    b"<",
    b"${",
    b"{{",
    b"todo",
    b"fixme",
    b"redacted",
    b"insert",
    b"sample",
    // References to a secret store, and encrypted values (sops), not the secret itself.
    b"vault:",
    b"enc[",
    b"keyvault",
    b"op://",
    b"secretsmanager",
];

/// Whole values that are no secrets (compared in lower case).
const NOT_SECRETS: &[&[u8]] = &[
    b"password",
    b"secret",
    b"undefined",
    b"disabled",
    b"enabled",
    b"required",
    b"optional",
];

/// Whether the line that starts `w` assigns a secret to a variable (`NAME=value`, maybe after
/// `export `).
pub(super) fn env_secret(w: &[u8]) -> bool {
    let line = &w[..w.iter().position(|&c| c == b'\n').unwrap_or(w.len())];
    let line = line.trim_ascii();
    let line = line
        .strip_prefix(b"export ")
        .map_or(line, |rest| rest.trim_ascii_start());
    let name_len = run(line, 0, 129, |c| {
        c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-')
    });
    if name_len == 0 || name_len > 128 || line[0].is_ascii_digit() {
        return false;
    }
    let name = line[..name_len].to_ascii_uppercase();
    let Some(value) = line[name_len..].trim_ascii_start().strip_prefix(b"=") else {
        return false;
    };
    SECRET_NAMES.iter().any(|part| contains(&name, part))
        && secret_value(env_value(value.trim_ascii_start()))
}

/// The value of an assignment: inside its quotes, or up to a ` #` comment.
fn env_value(v: &[u8]) -> &[u8] {
    if let Some(&quote) = v.first().filter(|&&c| c == b'"' || c == b'\'') {
        let inner = &v[1..];
        let end = inner
            .iter()
            .position(|&c| c == quote)
            .unwrap_or(inner.len());
        return &inner[..end];
    }
    let comment =
        (0..v.len()).find(|&i| v[i] == b'#' && (i == 0 || v[i - 1].is_ascii_whitespace()));
    v[..comment.unwrap_or(v.len())].trim_ascii_end()
}

/// Whether an assigned value looks like a real secret.
fn secret_value(v: &[u8]) -> bool {
    if v.len() < 6 || v.iter().all(u8::is_ascii_digit) || v.iter().all(|&c| c == v[0]) {
        return false;
    }
    // A variable reference, a path, a template.
    if matches!(v[0], b'$' | b'/' | b'%') || v.starts_with(b"./") || v.starts_with(b"~/") {
        return false;
    }
    let lower = v.to_ascii_lowercase();
    if contains(&lower, b"://") && !contains(&lower, b"@") {
        return false; // a URL without credentials
    }
    !PLACEHOLDERS.iter().any(|p| contains(&lower, p)) && !NOT_SECRETS.contains(&lower.as_slice())
}

/// The length of the domain at the start of `d`, if it is one: labels of letters, digits and
/// inner dashes, at least two, the last one of at least two letters.
pub(super) fn domain_len(d: &[u8]) -> Option<usize> {
    let n = run(d, 0, 253, |c| {
        c.is_ascii_alphanumeric() || c == b'-' || c == b'.'
    });
    let mut domain = &d[..n];
    while let Some(rest) = domain.strip_suffix(b".") {
        domain = rest;
    }
    let bad_label = |label: &[u8]| {
        label.is_empty() || label.len() > 63 || label.starts_with(b"-") || label.ends_with(b"-")
    };
    if domain.split(|&c| c == b'.').any(bad_label) {
        return None;
    }
    let labels = domain.split(|&c| c == b'.').count();
    let tld = domain.rsplit(|&c| c == b'.').next()?;
    let ok = labels >= 2 && tld.len() >= 2 && tld.iter().all(u8::is_ascii_alphabetic);
    ok.then_some(domain.len())
}

/// A card-like number: its digits, and the bytes it spans.
pub(super) struct CardCandidate {
    pub(super) digits: [u8; 19],
    pub(super) len: usize,
    pub(super) consumed: usize,
}

/// The card-like number that starts `w`: 13 to 19 digits, in one run or in groups a card
/// number is written in, not followed by a letter, a digit or a decimal fraction. A run of
/// more than 6 digits ends at a separator (numbers in a list are not one number).
pub(super) fn card_number(w: &[u8]) -> Option<CardCandidate> {
    let mut digits = [0u8; 19];
    let mut len = 0;
    let mut groups = [0usize; 8];
    let mut group_count = 0;
    let mut current = 0;
    let mut separator: Option<u8> = None;
    let mut i = 0;
    while let Some(&c) = w.get(i) {
        if c.is_ascii_digit() {
            if len == digits.len() {
                return None;
            }
            digits[len] = c;
            len += 1;
            current += 1;
            i += 1;
        } else if (c == b' ' || c == b'-')
            && current <= 6
            && w.get(i + 1).is_some_and(u8::is_ascii_digit)
            && separator.is_none_or(|s| s == c)
        {
            if group_count == groups.len() {
                return None;
            }
            groups[group_count] = current;
            group_count += 1;
            current = 0;
            separator = Some(c);
            i += 1;
        } else {
            break;
        }
    }
    if group_count == groups.len() {
        return None;
    }
    groups[group_count] = current;
    group_count += 1;
    match w.get(i).copied() {
        Some(c) if c.is_ascii_alphanumeric() || c == b'_' => return None,
        // A decimal fraction ("4111111111111111.5"); a comma is a CSV column's end instead,
        // since no amount has 13 or more integer digits.
        Some(b'.') if w.get(i + 1).is_some_and(u8::is_ascii_digit) => return None,
        _ => {}
    }
    let grouped = group_count == 1 || card_grouping(&groups[..group_count]);
    ((13..=19).contains(&len) && grouped).then_some(CardCandidate {
        digits,
        len,
        consumed: i,
    })
}

/// Whether digit groups are laid out as card numbers are printed: fours (the last one maybe
/// shorter), or 4-6-5 and 4-6-4.
fn card_grouping(groups: &[usize]) -> bool {
    match groups {
        [4, 6, 5] | [4, 6, 4] => true,
        [first @ .., last] => {
            groups.len() >= 4 && first.iter().all(|&g| g == 4) && (1..=4).contains(last)
        }
        [] => false,
    }
}

/// Whether the (ASCII) digits start like a card of a known issuer, at a length it issues.
pub(super) fn iin_matches(d: &[u8]) -> bool {
    let prefix = |k: usize| {
        d[..k]
            .iter()
            .fold(0u32, |acc, &c| acc * 10 + u32::from(c - b'0'))
    };
    let (p2, p3, p4) = (prefix(2), prefix(3), prefix(4));
    let n = d.len();
    if d[0] == b'4' {
        matches!(n, 13 | 16 | 19)
    } else if (51..=55).contains(&p2) || (2221..=2720).contains(&p4) {
        n == 16
    } else if p2 == 34 || p2 == 37 {
        n == 15
    } else if p2 == 36 || (300..=305).contains(&p3) {
        (14..=19).contains(&n)
    } else if p4 == 6011 || p2 == 65 || (644..=649).contains(&p3) {
        n == 16 || n == 19
    } else if p2 == 35 || p2 == 62 {
        (16..=19).contains(&n)
    } else {
        false
    }
}

/// Whether the digits are one digit repeated or a sequence (each digit one more, or one less,
/// than the one before, modulo 10).
pub(super) fn trivial(d: &[u8]) -> bool {
    let step = |k: usize| (d[k + 1] + 10 - d[k]) % 10;
    (1..d.len() - 1).all(|k| step(k) == step(0))
}

/// The Luhn check over ASCII digits.
pub(super) fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &c)| {
            let d = u32::from(c - b'0');
            match (i % 2 == 1, d * 2) {
                (true, x) if x > 9 => x - 9,
                (true, x) => x,
                (false, _) => d,
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The length of the IBANs of a country (ISO 13616), if it has them.
fn iban_length(country: &[u8]) -> Option<usize> {
    let len = match std::str::from_utf8(country).ok()? {
        "NO" => 15,
        "BE" => 16,
        "DK" | "FI" | "FO" | "GL" | "NL" => 18,
        "MK" | "SI" => 19,
        "AT" | "BA" | "EE" | "KZ" | "LT" | "LU" | "XK" => 20,
        "CH" | "HR" | "LI" | "LV" => 21,
        "BG" | "BH" | "CR" | "DE" | "GB" | "GE" | "IE" | "ME" | "RS" | "VA" => 22,
        "AE" | "GI" | "IL" | "IQ" | "TL" => 23,
        "AD" | "CZ" | "ES" | "MD" | "PK" | "RO" | "SA" | "SE" | "SK" | "TN" | "VG" => 24,
        "PT" | "ST" => 25,
        "IS" | "TR" => 26,
        "FR" | "GR" | "IT" | "MC" | "MR" | "SM" => 27,
        "AL" | "AZ" | "BY" | "CY" | "DO" | "GT" | "HU" | "LB" | "PL" | "SV" => 28,
        "BR" | "EG" | "PS" | "QA" | "UA" => 29,
        "JO" | "KW" | "MU" => 30,
        "MT" | "SC" => 31,
        "LC" => 32,
        _ => return None,
    };
    Some(len)
}

/// The mod-97 check of ISO 7064 over an IBAN's characters (upper case, no spaces).
fn iban_checksum(iban: &[u8]) -> bool {
    let mut rem = 0u32;
    for &c in iban[4..].iter().chain(&iban[..4]) {
        rem = match c {
            b'0'..=b'9' => (rem * 10 + u32::from(c - b'0')) % 97,
            b'A'..=b'Z' => (rem * 100 + u32::from(c - b'A') + 10) % 97,
            _ => return false,
        };
    }
    rem == 1
}

/// The IBAN that starts `w`, if any.
fn iban(w: &[u8], prev: Option<u8>) -> Option<(SecretKind, usize)> {
    if !left_ok(prev, is_alnum) || w.len() < 15 {
        return None;
    }
    let want = iban_length(&w[..2])?;
    if !w[2].is_ascii_digit() || !w[3].is_ascii_digit() {
        return None;
    }
    let mut chars = [0u8; 34];
    chars[..4].copy_from_slice(&w[..4]);
    let mut n = 4;
    let mut i = 4;
    if w.get(4).copied() == Some(b' ') {
        // Grouped by four: "GB82 WEST 1234 5698 7654 32".
        while n < want && w.get(i).copied() == Some(b' ') {
            let g = run(w, i + 1, 4, iban_char);
            if g == 0 || n + g > want {
                return None;
            }
            chars[n..n + g].copy_from_slice(&w[i + 1..i + 1 + g]);
            n += g;
            i += 1 + g;
            if g < 4 {
                break;
            }
        }
    } else {
        if run(w, 4, want - 3, iban_char) != want - 4 {
            return None;
        }
        chars[4..want].copy_from_slice(&w[4..want]);
        n = want;
        i = want;
    }
    let ok = n == want && right_ok(w, i, is_alnum) && iban_checksum(&chars[..n]);
    ok.then_some((SecretKind::Iban, i))
}

/// A service token's prefix, the least and most characters after it, and their alphabet.
type TokenShape = (&'static [u8], usize, usize, fn(u8) -> bool);

/// Service tokens by prefix.
const SERVICE_TOKENS: &[TokenShape] = &[
    (b"dop_v1_", 64, 64, is_hex),
    (b"hvs.", 24, 200, is_b64url),
    (b"pypi-AgEIcHlwaS5vcmc", 50, 400, is_b64url),
    (b"npm_", 36, 36, is_alnum),
    (b"hf_", 30, 40, is_alnum),
    (b"sk-ant-", 40, 200, is_b64url),
    (b"sk-proj-", 40, 300, is_b64url),
    (b"shpat_", 32, 32, is_hex),
    (b"shpss_", 32, 32, is_hex),
    (b"glrt-", 20, 64, is_b64url),
    (b"whsec_", 24, 64, is_alnum),
    (b"dckr_pat_", 24, 64, is_b64url),
];

fn is_hex(c: u8) -> bool {
    c.is_ascii_hexdigit()
}

/// A service token ([`SecretKind::ServiceToken`]) at the start of `w`.
fn service_token(w: &[u8], prev: Option<u8>) -> Option<(SecretKind, usize)> {
    let found = |len: usize| Some((SecretKind::ServiceToken, len));
    for &(prefix, least, most, class) in SERVICE_TOKENS {
        if let Some(rest) = w.strip_prefix(prefix) {
            let n = run(rest, 0, most + 1, class);
            // Hugging Face tokens are letters only; the others mix in digits.
            let varied = prefix == b"hf_" || mixed(&rest[..n]);
            let ok = left_ok(prev, is_word)
                && (least..=most).contains(&n)
                && right_ok(rest, n, class)
                && varied;
            return if ok { found(prefix.len() + n) } else { None };
        }
    }
    // SendGrid: SG.<22>.<43>
    if let Some(rest) = w.strip_prefix(b"SG.") {
        let a = run(rest, 0, 23, is_b64url);
        let ok = left_ok(prev, is_word)
            && a == 22
            && rest.get(22) == Some(&b'.')
            && run(rest, 23, 44, is_b64url) == 43;
        return if ok { found(3 + 66) } else { None };
    }
    // Discord webhooks: discord.com/api/webhooks/<id>/<token of 60 or more>.
    if let Some(rest) = w.strip_prefix(b"discord.com/api/webhooks/") {
        let id = run(rest, 0, 21, |c| c.is_ascii_digit());
        let token = match rest.get(id) {
            Some(b'/') if id >= 17 => run(rest, id + 1, 101, is_b64url),
            _ => 0,
        };
        let ok = (60..=100).contains(&token) && mixed(&rest[id + 1..id + 1 + token]);
        return if ok { found(25 + id + 1 + token) } else { None };
    }
    // A Docker registry login (`~/.docker/config.json`): `"auth": "<base64 of user:secret>"`.
    if let Some(rest) = w.strip_prefix(b"\"auth\"") {
        let i = run(rest, 0, 8, |c| c == b' ' || c == b':' || c == b'\t');
        let body = rest.get(i..)?.strip_prefix(b"\"")?;
        let n = run(body, 0, 400, is_base64);
        let decoded = decode_base64(&body[..n - n % 4]);
        let secret = decoded
            .iter()
            .position(|&c| c == b':')
            .map(|at| &decoded[at + 1..])
            .unwrap_or_default();
        let secret = &secret[..secret.iter().position(|&c| c == 0).unwrap_or(secret.len())];
        let ok = i > 0
            && body.get(n + run(body, n, 2, |c| c == b'=')) == Some(&b'"')
            && secret.len() >= 8
            && secret.iter().all(u8::is_ascii_graphic)
            && secret_value(secret);
        return if ok { found(6 + i + 1 + n) } else { None };
    }
    if let Some(rest) = w.strip_prefix(b"hooks.slack.com/services/") {
        // T.../B.../secret of 24
        let n = run(rest, 0, 80, |c| c.is_ascii_alphanumeric() || c == b'/');
        let parts: Vec<&[u8]> = rest[..n].split(|&c| c == b'/').collect();
        let ok = parts.len() == 3
            && parts[0].first() == Some(&b'T')
            && parts[2].len() >= 20
            && mixed(parts[2]);
        return if ok {
            Some((SecretKind::SlackToken, 25 + n))
        } else {
            None
        };
    }
    // A PEM private key encoded in base64 (Kubernetes `data:`, kubeconfig
    // `client-key-data`): "-----BEGIN " is `LS0tLS1CRUdJTi`.
    if w.starts_with(b"LS0tLS1CRUdJTi") && left_ok(prev, is_base64) {
        let n = run(w, 0, 160, is_base64);
        let decoded = decode_base64(&w[..n - n % 4]);
        return private_key(&decoded).map(|(kind, _)| (kind, n));
    }
    // Mailgun: key- and 32 hexadecimal digits.
    if let Some(rest) = w.strip_prefix(b"key-") {
        let n = run(rest, 0, 33, is_hex);
        let ok = left_ok(prev, is_word) && n == 32 && right_ok(rest, n, is_alnum);
        return if ok { found(4 + n) } else { None };
    }
    for prefix in [&b"AccountKey="[..], b"SharedAccessKey="] {
        if let Some(rest) = w.strip_prefix(prefix) {
            // The Azurite emulator's published account key.
            if rest.starts_with(b"Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq") {
                return None;
            }
            let n = run(rest, 0, 120, is_base64);
            let pad = run(rest, n, 2, |c| c == b'=');
            let ok = n >= 40 && (n + pad).is_multiple_of(4) && mixed(&rest[..n]);
            return if ok {
                found(prefix.len() + n + pad)
            } else {
                None
            };
        }
    }
    None
}

/// Where the URL with a password that ends at the `@` after `before` starts
/// ([`SecretKind::UrlCredentials`]), if it is one.
pub(super) fn url_credentials(before: &[u8]) -> Option<usize> {
    let floor = before.len().saturating_sub(256);
    let mut i = before.len();
    // The user information: no blank, quote, slash or second `@`.
    while i > floor
        && !matches!(
            before[i - 1],
            b' ' | b'\t' | b'\n' | b'"' | b'\'' | b'/' | b'@'
        )
    {
        i -= 1;
    }
    let userinfo = &before[i..];
    let scheme_end = i.checked_sub(3)?;
    if &before[scheme_end..i] != b"://" {
        return None;
    }
    let mut s = scheme_end;
    while s > 0
        && (before[s - 1].is_ascii_alphanumeric() || matches!(before[s - 1], b'+' | b'.' | b'-'))
    {
        s -= 1;
    }
    let colon = userinfo.iter().position(|&c| c == b':')?;
    let password = &userinfo[colon + 1..];
    let lower = password.to_ascii_lowercase();
    let named = [&b"pass"[..], b"secret", b"pwd"]
        .iter()
        .any(|w| contains(&lower, w));
    let ok = s < scheme_end
        && secret_value(password)
        && !password.iter().any(|c| matches!(c, b'$' | b':'))
        && !named;
    ok.then_some(s)
}

/// Parts of names of tokens that only page through results.
const PAGINATION: [&[u8]; 4] = [b"continuation", b"next", b"page", b"cursor"];

/// Names that say a value is secret, in upper case ([`SecretKind::AssignedSecret`]).
const ASSIGNED_NAMES: [&[u8]; 9] = [
    b"SECRET",
    b"PASSWORD",
    b"PASSWD",
    b"TOKEN",
    b"API_KEY",
    b"APIKEY",
    b"API-KEY",
    b"ACCESS_KEY",
    b"ACCESSKEY",
];

/// Whether `w` starts with a secret word of [`ASSIGNED_NAMES`] (any case).
pub(super) fn secret_word(w: &[u8]) -> bool {
    matches!(
        w.first(),
        Some(b's' | b'S' | b'p' | b'P' | b't' | b'T' | b'a' | b'A')
    ) && ASSIGNED_NAMES
        .iter()
        .any(|n| w.len() >= n.len() && w[..n.len()].eq_ignore_ascii_case(n))
}

/// A secret assigned to a name that says so, at the start of `w` (the name's secret word; the
/// name may begin before it): where its value starts and where the assignment ends, if it is
/// one. See [`SecretKind::AssignedSecret`].
pub(super) fn assigned_secret(w: &[u8], before: &[u8]) -> Option<(usize, usize)> {
    let prev = before.last().copied();
    let word = ASSIGNED_NAMES
        .iter()
        .find(|n| w.len() >= n.len() && w[..n.len()].eq_ignore_ascii_case(n))?;
    // Not the end of another word (`hotoken`); a lower-case letter before a capital is a
    // camel-case name (`jwtSecret`).
    if prev.is_some_and(|c| {
        c.is_ascii_alphabetic() && !(c.is_ascii_lowercase() && w[0].is_ascii_uppercase())
    }) {
        return None;
    }
    let mut i = word.len();
    i += run(w, i, 64, |c| {
        c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.')
    });
    let quoted = run(w, i, 2, |c| c == b'"' || c == b'\'');
    i += quoted;
    i += run(w, i, 8, |c| c == b' ' || c == b'\t');
    // `define('DB_PASSWORD', '...')` in PHP: a quoted name in capitals, then a comma (and a
    // quoted value, below).
    // The whole name, with what comes before its secret word (`DB_` of `DB_PASSWORD`).
    let head = before.len()
        - before
            .iter()
            .rev()
            .take(64)
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
            .count();
    let name = [&before[head..], &w[..i - quoted]].concat();
    let constant = quoted > 0 && !name.iter().any(u8::is_ascii_lowercase);
    let comma: &[u8] = if constant { b"," } else { b":=" };
    // `<password>...</password>` in XML: the element's text is the value.
    let element = prev == Some(b'<') && quoted == 0;
    if element && w.get(i) == Some(&b'>') {
        let v = &w[i + 1..];
        let end = v.iter().take(256).position(|&c| c == b'<' || c == b'\n')?;
        let value = &v[..end];
        let ok = v[end] == b'<'
            && value.len() >= 8
            && value.iter().all(u8::is_ascii_graphic)
            && value.iter().any(u8::is_ascii_digit)
            && secret_value(value);
        return ok.then_some((i + 1, i + 1 + end));
    }
    let op = [&b":="[..], b"=>", b"=", b":", comma]
        .into_iter()
        .find(|op| w[i..].starts_with(op))?;
    if w[i..].starts_with(b"==") {
        return None; // a comparison
    }
    i += op.len();
    i += run(w, i, 8, |c| c == b' ' || c == b'\t');
    if op == b"," && !matches!(w.get(i), Some(b'"' | b'\'')) {
        return None;
    }
    let quote = w
        .get(i)
        .copied()
        .filter(|c| matches!(c, b'"' | b'\'' | b'`'));
    let start = i + usize::from(quote.is_some());
    let (value, len) = match quote {
        Some(q) => {
            let v = &w[i + 1..];
            let end = v.iter().take(512).position(|&c| c == q || c == b'\n')?;
            if v[end] != q || end < 12 {
                return None;
            }
            (&v[..end], i + 1 + end + 1)
        }
        None => {
            // Unquoted (INI, YAML, properties): a token's alphabet only, never a call.
            let n = run(w, i, 512, |c| {
                c.is_ascii_alphanumeric()
                    || matches!(
                        c,
                        b'+' | b'/'
                            | b'='
                            | b'_'
                            | b'-'
                            | b'.'
                            | b'~'
                            | b'$'
                            | b'!'
                            | b'@'
                            | b'%'
                            | b'^'
                            | b'&'
                            | b'*'
                            | b'?'
                            | b'#'
                    )
            });
            // Not code: no call, no `a.b` member path, no `snake_case` name (a token mixes
            // in capitals). In a connection string (`Password=...;`) a shorter value counts.
            let v = &w[i..i + n];
            let code = !v.iter().any(u8::is_ascii_uppercase)
                && v.windows(3).any(|x| {
                    matches!(x[1], b'.' | b'_')
                        && x[0].is_ascii_lowercase()
                        && x[2].is_ascii_lowercase()
                });
            let least = if w.get(i + n) == Some(&b';') { 8 } else { 16 };
            if n < least || w.get(i + n) == Some(&b'(') || code {
                return None;
            }
            (&w[i..i + n], i + n)
        }
    };
    let mut distinct = [false; 256];
    value.iter().for_each(|&c| distinct[c as usize] = true);
    let ok = value.iter().all(u8::is_ascii_graphic)
        && value.iter().any(u8::is_ascii_digit)
        && value.iter().any(u8::is_ascii_alphabetic)
        && distinct.iter().filter(|d| **d).count() >= 8
        && !value
            .iter()
            .any(|c| c.is_ascii_whitespace() || matches!(c, b'{' | b'}' | b'[' | b']' | b'\\'))
        && secret_value(value)
        // Pagination tokens are no secrets.
        && !PAGINATION.iter().any(|p| contains(&name.to_ascii_lowercase(), p))
        // Stripe's publishable keys and card tokens are meant to be seen.
        && !value.starts_with(b"pk_")
        && !value.starts_with(b"tok_");
    ok.then_some((start, len))
}

/// Standard base64 decoded, up to the first byte that is not of it.
fn decode_base64(s: &[u8]) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    for quad in s.chunks_exact(4) {
        let Some(v) = quad.iter().map(|&c| value(c)).collect::<Option<Vec<u8>>>() else {
            break;
        };
        let n = (u32::from(v[0]) << 18)
            | (u32::from(v[1]) << 12)
            | (u32::from(v[2]) << 6)
            | u32::from(v[3]);
        out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]);
    }
    out
}
