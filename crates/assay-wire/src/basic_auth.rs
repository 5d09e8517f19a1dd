//! Basic authentication of StackOne's calls to the Package's List Endpoint.
//!
//! The vendor gives StackOne an API key; StackOne sends `Authorization: Basic <base64>`. Whether
//! the base64 holds `key` or `key:` (the key as user name, empty password) is not documented,
//! so both are accepted. Keys are compared in constant time and every configured key is tried,
//! so the time taken does not reveal which key, or how much of one, matched.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use subtle::ConstantTimeEq;

use crate::secret::Secret;

/// Why a Basic credential was refused. Callers answer every case with the same generic 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BasicAuthError {
    /// No `Authorization` header.
    #[error("missing Authorization header")]
    Missing,
    /// Not `Basic <base64>`.
    #[error("Authorization is not a Basic credential")]
    Malformed,
    /// The key matches none of the configured keys.
    #[error("Basic credential does not match any configured key")]
    Mismatch,
    /// The product has no package-list key configured.
    #[error("no package-list API key is configured")]
    NoKey,
}

/// Checks an `Authorization` header value against the configured keys.
pub fn verify(header: Option<&[u8]>, keys: &[Secret]) -> Result<(), BasicAuthError> {
    if keys.is_empty() {
        return Err(BasicAuthError::NoKey);
    }
    let header = header.ok_or(BasicAuthError::Missing)?;
    let text = std::str::from_utf8(header)
        .map_err(|_| BasicAuthError::Malformed)?
        .trim();
    let (scheme, encoded) = text.split_once(' ').ok_or(BasicAuthError::Malformed)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(BasicAuthError::Malformed);
    }
    let decoded = STANDARD
        .decode(encoded.trim())
        .map_err(|_| BasicAuthError::Malformed)?;
    // `key:` means user `key` with an empty password; `key` alone is the bare key.
    let given = decoded.strip_suffix(b":").unwrap_or(&decoded);
    let mut matched = subtle::Choice::from(0);
    for key in keys {
        matched |= key.expose().as_bytes().ct_eq(given);
    }
    if bool::from(matched) {
        Ok(())
    } else {
        Err(BasicAuthError::Mismatch)
    }
}

/// Builds the header value StackOne's API expects from a caller: `Basic base64(key + ":")`.
pub fn header_value(key: &Secret) -> String {
    format!("Basic {}", STANDARD.encode(format!("{}:", key.expose())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_key_and_key_colon() {
        let keys = [Secret::new("pk_live_1")];
        let bare = format!("Basic {}", STANDARD.encode("pk_live_1"));
        assert_eq!(verify(Some(bare.as_bytes()), &keys), Ok(()));
        assert_eq!(
            verify(Some(header_value(&keys[0]).as_bytes()), &keys),
            Ok(())
        );
        let lower = format!("basic {}", STANDARD.encode("pk_live_1:"));
        assert_eq!(verify(Some(lower.as_bytes()), &keys), Ok(()));
    }

    #[test]
    fn rejects_wrong_or_malformed() {
        let keys = [Secret::new("a"), Secret::new("b")];
        let wrong = format!("Basic {}", STANDARD.encode("c:"));
        assert_eq!(
            verify(Some(wrong.as_bytes()), &keys),
            Err(BasicAuthError::Mismatch)
        );
        // A password is not part of the key: `a:x` is not `a`.
        let with_pw = format!("Basic {}", STANDARD.encode("a:x"));
        assert_eq!(
            verify(Some(with_pw.as_bytes()), &keys),
            Err(BasicAuthError::Mismatch)
        );
        assert_eq!(
            verify(Some(b"Bearer abc"), &keys),
            Err(BasicAuthError::Malformed)
        );
        assert_eq!(
            verify(Some(b"Basic !!!"), &keys),
            Err(BasicAuthError::Malformed)
        );
        assert_eq!(verify(None, &keys), Err(BasicAuthError::Missing));
        assert_eq!(verify(Some(b"Basic YQ=="), &[]), Err(BasicAuthError::NoKey));
    }

    #[test]
    fn second_key_matches() {
        let keys = [Secret::new("a"), Secret::new("b")];
        let hdr = format!("Basic {}", STANDARD.encode("b"));
        assert_eq!(verify(Some(hdr.as_bytes()), &keys), Ok(()));
    }
}
