//! The JSON log format: one object a line, built as a map so no key appears twice.
//!
//! `tracing-subscriber`'s own JSON format writes the event's message and a field named
//! `message` as two `message` keys (most JSON readers keep only one), and nests span fields
//! under `span`/`spans`. Here an event's fields sit at the top level beside `timestamp`,
//! `level`, `target` and `message`; the fields of the spans it happened in (the request id of
//! the edge's `request` span, the product of a plugin call) are merged in, innermost winning;
//! a field an event names twice keeps both values, the second as `NAME_2`.

use std::collections::BTreeSet;
use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The event formatter of [`super::LogFormat::Json`]. Spans must be formatted with
/// `JsonFields`, whose output it reads back.
pub(crate) struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = Map::new();
        let mut timestamp = String::new();
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        line.insert("timestamp".into(), timestamp.into());
        let meta = event.metadata();
        line.insert("level".into(), meta.level().as_str().into());
        line.insert("target".into(), meta.target().into());
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                let Some(fields) = extensions.get::<FormattedFields<N>>() else {
                    continue;
                };
                if let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(fields) {
                    line.extend(fields);
                }
            }
        }
        let mut visitor = EventFields {
            line: &mut line,
            own: BTreeSet::new(),
        };
        event.record(&mut visitor);
        writeln!(writer, "{}", Value::Object(line))
    }
}

/// An event's fields into the line: over span fields of the same name, beside its own.
struct EventFields<'a> {
    line: &'a mut Map<String, Value>,
    own: BTreeSet<String>,
}

impl EventFields<'_> {
    fn put(&mut self, name: &str, value: Value) {
        let mut key = name.to_owned();
        let mut n = 1;
        while self.own.contains(&key) {
            n += 1;
            key = format!("{name}_{n}");
        }
        self.own.insert(key.clone());
        self.line.insert(key, value);
    }
}

impl Visit for EventFields<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field.name(), value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field.name(), value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field.name(), value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field.name(), value.into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field.name(), value.into());
    }

    /// An error with its causes, `outer: inner: root`, as `{:#}` prints an anyhow chain.
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let mut text = value.to_string();
        let mut source = value.source();
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        self.put(field.name(), text.into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field.name(), format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;
    use tracing_subscriber::fmt::format::JsonFields;

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Buffer {
            self.clone()
        }
    }

    #[test]
    fn lines_have_unique_keys_span_fields_and_plain_values() {
        let buffer = Buffer::default();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines)
            .with_writer(buffer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request", request_id = "r-1", product = "outer");
            let _in = span.enter();
            let message = "a field named message";
            let error = std::io::Error::other("disk full");
            let reason: Option<&str> = Some("kept");
            tracing::warn!(
                product = "inner",
                message,
                n = 3u64,
                reason,
                error = &error as &dyn std::error::Error,
                "text"
            );
        });
        let text = String::from_utf8(buffer.0.lock().expect("lock").clone()).expect("utf-8");
        let line: Value = serde_json::from_str(text.trim()).expect("one JSON line");
        assert_eq!(line["request_id"], "r-1");
        assert_eq!(line["product"], "inner", "the event's own field wins");
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["n"], 3);
        assert_eq!(
            line["reason"], "kept",
            "an Option is its value, not Some(..)"
        );
        assert_eq!(line["error"], "disk full");
        assert_eq!(line["message"], "text");
        assert_eq!(line["message_2"], "a field named message");
        // serde_json keeps one of two equal keys; count them in the text itself.
        assert_eq!(text.matches("\"message\":").count(), 1, "{text}");
    }
}
