//! Splitting URLs for `wasi:http` and encoding query parameters.

use crate::PluginError;
use crate::bindings::wasi::http::types::Scheme;

/// Splits `scheme://authority/path?query` into what `wasi:http` wants (the path defaults to
/// `/`). A URL that is not absolute `http` or `https` is a [`PluginError::Permanent`]: it comes
/// from the plugin's code or settings, and retrying will not fix it.
pub(crate) fn split_url(url: &str) -> Result<(Scheme, &str, &str), PluginError> {
    let bad = || PluginError::Permanent(format!("not an absolute http(s) URL: {url}"));
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        _ => return Err(bad()),
    };
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(i) if rest.as_bytes()[i] == b'/' => rest.split_at(i),
        Some(_) => return Err(bad()),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(bad());
    }
    // A fragment never goes on the wire.
    let path = path.split('#').next().unwrap_or(path);
    Ok((scheme, authority, path))
}

/// Percent-encodes `text` for a query parameter or a path segment: everything but
/// `A-Z a-z 0-9 - . _ ~` becomes `%XX` of its UTF-8 bytes.
pub fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `base` and `path` joined with exactly one `/` between them.
pub(crate) fn join(base: &str, path: &str) -> String {
    if path.is_empty() {
        return base.to_owned();
    }
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(url: &str) -> Option<(&'static str, String, String)> {
        split_url(url).ok().map(|(s, a, p)| {
            let s = match s {
                Scheme::Http => "http",
                Scheme::Https => "https",
                Scheme::Other(_) => "other",
            };
            (s, a.to_owned(), p.to_owned())
        })
    }

    #[test]
    fn urls_split_into_scheme_authority_and_path() {
        assert_eq!(
            parts("https://api.example.com/v1/checks?x=1"),
            Some(("https", "api.example.com".into(), "/v1/checks?x=1".into()))
        );
        assert_eq!(
            parts("HTTP://127.0.0.1:8090"),
            Some(("http", "127.0.0.1:8090".into(), "/".into()))
        );
        assert_eq!(
            parts("http://h/p#frag"),
            Some(("http", "h".into(), "/p".into()))
        );
    }

    #[test]
    fn anything_else_is_refused_as_permanent() {
        for url in [
            "ftp://h/",
            "api.example.com/v1",
            "https:///path",
            "https://h?x=1",
            "https://user:pw@h/",
            "",
        ] {
            assert!(
                matches!(split_url(url), Err(PluginError::Permanent(m)) if m.contains(url)),
                "{url}"
            );
        }
    }

    #[test]
    fn components_are_percent_encoded() {
        assert_eq!(encode_component("a-z_0.9~"), "a-z_0.9~");
        assert_eq!(encode_component("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    }

    #[test]
    fn join_puts_one_slash_between() {
        assert_eq!(join("http://h/", "/api"), "http://h/api");
        assert_eq!(join("http://h/base", "api"), "http://h/base/api");
        assert_eq!(join("http://h", ""), "http://h");
    }
}
