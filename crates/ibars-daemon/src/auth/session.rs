//! Dashboard sessions and the brake on failed logins. Both live in the daemon's memory: a
//! restart logs everybody out, which is the safe way to fail.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use rand::RngCore;
use sha2::Digest;
use subtle::ConstantTimeEq;

use super::store::Principal;

/// The session cookie's name.
pub const COOKIE: &str = "ibars_session";
/// The header that carries a session's CSRF token on mutating requests.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// A session ends after this long without a request...
pub const IDLE: Duration = Duration::from_secs(2 * 3600);
/// ...and after this long in any case.
pub const LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// A logged-in user.
#[derive(Debug, Clone)]
pub struct Session {
    pub principal: Principal,
    /// Sent back in [`CSRF_HEADER`] by every mutating request of this session.
    pub csrf: String,
    created: Instant,
    last_seen: Instant,
}

impl Session {
    /// Whether `given` is this session's CSRF token (compared in constant time).
    pub fn csrf_ok(&self, given: &str) -> bool {
        given.len() == self.csrf.len() && bool::from(given.as_bytes().ct_eq(self.csrf.as_bytes()))
    }
}

/// Sessions by the SHA-256 of their cookie, so a lookup's timing says nothing of the cookie.
#[derive(Default)]
pub struct Sessions {
    map: HashMap<[u8; 32], Session>,
}

fn random_hex() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

fn key(cookie: &str) -> [u8; 32] {
    sha2::Sha256::digest(cookie.as_bytes()).into()
}

impl Sessions {
    /// Open a session; returns the cookie value and the session.
    pub fn open(&mut self, principal: Principal, now: Instant) -> (String, Session) {
        self.expire(now);
        let cookie = random_hex();
        let s = Session {
            principal,
            csrf: random_hex(),
            created: now,
            last_seen: now,
        };
        self.map.insert(key(&cookie), s.clone());
        (cookie, s)
    }

    /// The live session of `cookie`, which counts as seen now.
    pub fn get(&mut self, cookie: &str, now: Instant) -> Option<Session> {
        let k = key(cookie);
        let s = self.map.get_mut(&k)?;
        if now.duration_since(s.last_seen) > IDLE || now.duration_since(s.created) > LIFETIME {
            self.map.remove(&k);
            return None;
        }
        s.last_seen = now;
        Some(s.clone())
    }

    pub fn close(&mut self, cookie: &str) {
        self.map.remove(&key(cookie));
    }

    /// End every session of `principal` (its password changed, or it was removed).
    pub fn close_all_of(&mut self, principal: &str) {
        self.map.retain(|_, s| s.principal.name != principal);
    }

    fn expire(&mut self, now: Instant) {
        self.map.retain(|_, s| {
            now.duration_since(s.last_seen) <= IDLE && now.duration_since(s.created) <= LIFETIME
        });
    }
}

/// Failed logins allowed from one address before it must wait.
pub const FREE_FAILURES: u32 = 5;
/// The longest wait.
pub const MAX_WAIT: Duration = Duration::from_secs(15 * 60);
/// Addresses tracked at most; beyond, the oldest quiet ones are forgotten.
const MAX_TRACKED: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    until: Option<Instant>,
}

/// Failed logins per client address (an IPv6 client by its /64): after [`FREE_FAILURES`],
/// each further failure doubles the wait, up to [`MAX_WAIT`]. A success clears the address.
#[derive(Default)]
pub struct LoginLimiter {
    map: HashMap<IpAddr, Failures>,
}

fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut seg = v6.segments();
                seg[4..].fill(0);
                IpAddr::V6(seg.into())
            }
        },
        v4 => v4,
    }
}

impl LoginLimiter {
    /// How long `ip` must wait before it may try again, if it must.
    pub fn wait(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let f = self.map.get(&client_key(ip))?;
        f.until.filter(|u| *u > now).map(|u| u.duration_since(now))
    }

    pub fn failed(&mut self, ip: IpAddr, now: Instant) {
        if self.map.len() >= MAX_TRACKED {
            self.map
                .retain(|_, f| now.duration_since(f.last) < Duration::from_secs(3600));
        }
        let f = self.map.entry(client_key(ip)).or_insert(Failures {
            count: 0,
            last: now,
            until: None,
        });
        f.count += 1;
        f.last = now;
        if f.count > FREE_FAILURES {
            let exp = (f.count - FREE_FAILURES - 1).min(20);
            let wait = Duration::from_secs(1u64 << exp).min(MAX_WAIT);
            f.until = Some(now + wait);
        }
    }

    pub fn succeeded(&mut self, ip: IpAddr) {
        self.map.remove(&client_key(ip));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::store::Role;

    fn ann() -> Principal {
        Principal {
            name: "user:ann".into(),
            role: Role::Admin,
            repositories: vec![],
        }
    }

    #[test]
    fn sessions_end_when_idle_too_long_or_closed() {
        let t0 = Instant::now();
        let mut s = Sessions::default();
        let (cookie, sess) = s.open(ann(), t0);
        assert!(sess.csrf_ok(&sess.csrf) && !sess.csrf_ok("x") && !sess.csrf_ok(&cookie));
        assert!(s.get(&cookie, t0 + IDLE / 2).is_some());
        assert!(s.get(&cookie, t0 + IDLE).is_some());
        assert!(s.get("not-a-session", t0).is_none());
        assert!(s
            .get(&cookie, t0 + IDLE * 2 + Duration::from_secs(1))
            .is_none());
        let (c2, _) = s.open(ann(), t0);
        s.close_all_of("user:ann");
        assert!(s.get(&c2, t0).is_none());
        // However active, a session ends at its lifetime.
        let (c3, _) = s.open(ann(), t0);
        let mut t = t0;
        while t < t0 + LIFETIME {
            t += IDLE / 2;
            if t <= t0 + LIFETIME {
                assert!(s.get(&c3, t).is_some());
            }
        }
        assert!(s.get(&c3, t0 + LIFETIME + Duration::from_secs(1)).is_none());
    }

    #[test]
    fn failed_logins_back_off_per_address_and_success_clears() {
        let t0 = Instant::now();
        let mut l = LoginLimiter::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..FREE_FAILURES {
            assert_eq!(l.wait(a, t0), None);
            l.failed(a, t0);
        }
        assert_eq!(l.wait(a, t0), None);
        l.failed(a, t0);
        assert_eq!(l.wait(a, t0), Some(Duration::from_secs(1)));
        l.failed(a, t0);
        assert_eq!(l.wait(a, t0), Some(Duration::from_secs(2)));
        for _ in 0..30 {
            l.failed(a, t0);
        }
        assert_eq!(l.wait(a, t0), Some(MAX_WAIT));
        assert_eq!(l.wait(a, t0 + MAX_WAIT), None);
        assert_eq!(l.wait(b, t0), None);
        l.succeeded(a);
        assert_eq!(l.wait(a, t0), None);
        // IPv6 clients share their /64; a mapped IPv4 address is that address.
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        for _ in 0..=FREE_FAILURES {
            l.failed(v6, t0);
        }
        assert!(l.wait("2001:db8::ffff:1".parse().unwrap(), t0).is_some());
        for _ in 0..=FREE_FAILURES {
            l.failed(b, t0);
        }
        assert!(l.wait("::ffff:192.0.2.2".parse().unwrap(), t0).is_some());
    }
}
