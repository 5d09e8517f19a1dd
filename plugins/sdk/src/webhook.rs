//! Checking the signatures of your own system's callbacks.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Whether `signature_hex` is the HMAC-SHA256 of `body` under `secret`, hex-encoded
/// (case-insensitive). Compared in constant time.
pub fn verify_hmac_sha256_hex(secret: &str, body: &[u8], signature_hex: &str) -> bool {
    let Ok(given) = hex::decode(signature_hex.trim()) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

/// The hex HMAC-SHA256 of `body` under `secret` (for tests and for vendors who sign requests).
pub fn sign_hmac_sha256_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}
