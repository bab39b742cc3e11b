//! Where an S3 repository lives and how to reach it: the `s3:` repository URL, the standard
//! `AWS_*` environment variables, and the settings a config file may add.
//!
//! Secrets are held here but never shown: [`S3Config`]'s `Debug` redacts them, and
//! [`S3Config::location`] (used in every message) names only endpoint, bucket and prefix.

use std::fmt;

use crate::error::{Error, Result};

/// Requests in flight at once when nothing else is configured. S3 latency, not bandwidth,
/// bounds a single stream, so several run side by side.
pub const DEFAULT_CONNECTIONS: usize = 8;

/// Everything needed to open a bucket. It also reads as the `[s3]` table of a config file,
/// which may set everything but the bucket and prefix (those come from the URL).
#[derive(Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    /// `http(s)://host[:port]`; `None` means AWS, at the endpoint of the region.
    pub endpoint: Option<String>,
    #[serde(skip)]
    pub bucket: String,
    /// Key prefix of the repository inside the bucket, without leading or trailing `/`.
    #[serde(skip)]
    pub prefix: String,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`) rather than virtual hosts
    /// (`bucket.endpoint/key`). `None` picks: virtual hosts on AWS, paths elsewhere.
    pub path_style: Option<bool>,
    /// Requests in flight at once; `None` means [`DEFAULT_CONNECTIONS`].
    pub connections: Option<usize>,
    /// Longest a request may take, in seconds, the transfer of a whole pack included. `None`
    /// means [`DEFAULT_TIMEOUT`] for requests without a body and [`DEFAULT_TRANSFER_TIMEOUT`]
    /// for uploads and downloads.
    pub timeout_secs: Option<u64>,
}

/// Longest a request without a body (stat, list, delete) may take, by default.
pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
/// Longest an upload or one read of a download may take, by default: a 16 MiB pack within
/// it needs about 0.5 Mbit/s.
pub const DEFAULT_TRANSFER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hide = |o: &Option<String>| o.as_ref().map(|_| "<redacted>");
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &hide(&self.secret_access_key))
            .field("session_token", &hide(&self.session_token))
            .field("path_style", &self.path_style)
            .field("connections", &self.connections)
            .field("timeout_secs", &self.timeout_secs)
            .finish()
    }
}

impl S3Config {
    /// Parse the part after `s3:` of a repository URL:
    ///
    /// - `http://host:port/bucket/prefix` or `https://...`: that endpoint;
    /// - `host[:port]/bucket/prefix`: that endpoint over https (restic's form);
    /// - `//bucket/prefix`: the endpoint comes from elsewhere (`AWS_ENDPOINT_URL`, the
    ///   config file), or AWS.
    ///
    /// Credentials in the URL are refused (without echoing them): URLs end up in shell
    /// history, process lists and logs.
    pub fn from_url(rest: &str) -> Result<Self> {
        let bad = |why: &str| Error::Invalid(format!("S3 repository URL: {why}"));
        let (endpoint, path) = if let Some(p) = rest.strip_prefix("//") {
            (None, p)
        } else {
            let (scheme, after) = match rest.split_once("://") {
                Some((s @ ("http" | "https"), a)) => (s, a),
                Some((s, _)) => return Err(bad(&format!("unknown scheme '{s}'"))),
                None => ("https", rest),
            };
            let (host, path) = after.split_once('/').unwrap_or((after, ""));
            if host.contains('@') {
                return Err(bad("credentials do not belong in the URL; use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or the config file"));
            }
            if host.is_empty() {
                return Err(bad("no host"));
            }
            (Some(format!("{scheme}://{host}")), path)
        };
        let path = path.trim_matches('/');
        let (bucket, prefix) = path.split_once('/').unwrap_or((path, ""));
        if bucket.is_empty() {
            return Err(bad(
                "no bucket (expected s3:http://host:port/bucket/prefix)",
            ));
        }
        if prefix.split('/').any(|s| s == "." || s == "..") {
            return Err(bad("'.' and '..' are not allowed in the prefix"));
        }
        Ok(Self {
            endpoint,
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
            ..Self::default()
        })
    }

    /// Fill what is still unset from the standard AWS variables, read through `var`:
    /// `AWS_ENDPOINT_URL`, `AWS_REGION` (or `AWS_DEFAULT_REGION`), `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`. Credentials are taken as a pair: a key
    /// id from the environment is never matched with a secret from elsewhere.
    pub fn fill_from_env(&mut self, var: impl Fn(&str) -> Option<String>) {
        let get = |k: &str| var(k).filter(|v| !v.is_empty());
        if self.endpoint.is_none() {
            self.endpoint = get("AWS_ENDPOINT_URL_S3").or_else(|| get("AWS_ENDPOINT_URL"));
        }
        if self.region.is_none() {
            self.region = get("AWS_REGION").or_else(|| get("AWS_DEFAULT_REGION"));
        }
        if let (Some(id), Some(secret)) = (get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY")) {
            self.access_key_id = Some(id);
            self.secret_access_key = Some(secret);
            self.session_token = get("AWS_SESSION_TOKEN");
        }
    }

    /// Fill what is still unset from `other` (settings of lower precedence).
    pub fn fill_from(&mut self, other: &S3Config) {
        fn or(a: &mut Option<String>, b: &Option<String>) {
            if a.is_none() {
                a.clone_from(b);
            }
        }
        or(&mut self.endpoint, &other.endpoint);
        or(&mut self.region, &other.region);
        if self.access_key_id.is_none() && self.secret_access_key.is_none() {
            self.access_key_id.clone_from(&other.access_key_id);
            self.secret_access_key.clone_from(&other.secret_access_key);
            self.session_token.clone_from(&other.session_token);
        }
        self.path_style = self.path_style.or(other.path_style);
        self.connections = self.connections.or(other.connections);
        self.timeout_secs = self.timeout_secs.or(other.timeout_secs);
    }

    /// Timeouts for requests without a body, and for transfers.
    pub fn timeouts(&self) -> (std::time::Duration, std::time::Duration) {
        match self.timeout_secs {
            Some(s) => {
                let t = std::time::Duration::from_secs(s.max(1));
                (t, t)
            }
            None => (DEFAULT_TIMEOUT, DEFAULT_TRANSFER_TIMEOUT),
        }
    }

    /// True when the endpoint is AWS's own (or unset, which means AWS).
    pub fn is_aws(&self) -> bool {
        self.endpoint.as_deref().is_none_or(|e| {
            let host = e.split_once("://").map_or(e, |(_, h)| h);
            let host = host.split([':', '/']).next().unwrap_or(host);
            host.ends_with(".amazonaws.com") || host == "amazonaws.com"
        })
    }

    /// Whether to address the bucket by path (see [`S3Config::path_style`]).
    pub fn use_path_style(&self) -> bool {
        self.path_style.unwrap_or(!self.is_aws())
    }

    /// Requests to keep in flight.
    pub fn connections(&self) -> usize {
        self.connections
            .unwrap_or(DEFAULT_CONNECTIONS)
            .clamp(1, 256)
    }

    /// The repository as `s3:ENDPOINT/BUCKET/PREFIX`, for messages. Never holds secrets.
    pub fn location(&self) -> String {
        let endpoint = self
            .endpoint
            .as_deref()
            .unwrap_or("https://s3.amazonaws.com");
        let mut s = format!("s3:{}/{}", endpoint.trim_end_matches('/'), self.bucket);
        if !self.prefix.is_empty() {
            s.push('/');
            s.push_str(&self.prefix);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn url_forms() {
        let c = S3Config::from_url("http://127.0.0.1:3900/bucket/some/prefix/").unwrap();
        assert_eq!(c.endpoint.as_deref(), Some("http://127.0.0.1:3900"));
        assert_eq!(
            (c.bucket.as_str(), c.prefix.as_str()),
            ("bucket", "some/prefix")
        );
        assert!(c.use_path_style());
        assert_eq!(c.location(), "s3:http://127.0.0.1:3900/bucket/some/prefix");

        let c = S3Config::from_url("s3.eu-west-1.amazonaws.com/b").unwrap();
        assert_eq!(
            c.endpoint.as_deref(),
            Some("https://s3.eu-west-1.amazonaws.com")
        );
        assert_eq!((c.bucket.as_str(), c.prefix.as_str()), ("b", ""));
        assert!(c.is_aws() && !c.use_path_style());

        let c = S3Config::from_url("//b/p").unwrap();
        assert_eq!(c.endpoint, None);
        assert_eq!((c.bucket.as_str(), c.prefix.as_str()), ("b", "p"));
    }

    #[test]
    fn bad_urls_are_refused_without_echoing_secrets() {
        for u in [
            "http://host",
            "http:///b",
            "ftp://h/b",
            "//",
            "http://h/b/../x",
        ] {
            assert!(S3Config::from_url(u).is_err(), "{u}");
        }
        let e = S3Config::from_url("http://KEYID:s3kr1t@h/b").unwrap_err();
        assert!(!e.to_string().contains("s3kr1t"), "{e}");
    }

    #[test]
    fn environment_fills_only_what_is_unset_and_credentials_go_in_pairs() {
        let mut c = S3Config::from_url("http://h:1/b").unwrap();
        c.region = Some("from-url".into());
        c.fill_from_env(env(&[
            ("AWS_ENDPOINT_URL", "http://other"),
            ("AWS_DEFAULT_REGION", "r2"),
            ("AWS_ACCESS_KEY_ID", "id"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
        ]));
        assert_eq!(c.endpoint.as_deref(), Some("http://h:1"));
        assert_eq!(c.region.as_deref(), Some("from-url"));
        assert_eq!(c.access_key_id.as_deref(), Some("id"));

        let mut half = S3Config::from_url("//b").unwrap();
        half.fill_from_env(env(&[("AWS_ACCESS_KEY_ID", "id"), ("AWS_REGION", "r")]));
        assert_eq!(half.access_key_id, None);
        assert_eq!(half.region.as_deref(), Some("r"));
        let file = S3Config {
            access_key_id: Some("fid".into()),
            secret_access_key: Some("fsecret".into()),
            endpoint: Some("http://file".into()),
            path_style: Some(false),
            ..S3Config::default()
        };
        half.fill_from(&file);
        assert_eq!(half.access_key_id.as_deref(), Some("fid"));
        assert_eq!(half.endpoint.as_deref(), Some("http://file"));
        assert!(!half.use_path_style());
    }

    #[test]
    fn debug_hides_secrets() {
        let c = S3Config {
            secret_access_key: Some("TOPSECRET".into()),
            session_token: Some("TOKEN".into()),
            ..S3Config::default()
        };
        let d = format!("{c:?}");
        assert!(!d.contains("TOPSECRET") && !d.contains("TOKEN"), "{d}");
    }
}
