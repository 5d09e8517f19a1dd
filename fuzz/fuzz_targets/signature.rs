//! `x-stackone-signature`: what the edge checks before it parses anything.
//!
//! Properties, for any body, key, other configured keys, header bytes and header layout:
//! - a signature made with a configured key verifies, whichever position the key has;
//! - a one-byte change of the body, of the key, or of the signature never verifies, except a
//!   change to the other base64 alphabet's spelling of the same 6 bits (`-`/`+`, `_`/`/`),
//!   which is the same MAC;
//! - any header value that verifies is, once trimmed, unpadded and spelt in the base64url
//!   alphabet, exactly the signature of the body with one of the configured keys;
//! - two or more signature headers are refused whatever they hold; none is `Missing`; no key
//!   is `NoSecret`.
#![no_main]

use arbitrary::Arbitrary;
use assay_wire::secret::Secret;
use assay_wire::signature::{SIGNATURE_HEADER, SignatureError, sign, verify, verify_headers};
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    body: Vec<u8>,
    key: String,
    others: Vec<String>,
    /// Where the signing key sits among the configured ones.
    position: u8,
    /// Which byte to change, and how (xor with a non-zero value).
    flip_at: u16,
    flip_with: u8,
    /// A header value as an attacker would send it.
    header: Vec<u8>,
    /// Extra signature headers, in front of or behind the genuine one.
    extra: Vec<Vec<u8>>,
    extra_first: bool,
}

fuzz_target!(|input: Input| check(input));

fn check(input: Input) {
    let key = Secret::new(input.key.clone());
    let mut secrets: Vec<Secret> = input
        .others
        .iter()
        .filter(|other| **other != input.key)
        .take(4)
        .map(|other| Secret::new(other.clone()))
        .collect();
    let position = usize::from(input.position) % (secrets.len() + 1);
    secrets.insert(position, key.clone());
    let body = &input.body;
    let signature = sign(body, &key);

    // A signature made with a configured key verifies.
    assert_eq!(verify(body, Some(signature.as_bytes()), &secrets), Ok(()));
    let mut one = HeaderMap::new();
    one.insert(SIGNATURE_HEADER, value(signature.as_bytes()));
    assert_eq!(verify_headers(body, &one, &secrets), Ok(()));

    let flip = input.flip_with.max(1);
    // A one-byte change of the body never verifies.
    if !body.is_empty() {
        let mut changed = body.clone();
        changed[usize::from(input.flip_at) % body.len()] ^= flip;
        assert_eq!(
            verify(&changed, Some(signature.as_bytes()), &secrets),
            Err(SignatureError::Mismatch)
        );
    }
    // A one-byte change of the key never verifies (the key is text: change one character).
    if let Some(changed) = changed_text(&input.key, input.flip_at, flip) {
        let wrong = Secret::new(changed);
        assert_eq!(
            verify(body, Some(signature.as_bytes()), &[wrong]),
            Err(SignatureError::Mismatch)
        );
    }
    // A one-byte change of the signature verifies only if it spells the same 6 bits.
    let mut changed = signature.clone().into_bytes();
    let at = usize::from(input.flip_at) % changed.len();
    let before = changed[at];
    changed[at] ^= flip;
    if verify(body, Some(&changed), &secrets).is_ok() {
        assert!(
            twins(before, changed[at]),
            "{signature}: `{}` -> `{}` still verifies",
            before as char,
            changed[at] as char
        );
    }

    // Whatever an attacker sends verifies only if it is the signature.
    if verify(body, Some(&input.header), &secrets).is_ok() {
        let canonical = canonical(&input.header).expect("a verified header is text");
        assert!(
            secrets.iter().any(|s| sign(body, s) == canonical),
            "{:?} verified but is no configured key's signature",
            String::from_utf8_lossy(&input.header)
        );
    }

    // Header layout: exactly one header is checked; two or more are refused.
    let extra: Vec<HeaderValue> = input
        .extra
        .iter()
        .take(4)
        .filter_map(|v| HeaderValue::from_bytes(v).ok())
        .collect();
    let mut headers = HeaderMap::new();
    if input.extra_first {
        for v in &extra {
            headers.append(SIGNATURE_HEADER, v.clone());
        }
        headers.append(SIGNATURE_HEADER, value(signature.as_bytes()));
    } else {
        headers.append(SIGNATURE_HEADER, value(signature.as_bytes()));
        for v in &extra {
            headers.append(SIGNATURE_HEADER, v.clone());
        }
    }
    let expected = if extra.is_empty() {
        Ok(())
    } else {
        Err(SignatureError::Repeated)
    };
    assert_eq!(verify_headers(body, &headers, &secrets), expected);
    assert_eq!(
        verify_headers(body, &HeaderMap::new(), &secrets),
        Err(SignatureError::Missing)
    );
    assert_eq!(
        verify_headers(body, &one, &[]),
        Err(SignatureError::NoSecret)
    );
}

fn value(bytes: &[u8]) -> HeaderValue {
    HeaderValue::from_bytes(bytes).expect("base64 is a valid header value")
}

/// `text` with the character at `at` (modulo its length) changed; `None` if `text` is empty.
fn changed_text(text: &str, at: u16, flip: u8) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    if chars.is_empty() {
        return None;
    }
    let i = usize::from(at) % chars.len();
    let mut changed = chars.clone();
    let code = u32::from(changed[i]) ^ u32::from(flip);
    changed[i] = char::from_u32(code).unwrap_or(if chars[i] == 'a' { 'b' } else { 'a' });
    Some(changed.into_iter().collect())
}

/// The two base64 alphabets spell 62 and 63 differently.
fn twins(a: u8, b: u8) -> bool {
    matches!(
        (a, b),
        (b'-', b'+') | (b'+', b'-') | (b'_', b'/') | (b'/', b'_')
    )
}

/// A header value trimmed, without padding, in the base64url alphabet: the form [`sign`] makes.
fn canonical(header: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(header).ok()?.trim();
    Some(
        text.trim_end_matches('=')
            .replace('+', "-")
            .replace('/', "_"),
    )
}
