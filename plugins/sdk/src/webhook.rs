//! Checking the signatures of your own system's callbacks.
//!
//! Anyone can reach the host's callback route, so a plugin must check that a callback really
//! comes from the vendor before turning it into results. The common scheme is an HMAC-SHA256
//! of the raw body under a shared secret, sent hex-encoded in a header:
//!
//! ```ignore
//! let secret = settings::require("webhook_secret")?;
//! let genuine = request
//!     .header("x-codetest-signature")
//!     .is_some_and(|sig| webhook::verify_hmac_sha256_hex(&secret, &request.body, sig));
//! ```
//!
//! Check the raw bytes (`request.body`), before parsing: re-serialised JSON is not the same
//! bytes.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Whether `signature_hex` is the HMAC-SHA256 of `body` under `secret`, hex-encoded in either
/// case, optionally prefixed `sha256=` (as several vendors send it). Compared in constant time,
/// so a caller cannot learn the right signature byte by byte from response times.
pub fn verify_hmac_sha256_hex(secret: &str, body: &[u8], signature_hex: &str) -> bool {
    let signature = signature_hex.trim();
    let signature = signature.strip_prefix("sha256=").unwrap_or(signature);
    let Ok(given) = hex::decode(signature) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    // `verify_slice` compares in constant time (and refuses a truncated MAC).
    mac.verify_slice(&given).is_ok()
}

/// The hex HMAC-SHA256 of `body` under `secret` (for tests, and for signing your own
/// requests).
pub fn sign_hmac_sha256_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = b"The quick brown fox jumps over the lazy dog";
    /// HMAC-SHA256 of `BODY` under `key`, computed independently of this crate.
    const KNOWN: &str = "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8";

    #[test]
    fn signs_the_known_vector() {
        assert_eq!(sign_hmac_sha256_hex("key", BODY), KNOWN);
    }

    #[test]
    fn accepts_the_right_signature_in_any_case_and_with_a_prefix() {
        assert!(verify_hmac_sha256_hex("key", BODY, KNOWN));
        assert!(verify_hmac_sha256_hex("key", BODY, &KNOWN.to_uppercase()));
        assert!(verify_hmac_sha256_hex(
            "key",
            BODY,
            &format!("sha256={KNOWN}")
        ));
        assert!(verify_hmac_sha256_hex("key", BODY, &format!(" {KNOWN}\n")));
    }

    #[test]
    fn refuses_wrong_secrets_bodies_and_signatures() {
        assert!(!verify_hmac_sha256_hex("other", BODY, KNOWN));
        assert!(!verify_hmac_sha256_hex(
            "key",
            b"The quick brown fox",
            KNOWN
        ));
        assert!(!verify_hmac_sha256_hex("key", BODY, &KNOWN[..32]));
        assert!(!verify_hmac_sha256_hex("key", BODY, "not hex"));
        assert!(!verify_hmac_sha256_hex("key", BODY, ""));
    }
}
