//! Addresses in the configuration: the listen address, StackOne's base URL, and origins
//! (`scheme://host[:port]`) of CORS and of the plugins' outbound HTTP.
//!
//! Pure functions: the error is a sentence about the value, the caller adds where and which key.

use std::net::SocketAddr;

use assay_wire::origin::AllowedHost;
use assay_wire::stackone::BaseUrl;

/// A socket address; host names are not resolved here.
pub(super) fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    text.parse()
        .map_err(|_| format!("`{text}` is not an address:port such as 127.0.0.1:8080 or [::]:8080"))
}

/// An `http(s)://` URL; it prints without a trailing slash, so paths can be appended.
pub(super) fn parse_base_url(text: &str) -> Result<BaseUrl, String> {
    BaseUrl::parse(text)
}

/// `scheme://host[:port]` with scheme http or https and nothing else, serialized the way
/// browsers send an `Origin` (lowercase host, default port dropped). The parser is the one the
/// plugins' outbound filter uses ([`AllowedHost::parse_config`]).
pub(super) fn parse_origin(text: &str) -> Result<String, String> {
    AllowedHost::parse_config(text).map(|o| o.browser_origin())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DEFAULT_LISTEN;

    #[test]
    fn origins_are_checked_and_normalised() {
        assert_eq!(
            parse_origin("http://127.0.0.1:8090"),
            Ok("http://127.0.0.1:8090".into())
        );
        assert_eq!(
            parse_origin("https://App.Example.com:443"),
            Ok("https://app.example.com".into())
        );
        assert_eq!(parse_origin("http://[::1]:80"), Ok("http://[::1]".into()));
        for bad in [
            "app.example.com",
            "localhost:8080",
            "ftp://example.com",
            "https://example.com/",
            "https://example.com/api",
            "https://example.com?x=1",
            "https://user:pw@example.com",
            "https://*.example.com",
            "",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn base_urls_lose_their_trailing_slash() {
        assert_eq!(
            parse_base_url("https://api.stackone.com").map(|u| u.to_string()),
            Ok("https://api.stackone.com".into())
        );
        assert_eq!(
            parse_base_url("http://127.0.0.1:9/prefix/").map(|u| u.to_string()),
            Ok("http://127.0.0.1:9/prefix".into())
        );
        assert!(parse_base_url("api.stackone.com").is_err());
        assert!(parse_base_url("https://api.stackone.com?x").is_err());
    }

    #[test]
    fn the_default_listen_address_parses() {
        assert_eq!(
            parse_listen(DEFAULT_LISTEN),
            Ok(SocketAddr::from(([127, 0, 0, 1], 8080)))
        );
    }
}
