//! Origins, `scheme://host[:port]`: the one parser behind a product's `allowed_hosts` (the
//! plugins' outbound filter matches requests against [`AllowedHost`]) and its `cors_origins`.
//! The configuration parses each entry once, when it is loaded, into these types.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An origin a product's plugin may send HTTP requests to. A request matches only if its
/// scheme, host and port are all equal to an entry's; the port defaults by scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    /// `http` or `https`.
    pub scheme: String,
    /// The host name (lower-case, without a trailing dot) or IP literal (without brackets).
    pub host: String,
    /// The port (the scheme's default when not written).
    pub port: u16,
}

/// Why an `allowed_hosts` entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllowedHostError {
    /// The entry is not a URL.
    #[error("not a URL ({0}); write scheme://host[:port]")]
    NotAUrl(String),
    /// The scheme is not `http` or `https`.
    #[error("scheme `{0}` is not http or https")]
    Scheme(String),
    /// The entry has a path, query, fragment or credentials.
    #[error("write only scheme://host[:port], without path, query or credentials")]
    NotAnOrigin,
    /// The entry has no host.
    #[error("no host")]
    NoHost,
}

impl FromStr for AllowedHost {
    type Err = AllowedHostError;

    fn from_str(s: &str) -> Result<Self, AllowedHostError> {
        let url =
            url::Url::parse(s.trim()).map_err(|e| AllowedHostError::NotAUrl(e.to_string()))?;
        let scheme = url.scheme().to_owned();
        if scheme != "http" && scheme != "https" {
            return Err(AllowedHostError::Scheme(scheme));
        }
        if !matches!(url.path(), "" | "/")
            || url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return Err(AllowedHostError::NotAnOrigin);
        }
        let host = normalise_host(url.host_str().ok_or(AllowedHostError::NoHost)?);
        if host.is_empty() {
            return Err(AllowedHostError::NoHost);
        }
        // Both schemes have a default port, so this never falls back.
        let port = url
            .port_or_known_default()
            .ok_or(AllowedHostError::NoHost)?;
        Ok(Self { scheme, host, port })
    }
}

impl fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "{}://[{}]:{}", self.scheme, self.host, self.port)
        } else {
            write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
        }
    }
}

/// Compares with an origin as written in a configuration (its browser form).
impl PartialEq<&str> for AllowedHost {
    fn eq(&self, other: &&str) -> bool {
        self.browser_origin() == *other
    }
}

impl AllowedHost {
    /// Parses a value written in a configuration file, where only the canonical form is
    /// accepted: no trailing `/`, no surrounding blanks, no wildcard. The error is a sentence
    /// about the value; the caller adds where it stands and which key.
    pub fn parse_config(text: &str) -> Result<Self, String> {
        let bad = |why: &str| {
            format!(
                "`{text}` is not an origin ({why}): write scheme://host[:port] with scheme http or \
                 https, e.g. https://app.example.com or http://127.0.0.1:8090"
            )
        };
        if text.contains('*') {
            return Err(bad("wildcards are not supported"));
        }
        if text.ends_with('/') || text.trim() != text {
            return Err(bad("nothing may follow the host and port"));
        }
        text.parse().map_err(|e| match e {
            AllowedHostError::NotAUrl(why) => bad(&why),
            AllowedHostError::Scheme(_) => bad("the scheme must be http or https"),
            AllowedHostError::NotAnOrigin => bad("nothing may follow the host and port"),
            AllowedHostError::NoHost => bad("no host"),
        })
    }

    /// The origin as a browser sends it in `Origin`: the scheme's default port left out.
    pub fn browser_origin(&self) -> String {
        let default_port = match self.scheme.as_str() {
            "https" => 443,
            _ => 80,
        };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == default_port {
            format!("{}://{host}", self.scheme)
        } else {
            format!("{}://{host}:{}", self.scheme, self.port)
        }
    }

    /// Whether a request to `scheme://host:port` matches this entry. `host` must already be
    /// normalised with [`normalise_host`].
    pub fn matches(&self, scheme: &str, host: &str, port: u16) -> bool {
        self.scheme == scheme && self.host == host && self.port == port
    }

    /// Whether this entry names its address explicitly (an IP literal or `localhost`). Only
    /// such an entry may reach internal addresses: an operator who lists
    /// `http://127.0.0.1:8090` means it, while a vendor name that resolves to 10.0.0.5 is an
    /// attack.
    pub fn is_explicit(&self) -> bool {
        self.host == "localhost" || self.host.parse::<IpAddr>().is_ok()
    }
}

/// A host as requests and entries are compared: lower-case, without IPv6 brackets and without
/// the trailing dot of a fully qualified name.
pub fn normalise_host(host: &str) -> String {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = host.strip_suffix('.').unwrap_or(host);
    host.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(s: &str) -> AllowedHost {
        s.parse().expect("valid entry")
    }

    #[test]
    fn parses_scheme_host_and_default_ports() {
        assert_eq!(
            entry("https://API.vendor.example"),
            AllowedHost {
                scheme: "https".into(),
                host: "api.vendor.example".into(),
                port: 443
            }
        );
        assert_eq!(entry("http://api.vendor.example").port, 80);
        assert_eq!(entry("https://api.vendor.example/").port, 443);
        assert_eq!(entry("http://127.0.0.1:8080").port, 8080);
        assert_eq!(entry("https://api.vendor.example:8443").port, 8443);
        assert_eq!(
            entry("https://api.vendor.example.").host,
            "api.vendor.example"
        );
        assert_eq!(entry("http://[::1]:81").host, "::1");
        assert_eq!(entry("  https://x.example  ").host, "x.example");
    }

    #[test]
    fn refuses_what_is_not_an_origin() {
        let err = |s: &str| s.parse::<AllowedHost>().expect_err(s);
        assert!(matches!(err("ftp://x.example"), AllowedHostError::Scheme(s) if s == "ftp"));
        assert!(matches!(err("x.example"), AllowedHostError::NotAUrl(_)));
        assert!(matches!(err("x.example:443"), AllowedHostError::Scheme(_)));
        for s in [
            "https://x.example/path",
            "https://x.example/?q=1",
            "https://x.example/#f",
            "https://user@x.example",
            "https://user:pw@x.example",
        ] {
            assert_eq!(err(s), AllowedHostError::NotAnOrigin, "{s}");
        }
        assert!(matches!(err("https://"), AllowedHostError::NotAUrl(_)));
    }

    #[test]
    fn displays_with_the_port() {
        assert_eq!(
            entry("https://api.vendor.example").to_string(),
            "https://api.vendor.example:443"
        );
        assert_eq!(entry("http://[::1]:81").to_string(), "http://[::1]:81");
    }

    #[test]
    fn matching_needs_scheme_host_and_port() {
        let e = entry("https://api.vendor.example");
        assert!(e.matches("https", "api.vendor.example", 443));
        assert!(!e.matches("http", "api.vendor.example", 443));
        assert!(!e.matches("https", "api.vendor.example", 444));
        assert!(!e.matches("https", "evil.api.vendor.example", 443));
        assert!(!e.matches("https", "api.vendor.example.evil", 443));
    }

    #[test]
    fn only_ip_literals_and_localhost_are_explicit() {
        assert!(entry("http://127.0.0.1:8090").is_explicit());
        assert!(entry("http://[::1]:8090").is_explicit());
        assert!(entry("http://localhost:8090").is_explicit());
        assert!(!entry("http://localhost.localdomain:8090").is_explicit());
        assert!(!entry("https://api.vendor.example").is_explicit());
    }
}
