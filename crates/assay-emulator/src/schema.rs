//! Validation against StackOne's OpenAPI description (`ats-assessments-openapi.json`).
//!
//! The file is OpenAPI 3 with 3.0-style `nullable: true`, which JSON Schema does not know. At
//! load we rewrite it: a `nullable` schema with a `type` gets `"null"` added to its type (and
//! to its `enum`); one without a `type` (an `allOf` around a `$ref`, a `oneOf`) becomes
//! `if null then valid else <schema>`, so a violation inside the referenced schema is still
//! reported at its own path rather than as "matches no branch of anyOf". The components are
//! then embedded in one root document whose `$ref` names the wanted component, so every
//! `#/components/schemas/...` reference resolves inside the document, with no retrieval.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Map, Value, json};

/// StackOne's OpenAPI subset, shipped in the crate so a fresh clone needs nothing else.
pub const OPENAPI_JSON: &str = include_str!("ats-assessments-openapi.json");

/// Request body of `PATCH /unified/ats/assessments/orders/{id}/result`.
pub const ASSESSMENT_RESULT_REQUEST: &str = "AtsUpdateCandidatesAssessmentsResultsRequestDto";
/// Request body of `PATCH /unified/ats/background_checks/orders/{id}/result`.
pub const BACKGROUND_CHECK_RESULT_REQUEST: &str = "AtsUpdateBackgroundCheckResultRequestDto";
/// An assessment order, as StackOne describes it.
pub const ASSESSMENT_ORDER: &str = "AtsCreateCandidatesAssessmentsRequestDto";
/// A background-check order, as StackOne describes it.
pub const BACKGROUND_CHECK_ORDER: &str = "AtsCreateBackgroundCheckOrderRequestDto";
/// The package list answer for assessments.
pub const ASSESSMENT_PACKAGES: &str = "AssessmentPackagePaginated";
/// The package list answer for background checks (packages may carry `tests`).
pub const BACKGROUND_CHECK_PACKAGES: &str = "BackgroundCheckPackagePaginated";

/// Why an OpenAPI document could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The text is not JSON.
    #[error("the OpenAPI document is not JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The document has no `components.schemas` object.
    #[error("the OpenAPI document has no components.schemas object")]
    NoComponents,
}

/// The component schemas of an OpenAPI document, ready to validate JSON values.
pub struct Schemas {
    /// `components.schemas` after the `nullable` rewrite.
    components: Map<String, Value>,
    /// Validators are built on first use of a component and kept: building one compiles
    /// every schema it reaches, and the server validates every PATCH.
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

impl Schemas {
    /// The schemas of the OpenAPI file shipped in the crate, parsed once per process.
    pub fn stackone() -> &'static Schemas {
        static SCHEMAS: OnceLock<Schemas> = OnceLock::new();
        SCHEMAS.get_or_init(|| {
            // The file is part of the crate and covered by tests: failing here is a build bug.
            Schemas::from_openapi(OPENAPI_JSON)
                .unwrap_or_else(|e| panic!("embedded OpenAPI file: {e}"))
        })
    }

    /// Loads the component schemas of an OpenAPI document.
    pub fn from_openapi(text: &str) -> Result<Self, SchemaError> {
        let mut document: Value = serde_json::from_str(text)?;
        let components = document
            .pointer_mut("/components/schemas")
            .map(Value::take)
            .and_then(|v| match v {
                Value::Object(map) => Some(map),
                _ => None,
            })
            .ok_or(SchemaError::NoComponents)?;
        let components = components
            .into_iter()
            .map(|(name, schema)| (name, rewrite_nullable(schema)))
            .collect();
        Ok(Self {
            components,
            validators: Mutex::new(HashMap::new()),
        })
    }

    /// Whether the document defines `component`.
    pub fn has(&self, component: &str) -> bool {
        self.components.contains_key(component)
    }

    /// Checks `value` against the component schema `component`; one human-readable line per
    /// violation (`/score/value: 80 is not of type "string", "null"`), empty when valid. An
    /// unknown component name is reported as a violation rather than a panic.
    pub fn validate(&self, component: &str, value: &Value) -> Vec<String> {
        match self.validator(component) {
            Ok(validator) => validator
                .iter_errors(value)
                .map(|error| {
                    let path = error.instance_path.as_str();
                    let path = if path.is_empty() { "(root)" } else { path };
                    format!("{path}: {error}")
                })
                .collect(),
            Err(message) => vec![message],
        }
    }

    fn validator(&self, component: &str) -> Result<Arc<jsonschema::Validator>, String> {
        // A poisoned lock only means another thread panicked mid-insert; the map is still usable.
        let mut cache = self.validators.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(v) = cache.get(component) {
            return Ok(Arc::clone(v));
        }
        if !self.has(component) {
            return Err(format!(
                "(schema): no component named {component} in the OpenAPI document"
            ));
        }
        let root = json!({
            "$ref": format!("#/components/schemas/{component}"),
            "components": { "schemas": Value::Object(self.components.clone()) },
        });
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            // StackOne documents dates as ISO-8601 `date-time`; checking them catches a host
            // that sends a local time or a Unix timestamp.
            .should_validate_formats(true)
            .build(&root)
            .map_err(|e| format!("(schema): component {component} does not compile: {e}"))?;
        let validator = Arc::new(validator);
        cache.insert(component.to_owned(), Arc::clone(&validator));
        Ok(validator)
    }
}

/// Checks `value` against a component of the OpenAPI file shipped in the crate.
pub fn validate(component: &str, value: &Value) -> Vec<String> {
    Schemas::stackone().validate(component, value)
}

/// Keys whose values are data, not schemas: they are copied untouched.
const DATA_KEYWORDS: [&str; 5] = ["example", "examples", "enum", "const", "default"];

/// Rewrites OpenAPI's `nullable: true` into plain JSON Schema, recursively.
fn rewrite_nullable(schema: Value) -> Value {
    let Value::Object(mut map) = schema else {
        return match schema {
            Value::Array(items) => Value::Array(items.into_iter().map(rewrite_nullable).collect()),
            other => other,
        };
    };
    for (key, value) in map.iter_mut() {
        if !DATA_KEYWORDS.contains(&key.as_str()) {
            *value = rewrite_nullable(value.take());
        }
    }
    if map.get("nullable") != Some(&Value::Bool(true)) {
        return Value::Object(map);
    }
    map.remove("nullable");
    if let Some(Value::Array(members)) = map.get_mut("enum")
        && !members.contains(&Value::Null)
    {
        members.push(Value::Null);
    }
    match map.get_mut("type") {
        Some(Value::String(ty)) => {
            let ty = ty.clone();
            map.insert("type".into(), json!([ty, "null"]));
            Value::Object(map)
        }
        Some(Value::Array(types)) => {
            if !types.contains(&json!("null")) {
                types.push(json!("null"));
            }
            Value::Object(map)
        }
        _ => json!({ "if": { "type": "null" }, "else": Value::Object(map) }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid_result() -> Value {
        json!({
            "score": { "label": "Percentage", "value": "45", "min": "0", "max": "50" },
            "result": { "value": "passed", "source_value": "Passed" },
            "result_url": "https://vendor.example/r/1",
            "start_date": "2024-05-01T10:00:00.000Z",
            "submission_date": "2024-05-01T10:40:00Z",
            "summary": null,
            "attachments": [{ "url": "https://vendor.example/r/1.pdf", "content_type": { "value": "pdf" } }],
            "candidate": { "id": "c1", "profile_url": null },
            "passthrough": { "k": 1 }
        })
    }

    #[test]
    fn valid_result_passes_both_kinds() {
        for component in [ASSESSMENT_RESULT_REQUEST, BACKGROUND_CHECK_RESULT_REQUEST] {
            assert_eq!(
                validate(component, &valid_result()),
                Vec::<String>::new(),
                "{component}"
            );
        }
        // Every field is optional and nullable.
        assert!(validate(ASSESSMENT_RESULT_REQUEST, &json!({})).is_empty());
        assert!(
            validate(
                ASSESSMENT_RESULT_REQUEST,
                &json!({"score": null, "result": null})
            )
            .is_empty()
        );
    }

    #[test]
    fn numeric_score_value_fails_at_its_path() {
        let mut body = valid_result();
        body["score"]["value"] = json!(80);
        let errors = validate(ASSESSMENT_RESULT_REQUEST, &body);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("/score/value: 80"), "{errors:?}");
    }

    #[test]
    fn unknown_result_value_fails() {
        let mut body = valid_result();
        body["result"]["value"] = json!("excellent");
        let errors = validate(BACKGROUND_CHECK_RESULT_REQUEST, &body);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("/result/value: \"excellent\""),
            "{errors:?}"
        );
    }

    #[test]
    fn other_violations_are_each_reported() {
        let body = json!({
            "submission_date": "yesterday",
            "attachments": [{ "content_type": { "value": "docx" } }],
            "result": "passed",
        });
        let errors = validate(ASSESSMENT_RESULT_REQUEST, &body);
        let paths: Vec<&str> = errors.iter().filter_map(|e| e.split(':').next()).collect();
        assert!(paths.contains(&"/submission_date"), "{errors:?}");
        assert!(
            paths.contains(&"/attachments/0/content_type/value"),
            "{errors:?}"
        );
        assert!(paths.contains(&"/result"), "{errors:?}");
    }

    #[test]
    fn package_lists() {
        let page = json!({ "data": [
            { "id": "p1", "remote_id": null, "name": "Backend skills", "description": "45 minutes" },
            { "id": "p2" }
        ], "next": null });
        assert!(validate(ASSESSMENT_PACKAGES, &page).is_empty());
        let errors = validate(ASSESSMENT_PACKAGES, &json!({ "data": [{ "id": 1 }] }));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("/data/0/id: 1"), "{errors:?}");
        let errors = validate(ASSESSMENT_PACKAGES, &json!({ "packages": [] }));
        assert!(errors.iter().any(|e| e.contains("\"data\"")), "{errors:?}");
        let bad_tests = json!({ "data": [{ "id": "p", "tests": [{ "name": 3 }] }] });
        assert!(!validate(BACKGROUND_CHECK_PACKAGES, &bad_tests).is_empty());
    }

    #[test]
    fn unknown_component_is_a_violation() {
        let errors = validate("NoSuchDto", &json!({}));
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("NoSuchDto"));
    }

    #[test]
    fn nullable_rewrite() {
        let typed = rewrite_nullable(json!({ "type": "string", "enum": ["a"], "nullable": true }));
        assert_eq!(
            typed,
            json!({ "type": ["string", "null"], "enum": ["a", null] })
        );
        let wrapped = rewrite_nullable(json!({ "nullable": true, "allOf": [{ "$ref": "#/x" }] }));
        assert_eq!(
            wrapped,
            json!({ "if": { "type": "null" }, "else": { "allOf": [{ "$ref": "#/x" }] } })
        );
        // Examples are data: a `nullable` key inside one is left alone.
        let example = json!({ "type": "object", "example": { "nullable": true } });
        assert_eq!(rewrite_nullable(example.clone()), example);
    }
}
