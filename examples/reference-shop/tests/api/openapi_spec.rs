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
