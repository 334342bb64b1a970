//! The committed OpenAPI document (docs/openapi.json) is what the code generates, so every API
//! change shows in review. Regenerate it with:
//!
//! ```text
//! cargo run -p reference-shop -- openapi > docs/openapi.json
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[test]
fn the_committed_spec_matches_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
    let committed = std::fs::read_to_string(path).expect("docs/openapi.json exists");
    let committed: serde_json::Value = serde_json::from_str(&committed).unwrap();
    let generated: serde_json::Value =
        serde_json::from_str(&commerce_core::api::spec_json::<()>()).unwrap();
    assert!(
        committed == generated,
        "docs/openapi.json is out of date: run `cargo run -p reference-shop -- openapi > docs/openapi.json`"
    );
}

#[test]
fn every_operation_documents_its_errors_as_problem_details() {
    let spec: serde_json::Value =
        serde_json::from_str(&commerce_core::api::spec_json::<()>()).unwrap();
    let mut operations = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            operations += 1;
            let responses = operation["responses"].as_object().unwrap();
            for (status, response) in responses {
                // /ready's 503 carries the readiness report itself, for operators.
                let is_error = status.starts_with('4') || status.starts_with('5');
                if is_error && path != "/ready" {
                    assert!(
                        response["content"]["application/problem+json"].is_object(),
                        "{method} {path} {status} is not problem+json"
                    );
                }
            }
            if path.starts_with("/api/") {
                assert!(responses.contains_key("400"), "{method} {path} lacks 400");
            }
        }
    }
    assert!(operations >= 20, "{operations} operations");
}

/// An unsigned integer anywhere in the spec, request or response, says `minimum`: `format:
/// uint64` alone is lost on client generators that do not know the format.
#[test]
fn every_unsigned_integer_states_its_minimum() {
    fn visit(value: &serde_json::Value, at: &str, unstated: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(object) => {
                let unsigned = object
                    .get("format")
                    .and_then(|format| format.as_str())
                    .is_some_and(|format| format.starts_with("uint"));
                if unsigned && !object.contains_key("minimum") {
                    unstated.push(at.to_owned());
                }
                for (key, value) in object {
                    visit(value, &format!("{at}/{key}"), unstated);
                }
            }
            serde_json::Value::Array(items) => {
                for (index, value) in items.iter().enumerate() {
                    visit(value, &format!("{at}/{index}"), unstated);
                }
            }
            _ => {}
        }
    }
    let spec: serde_json::Value =
        serde_json::from_str(&commerce_core::api::spec_json::<()>()).unwrap();
    let mut unstated = Vec::new();
    visit(&spec, "", &mut unstated);
    assert!(unstated.is_empty(), "no minimum: {unstated:#?}");
}

/// Every amount of money the API answers is a decimal string with a pattern, as requests' are.
#[test]
fn every_amount_of_money_has_a_pattern() {
    let spec: serde_json::Value =
        serde_json::from_str(&commerce_core::api::spec_json::<()>()).unwrap();
    let mut amounts = 0;
    for (name, schema) in spec["components"]["schemas"].as_object().unwrap() {
        let Some(properties) = schema["properties"].as_object() else {
            continue;
        };
        for (field, property) in properties {
            if ["price", "unit_price", "line_total", "subtotal", "total"].contains(&field.as_str())
            {
                amounts += 1;
                assert_eq!(property["type"], "string", "{name}.{field}");
                assert!(
                    property["pattern"].is_string(),
                    "{name}.{field} has no pattern"
                );
            }
        }
    }
    assert!(amounts >= 8, "{amounts} amounts");
}
