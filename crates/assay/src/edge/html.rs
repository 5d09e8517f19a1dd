//! The few pieces of HTML the operator pages are made of: escaping, the page shell, and
//! masking of candidate details.
//!
//! Every value that did not come from this file goes through [`escape`] (text and attribute
//! values alike: it escapes both quote characters), so a product name, an error or a
//! candidate's name cannot become markup. No template engine: the pages are a few tables, and
//! a dependency would not make them safer than one function with tests.

use std::fmt::Write as _;

/// `text` safe inside an HTML element or a quoted attribute value.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The `Content-Security-Policy` of every operator page: no scripts at all, styles from the
/// page itself, forms posting only to this host, never inside another site's frame.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}\
table{border-collapse:collapse;margin:.4em 0}th,td{border:1px solid #ccc;padding:.25em .6em;\
text-align:left;vertical-align:top}th{background:#f3f3f3}\
.ready{color:#176f2c;font-weight:600}.stale,.unavailable,.bad{color:#b3261e;font-weight:600}\
.muted{color:#666}.err{color:#b3261e;white-space:pre-wrap}\
form.inline{display:inline}nav{margin-bottom:1em}";

/// The headers of every operator page: HTML, [`CONTENT_SECURITY_POLICY`], never cached (the
/// pages show candidate details), their addresses never sent to another site as a referrer
/// (`same-origin`, not `no-referrer`, under which Chromium's form posts carry `Origin: null`).
pub fn set_page_headers(headers: &mut http::HeaderMap) {
    use http::{HeaderValue, header};
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

/// A whole page: `title` (escaped here) and `body` (already HTML).
pub fn page(title: &str, body: &str) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>{}</title><style>{STYLE}</style></head><body>\n{body}\n</body></html>\n",
        escape(title)
    );
    out
}

/// The page of an error: its status line and the message (both escaped here).
pub fn error_page(status: http::StatusCode, message: &str) -> String {
    page(
        &format!("{} — Assay", status),
        &format!(
            "<h1>{}</h1>\n<p class=\"err\" id=\"error\">{}</p>\n<p><a href=\"/admin\">Back to the status page</a></p>",
            escape(&status.to_string()),
            escape(message)
        ),
    )
}

/// `text` with all but the first letter or digit of each word replaced by `•`: enough to tell
/// orders apart at a glance, not enough to read a name or an address over a shoulder.
/// `Jane Doe <jane@example.com>` becomes `J••• D•• <j•••@e••••••.c••>`.
pub fn mask(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    let mut in_word = false;
    for c in text.chars() {
        if c.is_alphanumeric() {
            out.push(if in_word { '•' } else { c });
            in_word = true;
        } else {
            out.push(c);
            in_word = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_leaves_no_markup() {
        assert_eq!(
            escape(r#"<script>alert("x" & 'y')</script>"#),
            "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
        );
        assert_eq!(escape("plain text"), "plain text");
        let page = error_page(http::StatusCode::FORBIDDEN, "<b>no</b>");
        assert!(page.contains("&lt;b&gt;no&lt;/b&gt;"), "{page}");
        assert!(!page.contains("<b>"), "{page}");
    }

    #[test]
    fn masking_keeps_only_the_first_character_of_each_word() {
        assert_eq!(
            mask("Jane Doe <jane@example.com>"),
            "J••• D•• <j•••@e••••••.c••>"
        );
        assert_eq!(mask(""), "");
        assert!(!mask("Jane").contains("ane"));
    }
}
