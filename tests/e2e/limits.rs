//! Rate limits (contract §8) and CORS: 429 with the contract's body and `Retry-After`, per IP,
//! stricter on `/auth/*`, per user, the WebSocket upgrade included, `X-Forwarded-For` believed
//! only from trusted proxies.

use reqwest::{Method, header};
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use j0_testkit::{Config, Response, TestApp, WsClient, spawn_app_with};

/// A challenge for a fixed address: the cheapest request under the auth limit.
async fn challenge(app: &TestApp) -> Response {
    app.challenge("0x2c7536E3605D9C16a7a3D7b1898e529396a65c23")
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_routes_have_their_own_stricter_per_ip_limit() {
    let app = spawn_app_with(|c| c.limits.auth_per_min = 3).await;
    for _ in 0..3 {
        challenge(&app).await.ok();
    }
    challenge(&app).await.assert_limited();
    for _ in 0..10 {
        app.raw().get("/health").await.ok();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_encoded_auth_path_counts_against_the_auth_limit() {
    let app = spawn_app_with(|c| c.limits.auth_per_min = 2).await;
    let body = json!({ "public_key": "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23" });
    let encoded = async || app.raw().post("/%61uth/challenge", &body).await;
    for _ in 0..2 {
        encoded().await.ok();
    }
    encoded().await.assert_limited();
    challenge(&app).await.assert_limited();
}

#[tokio::test(flavor = "multi_thread")]
async fn every_request_counts_per_ip_the_websocket_upgrade_included() {
    let app = spawn_app_with(|c| c.limits.ip_per_min = 4).await;
    let user = app.new_user().await;
    for _ in 0..2 {
        app.raw().get("/health").await.ok();
    }
    app.raw().get("/no/such/route").await.assert_limited();
    let upgrade = format!("{}?token={}", app.ws_url(), user.token)
        .into_client_request()
        .unwrap();
    assert_eq!(WsClient::refusal(upgrade).await.0, 429);
}

#[tokio::test(flavor = "multi_thread")]
async fn authenticated_requests_count_per_user() {
    let app = spawn_app_with(|c| c.limits.user_per_min = 3).await;
    let (alice, bob) = (app.new_user().await, app.new_user().await);
    for _ in 0..3 {
        alice.me().await.unwrap();
    }
    alice.raw().get("/credits/balance").await.assert_limited();
    bob.me().await.unwrap();
    bob.user(alice.user_id).await.unwrap();
}

/// Two requests a minute per client IP, which a proxy on this machine may name.
fn two_a_minute_behind_a_local_proxy(c: &mut Config) {
    c.limits.ip_per_min = 2;
    c.limits.trusted_proxies = "127.0.0.1".parse().unwrap();
}

/// `GET /health` with one `X-Forwarded-For` line for each of `lines`.
async fn health_from(app: &TestApp, lines: &[&str]) -> Response {
    let mut request = app.raw().request(Method::GET, "/health");
    for line in lines {
        request = request.header("X-Forwarded-For", *line);
    }
    Response::of(request).await
}

#[tokio::test(flavor = "multi_thread")]
async fn forwarded_for_counts_only_behind_a_trusted_proxy() {
    let trusted = spawn_app_with(two_a_minute_behind_a_local_proxy).await;
    for _ in 0..2 {
        health_from(&trusted, &["203.0.113.7"]).await.ok();
    }
    health_from(&trusted, &["203.0.113.7"])
        .await
        .assert_limited();
    health_from(&trusted, &["198.51.100.1, 203.0.113.7"])
        .await
        .assert_limited();
    health_from(&trusted, &["203.0.113.7, 198.51.100.9"])
        .await
        .ok();

    let direct = spawn_app_with(|c| c.limits.ip_per_min = 2).await;
    health_from(&direct, &["203.0.113.1"]).await.ok();
    health_from(&direct, &["203.0.113.2"]).await.ok();
    health_from(&direct, &["203.0.113.3"])
        .await
        .assert_limited();
}

#[tokio::test(flavor = "multi_thread")]
async fn forwarded_for_lines_ports_and_ipv6_prefixes_share_one_bucket() {
    let app = spawn_app_with(two_a_minute_behind_a_local_proxy).await;
    let from = |lines: &'static [&'static str]| health_from(&app, lines);
    // The proxy appended its own line: the client's first line must not pick the bucket.
    from(&["198.51.100.1", "203.0.113.7"]).await.ok();
    from(&["198.51.100.2", "203.0.113.7:5678"]).await.ok();
    from(&["198.51.100.3", "203.0.113.7"])
        .await
        .assert_limited();

    from(&["[2001:db8:1:2::1]:443"]).await.ok();
    from(&["2001:db8:1:2:ffff::9"]).await.ok();
    from(&["2001:db8:1:2::abcd"]).await.assert_limited();
    from(&["2001:db8:1:3::1"]).await.ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn cors_answers_only_for_configured_origins() {
    let preflight = |app: &TestApp, origin: &str| {
        app.raw()
            .request(Method::OPTIONS, "/jobs")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .header(
                header::ACCESS_CONTROL_REQUEST_HEADERS,
                "authorization, content-type",
            )
            .send()
    };
    let off = spawn_app_with(|_| {}).await;
    let r = preflight(&off, "https://agents.example").await.unwrap();
    assert!(
        r.headers()
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none()
    );

    let on =
        spawn_app_with(|c| c.http.cors_allowed_origins = vec!["https://agents.example".into()])
            .await;
    let r = preflight(&on, "https://agents.example").await.unwrap();
    assert_eq!(
        r.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://agents.example"
    );
    assert_eq!(
        r.headers()[header::ACCESS_CONTROL_ALLOW_CREDENTIALS],
        "true"
    );
    let r = preflight(&on, "https://evil.example").await.unwrap();
    assert!(
        r.headers()
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cors_origins_listed_with_spaces_are_allowed() {
    // As clap splits `J0_CORS_ALLOWED_ORIGINS="https://a.example, https://b.example"`.
    let app = spawn_app_with(|c| {
        c.http.cors_allowed_origins = vec!["https://a.example".into(), " https://b.example ".into()]
    })
    .await;
    for origin in ["https://a.example", "https://b.example"] {
        let r = app
            .raw()
            .request(Method::GET, "/health")
            .header(header::ORIGIN, origin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{origin}");
        assert_eq!(r.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], origin);
    }
}
