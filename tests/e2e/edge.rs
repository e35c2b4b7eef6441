//! The HTTP edge (contract §1): the error envelope for everything actix would answer in text,
//! body limits, headers, health, and 503 when the database is gone.

use reqwest::{Method, header};
use serde_json::json;

use j0_testkit::{spawn_app, spawn_app_with};

#[tokio::test(flavor = "multi_thread")]
async fn routing_failures_answer_in_the_envelope() {
    let app = spawn_app().await;
    app.get_anon("/no/such/route")
        .await
        .assert_error(404, "NOT_FOUND");
    let r = app
        .http
        .get(format!("{}/elsewhere", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["code"],
        "NOT_FOUND"
    );
    for (method, path, allow) in [
        (Method::DELETE, "/auth/challenge", "POST"),
        (Method::PUT, "/jobs", "GET, POST"),
        (Method::POST, "/jobs/1", "GET"),
    ] {
        let r = app.call(method, path, None, None).await;
        r.assert_error(405, "METHOD_NOT_ALLOWED");
        assert_eq!(r.headers[header::ALLOW], allow, "{path}");
    }
    let r = app
        .http
        .post(app.ws_url().replacen("ws", "http", 1))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()[header::ALLOW], "GET");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_query_parameters_name_themselves() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    for (query, message) in [
        ("/jobs?limit=abc", "limit must be an integer"),
        ("/jobs?limit=1.5", "limit must be an integer"),
        ("/jobs?limit=0", "limit must be at least 1"),
        ("/jobs?before=x", "before must be an integer"),
        ("/jobs?before=0", "before must be at least 1"),
        ("/jobs?requester_id=x", "requester_id must be an integer"),
        ("/jobs?requester_id=0", "requester_id must be at least 1"),
        ("/jobs?worker_id=-1", "worker_id must be at least 1"),
        ("/jobs?worker_id=0", "worker_id must be at least 1"),
        (
            "/jobs?worker_id=9223372036854775808",
            "worker_id must be at most 9223372036854775807",
        ),
        (
            "/credits/transactions?limit=abc",
            "limit must be an integer",
        ),
        (
            "/credits/transactions?before=abc",
            "before must be an integer",
        ),
        (
            "/credits/transactions?before=0",
            "before must be at least 1",
        ),
    ] {
        let r = user.get(&app, query).await;
        r.assert_error(400, "VALIDATION_ERROR");
        assert_eq!(r.body["error"], message, "{query}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_bodies_are_refused_naming_the_problem() {
    let app = spawn_app().await;
    let post = |body: &'static str, content_type: &'static str| {
        let request = app
            .http
            .post(app.url("/auth/challenge"))
            .header(header::CONTENT_TYPE, content_type)
            .body(body);
        async move { j0_testkit::TestApp::read(request.send().await.unwrap()).await }
    };
    post("{\"public_key\": ", "application/json")
        .await
        .assert_error(400, "VALIDATION_ERROR");
    let wrong_type = post("{\"public_key\": 42}", "application/json").await;
    wrong_type.assert_error(400, "VALIDATION_ERROR");
    assert!(
        wrong_type.body["error"]
            .as_str()
            .unwrap()
            .starts_with("public_key"),
        "{}",
        wrong_type.body
    );
    let unknown = post(
        "{\"public_key\": \"0x2c7536E3605D9C16a7a3D7b1898e529396a65c23\", \"admin\": true}",
        "application/json",
    )
    .await;
    unknown.assert_error(400, "VALIDATION_ERROR");
    assert!(unknown.body["error"].as_str().unwrap().contains("admin"));
    post("{}", "application/json")
        .await
        .assert_error(400, "VALIDATION_ERROR");
    post("public_key=0x00", "application/x-www-form-urlencoded")
        .await
        .assert_error(415, "UNSUPPORTED_MEDIA_TYPE");
    post(
        "{\"public_key\": \"0x2c7536E3605D9C16a7a3D7b1898e529396a65c23\"}",
        "application/json; charset=utf-8",
    )
    .await
    .ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn bodies_over_the_route_limit_are_413() {
    let app = spawn_app().await;
    let session = app.new_user().await;
    let padding = "x".repeat(17 * 1024);
    let r = app
        .call(
            Method::POST,
            "/auth/challenge",
            None,
            Some(&json!({ "public_key": padding })),
        )
        .await;
    r.assert_error(413, "PAYLOAD_TOO_LARGE");
    let r = session
        .call(
            &app,
            Method::POST,
            "/jobs/1/accept",
            Some(&json!({ "pad": padding })),
        )
        .await;
    r.assert_error(413, "PAYLOAD_TOO_LARGE");
    let big_prompt = "x".repeat(257 * 1024);
    let body = json!({"capability": "opus", "credits": 5, "timeout_sec": 10, "prompt": big_prompt});
    session
        .post(&app, "/jobs", &body)
        .await
        .assert_error(413, "PAYLOAD_TOO_LARGE");
    let body = json!({"capability": "opus", "credits": 5, "timeout_sec": 10, "prompt": "x".repeat(20 * 1024)});
    session
        .post(&app, "/jobs", &body)
        .await
        .assert_error(400, "VALIDATION_ERROR");
    let huge_result = json!({ "result": "x".repeat(2 * 1024 * 1024 + 1) });
    session
        .post(&app, "/jobs/1/complete", &huge_result)
        .await
        .assert_error(413, "PAYLOAD_TOO_LARGE");
    let chunked = app
        .http
        .post(app.url("/auth/challenge"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            (0..40).map(|_| Ok::<_, std::io::Error>(vec![b' '; 1024])),
        )))
        .send()
        .await
        .unwrap();
    j0_testkit::TestApp::read(chunked)
        .await
        .assert_error(413, "PAYLOAD_TOO_LARGE");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_encoded_path_gets_the_body_limit_of_the_route_it_reaches() {
    let app = spawn_app().await;
    let requester = app.funded_user(1_000).await;
    let worker = app.new_user().await;
    // `%6A` is `j` and `%63` is `c`: the router decodes them, so these are `POST /jobs` (256 KiB)
    // and `POST /jobs/{id}/complete` (2 MiB), not routes of the 16 KiB default.
    let prompt = "é".repeat(10_240);
    let body = json!({"capability": "opus", "credits": 5, "timeout_sec": 30, "prompt": prompt});
    assert!(body.to_string().len() > 16 * 1024);
    let posted = requester.post(&app, "/%6Aobs", &body).await.ok();
    let id = posted["job"]["job_id"].as_i64().unwrap();
    worker
        .post_empty(&app, &format!("/jobs/{id}/accept"))
        .await
        .ok();
    let result = json!({ "result": "x".repeat(100_000) });
    let completed = worker
        .post(&app, &format!("/jobs/{id}/%63omplete"), &result)
        .await
        .ok();
    assert_eq!(completed["job"]["status"], "completed");
    assert_eq!(completed["credits_earned"], 4);
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn responses_carry_security_headers_and_a_request_id() {
    let app = spawn_app().await;
    let r = app.get_anon("/health").await;
    assert_eq!(r.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(r.headers[header::CACHE_CONTROL], "no-store");
    assert!(r.headers.contains_key("x-request-id"));
    assert_eq!(r.ok(), json!({"status": "ok", "database": "ok"}));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_database_is_503_not_500() {
    let app = spawn_app().await;
    let session = app.new_user().await;
    session.get(&app, "/credits/balance").await.ok();
    app.db.drop_now().await;
    let health = app.get_anon("/health").await;
    assert_eq!(health.status.as_u16(), 503, "{}", health.body);
    assert_eq!(health.body["database"], "unreachable");
    for _ in 0..3 {
        session
            .get(&app, "/users/me")
            .await
            .assert_error(503, "SERVICE_UNAVAILABLE");
        session
            .get(&app, "/credits/balance")
            .await
            .assert_error(503, "SERVICE_UNAVAILABLE");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn health_answers_while_every_pool_connection_is_busy() {
    let app = spawn_app_with(|c| c.db_pool_size = 2).await;
    let user = app.new_user().await;
    let lock = app.lock_table("users").await;
    // Each of these waits on the lock holding a pool connection; together they hold the pool.
    let busy: Vec<_> = (0..4)
        .map(|_| {
            let request = app.http.get(app.url(&format!("/users/{}", user.user_id)));
            tokio::spawn(async move { request.send().await.map(|r| r.status()) })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    // With the pool's 5 s wait this would be a 503: the health check must not queue for it.
    let health = app.get_anon("/health").await;
    assert_eq!(
        health.ok(),
        json!({"status": "ok", "database": "ok"}),
        "a busy server is not a dead one"
    );
    lock.release().await;
    for request in busy {
        let status = request.await.unwrap().unwrap();
        assert!(status == 200 || status == 503, "{status}");
    }
}
