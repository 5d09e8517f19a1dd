//! The operator's browser session: a signed cookie, and the check that a form was posted from
//! the host's own pages.
//!
//! # The cookie
//!
//! Logging in at `/admin/login` with the admin token sets [`SESSION_COOKIE`] to
//! `EXPIRY.MAC`: the expiry in Unix seconds and an HMAC-SHA256 of it under a key derived from
//! the admin token ([`SessionKey::derive`]). The host keeps no session table: a cookie is good
//! while its MAC matches (compared in constant time) and its expiry is ahead. Changing the
//! admin token therefore ends every session at once; logging out removes the cookie from the
//! browser (a copied cookie stays good until it expires, [`SESSION_TTL`] at most). The cookie
//! is `HttpOnly` (no script reads it), `SameSite=Strict` (no other site's page makes the
//! browser send it) and `Path=/admin` (no other route sees it). It is not `Secure`: the host
//! speaks plain HTTP, normally on a loopback or private admin listener; put a TLS proxy in
//! front for anything else.
//!
//! # Forms and CSRF
//!
//! The two forms (`POST /admin/login`, `POST /admin/logout`) are protected twice:
//! `SameSite=Strict` keeps the cookie off cross-site requests, and [`check_same_origin`]
//! refuses a post whose `Sec-Fetch-Site` is not `same-origin`, or, from a browser too old to
//! send that header, whose `Origin` is not this host. A post with neither header is refused too: every browser sends at least one, and
//! scripts use the Bearer-token JSON endpoints instead. No CSRF token is needed, so the pages
//! stay plain HTML.

use std::time::Duration;

use hmac::{Hmac, Mac};
use http::{HeaderMap, header};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use assay_wire::secret::Secret;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "assay_admin";

/// How long a session lasts after logging in.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 60 * 60);

/// The key session cookies are signed with, derived from the admin token.
pub struct SessionKey([u8; 32]);

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey([redacted])")
    }
}

/// Why a session cookie is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// No cookie.
    #[error("no session cookie")]
    Missing,
    /// Not `EXPIRY.MAC`, or the MAC does not match.
    #[error("the session cookie is not one this host signed")]
    Forged,
    /// Signed, but past its expiry.
    #[error("the session has expired")]
    Expired,
}

fn mac_of(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

impl SessionKey {
    /// The key for `admin_token`: an HMAC of a fixed label under the token, so the cookie
    /// never carries anything from which the token itself could be checked offline faster
    /// than by guessing the whole token.
    pub fn derive(admin_token: &Secret) -> Self {
        Self(mac_of(
            admin_token.expose().as_bytes(),
            b"assay admin session key v1",
        ))
    }

    /// A cookie value good until `now_unix + SESSION_TTL`.
    pub fn issue(&self, now_unix: u64) -> String {
        let expiry = now_unix + SESSION_TTL.as_secs();
        format!(
            "{expiry}.{}",
            hex::encode(mac_of(&self.0, expiry.to_string().as_bytes()))
        )
    }

    /// Checks a cookie value at `now_unix`.
    pub fn verify(&self, value: &str, now_unix: u64) -> Result<(), SessionError> {
        let (expiry, mac) = value.split_once('.').ok_or(SessionError::Forged)?;
        let given = hex::decode(mac).map_err(|_| SessionError::Forged)?;
        let expected = mac_of(&self.0, expiry.as_bytes());
        if !bool::from(given.as_slice().ct_eq(&expected)) {
            return Err(SessionError::Forged);
        }
        let expiry: u64 = expiry.parse().map_err(|_| SessionError::Forged)?;
        if expiry <= now_unix {
            return Err(SessionError::Expired);
        }
        Ok(())
    }
}

/// The `Set-Cookie` value that starts a session.
pub fn set_cookie(value: &str) -> String {
    format!(
        "{SESSION_COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/admin; Max-Age={}",
        SESSION_TTL.as_secs()
    )
}

/// The `Set-Cookie` value that ends a session in the browser.
pub fn clear_cookie() -> String {
    format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/admin; Max-Age=0")
}

/// The session cookie's value among the request's `Cookie` headers.
pub fn cookie_value(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
}

/// The current time in Unix seconds.
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Refuses a form post that did not come from this host's own pages (see the module
/// documentation). `host` is the authority the request was sent to (`Host`, or the URI's for
/// HTTP/2). The error says what was refused, for the operator's browser.
pub fn check_same_origin(headers: &HeaderMap, host: Option<&str>) -> Result<(), String> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    // `Sec-Fetch-Site` is set by the browser and no page's script can change it: when it is
    // there, it decides. (A page served with `Referrer-Policy: no-referrer` makes Chromium
    // send `Origin: null` even to its own host, so `Origin` alone would refuse honest posts.)
    match text("sec-fetch-site") {
        Some("same-origin") => return Ok(()),
        Some(site) => {
            return Err(format!(
                "a form posted from another site is refused (Sec-Fetch-Site: {site}); \
                 open the admin pages directly and post from there"
            ));
        }
        None => {}
    }
    match text(header::ORIGIN.as_str()) {
        Some(origin) => {
            let authority = origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"));
            match (authority, host) {
                (Some(a), Some(h)) if a.eq_ignore_ascii_case(h) => Ok(()),
                _ => Err(format!(
                    "a form posted from {origin} is refused: these pages are served at {}",
                    host.unwrap_or("an unnamed host")
                )),
            }
        }
        None => Err(
            "a form post without Origin or Sec-Fetch-Site is refused: log in from \
                     the login page in a browser, or call the JSON endpoints with \
                     `Authorization: Bearer <admin token>` from scripts"
                .to_owned(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn key() -> SessionKey {
        SessionKey::derive(&Secret::new("the-admin-token"))
    }

    #[test]
    fn a_cookie_is_good_until_it_expires() {
        let cookie = key().issue(1_000);
        assert_eq!(key().verify(&cookie, 1_000), Ok(()));
        let end = 1_000 + SESSION_TTL.as_secs();
        assert_eq!(key().verify(&cookie, end - 1), Ok(()));
        assert_eq!(key().verify(&cookie, end), Err(SessionError::Expired));
    }

    #[test]
    fn forged_or_foreign_cookies_are_refused() {
        let cookie = key().issue(1_000);
        let (expiry, mac) = cookie.split_once('.').expect("two parts");
        let later = format!("{}.{mac}", expiry.parse::<u64>().expect("number") + 1);
        assert_eq!(key().verify(&later, 1_000), Err(SessionError::Forged));
        let other = SessionKey::derive(&Secret::new("another-token"));
        assert_eq!(other.verify(&cookie, 1_000), Err(SessionError::Forged));
        for bad in ["", "123", "123.zz", ".", "x.00"] {
            assert_eq!(key().verify(bad, 1_000), Err(SessionError::Forged), "{bad}");
        }
        assert!(!cookie.contains("the-admin-token"));
        assert_eq!(format!("{:?}", key()), "SessionKey([redacted])");
    }

    #[test]
    fn the_cookie_is_found_among_others_and_set_strictly() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; assay_admin=v.1"),
        );
        assert_eq!(cookie_value(&headers), Some("v.1"));
        assert_eq!(cookie_value(&HeaderMap::new()), None);
        let set = set_cookie("v");
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/admin", "Max-Age="] {
            assert!(set.contains(attribute), "{set}");
        }
        assert!(clear_cookie().contains("Max-Age=0"));
    }

    fn post(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (k, v) in pairs {
            headers.insert(*k, HeaderValue::from_static(v));
        }
        headers
    }

    #[test]
    fn only_posts_from_this_host_pass() {
        let host = Some("127.0.0.1:9091");
        let ok = [
            post(&[("origin", "http://127.0.0.1:9091")]),
            post(&[("sec-fetch-site", "same-origin")]),
            post(&[
                ("origin", "http://127.0.0.1:9091"),
                ("sec-fetch-site", "same-origin"),
            ]),
            post(&[("origin", "null"), ("sec-fetch-site", "same-origin")]),
        ];
        for headers in ok {
            assert_eq!(check_same_origin(&headers, host), Ok(()), "{headers:?}");
        }
        let refused = [
            (post(&[("origin", "http://evil.example")]), "evil.example"),
            (post(&[("origin", "null")]), "null"),
            (post(&[("sec-fetch-site", "cross-site")]), "cross-site"),
            (
                post(&[
                    ("sec-fetch-site", "same-site"),
                    ("origin", "http://127.0.0.1:9091"),
                ]),
                "same-site",
            ),
            (post(&[]), "without Origin"),
        ];
        for (headers, says) in refused {
            let e = check_same_origin(&headers, host).expect_err("refused");
            assert!(e.contains(says), "{e}");
        }
    }
}
