//! StackOne's `x-stackone-signature`: HMAC-SHA256 over the raw request body.
//!
//! StackOne signs the exact body bytes with the webhook's signing secret (its UTF-8 bytes) and
//! sends the MAC as base64url without padding. We accept standard base64 and padded forms of
//! the same MAC too: the encoding is not formally specified, and decoding first means every
//! form is compared as bytes, in constant time, against every configured secret (a webhook
//! holds two secrets while one is being rotated).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::secret::Secret;

/// The header StackOne puts its signature in.
pub const SIGNATURE_HEADER: &str = "x-stackone-signature";

type HmacSha256 = Hmac<Sha256>;

/// Why a signature was refused. Callers answer every case with the same generic 401; the
/// case is for the log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The request carried no signature header.
    #[error("missing {SIGNATURE_HEADER} header")]
    Missing,
    /// The request carried the signature header more than once: which one a proxy or the
    /// sender meant is unknowable, so none is trusted.
    #[error("more than one {SIGNATURE_HEADER} header")]
    Repeated,
    /// The header is not base64 of a 32-byte MAC.
    #[error("{SIGNATURE_HEADER} is not a base64 HMAC-SHA256")]
    Malformed,
    /// The MAC matches none of the configured secrets.
    #[error("{SIGNATURE_HEADER} does not match any configured secret")]
    Mismatch,
    /// The product has no signing secret configured, so nothing can be verified.
    #[error("no webhook signing secret is configured")]
    NoSecret,
}

/// Checks the signature header of `headers` against `body`: exactly one header, matching one
/// of `secrets`.
pub fn verify_headers(
    body: &[u8],
    headers: &http::HeaderMap,
    secrets: &[Secret],
) -> Result<(), SignatureError> {
    let mut values = headers.get_all(SIGNATURE_HEADER).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(SignatureError::Repeated);
    }
    verify(body, first.map(http::HeaderValue::as_bytes), secrets)
}

/// Signs `body` the way StackOne does: base64url, no padding.
pub fn sign(body: &[u8], secret: &Secret) -> String {
    URL_SAFE_NO_PAD.encode(mac(body, secret).finalize().into_bytes())
}

/// Checks `header` (the raw header value, if any) against `body` for each of `secrets`.
pub fn verify(
    body: &[u8],
    header: Option<&[u8]>,
    secrets: &[Secret],
) -> Result<(), SignatureError> {
    if secrets.is_empty() {
        return Err(SignatureError::NoSecret);
    }
    let header = header.ok_or(SignatureError::Missing)?;
    let given = decode(header).ok_or(SignatureError::Malformed)?;
    // `verify_slice` compares in constant time. Every secret is tried even after a match
    // would have been found, so timing does not tell which secret matched.
    let mut matched = false;
    for secret in secrets {
        matched |= mac(body, secret).verify_slice(&given).is_ok();
    }
    if matched {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

fn mac(body: &[u8], secret: &Secret) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(secret.expose().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(body);
    mac
}

/// Decodes any of the four base64 alphabets/padding forms into a 32-byte MAC.
fn decode(header: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(header).ok()?.trim();
    [URL_SAFE_NO_PAD, URL_SAFE, STANDARD_NO_PAD, STANDARD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
        .filter(|bytes| bytes.len() == 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_signature_header_is_refused_even_when_one_matches() {
        let s = [secret("whsec")];
        let body = b"{}";
        let good = http::HeaderValue::from_str(&sign(body, &s[0])).expect("header");
        let mut headers = http::HeaderMap::new();
        headers.insert(SIGNATURE_HEADER, good.clone());
        assert_eq!(verify_headers(body, &headers, &s), Ok(()));
        headers.append(SIGNATURE_HEADER, http::HeaderValue::from_static("forged"));
        assert_eq!(
            verify_headers(body, &headers, &s),
            Err(SignatureError::Repeated)
        );
        let mut reversed = http::HeaderMap::new();
        reversed.insert(SIGNATURE_HEADER, http::HeaderValue::from_static("forged"));
        reversed.append(SIGNATURE_HEADER, good);
        assert_eq!(
            verify_headers(body, &reversed, &s),
            Err(SignatureError::Repeated)
        );
    }

    fn secret(s: &str) -> Secret {
        Secret::new(s)
    }

    #[test]
    fn known_vector() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let sig = sign(b"what do ya want for nothing?", &secret("Jefe"));
        let hex = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        let expected = URL_SAFE_NO_PAD.encode(hex::decode(hex).expect("hex"));
        assert_eq!(sig, expected);
    }

    #[test]
    fn accepts_every_base64_form() {
        let body = br#"{"event":"ats_assessments.created"}"#;
        let s = secret("whsec_test");
        let raw = mac(body, &s).finalize().into_bytes();
        for engine in [URL_SAFE_NO_PAD, URL_SAFE, STANDARD_NO_PAD, STANDARD] {
            let header = engine.encode(raw);
            assert_eq!(
                verify(body, Some(header.as_bytes()), std::slice::from_ref(&s)),
                Ok(()),
                "{header}"
            );
        }
    }

    #[test]
    fn any_configured_secret_matches() {
        let body = b"{}";
        let old = secret("old");
        let new = secret("new");
        let sig = sign(body, &new);
        assert_eq!(
            verify(body, Some(sig.as_bytes()), &[old.clone(), new]),
            Ok(())
        );
        assert_eq!(
            verify(body, Some(sig.as_bytes()), &[old]),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn rejects_tampering_and_garbage() {
        let s = secret("k");
        let sig = sign(b"{\"a\":1}", &s);
        let secrets = [s];
        assert_eq!(
            verify(b"{\"a\":2}", Some(sig.as_bytes()), &secrets),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(verify(b"{}", None, &secrets), Err(SignatureError::Missing));
        assert_eq!(
            verify(b"{}", Some(b"not base64!"), &secrets),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(b"{}", Some(b"c2hvcnQ"), &secrets),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(b"{}", Some(sig.as_bytes()), &[]),
            Err(SignatureError::NoSecret)
        );
    }
}
