//! How big a plugin's answer is, to refuse answers the host would not want to send on.
//!
//! The memory limit already bounds what a plugin can build (the answer lives in its linear
//! memory before the host copies it out), but a plugin with a large limit could still return
//! tens of megabytes of packages or results, which would then travel into StackOne responses
//! and the outbox. The size counted here is the text and bytes in the answer plus a small
//! overhead per item, so a million empty records count too.

use super::types::{
    AssessmentResult, Attachment, CallbackHandled, CallbackOutcome, CallbackResponse, ContentType,
    Freshness, Fulfilment, Header, OrderKind, OrderRef, OrderResult, Package, PackageList,
    PackageTest, PluginError, PluginMetadata, ResultStatus, ResultValue, Score, SettingSpec,
};

/// What every record, list element and optional value counts besides its text.
pub const ITEM_OVERHEAD: usize = 16;

/// The approximate size of a value returned by a plugin.
pub trait AnswerSize {
    /// Bytes of text and data, plus [`ITEM_OVERHEAD`] per item.
    fn answer_size(&self) -> usize;
}

impl AnswerSize for String {
    fn answer_size(&self) -> usize {
        self.len()
    }
}

impl AnswerSize for u16 {
    fn answer_size(&self) -> usize {
        2
    }
}

impl AnswerSize for bool {
    fn answer_size(&self) -> usize {
        1
    }
}

impl AnswerSize for Freshness {
    fn answer_size(&self) -> usize {
        8
    }
}

impl AnswerSize for OrderKind {
    fn answer_size(&self) -> usize {
        1
    }
}

impl<T: AnswerSize> AnswerSize for Option<T> {
    fn answer_size(&self) -> usize {
        self.as_ref().map_or(0, |v| ITEM_OVERHEAD + v.answer_size())
    }
}

impl<T: AnswerSize> AnswerSize for Vec<T> {
    fn answer_size(&self) -> usize {
        self.iter()
            .map(|v| ITEM_OVERHEAD.saturating_add(v.answer_size()))
            .fold(0, usize::saturating_add)
    }
}

// `list<u8>` is data, not a list of items.
impl AnswerSize for Vec<u8> {
    fn answer_size(&self) -> usize {
        self.len()
    }
}

/// Implements [`AnswerSize`] for a record as the sum of its fields.
macro_rules! record_size {
    ($($ty:ty { $($field:ident),* $(,)? })*) => {$(
        impl AnswerSize for $ty {
            fn answer_size(&self) -> usize {
                ITEM_OVERHEAD $(.saturating_add(self.$field.answer_size()))*
            }
        }
    )*};
}

record_size! {
    PluginMetadata { name, version, description, kinds, settings }
    SettingSpec { name, required, secret, description }
    PackageList { packages, freshness }
    Package { id, name, description, tests }
    PackageTest { id, name, description }
    Fulfilment { external_id, test_url, first_result }
    AssessmentResult {
        score, status, result_url, start_date, submission_date, summary, attachments,
        candidate_profile_url,
    }
    Score { label, value, min, max }
    ResultStatus { value, source_value }
    Attachment { url, content_type }
    CallbackHandled { response, results }
    CallbackResponse { status, headers, body }
    Header { name, value }
    OrderResult { order, result }
}

impl AnswerSize for ResultValue {
    fn answer_size(&self) -> usize {
        match self {
            ResultValue::UnmappedValue(s) => s.len(),
            _ => 1,
        }
    }
}

impl AnswerSize for ContentType {
    fn answer_size(&self) -> usize {
        match self {
            ContentType::UnmappedValue(s) => s.len(),
            _ => 1,
        }
    }
}

impl AnswerSize for CallbackOutcome {
    fn answer_size(&self) -> usize {
        match self {
            CallbackOutcome::Handled(h) => h.answer_size(),
            CallbackOutcome::Unknown(reason) => reason.len(),
        }
    }
}

impl AnswerSize for OrderRef {
    fn answer_size(&self) -> usize {
        match self {
            OrderRef::OrderId(s) | OrderRef::ExternalId(s) => s.len(),
        }
    }
}

/// Longest message kept in a plugin's own error; the rest is cut, since the message goes to
/// logs, the store and the operator's status page.
pub const MAX_PLUGIN_ERROR_MESSAGE: usize = 4096;

/// Cuts the message of a plugin error to [`MAX_PLUGIN_ERROR_MESSAGE`].
pub fn truncate_plugin_error(e: PluginError) -> PluginError {
    map_plugin_error_message(e, |mut m| {
        truncate_at_char(&mut m, MAX_PLUGIN_ERROR_MESSAGE);
        m
    })
}

/// `e` with its message turned into `f(message)`, its case kept.
pub(crate) fn map_plugin_error_message(
    e: PluginError,
    f: impl FnOnce(String) -> String,
) -> PluginError {
    match e {
        PluginError::InvalidInput(m) => PluginError::InvalidInput(f(m)),
        PluginError::Unauthorized(m) => PluginError::Unauthorized(f(m)),
        PluginError::NotFound(m) => PluginError::NotFound(f(m)),
        PluginError::Permanent(m) => PluginError::Permanent(f(m)),
        PluginError::Misconfigured(m) => PluginError::Misconfigured(f(m)),
        PluginError::Cancelled(m) => PluginError::Cancelled(f(m)),
        PluginError::UpstreamRetryable(mut r) => {
            r.message = f(r.message);
            PluginError::UpstreamRetryable(r)
        }
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary, marking the cut with `…`.
pub fn truncate_at_char(s: &mut String, max: usize) {
    if s.len() <= max {
        return;
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.truncate(cut);
    s.push('…');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(id: &str, name: &str, tests: usize) -> Package {
        Package {
            id: id.into(),
            name: name.into(),
            description: None,
            tests: (0..tests)
                .map(|i| PackageTest {
                    id: format!("t{i}"),
                    name: "n".into(),
                    description: Some("d".into()),
                })
                .collect(),
        }
    }

    #[test]
    fn counts_text_and_items() {
        let one = package("abc", "de", 0).answer_size();
        assert_eq!(one, ITEM_OVERHEAD + 5);
        let list = vec![package("abc", "de", 0); 3];
        assert_eq!(list.answer_size(), 3 * (ITEM_OVERHEAD + one));
        // Nested tests count, empty records count.
        assert!(package("abc", "de", 2).answer_size() > one + 2 * ITEM_OVERHEAD);
        let empties = vec![package("", "", 0); 1000];
        assert!(empties.answer_size() >= 1000 * 2 * ITEM_OVERHEAD);
    }

    #[test]
    fn bytes_count_as_data() {
        let r = CallbackResponse {
            status: 200,
            headers: vec![Header {
                name: "x".into(),
                value: vec![0; 10],
            }],
            body: vec![0; 1000],
        };
        assert_eq!(
            r.answer_size(),
            ITEM_OVERHEAD + 2 + (ITEM_OVERHEAD + ITEM_OVERHEAD + 11) + 1000
        );
    }

    #[test]
    fn plugin_error_messages_are_cut_on_a_char_boundary() {
        let long = "é".repeat(MAX_PLUGIN_ERROR_MESSAGE);
        let PluginError::Permanent(m) = truncate_plugin_error(PluginError::Permanent(long)) else {
            panic!("case kept");
        };
        assert!(m.len() <= MAX_PLUGIN_ERROR_MESSAGE + '…'.len_utf8());
        assert!(m.ends_with('…'));
        let short = PluginError::NotFound("x".into());
        assert!(matches!(truncate_plugin_error(short), PluginError::NotFound(m) if m == "x"));
    }
}
