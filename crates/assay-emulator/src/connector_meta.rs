//! `GET /connectors/meta/{provider}`: what StackOne tells a vendor about a connector.
//!
//! The guide sends vendors here to learn the result payload of `assessments/results.update`
//! and `background_checks/results.update`. The real answer's inner layout is not published; this
//! one keeps the documented top level (`provider, provider_name, category, active, models,
//! resources`) and lists each result field by path, derived from the OpenAPI request schema,
//! so it can never disagree with what the PATCH route validates.

use serde_json::{Value, json};

use super::order::OrderKind;
use super::schema::OPENAPI_JSON;

/// The answer for `provider`.
pub fn connector_meta(provider: &str) -> Value {
    let document: Value = serde_json::from_str(OPENAPI_JSON).unwrap_or(Value::Null);
    let mut models = serde_json::Map::new();
    for kind in [OrderKind::Assessment, OrderKind::BackgroundCheck] {
        let schema =
            json!({ "$ref": format!("#/components/schemas/{}", kind.result_request_component()) });
        let mut fields = Vec::new();
        field_paths(&document, &schema, "", &mut fields, 0);
        models.insert(
            kind.path_segment().to_owned(),
            json!({ "results.update": {
                "method": "PATCH",
                "path": kind.result_path("{id}"),
                "headers": ["x-account-id"],
                "fields": fields,
            }}),
        );
    }
    json!({
        "provider": provider,
        "provider_name": provider_name(provider),
        "category": "ats",
        "active": true,
        "models": models,
        "resources": { "images": {
            "logo_url": format!("https://stackone-logos.example/{provider}.png"),
            "original_logo_horizontal_url": format!("https://stackone-logos.example/{provider}_horizontal.png"),
        }},
    })
}

/// `recruitee` → `Recruitee`.
fn provider_name(provider: &str) -> String {
    let mut chars = provider.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Appends `{field_path, type, enum?}` for each leaf of `schema`, following `$ref`, `allOf`
/// and array `items`. Depth is capped in case a schema ever refers to itself.
fn field_paths(document: &Value, schema: &Value, prefix: &str, out: &mut Vec<Value>, depth: usize) {
    const MAX_DEPTH: usize = 8;
    if depth > MAX_DEPTH {
        return;
    }
    if let Some(target) = schema.get("$ref").and_then(Value::as_str) {
        if let Some(resolved) = target.strip_prefix('#').and_then(|p| document.pointer(p)) {
            field_paths(document, resolved, prefix, out, depth + 1);
        }
        return;
    }
    if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
        for part in parts {
            field_paths(document, part, prefix, out, depth + 1);
        }
        return;
    }
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (name, property) in properties {
            let path = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}.{name}")
            };
            field_paths(document, property, &path, out, depth + 1);
        }
        return;
    }
    if let Some(items) = schema
        .get("items")
        .filter(|i| i.get("$ref").is_some() || i.get("properties").is_some())
    {
        field_paths(document, items, &format!("{prefix}[]"), out, depth + 1);
        return;
    }
    let mut field = json!({ "field_path": prefix, "type": schema.get("type").cloned().unwrap_or(json!("any")) });
    if let Some(members) = schema.get("enum").and_then(Value::as_array) {
        field["enum"] = members.iter().filter(|m| !m.is_null()).cloned().collect();
    }
    out.push(field);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_result_fields_by_path() {
        let meta = connector_meta("recruitee");
        assert_eq!(meta["provider_name"], "Recruitee");
        let fields = meta["models"]["assessments"]["results.update"]["fields"]
            .as_array()
            .expect("fields");
        let find = |path: &str| fields.iter().find(|f| f["field_path"] == path).cloned();
        assert_eq!(
            find("score.value").map(|f| f["type"].clone()),
            Some(json!("string"))
        );
        let result = find("result.value").expect("result.value");
        assert!(
            result["enum"]
                .as_array()
                .is_some_and(|e| e.contains(&json!("passed")))
        );
        assert!(find("attachments[].content_type.value").is_some());
        assert!(find("result_url").is_some());
        assert!(
            meta["models"]["background_checks"]["results.update"]["path"]
                .as_str()
                .is_some_and(|p| p.contains("/background_checks/"))
        );
    }
}
