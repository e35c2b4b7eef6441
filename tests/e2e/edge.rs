//! The HTTP edge (contract §1): the error envelope for everything actix would answer in text,
//! body limits, headers, health, and 503 when the database is gone.

use reqwest::{Method, header};
use serde_json::json;

use j0_client::{Capability, Error, JobId, PostJob};
use j0_testkit::{Response, assert_refused, spawn_app, spawn_app_with};

#[tokio::test(flavor = "multi_thread")]
async fn routing_failures_answer_in_the_envelope() {
    let app = spawn_app().await;
    app.raw()
        .get("/no/such/route")
        .await
        .assert_error(404, "NOT_FOUND");
    let outside = app.http.get(format!("{}/elsewhere", app.base_url));
    Response::of(outside).await.assert_error(404, "NOT_FOUND");
    for (method, path, allow) in [
        (Method::DELETE, "/auth/challenge", "POST"),
        (Method::PUT, "/jobs", "GET, POST"),
        (Method::POST, "/jobs/1", "GET"),
    ] {
        let r = app.raw().call(method, path, None).await;
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
        let r = user.raw().get(query).await;
        r.assert_error(400, "VALIDATION_ERROR");
        assert_eq!(r.body["error"], message, "{query}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_bodies_are_refused_naming_the_problem() {
    let app = spawn_app().await;
    let post = |body: &'static str, content_type: &'static str| {
        let request = app.raw().request(Method::POST, "/auth/challenge");
        Response::of(
            request
                .header(header::CONTENT_TYPE, content_type)
                .body(body),
        )
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
    app.challenge(&padding)
        .await
        .assert_error(413, "PAYLOAD_TOO_LARGE");
    // Raw: the client sends no body with an accept.
    session
        .raw()
        .post("/jobs/1/accept", &json!({ "pad": padding }))
        .await
        .assert_error(413, "PAYLOAD_TOO_LARGE");
    let prompt = |kib: usize| PostJob::new(Capability::Opus, 5, 10, "x".repeat(kib * 1024));
    assert_refused!(
        session.post_job(prompt(257)).await => 413, "PAYLOAD_TOO_LARGE",
        PayloadTooLarge
    );
    assert_refused!(session.post_job(prompt(20)).await => 400, "VALIDATION_ERROR", Validation);
    let huge_result = "x".repeat(2 * 1024 * 1024 + 1);
    assert_refused!(
        session.complete_job(JobId(1), huge_result).await => 413, "PAYLOAD_TOO_LARGE",
        PayloadTooLarge
    );
    let chunked = app
        .raw()
        .request(Method::POST, "/auth/challenge")
        .header(header::CONTENT_TYPE, "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            (0..40).map(|_| Ok::<_, std::io::Error>(vec![b' '; 1024])),
        )));
    Response::of(chunked)
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
    let posted = requester.raw().post("/%6Aobs", &body).await.ok();
    let id = posted["job"]["job_id"].as_i64().unwrap();
    worker.accept_job(JobId(id)).await.unwrap();
    let result = json!({ "result": "x".repeat(100_000) });
    let completed = worker
        .raw()
        .post(&format!("/jobs/{id}/%63omplete"), &result)
        .await
        .ok();
    assert_eq!(completed["job"]["status"], "completed");
    assert_eq!(completed["credits_earned"], 4);
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn responses_carry_security_headers_and_a_request_id() {
    let app = spawn_app().await;
    let r = app.raw().get("/health").await;
    assert_eq!(r.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(r.headers[header::CACHE_CONTROL], "no-store");
    assert!(r.headers.contains_key("x-request-id"));
    assert_eq!(r.ok(), json!({"status": "ok", "database": "ok"}));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_database_is_503_not_500() {
    let app = spawn_app().await;
    let session = app.new_user().await;
    session.balance().await.unwrap();
    app.db.drop_now().await;
    let health = app.raw().get("/health").await;
    assert_eq!(health.status.as_u16(), 503, "{}", health.body);
    assert_eq!(health.body["database"], "unreachable");
    // Raw: this is about the HTTP status, 503 and not 500.
    for _ in 0..3 {
        for path in ["/users/me", "/credits/balance"] {
            let r = session.raw().get(path).await;
            r.assert_error(503, "SERVICE_UNAVAILABLE");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn health_answers_while_every_pool_connection_is_busy() {
    let app = spawn_app_with(|c| c.database.pool_size = 2).await;
    let user = app.new_user().await;
    let lock = app.lock_table("users").await;
    // Each of these waits on the lock holding a pool connection; together they hold the pool.
    let busy: Vec<_> = (0..4)
        .map(|_| {
            let user = user.clone();
            tokio::spawn(async move { user.user(user.user_id).await })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    // With the pool's 5 s wait this would be a 503: the health check must not queue for it.
    let health = app.raw().get("/health").await;
    assert_eq!(
        health.ok(),
        json!({"status": "ok", "database": "ok"}),
        "a busy server is not a dead one"
    );
    lock.release().await;
    for request in busy {
        match request.await.unwrap() {
            Ok(_) | Err(Error::ServiceUnavailable { .. }) => {}
            Err(other) => panic!("{other:?}"),
        }
    }
}
