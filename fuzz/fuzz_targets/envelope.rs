//! The body of a StackOne order webhook, as the edge reads it after the signature check
//! (`edge::stackone_routes::webhook`): JSON, the envelope, where the order sits, the order
//! (`assay_wire::order::parse_order`, which `assay::convert::order_from_json` gives the plugin
//! contract's shape).
//!
//! Properties, for any bytes:
//! - nothing panics;
//! - a body that is not a JSON object is no envelope (so an event name is only ever read from
//!   an `event` key);
//! - the envelope's fields are the body's string fields of the same names;
//! - the order is found in `data`, else `event_data`, else the top level, and only where the
//!   object has an `id`, `candidate` or `package`;
//! - an order that converts has a non-empty id and account id (the envelope's when the order
//!   has none), its raw JSON is the object found, and its errors name a path in the body.
#![no_main]

use assay_wire::order::{OrderError, parse_order};
use assay_wire::stackone::{Envelope, locate_order};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|body: &[u8]| check(body));

fn check(body: &[u8]) {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    let Ok(envelope) = Envelope::from_json(&value) else {
        return;
    };
    assert!(value.is_object(), "an envelope from a non-object: {value}");
    let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
    assert_eq!(envelope.event, text("event"));
    assert_eq!(envelope.account_id, text("account_id"));
    assert_eq!(envelope.provider, text("provider"));
    assert_eq!(envelope.record_id, text("record_id"));

    let looks_like_order = |v: &Value| {
        v.is_object()
            && ["id", "candidate", "package"]
                .iter()
                .any(|k| v.get(*k).is_some())
    };
    let located = locate_order(&value);
    let data = value.get("data").filter(|v| looks_like_order(v));
    let event_data = value.get("event_data").filter(|v| looks_like_order(v));
    let expected = match (data, event_data) {
        (Some(o), _) => Some(("data", o)),
        (None, Some(o)) => Some(("event_data", o)),
        (None, None) => looks_like_order(&value).then_some(("", &value)),
    };
    assert_eq!(located, expected);
    let Some((at, object)) = located else {
        return;
    };
    match parse_order(
        object,
        at,
        envelope.account_id.as_deref(),
        envelope.provider.as_deref(),
    ) {
        Ok(order) => {
            assert!(!order.id.is_empty());
            assert!(!order.account_id.is_empty());
            if object.get("account_id").is_none_or(Value::is_null) {
                assert_eq!(
                    Some(order.account_id.as_str()),
                    envelope.account_id.as_deref()
                );
            }
            let raw: Value = serde_json::from_str(&order.raw_json).expect("raw JSON parses");
            assert_eq!(&raw, object);
        }
        Err(OrderError::Missing(path)) => {
            assert!(
                path == "account_id" || path == join(at, "id"),
                "missing `{path}` at `{at}`"
            );
        }
        Err(OrderError::Invalid { path, .. }) => {
            assert_eq!(path, if at.is_empty() { "order" } else { at });
        }
    }
}

fn join(at: &str, field: &str) -> String {
    if at.is_empty() {
        field.to_owned()
    } else {
        format!("{at}.{field}")
    }
}
