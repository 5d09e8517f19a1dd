//! Secret values: API keys, signing secrets, tokens.
//!
//! A [`Secret`] never shows its value through `Debug` or `Display`, so it can sit in any
//! struct that gets logged. The only way to the bytes is [`Secret::expose`], which makes every
//! use easy to find in review.

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};

/// A secret string whose `Debug` and `Display` print `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value. Call it only where the value is used, never to log or format it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// What a redacted secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// The shortest secret a [`Redactor`] scrubs: a shorter one would match ordinary words.
pub const MIN_REDACTED_LEN: usize = 6;

/// Scrubs known secrets from text before it is logged, stored or shown: a vendor's error body
/// that echoes the request's `Authorization` header must not put the product's API token in
/// the log, the store or the status page.
///
/// Each secret is looked for as written, in hex (either case), and in base64 (standard and
/// URL-safe alphabets) at each of the three byte alignments it can have inside a longer
/// encoded value, such as `Basic base64("user:secret")`: the part of the encoding that only
/// the secret's bytes determine is matched, so the encoding of any text that contains the
/// secret is caught. Secrets shorter than [`MIN_REDACTED_LEN`] are left alone.
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    /// Every form of every secret, longest first (a longer form may contain a shorter one).
    patterns: Vec<String>,
}

impl Redactor {
    /// A redactor of `secrets`.
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a Secret>) -> Self {
        let mut patterns = Vec::new();
        for secret in secrets {
            let raw = secret.expose();
            if raw.len() < MIN_REDACTED_LEN {
                continue;
            }
            patterns.push(raw.to_owned());
            patterns.push(hex::encode(raw));
            patterns.push(hex::encode_upper(raw));
            for offset in 0..3 {
                for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
                    if let Some(form) = base64_core(engine, raw.as_bytes(), offset) {
                        patterns.push(form);
                    }
                }
            }
        }
        patterns.sort_by_key(|p| std::cmp::Reverse(p.len()));
        patterns.dedup();
        Redactor { patterns }
    }

    /// Whether there is nothing to scrub.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// `text` with every form of every secret replaced by [`REDACTED`].
    pub fn redact<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let mut out = Cow::Borrowed(text);
        for pattern in &self.patterns {
            if out.contains(pattern.as_str()) {
                out = Cow::Owned(out.replace(pattern.as_str(), REDACTED));
            }
        }
        out
    }

    /// Redacts `text` in place.
    pub fn redact_in_place(&self, text: &mut String) {
        if let Cow::Owned(clean) = self.redact(text) {
            *text = clean;
        }
    }
}

/// The characters of the base64 encoding of `secret` placed `offset` bytes into a longer
/// value that depend on the secret's bytes alone; `None` when too few do to be told apart.
fn base64_core(
    engine: &base64::engine::GeneralPurpose,
    secret: &[u8],
    offset: usize,
) -> Option<String> {
    let mut padded = vec![0u8; offset];
    padded.extend_from_slice(secret);
    let encoded = engine.encode(&padded);
    // Character i covers bits 6i..6i+6: it depends only on the secret when those bits all lie
    // within bytes offset..offset+len.
    let first = (offset * 8).div_ceil(6);
    let end = (offset + secret.len()) * 8 / 6;
    let core = encoded.get(first..end)?;
    (core.len() >= MIN_REDACTED_LEN).then(|| core.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_encoding_the_probe_tried_is_scrubbed() {
        let token = Secret::new("tok_live_4f9a2c71e0");
        let redactor = Redactor::new([&token]);
        let raw = token.expose();
        let texts = [
            format!("vendor said 500: {{\"echo\":\"Bearer {raw}\"}}"),
            format!("hex {}", hex::encode(raw)),
            format!("HEX {}", hex::encode_upper(raw)),
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("api:{raw}"))
            ),
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{raw}:"))
            ),
            format!("url {}", URL_SAFE_NO_PAD.encode(format!("ab{raw}?x=1"))),
        ];
        for text in &texts {
            let clean = redactor.redact(text);
            assert!(clean.contains(REDACTED), "{text} -> {clean}");
            assert!(!clean.contains(raw), "{clean}");
            assert!(!clean.contains(&hex::encode(raw)), "{clean}");
            for offset in 0..3 {
                let core = base64_core(&STANDARD_NO_PAD, raw.as_bytes(), offset)
                    .expect("a long secret has a core");
                assert!(!clean.contains(&core), "{clean}");
            }
        }
    }

    #[test]
    fn text_without_secrets_is_borrowed_and_short_secrets_are_left_alone() {
        let redactor = Redactor::new([&Secret::new("a-long-secret"), &Secret::new("abc")]);
        assert!(matches!(
            redactor.redact("nothing here, abc"),
            Cow::Borrowed(_)
        ));
        assert!(Redactor::new([&Secret::new("abc")]).is_empty());
        let mut text = String::from("x a-long-secret y");
        redactor.redact_in_place(&mut text);
        assert_eq!(text, "x [redacted] y");
    }

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "[redacted] [redacted]");
        assert_eq!(format!("{:?}", Some(&s)), "Some([redacted])");
        assert_eq!(s.expose(), "hunter2");
    }
}
