//! The OpenAPI document (contract §2, `GET /openapi.json`): it describes exactly the routes the
//! server registers, and the server serves exactly the document it generates.

use std::collections::BTreeSet;

use reqwest::{Method, header};
use serde_json::Value;

use j0_api::{BASE_PATH, endpoints, openapi};
use j0_client::{Capability, PostJob};
use j0_testkit::{assert_refused, opus, spawn_app};

/// `(METHOD, full path template)` of every operation the server routes: the REST table that
/// `j0_api::configure` registers from, and the WebSocket.
fn routed() -> BTreeSet<(String, String)> {
    endpoints()
        .iter()
        .map(|e| (e.method.to_string(), format!("{BASE_PATH}{}", e.path)))
        .chain([("GET".to_owned(), openapi::WS_PATH.to_owned())])
        .collect()
}

/// `(METHOD, path template)` of every operation the document describes.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            // Keys of a path item that are not operations.
            if ["summary", "description", "servers", "parameters"].contains(&method.as_str()) {
                continue;
            }
            operations.insert((method.to_uppercase(), path.clone()));
        }
    }
    operations
}

#[test]
fn every_route_is_documented_and_every_operation_routed() {
    let doc = serde_json::to_value(openapi::document()).unwrap();
    let routed = routed();
    let documented = documented(&doc);
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "routes without an operation: {undocumented:?}; operations without a route: {unrouted:?}"
    );
    // The contract's section 2 has 19 rows.
    assert_eq!(routed.len(), 19);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_documented_operation_reaches_a_handler() {
    let app = spawn_app().await;
    let doc = serde_json::to_value(openapi::document()).unwrap();
    for (method, template) in documented(&doc) {
        let path = template.replace("{id}", "1");
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let response = app
            .http
            .request(method.clone(), format!("{}{path}", app.base_url))
            .header(header::CONTENT_TYPE, "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(
            status != 405 && body["code"] != "NOT_FOUND",
            "{method} {template} is documented but not routed: {status} {body}"
        );
    }
    // A path's other methods are refused, so a route serves only its documented methods.
    for endpoint in endpoints() {
        let path = endpoint.path.replace("{id}", "1");
        let r = app.raw().call(Method::DELETE, &path, None).await;
        r.assert_error(405, "METHOD_NOT_ALLOWED");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_served_document_is_the_generated_one() {
    let app = spawn_app().await;
    assert_eq!(
        format!("{}{}", app.base_url, openapi::OPENAPI_PATH),
        app.url("/openapi.json")
    );
    let served = app.raw().get("/openapi.json").await;
    assert_eq!(
        served.headers[header::CONTENT_TYPE],
        "application/json",
        "{:?}",
        served.headers
    );
    let served = served.ok();
    assert_eq!(served["openapi"], "3.1.0");
    assert_eq!(served["info"]["title"], "j0 API");
    assert_eq!(
        served,
        serde_json::to_value(openapi::document()).unwrap(),
        "the served document differs from the generated one"
    );
    // No authentication is needed for the document; every authenticated operation says how.
    let schemes = served["components"]["securitySchemes"].as_object().unwrap();
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["cookie"]["in"], "cookie");
    assert_eq!(schemes["cookie"]["name"], "j0_token");
    let open = [
        "/api/v1/auth/challenge",
        "/api/v1/auth/verify",
        "/api/v1/users/{id}",
        "/api/v1/payments/stripe/webhook",
        "/api/v1/health",
        "/api/v1/openapi.json",
    ];
    for (path, item) in served["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let secured = op.get("security").is_some();
            assert_eq!(
                secured,
                !open.contains(&path.as_str()),
                "{method} {path}: security {:?}",
                op.get("security")
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_interactive_docs_load_the_served_document() {
    let app = spawn_app().await;
    let page = app.get_page("/docs").await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.url().path(), "/docs/");
    assert!(page.text().await.unwrap().contains("swagger-ui"));
    let init = app
        .get_page("/docs/swagger-initializer.js")
        .await
        .text()
        .await
        .unwrap();
    assert!(init.contains(openapi::OPENAPI_PATH), "{init}");
}

/// Found by schemathesis: PostgreSQL `text` cannot hold U+0000, so NUL in a stored or looked-up
/// string was a 500. It is refused as input instead.
#[tokio::test(flavor = "multi_thread")]
async fn nul_characters_are_refused_not_a_server_error() {
    let app = spawn_app().await;
    let accepted = app.accepted_job(100, opus(10)).await;
    let (requester, worker) = (&accepted.requester, &accepted.worker);
    let nul = PostJob::new(Capability::Opus, 10, 30, "a\u{0}b");
    assert_refused!(requester.post_job(nul).await => 400, "VALIDATION_ERROR", Validation);
    assert_refused!(
        worker.complete_job(accepted.id(), "\u{0}").await => 400, "VALIDATION_ERROR",
        Validation
    );
    let verify = serde_json::json!({
        "public_key": worker.wallet.address().to_string(),
        "challenge_nonce": "ab\u{0}cd",
        "signature": format!("0x{}", "00".repeat(65)),
    });
    app.raw()
        .post("/auth/verify", &verify)
        .await
        .assert_error(401, "CHALLENGE_NOT_FOUND");
    app.assert_ledger_clean().await;
}

/// `docs/openapi.json` is the API reference in the repository; it must be the document the code
/// generates. `UPDATE_OPENAPI=1` rewrites it.
#[test]
fn the_committed_api_reference_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");
    let generated = serde_json::to_string_pretty(&openapi::document()).unwrap() + "\n";
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json is stale: run `just openapi`"
    );
}
