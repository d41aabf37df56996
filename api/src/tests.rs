//! The OpenAPI document describes what the handlers really answer (what `scripts/schemathesis`
//! checks against a running server).

use serde_json::{Value, json};

fn document() -> Value {
    serde_json::to_value(crate::openapi_document()).unwrap()
}

#[test]
fn every_operation_needs_the_bearer_token_the_server_asks_for() {
    let doc = document();
    assert_eq!(doc["components"]["securitySchemes"]["JWT"]["scheme"], "bearer");
    assert_eq!(doc["security"], json!([{"JWT": []}]));
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let open = operation.get("security") == Some(&json!([{}]));
            assert!(open || operation["responses"].get("401").is_some(), "{method} {path} documents its 401");
        }
    }
}

#[test]
fn a_400_is_either_the_validation_errors_or_the_envelope() {
    let doc = document();
    for (path, method) in [("/v2/tasks", "post"), ("/v2/dry-run", "post"), ("/v2/tasks/{taskId}/retry", "post")] {
        let schema = &doc["paths"][path][method]["responses"]["400"]["content"]["application/json"]["schema"];
        assert_eq!(schema["$ref"], "#/components/schemas/BadRequest", "{method} {path}");
    }
    let refs: Vec<&str> = doc["components"]["schemas"]["BadRequest"]["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|variant| variant["$ref"].as_str().unwrap())
        .collect();
    assert_eq!(refs, ["#/components/schemas/ValidationErrorList", "#/components/schemas/ErrorEnvelope"]);
}

#[test]
fn the_statuses_the_handlers_return_are_documented() {
    let doc = document();
    let statuses = |path: &str, method: &str| -> Vec<String> {
        doc["paths"][path][method]["responses"].as_object().unwrap().keys().cloned().collect()
    };
    for (path, method, expected) in [
        ("/v2/tasks", "post", &["201", "400", "401", "403", "404", "413", "503"][..]),
        ("/v2/tasks", "get", &["200", "400", "401", "503"]),
        ("/v2/tasks/{taskId}", "get", &["200", "400", "401", "403", "404", "503"]),
        ("/v2/tasks/{taskId}/cancel", "post", &["200", "400", "401", "403", "404", "503"]),
        ("/v2/tasks/{taskId}/retry", "post", &["201", "400", "401", "403", "404", "409", "413", "503"]),
        ("/v2/tasks/{taskId}/events", "get", &["200", "400", "401", "403", "404", "503"]),
        ("/v2/dry-run", "post", &["200", "400", "401", "403", "404", "409", "413", "500", "501", "503"]),
    ] {
        assert_eq!(statuses(path, method), expected, "{method} {path}");
    }
    let retry_after = &doc["paths"]["/v2/tasks"]["post"]["responses"]["503"]["headers"]["Retry-After"];
    assert!(retry_after.is_object(), "the 503 of a full queue says when to come back");
}
